"""Shared fixtures: the Java Paimon oracle (tools/oracle), and an S3 server (moto) running
inside the test process, whose request handler lets a test see which requests are in flight."""

import json
import os
import pathlib
import socket
import subprocess
import threading
import urllib.request

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


def _oracle_home() -> pathlib.Path:
    return pathlib.Path(os.environ.get("SHOAL_ORACLE_HOME", pathlib.Path.home() / ".cache/shoal/oracle"))


@pytest.fixture(scope="session")
def java_oracle():
    """A function writing a table with Java Paimon 0.9 from an oracle spec (tools/oracle/README.md).

    Without the oracle installed the tests using it are skipped, unless SHOAL_REQUIRE_ORACLE=1
    (tools/test sets it), where they fail."""
    home = _oracle_home()
    python = home / "java09/bin/python"
    if not (python.exists() and (home / "env.sh").exists()):
        message = f"the Java Paimon oracle is not installed under {home}; run tools/oracle/setup.sh"
        if os.environ.get("SHOAL_REQUIRE_ORACLE") == "1":
            pytest.fail(message)
        pytest.skip(message)

    def write(table_dir: pathlib.Path, spec: dict) -> None:
        table_dir.parent.mkdir(parents=True, exist_ok=True)
        spec_path = table_dir.with_suffix(".spec.json")
        spec_path.write_text(json.dumps(spec))
        out = subprocess.run(
            [str(python), str(REPO / "tools/oracle/java_oracle.py"), "write", "--table-dir", str(table_dir),
             "--spec", str(spec_path)],
            capture_output=True,
            text=True,
        )
        if out.returncode != 0:
            raise AssertionError(f"java_oracle.py write failed:\n{out.stdout}\n{out.stderr}")

    return write


class S3Server:
    """moto's S3 server on a loopback port, in this process (its handler threads need the GIL).

    `hook(environ)` is called for every request before moto answers it."""

    def __init__(self):
        from moto.server import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server

        self.hook = None
        app = DomainDispatcherApplication(create_backend_app)

        def middleware(environ, start_response):
            hook = self.hook
            if hook is not None:
                hook(environ)
            return app(environ, start_response)

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self._server = make_server("127.0.0.1", port, middleware, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.endpoint = f"http://127.0.0.1:{port}"

    def create_bucket(self, name: str) -> None:
        urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/{name}", method="PUT")).read()

    def storage_options(self) -> dict:
        return {
            "aws_endpoint": self.endpoint,
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
            "aws_region": "us-east-1",
            "aws_allow_http": "true",
        }

    def close(self) -> None:
        self._server.shutdown()


@pytest.fixture(scope="session")
def s3_server():
    try:
        import moto  # noqa: F401
    except ImportError:
        message = "moto[server] is needed for the S3 tests (pip install 'moto[server]')"
        if os.environ.get("SHOAL_REQUIRE_S3") == "1":
            pytest.fail(message)
        pytest.skip(message)
    server = S3Server()
    yield server
    server.close()
