//! The system tables that read the table's rows:
//! - `$audit_log`: the merged rows of the snapshot read, each with its row kind in a leading
//!   `rowkind` STRING column (`+I`, `-U`, `+U`, `-D`). As in Paimon 0.9 the merge keeps
//!   retractions (a key whose latest change is a delete reads as a `-D` row until a full
//!   compaction drops it), and tables whose batch reads skip level 0 (deletion vectors,
//!   first-row) skip it here too. Append tables read every row as `+I`.
//! - `$ro` (read-optimized): only the files that need no merge. For primary-key tables the top
//!   level (`num-levels` - 1), or, where batch reads skip level 0, every level above 0 (Paimon
//!   0.9's `DataTableBatchScan` replaces the read-optimized level filter with its own there);
//!   append tables read as themselves.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, Int8Array, RecordBatch, StringArray};
use arrow_schema::{DataType as ArrowType, Field, Schema, SchemaRef};
use futures::stream::{BoxStream, StreamExt};

use super::files::batch_read_skips_level0;
use crate::error::{Error, Result};
use crate::lsm::universal::UniversalCompaction;
use crate::read::{DataSplit, SplitReader};
use crate::spec::{RowKind, TableSchema};
use crate::store::SchemaManager;
use crate::table::Table;

/// The name of `$audit_log`'s leading column.
pub const ROW_KIND_COLUMN: &str = "rowkind";

/// Which levels `$ro` reads of a table: None for every level (append tables).
pub fn read_optimized_levels(schema: &TableSchema) -> Result<Option<LevelFilter>> {
    if schema.primary_keys.is_empty() {
        return Ok(None);
    }
    if batch_read_skips_level0(schema)? {
        return Ok(Some(LevelFilter::AboveZero));
    }
    Ok(Some(LevelFilter::Only(UniversalCompaction::max_level_of(&schema.core_options())?)))
}

/// Levels a read keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LevelFilter {
    AboveZero,
    Only(i32),
}

impl LevelFilter {
    pub fn keeps(self, level: i32) -> bool {
        match self {
            LevelFilter::AboveZero => level > 0,
            LevelFilter::Only(l) => level == l,
        }
    }
}

/// Splits reduced to the files a level filter keeps (splits left empty are dropped).
pub fn filter_levels(splits: Vec<DataSplit>, filter: LevelFilter) -> Vec<DataSplit> {
    splits
        .into_iter()
        .filter_map(|mut s| {
            s.files.retain(|f| filter.keeps(f.level));
            (!s.files.is_empty()).then_some(s)
        })
        .collect()
}

/// `$audit_log`'s columns: `rowkind`, then the table's.
pub fn audit_log_schema(table: &Table) -> SchemaRef {
    let mut fields = vec![Arc::new(Field::new(ROW_KIND_COLUMN, ArrowType::Utf8, true))];
    fields.extend(table.arrow_schema().fields().iter().cloned());
    Arc::new(Schema::new(fields))
}

/// Reads splits as `$audit_log` rows (all columns of [`audit_log_schema`]).
pub struct AuditLogReader {
    inner: SplitReader,
    schema: SchemaRef,
    /// For primary-key tables, where the values start in the key-value layout (None: append).
    value_offset: Option<usize>,
    skip_level0: bool,
}

impl AuditLogReader {
    /// Needs a tokio runtime (reads run on blocking threads through its handle).
    pub fn new(table: &Table) -> Result<Self> {
        let schema = table.schema();
        let (inner, value_offset) = if schema.primary_keys.is_empty() {
            (table.new_read(None)?, None)
        } else {
            let runtime = tokio::runtime::Handle::try_current()
                .map_err(|_| Error::InvalidInput("reading $audit_log needs a tokio runtime".into()))?;
            let reader = SplitReader::for_compaction(
                table.io().clone(),
                SchemaManager::new(table.io().clone()),
                schema.clone(),
                runtime,
                false,
            )?;
            (reader, Some(schema.trimmed_primary_keys().len() + 2))
        };
        Ok(AuditLogReader {
            inner,
            schema: audit_log_schema(table),
            value_offset,
            skip_level0: batch_read_skips_level0(schema)?,
        })
    }

    pub fn output_schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Reads a split, calling `emit` with each batch (false from `emit` stops the read). Runs
    /// on a blocking thread.
    pub fn read_split(&self, split: &DataSplit, emit: &mut dyn FnMut(RecordBatch) -> bool) -> Result<()> {
        let mut failure = None;
        let mut convert = |b: RecordBatch| match self.convert(b) {
            Ok(b) => emit(b),
            Err(e) => {
                failure = Some(e);
                false
            }
        };
        if self.skip_level0 && split.files.iter().any(|f| f.level == 0) {
            let mut visible = split.clone();
            visible.files.retain(|f| f.level > 0);
            self.inner.read_split(&visible, &mut convert)?;
        } else {
            self.inner.read_split(split, &mut convert)?;
        }
        failure.map_or(Ok(()), Err)
    }

    fn convert(&self, b: RecordBatch) -> Result<RecordBatch> {
        let (kinds, values): (ArrayRef, Vec<ArrayRef>) = match self.value_offset {
            None => (
                Arc::new(StringArray::from(vec![Some(RowKind::Insert.short_string()); b.num_rows()])),
                b.columns().to_vec(),
            ),
            Some(offset) => {
                let kind =
                    b.column(offset - 1).as_any().downcast_ref::<Int8Array>().ok_or_else(|| {
                        Error::InvalidInput("the merged rows' _VALUE_KIND column is not TINYINT".into())
                    })?;
                let kinds: StringArray =
                    kind.iter().map(|k| k.and_then(RowKind::from_byte).map(RowKind::short_string)).collect();
                (Arc::new(kinds), b.columns()[offset..].to_vec())
            }
        };
        let mut columns = vec![kinds];
        columns.extend(values);
        RecordBatch::try_new(self.schema.clone(), columns).map_err(Error::arrow("building $audit_log rows"))
    }
}

/// Reads splits as `$audit_log` rows, up to `parallelism` splits at once.
pub fn read_audit_log(
    reader: Arc<AuditLogReader>,
    splits: Vec<DataSplit>,
    parallelism: usize,
) -> BoxStream<'static, Result<RecordBatch>> {
    futures::stream::iter(splits)
        .map(move |split| {
            let reader = reader.clone();
            let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<RecordBatch>>(4);
            tokio::task::spawn_blocking(move || {
                let mut emit = |b: RecordBatch| tx.blocking_send(Ok(b)).is_ok();
                if let Err(e) = reader.read_split(&split, &mut emit) {
                    let _ = tx.blocking_send(Err(e));
                }
            });
            futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed()
        })
        .flatten_unordered(parallelism.max(1))
        .boxed()
}

/// Every `$audit_log` row of the snapshot a table reads (latest, or its time travel), in one
/// batch.
pub async fn audit_log(table: &Table) -> Result<RecordBatch> {
    let reader = Arc::new(AuditLogReader::new(table)?);
    let schema = reader.output_schema().clone();
    let splits = table.new_scan().plan().await?.splits;
    let batches: Vec<RecordBatch> =
        read_audit_log(reader, splits, 2).collect::<Vec<_>>().await.into_iter().collect::<Result<_>>()?;
    crate::read::concat(&schema, &batches)
}

/// Every `$ro` row of the snapshot a table reads, in one batch.
pub async fn read_optimized(table: &Table) -> Result<RecordBatch> {
    let mut splits = table.new_scan().plan().await?.splits;
    if let Some(levels) = read_optimized_levels(table.schema())? {
        splits = filter_levels(splits, levels);
    }
    let batches: Vec<RecordBatch> =
        table.read_stream(splits, None)?.collect::<Vec<_>>().await.into_iter().collect::<Result<_>>()?;
    crate::read::concat(&table.arrow_schema(), &batches)
}
