//! Change data capture into tables, exactly once: the pieces every source shares.
//!
//! A source (Postgres logical replication, Debezium events) delivers changes in its own order,
//! each belonging to a **position** of the source that only grows: the end LSN of the
//! Postgres transaction, the offset of a Debezium event. Each table has a [`PositionedSink`]:
//! a [`StreamingSink`] whose commit identifier is the position of the last change the commit
//! holds, under one commit user for the whole ingest job. So the table itself records how far
//! it got (`StreamingSink::last_committed`), and a restarted job skips, table by table, every
//! change at or before that position; the source is told it may forget a position
//! ([`ChangeSource::committed`]) only once every table holding changes up to it committed.
//! A commit never records a position inside a source transaction: positions are only taken at
//! transaction ends. There is no atomicity across tables.

use std::time::Duration;

use arrow_array::RecordBatch;
use async_trait::async_trait;

use crate::commit::CommitOutcome;
use crate::error::Result;
use crate::spec::RowKind;
use crate::table::StreamingSink;
use crate::Table;

/// The `bucket` option of the tables an ingest creates when `--table-option bucket=N` is not
/// given (shoal writes fixed buckets only).
pub const DEFAULT_BUCKETS: u32 = 4;

/// The changes of one table in a [`SourceBatch`], in source order.
#[derive(Clone, Debug)]
pub struct TableChanges {
    /// The table's name as the caller's sinks know it.
    pub table: String,
    /// Rows in the table's Arrow schema ([`Table::arrow_schema`]).
    pub batch: RecordBatch,
    pub kinds: Vec<RowKind>,
}

/// Changes up to a source position (a transaction end, or the end of a group of events).
#[derive(Clone, Debug)]
pub struct SourceBatch {
    pub position: i64,
    pub changes: Vec<TableChanges>,
}

/// A source of changes for [`run`]. Other sources (Kafka, MySQL) plug in here.
#[async_trait]
pub trait ChangeSource: Send {
    /// The next changes (None: the source is exhausted). Each batch ends at a position where a
    /// table may commit.
    async fn next_batch(&mut self) -> Result<Option<SourceBatch>>;
    /// Every table committed everything up to `position`: the source may acknowledge it
    /// upstream (Postgres's confirmed flush LSN, a Kafka consumer offset).
    async fn committed(&mut self, position: i64) -> Result<()>;
}

/// A table written by an ingest job: a [`StreamingSink`] whose commit identifiers are source
/// positions.
pub struct PositionedSink {
    table: Table,
    sink: StreamingSink,
    committed: Option<i64>,
    dirty: bool,
    rows: u64,
}

impl PositionedSink {
    /// Opens the sink of `commit_user` on `table`; [`PositionedSink::committed`] then tells how
    /// far the table got in an earlier run.
    pub async fn open(table: Table, commit_user: &str) -> Result<PositionedSink> {
        let sink = StreamingSink::new(&table, commit_user).await?;
        let committed = sink.last_committed().await?;
        Ok(PositionedSink { table, sink, committed, dirty: false, rows: 0 })
    }

    pub fn table(&self) -> &Table {
        &self.table
    }

    /// The position of the last change this table committed (None: nothing yet).
    pub fn committed(&self) -> Option<i64> {
        self.committed
    }

    /// Whether the table already holds the changes at `position` (a restarted job skips them).
    pub fn holds(&self, position: i64) -> bool {
        self.committed.is_some_and(|c| position <= c)
    }

    /// Whether rows were written since the last commit.
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// Rows written since the last commit.
    pub fn pending_rows(&self) -> u64 {
        self.rows
    }

    pub async fn write(&mut self, batch: &RecordBatch, kinds: &[RowKind]) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.sink.write_with_kinds(batch, kinds).await?;
        self.dirty = true;
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Commits what was written, recording `position` (the source position of the last change
    /// written, at a transaction end). A no-op when nothing was written, unless `force` (the end
    /// of a snapshot copy records its position even for an empty table).
    pub async fn commit(&mut self, position: i64, force: bool) -> Result<Option<CommitOutcome>> {
        if !self.dirty && !force {
            return Ok(None);
        }
        if self.committed.is_some_and(|c| position <= c) {
            return Ok(None);
        }
        let committable = self.sink.prepare(position).await?;
        let outcome = self.sink.commit(committable).await?;
        // An empty copy makes no snapshot (Paimon records nothing for an empty commit): its
        // position still holds for this run; a restart copies the (empty) table again.
        if force || !matches!(outcome, CommitOutcome::Empty) {
            self.committed = Some(position);
        }
        self.dirty = false;
        self.rows = 0;
        Ok(Some(outcome))
    }

    /// Re-opens the sink on a new version of the table (after a schema change). Commit first:
    /// rows written and not committed are dropped.
    pub async fn reopen(&mut self, table: Table, commit_user: &str) -> Result<()> {
        let sink = StreamingSink::new(&table, commit_user).await?;
        self.committed = sink.last_committed().await?;
        self.sink = sink;
        self.table = table;
        self.dirty = false;
        self.rows = 0;
        Ok(())
    }
}

/// What [`run`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunReport {
    pub changes: u64,
    /// Changes skipped because their table already held them (a restart).
    pub skipped: u64,
    pub commits: u64,
    pub last_position: Option<i64>,
}

/// Drives `source` into `sinks` (named as [`TableChanges::table`] names them), committing every
/// dirty table every `commit_interval` (and when the source ends), then acknowledging the
/// position to the source.
pub async fn run(
    source: &mut dyn ChangeSource,
    sinks: &mut std::collections::BTreeMap<String, PositionedSink>,
    commit_interval: Duration,
) -> Result<RunReport> {
    let mut report = RunReport::default();
    let mut last_commit = std::time::Instant::now();
    let mut position = None;
    loop {
        let next = source.next_batch().await?;
        let Some(batch) = next else { break };
        for ch in batch.changes {
            let sink = sinks.get_mut(&ch.table).ok_or_else(|| {
                crate::Error::InvalidInput(format!("the source has changes for {}, which has no sink", ch.table))
            })?;
            if sink.holds(batch.position) {
                report.skipped += ch.batch.num_rows() as u64;
                continue;
            }
            report.changes += ch.batch.num_rows() as u64;
            sink.write(&ch.batch, &ch.kinds).await?;
        }
        position = Some(batch.position);
        if last_commit.elapsed() >= commit_interval {
            report.commits += commit_all(sinks, batch.position).await?;
            source.committed(batch.position).await?;
            last_commit = std::time::Instant::now();
        }
    }
    if let Some(p) = position {
        report.commits += commit_all(sinks, p).await?;
        source.committed(p).await?;
    }
    report.last_position = position;
    Ok(report)
}

/// Commits every dirty sink at `position`; returns how many committed.
pub async fn commit_all(sinks: &mut std::collections::BTreeMap<String, PositionedSink>, position: i64) -> Result<u64> {
    let mut n = 0;
    for s in sinks.values_mut() {
        if s.is_dirty() && s.commit(position, false).await?.is_some() {
            n += 1;
        }
    }
    Ok(n)
}
