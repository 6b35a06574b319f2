//! Fault injection: an object store that fails the k-th call, before it reaches the store or
//! after it took effect (a lost acknowledgement), for every k across write -> commit, across a
//! compaction and across snapshot expiry. After each fault the table must read as one of its
//! committed states (never a mix, never an error), a success must have landed, and a retry must
//! complete the work.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use shoal::io::faults::{FaultMode, FaultyStore};
use shoal::io::FileIO;
use shoal::maintenance::compact::CompactJob;
use shoal::maintenance::operations::{ExpireSnapshots, RemoveOrphanFiles};
use shoal::spec::parse_type;
use shoal::table::TableDefinition;
use shoal::Table;

type Model = BTreeMap<i64, String>;

fn def() -> TableDefinition {
    TableDefinition::default()
        .column("k", parse_type("BIGINT NOT NULL").unwrap())
        .column("v", parse_type("STRING").unwrap())
        .primary_key(&["k"])
        .option("bucket", "2")
        .option("write-only", "true")
}

fn rows(round: i64) -> Vec<(i64, String)> {
    (0..30).map(|k| (k * (round + 1) % 41, format!("r{round}-{k}"))).collect()
}

use common::kv_batch as batch;

async fn read(dir: &std::path::Path) -> Model {
    let t = Table::open(dir.to_str().unwrap()).await.unwrap();
    let b = t.read_all(None, None).await.unwrap_or_else(|e| panic!("the table must stay readable: {e}"));
    let ks = b.column(0).as_primitive::<Int64Type>();
    let vs = b.column(1).as_string::<i32>();
    (0..b.num_rows()).map(|i| (ks.value(i), vs.value(i).to_string())).collect()
}

async fn write_and_commit(t: &Table, round: i64) -> shoal::Result<()> {
    let mut w = t.new_write().await?;
    w.write(&batch(t, &rows(round))).await?;
    let msgs = w.prepare_commit().await?;
    t.new_commit(&format!("writer-{round}"))?.commit(msgs).await?;
    Ok(())
}

fn apply(model: &mut Model, round: i64) {
    for (k, v) in rows(round) {
        model.insert(k, v);
    }
}

/// A table with `rounds` committed rounds (no faults), and its model.
async fn prepared(dir: &std::path::Path, rounds: i64) -> Model {
    let t = Table::create(dir.to_str().unwrap(), def()).await.unwrap();
    let mut model = Model::new();
    for r in 0..rounds {
        write_and_commit(&t, r).await.unwrap();
        apply(&mut model, r);
    }
    model
}

fn faulty_io(dir: &std::path::Path, mode: FaultMode) -> (Arc<FaultyStore>, FileIO) {
    let local = LocalFileSystem::new_with_prefix(dir).unwrap();
    let store = Arc::new(FaultyStore::new(Arc::new(local), mode));
    let io = FileIO::new(store.clone(), Path::from(""), dir.to_str().unwrap());
    (store, io)
}

/// Runs `op` with the k-th call failing, for k = 1, 2, ... until a run no longer reaches k.
/// Returns how many faults were injected.
async fn every_fault<F, Fut>(
    mode: FaultMode,
    setup_rounds: i64,
    op: F,
    check: impl Fn(&Model, &Model, bool, &Model) -> Result<(), String>,
) -> u64
where
    F: Fn(FileIO) -> Fut,
    Fut: std::future::Future<Output = (shoal::Result<()>, Model)>,
{
    let mut injected = 0;
    for k in 1.. {
        let dir = tempfile::tempdir().unwrap();
        let before = prepared(dir.path(), setup_rounds).await;
        let (store, io) = faulty_io(dir.path(), mode);
        store.fail_call(k);
        let (result, after) = op(io).await;
        let reached = store.calls() >= k;
        store.fail_call(0);
        let now = read(dir.path()).await;
        if let Err(m) = check(&before, &after, result.is_ok(), &now) {
            panic!("{mode:?} fault at call {k} (result {:?}): {m}", result.err());
        }
        if !reached {
            assert!(result.is_ok(), "{mode:?}: no fault was injected at call {k}, yet the operation failed");
            break;
        }
        injected += 1;
    }
    injected
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_during_write_and_commit() {
    let mut total = 0;
    for mode in [FaultMode::Before, FaultMode::After] {
        total += every_fault(
            mode,
            1,
            |io| async move {
                let mut after = Model::new();
                apply(&mut after, 0);
                apply(&mut after, 1);
                let result = async {
                    let t = Table::open_with_io(io).await?;
                    write_and_commit(&t, 1).await
                }
                .await;
                (result, after)
            },
            |before, after, ok, now| {
                if ok && now != after {
                    return Err("the commit succeeded but its rows are not there".into());
                }
                if now != before && now != after {
                    return Err("the table is neither before nor after the commit".into());
                }
                Ok(())
            },
        )
        .await;
    }
    eprintln!("write -> commit: {total} faults injected and survived");
    assert!(total > 20, "only {total} faults were injected");

    // After any fault, a retry completes the commit (spot-check the middle of the range).
    let dir = tempfile::tempdir().unwrap();
    let mut model = prepared(dir.path(), 1).await;
    let (store, io) = faulty_io(dir.path(), FaultMode::After);
    store.fail_call(6);
    let _ = async {
        let t = Table::open_with_io(io).await?;
        write_and_commit(&t, 1).await
    }
    .await;
    store.fail_call(0);
    let t = Table::open(dir.path().to_str().unwrap()).await.unwrap();
    write_and_commit(&t, 1).await.unwrap();
    apply(&mut model, 1);
    assert_eq!(read(dir.path()).await, model);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_during_compaction() {
    let mut total = 0;
    for mode in [FaultMode::Before, FaultMode::After] {
        total += every_fault(
            mode,
            4,
            |io| async move {
                let result = async {
                    let t = Table::open_with_io(io).await?;
                    CompactJob::new(true).run(&t).await.map(|_| ())
                }
                .await;
                (result, Model::new())
            },
            |before, _, _, now| {
                // Compaction never changes what the table reads, fault or not.
                if now != before {
                    return Err("compaction changed the rows".into());
                }
                Ok(())
            },
        )
        .await;
    }
    eprintln!("compaction: {total} faults injected and survived");
    assert!(total > 10, "only {total} faults were injected");
    // A compaction interrupted by a fault can simply be run again.
    let dir = tempfile::tempdir().unwrap();
    let model = prepared(dir.path(), 4).await;
    let (store, io) = faulty_io(dir.path(), FaultMode::Before);
    store.fail_call(12);
    let t = Table::open_with_io(io).await.unwrap();
    let _ = CompactJob::new(true).run(&t).await;
    store.fail_call(0);
    CompactJob::new(true).run(&t).await.unwrap();
    assert_eq!(read(dir.path()).await, model);
    for s in t.new_scan().plan().await.unwrap().splits {
        assert!(s.files.iter().all(|f| f.level == 5), "bucket {} not fully compacted", s.bucket);
    }
}

/// A store that ignores conditional PUT (as some S3-compatible servers do) is detected before
/// the first commit, which is refused with an error that says why; nothing is committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_without_conditional_put_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let model = prepared(dir.path(), 1).await;
    let local = LocalFileSystem::new_with_prefix(dir.path()).unwrap();
    let io = FileIO::new(
        Arc::new(shoal::io::faults::IgnoresConditionalPut(Arc::new(local))),
        Path::from(""),
        dir.path().to_str().unwrap(),
    );
    let t = Table::open_with_io(io).await.unwrap();
    let e = write_and_commit(&t, 1).await.unwrap_err().to_string();
    assert!(e.contains("conditional PUT") && e.contains("refuses to commit"), "{e}");
    assert_eq!(read(dir.path()).await, model);
}

/// Faults during snapshot expiry, for every k and both modes: the retained snapshots keep
/// reading what they read before, a rerun completes the expiry, and orphan-file cleanup then
/// removes whatever the interrupted run left, leaving only referenced files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_during_expiry() {
    use shoal::maintenance::expire::ExpireConfig;
    let config =
        ExpireConfig { retain_min: 2, retain_max: 2, time_retained: std::time::Duration::ZERO, max_deletes: 1000 };
    let mut total = 0;
    let mut leftovers_removed = 0;
    for mode in [FaultMode::Before, FaultMode::After] {
        for k in 1.. {
            let dir = tempfile::tempdir().unwrap();
            // Snapshots 1-4: writes; 5: a full compaction (its delta deletes the older files);
            // 6: one more write. Expiry with retain-max 2 keeps 5 and 6 and deletes 1-4 and the
            // data files the compaction replaced.
            let mut model = prepared(dir.path(), 4).await;
            let t = Table::open(dir.path().to_str().unwrap()).await.unwrap();
            CompactJob::new(true).run(&t).await.unwrap();
            write_and_commit(&t, 4).await.unwrap();
            apply(&mut model, 4);
            let mut at = BTreeMap::new();
            for id in [5i64, 6] {
                at.insert(id, read_at(&t, id).await.unwrap());
            }
            assert_eq!(at[&6], model);
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;

            let (store, io) = faulty_io(dir.path(), mode);
            store.fail_call(k);
            let result =
                async { ExpireSnapshots::new(&Table::open_with_io(io).await?).with_config(&config).execute().await }
                    .await;
            let reached = store.calls() >= k;
            store.fail_call(0);
            let ctx = |what: &str| {
                format!("{mode:?} fault at call {k} of expiry (result {:?}): {what}", result.as_ref().err())
            };
            // The retained snapshots read as before, fault or not.
            for (id, want) in &at {
                match read_at(&t, *id).await {
                    Ok(got) => assert_eq!(&got, want, "{}", ctx(&format!("snapshot {id} reads different rows"))),
                    Err(e) => panic!("{}", ctx(&format!("retained snapshot {id} does not read: {e}"))),
                }
            }
            assert_eq!(read(dir.path()).await, model, "{}", ctx("the latest rows changed"));
            // A rerun completes the expiry.
            ExpireSnapshots::new(&t)
                .with_config(&config)
                .execute()
                .await
                .unwrap_or_else(|e| panic!("{}", ctx(&format!("the rerun failed: {e}"))));
            assert_eq!(t.snapshots().snapshot_ids().await.unwrap(), vec![5, 6], "{}", ctx("the rerun left snapshots"));
            // Orphan cleanup removes the leftovers; afterwards every file is referenced.
            let report = RemoveOrphanFiles::new(&t).older_than(std::time::Duration::ZERO).execute().await.unwrap();
            leftovers_removed += report.deleted;
            assert!(RemoveOrphanFiles::new(&t)
                .older_than(std::time::Duration::ZERO)
                .dry_run(true)
                .execute()
                .await
                .unwrap()
                .orphans
                .is_empty());
            for (id, want) in &at {
                assert_eq!(&read_at(&t, *id).await.unwrap(), want, "{}", ctx(&format!("snapshot {id} after cleanup")));
            }
            if !reached {
                assert!(result.is_ok(), "{mode:?}: no fault was injected at call {k}, yet expiry failed");
                break;
            }
            total += 1;
        }
    }
    eprintln!(
        "expiry: {total} faults injected and survived; orphan cleanup removed {leftovers_removed} leftover files"
    );
    assert!(total > 10, "only {total} faults were injected");
}

async fn read_at(t: &Table, snapshot: i64) -> shoal::Result<Model> {
    let b = t.read_all(Some(snapshot), None).await?;
    let ks = b.column(0).as_primitive::<Int64Type>();
    let vs = b.column(1).as_string::<i32>();
    Ok((0..b.num_rows()).map(|i| (ks.value(i), vs.value(i).to_string())).collect())
}

/// The same store with the in-process commit lock configured: committers inside this process
/// race for the same snapshot ids (the store would let the second create of snapshot N overwrite
/// the first), and the lock makes every commit land once, with no gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_without_conditional_put_commits_under_a_process_commit_lock() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = prepared(dir.path(), 1).await;
    let io = |dir: &std::path::Path| {
        let local = LocalFileSystem::new_with_prefix(dir).unwrap();
        FileIO::new(
            Arc::new(shoal::io::faults::IgnoresConditionalPut(Arc::new(local))),
            Path::from(""),
            dir.to_str().unwrap(),
        )
        .with_process_commit_lock()
    };
    let mut tasks = vec![];
    for w in 0..4i64 {
        let io = io(dir.path());
        let rows: Vec<Vec<(i64, String)>> =
            (0..4).map(|c| (0..5).map(|i| (1000 + w * 100 + i, format!("w{w}c{c}"))).collect()).collect();
        for r in rows.last().unwrap() {
            model.insert(r.0, r.1.clone());
        }
        tasks.push(tokio::spawn(async move {
            let t = Table::open_with_io(io).await.unwrap();
            for (c, rows) in rows.iter().enumerate() {
                let mut wr = t.new_write().await.unwrap();
                wr.write(&batch(&t, rows)).await.unwrap();
                let msgs = wr.prepare_commit().await.unwrap();
                t.new_commit(&format!("locked-{w}")).unwrap().commit_with_identifier(c as i64, msgs).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let t = Table::open(dir.path().to_str().unwrap()).await.unwrap();
    assert_eq!(
        t.snapshots().snapshot_ids().await.unwrap(),
        (1..=17).collect::<Vec<i64>>(),
        "a commit was lost or doubled"
    );
    assert_eq!(read(dir.path()).await, model);
}
