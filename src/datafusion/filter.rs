//! A table's rows matching a SQL predicate, through DataFusion (partition filters prune,
//! statistics skip files): what `shoal read --where` and Python's `to_arrow(filter=...)` do.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use datafusion::error::DataFusionError;
use futures::stream::BoxStream;
use futures::StreamExt;

use crate::error::{Error, Result};
use crate::Table;

/// The rows of `table` (its snapshot, if it travelled) where the SQL `predicate` holds, as a
/// stream with its schema: the `projection` columns (table column indices; all when None), at
/// most `limit` rows. A predicate that does not parse or names no column is an input error
/// naming it.
pub async fn filtered_stream(
    table: &Table,
    projection: Option<&[usize]>,
    predicate: &str,
    limit: Option<usize>,
) -> Result<(SchemaRef, BoxStream<'static, Result<RecordBatch>>)> {
    let provider = super::ShoalTableProvider::new(table.clone());
    let ctx = datafusion::prelude::SessionContext::new();
    let context = format!("filter {predicate:?}");
    let sql_err = |e: DataFusionError| super::statement_error(&context, &e);
    ctx.register_table("t", Arc::new(provider)).map_err(sql_err)?;
    let mut df = ctx.table("t").await.map_err(sql_err)?;
    let expr = df.parse_sql_expr(predicate).map_err(sql_err)?;
    df = df.filter(expr).map_err(sql_err)?;
    if let Some(p) = projection {
        let names: Vec<&str> = p.iter().map(|&i| table.schema().fields[i].name.as_str()).collect();
        df = df.select_columns(&names).map_err(sql_err)?;
    }
    if let Some(n) = limit {
        df = df.limit(0, Some(n)).map_err(sql_err)?;
    }
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let stream = df.execute_stream().await.map_err(sql_err)?;
    // Read failures are shoal's own errors, kept as they are (a storage error stays one);
    // DataFusion's (evaluating the predicate) are the predicate's.
    let rows = stream.map(move |r| {
        r.map_err(|e| match super::into_shoal_error(e) {
            Ok(inner) => inner,
            Err(e) => Error::InvalidInput(format!("{context}: {e}")),
        })
    });
    Ok((schema, rows.boxed()))
}
