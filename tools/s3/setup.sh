#!/usr/bin/env bash
# Installs the S3-compatible server the object-store tests start on loopback: moto's server mode
# (PyPI, pinned), in a venv under ~/.cache/shoal/s3 (or $SHOAL_S3_HOME). Idempotent.
set -euo pipefail
home="${SHOAL_S3_HOME:-$HOME/.cache/shoal/s3}"
version="5.2.5"
if [[ -x "$home/venv/bin/moto_server" ]] && "$home/venv/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$version')" 2>/dev/null; then
  exit 0
fi
mkdir -p "$home"
python3 -m venv "$home/venv"
"$home/venv/bin/pip" install -q "moto[server]==$version"
echo "[tools/s3] moto $version installed in $home/venv" >&2
