//! INSERT OVERWRITE (issue 24): the library's overwrite (whole table, static and dynamic
//! partitions), what it does to concurrent appends, streaming reads of OVERWRITE snapshots, the
//! SQL and CLI forms, and interop with Java Paimon 0.9 both ways (Java reads shoal's overwritten
//! tables, including deletion vectors; shoal reads Java's OVERWRITE snapshots and writes on).

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use serde_json::{json, Value};
use shoal::commit::{CommitOutcome, OverwriteScope};
use shoal::read::{ChangeBatch, StartingPosition, StreamOptions};
use shoal::spec::options::ConsumerMode;
use shoal::spec::{parse_type, CommitKind, FileKind};
use shoal::store::ManifestStore;
use shoal::table::TableDefinition;
use shoal::{Error, Table};

/// `dt STRING, k BIGINT, v STRING` partitioned by dt: with `pk`, key (dt, k), 2 buckets and
/// deletion vectors; else an append table (bucket-unaware).
fn def(pk: bool, extra: &[(&str, &str)]) -> TableDefinition {
    let mut d = TableDefinition::default()
        .column("dt", parse_type("STRING NOT NULL").unwrap())
        .column("k", parse_type("BIGINT NOT NULL").unwrap())
        .column("v", parse_type("STRING").unwrap())
        .partition_key(&["dt"]);
    if pk {
        d = d.primary_key(&["dt", "k"]).option("bucket", "2").option("deletion-vectors.enabled", "true");
    }
    for (k, v) in extra {
        d = d.option(k, v);
    }
    d
}

fn batch(t: &Table, rows: &[(&str, i64, &str)]) -> RecordBatch {
    RecordBatch::try_new(
        t.arrow_schema(),
        vec![
            Arc::new(StringArray::from(rows.iter().map(|r| r.0).collect::<Vec<_>>())) as ArrayRef,
            Arc::new(Int64Array::from(rows.iter().map(|r| r.1).collect::<Vec<_>>())),
            Arc::new(StringArray::from(rows.iter().map(|r| r.2).collect::<Vec<_>>())),
        ],
    )
    .unwrap()
}

/// (dt, k, v) rows of `dts` partitions, keys `ks`, value `{tag}-{k}`.
fn gen(dts: &[&'static str], ks: std::ops::Range<i64>, tag: &str) -> Vec<(&'static str, i64, String)> {
    dts.iter().flat_map(|dt| ks.clone().map(move |k| (*dt, k, format!("{tag}-{k}")))).collect()
}

fn as_refs<'a>(rows: &'a [(&'static str, i64, String)]) -> Vec<(&'static str, i64, &'a str)> {
    rows.iter().map(|(d, k, v)| (*d, *k, v.as_str())).collect()
}

/// The rows at a snapshot (None: the latest), sorted: dt -> k -> v.
async fn read(t: &Table, snapshot: Option<i64>) -> BTreeMap<String, BTreeMap<i64, String>> {
    let b = t.read_all(snapshot, None).await.unwrap();
    let mut out: BTreeMap<String, BTreeMap<i64, String>> = BTreeMap::new();
    let (dts, ks, vs) = (b.column(0).as_string::<i32>(), b.column(1).as_primitive::<Int64Type>(), b.column(2));
    let vs = vs.as_string::<i32>();
    for i in 0..b.num_rows() {
        let prev = out.entry(dts.value(i).to_string()).or_default().insert(ks.value(i), vs.value(i).to_string());
        assert!(prev.is_none(), "row ({}, {}) read twice", dts.value(i), ks.value(i));
    }
    out
}

/// dt -> the set of values' tags (`a-3` -> `a`) in it.
fn tags(rows: &BTreeMap<String, BTreeMap<i64, String>>) -> BTreeMap<String, Vec<String>> {
    rows.iter()
        .map(|(dt, m)| {
            let mut t: Vec<String> = m.values().map(|v| v.split('-').next().unwrap().to_string()).collect();
            t.sort();
            t.dedup();
            (dt.clone(), t)
        })
        .collect()
}

async fn append(t: &Table, rows: &[(&'static str, i64, String)]) -> i64 {
    let mut w = t.new_write().await.unwrap();
    w.write(&batch(t, &as_refs(rows))).await.unwrap();
    commit_settled(t, w).await
}

/// Commits a writer's rows, redoing a compaction another commit overtook (on deletion-vector
/// tables level-0 rows are read once compacted).
async fn commit_settled(t: &Table, mut w: shoal::write::TableWrite) -> i64 {
    let commit = t.new_commit("appender").unwrap();
    let id = commit.commit(w.prepare_commit().await.unwrap()).await.unwrap().snapshot_id().unwrap();
    commit.settle(&mut w, None).await.unwrap();
    t.latest_snapshot().await.unwrap().map(|s| s.id).unwrap_or(id)
}

async fn overwrite(t: &Table, partition: &[(&str, &str)], rows: &[(&'static str, i64, String)]) -> CommitOutcome {
    let mut o = t.new_overwrite().partition(partition.iter().map(|(k, v)| (*k, *v))).start().await.unwrap();
    if !rows.is_empty() {
        o.write(&batch(t, &as_refs(rows))).await.unwrap();
    }
    o.commit().await.unwrap()
}

/// The id of the latest OVERWRITE snapshot (on deletion-vector tables a COMPACT snapshot of the
/// overwrite's own level-0 files follows it, as in Paimon).
async fn last_overwrite(t: &Table) -> i64 {
    let mut id = t.latest_snapshot().await.unwrap().unwrap().id;
    while t.snapshots().snapshot(id).await.unwrap().commit_kind != CommitKind::Overwrite {
        id -= 1;
        assert!(id > 0, "no OVERWRITE snapshot");
    }
    id
}

/// The kinds of the entries in a snapshot's delta: (DELETEs, ADDs).
async fn delta_kinds(t: &Table, id: i64) -> (usize, usize) {
    let s = t.snapshots().snapshot(id).await.unwrap();
    let m = ManifestStore::new(t.io().clone(), &t.schema().core_options().manifest_compression());
    let entries = m.read_entries(&m.read_manifest_list(&s.delta_manifest_list).await.unwrap()).await.unwrap();
    (
        entries.iter().filter(|e| e.kind == FileKind::Delete).count(),
        entries.iter().filter(|e| e.kind == FileKind::Add).count(),
    )
}

/// Data files under a partition directory (to see that a failed overwrite left none).
fn data_files(table_dir: &Path, dt: &str) -> usize {
    let mut n = 0;
    let Ok(buckets) = std::fs::read_dir(table_dir.join(format!("dt={dt}"))) else { return 0 };
    for b in buckets {
        for f in std::fs::read_dir(b.unwrap().path()).unwrap() {
            n += f.unwrap().file_name().to_string_lossy().starts_with("data-") as usize;
        }
    }
    n
}

/// The modes on an append table and on a primary-key table with deletion vectors: dynamic
/// (only the partitions written), static (exactly the partition, even with no rows; rows
/// outside are an error that leaves nothing behind), whole table (`dynamic(false)`), and an
/// unpartitioned table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overwrite_modes() {
    for pk in [false, true] {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("t");
        let t = Table::create(dir.to_str().unwrap(), def(pk, &[])).await.unwrap();
        append(&t, &gen(&["a", "b", "c"], 0..20, "old")).await;
        // Dynamic (the default): only partition a, whose keys become 5..8.
        let CommitOutcome::Committed(last) = overwrite(&t, &[], &gen(&["a"], 5..8, "dyn")).await else { panic!() };
        let s2 = last_overwrite(&t).await;
        assert_eq!(s2, if pk { last - 1 } else { last }, "pk {pk}: OVERWRITE, then COMPACT with deletion vectors");
        let snap = t.snapshots().snapshot(s2).await.unwrap();
        assert_eq!(snap.total_record_count, Some(3 + 40));
        let rows = read(&t, None).await;
        assert_eq!(rows["a"].keys().copied().collect::<Vec<_>>(), vec![5, 6, 7], "pk {pk}");
        assert_eq!(tags(&rows)["a"], vec!["dyn"]);
        assert_eq!((tags(&rows)["b"].clone(), rows["b"].len()), (vec!["old".to_string()], 20));
        let (deletes, adds) = delta_kinds(&t, s2).await;
        assert!(deletes >= 1 && adds >= 1, "pk {pk}: {deletes} DELETE, {adds} ADD");
        // Dynamic with no rows: nothing happens.
        assert_eq!(overwrite(&t, &[], &[]).await, CommitOutcome::Empty);
        // Static partition b with no rows: b is emptied.
        assert!(matches!(overwrite(&t, &[("dt", "b")], &[]).await, CommitOutcome::Committed(_)));
        let rows = read(&t, None).await;
        assert!(!rows.contains_key("b") && rows["c"].len() == 20, "pk {pk}: {:?}", tags(&rows));
        // Static partition c with a row in a: an error; nothing changes, no file is left.
        let files = |dir: &Path| (data_files(dir, "a"), data_files(dir, "c"));
        let before = (t.latest_snapshot().await.unwrap().unwrap().id, files(&dir));
        let mut o = t.new_overwrite().partition([("dt", "c")]).start().await.unwrap();
        o.write(&batch(&t, &[("c", 1, "s-1"), ("a", 1, "s-1")])).await.unwrap();
        let e = o.commit().await.unwrap_err();
        assert!(matches!(e, Error::InvalidInput(_)) && e.to_string().contains("dt=a"), "{e}");
        assert_eq!((t.latest_snapshot().await.unwrap().unwrap().id, files(&dir)), before);
        // Not a partition column: an error before writing.
        let e = t.new_overwrite().partition([("k", "1")]).start().await.err().unwrap().to_string();
        assert!(e.contains("\"k\" is not a partition column"), "{e}");
        // Whole table (dynamic off): only the new rows remain.
        overwrite_whole(&t, &gen(&["d"], 0..2, "all")).await;
        assert_eq!(tags(&read(&t, None).await), BTreeMap::from([("d".to_string(), vec!["all".to_string()])]));
        // The table goes on: an append on top of the overwrite, reading right (for pk with DVs).
        append(&t, &gen(&["d"], if pk { 1..3 } else { 5..7 }, "next")).await;
        let d = &read(&t, None).await["d"];
        assert_eq!(d.len(), if pk { 3 } else { 4 });
        if pk {
            assert_eq!(d[&0], "all-0");
            assert_eq!(d[&1], "next-1");
        }
    }
    // Unpartitioned: always the whole table.
    let root = tempfile::tempdir().unwrap();
    let t = Table::create(root.path().join("kv").to_str().unwrap(), common::kv_def(&[])).await.unwrap();
    let mut w = t.new_write().await.unwrap();
    w.write(&common::kv_batch(&t, &[(1, "x".into()), (2, "y".into())])).await.unwrap();
    t.new_commit("u").unwrap().commit(w.prepare_commit().await.unwrap()).await.unwrap();
    let mut o = t.new_overwrite().start().await.unwrap();
    assert_eq!(o.scope(), &OverwriteScope::whole_table());
    o.write(&common::kv_batch(&t, &[(3, "z".into())])).await.unwrap();
    o.commit().await.unwrap();
    assert_eq!(common::kv_rows(&t, None).await, BTreeMap::from([(3, "z".to_string())]));
}

async fn overwrite_whole(t: &Table, rows: &[(&'static str, i64, String)]) {
    let mut o = t.new_overwrite().dynamic(false).start().await.unwrap();
    assert_eq!(o.scope(), &OverwriteScope::whole_table());
    o.write(&batch(t, &as_refs(rows))).await.unwrap();
    o.commit().await.unwrap();
}

/// Paimon's rule for appends committed while an overwrite runs: the overwrite deletes what the
/// latest snapshot holds when it commits. An append committed before the OVERWRITE snapshot is
/// replaced with the rest; one committed after lands on top (also one whose writer started
/// before the overwrite committed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_before_and_after_the_overwrite() {
    for pk in [false, true] {
        let root = tempfile::tempdir().unwrap();
        let t = Table::create(root.path().join("t").to_str().unwrap(), def(pk, &[])).await.unwrap();
        append(&t, &gen(&["a", "b"], 0..10, "old")).await;

        // 1. The append commits between the overwrite's start and its commit: replaced.
        let mut o = t.new_overwrite().partition([("dt", "a")]).start().await.unwrap();
        o.write(&batch(&t, &as_refs(&gen(&["a"], 0..3, "ow")))).await.unwrap();
        append(&t, &gen(&["a", "b"], 100..102, "mid")).await;
        o.commit().await.unwrap();
        let rows = read(&t, None).await;
        assert_eq!(rows["a"].len(), 3, "pk {pk}: the append before the OVERWRITE snapshot is replaced");
        assert_eq!(tags(&rows)["a"], vec!["ow"]);
        assert_eq!(tags(&rows)["b"], vec!["mid", "old"], "pk {pk}: partition b is not overwritten");

        // 2. A writer that started before the overwrite commits after it: on top.
        let mut w = t.new_write().await.unwrap();
        w.write(&batch(&t, &as_refs(&gen(&["a"], 5..8, "late")))).await.unwrap();
        let mut o = t.new_overwrite().partition([("dt", "a")]).start().await.unwrap();
        o.write(&batch(&t, &as_refs(&gen(&["a"], 0..4, "ow2")))).await.unwrap();
        o.commit().await.unwrap();
        commit_settled(&t, w).await;
        let rows = read(&t, None).await;
        assert_eq!(rows["a"].keys().copied().collect::<Vec<_>>(), vec![0, 1, 2, 3, 5, 6, 7], "pk {pk}");
        assert_eq!(tags(&rows)["a"], vec!["late", "ow2"]);
    }
}

/// The race inside a commit: another writer's append takes the snapshot id the overwrite was
/// about to publish (injected through the commit's clock, read just before the snapshot file is
/// created). The overwrite retries on the new latest snapshot and deletes the append's files too
/// (the lower-level API: a writer ignoring previous files, `TableCommit::overwrite`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overwrite_retry_reads_the_latest_snapshot_again() {
    let root = tempfile::tempdir().unwrap();
    let t = Table::create(root.path().join("t").to_str().unwrap(), def(false, &[])).await.unwrap();
    append(&t, &gen(&["a", "b"], 0..4, "old")).await;
    let raced = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (t2, flag) = (t.clone(), raced.clone());
    let clock: shoal::commit::Clock = Arc::new(move || {
        if !flag.swap(true, std::sync::atomic::Ordering::SeqCst) {
            let t2 = t2.clone();
            tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(append(&t2, &gen(&["a", "b"], 10..12, "race")))
            });
        }
        1_700_000_000_000
    });
    let mut w = t.new_write_overwrite().await.unwrap();
    w.write(&batch(&t, &as_refs(&gen(&["a"], 0..2, "ow")))).await.unwrap();
    let scope = OverwriteScope::for_table(t.schema(), &[]).unwrap();
    assert_eq!(scope, OverwriteScope::Dynamic);
    let commit = t.new_commit("ow").unwrap().with_clock(clock);
    let outcome = commit.overwrite(&scope, w.prepare_commit().await.unwrap()).await.unwrap();
    assert!(raced.load(std::sync::atomic::Ordering::SeqCst));
    assert_eq!(outcome, CommitOutcome::Committed(3), "the append took snapshot 2");
    assert_eq!(t.snapshots().snapshot(2).await.unwrap().commit_user, "appender");
    let rows = read(&t, None).await;
    assert_eq!(tags(&rows)["a"], vec!["ow"], "the raced append's rows in a are replaced");
    assert_eq!(tags(&rows)["b"], vec!["old", "race"], "b is not overwritten");
    let (deletes, _) = delta_kinds(&t, 3).await;
    assert_eq!(deletes, 2, "the files of a in snapshot 2: the first append's and the raced one's");
}

fn stream_opts() -> StreamOptions {
    StreamOptions {
        start: StartingPosition::FromSnapshot(1),
        consumer_id: None,
        consumer_mode: ConsumerMode::ExactlyOnce,
        ignore_progress: false,
        discovery_interval: Duration::from_millis(10),
    }
}

/// (kind, dt, k, v) of a streaming read's batches (`_ROW_KIND` first).
fn changes(batches: &[ChangeBatch]) -> Vec<(String, String, i64, String)> {
    let mut out = vec![];
    for b in batches {
        let c = &b.batch;
        let (kinds, dts, ks, vs) = (
            c.column(0).as_string::<i32>(),
            c.column(1).as_string::<i32>(),
            c.column(2).as_primitive::<Int64Type>(),
            c.column(3).as_string::<i32>(),
        );
        for i in 0..c.num_rows() {
            out.push((kinds.value(i).into(), dts.value(i).into(), ks.value(i), vs.value(i).into()));
        }
    }
    out
}

/// Streaming readers and a real overwrite: skipped by default; with `streaming-read-overwrite`
/// the overwritten partition's old rows come as -D and the new ones as +I, other partitions
/// untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_reads_of_an_overwrite() {
    let root = tempfile::tempdir().unwrap();
    let d = def(true, &[]);
    let d = TableDefinition {
        options: d.options.into_iter().filter(|(k, _)| k != "deletion-vectors.enabled").collect(),
        ..d
    };
    let t = Table::create(root.path().join("t").to_str().unwrap(), d).await.unwrap();
    append(&t, &gen(&["a", "b"], 0..5, "old")).await;
    overwrite(&t, &[("dt", "a")], &gen(&["a"], 3..7, "ow")).await;
    append(&t, &gen(&["b"], 10..12, "after")).await;
    for read_overwrite in [false, true] {
        let copy = t
            .copy_with_options(&[("streaming-read-overwrite".to_string(), read_overwrite.to_string())].into())
            .unwrap();
        let got = changes(&copy.stream_read_with(stream_opts()).await.unwrap().read_available().await.unwrap());
        let count = |kind: &str, tag: &str| got.iter().filter(|c| c.0 == kind && c.3.starts_with(tag)).count();
        assert_eq!(count("+I", "old"), 10, "{got:?}");
        assert_eq!(count("+I", "after"), 2);
        if read_overwrite {
            assert_eq!((count("-D", "old"), count("+I", "ow")), (5, 4), "{got:?}");
            assert!(got.iter().filter(|c| c.0 == "-D").all(|c| c.1 == "a"), "only partition a is retracted");
        } else {
            assert_eq!(got.iter().filter(|c| c.0 == "-D" || c.3.starts_with("ow")).count(), 0, "{got:?}");
        }
    }
}

// ------------------------------------------------------------------ SQL and CLI

/// `INSERT OVERWRITE t SELECT` (dynamic, and whole table with the option off) and `INSERT
/// OVERWRITE t PARTITION (dt = '...') SELECT <the other columns>`; counts as INSERT; errors.
#[cfg(feature = "datafusion")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_insert_overwrite() {
    use shoal::datafusion::{context_for_warehouse, sql};
    let root = tempfile::tempdir().unwrap();
    let wh = root.path().to_str().unwrap();
    let t = Table::create(root.path().join("db.db/t").to_str().unwrap(), def(true, &[])).await.unwrap();
    append(&t, &gen(&["a", "b", "c"], 0..10, "old")).await;
    let ctx = context_for_warehouse(wh).await.unwrap();
    let count = |b: Vec<RecordBatch>| {
        let c = arrow_cast::cast(b[0].column(0), &arrow_schema::DataType::Int64).unwrap();
        c.as_primitive::<Int64Type>().value(0)
    };
    // Dynamic: only partition a.
    let n = count(
        sql(&ctx, "INSERT OVERWRITE db.t SELECT 'a', k, 'dyn-' || k FROM db.t WHERE dt = 'b' AND k < 3").await.unwrap(),
    );
    assert_eq!(n, 3);
    let rows = read(&t, None).await;
    assert_eq!((tags(&rows)["a"].clone(), rows["a"].len(), rows["b"].len()), (vec!["dyn".to_string()], 3, 10));
    assert_eq!(last_overwrite(&t).await, 3);
    // Static partition, the query gives k and v only; an empty query empties the partition.
    let n = count(
        sql(
            &ctx,
            "INSERT OVERWRITE db.t PARTITION (dt = 'b') SELECT k + 100, 'st-' || k FROM db.t WHERE dt = 'c' AND k < 2",
        )
        .await
        .unwrap(),
    );
    assert_eq!(n, 2);
    assert_eq!(read(&t, None).await["b"].keys().copied().collect::<Vec<_>>(), vec![100, 101]);
    sql(&ctx, "INSERT OVERWRITE db.t PARTITION (dt = 'c') SELECT k, v FROM db.t WHERE false").await.unwrap();
    assert!(!read(&t, None).await.contains_key("c"));
    // Errors: a wrong column count, a non-partition column, PARTITION on INSERT INTO, time travel.
    for (stmt, want) in [
        ("INSERT OVERWRITE db.t PARTITION (dt = 'b') SELECT 'b', 1, 'x'", "takes 2 besides"),
        ("INSERT OVERWRITE db.t PARTITION (k = 1) SELECT 'b', 'x'", "not a partition column"),
        ("INSERT INTO db.t PARTITION (dt = 'b') SELECT 1, 'x'", "INSERT OVERWRITE only"),
    ] {
        let e = sql(&ctx, stmt).await.unwrap_err().to_string();
        assert!(e.contains(want), "{stmt}: {e}");
    }
    // Whole table, with the option off.
    sql(&ctx, "ALTER TABLE db.t SET TBLPROPERTIES ('dynamic-partition-overwrite' = 'false')").await.unwrap();
    let ctx = context_for_warehouse(wh).await.unwrap();
    let n = count(sql(&ctx, "INSERT OVERWRITE db.t VALUES ('z', 1, 'whole-1')").await.unwrap());
    assert_eq!(n, 1);
    assert_eq!(tags(&read(&t, None).await), BTreeMap::from([("z".to_string(), vec!["whole".to_string()])]));
}

/// `shoal write --overwrite [--partition k=v]` and its errors.
#[test]
fn cli_write_overwrite() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("db.db").join("t");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let t = rt.block_on(async {
        let t = Table::create(dir.to_str().unwrap(), def(false, &[])).await.unwrap();
        append(&t, &gen(&["a", "b"], 0..5, "old")).await;
        t
    });
    let csv = root.path().join("rows.csv");
    std::fs::write(&csv, "dt,k,v\na,1,cli-1\na,2,cli-2\n").unwrap();
    let d = dir.to_str().unwrap();
    let c = csv.to_str().unwrap();
    let out = common::shoal_ok(&["write", d, c, "--overwrite"]);
    assert!(out.contains("wrote 2 rows, overwrote the partitions written, committed snapshot 2"), "{out}");
    let out = common::shoal_ok(&["write", d, c, "--overwrite", "--partition", "dt=a"]);
    assert!(out.contains("overwrote partition dt=a"), "{out}");
    let rows = rt.block_on(read(&t, None));
    assert_eq!((rows["a"].len(), rows["b"].len()), (2, 5));
    assert_eq!(rt.block_on(t.latest_snapshot()).unwrap().unwrap().commit_kind, CommitKind::Overwrite);
    let fails = |args: &[&str], want: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_shoal")).args(args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(!out.status.success() && err.contains(want), "{args:?}: {err}");
    };
    fails(&["write", d, c, "--overwrite", "--partition", "dt=b"], "outside it");
    fails(&["write", d, c, "--partition", "dt=a"], "--overwrite");
    fails(&["write", d, c, "--overwrite", "--partition", "k=1"], "not a partition column");
    assert_eq!(rt.block_on(read(&t, None))["b"].len(), 5, "the failed overwrites changed nothing");
}

// ------------------------------------------------------------------ Java Paimon 0.9

fn field_types(t: &Table) -> Vec<shoal::spec::DataType> {
    t.schema().fields.iter().map(|f| f.data_type.clone()).collect()
}

/// shoal's rows of every snapshot equal Java's.
async fn assert_java_reads_every_snapshot(o: &common::oracle::Oracle, dir: &Path, context: &str) {
    let t = Table::open(dir.to_str().unwrap()).await.unwrap();
    let java = o.java_read_snapshots(dir);
    let latest = t.latest_snapshot().await.unwrap().unwrap().id;
    assert_eq!(java.keys().copied().collect::<Vec<_>>(), (1..=latest).collect::<Vec<_>>(), "{context}");
    for (id, rows) in java {
        let ours = common::rows_as_lines(&[t.read_all(Some(id), None).await.unwrap()], &field_types(&t));
        common::assert_rows_eq(&ours, &rows, &format!("{context}, snapshot {id} (shoal vs Java)"));
    }
}

/// Java Paimon 0.9 reads shoal's overwrites, every snapshot, on a primary-key table with
/// deletion vectors and on an append table: dynamic, static (also empty) and whole-table
/// overwrites, with appends between and after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn java_reads_shoal_overwrites() {
    let Some(o) = common::oracle::oracle() else { return };
    let root = tempfile::tempdir().unwrap();
    for pk in [true, false] {
        let dir = root.path().join("wh/db.db").join(if pk { "s_pk" } else { "s_append" });
        let t = Table::create(dir.to_str().unwrap(), def(pk, &[])).await.unwrap();
        append(&t, &gen(&["a", "b", "c"], 0..20, "old")).await;
        let mut dynamic: Vec<_> = gen(&["a"], 5..8, "dyn");
        dynamic.extend(gen(&["b"], 0..3, "dyn"));
        overwrite(&t, &[], &dynamic).await;
        overwrite(&t, &[("dt", "c")], &[]).await;
        append(&t, &gen(&["a", "b"], 6..10, "mid")).await;
        overwrite(&t, &[("dt", "b")], &gen(&["b"], 1..4, "st")).await;
        overwrite_whole(&t, &gen(&["d"], 0..4, "all")).await;
        append(&t, &gen(&["d"], 2..6, "last")).await;
        let kinds: Vec<CommitKind> = {
            let latest = t.latest_snapshot().await.unwrap().unwrap().id;
            let mut k = vec![];
            for id in 1..=latest {
                k.push(t.snapshots().snapshot(id).await.unwrap().commit_kind);
            }
            k
        };
        assert!(kinds.iter().filter(|k| **k == CommitKind::Overwrite).count() == 4, "{kinds:?}");
        assert_java_reads_every_snapshot(&o, &dir, if pk { "pk, deletion vectors" } else { "append" }).await;
    }
}

/// Java Paimon 0.9 overwrites (dynamic, static with `dynamic-partition-overwrite = false`,
/// empty static, whole table) a primary-key table with deletion vectors; shoal reads each of its
/// OVERWRITE snapshots, then writes on (an append and an overwrite of its own), and Java reads
/// every snapshot as shoal does. shoal's OVERWRITE snapshot has the fields and delta shape of
/// Java's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shoal_reads_and_continues_java_overwrites() {
    let Some(o) = common::oracle::oracle() else { return };
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("wh/db.db/j_pk");
    let rows = |dts: &[&'static str], ks: std::ops::Range<i64>, tag: &str| -> Vec<Value> {
        gen(dts, ks, tag).into_iter().map(|(dt, k, v)| json!({"dt": dt, "k": k, "v": v})).collect()
    };
    let static_mode = json!({"dynamic-partition-overwrite": "false"});
    let spec = json!({
        "fields": [{"name": "dt", "type": "STRING NOT NULL"}, {"name": "k", "type": "BIGINT NOT NULL"},
                   {"name": "v", "type": "STRING"}],
        "primary_keys": ["dt", "k"], "partition_keys": ["dt"],
        "options": {"bucket": "2", "deletion-vectors.enabled": "true"},
        "commits": [
            {"rows": rows(&["a", "b", "c", "d"], 0..10, "old")},
            {"rows": rows(&["a"], 3..6, "dyn"), "overwrite": {}},
            {"rows": rows(&["b"], 1..3, "st"), "overwrite": {"dt": "b"}, "overwrite_options": static_mode},
            {"rows": [], "overwrite": {"dt": "c"}, "overwrite_options": static_mode},
        ]
    });
    o.java_write(&dir, &spec);
    let t = Table::open(dir.to_str().unwrap()).await.unwrap();
    let tagged = |s: &BTreeMap<String, BTreeMap<i64, String>>| {
        s.iter().map(|(dt, m)| (dt.clone(), (m.len(), tags(s)[dt].clone()))).collect::<BTreeMap<_, _>>()
    };
    let want = |v: &[(&str, usize, &str)]| {
        v.iter().map(|(dt, n, tag)| (dt.to_string(), (*n, vec![tag.to_string()]))).collect::<BTreeMap<_, _>>()
    };
    // Java's snapshots: APPEND (+ COMPACT, deletion vectors), then per overwrite OVERWRITE (+ COMPACT).
    let mut kinds = vec![];
    for id in 1..=t.latest_snapshot().await.unwrap().unwrap().id {
        kinds.push((id, t.snapshots().snapshot(id).await.unwrap().commit_kind));
    }
    let ow: Vec<i64> = kinds.iter().filter(|(_, k)| *k == CommitKind::Overwrite).map(|(id, _)| *id).collect();
    assert_eq!(ow.len(), 3, "Java's snapshots {kinds:?}");
    // With deletion vectors the new level-0 rows are read once the COMPACT snapshot after the
    // OVERWRITE compacted them: the state after each overwrite is the snapshot before the next.
    let java_latest = kinds.len() as i64;
    assert_eq!(
        tagged(&read(&t, Some(ow[1] - 1)).await),
        want(&[("a", 3, "dyn"), ("b", 10, "old"), ("c", 10, "old"), ("d", 10, "old")])
    );
    assert_eq!(
        tagged(&read(&t, Some(ow[2] - 1)).await),
        want(&[("a", 3, "dyn"), ("b", 2, "st"), ("c", 10, "old"), ("d", 10, "old")])
    );
    assert_eq!(tagged(&read(&t, Some(java_latest)).await), want(&[("a", 3, "dyn"), ("b", 2, "st"), ("d", 10, "old")]));
    // shoal writes on: an append into Java's overwritten partition, then its own overwrite.
    append(&t, &gen(&["a", "b"], 4..8, "s")).await;
    let CommitOutcome::Committed(_) = overwrite(&t, &[("dt", "d")], &gen(&["d"], 0..2, "sow")).await else {
        panic!("shoal's overwrite committed nothing")
    };
    let ours = last_overwrite(&t).await;
    let latest = t.latest_snapshot().await.unwrap().unwrap().id;
    let rows_now = read(&t, None).await;
    assert_eq!((rows_now["a"].len(), rows_now["b"].len(), rows_now["d"].len()), (5, 6, 2), "{:?}", tags(&rows_now));
    assert_java_reads_every_snapshot(&o, &dir, "Java's overwrites, then shoal's").await;
    assert!(latest >= ours);

    // The snapshot files: same fields, kind and identifier; deltas of DELETEs and ADDs.
    let json_of = |id: i64| -> Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join(format!("snapshot/snapshot-{id}"))).unwrap()).unwrap()
    };
    let (java, shoal) = (json_of(ow[1]), json_of(ours));
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<std::collections::BTreeSet<_>>();
    assert_eq!(keys(&shoal), keys(&java), "snapshot fields: shoal {shoal}\nJava {java}");
    for f in ["version", "commitKind", "commitIdentifier", "changelogManifestList"] {
        assert_eq!(shoal[f], java[f], "{f}: shoal {shoal}\nJava {java}");
    }
    assert_eq!(shoal["commitKind"], "OVERWRITE");
    assert_eq!(shoal["deltaRecordCount"], json!(2 - 10), "{shoal}");
    let (jd, ja) = delta_kinds(&t, ow[1]).await;
    let (sd, sa) = delta_kinds(&t, ours).await;
    assert!(jd > 0 && ja > 0 && sd > 0 && sa > 0, "Java's delta {jd} DELETE {ja} ADD; shoal's {sd} DELETE {sa} ADD");
}
