//! A shoal table as a DataFusion `TableProvider`: scans with projection, exact partition
//! pruning, statistics-based file skipping and limits; `INSERT INTO`, and on primary-key tables
//! `DELETE`, `UPDATE` and `MERGE INTO` written as -D / +U / +I rows in one commit.

use std::fmt;
use std::sync::Arc;

use ::datafusion::arrow::datatypes::SchemaRef;
use ::datafusion::catalog::{Session, TableProvider};
use ::datafusion::common::stats::Precision;
use ::datafusion::common::{not_impl_err, plan_err, DFSchema, DFSchemaRef, Result, Statistics};
use ::datafusion::datasource::sink::DataSinkExec;
use ::datafusion::logical_expr::dml::{InsertOp, MergeIntoAction, MergeIntoClause};
use ::datafusion::logical_expr::utils::conjunction;
use ::datafusion::logical_expr::{Expr, ExprSchemable, TableProviderFilterPushDown, TableType};
use ::datafusion::physical_plan::filter::FilterExec;
use ::datafusion::physical_plan::projection::{ProjectionExec, ProjectionExpr};
use ::datafusion::physical_plan::ExecutionPlan;
use async_trait::async_trait;

use super::df_err;
use super::exec::{PruneSummary, ShoalScanExec};
use super::prune::{is_partition_filter, prune_partitions, skip_files, unqualified};
use super::sink::ShoalSink;
use crate::read::scan::TimeTravel;
use crate::spec::RowKind;
use crate::system_tables::rows::{filter_levels, read_optimized_levels, LevelFilter};
use crate::table::Table;

/// A shoal table as a DataFusion table, read at its latest snapshot or a fixed one.
#[derive(Clone)]
pub struct ShoalTableProvider {
    /// The table; after time travel, the table as of that snapshot (its schema, its scans).
    table: Table,
    /// The time travel this provider reads, if any (then it is read-only).
    travel: Option<TimeTravel>,
    /// Row count of the snapshot read, from its manifests (for the optimizer).
    row_count: Option<i64>,
    /// `t$ro`: only the files of these levels are read (then it is read-only).
    levels: Option<LevelFilter>,
}

impl fmt::Debug for ShoalTableProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ShoalTableProvider({}, {:?})", self.table.location(), self.travel)
    }
}

impl ShoalTableProvider {
    /// The table, for writing: fails for a table read at a fixed snapshot (time travel).
    pub(crate) fn writable_table(&self, statement: &str) -> Result<&Table> {
        if self.travel.is_some() {
            return plan_err!("{statement} into a table read at a fixed snapshot (time travel) is not allowed");
        }
        Ok(&self.table)
    }

    /// Reads the latest snapshot at query time, or the time travel in the table's own options
    /// (`scan.snapshot-id`, `scan.tag-name`, `scan.timestamp-millis`).
    pub fn new(table: Table) -> Self {
        ShoalTableProvider { table, travel: None, row_count: None, levels: None }
    }

    /// Time travel: always read this snapshot. Fails if the snapshot does not exist.
    pub async fn at_snapshot(table: Table, id: i64) -> crate::Result<Self> {
        Self::at(table, TimeTravel::Snapshot(id)).await
    }

    /// Time travel to a snapshot, a tag or a point in time, read in the schema that snapshot
    /// was written with (as Paimon does). Fails if there is no such snapshot or tag.
    pub async fn at(table: Table, travel: TimeTravel) -> crate::Result<Self> {
        let snapshot = travel.resolve(table.io()).await?;
        let table = table.travel(&travel).await?;
        Ok(ShoalTableProvider { table, travel: Some(travel), row_count: snapshot.total_record_count, levels: None })
    }

    /// Honours Paimon's time-travel read options given here (as dynamic options would be in
    /// Flink): `scan.snapshot-id`, `scan.tag-name`, `scan.timestamp-millis` (at most one).
    pub async fn with_options(table: Table, options: &[(&str, &str)]) -> crate::Result<Self> {
        let mut travel = vec![];
        for (k, v) in options {
            let number = |what: &str| {
                v.trim()
                    .parse::<i64>()
                    .map_err(|_| crate::Error::InvalidOptionValue(format!("{k} must be {what}, got {v:?}")))
            };
            match *k {
                "scan.snapshot-id" => travel.push(TimeTravel::Snapshot(number("a snapshot id")?)),
                "scan.tag-name" => travel.push(TimeTravel::Tag(v.to_string())),
                "scan.timestamp-millis" => travel.push(TimeTravel::Timestamp(number("epoch milliseconds")?)),
                other => {
                    return Err(crate::Error::Unsupported(format!(
                        "read option {other:?}; shoal's SQL reads take scan.snapshot-id, scan.tag-name or scan.timestamp-millis"
                    )))
                }
            }
        }
        match travel.len() {
            0 => Ok(Self::new(table)),
            1 => Self::at(table, travel.remove(0)).await,
            _ => Err(crate::Error::InvalidOptionValue(format!(
                "set only one of scan.snapshot-id, scan.tag-name and scan.timestamp-millis (got {travel:?})"
            ))),
        }
    }

    /// Paimon's read-optimized view (`t$ro`): only the files that need no merge (see
    /// [`crate::system_tables::rows`]); read-only.
    pub fn read_optimized(mut self) -> crate::Result<Self> {
        self.levels = read_optimized_levels(self.table.schema())?;
        if self.levels.is_some() {
            // Not every row is in the files read: no row count.
            self.row_count = None;
        }
        Ok(self)
    }

    pub fn table(&self) -> &Table {
        &self.table
    }

    /// The time travel this provider reads (None: the latest snapshot at query time).
    pub fn time_travel(&self) -> Option<&TimeTravel> {
        self.travel.as_ref()
    }

    /// The DataFusion scan for the given projection, filters and limit, with its pruning done.
    pub async fn scan_exec(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> crate::Result<ShoalScanExec> {
        // A travelled table's scans read its snapshot (the option `travel` put in its schema).
        let mut plan = self.table.new_scan().plan().await?;
        if let Some(levels) = self.levels {
            plan.splits = filter_levels(plan.splits, levels);
        }
        let snapshot_id = plan.snapshot.as_ref().map(|s| s.id);
        let splits_before = plan.splits.len();
        let schema = self.table.schema();
        let splits = prune_partitions(state, schema, filters, plan.splits)?;
        let splits_after_partition_pruning = splits.len();
        let (splits, skipped) = skip_files(state, schema, filters, splits)?;
        let projected: SchemaRef = match projection {
            Some(p) => Arc::new(self.table.arrow_schema().project(p).map_err(crate::Error::arrow("projecting"))?),
            None => self.table.arrow_schema(),
        };
        // An append table returns every row of its files; a primary-key table merges versions.
        let exact_rows = schema.primary_keys.is_empty();
        Ok(ShoalScanExec::new(
            self.table.clone(),
            snapshot_id,
            projection.cloned(),
            projected,
            splits,
            state.config().target_partitions(),
            limit,
            exact_rows,
            PruneSummary {
                splits_before,
                splits_after_partition_pruning,
                files_before_skipping: skipped.files_before,
                files_skipped: skipped.files_skipped,
            },
        ))
    }

    /// Row-level changes need a primary key (the rows are written as changes of their keys),
    /// a writable, current view of the table, and a merge engine that gives the statement its
    /// meaning, as Paimon's Spark DML requires: a deleted row must disappear (deduplicate, or
    /// partial-update with `partial-update.remove-record-on-delete`), an updated row must read
    /// as written (deduplicate or partial-update; aggregation would aggregate the new row into
    /// the old one, first-row would keep the old one).
    pub(crate) fn check_row_level(&self, statement: &str, deletes: bool, updates: bool) -> Result<()> {
        use crate::spec::options::MergeEngine;
        let schema = self.table.schema();
        if schema.primary_keys.is_empty() {
            return plan_err!(
                "{statement} needs a primary-key table; {} is an append table (shoal cannot rewrite its files yet)",
                self.table.location()
            );
        }
        if self.travel.is_some() {
            return plan_err!("{statement} on a table read at a fixed snapshot (time travel) is not allowed");
        }
        if self.levels.is_some() {
            return plan_err!("{statement} on the read-optimized system table $ro is not allowed");
        }
        let opts = schema.core_options();
        if deletes && opts.ignore_delete().map_err(|e| df_err(e.into()))? {
            return plan_err!(
                "{statement} on a table with ignore-delete = true: the table would drop the deletions this statement writes"
            );
        }
        let config = crate::spec::merge_engine::MergeEngineConfig::from_schema(schema).map_err(|e| df_err(e.into()))?;
        let engine = config.engine;
        if updates && !matches!(engine, MergeEngine::Deduplicate | MergeEngine::PartialUpdate) {
            return plan_err!(
                "{statement} updates rows, which needs the deduplicate or partial-update merge engine; this table's merge-engine is {engine:?}"
            );
        }
        if deletes {
            let deletes_rows = match engine {
                MergeEngine::Deduplicate => true,
                MergeEngine::PartialUpdate => config.remove_record_on_delete,
                MergeEngine::Aggregation | MergeEngine::FirstRow => false,
            };
            if !deletes_rows {
                return plan_err!(
                    "{statement} deletes rows, which needs the deduplicate merge engine or partial-update with \
                     'partial-update.remove-record-on-delete' = true; on this table ({engine:?}) a -D row would not remove the row"
                );
            }
        }
        Ok(())
    }

    /// The rows a DELETE/UPDATE touches: a full-width scan of the table, filtered.
    async fn affected_rows(&self, state: &dyn Session, filters: &[Expr]) -> Result<Arc<dyn ExecutionPlan>> {
        let scan: Arc<dyn ExecutionPlan> = Arc::new(self.scan_exec(state, None, filters, None).await.map_err(df_err)?);
        let filters = filters.iter().map(unqualified).collect::<Result<Vec<_>>>()?;
        match conjunction(filters) {
            None => Ok(scan),
            Some(predicate) => {
                let df_schema = DFSchema::try_from(self.table.arrow_schema().as_ref().clone())?;
                let physical = state.create_physical_expr(predicate, &df_schema)?;
                Ok(Arc::new(FilterExec::try_new(physical, scan)?))
            }
        }
    }
}

#[async_trait]
impl TableProvider for ShoalTableProvider {
    fn schema(&self) -> SchemaRef {
        self.table.arrow_schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        // Partition filters prune exactly; the rest skip files by statistics at best.
        let schema = self.table.schema();
        Ok(filters
            .iter()
            .map(|f| {
                if is_partition_filter(schema, f) {
                    TableProviderFilterPushDown::Exact
                } else {
                    TableProviderFilterPushDown::Inexact
                }
            })
            .collect())
    }

    fn statistics(&self) -> Option<Statistics> {
        // The snapshot's record count counts every version and retraction: an upper bound.
        let rows = self.row_count?;
        let mut s = Statistics::new_unknown(&self.table.arrow_schema());
        s.num_rows = Precision::Inexact(rows.max(0) as usize);
        Some(s)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(self.scan_exec(state, projection, filters, limit).await.map_err(df_err)?))
    }

    async fn insert_into(
        &self,
        _state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        insert_op: InsertOp,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if self.travel.is_some() {
            return plan_err!("INSERT into a table read at a fixed snapshot (time travel) is not allowed");
        }
        if self.levels.is_some() {
            return plan_err!(
                "INSERT into the read-optimized system table $ro is not allowed; write to the table itself"
            );
        }
        let sink = match insert_op {
            InsertOp::Append => ShoalSink::new(self.table.clone(), RowKind::Insert, "INSERT"),
            InsertOp::Overwrite => {
                ShoalSink::new(self.table.clone(), RowKind::Insert, "INSERT OVERWRITE").overwriting(vec![])
            }
            InsertOp::Replace => {
                return not_impl_err!("INSERT {insert_op} into a shoal table (INSERT INTO and INSERT OVERWRITE are)")
            }
        };
        Ok(Arc::new(DataSinkExec::new(input, Arc::new(sink), None)))
    }

    async fn delete_from(&self, state: &dyn Session, filters: Vec<Expr>) -> Result<Arc<dyn ExecutionPlan>> {
        self.check_row_level("DELETE", true, false)?;
        let read = self.table.snapshots().latest_id().await.map_err(df_err)?;
        let rows = self.affected_rows(state, &filters).await?;
        let sink = ShoalSink::new(self.table.clone(), RowKind::Delete, "DELETE").computed_from(read);
        Ok(Arc::new(DataSinkExec::new(rows, Arc::new(sink), None)))
    }

    async fn update(
        &self,
        state: &dyn Session,
        assignments: Vec<(String, Expr)>,
        filters: Vec<Expr>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.check_row_level("UPDATE", false, true)?;
        let schema = self.table.schema();
        for (column, _) in &assignments {
            if schema.primary_keys.contains(column) || schema.partition_keys.contains(column) {
                return plan_err!(
                    "UPDATE cannot change primary-key or partition column {column:?} (delete the row and insert the new one)"
                );
            }
            if schema.field_index(column).is_none() {
                return plan_err!("UPDATE: the table has no column {column:?}");
            }
        }
        let read = self.table.snapshots().latest_id().await.map_err(df_err)?;
        let rows = self.affected_rows(state, &filters).await?;
        let arrow_schema = self.table.arrow_schema();
        let df_schema = DFSchema::try_from(arrow_schema.as_ref().clone())?;
        let mut exprs = Vec::with_capacity(arrow_schema.fields().len());
        for field in arrow_schema.fields() {
            let logical = match assignments.iter().find(|(c, _)| c == field.name()) {
                Some((_, e)) => unqualified(e)?.cast_to(field.data_type(), &df_schema)?,
                None => Expr::Column(::datafusion::common::Column::new_unqualified(field.name())),
            };
            let physical = state.create_physical_expr(logical, &df_schema)?;
            exprs.push(ProjectionExpr { expr: physical, alias: field.name().clone() });
        }
        let updated = Arc::new(ProjectionExec::try_new(exprs, rows)?);
        let sink = ShoalSink::new(self.table.clone(), RowKind::UpdateAfter, "UPDATE").computed_from(read);
        Ok(Arc::new(DataSinkExec::new(updated, Arc::new(sink), None)))
    }

    async fn merge_into(
        &self,
        state: &dyn Session,
        source: Arc<dyn ExecutionPlan>,
        merge_schema: DFSchemaRef,
        on: Expr,
        clauses: Vec<MergeIntoClause>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let deletes = clauses.iter().any(|c| matches!(c.action, MergeIntoAction::Delete));
        let updates = clauses.iter().any(|c| matches!(c.action, MergeIntoAction::Update(_)));
        self.check_row_level("MERGE INTO", deletes, updates)?;
        super::merge_into::plan_merge(&self.table, Arc::new(self.clone()), state, source, merge_schema, on, clauses)
            .await
    }
}
