//! A warehouse as a DataFusion catalog: Paimon's filesystem-catalog layout, one schema per
//! `<warehouse>/<db>.db` directory and one table per `<db>.db/<table>` directory holding a
//! `schema/` directory. Tables are opened (at their latest schema) when a query names them.
//!
//! A table name may carry a time travel: `t$snapshot=3` reads snapshot 3, `t$tag=x` the
//! snapshot tag `x` keeps, `t$timestamp=<millis>` the latest snapshot committed at or before
//! that time (the SQL front end rewrites `VERSION AS OF` / `TIMESTAMP AS OF` into these).
//!
//! `t$snapshots`, `t$files`, ... name Paimon's system tables
//! ([`crate::system_tables`]); those that read a snapshot (`$files`, `$manifests`,
//! `$partitions`, `$buckets`, `$table_indexes`, `$audit_log`, `$ro`) take a time travel too:
//! `t$files$snapshot=3`, and a branch with `t$branch_<name>` (`t$branch_b1$files`). See
//! [`TableName`] for the grammar.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use ::datafusion::catalog::{CatalogProvider, SchemaProvider, TableProvider};
use ::datafusion::common::{exec_err, Result};
use async_trait::async_trait;

use super::df_err;
use super::provider::ShoalTableProvider;
use super::system_tables::{AuditLogProvider, SystemTableProvider};
use crate::io::FileIO;
use crate::read::scan::TimeTravel;
use crate::system_tables::SystemTable;
use crate::table::Table;

/// The suffix of a table name that reads a fixed snapshot.
pub(super) const SNAPSHOT_SUFFIX: &str = "$snapshot=";
/// The suffix of a table name that reads the snapshot a tag keeps.
pub(super) const TAG_SUFFIX: &str = "$tag=";
/// The suffix of a table name that reads the latest snapshot at or before an epoch-millis time.
pub(super) const TIMESTAMP_SUFFIX: &str = "$timestamp=";

/// The prefix of a table name suffix that names a branch (Paimon's `t$branch_<name>`).
pub(super) const BRANCH_SUFFIX_PREFIX: &str = "branch_";

/// A table name as a query writes it: the table, then `$`-separated suffixes, in Paimon's
/// order: a branch (`t$branch_b1`), a system table (`t$snapshots`, `t$branch_b1$files`), a
/// time travel (`t$snapshot=3`, `t$files$tag=x`, `t$timestamp=<millis>`; always last: a tag
/// name may hold `$`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct TableName {
    pub table: String,
    pub branch: Option<String>,
    pub system: Option<SystemTable>,
    pub travel: Option<TimeTravel>,
}

impl TableName {
    /// Parses a name; a suffix that is none of the above is an error naming the system tables.
    pub(super) fn parse(name: &str) -> Result<TableName> {
        let number = |v: &str, suffix: &str| match v.parse::<i64>() {
            Ok(n) => Ok(n),
            Err(_) => exec_err!("{name}: the value after {suffix} must be a number, got {v:?}"),
        };
        let mut parts = name.split('$');
        let table = parts.next().unwrap_or_default().to_string();
        let mut parsed = TableName { table, branch: None, system: None, travel: None };
        let rest: Vec<&str> = parts.collect();
        let mut i = 0;
        while i < rest.len() {
            let part = rest[i];
            // A time travel takes the rest of the name.
            let tail = || rest[i..].join("$");
            if part.starts_with(&SNAPSHOT_SUFFIX[1..]) {
                let tail = tail();
                parsed.travel =
                    Some(TimeTravel::Snapshot(number(&tail[SNAPSHOT_SUFFIX.len() - 1..], SNAPSHOT_SUFFIX)?));
                break;
            }
            if part.starts_with(&TIMESTAMP_SUFFIX[1..]) {
                let tail = tail();
                parsed.travel =
                    Some(TimeTravel::Timestamp(number(&tail[TIMESTAMP_SUFFIX.len() - 1..], TIMESTAMP_SUFFIX)?));
                break;
            }
            if part.starts_with(&TAG_SUFFIX[1..]) {
                parsed.travel = Some(TimeTravel::Tag(tail()[TAG_SUFFIX.len() - 1..].to_string()));
                break;
            }
            if let Some(branch) = part.strip_prefix(BRANCH_SUFFIX_PREFIX) {
                if i > 0 || branch.is_empty() {
                    return exec_err!(
                        "{name}: a branch (${BRANCH_SUFFIX_PREFIX}<name>) must directly follow the table name"
                    );
                }
                parsed.branch = Some(branch.to_string());
            } else if let Some(system) = SystemTable::from_name(part) {
                if parsed.system.is_some() {
                    return exec_err!("{name}: more than one system table");
                }
                parsed.system = Some(system);
            } else {
                let names: Vec<&str> = SystemTable::ALL.iter().map(|t| t.name()).collect();
                return exec_err!(
                    "{name}: unknown suffix ${part}; a table name takes $<system table> ({}), $branch_<name>, \
                     $snapshot=<id>, $tag=<name> or $timestamp=<millis>",
                    names.join(", ")
                );
            }
            i += 1;
        }
        Ok(parsed)
    }
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
        let parsed = TableName::parse(name)?;
        let name = parsed.table.as_str();
        if name.is_empty() || name.contains('/') {
            return Ok(None);
        }
        // Only directories holding a schema are tables (opening creates nothing).
        let schema_dir = format!("{}.db/{name}/schema", self.db);
        if self.io.list(&schema_dir).await.map_err(|e| df_err(e.into()))?.is_empty() {
            return Ok(None);
        }
        let branch = parsed.branch.as_deref().unwrap_or(crate::spec::paths::MAIN_BRANCH);
        let table = match Table::open_branch(&self.location(name), branch).await {
            Ok(t) => t,
            Err(crate::Error::TableNotFound(_)) => return Ok(None),
            Err(e) => return Err(df_err(e)),
        };
        Ok(Some(open_provider(table, parsed).await?))
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

/// The DataFusion table a parsed name reads: the table (time-travelled or not), or one of its
/// system tables.
async fn open_provider(table: Table, name: TableName) -> Result<Arc<dyn TableProvider>> {
    let Some(system) = name.system else {
        let provider = match name.travel {
            Some(tt) => ShoalTableProvider::at(table, tt).await.map_err(df_err)?,
            None => ShoalTableProvider::new(table),
        };
        return Ok(Arc::new(provider));
    };
    let reads_snapshot = matches!(
        system,
        SystemTable::Manifests
            | SystemTable::Files
            | SystemTable::Partitions
            | SystemTable::Buckets
            | SystemTable::TableIndexes
            | SystemTable::AuditLog
            | SystemTable::ReadOptimized
    );
    let table = match &name.travel {
        Some(_) if !reads_snapshot => {
            return exec_err!(
                "{}${system} lists the table's metadata files; time travel does not apply to it",
                name.table
            )
        }
        Some(tt) => table.travel(tt).await.map_err(df_err)?,
        None => table,
    };
    Ok(match system {
        SystemTable::AuditLog => Arc::new(AuditLogProvider::new(table)),
        SystemTable::ReadOptimized => Arc::new(ShoalTableProvider::new(table).read_optimized().map_err(df_err)?),
        _ => Arc::new(SystemTableProvider::new(table, system)),
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn name(table: &str, branch: Option<&str>, system: Option<SystemTable>, travel: Option<TimeTravel>) -> TableName {
        TableName { table: table.into(), branch: branch.map(str::to_string), system, travel }
    }

    #[test]
    fn table_names() {
        assert_eq!(TableName::parse("t").unwrap(), name("t", None, None, None));
        assert_eq!(TableName::parse("t$snapshots").unwrap(), name("t", None, Some(SystemTable::Snapshots), None));
        assert_eq!(TableName::parse("t$RO").unwrap(), name("t", None, Some(SystemTable::ReadOptimized), None));
        assert_eq!(TableName::parse("t$snapshot=3").unwrap(), name("t", None, None, Some(TimeTravel::Snapshot(3))));
        assert_eq!(
            TableName::parse("t$files$tag=a$b").unwrap(),
            name("t", None, Some(SystemTable::Files), Some(TimeTravel::Tag("a$b".into())))
        );
        assert_eq!(
            TableName::parse("t$branch_b1$files$timestamp=5").unwrap(),
            name("t", Some("b1"), Some(SystemTable::Files), Some(TimeTravel::Timestamp(5)))
        );
        assert_eq!(TableName::parse("t$branch_b1").unwrap(), name("t", Some("b1"), None, None));
        assert!(TableName::parse("t$snapshot=x").is_err());
        assert!(TableName::parse("t$nope").is_err());
        assert!(TableName::parse("t$files$branch_b1").is_err());
        assert!(TableName::parse("t$files$files").is_err());
    }
}
