#!/usr/bin/env bash
# Benchmark of `shoal ingest postgres` (issue 21): snapshot rows/s beside Postgres's COPY TO,
# catch-up changes/s from the slot, commit lag p50/p99 at a fixed change rate, peak RSS.
# See bench.py for what is measured. Needs Debian's postgresql (tools/test installs it).
#   tools/bench_ingest/run.sh [--rows 5000000] [--changes 1000000] [--rate 2000] [--seconds 60]
# SHOAL_BIN=path uses that binary instead of building the release one.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/shoal/target}"
if [[ -z "${SHOAL_BIN:-}" ]]; then
  cargo build --release --features postgres --bin shoal
  export SHOAL_BIN="$CARGO_TARGET_DIR/release/shoal"
fi
exec python3 tools/bench_ingest/bench.py "$@"
