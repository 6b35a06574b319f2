//! A small orders workload on a local warehouse (what `shoal demo` shows): a primary-key table
//! `demo.db.orders` with 2 buckets, five orders inserted, an upsert, then a CDC update and a
//! delete, one snapshot each.

use std::sync::Arc;

use arrow_array::{
    ArrayRef, Decimal128Array, Int32Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
};

use crate::commit::TableCommit;
use crate::error::{Error, Result};
use crate::spec::{parse_type, RowKind};
use crate::table::{Table, TableDefinition};
use crate::write::TableWrite;

/// An order: id, customer, product id, fee in cents, state.
type Order = (i64, &'static str, i64, i128, i32);

struct Step {
    title: &'static str,
    rows: &'static [Order],
    kinds: Option<&'static [RowKind]>,
}

const STEPS: &[Step] = &[
    Step {
        title: "after inserting 5 orders",
        rows: &[
            (1, "ada", 100, 1999, 0),
            (2, "grace", 101, 4250, 0),
            (3, "linus", 102, 999, 0),
            (4, "barbara", 100, 1999, 0),
            (5, "edsger", 103, 12000, 0),
        ],
        kinds: None,
    },
    // An upsert: order 2 is paid (state 1) and order 6 arrives.
    Step {
        title: "after upserting order 2 and inserting order 6",
        rows: &[(2, "grace", 101, 4250, 1), (6, "ken", 104, 300, 0)],
        kinds: None,
    },
    // A CDC update (-U/+U) of order 1, and a delete (-D) of order 3.
    Step {
        title: "after updating order 1 and deleting order 3",
        rows: &[(1, "ada", 100, 1999, 0), (1, "ada", 100, 1499, 2), (3, "linus", 102, 999, 0)],
        kinds: Some(&[RowKind::UpdateBefore, RowKind::UpdateAfter, RowKind::Delete]),
    },
];

/// The demo table and the writer that runs its steps.
pub struct OrdersDemo {
    location: String,
    table: Table,
    commit: TableCommit,
    write: TableWrite,
    steps_done: usize,
}

impl OrdersDemo {
    /// Creates `<warehouse>/demo.db/orders` (primary key order_id, 2 buckets), replacing the table
    /// an earlier run left there.
    pub async fn create(warehouse: &str) -> Result<OrdersDemo> {
        let location = format!("{}/demo.db/orders", warehouse.trim_end_matches('/'));
        if std::path::Path::new(&location).exists() {
            std::fs::remove_dir_all(&location).map_err(Error::local_io(format!("removing {location}")))?;
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
        let commit = table.new_commit(&uuid::Uuid::new_v4().to_string())?;
        let write = table.new_write().await?;
        Ok(OrdersDemo { location, table, commit, write, steps_done: 0 })
    }

    /// The table's location as given (`<warehouse>/demo.db/orders`).
    pub fn location(&self) -> &str {
        &self.location
    }

    pub fn table(&self) -> &Table {
        &self.table
    }

    /// Writes and commits the next step (snapshots 1, 2, 3); returns what it did, or `None`
    /// once every step has run.
    pub async fn next_step(&mut self) -> Result<Option<&'static str>> {
        let Some(step) = STEPS.get(self.steps_done) else { return Ok(None) };
        let batch = orders(&self.table, step.rows)?;
        self.write.write_with_kinds(&batch, step.kinds).await?;
        self.steps_done += 1;
        self.commit.commit_with_identifier(self.steps_done as i64, self.write.prepare_commit().await?).await?;
        Ok(Some(step.title))
    }
}

fn orders(table: &Table, rows: &[Order]) -> Result<RecordBatch> {
    let now = chrono::Utc::now().timestamp_millis();
    RecordBatch::try_new(
        table.arrow_schema(),
        vec![
            Arc::new(Int64Array::from(rows.iter().map(|r| r.0).collect::<Vec<_>>())) as ArrayRef,
            Arc::new(StringArray::from(rows.iter().map(|r| r.1).collect::<Vec<_>>())),
            Arc::new(Int64Array::from(rows.iter().map(|r| r.2).collect::<Vec<_>>())),
            Arc::new(
                Decimal128Array::from(rows.iter().map(|r| r.3).collect::<Vec<_>>())
                    .with_precision_and_scale(20, 2)
                    .map_err(Error::arrow("fee"))?,
            ),
            Arc::new(TimestampMillisecondArray::from(vec![now; rows.len()])),
            Arc::new(Int32Array::from(rows.iter().map(|r| r.4).collect::<Vec<_>>())),
        ],
    )
    .map_err(Error::arrow("building demo rows"))
}
