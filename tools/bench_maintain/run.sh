#!/usr/bin/env bash
# A bounded run of the table service (`shoal maintain`), not a timed test.
#
# Builds a warehouse of --tables write-only primary-key tables, each with --commits commits of
# --rows upserted rows (a backlog of level-0 files, as a Flink/Spark writer with write-only = true
# leaves it), then:
#   1. one `shoal maintain --once` over the whole warehouse: seconds, compactions, bytes
#      rewritten, snapshots expired, peak RSS;
#   2. the service running with --interval 1s for --seconds while writers keep committing to every
#      table: turns, compactions, the largest sorted-run backlog seen in its status file, peak RSS.
# Prints one summary table. Release build by default (--shoal PATH to use another binary).
set -euo pipefail
cd "$(dirname "$0")/../.."
TABLES=8 COMMITS=12 ROWS=200000 SECONDS_LIVE=30 SHOAL=""
while [ $# -gt 0 ]; do
  case "$1" in
    --tables) TABLES=$2; shift 2 ;;
    --commits) COMMITS=$2; shift 2 ;;
    --rows) ROWS=$2; shift 2 ;;
    --seconds) SECONDS_LIVE=$2; shift 2 ;;
    --shoal) SHOAL=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/shoal/target}
if [ -z "$SHOAL" ]; then
  cargo build --release --features postgres -q  # the release binary's feature set: one build
  SHOAL=$CARGO_TARGET_DIR/release/shoal
fi
WORK=$(mktemp -d /tmp/bench-maintain.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
WH=$WORK/wh

# Input files: ROWS rows over 4*ROWS keys, one per commit (different keys each time).
for c in $(seq 1 "$COMMITS"); do
  python3 - "$WORK/in-$c.csv" "$ROWS" "$c" <<'PY'
import random, sys
path, rows, c = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
r = random.Random(c)
with open(path, "w") as f:
    f.write("id,name,amount\n")
    for _ in range(rows):
        k = r.randrange(rows * 4)
        f.write(f"{k},n{c}-{k},{r.randrange(100000) / 100}\n")
PY
done
for t in $(seq 1 "$TABLES"); do
  "$SHOAL" create "db.t$t" --warehouse "$WH" --schema "id BIGINT NOT NULL, name STRING, amount DOUBLE" \
    --primary-key id --bucket 4 --option write-only=true --option snapshot.num-retained.min=2 \
    --option snapshot.num-retained.max=5 --option snapshot.time-retained=1s > /dev/null
  for c in $(seq 1 "$COMMITS"); do
    "$SHOAL" write "db.t$t" --warehouse "$WH" "$WORK/in-$c.csv" > /dev/null
  done
done
BEFORE=$(du -sm "$WH" | cut -f1)

echo "== one --once turn over $TABLES tables ($COMMITS commits x $ROWS rows each)" >&2
/usr/bin/time -f "%e %M" -o "$WORK/once.time" "$SHOAL" maintain --warehouse "$WH" --once \
  --orphan-older-than 0s 2> "$WORK/once.log" > /dev/null
read -r ONCE_S ONCE_KB < "$WORK/once.time"
sum() { { grep -o "$1=[0-9]*" "$2" || true; } | cut -d= -f2 | awk '{s+=$1} END {print s+0}'; }
ONCE_COMPACTIONS=$(grep -c "action=compact " "$WORK/once.log" || true)
ONCE_BYTES_IN=$(sum bytes_in "$WORK/once.log")
ONCE_BYTES_OUT=$(sum bytes_out "$WORK/once.log")
ONCE_EXPIRED=$(sum " expired" "$WORK/once.log")
AFTER=$(du -sm "$WH" | cut -f1)

echo "== the service for ${SECONDS_LIVE}s beside writers" >&2
"$SHOAL" maintain --warehouse "$WH" --interval 1s --orphan-older-than 1h --status "$WORK/status.json" \
  2> "$WORK/live.log" > /dev/null &
SVC=$!
END=$((SECONDS + SECONDS_LIVE))
WRITES=0
MAXRUNS=0
while [ $SECONDS -lt $END ]; do
  for t in $(seq 1 "$TABLES"); do
    "$SHOAL" write "db.t$t" --warehouse "$WH" "$WORK/in-$(( (WRITES % COMMITS) + 1 )).csv" > /dev/null
    WRITES=$((WRITES + 1))
  done
  if [ -f "$WORK/status.json" ]; then
    R=$(python3 -c "import json,sys; print(max([t.get('max_sorted_runs',0) for t in json.load(open(sys.argv[1]))['tables'].values()] or [0]))" "$WORK/status.json" 2>/dev/null || echo 0)
    [ "$R" -gt "$MAXRUNS" ] && MAXRUNS=$R
  fi
done
PEAK_KB=$(grep VmHWM /proc/$SVC/status | awk '{print $2}')
kill $SVC; wait $SVC 2>/dev/null || true
LIVE_TURNS=$(grep -c "^maintain round=" "$WORK/live.log" || true)
LIVE_COMPACTIONS=$(grep -c "action=compact " "$WORK/live.log" || true)
LIVE_BYTES_OUT=$(sum bytes_out "$WORK/live.log")
LIVE_DROPPED=$(sum dropped "$WORK/live.log")

printf '\n| run | tables | seconds | rounds | compactions | MB read | MB written | snapshots expired | peak RSS MiB |\n|---|---|---|---|---|---|---|---|---|\n'
printf '| --once (backlog %s commits) | %s | %s | 1 | %s | %.1f | %.1f | %s | %d |\n' "$COMMITS" "$TABLES" "$ONCE_S" \
  "$ONCE_COMPACTIONS" "$(awk -v b="$ONCE_BYTES_IN" 'BEGIN {print b / 1048576}')" "$(awk -v b="$ONCE_BYTES_OUT" 'BEGIN {print b / 1048576}')" \
  "$ONCE_EXPIRED" $((ONCE_KB / 1024))
printf '| live, --interval 1s, %s writes | %s | %s | %s | %s | - | %.1f | - | %d |\n' "$WRITES" "$TABLES" "$SECONDS_LIVE" \
  "$LIVE_TURNS" "$LIVE_COMPACTIONS" "$(awk -v b="$LIVE_BYTES_OUT" 'BEGIN {print b / 1048576}')" $((PEAK_KB / 1024))
echo
echo "warehouse: ${BEFORE} MB before the --once turn, ${AFTER} MB after; live run: largest sorted-run backlog seen ${MAXRUNS} (trigger 5), ${LIVE_DROPPED} compactions dropped (lost a race, redone next turn)"
