//! DataFusion over shoal tables.
//!
//! - [`provider`]: a shoal table as a `TableProvider` (projection, exact partition pruning,
//!   statistics-based file skipping, limits, row-count statistics; `INSERT INTO`, and `DELETE` /
//!   `UPDATE` / `MERGE INTO` on primary-key tables, each statement one commit).
//! - [`exec`]: the physical scan, splits spread over DataFusion partitions and streamed.
//! - [`prune`]: which partitions and files a query needs.
//! - [`merge_into`]: `MERGE INTO` as a join of table and source, one commit.
//! - [`sink`]: rows written through the table writer and committed once.
//! - [`system_tables`]: Paimon's system tables (`t$snapshots`, `t$files`, `t$audit_log`, ...).
//! - [`overwrite`]: `INSERT OVERWRITE ... PARTITION (...)`, which DataFusion does not plan.
//! - [`catalog`]: a warehouse (`<warehouse>/<db>.db/<table>`) as a catalog.
//! - [`frontend`]: shoal's SQL entry point: DataFusion's SQL plus Paimon's `CALL sys.*`
//!   procedures ([`procedures`]) and `VERSION AS OF` time travel.

mod catalog;
mod ddl;
mod exec;
mod filter;
mod frontend;
mod merge_into;
mod overwrite;
mod procedures;
mod provider;
mod prune;
mod sink;
mod system_tables;

use std::sync::Arc;

use ::datafusion::common::DataFusionError;
use ::datafusion::prelude::{SessionConfig, SessionContext};

pub use catalog::{ShoalCatalogProvider, ShoalSchemaProvider};
pub use exec::ShoalScanExec;
pub use filter::filtered_stream;
pub use frontend::{sql, sql_results, sql_statements};
pub use provider::ShoalTableProvider;

/// The catalog name [`context_for_warehouse`] registers the warehouse under.
pub const DEFAULT_CATALOG: &str = "shoal";

pub(crate) fn df_err(e: crate::Error) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// Registers a warehouse as catalog `name` on a session: `SELECT * FROM name.db.t` works,
/// and `db.t` too when `name` is the session's default catalog.
pub async fn register_warehouse(ctx: &SessionContext, name: &str, warehouse: &str) -> crate::Result<()> {
    let catalog = ShoalCatalogProvider::open(warehouse).await?;
    ctx.register_catalog(name, Arc::new(catalog));
    Ok(())
}

/// A session whose default catalog is the warehouse (as catalog `shoal`, default database
/// `default` as in Paimon), so queries name tables as `db.t`.
pub async fn context_for_warehouse(warehouse: &str) -> crate::Result<SessionContext> {
    let config = SessionConfig::new()
        .with_default_catalog_and_schema(DEFAULT_CATALOG, "default")
        .with_create_default_catalog_and_schema(false)
        .with_information_schema(true);
    let ctx = SessionContext::new_with_config(config);
    register_warehouse(&ctx, DEFAULT_CATALOG, warehouse).await?;
    Ok(ctx)
}

/// A DataFusion error met planning or running a statement, as an input error that says where
/// (`context`: "SQL", a filter): shoal's own errors give their message without a second
/// "invalid input: ".
pub fn statement_error(context: &str, e: &DataFusionError) -> crate::Error {
    match shoal_error(e) {
        Some(inner) => crate::Error::InvalidInput(format!("{context}: {}", inner.detail())),
        None => crate::Error::InvalidInput(format!("{context}: {e}")),
    }
}

/// shoal's own error behind a DataFusion error, taken out of it (its kind and sources kept);
/// the DataFusion error itself when it is not shoal's.
pub(crate) fn into_shoal_error(e: DataFusionError) -> std::result::Result<crate::Error, DataFusionError> {
    match e {
        DataFusionError::External(inner) => match inner.downcast::<crate::Error>() {
            Ok(shoal) => Ok(*shoal),
            Err(other) => Err(DataFusionError::External(other)),
        },
        DataFusionError::Context(context, inner) => {
            into_shoal_error(*inner).map_err(|e| DataFusionError::Context(context, Box::new(e)))
        }
        e => Err(e),
    }
}

/// The error behind a DataFusion error, when it is shoal's own.
pub(crate) fn shoal_error(e: &DataFusionError) -> Option<&crate::Error> {
    match e {
        DataFusionError::External(inner) => inner.downcast_ref::<crate::Error>(),
        DataFusionError::Context(_, inner) => shoal_error(inner),
        DataFusionError::Shared(inner) => shoal_error(inner),
        _ => None,
    }
}
