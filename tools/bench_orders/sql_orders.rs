//! SQL side-by-side: `SELECT order_state, count(*), sum(order_fee) FROM orders GROUP BY
//! order_state` through DataFusion on the shoal orders table (merge-on-read over the LSM
//! files), and through DataFusion on a plain Parquet copy of the same merged rows.
//!
//! The plain copy is read by a minimal Parquet table in this file (the parquet crate's async
//! reader with column projection, one DataFusion partition per file): shoal builds DataFusion
//! without its `parquet` feature, so DataFusion's own ListingTable is not linked. Both sides
//! use zstd-compressed Parquet written by the same parquet crate, the same session settings,
//! and the same number of partitions.
//!
//! cargo run --release --example bench_sql -- [--rows-per-commit 250000] [--commits 8]
//!     [--runs 5] [--dir /tmp/shoal-bench-sql] [--option k=v]...

#[path = "orders_data.rs"]
mod orders_data;

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::Result;
use datafusion::error::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_expr::LexOrdering;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use futures::TryStreamExt;
use parquet::arrow::{ArrowWriter, ParquetRecordBatchStreamBuilder, ProjectionMask};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use shoal::Table;

const QUERY: &str =
    "SELECT order_state, count(*) AS n, sum(order_fee) AS fees FROM orders GROUP BY order_state ORDER BY order_state";

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Plain Parquet files as a DataFusion table: one partition per file, projected columns only.
#[derive(Debug)]
struct PlainParquet {
    files: Vec<std::path::PathBuf>,
    schema: SchemaRef,
    /// Where the table's columns start in the files: 0 for the plain copy, and past the key,
    /// sequence and kind columns for shoal's own data files.
    column_offset: usize,
}

struct FilePartition {
    path: std::path::PathBuf,
    projection: Option<Vec<usize>>,
    schema: SchemaRef,
    column_offset: usize,
}

impl fmt::Debug for FilePartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FilePartition({})", self.path.display())
    }
}

impl PartitionStream for FilePartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let path = self.path.clone();
        let (offset, n) = (self.column_offset, self.schema.fields().len());
        let projection = Some(match &self.projection {
            Some(p) => p.iter().map(|i| i + offset).collect::<Vec<_>>(),
            None => (offset..offset + n).collect(),
        });
        let pq = |e: parquet::errors::ParquetError| DataFusionError::External(Box::new(e));
        let stream = futures::stream::once(async move {
            let file = tokio::fs::File::open(&path).await?;
            let builder = ParquetRecordBatchStreamBuilder::new(file).await.map_err(pq)?.with_batch_size(8192);
            let mask = match projection {
                Some(p) => ProjectionMask::roots(builder.parquet_schema(), p),
                None => ProjectionMask::all(),
            };
            Ok::<_, DataFusionError>(builder.with_projection(mask).build().map_err(pq)?.map_err(pq))
        })
        .try_flatten();
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), stream))
    }
}

#[async_trait]
impl TableProvider for PlainParquet {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
    fn table_type(&self) -> TableType {
        TableType::Base
    }
    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let schema = match projection {
            Some(p) => Arc::new(self.schema.project(p)?),
            None => self.schema.clone(),
        };
        let partitions: Vec<Arc<dyn PartitionStream>> = self
            .files
            .iter()
            .map(|f| {
                Arc::new(FilePartition {
                    path: f.clone(),
                    projection: projection.cloned(),
                    schema: schema.clone(),
                    column_offset: self.column_offset,
                }) as Arc<dyn PartitionStream>
            })
            .collect();
        Ok(Arc::new(StreamingTableExec::try_new(schema, partitions, None, Vec::<LexOrdering>::new(), false, limit)?))
    }
}

/// Runs the query on each context `runs` times after one warm-up each, the contexts taking
/// turns within every round (so a slower moment of the machine, e.g. the page cache writing back
/// the table just written, falls on all of them alike); returns per context (median seconds,
/// result).
async fn time_interleaved(ctxs: &[&SessionContext], runs: usize) -> Vec<(f64, Vec<RecordBatch>)> {
    let mut results = vec![];
    for ctx in ctxs {
        results.push(shoal::datafusion::sql(ctx, QUERY).await.expect("query runs"));
    }
    let mut times = vec![vec![]; ctxs.len()];
    for _ in 0..runs {
        for (i, ctx) in ctxs.iter().enumerate() {
            let start = Instant::now();
            let r = shoal::datafusion::sql(ctx, QUERY).await.expect("query runs");
            times[i].push(start.elapsed().as_secs_f64());
            let rows = |b: &[RecordBatch]| b.iter().map(|b| b.num_rows()).sum::<usize>();
            assert_eq!(rows(&r), rows(&results[i]));
        }
    }
    times
        .into_iter()
        .zip(results)
        .map(|(mut t, r)| {
            t.sort_by(|a, b| a.total_cmp(b));
            (t[t.len() / 2], r)
        })
        .collect()
}

#[tokio::main]
async fn main() -> shoal::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let dir: String = arg(&args, "--dir", "/tmp/shoal-bench-sql".to_string());
    let rows: usize = arg(&args, "--rows-per-commit", 250_000);
    let commits: usize = arg(&args, "--commits", 8);
    let runs: usize = arg(&args, "--runs", 5);
    let _ = std::fs::remove_dir_all(&dir);
    let warehouse = format!("{dir}/wh");
    let location = format!("{warehouse}/bench.db/orders");

    // The orders table: `commits` commits of random upserts over 4M keys, 4 buckets.
    // `--option k=v` sets table options (e.g. deletion-vectors.enabled=true for the DV read).
    let opts: Vec<(String, String)> = args
        .windows(2)
        .filter(|w| w[0] == "--option")
        .filter_map(|w| w[1].split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect();
    let extra: Vec<(&str, &str)> = opts.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let table = Table::create(&location, orders_data::definition(&extra)).await?;
    let mut gen = orders_data::Generator::new(7);
    let schema = table.arrow_schema();
    let mut write = table.new_write().await?;
    let commit = table.new_commit("bench")?;
    for i in 0..commits {
        write.write(&gen.batch(&schema, rows)).await?;
        commit.commit_with_identifier(i as i64 + 1, write.prepare_commit_with(i + 1 == commits).await?).await?;
    }
    drop(write);
    let plan = table.new_scan().plan().await?;
    let files: usize = plan.splits.iter().map(|s| s.files.len()).sum();

    // The plain copy: the merged rows, one zstd Parquet file per bucket-sized slice.
    let merged = table.read_all(None, None).await?;
    let plain_dir = format!("{dir}/plain");
    std::fs::create_dir_all(&plain_dir).map_err(|e| shoal::Error::InvalidInput(e.to_string()))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).expect("valid level")))
        .set_dictionary_enabled(false)
        .build();
    let parts = plan.splits.len().max(1);
    let per = merged.num_rows().div_ceil(parts);
    let mut plain_files = vec![];
    for p in 0..parts {
        let slice = merged.slice(p * per, per.min(merged.num_rows().saturating_sub(p * per)));
        let path = std::path::PathBuf::from(format!("{plain_dir}/part-{p}.parquet"));
        let f = std::fs::File::create(&path).map_err(|e| shoal::Error::InvalidInput(e.to_string()))?;
        let mut w = ArrowWriter::try_new(f, schema.clone(), Some(props.clone()))
            .map_err(|e| shoal::Error::InvalidInput(e.to_string()))?;
        w.write(&slice).map_err(|e| shoal::Error::InvalidInput(e.to_string()))?;
        w.close().map_err(|e| shoal::Error::InvalidInput(e.to_string()))?;
        plain_files.push(path);
    }

    let shoal_ctx = shoal::datafusion::context_for_warehouse(&warehouse).await?;
    shoal_ctx
        .sql("CREATE VIEW orders AS SELECT * FROM bench.orders")
        .await
        .map_err(|e| shoal::Error::InvalidInput(e.to_string()))?;
    let plain_ctx = SessionContext::new();
    plain_ctx
        .register_table(
            "orders",
            Arc::new(PlainParquet { files: plain_files, schema: schema.clone(), column_offset: 0 }),
        )
        .map_err(|e| shoal::Error::InvalidInput(e.to_string()))?;

    // The same data files that shoal reads (above level 0), scanned by DataFusion with no merge
    // and no deletion vectors: the baseline for deletion-vector reads (its counts include
    // superseded rows, so only its time is compared).
    let same_files: Vec<std::path::PathBuf> = plan
        .splits
        .iter()
        .flat_map(|s| {
            let location = location.clone();
            s.files
                .iter()
                .filter(|f| f.level > 0)
                .map(move |f| std::path::PathBuf::from(format!("{location}/{}/{}", s.bucket_path, f.file_name)))
        })
        .collect();
    let raw_ctx = SessionContext::new();
    raw_ctx
        .register_table(
            "orders",
            Arc::new(PlainParquet { files: same_files, schema: schema.clone(), column_offset: 3 }),
        )
        .map_err(|e| shoal::Error::InvalidInput(e.to_string()))?;
    let timed = time_interleaved(&[&shoal_ctx, &plain_ctx, &raw_ctx], runs).await;
    let [(shoal_s, shoal_rows), (plain_s, plain_rows), (raw_s, _)]: [(f64, Vec<RecordBatch>); 3] =
        timed.try_into().expect("three contexts");
    let pretty = |b: &[RecordBatch]| {
        datafusion::arrow::util::pretty::pretty_format_batches(b).map(|t| t.to_string()).unwrap_or_default()
    };
    assert_eq!(pretty(&shoal_rows), pretty(&plain_rows), "both sides must return the same groups");

    // And once more after a full compaction (one file per bucket, no merge left).
    shoal::datafusion::sql(&shoal_ctx, "CALL sys.compact(table => 'bench.orders')").await.expect("compaction runs");
    let timed = time_interleaved(&[&shoal_ctx, &plain_ctx], runs).await;
    let [(compacted_s, compacted_rows), (plain_again_s, _)]: [(f64, Vec<RecordBatch>); 2] =
        timed.try_into().expect("two contexts");
    assert_eq!(pretty(&compacted_rows), pretty(&plain_rows));

    println!("{}", pretty(&plain_rows));
    println!(
        "rows written {}, merged rows {}, shoal data files {files} (before compaction)",
        rows * commits,
        merged.num_rows()
    );
    println!("shoal (merge-on-read, {files} files): {:>8.1} ms", shoal_s * 1e3);
    println!("shoal (after full compaction):      {:>8.1} ms", compacted_s * 1e3);
    println!(
        "plain Parquet copy:                 {:>8.1} ms ({:.1} ms beside the compacted read)",
        plain_s * 1e3,
        plain_again_s * 1e3
    );
    println!("shoal's data files, raw (no merge): {:>8.1} ms", raw_s * 1e3);
    println!(
        "{{\"shoal_ms\": {:.1}, \"shoal_compacted_ms\": {:.1}, \"plain_parquet_ms\": {:.1}, \"same_files_raw_ms\": {:.1}, \"ratio_same_files\": {:.2}, \"ratio\": {:.2}, \"ratio_compacted\": {:.2}, \"merged_rows\": {}}}",
        shoal_s * 1e3,
        compacted_s * 1e3,
        plain_s * 1e3,
        raw_s * 1e3,
        shoal_s / raw_s,
        shoal_s / plain_s,
        compacted_s / plain_again_s,
        merged.num_rows()
    );
    Ok(())
}
