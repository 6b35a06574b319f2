#!/usr/bin/env python3
"""Java Paimon 0.9's streaming and incremental reads, for tests/interop_streaming.rs.

Run with the java09 venv python (tools/oracle/setup.sh), e.g.
    ~/.cache/shoal/oracle/java09/bin/python tools/oracle/java_stream.py stream --table-dir T \
        --option scan.mode=from-snapshot --option scan.snapshot-id=1

Commands:
  stream      --table-dir T [--option K=V ...] [--max-plans N]
      table.copy(options).newReadBuilder().newStreamScan(): plan() repeatedly until a plan comes
      back without splits after the first non-empty one (or N plans), reading every plan's splits
      with newRead().createReader(splits), row kinds included.
  incremental --table-dir T --between START,END [--option K=V ...]
      A batch read of table.copy({"incremental-between": ...}).
  overwrite   --table-dir T --rows JSON
      An INSERT OVERWRITE of the whole table with these rows (JSON array of objects keyed by
      column; written as +I through the bridge's Arrow writer): an OVERWRITE snapshot, followed
      by the post-commit expiry of the table's options.
  expire      --table-dir T
      What a Java commit runs afterwards: ExpireSnapshotsImpl with the table's
      CoreOptions.expireConfig(), then, when changelogLifecycleDecoupled(), ExpireChangelogImpl.
      Prints {"snapshots": n, "changelogs": m}.

Prints one JSON object per row: {"_ROW_KIND": "+I", <column>: <value>, ...}, values of BIGINT,
INT and STRING columns as JSON numbers and strings (other types as their Java toString()).
"""

import argparse
import glob
import hashlib
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import java_oracle as jo  # noqa: E402
import oracle_common as oc  # noqa: E402


STREAM_SRC = os.path.join(HERE, "java-stream", "shoal", "oraclestream", "ShoalStream.java")
STREAM_CLASSES = os.path.join(jo.ORACLE_HOME, "stream-classes")


def ensure_compiled():
    """Compiles ShoalStream.java into its own folder (not the shared classes/ one) when its
    source changed, and puts that folder on the py4j JVM's classpath."""
    with open(STREAM_SRC, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    stamp = os.path.join(STREAM_CLASSES, ".src.sha256")
    if not os.path.exists(stamp) or open(stamp).read().strip() != digest:
        bridge = glob.glob(os.path.join(jo.ORACLE_HOME, "java09", "lib", "python*", "site-packages",
                                        "pypaimon", "jars", "paimon-python-java-bridge-*.jar"))
        if not bridge:
            raise SystemExit("the Paimon bridge jar is missing: run tools/oracle/setup.sh")
        tmp = STREAM_CLASSES + ".tmp-%d" % os.getpid()
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        subprocess.check_call(["javac", "-nowarn", "-d", tmp, "-cp", bridge[0], STREAM_SRC])
        with open(os.path.join(tmp, ".src.sha256"), "w") as f:
            f.write(digest)
        shutil.rmtree(STREAM_CLASSES, ignore_errors=True)
        os.rename(tmp, STREAM_CLASSES)
    base = os.environ.get("_PYPAIMON_JAVA_CLASSPATH") or os.path.join(jo.ORACLE_HOME, "classes")
    if STREAM_CLASSES not in base.split(":"):
        os.environ["_PYPAIMON_JAVA_CLASSPATH"] = base + ":" + STREAM_CLASSES


def parse_options(pairs):
    out = {}
    for p in pairs or []:
        k, _, v = p.partition("=")
        out[k] = v
    return out


def stream_class():
    ensure_compiled()
    return jo.gateway().jvm.shoal.oraclestream.ShoalStream


def java_table(table_dir):
    warehouse, db, name = oc.split_table_dir(table_dir)
    return jo.oracle_class().table(warehouse, db, name, -1)


def cmd_stream(args):
    S = stream_class()
    sys.stdout.write(S.stream(java_table(args.table_dir), jo.java_map(parse_options(args.option)), args.max_plans))


def cmd_incremental(args):
    S = stream_class()
    opts = parse_options(args.option)
    opts["incremental-between"] = args.between
    sys.stdout.write(S.batch(java_table(args.table_dir), jo.java_map(opts)))


def cmd_overwrite(args):
    import json
    import tempfile
    import pyarrow as pa
    from pypaimon.py4j.java_implementation import BatchTableWrite
    from pypaimon.py4j.util import java_utils
    jvm = jo.gateway().jvm
    j_table = java_table(args.table_dir)
    builder = jvm.InvocationUtil.getBatchWriteBuilder(j_table).withOverwrite(jvm.java.util.HashMap())
    tmp = tempfile.mkdtemp(prefix="shoal-oracle-io-")
    io = jvm.org.apache.paimon.disk.IOManager.create(tmp)
    write = BatchTableWrite(builder.newWrite().withIOManager(io), builder.rowType())
    try:
        schema = java_utils.to_arrow_schema(builder.rowType())
        write.write_arrow(pa.Table.from_pylist(json.loads(args.rows), schema=schema))
        commit = builder.newCommit()
        commit.commit(write._j_batch_table_write.prepareCommit())
        commit.close()
    finally:
        write.close()
        io.close()
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps({"snapshot": j_table.snapshotManager().latestSnapshotId()}))


def cmd_expire(args):
    import json
    j_table = java_table(args.table_dir)
    options = j_table.coreOptions()
    config = options.expireConfig()
    snapshots = j_table.newExpireSnapshots().config(config).expire()
    changelogs = 0
    if options.changelogLifecycleDecoupled():
        changelogs = j_table.newExpireChangelog().config(config).expire()
    print(json.dumps({"snapshots": snapshots, "changelogs": changelogs}))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("stream")
    s.add_argument("--table-dir", required=True)
    s.add_argument("--option", action="append")
    s.add_argument("--max-plans", type=int, default=200)
    s.set_defaults(func=cmd_stream)
    i = sub.add_parser("incremental")
    i.add_argument("--table-dir", required=True)
    i.add_argument("--between", required=True)
    i.add_argument("--option", action="append")
    i.set_defaults(func=cmd_incremental)
    o = sub.add_parser("overwrite")
    o.add_argument("--table-dir", required=True)
    o.add_argument("--rows", required=True)
    o.set_defaults(func=cmd_overwrite)
    e = sub.add_parser("expire")
    e.add_argument("--table-dir", required=True)
    e.set_defaults(func=cmd_expire)
    args = ap.parse_args(argv)
    try:
        args.func(args)
    finally:
        sys.stdout.flush()
        jo.shutdown()


if __name__ == "__main__":
    main()
