//! Table lifecycle: tags, time travel, snapshot expiry, rollback, orphan files and schema
//! evolution, checked against an in-memory model of every snapshot's rows and against the exact
//! set of files that retained snapshots and tags read.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, ArrayRef, Int64Array, RecordBatch, StringArray};
use proptest::prelude::*;
use shoal::io::FileIO;
use shoal::maintenance::compact::CompactJob;
use shoal::maintenance::expire::ExpireConfig;
use shoal::maintenance::operations::{
    CreateTag, DeleteTag, ExpireSnapshots, RemoveOrphanFiles, Rollback, TagMaintenance,
};
use shoal::maintenance::rollback::RollbackTarget;
use shoal::read::scan::TimeTravel;
use shoal::spec::paths::{manifest_path, tag_path};
use shoal::spec::{parse_type, ColumnPosition, RowKind, SchemaChange, Snapshot};
use shoal::store::{Consumer, ConsumerManager, ManifestStore};
use shoal::table::TableDefinition;
use shoal::Table;

type Model = BTreeMap<i64, String>;

use common::kv_def as def;

use common::kv_batch as batch;

fn rows_of(b: &RecordBatch) -> Model {
    let ks = b.column(0).as_primitive::<Int64Type>();
    let vs = b.column(1).as_string::<i32>();
    let mut m = Model::new();
    for i in 0..b.num_rows() {
        assert!(m.insert(ks.value(i), vs.value(i).to_string()).is_none(), "duplicate key {}", ks.value(i));
    }
    m
}

async fn read_at(t: &Table, tt: TimeTravel) -> Model {
    rows_of(&t.travel(&tt).await.unwrap().read_all(None, None).await.unwrap())
}

/// Upserts `rows` and deletes `deletes`, commits; returns the ids of the snapshots made.
async fn commit(t: &Table, rows: &[(i64, String)], deletes: &[i64]) -> Vec<i64> {
    let before = t.snapshots().latest_id().await.unwrap().unwrap_or(0);
    let mut w = t.new_write().await.unwrap();
    if !rows.is_empty() {
        w.write(&batch(t, rows)).await.unwrap();
    }
    if !deletes.is_empty() {
        let d: Vec<_> = deletes.iter().map(|k| (*k, String::new())).collect();
        w.write_with_kinds(&batch(t, &d), Some(&vec![RowKind::Delete; d.len()])).await.unwrap();
    }
    let out = t
        .new_commit(&uuid::Uuid::new_v4().to_string())
        .unwrap()
        .commit(w.prepare_commit().await.unwrap())
        .await
        .unwrap();
    match out.snapshot_id() {
        Some(id) => (before + 1..=id).collect(),
        None => vec![],
    }
}

/// What retained snapshots and tags read, computed here from the manifests (not through the
/// code under test): their manifest lists, manifests and live data files.
async fn referenced(io: &FileIO, t: &Table) -> BTreeSet<String> {
    let ms = ManifestStore::new(io.clone(), "zstd");
    let sm = t.snapshots();
    let mut snaps: Vec<Snapshot> = vec![];
    for id in sm.snapshot_ids().await.unwrap() {
        snaps.push(sm.snapshot(id).await.unwrap());
    }
    snaps.extend(t.tags().await.unwrap().into_iter().map(|t| t.snapshot));
    let mut out = BTreeSet::new();
    for s in &snaps {
        for l in [&s.base_manifest_list, &s.delta_manifest_list] {
            out.insert(manifest_path(l));
            for m in ms.read_manifest_list(l).await.unwrap() {
                out.insert(manifest_path(&m.file_name));
            }
        }
        for e in ms.live_files(s).await.unwrap() {
            out.insert(format!("bucket-{}/{}", e.bucket, e.file.file_name));
        }
    }
    out
}

/// Data files and manifests present in the table directory.
async fn present(io: &FileIO) -> BTreeSet<String> {
    io.list_recursive("")
        .await
        .unwrap()
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| p.starts_with("manifest/") || p.starts_with("bucket-"))
        .collect()
}

/// Every retained snapshot and tag reads as the model says, every file they read is present and
/// nothing else is.
async fn check(io: &FileIO, t: &Table, model: &BTreeMap<i64, Model>, context: &str) {
    for id in t.snapshots().snapshot_ids().await.unwrap() {
        assert_eq!(read_at(t, TimeTravel::Snapshot(id)).await, model[&id], "{context}: snapshot {id}");
    }
    for tag in t.tags().await.unwrap() {
        assert_eq!(
            read_at(t, TimeTravel::Tag(tag.name.clone())).await,
            model[&tag.snapshot.id],
            "{context}: tag {}",
            tag.name
        );
    }
    let want = referenced(io, t).await;
    let have = present(io).await;
    let missing: Vec<_> = want.difference(&have).collect();
    let extra: Vec<_> = have.difference(&want).collect();
    assert!(missing.is_empty(), "{context}: referenced files are gone: {missing:?}");
    assert!(extra.is_empty(), "{context}: unreferenced files remain: {extra:?}");
}

#[derive(Clone, Debug)]
enum Op {
    Write(Vec<(i64, Option<u8>)>),
    Compact,
    /// A tag `back` snapshots before the latest, kept for `hours` when set.
    Tag {
        name: u8,
        back: u8,
        hours: Option<u8>,
    },
    DeleteTag(u8),
    /// Tag expiry as if `hours` had passed.
    ExpireTags {
        hours: u8,
    },
    Consumer {
        id: u8,
        back: Option<u8>,
    },
    Expire {
        retain_min: i64,
        extra_max: i64,
        limit: i64,
    },
    /// Roll back `back` snapshots from the latest, or to tag `tag` when set.
    Rollback {
        back: u8,
        tag: Option<u8>,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => prop::collection::vec((0i64..12, prop::option::weighted(0.8, 0u8..50)), 1..6).prop_map(Op::Write),
        1 => Just(Op::Compact),
        2 => (0u8..4, 0u8..8, prop::option::of(prop::sample::select(vec![1u8, 3, 5])))
            .prop_map(|(name, back, hours)| Op::Tag { name, back, hours }),
        1 => (0u8..4).prop_map(Op::DeleteTag),
        1 => prop::sample::select(vec![0u8, 2, 4, 6]).prop_map(|hours| Op::ExpireTags { hours }),
        1 => (0u8..2, prop::option::of(0u8..6)).prop_map(|(id, back)| Op::Consumer { id, back }),
        2 => (1i64..4, 0i64..4, 1i64..8).prop_map(|(retain_min, extra_max, limit)| Op::Expire { retain_min, extra_max, limit }),
        1 => (0u8..4, prop::option::weighted(0.3, 0u8..4)).prop_map(|(back, tag)| Op::Rollback { back, tag }),
    ]
}

async fn run_model(ops: Vec<Op>) {
    let io = FileIO::from_uri("memory://model").unwrap();
    let t = Table::create_with_io(io.clone(), def(&[])).await.unwrap();
    let mut state = Model::new();
    let mut model: BTreeMap<i64, Model> = BTreeMap::new();
    let consumers = ConsumerManager::new(io.clone());
    // Each tag's retention in hours, as created (odd), so that expiring at even hours never ties.
    let mut retention: BTreeMap<String, Option<u8>> = BTreeMap::new();
    for (step, op) in ops.into_iter().enumerate() {
        let sm = t.snapshots();
        let (earliest, latest) = (sm.earliest_id().await.unwrap(), sm.latest_id().await.unwrap());
        match op {
            Op::Write(rows) => {
                let mut ups = vec![];
                let mut dels = vec![];
                for (k, v) in rows {
                    match v {
                        Some(v) => {
                            ups.retain(|(x, _): &(i64, String)| *x != k);
                            dels.retain(|x| *x != k);
                            ups.push((k, format!("{step}-{v}")));
                        }
                        None => {
                            ups.retain(|(x, _)| *x != k);
                            dels.push(k);
                        }
                    }
                }
                // Upserts are written before deletes, so a key in both ends up deleted.
                for (k, v) in &ups {
                    state.insert(*k, v.clone());
                }
                for k in &dels {
                    state.remove(k);
                }
                for id in commit(&t, &ups, &dels).await {
                    model.insert(id, state.clone());
                }
            }
            Op::Compact => {
                if let Some(id) = CompactJob::new(true).run(&t).await.unwrap().outcome.snapshot_id() {
                    model.insert(id, state.clone());
                }
            }
            Op::Tag { name, back, hours } => {
                let (Some(e), Some(l)) = (earliest, latest) else { continue };
                let id = (l - back as i64).max(e);
                let name = format!("tag{name}");
                if !t.tag_manager().exists(&name).await.unwrap() {
                    let tag = match hours {
                        Some(h) => CreateTag::new(&t, &name)
                            .snapshot(id)
                            .time_retained(Duration::from_secs(3600 * h as u64))
                            .execute()
                            .await
                            .unwrap(),
                        None => CreateTag::new(&t, &name).snapshot(id).execute().await.unwrap(),
                    };
                    assert_eq!(tag.snapshot.id, id);
                    retention.insert(name, hours);
                }
            }
            Op::ExpireTags { hours } => {
                let before: Vec<String> = t.tags().await.unwrap().into_iter().map(|t| t.name).collect();
                let now = shoal::maintenance::tags::local_now() + chrono::Duration::hours(hours as i64);
                let r = shoal::maintenance::tags::expire_tags_at(&io, t.schema().clone(), now).await.unwrap();
                let due: Vec<String> =
                    before.iter().filter(|n| retention[*n].is_some_and(|h| h < hours)).cloned().collect();
                let mut deleted = r.tags_deleted.clone();
                deleted.sort();
                let mut want = due.clone();
                want.sort();
                assert_eq!(deleted, want, "step {step}: expired at +{hours} h");
                let after: Vec<String> = t.tags().await.unwrap().into_iter().map(|t| t.name).collect();
                assert_eq!(after, before.into_iter().filter(|n| !due.contains(n)).collect::<Vec<_>>(), "step {step}");
                check(&io, &t, &model, &format!("step {step}: after expiring tags at +{hours} h")).await;
            }
            Op::DeleteTag(name) => {
                let name = format!("tag{name}");
                if t.tag_manager().exists(&name).await.unwrap() {
                    DeleteTag::new(&t, &name).execute().await.unwrap();
                    check(&io, &t, &model, &format!("step {step}: after deleting {name}")).await;
                }
            }
            Op::Consumer { id, back } => match (back, latest) {
                (Some(back), Some(l)) => {
                    let next = (l + 1 - back as i64).max(earliest.unwrap_or(1));
                    consumers.reset(&id.to_string(), Consumer { next_snapshot: next }).await.unwrap();
                }
                _ => consumers.delete(&id.to_string()).await.unwrap(),
            },
            Op::Rollback { back, tag } => {
                let (Some(e), Some(l)) = (earliest, latest) else { continue };
                let target = match tag.map(|n| format!("tag{n}")) {
                    Some(name) if t.tag_manager().exists(&name).await.unwrap() => RollbackTarget::Tag(name),
                    _ => RollbackTarget::Snapshot((l - back as i64).max(e)),
                };
                let r = Rollback::new(&t, &target).execute().await.unwrap();
                model.retain(|id, _| *id <= r.snapshot_id);
                state = model[&r.snapshot_id].clone();
                assert_eq!(t.snapshots().latest_id().await.unwrap(), Some(r.snapshot_id));
                check(&io, &t, &model, &format!("step {step}: after rolling back to {target:?}")).await;
            }
            Op::Expire { retain_min, extra_max, limit } => {
                let before: Vec<i64> = sm.snapshot_ids().await.unwrap();
                let min_next = consumers.min_next_snapshot().await.unwrap();
                let config = ExpireConfig {
                    retain_min,
                    retain_max: retain_min + extra_max,
                    time_retained: Duration::ZERO,
                    max_deletes: limit,
                };
                let r = ExpireSnapshots::new(&t).with_config(&config).execute().await.unwrap();
                let after: Vec<i64> = sm.snapshot_ids().await.unwrap();
                assert_eq!(before.len() - after.len(), r.snapshots_expired, "step {step}");
                // The newest retain_max are kept at most, retain_min at least, consumers' and later.
                assert!(after.len() as i64 >= retain_min.min(before.len() as i64), "step {step}: {after:?}");
                assert!(r.snapshots_expired as i64 <= limit);
                if let Some(n) = min_next {
                    assert!(
                        before.iter().filter(|&&id| id >= n).all(|id| after.contains(id)),
                        "step {step}: consumer at {n}"
                    );
                }
                if let Some(&first) = after.first() {
                    assert_eq!(after, (first..first + after.len() as i64).collect::<Vec<_>>(), "contiguous");
                }
                check(&io, &t, &model, &format!("step {step}: after expiring with {config:?}")).await;
            }
        }
    }
    check(&io, &t, &model, "end").await;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    /// Random commits, compactions, tags, consumers and expiries: every retained snapshot and tag
    /// reads exactly as when it was made, no referenced file is gone and every unreferenced one is.
    #[test]
    fn expiry_with_tags_and_consumers_keeps_exactly_what_is_referenced(ops in prop::collection::vec(op(), 4..28)) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(run_model(ops));
    }
}

async fn table_with_history(n: i64, extra: &[(&str, &str)]) -> (FileIO, Table, BTreeMap<i64, Model>) {
    let io = FileIO::from_uri("memory://history").unwrap();
    let t = Table::create_with_io(io.clone(), def(extra)).await.unwrap();
    let mut state = Model::new();
    let mut model = BTreeMap::new();
    for c in 0..n {
        let rows: Vec<_> = (0..5).map(|i| ((c * 3 + i) % 11, format!("c{c}-{i}"))).collect();
        for r in &rows {
            state.insert(r.0, r.1.clone());
        }
        let del = [(c * 5) % 11];
        state.remove(&del[0]);
        for id in commit(&t, &rows, &del).await {
            model.insert(id, state.clone());
        }
        if c % 4 == 3 {
            if let Some(id) = CompactJob::new(true).run(&t).await.unwrap().outcome.snapshot_id() {
                model.insert(id, state.clone());
            }
        }
    }
    (io, t, model)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_create_list_delete_and_read() {
    let (io, t, model) = table_with_history(6, &[]).await;
    let latest = t.snapshots().latest_id().await.unwrap().unwrap();
    assert_eq!(CreateTag::new(&t, "now").execute().await.unwrap().snapshot.id, latest);
    assert_eq!(CreateTag::new(&t, "early").snapshot(2).execute().await.unwrap().snapshot.id, 2);
    // The tag file is the snapshot file, byte for byte.
    assert_eq!(io.read_string(&tag_path("early")).await.unwrap(), t.snapshots().snapshot_json(2).await.unwrap());
    // Same name on the same snapshot: fine; on another: refused.
    CreateTag::new(&t, "early").snapshot(2).execute().await.unwrap();
    let e = CreateTag::new(&t, "early").snapshot(3).execute().await.unwrap_err().to_string();
    assert!(e.contains("already exists") && e.contains("snapshot 2"), "{e}");
    for bad in ["", "12", "a/b"] {
        assert!(CreateTag::new(&t, bad).execute().await.is_err(), "{bad:?}");
    }
    assert!(CreateTag::new(&t, "x").snapshot(999).execute().await.unwrap_err().to_string().contains("999"));
    let names: Vec<_> = t.tags().await.unwrap().into_iter().map(|t| (t.name, t.snapshot.id)).collect();
    assert_eq!(names, vec![("early".to_string(), 2), ("now".to_string(), latest)]);
    assert_eq!(read_at(&t, TimeTravel::Tag("early".into())).await, model[&2]);
    // Reading through the scan.tag-name option, as Paimon's dynamic options do.
    let pinned =
        t.alter(&[SchemaChange::SetOption { key: "scan.tag-name".into(), value: "early".into() }]).await.unwrap();
    assert_eq!(rows_of(&pinned.read_all(None, None).await.unwrap()), model[&2]);
    let t = pinned.alter(&[SchemaChange::RemoveOption("scan.tag-name".into())]).await.unwrap();
    DeleteTag::new(&t, "early").execute().await.unwrap();
    assert!(matches!(DeleteTag::new(&t, "early").execute().await, Err(shoal::Error::TagNotFound(_))));
    assert!(t.travel(&TimeTravel::Tag("early".into())).await.unwrap_err().to_string().contains("early"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_travel_by_snapshot_tag_and_timestamp() {
    let io = FileIO::from_uri("memory://tt").unwrap();
    let t = Table::create_with_io(io.clone(), def(&[])).await.unwrap();
    let mut times = vec![];
    for c in 0..4i64 {
        commit(&t, &[(c, format!("v{c}"))], &[]).await;
        times.push(t.latest_snapshot().await.unwrap().unwrap().time_millis);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for (i, &ms) in times.iter().enumerate() {
        let expect: Model = (0..=i as i64).map(|c| (c, format!("v{c}"))).collect();
        assert_eq!(read_at(&t, TimeTravel::Timestamp(ms)).await, expect);
        assert_eq!(read_at(&t, TimeTravel::Timestamp(ms + 1)).await, expect);
        assert_eq!(read_at(&t, TimeTravel::Snapshot(i as i64 + 1)).await, expect);
    }
    let e = t.travel(&TimeTravel::Timestamp(times[0] - 1)).await.unwrap_err().to_string();
    assert!(e.contains("no snapshot was committed at or before"), "{e}");
    assert!(matches!(t.travel(&TimeTravel::Snapshot(9)).await, Err(shoal::Error::SnapshotNotFound(9))));
    // Two time-travel options at once are refused.
    let both = t
        .alter(&[
            SchemaChange::SetOption { key: "scan.snapshot-id".into(), value: "1".into() },
            SchemaChange::SetOption { key: "scan.tag-name".into(), value: "x".into() },
        ])
        .await
        .unwrap();
    assert!(both.read_all(None, None).await.unwrap_err().to_string().contains("only one of"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_after_commits_follows_the_table_options() {
    let opts = [
        ("snapshot.num-retained.min", "2"),
        ("snapshot.num-retained.max", "3"),
        ("snapshot.time-retained", "1 h"),
        ("snapshot.expire.limit", "10"),
    ];
    let (io, t, model) = table_with_history(8, &opts).await;
    let ids = t.snapshots().snapshot_ids().await.unwrap();
    let latest = *ids.last().unwrap();
    assert_eq!(ids, vec![latest - 2, latest - 1, latest], "num-retained.max = 3 after every commit");
    assert_eq!(io.read_string("snapshot/EARLIEST").await.unwrap(), (latest - 2).to_string());
    check(&io, &t, &model, "after-commit expiry").await;

    // write-only: commits leave expiry to others.
    let (_, t, _) = table_with_history(
        5,
        &[("snapshot.num-retained.max", "1"), ("snapshot.num-retained.min", "1"), ("write-only", "true")],
    )
    .await;
    assert!(t.snapshots().snapshot_ids().await.unwrap().len() > 5);

    // Young snapshots stay (time-retained) unless num-retained.max forces them out.
    let (_, t, _) = table_with_history(5, &[("snapshot.num-retained.min", "1")]).await;
    let n = t.snapshots().snapshot_ids().await.unwrap().len() as i64;
    assert!(n > 5);
    let mut config = ExpireConfig::from_options(&t.schema().core_options()).unwrap();
    assert_eq!((config.retain_min, config.retain_max, config.max_deletes), (1, i32::MAX as i64, 10));
    assert_eq!(
        ExpireSnapshots::new(&t).with_config(&config).execute().await.unwrap().snapshots_expired,
        0,
        "all younger than 1 h"
    );
    config.time_retained = Duration::ZERO;
    config.max_deletes = 2;
    assert_eq!(
        ExpireSnapshots::new(&t).with_config(&config).execute().await.unwrap().snapshots_expired,
        2,
        "snapshot.expire.limit"
    );
    config.max_deletes = i64::MAX;
    assert_eq!(ExpireSnapshots::new(&t).with_config(&config).execute().await.unwrap().snapshots_expired as i64, n - 3);
    assert_eq!(t.snapshots().snapshot_ids().await.unwrap().len(), 1);
    assert!(ExpireSnapshots::new(&t)
        .with_config(&ExpireConfig { retain_min: 3, retain_max: 2, ..config })
        .execute()
        .await
        .is_err());
}

/// Expiry interrupted after every possible number of deletes leaves every retained snapshot and
/// tag readable, and running it again ends exactly where an uninterrupted run ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_expiry_is_readable_and_resumable() {
    let config = ExpireConfig { retain_min: 2, retain_max: 3, time_retained: Duration::ZERO, max_deletes: i64::MAX };
    let (io, t, model) = table_with_history(10, &[("write-only", "true")]).await;
    CreateTag::new(&t, "mid").snapshot(5).execute().await.unwrap();
    let (cio, counter) = io.counting();
    let ct = Table::open_with_io(cio.clone()).await.unwrap();
    let full = ExpireSnapshots::new(&ct).with_config(&config).execute().await.unwrap();
    let total_deletes = counter.requests().deletes;
    assert!(full.data_files_deleted > 0 && full.manifests_deleted > 0 && total_deletes > 10, "{full:?}");
    let end_files = present(&io).await.len();
    let end_snapshots = t.snapshots().snapshot_ids().await.unwrap();
    // num-retained.max keeps 3 at most; the time limit (zero) lets expiry go down to min = 2.
    assert_eq!(end_snapshots.len(), 2);

    for budget in (0..total_deletes).step_by(3) {
        let (io, t, _) = table_with_history(10, &[("write-only", "true")]).await;
        CreateTag::new(&t, "mid").snapshot(5).execute().await.unwrap();
        let (cio, counter) = io.counting();
        let ct = Table::open_with_io(cio).await.unwrap();
        counter.fail_deletes_after(Some(budget));
        let e = ExpireSnapshots::new(&ct).with_config(&config).execute().await.unwrap_err().to_string();
        assert!(e.contains("injected failure"), "{e}");
        // Readable: the retained snapshots and the tag still read as before.
        for &id in &end_snapshots {
            assert_eq!(read_at(&t, TimeTravel::Snapshot(id)).await, model[&id], "budget {budget}, snapshot {id}");
        }
        assert_eq!(read_at(&t, TimeTravel::Tag("mid".into())).await, model[&5], "budget {budget}");
        counter.fail_deletes_after(None);
        ExpireSnapshots::new(&ct).with_config(&config).execute().await.unwrap();
        // Same history, fresh file names: the same shape as the uninterrupted run.
        assert_eq!(
            present(&io).await.len(),
            end_files,
            "budget {budget}: resumed expiry ends like an uninterrupted one"
        );
        assert_eq!(t.snapshots().snapshot_ids().await.unwrap(), end_snapshots, "budget {budget}");
        check(&io, &t, &model, &format!("resumed after {budget} deletes")).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_keep_files_through_expiry_and_release_them_when_deleted() {
    let (io, t, model) = table_with_history(12, &[("write-only", "true")]).await;
    CreateTag::new(&t, "t2").snapshot(2).execute().await.unwrap();
    CreateTag::new(&t, "t2b").snapshot(2).execute().await.unwrap();
    CreateTag::new(&t, "t6").snapshot(6).execute().await.unwrap();
    let config = ExpireConfig { retain_min: 1, retain_max: 1, time_retained: Duration::ZERO, max_deletes: i64::MAX };
    ExpireSnapshots::new(&t).with_config(&config).execute().await.unwrap();
    assert_eq!(t.snapshots().snapshot_ids().await.unwrap().len(), 1);
    check(&io, &t, &model, "tags after expiry").await;
    // Two tags on one snapshot: deleting one keeps the files.
    let r = DeleteTag::new(&t, "t2").execute().await.unwrap();
    assert_eq!((r.data_files_deleted, r.manifests_deleted), (0, 0));
    check(&io, &t, &model, "t2 deleted").await;
    let r = DeleteTag::new(&t, "t2b").execute().await.unwrap();
    assert!(r.data_files_deleted > 0 && r.manifests_deleted > 0, "{r:?}");
    check(&io, &t, &model, "t2b deleted").await;
    DeleteTag::new(&t, "t6").execute().await.unwrap();
    check(&io, &t, &model, "t6 deleted").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_to_snapshot_and_to_an_expired_tag() {
    let (io, t, model) = table_with_history(10, &[("write-only", "true")]).await;
    CreateTag::new(&t, "t3").snapshot(3).execute().await.unwrap();
    CreateTag::new(&t, "t9").snapshot(9).execute().await.unwrap();
    let r = Rollback::new(&t, &RollbackTarget::parse("7")).execute().await.unwrap();
    assert_eq!(r.tags_deleted, vec!["t9".to_string()]);
    assert_eq!(t.snapshots().latest_id().await.unwrap(), Some(7));
    assert_eq!(io.read_string("snapshot/LATEST").await.unwrap(), "7");
    let mut model = model;
    model.retain(|id, _| *id <= 7);
    check(&io, &t, &model, "rolled back to 7").await;
    // Writing continues from snapshot 7.
    let ids = commit(&t, &[(100, "new".into())], &[]).await;
    assert_eq!(ids, vec![8]);
    let mut m8 = model[&7].clone();
    m8.insert(100, "new".into());
    model.insert(8, m8);
    check(&io, &t, &model, "commit after rollback").await;

    // Expire past the tag, then roll back to it: the tag becomes the only snapshot.
    let config = ExpireConfig { retain_min: 1, retain_max: 1, time_retained: Duration::ZERO, max_deletes: i64::MAX };
    ExpireSnapshots::new(&t).with_config(&config).execute().await.unwrap();
    let r = Rollback::new(&t, &RollbackTarget::Tag("t3".into())).execute().await.unwrap();
    assert_eq!(r.snapshot_id, 3);
    assert_eq!(t.snapshots().snapshot_ids().await.unwrap(), vec![3]);
    assert_eq!(io.read_string("snapshot/EARLIEST").await.unwrap(), "3");
    model.retain(|id, _| *id <= 3);
    check(&io, &t, &model, "rolled back to expired tag").await;
    assert!(Rollback::new(&t, &RollbackTarget::Snapshot(99)).execute().await.unwrap_err().to_string().contains("99"));
    assert!(matches!(
        Rollback::new(&t, &RollbackTarget::parse("nope")).execute().await,
        Err(shoal::Error::TagNotFound(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphan_files_respect_the_age_guard_and_referenced_files() {
    let dir = tempfile::tempdir().unwrap();
    let io = FileIO::from_uri(dir.path().to_str().unwrap()).unwrap();
    let t = Table::create_with_io(io.clone(), def(&[])).await.unwrap();
    commit(&t, &[(1, "a".into())], &[]).await;
    commit(&t, &[(2, "b".into())], &[]).await;
    let strays = ["bucket-0/data-stray.parquet", "manifest/manifest-stray-0", "index/index-stray-0"];
    for s in strays {
        io.write(s, "junk").await.unwrap();
    }
    io.write("README.txt", "not ours").await.unwrap();
    let r = RemoveOrphanFiles::new(&t).older_than(Duration::from_secs(86400)).execute().await.unwrap();
    assert_eq!((r.orphans.len(), r.too_young), (0, 3), "{r:?} {:?}", io.list_recursive("").await.unwrap());
    let r = RemoveOrphanFiles::new(&t).older_than(Duration::ZERO).dry_run(true).execute().await.unwrap();
    let mut want: Vec<String> = strays.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(r.orphans, want);
    assert_eq!(r.deleted, 0);
    for s in strays {
        assert!(io.exists(s).await.unwrap(), "dry run keeps {s}");
    }
    let r = RemoveOrphanFiles::new(&t).older_than(Duration::ZERO).execute().await.unwrap();
    assert_eq!(r.deleted, 3);
    for s in strays {
        assert!(!io.exists(s).await.unwrap());
    }
    assert!(io.exists("README.txt").await.unwrap());
    let mut model = BTreeMap::new();
    model.insert(1, Model::from([(1, "a".to_string())]));
    model.insert(2, Model::from([(1, "a".to_string()), (2, "b".to_string())]));
    check(&io, &t, &model, "after orphan removal").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_evolution_reads_old_files_by_field_id() {
    let io = FileIO::from_uri("memory://evolve").unwrap();
    let t = Table::create_with_io(
        io.clone(),
        TableDefinition::default()
            .column("k", parse_type("BIGINT").unwrap())
            .column("a", parse_type("INT").unwrap())
            .column("b", parse_type("STRING").unwrap())
            .column("f", parse_type("FLOAT").unwrap())
            .primary_key(&["k"])
            .option("bucket", "2"),
    )
    .await
    .unwrap();
    let b0 = RecordBatch::try_new(
        t.arrow_schema(),
        vec![
            Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef,
            Arc::new(arrow_array::Int32Array::from(vec![10, 20])),
            Arc::new(StringArray::from(vec!["x", "y"])),
            Arc::new(arrow_array::Float32Array::from(vec![1.5, 2.5])),
        ],
    )
    .unwrap();
    let mut w = t.new_write().await.unwrap();
    w.write(&b0).await.unwrap();
    t.new_commit("u1").unwrap().commit(w.prepare_commit().await.unwrap()).await.unwrap();
    CreateTag::new(&t, "v0").execute().await.unwrap();

    let t2 = t
        .alter(&[
            SchemaChange::RenameColumn { from: "b".into(), to: "name".into() },
            SchemaChange::UpdateColumnType { name: "a".into(), data_type: parse_type("BIGINT").unwrap() },
            SchemaChange::UpdateColumnType { name: "f".into(), data_type: parse_type("DOUBLE").unwrap() },
            SchemaChange::AddColumn {
                name: "c".into(),
                data_type: parse_type("STRING").unwrap(),
                position: ColumnPosition::After("k".into()),
                comment: None,
            },
        ])
        .await
        .unwrap();
    assert_eq!(t2.schema().id, 1);
    assert!(io.exists("schema/schema-1").await.unwrap());
    let names: Vec<_> = t2.schema().fields.iter().map(|f| f.name.clone()).collect();
    assert_eq!(names, ["k", "c", "a", "name", "f"]);
    let b1 = RecordBatch::try_new(
        t2.arrow_schema(),
        vec![
            Arc::new(Int64Array::from(vec![2, 3])) as ArrayRef,
            Arc::new(StringArray::from(vec![Some("c2"), None])),
            Arc::new(Int64Array::from(vec![1 << 40, 30])),
            Arc::new(StringArray::from(vec!["y2", "z"])),
            Arc::new(arrow_array::Float64Array::from(vec![0.1, 0.2])),
        ],
    )
    .unwrap();
    let mut w = t2.new_write().await.unwrap();
    w.write(&b1).await.unwrap();
    t2.new_commit("u2").unwrap().commit(w.prepare_commit().await.unwrap()).await.unwrap();

    let lines = |b: &RecordBatch| -> Vec<String> {
        let f = arrow::util::display::FormatOptions::default();
        let fmts: Vec<_> = b
            .columns()
            .iter()
            .map(|c| arrow::util::display::ArrayFormatter::try_new(c.as_ref(), &f).unwrap())
            .collect();
        (0..b.num_rows()).map(|i| fmts.iter().map(|x| x.value(i).to_string()).collect::<Vec<_>>().join("|")).collect()
    };
    let now = t2.read_all(None, None).await.unwrap();
    assert_eq!(lines(&now), ["1||10|x|1.5", "2|c2|1099511627776|y2|0.1", "3||30|z|0.2"]);
    // Time travel reads with the schema of its snapshot.
    let old = t2.travel(&TimeTravel::Tag("v0".into())).await.unwrap();
    assert_eq!(old.schema().id, 0);
    assert_eq!(lines(&old.read_all(None, None).await.unwrap()), ["1|10|x|1.5", "2|20|y|2.5"]);

    // Drop a column; a full compaction rewrites old files under the newest schema.
    let t3 = t2.alter(&[SchemaChange::DropColumn("name".into())]).await.unwrap();
    CompactJob::new(true).run(&t3).await.unwrap();
    assert_eq!(lines(&t3.read_all(None, None).await.unwrap()), ["1||10|1.5", "2|c2|1099511627776|0.1", "3||30|0.2"]);
    // Refusals leave no schema file behind.
    assert!(t3.alter(&[SchemaChange::DropColumn("k".into())]).await.is_err());
    assert!(t3
        .alter(&[SchemaChange::UpdateColumnType { name: "a".into(), data_type: parse_type("INT").unwrap() }])
        .await
        .is_err());
    assert_eq!(shoal::store::SchemaManager::new(io.clone()).schema_ids().await.unwrap(), vec![0, 1, 2]);
    // A re-added column gets a new field id: the dropped column's old data does not come back.
    let t4 = t3
        .alter(&[SchemaChange::AddColumn {
            name: "name".into(),
            data_type: parse_type("STRING").unwrap(),
            position: ColumnPosition::Last,
            comment: None,
        }])
        .await
        .unwrap();
    let b = t4.read_all(None, None).await.unwrap();
    assert_eq!(b.column(4).null_count(), 3);
}

// ------------------------------------------------------------------ automatic tags, retention

/// Local wall-clock time (`YYYY-MM-DD HH:MM`) as epoch millis: the time zone Paimon's
/// process-time tags are named in.
fn local_ms(s: &str) -> i64 {
    use chrono::TimeZone;
    let naive = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
    chrono::Local.from_local_datetime(&naive).earliest().unwrap().timestamp_millis()
}

fn utc_ms(s: &str) -> i64 {
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap().and_utc().timestamp_millis()
}

/// Upserts `rows` with a commit whose snapshots say `time_millis` and carry `watermark`,
/// through `committer` (or a fresh one); returns the ids of the snapshots made.
async fn commit_at(
    t: &Table,
    committer: Option<&shoal::commit::TableCommit>,
    rows: &[(i64, String)],
    time_millis: i64,
    watermark: Option<i64>,
) -> Vec<i64> {
    let before = t.snapshots().latest_id().await.unwrap().unwrap_or(0);
    let mut w = t.new_write().await.unwrap();
    w.write(&batch(t, rows)).await.unwrap();
    let fresh;
    let c = match committer {
        Some(c) => c,
        None => {
            fresh = t.new_commit(&uuid::Uuid::new_v4().to_string()).unwrap().with_clock(Arc::new(move || time_millis));
            &fresh
        }
    };
    let out = c.commit_with_watermark(None, watermark, w.prepare_commit().await.unwrap()).await.unwrap();
    (before + 1..=out.snapshot_id().unwrap()).collect()
}

async fn tag_list(t: &Table) -> Vec<(String, i64)> {
    t.tags().await.unwrap().into_iter().map(|t| (t.name, t.snapshot.id)).collect()
}

fn owned(v: &[(&str, i64)]) -> Vec<(String, i64)> {
    v.iter().map(|(n, id)| (n.to_string(), *id)).collect()
}

/// process-time, daily: the first snapshot is tagged with the day before its own; afterwards
/// the first snapshot of a new day tags the day before it (days without commits get no tag).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automatic_daily_tags_by_commit_time() {
    let io = FileIO::from_uri("memory://autotag-daily").unwrap();
    let t = Table::create_with_io(io.clone(), def(&[("tag.automatic-creation", "process-time")])).await.unwrap();
    let (mut state, mut model, mut first) = (Model::new(), BTreeMap::new(), vec![]);
    let times = [
        "2024-01-01 10:00",
        "2024-01-01 23:59",
        "2024-01-02 00:30",
        "2024-01-02 12:00",
        "2024-01-05 01:00",
        "2024-01-05 02:00",
    ];
    for (i, at) in times.iter().enumerate() {
        let row = (i as i64, format!("v{i}"));
        state.insert(row.0, row.1.clone());
        let ids = commit_at(&t, None, &[row], local_ms(at), None).await;
        for id in &ids {
            model.insert(*id, state.clone());
        }
        first.push(ids[0]);
    }
    assert_eq!(
        tag_list(&t).await,
        owned(&[("2023-12-31", first[0]), ("2024-01-01", first[2]), ("2024-01-04", first[4])])
    );
    for tag in t.tags().await.unwrap() {
        assert_eq!(
            (tag.create_time, tag.time_retained),
            (None, None),
            "no tag.default-time-retained: plain snapshot JSON"
        );
        assert_eq!(
            io.read_string(&tag_path(&tag.name)).await.unwrap(),
            t.snapshots().snapshot_json(tag.snapshot.id).await.unwrap()
        );
    }
    check(&io, &t, &model, "daily tags").await;
    // Nothing new to tag: an on-demand run creates nothing; a new day's commit tags the 5th.
    assert_eq!(TagMaintenance::new(&t).execute().await.unwrap().auto.created, vec![]);
    let ids = commit_at(&t, None, &[(9, "x".into())], local_ms("2024-01-06 00:00"), None).await;
    assert_eq!(tag_list(&t).await.last().unwrap(), &("2024-01-05".to_string(), ids[0]));

    // without_dashes and a delay: 20240101 is due at its end (2024-01-02 00:00) + 2 h; all digits.
    let io = FileIO::from_uri("memory://autotag-daily-compact").unwrap();
    let opts = [
        ("tag.automatic-creation", "process-time"),
        ("tag.period-formatter", "without_dashes"),
        ("tag.creation-delay", "2 h"),
    ];
    let t = Table::create_with_io(io.clone(), def(&opts)).await.unwrap();
    let mut first = vec![];
    for (i, at) in ["2024-01-01 10:00", "2024-01-02 01:59", "2024-01-02 02:00", "2024-01-04 05:00"].iter().enumerate() {
        first.push(commit_at(&t, None, &[(i as i64, "v".into())], local_ms(at), None).await[0]);
    }
    // Without automatic completion the 4th commit tags the day before its own, skipping 0102.
    assert_eq!(tag_list(&t).await, owned(&[("20231231", first[0]), ("20240101", first[2]), ("20240103", first[3])]));
    assert!(CreateTag::new(&t, "20240103").execute().await.is_err(), "manual all-digit names stay refused");
}

/// watermark, hourly, in Asia/Shanghai, with a delay, automatic completion, a retention time
/// and tag.num-retained-max, through one committer kept across commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automatic_hourly_tags_by_watermark() {
    let io = FileIO::from_uri("memory://autotag-hourly").unwrap();
    let opts = [
        ("tag.automatic-creation", "watermark"),
        ("tag.creation-period", "hourly"),
        ("tag.creation-delay", "10 min"),
        ("tag.automatic-completion", "true"),
        ("tag.num-retained-max", "3"),
        ("tag.default-time-retained", "1 d"),
        ("sink.watermark-time-zone", "Asia/Shanghai"),
        // No compaction snapshots: with completion, each would be due the next hour's tag too.
        ("num-sorted-run.compaction-trigger", "100"),
        ("num-sorted-run.stop-trigger", "200"),
    ];
    let t = Table::create_with_io(io.clone(), def(&opts)).await.unwrap();
    let c = t.new_commit("streaming-job").unwrap();
    let (mut state, mut model) = (Model::new(), BTreeMap::new());
    // Shanghai is UTC+8 (no daylight saving): 10:05 there is 02:05 UTC.
    let steps: [(Option<&str>, Option<&str>); 8] = [
        (Some("2024-03-10 02:05"), Some("2024-03-10 09")), // first: the hour before
        (Some("2024-03-10 02:50"), None),
        (Some("2024-03-10 03:05"), None), // 11:05 - 10 min < 11:00
        (Some("2024-03-10 03:12"), Some("2024-03-10 10")),
        (None, None),                                      // keeps the watermark of 11:12
        (Some("2024-03-10 03:00"), None),                  // a smaller watermark is not recorded
        (Some("2024-03-10 06:30"), Some("2024-03-10 11")), // completion: the next hour, not 13
        (Some("2024-03-10 06:31"), Some("2024-03-10 12")),
    ];
    let mut expected: Vec<(String, i64)> = vec![];
    let mut last_watermark = None;
    for (i, (wm, tag)) in steps.iter().enumerate() {
        let row = (i as i64, format!("w{i}"));
        state.insert(row.0, row.1.clone());
        let ids = commit_at(&t, Some(&c), &[row], chrono::Utc::now().timestamp_millis(), wm.map(utc_ms)).await;
        for id in &ids {
            model.insert(*id, state.clone());
        }
        if i == 0 {
            // A manual tag on the first snapshot: not automatic, never counted or deleted.
            CreateTag::new(&t, "keep").snapshot(ids[0]).execute().await.unwrap();
        }
        last_watermark = last_watermark.max(wm.map(utc_ms));
        assert_eq!(t.latest_snapshot().await.unwrap().unwrap().watermark, last_watermark, "step {i}");
        if let Some(name) = tag {
            expected.push((name.to_string(), ids[0]));
        }
    }
    // num-retained-max 3: the oldest automatic tag went, with no file of "keep" lost.
    let keep_id = expected[0].1;
    let mut want = expected[1..].to_vec();
    want.push(("keep".into(), keep_id));
    want.sort_by_key(|(n, id)| (*id, n.clone()));
    assert_eq!(tag_list(&t).await, want);
    for tag in t.tags().await.unwrap().into_iter().filter(|t| t.name != "keep") {
        assert_eq!(tag.time_retained, Some(Duration::from_secs(86_400)), "{}", tag.name);
        let age = shoal::maintenance::tags::local_now() - tag.create_time.unwrap();
        assert!(age >= chrono::Duration::zero() && age < chrono::Duration::minutes(5), "{}: {age}", tag.name);
    }
    check(&io, &t, &model, "hourly tags").await;
    // Fresh committers pick up after the newest automatic tag: 13 is already due (watermarks
    // only grow: this commit's smaller one leaves 14:31), 14 at 15:10.
    let ids = commit_at(&t, None, &[(50, "z".into())], 0, Some(utc_ms("2024-03-10 05:00"))).await;
    assert_eq!(t.latest_snapshot().await.unwrap().unwrap().watermark, Some(utc_ms("2024-03-10 06:31")));
    assert_eq!(tag_list(&t).await.last().unwrap(), &("2024-03-10 13".to_string(), ids[0]));
    commit_at(&t, None, &[(51, "z".into())], 0, Some(utc_ms("2024-03-10 07:09"))).await;
    assert!(!tag_list(&t).await.iter().any(|(n, _)| n == "2024-03-10 14"), "{:?}", tag_list(&t).await);
    let ids = commit_at(&t, None, &[(52, "z".into())], 0, Some(utc_ms("2024-03-10 07:10"))).await;
    let names: Vec<String> = tag_list(&t).await.into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["keep", "2024-03-10 12", "2024-03-10 13", "2024-03-10 14"], "{ids:?}");
}

/// batch: every batch commit tags the latest snapshot batch-write-<date>, replacing the day's
/// tag; tag.num-retained-max then counts every tag of the table (as Paimon's batch tagger).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_tags_after_batch_commits() {
    let io = FileIO::from_uri("memory://autotag-batch").unwrap();
    let opts = [("tag.automatic-creation", "batch"), ("tag.num-retained-max", "2")];
    let t = Table::create_with_io(io.clone(), def(&opts)).await.unwrap();
    let (mut state, mut model) = (Model::new(), BTreeMap::new());
    let mut last = vec![];
    for (i, at) in ["2024-05-01 08:00", "2024-05-01 20:00", "2024-05-02 08:00", "2024-05-03 08:00"].iter().enumerate() {
        let row = (i as i64, format!("b{i}"));
        state.insert(row.0, row.1.clone());
        let ids = commit_at(&t, None, &[row], local_ms(at), None).await;
        for id in &ids {
            model.insert(*id, state.clone());
        }
        last.push(*ids.last().unwrap());
        if i == 0 {
            CreateTag::new(&t, "manual").snapshot(ids[0]).execute().await.unwrap();
            assert_eq!(tag_list(&t).await, owned(&[("batch-write-2024-05-01", ids[0]), ("manual", ids[0])]));
        }
        if i == 1 {
            // The day's tag moved to the day's last batch; the manual tag is still there.
            assert_eq!(tag_list(&t).await, owned(&[("manual", last[0]), ("batch-write-2024-05-01", last[1])]));
        }
    }
    assert_eq!(tag_list(&t).await, owned(&[("batch-write-2024-05-02", last[2]), ("batch-write-2024-05-03", last[3])]));
    check(&io, &t, &model, "batch tags").await;
    // A streaming (identified) commit makes no batch tag.
    let mut w = t.new_write().await.unwrap();
    w.write(&batch(&t, &[(99, "s".into())])).await.unwrap();
    let c = t.new_commit("stream").unwrap().with_clock(Arc::new(|| local_ms("2024-05-04 08:00")));
    c.commit_with_identifier(1, w.prepare_commit().await.unwrap()).await.unwrap();
    assert!(!tag_list(&t).await.iter().any(|(n, _)| n == "batch-write-2024-05-04"));
}

/// Tags with a retention time are deleted once it has passed, with exactly the files only they
/// kept; tags without one, or not yet due, stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_retention_expiry_deletes_exactly_the_unreferenced_files() {
    use shoal::maintenance::tags::{expire_tags_at, local_now};
    let (io, t, model) = table_with_history(12, &[("write-only", "true")]).await;
    CreateTag::new(&t, "t2").snapshot(2).time_retained(Duration::from_secs(3600)).execute().await.unwrap();
    CreateTag::new(&t, "t5").snapshot(5).time_retained(Duration::from_secs(86_400)).execute().await.unwrap();
    CreateTag::new(&t, "t5b").snapshot(5).time_retained(Duration::from_secs(3600)).execute().await.unwrap();
    CreateTag::new(&t, "t8").snapshot(8).execute().await.unwrap();
    let text = io.read_string(&tag_path("t2")).await.unwrap();
    assert!(text.contains("\"tagTimeRetained\" : 3600.000000000") && text.contains("\"tagCreateTime\" : [ "), "{text}");
    let t2 = t.tag_manager().tag("t2").await.unwrap();
    assert_eq!(t2.snapshot, t.snapshots().snapshot(2).await.unwrap());
    let config = ExpireConfig { retain_min: 1, retain_max: 1, time_retained: Duration::ZERO, max_deletes: i64::MAX };
    ExpireSnapshots::new(&t).with_config(&config).execute().await.unwrap();
    check(&io, &t, &model, "tags with retention after snapshot expiry").await;

    let now = local_now();
    let r = expire_tags_at(&io, t.schema().clone(), now).await.unwrap();
    assert_eq!(r.tags_deleted, Vec::<String>::new(), "nothing is due yet");
    let r = expire_tags_at(&io, t.schema().clone(), now + chrono::Duration::hours(2)).await.unwrap();
    assert_eq!(r.tags_deleted, vec!["t2".to_string(), "t5b".to_string()]);
    assert!(r.data_files_deleted > 0 && r.manifests_deleted > 0, "t2 alone kept files: {r:?}");
    assert_eq!(tag_list(&t).await, owned(&[("t5", 5), ("t8", 8)]));
    check(&io, &t, &model, "t2, t5b expired").await;
    let r = expire_tags_at(&io, t.schema().clone(), now + chrono::Duration::days(2)).await.unwrap();
    assert_eq!(r.tags_deleted, vec!["t5".to_string()]);
    assert!(r.data_files_deleted > 0, "{r:?}");
    assert_eq!(tag_list(&t).await, owned(&[("t8", 8)]));
    check(&io, &t, &model, "t5 expired").await;

    // After a commit (not write-only), through the post-commit hook; tag.default-time-retained
    // applies to manual tags too.
    let io = FileIO::from_uri("memory://retention-hook").unwrap();
    let t = Table::create_with_io(io.clone(), def(&[("tag.default-time-retained", "50 ms")])).await.unwrap();
    commit(&t, &[(1, "a".into())], &[]).await;
    let tag = CreateTag::new(&t, "short").execute().await.unwrap();
    assert_eq!(tag.time_retained, Some(Duration::from_millis(50)));
    CreateTag::new(&t, "long").time_retained(Duration::from_secs(3600)).execute().await.unwrap();
    tokio::time::sleep(Duration::from_millis(120)).await;
    commit(&t, &[(2, "b".into())], &[]).await;
    assert_eq!(tag_list(&t).await, owned(&[("long", 1)]));
    // Re-creating a tag on its snapshot rewrites its retention (Paimon overwrites the file).
    CreateTag::new(&t, "long").snapshot(1).time_retained(Duration::from_secs(60)).execute().await.unwrap();
    assert_eq!(t.tag_manager().tag("long").await.unwrap().time_retained, Some(Duration::from_secs(60)));
    let e = CreateTag::new(&t, "long").snapshot(2).execute().await.unwrap_err().to_string();
    assert!(e.contains("already exists"), "{e}");
}

/// consumer.expiration-time: consumers not updated for that long are deleted after commits,
/// before snapshot expiry, so the snapshots they held go in the same commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_expiry_releases_snapshots() {
    let io = FileIO::from_uri("memory://consumer-expiry").unwrap();
    let opts =
        [("snapshot.num-retained.min", "1"), ("snapshot.num-retained.max", "1"), ("consumer.expiration-time", "1 h")];
    let t = Table::create_with_io(io.clone(), def(&opts)).await.unwrap();
    let mut model = BTreeMap::new();
    let mut state = Model::new();
    fn step(k: i64, ids: Vec<i64>, state: &mut Model, model: &mut BTreeMap<i64, Model>) {
        state.insert(k, format!("c{k}"));
        for id in ids {
            model.insert(id, state.clone());
        }
    }
    step(1, commit(&t, &[(1, "c1".into())], &[]).await, &mut state, &mut model);
    t.consumers().reset("job", Consumer { next_snapshot: 1 }).await.unwrap();
    t.consumers().reset("other", Consumer { next_snapshot: 1 }).await.unwrap();
    step(2, commit(&t, &[(2, "c2".into())], &[]).await, &mut state, &mut model);
    step(3, commit(&t, &[(3, "c3".into())], &[]).await, &mut state, &mut model);
    assert_eq!(t.snapshots().snapshot_ids().await.unwrap(), vec![1, 2, 3], "fresh consumers hold snapshot 1");
    check(&io, &t, &model, "consumers held").await;

    // Expire consumers older than nothing: both go before expiry, which then keeps only the latest.
    let t = t
        .alter(&[SchemaChange::SetOption { key: "consumer.expiration-time".into(), value: "0 ms".into() }])
        .await
        .unwrap();
    t.consumers().reset("other", Consumer { next_snapshot: 2 }).await.unwrap();
    step(4, commit(&t, &[(4, "c4".into())], &[]).await, &mut state, &mut model);
    assert_eq!(t.consumers().consumers().await.unwrap(), vec![]);
    assert_eq!(t.snapshots().snapshot_ids().await.unwrap(), vec![4]);
    check(&io, &t, &model, "consumers expired").await;

    // The cut-off is the file's modification time: the newer of two consumers stays.
    let cm = t.consumers();
    cm.reset("old", Consumer { next_snapshot: 4 }).await.unwrap();
    let between = chrono::Utc::now().timestamp_millis() + 1;
    tokio::time::sleep(Duration::from_millis(5)).await;
    cm.reset("new", Consumer { next_snapshot: 4 }).await.unwrap();
    assert_eq!(cm.expire(between).await.unwrap(), vec!["old".to_string()]);
    assert_eq!(cm.consumer("new").await.unwrap(), Some(Consumer { next_snapshot: 4 }));
    assert_eq!(cm.consumer("old").await.unwrap(), None);
    // write-only tables expire consumers too (Paimon runs consumer expiry regardless).
    let t = t.alter(&[SchemaChange::SetOption { key: "write-only".into(), value: "true".into() }]).await.unwrap();
    step(5, commit(&t, &[(5, "c5".into())], &[]).await, &mut state, &mut model);
    assert_eq!(cm.consumers().await.unwrap(), vec![]);
    assert_eq!(t.snapshots().snapshot_ids().await.unwrap(), vec![4, 5], "but expire no snapshots");
}

/// A branch (`branch/branch-<name>/`, as Paimon lays it out) keeps snapshots of its own over the
/// table's manifests and data files: orphan removal keeps what they reference, although the
/// table's own snapshots moved on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphan_removal_keeps_what_a_branch_references() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let t = Table::create(root.to_str().unwrap(), def(&[("bucket", "1")])).await.unwrap();
    let commit = t.new_commit("w").unwrap();
    let mut w = t.new_write().await.unwrap();
    w.write(&batch(&t, &[(1, "a".to_string()), (2, "b".to_string())])).await.unwrap();
    commit.commit(w.prepare_commit().await.unwrap()).await.unwrap();
    let branch = root.join("branch/branch-b");
    for sub in ["snapshot", "schema"] {
        std::fs::create_dir_all(branch.join(sub)).unwrap();
    }
    std::fs::copy(root.join("snapshot/snapshot-1"), branch.join("snapshot/snapshot-1")).unwrap();
    std::fs::copy(root.join("schema/schema-0"), branch.join("schema/schema-0")).unwrap();
    let first_files: BTreeSet<String> = std::fs::read_dir(root.join("bucket-0"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    // The table moves on: new rows, a full compaction, and its first snapshot gone.
    let mut w = t.new_write().await.unwrap();
    w.write(&batch(&t, &[(1, "c".to_string())])).await.unwrap();
    commit.commit(w.prepare_commit().await.unwrap()).await.unwrap();
    CompactJob::new(true).run(&t).await.unwrap();
    std::fs::remove_file(root.join("snapshot/snapshot-1")).unwrap();
    let _ = std::fs::remove_file(root.join("snapshot/EARLIEST"));
    let report = RemoveOrphanFiles::new(&t).older_than(Duration::ZERO).execute().await.unwrap();
    for f in &first_files {
        assert!(root.join("bucket-0").join(f).exists(), "{f}, read by the branch, was deleted: {report:?}");
    }
    let branch_snapshot: Snapshot =
        serde_json::from_slice(&std::fs::read(branch.join("snapshot/snapshot-1")).unwrap()).unwrap();
    for list in [&branch_snapshot.base_manifest_list, &branch_snapshot.delta_manifest_list] {
        assert!(root.join("manifest").join(list).exists(), "{list}, read by the branch, was deleted");
    }
}
