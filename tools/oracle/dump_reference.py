#!/usr/bin/env python3
"""Copy a Paimon table directory into tests/data/reference/ and dump its metadata as JSON.

Run with either oracle venv (needs fastavro + pyarrow):
    python dump_reference.py --table-dir WAREHOUSE/DB.db/T --name java09_pk --out-dir tests/data/reference

Writes, for NAME:
  NAME/                              copy of the table directory
  NAME.manifest.schema.json          Avro header of one manifest file: codec, exact writer schema
  NAME.manifest_list.schema.json     same for one manifest-list file
  NAME.index_manifest.schema.json    same for one index manifest (only if the table has one)
  NAME.manifest.records.json         decoded records of every manifest file {file: [records]}
  NAME.manifest_list.records.json    same for every manifest-list file
  NAME.index_manifest.records.json   same for every index manifest
  NAME.parquet.json                  parquet schema (with field ids), key/value metadata and
                                     column-chunk details of one data file
Avro `bytes` values are dumped as lowercase hex strings, timestamp-millis values as the stored
long (epoch milliseconds).
"""

import argparse
import base64
import datetime
import glob
import json
import os
import shutil

import fastavro
import pyarrow.parquet as pq

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def _jsonable(v):
    if isinstance(v, datetime.datetime):
        # timestamp-millis logical type: dump the stored long (epoch millis)
        return (v - _EPOCH) // datetime.timedelta(milliseconds=1)
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


def avro_header(path):
    with open(path, "rb") as f:
        r = fastavro.reader(f)
        meta = dict(r.metadata)
        raw = meta.pop("avro.schema")
        return {"codec": r.codec, "writer_schema": json.loads(raw), "writer_schema_raw": raw,
                "other_header_metadata": meta}


def avro_records(path):
    with open(path, "rb") as f:
        return [_jsonable(rec) for rec in fastavro.reader(f)]


def kind_files(table_dir):
    m = os.path.join(table_dir, "manifest")
    names = sorted(os.listdir(m)) if os.path.isdir(m) else []
    return {
        "manifest_list": [n for n in names if n.startswith("manifest-list-")],
        "index_manifest": [n for n in names if n.startswith("index-manifest-")],
        "manifest": [n for n in names if n.startswith("manifest-")
                     and not n.startswith("manifest-list-")],
    }


def parquet_info(path):
    pf = pq.ParquetFile(path)
    md = pf.metadata
    arrow_fields = []
    for fld in pf.schema_arrow:
        arrow_fields.append({
            "name": fld.name, "type": str(fld.type), "nullable": fld.nullable,
            "metadata": {k.decode(): v.decode("utf-8", "replace")
                         for k, v in (fld.metadata or {}).items()}})
    cols = []
    for i in range(len(pf.schema)):
        c = pf.schema.column(i)
        cols.append({"path": c.path, "physical_type": c.physical_type,
                     "logical_type": str(c.logical_type), "converted_type": c.converted_type,
                     "max_definition_level": c.max_definition_level,
                     "length": c.length, "precision": c.precision, "scale": c.scale})
    kv = {}
    for k, v in (md.metadata or {}).items():
        key = k.decode("utf-8", "replace")
        try:
            kv[key] = v.decode("utf-8")
        except UnicodeDecodeError:
            kv[key] = "base64:" + base64.b64encode(v).decode()
    row_groups = []
    for g in range(md.num_row_groups):
        rg = md.row_group(g)
        chunks = []
        for i in range(rg.num_columns):
            c = rg.column(i)
            st = c.statistics
            chunks.append({
                "path": c.path_in_schema, "physical_type": c.physical_type,
                "compression": c.compression, "encodings": list(c.encodings),
                "has_dictionary_page": c.has_dictionary_page,
                "statistics": None if st is None else {
                    "has_min_max": st.has_min_max, "null_count": st.null_count,
                    "min": repr(st.min) if st.has_min_max else None,
                    "max": repr(st.max) if st.has_min_max else None}})
        row_groups.append({"num_rows": rg.num_rows, "columns": chunks})
    # field ids: pyarrow reports -1 in the parquet schema text when a field has no id
    text = str(pf.schema)
    return {
        "created_by": md.created_by, "format_version": md.format_version,
        "num_rows": md.num_rows, "num_row_groups": md.num_row_groups,
        "parquet_schema_text": [ln for ln in text.splitlines()[1:] if ln.strip()],
        "field_ids_present": "field_id=-1" not in text,
        "columns": cols, "arrow_schema": arrow_fields, "key_value_metadata": kv,
        "row_groups": row_groups,
    }


def dump(table_dir, name, out_dir):
    table_dir = os.path.abspath(table_dir)
    os.makedirs(out_dir, exist_ok=True)
    dst = os.path.join(out_dir, name)
    if os.path.exists(dst):
        shutil.rmtree(dst)
    shutil.copytree(table_dir, dst, ignore=shutil.ignore_patterns(".*.crc"))
    for old in glob.glob(os.path.join(out_dir, name + ".*.json")):
        os.remove(old)

    def write(suffix, obj):
        with open(os.path.join(out_dir, "%s.%s.json" % (name, suffix)), "w",
                  encoding="utf-8") as f:
            json.dump(obj, f, indent=1, ensure_ascii=False)
            f.write("\n")

    for kind, files in kind_files(table_dir).items():
        if not files:
            continue
        first = files[0]
        header = avro_header(os.path.join(table_dir, "manifest", first))
        header = {"file": "manifest/" + first, **header}
        write(kind + ".schema", header)
        write(kind + ".records",
              {"manifest/" + n: avro_records(os.path.join(table_dir, "manifest", n))
               for n in files})
    data = sorted(glob.glob(os.path.join(table_dir, "**", "data-*"), recursive=True))
    if data:
        info = parquet_info(data[0])
        write("parquet", {"file": os.path.relpath(data[0], table_dir), **info})
    print("dumped %s -> %s" % (table_dir, dst))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--table-dir", required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--out-dir", required=True)
    a = ap.parse_args()
    dump(a.table_dir, a.name, a.out_dir)


if __name__ == "__main__":
    main()
