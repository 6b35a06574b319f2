//! Postpone-bucket tables (`bucket = -2`, Paimon 1.x): writes go unmerged to each partition's
//! `bucket-postpone` directory, batch reads see only real buckets, and a compaction moves the
//! pending rows into real buckets. Judged by pypaimon 2.x, which writes and reads postpone tables
//! (it cannot compact them): pypaimon writes -> shoal compacts -> pypaimon reads, and shoal
//! writes -> pypaimon reads (nothing pending visible, the files where pypaimon expects them) ->
//! shoal compacts -> pypaimon reads.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use common::oracle::{oracle, Oracle};
use futures::TryStreamExt;
use serde_json::Value;
use shoal::maintenance::compact::CompactJob;
use shoal::spec::binary_row::hash_single_long;
use shoal::spec::{bucket_of, RowKind, SchemaChange};
use shoal::table::TableDefinition;
use shoal::Table;

use common::dt_kv::Row;
type Rows = BTreeMap<(String, i64), String>;

fn definition(extra: &[(&str, &str)]) -> TableDefinition {
    common::dt_kv::definition("-2", extra)
}

/// Commits over two partitions: new keys, updates of keys of earlier commits and of the same
/// commit (arrival order decides), deletes of earlier and same-commit keys.
fn commits(round: i64) -> Vec<Vec<Row>> {
    let mut out = vec![];
    for c in 0..3i64 {
        let mut rows = vec![];
        for i in 0..30i64 {
            let dt = if i % 3 == 0 { "b" } else { "a" };
            let k = (round * 11 + c * 13 + i * 5) % 50;
            rows.push((dt.to_string(), k, format!("r{round}c{c}i{i}"), RowKind::Insert));
        }
        // The same key twice in one commit: the later event wins.
        rows.push(("a".into(), 3, format!("r{round}c{c}-first"), RowKind::Insert));
        rows.push(("a".into(), 3, format!("r{round}c{c}-second"), RowKind::UpdateAfter));
        if c == 1 {
            rows.push(("a".into(), 1, String::new(), RowKind::Delete));
            rows.push(("b".into(), (round * 11 + 13) % 50, String::new(), RowKind::Delete));
        }
        out.push(rows);
    }
    out
}

/// What a primary-key table holds after `commits`, applied in order.
fn model(all: &[Vec<Row>]) -> Rows {
    let mut m = Rows::new();
    for (dt, k, v, kind) in all.iter().flatten() {
        if kind.is_retract() {
            m.remove(&(dt.clone(), *k));
        } else {
            m.insert((dt.clone(), *k), v.clone());
        }
    }
    m
}

fn spec(commits: &[Vec<Row>], extra: &[(&str, &str)]) -> Value {
    common::dt_kv::spec("-2", commits, extra)
}

async fn shoal_commit(t: &Table, rows: &[Row]) {
    let batch = common::dt_kv::batch(t, rows);
    let kinds: Vec<RowKind> = rows.iter().map(|r| r.3).collect();
    let mut w = t.new_write().await.unwrap();
    // Two batches: arrival order holds across a writer's batches too.
    let half = rows.len() / 2;
    w.write_with_kinds(&batch.slice(0, half), Some(&kinds[..half])).await.unwrap();
    w.write_with_kinds(&batch.slice(half, rows.len() - half), Some(&kinds[half..])).await.unwrap();
    let user = uuid::Uuid::new_v4().to_string();
    t.new_commit(&user).unwrap().commit(w.prepare_commit().await.unwrap()).await.unwrap();
}

/// shoal's rows, checking that each sits in the real bucket its key hashes to, under the
/// partition's bucket count in `buckets` (dt -> count).
async fn shoal_rows(t: &Table, buckets: &BTreeMap<&str, i32>) -> Rows {
    let mut out = Rows::new();
    for split in t.new_scan().plan().await.unwrap().splits {
        assert!(split.bucket >= 0, "a batch read plans real buckets only, got bucket {}", split.bucket);
        let batches: Vec<RecordBatch> =
            shoal::read::read_splits(t.new_read(None).unwrap(), vec![split.clone()], 1).try_collect().await.unwrap();
        for b in batches {
            let (dt, k, v) = (
                b.column(0).as_string::<i32>(),
                b.column(1).as_primitive::<arrow_array::types::Int64Type>(),
                b.column(2).as_string::<i32>(),
            );
            for i in 0..b.num_rows() {
                let want = buckets.get(dt.value(i)).copied().unwrap_or_else(|| panic!("partition {}", dt.value(i)));
                assert_eq!(split.total_buckets, want, "partition {} has {want} buckets", dt.value(i));
                assert_eq!(split.bucket, bucket_of(hash_single_long(k.value(i)), want), "key {} placed", k.value(i));
                out.insert((dt.value(i).to_string(), k.value(i)), v.value(i).to_string());
            }
        }
    }
    out
}

fn json_lines(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// pypaimon's rows and its view of the live files (one process).
fn py_read(o: &Oracle, table: &Path) -> (Rows, Vec<Value>) {
    let (rows, files, _) = py_read_with_pending(o, table, false);
    (rows, files)
}

/// [`py_read`], and with `pending` the events of the pending files as the oracle reads them, in
/// replay order (see `--pending-out` in tools/oracle/pypaimon_oracle.py).
fn py_read_with_pending(o: &Oracle, table: &Path, pending: bool) -> (Rows, Vec<Value>, Vec<Value>) {
    let rows_path = table.with_extension("rows.json");
    let files_path = table.with_extension("files.json");
    let pending_path = table.with_extension("pending.json");
    let (t, r, f, p) = (
        table.to_str().unwrap(),
        rows_path.to_str().unwrap(),
        files_path.to_str().unwrap(),
        pending_path.to_str().unwrap(),
    );
    let mut args = vec!["read", "--table-dir", t, "--out", r, "--files-out", f];
    if pending {
        args.extend(["--pending-out", p]);
    }
    o.run(&o.py2, "pypaimon_oracle.py", &args);
    let rows = std::fs::read_to_string(&rows_path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            ((v["dt"].as_str().unwrap().to_string(), v["k"].as_i64().unwrap()), v["v"].as_str().unwrap().to_string())
        })
        .collect();
    let pending = if pending { json_lines(&pending_path) } else { vec![] };
    (rows, json_lines(&files_path), pending)
}

fn py_write(o: &Oracle, table: &Path, spec: &Value) {
    std::fs::create_dir_all(table.parent().unwrap()).unwrap();
    let path = table.with_extension("spec.json");
    std::fs::write(&path, spec.to_string()).unwrap();
    o.run(
        &o.py2,
        "pypaimon_oracle.py",
        &["write", "--table-dir", table.to_str().unwrap(), "--spec", path.to_str().unwrap()],
    );
}

/// Buckets per partition among pypaimon's live files (dt -> set of total_buckets).
fn py_total_buckets(files: &[Value]) -> BTreeMap<String, std::collections::BTreeSet<i64>> {
    let mut out: BTreeMap<String, std::collections::BTreeSet<i64>> = BTreeMap::new();
    for f in files {
        let dt = f["partition"][0].as_str().unwrap().to_string();
        out.entry(dt).or_default().insert(f["total_buckets"].as_i64().unwrap());
    }
    out
}

#[tokio::test]
async fn pypaimon_writes_shoal_compacts_pypaimon_reads() {
    let Some(o) = oracle() else { return };
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("wh/db.db/t");
    let extra = [("postpone.default-bucket-num", "3")];
    let first = commits(0);
    py_write(&o, &table, &spec(&first, &extra));
    let t = Table::open(table.to_str().unwrap()).await.unwrap();
    let three = BTreeMap::from([("a", 3), ("b", 3)]);
    // Nothing is visible before the compaction, as pypaimon's own read shows.
    assert!(shoal_rows(&t, &three).await.is_empty(), "pending rows are not read");
    let pending = t.new_scan().with_buckets(vec![-2]).plan().await.unwrap();
    assert_eq!(pending.splits.len(), 2, "each partition's pending files");
    assert!(pending.splits.iter().all(|s| s.total_buckets == -2 && s.bucket_path.ends_with("bucket-postpone")));

    let report = CompactJob::new(false).run(&t).await.unwrap();
    assert_eq!(report.files_before, pending.splits.iter().map(|s| s.files.len()).sum::<usize>());
    let want = model(&first);
    assert_eq!(shoal_rows(&t, &three).await, want, "shoal reads the compacted table");
    let (py_rows, py_files) = py_read(&o, &table);
    assert_eq!(py_rows, want, "pypaimon reads shoal's compaction");
    assert!(py_files.iter().all(|f| f["bucket"].as_i64().unwrap() >= 0), "no pending files left: {py_files:?}");
    assert!(py_total_buckets(&py_files).values().all(|s| s.len() == 1 && s.contains(&3)));

    // A new default: the partitions with real buckets keep their count; a new partition takes it.
    t.alter(&[SchemaChange::SetOption { key: "postpone.default-bucket-num".into(), value: "5".into() }]).await.unwrap();
    let mut second = commits(1);
    second[0].push(("c".into(), 42, "new partition".into(), RowKind::Insert));
    py_write(&o, &table, &spec(&second, &extra));
    let t = Table::open(table.to_str().unwrap()).await.unwrap();
    let buckets = BTreeMap::from([("a", 3), ("b", 3), ("c", 5)]);
    assert_eq!(shoal_rows(&t, &buckets).await, want, "the second round is pending");
    CompactJob::new(true).run(&t).await.unwrap();
    let all: Vec<Vec<Row>> = first.into_iter().chain(second).collect();
    let want = model(&all);
    assert_eq!(shoal_rows(&t, &buckets).await, want);
    let (py_rows, py_files) = py_read(&o, &table);
    assert_eq!(py_rows, want, "pypaimon reads the second compaction");
    let totals = py_total_buckets(&py_files);
    assert_eq!(totals["a"], [3].into(), "{totals:?}");
    assert_eq!(totals["c"], [5].into(), "{totals:?}");
}

#[tokio::test]
async fn shoal_writes_pypaimon_reads_then_shoal_compacts() {
    let Some(o) = oracle() else { return };
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("wh/db.db/t");
    // No default bucket number: the count is estimated from the pending rows (ceil(rows / 40)).
    let t = Table::create(table.to_str().unwrap(), definition(&[("postpone.target-row-num-per-bucket", "40")]))
        .await
        .unwrap();
    let all = commits(2);
    for rows in &all {
        shoal_commit(&t, rows).await;
    }
    let (py_rows, py_files, events) = py_read_with_pending(&o, &table, true);
    assert!(py_rows.is_empty(), "pypaimon sees no pending row either: {py_rows:?}");
    // The pending files hold every event as written, in arrival order per partition.
    for dt in ["a", "b"] {
        let written: Vec<(i64, String, i64)> =
            all.iter().flatten().filter(|r| r.0 == dt).map(|r| (r.1, r.2.clone(), r.3 as i8 as i64)).collect();
        let held: Vec<(i64, String, i64)> = events
            .iter()
            .filter(|e| e["partition"][0] == dt)
            .map(|e| {
                let r = &e["row"];
                assert_eq!(r["_KEY_k"], r["k"], "{r}");
                (r["k"].as_i64().unwrap(), r["v"].as_str().unwrap().to_string(), r["_VALUE_KIND"].as_i64().unwrap())
            })
            .collect();
        assert_eq!(held, written, "partition {dt}: the pending events in replay order");
    }
    assert_eq!(py_files.len(), 6, "a file per partition per commit: {py_files:?}");
    for f in &py_files {
        assert_eq!(
            (f["bucket"].as_i64(), f["total_buckets"].as_i64(), f["level"].as_i64()),
            (Some(-2), Some(-2), Some(0))
        );
        let name = f["file"].as_str().unwrap();
        assert!(name.starts_with("data--u-") && name.contains("-s-") && name.contains("-w-"), "{name}");
    }
    let partition_dir = table.join("dt=a/bucket-postpone");
    assert!(std::fs::read_dir(&partition_dir).unwrap().count() >= 3, "files in {}", partition_dir.display());
    let pending_rows: BTreeMap<String, i64> = py_files.iter().fold(BTreeMap::new(), |mut m, f| {
        *m.entry(f["partition"][0].as_str().unwrap().to_string()).or_default() += f["rows"].as_i64().unwrap();
        m
    });

    CompactJob::new(false).run(&t).await.unwrap();
    let count = |dt: &str| ((pending_rows[dt] - 1) / 40 + 1) as i32;
    let buckets = BTreeMap::from([("a", count("a")), ("b", count("b"))]);
    assert!(buckets["a"] >= 2, "the estimate gives partition a several buckets: {buckets:?}");
    let want = model(&all);
    assert_eq!(shoal_rows(&t, &buckets).await, want, "shoal reads its compaction");
    let (py_rows, py_files) = py_read(&o, &table);
    assert_eq!(py_rows, want, "pypaimon reads shoal's compaction");
    assert!(py_files.iter().all(|f| f["bucket"].as_i64().unwrap() >= 0), "no pending files left: {py_files:?}");
    let totals = py_total_buckets(&py_files);
    assert_eq!(totals["a"], [buckets["a"] as i64].into(), "{totals:?}");
}

#[tokio::test]
async fn shoal_alone_replays_pending_rows_in_arrival_order() {
    let dir = tempfile::tempdir().unwrap();
    let t =
        Table::create(dir.path().to_str().unwrap(), definition(&[("postpone.default-bucket-num", "2")])).await.unwrap();
    let all = commits(3);
    for rows in &all {
        shoal_commit(&t, rows).await;
    }
    // Two writers at once: no bucket state, no conflict.
    let mut w1 = t.new_write().await.unwrap();
    let mut w2 = t.new_write().await.unwrap();
    let one = |v: &str| {
        RecordBatch::try_new(
            t.arrow_schema(),
            vec![
                Arc::new(StringArray::from(vec!["a"])) as ArrayRef,
                Arc::new(Int64Array::from(vec![77])),
                Arc::new(StringArray::from(vec![v])),
            ],
        )
        .unwrap()
    };
    w1.write(&one("w1")).await.unwrap();
    w2.write(&one("w2")).await.unwrap();
    t.new_commit("u1").unwrap().commit(w1.prepare_commit().await.unwrap()).await.unwrap();
    t.new_commit("u2").unwrap().commit(w2.prepare_commit().await.unwrap()).await.unwrap();
    let buckets = BTreeMap::from([("a", 2), ("b", 2)]);
    assert!(shoal_rows(&t, &buckets).await.is_empty());
    let report = CompactJob::new(false).run(&t).await.unwrap();
    assert!(report.files_before >= 8, "{report:?}");
    let mut want = model(&all);
    want.insert(("a".into(), 77), "w2".into());
    assert_eq!(shoal_rows(&t, &buckets).await, want, "the later commit's event wins");
    // Nothing pending: a second run moves nothing and the rows stay.
    CompactJob::new(false).run(&t).await.unwrap();
    assert_eq!(shoal_rows(&t, &buckets).await, want);
    let pending = t.new_scan().with_buckets(vec![-2]).plan().await.unwrap();
    assert!(pending.splits.is_empty());
}

#[tokio::test]
async fn postpone_compaction_into_deletion_vector_buckets_is_read_by_pypaimon() {
    let Some(o) = oracle() else { return };
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("wh/db.db/t");
    let extra = [("postpone.default-bucket-num", "2"), ("deletion-vectors.enabled", "true")];
    let t = Table::create(table.to_str().unwrap(), definition(&extra)).await.unwrap();
    let buckets = BTreeMap::from([("a", 2), ("b", 2)]);
    let mut all = vec![];
    for round in [4, 5] {
        // The second round updates and deletes keys the first one compacted into real buckets:
        // the compaction marks their old rows in deletion vectors.
        for rows in commits(round) {
            shoal_commit(&t, &rows).await;
            all.push(rows);
        }
        CompactJob::new(false).run(&t).await.unwrap();
        let want = model(&all);
        assert_eq!(shoal_rows(&t, &buckets).await, want, "round {round}");
        let (py_rows, py_files) = py_read(&o, &table);
        assert_eq!(py_rows, want, "pypaimon reads round {round}");
        assert!(py_files.iter().all(|f| f["bucket"].as_i64().unwrap() >= 0 && f["level"].as_i64().unwrap() > 0));
    }
}
