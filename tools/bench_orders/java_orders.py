#!/usr/bin/env python3
"""The 'orders' benchmark on Apache Paimon's Java core 0.9, timed inside the JVM.

Run with the java09 venv python installed by tools/oracle/setup.sh:

    ~/.cache/shoal/oracle/java09/bin/python tools/bench_orders/java_orders.py \\
        --data WORKLOAD_DIR --table-dir /tmp/bench/wh/db.db/orders \\
        [--option deletion-vectors.enabled=true ...]

WORKLOAD_DIR is a workload written by the Rust side (`bench_orders --generate DIR`, see
tools/bench_orders/orders_files.rs): workload.json and one Parquet file per commit. They are read
here with pyarrow and staged, one Arrow IPC stream file per commit, in a temp dir (before the JVM
starts, untimed). Compiles tools/bench_orders/java/shoal/bench/OrdersBench.java (javac, against
the bridge jar) into ~/.cache/shoal/oracle/bench-classes when its source changes, starts the JVM
through pypaimon 0.2.0's py4j launcher (same environment as tools/oracle/java_oracle.py) and
makes ONE py4j call: rows are loaded, written, committed and read inside the JVM. Prints one
JSON object on stdout. Progress lines of the JVM go to stderr with --verbose (or
SHOAL_ORACLE_VERBOSE=1). The table dir must not exist (--replace deletes an old table).

Workload
  Table: order_id BIGINT NOT NULL (primary key), order_name STRING, order_user_id BIGINT,
  order_shop_id BIGINT, order_product_id BIGINT, order_fee DECIMAL(20,2),
  order_create_time TIMESTAMP(3), order_update_time TIMESTAMP(3), order_state INT;
  options bucket=4, file.format=parquet (+ --option pairs), all else Paimon 0.9's defaults.
  Rows: the workload's files (orders_data.rs generates them: order_id uniform in 1..4M,
  order_name "order-<id>"), all written as +I. W1 = one commit per w1-NNN file, W2 = one commit
  per w2-NNN file (random keys, many of them upserts); R1 = full merged batch read. The JVM checks
  that each file's Arrow columns are exactly what Paimon maps the table's types to (e.g.
  decimal128(20, 2), timestamp[ms] without zone, order_id non-nullable).

Design
  * One StreamWriteBuilder for all of W1 and W2: one StreamTableWrite (with an IOManager in a
    temp dir, as Flink gives one; needed for deletion vectors / lookup) and one
    StreamTableCommit, commit identifiers 1..N. This is how a Flink job commits repeatedly:
    the writer keeps each bucket's levels and its asynchronous compaction (Paimon's own
    compaction thread) across commits. A BatchWriteBuilder's write only allows ONE
    prepareCommit, so repeated batch commits would each need a new writer that re-reads the
    bucket's files and starts compaction state from scratch.
  * prepareCommit(waitCompaction, id): false on every commit except the last one of W1 and of
    W2 (Flink: false at checkpoints, true at end of input), so each phase's time includes the
    compaction it still has running at its end. --wait-compaction every|never changes it.
  * Timing (System.nanoTime inside the JVM): each commit's file is loaded into a
    List<InternalRow> first (load_seconds, reported apart), then the timed part is write() of
    every row + prepareCommit + commit. wN_seconds = the sum over the phase's commits
    (write_prepare_seconds + commit_seconds); commit_seconds_each lists each commit. Table
    creation, the staging of the files (stage_seconds), JVM start, the writer's close
    (writer_close_seconds) are excluded.
  * R1 times newReadBuilder + plan (r1_plan_seconds) + createReader/iterate of every split,
    reading order_id and order_state of every row (r1_order_id_sum, r1_order_state_sum).
  * C1 = a dedicated full compaction after R1: a fresh StreamTableWrite calls compact(bucket,
    full) for every bucket, prepareCommit(true) and commit (what a compaction job does);
    c1_rows_per_s / c1_mb_per_s are the rows and bytes of the compaction's input files per
    second. R2 = the R1 read again afterwards (checked to return the same rows and sums).
  * final_rows / final_checksum: after R2, untimed, another full read of the final table in the
    JVM computes its row count and checksum (defined in tools/bench_orders/orders_files.rs), to
    compare with the Rust side and the workload's expected_rows / expected_checksum.
  * heap_used_mb_peak: max of Runtime total-free memory, sampled every 5 ms plus after every
    commit (heap in use incl. not yet collected garbage; depends on -Xmx, see heap_max_mb).
    peak_rss_mb: the JVM process's VmHWM (peak resident memory, MiB) from /proc, read after the
    run, before the JVM is shut down (includes the JVM's start and its py4j server).
  * snapshots = latest snapshot id (no snapshot expires within the run: 0.9 keeps >= 10 and
    expires only those older than 1 h); snapshots_append / _compact split them by kind.
    data_files_after = data files of the latest snapshot (the R1 plan), by level in
    data_files_by_level.
"""

import argparse
import hashlib
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pyarrow as pa
import pyarrow.parquet as pq

HERE = os.path.dirname(os.path.abspath(__file__))
ORACLE_DIR = os.path.join(os.path.dirname(HERE), "oracle")
sys.path.insert(0, ORACLE_DIR)
import java_oracle as jo  # noqa: E402
import oracle_common as oc  # noqa: E402

JAVA_SRC_DIR = os.path.join(HERE, "java")
BENCH_CLASSES = os.path.join(jo.ORACLE_HOME, "bench-classes")


def bridge_jar():
    jar = os.environ.get("SHOAL_PAIMON_BRIDGE_JAR")
    if jar and os.path.exists(jar):
        return jar
    import pypaimon
    found = sorted(glob.glob(os.path.join(os.path.dirname(pypaimon.__file__), "jars",
                                          "paimon-python-java-bridge-*.jar")))
    if not found:
        raise SystemExit("paimon-python-java-bridge jar not found: run tools/oracle/setup.sh")
    return found[0]


def java_sources():
    return sorted(glob.glob(os.path.join(JAVA_SRC_DIR, "**", "*.java"), recursive=True))


def ensure_compiled():
    """javac the benchmark sources into BENCH_CLASSES unless their hash is unchanged."""
    srcs = java_sources()
    h = hashlib.sha256()
    for s in srcs:
        h.update(os.path.relpath(s, JAVA_SRC_DIR).encode())
        with open(s, "rb") as f:
            h.update(f.read())
    digest = h.hexdigest()
    stamp = os.path.join(BENCH_CLASSES, ".src.sha256")
    if os.path.exists(stamp) and open(stamp).read().strip() == digest:
        return
    sys.stderr.write("[orders-bench] compiling %d Java source(s) into %s\n"
                     % (len(srcs), BENCH_CLASSES))
    os.makedirs(os.path.dirname(BENCH_CLASSES), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="bench-classes-", dir=os.path.dirname(BENCH_CLASSES))
    try:
        subprocess.run(["javac", "-nowarn", "-d", tmp, "-cp", bridge_jar()] + srcs, check=True)
        with open(os.path.join(tmp, ".src.sha256"), "w") as f:
            f.write(digest + "\n")
        shutil.rmtree(BENCH_CLASSES, ignore_errors=True)
        os.rename(tmp, BENCH_CLASSES)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def setup_classpath(jvm_args):
    """The oracle classes first (java_oracle._setup_env checks the first entry), then ours."""
    cp = os.environ.get("_PYPAIMON_JAVA_CLASSPATH") or os.path.join(jo.ORACLE_HOME, "classes")
    parts = [p for p in cp.split(":") if p and os.path.abspath(p) != BENCH_CLASSES]
    os.environ["_PYPAIMON_JAVA_CLASSPATH"] = ":".join(parts + [BENCH_CLASSES])
    if jvm_args:
        os.environ["_PYPAIMON_JVM_ARGS"] = (os.environ.get("_PYPAIMON_JVM_ARGS", "") + " "
                                            + jvm_args).strip()


def stage_commits(data_dir, out_dir):
    """Reads the workload's Parquet files with pyarrow and writes each as an Arrow IPC stream file
    into out_dir (the JVM reads those): returns (W1 paths, W2 paths), in commit order."""
    with open(os.path.join(data_dir, "workload.json")) as f:
        workload = json.load(f)
    phases = []
    for phase in ("w1", "w2"):
        paths = []
        for i in range(workload[phase + "_commits"]):
            name = "%s-%03d" % (phase, i)  # the names orders_files.rs writes
            table = pq.read_table(os.path.join(data_dir, name + ".parquet"))
            path = os.path.join(out_dir, name + ".arrows")
            with pa.OSFile(path, "wb") as sink, pa.ipc.new_stream(sink, table.schema) as w:
                w.write_table(table)
            paths.append(path)
        phases.append(paths)
    return phases


def peak_rss_mib(pid):
    """VmHWM (peak resident set size) of a live process, in MiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmHWM in /proc/%d/status" % pid)


def parse_options(pairs):
    out = {}
    for p in pairs or []:
        if "=" not in p:
            raise SystemExit("--option wants k=v, got %r" % p)
        k, v = p.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True,
                    help="workload dir written by `bench_orders --generate DIR`")
    ap.add_argument("--table-dir", required=True, help="WAREHOUSE/DB.db/TABLE (must not exist)")
    ap.add_argument("--option", action="append", default=[], metavar="K=V",
                    help="extra table option (repeatable), e.g. deletion-vectors.enabled=true")
    ap.add_argument("--wait-compaction", choices=["phase-end", "every", "never"],
                    default="phase-end",
                    help="prepareCommit(waitCompaction): true only on the last commit of W1 and "
                         "of W2 (default, like a Flink job at end of input), on every commit, "
                         "or never")
    ap.add_argument("--replace", action="store_true",
                    help="delete an existing table dir (one holding schema/) first")
    ap.add_argument("--jvm-args", default="", help="extra JVM arguments, e.g. '-Xmx2g'")
    ap.add_argument("--out", help="also write the JSON object to this file")
    ap.add_argument("--verbose", action="store_true", help="show the JVM's stderr (progress)")
    args = ap.parse_args(argv)

    if args.verbose:
        os.environ["SHOAL_ORACLE_VERBOSE"] = "1"
    warehouse, db, name = oc.split_table_dir(args.table_dir)
    table_dir = os.path.join(warehouse, db + ".db", name)
    if os.path.exists(table_dir):
        if args.replace and os.path.isdir(os.path.join(table_dir, "schema")):
            shutil.rmtree(table_dir)
        else:
            raise SystemExit("%s exists: the benchmark needs a fresh table (--replace deletes "
                             "an existing Paimon table dir)" % table_dir)

    ensure_compiled()
    setup_classpath(args.jvm_args)
    io_tmp = tempfile.mkdtemp(prefix="shoal-orders-bench-io-")
    commits_dir = tempfile.mkdtemp(prefix="shoal-orders-bench-commits-")
    try:
        s0 = time.monotonic()
        w1_files, w2_files = stage_commits(args.data, commits_dir)
        t0 = time.monotonic()
        spec = {"warehouse": warehouse, "db": db, "name": name,
                "w1_files": w1_files, "w2_files": w2_files,
                "options": parse_options(args.option), "io_tmp_dir": io_tmp,
                "wait_compaction": args.wait_compaction}
        gw = jo.gateway()
        t1 = time.monotonic()
        res = json.loads(gw.jvm.shoal.bench.OrdersBench.run(json.dumps(spec)))
        t2 = time.monotonic()
        res["peak_rss_mb"] = round(peak_rss_mib(jo._proc.pid), 1)
        res["stage_seconds"] = round(t0 - s0, 3)
        res["jvm_start_seconds"] = round(t1 - t0, 3)
        res["call_wall_seconds"] = round(t2 - t1, 3)
        res["table_dir"] = table_dir
    except Exception as e:
        if jo._stderr_tail and not os.environ.get("SHOAL_ORACLE_VERBOSE"):
            sys.stderr.write("---- JVM stderr (last lines) ----\n" + "".join(jo._stderr_tail))
        sys.stderr.write("error: %s\n" % e)
        jo.shutdown()
        return 1
    finally:
        shutil.rmtree(io_tmp, ignore_errors=True)
        shutil.rmtree(commits_dir, ignore_errors=True)
    jo.shutdown()
    text = json.dumps(res)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
