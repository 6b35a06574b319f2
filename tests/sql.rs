//! DataFusion over shoal tables: SQL results equal direct reads; partition pruning and file
//! skipping really leave files unopened (proven by counting the files the scan opens and by
//! corrupting the files it must not open); INSERT, DELETE, UPDATE, CALL and time travel.
#![cfg(feature = "datafusion")]

use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, ArrayRef, Int64Array, RecordBatch, StringArray};
use datafusion::physical_plan::{collect, ExecutionPlan};
use datafusion::prelude::SessionContext;
use shoal::datafusion::{context_for_warehouse, sql, ShoalScanExec, ShoalTableProvider};
use shoal::maintenance::operations::{CreateTag, ExpireSnapshots};
use shoal::spec::{parse_type, RowKind};
use shoal::table::TableDefinition;
use shoal::Table;

/// `db.t`: partitioned by dt, key (dt, k), 2 buckets; partition a holds k 0..100 (v = k) with
/// k 1, 2 upserted and k 3 deleted in a second commit; partition b holds k 0..50 (v = 10 k).
async fn setup(warehouse: &Path) -> Table {
    let loc = warehouse.join("db.db").join("t");
    let d = TableDefinition::default()
        .column("dt", parse_type("STRING").unwrap())
        .column("k", parse_type("BIGINT").unwrap())
        .column("v", parse_type("BIGINT").unwrap())
        .partition_key(&["dt"])
        .primary_key(&["dt", "k"])
        .option("bucket", "2");
    let t = Table::create(loc.to_str().unwrap(), d).await.unwrap();
    let mut w = t.new_write().await.unwrap();
    w.write(&rows(&t, "a", (0..100).collect(), (0..100).collect())).await.unwrap();
    w.write(&rows(&t, "b", (0..50).collect(), (0..50).map(|x| x * 10).collect())).await.unwrap();
    t.new_commit("u").unwrap().commit(w.prepare_commit().await.unwrap()).await.unwrap();
    w.write(&rows(&t, "a", vec![1, 2], vec![1000, 2000])).await.unwrap();
    w.write_with_kinds(&rows(&t, "a", vec![3], vec![0]), Some(&[RowKind::Delete])).await.unwrap();
    t.new_commit("u2").unwrap().commit(w.prepare_commit().await.unwrap()).await.unwrap();
    t
}

fn rows(t: &Table, dt: &str, ks: Vec<i64>, vs: Vec<i64>) -> RecordBatch {
    RecordBatch::try_new(
        t.arrow_schema(),
        vec![
            Arc::new(StringArray::from(vec![dt; ks.len()])) as ArrayRef,
            Arc::new(Int64Array::from(ks)),
            Arc::new(Int64Array::from(vs)),
        ],
    )
    .unwrap()
}

/// The first value of the first column, as i64 (counts of DML statements are UInt64).
fn one_i64(batches: &[RecordBatch]) -> i64 {
    let c = arrow_cast::cast(batches[0].column(0), &arrow_schema::DataType::Int64).unwrap();
    c.as_primitive::<Int64Type>().value(0)
}

fn i64s(batches: &[RecordBatch], col: usize) -> Vec<i64> {
    batches.iter().flat_map(|b| b.column(col).as_primitive::<Int64Type>().values().to_vec()).collect()
}

fn find_scan(plan: &Arc<dyn ExecutionPlan>) -> Option<&ShoalScanExec> {
    if let Some(s) = (plan.as_ref() as &dyn std::any::Any).downcast_ref::<ShoalScanExec>() {
        return Some(s);
    }
    plan.children().into_iter().find_map(find_scan)
}

/// The scan of a query's physical plan, and the files it reported opening when run.
async fn files_opened(ctx: &SessionContext, query: &str) -> (usize, usize, Vec<RecordBatch>) {
    let plan = ctx.sql(query).await.unwrap().create_physical_plan().await.unwrap();
    let planned = find_scan(&plan).expect("a shoal scan in the plan").file_count();
    let batches = collect(plan.clone(), ctx.task_ctx()).await.unwrap();
    let opened =
        find_scan(&plan).unwrap().metrics().unwrap().sum_by_name("files_read").map(|m| m.as_usize()).unwrap_or(0);
    (planned, opened, batches)
}

fn data_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for bucket in std::fs::read_dir(dir).unwrap() {
        for f in std::fs::read_dir(bucket.unwrap().path()).unwrap() {
            let p = f.unwrap().path();
            if p.file_name().unwrap().to_string_lossy().starts_with("data-") {
                out.push(p);
            }
        }
    }
    out
}

fn corrupt(files: &[std::path::PathBuf]) {
    for p in files {
        std::fs::write(p, b"this is not a parquet file at all, it is garbage").unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_equals_direct_reads_and_partition_pruning_skips_files() {
    let dir = tempfile::tempdir().unwrap();
    let t = setup(dir.path()).await;
    let ctx = context_for_warehouse(dir.path().to_str().unwrap()).await.unwrap();

    let direct = t.read_all(None, None).await.unwrap();
    let count = one_i64(&sql(&ctx, "SELECT count(*) FROM db.t").await.unwrap());
    assert_eq!(count as usize, direct.num_rows());
    assert_eq!(count, 149, "100 + 50 rows, one deleted");
    let sum = one_i64(&sql(&ctx, "SELECT sum(v) FROM db.t WHERE dt = 'a'").await.unwrap());
    assert_eq!(sum, (0..100).sum::<i64>() - 1 - 2 - 3 + 1000 + 2000);
    let b = sql(&ctx, "SELECT k, v FROM db.t WHERE dt = 'b' AND k < 3 ORDER BY k").await.unwrap();
    assert_eq!(i64s(&b, 0), vec![0, 1, 2]);
    assert_eq!(i64s(&b, 1), vec![0, 10, 20]);
    let g = sql(&ctx, "SELECT dt, count(*) AS n FROM db.t GROUP BY dt ORDER BY dt").await.unwrap();
    assert_eq!(i64s(&g, 1), vec![99, 50]);
    // The whole table through SQL equals the direct read, row for row.
    let all = sql(&ctx, "SELECT dt, k, v FROM db.t ORDER BY dt, k").await.unwrap();
    let mut direct_rows: Vec<(String, i64, i64)> = (0..direct.num_rows())
        .map(|i| {
            (
                direct.column(0).as_string::<i32>().value(i).to_string(),
                direct.column(1).as_primitive::<Int64Type>().value(i),
                direct.column(2).as_primitive::<Int64Type>().value(i),
            )
        })
        .collect();
    direct_rows.sort();
    let sql_rows: Vec<(String, i64, i64)> = all
        .iter()
        .flat_map(|b| {
            let b = b.clone();
            (0..b.num_rows()).map(move |i| {
                let dt = arrow_cast::display::array_value_to_string(b.column(0), i).unwrap();
                (dt, b.column(1).as_primitive::<Int64Type>().value(i), b.column(2).as_primitive::<Int64Type>().value(i))
            })
        })
        .collect();
    assert_eq!(sql_rows, direct_rows);

    // Pruning: a query on partition a plans and opens only a's files.
    let files_a = data_files(&dir.path().join("db.db/t/dt=a"));
    let files_b = data_files(&dir.path().join("db.db/t/dt=b"));
    let (planned, opened, _) = files_opened(&ctx, "SELECT count(*) FROM db.t WHERE dt = 'a'").await;
    assert_eq!((planned, opened), (files_a.len(), files_a.len()));
    let (planned, _, _) = files_opened(&ctx, "SELECT count(*) FROM db.t").await;
    assert_eq!(planned, files_a.len() + files_b.len());

    // Garbage in every data file of partition b: queries pruned to partition a still work
    // (=, IN, ranges, functions on the partition column), and a query that needs b fails loudly.
    corrupt(&files_b);
    for q in [
        "SELECT count(*) FROM db.t WHERE dt = 'a'",
        "SELECT count(*) FROM db.t WHERE dt IN ('a', 'c')",
        "SELECT count(*) FROM db.t WHERE dt < 'b'",
        "SELECT count(*) FROM db.t WHERE upper(dt) = 'A'",
        "SELECT count(*) FROM db.t WHERE dt = 'a' OR dt = 'zzz'",
    ] {
        assert_eq!(one_i64(&sql(&ctx, q).await.unwrap()), 99, "{q}");
    }
    let e = sql(&ctx, "SELECT count(*) FROM db.t").await.unwrap_err().to_string();
    assert!(e.contains("data-"), "the error names the broken file: {e}");
}

/// One bucket, three commits of disjoint key ranges: three level-0 files.
async fn ranged_table(warehouse: &Path, name: &str, pk: bool) -> Table {
    let loc = warehouse.join("db.db").join(name);
    let mut d = TableDefinition::default()
        .column("dt", parse_type("STRING").unwrap())
        .column("k", parse_type("BIGINT NOT NULL").unwrap())
        .column("v", parse_type("BIGINT").unwrap());
    if pk {
        d = d.primary_key(&["k"]).option("bucket", "1");
    }
    let t = Table::create(loc.to_str().unwrap(), d).await.unwrap();
    for r in 0..3i64 {
        let mut w = t.new_write().await.unwrap();
        let ks: Vec<i64> = (r * 100..r * 100 + 100).collect();
        w.write(&rows(&t, "x", ks.clone(), ks.iter().map(|k| k * 2).collect())).await.unwrap();
        t.new_commit("u").unwrap().commit(w.prepare_commit().await.unwrap()).await.unwrap();
    }
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_statistics_skip_files_and_value_statistics_never_resurrect_old_versions() {
    let dir = tempfile::tempdir().unwrap();
    ranged_table(dir.path(), "r", true).await;
    ranged_table(dir.path(), "app", false).await;
    let ctx = context_for_warehouse(dir.path().to_str().unwrap()).await.unwrap();

    // Key range: only the third file can hold k >= 250.
    let (planned, opened, batches) = files_opened(&ctx, "SELECT k FROM db.r WHERE k >= 250 ORDER BY k").await;
    assert_eq!((planned, opened), (1, 1));
    assert_eq!(i64s(&batches, 0), (250..300).collect::<Vec<_>>());
    let (planned, _, batches) = files_opened(&ctx, "SELECT v FROM db.r WHERE k = 120").await;
    assert_eq!(planned, 1);
    assert_eq!(i64s(&batches, 0), vec![240]);
    // Value statistics on an append table skip too (no merge there).
    let (planned, _, batches) = files_opened(&ctx, "SELECT count(*) FROM db.app WHERE v < 100").await;
    assert_eq!(planned, 1);
    assert_eq!(one_i64(&batches), 50);

    // An upsert of k = 5 (v: 10 -> 7) in a new file overlapping the first: a filter on the old
    // value must not bring the old version back, and the new value must be found.
    let t = Table::open(dir.path().join("db.db/r").to_str().unwrap()).await.unwrap();
    let mut w = t.new_write().await.unwrap();
    w.write(&rows(&t, "x", vec![5], vec![7])).await.unwrap();
    t.new_commit("u").unwrap().commit(w.prepare_commit().await.unwrap()).await.unwrap();
    assert_eq!(one_i64(&sql(&ctx, "SELECT count(*) FROM db.r WHERE v = 10").await.unwrap()), 0);
    assert_eq!(i64s(&sql(&ctx, "SELECT k FROM db.r WHERE v = 7").await.unwrap(), 0), vec![5]);

    // Files the key filter rules out may be garbage.
    let files = data_files(&dir.path().join("db.db/r"));
    let keep = {
        let plan = ctx.sql("SELECT k FROM db.r WHERE k >= 250").await.unwrap().create_physical_plan().await.unwrap();
        let scan = find_scan(&plan).unwrap();
        scan.partitions().iter().flatten().flat_map(|s| s.files.iter().map(|f| f.file_name.clone())).collect::<Vec<_>>()
    };
    corrupt(
        &files
            .iter()
            .filter(|p| !keep.contains(&p.file_name().unwrap().to_string_lossy().to_string()))
            .cloned()
            .collect::<Vec<_>>(),
    );
    assert_eq!(one_i64(&sql(&ctx, "SELECT count(*) FROM db.r WHERE k >= 250").await.unwrap()), 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projection_limit_statistics_and_catalog() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path()).await;
    ranged_table(dir.path(), "app", false).await;
    let ctx = context_for_warehouse(dir.path().to_str().unwrap()).await.unwrap();

    let b = sql(&ctx, "SELECT v FROM db.t WHERE dt = 'b' ORDER BY v DESC LIMIT 3").await.unwrap();
    assert_eq!(b[0].num_columns(), 1);
    assert_eq!(i64s(&b, 0), vec![490, 480, 470]);
    let limited = sql(&ctx, "SELECT k FROM db.t LIMIT 7").await.unwrap();
    assert_eq!(limited.iter().map(|b| b.num_rows()).sum::<usize>(), 7);
    let plan = ctx.sql("SELECT k FROM db.t LIMIT 7").await.unwrap().create_physical_plan().await.unwrap();
    let explain = datafusion::physical_plan::displayable(plan.as_ref()).indent(true).to_string();
    assert!(explain.contains("limit=7") && explain.contains("projection=[k]"), "{explain}");

    // Exact row counts only where they are exact: the append table's count comes right, and so
    // does the primary-key table's (where files hold upserts and retractions).
    assert_eq!(one_i64(&sql(&ctx, "SELECT count(*) FROM db.app").await.unwrap()), 300);
    assert_eq!(one_i64(&sql(&ctx, "SELECT count(*) FROM db.t").await.unwrap()), 149);

    // The catalog lists databases and tables, and another name works as well.
    let tables =
        sql(&ctx, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'db' ORDER BY table_name")
            .await
            .unwrap();
    let names: Vec<String> = tables
        .iter()
        .flat_map(|b| {
            (0..b.num_rows()).map(|i| b.column(0).as_string::<i32>().value(i).to_string()).collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(names, vec!["app", "t"]);
    let other = SessionContext::new();
    shoal::datafusion::register_warehouse(&other, "paimon", dir.path().to_str().unwrap()).await.unwrap();
    assert_eq!(one_i64(&sql(&other, "SELECT count(*) FROM paimon.db.t").await.unwrap()), 149);
    let e = sql(&ctx, "SELECT * FROM db.nope").await.unwrap_err().to_string();
    assert!(e.contains("nope"), "{e}");
    // Session tables can live beside the warehouse's.
    ctx.register_batch(
        "extra",
        rows(&Table::open(dir.path().join("db.db/t").to_str().unwrap()).await.unwrap(), "z", vec![1], vec![2]),
    )
    .unwrap();
    assert_eq!(one_i64(&sql(&ctx, "SELECT count(*) FROM extra").await.unwrap()), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_travel_by_snapshot_id() {
    let dir = tempfile::tempdir().unwrap();
    let t = setup(dir.path()).await;
    let ctx = context_for_warehouse(dir.path().to_str().unwrap()).await.unwrap();
    let at1 = "SELECT v FROM db.t VERSION AS OF 1 WHERE dt = 'a' AND k IN (1, 3) ORDER BY k";
    assert_eq!(i64s(&sql(&ctx, at1).await.unwrap(), 0), vec![1, 3]);
    assert_eq!(
        i64s(&sql(&ctx, "SELECT v FROM db.\"t$snapshot=2\" WHERE dt = 'a' AND k IN (1, 3)").await.unwrap(), 0),
        vec![1000]
    );
    let e = sql(&ctx, "SELECT * FROM db.t VERSION AS OF 9").await.unwrap_err().to_string();
    assert!(e.contains("snapshot 9"), "{e}");

    let p = ShoalTableProvider::with_options(t.clone(), &[("scan.snapshot-id", "1")]).await.unwrap();
    let plain = SessionContext::new();
    plain.register_table("t1", Arc::new(p)).unwrap();
    assert_eq!(one_i64(&sql(&plain, "SELECT count(*) FROM t1").await.unwrap()), 150);
    // Writes through a time-travelled table are refused.
    let e = sql(&plain, "INSERT INTO t1 VALUES ('a', 1, 1)").await.unwrap_err().to_string();
    assert!(e.contains("fixed snapshot"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_travel_by_tag_and_timestamp_in_the_snapshots_schema() {
    let dir = tempfile::tempdir().unwrap();
    let t = setup(dir.path()).await;
    CreateTag::new(&t, "first").snapshot(1).execute().await.unwrap();
    let s2 = t.snapshots().snapshot(2).await.unwrap();
    // A column added after snapshot 2: reads at 2 see the old schema, as in Paimon.
    let t = t
        .alter(&[shoal::spec::SchemaChange::AddColumn {
            name: "note".into(),
            data_type: shoal::spec::parse_type("STRING").unwrap(),
            comment: None,
            position: shoal::spec::ColumnPosition::Last,
        }])
        .await
        .unwrap();
    assert_eq!(t.schema().fields.len(), 4);
    let ctx = context_for_warehouse(dir.path().to_str().unwrap()).await.unwrap();
    let at1 = "SELECT v FROM db.t VERSION AS OF 'first' WHERE dt = 'a' AND k IN (1, 3) ORDER BY k";
    assert_eq!(i64s(&sql(&ctx, at1).await.unwrap(), 0), vec![1, 3]);
    // Spark's TIMESTAMP AS OF (UTC text) and Flink's FOR SYSTEM_TIME AS OF, at snapshot 2's commit time.
    let when =
        chrono::DateTime::from_timestamp_millis(s2.time_millis).unwrap().format("%Y-%m-%d %H:%M:%S%.3f").to_string();
    for q in [
        format!("SELECT * FROM db.t TIMESTAMP AS OF '{when}' WHERE dt = 'a' AND k IN (1, 3)"),
        format!("SELECT * FROM db.t FOR SYSTEM_TIME AS OF TIMESTAMP '{when}' WHERE dt = 'a' AND k IN (1, 3)"),
    ] {
        let b = sql(&ctx, &q).await.unwrap();
        assert_eq!(b[0].num_columns(), 3, "{q}: read in snapshot 2's schema");
        assert_eq!(i64s(&b, 2), vec![1000], "{q}");
    }
    let b = sql(&ctx, "SELECT * FROM db.t WHERE dt = 'a' AND k = 1").await.unwrap();
    assert_eq!(b[0].num_columns(), 4);
    let e = sql(&ctx, "SELECT * FROM db.t TIMESTAMP AS OF '2001-01-01'").await.unwrap_err().to_string();
    assert!(e.contains("no snapshot was committed at or before"), "{e}");
    let e = sql(&ctx, "SELECT * FROM db.t VERSION AS OF 'nope'").await.unwrap_err().to_string();
    assert!(e.contains("nope"), "{e}");
    // The options spelling, and the tag outliving its snapshot's expiry.
    let p = ShoalTableProvider::with_options(t.clone(), &[("scan.tag-name", "first")]).await.unwrap();
    let plain = SessionContext::new();
    plain.register_table("t1", Arc::new(p)).unwrap();
    assert_eq!(one_i64(&sql(&plain, "SELECT count(*) FROM t1").await.unwrap()), 150);
    let mut cfg = shoal::maintenance::expire::ExpireConfig::from_options(&t.schema().core_options()).unwrap();
    cfg.retain_max = 1;
    cfg.retain_min = 1;
    cfg.time_retained = std::time::Duration::ZERO;
    ExpireSnapshots::new(&t).with_config(&cfg).execute().await.unwrap();
    assert!(t.snapshots().snapshot(1).await.is_err());
    assert_eq!(i64s(&sql(&ctx, at1).await.unwrap(), 0), vec![1, 3]);
    let e = ShoalTableProvider::with_options(t.clone(), &[("scan.tag-name", "x"), ("scan.snapshot-id", "1")])
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("only one"), "{e}");
}

async fn snapshot_count(t: &Table) -> usize {
    t.snapshots().snapshot_ids().await.unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insert_delete_update_each_commit_once() {
    let dir = tempfile::tempdir().unwrap();
    let t = setup(dir.path()).await;
    let ctx = context_for_warehouse(dir.path().to_str().unwrap()).await.unwrap();
    let before = snapshot_count(&t).await;

    // INSERT VALUES: new keys and an upsert; returns the row count; one snapshot.
    let n = one_i64(&sql(&ctx, "INSERT INTO db.t VALUES ('c', 1, 11), ('c', 2, 22), ('a', 0, -5)").await.unwrap());
    assert_eq!(n, 3);
    assert_eq!(snapshot_count(&t).await, before + 1);
    assert_eq!(i64s(&sql(&ctx, "SELECT v FROM db.t WHERE dt = 'a' AND k = 0").await.unwrap(), 0), vec![-5]);
    // INSERT SELECT copies partition b into d.
    let n = one_i64(&sql(&ctx, "INSERT INTO db.t SELECT 'd', k, v + 1 FROM db.t WHERE dt = 'b'").await.unwrap());
    assert_eq!(n, 50);
    assert_eq!(
        one_i64(&sql(&ctx, "SELECT sum(v) FROM db.t WHERE dt = 'd'").await.unwrap()),
        (0..50).map(|k| k * 10 + 1).sum::<i64>()
    );
    assert_eq!(snapshot_count(&t).await, before + 2);

    // DELETE: -D rows for the matching keys, one commit, count of rows deleted.
    let n = one_i64(&sql(&ctx, "DELETE FROM db.t WHERE dt = 'd' AND k >= 10").await.unwrap());
    assert_eq!(n, 40);
    assert_eq!(one_i64(&sql(&ctx, "SELECT count(*) FROM db.t WHERE dt = 'd'").await.unwrap()), 10);
    assert_eq!(snapshot_count(&t).await, before + 3);
    let latest = t.latest_snapshot().await.unwrap().unwrap();
    assert_eq!(latest.delta_record_count, Some(40));

    // UPDATE: +U rows with the new values, evaluated on the old row.
    let n = one_i64(&sql(&ctx, "UPDATE db.t SET v = v * 100 WHERE dt = 'c'").await.unwrap());
    assert_eq!(n, 2);
    assert_eq!(i64s(&sql(&ctx, "SELECT v FROM db.t WHERE dt = 'c' ORDER BY k").await.unwrap(), 0), vec![1100, 2200]);
    assert_eq!(snapshot_count(&t).await, before + 4);
    // The direct reader agrees.
    let direct = t.read_all(None, None).await.unwrap();
    let count = one_i64(&sql(&ctx, "SELECT count(*) FROM db.t").await.unwrap());
    assert_eq!(count as usize, direct.num_rows());

    // A DELETE matching nothing commits nothing.
    assert_eq!(one_i64(&sql(&ctx, "DELETE FROM db.t WHERE k > 100000").await.unwrap()), 0);
    assert_eq!(snapshot_count(&t).await, before + 4);

    // User errors are clear.
    let e = sql(&ctx, "UPDATE db.t SET k = 1 WHERE dt = 'c'").await.unwrap_err().to_string();
    assert!(e.contains("primary-key"), "{e}");
    ranged_table(dir.path(), "app", false).await;
    let e = sql(&ctx, "DELETE FROM db.app WHERE k = 1").await.unwrap_err().to_string();
    assert!(e.contains("append table"), "{e}");
    let e = sql(&ctx, "INSERT INTO db.t VALUES ('c', NULL, 1)").await.unwrap_err().to_string();
    assert!(e.to_lowercase().contains("null"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_into_updates_deletes_and_inserts_in_one_commit() {
    let dir = tempfile::tempdir().unwrap();
    let t = setup(dir.path()).await;
    let ctx = context_for_warehouse(dir.path().to_str().unwrap()).await.unwrap();
    let before = snapshot_count(&t).await;
    let mut src = rows(&t, "a", vec![0, 4, 1], vec![-1, 444, 5]);
    src = arrow_select::concat::concat_batches(&src.schema(), &[src.clone(), rows(&t, "e", vec![1], vec![5])]).unwrap();
    ctx.register_batch("src", src).unwrap();
    let n = one_i64(
        &sql(
            &ctx,
            "MERGE INTO db.t USING src AS s ON db.t.dt = s.dt AND db.t.k = s.k \
             WHEN MATCHED AND s.v < 0 THEN DELETE \
             WHEN MATCHED AND s.v > 100 THEN UPDATE SET v = s.v \
             WHEN NOT MATCHED THEN INSERT VALUES (s.dt, s.k, s.v * 2)",
        )
        .await
        .unwrap(),
    );
    // a/0 deleted, a/4 updated, e/1 inserted; a/1 matched no clause (v = 5) and stays 1000.
    assert_eq!(n, 3);
    assert_eq!(snapshot_count(&t).await, before + 1);
    let q = "SELECT dt, k, v FROM db.t WHERE (dt = 'a' AND k IN (0, 1, 4)) OR dt = 'e' ORDER BY dt, k";
    let r = sql(&ctx, q).await.unwrap();
    assert_eq!(i64s(&r, 1), vec![1, 4, 1]);
    assert_eq!(i64s(&r, 2), vec![1000, 444, 10]);
    assert_eq!(one_i64(&sql(&ctx, "SELECT count(*) FROM db.t").await.unwrap()), 149);

    // With a target alias, NOT MATCHED BY SOURCE, and an explicit insert column list.
    ctx.register_batch("src2", rows(&t, "b", vec![0, 100], vec![7, 8])).unwrap();
    let n = one_i64(
        &sql(
            &ctx,
            "MERGE INTO db.t AS tt USING src2 s ON tt.dt = s.dt AND tt.k = s.k \
             WHEN MATCHED THEN UPDATE SET v = s.v + tt.v \
             WHEN NOT MATCHED THEN INSERT (k, dt) VALUES (s.k, s.dt) \
             WHEN NOT MATCHED BY SOURCE AND tt.dt = 'b' AND tt.k >= 45 THEN DELETE",
        )
        .await
        .unwrap(),
    );
    assert_eq!(n, 2 + 5);
    let r = sql(&ctx, "SELECT k, v FROM db.t WHERE dt = 'b' AND (k = 0 OR k >= 44) ORDER BY k").await.unwrap();
    assert_eq!(i64s(&r, 0), vec![0, 44, 100]);
    let v = r[0].column(1).clone();
    let v = arrow_select::concat::concat(&r.iter().map(|b| b.column(1).as_ref()).collect::<Vec<_>>()).unwrap_or(v);
    assert_eq!(v.as_primitive::<Int64Type>().value(0), 7);
    assert_eq!(v.as_primitive::<Int64Type>().value(1), 440);
    assert!(v.is_null(2), "the inserted row's v was not given");

    // Two source rows for one target row: an error, and nothing is committed.
    let dup = arrow_select::concat::concat_batches(
        &t.arrow_schema(),
        &[rows(&t, "a", vec![5], vec![1]), rows(&t, "a", vec![5], vec![2])],
    )
    .unwrap();
    ctx.register_batch("dup", dup).unwrap();
    let count = snapshot_count(&t).await;
    let e = sql(
        &ctx,
        "MERGE INTO db.t USING dup d ON db.t.dt = d.dt AND db.t.k = d.k WHEN MATCHED THEN UPDATE SET v = d.v",
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(e.contains("twice"), "{e}");
    assert_eq!(snapshot_count(&t).await, count);
    let e = sql(&ctx, "MERGE INTO db.t USING dup d ON db.t.k = d.k WHEN MATCHED THEN UPDATE SET k = d.k")
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("primary-key"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_procedures_and_queries_across_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let t = setup(dir.path()).await;
    let ctx = context_for_warehouse(dir.path().to_str().unwrap()).await.unwrap();
    let before = sql(&ctx, "SELECT dt, k, v FROM db.t ORDER BY dt, k").await.unwrap();
    let files_before = data_files(&dir.path().join("db.db/t/dt=a")).len();

    let r = sql(&ctx, "CALL sys.compact(table => 'db.t', partitions => 'dt=a')").await.unwrap();
    assert!(r[0].column(0).as_boolean().value(0));
    let compacted_snapshot = r[0].column(1).as_primitive::<Int64Type>().value(0);
    assert_eq!(compacted_snapshot, t.latest_snapshot().await.unwrap().unwrap().id);
    // Partition a's buckets are now one file each at the top level; b was left alone.
    let plan = t.new_scan().plan().await.unwrap();
    for s in &plan.splits {
        if s.bucket_path.starts_with("dt=a") {
            assert_eq!(s.files.len(), 1, "{}", s.bucket_path);
            assert!(s.files[0].level > 0);
        } else {
            assert!(s.files.iter().all(|f| f.level == 0));
        }
    }
    assert!(files_before > 2);
    let after = sql(&ctx, "SELECT dt, k, v FROM db.t ORDER BY dt, k").await.unwrap();
    assert_eq!(
        datafusion::arrow::util::pretty::pretty_format_batches(&before).unwrap().to_string(),
        datafusion::arrow::util::pretty::pretty_format_batches(&after).unwrap().to_string()
    );
    // Before the compaction, by snapshot id, still reads the same rows.
    assert_eq!(one_i64(&sql(&ctx, "SELECT count(*) FROM db.t VERSION AS OF 2").await.unwrap()), 149);
    // Positional arguments, and the whole table.
    sql(&ctx, "CALL sys.compact('db.t')").await.unwrap();

    let e =
        sql(&ctx, "CALL sys.rename_tag(table => 'db.t', tag => 'x', target_tag => 'y')").await.unwrap_err().to_string();
    assert!(e.contains("sys.rename_tag") && e.contains("not supported"), "{e}");
    let e = sql(&ctx, "CALL sys.compact(tabel => 'db.t')").await.unwrap_err().to_string();
    assert!(e.contains("tabel"), "{e}");
    let e = sql(&ctx, "CALL sys.compact(table => 'db.missing')").await.unwrap_err().to_string();
    assert!(e.contains("missing"), "{e}");
    let e = sql(&ctx, "CALL sys.frobnicate()").await.unwrap_err().to_string();
    assert!(e.contains("unknown procedure sys.frobnicate"), "{e}");
    // Rows survive all of it.
    let direct = t.read_all(None, None).await.unwrap();
    assert_eq!(direct.num_rows(), 149);
    assert!(direct.column(0).null_count() == 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_level_dml_follows_the_merge_engine() {
    let dir = tempfile::tempdir().unwrap();
    let make = |name: &'static str, opts: &'static [(&'static str, &'static str)]| {
        let loc = dir.path().join("db.db").join(name);
        async move {
            let mut d = TableDefinition::default()
                .column("k", parse_type("BIGINT NOT NULL").unwrap())
                .column("v", parse_type("BIGINT").unwrap())
                .primary_key(&["k"])
                .option("bucket", "1");
            for (k, v) in opts {
                d = d.option(k, v);
            }
            Table::create(loc.to_str().unwrap(), d).await.unwrap()
        }
    };
    make("agg", &[("merge-engine", "aggregation"), ("fields.v.aggregate-function", "sum")]).await;
    make("first", &[("merge-engine", "first-row")]).await;
    make("pu", &[("merge-engine", "partial-update")]).await;
    make("pu_rm", &[("merge-engine", "partial-update"), ("partial-update.remove-record-on-delete", "true")]).await;
    let ctx = context_for_warehouse(dir.path().to_str().unwrap()).await.unwrap();
    for t in ["agg", "first", "pu", "pu_rm"] {
        sql(&ctx, &format!("INSERT INTO db.{t} VALUES (1, 10), (2, 20)")).await.unwrap();
    }
    // Aggregation: an UPDATE would be summed into the old row, a DELETE would only retract.
    let e = sql(&ctx, "UPDATE db.agg SET v = 5 WHERE k = 1").await.unwrap_err().to_string();
    assert!(e.contains("deduplicate or partial-update"), "{e}");
    let e = sql(&ctx, "DELETE FROM db.agg WHERE k = 1").await.unwrap_err().to_string();
    assert!(e.contains("would not remove the row"), "{e}");
    let e = sql(&ctx, "UPDATE db.first SET v = 5 WHERE k = 1").await.unwrap_err().to_string();
    assert!(e.contains("FirstRow"), "{e}");
    // Partial-update: UPDATE yes; DELETE only with remove-record-on-delete.
    sql(&ctx, "UPDATE db.pu SET v = 5 WHERE k = 1").await.unwrap();
    assert_eq!(i64s(&sql(&ctx, "SELECT v FROM db.pu ORDER BY k").await.unwrap(), 0), vec![5, 20]);
    let e = sql(&ctx, "DELETE FROM db.pu WHERE k = 1").await.unwrap_err().to_string();
    assert!(e.contains("remove-record-on-delete"), "{e}");
    sql(&ctx, "DELETE FROM db.pu_rm WHERE k = 1").await.unwrap();
    assert_eq!(i64s(&sql(&ctx, "SELECT k FROM db.pu_rm").await.unwrap(), 0), vec![2]);
    // The refused statements wrote nothing.
    assert_eq!(i64s(&sql(&ctx, "SELECT v FROM db.agg ORDER BY k").await.unwrap(), 0), vec![10, 20]);
    assert_eq!(i64s(&sql(&ctx, "SELECT v FROM db.first ORDER BY k").await.unwrap(), 0), vec![10, 20]);
}

/// Paimon's lifecycle procedures, with Spark's and Flink's spellings, change the table the way
/// the library calls do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_procedures() {
    let dir = tempfile::tempdir().unwrap();
    let t = setup(dir.path()).await;
    let ctx = context_for_warehouse(dir.path().to_str().unwrap()).await.unwrap();
    let snap = |b: &[RecordBatch], c: usize| b[0].column(c).as_primitive::<Int64Type>().value(0);

    let r = sql(&ctx, "CALL sys.create_tag(table => 'db.t', tag => 'one', snapshot => 1)").await.unwrap();
    assert_eq!(snap(&r, 1), 1);
    sql(&ctx, "CALL sys.create_tag('db.t', 'two', 2, '7 d')").await.unwrap();
    let tags = t.tags().await.unwrap();
    assert_eq!(tags.iter().map(|t| (t.name.as_str(), t.snapshot.id)).collect::<Vec<_>>(), vec![("one", 1), ("two", 2)]);
    assert_eq!(tags[1].time_retained, Some(std::time::Duration::from_secs(7 * 86_400)));
    assert_eq!(one_i64(&sql(&ctx, "SELECT count(*) FROM db.t VERSION AS OF 'one'").await.unwrap()), 150);
    let e = sql(&ctx, "CALL sys.create_tag(table => 'db.t', tag => 'x', time_retained => 'soon')")
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("time_retained") && e.contains("soon"), "{e}");

    // Three more commits, then keep two snapshots: the tags keep theirs readable.
    for i in 0..3 {
        sql(&ctx, &format!("INSERT INTO db.t VALUES ('c', {i}, {i})")).await.unwrap();
    }
    let r = sql(&ctx, "CALL sys.expire_snapshots(table => 'db.t', retain_max => 2)").await.unwrap();
    assert_eq!(snap(&r, 0), 3);
    assert_eq!(t.snapshots().snapshot_ids().await.unwrap(), vec![4, 5]);
    assert_eq!(one_i64(&sql(&ctx, "SELECT count(*) FROM db.t VERSION AS OF 'one'").await.unwrap()), 150);

    // Flink's rollback_to by tag, Spark's rollback by version.
    let r = sql(&ctx, "CALL sys.rollback_to(table => 'db.t', tag => 'two')").await.unwrap();
    assert_eq!(snap(&r, 0), 2);
    assert_eq!(one_i64(&sql(&ctx, "SELECT count(*) FROM db.t").await.unwrap()), 149);
    let e = sql(&ctx, "CALL sys.rollback(table => 'db.t', version => '4')").await.unwrap_err().to_string();
    assert!(e.contains('4'), "{e}");
    let e = sql(&ctx, "CALL sys.rollback_to(table => 'db.t', tag => 'one', snapshot_id => 1)")
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("exactly one"), "{e}");
    sql(&ctx, "CALL sys.rollback(table => 'db.t', version => 'one')").await.unwrap();
    assert_eq!(one_i64(&sql(&ctx, "SELECT count(*) FROM db.t").await.unwrap()), 150);
    assert_eq!(t.tags().await.unwrap().len(), 1, "rolling back past a tag deletes it, as Paimon");

    // Deleting the last tag drops what only it kept; the table still reads.
    let r = sql(&ctx, "CALL sys.delete_tag(table => 'db.t', tag => 'one')").await.unwrap();
    assert!(r[0].column(0).as_boolean().value(0));
    assert!(t.tags().await.unwrap().is_empty());
    assert_eq!(one_i64(&sql(&ctx, "SELECT count(*) FROM db.t").await.unwrap()), 150);

    // Consumers: set, then delete.
    let latest = t.latest_snapshot().await.unwrap().unwrap().id;
    sql(&ctx, &format!("CALL sys.reset_consumer(table => 'db.t', consumer_id => 'job', next_snapshot_id => {latest})"))
        .await
        .unwrap();
    assert_eq!(t.consumers().consumer("job").await.unwrap().unwrap().next_snapshot, latest);
    let e = sql(&ctx, "CALL sys.reset_consumer(table => 'db.t', consumer_id => 'job', next_snapshot_id => 99)")
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("99"), "{e}");
    sql(&ctx, "CALL sys.reset_consumer(table => 'db.t', consumerId => 'job')").await.unwrap();
    assert!(t.consumers().consumer("job").await.unwrap().is_none());

    // Orphans: a stray file in a bucket, found by a dry run with a future cut-off, then removed.
    let stray = dir.path().join("db.db/t/dt=a/bucket-0/data-stray.parquet");
    std::fs::write(&stray, b"not referenced").unwrap();
    let future = chrono::Utc::now().timestamp_millis() + 60_000;
    let r =
        sql(&ctx, &format!("CALL sys.remove_orphan_files(table => 'db.t', older_than => '{future}', dry_run => true)"))
            .await
            .unwrap();
    let found: Vec<String> =
        r.iter().flat_map(|b| (0..b.num_rows()).map(|i| b.column(0).as_string::<i32>().value(i).to_string())).collect();
    assert!(found.iter().any(|f| f.ends_with("data-stray.parquet")), "{found:?}");
    assert!(stray.exists());
    // The default age guard (a day) keeps the fresh file.
    sql(&ctx, "CALL sys.remove_orphan_files(table => 'db.t')").await.unwrap();
    assert!(stray.exists());
    sql(&ctx, &format!("CALL sys.remove_orphan_files(table => 'db.t', older_than => '{future}')")).await.unwrap();
    assert!(!stray.exists());
    assert_eq!(one_i64(&sql(&ctx, "SELECT count(*) FROM db.t").await.unwrap()), 150);
}

/// ALTER TABLE (Spark's and Flink's spellings) writes schema changes; old rows read through
/// field ids; bad changes name what is wrong and leave the schema alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alter_table_evolves_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let t = setup(dir.path()).await;
    let ctx = context_for_warehouse(dir.path().to_str().unwrap()).await.unwrap();
    sql(&ctx, "ALTER TABLE db.t ADD COLUMN note STRING COMMENT 'free text'").await.unwrap();
    sql(&ctx, "ALTER TABLE db.t RENAME COLUMN v TO amount").await.unwrap();
    sql(&ctx, "ALTER TABLE db.t SET TBLPROPERTIES ('snapshot.num-retained.max' = '50')").await.unwrap();
    sql(&ctx, "INSERT INTO db.t VALUES ('c', 1, 7, 'hello')").await.unwrap();
    let b = sql(&ctx, "SELECT amount, note FROM db.t WHERE dt = 'a' AND k = 1").await.unwrap();
    assert_eq!(i64s(&b, 0), vec![1000]);
    assert!(b[0].column(1).is_null(0));
    let b = sql(&ctx, "SELECT note FROM db.t WHERE dt = 'c'").await.unwrap();
    assert_eq!(b[0].column(0).as_string::<i32>().value(0), "hello");
    let t2 = Table::open(t.location()).await.unwrap();
    assert_eq!(t2.schema().options.get("snapshot.num-retained.max").map(String::as_str), Some("50"));
    assert_eq!(t2.schema().fields.iter().find(|f| f.name == "note").unwrap().description.as_deref(), Some("free text"));
    let id = t2.schema().id;
    // Narrowing, dropping a key column and unknown options are refused; nothing is written.
    for (q, want) in [
        ("ALTER TABLE db.t ALTER COLUMN amount TYPE INT", "amount"),
        ("ALTER TABLE db.t DROP COLUMN k", "k"),
        ("ALTER TABLE db.t SET TBLPROPERTIES ('bukcet' = '3')", "bukcet"),
        ("ALTER TABLE db.missing ADD COLUMN x INT", "missing"),
    ] {
        let e = sql(&ctx, q).await.unwrap_err().to_string();
        assert!(e.contains(want), "{q}: {e}");
    }
    assert_eq!(Table::open(t.location()).await.unwrap().schema().id, id);
    sql(&ctx, "ALTER TABLE db.t DROP COLUMN note").await.unwrap();
    let b = sql(&ctx, "SELECT * FROM db.t WHERE dt = 'c'").await.unwrap();
    assert_eq!(b[0].num_columns(), 3);
}

/// A deletion-vector table is read without merge, so filters on value columns skip files by
/// their statistics too, and rows marked deleted never come back through a skipped newer file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_vector_tables_skip_files_by_value_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let def = TableDefinition::default()
        .column("k", parse_type("BIGINT NOT NULL").unwrap())
        .column("v", parse_type("BIGINT").unwrap())
        .primary_key(&["k"])
        .option("bucket", "1")
        .option("deletion-vectors.enabled", "true");
    let t = Table::create(dir.path().join("db.db/dv").to_str().unwrap(), def).await.unwrap();
    let batch = |ks: Vec<i64>, vs: Vec<i64>| {
        RecordBatch::try_new(
            t.arrow_schema(),
            vec![Arc::new(Int64Array::from(ks)) as ArrayRef, Arc::new(Int64Array::from(vs))],
        )
        .unwrap()
    };
    let commit = t.new_commit("w").unwrap();
    let mut w = t.new_write().await.unwrap();
    w.write(&batch((0..1000).collect(), (0..1000).collect())).await.unwrap();
    commit.commit(w.prepare_commit().await.unwrap()).await.unwrap();
    w.write(&batch((0..10).collect(), (0..10).map(|k| 5000 + k).collect())).await.unwrap();
    commit.commit(w.prepare_commit().await.unwrap()).await.unwrap();
    let ctx = context_for_warehouse(dir.path().to_str().unwrap()).await.unwrap();

    let (planned, opened, rows) = files_opened(&ctx, "SELECT k FROM db.dv WHERE v >= 5000 ORDER BY k").await;
    assert_eq!(i64s(&rows, 0), (0..10).collect::<Vec<_>>());
    assert_eq!((planned, opened), (1, 1), "the file of the first commit is skipped by its statistics");
    // The old versions of keys 0..9 are marked deleted: the newer file, skipped here, is not
    // needed to hide them.
    let (planned, _, rows) = files_opened(&ctx, "SELECT k FROM db.dv WHERE v < 20 ORDER BY k").await;
    assert_eq!(i64s(&rows, 0), (10..20).collect::<Vec<_>>());
    assert_eq!(planned, 1);
}

/// A commit computed from an older snapshot (as UPDATE, DELETE and MERGE INTO compute theirs)
/// fails with a conflict when another commit wrote into a bucket it writes since, and leaves
/// no file behind; a compaction in between, or a write into another bucket, is no conflict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_level_commit_conflicts_when_its_bucket_changed_since_its_read() {
    let dir = tempfile::tempdir().unwrap();
    let t = setup(dir.path()).await;
    let read = t.snapshots().latest_id().await.unwrap();
    // The bucket of key 1 in partition a: write it alone and look at the message.
    let b1 = {
        let mut w = t.new_write().await.unwrap();
        w.write(&rows(&t, "a", vec![1], vec![1000])).await.unwrap();
        let msgs = w.prepare_commit().await.unwrap();
        let b = msgs[0].bucket;
        t.new_commit("probe").unwrap().abort(&msgs).await;
        b
    };
    // A compaction after the read changes no row: no conflict.
    shoal::maintenance::compact::CompactJob::new(true).run(&t).await.unwrap();
    let mut w = t.new_write().await.unwrap();
    w.write(&rows(&t, "a", vec![1], vec![7])).await.unwrap();
    let msgs = w.prepare_commit().await.unwrap();
    t.new_commit("stmt-1").unwrap().with_read_snapshot(read).commit(msgs).await.unwrap();
    // Now another writer writes key 1's bucket; a statement that read before it conflicts.
    let read = t.snapshots().latest_id().await.unwrap();
    let mut other_writer = t.new_write().await.unwrap();
    other_writer.write(&rows(&t, "a", vec![1], vec![8])).await.unwrap();
    t.new_commit("other").unwrap().commit(other_writer.prepare_commit().await.unwrap()).await.unwrap();
    let mut w = t.new_write().await.unwrap();
    w.write(&rows(&t, "a", vec![1], vec![9])).await.unwrap();
    let msgs = w.prepare_commit().await.unwrap();
    let written: Vec<String> = msgs.iter().flat_map(|m| m.new_files.iter().map(|f| f.file_name.clone())).collect();
    let commit = t.new_commit("stmt-2").unwrap().with_read_snapshot(read);
    let e = commit.commit(msgs.clone()).await.unwrap_err();
    assert!(matches!(e, shoal::Error::CommitConflict(_)), "{e}");
    assert!(e.to_string().contains(&format!("bucket {b1} changed since snapshot {}", read.unwrap())), "{e}");
    commit.abort(&msgs).await;
    for name in written {
        let path = dir.path().join("db.db/t/dt=a").join(format!("bucket-{b1}")).join(&name);
        assert!(!path.exists(), "{} is left behind", path.display());
    }
    let ctx = context_for_warehouse(dir.path().to_str().unwrap()).await.unwrap();
    let v = i64s(&sql(&ctx, "SELECT v FROM db.t WHERE dt = 'a' AND k = 1").await.unwrap(), 0);
    assert_eq!(v, vec![8]);
}

/// Two sessions increment one counter row with UPDATE at the same time: every UPDATE that
/// reports success is counted (no lost update: a statement overtaken by the other one's commit
/// runs again from a fresh read, up to 5 times, or fails with the conflict).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_updates_lose_no_increment() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path()).await;
    let warehouse = dir.path().to_str().unwrap().to_string();
    let before = {
        let ctx = context_for_warehouse(&warehouse).await.unwrap();
        i64s(&sql(&ctx, "SELECT v FROM db.t WHERE dt = 'b' AND k = 7").await.unwrap(), 0)[0]
    };
    let session = |warehouse: String| async move {
        let ctx = context_for_warehouse(&warehouse).await.unwrap();
        let (mut ok, mut conflicts) = (0i64, 0);
        for _ in 0..12 {
            match sql(&ctx, "UPDATE db.t SET v = v + 1 WHERE dt = 'b' AND k = 7").await {
                Ok(_) => ok += 1,
                Err(e) if e.to_string().contains("commit conflict") => conflicts += 1,
                Err(e) => panic!("{e}"),
            }
        }
        (ok, conflicts)
    };
    let (a, b) = tokio::join!(tokio::spawn(session(warehouse.clone())), tokio::spawn(session(warehouse.clone())));
    let ((ok_a, c_a), (ok_b, c_b)) = (a.unwrap(), b.unwrap());
    let ctx = context_for_warehouse(&warehouse).await.unwrap();
    let after = i64s(&sql(&ctx, "SELECT v FROM db.t WHERE dt = 'b' AND k = 7").await.unwrap(), 0)[0];
    eprintln!("concurrent UPDATEs: {} applied, {} failed after retries", ok_a + ok_b, c_a + c_b);
    assert_eq!(after - before, ok_a + ok_b, "increments lost");
    assert!(ok_a + ok_b >= 12, "most statements apply");
}
