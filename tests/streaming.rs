//! Streaming: changelog files (`changelog-producer = input`), streaming reads from every
//! starting position, consumers, incremental reads, and the checkpoint-driven sink.
//!
//! The model tests follow a table with a tailing reader that applies each change batch to an
//! in-memory map (`+I`/`+U` put, `-U`/`-D` remove), and check after every commit that the map
//! equals the table's latest snapshot.
//!
//! What each producer guarantees to a streaming reader (deduplicate merge engine):
//! - `input`: the rows as written, in order, with their kinds: a complete changelog.
//! - `none`: each APPEND snapshot's new level-0 files: per commit and bucket the *last* version
//!   of each key written (a delete stays as `-D`), so applying them also reproduces the table.
//!   It is not a changelog: no `-U` before-images (an update is a bare `+I`/`+U`), repeated
//!   writes within a commit collapse, and for partial-update and aggregation tables the rows are
//!   the inputs, not the merged results. Only the delta stream is checked for `none`.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Int64Array, RecordBatch};
use rand::{Rng, SeedableRng};
use shoal::commit::CommitOutcome;
use shoal::maintenance::operations::{CreateTag, ExpireSnapshots, RemoveOrphanFiles};
use shoal::read::{ChangeBatch, StartingPosition, StreamOptions};
use shoal::spec::options::ConsumerMode;
use shoal::spec::{CommitKind, RowKind};
use shoal::store::ConsumerManager;
use shoal::table::StreamingSink;
use shoal::{Error, Table};

type Model = BTreeMap<i64, String>;

use common::kv_batch as batch;
use common::kv_def as def;

async fn read(t: &Table) -> Model {
    let b = t.read_all(None, None).await.unwrap();
    let ks = b.column(0).as_primitive::<Int64Type>();
    let vs = b.column(1).as_string::<i32>();
    (0..b.num_rows()).map(|i| (ks.value(i), vs.value(i).to_string())).collect()
}

/// (kind, key, value) of change batches over the (k BIGINT, v STRING) table.
fn changes(batches: &[ChangeBatch]) -> Vec<(String, i64, String)> {
    let mut out = vec![];
    for b in batches {
        let kinds = b.batch.column(0).as_string::<i32>();
        let ks = b.batch.column(1).as_primitive::<Int64Type>();
        let vs = b.batch.column(2).as_string::<i32>();
        for i in 0..b.batch.num_rows() {
            out.push((kinds.value(i).to_string(), ks.value(i), vs.value(i).to_string()));
        }
    }
    out
}

fn apply(model: &mut Model, batches: &[ChangeBatch]) {
    for (kind, k, v) in changes(batches) {
        match kind.as_str() {
            "+I" | "+U" => {
                model.insert(k, v);
            }
            "-U" | "-D" => {
                model.remove(&k);
            }
            other => panic!("unknown row kind {other}"),
        }
    }
}

fn opts(start: StartingPosition) -> StreamOptions {
    StreamOptions {
        start,
        consumer_id: None,
        consumer_mode: ConsumerMode::ExactlyOnce,
        ignore_progress: false,
        discovery_interval: Duration::from_millis(20),
    }
}

/// A writer upserts and deletes random keys over many commits, with in-writer compactions
/// (background and full), while two readers tail the table (one from the start, one joining
/// half-way with a full read of the snapshot then).
async fn model_run(producer: &str, seed: u64) {
    model_run_with(producer, &[], seed).await
}

async fn model_run_with(producer: &str, extra: &[(&str, &str)], seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    let mut options = vec![
        ("changelog-producer", producer),
        ("num-sorted-run.compaction-trigger", "3"),
        ("full-compaction.delta-commits", "7"),
        ("write-buffer-size", "4 kb"),
    ];
    options.extend_from_slice(extra);
    let t = Table::create(dir.path().to_str().unwrap(), def(&options)).await.unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut w = t.new_write().await.unwrap();
    let commit = t.new_commit("job").unwrap();
    let mut tail = t.stream_read_with(opts(StartingPosition::LatestFull)).await.unwrap();
    let mut late: Option<shoal::read::ChangeReader> = None;
    // A reader that only looks every third commit: with a decoupled changelog lifecycle it
    // falls behind snapshot retention and reads the expired snapshots from changelog/.
    let mut lagging = t.stream_read_with(opts(StartingPosition::LatestFull)).await.unwrap();
    let (mut seen_lagging, mut from_changelog) = (Model::new(), 0);
    let (mut seen, mut seen_late) = (Model::new(), Model::new());
    let mut truth = Model::new();
    let mut compacts = 0;
    for c in 0..30 {
        let n = rng.random_range(1..40);
        for _ in 0..n {
            let k = rng.random_range(0..60i64);
            let roll = rng.random_range(0..10);
            if roll < 2 {
                // A delete (of a key that may not exist).
                w.write_with_kinds(&batch(&t, &[(k, String::new())]), Some(&[RowKind::Delete])).await.unwrap();
                truth.remove(&k);
            } else if roll < 3 && truth.contains_key(&k) {
                // An update with its before-image.
                let v = format!("u{c}-{}", rng.random_range(0..1000));
                let old = truth[&k].clone();
                let b = batch(&t, &[(k, old), (k, v.clone())]);
                w.write_with_kinds(&b, Some(&[RowKind::UpdateBefore, RowKind::UpdateAfter])).await.unwrap();
                truth.insert(k, v);
            } else {
                let v = format!("v{c}-{}", rng.random_range(0..1000));
                w.write(&batch(&t, &[(k, v.clone())])).await.unwrap();
                truth.insert(k, v);
            }
        }
        let messages = w.prepare_commit_with(c % 4 == 0).await.unwrap();
        let before = t.latest_snapshot().await.unwrap().map(|s| s.id).unwrap_or(0);
        commit.commit_with_identifier(c, messages).await.unwrap();
        let sm = t.snapshots();
        for id in before + 1..=sm.latest_id().await.unwrap().unwrap() {
            if sm.snapshot(id).await.unwrap().commit_kind == CommitKind::Compact {
                compacts += 1;
            }
        }
        let table = read(&t).await;
        assert_eq!(table, truth, "commit {c}: the table itself");
        apply(&mut seen, &tail.read_available().await.unwrap());
        assert_eq!(seen, table, "{producer}, commit {c}: the tailing reader's table");
        if c == 12 {
            late = Some(t.stream_read_with(opts(StartingPosition::LatestFull)).await.unwrap());
        }
        if let Some(r) = late.as_mut() {
            apply(&mut seen_late, &r.read_available().await.unwrap());
            assert_eq!(seen_late, table, "{producer}, commit {c}: the reader that joined at commit 12");
        }
        if c % 3 == 2 || c == 29 {
            let earliest = sm.earliest_id().await.unwrap().unwrap();
            if lagging.next_snapshot().is_some_and(|n| n < earliest) {
                from_changelog += 1;
            }
            let got = match lagging.read_available().await {
                Ok(g) => g,
                Err(e) => {
                    let snaps = t.snapshots().snapshot_ids().await.unwrap();
                    let cls = t.changelogs().ids().await.unwrap();
                    panic!(
                        "{producer} c={c} next={:?} snaps={snaps:?} changelogs={cls:?}: {e}",
                        lagging.next_snapshot()
                    );
                }
            };
            apply(&mut seen_lagging, &got);
            assert_eq!(seen_lagging, table, "{producer} {extra:?}, commit {c}: the lagging reader's table");
        }
    }
    assert!(compacts >= 3, "the run should include compactions, got {compacts}");
    if extra.iter().any(|(k, _)| k.starts_with("changelog.")) {
        assert!(
            from_changelog >= 5,
            "{producer}: the lagging reader should read expired snapshots from changelog/, did {from_changelog} times"
        );
        let changelogs = t.changelogs().ids().await.unwrap();
        let latest = t.snapshots().latest_id().await.unwrap().unwrap();
        assert!(!changelogs.is_empty() && changelogs[0] > 1, "{producer}: changelog expiry ran: {changelogs:?}");
        assert!(
            changelogs[0] >= latest - 11,
            "{producer}: changelog.num-retained.max = 12: {changelogs:?}, latest {latest}"
        );
    }
}

/// Decoupled changelog lifecycle: snapshots expire after every commit (2 kept) while changelogs
/// are kept for 12 snapshots; a reader that lags behind snapshot retention (but within changelog
/// retention) reads the expired snapshots from `changelog/changelog-<id>` and still follows
/// the table exactly, for each producer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decoupled_changelog_serves_readers_behind_snapshot_expiry() {
    let decoupled =
        [("snapshot.num-retained.min", "1"), ("snapshot.num-retained.max", "2"), ("changelog.num-retained.max", "12")];
    for seed in [6, 7] {
        model_run_with("input", &decoupled, seed).await;
        model_run_with("none", &decoupled, seed).await;
        let mut lookup = decoupled.to_vec();
        lookup.push(("deletion-vectors.enabled", "true"));
        model_run_with("lookup", &lookup, seed).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_changelog_stream_reproduces_the_table() {
    for seed in [1, 2, 3] {
        model_run("input", seed).await;
    }
}

/// `changelog-producer = lookup`: the changelog comes from the lookup compaction at every
/// commit, with and without deletion vectors (and, with them, for partial-update too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookup_changelog_stream_reproduces_the_table() {
    for seed in [1, 2, 3] {
        model_run_with("lookup", &[], seed).await;
        model_run_with("lookup", &[("deletion-vectors.enabled", "true")], seed).await;
    }
}

/// `changelog-producer = full-compaction` with a full compaction at every commit: the
/// changelog of each full compaction brings the reader to the table's state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_compaction_changelog_stream_reproduces_the_table() {
    for seed in [1, 2] {
        model_run_with("full-compaction", &[("full-compaction.delta-commits", "1")], seed).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_stream_without_changelog_reproduces_the_table() {
    for seed in [4, 5] {
        model_run("none", seed).await;
    }
}

/// The changelog holds the input rows unmerged, in key then write order, with their kinds; the
/// snapshot counts them and lists them in `changelogManifestList`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_changelog_files_hold_the_rows_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let t = Table::create(dir.path().to_str().unwrap(), def(&[("changelog-producer", "input"), ("bucket", "1")]))
        .await
        .unwrap();
    let mut w = t.new_write().await.unwrap();
    w.write(&batch(&t, &[(2, "a".into()), (1, "b".into())])).await.unwrap();
    w.write_with_kinds(
        &batch(&t, &[(2, "a".into()), (2, "c".into()), (3, "x".into())]),
        Some(&[RowKind::UpdateBefore, RowKind::UpdateAfter, RowKind::Delete]),
    )
    .await
    .unwrap();
    let c = t.new_commit("u").unwrap();
    c.commit(w.prepare_commit().await.unwrap()).await.unwrap();
    let s = t.latest_snapshot().await.unwrap().unwrap();
    assert!(s.changelog_manifest_list.is_some());
    assert_eq!(s.changelog_record_count, Some(5));
    assert_eq!(s.delta_record_count, Some(3), "merged: 1, 2 and the -D of 3");
    let files: Vec<String> = std::fs::read_dir(dir.path().join("bucket-0"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(files.iter().filter(|f| f.starts_with("changelog-") && f.ends_with(".parquet")).count(), 1, "{files:?}");
    let got = changes(&t.incremental_between("0", "1", None).await.unwrap());
    let want: Vec<(String, i64, String)> =
        [("+I", 1, "b"), ("+I", 2, "a"), ("-U", 2, "a"), ("+U", 2, "c"), ("-D", 3, "x")]
            .iter()
            .map(|(k, key, v)| (k.to_string(), *key, v.to_string()))
            .collect();
    assert_eq!(got, want);
    // The delta of the same snapshot: one merged row per key.
    let delta = changes(&t.incremental_between("0", "1", Some(false)).await.unwrap());
    assert_eq!(delta.iter().map(|r| (r.0.as_str(), r.1)).collect::<Vec<_>>(), vec![("+I", 1), ("+U", 2), ("-D", 3)]);
}

async fn commit_rows(t: &Table, rows: &[(i64, &str)]) -> i64 {
    let mut w = t.new_write().await.unwrap();
    let rows: Vec<(i64, String)> = rows.iter().map(|(k, v)| (*k, v.to_string())).collect();
    w.write(&batch(t, &rows)).await.unwrap();
    t.new_commit("u").unwrap().commit(w.prepare_commit().await.unwrap()).await.unwrap().snapshot_id().unwrap()
}

fn keys(batches: &[ChangeBatch]) -> Vec<(String, i64)> {
    changes(batches).into_iter().map(|(kind, k, _)| (kind, k)).collect()
}

fn ins(ks: &[i64]) -> Vec<(String, i64)> {
    ks.iter().map(|k| ("+I".to_string(), *k)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starting_positions() {
    let dir = tempfile::tempdir().unwrap();
    let t = Table::create(dir.path().to_str().unwrap(), def(&[("changelog-producer", "input")])).await.unwrap();
    commit_rows(&t, &[(1, "a")]).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    commit_rows(&t, &[(2, "b")]).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let s3 = commit_rows(&t, &[(3, "c")]).await;
    let t3 = t.snapshots().snapshot(s3).await.unwrap().time_millis;

    let read = |start: StartingPosition| {
        let t = t.clone();
        async move { keys(&t.stream_read_with(opts(start)).await.unwrap().read_available().await.unwrap()) }
    };
    assert_eq!(read(StartingPosition::LatestFull).await, ins(&[1, 2, 3]));
    assert_eq!(read(StartingPosition::Latest).await, vec![]);
    assert_eq!(read(StartingPosition::FromSnapshot(2)).await, ins(&[2, 3]));
    assert_eq!(read(StartingPosition::FromSnapshotFull(2)).await, ins(&[1, 2, 3]));
    assert_eq!(read(StartingPosition::FromTimestamp(t3)).await, ins(&[3]));
    assert_eq!(read(StartingPosition::CompactedFull).await, ins(&[1, 2, 3]));
    let e = t
        .stream_read_with(opts(StartingPosition::FromSnapshotFull(9)))
        .await
        .unwrap()
        .read_available()
        .await
        .unwrap_err();
    assert!(e.to_string().contains("scan.snapshot-id = 9"), "{e}");

    // Table options pick the position: scan.mode + scan.snapshot-id, and `default`.
    let o =
        |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>();
    let by_opts = t.copy_with_options(&o(&[("scan.mode", "from-snapshot"), ("scan.snapshot-id", "3")])).unwrap();
    assert_eq!(keys(&by_opts.stream_read().await.unwrap().read_available().await.unwrap()), ins(&[3]));
    let by_default = t.copy_with_options(&o(&[("scan.snapshot-id", "2")])).unwrap();
    assert_eq!(keys(&by_default.stream_read().await.unwrap().read_available().await.unwrap()), ins(&[2, 3]));
    let bad = t.copy_with_options(&o(&[("scan.mode", "from-snapshot")])).unwrap_err();
    assert!(bad.to_string().contains("scan.snapshot-id"), "{bad}");

    // Latest: only what comes after, and a reader on an empty table sees the first commit.
    let mut latest = t.stream_read_with(opts(StartingPosition::Latest)).await.unwrap();
    assert!(latest.read_available().await.unwrap().is_empty());
    commit_rows(&t, &[(4, "d")]).await;
    assert_eq!(keys(&latest.read_available().await.unwrap()), ins(&[4]));
    let dir2 = tempfile::tempdir().unwrap();
    let empty = Table::create(dir2.path().to_str().unwrap(), def(&[])).await.unwrap();
    let mut r = empty.stream_read_with(opts(StartingPosition::Latest)).await.unwrap();
    assert!(r.read_available().await.unwrap().is_empty());
    commit_rows(&empty, &[(7, "x")]).await;
    assert_eq!(keys(&r.read_available().await.unwrap()), ins(&[7]));
}

/// A compaction snapshot is skipped; the stream waits for new snapshots with `next_batch`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tailing_waits_and_skips_compactions() {
    let dir = tempfile::tempdir().unwrap();
    let t = Table::create(dir.path().to_str().unwrap(), def(&[("changelog-producer", "input"), ("bucket", "1")]))
        .await
        .unwrap();
    commit_rows(&t, &[(1, "a")]).await;
    commit_rows(&t, &[(1, "b")]).await;
    shoal::maintenance::compact::CompactJob::new(true).run(&t).await.unwrap();
    assert_eq!(t.latest_snapshot().await.unwrap().unwrap().commit_kind, CommitKind::Compact);
    let mut r = t.stream_read_with(opts(StartingPosition::FromSnapshot(1))).await.unwrap();
    assert_eq!(keys(&r.read_available().await.unwrap()), ins(&[1, 1]));
    let writer = {
        let t = t.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            commit_rows(&t, &[(5, "e")]).await;
        })
    };
    let b = tokio::time::timeout(Duration::from_secs(10), r.next_batch()).await.expect("a batch within 10 s").unwrap();
    assert_eq!(keys(&[b]), ins(&[5]));
    writer.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_resumes_and_expiry_keeps_its_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let t = Table::create(
        dir.path().to_str().unwrap(),
        def(&[
            ("changelog-producer", "input"),
            ("snapshot.num-retained.min", "1"),
            ("snapshot.num-retained.max", "2"),
            ("snapshot.time-retained", "1 ms"),
            ("num-sorted-run.compaction-trigger", "50"),
            ("num-sorted-run.stop-trigger", "60"),
        ]),
    )
    .await
    .unwrap();
    commit_rows(&t, &[(1, "a")]).await;
    let mut with_consumer = opts(StartingPosition::FromSnapshot(1));
    with_consumer.consumer_id = Some("tail".into());
    let mut r = t.stream_read_with(with_consumer.clone()).await.unwrap();
    assert_eq!(keys(&r.read_available().await.unwrap()), ins(&[1]));
    let consumers = ConsumerManager::new(t.io().clone());
    assert_eq!(consumers.consumer("tail").await.unwrap().unwrap().next_snapshot, 2);
    assert_eq!(std::fs::read_to_string(dir.path().join("consumer/consumer-tail")).unwrap(), r#"{"nextSnapshot":2}"#);
    drop(r);

    // Commits while the consumer is away: expiry (after every commit, retaining 2) stops at it.
    for k in 2..=6 {
        commit_rows(&t, &[(k, "x")]).await;
    }
    let sm = t.snapshots();
    assert_eq!(sm.earliest_id().await.unwrap(), Some(2), "expiry keeps the consumer's next snapshot");
    let mut r = t.stream_read_with(with_consumer.clone()).await.unwrap();
    assert_eq!(keys(&r.read_available().await.unwrap()), ins(&[2, 3, 4, 5, 6]));
    assert_eq!(consumers.consumer("tail").await.unwrap().unwrap().next_snapshot, 7);
    drop(r);
    // ignore-progress starts where the options say.
    let mut ignoring = with_consumer.clone();
    ignoring.ignore_progress = true;
    ignoring.start = StartingPosition::FromSnapshot(5);
    let mut r = t.stream_read_with(ignoring).await.unwrap();
    assert_eq!(keys(&r.read_available().await.unwrap()), ins(&[5, 6]));
    drop(r);

    // A reader without a consumer falls behind expiry: a clear error.
    let mut r = t.stream_read_with(opts(StartingPosition::FromSnapshot(1))).await.unwrap();
    assert_eq!(keys(&r.read_available().await.unwrap()), ins(&[2, 3, 4, 5, 6]));
    consumers.delete("tail").await.unwrap();
    for k in 8..=10 {
        commit_rows(&t, &[(k, "x")]).await;
    }
    let e = r.read_available().await.unwrap_err();
    assert!(matches!(e, Error::SnapshotExpired { .. }), "{e}");
    assert!(e.to_string().contains("has expired") && e.to_string().contains("consumer-id"), "{e}");
}

/// Expiring a snapshot deletes its changelog files, as its data files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_deletes_changelog_files_of_expired_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let t = Table::create(
        dir.path().to_str().unwrap(),
        def(&[("changelog-producer", "input"), ("bucket", "1"), ("write-only", "true")]),
    )
    .await
    .unwrap();
    for k in 0..4 {
        commit_rows(&t, &[(k, "x")]).await;
    }
    let count = || {
        std::fs::read_dir(dir.path().join("bucket-0"))
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("changelog-"))
            .count()
    };
    assert_eq!(count(), 4);
    let config = shoal::maintenance::expire::ExpireConfig {
        retain_min: 1,
        retain_max: 2,
        time_retained: Duration::from_secs(3600),
        max_deletes: 100,
    };
    let report = ExpireSnapshots::new(&t).with_config(&config).execute().await.unwrap();
    assert_eq!(report.snapshots_expired, 2);
    assert_eq!(count(), 2, "the changelog files of snapshots 1 and 2 are gone");
    // The retained snapshots' changelogs still read.
    assert_eq!(keys(&t.incremental_between("2", "4", None).await.unwrap()), ins(&[2, 3]));
    let e = t.incremental_between("0", "4", None).await.unwrap_err();
    assert!(matches!(e, Error::SnapshotExpired { snapshot: 1, earliest: 3 }), "{e}");
}

#[tokio::test]
async fn changelog_setups_shoal_cannot_serve_or_paimon_refuses_are_refused_at_create() {
    // lookup without deletion vectors: only for engines that pick one version.
    let dir = tempfile::tempdir().unwrap();
    let e = Table::create(
        dir.path().to_str().unwrap(),
        def(&[("changelog-producer", "lookup"), ("merge-engine", "partial-update")]),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(e.contains("changelog-producer") && e.contains("deletion-vectors.enabled"), "{e}");
    // Paimon's SchemaValidation: changelog min >= 1 and <= max (max defaulting to the
    // snapshot's); streaming-read-overwrite neither with lookup/full-compaction nor without keys.
    for (options, names) in [
        (vec![("changelog.num-retained.min", "0")], "changelog.num-retained.min"),
        (vec![("changelog.num-retained.min", "5"), ("changelog.num-retained.max", "4")], "changelog.num-retained.max"),
        (
            vec![
                ("snapshot.num-retained.max", "3"),
                ("snapshot.num-retained.min", "1"),
                ("changelog.num-retained.min", "5"),
            ],
            "changelog.num-retained.min",
        ),
        (vec![("changelog.time-retained", "a while")], "changelog.time-retained"),
        (vec![("changelog-producer", "lookup"), ("streaming-read-overwrite", "true")], "streaming-read-overwrite"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let e = Table::create(dir.path().to_str().unwrap(), def(&options)).await.unwrap_err().to_string();
        assert!(e.contains(names), "{options:?}: {e}");
    }
    let dir = tempfile::tempdir().unwrap();
    let append = shoal::table::TableDefinition::default()
        .column("k", shoal::spec::parse_type("BIGINT").unwrap())
        .option("streaming-read-overwrite", "true");
    let e = Table::create(dir.path().to_str().unwrap(), append).await.unwrap_err().to_string();
    assert!(e.contains("streaming-read-overwrite") && e.contains("primary key"), "{e}");
    // Accepted: a changelog kept longer than the snapshots, or shorter (Paimon only compares
    // them to decide whether the lifecycle is decoupled).
    for options in [
        vec![("changelog-producer", "input"), ("changelog.num-retained.max", "100")],
        vec![
            ("snapshot.num-retained.max", "50"),
            ("changelog.num-retained.max", "20"),
            ("changelog.time-retained", "2 h"),
        ],
    ] {
        let dir = tempfile::tempdir().unwrap();
        Table::create(dir.path().to_str().unwrap(), def(&options)).await.unwrap();
    }
}

// ------------------------------------------------------------------ the streaming sink

/// A sum-aggregation table: a row committed twice doubles its key's sum, so duplicates show.
fn sum_def() -> shoal::table::TableDefinition {
    shoal::table::TableDefinition::default()
        .column("k", shoal::spec::parse_type("BIGINT NOT NULL").unwrap())
        .column("n", shoal::spec::parse_type("BIGINT").unwrap())
        .primary_key(&["k"])
        .option("bucket", "2")
        .option("merge-engine", "aggregation")
        .option("fields.n.aggregate-function", "sum")
        .option("changelog-producer", "input")
}

/// Checkpoint `c` of the generated source: keys c % 7 .. and counts 1.
fn source(t: &Table, c: i64) -> RecordBatch {
    let ks: Vec<i64> = (0..5).map(|i| (c * 3 + i) % 7).collect();
    RecordBatch::try_new(
        t.arrow_schema(),
        vec![std::sync::Arc::new(Int64Array::from(ks)), std::sync::Arc::new(Int64Array::from(vec![1i64; 5]))],
    )
    .unwrap()
}

fn expected_sums(checkpoints: std::ops::RangeInclusive<i64>) -> BTreeMap<i64, i64> {
    let mut m = BTreeMap::new();
    for c in checkpoints {
        for i in 0..5 {
            *m.entry((c * 3 + i) % 7).or_insert(0) += 1;
        }
    }
    m
}

async fn sums(t: &Table) -> BTreeMap<i64, i64> {
    let b = t.read_all(None, None).await.unwrap();
    let ks = b.column(0).as_primitive::<Int64Type>();
    let ns = b.column(1).as_primitive::<Int64Type>();
    (0..b.num_rows()).map(|i| (ks.value(i), ns.value(i))).collect()
}

/// Crash (drop) between prepare and commit, and after commit before the job acknowledged it:
/// re-driving from the last committed checkpoint gives every checkpoint exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sink_crashes_recover_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let t = Table::create(dir.path().to_str().unwrap(), sum_def()).await.unwrap();
    let mut sink = StreamingSink::new(&t, "job-1").await.unwrap();
    assert_eq!(sink.last_committed().await.unwrap(), None);
    for c in 1..=3 {
        sink.write(&source(&t, c)).await.unwrap();
        let committable = sink.prepare(c).await.unwrap();
        assert!(matches!(sink.commit(committable).await.unwrap(), CommitOutcome::Committed(_)));
    }
    // Checkpoint 4: prepared, then the process dies before committing.
    sink.write(&source(&t, 4)).await.unwrap();
    let _lost = sink.prepare(4).await.unwrap();
    drop(sink);
    assert_eq!(sums(&t).await, expected_sums(1..=3));

    // Restart: resume after the last committed checkpoint and re-drive 4, then 5.
    let mut sink = StreamingSink::new(&t, "job-1").await.unwrap();
    let resume = sink.last_committed().await.unwrap().unwrap();
    assert_eq!(resume, 3);
    for c in resume + 1..=5 {
        sink.write(&source(&t, c)).await.unwrap();
        let committable = sink.prepare(c).await.unwrap();
        let stored = committable.clone();
        assert!(matches!(sink.commit(committable).await.unwrap(), CommitOutcome::Committed(_)));
        if c == 5 {
            // Checkpoint 5 committed, then the job dies before recording that: on restart it
            // re-commits the committable from its state, and also re-drives checkpoint 5.
            drop(sink);
            let mut sink = StreamingSink::new(&t, "job-1").await.unwrap();
            assert_eq!(sink.recover(vec![stored]).await.unwrap(), vec![CommitOutcome::AlreadyCommitted]);
            sink.write(&source(&t, 5)).await.unwrap();
            let e = sink.prepare(5).await.unwrap_err();
            assert!(e.to_string().contains("must increase"), "{e}");
            // A re-driven checkpoint under the same id through a plain committer: a no-op too.
            let mut w = t.new_write().await.unwrap();
            w.write(&source(&t, 5)).await.unwrap();
            let again = t
                .new_commit("job-1")
                .unwrap()
                .commit_with_identifier(5, w.prepare_commit().await.unwrap())
                .await
                .unwrap();
            assert_eq!(again, CommitOutcome::AlreadyCommitted);
            break;
        }
    }
    assert_eq!(sums(&t).await, expected_sums(1..=5));
    // The changelog the sink wrote holds each checkpoint's rows exactly once.
    let rows: usize = t
        .incremental_between("0", &t.latest_snapshot().await.unwrap().unwrap().id.to_string(), None)
        .await
        .unwrap()
        .iter()
        .map(|b| b.batch.num_rows())
        .sum();
    assert_eq!(rows, 5 * 5);
}

// ------------------------------------------------------------------ with the table lifecycle
// (automatic tags, tag retention, consumer expiry, watermarks)

/// consumer.expiration-time deletes consumers whose file was not written for that long. A live
/// reader renews its file while it waits (a table may stay idle longer than the expiration
/// time), so only a reader that stopped loses its consumer, and the live one still finds every
/// snapshot it needs after a burst of commits with aggressive snapshot expiry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_readers_renew_their_consumers_against_consumer_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let t = Table::create(
        dir.path().to_str().unwrap(),
        def(&[
            ("changelog-producer", "input"),
            ("consumer.expiration-time", "3 s"),
            ("snapshot.num-retained.min", "1"),
            ("snapshot.num-retained.max", "1"),
            ("snapshot.time-retained", "1 ms"),
            ("num-sorted-run.compaction-trigger", "50"),
            ("num-sorted-run.stop-trigger", "60"),
        ]),
    )
    .await
    .unwrap();
    commit_rows(&t, &[(1, "a")]).await;
    let with_id = |id: &str| {
        let mut o = opts(StartingPosition::FromSnapshot(1));
        o.consumer_id = Some(id.into());
        o
    };
    let mut live = t.stream_read_with(with_id("live")).await.unwrap();
    let mut gone = t.stream_read_with(with_id("gone")).await.unwrap();
    assert_eq!(keys(&live.read_available().await.unwrap()), ins(&[1]));
    assert_eq!(keys(&gone.read_available().await.unwrap()), ins(&[1]));
    drop(gone);
    let consumers = ConsumerManager::new(t.io().clone());
    let mtime = || std::fs::metadata(dir.path().join("consumer/consumer-live")).unwrap().modified().unwrap();
    let first_write = mtime();
    // The table stays idle for longer than consumer.expiration-time; the live reader polls.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(1600)).await;
        assert!(live.read_available().await.unwrap().is_empty());
    }
    assert!(mtime() > first_write, "an idle live reader rewrote its consumer file");
    assert_eq!(consumers.consumer("live").await.unwrap().unwrap().next_snapshot, 2);
    // A burst of commits: the first one's post-commit maintenance expires "gone" (not written
    // for 4.8 s) but keeps "live", so snapshot expiry stops at the live reader's snapshot 2.
    for k in 2..=4 {
        commit_rows(&t, &[(k, "x")]).await;
    }
    let ids: Vec<String> = consumers.consumers().await.unwrap().into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, vec!["live".to_string()]);
    assert_eq!(t.snapshots().earliest_id().await.unwrap(), Some(2));
    assert_eq!(keys(&live.read_available().await.unwrap()), ins(&[2, 3, 4]));
    assert_eq!(consumers.consumer("live").await.unwrap().unwrap().next_snapshot, 5);
    // Once the live reader is gone too, its consumer expires and snapshot expiry catches up.
    drop(live);
    tokio::time::sleep(Duration::from_millis(3100)).await;
    commit_rows(&t, &[(5, "x")]).await;
    assert_eq!(consumers.consumers().await.unwrap(), vec![]);
    assert_eq!(t.snapshots().snapshot_ids().await.unwrap(), vec![5]);
}

fn utc_ms(s: &str) -> i64 {
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap().and_utc().timestamp_millis()
}

/// A streaming sink's checkpoint watermarks drive `tag.automatic-creation = watermark` on a
/// table with input changelog: every snapshot carries both the watermark and its
/// changelogManifestList, the automatic tags (files with Paimon's retention fields) name
/// incremental reads, and a tailing consumer sees every checkpoint's rows once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sink_watermarks_drive_automatic_tags_on_a_changelog_table() {
    let dir = tempfile::tempdir().unwrap();
    let t = Table::create(
        dir.path().to_str().unwrap(),
        def(&[
            ("changelog-producer", "input"),
            ("tag.automatic-creation", "watermark"),
            ("tag.creation-period", "hourly"),
            ("tag.default-time-retained", "1 d"),
            ("num-sorted-run.compaction-trigger", "50"),
            ("num-sorted-run.stop-trigger", "60"),
        ]),
    )
    .await
    .unwrap();
    let mut tail_opts = opts(StartingPosition::LatestFull);
    tail_opts.consumer_id = Some("dash".into());
    let mut tail = t.stream_read_with(tail_opts).await.unwrap();
    let mut sink = StreamingSink::new(&t, "job").await.unwrap();
    let watermarks = ["2024-03-10 02:05", "2024-03-10 02:40", "2024-03-10 03:10", "2024-03-10 04:10"];
    let mut snapshot_of = vec![];
    let mut seen = vec![];
    for (i, wm) in watermarks.iter().enumerate() {
        let c = i as i64 + 1;
        sink.write(&batch(&t, &[(c, format!("v{c}"))])).await.unwrap();
        let committable = sink.prepare_with_watermark(c, Some(utc_ms(wm))).await.unwrap();
        assert_eq!(committable.watermark, Some(utc_ms(wm)));
        let CommitOutcome::Committed(id) = sink.commit(committable).await.unwrap() else {
            panic!("checkpoint {c} committed")
        };
        snapshot_of.push(id);
        let s = t.snapshots().snapshot(id).await.unwrap();
        assert_eq!((s.commit_kind, s.commit_identifier, s.watermark), (CommitKind::Append, c, Some(utc_ms(wm))));
        assert!(s.changelog_manifest_list.is_some(), "snapshot {id} lists its changelog");
        assert_eq!(s.changelog_record_count, Some(1));
        let json = std::fs::read_to_string(dir.path().join(format!("snapshot/snapshot-{id}"))).unwrap();
        assert!(json.contains("\"watermark\"") && json.contains("\"changelogManifestList\""), "{json}");
        seen.extend(keys(&tail.read_available().await.unwrap()));
    }
    assert_eq!(seen, ins(&[1, 2, 3, 4]));
    assert_eq!(
        ConsumerManager::new(t.io().clone()).consumer("dash").await.unwrap().unwrap().next_snapshot,
        snapshot_of[3] + 1
    );
    // The first snapshot tags the hour before its watermark; then each hour once it is over.
    let tags: Vec<(String, i64)> = t.tags().await.unwrap().into_iter().map(|t| (t.name, t.snapshot.id)).collect();
    let want: Vec<(String, i64)> =
        [("2024-03-10 01", snapshot_of[0]), ("2024-03-10 02", snapshot_of[2]), ("2024-03-10 03", snapshot_of[3])]
            .iter()
            .map(|(n, id)| (n.to_string(), *id))
            .collect();
    assert_eq!(tags, want);
    for tag in t.tags().await.unwrap() {
        assert_eq!(tag.time_retained, Some(Duration::from_secs(86_400)), "{}", tag.name);
        assert!(tag.snapshot.changelog_manifest_list.is_some());
    }
    // Tags with retention fields name the ends of an incremental read of the changelog.
    let between = t.incremental_between("2024-03-10 01", "2024-03-10 03", None).await.unwrap();
    assert_eq!(keys(&between), ins(&[2, 3, 4]));
}

/// A tag keeps its snapshot's changelog files through snapshot expiry; when the tag's
/// retention time has passed, tag expiry deletes them with the rest of what only it kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_retention_expiry_releases_changelog_files() {
    use shoal::maintenance::tags::{expire_tags_at, local_now};
    let dir = tempfile::tempdir().unwrap();
    let t = Table::create(
        dir.path().to_str().unwrap(),
        def(&[("changelog-producer", "input"), ("bucket", "1"), ("write-only", "true")]),
    )
    .await
    .unwrap();
    for k in 0..4 {
        commit_rows(&t, &[(k, "x")]).await;
    }
    let files = |prefix: &str| {
        let mut v: Vec<String> = std::fs::read_dir(dir.path().join("bucket-0"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(prefix))
            .collect();
        v.sort();
        v
    };
    assert_eq!(files("changelog-").len(), 4);
    CreateTag::new(&t, "t2").snapshot(2).time_retained(Duration::from_secs(3600)).execute().await.unwrap();
    let config = shoal::maintenance::expire::ExpireConfig {
        retain_min: 1,
        retain_max: 1,
        time_retained: Duration::ZERO,
        max_deletes: 100,
    };
    assert_eq!(ExpireSnapshots::new(&t).with_config(&config).execute().await.unwrap().snapshots_expired, 3);
    assert_eq!(files("changelog-").len(), 2, "the tag keeps snapshot 2's changelog, the latest its own");
    assert_eq!(read(&t).await.len(), 4);
    let r = expire_tags_at(t.io(), t.schema().clone(), local_now() + chrono::Duration::hours(2)).await.unwrap();
    assert_eq!(r.tags_deleted, vec!["t2".to_string()]);
    assert_eq!(files("changelog-").len(), 1, "only the latest snapshot's changelog is left");
    assert_eq!(read(&t).await.len(), 4);
    assert_eq!(keys(&t.incremental_between("3", "4", None).await.unwrap()), ins(&[3]));
    // Nothing referenced was deleted and nothing unreferenced was left behind.
    let report = RemoveOrphanFiles::new(&t).older_than(Duration::ZERO).dry_run(true).execute().await.unwrap();
    assert!(report.orphans.is_empty(), "{report:?}");
}
