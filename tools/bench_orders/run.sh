#!/usr/bin/env bash
# Side-by-side 'orders' benchmark: the same workload through shoal and through Java Paimon 0.9
# (timed inside the JVM), in one run, printing both and the ratios.
#   W1 = 20 commits x 100k rows (keys random in 1..4M), W2 = 10 upsert commits x 100k rows,
#   R1 = full merged read, C1 = a dedicated full compaction, R2 = the full read after it.
#   Table: 4 buckets, parquet, Paimon defaults.
# Usage: tools/bench_orders/run.sh [--option k=v ...]   (needs tools/oracle/setup.sh for Java)
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/shoal/target}"
OH="${SHOAL_ORACLE_HOME:-$HOME/.cache/shoal/oracle}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cargo build --release --example bench_orders -q
echo "shoal ..." >&2
"$CARGO_TARGET_DIR/release/examples/bench_orders" --table-dir "$work/shoal/db.db/orders" "$@" > "$work/shoal.json"
echo "Java Paimon 0.9 (about a minute) ..." >&2
"$OH/java09/bin/python" tools/bench_orders/java_orders.py --table-dir "$work/java/db.db/orders" "$@" > "$work/java.json"

python3 - "$work/shoal.json" "$work/java.json" <<'PY'
import json, sys
s = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
j = json.loads(open(sys.argv[2]).read().strip().splitlines()[-1])
print(f"{'phase':<6} {'shoal rows/s':>14} {'Java rows/s':>14} {'ratio':>8}")
for p in ("w1", "w2", "r1", "c1", "r2"):
    a, b = s[f"{p}_rows_per_s"], j[f"{p}_rows_per_s"]
    print(f"{p.upper():<6} {a:>14,.0f} {b:>14,.0f} {a / b:>7.1f}x")
print(f"C1 MB/s read: shoal {s['c1_mb_per_s']:.1f} ({s['c1_mb_read']:.1f} MB), Java {j['c1_mb_per_s']:.1f} ({j['c1_mb_read']:.1f} MB)")
print(f"write amplification over W1+W2: shoal {s['write_amplification']:.2f}")
print(f"rows read: shoal {s['r1_rows']:,}, Java {j['r1_rows']:,}; data files after: shoal {s['data_files_after']}, Java {j['data_files_after']}")
print(f"peak memory: shoal RSS {s['peak_rss_mb']:.0f} MB, Java heap {j.get('heap_used_mb_peak', 0):.0f} MB")
PY
