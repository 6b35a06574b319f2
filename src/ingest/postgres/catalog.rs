//! The Postgres side of the catalog: connections, the tables a pattern names and their
//! columns in Paimon's types, the shoal tables made or evolved for them, the publication, and
//! the cleanup of slot and publication.

use tokio_postgres::{Client, SimpleQueryMessage};

use super::*;

pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

pub(super) fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Connection parameters, from the connection string and the PG* environment variables.
#[derive(Clone, Debug)]
pub struct ConnParams {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub dbname: String,
}

impl ConnParams {
    pub fn parse(conninfo: &str) -> Result<(ConnParams, tokio_postgres::Config)> {
        let mut cfg: tokio_postgres::Config =
            conninfo.parse().map_err(|e: tokio_postgres::Error| invalid(format!("connection string: {e}")))?;
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        if cfg.get_hosts().is_empty() {
            cfg.host(env("PGHOST").as_deref().unwrap_or("localhost"));
        }
        if cfg.get_ports().is_empty() {
            if let Some(p) = env("PGPORT") {
                cfg.port(p.parse().map_err(|_| invalid(format!("PGPORT {p:?} is not a port")))?);
            }
        }
        if cfg.get_user().is_none() {
            let u = env("PGUSER").or_else(|| env("USER")).unwrap_or_else(|| "postgres".into());
            cfg.user(&u);
        }
        if cfg.get_password().is_none() {
            if let Some(p) = env("PGPASSWORD") {
                cfg.password(p);
            }
        }
        if cfg.get_dbname().is_none() {
            let d = env("PGDATABASE").or_else(|| cfg.get_user().map(str::to_string)).unwrap_or_default();
            cfg.dbname(&d);
        }
        cfg.options(SESSION_OPTIONS);
        cfg.application_name("shoal-ingest");
        let host = match cfg.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            #[cfg(unix)]
            Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
            None => "localhost".into(),
        };
        let params = ConnParams {
            host,
            port: cfg.get_ports().first().copied().unwrap_or(5432),
            user: cfg.get_user().unwrap_or("postgres").to_string(),
            password: cfg.get_password().map(|p| String::from_utf8_lossy(p).into_owned()).unwrap_or_default(),
            dbname: cfg.get_dbname().unwrap_or_default().to_string(),
        };
        Ok((params, cfg))
    }

    pub(super) fn replication(&self, slot: &str, publications: &[String]) -> ReplicationConfig {
        ReplicationConfig::new(&self.host, &self.user, &self.password, &self.dbname, slot, publications.to_vec())
            .with_port(self.port)
            .with_tls(TlsConfig::disabled())
            .with_options(SESSION_OPTIONS)
            .with_application_name("shoal-ingest")
            .with_status_interval(Duration::from_millis(500))
    }
}

pub(super) async fn connect(cfg: &tokio_postgres::Config) -> Result<Client> {
    let (client, conn) = cfg.connect(tokio_postgres::NoTls).await.map_err(pg_err("connecting to Postgres"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

pub(super) async fn query(client: &Client, sql: &str) -> Result<Vec<Vec<Option<String>>>> {
    let msgs = client.simple_query(sql).await.map_err(pg_err(format!("running {sql}")))?;
    Ok(msgs
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect()),
            _ => None,
        })
        .collect())
}

/// A Postgres table to ingest, as its catalog describes it.
#[derive(Clone, Debug)]
pub struct SourceTable {
    pub schema: String,
    pub name: String,
    /// (name, type oid, type modifier, not null, is a domain or enum)
    pub columns: Vec<(String, u32, i32, bool)>,
    pub primary_key: Vec<String>,
}

impl SourceTable {
    pub fn qualified(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }
}

/// The tables matching `pattern` (see [`PostgresIngest::tables`]): ordinary tables and
/// partitioned roots (not their partitions).
pub async fn discover_tables(client: &Client, pattern: &str) -> Result<Vec<SourceTable>> {
    let mut conds = vec![];
    for p in pattern.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (s, t) = p.split_once('.').unwrap_or(("public", p));
        let like =
            |x: &str| quote_literal(&x.replace('\\', "\\\\").replace('_', "\\_").replace('%', "\\%").replace('*', "%"));
        conds.push(format!("(n.nspname LIKE {} AND c.relname LIKE {})", like(s), like(t)));
    }
    if conds.is_empty() {
        return Err(invalid("--tables names no table"));
    }
    let sql = format!(
        "SELECT n.nspname, c.relname, c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
         AND ({}) ORDER BY 1, 2",
        conds.join(" OR ")
    );
    let mut out = vec![];
    for row in query(client, &sql).await? {
        let (Some(schema), Some(name), Some(oid)) = (row[0].clone(), row[1].clone(), row[2].clone()) else { continue };
        let cols = query(
            client,
            &format!(
                "SELECT a.attname, CASE WHEN t.typtype = 'd' THEN 25 ELSE a.atttypid END, a.atttypmod, a.attnotnull \
                 FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
                 WHERE a.attrelid = {oid} AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"
            ),
        )
        .await?;
        let mut columns = vec![];
        for c in cols {
            let n = c[0].clone().unwrap_or_default();
            let oid: u32 = c[1].as_deref().and_then(|v| v.parse().ok()).unwrap_or(pgtypes::TEXT);
            let typmod: i32 = c[2].as_deref().and_then(|v| v.parse().ok()).unwrap_or(-1);
            columns.push((n, oid, typmod, c[3].as_deref() == Some("t")));
        }
        let pk = query(
            client,
            &format!(
                "SELECT a.attname FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) \
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
                 WHERE i.indrelid = {oid} AND i.indisprimary ORDER BY k.ord"
            ),
        )
        .await?;
        let primary_key = pk.into_iter().filter_map(|r| r[0].clone()).collect();
        out.push(SourceTable { schema, name, columns, primary_key });
    }
    Ok(out)
}

/// The Paimon columns of a Postgres table (key columns NOT NULL).
pub fn paimon_columns(t: &SourceTable) -> Vec<(String, DataType)> {
    t.columns
        .iter()
        .map(|(n, oid, typmod, _)| {
            let dt = pgtypes::paimon_type(*oid, *typmod);
            (n.clone(), if t.primary_key.contains(n) { dt.with_nullable(false) } else { dt })
        })
        .collect()
}

/// Where a Postgres table lands.
pub fn table_location(warehouse: &str, database: &str, name: &str) -> String {
    format!("{}/{database}.db/{name}", warehouse.trim_end_matches('/'))
}

/// Opens the table, creating it from the catalog when missing; adds columns Postgres has and
/// the table lacks (a column added while the ingest was stopped).
pub(super) async fn open_or_create(job: &PostgresIngest, database: &str, t: &SourceTable) -> Result<Table> {
    let location = table_location(&job.warehouse, database, &t.name);
    if t.primary_key.is_empty() && !job.append_keyless {
        return Err(invalid(format!(
            "Postgres table {}.{} has no primary key: shoal ingests into primary-key tables; add a primary key, \
             leave the table out of --tables, or pass --append-keyless to ingest it as an append table (inserts \
             only)",
            t.schema, t.name
        )));
    }
    match Table::open(&location).await {
        Ok(table) => evolve(table, &paimon_columns(t), &format!("{}.{}", t.schema, t.name)).await,
        Err(Error::TableNotFound(_)) => {
            let mut def = TableDefinition { columns: paimon_columns(t), ..Default::default() };
            def.primary_keys = t.primary_key.clone();
            def.partition_keys =
                job.partition_keys.iter().filter(|p| t.columns.iter().any(|c| &c.0 == *p)).cloned().collect();
            for (k, v) in &job.table_options {
                def.options.insert(k.clone(), v.clone());
            }
            if t.primary_key.is_empty() {
                // A keyless table (--append-keyless): a bucket-unaware append table; the options
                // of keyed tables do not apply to it.
                for k in KEYED_ONLY_OPTIONS {
                    def.options.remove(*k);
                }
                def.options.insert("bucket".into(), "-1".into());
            } else {
                // Fixed buckets unless the user asks (Paimon's CDC actions default to dynamic ones):
                // many writers per partition stay possible, and bucket lookups need no index.
                def.options.entry("bucket".into()).or_insert_with(|| crate::ingest::cdc::DEFAULT_BUCKETS.to_string());
            }
            def.comment = Some(format!("ingested from Postgres table {}.{}", t.schema, t.name));
            match Table::create(&location, def).await {
                Ok(t) => Ok(t),
                Err(Error::TableExists(_)) => Table::open(&location).await,
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

/// Brings the table's columns to `columns` (Postgres's): new columns are added (nullable),
/// widened types are widened, dropped columns stay (filled with nulls from then on). Anything
/// else is an error naming the table and column.
pub(super) async fn evolve(table: Table, columns: &[(String, DataType)], source: &str) -> Result<Table> {
    let fields = table.schema().fields.clone();
    let mut changes = vec![];
    for (name, dt) in columns {
        match fields.iter().find(|f| &f.name == name) {
            None => changes.push(SchemaChange::AddColumn {
                name: name.clone(),
                data_type: dt.with_nullable(true),
                position: crate::spec::schema_change::ColumnPosition::Last,
                comment: None,
            }),
            Some(f) if f.data_type.kind == dt.kind => {}
            Some(f) if pgtypes::is_widening(&f.data_type, dt) => changes.push(SchemaChange::UpdateColumnType {
                name: name.clone(),
                data_type: dt.with_nullable(f.data_type.nullable),
            }),
            Some(f) => {
                return Err(invalid(format!(
                    "Postgres table {source}: column {name:?} changed type from {} to {}, which the Paimon table \
                     cannot follow (only widening is allowed); recreate the table",
                    f.data_type,
                    dt.with_nullable(f.data_type.nullable)
                )))
            }
        }
    }
    if changes.is_empty() {
        return Ok(table);
    }
    eprintln!("shoal ingest: {source}: schema change {changes:?}");
    table.alter(&changes).await
}

/// Creates publication `name` of exactly `tables` (WITH `options`), or sets its tables when it
/// exists.
pub(super) async fn ensure_publication(
    client: &Client,
    name: &str,
    tables: &[&SourceTable],
    options: &str,
) -> Result<()> {
    let list = tables.iter().map(|t| t.qualified()).collect::<Vec<_>>().join(", ");
    let exists = !query(client, &format!("SELECT 1 FROM pg_publication WHERE pubname = {}", quote_literal(name)))
        .await?
        .is_empty();
    let sql = match (exists, tables.is_empty()) {
        (false, false) => format!("CREATE PUBLICATION {} FOR TABLE {list} WITH ({options})", quote_ident(name)),
        (false, true) => format!("CREATE PUBLICATION {} WITH ({options})", quote_ident(name)),
        (true, false) => format!("ALTER PUBLICATION {} SET TABLE {list}", quote_ident(name)),
        (true, true) => {
            // No table: drop the ones it has (SET TABLE needs at least one).
            let held = query(
                client,
                &format!(
                    "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_publication_rel r \
                     JOIN pg_publication p ON p.oid = r.prpubid JOIN pg_class c ON c.oid = r.prrelid \
                     JOIN pg_namespace n ON n.oid = c.relnamespace WHERE p.pubname = {}",
                    quote_literal(name)
                ),
            )
            .await?;
            let held: Vec<String> = held.into_iter().filter_map(|r| r[0].clone()).collect();
            if held.is_empty() {
                return Ok(());
            }
            format!("ALTER PUBLICATION {} DROP TABLE {}", quote_ident(name), held.join(", "))
        }
    };
    client.batch_execute(&sql).await.map_err(pg_err(format!("creating publication {name:?}")))
}

/// Drops the slot and the publication.
pub async fn cleanup(conninfo: &str, slot: &str, publication: &str) -> Result<()> {
    let (_, cfg) = ConnParams::parse(conninfo)?;
    let client = connect(&cfg).await?;
    let held = query(
        &client,
        &format!("SELECT active_pid FROM pg_replication_slots WHERE slot_name = {}", quote_literal(slot)),
    )
    .await?;
    if let Some(row) = held.first() {
        if let Some(pid) = &row[0] {
            return Err(invalid(format!(
                "replication slot {slot:?} is in use by process {pid}; stop that ingest first"
            )));
        }
        query(&client, &format!("SELECT pg_drop_replication_slot({})", quote_literal(slot))).await?;
    }
    query(&client, &format!("DROP PUBLICATION IF EXISTS {}", quote_ident(publication))).await?;
    query(&client, &format!("DROP PUBLICATION IF EXISTS {}", quote_ident(&format!("{publication}_inserts")))).await?;
    Ok(())
}
