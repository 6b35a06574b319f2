#!/usr/bin/env python3
"""Oracle CLI driving Apache Paimon's Java core 0.9 (the bridge jar of pypaimon==0.2.0, via py4j).

Run with the java09 venv python installed by tools/oracle/setup.sh, e.g.
    ~/.cache/shoal/oracle/java09/bin/python tools/oracle/java_oracle.py read --table-dir T

Commands:
  write --table-dir WAREHOUSE/DB.db/TABLE --spec SPEC.json
  read  --table-dir WAREHOUSE/DB.db/TABLE [--snapshot N | --tag NAME] [--out FILE]
  create-tag --table-dir T --name NAME [--snapshot N] [--time-retained-ms MS]
  delete-tag --table-dir T --name NAME
  tags --table-dir T                      (prints {"name": snapshotId, ...})
  tag-info --table-dir T                  (prints {"name": {"snapshot": id, "create_time": ISO or
                                           null, "time_retained_ms": ms or null}, ...})
  tag-maintenance --table-dir T           (runs Paimon's TagAutoManager with the table's options:
                                           automatic tag creation, then tag retention expiry)
  expire --table-dir T [--retain-max N] [--retain-min N] [--older-than-ms MS] [--max-deletes N]
  rollback --table-dir T --to SNAPSHOT_ID|TAG
  alter --table-dir T --changes JSON      (a list of {"op": "add-column"|"drop-column"|
        "rename-column"|"update-column-type"|"set-option"|"remove-option", ...})
  system-table --table-dir T --names snapshots,files,...
                                          (opens db.t$<name> through Java's catalog for each
                                           name and prints one JSON line per system table:
                                           {"name", "fields": [[column, type]], "rows": [[...]]};
                                           timestamps as the epoch millis of their wall-clock
                                           value, in the JVM's time zone: TZ if set)
  bucket-goldens --out-dir DIR [--keys N]
  binaryrow-goldens --out FILE
  agg-goldens --spec SPEC.json --out FILE (values of the rbm64, hll_sketch and theta_sketch aggregate
                                           functions: Java's serialisations, Java's aggregates of
                                           given values, Java's reading of given values; see
                                           cmd_agg_goldens)
See tools/oracle/README.md for the spec format and the output normalisation.
"""

import argparse
import collections
import csv
import json
import os
import random
import shutil
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import oracle_common as oc  # noqa: E402

ORACLE_HOME = os.environ.get("SHOAL_ORACLE_HOME") or os.path.join(
    os.path.expanduser("~"), ".cache", "shoal", "oracle")

ADD_OPENS = ("--add-opens=java.base/java.nio=ALL-UNNAMED "
             "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED "
             "--add-opens=java.base/java.lang=ALL-UNNAMED "
             "--add-opens=java.base/java.util=ALL-UNNAMED")


def _setup_env():
    """Defaults for the variables env.sh exports, so sourcing env.sh is optional."""
    hadoop = os.path.join(ORACLE_HOME, "hadoop")
    os.environ.setdefault(
        "_PYPAIMON_HADOOP_CLASSPATH",
        os.path.join(hadoop, "hadoop-client-api-3.5.0.jar") + ":"
        + os.path.join(hadoop, "hadoop-client-runtime-3.5.0.jar"))
    os.environ.setdefault("_PYPAIMON_JAVA_CLASSPATH", os.path.join(ORACLE_HOME, "classes"))
    if "add-opens=java.base/java.nio" not in os.environ.get("JDK_JAVA_OPTIONS", ""):
        os.environ["JDK_JAVA_OPTIONS"] = (os.environ.get("JDK_JAVA_OPTIONS", "") + " "
                                          + ADD_OPENS).strip()
    for jar in os.environ["_PYPAIMON_HADOOP_CLASSPATH"].split(":"):
        if not os.path.exists(jar):
            raise SystemExit("missing %s: run tools/oracle/setup.sh first" % jar)
    cls = os.path.join(os.environ["_PYPAIMON_JAVA_CLASSPATH"].split(":")[0],
                       "shoal", "oracle", "ShoalOracle.class")
    if not os.path.exists(cls):
        raise SystemExit("missing %s: run tools/oracle/setup.sh first" % cls)


_proc = None
_stderr_tail = collections.deque(maxlen=200)


def _patch_launcher():
    """pypaimon 0.2 starts the JVM with stderr=PIPE and never reads it: drain it in a thread
    (a chatty JVM would otherwise block on a full pipe) and remember the process."""
    import pypaimon.py4j.java_gateway as jg
    orig = jg.launch_gateway_server_process

    def launch(env):
        global _proc
        p = orig(env)
        _proc = p
        verbose = bool(os.environ.get("SHOAL_ORACLE_VERBOSE"))

        def drain():
            for line in iter(p.stderr.readline, b""):
                text = line.decode("utf-8", "replace")
                _stderr_tail.append(text)
                if verbose:
                    sys.stderr.write(text)
        threading.Thread(target=drain, daemon=True).start()
        return p
    jg.launch_gateway_server_process = launch


def gateway():
    _setup_env()
    _patch_launcher()
    from pypaimon.py4j.java_gateway import get_gateway
    return get_gateway()


def oracle_class():
    return gateway().jvm.shoal.oracle.ShoalOracle


def shutdown():
    global _proc
    try:
        import pypaimon.py4j.java_gateway as jg
        if jg._gateway is not None:
            jg._gateway.shutdown()
    except Exception:
        pass
    if _proc is not None:
        try:
            _proc.terminate()
            _proc.wait(timeout=10)
        except Exception:
            _proc.kill()
        _proc = None


# --------------------------------------------------------------------------- system tables

def _system_value(v):
    """A Java value of a system-table cell as JSON: numbers and strings as such, TIMESTAMPs as
    the epoch millis of their wall-clock value (getMillisecond), anything else as toString()."""
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    cls = v.getClass().getName()
    if cls == "org.apache.paimon.data.Timestamp":
        return v.getMillisecond()
    return str(v.toString())


def cmd_system_table(args):
    """Reads system tables db.t$<name> through Java Paimon's catalog (as Flink and Spark do)."""
    tz = os.environ.get("TZ")
    if tz and "user.timezone" not in os.environ.get("JDK_JAVA_OPTIONS", ""):
        os.environ["JDK_JAVA_OPTIONS"] = (os.environ.get("JDK_JAVA_OPTIONS", "") + " -Duser.timezone=" + tz.lstrip(":")).strip()
    warehouse, db, name = oc.split_table_dir(args.table_dir)
    jvm = gateway().jvm
    catalog = jvm.org.apache.paimon.catalog.CatalogFactory.createCatalog(
        jvm.org.apache.paimon.catalog.CatalogContext.create(
            jvm.org.apache.paimon.options.Options(java_map({"warehouse": warehouse}))))
    get = jvm.org.apache.paimon.utils.InternalRowUtils.get
    for system in args.names.split(","):
        ident = jvm.org.apache.paimon.catalog.Identifier.fromString("%s.%s$%s" % (db, name, system))
        j_table = catalog.getTable(ident)
        row_type = j_table.rowType()
        fields = list(row_type.getFields())
        types = [f.type() for f in fields]
        rb = jvm.InvocationUtil.getReadBuilder(j_table)
        splits = rb.newScan().plan().splits()
        read = rb.newRead()
        rows = []
        for split in splits:
            it = read.createReader(split).toCloseableIterator()
            try:
                while it.hasNext():
                    row = it.next()
                    rows.append([None if row.isNullAt(i) else _system_value(get(row, i, t))
                                 for i, t in enumerate(types)])
            finally:
                it.close()
        print(json.dumps({"name": system,
                          "fields": [[f.name(), str(f.type().toString())] for f in fields],
                          "rows": rows}))


# --------------------------------------------------------------------------- write

def java_spec(spec):
    s = dict(spec)
    s["fields"] = [{"name": f["name"], "type": oc.PType(f["type"]).java_sql()}
                   for f in spec["fields"]]
    s.pop("commits", None)
    s["options"] = {k: str(v) for k, v in spec.get("options", {}).items()}
    return s


def cmd_write(args):
    spec = oc.load_spec(args.spec)
    warehouse, db, name = oc.split_table_dir(args.table_dir)
    if args.branch:
        name += "$branch_" + args.branch  # Paimon's identifier for a branch of the table
    J = oracle_class()
    state = J.ensureTable(warehouse, db, name, json.dumps(java_spec(spec)))
    print(json.dumps({"table": os.path.join(warehouse, db + ".db", name), "state": state}))
    tmp = tempfile.mkdtemp(prefix="shoal-oracle-io-")
    try:
        for c in spec["commits"]:
            if "overwrite" in c:
                print(overwrite_commit(args.table_dir, c, tmp))
                continue
            res = J.writeCommit(warehouse, db, name, json.dumps(c.get("rows", [])),
                                bool(c.get("compact", False)), tmp)
            print(res)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def cmd_write_dynamic(args):
    """Like write, for dynamic-bucket tables (bucket = -1): Paimon's HashBucketAssigner picks
    each row's bucket. Prints the buckets of each commit's rows as a JSON array."""
    spec = oc.load_spec(args.spec)
    warehouse, db, name = oc.split_table_dir(args.table_dir)
    oracle_class().ensureTable(warehouse, db, name, json.dumps(java_spec(spec)))
    tmp = tempfile.mkdtemp(prefix="shoal-oracle-io-")
    try:
        for c in spec["commits"]:
            print(gateway().jvm.shoal.oracle.DynamicBucketOracle.write(
                warehouse, db, name, json.dumps(c.get("rows", [])), tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def overwrite_commit(table_dir, c, tmp):
    """An INSERT OVERWRITE: commit {"overwrite": {static partition, e.g. {"dt": "x"}; {} for none},
    "overwrite_options": {e.g. "dynamic-partition-overwrite": "false"}, "rows": [...]} through
    BatchWriteBuilder.withOverwrite (rows go through pypaimon 0.2's Arrow writer: ints, floats,
    strings, booleans)."""
    import pyarrow as pa
    from pypaimon.py4j.java_implementation import BatchTableWrite
    from pypaimon.py4j.util import java_utils
    jvm = gateway().jvm
    j_table = java_table(table_dir)
    if c.get("overwrite_options"):
        j_table = j_table.copy(java_map({k: str(v) for k, v in c["overwrite_options"].items()}))
    static = java_map({k: str(v) for k, v in c["overwrite"].items()})
    builder = jvm.InvocationUtil.getBatchWriteBuilder(j_table).withOverwrite(static)
    io = jvm.org.apache.paimon.disk.IOManager.create(tmp)
    write = BatchTableWrite(builder.newWrite().withIOManager(io), builder.rowType())
    try:
        schema = java_utils.to_arrow_schema(builder.rowType())
        rows = c.get("rows", [])
        if rows:
            write.write_arrow(pa.Table.from_pylist(rows, schema=schema))
        commit = builder.newCommit()
        commit.commit(write._j_batch_table_write.prepareCommit())
        commit.close()
    finally:
        write.close()
        io.close()
    return json.dumps({"rows": len(c.get("rows", [])), "overwrite": c["overwrite"],
                       "snapshot": j_table.snapshotManager().latestSnapshotId()})


# --------------------------------------------------------------------------- read

def java_map(d):
    m = gateway().jvm.java.util.HashMap()
    for k, v in d.items():
        m.put(k, v)
    return m


def java_table(table_dir, snapshot=None, tag=None, branch=None):
    warehouse, db, name = oc.split_table_dir(table_dir)
    if branch:
        name += "$branch_" + branch
    j_table = oracle_class().table(warehouse, db, name, int(snapshot or -1))
    if tag is not None:
        j_table = j_table.copy(java_map({"scan.tag-name": tag}))
    return j_table


def read_arrow(table_dir, snapshot=None, tag=None, branch=None):
    warehouse, _, _ = oc.split_table_dir(table_dir)
    j_table = java_table(table_dir, snapshot, tag, branch)
    from pypaimon.py4j.java_implementation import Table
    rb = Table(j_table, {"warehouse": warehouse}).new_read_builder()
    splits = rb.new_scan().plan().splits()
    return rb.new_read().to_arrow(splits)


def schema_fields_of(table_dir, schema_id):
    """[(name, PType)] of schema-N (time travel reads with the snapshot's schema)."""
    with open(os.path.join(table_dir, "schema", "schema-%d" % schema_id)) as f:
        return [(fd["name"], oc.PType(fd["type"])) for fd in json.load(f)["fields"]]


def cmd_read(args):
    if args.branch:
        # A branch keeps its own schemas under branch/branch-<name>/schema.
        fields = oc.schema_fields(os.path.join(args.table_dir, "branch", "branch-" + args.branch))
        oc.dump_rows(oc.normalize_rows(read_arrow(args.table_dir, branch=args.branch), fields), args.out)
        return
    if args.tag:
        with open(os.path.join(args.table_dir, "tag", "tag-" + args.tag)) as f:
            fields = schema_fields_of(args.table_dir, json.load(f)["schemaId"])
    elif args.snapshot:
        with open(os.path.join(args.table_dir, "snapshot", "snapshot-%d" % args.snapshot)) as f:
            fields = schema_fields_of(args.table_dir, json.load(f)["schemaId"])
    else:
        fields = oc.schema_fields(args.table_dir)
    table = read_arrow(args.table_dir, args.snapshot, args.tag)
    oc.dump_rows(oc.normalize_rows(table, fields), args.out)


def cmd_read_snapshots(args):
    """Reads every snapshot of the table (one JVM for all): <out-dir>/snapshot-<id>.jsonl each."""
    os.makedirs(args.out_dir, exist_ok=True)
    ids = sorted(int(n[len("snapshot-"):]) for n in os.listdir(os.path.join(args.table_dir, "snapshot"))
                 if n.startswith("snapshot-"))
    for sid in ids:
        with open(os.path.join(args.table_dir, "snapshot", "snapshot-%d" % sid)) as f:
            fields = schema_fields_of(args.table_dir, json.load(f)["schemaId"])
        table = read_arrow(args.table_dir, sid, None)
        oc.dump_rows(oc.normalize_rows(table, fields), os.path.join(args.out_dir, "snapshot-%d.jsonl" % sid))


# --------------------------------------------------------------------------- lifecycle

def cmd_branch(args):
    """Paimon 0.9's branch operations on the table: create (from a tag, or empty), delete,
    fast-forward, list (prints the branch names as JSON)."""
    t = java_table(args.table_dir)
    if args.action == "create":
        if args.tag:
            t.createBranch(args.name, args.tag)
        else:
            t.createBranch(args.name)
    elif args.action == "delete":
        t.deleteBranch(args.name)
    elif args.action == "fast-forward":
        t.fastForward(args.name)
    print(json.dumps(sorted(str(b) for b in t.branchManager().branches())))


def cmd_create_tag(args):
    t = java_table(args.table_dir)
    jvm = gateway().jvm
    retained = None
    if args.time_retained_ms is not None:
        retained = jvm.java.time.Duration.ofMillis(args.time_retained_ms)
    if args.snapshot is None:
        if retained is None:
            t.createTag(args.name)
        else:
            t.createTag(args.name, retained)
    else:
        # py4j passes small ints as Integer: pick createTag(String, long) explicitly.
        sid = jvm.java.lang.Long.valueOf(str(args.snapshot))
        if retained is None:
            t.createTag(args.name, sid)
        else:
            t.createTag(args.name, sid, retained)
    print(json.dumps({"created": args.name}))


def cmd_tag_info(args):
    out = {}
    for pair in java_table(args.table_dir).tagManager().tagObjects():
        tag, name = pair.getLeft(), pair.getRight()
        created, retained = tag.getTagCreateTime(), tag.getTagTimeRetained()
        out[name] = {"snapshot": tag.id(),
                     "create_time": None if created is None else created.toString(),
                     "time_retained_ms": None if retained is None else retained.toMillis()}
    print(json.dumps(out, sort_keys=True))


def cmd_tag_maintenance(args):
    java_table(args.table_dir).store().newTagCreationManager().run()
    cmd_tags(args)


def cmd_delete_tag(args):
    java_table(args.table_dir).deleteTag(args.name)
    print(json.dumps({"deleted": args.name}))


def cmd_tags(args):
    tags = java_table(args.table_dir).tagManager().tags()
    out = {}
    for snap in tags.keySet():
        for n in tags.get(snap):
            out[n] = snap.id()
    print(json.dumps(out, sort_keys=True))


def cmd_expire(args):
    jvm = gateway().jvm
    b = jvm.org.apache.paimon.options.ExpireConfig.builder()
    if args.retain_max is not None:
        b = b.snapshotRetainMax(args.retain_max)
    if args.retain_min is not None:
        b = b.snapshotRetainMin(args.retain_min)
    if args.older_than_ms is not None:
        b = b.snapshotTimeRetain(jvm.java.time.Duration.ofMillis(args.older_than_ms))
    if args.max_deletes is not None:
        b = b.snapshotMaxDeletes(args.max_deletes)
    n = java_table(args.table_dir).newExpireSnapshots().config(b.build()).expire()
    print(json.dumps({"expired": n}))


def cmd_rollback(args):
    t = java_table(args.table_dir)
    if args.to.isdigit():
        t.rollbackTo(gateway().jvm.java.lang.Long.valueOf(args.to))
    else:
        t.rollbackTo(args.to)
    print(json.dumps({"rolled_back_to": args.to}))


def cmd_alter(args):
    jvm = gateway().jvm
    SC = jvm.org.apache.paimon.schema.SchemaChange
    parse = jvm.org.apache.paimon.types.DataTypeJsonParser.parseAtomicTypeSQLString
    changes = jvm.java.util.ArrayList()
    for c in json.loads(args.changes):
        op = c["op"]
        if op == "add-column":
            changes.add(SC.addColumn(c["name"], parse(oc.PType(c["type"]).java_sql())))
        elif op == "drop-column":
            changes.add(SC.dropColumn(c["name"]))
        elif op == "rename-column":
            changes.add(SC.renameColumn(c["from"], c["to"]))
        elif op == "update-column-type":
            changes.add(SC.updateColumnType(c["name"], parse(oc.PType(c["type"]).java_sql())))
        elif op == "set-option":
            changes.add(SC.setOption(c["key"], c["value"]))
        elif op == "remove-option":
            changes.add(SC.removeOption(c["key"]))
        else:
            raise SystemExit("unknown alter op %r" % op)
    warehouse, db, name = oc.split_table_dir(args.table_dir)
    opts = jvm.org.apache.paimon.options.Options(java_map({"warehouse": warehouse}))
    catalog = jvm.org.apache.paimon.catalog.CatalogFactory.createCatalog(
        jvm.org.apache.paimon.catalog.CatalogContext.create(opts))
    catalog.alterTable(jvm.org.apache.paimon.catalog.Identifier.create(db, name), changes, False)
    print(json.dumps({"altered": len(json.loads(args.changes))}))


# --------------------------------------------------------------------------- bucket goldens

I64_MIN, I64_MAX = -(1 << 63), (1 << 63) - 1
I32_MIN, I32_MAX = -(1 << 31), (1 << 31) - 1
BUCKETS = [1, 2, 3, 4, 7, 16, 100]
ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"
UNICODE = ["é", "ß", "ж", "中", "文", "日本", "😀", "ü", "€", "한"]


def _bigints(rnd, n):
    fixed = [I64_MIN, I64_MAX, 0, -1, 1, I64_MIN + 1, I64_MAX - 1, I32_MIN, I32_MAX,
             I32_MIN - 1, I32_MAX + 1, 1 << 32, -(1 << 32), 255, 256, 65535, 65536]
    seq = list(range(-100, 1000))
    out = fixed + seq
    while len(out) < n:
        out.append(rnd.randint(I64_MIN, I64_MAX) if rnd.random() < 0.7
                   else rnd.randint(-10**6, 10**6))
    return out[:n]


def _ints(rnd, n):
    fixed = [I32_MIN, I32_MAX, 0, -1, 1, I32_MIN + 1, I32_MAX - 1, 255, 256, 65535, 65536]
    out = fixed + list(range(-100, 1000))
    while len(out) < n:
        out.append(rnd.randint(I32_MIN, I32_MAX) if rnd.random() < 0.7
                   else rnd.randint(-10**5, 10**5))
    return out[:n]


def _ascii(rnd, lo, hi):
    return "".join(rnd.choice(ALPHABET) for _ in range(rnd.randint(lo, hi)))


def _short_strings(rnd, n):
    """UTF-8 length 0..7 bytes (stored inline in the BinaryRow fixed part)."""
    out = ["", "a", "ab", "abc", "abcd", "abcde", "abcdef", "abcdefg", "0", "1234567",
           "é", "中", "中文", "😀", "a😀", "日本x"]
    seen = set(out)
    while len(out) < n:
        s = _ascii(rnd, 0, 7)
        if rnd.random() < 0.2:
            s = (s[:3] + rnd.choice(UNICODE))
        if len(s.encode("utf-8")) <= 7 and s not in seen:
            seen.add(s)
            out.append(s)
    assert all(len(s.encode("utf-8")) <= 7 for s in out)
    return out[:n]


def _long_strings(rnd, n):
    """UTF-8 length >= 8 bytes (stored in the variable part), including non-ASCII."""
    out = ["abcdefgh", "abcdefghi", "12345678", "0123456789abcdef", "0123456789abcdefg",
           "中文中文中文", "😀😀", "é" * 4, "x" * 100, "y" * 1000, "日本語のテキスト"]
    seen = set(out)
    while len(out) < n:
        s = _ascii(rnd, 8, 40)
        if rnd.random() < 0.3:
            parts = [rnd.choice(UNICODE) for _ in range(rnd.randint(1, 8))]
            s = s[:rnd.randint(0, 10)] + "".join(parts)
            if len(s.encode("utf-8")) < 8:
                s += "padding!"
        if s not in seen:
            seen.add(s)
            out.append(s)
    assert all(len(s.encode("utf-8")) >= 8 for s in out)
    return out[:n]


def _mixed_strings(rnd, n):
    a = _short_strings(rnd, n // 2)
    b = _long_strings(rnd, n - n // 2)
    out = []
    for x, y in zip(a, b):
        out += [x, y]
    return out[:n]


def bucket_key_sets(n):
    rnd = random.Random(20240102)
    bi = _bigints(rnd, n)
    ms = _mixed_strings(rnd, n)
    ints_a = _ints(rnd, n)
    ints_b = _ints(random.Random(7), n)
    rnd.shuffle(ints_b)
    return {
        "bigint": ([("k", "BIGINT")], [{"k": v} for v in _bigints(rnd, n)]),
        "int": ([("k", "INT")], [{"k": v} for v in _ints(rnd, n)]),
        "string_short": ([("k", "STRING")], [{"k": v} for v in _short_strings(rnd, n)]),
        "string_long": ([("k", "STRING")], [{"k": v} for v in _long_strings(rnd, n)]),
        "bigint_string": ([("a", "BIGINT"), ("b", "STRING")],
                          [{"a": x, "b": y} for x, y in zip(bi, ms)]),
        "int_int": ([("a", "INT"), ("b", "INT")],
                    [{"a": x, "b": y} for x, y in zip(ints_a, ints_b)]),
    }


def cmd_bucket_goldens(args):
    J = oracle_class()
    os.makedirs(args.out_dir, exist_ok=True)
    wh = tempfile.mkdtemp(prefix="shoal-bucket-wh-")
    try:
        sets = bucket_key_sets(args.keys)
        # A partitioned table: the bucket key is the primary key minus the partition keys.
        rnd = random.Random(99)
        sets["partitioned_bigint"] = (
            [("p", "STRING"), ("k", "BIGINT")],
            [{"p": rnd.choice(["2024-01-01", "x", "中"]), "k": v}
             for v in _bigints(rnd, min(args.keys, 1000))])
        for kind, (cols, rows) in sets.items():
            results = {}
            for nb in BUCKETS:
                name = "%s_b%d" % (kind, nb)
                spec = {"fields": [{"name": c, "type": t + " NOT NULL"} for c, t in cols]
                        + [{"name": "v", "type": "STRING"}],
                        "primary_keys": [c for c, _ in cols],
                        "partition_keys": ["p"] if kind.startswith("partitioned") else [],
                        "options": {"bucket": str(nb)}}
                J.ensureTable(wh, "g", name, json.dumps(spec))
                lines = J.bucketGoldens(wh, "g", name, json.dumps(rows)).splitlines()
                results[nb] = [tuple(int(x) for x in ln.split(",")) for ln in lines]
            hashes = [h for h, _ in results[BUCKETS[0]]]
            for nb in BUCKETS:
                assert [h for h, _ in results[nb]] == hashes, "hash depends on bucket count"
            path = os.path.join(args.out_dir, kind + ".csv")
            with open(path, "w", newline="", encoding="utf-8") as f:
                w = csv.writer(f, lineterminator="\n")
                w.writerow([c for c, _ in cols] + ["hash"] + ["bucket_%d" % nb for nb in BUCKETS])
                for i, row in enumerate(rows):
                    w.writerow([row[c] for c, _ in cols] + [hashes[i]]
                               + [results[nb][i][1] for nb in BUCKETS])
            print("%s: %d keys, columns %s" % (path, len(rows),
                                              ",".join("%s %s" % ct for ct in cols)))
    finally:
        shutil.rmtree(wh, ignore_errors=True)


# --------------------------------------------------------------------------- binary row goldens

STR_SAMPLES = ["", "a", "abcdefg", "abcdefgh", "x" * 100, "中文", "😀 ünïcødé ✓ 中文字符"]


def binaryrow_cases():
    c = []

    def add(types, values, note=None):
        c.append({"types": types, "values": values, **({"note": note} if note else {})})

    scalars = [
        ("BOOLEAN", [True, False]),
        ("TINYINT", [0, 1, -1, 127, -128]),
        ("SMALLINT", [0, -1, 32767, -32768]),
        ("INT", [0, 1, -1, I32_MAX, I32_MIN]),
        ("BIGINT", [0, 1, -1, I64_MAX, I64_MIN, 1 << 40]),
        ("FLOAT", [0.0, 1.5, -2.25, 3.4028234663852886e38, 1.401298464324817e-45]),
        ("DOUBLE", [0.0, 1.5, -2.25, 1.7976931348623157e308, 5e-324, 0.1]),
        ("DECIMAL(10, 2)", ["0.00", "123.45", "-123.45", "99999999.99", "-0.01"]),
        ("DECIMAL(18, 4)", ["12345678901234.5678", "-1.0000"]),
        ("DECIMAL(19, 2)", ["12345678901234567.89", "-0.01"]),
        ("DECIMAL(20, 2)", ["0.00", "123.45", "-123.45", "123456789012345678.90",
                            "-999999999999999999.99"]),
        ("DECIMAL(38, 10)", ["0.0000000000", "1.0000000001",
                             "-9999999999999999999999999999.9999999999",
                             "1234567890123456789012345678.0123456789"]),
        ("CHAR(5)", ["", "a", "abcde", "中文"]),
        ("VARCHAR(20)", ["", "hello", "hello world 123", "ünïcødé"]),
        ("STRING", STR_SAMPLES),
        ("BINARY(4)", ["00010203", "ffffffff"]),
        ("VARBINARY(20)", ["", "01", "00010203040506", "0001020304050607", "deadbeefcafebabe00"]),
        ("BYTES", ["", "ab", "00" * 7, "11" * 8, "ff" * 100]),
        ("DATE", ["1970-01-01", "2024-01-02", "1969-12-31", "0001-01-01", "9999-12-31"]),
        ("TIME", ["00:00:00", "03:04:05", "23:59:59"]),
        ("TIME(3)", ["00:00:00.000", "03:04:05.123", "23:59:59.999"]),
        ("TIMESTAMP(3)", ["1970-01-01 00:00:00.000", "2024-01-02 03:04:05.123",
                          "1969-12-31 23:59:59.999", "1900-01-01 00:00:00.001"]),
        ("TIMESTAMP(6)", ["2024-01-02 03:04:05.123456", "1970-01-01 00:00:00.000001",
                          "1969-12-31 23:59:59.999999"]),
        ("TIMESTAMP(9)", ["2024-01-02 03:04:05.123456789", "1970-01-01 00:00:00.000000001"]),
        ("TIMESTAMP(0)", ["2024-01-02 03:04:05"]),
        ("TIMESTAMP_LTZ(3)", ["2024-01-02 03:04:05.123", "1970-01-01 00:00:00.000"]),
        ("TIMESTAMP_LTZ(6)", ["2024-01-02 03:04:05.123456"]),
        ("TIMESTAMP_LTZ(9)", ["2024-01-02 03:04:05.123456789"]),
    ]
    for t, vals in scalars:
        for v in vals:
            add([t], [v])
        add([t], [None], "null")
        add([t + " NOT NULL"], [vals[0]], "not null type")
    # multi-field rows mixing types
    mix_types = ["INT", "STRING", "BIGINT", "DECIMAL(20, 2)", "TIMESTAMP(3)", "BOOLEAN",
                 "DOUBLE", "DATE", "BYTES", "DECIMAL(10, 2)", "TIMESTAMP(9)", "SMALLINT",
                 "TINYINT", "FLOAT", "TIMESTAMP_LTZ(6)", "VARCHAR(20)"]
    add(mix_types, [42, "hello world, long", -7, "1234.56", "2024-01-02 03:04:05.123", True,
                    2.5, "2024-01-02", "0102030405060708090a", "-3.10",
                    "2024-01-02 03:04:05.123456789", -2, 3, 1.25,
                    "2024-01-02 03:04:05.123456", "short"])
    add(mix_types, [None] * len(mix_types), "all null")
    add(mix_types, [None, "abc", None, "0.01", None, False, None, "1970-01-01", None, None,
                    None, None, None, None, None, None], "alternating nulls")
    add(["STRING", "STRING", "STRING"], ["a", "abcdefgh", ""], "mixed inline / var strings")
    add(["STRING", "INT"], ["2024-01-01", 3], "partition-like row")
    add(["INT", "STRING"], [1, "中"], None)
    # null-bit width boundaries: header byte + 1 bit per field, in 8-byte words
    add([], [], "0 fields")
    for n in (1, 56, 57, 63, 64, 65, 120, 121):
        add(["BIGINT"] * n, list(range(n)), "%d fields" % n)
        add(["INT"] * n, [None if i % 3 == 0 else i for i in range(n)], "%d fields, some nulls" % n)
    add(["STRING"] * 57, ["s%d" % i if i % 2 else "long string %08d" % i for i in range(57)],
        "57 string fields")
    return c


def cmd_binaryrow_goldens(args):
    J = oracle_class()
    cases = binaryrow_cases()
    java_cases = [{"types": [oc.PType(t).java_sql() for t in c["types"]], "values": c["values"]}
                  for c in cases]
    res = json.loads(J.binaryRows(json.dumps(java_cases)))
    out = []
    for c, r in zip(cases, res):
        o = {"types": c["types"], "values": c["values"], "hex": r["hex"], "hash": r["hash"],
             "size": r["size"]}
        if r["proj_hex"] != r["hex"] or r["proj_hash"] != r["hash"]:
            o["proj_hex"], o["proj_hash"] = r["proj_hex"], r["proj_hash"]
        if "note" in c:
            o["note"] = c["note"]
        out.append(o)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        f.write("[\n")
        f.write(",\n".join(json.dumps(o, ensure_ascii=False) for o in out))
        f.write("\n]\n")
    print("%s: %d cases" % (args.out, len(out)))


# --------------------------------------------------------------------------- aggregate values

def cmd_agg_goldens(args):
    """SPEC: {"make": [{"function": F, "values": [long...], "lg_k": n, "hll_type": "HLL_4"|"HLL_6"|
    "HLL_8", "nominal_entries": n}], "agg": [{"function": F, "acc": V, "input": V}] (V: HEX, null or {"make": i}, the i-th made value),
    "read": [{"function": F, "hex": HEX}], "fold": [{"function": F, "values": [V...]}]}. OUT:
    {"make": [HEX], "agg": [HEX|null], "read": [...], "fold": [HEX]} (fold: agg(agg(v0, v1), v2)...) where make serialises the values as Paimon's test helpers do (RoaringBitmap64.bitmapOf;
    an HllSketch (lgK 12, HLL_4 unless given) updated with each long, toCompactByteArray; an
    UpdateSketch (4096 nominal entries unless given) updated with each long, compact() ordered,
    toByteArray), agg runs Paimon's own Field*Agg.agg(acc, input), and read deserialises a value:
    rbm64 gives {"cardinality", "first", "last", "reserialized": HEX}, hll_sketch {"estimate",
    "lg_k", "type", "compact": HEX}, theta_sketch {"estimate", "theta_long", "retained", "bytes":
    the ordered compact form}. (Values are not listed one by one: py4j makes a round trip per
    array element.)"""
    gw = gateway()
    jvm = gw.jvm
    with open(args.spec, encoding="utf-8") as f:
        spec = json.load(f)
    # Arguments of kilobytes stall on Nagle's algorithm (~4x slower): send at once. (Results are
    # slower still, ~2 ms per KB: py4j's decoding of byte[] on the Python side.)
    import socket
    jvm.java.lang.System.currentTimeMillis()
    try:
        for conn in list(gw._gateway_client.deque):
            conn.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except Exception:
        pass
    ds = jvm.org.apache.paimon.shade.org.apache.datasketches
    agg_pkg = jvm.org.apache.paimon.mergetree.compact.aggregate
    varbinary = jvm.org.apache.paimon.types.VarBinaryType()
    aggs = {"rbm64": agg_pkg.FieldRoaringBitmap64Agg(varbinary),
            "hll_sketch": agg_pkg.FieldHllSketchAgg(varbinary),
            "theta_sketch": agg_pkg.FieldThetaSketchAgg(varbinary)}

    def unhex(h):
        return None if h is None else bytes.fromhex(h)

    def tohex(b):
        return None if b is None else bytes(b).hex()

    def longs(values):
        # a long[] filled in one call from big-endian bytes (element by element, py4j makes a
        # round trip per element)
        import struct
        arr = gw.new_array(jvm.long, len(values))
        if values:
            raw = struct.pack(">%dq" % len(values),
                              *[v - (1 << 64) if v >= (1 << 63) else v for v in values])
            jvm.java.nio.ByteBuffer.wrap(raw).asLongBuffer().get(arr)
        return arr

    def one_long(v):
        # py4j passes a Python int as Integer or Long; both resolve to update(long) (checked:
        # the same sketches as update(long[]{v}), which hashes as update(long v) does)
        return v - (1 << 64) if v >= (1 << 63) else v

    def make(c):
        f, values = c["function"], [int(v) for v in c["values"]]
        if f == "rbm64":
            arr = longs(values)
            return tohex(jvm.org.apache.paimon.utils.RoaringBitmap64.bitmapOf(arr).serialize())
        if f == "hll_sketch":
            t = getattr(ds.hll.TgtHllType, c.get("hll_type", "HLL_4"))
            sk = ds.hll.HllSketch(int(c.get("lg_k", 12)), t)
            for v in values:
                sk.update(one_long(v))
            return tohex(sk.toCompactByteArray())
        if f == "theta_sketch":
            sk = ds.theta.UpdateSketch.builder().setNominalEntries(
                int(c.get("nominal_entries", 4096))).build()
            for v in values:
                sk.update(one_long(v))
            return tohex(sk.compact().toByteArray())
        raise SystemExit("unknown function %r" % f)

    def read(c):
        f, b = c["function"], unhex(c["hex"])
        if f == "rbm64":
            bm = jvm.org.apache.paimon.shade.org.roaringbitmap.longlong.Roaring64Bitmap()
            bm.deserialize(jvm.java.io.DataInputStream(jvm.java.io.ByteArrayInputStream(b)))
            card = int(bm.getLongCardinality())
            out = {"cardinality": card}
            if card:
                out["first"] = int(bm.first()) & ((1 << 64) - 1)
                out["last"] = int(bm.last()) & ((1 << 64) - 1)
            r = jvm.org.apache.paimon.utils.RoaringBitmap64()
            r.deserialize(b)
            out["reserialized"] = tohex(r.serialize())
            return out
        if f == "hll_sketch":
            sk = ds.hll.HllSketch.heapify(b)
            return {"estimate": sk.getEstimate(), "lg_k": sk.getLgConfigK(),
                    "type": str(sk.getTgtHllType().toString()),
                    "compact": tohex(sk.toCompactByteArray())}
        if f == "theta_sketch":
            sk = ds.theta.Sketches.heapifySketch(ds.memory.Memory.wrap(b))
            return {"estimate": sk.getEstimate(), "theta_long": int(sk.getThetaLong()),
                    "retained": sk.getRetainedEntries(),
                    "bytes": tohex(sk.compact(True, None).toByteArray())}
        raise SystemExit("unknown function %r" % f)

    import time
    t0 = time.time()
    made = [make(c) for c in spec.get("make", [])]
    t1 = time.time()

    def value(v):
        # a hex string, null, or {"make": i}: the i-th made value
        return unhex(made[v["make"]]) if isinstance(v, dict) else unhex(v)

    def fold(c):
        agg, values = aggs[c["function"]], [value(v) for v in c["values"]]
        acc = values[0]
        for v in values[1:]:
            acc = agg.agg(acc, v)
        return tohex(acc)

    aggs_out = [tohex(aggs[c["function"]].agg(value(c.get("acc")), value(c.get("input"))))
                for c in spec.get("agg", [])]
    t2 = time.time()
    reads = [read(c) for c in spec.get("read", [])]
    t3 = time.time()
    folds = [fold(c) for c in spec.get("fold", [])]
    out = {"make": made, "agg": aggs_out, "read": reads, "fold": folds}
    out["seconds"] = {"make": round(t1 - t0, 3), "agg": round(t2 - t1, 3), "read": round(t3 - t2, 3),
                      "fold": round(time.time() - t3, 3)}
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(out, f)


# --------------------------------------------------------------------------- main

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("--table-dir", required=True)
    w.add_argument("--spec", required=True)
    w.add_argument("--branch")
    wd = sub.add_parser("write-dynamic")
    wd.add_argument("--table-dir", required=True)
    wd.add_argument("--spec", required=True)
    r = sub.add_parser("read")
    r.add_argument("--table-dir", required=True)
    r.add_argument("--snapshot", type=int)
    r.add_argument("--tag")
    r.add_argument("--out")
    r.add_argument("--branch")
    br = sub.add_parser("branch")
    br.add_argument("--table-dir", required=True)
    br.add_argument("--action", required=True, choices=["create", "delete", "fast-forward", "list"])
    br.add_argument("--name")
    br.add_argument("--tag")
    rs = sub.add_parser("read-snapshots")
    rs.add_argument("--table-dir", required=True)
    rs.add_argument("--out-dir", required=True)
    ct = sub.add_parser("create-tag")
    ct.add_argument("--table-dir", required=True)
    ct.add_argument("--name", required=True)
    ct.add_argument("--snapshot", type=int)
    ct.add_argument("--time-retained-ms", type=int)
    ti = sub.add_parser("tag-info")
    ti.add_argument("--table-dir", required=True)
    tm = sub.add_parser("tag-maintenance")
    tm.add_argument("--table-dir", required=True)
    dt = sub.add_parser("delete-tag")
    dt.add_argument("--table-dir", required=True)
    dt.add_argument("--name", required=True)
    tg = sub.add_parser("tags")
    tg.add_argument("--table-dir", required=True)
    ex = sub.add_parser("expire")
    ex.add_argument("--table-dir", required=True)
    ex.add_argument("--retain-max", type=int)
    ex.add_argument("--retain-min", type=int)
    ex.add_argument("--older-than-ms", type=int)
    ex.add_argument("--max-deletes", type=int)
    rb = sub.add_parser("rollback")
    rb.add_argument("--table-dir", required=True)
    rb.add_argument("--to", required=True)
    al = sub.add_parser("alter")
    al.add_argument("--table-dir", required=True)
    al.add_argument("--changes", required=True)
    b = sub.add_parser("bucket-goldens")
    b.add_argument("--out-dir", required=True)
    b.add_argument("--keys", type=int, default=3000)
    st = sub.add_parser("system-table")
    st.add_argument("--table-dir", required=True)
    st.add_argument("--names", required=True)
    g = sub.add_parser("binaryrow-goldens")
    g.add_argument("--out", required=True)
    ag = sub.add_parser("agg-goldens")
    ag.add_argument("--spec", required=True)
    ag.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    try:
        {"write": cmd_write, "read": cmd_read, "read-snapshots": cmd_read_snapshots, "bucket-goldens": cmd_bucket_goldens,
         "binaryrow-goldens": cmd_binaryrow_goldens, "create-tag": cmd_create_tag,
         "delete-tag": cmd_delete_tag, "tags": cmd_tags, "expire": cmd_expire,
         "rollback": cmd_rollback, "alter": cmd_alter, "tag-info": cmd_tag_info,
         "tag-maintenance": cmd_tag_maintenance, "branch": cmd_branch,
         "write-dynamic": cmd_write_dynamic, "system-table": cmd_system_table,
         "agg-goldens": cmd_agg_goldens}[args.cmd](args)
    except Exception as e:
        if _stderr_tail and not os.environ.get("SHOAL_ORACLE_VERBOSE"):
            sys.stderr.write("---- JVM stderr (last lines) ----\n" + "".join(_stderr_tail))
        sys.stderr.write("error: %s\n" % e)
        shutdown()
        return 1
    shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
