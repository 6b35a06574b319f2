#!/usr/bin/env bash
# Builds the shoal Python package into its own virtual environment and runs its pytest suite
# (tools/test runs this after `cargo test`). The build uses the dev profile, the same
# CARGO_TARGET_DIR and the same features of shoal and its dependencies as the Rust tests, so
# after them it compiles only pyo3 and the binding crate, and links. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/shoal/target}"
venv="${SHOAL_PY_VENV:-$HOME/.cache/shoal/pyshoal}"
requirements=("maturin>=1.7,<2" "pytest" "pyarrow>=15" "pandas" "polars" "duckdb" "moto[server]==5.2.5")

started=$SECONDS
python3 -c "import venv, ensurepip" 2>/dev/null || { echo "[python] needs python3-venv" >&2; exit 1; }
[[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
stamp="$venv/.shoal-requirements"
if [[ "$(cat "$stamp" 2>/dev/null)" != "${requirements[*]}" ]]; then
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "${requirements[@]}"
  echo "${requirements[*]}" > "$stamp"
fi
echo "[python] venv $venv ready in $((SECONDS - started)) s" >&2

started=$SECONDS
VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" "$venv/bin/maturin" develop --manifest-path Cargo.toml
echo "[python] maturin develop (dev profile) in $((SECONDS - started)) s" >&2

"$venv/bin/python" -m pytest -q -p no:cacheprovider tests "$@"
