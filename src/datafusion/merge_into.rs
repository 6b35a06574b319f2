//! `MERGE INTO t USING s ON ... WHEN MATCHED [AND ..] THEN UPDATE SET .. | DELETE
//! WHEN NOT MATCHED [AND ..] THEN INSERT .. WHEN NOT MATCHED BY SOURCE [AND ..] THEN UPDATE | DELETE`
//! on primary-key tables.
//!
//! DataFusion plans the statement and hands shoal the source rows, the ON condition and the
//! clauses. shoal full-outer-joins the table with the source (marker columns tell matched rows
//! from rows of one side), picks the first clause that applies to each joined row, and computes
//! the row it writes: the updated row as `+U`, the inserted row as `+I`, the target row as `-D`.
//! The rows go through the table writer in one commit. A target key written twice by one
//! statement (two source rows matching one target row, or inserting one key) is an error, as in
//! SQL, instead of a race between the two versions.

use std::sync::Arc;

use ::datafusion::catalog::{MemTable, Session, TableProvider};
use ::datafusion::common::{plan_err, Column, DFSchemaRef, Result, TableReference};
use ::datafusion::datasource::provider_as_source;
use ::datafusion::datasource::sink::DataSinkExec;
use ::datafusion::logical_expr::dml::{MergeIntoAction, MergeIntoClause, MergeIntoClauseKind};
use ::datafusion::logical_expr::{cast, col, lit, when, Expr, JoinType, LogicalPlanBuilder};
use ::datafusion::physical_plan::{collect, ExecutionPlan};

use super::sink::{ShoalSink, KIND_COLUMN};
use crate::spec::RowKind;
use crate::Table;

const TARGET_MARK: &str = "__shoal_target_row";
const SOURCE_MARK: &str = "__shoal_source_row";
const ACTION: &str = "__shoal_merge_action";

/// `CASE WHEN c1 THEN v1 WHEN c2 THEN v2 ... ELSE otherwise END` (at least one arm).
fn case(arms: Vec<(Expr, Expr)>, otherwise: Expr) -> Result<Expr> {
    let mut arms = arms.into_iter();
    let Some((c, v)) = arms.next() else { return Ok(otherwise) };
    let mut builder = when(c, v);
    for (c, v) in arms {
        builder.when(c, v);
    }
    builder.otherwise(otherwise)
}

fn marker(name: &str) -> Expr {
    Expr::Column(Column::new_unqualified(name))
}

/// The physical plan of a MERGE into `table`, read through `target` (the table's provider): rows
/// to write with their kinds, into a sink that commits once.
pub(super) async fn plan_merge(
    table: &Table,
    target: Arc<dyn TableProvider>,
    state: &dyn Session,
    source: Arc<dyn ExecutionPlan>,
    merge_schema: DFSchemaRef,
    on: Expr,
    clauses: Vec<MergeIntoClause>,
) -> Result<Arc<dyn ExecutionPlan>> {
    let table_schema = table.arrow_schema();
    let n = table_schema.fields().len();
    let Some(target_ref) = merge_schema.qualified_field(0).0.cloned() else {
        return plan_err!("MERGE INTO: the target columns carry no table name");
    };
    let mut source_refs: Vec<TableReference> = vec![];
    for (q, _) in merge_schema.iter().skip(n) {
        match q {
            Some(q) if !source_refs.contains(q) => source_refs.push(q.clone()),
            Some(_) => {}
            None => return plan_err!("MERGE INTO: name the source with an alias (USING ... AS s)"),
        }
    }
    let [source_ref] = source_refs.as_slice() else {
        return plan_err!("MERGE INTO: the source must be one table or subquery with one alias (USING ... AS s)");
    };
    let primary_keys = table.schema().primary_keys.clone();
    let partition_keys = table.schema().partition_keys.clone();
    for c in &clauses {
        if let MergeIntoAction::Update(assignments) = &c.action {
            if let Some((column, _)) =
                assignments.iter().find(|(c, _)| primary_keys.contains(c) || partition_keys.contains(c))
            {
                return plan_err!("MERGE INTO cannot update primary-key or partition column {column:?}");
            }
        }
    }

    // The source rows (the side a MERGE brings in; usually the smaller one).
    let source_schema = source.schema();
    let source_rows = collect(source, state.task_ctx()).await?;
    let source_table = MemTable::try_new(source_schema.clone(), vec![source_rows])?;

    let target_col = |name: &str| Expr::Column(Column::new(Some(target_ref.clone()), name));
    let mut target_exprs: Vec<Expr> = table_schema.fields().iter().map(|f| target_col(f.name())).collect();
    target_exprs.push(lit(true).alias(TARGET_MARK));
    let target = LogicalPlanBuilder::scan(target_ref.clone(), provider_as_source(target), None)?
        .project(target_exprs)?
        .build()?;
    let mut source_exprs: Vec<Expr> =
        source_schema.fields().iter().map(|f| Expr::Column(Column::new(Some(source_ref.clone()), f.name()))).collect();
    source_exprs.push(lit(true).alias(SOURCE_MARK));
    let source = LogicalPlanBuilder::scan(source_ref.clone(), provider_as_source(Arc::new(source_table)), None)?
        .project(source_exprs)?
        .build()?;

    // Which clause applies to each joined row: the first whose kind and predicate hold.
    let matched = marker(TARGET_MARK).is_not_null().and(marker(SOURCE_MARK).is_not_null());
    let only_source = marker(TARGET_MARK).is_null();
    let only_target = marker(SOURCE_MARK).is_null();
    let mut arms = vec![];
    for (i, c) in clauses.iter().enumerate() {
        let kind = match c.kind.canonical() {
            MergeIntoClauseKind::Matched => matched.clone(),
            MergeIntoClauseKind::NotMatchedBySource => only_target.clone(),
            _ => only_source.clone(),
        };
        let cond = match &c.predicate {
            Some(p) => kind.and(p.clone()),
            None => kind,
        };
        arms.push((cond, lit(i as i32 + 1)));
    }
    if arms.is_empty() {
        return plan_err!("MERGE INTO needs at least one WHEN clause");
    }
    let action = case(arms, lit(0i32))?;
    let chosen = |i: usize| col(ACTION).eq(lit(i as i32 + 1));

    // The written row per clause.
    let mut out: Vec<Expr> = Vec::with_capacity(n + 1);
    for (ci, field) in table_schema.fields().iter().enumerate() {
        let mut arms = vec![];
        for (i, c) in clauses.iter().enumerate() {
            let value = match &c.action {
                MergeIntoAction::Update(assignments) => assignments
                    .iter()
                    .find(|(col, _)| col == field.name())
                    .map(|(_, e)| e.clone())
                    .unwrap_or_else(|| target_col(field.name())),
                MergeIntoAction::Insert { columns, values } => {
                    let pos =
                        if columns.is_empty() { Some(ci) } else { columns.iter().position(|c| c == field.name()) };
                    match pos.and_then(|p| values.get(p)) {
                        Some(v) => v.clone(),
                        None => Expr::Literal(::datafusion::common::ScalarValue::try_from(field.data_type())?, None),
                    }
                }
                MergeIntoAction::Delete => target_col(field.name()),
            };
            arms.push((chosen(i), cast(value, field.data_type().clone())));
        }
        out.push(case(arms, target_col(field.name()))?.alias(field.name()));
    }
    let kinds = clauses
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let k = match c.action {
                MergeIntoAction::Update(_) => RowKind::UpdateAfter,
                MergeIntoAction::Insert { .. } => RowKind::Insert,
                MergeIntoAction::Delete => RowKind::Delete,
            };
            (chosen(i), lit(k as i8))
        })
        .collect();
    out.push(case(kinds, lit(RowKind::Insert as i8))?.alias(KIND_COLUMN));

    let mut joined_exprs: Vec<Expr> = table_schema.fields().iter().map(|f| target_col(f.name())).collect();
    joined_exprs
        .extend(source_schema.fields().iter().map(|f| Expr::Column(Column::new(Some(source_ref.clone()), f.name()))));
    joined_exprs.push(action.alias(ACTION));
    let plan = LogicalPlanBuilder::from(target)
        .join_on(source, JoinType::Full, vec![on])?
        .project(joined_exprs)?
        .filter(col(ACTION).not_eq(lit(0i32)))?
        .project(out)?
        .build()?;
    // The target is read when the plan is made: at this snapshot or a later one.
    let read = table.snapshots().latest_id().await.map_err(super::df_err)?;
    let rows = state.create_physical_plan(&plan).await?;
    let sink = ShoalSink::with_kind_column(table.clone(), "MERGE INTO").computed_from(read);
    Ok(Arc::new(DataSinkExec::new(rows, Arc::new(sink), None)))
}
