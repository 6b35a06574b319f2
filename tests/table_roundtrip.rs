//! End-to-end: create, write (+I/-U/+U/-D), commit, read back at every snapshot, compared with an
//! in-memory model. Includes a model-based (proptest) test over random operation sequences.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type};
use arrow_array::{ArrayRef, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray};
use proptest::prelude::*;
use shoal::spec::{parse_type, RowKind};
use shoal::table::TableDefinition;
use shoal::Table;

type Model = BTreeMap<i64, (String, f64)>;

fn def(buckets: u32, extra: &[(&str, &str)]) -> TableDefinition {
    let mut d = TableDefinition::default()
        .column("id", parse_type("BIGINT").unwrap())
        .column("name", parse_type("STRING").unwrap())
        .column("v", parse_type("DOUBLE").unwrap())
        .primary_key(&["id"])
        .option("bucket", &buckets.to_string());
    for (k, v) in extra {
        d = d.option(k, v);
    }
    d
}

fn batch(table: &Table, rows: &[(i64, String, f64)]) -> RecordBatch {
    RecordBatch::try_new(
        table.arrow_schema(),
        vec![
            Arc::new(Int64Array::from(rows.iter().map(|r| r.0).collect::<Vec<_>>())) as ArrayRef,
            Arc::new(StringArray::from(rows.iter().map(|r| r.1.clone()).collect::<Vec<_>>())),
            Arc::new(Float64Array::from(rows.iter().map(|r| r.2).collect::<Vec<_>>())),
        ],
    )
    .unwrap()
}

async fn read_model(table: &Table, snapshot: Option<i64>) -> Model {
    let b = table.read_all(snapshot, None).await.unwrap();
    let ids = b.column(0).as_primitive::<Int64Type>();
    let names = b.column(1).as_string::<i32>();
    let vs = b.column(2).as_primitive::<Float64Type>();
    let mut m = Model::new();
    for i in 0..b.num_rows() {
        assert!(
            m.insert(ids.value(i), (names.value(i).to_string(), vs.value(i))).is_none(),
            "key {} read twice",
            ids.value(i)
        );
    }
    m
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upserts_deletes_and_time_travel() {
    let dir = tmp();
    let loc = dir.path().join("t").to_string_lossy().to_string();
    let table = Table::create(&loc, def(3, &[])).await.unwrap();
    let mut model = Model::new();

    let mut w = table.new_write().await.unwrap();
    let rows: Vec<_> = (0..1000).map(|i| (i, format!("name-{i}"), i as f64)).collect();
    w.write(&batch(&table, &rows)).await.unwrap();
    for r in &rows {
        model.insert(r.0, (r.1.clone(), r.2));
    }
    let commit = table.new_commit("test-user").unwrap();
    let s1 = commit.commit(w.prepare_commit().await.unwrap()).await.unwrap().snapshot_id().unwrap();
    assert_eq!(s1, 1);
    let after_1 = model.clone();

    // Updates as -U/+U pairs, deletes, and re-inserts of the same key in one batch.
    let mut rows = vec![];
    let mut kinds = vec![];
    for i in (0..1000).step_by(3) {
        rows.push((i, format!("name-{i}"), i as f64));
        kinds.push(RowKind::UpdateBefore);
        rows.push((i, format!("updated-{i}"), -(i as f64)));
        kinds.push(RowKind::UpdateAfter);
        model.insert(i, (format!("updated-{i}"), -(i as f64)));
    }
    for i in (1..1000).step_by(7) {
        rows.push((i, String::new(), 0.0));
        kinds.push(RowKind::Delete);
        model.remove(&i);
    }
    rows.push((5000, "late".into(), 1.0));
    kinds.push(RowKind::Insert);
    rows.push((5000, "later".into(), 2.0));
    kinds.push(RowKind::Insert);
    model.insert(5000, ("later".into(), 2.0));
    let mut w = table.new_write().await.unwrap(); // a new writer: sequence numbers must continue
    w.write_with_kinds(&batch(&table, &rows), Some(&kinds)).await.unwrap();
    let commit = table.new_commit("test-user-2").unwrap();
    let s2 = commit.commit(w.prepare_commit().await.unwrap()).await.unwrap().snapshot_id().unwrap();
    assert_eq!(s2, 2);

    assert_eq!(read_model(&table, None).await, model);
    assert_eq!(read_model(&table, Some(1)).await, after_1);
    let snap = table.latest_snapshot().await.unwrap().unwrap();
    assert_eq!(snap.commit_user, "test-user-2");
    // Reopening the table reads the same.
    let reopened = Table::open(&loc).await.unwrap();
    assert_eq!(read_model(&reopened, None).await, model);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_commit_identifier() {
    let dir = tmp();
    let table = Table::create(dir.path().to_str().unwrap(), def(2, &[])).await.unwrap();
    let commit = table.new_commit("stream-job").unwrap();
    let mut w = table.new_write().await.unwrap();
    w.write(&batch(&table, &[(1, "a".into(), 1.0)])).await.unwrap();
    let msgs = w.prepare_commit().await.unwrap();
    assert_eq!(commit.commit_with_identifier(7, msgs.clone()).await.unwrap().snapshot_id(), Some(1));
    // Replaying checkpoint 7 (say after a crash before acknowledging) commits nothing.
    assert_eq!(commit.commit_with_identifier(7, msgs).await.unwrap(), shoal::commit::CommitOutcome::AlreadyCommitted);
    assert_eq!(table.snapshots().snapshot_ids().await.unwrap(), vec![1]);
}

/// 20 rounds of 300 upserts over 500 keys into a 16 kb buffer; returns the level-0 files the
/// commit added, after checking the merged read against the model.
async fn tiny_write_buffer(options: &[(&str, &str)]) -> usize {
    let dir = tmp();
    let mut options = options.to_vec();
    options.push(("write-buffer-size", "16 kb"));
    let table = Table::create(dir.path().to_str().unwrap(), def(2, &options)).await.unwrap();
    let mut w = table.new_write().await.unwrap();
    let mut model = Model::new();
    for round in 0..20 {
        let rows: Vec<_> = (0..300).map(|i| ((i * 7 + round) % 500, format!("r{round}-{i}"), round as f64)).collect();
        for r in &rows {
            model.insert(r.0, (r.1.clone(), r.2));
        }
        w.write(&batch(&table, &rows)).await.unwrap();
    }
    let msgs = w.prepare_commit().await.unwrap();
    let files: usize = msgs.iter().map(|m| m.new_files.len()).sum();
    table.new_commit("u").unwrap().commit(msgs).await.unwrap();
    assert_eq!(read_model(&table, None).await, model);
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiny_write_buffer_spills_many_files_and_reads_merged() {
    let files = tiny_write_buffer(&[("write-buffer-spillable", "false")]).await;
    assert!(files > 10, "a 16 kb buffer should have flushed many files, got {files}");
}

/// With `write-buffer-spillable`, full buffers go to local disk as sorted runs (merging many
/// into one when `local-sort.max-num-file-handles` is reached), and the commit merges them into
/// one level-0 file per bucket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spilled_runs_merge_into_one_level0_file_per_bucket() {
    let files =
        tiny_write_buffer(&[("write-buffer-spillable", "true"), ("local-sort.max-num-file-handles", "4")]).await;
    assert_eq!(files, 2, "one level-0 file per bucket");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitioned_and_append_tables() {
    let dir = tmp();
    let loc = dir.path().join("p").to_string_lossy().to_string();
    let d = TableDefinition::default()
        .column("dt", parse_type("STRING").unwrap())
        .column("id", parse_type("INT").unwrap())
        .column("v", parse_type("BIGINT").unwrap())
        .partition_key(&["dt"])
        .primary_key(&["dt", "id"])
        .option("bucket", "2");
    let table = Table::create(&loc, d).await.unwrap();
    let mk = |dts: Vec<Option<&str>>, ids: Vec<i32>, vs: Vec<i64>| {
        RecordBatch::try_new(
            table.arrow_schema(),
            vec![
                Arc::new(StringArray::from(dts)) as ArrayRef,
                Arc::new(Int32Array::from(ids)),
                Arc::new(Int64Array::from(vs)),
            ],
        )
    };
    // A null in a primary-key column is refused with the column's name.
    let e = mk(vec![None], vec![1], vec![1]).map(|_| ()).err();
    assert!(e.is_some(), "arrow itself refuses a null in a non-nullable field");
    let mut w = table.new_write().await.unwrap();
    w.write(
        &mk(vec![Some("2024-01-01"), Some("2024-01-02"), Some("2024-01-01")], vec![1, 1, 2], vec![10, 20, 30]).unwrap(),
    )
    .await
    .unwrap();
    table.new_commit("u").unwrap().commit(w.prepare_commit().await.unwrap()).await.unwrap();
    assert!(
        dir.path().join("p/dt=2024-01-01/bucket-0").exists() || dir.path().join("p/dt=2024-01-01/bucket-1").exists()
    );
    let b = table.read_all(None, Some(vec![1, 2])).await.unwrap();
    let mut got: Vec<(i32, i64)> = (0..b.num_rows())
        .map(|i| (b.column(0).as_primitive::<Int32Type>().value(i), b.column(1).as_primitive::<Int64Type>().value(i)))
        .collect();
    got.sort();
    assert_eq!(got, vec![(1, 10), (1, 20), (2, 30)]);

    // Append table: no key, every row kept, in bucket-0.
    let aloc = dir.path().join("a").to_string_lossy().to_string();
    let ad =
        TableDefinition::default().column("x", parse_type("INT").unwrap()).column("s", parse_type("STRING").unwrap());
    let at = Table::create(&aloc, ad).await.unwrap();
    let mut w = at.new_write().await.unwrap();
    let ab = RecordBatch::try_new(
        at.arrow_schema(),
        vec![Arc::new(Int32Array::from(vec![1, 1, 2])) as ArrayRef, Arc::new(StringArray::from(vec!["a", "a", "b"]))],
    )
    .unwrap();
    w.write(&ab).await.unwrap();
    at.new_commit("u").unwrap().commit(w.prepare_commit().await.unwrap()).await.unwrap();
    w.write(&ab).await.unwrap();
    at.new_commit("u2").unwrap().commit(w.prepare_commit().await.unwrap()).await.unwrap();
    assert_eq!(at.read_all(None, None).await.unwrap().num_rows(), 6);
    assert!(dir.path().join("a/bucket-0").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_and_nothing_committed_changes() {
    let dir = tmp();
    let loc = dir.path().to_str().unwrap().to_string();
    let table = Table::create(&loc, def(2, &[])).await.unwrap();
    // A second create at the same place is refused.
    assert!(matches!(Table::create(&loc, def(2, &[])).await, Err(shoal::Error::TableExists(_))));
    let mut w = table.new_write().await.unwrap();
    w.write(&batch(&table, &[(1, "a".into(), 1.0)])).await.unwrap();
    table.new_commit("u").unwrap().commit(w.prepare_commit().await.unwrap()).await.unwrap();

    // Wrong columns.
    let wrong = RecordBatch::try_new(
        Arc::new(arrow_schema::Schema::new(vec![arrow_schema::Field::new("id", arrow_schema::DataType::Int64, false)])),
        vec![Arc::new(Int64Array::from(vec![1])) as ArrayRef],
    )
    .unwrap();
    let e = w.write(&wrong).await.unwrap_err().to_string();
    assert!(e.contains("do not match the table's columns"), "{e}");
    // Wrong type that cannot be converted.
    let wrong = RecordBatch::try_new(
        Arc::new(arrow_schema::Schema::new(vec![
            arrow_schema::Field::new("id", arrow_schema::DataType::Int64, false),
            arrow_schema::Field::new("name", arrow_schema::DataType::Utf8, true),
            arrow_schema::Field::new("v", arrow_schema::DataType::Utf8, true),
        ])),
        vec![
            Arc::new(Int64Array::from(vec![1])) as ArrayRef,
            Arc::new(StringArray::from(vec!["x"])),
            Arc::new(StringArray::from(vec!["not a number"])),
        ],
    )
    .unwrap();
    let e = w.write(&wrong).await.unwrap_err().to_string();
    assert!(e.contains("column \"v\""), "{e}");
    // A null primary key in a batch whose Arrow schema allows nulls.
    let nullable = RecordBatch::try_new(
        Arc::new(arrow_schema::Schema::new(vec![
            arrow_schema::Field::new("id", arrow_schema::DataType::Int64, true),
            arrow_schema::Field::new("name", arrow_schema::DataType::Utf8, true),
            arrow_schema::Field::new("v", arrow_schema::DataType::Float64, true),
        ])),
        vec![
            Arc::new(Int64Array::from(vec![Some(2), None])) as ArrayRef,
            Arc::new(StringArray::from(vec!["x", "y"])),
            Arc::new(Float64Array::from(vec![1.0, 2.0])),
        ],
    )
    .unwrap();
    let e = w.write(&nullable).await.unwrap_err().to_string();
    assert!(e.contains("primary-key column \"id\" is null in row 1"), "{e}");
    // Nothing committed changed.
    assert_eq!(read_model(&table, None).await, Model::from([(1, ("a".to_string(), 1.0))]));
    // Missing table and missing snapshot.
    assert!(matches!(
        Table::open(dir.path().join("nope").to_str().unwrap()).await,
        Err(shoal::Error::TableNotFound(_))
    ));
    assert!(matches!(table.read_all(Some(42), None).await, Err(shoal::Error::SnapshotNotFound(42))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_metadata_is_a_clear_error() {
    let dir = tmp();
    let loc = dir.path().to_str().unwrap().to_string();
    let table = Table::create(&loc, def(1, &[])).await.unwrap();
    let mut w = table.new_write().await.unwrap();
    w.write(&batch(&table, &[(1, "a".into(), 1.0)])).await.unwrap();
    table.new_commit("u").unwrap().commit(w.prepare_commit().await.unwrap()).await.unwrap();
    let snap = table.latest_snapshot().await.unwrap().unwrap();

    // Truncated manifest list: the error names the file.
    let list = dir.path().join("manifest").join(&snap.delta_manifest_list);
    let bytes = std::fs::read(&list).unwrap();
    std::fs::write(&list, &bytes[..bytes.len() / 2]).unwrap();
    let e = table.read_all(None, None).await.unwrap_err().to_string();
    assert!(e.contains(&snap.delta_manifest_list), "{e}");
    std::fs::write(&list, &bytes).unwrap();

    // Bit-flipped data file: an error naming it, never wrong rows.
    let data: Vec<_> =
        walk(dir.path()).into_iter().filter(|p| p.extension().map(|e| e == "parquet").unwrap_or(false)).collect();
    let f = &data[0];
    let mut bytes = std::fs::read(f).unwrap();
    let n = bytes.len();
    bytes.truncate(n - 10);
    std::fs::write(f, &bytes).unwrap();
    let e = table.read_all(None, None).await.unwrap_err().to_string();
    assert!(e.contains(f.file_name().unwrap().to_str().unwrap()), "{e}");

    // Truncated snapshot.
    let s = dir.path().join("snapshot/snapshot-1");
    let text = std::fs::read_to_string(&s).unwrap();
    std::fs::write(&s, &text[..text.len() / 2]).unwrap();
    let e = table.read_all(Some(1), None).await.unwrap_err().to_string();
    assert!(e.contains("snapshot-1"), "{e}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[derive(Clone, Debug)]
enum Op {
    Upsert(Vec<(i64, u8)>),
    Delete(Vec<i64>),
    Commit,
    NewWriter,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => prop::collection::vec((0i64..200, any::<u8>()), 1..60).prop_map(Op::Upsert),
        2 => prop::collection::vec(0i64..200, 1..20).prop_map(Op::Delete),
        2 => Just(Op::Commit),
        1 => Just(Op::NewWriter),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    /// Random upserts, deletes, commits and writer restarts against a BTreeMap model; every
    /// snapshot must read exactly as the model did when it was committed.
    #[test]
    fn model_based_writes_and_reads(ops in prop::collection::vec(op(), 1..25), buckets in 1u32..4) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async move {
            let dir = tmp();
            let table = Table::create(dir.path().to_str().unwrap(), def(buckets, &[("write-buffer-size", "8 kb")])).await.unwrap();
            let mut w = table.new_write().await.unwrap();
            let mut model = Model::new();
            let mut pending = model.clone();
            let mut committed: Vec<(i64, Model)> = vec![];
            for op in ops {
                match op {
                    Op::Upsert(rows) => {
                        let rows: Vec<_> = rows.into_iter().map(|(k, v)| (k, format!("v{v}"), v as f64)).collect();
                        for r in &rows { pending.insert(r.0, (r.1.clone(), r.2)); }
                        w.write(&batch(&table, &rows)).await.unwrap();
                    }
                    Op::Delete(keys) => {
                        let rows: Vec<_> = keys.iter().map(|k| (*k, String::new(), 0.0)).collect();
                        for k in &keys { pending.remove(k); }
                        w.write_with_kinds(&batch(&table, &rows), Some(&vec![RowKind::Delete; rows.len()])).await.unwrap();
                    }
                    Op::Commit => {
                        let msgs = w.prepare_commit().await.unwrap();
                        let out = table.new_commit(&uuid::Uuid::new_v4().to_string()).unwrap().commit(msgs).await.unwrap();
                        model = pending.clone();
                        if let Some(id) = out.snapshot_id() { committed.push((id, model.clone())); }
                    }
                    Op::NewWriter => {
                        // Uncommitted work is abandoned, as when a writer process dies.
                        w = table.new_write().await.unwrap();
                        pending = model.clone();
                    }
                }
            }
            for (id, m) in &committed {
                assert_eq!(&read_model(&table, Some(*id)).await, m, "snapshot {id}");
            }
            assert_eq!(read_model(&table, None).await, model);
        });
    }
}

/// Writers on disjoint buckets committing at the same time: every commit lands (the loser of a
/// race for a snapshot id rebases onto the newer snapshot and retries) and no row is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_committers_lose_nothing() {
    let dir = tmp();
    let table = Table::create(dir.path().to_str().unwrap(), def(4, &[("write-only", "true")])).await.unwrap();
    let mut expected = Model::new();
    let mut tasks = vec![];
    for writer in 0..4i64 {
        let t = Table::open(dir.path().to_str().unwrap()).await.unwrap();
        // Each writer owns the keys of one bucket (ids chosen by their Paimon bucket).
        let keys: Vec<i64> = (0..100_000i64)
            .filter(|k| shoal::spec::bucket_of(shoal::spec::binary_row::hash_single_long(*k), 4) as i64 == writer)
            .take(60)
            .collect();
        for k in &keys {
            expected.insert(*k, (format!("w{writer}"), *k as f64));
        }
        tasks.push(tokio::spawn(async move {
            let mut w = t.new_write().await.unwrap();
            let commit = t.new_commit(&format!("writer-{writer}")).unwrap();
            for (i, chunk) in keys.chunks(10).enumerate() {
                let rows: Vec<_> = chunk.iter().map(|k| (*k, format!("w{writer}"), *k as f64)).collect();
                w.write(&batch(&t, &rows)).await.unwrap();
                commit.commit_with_identifier(i as i64, w.prepare_commit().await.unwrap()).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let ids = table.snapshots().snapshot_ids().await.unwrap();
    assert_eq!(ids, (1..=24).collect::<Vec<i64>>(), "4 writers x 6 commits, contiguous ids");
    assert_eq!(read_model(&table, None).await, expected);
}

/// A committer reused for several batch commits commits every one of them (exactly-once
/// filtering applies to identified streaming commits only).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_batch_committer_commits_every_batch() {
    let dir = tmp();
    let table = Table::create(dir.path().to_str().unwrap(), def(2, &[])).await.unwrap();
    let commit = table.new_commit("one-user").unwrap();
    let mut w = table.new_write().await.unwrap();
    for i in 0..3i64 {
        w.write(&batch(&table, &[(i, format!("r{i}"), i as f64)])).await.unwrap();
        assert!(commit.commit(w.prepare_commit().await.unwrap()).await.unwrap().snapshot_id().is_some(), "batch {i}");
    }
    assert_eq!(read_model(&table, None).await.len(), 3);
}
