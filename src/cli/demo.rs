//! `shoal demo`: a tour on a local warehouse. Creates `demo.db.orders`, writes orders, upserts and
//! deletes some, and prints the table and its snapshots at each step.

use std::sync::Arc;

use arrow_array::{ArrayRef, Decimal128Array, Int32Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};

use crate::error::{Error, Result};
use crate::spec::{parse_type, RowKind};
use crate::table::{Table, TableDefinition};

fn orders(table: &Table, rows: &[(i64, &str, i64, i128, i32)]) -> Result<RecordBatch> {
    let now = chrono::Utc::now().timestamp_millis();
    RecordBatch::try_new(
        table.arrow_schema(),
        vec![
            Arc::new(Int64Array::from(rows.iter().map(|r| r.0).collect::<Vec<_>>())) as ArrayRef,
            Arc::new(StringArray::from(rows.iter().map(|r| r.1).collect::<Vec<_>>())),
            Arc::new(Int64Array::from(rows.iter().map(|r| r.2).collect::<Vec<_>>())),
            Arc::new(Decimal128Array::from(rows.iter().map(|r| r.3).collect::<Vec<_>>()).with_precision_and_scale(20, 2).map_err(Error::arrow("fee"))?),
            Arc::new(TimestampMillisecondArray::from(vec![now; rows.len()])),
            Arc::new(Int32Array::from(rows.iter().map(|r| r.4).collect::<Vec<_>>())),
        ],
    )
    .map_err(Error::arrow("building demo rows"))
}

async fn show(table: &Table, title: &str) -> Result<()> {
    let batch = table.read_all(None, None).await?;
    let snap = table.latest_snapshot().await?.map(|s| s.id).unwrap_or(0);
    println!("\n== {title} (snapshot {snap}) ==");
    println!("{}", arrow::util::pretty::pretty_format_batches(&[batch]).map_err(Error::arrow("printing"))?);
    Ok(())
}

pub async fn run(warehouse: &str) -> Result<()> {
    let location = format!("{}/demo.db/orders", warehouse.trim_end_matches('/'));
    if std::path::Path::new(&location).exists() {
        std::fs::remove_dir_all(&location).map_err(|e| Error::InvalidInput(format!("{location}: {e}")))?;
    }
    let def = TableDefinition::default()
        .column("order_id", parse_type("BIGINT")?)
        .column("customer", parse_type("STRING")?)
        .column("product_id", parse_type("BIGINT")?)
        .column("fee", parse_type("DECIMAL(20, 2)")?)
        .column("updated_at", parse_type("TIMESTAMP(3)")?)
        .column("state", parse_type("INT")?)
        .primary_key(&["order_id"])
        .option("bucket", "2");
    let table = Table::create(&location, def).await?;
    println!("created table {location} (primary key order_id, 2 buckets)");

    let user = uuid::Uuid::new_v4().to_string();
    let commit = table.new_commit(&user)?;
    let mut w = table.new_write().await?;
    w.write(&orders(
        &table,
        &[(1, "ada", 100, 1999, 0), (2, "grace", 101, 4250, 0), (3, "linus", 102, 999, 0), (4, "barbara", 100, 1999, 0), (5, "edsger", 103, 12000, 0)],
    )?)
    .await?;
    commit.commit_with_identifier(1, w.prepare_commit().await?).await?;
    show(&table, "after inserting 5 orders").await?;

    // An upsert: order 2 is paid (state 1) and order 6 arrives.
    w.write(&orders(&table, &[(2, "grace", 101, 4250, 1), (6, "ken", 104, 300, 0)])?).await?;
    commit.commit_with_identifier(2, w.prepare_commit().await?).await?;
    show(&table, "after upserting order 2 and inserting order 6").await?;

    // A CDC update (-U/+U) of order 1, and a delete (-D) of order 3.
    let b = orders(&table, &[(1, "ada", 100, 1999, 0), (1, "ada", 100, 1499, 2), (3, "linus", 102, 999, 0)])?;
    w.write_with_kinds(&b, Some(&[RowKind::UpdateBefore, RowKind::UpdateAfter, RowKind::Delete])).await?;
    commit.commit_with_identifier(3, w.prepare_commit().await?).await?;
    show(&table, "after updating order 1 and deleting order 3").await?;

    let first = table.read_all(Some(1), None).await?;
    println!("\ntime travel: snapshot 1 still has {} orders", first.num_rows());
    println!("\nsnapshots:");
    let sm = table.snapshots();
    for id in sm.snapshot_ids().await? {
        let s = sm.snapshot(id).await?;
        println!("  {}  {:?}  +{} rows (total {})", s.id, s.commit_kind, s.delta_record_count.unwrap_or(0), s.total_record_count.unwrap_or(0));
    }
    println!("\nThe table is in Apache Paimon's format: Flink, Spark or Java Paimon can read {location}.");
    println!("Try: cargo run --release -- read {location} --format csv");
    Ok(())
}
