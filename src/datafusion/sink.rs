//! Writing DataFusion rows into a shoal table: every row of the input goes through the table
//! writer with one row kind, and the statement commits once (one snapshot) at the end.

use std::fmt;
use std::sync::Arc;

use ::datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use ::datafusion::arrow::record_batch::RecordBatch;
use ::datafusion::common::Result;
use ::datafusion::datasource::sink::DataSink;
use ::datafusion::execution::{SendableRecordBatchStream, TaskContext};
use ::datafusion::physical_plan::{DisplayAs, DisplayFormatType};
use async_trait::async_trait;
use futures::StreamExt;

use super::df_err;
use crate::spec::RowKind;
use crate::table::Table;

/// The column carrying each written row's kind (`RowKind` as a byte) in a sink made by
/// [`ShoalSink::with_kind_column`] (MERGE INTO's rows).
pub(super) const KIND_COLUMN: &str = "__shoal_row_kind";

/// A sink that writes its input and commits it as one snapshot.
pub(super) struct ShoalSink {
    table: Table,
    /// One kind for every row, or None: the kind of each row is in a last Int8 column.
    kind: Option<RowKind>,
    statement: &'static str,
    schema: SchemaRef,
    /// UPDATE, DELETE, MERGE INTO: the snapshot the rows were computed from (None inside: an
    /// empty table); the commit fails with a retryable conflict if another commit wrote into a
    /// bucket this one writes since then.
    read_snapshot: Option<Option<i64>>,
    /// INSERT OVERWRITE: the static partition given (none: the table's dynamic or whole-table
    /// overwrite); see [`crate::table::overwrite`].
    overwrite: Option<Vec<(String, String)>>,
}

impl ShoalSink {
    /// Every row written with `kind`.
    pub(super) fn new(table: Table, kind: RowKind, statement: &'static str) -> Self {
        let schema = table.arrow_schema();
        ShoalSink { table, kind: Some(kind), statement, schema, read_snapshot: None, overwrite: None }
    }

    /// INSERT OVERWRITE: the rows replace the table's rows in the partitions `partition` covers
    /// (empty: per `dynamic-partition-overwrite`, the partitions of the rows or the whole table).
    pub(super) fn overwriting(mut self, partition: Vec<(String, String)>) -> Self {
        self.overwrite = Some(partition);
        self
    }

    /// The rows to write were computed from the table at `snapshot` (see `read_snapshot`).
    pub(super) fn computed_from(mut self, snapshot: Option<i64>) -> Self {
        self.read_snapshot = Some(snapshot);
        self
    }

    /// Rows of the table's columns plus a last column holding each row's kind (a `RowKind`
    /// byte); each key may be written once.
    pub(super) fn with_kind_column(table: Table, statement: &'static str) -> Self {
        let mut fields: Vec<Field> = table.arrow_schema().fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.push(Field::new(KIND_COLUMN, ::datafusion::arrow::datatypes::DataType::Int8, false));
        ShoalSink {
            table,
            kind: None,
            statement,
            schema: Arc::new(Schema::new(fields)),
            read_snapshot: None,
            overwrite: None,
        }
    }
}

/// Splits off the row-kind column.
fn kinds_of(batch: RecordBatch, statement: &str) -> Result<(RecordBatch, Vec<RowKind>)> {
    use ::datafusion::arrow::array::AsArray;
    use ::datafusion::arrow::datatypes::Int8Type;
    let last = batch.num_columns() - 1;
    let bytes = batch.column(last).as_primitive_opt::<Int8Type>().ok_or_else(|| {
        ::datafusion::error::DataFusionError::Internal(format!("{statement}: the row kind column is not Int8"))
    })?;
    let kinds = (0..bytes.len())
        .map(|i| {
            RowKind::from_byte(bytes.value(i)).ok_or_else(|| {
                ::datafusion::error::DataFusionError::Internal(format!("{statement}: bad row kind {}", bytes.value(i)))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((batch.project(&(0..last).collect::<Vec<_>>())?, kinds))
}

/// Remembers the keys written so far and fails on a second write of one.
struct KeyOnce {
    key_columns: Vec<usize>,
    converter: ::datafusion::arrow::row::RowConverter,
    seen: std::collections::HashSet<Box<[u8]>>,
}

impl KeyOnce {
    fn new(table: &Table) -> Result<KeyOnce> {
        let schema = table.arrow_schema();
        let key_columns: Vec<usize> =
            table.schema().primary_keys.iter().filter_map(|k| table.schema().field_index(k)).collect();
        let fields = key_columns
            .iter()
            .map(|&i| ::datafusion::arrow::row::SortField::new(schema.field(i).data_type().clone()))
            .collect();
        Ok(KeyOnce {
            key_columns,
            converter: ::datafusion::arrow::row::RowConverter::new(fields)?,
            seen: Default::default(),
        })
    }

    fn check(&mut self, batch: &RecordBatch, statement: &str) -> Result<()> {
        let cols: Vec<_> = self.key_columns.iter().map(|&i| batch.column(i).clone()).collect();
        let rows = self.converter.convert_columns(&cols)?;
        for (i, row) in rows.iter().enumerate() {
            if !self.seen.insert(row.as_ref().into()) {
                let key = self
                    .key_columns
                    .iter()
                    .map(|&c| {
                        ::datafusion::arrow::util::display::array_value_to_string(batch.column(c), i)
                            .unwrap_or_default()
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(::datafusion::error::DataFusionError::Execution(format!(
                    "{statement} would write the row with key ({key}) twice: more than one source row matches it"
                )));
            }
        }
        Ok(())
    }
}

impl fmt::Debug for ShoalSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ShoalSink({}, {})", self.table.location(), self.statement)
    }
}

impl DisplayAs for ShoalSink {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        match self.kind {
            Some(k) => {
                write!(f, "ShoalSink: {} into {} as {} rows", self.statement, self.table.location(), k.short_string())
            }
            None => write!(f, "ShoalSink: {} into {}", self.statement, self.table.location()),
        }
    }
}

/// The batch under the table's column names (DataFusion may name computed columns otherwise);
/// types are checked and converted by the writer.
fn with_table_names(batch: RecordBatch, table: &SchemaRef) -> Result<RecordBatch> {
    let fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .zip(table.fields())
        .map(|(got, want)| Field::new(want.name(), got.data_type().clone(), got.is_nullable()))
        .collect();
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), batch.columns().to_vec())?)
}

#[async_trait]
impl DataSink for ShoalSink {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    async fn write_all(&self, mut data: SendableRecordBatchStream, _context: &Arc<TaskContext>) -> Result<u64> {
        let scope = match &self.overwrite {
            Some(partition) => {
                Some(crate::commit::OverwriteScope::for_table(self.table.schema(), partition).map_err(df_err)?)
            }
            None => None,
        };
        let mut writer = match scope {
            Some(_) => self.table.new_write_overwrite().await,
            None => self.table.new_write().await,
        }
        .map_err(df_err)?;
        let mut once = if self.kind.is_none() { Some(KeyOnce::new(&self.table)?) } else { None };
        let mut rows = 0u64;
        while let Some(batch) = data.next().await {
            let batch = batch?;
            if batch.num_rows() == 0 {
                continue;
            }
            if batch.num_columns() != self.schema.fields().len() {
                return Err(df_err(crate::Error::InvalidInput(format!(
                    "{}: {} columns for a table of {}",
                    self.statement,
                    batch.num_columns(),
                    self.schema.fields().len()
                ))));
            }
            let (batch, kinds) = match self.kind {
                Some(RowKind::Insert) => (batch, None),
                Some(k) => {
                    let n = batch.num_rows();
                    (batch, Some(vec![k; n]))
                }
                None => {
                    let (b, k) = kinds_of(batch, self.statement)?;
                    (b, Some(k))
                }
            };
            let batch = with_table_names(batch, &self.table.arrow_schema())?;
            if let Some(once) = once.as_mut() {
                once.check(&batch, self.statement)?;
            }
            writer.write_with_kinds(&batch, kinds.as_deref()).await.map_err(df_err)?;
            rows += batch.num_rows() as u64;
        }
        let messages = writer.prepare_commit().await.map_err(df_err)?;
        let user = format!("shoal-sql-{}", uuid::Uuid::new_v4());
        let mut commit = self.table.new_commit(&user).map_err(df_err)?;
        if let Some(scope) = &scope {
            // Deletes the files of the statement itself when it fails before its snapshot.
            commit.overwrite(scope, messages).await.map_err(df_err)?;
            commit.settle(&mut writer, None).await.map_err(df_err)?;
            return Ok(rows);
        }
        if let Some(read) = self.read_snapshot {
            commit = commit.with_read_snapshot(read);
        }
        if let Err(e) = commit.commit(messages.clone()).await {
            if matches!(e, crate::Error::CommitConflict(_)) {
                // Nothing of this statement is in the table: its files go.
                commit.abort(&messages).await;
            }
            return Err(df_err(e));
        }
        // A compaction another commit overtook is dropped (the rows are in); where level-0
        // rows wait for a compaction to be read, it is done again at once.
        commit.settle(&mut writer, None).await.map_err(df_err)?;
        Ok(rows)
    }
}
