//! Paimon's system tables (`t$snapshots`, `t$files`, ...) as Arrow record batches, with the
//! names, columns, column order and types of Apache Paimon 0.9 (`$buckets` and `$table_indexes`,
//! which 0.9 lacks, as Paimon 1.0 has them). DataFusion-agnostic: the SQL layer
//! (`crate::datafusion::system_tables`), the CLI and other front ends build on this.
//!
//! - [`metadata`]: `$snapshots`, `$schemas`, `$options`, `$tags`, `$branches`, `$consumers`
//!   (one row per metadata file);
//! - [`files`]: `$manifests`, `$files`, `$partitions`, `$buckets`, `$table_indexes` (from a
//!   snapshot's manifests: the latest, or the table's time travel);
//! - [`rows`]: `$audit_log` (the table's merged rows with a leading `rowkind`) and `$ro`
//!   (read-optimized: only files that need no merge).
//!
//! Rendering follows Paimon 0.9: partitions, keys and statistics as Java renders its internal
//! values (`[2024-01-01, 3]`, `{a=1, b=null}`, dates as days since the epoch, timestamps as
//! `2024-01-05T10:11:12.004`); times as `TIMESTAMP(3)` wall-clock values of the local time zone
//! (Paimon uses the JVM's).

pub mod files;
pub mod metadata;
pub mod rows;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{DataType as ArrowType, Field, Schema, SchemaRef, TimeUnit};

use crate::error::{Error, Result};
use crate::read::scan::TimeTravel;
use crate::spec::{DataType, Datum, Snapshot};
use crate::store::SnapshotManager;
use crate::table::Table;

/// What separates a table name from a system table name: `t$snapshots`.
pub const SYSTEM_TABLE_SPLITTER: char = '$';

/// One of Paimon's per-table system tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SystemTable {
    Snapshots,
    Schemas,
    Options,
    Tags,
    Branches,
    Consumers,
    Manifests,
    Files,
    Partitions,
    Buckets,
    TableIndexes,
    AuditLog,
    ReadOptimized,
}

impl SystemTable {
    pub const ALL: [SystemTable; 13] = [
        SystemTable::Snapshots,
        SystemTable::Schemas,
        SystemTable::Options,
        SystemTable::Tags,
        SystemTable::Branches,
        SystemTable::Consumers,
        SystemTable::Manifests,
        SystemTable::Files,
        SystemTable::Partitions,
        SystemTable::Buckets,
        SystemTable::TableIndexes,
        SystemTable::AuditLog,
        SystemTable::ReadOptimized,
    ];

    /// The name after `$`, as Paimon spells it.
    pub fn name(self) -> &'static str {
        match self {
            SystemTable::Snapshots => "snapshots",
            SystemTable::Schemas => "schemas",
            SystemTable::Options => "options",
            SystemTable::Tags => "tags",
            SystemTable::Branches => "branches",
            SystemTable::Consumers => "consumers",
            SystemTable::Manifests => "manifests",
            SystemTable::Files => "files",
            SystemTable::Partitions => "partitions",
            SystemTable::Buckets => "buckets",
            SystemTable::TableIndexes => "table_indexes",
            SystemTable::AuditLog => "audit_log",
            SystemTable::ReadOptimized => "ro",
        }
    }

    /// The system table a name (case-insensitive, as in Paimon) names, if any.
    pub fn from_name(name: &str) -> Option<SystemTable> {
        let lower = name.to_ascii_lowercase();
        SystemTable::ALL.into_iter().find(|t| t.name() == lower)
    }

    /// Whether the table lists metadata (as opposed to the table's rows: `$audit_log`, `$ro`).
    pub fn is_metadata(self) -> bool {
        !matches!(self, SystemTable::AuditLog | SystemTable::ReadOptimized)
    }

    /// The columns of a metadata table (for `$audit_log` and `$ro` see [`rows`]).
    pub fn schema(self) -> SchemaRef {
        match self {
            SystemTable::Snapshots => metadata::snapshots_schema(),
            SystemTable::Schemas => metadata::schemas_schema(),
            SystemTable::Options => metadata::options_schema(),
            SystemTable::Tags => metadata::tags_schema(),
            SystemTable::Branches => metadata::branches_schema(),
            SystemTable::Consumers => metadata::consumers_schema(),
            SystemTable::Manifests => files::manifests_schema(),
            SystemTable::Files => files::files_schema(),
            SystemTable::Partitions => files::partitions_schema(),
            SystemTable::Buckets => files::buckets_schema(),
            SystemTable::TableIndexes => files::table_indexes_schema(),
            SystemTable::AuditLog | SystemTable::ReadOptimized => Arc::new(Schema::empty()),
        }
    }
}

impl std::fmt::Display for SystemTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Restrictions a query puts on a metadata table that cut work (rows outside them may still be
/// returned: callers filter again).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SystemFilter {
    /// `$snapshots`: the smallest and largest snapshot id wanted.
    pub snapshot_id_min: Option<i64>,
    pub snapshot_id_max: Option<i64>,
    /// `$files`, `$buckets`, `$table_indexes`: the partition, as the `partition` column
    /// renders it (`[2024-01-01, 3]`; the brackets may be left out).
    pub partition: Option<String>,
    /// `$files`, `$buckets`, `$table_indexes`: the buckets wanted.
    pub buckets: Option<Vec<i32>>,
    /// `$files`: the levels wanted.
    pub levels: Option<Vec<i32>>,
}

/// The rows of a metadata system table of `table` (which may be time-travelled: `$manifests`,
/// `$files`, `$partitions`, `$buckets` and `$table_indexes` read the snapshot it reads).
pub async fn read_metadata(table: &Table, which: SystemTable, filter: &SystemFilter) -> Result<RecordBatch> {
    match which {
        SystemTable::Snapshots => metadata::snapshots(table, filter).await,
        SystemTable::Schemas => metadata::schemas(table).await,
        SystemTable::Options => metadata::options(table).await,
        SystemTable::Tags => metadata::tags(table).await,
        SystemTable::Branches => metadata::branches(table).await,
        SystemTable::Consumers => metadata::consumers(table).await,
        SystemTable::Manifests => files::manifests(table).await,
        SystemTable::Files => files::files(table, filter).await,
        SystemTable::Partitions => files::partitions(table).await,
        SystemTable::Buckets => files::buckets(table, filter).await,
        SystemTable::TableIndexes => files::table_indexes(table, filter).await,
        SystemTable::AuditLog | SystemTable::ReadOptimized => Err(Error::InvalidInput(format!(
            "{which} lists the table's rows, not metadata: read it through system_tables::rows"
        ))),
    }
}

/// The snapshot a table reads: its time travel (`scan.snapshot-id`, `scan.tag-name`,
/// `scan.timestamp-millis` in its options), else the latest (None for an empty table).
pub async fn snapshot_read(table: &Table) -> Result<Option<Snapshot>> {
    match TimeTravel::from_options(&table.schema().core_options())? {
        Some(tt) => Ok(Some(tt.resolve(table.io()).await?)),
        None => SnapshotManager::new(table.io().clone()).latest().await,
    }
}

// ------------------------------------------------------------------------------ columns

pub(crate) fn string(name: &str, nullable: bool) -> Field {
    Field::new(name, ArrowType::Utf8, nullable)
}

pub(crate) fn bigint(name: &str, nullable: bool) -> Field {
    Field::new(name, ArrowType::Int64, nullable)
}

pub(crate) fn int(name: &str, nullable: bool) -> Field {
    Field::new(name, ArrowType::Int32, nullable)
}

/// Paimon's `TIMESTAMP(3)`: a wall-clock time without zone.
pub(crate) fn timestamp(name: &str, nullable: bool) -> Field {
    Field::new(name, ArrowType::Timestamp(TimeUnit::Millisecond, None), nullable)
}

pub(crate) fn batch(schema: SchemaRef, columns: Vec<arrow_array::ArrayRef>, what: &str) -> Result<RecordBatch> {
    RecordBatch::try_new(schema, columns).map_err(Error::arrow(what))
}

// ------------------------------------------------------------------------------ rendering

/// Epoch millis as the wall-clock millis of the local time zone (Paimon's
/// `LocalDateTime.ofInstant(Instant.ofEpochMilli(ms), ZoneId.systemDefault())`).
pub fn local_millis(epoch_millis: i64) -> i64 {
    match chrono::DateTime::from_timestamp_millis(epoch_millis) {
        Some(t) => t.with_timezone(&chrono::Local).naive_local().and_utc().timestamp_millis(),
        None => epoch_millis,
    }
}

/// A value as Java renders Paimon's internal value of it (`String.valueOf` of what
/// `InternalRow.FieldGetter` returns): dates as days since the epoch, times as millis of the
/// day, timestamps as `LocalDateTime.toString()`, decimals plain, doubles as `Double.toString`.
/// (Binary values, which Java renders as an object address, are rendered in hex.)
pub fn java_string(d: &Datum) -> String {
    match d {
        Datum::Null => "null".into(),
        Datum::Boolean(b) => b.to_string(),
        Datum::TinyInt(v) => v.to_string(),
        Datum::SmallInt(v) => v.to_string(),
        Datum::Int(v) | Datum::Date(v) | Datum::Time(v) => v.to_string(),
        Datum::BigInt(v) => v.to_string(),
        Datum::Float(v) => java_float(f64::from(*v), v.to_string()),
        Datum::Double(v) => java_float(*v, v.to_string()),
        Datum::Decimal { unscaled, scale, .. } => crate::spec::datum::format_decimal(*unscaled, *scale),
        Datum::String(s) => s.clone(),
        Datum::Bytes(b) => b.iter().map(|x| format!("{x:02x}")).collect(),
        Datum::Timestamp { millis, nanos } => java_local_date_time(*millis, *nanos),
    }
}

/// Java's `Double.toString` / `Float.toString` from Rust's shortest round-trip digits
/// (`shortest`): plain between 10^-3 and 10^7, else `d.dddE±n`.
fn java_float(v: f64, shortest: String) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    let abs = v.abs();
    if abs == 0.0 || (1e-3..1e7).contains(&abs) {
        return if shortest.contains('.') { shortest } else { format!("{shortest}.0") };
    }
    // Scientific: digits and exponent from the shortest representation.
    let negative = shortest.starts_with('-');
    let body = shortest.trim_start_matches('-');
    let (mantissa, exp) = match body.split_once('e') {
        Some((m, e)) => (m.to_string(), e.parse::<i32>().unwrap_or(0)),
        None => (body.to_string(), 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((&mantissa, ""));
    let digits: String = format!("{int_part}{frac_part}");
    let lead = digits.find(|c| c != '0').unwrap_or(0);
    let significant = digits[lead..].trim_end_matches('0');
    let significant = if significant.is_empty() { "0" } else { significant };
    let exponent = exp + int_part.len() as i32 - 1 - lead as i32;
    let (first, rest) = significant.split_at(1);
    let rest = if rest.is_empty() { "0" } else { rest };
    format!("{}{first}.{rest}E{exponent}", if negative { "-" } else { "" })
}

/// `java.time.LocalDateTime.toString()` of a wall-clock time: `2024-01-05T10:11` plus `:ss`
/// when seconds or fractions are non-zero, plus 3, 6 or 9 fraction digits.
pub fn java_local_date_time(millis: i64, nanos_of_milli: i32) -> String {
    let Some(t) = chrono::DateTime::from_timestamp_millis(millis) else { return millis.to_string() };
    let t = t.naive_utc();
    let nanos = millis.rem_euclid(1000) * 1_000_000 + i64::from(nanos_of_milli);
    let mut s = t.format("%Y-%m-%dT%H:%M").to_string();
    let secs = chrono::Timelike::second(&t);
    if secs > 0 || nanos > 0 {
        s.push_str(&format!(":{secs:02}"));
    }
    if nanos > 0 {
        if nanos % 1_000_000 == 0 {
            s.push_str(&format!(".{:03}", nanos / 1_000_000));
        } else if nanos % 1000 == 0 {
            s.push_str(&format!(".{:06}", nanos / 1000));
        } else {
            s.push_str(&format!(".{nanos:09}"));
        }
    }
    s
}

/// Java's `Arrays.toString` of a row's values: `[a, 3]` (`[]` for no values).
pub fn java_array_string(values: &[Datum]) -> String {
    format!("[{}]", values.iter().map(java_string).collect::<Vec<_>>().join(", "))
}

/// A partition as Paimon's system tables render it.
pub fn partition_string(partition: &crate::spec::BinaryRow, types: &[DataType]) -> Result<String> {
    if types.is_empty() {
        return Ok("[]".into());
    }
    Ok(java_array_string(&partition.to_datums(types)?))
}

/// `java.time.Duration.toString()`: `PT48H`, `PT1H30M`, `PT0.5S`, `PT0S`.
pub fn java_duration(d: std::time::Duration) -> String {
    let total = d.as_secs();
    let (hours, minutes, secs) = (total / 3600, (total % 3600) / 60, total % 60);
    let nanos = d.subsec_nanos();
    let mut s = "PT".to_string();
    if hours > 0 {
        s.push_str(&format!("{hours}H"));
    }
    if minutes > 0 {
        s.push_str(&format!("{minutes}M"));
    }
    if secs == 0 && nanos == 0 && s.len() > 2 {
        return s;
    }
    if nanos == 0 {
        s.push_str(&format!("{secs}S"));
    } else {
        let frac = format!("{nanos:09}");
        s.push_str(&format!("{secs}.{}S", frac.trim_end_matches('0')));
    }
    s
}
