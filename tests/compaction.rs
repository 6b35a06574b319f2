//! LSM compaction: in-writer universal compaction and the dedicated job, checked against an
//! in-memory model at every snapshot, with retractions dropped only at the bottom level.

mod common;

use std::collections::BTreeMap;

use proptest::prelude::*;
use shoal::maintenance::compact::CompactJob;
use shoal::spec::{CommitKind, RowKind};
use shoal::Table;

type Model = BTreeMap<i64, String>;

use common::kv_def as def;

use common::kv_batch as batch;

async fn read(t: &Table, snapshot: Option<i64>) -> Model {
    common::kv_rows(t, snapshot).await
}

async fn kinds(t: &Table) -> Vec<CommitKind> {
    let sm = t.snapshots();
    let mut out = vec![];
    for id in sm.snapshot_ids().await.unwrap() {
        out.push(sm.snapshot(id).await.unwrap().commit_kind);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_writer_compaction_keeps_runs_bounded_and_rows_exact() {
    in_writer_compaction(true).await;
}

/// Streaming writers: compactions run in the background, their results ride along with later
/// commits, and chained compactions (one's output the next one's input) commit consistently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_compaction_of_a_streaming_writer() {
    in_writer_compaction(false).await;
}

async fn in_writer_compaction(wait: bool) {
    let dir = tempfile::tempdir().unwrap();
    let t = Table::create(dir.path().to_str().unwrap(), def(&[])).await.unwrap();
    let mut w = t.new_write().await.unwrap();
    let commit = t.new_commit("job").unwrap();
    let mut model = Model::new();
    let mut at: Vec<(i64, Model)> = vec![];
    for c in 0..20i64 {
        let rows: Vec<_> = (0..200).map(|i| ((i * 13 + c * 7) % 600, format!("c{c}-{i}"))).collect();
        for r in &rows {
            model.insert(r.0, r.1.clone());
        }
        w.write(&batch(&t, &rows)).await.unwrap();
        let dels: Vec<_> = (0..20).map(|i| ((i * 31 + c) % 600, String::new())).collect();
        for d in &dels {
            model.remove(&d.0);
        }
        w.write_with_kinds(&batch(&t, &dels), Some(&vec![RowKind::Delete; dels.len()])).await.unwrap();
        let last = c == 19;
        let msgs = w.prepare_commit_with(wait || last).await.unwrap();
        let id = commit.commit_with_identifier(c, msgs).await.unwrap().snapshot_id().unwrap();
        at.push((id, model.clone()));
    }
    let ks = kinds(&t).await;
    assert!(ks.contains(&CommitKind::Compact), "20 commits must have triggered compaction: {ks:?}");
    for (id, m) in &at {
        assert_eq!(&read(&t, Some(*id)).await, m, "snapshot {id}");
    }
    // Runs per bucket stay near the trigger instead of growing with every commit.
    let plan = t.new_scan().plan().await.unwrap();
    for s in &plan.splits {
        let levels = shoal::lsm::Levels::new(6, s.files.clone());
        assert!(levels.number_of_sorted_runs() <= 8, "bucket {} has {} runs", s.bucket, levels.number_of_sorted_runs());
        assert!(s.files.iter().any(|f| f.level > 0));
    }

    // A full compaction leaves one run per bucket, on the last level, without retractions.
    let r = CompactJob::new(true).run(&t).await.unwrap();
    assert!(r.outcome.snapshot_id().is_some());
    assert_eq!(read(&t, None).await, model);
    for s in &t.new_scan().plan().await.unwrap().splits {
        assert!(s.files.iter().all(|f| f.level == 5 && f.delete_row_count == Some(0)), "{:?}", s.files);
    }
    // Nothing left to do: a second full compaction commits nothing.
    assert_eq!(CompactJob::new(true).run(&t).await.unwrap().outcome, shoal::commit::CommitOutcome::Empty);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_only_leaves_compaction_to_the_job_and_stale_results_never_commit() {
    let dir = tempfile::tempdir().unwrap();
    let t = Table::create(dir.path().to_str().unwrap(), def(&[("write-only", "true")])).await.unwrap();
    let mut w = t.new_write().await.unwrap();
    let commit = t.new_commit("job").unwrap();
    let mut model = Model::new();
    for c in 0..8i64 {
        let rows: Vec<_> = (0..100).map(|i| ((i * 3 + c) % 150, format!("{c}-{i}"))).collect();
        for r in &rows {
            model.insert(r.0, r.1.clone());
        }
        w.write(&batch(&t, &rows)).await.unwrap();
        commit.commit_with_identifier(c, w.prepare_commit().await.unwrap()).await.unwrap();
    }
    assert!(!kinds(&t).await.contains(&CommitKind::Compact), "write-only writers do not compact");

    // Two compaction jobs planned on the same snapshot: the first wins; the second finds its
    // inputs gone, abandons its files, re-plans and has nothing stale to commit.
    let (ja, jb) = (CompactJob::new(true), CompactJob::new(true));
    let (a, b) = tokio::join!(ja.run(&t), jb.run(&t));
    let outcomes = [a.unwrap().outcome, b.unwrap().outcome];
    assert_eq!(outcomes.iter().filter(|o| o.snapshot_id().is_some()).count(), 1, "{outcomes:?}");
    assert_eq!(read(&t, None).await, model);
    // No data file is left behind that no snapshot references.
    let live: Vec<String> = t
        .new_scan()
        .plan()
        .await
        .unwrap()
        .splits
        .iter()
        .flat_map(|s| s.files.iter().map(|f| f.file_name.clone()))
        .collect();
    let mut on_disk = vec![];
    for b in ["bucket-0", "bucket-1"] {
        for e in std::fs::read_dir(dir.path().join(b)).unwrap() {
            on_disk.push(e.unwrap().file_name().to_string_lossy().to_string());
        }
    }
    let snapshots_ref: usize = on_disk.iter().filter(|f| !live.contains(f)).count();
    // Files of earlier snapshots remain (no expiry yet); but the loser's outputs were deleted:
    // every file on disk is referenced by some snapshot.
    let mut referenced = std::collections::HashSet::new();
    for id in t.snapshots().snapshot_ids().await.unwrap() {
        for s in t.new_scan().with_snapshot(id).plan().await.unwrap().splits {
            referenced.extend(s.files.into_iter().map(|f| f.file_name));
        }
    }
    let orphans: Vec<_> = on_disk.iter().filter(|f| !referenced.contains(*f)).collect();
    assert!(orphans.is_empty(), "orphaned files {orphans:?} ({snapshots_ref} not live)");
}

#[derive(Clone, Debug)]
enum Op {
    Upsert(Vec<(i64, u8)>),
    Delete(Vec<i64>),
    Commit,
    MinorCompact,
    FullCompact,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => prop::collection::vec((0i64..120, any::<u8>()), 1..40).prop_map(Op::Upsert),
        2 => prop::collection::vec(0i64..120, 1..15).prop_map(Op::Delete),
        3 => Just(Op::Commit),
        1 => Just(Op::MinorCompact),
        1 => Just(Op::FullCompact),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, .. ProptestConfig::default() })]

    /// Random interleavings of writes, deletes, commits (with in-writer compaction at a low
    /// trigger) and minor/full compaction jobs, with and without deletion vectors; every
    /// snapshot reads as the model did.
    #[test]
    fn model_based_compaction(ops in prop::collection::vec(op(), 1..30), dv in any::<bool>()) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async move {
            let dir = tempfile::tempdir().unwrap();
            let dv = if dv { "true" } else { "false" };
            let options = [("num-sorted-run.compaction-trigger", "3"), ("write-buffer-size", "4 kb"), ("deletion-vectors.enabled", dv)];
            let t = Table::create(dir.path().to_str().unwrap(), def(&options)).await.unwrap();
            let mut w = t.new_write().await.unwrap();
            let mut committed = Model::new();
            let mut pending = Model::new();
            let mut checks: Vec<(i64, Model)> = vec![];
            for op in ops {
                match op {
                    Op::Upsert(rows) => {
                        let rows: Vec<_> = rows.into_iter().map(|(k, v)| (k, format!("v{v}"))).collect();
                        for r in &rows { pending.insert(r.0, r.1.clone()); }
                        w.write(&batch(&t, &rows)).await.unwrap();
                    }
                    Op::Delete(keys) => {
                        let rows: Vec<_> = keys.iter().map(|k| (*k, String::new())).collect();
                        for k in &keys { pending.remove(k); }
                        w.write_with_kinds(&batch(&t, &rows), Some(&vec![RowKind::Delete; rows.len()])).await.unwrap();
                    }
                    Op::Commit => {
                        let out = t.new_commit(&uuid::Uuid::new_v4().to_string()).unwrap().commit(w.prepare_commit().await.unwrap()).await.unwrap();
                        committed = pending.clone();
                        if let Some(id) = out.snapshot_id() { checks.push((id, committed.clone())); }
                    }
                    Op::MinorCompact | Op::FullCompact => {
                        // A compaction job beside the writer: the writer restarts afterwards so its
                        // levels match the table (Paimon's writers and jobs coordinate the same way).
                        let full = matches!(op, Op::FullCompact);
                        let out = CompactJob::new(full).run(&t).await.unwrap();
                        if let Some(id) = out.outcome.snapshot_id() { checks.push((id, committed.clone())); }
                        w = t.new_write().await.unwrap();
                        pending = committed.clone();
                    }
                }
            }
            for (id, m) in &checks {
                assert_eq!(&read(&t, Some(*id)).await, m, "snapshot {}", id);
            }
        });
    }
}

/// Two compactions of one bucket that each move a different level-0 file up to the same level:
/// both deletes are live, but the second would leave overlapping key ranges on that level. It is
/// dropped as an LSM conflict (Paimon's check), and the table still reads as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_files_on_one_level_are_an_lsm_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let t = Table::create(dir.path().to_str().unwrap(), def(&[("write-only", "true"), ("bucket", "1")])).await.unwrap();
    let commit = t.new_commit("w").unwrap();
    let mut w = t.new_write().await.unwrap();
    for round in 0..2 {
        let rows: Vec<(i64, String)> = (0..50).map(|k| (k, format!("r{round}-{k}"))).collect();
        w.write(&batch(&t, &rows)).await.unwrap();
        commit.commit(w.prepare_commit().await.unwrap()).await.unwrap();
    }
    let before = read(&t, None).await;
    let split = t.new_scan().plan().await.unwrap().splits.remove(0);
    assert_eq!(split.files.len(), 2);
    let up = |f: &shoal::spec::DataFileMeta| {
        let mut m = shoal::write::CommitMessage::new(split.partition.clone(), split.bucket, 1);
        let mut moved = f.clone();
        moved.level = 5;
        m.compact_before.push(f.clone());
        m.compact_after.push(moved);
        m
    };
    t.new_commit("compactor-1").unwrap().commit(vec![up(&split.files[0])]).await.unwrap();
    let second = t.new_commit("compactor-2").unwrap();
    assert_eq!(second.commit(vec![up(&split.files[1])]).await.unwrap(), shoal::commit::CommitOutcome::Empty);
    let dropped = second.take_dropped_compactions();
    assert_eq!(dropped.len(), 1);
    assert!(dropped[0].reason.contains("LSM conflict") && dropped[0].reason.contains("level 5"), "{dropped:?}");
    assert_eq!(read(&t, None).await, before);
}

/// A long-lived committer keeps the live files between its commits and brings them forward by
/// the other committers' snapshots: what another compactor moved in the meantime still makes
/// this committer drop its stale or overlapping compaction, and its valid one commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_lived_committer_sees_what_others_committed_since() {
    let dir = tempfile::tempdir().unwrap();
    let t = Table::create(dir.path().to_str().unwrap(), def(&[("write-only", "true"), ("bucket", "1")])).await.unwrap();
    let commit = t.new_commit("w").unwrap();
    let mut w = t.new_write().await.unwrap();
    for round in 0..3 {
        let rows: Vec<(i64, String)> = (0..50).map(|k| (k, format!("r{round}-{k}"))).collect();
        w.write(&batch(&t, &rows)).await.unwrap();
        commit.commit(w.prepare_commit().await.unwrap()).await.unwrap();
    }
    let before = read(&t, None).await;
    let split = t.new_scan().plan().await.unwrap().splits.remove(0);
    assert_eq!(split.files.len(), 3);
    let up = |f: &shoal::spec::DataFileMeta, level: i32| {
        let mut m = shoal::write::CommitMessage::new(split.partition.clone(), split.bucket, 1);
        m.compact_before.push(f.clone());
        m.compact_after.push(shoal::spec::DataFileMeta { level, ..f.clone() });
        m
    };
    let (a, b, c) = (&split.files[0], &split.files[1], &split.files[2]);
    let mine = t.new_commit("compactor-mine").unwrap();
    mine.commit(vec![up(a, 5)]).await.unwrap();
    // Another compactor moves b to level 4 after `mine` last committed.
    t.new_commit("compactor-other").unwrap().commit(vec![up(b, 4)]).await.unwrap();
    // Stale compactions are dropped (the commit has nothing else): nothing is committed.
    let dropped_for = |m: shoal::write::CommitMessage| {
        let mine = &mine;
        async move {
            assert_eq!(mine.commit(vec![m]).await.unwrap(), shoal::commit::CommitOutcome::Empty);
            let d = mine.take_dropped_compactions();
            assert_eq!(d.len(), 1);
            d[0].reason.clone()
        }
    };
    let e = dropped_for(up(c, 4)).await;
    assert!(e.contains("LSM conflict") && e.contains("level 4"), "{e}");
    let e = dropped_for(up(b, 3)).await;
    assert!(e.contains("no longer in the table"), "{e}");
    assert_eq!(read(&t, None).await, before);
    mine.commit(vec![up(c, 3)]).await.unwrap();
    let levels: Vec<i32> = t.new_scan().plan().await.unwrap().splits[0].files.iter().map(|f| f.level).collect();
    assert_eq!(levels.iter().copied().collect::<std::collections::BTreeSet<_>>(), [3, 4, 5].into_iter().collect());
    assert_eq!(read(&t, None).await, before);
}

/// `full-compaction.delta-commits = 3`: every third commit leaves each written bucket as one
/// sorted run on the last level (retractions dropped), the others only what universal picks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_compaction_every_n_commits() {
    let dir = tempfile::tempdir().unwrap();
    let t = Table::create(dir.path().to_str().unwrap(), def(&[("full-compaction.delta-commits", "3")])).await.unwrap();
    let commit = t.new_commit("w").unwrap();
    let mut w = t.new_write().await.unwrap();
    let mut model = Model::new();
    for c in 1..=6i64 {
        let rows: Vec<(i64, String)> = (0..40).map(|k| (k * c % 97, format!("c{c}-{k}"))).collect();
        for r in &rows {
            model.insert(r.0, r.1.clone());
        }
        w.write(&batch(&t, &rows)).await.unwrap();
        commit.commit(w.prepare_commit().await.unwrap()).await.unwrap();
        let levels: Vec<Vec<i32>> = t
            .new_scan()
            .plan()
            .await
            .unwrap()
            .splits
            .iter()
            .map(|s| s.files.iter().map(|f| f.level).collect())
            .collect();
        if c % 3 == 0 {
            assert!(levels.iter().all(|l| l.iter().all(|&x| x == 5)), "commit {c}: {levels:?}");
        } else {
            assert!(levels.iter().any(|l| l.contains(&0)), "commit {c}: {levels:?}");
        }
        assert_eq!(read(&t, None).await, model);
    }
}

/// Row groups too large to fetch whole (over 8 MiB of compressed columns, as Java Paimon's
/// 128 MB ones are) are read page by page in windows: the merged read of two such files, and
/// their full compaction, give the newest values, and the read takes many ranged requests
/// instead of one per column chunk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_row_groups_are_read_page_by_page() {
    use arrow_array::{ArrayRef, BinaryArray, Int64Array, RecordBatch};
    use rand::RngCore;
    use std::sync::Arc;
    const ROWS: i64 = 60_000;
    let dir = tempfile::tempdir().unwrap();
    let d = shoal::table::TableDefinition::default()
        .column("id", shoal::spec::parse_type("BIGINT NOT NULL").unwrap())
        .column("blob", shoal::spec::parse_type("BYTES").unwrap())
        .primary_key(&["id"])
        .option("bucket", "1");
    let location = dir.path().to_str().unwrap();
    let t = Table::create(location, d).await.unwrap();
    let mut rng = rand::rng();
    let mut last: Vec<Vec<u8>> = vec![];
    for _ in 0..2 {
        // 256 random bytes a row: about 15 MiB that no codec shrinks, in one row group.
        last = (0..ROWS)
            .map(|_| {
                let mut b = vec![0u8; 256];
                rng.fill_bytes(&mut b);
                b
            })
            .collect();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from((0..ROWS).collect::<Vec<_>>())),
            Arc::new(BinaryArray::from(last.iter().map(|b| b.as_slice()).collect::<Vec<_>>())),
        ];
        let mut w = t.new_write().await.unwrap();
        w.write(&RecordBatch::try_new(t.arrow_schema(), columns).unwrap()).await.unwrap();
        let msgs = w.prepare_commit().await.unwrap();
        t.new_commit("w").unwrap().commit(msgs).await.unwrap();
    }
    let check = |b: &RecordBatch| {
        assert_eq!(b.num_rows(), ROWS as usize);
        let ids = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        let blobs = b.column(1).as_any().downcast_ref::<BinaryArray>().unwrap();
        for i in 0..b.num_rows() {
            assert_eq!(blobs.value(i), last[ids.value(i) as usize].as_slice(), "row {i}");
        }
    };
    let (io, counts) = shoal::io::FileIO::from_uri(location).unwrap().counting();
    let counted = Table::open_with_io(io).await.unwrap();
    let files = counted.new_scan().plan().await.unwrap().splits.iter().map(|s| s.files.len()).sum::<usize>();
    assert_eq!(files, 2, "two overlapping runs to merge");
    let before = counts.requests().gets;
    check(&counted.read_all(None, None).await.unwrap());
    let gets = counts.requests().gets - before;
    // Two files of ~15 MiB in windows of 1 MiB (plus headers and footers); a whole-chunk fetch
    // takes a handful.
    assert!(gets >= 20, "only {gets} requests: the row groups were fetched whole");
    CompactJob::new(true).run(&t).await.unwrap();
    check(&t.read_all(None, None).await.unwrap());
}
