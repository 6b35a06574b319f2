//! `shoal ingest`: change data capture into tables ([`shoal::ingest`]): `postgres` (logical
//! replication, with the `postgres` feature) and `debezium` (JSON change events from files or
//! standard input).

use crate::cli::output::outln;
use std::collections::BTreeMap;
use std::io::BufReader;
use std::time::Duration;

use arrow_schema::SchemaRef;
use async_trait::async_trait;

use crate::cli::parse;
use shoal::error::{Error, Result};
use shoal::ingest::cdc::{self, PositionedSink};
use shoal::ingest::debezium::{self, DebeziumSource, Event, EventInput, OnError, Router};
use shoal::table::TableDefinition;
use shoal::Table;

/// Stream changes from a database or change events into primary-key tables, exactly once.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    source: Source,
}

#[derive(clap::Subcommand, Debug)]
enum Source {
    Postgres(PostgresArgs),
    Debezium(DebeziumArgs),
}

/// Postgres logical replication (pgoutput): creates the tables, copies them at a consistent
/// snapshot, then streams every change; restartable at any moment (each table records the LSN
/// it holds; see format-spec/ingest.md).
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  shoal ingest postgres 'host=localhost user=app dbname=shop' --warehouse /tmp/wh --tables 'public.*' \
                        --table-option bucket=4\n  shoal sql --warehouse /tmp/wh 'SELECT count(*) FROM shop.orders'"
)]
pub struct PostgresArgs {
    /// Connection string (`host=... port=... user=... dbname=...` or `postgres://...`); PGHOST,
    /// PGPORT, PGUSER, PGPASSWORD, PGDATABASE fill what it leaves out
    #[arg(default_value = "")]
    conninfo: String,
    /// Warehouse root; tables land at <warehouse>/<database>.db/<postgres table name>
    #[arg(long, env = "SHOAL_WAREHOUSE")]
    warehouse: String,
    /// Warehouse database (default: the Postgres database's name)
    #[arg(long)]
    database: Option<String>,
    /// Tables: comma-separated schema.table names or patterns with * (a name without schema is in public)
    #[arg(long, default_value = "public.*")]
    tables: String,
    /// Option of the tables created (repeatable): bucket=4, changelog-producer=lookup, ...
    #[arg(long = "table-option", value_parser = parse::key_value)]
    table_options: Vec<(String, String)>,
    /// Partition keys of the tables created (columns a table lacks are left out for it)
    #[arg(long, value_parser = parse::columns)]
    partition: Option<parse::Columns>,
    /// Replication slot name
    #[arg(long, default_value = "shoal")]
    slot: String,
    /// Publication name (default: the slot's name)
    #[arg(long)]
    publication: Option<String>,
    /// How often the tables commit (and the slot's position is confirmed)
    #[arg(long, default_value = "1s", value_parser = parse::duration)]
    commit_interval: Duration,
    /// Commit and exit once everything committed in Postgres before streaming started is in the tables
    #[arg(long)]
    exit_when_caught_up: bool,
    /// Drop the replication slot and the publication, and exit
    #[arg(long, alias = "drop-slot")]
    cleanup: bool,
    /// No status line
    #[arg(long)]
    quiet: bool,
    /// Ingest tables without a primary key as append tables (inserts only; their updates and
    /// deletes are not published, see format-spec/ingest.md) instead of refusing them
    #[arg(long)]
    append_keyless: bool,
    /// How long to wait for a replication slot held by another process before failing (a
    /// reconnect after a dropped connection waits at least 2 minutes: the old walsender may
    /// linger until wal_sender_timeout)
    #[arg(long, default_value = "10s", value_parser = parse::duration)]
    slot_wait: Duration,
    /// Give up after this many consecutive failed reconnects (a dropped connection, a
    /// restarting Postgres are retried with backoff)
    #[arg(long, default_value_t = 30)]
    max_retries: u32,
}

/// Debezium JSON change events (with or without the schema envelope) from JSON-lines files or
/// standard input (`-`). All events commit together at the end: a bad event stops the run with
/// nothing committed, unless --on-error dead-letter=PATH.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  shoal ingest debezium events.jsonl --warehouse /tmp/wh --database shop --primary-key id"
)]
pub struct DebeziumArgs {
    /// JSON-lines files, or - for standard input
    #[arg(required_unless_present = "kafka_brokers", conflicts_with = "kafka_brokers")]
    inputs: Vec<String>,
    #[arg(long, env = "SHOAL_WAREHOUSE")]
    warehouse: String,
    /// Warehouse database of the tables
    #[arg(long, default_value = "default")]
    database: String,
    /// Write every event to this table (default: the event's source.table)
    #[arg(long)]
    table: Option<String>,
    /// Primary key of tables this creates (comma-separated)
    #[arg(long, value_parser = parse::columns)]
    primary_key: Option<parse::Columns>,
    /// Option of the tables created (repeatable)
    #[arg(long = "table-option", value_parser = parse::key_value)]
    table_options: Vec<(String, String)>,
    /// fail (default) or dead-letter=PATH: write bad events to PATH and go on
    #[arg(long, default_value = "fail", value_parser = parse::on_error)]
    on_error: OnError,
    /// Kafka brokers, host:port,... (not implemented: no Kafka-protocol broker to test against
    /// installs here; pipe the topic in on stdin, see format-spec/ingest.md)
    #[arg(long, requires_all = ["topic", "group"])]
    kafka_brokers: Option<String>,
    /// Kafka topic of the events (with --kafka-brokers)
    #[arg(long, requires = "kafka_brokers")]
    topic: Option<String>,
    /// Kafka consumer group (with --kafka-brokers)
    #[arg(long, requires = "kafka_brokers")]
    group: Option<String>,
}

pub async fn exec(a: Args) -> Result<()> {
    match a.source {
        Source::Postgres(p) => postgres(p).await,
        Source::Debezium(d) => debezium_exec(d).await,
    }
}

#[cfg(not(feature = "postgres"))]
async fn postgres(_: PostgresArgs) -> Result<()> {
    Err(Error::Unsupported(
        "this shoal was built without the `postgres` feature (cargo build --features postgres)".into(),
    ))
}

#[cfg(feature = "postgres")]
async fn postgres(a: PostgresArgs) -> Result<()> {
    use shoal::ingest::postgres;
    let publication = a.publication.clone().unwrap_or_else(|| a.slot.clone());
    if a.cleanup {
        postgres::cleanup(&a.conninfo, &a.slot, &publication).await?;
        outln!("dropped replication slot {:?} and publication {:?}", a.slot, publication)?;
        return Ok(());
    }
    let job = postgres::PostgresIngest {
        conninfo: a.conninfo.clone(),
        warehouse: a.warehouse.clone(),
        database: a.database.clone(),
        tables: a.tables.clone(),
        table_options: a.table_options.clone(),
        partition_keys: a.partition.clone().map(|c| c.0).unwrap_or_default(),
        slot: a.slot.clone(),
        publication,
        commit_interval: a.commit_interval,
        exit_when_caught_up: a.exit_when_caught_up,
        status_interval: (!a.quiet).then_some(Duration::from_secs(5)),
        append_keyless: a.append_keyless,
        slot_wait: a.slot_wait,
    };
    let mut failures = 0u32;
    loop {
        let mut job = job.clone();
        if failures > 0 {
            job.slot_wait = job.slot_wait.max(Duration::from_secs(120));
        }
        match postgres::ingest(&job).await {
            Ok(r) => {
                outln!(
                    "ingested {} tables ({} copied, {} rows); {} changes in {} commits; confirmed LSN {:X}/{:X}",
                    r.tables.len(),
                    r.copied_tables.len(),
                    r.copied_rows,
                    r.changes,
                    r.commits,
                    r.confirmed_lsn >> 32,
                    r.confirmed_lsn & 0xffff_ffff
                )?;
                return Ok(());
            }
            Err(e) if e.is_retriable() && failures < a.max_retries => {
                failures += 1;
                let wait = Duration::from_millis((250u64 << failures.min(6)).min(10_000));
                eprintln!("shoal ingest: {e}; retrying in {wait:?} ({failures}/{})", a.max_retries);
                tokio::time::sleep(wait).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Routes events to tables under the warehouse, creating them when missing.
struct WarehouseRouter {
    warehouse: String,
    database: String,
    table: Option<String>,
    primary_key: Vec<String>,
    options: Vec<(String, String)>,
    commit_user: String,
    sinks: BTreeMap<String, PositionedSink>,
    known: BTreeMap<String, (SchemaRef, Vec<String>)>,
}

#[async_trait]
impl Router for WarehouseRouter {
    async fn route(&mut self, ev: &Event) -> Result<(String, SchemaRef, Vec<String>)> {
        let name = match (&self.table, &ev.source_table) {
            (Some(t), _) => t.clone(),
            (None, Some(t)) => t.clone(),
            (None, None) => {
                return Err(Error::InvalidInput("the event has no source.table; name the table with --table".into()))
            }
        };
        if let Some((s, k)) = self.known.get(&name) {
            return Ok((name, s.clone(), k.clone()));
        }
        let location = format!("{}/{}.db/{name}", self.warehouse.trim_end_matches('/'), self.database);
        let table = match Table::open(&location).await {
            Ok(t) => t,
            Err(Error::TableNotFound(_)) => {
                if self.primary_key.is_empty() {
                    return Err(Error::InvalidInput(format!(
                        "table {name} does not exist; name its key with --primary-key to create it"
                    )));
                }
                let columns: Vec<_> = debezium::infer_columns(ev)
                    .into_iter()
                    .map(|(n, t)| {
                        let nn = self.primary_key.contains(&n);
                        (n, if nn { t.with_nullable(false) } else { t })
                    })
                    .collect();
                for k in &self.primary_key {
                    if !columns.iter().any(|(n, _)| n == k) {
                        return Err(Error::InvalidInput(format!("primary key column {k:?} is not in the event")));
                    }
                }
                let mut def = TableDefinition { columns, primary_keys: self.primary_key.clone(), ..Default::default() };
                for (k, v) in &self.options {
                    def.options.insert(k.clone(), v.clone());
                }
                def.options.entry("bucket".into()).or_insert_with(|| cdc::DEFAULT_BUCKETS.to_string());
                Table::create(&location, def).await?
            }
            Err(e) => return Err(e),
        };
        let schema = table.arrow_schema();
        let key = table.schema().primary_keys.clone();
        self.sinks.insert(name.clone(), PositionedSink::open(table, &self.commit_user).await?);
        self.known.insert(name.clone(), (schema.clone(), key.clone()));
        Ok((name, schema, key))
    }
}

async fn debezium_exec(a: DebeziumArgs) -> Result<()> {
    if let Some(brokers) = &a.kafka_brokers {
        let topic = a.topic.as_deref().unwrap_or_default();
        let group = a.group.as_deref().unwrap_or_default();
        return Err(Error::Unsupported(format!(
            "Kafka input (--kafka-brokers {brokers} --topic {topic} --group {group}) is not implemented: pipe the \
             topic in on standard input, e.g. `kcat -C -b {brokers} -t {topic} -o beginning -e -u | shoal ingest \
             debezium - ...` (format-spec/ingest.md, \"Kafka\")"
        )));
    }
    let mut inputs = vec![];
    for i in &a.inputs {
        let reader: Box<dyn std::io::BufRead + Send> = if i == "-" {
            Box::new(BufReader::new(std::io::stdin()))
        } else {
            Box::new(BufReader::new(std::fs::File::open(i).map_err(Error::local_io(i.clone()))?))
        };
        inputs.push(EventInput { name: i.clone(), reader });
    }
    let router = WarehouseRouter {
        warehouse: a.warehouse,
        database: a.database,
        table: a.table,
        primary_key: a.primary_key.map(|c| c.0).unwrap_or_default(),
        options: a.table_options,
        // Each run is its own job: its events commit once, together, at the end.
        commit_user: format!("shoal-ingest-debezium-{}", uuid::Uuid::new_v4()),
        sinks: BTreeMap::new(),
        known: BTreeMap::new(),
    };
    let mut source = DebeziumSource::new(inputs, a.on_error, router)?;
    // Write everything first; nothing commits before the end (a bad event leaves no commit).
    let mut changes = 0u64;
    let mut position = 0;
    while let Some(batch) = cdc::ChangeSource::next_batch(&mut source).await? {
        position = batch.position;
        for ch in batch.changes {
            let sink = source
                .router()
                .sinks
                .get_mut(&ch.table)
                .ok_or_else(|| Error::Task(format!("no sink for {}", ch.table)))?;
            changes += ch.batch.num_rows() as u64;
            sink.write(&ch.batch, &ch.kinds).await?;
        }
    }
    let dead = source.dead_lettered;
    let sinks = &mut source.router().sinks;
    let commits = cdc::commit_all(sinks, position.max(1)).await?;
    outln!(
        "{position} events, {changes} changes into {} tables ({commits} commits); {dead} dead-lettered",
        sinks.len()
    )?;
    Ok(())
}
