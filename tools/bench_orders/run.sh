#!/usr/bin/env bash
# Side-by-side 'orders' benchmark: the same workload through shoal and through Java Paimon 0.9
# (timed inside the JVM), in one run, printing both and the ratios.
#   W1 = 20 commits x 100k rows (keys random in 1..4M), W2 = 10 upsert commits x 100k rows,
#   R1 = full merged read, C1 = a dedicated full compaction, R2 = the full read after it.
#   Table: 4 buckets, parquet, Paimon defaults.
# The workload is generated once, as Parquet files (one per commit: w1-000.parquet ..
# w2-009.parquet, and workload.json), and both sides read the very same files. The generator is
# the Rust example itself (`bench_orders --generate DIR`, tools/bench_orders/orders_files.rs):
# it keeps orders_data.rs's generator (the rows the criterion bench writes too) as the one
# definition of the workload, needs nothing beyond the build below, and writes the files with the
# table's exact Arrow types. shoal reads them with the parquet crate; java_orders.py reads them
# with pyarrow and hands them to the JVM as Arrow IPC files. Reading a commit's file is never
# part of its timed write.
# After the timed phases each side computes its final table's row count and checksum (defined in
# orders_files.rs); the generator computed the expected ones from the input (the last row
# written for each key). All three must agree, else MISMATCH and exit status 1.
# Peak memory: each side's peak RSS (VmHWM; for Java the JVM process), and Java's peak heap.
# Usage: tools/bench_orders/run.sh [--w1-commits 20] [--w2-commits 10] [--rows-per-commit 100000]
#          [--seed 42] [--option k=v ...]   (needs tools/oracle/setup.sh for Java)
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/shoal/target}"
OH="${SHOAL_ORACLE_HOME:-$HOME/.cache/shoal/oracle}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The workload's parameters go to the generator, everything else (--option k=v) to both sides.
gen_args=()
run_args=()
while (($#)); do
  case "$1" in
    --w1-commits | --w2-commits | --rows-per-commit | --seed)
      gen_args+=("$1" "${2:?$1 needs a value}"); shift 2 ;;
    *) run_args+=("$1"); shift ;;
  esac
done

cargo build --release --features postgres --example bench_orders -q  # the feature set of the release binary: one build
bench="$CARGO_TARGET_DIR/release/examples/bench_orders"
echo "generating the workload ..." >&2
"$bench" --generate "$work/data" "${gen_args[@]}" > /dev/null
echo "shoal ..." >&2
"$bench" --data "$work/data" --table-dir "$work/shoal/db.db/orders" "${run_args[@]}" > "$work/shoal.json"
echo "Java Paimon 0.9 (about a minute) ..." >&2
"$OH/java09/bin/python" tools/bench_orders/java_orders.py --data "$work/data" \
  --table-dir "$work/java/db.db/orders" "${run_args[@]}" > "$work/java.json"

python3 - "$work/shoal.json" "$work/java.json" "$work/data/workload.json" <<'PY'
import json, sys
s = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
j = json.loads(open(sys.argv[2]).read().strip().splitlines()[-1])
w = json.load(open(sys.argv[3]))
print(f"{'phase':<6} {'shoal rows/s':>14} {'Java rows/s':>14} {'ratio':>8}")
for p in ("w1", "w2", "r1", "c1", "r2"):
    a, b = s[f"{p}_rows_per_s"], j[f"{p}_rows_per_s"]
    ratio = f"{a / b:>7.1f}x" if b else f"{'-':>8}"  # a tiny workload may leave C1 nothing to do
    print(f"{p.upper():<6} {a:>14,.0f} {b:>14,.0f} {ratio}")
print(f"C1 MB/s read: shoal {s['c1_mb_per_s']:.1f} ({s['c1_mb_read']:.1f} MB), Java {j['c1_mb_per_s']:.1f} ({j['c1_mb_read']:.1f} MB)")
print(f"write amplification over W1+W2: shoal {s['write_amplification']:.2f}")
print(f"rows read: shoal {s['r1_rows']:,}, Java {j['r1_rows']:,}; data files after: shoal {s['data_files_after']}, Java {j['data_files_after']}")
print(f"peak memory: shoal RSS {s['peak_rss_mb']:.0f} MB; Java RSS {j['peak_rss_mb']:.0f} MB (JVM), heap {j['heap_used_mb_peak']:.0f} MB")
print(f"final table (workload: {w['w1_commits']} + {w['w2_commits']} commits x {w['rows_per_commit']:,} rows, seed {w['seed']}):")
finals = [("expected", w["expected_rows"], w["expected_checksum"]),
          ("shoal", s["final_rows"], s["final_checksum"]),
          ("Java", j["final_rows"], j["final_checksum"])]
for name, rows, checksum in finals:
    print(f"  {name:<9} {rows:>12,} rows  checksum {checksum}")
if len({(rows, checksum) for _, rows, checksum in finals}) == 1:
    print("  rows and checksums match")
else:
    print("  !!!!!!!! MISMATCH: the final tables differ (from each other or from the expected rows) !!!!!!!!")
    sys.exit(1)
PY
