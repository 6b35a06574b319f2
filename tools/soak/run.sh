#!/usr/bin/env bash
# Soak (issue 19): writers beside a compactor, snapshot expiry, orphan-file removal and a
# changelog consumer on one table for a given time, then a full check of rows, changelog and
# files (see tools/soak/soak.rs for what runs and what is checked). Exit status 1 on any failed
# check.
#   tools/soak/run.sh [--seconds 60] [--dv] [--writers 3] [--table DIR] ... (soak's options)
#   tools/soak/run.sh --s3 ...       the table on S3: moto's server (tools/s3/setup.sh) on loopback
#   tools/soak/run.sh --release ...  an optimised build (default: the dev profile the tests use)
# The test command (tools/test) runs `tools/soak/run.sh --seconds 45`.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/shoal/target}"

s3=0
profile=debug
build=()
args=()
for a in "$@"; do
  case "$a" in
    --s3) s3=1 ;;
    --release) profile=release; build=(--release) ;;
    *) args+=("$a") ;;
  esac
done

# The tests' feature set (tools/test builds with `--features postgres`): another set would compile
# tokio's dependents, DataFusion among them, a second time.
cargo build "${build[@]}" --features postgres --example soak -q
bin="$CARGO_TARGET_DIR/$profile/examples/soak"

if ((s3)); then
  home="${SHOAL_S3_HOME:-$HOME/.cache/shoal/s3}"
  [[ -x "$home/venv/bin/moto_server" ]] || tools/s3/setup.sh
  port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  "$home/venv/bin/moto_server" -H 127.0.0.1 -p "$port" > /dev/null 2>&1 &
  moto_pid=$!
  trap 'kill "$moto_pid" 2> /dev/null || true' EXIT
  for _ in $(seq 150); do
    curl -s -o /dev/null "http://127.0.0.1:$port/" && break
    sleep 0.2
  done
  # moto accepts an unsigned PUT to create a bucket.
  curl -sf -X PUT "http://127.0.0.1:$port/soak" > /dev/null
  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_ENDPOINT_URL="http://127.0.0.1:$port"
  args=(--table "s3://soak/wh/db.db/soak_$$" ${args[@]+"${args[@]}"})
fi

"$bin" ${args[@]+"${args[@]}"}
