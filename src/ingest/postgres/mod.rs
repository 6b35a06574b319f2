//! `shoal ingest postgres`: Postgres logical replication (pgoutput) into primary-key tables,
//! exactly once. See `format-spec/ingest.md` for the protocol; in short:
//!
//! - one permanent logical slot (`--slot`) and one publication (`--publication`, with
//!   `publish_via_partition_root`) serve the whole job;
//! - a table without a commit of the job's commit user (`shoal-ingest-<slot>`) is copied: a
//!   TEMPORARY slot is created with `EXPORT_SNAPSHOT` (after the permanent slot exists), the
//!   tables are read in a `REPEATABLE READ` transaction on that snapshot, and each table's copy
//!   is committed once, at its end, with the temporary slot's consistent point as its commit
//!   identifier. A kill during the copy leaves no commit: the next run copies again;
//! - the stream then starts at the permanent slot's confirmed position; a transaction is written
//!   to a table only when its commit LSN is at or past what the table recorded (the end LSN of
//!   the last transaction it committed, or the consistent point of its copy);
//! - every `--commit-interval`, outside transactions, each table with changes commits with the
//!   end LSN of the last transaction received as identifier; only then is that LSN confirmed to
//!   Postgres (the slot's confirmed flush LSN).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use arrow_array::{ArrayRef, RecordBatch};
use pgwire_replication::{Lsn, ReplicationClient, ReplicationConfig, ReplicationEvent, TlsConfig};
use tokio_postgres::Client;

use super::cdc::PositionedSink;
use super::pgoutput::{self, Cell, Message, OldTuple, Relation};
use super::pgtypes;
use crate::error::{Error, Result};
use crate::spec::{DataType, RowKind, SchemaChange};
use crate::table::TableDefinition;
use crate::Table;

mod catalog;
mod copy;

use catalog::*;
pub use catalog::{cleanup, discover_tables, paimon_columns, quote_ident, table_location, ConnParams, SourceTable};
use copy::{copy_table, CopyProgress};

/// The session settings whose text output the type conversion expects.
const SESSION_OPTIONS: &str =
    "-c DateStyle=ISO -c TimeZone=UTC -c extra_float_digits=3 -c bytea_output=hex -c IntervalStyle=postgres";
/// Rows of a table buffered before they are handed to its writer (which spills as it needs).
const WRITE_CHUNK_ROWS: usize = 20_000;
/// `--table-option`s that only keyed tables take (left out of the append tables that
/// `--append-keyless` creates).
const KEYED_ONLY_OPTIONS: &[&str] =
    &["bucket", "bucket-key", "merge-engine", "changelog-producer", "sequence.field", "partial-update.ignore-delete"];
/// Rows of the snapshot copy handed to the writer at a time, and the bytes of values that end
/// a batch sooner (wide rows).
const COPY_BATCH_ROWS: usize = 8192;
const COPY_BATCH_BYTES: usize = 8 << 20;

/// What `shoal ingest postgres` is asked to do.
#[derive(Clone, Debug)]
pub struct PostgresIngest {
    /// A libpq connection string (`host=... user=...`) or URL (`postgres://...`); PGHOST,
    /// PGPORT, PGUSER, PGPASSWORD and PGDATABASE fill what it leaves out.
    pub conninfo: String,
    pub warehouse: String,
    /// The warehouse database the tables land in (default: the Postgres database's name).
    pub database: Option<String>,
    /// Tables: comma-separated `schema.table` names or patterns with `*` (`public.*`); a name
    /// without a schema is in `public`.
    pub tables: String,
    /// Options of the tables this creates (`bucket`, `changelog-producer`, ...).
    pub table_options: Vec<(String, String)>,
    /// Partition keys of the tables this creates.
    pub partition_keys: Vec<String>,
    pub slot: String,
    pub publication: String,
    pub commit_interval: Duration,
    /// Commit and return once everything committed in Postgres before streaming started is in
    /// the tables.
    pub exit_when_caught_up: bool,
    /// Print a status line to stderr every this often (None: quiet).
    pub status_interval: Option<Duration>,
    /// Ingest tables without a primary key as append tables (inserts only) instead of
    /// refusing them.
    pub append_keyless: bool,
    /// How long a slot held by another process (the walsender of a killed ingest, which
    /// Postgres ends within moments, or within `wal_sender_timeout` when the network dropped)
    /// is waited for before the run fails with a message naming the holder.
    pub slot_wait: Duration,
}

/// What a run did.
#[derive(Clone, Debug, Default)]
pub struct IngestReport {
    pub tables: Vec<String>,
    pub copied_tables: Vec<String>,
    pub copied_rows: u64,
    pub changes: u64,
    pub skipped_transactions: u64,
    pub commits: u64,
    pub confirmed_lsn: u64,
}

fn pg_err(context: impl Into<String>) -> impl FnOnce(tokio_postgres::Error) -> Error {
    let context = context.into();
    move |e| {
        // A closed connection or an I/O error is worth a retry; an error Postgres reported is not
        // (except the ones a restart of Postgres reports).
        let retriable = e.is_closed()
            || e.code().is_none()
            || e.code().is_some_and(|c| c.code().starts_with("57P") || c.code().starts_with("08"));
        Error::Source { context, retriable, source: Box::new(e) }
    }
}

fn repl_err(context: impl Into<String>) -> impl FnOnce(pgwire_replication::PgWireError) -> Error {
    let context = context.into();
    move |e| {
        let retriable = matches!(e, pgwire_replication::PgWireError::Io(_));
        let retriable = retriable
            || matches!(&e, pgwire_replication::PgWireError::Server(m) if m.contains("57P") || m.contains("terminating"));
        Error::Source { context, retriable, source: Box::new(e) }
    }
}

fn invalid(m: impl Into<String>) -> Error {
    Error::InvalidInput(m.into())
}

/// A table being ingested.
struct Target {
    source: SourceTable,
    /// The job's name for it: `schema.table`.
    key: String,
    sink: PositionedSink,
    /// Rows waiting to be written: cells in the table's column order.
    pending: Vec<(RowKind, Vec<Cell>)>,
    /// How many of `pending` belong to completed transactions.
    complete: usize,
    /// Key column indexes in the table's columns.
    key_columns: Vec<usize>,
    fields: Vec<(String, DataType)>,
    /// Rows of the running transaction were handed to the writer (a large transaction): a
    /// schema change now cannot commit the rows before it alone.
    open_tx_written: bool,
}

impl Target {
    fn new(source: SourceTable, sink: PositionedSink) -> Target {
        let mut t = Target {
            key: format!("{}.{}", source.schema, source.name),
            source,
            sink,
            pending: vec![],
            complete: 0,
            key_columns: vec![],
            fields: vec![],
            open_tx_written: false,
        };
        t.refresh_fields();
        t
    }

    fn refresh_fields(&mut self) {
        let schema = self.sink.table().schema().clone();
        self.fields = schema.fields.iter().map(|f| (f.name.clone(), f.data_type.clone())).collect();
        self.key_columns =
            schema.primary_keys.iter().filter_map(|k| self.fields.iter().position(|(n, _)| n == k)).collect();
    }

    /// Writes `pending[..n]` to the sink.
    async fn write_rows(&mut self, n: usize) -> Result<()> {
        if n == 0 {
            return Ok(());
        }
        let rows: Vec<(RowKind, Vec<Cell>)> = self.pending.drain(..n).collect();
        self.complete -= n.min(self.complete);
        let unresolved: Vec<(usize, usize)> = rows
            .iter()
            .enumerate()
            .flat_map(|(r, (_, cells))| {
                cells.iter().enumerate().filter(|(_, c)| matches!(c, Cell::Unchanged)).map(move |(c, _)| (r, c))
            })
            .collect();
        let schema = self.sink.table().arrow_schema();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.fields.len());
        for (ci, (name, dt)) in self.fields.iter().enumerate() {
            let values: Vec<Option<&str>> = rows
                .iter()
                .map(|(_, cells)| match cells.get(ci) {
                    Some(Cell::Text(s)) => Some(s.as_str()),
                    _ => None,
                })
                .collect();
            columns.push(
                pgtypes::text_to_array(&values, dt)
                    .map_err(|e| invalid(format!("Postgres table {}, column {name:?}: {e}", self.key)))?,
            );
        }
        let mut batch = RecordBatch::try_new(schema, columns).map_err(Error::arrow("building ingested rows"))?;
        if !unresolved.is_empty() {
            batch = self.resolve_unchanged(batch, &unresolved).await?;
        }
        let kinds: Vec<RowKind> = rows.iter().map(|(k, _)| *k).collect();
        self.sink.write(&batch, &kinds).await
    }

    /// Fills unchanged TOASTed values (pgoutput's `u`, without a full old row) from the rows
    /// the table holds: one read of the table per batch that has any.
    async fn resolve_unchanged(&self, batch: RecordBatch, cells: &[(usize, usize)]) -> Result<RecordBatch> {
        use arrow_row::{RowConverter, SortField};
        let stored = self.sink.table().read_all(None, None).await?;
        let sort_fields: Vec<SortField> =
            self.key_columns.iter().map(|&k| SortField::new(batch.column(k).data_type().clone())).collect();
        let conv = RowConverter::new(sort_fields).map_err(Error::arrow("converting keys"))?;
        let key_cols =
            |b: &RecordBatch| -> Vec<ArrayRef> { self.key_columns.iter().map(|&k| b.column(k).clone()).collect() };
        let stored_keys = conv.convert_columns(&key_cols(&stored)).map_err(Error::arrow("converting keys"))?;
        let batch_keys = conv.convert_columns(&key_cols(&batch)).map_err(Error::arrow("converting keys"))?;
        let mut by_key: HashMap<Vec<u8>, usize> = HashMap::new();
        for i in 0..stored.num_rows() {
            by_key.insert(stored_keys.row(i).as_ref().to_vec(), i);
        }
        let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
        let mut by_col: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for &(r, c) in cells {
            by_col.entry(c).or_default().push(r);
        }
        for (c, rows) in by_col {
            // Within the batch, an earlier row of the same key may hold the value: take the latest.
            let mut indices: Vec<(usize, usize)> = (0..batch.num_rows()).map(|i| (0, i)).collect();
            let mut latest: HashMap<Vec<u8>, usize> = HashMap::new();
            let unresolved: std::collections::HashSet<usize> = rows.iter().copied().collect();
            for i in 0..batch.num_rows() {
                let k = batch_keys.row(i).as_ref().to_vec();
                if unresolved.contains(&i) {
                    indices[i] = match latest.get(&k) {
                        Some(&j) => indices[j],
                        None => match by_key.get(&k) {
                            Some(&s) => (1, s),
                            None => {
                                return Err(invalid(format!(
                                    "Postgres table {}: an update left column {:?} unchanged (TOAST) for a row the \
                                     table does not hold; set REPLICA IDENTITY FULL on the table",
                                    self.key, self.fields[c].0
                                )))
                            }
                        },
                    };
                }
                latest.insert(k, i);
            }
            let sources: [&dyn arrow_array::Array; 2] = [batch.column(c).as_ref(), stored.column(c).as_ref()];
            columns[c] =
                arrow_select::interleave::interleave(&sources, &indices).map_err(Error::arrow("filling TOAST"))?;
        }
        RecordBatch::try_new(batch.schema(), columns).map_err(Error::arrow("filling TOAST"))
    }

    /// Inside a large transaction, hands its rows to the writer (which spills) instead of
    /// holding them as text; they commit with the transaction's end.
    async fn spill_open_tx(&mut self) -> Result<()> {
        if self.pending.len() >= 4 * WRITE_CHUNK_ROWS {
            self.write_rows(self.pending.len()).await?;
            self.open_tx_written = true;
        }
        Ok(())
    }

    /// Writes the completed transactions' rows and commits them at `position`.
    async fn commit(&mut self, position: i64) -> Result<bool> {
        self.write_rows(self.complete).await?;
        Ok(self.sink.commit(position, false).await?.is_some())
    }
}

/// How a relation's columns map onto a target's.
struct RelationMap {
    target: usize,
    /// For each Postgres column, the table column it goes to.
    columns: Vec<Option<usize>>,
}

/// Ingests until the job ends (`exit_when_caught_up`), or an error. Restartable at any moment.
pub async fn ingest(job: &PostgresIngest) -> Result<IngestReport> {
    let (params, cfg) = ConnParams::parse(&job.conninfo)?;
    let client = connect(&cfg).await?;
    let wal_level = query(&client, "SHOW wal_level").await?;
    if wal_level.first().and_then(|r| r[0].as_deref()) != Some("logical") {
        return Err(invalid(format!(
            "Postgres runs with wal_level = {}; logical replication needs wal_level = logical: run ALTER SYSTEM \
             SET wal_level = logical as a superuser (or set it in postgresql.conf) and restart Postgres (on a \
             managed service, turn on its logical replication setting, e.g. rds.logical_replication = 1)",
            wal_level.first().and_then(|r| r[0].clone()).unwrap_or_default()
        )));
    }
    let database = job.database.clone().unwrap_or_else(|| params.dbname.clone());
    let commit_user = format!("shoal-ingest-{}", job.slot);
    let sources = discover_tables(&client, &job.tables).await?;
    if sources.is_empty() {
        return Err(invalid(format!("no Postgres table matches --tables {:?}", job.tables)));
    }
    let mut report = IngestReport {
        tables: sources.iter().map(|s| format!("{}.{}", s.schema, s.name)).collect(),
        ..Default::default()
    };

    // The publications: the keyed tables, partitioned ones as their roots; the keyless ones
    // (--append-keyless) in a second publication of inserts only (Postgres refuses UPDATE and
    // DELETE on a table without a replica identity in a publication that publishes them).
    let (keyed, keyless): (Vec<&SourceTable>, Vec<&SourceTable>) =
        sources.iter().partition(|s| !s.primary_key.is_empty() || !job.append_keyless);
    let mut publications = vec![job.publication.clone()];
    ensure_publication(&client, &job.publication, &keyed, "publish_via_partition_root = true").await?;
    let inserts_publication = format!("{}_inserts", job.publication);
    let has_inserts_publication = !query(
        &client,
        &format!("SELECT 1 FROM pg_publication WHERE pubname = {}", quote_literal(&inserts_publication)),
    )
    .await?
    .is_empty();
    if !keyless.is_empty() || has_inserts_publication {
        ensure_publication(
            &client,
            &inserts_publication,
            &keyless,
            "publish = 'insert', publish_via_partition_root = true",
        )
        .await?;
        publications.push(inserts_publication);
    }

    let mut targets = vec![];
    for s in sources {
        let table = open_or_create(job, &database, &s).await?;
        let sink = PositionedSink::open(table, &commit_user).await?;
        targets.push(Target::new(s, sink));
    }

    // The slot (waiting a while for one held by another process); then the copy of every table
    // that has no commit of this job yet.
    let slot_row = wait_for_slot(&client, job).await?;
    let to_copy: Vec<usize> = (0..targets.len()).filter(|&i| targets[i].sink.committed().is_none()).collect();
    if slot_row.is_empty() || !to_copy.is_empty() {
        let mut gated = ReplicationClient::connect_gated(params.replication(&job.slot, &publications))
            .await
            .map_err(repl_connect_err(&params.user, "connecting for replication"))?;
        if slot_row.is_empty() {
            gated
                .simple_query(&format!(
                    "CREATE_REPLICATION_SLOT {} LOGICAL pgoutput NOEXPORT_SNAPSHOT",
                    quote_ident(&job.slot)
                ))
                .await
                .map_err(|e| match &e {
                    pgwire_replication::PgWireError::Server(m) if m.contains("42501") || m.contains("permission") => {
                        repl_connect_err(&params.user, "creating the replication slot")(e)
                    }
                    _ => repl_err(format!("creating replication slot {:?}", job.slot))(e),
                })?;
        }
        if !to_copy.is_empty() {
            let tmp = format!("shoal_copy_{}", uuid::Uuid::new_v4().simple());
            let rows = gated
                .simple_query(&format!("CREATE_REPLICATION_SLOT {tmp} TEMPORARY LOGICAL pgoutput EXPORT_SNAPSHOT"))
                .await
                .map_err(repl_err("creating the snapshot slot"))?;
            let row = rows.first().ok_or_else(|| invalid("CREATE_REPLICATION_SLOT returned no row"))?;
            let text = |i: usize| -> Result<String> {
                row.get(i)
                    .and_then(|v| v.as_ref())
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .ok_or_else(|| invalid(format!("CREATE_REPLICATION_SLOT: column {i} is missing")))
            };
            let consistent = Lsn::parse(&text(1)?).map_err(|e| invalid(format!("consistent point: {e:?}")))?;
            let snapshot = text(2)?;
            let copy = connect(&cfg).await?;
            copy.batch_execute(&format!(
                "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT {}",
                quote_literal(&snapshot)
            ))
            .await
            .map_err(pg_err("starting the snapshot copy"))?;
            let mut progress = CopyProgress::new(job.status_interval, to_copy.len());
            for &i in &to_copy {
                progress.start_table(&targets[i].key);
                let rows = copy_table(&copy, &mut targets[i], &mut progress).await?;
                targets[i].sink.commit(consistent.as_u64() as i64, true).await?;
                report.copied_rows += rows;
                report.copied_tables.push(targets[i].key.clone());
                progress.table_done(rows);
            }
            drop(progress);
            let _ = copy.batch_execute("COMMIT").await;
        }
        gated.abort();
    }

    stream(job, &params, &publications, &client, &mut targets, &mut report).await?;
    Ok(report)
}

/// The slot's row in `pg_replication_slots` (empty: no such slot), once no other process holds
/// it; a slot still held after `job.slot_wait` is an error naming the holder.
async fn wait_for_slot(client: &Client, job: &PostgresIngest) -> Result<Vec<Vec<Option<String>>>> {
    let started = Instant::now();
    loop {
        let rows = query(
            client,
            &format!(
                "SELECT s.active_pid, a.application_name, a.client_addr, a.backend_start \
                 FROM pg_replication_slots s LEFT JOIN pg_stat_activity a ON a.pid = s.active_pid \
                 WHERE s.slot_name = {}",
                quote_literal(&job.slot)
            ),
        )
        .await?;
        let Some(Some(pid)) = rows.first().map(|r| r[0].clone()) else { return Ok(rows) };
        if started.elapsed() < job.slot_wait {
            tokio::time::sleep(Duration::from_millis(250)).await;
            continue;
        }
        let field = |i: usize| rows[0][i].clone().unwrap_or_else(|| "?".into());
        return Err(invalid(format!(
            "replication slot {:?} is in use by another process (pid {pid}, application {:?}, client {}, since \
             {}), still after {:?}: only one ingest can read a slot. Stop the other ingest, or give this one its \
             own --slot (and --publication). If the holder is the leftover of a killed ingest, Postgres ends it \
             within wal_sender_timeout; end it now with SELECT pg_terminate_backend({pid})",
            job.slot,
            field(1),
            field(2),
            field(3),
            job.slot_wait
        )));
    }
}

/// The error of a replication connection: a role without the REPLICATION attribute says so,
/// and how to grant it.
fn repl_connect_err<'a>(
    user: &'a str,
    context: &'static str,
) -> impl FnOnce(pgwire_replication::PgWireError) -> Error + 'a {
    move |e| match &e {
        pgwire_replication::PgWireError::Server(m)
            if m.contains("42501") || m.contains("replication role") || m.contains("WAL sender") =>
        {
            invalid(format!(
                "Postgres role {user:?} may not use replication ({m}). Logical replication needs a role with the \
                 REPLICATION attribute: run ALTER ROLE {} REPLICATION as a superuser (on a managed service, grant \
                 its replication role, e.g. rds_replication), or connect as a role that has it",
                quote_ident(user)
            ))
        }
        _ => repl_err(context)(e),
    }
}

async fn stream(
    job: &PostgresIngest,
    params: &ConnParams,
    publications: &[String],
    client: &Client,
    targets: &mut [Target],
    report: &mut IngestReport,
) -> Result<()> {
    let commit_user = format!("shoal-ingest-{}", job.slot);
    let marker = format!("shoal-caught-up-{}", uuid::Uuid::new_v4().simple());
    if job.exit_when_caught_up {
        // A non-transactional logical message: decoded in WAL order, so when it arrives every
        // transaction committed before it has.
        query(client, &format!("SELECT pg_logical_emit_message(false, {}, '')", quote_literal(&marker))).await?;
    }
    let mut repl = ReplicationClient::connect(params.replication(&job.slot, publications))
        .await
        .map_err(repl_connect_err(&params.user, "starting replication"))?;
    repl.wait_started().await.map_err(|e| match &e {
        pgwire_replication::PgWireError::Server(m) if m.contains("55006") || m.contains("is active") => Error::Source {
            context: format!("replication slot {:?} is in use by another process", job.slot),
            retriable: true,
            source: Box::new(e),
        },
        _ => repl_err("starting replication")(e),
    })?;

    let by_name: HashMap<(String, String), usize> =
        targets.iter().enumerate().map(|(i, t)| ((t.source.schema.clone(), t.source.name.clone()), i)).collect();
    let mut relations: HashMap<u32, RelationMap> = HashMap::new();
    // The current transaction: its commit LSN, and for each target whether it skips it.
    let mut in_tx: Option<u64> = None;
    let mut last_end: u64 = 0;
    let mut server_end: u64 = 0;
    let mut last_commit = Instant::now();
    let mut last_status = Instant::now();
    let mut changes_at_status = 0u64;
    let mut last_commit_time_micros: i64 = 0;
    let mut caught_up = false;
    // The marker's LSN: everything before it is received once it arrives.
    let mut marker_lsn: u64 = 0;
    let mut tick =
        tokio::time::interval(job.commit_interval.min(Duration::from_millis(200)).max(Duration::from_millis(10)));

    loop {
        let event = tokio::select! {
            ev = repl.recv() => Some(ev.map_err(repl_err("receiving changes"))?),
            _ = tick.tick() => None,
        };
        match event {
            Some(None) => {
                return Err(Error::Source {
                    context: "the replication stream ended".into(),
                    retriable: true,
                    source: "stream ended".into(),
                })
            }
            Some(Some(ev)) => match ev {
                ReplicationEvent::Begin { final_lsn, .. } => in_tx = Some(final_lsn.as_u64()),
                ReplicationEvent::Commit { end_lsn, commit_time_micros, .. } => {
                    in_tx = None;
                    last_end = end_lsn.as_u64();
                    last_commit_time_micros = commit_time_micros;
                    for t in targets.iter_mut() {
                        t.complete = t.pending.len();
                        t.open_tx_written = false;
                        // Bounded memory: a table with many rows commits at once (its position
                        // is this transaction's end; Postgres is told at the next interval).
                        if (t.complete >= WRITE_CHUNK_ROWS || t.sink.is_dirty()) && t.commit(last_end as i64).await? {
                            report.commits += 1;
                        }
                    }
                }
                ReplicationEvent::XLogData { data, wal_end, .. } => {
                    server_end = server_end.max(wal_end.as_u64());
                    let msg = pgoutput::decode(&data).map_err(|e| Error::Source {
                        context: "decoding a replication message".into(),
                        retriable: false,
                        source: Box::new(e),
                    })?;
                    let commit_lsn = in_tx.unwrap_or(0);
                    match msg {
                        Message::Relation(rel) => {
                            handle_relation(&rel, &by_name, targets, &mut relations, last_end, &commit_user).await?
                        }
                        Message::Insert { relation, new } => {
                            if let Some((t, cols)) = route(&relations, targets, relation, commit_lsn) {
                                let row = align(cols, &new, t.fields.len());
                                t.pending.push((RowKind::Insert, row));
                                report.changes += 1;
                                t.spill_open_tx().await?;
                            }
                        }
                        Message::Update { relation, old, new } => {
                            if let Some((t, cols)) = route(&relations, targets, relation, commit_lsn) {
                                if t.key_columns.is_empty() {
                                    return Err(append_only(t, "an UPDATE", commit_lsn));
                                }
                                let mut new_row = align(cols, &new, t.fields.len());
                                let old_row = old.as_ref().map(|o| align(cols, o.cells(), t.fields.len()));
                                // Unchanged TOASTed values come from the old row when it is full.
                                if let Some(OldTuple::Full(_)) = &old {
                                    if let Some(o) = &old_row {
                                        for (c, v) in new_row.iter_mut().enumerate() {
                                            if matches!(v, Cell::Unchanged) && !matches!(o[c], Cell::Unchanged) {
                                                *v = o[c].clone();
                                            }
                                        }
                                    }
                                }
                                let key_changed = old_row.as_ref().is_some_and(|o| {
                                    t.key_columns.iter().any(|&k| !matches!(o[k], Cell::Null) && o[k] != new_row[k])
                                });
                                match (old_row, key_changed) {
                                    (Some(o), true) => {
                                        t.pending.push((RowKind::Delete, o));
                                        t.pending.push((RowKind::Insert, new_row));
                                    }
                                    (Some(o), false) if matches!(old, Some(OldTuple::Full(_))) => {
                                        t.pending.push((RowKind::UpdateBefore, o));
                                        t.pending.push((RowKind::UpdateAfter, new_row));
                                    }
                                    _ => t.pending.push((RowKind::UpdateAfter, new_row)),
                                }
                                report.changes += 1;
                                t.spill_open_tx().await?;
                            }
                        }
                        Message::Delete { relation, old } => {
                            if let Some((t, cols)) = route(&relations, targets, relation, commit_lsn) {
                                if t.key_columns.is_empty() {
                                    return Err(append_only(t, "a DELETE", commit_lsn));
                                }
                                let row = align(cols, old.cells(), t.fields.len());
                                t.pending.push((RowKind::Delete, row));
                                report.changes += 1;
                                t.spill_open_tx().await?;
                            }
                        }
                        Message::Truncate { relations: rels, .. } => {
                            for r in rels {
                                if let Some(m) = relations.get(&r) {
                                    eprintln!(
                                        "shoal ingest: TRUNCATE of {} at {} skipped (as Paimon's CDC actions do)",
                                        targets[m.target].key,
                                        Lsn::from_u64(commit_lsn)
                                    );
                                }
                            }
                        }
                        Message::Type { .. } | Message::Origin { .. } | Message::Other(_) => {}
                    }
                }
                ReplicationEvent::KeepAlive { wal_end, .. } => {
                    server_end = server_end.max(wal_end.as_u64());
                    if in_tx.is_none() && targets.iter().all(|t| t.pending.is_empty() && !t.sink.is_dirty()) {
                        // Nothing held back: let the slot move on (quiet databases, other tables' WAL).
                        repl.update_applied_lsn(Lsn::from_u64(wal_end.as_u64().max(last_end)));
                    }
                }
                ReplicationEvent::Message { prefix, lsn, .. } => {
                    server_end = server_end.max(lsn.as_u64());
                    if prefix == marker {
                        caught_up = true;
                        marker_lsn = lsn.as_u64();
                    }
                }
                ReplicationEvent::StoppedAt { .. } => {}
            },
            None => {}
        }

        let due = last_commit.elapsed() >= job.commit_interval || caught_up;
        if in_tx.is_none() && due {
            if last_end > 0 {
                for t in targets.iter_mut() {
                    if (t.complete > 0 || t.sink.is_dirty()) && t.commit(last_end as i64).await? {
                        report.commits += 1;
                    }
                }
                repl.update_applied_lsn(Lsn::from_u64(last_end));
                report.confirmed_lsn = last_end;
            }
            last_commit = Instant::now();
            if caught_up {
                // Everything before the marker is committed: the slot may move up to it.
                let target = last_end.max(marker_lsn);
                repl.update_applied_lsn(Lsn::from_u64(target));
                report.confirmed_lsn = target;
                let _ = repl.shutdown().await;
                // Make sure the slot records the position even if the last status update did not
                // reach Postgres before the stream closed: advance it once the walsender let go.
                for _ in 0..50 {
                    let active = query(
                        client,
                        &format!(
                            "SELECT 1 FROM pg_replication_slots WHERE slot_name = {} AND active_pid IS NOT NULL",
                            quote_literal(&job.slot)
                        ),
                    )
                    .await?;
                    if !active.is_empty() {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                    let _ = client
                        .simple_query(&format!(
                            "SELECT pg_replication_slot_advance({}, {}) FROM pg_replication_slots \
                             WHERE slot_name = {0} AND confirmed_flush_lsn < {1}::pg_lsn",
                            quote_literal(&job.slot),
                            quote_literal(&Lsn::from_u64(target).to_pg_string())
                        ))
                        .await;
                    break;
                }
                return Ok(());
            }
        }
        if let Some(every) = job.status_interval {
            if last_status.elapsed() >= every {
                let secs = last_status.elapsed().as_secs_f64();
                let lag_s = if last_commit_time_micros > 0 {
                    let now_pg = chrono::Utc::now().timestamp_micros() - 946_684_800_000_000;
                    (now_pg - last_commit_time_micros).max(0) as f64 / 1e6
                } else {
                    0.0
                };
                eprintln!(
                    "shoal ingest: confirmed {} | lag {} bytes, {:.1} s | {:.0} changes/s | {} commits",
                    Lsn::from_u64(report.confirmed_lsn),
                    server_end.saturating_sub(last_end),
                    lag_s,
                    (report.changes - changes_at_status) as f64 / secs,
                    report.commits
                );
                changes_at_status = report.changes;
                last_status = Instant::now();
            }
        }
    }
}

/// An update or delete for a table ingested as an append table: it cannot apply it.
fn append_only(t: &Target, what: &str, lsn: u64) -> Error {
    invalid(format!(
        "{what} of Postgres table {} arrived (transaction at {}), but its shoal table has no primary key (an \
         append table, --append-keyless), which takes inserts only. Keyless tables are published for inserts \
         only; this one reached the stream by the keyed publication (did it get a primary key?). Recreate the \
         shoal table with the key, or leave the table out of --tables",
        t.key,
        Lsn::from_u64(lsn)
    ))
}

/// The target a change goes to, unless it is unknown or the table already holds the transaction.
fn route<'a>(
    relations: &'a HashMap<u32, RelationMap>,
    targets: &'a mut [Target],
    relation: u32,
    commit_lsn: u64,
) -> Option<(&'a mut Target, &'a [Option<usize>])> {
    let m = relations.get(&relation)?;
    let t = &mut targets[m.target];
    // A transaction whose commit record starts before the table's recorded position is in it
    // (see the module doc).
    if t.sink.committed().is_some_and(|c| (commit_lsn as i64) < c) {
        return None;
    }
    Some((t, &m.columns))
}

fn align(columns: &[Option<usize>], cells: &[Cell], width: usize) -> Vec<Cell> {
    let mut row = vec![Cell::Null; width];
    for (i, c) in cells.iter().enumerate() {
        if let Some(Some(t)) = columns.get(i) {
            row[*t] = c.clone();
        }
    }
    row
}

/// A Relation message: maps the relation to its target, evolving the table when Postgres has
/// columns it lacks (the rows of completed transactions are committed first, at `last_end`).
async fn handle_relation(
    rel: &Relation,
    by_name: &HashMap<(String, String), usize>,
    targets: &mut [Target],
    relations: &mut HashMap<u32, RelationMap>,
    last_end: u64,
    commit_user: &str,
) -> Result<()> {
    let Some(&ti) = by_name.get(&(rel.namespace.clone(), rel.name.clone())) else {
        return Ok(());
    };
    let t = &mut targets[ti];
    let columns: Vec<(String, DataType)> =
        rel.columns.iter().map(|c| (c.name.clone(), pgtypes::paimon_type(c.type_oid, c.type_modifier))).collect();
    let changed = columns.iter().any(|(n, dt)| match t.fields.iter().find(|(f, _)| f == n) {
        None => true,
        Some((_, fdt)) => fdt.kind != dt.kind,
    });
    if changed {
        if t.open_tx_written {
            // A restart evolves the table from the catalog first, and then sees no change here.
            return Err(Error::Source {
                context: format!("{}: a schema change inside a large transaction whose rows were written", t.key),
                retriable: true,
                source: "restarting to evolve the table first".into(),
            });
        }
        if last_end > 0 {
            t.commit(last_end as i64).await?;
        }
        if t.sink.is_dirty() {
            return Err(invalid(format!("{}: uncommitted rows before a schema change", t.key)));
        }
        let table = Table::open(t.sink.table().location()).await?;
        let table = evolve(table, &columns, &t.key).await?;
        let old_fields = t.fields.clone();
        t.sink.reopen(table, commit_user).await?;
        t.refresh_fields();
        // Rows of the running transaction, in the old column order: realign.
        for (_, cells) in t.pending.iter_mut() {
            let old = std::mem::take(cells);
            *cells = t
                .fields
                .iter()
                .map(|(n, _)| old_fields.iter().position(|(o, _)| o == n).map(|i| old[i].clone()).unwrap_or(Cell::Null))
                .collect();
        }
    }
    let map: Vec<Option<usize>> = rel.columns.iter().map(|c| t.fields.iter().position(|(n, _)| n == &c.name)).collect();
    relations.insert(rel.oid, RelationMap { target: ti, columns: map });
    Ok(())
}
