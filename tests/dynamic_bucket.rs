//! Dynamic-bucket tables (`bucket = -1`, Paimon's default for primary-key tables): shoal assigns
//! each key the bucket Paimon's HashBucketAssigner gives it, keeps Paimon's hash index files,
//! and continues tables Java wrote (and Java shoal's), judged by Java Paimon 0.9.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::RecordBatch;
use common::oracle::oracle;
use futures::TryStreamExt;
use serde_json::Value;
use shoal::spec::{parse_type, RowKind};
use shoal::table::TableDefinition;
use shoal::{Error, Table};

use common::dt_kv::Row;

/// (dt, k) -> (bucket, v)
type Placed = BTreeMap<(String, i64), (i32, String)>;

fn definition(extra: &[(&str, &str)]) -> TableDefinition {
    common::dt_kv::definition("-1", extra)
}

/// Commits of (dt, k, v, kind): new keys, updates of old ones and deletes, over two partitions.
fn commits() -> Vec<Vec<Row>> {
    let mut out = vec![];
    for c in 0..4i64 {
        let mut rows = vec![];
        for i in 0..40i64 {
            let dt = if i % 3 == 0 { "b" } else { "a" };
            let k = (c * 29 + i * 7) % 120;
            rows.push((dt.to_string(), k, format!("c{c}i{i}"), RowKind::Insert));
        }
        if c == 2 {
            rows.push(("a".into(), 7, "gone".into(), RowKind::Delete));
        }
        out.push(rows);
    }
    out
}

fn spec(commits: &[Vec<Row>], extra: &[(&str, &str)]) -> Value {
    common::dt_kv::spec("-1", commits, extra)
}

async fn shoal_commit(t: &Table, rows: &[Row]) {
    let batch = common::dt_kv::batch(t, rows);
    let kinds: Vec<RowKind> = rows.iter().map(|r| r.3).collect();
    let mut w = t.new_write().await.unwrap();
    w.write_with_kinds(&batch, Some(&kinds)).await.unwrap();
    let user = uuid::Uuid::new_v4().to_string();
    t.new_commit(&user).unwrap().commit(w.prepare_commit().await.unwrap()).await.unwrap();
}

/// Every live row with the bucket it is in (a key in two buckets fails the test).
async fn placed(t: &Table) -> Placed {
    let mut out = Placed::new();
    for split in t.new_scan().plan().await.unwrap().splits {
        let bucket = split.bucket;
        let batches: Vec<RecordBatch> =
            shoal::read::read_splits(t.new_read(None).unwrap(), vec![split], 1).try_collect().await.unwrap();
        for b in batches {
            let (dt, k, v) = (
                b.column(0).as_string::<i32>(),
                b.column(1).as_primitive::<arrow_array::types::Int64Type>(),
                b.column(2).as_string::<i32>(),
            );
            for i in 0..b.num_rows() {
                let prev = out.insert((dt.value(i).to_string(), k.value(i)), (bucket, v.value(i).to_string()));
                assert!(prev.is_none(), "key ({}, {}) is in two buckets", dt.value(i), k.value(i));
            }
        }
    }
    out
}

fn java_write_dynamic(o: &common::oracle::Oracle, table: &Path, spec: &Value) -> Vec<Vec<i32>> {
    std::fs::create_dir_all(table.parent().unwrap()).unwrap();
    let path = table.with_extension("spec.json");
    std::fs::write(&path, spec.to_string()).unwrap();
    let out = o.java(&["write-dynamic", "--table-dir", table.to_str().unwrap(), "--spec", path.to_str().unwrap()]);
    out.lines().filter(|l| l.starts_with('[')).map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Java's rows as (dt, k) -> v.
fn java_rows(o: &common::oracle::Oracle, table: &Path) -> BTreeMap<(String, i64), String> {
    o.java_read(table, None)
        .iter()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            ((v["dt"].as_str().unwrap().to_string(), v["k"].as_i64().unwrap()), v["v"].as_str().unwrap().to_string())
        })
        .collect()
}

fn values(p: &Placed) -> BTreeMap<(String, i64), String> {
    p.iter().map(|(k, (_, v))| (k.clone(), v.clone())).collect()
}

#[tokio::test]
async fn shoal_places_every_key_where_paimons_assigner_does() {
    let Some(o) = oracle() else { return };
    let dir = tempfile::tempdir().unwrap();
    let extra = [("dynamic-bucket.target-row-num", "25")];
    let java = dir.path().join("wh/db.db/java");
    java_write_dynamic(&o, &java, &spec(&commits(), &extra));
    let mine = dir.path().join("wh/db.db/shoal");
    let t = Table::create(mine.to_str().unwrap(), definition(&extra)).await.unwrap();
    for rows in commits() {
        shoal_commit(&t, &rows).await;
    }
    let java_placed = placed(&Table::open(java.to_str().unwrap()).await.unwrap()).await;
    let shoal_placed = placed(&t).await;
    assert!(java_placed.values().map(|(b, _)| *b).max().unwrap() >= 2, "the test fills several buckets");
    assert_eq!(shoal_placed, java_placed, "same keys in the same buckets with the same values");
    assert_eq!(values(&shoal_placed), java_rows(&o, &mine), "Java reads shoal's table");
}

#[tokio::test]
async fn java_and_shoal_take_turns_on_one_dynamic_bucket_table() {
    let Some(o) = oracle() else { return };
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("wh/db.db/t");
    let extra = [("dynamic-bucket.target-row-num", "20"), ("deletion-vectors.enabled", "true")];
    let all = commits();
    java_write_dynamic(&o, &table, &spec(&all[..2], &extra));
    let t = Table::open(table.to_str().unwrap()).await.unwrap();
    assert_eq!(values(&placed(&t).await), java_rows(&o, &table));
    shoal_commit(&t, &all[2]).await;
    let after_shoal = placed(&t).await;
    assert_eq!(values(&after_shoal), java_rows(&o, &table), "Java reads shoal's continuation");
    // Java continues from shoal's hash index: updates land in the buckets shoal chose.
    let buckets = java_write_dynamic(&o, &table, &spec(&all[3..], &extra));
    for ((dt, k, _, _), b) in all[3].iter().zip(&buckets[0]) {
        if let Some((placed_bucket, _)) = after_shoal.get(&(dt.clone(), *k)) {
            assert_eq!(placed_bucket, b, "Java put ({dt}, {k}) where shoal's index has it");
        }
    }
    let t = Table::open(table.to_str().unwrap()).await.unwrap();
    assert_eq!(values(&placed(&t).await), java_rows(&o, &table));
    // A compaction keeps every key in its bucket and the index files as they are.
    shoal::maintenance::compact::CompactJob::new(true).run(&t).await.unwrap();
    assert_eq!(values(&placed(&t).await), java_rows(&o, &table));
}

#[tokio::test]
async fn two_writers_on_one_partition_conflict_and_on_two_partitions_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let t = Table::create(dir.path().to_str().unwrap(), definition(&[])).await.unwrap();
    let row = |dt: &str, k: i64| vec![(dt.to_string(), k, "x".to_string(), RowKind::Insert)];
    shoal_commit(&t, &row("a", 1)).await;
    let batch = |rows: Vec<Row>| common::dt_kv::batch(&t, &rows);
    let mut w1 = t.new_write().await.unwrap();
    let mut w2 = t.new_write().await.unwrap();
    w1.write(&batch(row("a", 2))).await.unwrap();
    w2.write(&batch(row("a", 3))).await.unwrap();
    t.new_commit("u1").unwrap().commit(w1.prepare_commit().await.unwrap()).await.unwrap();
    let e = t.new_commit("u2").unwrap().commit(w2.prepare_commit().await.unwrap()).await.unwrap_err();
    assert!(matches!(e, Error::CommitConflict(_)) && e.to_string().contains("one writer per partition"), "{e}");

    let mut w1 = t.new_write().await.unwrap();
    let mut w2 = t.new_write().await.unwrap();
    w1.write(&batch(row("a", 4))).await.unwrap();
    w2.write(&batch(row("b", 4))).await.unwrap();
    t.new_commit("u1").unwrap().commit(w1.prepare_commit().await.unwrap()).await.unwrap();
    t.new_commit("u2").unwrap().commit(w2.prepare_commit().await.unwrap()).await.unwrap();
    let keys: Vec<(String, i64)> = placed(&t).await.into_keys().collect();
    assert_eq!(keys, vec![("a".into(), 1), ("a".into(), 2), ("a".into(), 4), ("b".into(), 4)]);
}

#[tokio::test]
async fn dynamic_bucket_limits_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let cross = TableDefinition::default()
        .column("dt", parse_type("STRING").unwrap())
        .column("k", parse_type("BIGINT").unwrap())
        .primary_key(&["k"])
        .partition_key(&["dt"])
        .option("bucket", "4");
    let e = Table::create(dir.path().join("cross").to_str().unwrap(), cross).await.unwrap_err().to_string();
    assert!(e.contains("needs bucket = -1: cross-partition upsert"), "{e}");
    let e = Table::create(dir.path().join("bk").to_str().unwrap(), definition(&[("bucket-key", "k")]))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("bucket-key"), "{e}");
}

#[tokio::test]
async fn an_overwrite_replaces_a_partitions_hash_index_with_its_rows() {
    let Some(o) = oracle() else { return };
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("wh/db.db/t");
    let t =
        Table::create(table.to_str().unwrap(), definition(&[("dynamic-bucket.target-row-num", "10")])).await.unwrap();
    let rows = |dt: &str, keys: std::ops::Range<i64>, v: &str| -> Vec<Row> {
        keys.map(|k| (dt.to_string(), k, v.to_string(), RowKind::Insert)).collect()
    };
    shoal_commit(&t, &rows("a", 0..35, "old")).await;
    shoal_commit(&t, &rows("b", 0..5, "old")).await;
    // Dynamic overwrite of partition a with fewer keys: a's buckets start over.
    let new_a = rows("a", 20..35, "new");
    let batch = common::dt_kv::batch(&t, &new_a);
    let mut ow = t.new_overwrite().start().await.unwrap();
    ow.write(&batch).await.unwrap();
    ow.commit().await.unwrap();
    let after = placed(&t).await;
    let a_buckets: std::collections::BTreeSet<i32> =
        after.iter().filter(|((dt, _), _)| dt == "a").map(|(_, (b, _))| *b).collect();
    assert_eq!(a_buckets, [0, 1].into_iter().collect(), "15 keys over two buckets of a fresh index");
    assert_eq!(after.keys().filter(|(dt, _)| dt == "a").count(), 15);
    // Later writes continue from the new index (no key in two buckets), and Java agrees.
    // Keys 30..35 sit in bucket 1: a writer without the overwrite's index would put them in 0.
    shoal_commit(&t, &rows("a", 30..40, "later")).await;
    assert_eq!(values(&placed(&t).await), java_rows(&o, &table));
    java_write_dynamic(&o, &table, &spec(&[rows("a", 0..3, "java")], &[("dynamic-bucket.target-row-num", "10")]));
    assert_eq!(values(&placed(&t).await), java_rows(&o, &table));
}
