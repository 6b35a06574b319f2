//! `INSERT OVERWRITE t PARTITION (k = 'v', ...) SELECT ...`, which DataFusion's planner rejects
//! ("Partitioned inserts not yet supported"): as in Hive, Spark and Flink, the query gives the
//! columns that are not in the PARTITION clause, in table order, and the clause's values fill
//! the others. The rows replace the partitions the clause covers (all of them when it names only
//! some partition columns), even when the query gives no row; a row outside fails the statement.
//! `INSERT OVERWRITE t SELECT ...` without the clause goes through DataFusion to
//! [`super::provider::ShoalTableProvider`] (`InsertOp::Overwrite`).

use std::sync::Arc;

use ::datafusion::arrow::record_batch::RecordBatch;
use ::datafusion::common::{plan_err, Column, Result};
use ::datafusion::datasource::sink::DataSinkExec;
use ::datafusion::logical_expr::{cast, col, lit, Expr};
use ::datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use ::datafusion::physical_plan::{collect, ExecutionPlanProperties};
use ::datafusion::prelude::SessionContext;
use ::datafusion::sql::parser::Statement as DFStatement;
use ::datafusion::sql::planner::object_name_to_table_reference;
use ::datafusion::sql::sqlparser::ast::{self, BinaryOperator, Insert, Statement, TableObject};

use super::provider::ShoalTableProvider;
use super::sink::ShoalSink;
use crate::spec::RowKind;

const STATEMENT: &str = "INSERT OVERWRITE ... PARTITION";

/// Runs an INSERT with a PARTITION clause; returns the row count, as INSERT does.
pub(super) async fn insert_partition(ctx: &SessionContext, insert: &Insert) -> Result<Vec<RecordBatch>> {
    if !insert.overwrite {
        return plan_err!(
            "INSERT INTO ... PARTITION (...): shoal takes a PARTITION clause on INSERT OVERWRITE only; \
             for INSERT INTO write the partition values as columns of the query"
        );
    }
    let TableObject::TableName(name) = &insert.table else {
        return plan_err!("{STATEMENT}: the target must be a table name");
    };
    if !insert.columns.is_empty() || !insert.after_columns.is_empty() {
        return plan_err!(
            "{STATEMENT}: a column list is not supported; the query gives the non-partition columns in table order"
        );
    }
    let Some(source) = &insert.source else {
        return plan_err!("{STATEMENT}: needs a query (SELECT or VALUES)");
    };
    let reference = object_name_to_table_reference(name.clone(), true)?;
    let provider = ctx.table_provider(reference.clone()).await?;
    let Some(shoal) = provider.downcast_ref::<ShoalTableProvider>() else {
        return plan_err!("{STATEMENT}: {reference} is not a shoal table");
    };
    let table = shoal.writable_table(STATEMENT)?.clone();
    let partition = static_partition(insert.partitioned.as_deref().unwrap_or_default(), &table)?;
    // Checks the clause's columns before any row is read.
    crate::commit::OverwriteScope::for_table(table.schema(), &partition).map_err(super::df_err)?;

    let query = DFStatement::Statement(Box::new(Statement::Query(source.clone())));
    let plan = ctx.state().statement_to_plan(query).await?;
    let df = ctx.execute_logical_plan(plan).await?;
    let schema = table.arrow_schema();
    let given = df.schema().fields().len();
    let wanted = schema.fields().len() - partition.len();
    if given != wanted {
        let names: Vec<&str> = schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .filter(|n| !partition.iter().any(|(k, _)| k == n))
            .collect();
        return plan_err!(
            "{STATEMENT}: the query gives {given} columns; {reference} takes {wanted} besides the PARTITION clause's: {}",
            names.join(", ")
        );
    }
    let mut source_columns = (0..given).map(|i| Column::from(df.schema().qualified_field(i)));
    let mut exprs: Vec<Expr> = vec![];
    for field in schema.fields() {
        let expr = match partition.iter().find(|(k, _)| k == field.name()) {
            Some((_, v)) => cast(lit(v.clone()), field.data_type().clone()),
            None => match source_columns.next() {
                Some(c) => col(c),
                None => return plan_err!("{STATEMENT}: the query has too few columns"),
            },
        };
        exprs.push(expr.alias(field.name()));
    }
    let df = df.select(exprs)?;
    let mut input = df.create_physical_plan().await?;
    // The sink writes partition 0 of its input: all of it, in one stream (what the physical
    // optimizer does for an INSERT that DataFusion plans itself).
    if input.output_partitioning().partition_count() > 1 {
        input = Arc::new(CoalescePartitionsExec::new(input));
    }
    let sink = ShoalSink::new(table, RowKind::Insert, "INSERT OVERWRITE").overwriting(partition);
    collect(Arc::new(DataSinkExec::new(input, Arc::new(sink), None)), ctx.task_ctx()).await
}

/// The PARTITION clause as (partition column, value) pairs; a value in the spelling of
/// partition paths.
fn static_partition(exprs: &[ast::Expr], table: &crate::Table) -> Result<Vec<(String, String)>> {
    let mut pairs = vec![];
    for e in exprs {
        let ast::Expr::BinaryOp { left, op: BinaryOperator::Eq, right } = e else {
            return plan_err!("{STATEMENT}: {e} is not `column = value`");
        };
        let ast::Expr::Identifier(ident) = left.as_ref() else {
            return plan_err!("{STATEMENT}: {left} is not a partition column name");
        };
        let name = if ident.quote_style.is_some() { ident.value.clone() } else { ident.value.to_lowercase() };
        // The table's own spelling of the column (names are matched case-insensitively, as
        // DataFusion does for unquoted names).
        let name = table
            .schema()
            .partition_keys
            .iter()
            .find(|k| **k == name || (ident.quote_style.is_none() && k.eq_ignore_ascii_case(&name)))
            .cloned()
            .unwrap_or(name);
        let value = match right.as_ref() {
            ast::Expr::Value(v) => match &v.value {
                ast::Value::SingleQuotedString(s) | ast::Value::DoubleQuotedString(s) => s.clone(),
                ast::Value::Number(n, _) => n.to_string(),
                ast::Value::Boolean(b) => b.to_string(),
                other => return plan_err!("{STATEMENT}: partition value {other} of {name} is not a literal"),
            },
            ast::Expr::UnaryOp { op: ast::UnaryOperator::Minus, expr } => format!("-{expr}"),
            other => return plan_err!("{STATEMENT}: partition value {other} of {name} is not a literal"),
        };
        pairs.push((name, value));
    }
    Ok(pairs)
}
