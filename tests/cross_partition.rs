//! Cross-partition upsert tables (`bucket = -1`, a primary key without the partition column:
//! Paimon's CROSS_PARTITION bucket mode): keys move between partitions across commits and
//! within one, and each key is found once, where the merge engine's rule puts it. Judged by a
//! model and by Java Paimon 0.9 reading shoal's tables (the oracle's Java writer cannot write
//! such tables: Paimon's `GlobalIndexAssigner` only runs inside its Flink and Spark sinks).

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, Int64Array, RecordBatch, StringArray};
use common::oracle::oracle;
use futures::TryStreamExt;
use serde_json::Value;
use shoal::spec::{parse_type, RowKind};
use shoal::table::TableDefinition;
use shoal::write::TableWrite;
use shoal::Table;

/// (dt, k, v, w, kind)
type Row = (String, i64, Option<String>, Option<String>, RowKind);
/// (dt, v, w)
type Values = (String, Option<String>, Option<String>);
/// k -> (dt, v, w)
type Model = BTreeMap<i64, Values>;
/// k -> ((dt, v, w), bucket)
type Placed = BTreeMap<i64, (Values, i32)>;

fn definition(extra: &[(&str, &str)]) -> TableDefinition {
    let mut d = TableDefinition::default()
        .column("dt", parse_type("STRING").unwrap())
        .column("k", parse_type("BIGINT").unwrap())
        .column("v", parse_type("STRING").unwrap())
        .column("w", parse_type("STRING").unwrap())
        .primary_key(&["k"])
        .partition_key(&["dt"])
        .option("bucket", "-1")
        .option("dynamic-bucket.target-row-num", "6");
    for (k, v) in extra {
        d = d.option(k, v);
    }
    d
}

/// Commits of rows over three partitions: new keys, keys moving to another partition (some
/// twice in one commit), updates in place and, `with_deletes`, deletes (some naming another
/// partition than the key's).
fn commits(with_deletes: bool, partial: bool) -> Vec<Vec<Row>> {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let mut out = vec![];
    for c in 0..6 {
        let mut rows = vec![];
        for i in 0..50 {
            let dt = ["a", "b", "c"][next(3) as usize].to_string();
            let k = next(60) as i64;
            let kind = if with_deletes && next(10) == 0 { RowKind::Delete } else { RowKind::Insert };
            let (v, w) = match (partial, next(3)) {
                (true, 0) => (Some(format!("v{c}.{i}")), None),
                (true, 1) => (None, Some(format!("w{c}.{i}"))),
                _ => (Some(format!("v{c}.{i}")), Some(format!("w{c}.{i}"))),
            };
            rows.push((dt, k, v, w, kind));
        }
        out.push(rows);
    }
    out
}

fn batch(t: &Table, rows: &[Row]) -> RecordBatch {
    RecordBatch::try_new(
        t.arrow_schema(),
        vec![
            Arc::new(StringArray::from(rows.iter().map(|r| r.0.clone()).collect::<Vec<_>>())) as ArrayRef,
            Arc::new(Int64Array::from(rows.iter().map(|r| r.1).collect::<Vec<_>>())),
            Arc::new(StringArray::from(rows.iter().map(|r| r.2.clone()).collect::<Vec<_>>())),
            Arc::new(StringArray::from(rows.iter().map(|r| r.3.clone()).collect::<Vec<_>>())),
        ],
    )
    .unwrap()
}

async fn commit_with(t: &Table, w: &mut TableWrite, rows: &[Row]) {
    let kinds: Vec<RowKind> = rows.iter().map(|r| r.4).collect();
    w.write_with_kinds(&batch(t, rows), Some(&kinds)).await.unwrap();
    let user = uuid::Uuid::new_v4().to_string();
    t.new_commit(&user).unwrap().commit(w.prepare_commit().await.unwrap()).await.unwrap();
}

/// Writes the commits: the first three with one writer that lives across them, each later one
/// with a new writer, which bootstraps its index from the table.
async fn write_all(t: &Table, commits: &[Vec<Row>]) {
    let mut w = t.new_write().await.unwrap();
    for rows in &commits[..3] {
        commit_with(t, &mut w, rows).await;
    }
    for rows in &commits[3..] {
        let mut w = t.new_write().await.unwrap();
        commit_with(t, &mut w, rows).await;
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Engine {
    Deduplicate,
    PartialUpdate,
    FirstRow,
}

/// What each engine's cross-partition rule leaves: deduplicate, the key's latest row in its
/// latest partition; partial-update, the key in its first partition with its columns updated
/// by non-null values; first-row, the key's first row.
fn model(engine: Engine, commits: &[Vec<Row>]) -> Model {
    let mut m = Model::new();
    for (dt, k, v, w, kind) in commits.iter().flatten().cloned() {
        match (engine, kind, m.get_mut(&k)) {
            (Engine::Deduplicate, RowKind::Delete, _) => {
                m.remove(&k);
            }
            (Engine::Deduplicate, _, _) | (_, _, None) => {
                m.insert(k, (dt, v, w));
            }
            (Engine::PartialUpdate, _, Some(old)) => {
                old.1 = v.or(old.1.take());
                old.2 = w.or(old.2.take());
            }
            (Engine::FirstRow, _, Some(_)) => {}
        }
    }
    m
}

/// Every live row by key, with its bucket; a key found twice fails the test.
async fn placed(t: &Table) -> Placed {
    let mut out = BTreeMap::new();
    for split in t.new_scan().plan().await.unwrap().splits {
        let bucket = split.bucket;
        let batches: Vec<RecordBatch> =
            shoal::read::read_splits(t.new_read(None).unwrap(), vec![split], 1).try_collect().await.unwrap();
        for b in batches {
            let (dt, k, v, w) = (
                b.column(0).as_string::<i32>(),
                b.column(1).as_primitive::<arrow_array::types::Int64Type>(),
                b.column(2).as_string::<i32>(),
                b.column(3).as_string::<i32>(),
            );
            for i in 0..b.num_rows() {
                let opt = |a: &arrow_array::StringArray| (!a.is_null(i)).then(|| a.value(i).to_string());
                let row = (dt.value(i).to_string(), opt(v), opt(w));
                let prev = out.insert(k.value(i), (row.clone(), bucket));
                assert!(prev.is_none(), "key {} is in two places: {prev:?} and {row:?}", k.value(i));
            }
        }
    }
    out
}

fn values(p: &Placed) -> Model {
    p.iter().map(|(k, (row, _))| (*k, row.clone())).collect()
}

fn java_rows(o: &common::oracle::Oracle, table: &Path) -> Model {
    o.java_read(table, None)
        .iter()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let s = |f: &str| v[f].as_str().map(str::to_string);
            (v["k"].as_i64().unwrap(), (s("dt").unwrap(), s("v"), s("w")))
        })
        .collect()
}

async fn run(engine: Engine, extra: &[(&str, &str)]) {
    let o = oracle();
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("wh/db.db/t");
    let t = Table::create(table.to_str().unwrap(), definition(extra)).await.unwrap();
    let all = commits(engine == Engine::Deduplicate, engine == Engine::PartialUpdate);
    let want = model(engine, &all);
    let first = model(engine, &all[..1]);
    assert!(
        want.iter().any(|(k, (dt, _, _))| first.get(k).is_some_and(|f| &f.0 != dt)) || engine != Engine::Deduplicate,
        "the test moves keys between partitions"
    );
    write_all(&t, &all).await;
    let got = placed(&t).await;
    assert!(got.values().map(|(_, b)| *b).max().unwrap() >= 2, "the test fills several buckets of a partition");
    assert_eq!(values(&got), want, "shoal reads each key once, where the engine's rule puts it");
    if let Some(o) = &o {
        assert_eq!(java_rows(o, &table), want, "Java reads shoal's table");
    }
    // A full compaction keeps every key where it is.
    shoal::maintenance::compact::CompactJob::new(true).run(&t).await.unwrap();
    let after = placed(&t).await;
    assert_eq!(after, got, "compaction moves no key");
    // And a writer started on the compacted table goes on from its index.
    let more: Vec<Row> = (0..20)
        .map(|i| {
            (["c", "a"][i % 2].to_string(), i as i64 * 3, Some(format!("late{i}")), Some("z".into()), RowKind::Insert)
        })
        .collect();
    let mut w = t.new_write().await.unwrap();
    commit_with(&t, &mut w, &more).await;
    let mut all = all;
    all.push(more);
    let want = model(engine, &all);
    assert_eq!(values(&placed(&t).await), want, "a later writer continues from the index it bootstrapped");
    if let Some(o) = &o {
        assert_eq!(java_rows(o, &table), want, "Java reads shoal's continued table");
    }
}

#[tokio::test]
async fn deduplicate_moves_keys_to_their_latest_partition() {
    run(Engine::Deduplicate, &[]).await;
}

#[tokio::test]
async fn deduplicate_moves_keys_with_deletion_vectors() {
    run(Engine::Deduplicate, &[("deletion-vectors.enabled", "true")]).await;
}

#[tokio::test]
async fn partial_update_keeps_keys_in_their_first_partition() {
    run(Engine::PartialUpdate, &[("merge-engine", "partial-update")]).await;
}

#[tokio::test]
async fn first_row_drops_rows_of_keys_in_another_partition() {
    run(Engine::FirstRow, &[("merge-engine", "first-row")]).await;
}

/// Java 0.9 cannot write a cross-partition table the way its jobs do here (Paimon's
/// `GlobalIndexAssigner` runs inside its Flink and Spark sinks and keeps its index in RocksDB,
/// which the bridge jar lacks). Java's own writer with buckets from Paimon's `HashBucketAssigner`
/// writes a valid one in one commit while each key stays in one partition: shoal bootstraps its index from
/// that table, moves keys across partitions, and Java reads the result.
#[tokio::test]
async fn shoal_continues_a_cross_partition_table_java_wrote() {
    let Some(o) = oracle() else { return };
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("wh/db.db/t");
    // One commit (updates included): without hash index files in this mode, a later Java
    // commit's HashBucketAssigner would not know where the keys are.
    let java_commits: Vec<Vec<Row>> = vec![(0..80i64)
        .map(|i| {
            let k = (i * 7) % 45;
            let dt = ["a", "b", "c"][(k % 3) as usize].to_string();
            (dt, k, Some(format!("j{i}")), Some("java".to_string()), RowKind::Insert)
        })
        .collect()];
    let spec = serde_json::json!({
        "fields": [{"name": "dt", "type": "STRING"}, {"name": "k", "type": "BIGINT"},
                   {"name": "v", "type": "STRING"}, {"name": "w", "type": "STRING"}],
        "primary_keys": ["k"],
        "partition_keys": ["dt"],
        "options": {"bucket": "-1", "dynamic-bucket.target-row-num": "6"},
        "commits": java_commits.iter().map(|rows| serde_json::json!({"rows": rows.iter().map(|(dt, k, v, w, kind)| {
            serde_json::json!({"dt": dt, "k": k, "v": v, "w": w, "_row_kind": kind.short_string()})
        }).collect::<Vec<_>>()})).collect::<Vec<_>>(),
    });
    std::fs::create_dir_all(table.parent().unwrap()).unwrap();
    let spec_path = table.with_extension("spec.json");
    std::fs::write(&spec_path, spec.to_string()).unwrap();
    o.java(&["write-dynamic", "--table-dir", table.to_str().unwrap(), "--spec", spec_path.to_str().unwrap()]);
    let t = Table::open(table.to_str().unwrap()).await.unwrap();
    let java_placed = placed(&t).await;
    assert!(java_placed.values().map(|(_, b)| *b).max().unwrap() >= 2, "Java filled several buckets");
    assert_eq!(values(&java_placed), model(Engine::Deduplicate, &java_commits), "shoal reads Java's table");
    let mine = commits(true, false);
    for rows in &mine[..3] {
        let mut w = t.new_write().await.unwrap();
        commit_with(&t, &mut w, rows).await;
    }
    let mut all = java_commits;
    all.extend(mine[..3].iter().cloned());
    let want = model(Engine::Deduplicate, &all);
    assert_eq!(values(&placed(&t).await), want, "shoal moved Java's keys where the model has them");
    assert_eq!(java_rows(&o, &table), want, "Java reads the table shoal continued");
}

#[tokio::test]
async fn cross_partition_limits_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let e = Table::create(dir.path().join("seq").to_str().unwrap(), definition(&[("sequence.field", "v")]))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot have a sequence field"), "{e}");
    let t = Table::create(dir.path().join("t").to_str().unwrap(), definition(&[])).await.unwrap();
    let e = t.new_overwrite().start().await.err().unwrap().to_string();
    assert!(e.contains("cross-partition upsert"), "{e}");
}

#[tokio::test]
async fn a_key_moving_twice_in_one_batch_ends_in_its_last_partition() {
    let dir = tempfile::tempdir().unwrap();
    let t = Table::create(dir.path().to_str().unwrap(), definition(&[])).await.unwrap();
    let row = |dt: &str, k: i64, v: &str| (dt.to_string(), k, Some(v.to_string()), None, RowKind::Insert);
    let rows = vec![row("a", 1, "x"), row("b", 1, "y"), row("a", 1, "z"), row("c", 2, "q"), row("c", 2, "r")];
    let mut w = t.new_write().await.unwrap();
    commit_with(&t, &mut w, &rows).await;
    let got = values(&placed(&t).await);
    let want = Model::from([(1, ("a".into(), Some("z".into()), None)), (2, ("c".into(), Some("r".into()), None))]);
    assert_eq!(got, want);
    // Partition b holds the DELETE of key 1, carrying the row's values: nothing to read there.
    let b_files: usize = t
        .new_scan()
        .plan()
        .await
        .unwrap()
        .splits
        .iter()
        .filter(|s| s.bucket_path.starts_with("dt=b/"))
        .map(|s| s.files.len())
        .sum();
    assert_eq!(b_files, 1, "the key's stay in b left a file there");
}
