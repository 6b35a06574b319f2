#!/usr/bin/env bash
# Peak memory of `shoal write` against the size of its input: one commit of 4M, 12M and 40M
# orders rows (CSV, 4M rows a file) into a primary-key table with 4 buckets, at two
# write-buffer-size settings, with and without deletion vectors. Prints the peak RSS (VmHWM)
# that `shoal write` reports, the bound (write-buffer-size + 128 MiB), and whether the 40M peak
# is within 10% of the 4M peak ("flat"). Peak RSS varies from run to run by tens of MiB (glibc's
# retention of freed memory depends on thread interleaving), so each case runs --repeat times
# (default 3) and the highest peak counts; the lowest is shown beside it, and the fastest time.
# Usage: tools/bench_memory/run.sh [--rows "4 12 40"] [--buffers "64mb 256mb"] [--repeat N] [--shoal PATH]
#   (buffer sizes in mb)
#   (millions of rows; 40M needs ~3 GB of scratch disk and a few minutes; stays out of CI)
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/shoal/target}"
rows_list="4 12 40"
buffers="64mb 256mb"
shoal=""
repeat=3
while (($#)); do
  case "$1" in
    --rows) rows_list="$2"; shift 2 ;;
    --buffers) buffers="$2"; shift 2 ;;
    --shoal) shoal="$2"; shift 2 ;;
    --repeat) repeat="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
if [[ -z "$shoal" ]]; then
  cargo build --release --features postgres -q --bin shoal  # the release binary's feature set: one build
  shoal="$CARGO_TARGET_DIR/release/shoal"
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Orders as CSV, 4M rows a file: keys spread over 1..1e9 by a bijection, so every file touches
# every bucket and every key range (as a CDC stream does).
max=$(for r in $rows_list; do echo "$r"; done | sort -n | tail -1)
files=$(( (max + 3) / 4 ))
echo "generating $((files * 4))M rows of input ..." >&2
for ((f = 0; f < files; f++)); do
  awk -v first=$((f * 4000000)) 'BEGIN {
    print "id,customer,amount,status,note";
    for (i = first; i < first + 4000000; i++) {
      id = (i * 2654435761) % 1000000007;
      printf "%d,customer-%06d,%d.%02d,%s,note for order %d\n", id, i % 50000, i % 10000, i % 100, (i % 3 ? "PAID" : "NEW"), i
    }
  }' > "$work/orders-$f.csv"
done

printf '%-6s %-10s %-5s %14s %10s %12s %10s\n' rows buffer dv "peak RSS MiB" "lowest" "bound MiB" "seconds"
for dv in false true; do
  for buf in $buffers; do
    mib=${buf%mb} # sizes in mb
    first_peak=""
    for r in $rows_list; do
      peak=0 low=0 secs=0
      for ((k = 0; k < repeat; k++)); do
        t="$work/wh/db.db/t-$dv-$buf-$r-$k"
        "$shoal" create "$t" --schema "id BIGINT NOT NULL, customer STRING, amount DECIMAL(12, 2), status STRING, note STRING" \
          --primary-key id --bucket 4 --option "write-buffer-size=$buf" --option "deletion-vectors.enabled=$dv" > /dev/null
        inputs=()
        for ((f = 0; f < (r + 3) / 4; f++)); do inputs+=("$work/orders-$f.csv"); done
        start=$(date +%s.%N)
        out=$("$shoal" write "$t" "${inputs[@]}" --temp-dir "$work/scratch")
        secs=$(awk -v a="$start" -v b="$(date +%s.%N)" -v s="$secs" 'BEGIN { t = b - a; print (s == 0 || t < s) ? t : s }')
        p=$(echo "$out" | sed -n 's/.*peak memory \([0-9]*\) MiB.*/\1/p')
        ((p > peak)) && peak=$p
        ((low == 0 || p < low)) && low=$p
        rm -rf "$t"
      done
      printf '%-6s %-10s %-5s %14s %10s %12s %10.1f\n' "${r}M" "$buf" "$dv" "$peak" "$low" "$((mib + 128))" "$secs"
      [[ -z "$first_peak" ]] && first_peak=$peak
      last_peak=$peak
    done
    if ((last_peak * 10 <= first_peak * 11)); then flat=flat; else flat="NOT flat"; fi
    echo "  buffer $buf, dv $dv: ${rows_list%% *}M -> ${rows_list##* }M rows: $first_peak -> $last_peak MiB ($flat)"
  done
done
