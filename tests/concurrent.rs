//! Concurrent writer *processes* on one table, on the local filesystem and on S3 (moto on
//! loopback): N writers on disjoint buckets plus a compactor, committing at the same time; then
//! writers sharing one bucket, each compacting its own view of it, whose conflicting compactions
//! are detected and resolved as Paimon resolves them (the losing commit fails, the writer
//! restarts from the latest snapshot and its already-committed checkpoint is not committed twice).
//!
//! The processes are this test binary run again (`child_process`, ignored in normal runs) with
//! its role in environment variables. Checks: every commit of every writer is in the table
//! exactly once (no lost commit, none doubled), snapshot ids have no gap, and the final rows
//! equal the model. Prints the commits per second held.

mod common;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use shoal::maintenance::compact::CompactJob;
use shoal::spec::{parse_type, CommitKind, RowKind};
use shoal::table::TableDefinition;
use shoal::{Error, Table};

fn def(buckets: i32, write_only: bool) -> TableDefinition {
    def_with(buckets, write_only, &[])
}

fn def_with(buckets: i32, write_only: bool, extra: &[(&str, &str)]) -> TableDefinition {
    let mut d = TableDefinition::default()
        .column("k", parse_type("BIGINT NOT NULL").unwrap())
        .column("v", parse_type("STRING").unwrap())
        .primary_key(&["k"])
        .option("bucket", &buckets.to_string())
        .option("write-only", if write_only { "true" } else { "false" })
        // In-writer compaction (when not write-only) after every few level-0 files.
        .option("num-sorted-run.compaction-trigger", "3")
        .option("commit.max-retries", "50");
    for (k, v) in extra {
        d = d.option(k, v);
    }
    d
}

fn keys_of_bucket(bucket: i32, buckets: i32, count: usize, skip: usize, step: usize) -> Vec<i64> {
    (0..100_000i64)
        .filter(|k| shoal::spec::bucket_of(shoal::spec::binary_row::hash_single_long(*k), buckets) == bucket)
        .skip(skip)
        .step_by(step)
        .take(count)
        .collect()
}

fn value(writer: usize, commit: usize, k: i64) -> String {
    format!("w{writer}c{commit}k{k}")
}

/// The table's rows; a key read twice fails the test.
async fn read(t: &Table) -> BTreeMap<i64, String> {
    let b = t.read_all(None, None).await.unwrap();
    let ks = b.column(0).as_primitive::<Int64Type>();
    let vs = b.column(1).as_string::<i32>();
    let rows: BTreeMap<i64, String> = (0..b.num_rows()).map(|i| (ks.value(i), vs.value(i).to_string())).collect();
    assert_eq!(rows.len(), b.num_rows(), "a key is read more than once");
    rows
}

/// Whether commit `c` deletes key `k` (it is written again by the next commit).
fn deleted_in(c: usize, k: i64) -> bool {
    (k as usize + c).is_multiple_of(5)
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}

/// One writer: `commits` commits of its keys (identifier = commit number), with one long-lived
/// committer; a compaction its commit dropped (another writer or the compactor compacted the
/// bucket first) makes it reload that bucket. A failed commit is retried by a restarted writer
/// under the same identifier (a no-op if it had landed): (restarts, conflicts, dropped compactions).
async fn writer(table: &str, id: usize, keys: &[i64], commits: usize) -> (usize, usize, usize) {
    let (mut restarts, mut conflicts, mut dropped) = (0, 0, 0);
    let user = format!("writer-{id}");
    let mut t = Table::open(table).await.unwrap();
    let mut w = t.new_write().await.unwrap();
    let mut commit = t.new_commit(&user).unwrap();
    for c in 0..commits {
        let rows: Vec<(i64, String)> = keys.iter().map(|k| (*k, value(id, c, *k))).collect();
        let kinds: Vec<RowKind> =
            keys.iter().map(|k| if deleted_in(c, *k) { RowKind::Delete } else { RowKind::Insert }).collect();
        loop {
            let result = async {
                w.write_with_kinds(&common::kv_batch(&t, &rows), Some(&kinds)).await?;
                let msgs = w.prepare_commit().await?;
                let outcome = commit.commit_with_identifier(c as i64, msgs).await;
                dropped += commit.settle(&mut w, Some(c as i64)).await?;
                outcome
            }
            .await;
            match result {
                Ok(_) => break,
                Err(e) => {
                    // As Paimon's jobs do on any failure: restart from the latest snapshot and
                    // replay the last checkpoint, which the commit identifier makes exactly-once.
                    if matches!(e, Error::CommitConflict(_)) {
                        conflicts += 1;
                    }
                    restarts += 1;
                    assert!(restarts < 200, "writer {id}: commit {c} keeps failing: {e}");
                    t = Table::open(table).await.unwrap();
                    w = t.new_write().await.unwrap();
                    commit = t.new_commit(&user).unwrap();
                }
            }
        }
    }
    (restarts, conflicts, dropped)
}

/// The child process: a writer or a compactor, as the environment says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by the tests below as a separate process"]
async fn child_process() {
    let table = env("SHOAL_CHILD_TABLE");
    match env("SHOAL_CHILD_ROLE").as_str() {
        "writer" => {
            let id: usize = env("SHOAL_CHILD_ID").parse().unwrap();
            let keys: Vec<i64> = env("SHOAL_CHILD_KEYS").split(',').map(|k| k.parse().unwrap()).collect();
            let commits: usize = env("SHOAL_CHILD_COMMITS").parse().unwrap();
            let (restarts, conflicts, dropped) = writer(&table, id, &keys, commits).await;
            println!("RESULT restarts={restarts} conflicts={conflicts} dropped={dropped}");
        }
        "compactor" => {
            let stop = std::path::PathBuf::from(env("SHOAL_CHILD_STOP"));
            let (mut runs, mut conflicts, mut dropped) = (0, 0, 0);
            let t = Table::open(&table).await.unwrap();
            while !stop.exists() {
                match CompactJob::new(runs % 3 == 2).run(&t).await {
                    Ok(r) => {
                        runs += 1;
                        dropped += r.dropped.len();
                    }
                    Err(Error::CommitConflict(_)) => conflicts += 1,
                    Err(e) => panic!("compactor: {e}"),
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            // A last run once the writers are done: what their lost compactions left on level 0
            // (unread on deletion-vector tables) is compacted.
            let last = CompactJob::new(false).run(&t).await.unwrap();
            dropped += last.dropped.len();
            println!("RESULT runs={runs} conflicts={conflicts} dropped={dropped}");
        }
        other => panic!("unknown role {other}"),
    }
}

fn spawn(role: &str, table: &str, vars: &[(&str, String)]) -> std::process::Child {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args(["--ignored", "--exact", "child_process", "--nocapture", "--test-threads=1"])
        .env("SHOAL_CHILD_ROLE", role)
        .env("SHOAL_CHILD_TABLE", table)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in vars {
        c.env(k, v);
    }
    c.spawn().expect("start a child process")
}

/// Child processes, killed if the test fails before they finish.
struct Children(Vec<std::process::Child>);
impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The tests of this file take turns: each runs several processes already.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn result_of(child: std::process::Child, what: &str) -> BTreeMap<String, u64> {
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{what} failed: {stdout}");
    // libtest prints "test child_process ... " on the same line first.
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("RESULT ").map(|(_, r)| r))
        .unwrap_or_else(|| panic!("{what} printed no result: {stdout}"));
    line.split(' ').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), v.parse().unwrap())).collect()
}

/// Runs `writers` (id, keys) processes, and optionally a compactor, on `table`; checks and
/// reports. Returns the commits per second.
async fn run_processes(
    label: &str,
    table: &str,
    writers: Vec<(usize, Vec<i64>)>,
    commits: usize,
    compactor: bool,
) -> f64 {
    let _turn = ONE_AT_A_TIME.lock().await;
    let stop_dir = tempfile::tempdir().unwrap();
    let stop = stop_dir.path().join("stop");
    let started = Instant::now();
    let mut compactor = Children(
        compactor
            .then(|| spawn("compactor", table, &[("SHOAL_CHILD_STOP", stop.to_string_lossy().into_owned())]))
            .into_iter()
            .collect(),
    );
    let mut children = Children(
        writers
            .iter()
            .map(|(id, keys)| {
                let keys = keys.iter().map(|k| k.to_string()).collect::<Vec<_>>().join(",");
                spawn(
                    "writer",
                    table,
                    &[
                        ("SHOAL_CHILD_ID", id.to_string()),
                        ("SHOAL_CHILD_KEYS", keys),
                        ("SHOAL_CHILD_COMMITS", commits.to_string()),
                    ],
                )
            })
            .collect(),
    );
    let (mut restarts, mut conflicts, mut dropped) = (0, 0, 0);
    for (child, (id, _)) in std::mem::take(&mut children.0).into_iter().zip(&writers) {
        let r = result_of(child, &format!("writer {id}"));
        restarts += r["restarts"];
        conflicts += r["conflicts"];
        dropped += r["dropped"];
    }
    let elapsed = started.elapsed();
    std::fs::write(&stop, "").unwrap();
    let compactions = compactor.0.pop().map(|c| result_of(c, "compactor"));

    // No lost commit, none doubled, no gap in the snapshot ids; the rows equal the model.
    let t = Table::open(table).await.unwrap();
    let ids = t.snapshots().snapshot_ids().await.unwrap();
    let last = *ids.last().unwrap();
    assert_eq!(ids, (1..=last).collect::<Vec<i64>>(), "{label}: snapshot ids have gaps");
    let mut appends: BTreeMap<(String, i64), usize> = BTreeMap::new();
    for id in &ids {
        let s = t.snapshots().snapshot(*id).await.unwrap();
        if s.commit_kind == CommitKind::Append {
            *appends.entry((s.commit_user.clone(), s.commit_identifier)).or_default() += 1;
        }
    }
    let mut model = BTreeMap::new();
    for (id, keys) in &writers {
        for c in 0..commits {
            let n = appends.get(&(format!("writer-{id}"), c as i64)).copied().unwrap_or(0);
            assert_eq!(n, 1, "{label}: commit {c} of writer {id} is in the table {n} times");
        }
        for k in keys.iter().filter(|k| !deleted_in(commits - 1, **k)) {
            model.insert(*k, value(*id, commits - 1, *k));
        }
    }
    assert_eq!(read(&t).await, model, "{label}: the rows differ from the model");
    let total = writers.len() * commits;
    let rate = total as f64 / elapsed.as_secs_f64();
    eprintln!(
        "{label}: {} writer processes{}: {total} commits in {elapsed:.2?} ({rate:.1} commits/s), none lost; \
         {} snapshots in all; writers restarted {restarts} times ({conflicts} commit conflicts), \
         {dropped} of their compactions dropped{}",
        writers.len(),
        if compactions.is_some() { " + a compactor process" } else { "" },
        ids.len(),
        compactions
            .map(|c| format!(
                "; compactor: {} runs, {} conflicts, {} buckets dropped",
                c["runs"], c["conflicts"], c["dropped"]
            ))
            .unwrap_or_default()
    );
    // A write never fails because a compaction lost a race: the writers never restarted.
    assert_eq!(restarts, 0, "{label}: writers restarted");
    rate
}

fn disjoint_writers(buckets: i32) -> Vec<(usize, Vec<i64>)> {
    (0..buckets as usize).map(|w| (w, keys_of_bucket(w as i32, buckets, 12, 0, 1))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writer_processes_on_disjoint_buckets_and_a_compactor_local() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("t").to_string_lossy().into_owned();
    Table::create(&table, def(4, true)).await.unwrap();
    run_processes("local disk", &table, disjoint_writers(4), 25, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writer_processes_on_disjoint_buckets_and_a_compactor_s3() {
    let Some(server) = common::s3::server() else { return };
    common::s3::create_bucket(server, "processes");
    let table = "s3://processes/wh/db.db/t";
    Table::create(table, def(4, true)).await.unwrap();
    run_processes("S3 (moto)", table, disjoint_writers(4), 12, true).await;
}

/// Two writers on one bucket (disjoint keys), each compacting what it sees of the bucket: their
/// compactions conflict (one removes files the other also rewrote, or both put overlapping files
/// on one level). Paimon's commit detects this and fails the later commit; the writer restarts
/// and goes on. Nothing is lost or committed twice, and the rows are right.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writer_processes_on_one_bucket_resolve_conflicts_local() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("t").to_string_lossy().into_owned();
    Table::create(&table, def(1, false)).await.unwrap();
    let writers = vec![(0, keys_of_bucket(0, 1, 10, 0, 2)), (1, keys_of_bucket(0, 1, 10, 1, 2))];
    run_processes("one bucket, local disk", &table, writers, 20, false).await;
}

/// Writers that share buckets (disjoint keys): writer `w` of `n` takes every n-th key of each
/// bucket.
fn sharing_writers(n: usize, buckets: i32, keys_per_bucket: usize) -> Vec<(usize, Vec<i64>)> {
    (0..n)
        .map(|w| (w, (0..buckets).flat_map(|b| keys_of_bucket(b, buckets, keys_per_bucket, w, n)).collect()))
        .collect()
}

/// Three writers sharing two buckets, each compacting in-writer (the table's defaults, not
/// write-only), beside a dedicated compactor: the compactions race, and the losers are dropped
/// and their buckets reloaded; no write fails, nothing is lost or doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_sharing_buckets_beside_a_compactor_local() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("t").to_string_lossy().into_owned();
    Table::create(&table, def(2, false)).await.unwrap();
    run_processes("shared buckets + compactor, local disk", &table, sharing_writers(3, 2, 8), 20, true).await;
}

/// The same with deletion vectors: a compaction planned without another's files above level 0
/// would mark rows in files that are gone; it is dropped, and the table reads every key once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_sharing_buckets_beside_a_compactor_deletion_vectors() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("t").to_string_lossy().into_owned();
    Table::create(&table, def_with(2, false, &[("deletion-vectors.enabled", "true")])).await.unwrap();
    run_processes("shared buckets + compactor, deletion vectors", &table, sharing_writers(3, 2, 8), 16, true).await;
}

/// With `changelog-producer = lookup`: the changelog from the first snapshot, read afterwards,
/// shows each key's versions in the order written, none twice (a dropped compaction's changelog
/// goes with it), and ends at the key's value in the table (no change lost).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_sharing_buckets_beside_a_compactor_lookup_changelog() {
    use shoal::read::{StartingPosition, StreamOptions};
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("t").to_string_lossy().into_owned();
    Table::create(&table, def_with(2, false, &[("changelog-producer", "lookup")])).await.unwrap();
    let writers = sharing_writers(3, 2, 8);
    run_processes("shared buckets + compactor, lookup changelog", &table, writers.clone(), 16, true).await;
    let t = Table::open(&table).await.unwrap();
    let opts = StreamOptions {
        start: StartingPosition::FromSnapshot(1),
        consumer_id: None,
        consumer_mode: shoal::spec::options::ConsumerMode::ExactlyOnce,
        ignore_progress: false,
        discovery_interval: Duration::from_millis(20),
    };
    let mut stream = t.stream_read_with(opts).await.unwrap();
    // Per key: the commit of each after-image (+I/+U), None for a -D.
    let mut events: BTreeMap<i64, Vec<Option<usize>>> = BTreeMap::new();
    loop {
        let batches = stream.read_available().await.unwrap();
        if batches.is_empty() {
            break;
        }
        for b in batches {
            let kinds = b.batch.column(0).as_string::<i32>();
            let ks = b.batch.column(1).as_primitive::<Int64Type>();
            let vs = b.batch.column(2).as_string::<i32>();
            for i in 0..b.batch.num_rows() {
                let event = match kinds.value(i) {
                    "+I" | "+U" => Some(vs.value(i).split(['c', 'k']).nth(1).unwrap().parse().unwrap()),
                    "-D" => None,
                    _ => continue,
                };
                events.entry(ks.value(i)).or_default().push(event);
            }
        }
    }
    let table_rows = read(&t).await;
    for (_, keys) in &writers {
        for k in keys {
            let seen = events.get(k).cloned().unwrap_or_default();
            let images: Vec<usize> = seen.iter().flatten().copied().collect();
            assert!(
                images.windows(2).all(|w| w[0] < w[1]),
                "key {k}: changes {seen:?} (a version twice or out of order)"
            );
            match (table_rows.get(k), seen.last()) {
                (Some(v), Some(Some(c))) => {
                    assert!(v.contains(&format!("c{c}k")), "key {k}: changes {seen:?} end before {v}")
                }
                (None, None | Some(None)) => {}
                (row, _) => panic!("key {k}: changes {seen:?}, the table has {row:?}"),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_sharing_buckets_beside_a_compactor_s3() {
    let Some(server) = common::s3::server() else { return };
    common::s3::create_bucket(server, "sharing");
    let table = "s3://sharing/wh/db.db/t";
    Table::create(table, def(2, false)).await.unwrap();
    run_processes("shared buckets + compactor, S3 (moto)", table, sharing_writers(3, 2, 6), 8, true).await;
}
