//! The orders workload as Parquet files, generated once and fed to both sides of the side-by-side
//! benchmark (tools/bench_orders/run.sh), and the row checksum both sides compute over their
//! final table.
//!
//! Layout of a workload directory:
//!   w1-000.parquet .. w1-NNN.parquet, w2-000.parquet .. w2-NNN.parquet   one file per commit, in
//!       commit order, each holding the commit's rows in write order, with the table's columns
//!       and their exact Arrow types (DECIMAL(20, 2) = decimal128(20, 2), TIMESTAMP(3) =
//!       timestamp[ms] without zone, order_id non-nullable)
//!   workload.json   the parameters and the final table the workload must leave behind:
//!       {"seed", "w1_commits", "w2_commits", "rows_per_commit", "expected_rows",
//!        "expected_checksum"}
//!
//! Row checksum (java/shoal/bench/OrdersBench.java computes the same): the sum mod 2^64 of
//! FNV-1a 64 over the UTF-8 bytes of each row's canonical text, printed as 16 lowercase hex
//! digits. A row's canonical text is its values in table column order joined by '|'; a value is
//! written as: INT / BIGINT the decimal integer; STRING the string itself; DECIMAL(p, s) a plain
//! decimal with exactly s fraction digits ("0.05", "-12.30"); TIMESTAMP(3) the epoch
//! milliseconds of its wall-clock time as a decimal integer; null as \N. The sum makes the
//! checksum independent of the row order.

use std::collections::HashMap;
use std::error::Error;
use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Decimal128Type, Int32Type, Int64Type, TimestampMillisecondType};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType as ArrowType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};

use crate::orders_data;

pub type BoxResult<T> = Result<T, Box<dyn Error>>;

/// workload.json.
#[derive(Serialize, Deserialize)]
pub struct Workload {
    pub seed: u64,
    pub w1_commits: usize,
    pub w2_commits: usize,
    pub rows_per_commit: usize,
    /// Distinct keys over all commits: the rows of the final merged table.
    pub expected_rows: u64,
    /// The checksum of each key's last written row.
    pub expected_checksum: String,
}

impl Workload {
    pub fn load(dir: &Path) -> BoxResult<Workload> {
        let text = std::fs::read_to_string(dir.join("workload.json"))
            .map_err(|e| format!("{}: {e} (generate the workload with --generate DIR)", dir.display()))?;
        Ok(serde_json::from_str(&text)?)
    }

    /// The commit files of W1 and of W2, in commit order.
    pub fn phase_files(&self, dir: &Path) -> (Vec<PathBuf>, Vec<PathBuf>) {
        let files = |phase: &str, n: usize| (0..n).map(|i| commit_file(dir, phase, i)).collect();
        (files("w1", self.w1_commits), files("w2", self.w2_commits))
    }
}

/// `DIR/w1-003.parquet`; java_orders.py builds the same names.
fn commit_file(dir: &Path, phase: &str, index: usize) -> PathBuf {
    dir.join(format!("{phase}-{index:03}.parquet"))
}

/// The Arrow schema of the orders table's columns (shoal's type mapping, no field ids).
fn orders_schema() -> SchemaRef {
    let def = orders_data::definition(&[]);
    Arc::new(Schema::new(
        def.columns.iter().map(|(name, t)| Field::new(name, t.to_arrow(), t.nullable)).collect::<Vec<_>>(),
    ))
}

/// Writes the workload into `dir` with orders_data's generator (W1's commits, then W2's, from one
/// random stream seeded with `seed`) and returns its workload.json.
pub fn generate(
    dir: &Path,
    seed: u64,
    w1_commits: usize,
    w2_commits: usize,
    rows_per_commit: usize,
) -> BoxResult<Workload> {
    std::fs::create_dir_all(dir)?;
    let schema = orders_schema();
    let props = WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::default())).build();
    let mut gen = orders_data::Generator::new(seed);
    // The row hash of each key's latest row: a later row replaces an earlier one, within a
    // commit too (the table's deduplicate merge by sequence number).
    let mut last: HashMap<i64, u64> = HashMap::new();
    for (phase, commits) in [("w1", w1_commits), ("w2", w2_commits)] {
        for i in 0..commits {
            let batch = gen.batch(&schema, rows_per_commit);
            let keys = batch.column(0).as_primitive::<Int64Type>();
            for (row, hash) in row_hashes(&batch)?.into_iter().enumerate() {
                last.insert(keys.value(row), hash);
            }
            let mut writer =
                ArrowWriter::try_new(File::create(commit_file(dir, phase, i))?, schema.clone(), Some(props.clone()))?;
            writer.write(&batch)?;
            writer.close()?;
        }
    }
    let expected = Checksum { rows: last.len() as u64, sum: last.values().fold(0u64, |s, h| s.wrapping_add(*h)) };
    let workload = Workload {
        seed,
        w1_commits,
        w2_commits,
        rows_per_commit,
        expected_rows: expected.rows,
        expected_checksum: expected.hex(),
    };
    std::fs::write(dir.join("workload.json"), serde_json::to_string_pretty(&workload)? + "\n")?;
    Ok(workload)
}

/// Reads one commit file as a single batch in `schema` (the table's, with its field ids), after
/// checking that every column has exactly the table's name, type and nullability.
pub fn read_commit(path: &Path, schema: &SchemaRef) -> BoxResult<RecordBatch> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(path)?)?;
    let rows = builder.metadata().file_metadata().num_rows() as usize;
    let file_schema = builder.schema().clone();
    let (file_fields, table_fields) = (file_schema.fields(), schema.fields());
    let same = file_fields.len() == table_fields.len()
        && file_fields
            .iter()
            .zip(table_fields.iter())
            .all(|(f, t)| f.name() == t.name() && f.data_type() == t.data_type() && f.is_nullable() == t.is_nullable());
    if !same {
        return Err(format!("{}: columns {file_fields:?} are not the table's {table_fields:?}", path.display()).into());
    }
    let batches = builder.with_batch_size(rows.max(1)).build()?.collect::<Result<Vec<_>, _>>()?;
    let batch = arrow_select::concat::concat_batches(&file_schema, &batches)?;
    Ok(RecordBatch::try_new(schema.clone(), batch.columns().to_vec())?)
}

/// Row count and checksum (see the module doc) of a set of rows.
#[derive(Default)]
pub struct Checksum {
    pub rows: u64,
    pub sum: u64,
}

impl Checksum {
    pub fn add(&mut self, batch: &RecordBatch) -> BoxResult<()> {
        for hash in row_hashes(batch)? {
            self.rows += 1;
            self.sum = self.sum.wrapping_add(hash);
        }
        Ok(())
    }

    pub fn hex(&self) -> String {
        format!("{:016x}", self.sum)
    }
}

/// FNV-1a 64 of each row's canonical text.
fn row_hashes(batch: &RecordBatch) -> BoxResult<Vec<u64>> {
    let mut text = String::new();
    let mut hashes = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        text.clear();
        for (i, column) in batch.columns().iter().enumerate() {
            if i > 0 {
                text.push('|');
            }
            push_canonical(&mut text, column, row)?;
        }
        hashes.push(fnv1a64(text.as_bytes()));
    }
    Ok(hashes)
}

/// Appends a value's canonical text; only the orders table's types have one.
fn push_canonical(out: &mut String, column: &ArrayRef, row: usize) -> BoxResult<()> {
    if column.is_null(row) {
        out.push_str("\\N");
        return Ok(());
    }
    match column.data_type() {
        ArrowType::Int32 => write!(out, "{}", column.as_primitive::<Int32Type>().value(row))?,
        ArrowType::Int64 => write!(out, "{}", column.as_primitive::<Int64Type>().value(row))?,
        ArrowType::Utf8 => out.push_str(column.as_string::<i32>().value(row)),
        ArrowType::Decimal128(_, scale) if *scale >= 0 => {
            let v = column.as_primitive::<Decimal128Type>().value(row);
            let unit = 10i128.pow(*scale as u32);
            let (int, frac) = ((v / unit).unsigned_abs(), (v % unit).unsigned_abs());
            out.push_str(if v < 0 { "-" } else { "" });
            write!(out, "{int}")?;
            if *scale > 0 {
                write!(out, ".{frac:0width$}", width = *scale as usize)?;
            }
        }
        ArrowType::Timestamp(TimeUnit::Millisecond, None) => {
            write!(out, "{}", column.as_primitive::<TimestampMillisecondType>().value(row))?
        }
        other => return Err(format!("no canonical text defined for {other}").into()),
    }
    Ok(())
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3))
}
