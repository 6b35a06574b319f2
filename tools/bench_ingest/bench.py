#!/usr/bin/env python3
"""Benchmark of `shoal ingest postgres` (issue 21), on a Postgres of its own.

    tools/bench_ingest/run.sh [--rows 5000000] [--changes 1000000] [--rate 2000] [--seconds 60]
                              [--snapshot-only] [--repeat N]

1. snapshot: a table of --rows rows is copied by `shoal ingest postgres --exit-when-caught-up`;
   beside it Postgres's own `COPY ... TO STDOUT` of the same table (the floor);
2. catch-up: with the ingest stopped, --changes changes (1/3 inserts, 1/3 updates, 1/3 deletes,
   1000 rows per transaction) are made; the time for a new run to catch up from the slot;
3. lag: the ingest runs with the default 1 s commit interval while a writer makes --rate changes
   per second for --seconds, in transactions of rate/10 rows every 100 ms; for each
   transaction, lag = (time of the first shoal snapshot whose commit identifier, an LSN, covers
   the transaction) - (the transaction's commit time). p50 and p99 are printed;
4. peak RSS of each ingest run (/usr/bin/time).

--snapshot-only stops after step 1; --repeat N runs step 1 N times (COPY TO, then the ingest into
a new warehouse), each printed, for before/after comparisons on a noisy machine. SHOAL_BIN may
name several binaries, separated by commas: step 1 then runs each in turn (on the same table and
server, alternating), and the later steps use the last.

Prints a table. SHOAL_BIN names the binary (default: the release build with --features postgres).
"""

import argparse
import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Pg:
    def __init__(self):
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not bins:
            sys.exit("Postgres is not installed (apt-get install postgresql)")
        self.bin = os.path.dirname(bins[-1])
        self.root = os.geteuid() == 0
        self.dir = tempfile.mkdtemp(prefix="shoal-bench-pg-")
        if self.root:
            subprocess.check_call(["chown", "-R", "postgres:postgres", self.dir])
        self.port = free_port()
        data = os.path.join(self.dir, "data")
        self.run("initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        opts = ("-c listen_addresses=127.0.0.1 -p %d -k %s -c wal_level=logical -c max_wal_size=4GB "
                "-c shared_buffers=512MB -c synchronous_commit=off" % (self.port, self.dir))
        self.run("pg_ctl", "-D", data, "-l", os.path.join(self.dir, "log"), "-o", opts, "-w", "start")
        self.psql("CREATE DATABASE bench", db="postgres")

    def run(self, tool, *args):
        cmd = [os.path.join(self.bin, tool), *args]
        if self.root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.check_call(cmd, cwd=self.dir, stdout=subprocess.DEVNULL)

    def psql(self, sql, db="bench", out=None):
        return subprocess.run(
            [os.path.join(self.bin, "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", db,
             "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql],
            check=True, stdout=out if out is not None else subprocess.PIPE, text=out is None).stdout

    def conninfo(self):
        return "host=127.0.0.1 port=%d user=postgres dbname=bench" % self.port

    def stop(self):
        try:
            self.run("pg_ctl", "-D", os.path.join(self.dir, "data"), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def timed_ingest(shoal, pg, wh, extra=()):
    """Runs the ingest to caught-up; returns (seconds, peak RSS MiB)."""
    t0 = time.time()
    p = subprocess.run(["/usr/bin/time", "-f", "%M", shoal, "ingest", "postgres", pg.conninfo(), "--warehouse", wh,
                        "--tables", "public.bench", "--quiet", "--exit-when-caught-up", *extra],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    secs = time.time() - t0
    if p.returncode != 0:
        sys.exit("ingest failed: %s\n%s" % (p.stdout, p.stderr))
    rss_kib = int(p.stderr.strip().splitlines()[-1])
    return secs, rss_kib / 1024


def lsn(s):
    hi, lo = s.strip().split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--changes", type=int, default=1_000_000)
    ap.add_argument("--rate", type=int, default=2000)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--snapshot-only", action="store_true")
    ap.add_argument("--repeat", type=int, default=1)
    a = ap.parse_args()
    bins = (os.environ.get("SHOAL_BIN") or os.path.join(
        os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/shoal/target")), "release", "shoal")).split(",")
    shoal = bins[-1]
    pg = Pg()
    wh = tempfile.mkdtemp(prefix="shoal-bench-wh-")
    out = []
    try:
        pg.psql("CREATE TABLE bench (id bigint PRIMARY KEY, a int, b text, c numeric(12,2), d timestamptz);"
                "INSERT INTO bench SELECT g, g %% 1000, md5(g::text), g / 100.0, now() FROM generate_series(1, %d) g;"
                % a.rows)
        pg.psql("VACUUM ANALYZE bench")
        for k, b in [(k, b) for k in range(a.repeat) for b in bins]:
            if k > 0 or b != bins[0]:
                # A new warehouse, and the slot and publication of the last run gone.
                shutil.rmtree(wh, ignore_errors=True)
                wh = tempfile.mkdtemp(prefix="shoal-bench-wh-")
                pg.psql("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots")
                for (name,) in [r.split("|") for r in pg.psql("SELECT pubname FROM pg_publication").split()]:
                    pg.psql('DROP PUBLICATION "%s"' % name)
            t0 = time.time()
            with open(os.devnull, "w") as null:
                pg.psql("COPY bench TO STDOUT", out=null)
            copy_s = time.time() - t0
            snap_s, snap_rss = timed_ingest(b, pg, wh)
            out.append(("snapshot copy" + (" (%s)" % b if len(bins) > 1 else ""), "%d rows" % a.rows, "%.0f rows/s" % (a.rows / snap_s),
                        "COPY TO: %.0f rows/s (%.0f%%)" % (a.rows / copy_s, 100 * copy_s / snap_s),
                        "%.0f MiB" % snap_rss))
        if a.snapshot_only:
            return finish(pg, wh, out)

        # Catch-up: changes made while the ingest is stopped.
        per = 1000
        stmts = []
        next_id = a.rows + 1
        for i in range(a.changes // per):
            k = i % 3
            lo = 1 + (i * per * 7) % max(1, a.rows - per)
            if k == 0:
                stmts.append("INSERT INTO bench SELECT g, 1, 'n', 1.5, now() FROM generate_series(%d, %d) g;"
                             % (next_id, next_id + per - 1))
                next_id += per
            elif k == 1:
                stmts.append("UPDATE bench SET a = a + 1, b = 'u' WHERE id BETWEEN %d AND %d;" % (lo, lo + per - 1))
            else:
                stmts.append("DELETE FROM bench WHERE id IN (SELECT id FROM bench WHERE id >= %d ORDER BY id LIMIT %d);"
                             % (lo, per))
        script = os.path.join(wh, "changes.sql")
        with open(script, "w") as f:
            f.write("\n".join(stmts))
        subprocess.check_call([os.path.join(pg.bin, "psql"), "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres",
                               "-d", "bench", "-X", "-q", "-f", script], stdout=subprocess.DEVNULL)
        cu_s, cu_rss = timed_ingest(shoal, pg, wh)
        out.append(("catch-up", "%d changes" % a.changes, "%.0f changes/s" % (a.changes / cu_s), "", "%.0f MiB" % cu_rss))

        # Lag at a fixed rate.
        ing = subprocess.Popen([shoal, "ingest", "postgres", pg.conninfo(), "--warehouse", wh, "--tables",
                                "public.bench", "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(3)
        batch = max(1, a.rate // 10)
        probes = []
        writer = subprocess.Popen([os.path.join(pg.bin, "psql"), "-h", "127.0.0.1", "-p", str(pg.port), "-U",
                                   "postgres", "-d", "bench", "-X", "-q", "-A", "-t"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, bufsize=1)
        end = time.time() + a.seconds
        i = 0
        while time.time() < end:
            t_next = time.time() + 0.1
            lo = 1 + (i * batch * 13) % max(1, a.rows - batch)
            writer.stdin.write("UPDATE bench SET a = a + 1 WHERE id BETWEEN %d AND %d; "
                               "SELECT pg_current_wal_insert_lsn(), extract(epoch from clock_timestamp());\n"
                               % (lo, lo + batch - 1))
            line = writer.stdout.readline()
            l, ts = line.strip().split("|")
            probes.append((lsn(l), float(ts)))
            i += 1
            time.sleep(max(0, t_next - time.time()))
        writer.stdin.close()
        writer.wait()
        time.sleep(3)
        lag_rss = [l.split()[1] for l in open("/proc/%d/status" % ing.pid) if l.startswith("VmHWM:")]
        ing.terminate()
        ing.wait()
        snaps = []
        sdir = os.path.join(wh, "bench.db", "bench", "snapshot")
        for n in os.listdir(sdir):
            if n.startswith("snapshot-"):
                s = json.load(open(os.path.join(sdir, n)))
                if s.get("commitKind") == "APPEND":
                    snaps.append((s["commitIdentifier"], s["timeMillis"] / 1000.0))
        snaps.sort()
        lags = []
        # A probe whose UPDATE wrote nothing (its rows deleted, as after a catch-up that deleted
        # most of a small table) has no transaction to wait for: its LSN is the last one's.
        probes = [p for i, p in enumerate(probes) if i == 0 or p[0] > probes[i - 1][0]]
        for p_lsn, p_ts in probes:
            cover = [t for ident, t in snaps if ident >= p_lsn - 64]
            if cover:
                lags.append(min(cover) - p_ts)
        lags.sort()
        if lags:
            p50 = lags[len(lags) // 2]
            p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))]
            out.append(("lag at %d changes/s" % a.rate, "%d transactions" % len(lags), "p50 %.2f s" % p50,
                        "p99 %.2f s" % p99, "%s MiB" % (int(lag_rss[-1]) // 1024 if lag_rss else "?")))
    except BaseException:
        pg.stop()
        shutil.rmtree(wh, ignore_errors=True)
        raise
    finish(pg, wh, out)


def finish(pg, wh, out):
    pg.stop()
    shutil.rmtree(wh, ignore_errors=True)
    print("| phase | size | speed | beside | peak RSS |")
    print("| --- | --- | --- | --- | --- |")
    for r in out:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
