//! The 'orders' workload shared by the criterion bench and the side-by-side harness:
//! order_id uniform in 1..=4,000,000 (so upserts hit existing keys). The side-by-side harness
//! writes it once to Parquet files (orders_files.rs) that shoal and Java Paimon both read.
#![allow(dead_code)]

use std::sync::Arc;

use arrow_array::builder::{Decimal128Builder, Int32Builder, Int64Builder, StringBuilder, TimestampMillisecondBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::SchemaRef;
use rand::{Rng, SeedableRng};
use shoal::spec::parse_type;
use shoal::table::TableDefinition;

pub const KEY_SPACE: i64 = 4_000_000;

pub fn definition(extra: &[(&str, &str)]) -> TableDefinition {
    let mut d = TableDefinition::default();
    for (n, t) in [
        ("order_id", "BIGINT NOT NULL"),
        ("order_name", "STRING"),
        ("order_user_id", "BIGINT"),
        ("order_shop_id", "BIGINT"),
        ("order_product_id", "BIGINT"),
        ("order_fee", "DECIMAL(20, 2)"),
        ("order_create_time", "TIMESTAMP(3)"),
        ("order_update_time", "TIMESTAMP(3)"),
        ("order_state", "INT"),
    ] {
        d = d.column(n, parse_type(t).expect("static type"));
    }
    d = d.primary_key(&["order_id"]).option("bucket", "4");
    for (k, v) in extra {
        d = d.option(k, v);
    }
    d
}

pub struct Generator {
    rng: rand::rngs::StdRng,
}

impl Generator {
    pub fn new(seed: u64) -> Self {
        Generator { rng: rand::rngs::StdRng::seed_from_u64(seed) }
    }

    pub fn batch(&mut self, schema: &SchemaRef, rows: usize) -> RecordBatch {
        let mut id = Int64Builder::with_capacity(rows);
        let mut name = StringBuilder::with_capacity(rows, rows * 14);
        let mut user = Int64Builder::with_capacity(rows);
        let mut shop = Int64Builder::with_capacity(rows);
        let mut product = Int64Builder::with_capacity(rows);
        let mut fee = Decimal128Builder::with_capacity(rows);
        let mut created = TimestampMillisecondBuilder::with_capacity(rows);
        let mut updated = TimestampMillisecondBuilder::with_capacity(rows);
        let mut state = Int32Builder::with_capacity(rows);
        for _ in 0..rows {
            let k = self.rng.random_range(1..=KEY_SPACE);
            id.append_value(k);
            name.append_value(format!("order-{k}"));
            user.append_value(self.rng.random_range(1..=100_000));
            shop.append_value(self.rng.random_range(1..=10_000));
            product.append_value(self.rng.random_range(1..=100_000));
            fee.append_value(self.rng.random_range(0..1_000_000i128));
            let c = 1_700_000_000_000 + self.rng.random_range(0..30 * 86_400_000i64);
            created.append_value(c);
            updated.append_value(c + self.rng.random_range(0..86_400_000i64));
            state.append_value(self.rng.random_range(0..5));
        }
        let cols: Vec<ArrayRef> = vec![
            Arc::new(id.finish()),
            Arc::new(name.finish()),
            Arc::new(user.finish()),
            Arc::new(shop.finish()),
            Arc::new(product.finish()),
            Arc::new(fee.finish().with_precision_and_scale(20, 2).expect("valid decimal")),
            Arc::new(created.finish()),
            Arc::new(updated.finish()),
            Arc::new(state.finish()),
        ];
        RecordBatch::try_new(schema.clone(), cols).expect("orders batch matches the schema")
    }
}

/// Peak resident memory of this process (VmHWM), in MiB.
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| l.to_string()))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}
