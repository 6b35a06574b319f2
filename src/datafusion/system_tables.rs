//! Paimon's system tables (`t$snapshots`, `t$files`, ..., see [`crate::system_tables`]) as
//! DataFusion tables. Metadata tables are built when scanned, with the filters that cut work
//! pushed down (`$snapshots` by `snapshot_id`, `$files` / `$buckets` / `$table_indexes` by
//! `partition` and `bucket`, `$files` by `level`) and applied again by DataFusion.
//! `$audit_log` streams the table's merged rows with their row kinds, split by split;
//! `$ro` is the table read through [`ShoalTableProvider::read_optimized`].

use std::fmt;
use std::sync::Arc;

use ::datafusion::arrow::datatypes::SchemaRef;
use ::datafusion::catalog::{Session, TableProvider};
use ::datafusion::common::{Result, ScalarValue};
use ::datafusion::datasource::memory::MemorySourceConfig;
use ::datafusion::execution::{SendableRecordBatchStream, TaskContext};
use ::datafusion::logical_expr::{BinaryExpr, Expr, Operator, TableProviderFilterPushDown, TableType};
use ::datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use ::datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use ::datafusion::physical_plan::ExecutionPlan;
use async_trait::async_trait;
use futures::StreamExt;

use super::df_err;
use super::prune::prune_partitions;
use crate::read::DataSplit;
use crate::system_tables::rows::{read_audit_log, AuditLogReader};
use crate::system_tables::{read_metadata, SystemFilter, SystemTable};
use crate::table::Table;

/// A metadata system table of a table (which may be time-travelled).
pub(super) struct SystemTableProvider {
    table: Table,
    which: SystemTable,
    schema: SchemaRef,
}

impl fmt::Debug for SystemTableProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SystemTableProvider({}${})", self.table.location(), self.which)
    }
}

impl SystemTableProvider {
    /// `which` must be a metadata table ([`SystemTable::is_metadata`]).
    pub(super) fn new(table: Table, which: SystemTable) -> Self {
        SystemTableProvider { schema: which.schema(), table, which }
    }
}

/// `column <op> literal` (or `literal <op> column`, the operator swapped), unqualified.
fn comparison(e: &Expr) -> Option<(&str, Operator, &ScalarValue)> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = e else { return None };
    match (left.as_ref(), right.as_ref()) {
        (Expr::Column(c), Expr::Literal(v, _)) => Some((c.name.as_str(), *op, v)),
        (Expr::Literal(v, _), Expr::Column(c)) => Some((c.name.as_str(), op.swap()?, v)),
        _ => None,
    }
}

fn as_i64(v: &ScalarValue) -> Option<i64> {
    match v {
        ScalarValue::Int8(Some(x)) => Some(i64::from(*x)),
        ScalarValue::Int16(Some(x)) => Some(i64::from(*x)),
        ScalarValue::Int32(Some(x)) => Some(i64::from(*x)),
        ScalarValue::Int64(Some(x)) => Some(*x),
        ScalarValue::UInt8(Some(x)) => Some(i64::from(*x)),
        ScalarValue::UInt16(Some(x)) => Some(i64::from(*x)),
        ScalarValue::UInt32(Some(x)) => Some(i64::from(*x)),
        ScalarValue::UInt64(Some(x)) => i64::try_from(*x).ok(),
        _ => None,
    }
}

fn as_string(v: &ScalarValue) -> Option<String> {
    match v {
        ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)) => {
            Some(s.clone())
        }
        _ => None,
    }
}

/// `column = v` or `column IN (v, ...)` on an integer column: the values.
fn int_values(e: &Expr, column: &str) -> Option<Vec<i64>> {
    if let Some((c, Operator::Eq, v)) = comparison(e) {
        return (c == column).then(|| as_i64(v)).flatten().map(|v| vec![v]);
    }
    if let Expr::InList(list) = e {
        if list.negated || !matches!(list.expr.as_ref(), Expr::Column(c) if c.name == column) {
            return None;
        }
        return list.list.iter().map(|x| if let Expr::Literal(v, _) = x { as_i64(v) } else { None }).collect();
    }
    None
}

/// What of the query's filters the system table can use to read less.
pub(super) fn system_filter(which: SystemTable, filters: &[Expr]) -> SystemFilter {
    let mut f = SystemFilter::default();
    let narrow = |slot: &mut Option<Vec<i32>>, values: Vec<i64>| {
        let values: Vec<i32> = values.into_iter().filter_map(|v| i32::try_from(v).ok()).collect();
        *slot = Some(match slot.take() {
            Some(old) => old.into_iter().filter(|v| values.contains(v)).collect(),
            None => values,
        });
    };
    for e in filters {
        match which {
            SystemTable::Snapshots => {
                if let Some(("snapshot_id", op, v)) = comparison(e) {
                    let Some(v) = as_i64(v) else { continue };
                    let (min, max) = match op {
                        Operator::Eq => (Some(v), Some(v)),
                        Operator::Gt => (v.checked_add(1), None),
                        Operator::GtEq => (Some(v), None),
                        Operator::Lt => (None, v.checked_sub(1)),
                        Operator::LtEq => (None, Some(v)),
                        _ => (None, None),
                    };
                    if let Some(min) = min {
                        f.snapshot_id_min = Some(f.snapshot_id_min.map_or(min, |m| m.max(min)));
                    }
                    if let Some(max) = max {
                        f.snapshot_id_max = Some(f.snapshot_id_max.map_or(max, |m| m.min(max)));
                    }
                }
            }
            SystemTable::Files | SystemTable::Buckets | SystemTable::TableIndexes => {
                if let Some(("partition", Operator::Eq, v)) = comparison(e) {
                    if let Some(s) = as_string(v) {
                        f.partition = Some(s);
                    }
                } else if let Some(values) = int_values(e, "bucket") {
                    narrow(&mut f.buckets, values);
                } else if which == SystemTable::Files {
                    if let Some(values) = int_values(e, "level") {
                        narrow(&mut f.levels, values);
                    }
                }
            }
            _ => {}
        }
    }
    f
}

#[async_trait]
impl TableProvider for SystemTableProvider {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        // Pushed filters narrow what is built; DataFusion filters the rows again.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let filter = system_filter(self.which, filters);
        let batch = read_metadata(&self.table, self.which, &filter).await.map_err(df_err)?;
        Ok(MemorySourceConfig::try_new_exec(&[vec![batch]], self.schema.clone(), projection.cloned())?)
    }
}

/// `$audit_log`: the table's merged rows, each with its row kind.
pub(super) struct AuditLogProvider {
    table: Table,
    schema: SchemaRef,
}

impl fmt::Debug for AuditLogProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuditLogProvider({})", self.table.location())
    }
}

impl AuditLogProvider {
    pub(super) fn new(table: Table) -> Self {
        AuditLogProvider { schema: crate::system_tables::rows::audit_log_schema(&table), table }
    }
}

/// Some splits of `$audit_log`, read as one DataFusion partition.
struct AuditLogPartition {
    reader: Arc<AuditLogReader>,
    splits: Vec<DataSplit>,
    schema: SchemaRef,
}

impl fmt::Debug for AuditLogPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuditLogPartition({} splits)", self.splits.len())
    }
}

impl PartitionStream for AuditLogPartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let stream = read_audit_log(self.reader.clone(), self.splits.clone(), 2).map(|r| r.map_err(df_err));
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), stream))
    }
}

#[async_trait]
impl TableProvider for AuditLogProvider {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        // Partition filters prune splits; DataFusion filters the rows again.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let plan = self.table.new_scan().plan().await.map_err(df_err)?;
        let splits = prune_partitions(state, self.table.schema(), filters, plan.splits).map_err(df_err)?;
        let reader = Arc::new(AuditLogReader::new(&self.table).map_err(df_err)?);
        let n = state.config().target_partitions().max(1).min(splits.len()).max(1);
        let mut groups: Vec<Vec<DataSplit>> = vec![vec![]; n];
        for (i, s) in splits.into_iter().enumerate() {
            groups[i % n].push(s);
        }
        let partitions: Vec<Arc<dyn PartitionStream>> = groups
            .into_iter()
            .map(|splits| {
                Arc::new(AuditLogPartition { reader: reader.clone(), splits, schema: self.schema.clone() })
                    as Arc<dyn PartitionStream>
            })
            .collect();
        Ok(Arc::new(StreamingTableExec::try_new(self.schema.clone(), partitions, projection, vec![], false, limit)?))
    }
}
