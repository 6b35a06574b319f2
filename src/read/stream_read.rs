//! Streaming reads: a [`StreamScan`] turned into change batches, with consumer progress.
//!
//! Every batch has the row kind as its first column, `_ROW_KIND` (Utf8: `+I`, `-U`, `+U`,
//! `-D`), followed by the table's columns. A full snapshot comes as `+I` rows (merged); each
//! later snapshot's delta or changelog files come as written. Batches of one snapshot are
//! handed out before any batch of the next.
//!
//! Consumers (`consumer-id`): the reader records `{"nextSnapshot": N}` in
//! `consumer/consumer-<id>`, and a reader started with the same id resumes at N (unless
//! `consumer.ignore-progress`). Snapshot expiry keeps snapshot N and later. When progress is
//! recorded (`consumer.mode`):
//!
//! - `exactly-once` (default): at snapshot granularity, once every batch of a snapshot has been
//!   handed out and the caller asks for the next batch (so it has processed them): the recorded
//!   N is always a snapshot boundary the caller fully consumed. A caller that keeps state of its
//!   own calls [`ChangeReader::checkpoint`] after persisting it, for exactly-once processing
//!   across crashes: a crash after processing but before the record replays from the last record.
//! - `at-least-once`: only when the reader has caught up (found no new snapshot), so a busy
//!   reader writes its progress rarely; a restarted reader may see snapshots again.
//!
//! A single reader is both of Paimon's modes at once (Paimon's modes differ in how parallel
//! readers agree on one position); what differs here is how often the file is written.
//!
//! Consumer expiry (`consumer.expiration-time`) deletes, after commits, consumer files not
//! modified for that long. A live reader renews its file (rewrites the same progress) when
//! half that time has passed since its last write, at snapshot boundaries and while it waits
//! for new snapshots, as Paimon's Flink readers do by writing the consumer at every checkpoint:
//! so only readers that stopped expire, whatever `consumer.mode` and however long the table
//! stays idle.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::{ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType as ArrowType, Field, Schema, SchemaRef};
use futures::stream::BoxStream;
use futures::StreamExt;

use crate::error::{Error, Result};
use crate::io::FileIO;
use crate::read::merge_read::SplitReader;
use crate::read::scan::DataSplit;
use crate::read::stream_scan::{ChangePlan, ChangeSplit, PlanKind, StartingPosition, StreamScan};
use crate::spec::data_file::table_arrow_schema;
use crate::spec::options::ConsumerMode;
use crate::spec::{RowKind, TableSchema};
use crate::store::consumers::{Consumer, ConsumerManager};

/// The name of the row-kind column of change batches.
pub const ROW_KIND_COLUMN: &str = "_ROW_KIND";

/// Some changes of one snapshot.
#[derive(Clone, Debug)]
pub struct ChangeBatch {
    pub snapshot_id: i64,
    /// `_ROW_KIND` then the table's columns.
    pub batch: RecordBatch,
}

/// How to stream a table; [`StreamOptions::from_schema`] (or `StreamOptions::from_table`) reads
/// the table's options.
#[derive(Clone, Debug)]
pub struct StreamOptions {
    pub start: StartingPosition,
    pub consumer_id: Option<String>,
    pub consumer_mode: ConsumerMode,
    /// `consumer.ignore-progress`: start at `start` even when the consumer has progress.
    pub ignore_progress: bool,
    /// `continuous.discovery-interval`: how long to wait when there is no new snapshot.
    pub discovery_interval: Duration,
}

impl StreamOptions {
    /// `scan.mode` (+ `scan.snapshot-id` / `scan.timestamp-millis`), `consumer-id`,
    /// `consumer.mode`, `consumer.ignore-progress`, `continuous.discovery-interval`.
    pub fn from_schema(schema: &TableSchema) -> Result<StreamOptions> {
        let o = schema.core_options();
        Ok(StreamOptions {
            start: StartingPosition::from_options(&o)?,
            consumer_id: o.consumer_id().map(str::to_string),
            consumer_mode: o.consumer_mode()?,
            ignore_progress: o.consumer_ignore_progress()?,
            discovery_interval: o.continuous_discovery_interval()?,
        })
    }
}

/// The schema of change batches: `_ROW_KIND` then `table`'s columns.
pub(crate) fn change_schema(table: &SchemaRef) -> SchemaRef {
    let mut fields = vec![Arc::new(Field::new(ROW_KIND_COLUMN, ArrowType::Utf8, false))];
    fields.extend(table.fields().iter().cloned());
    Arc::new(Schema::new(fields))
}

struct Current {
    snapshot_id: i64,
    splits: VecDeque<ChangeSplit>,
}

enum Step {
    Batch(ChangeBatch),
    /// No new snapshot.
    Idle,
}

/// Follows a table: see the module documentation.
pub struct ChangeReader {
    scan: StreamScan,
    reader: Arc<SplitReader>,
    schema: SchemaRef,
    consumers: ConsumerManager,
    consumer_id: Option<String>,
    mode: ConsumerMode,
    interval: Duration,
    current: Option<Current>,
    pending: VecDeque<ChangeBatch>,
    /// Every snapshot before this one has been handed out completely.
    delivered_next: Option<i64>,
    /// What the consumer file says (as far as this reader knows).
    recorded: Option<i64>,
    /// Half the table's `consumer.expiration-time`: how often a live reader rewrites its
    /// consumer file even without progress, so that consumer expiry spares it.
    renew_every: Option<Duration>,
    /// When this reader last wrote its consumer file.
    last_write: Option<Instant>,
}

impl ChangeReader {
    /// A reader of the table at `io` (in `schema`) as `options` say; resumes at the consumer's
    /// progress if it has one.
    pub async fn new(io: FileIO, schema: Arc<TableSchema>, options: StreamOptions) -> Result<ChangeReader> {
        let mut scan = StreamScan::new(io.clone(), schema.clone(), options.start.clone())?;
        let consumers = ConsumerManager::new(io.clone());
        let mut recorded = None;
        let mut delivered_next = None;
        if let Some(id) = &options.consumer_id {
            if let Some(c) = consumers.consumer(id).await? {
                recorded = Some(c.next_snapshot);
                if !options.ignore_progress {
                    scan.restore(c.next_snapshot);
                    delivered_next = Some(c.next_snapshot);
                }
            }
        }
        let renew_every = schema.core_options().consumer_expiration_time()?.map(|d| d / 2);
        Ok(ChangeReader {
            scan,
            schema: change_schema(&table_arrow_schema(&schema)),
            reader: Arc::new(SplitReader::for_table(io, schema, None)?),
            consumers,
            consumer_id: options.consumer_id,
            mode: options.consumer_mode,
            interval: options.discovery_interval,
            current: None,
            pending: VecDeque::new(),
            delivered_next,
            recorded,
            renew_every,
            last_write: None,
        })
    }

    /// The schema of the batches: `_ROW_KIND` then the table's columns.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// How long [`Self::next_batch`] waits between looks for new snapshots.
    pub fn discovery_interval(&self) -> Duration {
        self.interval
    }

    /// The first snapshot not yet handed out completely (what a consumer records).
    pub fn next_snapshot(&self) -> Option<i64> {
        self.delivered_next
    }

    /// The next batch, waiting (polling every discovery interval) until there is one.
    pub async fn next_batch(&mut self) -> Result<ChangeBatch> {
        loop {
            match self.step().await? {
                Step::Batch(b) => return Ok(b),
                Step::Idle => tokio::time::sleep(self.interval).await,
            }
        }
    }

    /// Every batch available now (without waiting); empty when there is nothing new.
    pub async fn read_available(&mut self) -> Result<Vec<ChangeBatch>> {
        let mut out = vec![];
        while let Step::Batch(b) = self.step().await? {
            out.push(b);
        }
        Ok(out)
    }

    /// The batches as an endless stream (it ends after the first error).
    pub fn into_stream(self) -> BoxStream<'static, Result<ChangeBatch>> {
        futures::stream::unfold(Some(self), |state| async move {
            let mut reader = state?;
            match reader.next_batch().await {
                Ok(b) => Some((Ok(b), Some(reader))),
                Err(e) => Some((Err(e), None)),
            }
        })
        .boxed()
    }

    /// Records the progress of what was handed out completely in the consumer file (if the
    /// reader has a consumer id). Returns the recorded next snapshot.
    pub async fn checkpoint(&mut self) -> Result<Option<i64>> {
        self.record().await?;
        Ok(self.delivered_next)
    }

    async fn record(&mut self) -> Result<()> {
        let (Some(id), Some(next)) = (&self.consumer_id, self.delivered_next) else { return Ok(()) };
        if self.recorded == Some(next) && !self.renewal_due() {
            return Ok(());
        }
        self.consumers.reset(id, Consumer { next_snapshot: next }).await?;
        self.recorded = Some(next);
        self.last_write = Some(Instant::now());
        Ok(())
    }

    /// Whether the consumer file should be rewritten to keep consumer expiry away from it
    /// (the table has `consumer.expiration-time` and this reader has not written the file for
    /// half of it, or not at all yet).
    fn renewal_due(&self) -> bool {
        match (self.renew_every, self.last_write) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(every), Some(at)) => at.elapsed() >= every,
        }
    }

    async fn step(&mut self) -> Result<Step> {
        loop {
            if let Some(b) = self.pending.pop_front() {
                return Ok(Step::Batch(b));
            }
            if let Some(cur) = &mut self.current {
                if let Some(ChangeSplit { kind, split }) = cur.splits.pop_front() {
                    let id = cur.snapshot_id;
                    let batches = read_split(self.reader.clone(), self.schema.clone(), kind, id, split).await?;
                    self.pending.extend(batches);
                    continue;
                }
                // Every batch of this snapshot was handed out, and the caller came back for more.
                self.delivered_next = Some(cur.snapshot_id + 1);
                self.current = None;
                if self.mode == ConsumerMode::ExactlyOnce || self.renewal_due() {
                    self.record().await?;
                }
                continue;
            }
            let resolved = self.scan.next_snapshot().is_some();
            match self.scan.plan().await? {
                Some(ChangePlan { snapshot_id, splits }) => {
                    self.current = Some(Current { snapshot_id, splits: splits.into() });
                }
                None if !resolved && self.scan.next_snapshot().is_some() => {
                    // The start resolved to a snapshot to follow from (no full read): record it,
                    // so that expiry keeps it, and look for it right away.
                    self.delivered_next = self.scan.next_snapshot();
                    self.record().await?;
                }
                None => {
                    if self.mode == ConsumerMode::AtLeastOnce || self.renewal_due() {
                        self.record().await?;
                    }
                    return Ok(Step::Idle);
                }
            }
        }
    }
}

/// Reads one split of a plan into change batches on a blocking thread.
async fn read_split(
    reader: Arc<SplitReader>,
    schema: SchemaRef,
    kind: PlanKind,
    snapshot_id: i64,
    split: DataSplit,
) -> Result<Vec<ChangeBatch>> {
    tokio::task::spawn_blocking(move || {
        let mut out = vec![];
        match kind {
            PlanKind::Full => {
                reader.try_read_split(&split, &mut |b: RecordBatch| {
                    let kinds = vec![RowKind::Insert; b.num_rows()];
                    out.push(ChangeBatch { snapshot_id, batch: with_kinds(&schema, &kinds, &b)? });
                    Ok(true)
                })?;
            }
            PlanKind::Raw => {
                for file in &split.files {
                    for (kinds, b) in reader.read_file_raw(&split, file)? {
                        out.push(ChangeBatch { snapshot_id, batch: with_kinds(&schema, &kinds, &b)? });
                    }
                }
            }
            PlanKind::Retract => {
                for file in &split.files {
                    for (kinds, b) in reader.read_file_raw(&split, file)? {
                        if let Some(k) = kinds.iter().find(|k| k.is_retract()) {
                            return Err(Error::data_file(
                                &file.file_name,
                                format!(
                                    "snapshot {snapshot_id} overwrote this file, so a streaming read with \
                                     streaming-read-overwrite turns its rows into deletes, but it holds a {} row; \
                                     only +I and +U rows can be turned into deletes (Paimon's ReverseReader fails the same way)",
                                    k.short_string()
                                ),
                            ));
                        }
                        let deletes = vec![RowKind::Delete; b.num_rows()];
                        out.push(ChangeBatch { snapshot_id, batch: with_kinds(&schema, &deletes, &b)? });
                    }
                }
            }
        }
        Ok(out)
    })
    .await
    .map_err(Error::join("reading changes"))?
}

fn with_kinds(schema: &SchemaRef, kinds: &[RowKind], batch: &RecordBatch) -> Result<RecordBatch> {
    let kind_col: ArrayRef = Arc::new(StringArray::from_iter_values(kinds.iter().map(|k| k.short_string())));
    let mut columns = vec![kind_col];
    columns.extend(batch.columns().iter().cloned());
    RecordBatch::try_new(schema.clone(), columns).map_err(Error::arrow("adding the row kind column"))
}

/// Reads plans (an incremental read) of the table at `io` (in `schema`) into change batches, in
/// plan order.
pub(crate) async fn read_plans(
    io: &FileIO,
    schema: &Arc<TableSchema>,
    plans: Vec<ChangePlan>,
) -> Result<Vec<ChangeBatch>> {
    let reader = Arc::new(SplitReader::for_table(io.clone(), schema.clone(), None)?);
    let schema = change_schema(&table_arrow_schema(schema));
    let mut out = vec![];
    for plan in plans {
        for ChangeSplit { kind, split } in plan.splits {
            out.extend(read_split(reader.clone(), schema.clone(), kind, plan.snapshot_id, split).await?);
        }
    }
    Ok(out)
}
