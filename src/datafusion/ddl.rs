//! `ALTER TABLE` on shoal tables, which DataFusion does not plan: each statement becomes
//! Paimon schema changes written as the next `schema-N` file (see [`crate::spec::schema_change`]
//! for what Paimon allows). Spark's and Flink's spellings:
//! - `ALTER TABLE t ADD [COLUMN] c TYPE [NOT NULL] [COMMENT '..'] [FIRST | AFTER x]`
//! - `ALTER TABLE t DROP [COLUMN] c [, d]`, `ALTER TABLE t RENAME COLUMN a TO b`
//! - `ALTER TABLE t ALTER [COLUMN] c [SET DATA] TYPE BIGINT` (widening)
//! - `ALTER TABLE t SET TBLPROPERTIES ('k' = 'v')` (Spark) / `ALTER TABLE t SET ('k' = 'v')` (Flink)

use ::datafusion::arrow::array::{BooleanArray, Int64Array, RecordBatch};
use ::datafusion::arrow::datatypes::{DataType as ArrowType, Field, Schema};
use ::datafusion::common::{not_impl_err, plan_err, Result, TableReference};
use ::datafusion::prelude::SessionContext;
use ::datafusion::sql::sqlparser::ast::{
    AlterColumnOperation, AlterTable, AlterTableOperation, ColumnDef, ColumnOption, Expr, MySQLColumnPosition,
    SqlOption,
};
use std::sync::Arc;

use super::df_err;
use super::provider::ShoalTableProvider;
use crate::spec::{parse_type, ColumnPosition, SchemaChange};

/// Runs an `ALTER TABLE` statement; returns the new schema id.
pub(super) async fn alter_table(ctx: &SessionContext, alter: &AlterTable) -> Result<Vec<RecordBatch>> {
    let name = alter.name.to_string();
    let provider = match ctx.table_provider(TableReference::parse_str(&name)).await {
        Ok(p) => p,
        Err(_) if alter.if_exists => return Ok(vec![]),
        Err(e) => return Err(e.context(format!("ALTER TABLE {name}"))),
    };
    let Some(shoal) = provider.downcast_ref::<ShoalTableProvider>() else {
        return plan_err!("ALTER TABLE {name}: not a shoal table");
    };
    if shoal.time_travel().is_some() {
        return plan_err!("ALTER TABLE {name}: a time-travelled table cannot be altered");
    }
    let mut changes = vec![];
    for op in &alter.operations {
        changes.extend(schema_changes(&name, op)?);
    }
    let table = shoal.table().alter(&changes).await.map_err(df_err)?;
    let schema = Arc::new(Schema::new(vec![
        Field::new("result", ArrowType::Boolean, false),
        Field::new("schema_id", ArrowType::Int64, false),
    ]));
    Ok(vec![RecordBatch::try_new(
        schema,
        vec![Arc::new(BooleanArray::from(vec![true])), Arc::new(Int64Array::from(vec![table.schema().id]))],
    )?])
}

fn schema_changes(table: &str, op: &AlterTableOperation) -> Result<Vec<SchemaChange>> {
    Ok(match op {
        AlterTableOperation::AddColumn { column_def, column_position, .. } => {
            let position = match column_position {
                None => ColumnPosition::Last,
                Some(MySQLColumnPosition::First) => ColumnPosition::First,
                Some(MySQLColumnPosition::After(c)) => ColumnPosition::After(c.value.clone()),
            };
            let (data_type, comment) = column_type(table, column_def)?;
            vec![SchemaChange::AddColumn { name: column_def.name.value.clone(), data_type, position, comment }]
        }
        AlterTableOperation::DropColumn { column_names, .. } => {
            column_names.iter().map(|c| SchemaChange::DropColumn(c.value.clone())).collect()
        }
        AlterTableOperation::RenameColumn { old_column_name, new_column_name } => {
            vec![SchemaChange::RenameColumn { from: old_column_name.value.clone(), to: new_column_name.value.clone() }]
        }
        AlterTableOperation::AlterColumn {
            column_name,
            op: AlterColumnOperation::SetDataType { data_type, using: None, .. },
        } => {
            let data_type = parse_type(&data_type.to_string()).map_err(|e| {
                df_err(crate::Error::InvalidInput(format!("ALTER TABLE {table} ALTER COLUMN {column_name}: {e}")))
            })?;
            vec![SchemaChange::UpdateColumnType { name: column_name.value.clone(), data_type }]
        }
        AlterTableOperation::SetTblProperties { table_properties: options }
        | AlterTableOperation::SetOptionsParens { options } => {
            options.iter().map(|o| set_option(table, o)).collect::<Result<_>>()?
        }
        other => return not_impl_err!("ALTER TABLE {table} {other} is not supported by shoal"),
    })
}

/// The Paimon type of a column definition (with `NOT NULL`) and its comment.
fn column_type(table: &str, c: &ColumnDef) -> Result<(crate::spec::DataType, Option<String>)> {
    let mut text = c.data_type.to_string();
    let mut comment = None;
    for o in &c.options {
        match &o.option {
            ColumnOption::NotNull => text.push_str(" NOT NULL"),
            ColumnOption::Null => {}
            ColumnOption::Comment(s) => comment = Some(s.clone()),
            other => {
                return not_impl_err!(
                    "ALTER TABLE {table} ADD COLUMN {}: column option {other} is not supported",
                    c.name
                )
            }
        }
    }
    let t = parse_type(&text)
        .map_err(|e| df_err(crate::Error::InvalidInput(format!("ALTER TABLE {table} ADD COLUMN {}: {e}", c.name))))?;
    Ok((t, comment))
}

fn set_option(table: &str, o: &SqlOption) -> Result<SchemaChange> {
    let SqlOption::KeyValue { key, value } = o else {
        return plan_err!("ALTER TABLE {table} SET: expected 'key' = 'value', got {o}");
    };
    let value = match value {
        Expr::Identifier(i) => i.value.clone(),
        other => match super::procedures::literal_text(other) {
            Some(v) => v,
            None => return plan_err!("ALTER TABLE {table} SET: the value of {key} must be a literal, got {other}"),
        },
    };
    Ok(SchemaChange::SetOption { key: key.value.clone(), value })
}
