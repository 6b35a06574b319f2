"""Shared helpers of the shoal oracles (imported by java_oracle.py and pypaimon_oracle.py).

Pure Python + pyarrow only, so it works in both virtual environments.

Value normalisation (the JSON-lines output of every `read`, and the values accepted by `write`):
  BOOLEAN                 true / false
  TINYINT..BIGINT         JSON integer
  FLOAT, DOUBLE           JSON number (FLOAT printed with the shortest float32 repr)
  DECIMAL(p,s)            string, plain notation, exactly s fraction digits ("123.45", "-0.10")
  CHAR/VARCHAR/STRING     string
  BINARY/VARBINARY/BYTES  lowercase hex string
  DATE                    "YYYY-MM-DD"
  TIME(p)                 "HH:MM:SS.fff"
  TIMESTAMP(p)            "YYYY-MM-DD HH:MM:SS.fff" (3 digits for p<=3, 6 for p<=6, 9 above)
  TIMESTAMP_LTZ(p)        same, as the UTC wall clock of the instant
  NULL                    null
Rows are printed with keys in table-field order and sorted by all columns (nulls first,
natural order of each type).
"""

import datetime
import decimal
import json
import os
import re
import struct

_TYPE_RE = re.compile(
    r"^\s*([A-Z_]+(?:\s+PRECISION)?)\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?"
    r"(\s+WITH\s+LOCAL\s+TIME\s+ZONE)?(\s+WITHOUT\s+TIME\s+ZONE)?\s*(NOT\s+NULL|NULL)?\s*$")

_ALIASES = {
    "INTEGER": "INT", "STRING": "VARCHAR", "BYTES": "VARBINARY", "DEC": "DECIMAL",
    "NUMERIC": "DECIMAL", "DOUBLE PRECISION": "DOUBLE",
}


class PType:
    """A parsed Paimon atomic type string."""

    def __init__(self, text):
        self.text = text
        m = _TYPE_RE.match(text.upper())
        if not m:
            raise ValueError("unsupported type string: %r" % text)
        root = _ALIASES.get(m.group(1), m.group(1))
        self.nullable = (m.group(6) or "").replace(" ", "") != "NOTNULL"
        p = int(m.group(2)) if m.group(2) is not None else None
        s = int(m.group(3)) if m.group(3) is not None else None
        if root == "TIMESTAMP" and m.group(4):
            root = "TIMESTAMP_LTZ"
        if root == "DECIMAL":
            p = 10 if p is None else p
            s = 0 if s is None else s
        if root in ("TIMESTAMP", "TIMESTAMP_LTZ"):
            p = 6 if p is None else p
        if root == "TIME":
            p = 0 if p is None else p
        self.root, self.precision, self.scale = root, p, s

    def java_sql(self):
        """Type string that Paimon 0.9's DataTypeJsonParser accepts."""
        t = self.text.strip()
        m = re.match(r"(?i)^TIMESTAMP_LTZ\s*(\(\s*\d+\s*\))?(.*)$", t)
        if m:
            t = "TIMESTAMP%s WITH LOCAL TIME ZONE%s" % (m.group(1) or "(6)", m.group(2))
        return t

    def frac_digits(self):
        if self.root == "TIME":
            return 3
        p = self.precision
        return 3 if p <= 3 else (6 if p <= 6 else 9)


# --------------------------------------------------------------------------- table paths

def split_table_dir(table_dir):
    """warehouse/db.db/name -> (warehouse, db, name)."""
    table_dir = os.path.abspath(table_dir.rstrip("/"))
    name = os.path.basename(table_dir)
    db_dir = os.path.dirname(table_dir)
    db = os.path.basename(db_dir)
    if not db.endswith(".db"):
        raise SystemExit("table dir must look like WAREHOUSE/DB.db/TABLE, got %s" % table_dir)
    return os.path.dirname(db_dir), db[:-3], name


def latest_schema(table_dir):
    """The newest schema/schema-N JSON of a table, as a dict."""
    d = os.path.join(table_dir, "schema")
    ids = [int(f.split("-", 1)[1]) for f in os.listdir(d) if re.match(r"^schema-\d+$", f)]
    with open(os.path.join(d, "schema-%d" % max(ids))) as f:
        return json.load(f)


def schema_fields(table_dir):
    """[(name, PType)] of the table's latest schema."""
    out = []
    for f in latest_schema(table_dir)["fields"]:
        t = f["type"]
        if not isinstance(t, str):
            raise SystemExit("nested type of field %s is not supported by the oracle" % f["name"])
        out.append((f["name"], PType(t)))
    return out


# --------------------------------------------------------------------------- input values

def parse_datetime(s):
    """'YYYY-MM-DD HH:MM:SS[.f{1,9}]' -> (naive datetime without sub-micros, extra nanos)."""
    s = s.strip().replace("T", " ")
    m = re.match(r"^(\d{4}-\d{2}-\d{2})(?: (\d{2}):(\d{2})(?::(\d{2}))?(?:\.(\d{1,9}))?)?$", s)
    if not m:
        raise ValueError("bad timestamp %r" % s)
    date = datetime.date.fromisoformat(m.group(1))
    hh, mi, ss = int(m.group(2) or 0), int(m.group(3) or 0), int(m.group(4) or 0)
    frac = (m.group(5) or "").ljust(9, "0")
    nanos = int(frac)
    dt = datetime.datetime(date.year, date.month, date.day, hh, mi, ss, nanos // 1000)
    return dt, nanos % 1000


_EPOCH = datetime.datetime(1970, 1, 1)
_EPOCH_DATE = datetime.date(1970, 1, 1)


def datetime_to_epoch_nanos(s):
    dt, extra = parse_datetime(s)
    delta = dt - _EPOCH
    return ((delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds) * 1000 + extra


def time_to_millis(s):
    m = re.match(r"^(\d{2}):(\d{2})(?::(\d{2}))?(?:\.(\d{1,9}))?$", s.strip())
    if not m:
        raise ValueError("bad time %r" % s)
    frac = (m.group(4) or "").ljust(9, "0")
    return ((int(m.group(1)) * 60 + int(m.group(2))) * 60 + int(m.group(3) or 0)) * 1000 \
        + int(frac) // 1_000_000


def to_arrow_array(values, ptype, arrow_type):
    """JSON values of one column -> pyarrow array of arrow_type (used by pypaimon_oracle)."""
    import pyarrow as pa
    r = ptype.root
    if r in ("TIMESTAMP", "TIMESTAMP_LTZ"):
        unit = arrow_type.unit
        div = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}[unit]
        ints = [None if v is None else datetime_to_epoch_nanos(v) // div for v in values]
        return pa.array(ints, pa.int64()).cast(arrow_type)
    if r == "DATE":
        ints = [None if v is None else (datetime.date.fromisoformat(v.strip()) - _EPOCH_DATE).days
                for v in values]
        return pa.array(ints, pa.int32()).cast(arrow_type)
    if r == "TIME":
        ints = [None if v is None else time_to_millis(v) for v in values]
        return pa.array(ints, pa.int32()).cast(pa.time32("ms")).cast(arrow_type)
    if r == "DECIMAL":
        return pa.array([None if v is None else decimal.Decimal(str(v)) for v in values],
                        arrow_type)
    if r in ("BINARY", "VARBINARY"):
        return pa.array([None if v is None else bytes.fromhex(v) for v in values], arrow_type)
    if r in ("FLOAT", "DOUBLE"):
        return pa.array([None if v is None else float(v) for v in values], arrow_type)
    if r in ("TINYINT", "SMALLINT", "INT", "BIGINT"):
        return pa.array([None if v is None else int(v) for v in values], arrow_type)
    if r == "BOOLEAN":
        return pa.array([None if v is None else (v if isinstance(v, bool)
                                                 else str(v).lower() == "true") for v in values],
                        arrow_type)
    return pa.array(values, arrow_type)


# --------------------------------------------------------------------------- output values

def _fmt_nanos(total_nanos, digits):
    secs, nanos = divmod(total_nanos, 10**9)
    dt = _EPOCH + datetime.timedelta(seconds=secs)
    frac = ("%09d" % nanos)[:digits]
    return dt.strftime("%Y-%m-%d %H:%M:%S") + "." + frac


def _f32(x):
    """Shortest decimal that round-trips the float32 value x, as a Python float."""
    if x != x or x in (float("inf"), float("-inf")):
        return x
    packed = struct.pack("<f", x)
    for p in range(1, 10):
        cand = float("%.*g" % (p, x))
        try:
            if struct.pack("<f", cand) == packed:
                return cand
        except OverflowError:
            continue
    return x


def normalize_column(col, ptype):
    """pyarrow ChunkedArray/Array of one column -> list of (sort_key, json_value)."""
    import pyarrow as pa
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks else pa.array([], col.type)
    t = col.type
    r = ptype.root
    out = []
    if pa.types.is_timestamp(t):
        mult = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}[t.unit]
        digits = ptype.frac_digits() if r in ("TIMESTAMP", "TIMESTAMP_LTZ") else 9
        for v in col.cast(pa.int64()).to_pylist():
            out.append((None, None) if v is None else (v * mult, _fmt_nanos(v * mult, digits)))
        return out
    if pa.types.is_time(t):
        mult = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}[t.unit]
        ints = col.cast(pa.int64() if pa.types.is_time64(t) else pa.int32()).to_pylist()
        for v in ints:
            if v is None:
                out.append((None, None))
            else:
                n = v * mult
                out.append((n, _fmt_nanos(n, 3)[11:]))
        return out
    if pa.types.is_date(t):
        for v in col.cast(pa.int32()).to_pylist():
            out.append((None, None) if v is None else
                       (v, (_EPOCH_DATE + datetime.timedelta(days=v)).isoformat()))
        return out
    vals = col.to_pylist()
    if pa.types.is_decimal(t):
        scale = ptype.scale if ptype.root == "DECIMAL" else t.scale
        for v in vals:
            out.append((None, None) if v is None else (v, format(v, ".%df" % scale)))
        return out
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        for v in vals:
            out.append((None, None) if v is None else (v, v.hex()))
        return out
    if r == "FLOAT":
        for v in vals:
            out.append((None, None) if v is None else (v, _f32(v)))
        return out
    for v in vals:
        out.append((None, None) if v is None else (v, v))
    return out


def normalize_rows(table, fields):
    """pyarrow Table + [(name, PType)] -> list of dict rows, sorted by all columns."""
    cols = [normalize_column(table.column(name), pt) for name, pt in fields]
    names = [name for name, _ in fields]
    n = table.num_rows
    rows = []
    for i in range(n):
        key = tuple((0,) if c[i][0] is None else (1, c[i][0]) for c in cols)
        rows.append((key, {names[j]: cols[j][i][1] for j in range(len(cols))}))
    rows.sort(key=lambda kv: kv[0])
    return [r for _, r in rows]


def dump_rows(rows, out_path=None):
    text = "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in rows)
    if out_path:
        with open(out_path, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        import sys
        sys.stdout.write(text)


def load_spec(path):
    with open(path, encoding="utf-8") as f:
        spec = json.load(f)
    spec.setdefault("primary_keys", [])
    spec.setdefault("partition_keys", [])
    spec.setdefault("options", {})
    spec.setdefault("commits", [])
    return spec
