//! The partitioned key-value tables (`dt STRING`, `k BIGINT`, `v STRING`, key (dt, k),
//! partitioned by dt) the bucket-mode tests write with shoal and with the reference
//! implementations.

use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use serde_json::{json, Value};
use shoal::spec::{parse_type, RowKind};
use shoal::table::TableDefinition;
use shoal::Table;

/// A row and its kind.
pub type Row = (String, i64, String, RowKind);

/// The rows as a batch of the table's schema.
pub fn batch(t: &Table, rows: &[Row]) -> RecordBatch {
    RecordBatch::try_new(
        t.arrow_schema(),
        vec![
            Arc::new(StringArray::from(rows.iter().map(|r| r.0.clone()).collect::<Vec<_>>())) as ArrayRef,
            Arc::new(Int64Array::from(rows.iter().map(|r| r.1).collect::<Vec<_>>())),
            Arc::new(StringArray::from(rows.iter().map(|r| r.2.clone()).collect::<Vec<_>>())),
        ],
    )
    .expect("rows fit the (dt, k, v) table")
}

/// The table with option `bucket` and `extra`.
pub fn definition(bucket: &str, extra: &[(&str, &str)]) -> TableDefinition {
    let mut d = TableDefinition::default()
        .column("dt", parse_type("STRING").expect("static type"))
        .column("k", parse_type("BIGINT").expect("static type"))
        .column("v", parse_type("STRING").expect("static type"))
        .primary_key(&["dt", "k"])
        .partition_key(&["dt"])
        .option("bucket", bucket);
    for (k, v) in extra {
        d = d.option(k, v);
    }
    d
}

/// The oracles' JSON spec of the table with option `bucket` and `extra`, and these commits.
pub fn spec(bucket: &str, commits: &[Vec<Row>], extra: &[(&str, &str)]) -> Value {
    let mut options = serde_json::Map::new();
    options.insert("bucket".into(), json!(bucket));
    for (k, v) in extra {
        options.insert(k.to_string(), json!(v));
    }
    json!({
        "fields": [{"name": "dt", "type": "STRING"}, {"name": "k", "type": "BIGINT"}, {"name": "v", "type": "STRING"}],
        "primary_keys": ["dt", "k"],
        "partition_keys": ["dt"],
        "options": options,
        "commits": commits.iter().map(|rows| json!({"rows": rows.iter().map(|(dt, k, v, kind)| {
            json!({"dt": dt, "k": k, "v": v, "_row_kind": kind.short_string()})
        }).collect::<Vec<_>>()})).collect::<Vec<_>>(),
    })
}
