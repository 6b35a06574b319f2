#!/usr/bin/env python3
"""Oracle CLI driving pypaimon 2.x (Apache Paimon's pure-Python implementation, no JVM).

Run with the py2 venv python installed by tools/oracle/setup.sh, e.g.
    ~/.cache/shoal/oracle/py2/bin/python tools/oracle/pypaimon_oracle.py read --table-dir T

Commands (same spec format and output normalisation as java_oracle.py):
  write --table-dir WAREHOUSE/DB.db/TABLE --spec SPEC.json [--skip-compact]
  read  --table-dir WAREHOUSE/DB.db/TABLE [--snapshot N] [--out FILE] [--files-out FILE]
        (--files-out: also every live file of the snapshot as pypaimon's manifest scan sees it,
        all buckets including a postpone table's bucket -2, one JSON line each)
        (--pending-out: also every event of the live postpone-bucket files, file by file in
        pypaimon's scan order sorted by creation time, as the files hold them: _KEY_ columns,
        _SEQUENCE_NUMBER, _VALUE_KIND and the values; Parquet read with pyarrow, Avro with
        fastavro, the reader pypaimon picks by the file's extension)

Limits:
  * pypaimon 2.x has no public way to write a row kind other than through the table option
    `rowkind.field` (a STRING column of the table holding "+I"/"-U"/"+U"/"-D"). For tables
    without that option this oracle writes `_row_kind` anyway by substituting the row-kind
    source the key-value writer consults (pypaimon.write.row_kind.row_kinds) while it writes
    each run of rows of one kind: the _VALUE_KIND column of the data files then holds the kind
    given in the spec, exactly as pypaimon itself writes it with `rowkind.field`.
  * pypaimon 2.x cannot compact: a commit with "compact": true fails unless --skip-compact.
  * On a table with deletion-vectors.enabled=true pypaimon 2.x writes only level-0 files; both
    pypaimon and Java 0.9 skip level-0 files of such tables, so the rows stay invisible until a
    Java compaction (java_oracle.py write with "compact": true).
"""

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import oracle_common as oc  # noqa: E402

KIND_BYTES = {"+I": 0, "-U": 1, "+U": 2, "-D": 3}
_current_kind = [None]


def _install_row_kind_hook():
    import pypaimon.write.row_kind as rk
    orig = rk.row_kinds
    if getattr(orig, "_shoal", False):
        return

    def row_kinds(options, data):
        if _current_kind[0] is None or options.options.to_map().get("rowkind.field"):
            return orig(options, data)
        return [_current_kind[0]] * data.num_rows
    row_kinds._shoal = True
    rk.row_kinds = row_kinds


def catalog_for(table_dir):
    from pypaimon import CatalogFactory
    warehouse, db, name = oc.split_table_dir(table_dir)
    return CatalogFactory.create({"warehouse": warehouse}), db, name


def cmd_write(args):
    from pypaimon import Schema
    from pypaimon.schema.data_types import DataField, DataTypeParser, PyarrowFieldParser
    import pyarrow as pa

    spec = oc.load_spec(args.spec)
    catalog, db, name = catalog_for(args.table_dir)
    ident = "%s.%s" % (db, name)
    try:
        table = catalog.get_table(ident)
        state = "existing"
    except Exception:
        catalog.create_database(db, True)
        fields = [DataField(i, f["name"],
                            DataTypeParser.parse_atomic_type_sql_string(
                                oc.PType(f["type"]).java_sql()))
                  for i, f in enumerate(spec["fields"])]
        schema = Schema(fields=fields, partition_keys=spec["partition_keys"],
                        primary_keys=spec["primary_keys"],
                        options={k: str(v) for k, v in spec["options"].items()})
        catalog.create_table(ident, schema, False)
        table = catalog.get_table(ident)
        state = "created"
    print(json.dumps({"table": os.path.abspath(args.table_dir), "state": state}))

    opts = table.table_schema.options
    if str(opts.get("deletion-vectors.enabled", "false")).lower() == "true":
        sys.stderr.write("warning: deletion-vectors.enabled table: pypaimon 2.x only writes level-0 "
                         "files, which no reader shows until a (Java) compaction\n")
    _install_row_kind_hook()
    tfields = oc.schema_fields(args.table_dir)
    arrow_schema = PyarrowFieldParser.from_paimon_schema(table.table_schema.fields)
    is_pk = bool(table.table_schema.primary_keys)

    for c in spec["commits"]:
        if c.get("compact") and not args.skip_compact:
            raise SystemExit("pypaimon 2.x cannot compact (commit has \"compact\": true); "
                             "use --skip-compact to ignore")
        rows = c.get("rows", [])
        # consecutive runs of one row kind
        runs = []
        for r in rows:
            k = r.get("_row_kind") or "+I"
            if k not in KIND_BYTES:
                raise SystemExit("bad _row_kind %r" % k)
            if k != "+I" and not is_pk:
                raise SystemExit("row kind %s on a table without primary key" % k)
            if runs and runs[-1][0] == k:
                runs[-1][1].append(r)
            else:
                runs.append((k, [r]))
        wb = table.new_batch_write_builder()
        tw = wb.new_write()
        tc = wb.new_commit()
        try:
            for k, run in runs:
                arrays = [oc.to_arrow_array([r.get(n) for r in run], pt,
                                            arrow_schema.field(n).type)
                          for n, pt in tfields]
                batch = pa.Table.from_arrays(arrays, schema=arrow_schema)
                _current_kind[0] = KIND_BYTES[k]
                try:
                    tw.write_arrow(batch)
                finally:
                    _current_kind[0] = None
            tc.commit(tw.prepare_commit())
        finally:
            tw.close()
            tc.close()
        latest = table.snapshot_manager().get_latest_snapshot() \
            if hasattr(table, "snapshot_manager") else None
        print(json.dumps({"rows": len(rows), "snapshot": getattr(latest, "id", None)}))


def read_arrow(table_dir, snapshot=None):
    catalog, db, name = catalog_for(table_dir)
    table = catalog.get_table("%s.%s" % (db, name))
    if snapshot:
        table = table.copy({"scan.snapshot-id": str(snapshot)})
    rb = table.new_read_builder()
    splits = rb.new_scan().plan().splits()
    return rb.new_read().to_arrow(splits)


def dump_files(table_dir, snapshot, out_path):
    """Every live file of the snapshot (all buckets), as pypaimon's manifest scan reads it."""
    catalog, db, name = catalog_for(table_dir)
    table = catalog.get_table("%s.%s" % (db, name))
    if snapshot:
        table = table.copy({"scan.snapshot-id": str(snapshot)})
    scanner = table.new_read_builder().new_scan().file_scanner
    scanner.with_all_buckets()
    manifest_files, _ = scanner.manifest_scanner()
    entries = scanner.manifest_file_manager.read_entries_parallel(manifest_files, max_workers=1)
    live = {}
    for e in entries:
        key = (bytes(e.partition.to_bytes()) if hasattr(e.partition, "to_bytes") else repr(e.partition.values),
               e.bucket, e.file.file_name)
        if e.kind == 0:
            live[key] = e
        else:
            live.pop(key, None)
    with open(out_path, "w") as f:
        for e in live.values():
            f.write(json.dumps({
                "partition": [str(v) for v in e.partition.values], "bucket": e.bucket,
                "total_buckets": e.total_buckets, "level": e.file.level, "file": e.file.file_name,
                "rows": e.file.row_count, "min_seq": e.file.min_sequence_number,
                "max_seq": e.file.max_sequence_number}) + "\n")


def dump_pending(table_dir, out_path):
    """The events of the live bucket -2 files, in the order a postpone compaction replays them."""
    import fastavro
    import pyarrow.parquet as pq
    catalog, db, name = catalog_for(table_dir)
    table = catalog.get_table("%s.%s" % (db, name))
    scanner = table.new_read_builder().new_scan().file_scanner
    scanner.with_all_buckets()
    manifest_files, _ = scanner.manifest_scanner()
    entries = scanner.manifest_file_manager.read_entries_parallel(manifest_files, max_workers=1)
    live = {}
    for e in entries:
        key = (tuple(e.partition.values), e.bucket, e.file.file_name)
        if e.kind == 0:
            live[key] = e
        else:
            live.pop(key, None)
    pending = [e for e in live.values() if e.bucket == -2]
    pending.sort(key=lambda e: e.file.creation_time_epoch_millis() or 0)  # stable: scan order kept
    with open(out_path, "w") as f:
        for e in pending:
            parts = "/".join("%s=%s" % (k, v) for k, v in zip(table.partition_keys, e.partition.values))
            path = os.path.join(table_dir, parts, "bucket-postpone", e.file.file_name)
            if e.file.file_name.endswith(".avro"):
                with open(path, "rb") as fh:
                    rows = list(fastavro.reader(fh))
            else:
                rows = pq.ParquetFile(path).read().to_pylist()
            for r in rows:
                r = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()}
                f.write(json.dumps({"partition": [str(v) for v in e.partition.values],
                                    "file": e.file.file_name, "row": r}, default=str) + "\n")


def cmd_read(args):
    fields = oc.schema_fields(args.table_dir)
    table = read_arrow(args.table_dir, args.snapshot)
    oc.dump_rows(oc.normalize_rows(table, fields), args.out)
    if args.files_out:
        dump_files(args.table_dir, args.snapshot, args.files_out)
    if args.pending_out:
        dump_pending(args.table_dir, args.pending_out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("--table-dir", required=True)
    w.add_argument("--spec", required=True)
    w.add_argument("--skip-compact", action="store_true")
    r = sub.add_parser("read")
    r.add_argument("--table-dir", required=True)
    r.add_argument("--snapshot", type=int)
    r.add_argument("--out")
    r.add_argument("--files-out")
    r.add_argument("--pending-out")
    args = ap.parse_args(argv)
    {"write": cmd_write, "read": cmd_read}[args.cmd](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
