#!/usr/bin/env bash
# Regenerates everything under tests/data/ from the oracles (run tools/oracle/setup.sh first).
#   tests/data/bucket_goldens/*.csv        Java 0.9 fixed-bucket assignment
#   tests/data/binaryrow_goldens.json      Java 0.9 BinaryRow bytes + hashCode
#   tests/data/reference/                  small reference tables + metadata dumps
# Data files, manifests and snapshots carry fresh UUIDs / timestamps on every run.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
OH="${SHOAL_ORACLE_HOME:-$HOME/.cache/shoal/oracle}"
J="$OH/java09/bin/python"
P="$OH/py2/bin/python"
DATA="$REPO/tests/data"
WH="$(mktemp -d /tmp/shoal-refwh-XXXXXX)"
trap 'rm -rf "$WH"' EXIT

what="${1:-all}"

if [[ "$what" == all || "$what" == goldens ]]; then
  rm -rf "$DATA/bucket_goldens"
  "$J" "$HERE/java_oracle.py" bucket-goldens --out-dir "$DATA/bucket_goldens"
  "$J" "$HERE/java_oracle.py" binaryrow-goldens --out "$DATA/binaryrow_goldens.json"
fi

if [[ "$what" == all || "$what" == reference ]]; then
  REF="$DATA/reference"
  rm -rf "$REF"; mkdir -p "$REF"
  "$J" "$HERE/java_oracle.py" write --table-dir "$WH/ref.db/java09_pk" --spec "$HERE/specs/reference_pk.json"
  "$J" "$HERE/java_oracle.py" write --table-dir "$WH/ref.db/java09_dv" --spec "$HERE/specs/reference_dv.json"
  # pypaimon 2.x cannot compact: the last commit's rows are written, its compaction skipped.
  "$P" "$HERE/pypaimon_oracle.py" write --skip-compact --table-dir "$WH/ref.db/py2_pk" --spec "$HERE/specs/reference_pk.json"
  for t in java09_pk java09_dv py2_pk; do
    case "$t" in
      java09_*) reader=("$J" "$HERE/java_oracle.py"); spec="reference_${t#java09_}.json" ;;
      # Java 0.9 cannot read pypaimon 2.x's DECIMAL(p<=18) parquet columns: expected rows come
      # from pypaimon 2.x itself.
      py2_*) reader=("$P" "$HERE/pypaimon_oracle.py"); spec="reference_${t#py2_}.json" ;;
    esac
    cp "$HERE/specs/$spec" "$REF/$t.spec.json"
    "${reader[@]}" read --table-dir "$WH/ref.db/$t" --out "$REF/$t.expected.jsonl"
    latest="$(cat "$WH/ref.db/$t/snapshot/LATEST")"
    for ((s = 1; s <= latest; s++)); do
      "${reader[@]}" read --table-dir "$WH/ref.db/$t" --snapshot "$s" \
          --out "$REF/$t.expected.snapshot-$s.jsonl"
    done
    "$J" "$HERE/dump_reference.py" --table-dir "$WH/ref.db/$t" --name "$t" --out-dir "$REF"
  done
fi
du -sh "$DATA"
