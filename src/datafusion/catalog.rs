//! A warehouse as a DataFusion catalog: Paimon's filesystem-catalog layout, one schema per
//! `<warehouse>/<db>.db` directory and one table per `<db>.db/<table>` directory holding a
//! `schema/` directory. Tables are opened (at their latest schema) when a query names them.
//!
//! A table name may carry a time travel: `t$snapshot=3` reads snapshot 3, `t$tag=x` the
//! snapshot tag `x` keeps, `t$timestamp=<millis>` the latest snapshot committed at or before
//! that time (the SQL front end rewrites `VERSION AS OF` / `TIMESTAMP AS OF` into these).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use ::datafusion::catalog::{CatalogProvider, SchemaProvider, TableProvider};
use ::datafusion::common::{exec_err, Result};
use async_trait::async_trait;

use super::df_err;
use super::provider::ShoalTableProvider;
use crate::io::FileIO;
use crate::read::scan::TimeTravel;
use crate::table::Table;

/// The suffix of a table name that reads a fixed snapshot.
pub const SNAPSHOT_SUFFIX: &str = "$snapshot=";
/// The suffix of a table name that reads the snapshot a tag keeps.
pub const TAG_SUFFIX: &str = "$tag=";
/// The suffix of a table name that reads the latest snapshot at or before an epoch-millis time.
pub const TIMESTAMP_SUFFIX: &str = "$timestamp=";

/// Splits a time-travel suffix off a table name.
fn split_travel(name: &str) -> Result<(&str, Option<TimeTravel>)> {
    let number = |t: &str, v: &str, suffix: &str| match v.parse::<i64>() {
        Ok(n) => Ok(n),
        Err(_) => exec_err!("{t}: the value after {suffix} must be a number, got {v:?}"),
    };
    if let Some((t, v)) = name.split_once(SNAPSHOT_SUFFIX) {
        return Ok((t, Some(TimeTravel::Snapshot(number(t, v, SNAPSHOT_SUFFIX)?))));
    }
    if let Some((t, v)) = name.split_once(TIMESTAMP_SUFFIX) {
        return Ok((t, Some(TimeTravel::Timestamp(number(t, v, TIMESTAMP_SUFFIX)?))));
    }
    if let Some((t, v)) = name.split_once(TAG_SUFFIX) {
        return Ok((t, Some(TimeTravel::Tag(v.to_string()))));
    }
    Ok((name, None))
}

/// A database (`<warehouse>/<db>.db`), plus tables registered in memory for the session
/// (so `ctx.register_table` keeps working when the warehouse is the default catalog).
#[derive(Debug)]
pub struct ShoalSchemaProvider {
    warehouse: String,
    io: FileIO,
    db: String,
    /// Tables found when the catalog was opened; others are still opened on demand.
    tables: Vec<String>,
    registered: RwLock<HashMap<String, Arc<dyn TableProvider>>>,
}

impl ShoalSchemaProvider {
    fn new(io: &FileIO, warehouse: &str, db: &str, tables: Vec<String>) -> Self {
        ShoalSchemaProvider {
            warehouse: warehouse.to_string(),
            io: io.clone(),
            db: db.to_string(),
            tables,
            registered: Default::default(),
        }
    }

    fn location(&self, table: &str) -> String {
        format!("{}/{}.db/{table}", self.warehouse, self.db)
    }
}

#[async_trait]
impl SchemaProvider for ShoalSchemaProvider {
    fn table_names(&self) -> Vec<String> {
        let mut names = self.tables.clone();
        if let Ok(r) = self.registered.read() {
            names.extend(r.keys().cloned());
        }
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if let Some(t) = self.registered.read().ok().and_then(|r| r.get(name).cloned()) {
            return Ok(Some(t));
        }
        let (name, travel) = split_travel(name)?;
        if name.is_empty() || name.contains('/') {
            return Ok(None);
        }
        // Only directories holding a schema are tables (opening creates nothing).
        let schema_dir = format!("{}.db/{name}/schema", self.db);
        if self.io.list(&schema_dir).await.map_err(|e| df_err(e.into()))?.is_empty() {
            return Ok(None);
        }
        let table = match Table::open(&self.location(name)).await {
            Ok(t) => t,
            Err(crate::Error::TableNotFound(_)) => return Ok(None),
            Err(e) => return Err(df_err(e)),
        };
        let provider = match travel {
            Some(tt) => ShoalTableProvider::at(table, tt).await.map_err(df_err)?,
            None => ShoalTableProvider::new(table),
        };
        Ok(Some(Arc::new(provider)))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.tables.iter().any(|t| t == name) || self.registered.read().map(|r| r.contains_key(name)).unwrap_or(false)
    }

    fn register_table(&self, name: String, table: Arc<dyn TableProvider>) -> Result<Option<Arc<dyn TableProvider>>> {
        if self.tables.contains(&name) {
            return exec_err!("{}.{name} is a table of the warehouse; pick another name", self.db);
        }
        let mut r = self.registered.write().map_err(|_| df_err(crate::Error::Task("schema lock poisoned".into())))?;
        Ok(r.insert(name, table))
    }

    fn deregister_table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let mut r = self.registered.write().map_err(|_| df_err(crate::Error::Task("schema lock poisoned".into())))?;
        Ok(r.remove(name))
    }
}

/// A warehouse: one schema per `<db>.db` directory (plus `default` and `public`, where
/// session tables can be registered), and any schema registered on it.
#[derive(Debug)]
pub struct ShoalCatalogProvider {
    warehouse: String,
    io: FileIO,
    schemas: RwLock<BTreeMap<String, Arc<dyn SchemaProvider>>>,
}

impl ShoalCatalogProvider {
    /// Lists the warehouse's databases and tables.
    pub async fn open(warehouse: &str) -> crate::Result<ShoalCatalogProvider> {
        let warehouse = warehouse.trim_end_matches('/').to_string();
        let io = FileIO::from_uri(&warehouse)?;
        let mut dbs: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for dir in io.list_dirs("").await? {
            let Some(db) = dir.strip_suffix(".db") else { continue };
            let mut tables = vec![];
            for t in io.list_dirs(&dir).await? {
                if !io.list(&format!("{dir}/{t}/schema")).await?.is_empty() {
                    tables.push(t);
                }
            }
            tables.sort();
            dbs.insert(db.to_string(), tables);
        }
        let mut schemas: BTreeMap<String, Arc<dyn SchemaProvider>> = dbs
            .into_iter()
            .map(|(db, tables)| {
                let p: Arc<dyn SchemaProvider> = Arc::new(ShoalSchemaProvider::new(&io, &warehouse, &db, tables));
                (db, p)
            })
            .collect();
        // Paimon's default database, and DataFusion's, for tables registered in memory.
        for name in ["default", "public"] {
            schemas.entry(name.to_string()).or_insert_with(|| {
                Arc::new(ShoalSchemaProvider::new(&io, &warehouse, name, vec![])) as Arc<dyn SchemaProvider>
            });
        }
        Ok(ShoalCatalogProvider { warehouse, io, schemas: RwLock::new(schemas) })
    }

    pub fn warehouse(&self) -> &str {
        &self.warehouse
    }
}

impl CatalogProvider for ShoalCatalogProvider {
    fn schema_names(&self) -> Vec<String> {
        self.schemas.read().map(|s| s.keys().cloned().collect()).unwrap_or_default()
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        let schemas = self.schemas.read().ok()?;
        if let Some(s) = schemas.get(name) {
            return Some(s.clone());
        }
        // A database created (on local disk) after the catalog was opened.
        drop(schemas);
        let dir = format!("{}/{name}.db", self.warehouse.trim_start_matches("file://"));
        if !dir.contains("://") && std::path::Path::new(&dir).is_dir() {
            let p: Arc<dyn SchemaProvider> =
                Arc::new(ShoalSchemaProvider::new(&self.io, &self.warehouse, name, vec![]));
            let mut schemas = self.schemas.write().ok()?;
            return Some(schemas.entry(name.to_string()).or_insert(p).clone());
        }
        None
    }

    fn register_schema(&self, name: &str, schema: Arc<dyn SchemaProvider>) -> Result<Option<Arc<dyn SchemaProvider>>> {
        let mut schemas =
            self.schemas.write().map_err(|_| df_err(crate::Error::Task("catalog lock poisoned".into())))?;
        Ok(schemas.insert(name.to_string(), schema))
    }
}
