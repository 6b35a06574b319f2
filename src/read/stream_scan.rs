//! Streaming and incremental scan planning (Paimon's `DataTableStreamScan` with its starting and
//! follow-up scanners, and `IncrementalStartingScanner`).
//!
//! A streaming scan starts somewhere (`scan.mode`, see [`StartingPosition`]) and then follows the
//! table snapshot by snapshot. Each [`plan`](StreamScan::plan) returns at most one snapshot's
//! worth of changes:
//!
//! - a full plan: every live file of a snapshot, to be read merged (all rows as `+I`);
//! - a delta plan (`changelog-producer = none`): the files an APPEND snapshot's delta added, to
//!   be read as written, row kinds included (Paimon's `DeltaFollowUpScanner`); COMPACT and
//!   OVERWRITE snapshots give an empty plan (they change no rows, or, for overwrite, are not
//!   streamed, as with Paimon's default `streaming-read-overwrite = false`);
//! - a changelog plan (`changelog-producer = input`): the changelog files of an APPEND snapshot
//!   (Paimon's `InputChangelogFollowUpScanner`); other snapshots give an empty plan;
//! - with `streaming-read-overwrite = true` (primary-key tables), an OVERWRITE snapshot gives
//!   its delta's changes whatever the producer (Paimon's `FollowUpScanner.getOverwriteChangesPlan`):
//!   per bucket, first the files it deleted, every row as `-D` (they may only hold `+I`/`+U`),
//!   then the files it added, as written.
//!
//! When the next snapshot does not exist yet, `plan` returns `None`. When it has expired (the
//! earliest retained snapshot is past it), the plan reads its long-lived changelog
//! (`changelog/changelog-<id>`) if the table's changelog outlives its snapshots and that file is
//! there (Paimon's `NextSnapshotFetcher`), else fails with [`Error::SnapshotExpired`].

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::io::FileIO;
use crate::read::scan::{attach_deletion_vectors, DataSplit, SplitsByBucket, TableScan};
use crate::spec::options::{ChangelogProducer, CoreOptions};
use crate::spec::{CommitKind, FileKind, ManifestEntry, Snapshot, TableSchema};
use crate::store::{ChangelogManager, ManifestStore, SnapshotManager, TagManager};

/// Where a streaming read starts (Paimon's `scan.mode`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartingPosition {
    /// `latest-full` (and `default` without `scan.snapshot-id`/`scan.timestamp-millis`): the
    /// latest snapshot in full, then its successors.
    LatestFull,
    /// `latest`: only the changes committed after the latest snapshot (from snapshot 1 when the
    /// table has none yet).
    Latest,
    /// `from-snapshot` (`scan.snapshot-id`): the changes of this snapshot and later (from the
    /// earliest retained one when it has expired, as Paimon does; long-lived changelogs count as
    /// retained when the table's changelog outlives its snapshots).
    FromSnapshot(i64),
    /// `from-snapshot-full`: this snapshot in full, then its successors.
    FromSnapshotFull(i64),
    /// `from-timestamp` (`scan.timestamp-millis`): the changes of the snapshots committed at or
    /// after this epoch-millis time (long-lived changelogs included, as for `FromSnapshot`).
    FromTimestamp(i64),
    /// `compacted-full`: the latest COMPACT snapshot (the latest snapshot if there is none) in
    /// full, then its successors.
    CompactedFull,
}

impl StartingPosition {
    /// The position a table's options ask for (Paimon's `StartupMode`, with `default` resolved).
    pub fn from_options(opts: &CoreOptions) -> Result<StartingPosition> {
        let mode = opts.scan_mode()?;
        let snapshot = opts.scan_snapshot_id()?;
        let timestamp = opts.scan_timestamp_millis()?;
        let need = |v: Option<i64>, key: &str| {
            v.ok_or_else(|| Error::InvalidOptionValue(format!("scan.mode = {mode} needs {key} to be set")))
        };
        Ok(match mode.as_str() {
            "default" => match (snapshot, timestamp) {
                (Some(_), Some(_)) => {
                    return Err(Error::InvalidOptionValue(
                        "set only one of scan.snapshot-id and scan.timestamp-millis for a streaming read".into(),
                    ))
                }
                (Some(id), None) => StartingPosition::FromSnapshot(id),
                (None, Some(ms)) => StartingPosition::FromTimestamp(ms),
                (None, None) => StartingPosition::LatestFull,
            },
            "latest-full" | "full" => StartingPosition::LatestFull,
            "latest" => StartingPosition::Latest,
            "from-snapshot" => StartingPosition::FromSnapshot(need(snapshot, "scan.snapshot-id")?),
            "from-snapshot-full" => StartingPosition::FromSnapshotFull(need(snapshot, "scan.snapshot-id")?),
            "from-timestamp" => StartingPosition::FromTimestamp(need(timestamp, "scan.timestamp-millis")?),
            "compacted-full" => StartingPosition::CompactedFull,
            other => {
                return Err(Error::InvalidOptionValue(format!(
                    "scan.mode = {other} is not a streaming start (use latest-full, latest, from-snapshot, \
                     from-snapshot-full, from-timestamp or compacted-full)"
                )))
            }
        })
    }
}

/// Which files a follow-up plan reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeSource {
    /// The files each APPEND snapshot's delta added (`changelog-producer = none`).
    Delta,
    /// The changelog files of each APPEND snapshot (`changelog-producer = input`).
    Changelog,
    /// The changelog files of each COMPACT snapshot (`changelog-producer = lookup` and
    /// `full-compaction`: Paimon's
    /// `CompactionChangelogFollowUpScanner`; the APPEND snapshots' rows reach readers through
    /// the compaction that follows them).
    CompactionChangelog,
}

impl ChangeSource {
    pub fn for_table(opts: &CoreOptions) -> Result<ChangeSource> {
        match opts.changelog_producer()? {
            ChangelogProducer::None => Ok(ChangeSource::Delta),
            ChangelogProducer::Input => Ok(ChangeSource::Changelog),
            ChangelogProducer::Lookup | ChangelogProducer::FullCompaction => Ok(ChangeSource::CompactionChangelog),
        }
    }
}

impl ChangeSource {
    /// Whether a follow-up reads this snapshot's changes.
    pub fn reads(self, snapshot: &Snapshot) -> bool {
        match self {
            ChangeSource::Delta | ChangeSource::Changelog => snapshot.commit_kind == CommitKind::Append,
            ChangeSource::CompactionChangelog => snapshot.commit_kind == CommitKind::Compact,
        }
    }
}

/// How a split's files are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanKind {
    /// Merged, every row an insert.
    Full,
    /// Each file as written, with its row kinds.
    Raw,
    /// Each file as written, every row turned into `-D` (the files an OVERWRITE snapshot
    /// deleted, Paimon's `ReverseReader`); a `-U` or `-D` row in them is an error, as in Paimon.
    Retract,
}

/// One split of a plan and how to read it.
#[derive(Clone, Debug)]
pub struct ChangeSplit {
    pub kind: PlanKind,
    pub split: DataSplit,
}

/// One snapshot's changes to read, split by split in this order.
#[derive(Clone, Debug)]
pub struct ChangePlan {
    pub snapshot_id: i64,
    pub splits: Vec<ChangeSplit>,
}

impl ChangePlan {
    fn of(snapshot_id: i64, kind: PlanKind, splits: Vec<DataSplit>) -> ChangePlan {
        ChangePlan { snapshot_id, splits: splits.into_iter().map(|split| ChangeSplit { kind, split }).collect() }
    }
}

/// A streaming scan: a starting position, then one plan per snapshot.
#[derive(Clone)]
pub struct StreamScan {
    io: FileIO,
    schema: Arc<TableSchema>,
    start: StartingPosition,
    source: ChangeSource,
    /// The table's changelog outlives its snapshots (`changelog.*` retaining more): expired
    /// snapshots are read from their long-lived changelogs.
    decoupled: bool,
    /// `streaming-read-overwrite` on a primary-key table.
    read_overwrite: bool,
    /// The next snapshot to plan; None until the start was resolved.
    next_snapshot: Option<i64>,
}

impl StreamScan {
    pub fn new(io: FileIO, schema: Arc<TableSchema>, start: StartingPosition) -> Result<StreamScan> {
        let opts = schema.core_options();
        let source = ChangeSource::for_table(&opts)?;
        let decoupled = opts.changelog_lifecycle_decoupled()?;
        let read_overwrite = opts.streaming_read_overwrite()? && !schema.primary_keys.is_empty();
        Ok(StreamScan { io, schema, start, source, decoupled, read_overwrite, next_snapshot: None })
    }

    /// Continues at `next_snapshot` (a consumer's progress), skipping the starting position.
    pub fn restore(&mut self, next_snapshot: i64) {
        self.next_snapshot = Some(next_snapshot);
    }

    /// The next snapshot a follow-up plan will read (None before the start is resolved).
    pub fn next_snapshot(&self) -> Option<i64> {
        self.next_snapshot
    }

    pub fn source(&self) -> ChangeSource {
        self.source
    }

    fn snapshots(&self) -> SnapshotManager {
        SnapshotManager::new(self.io.clone())
    }

    /// The next plan, or None when there is nothing new yet.
    pub async fn plan(&mut self) -> Result<Option<ChangePlan>> {
        let Some(next) = self.next_snapshot else { return self.first_plan().await };
        let Some(snapshot) = self.fetch(next).await? else { return Ok(None) };
        let plan = self.follow_up(&snapshot).await?;
        self.next_snapshot = Some(next + 1);
        Ok(Some(plan))
    }

    /// Snapshot `id` to follow up: the snapshot, or, once it expired, its long-lived changelog
    /// (decoupled lifecycle); None when it does not exist yet (Paimon's `NextSnapshotFetcher`).
    async fn fetch(&self, id: i64) -> Result<Option<Snapshot>> {
        let sm = self.snapshots();
        match sm.snapshot(id).await {
            Ok(s) => return Ok(Some(s)),
            Err(Error::SnapshotNotFound(_)) => {}
            Err(e) => return Err(e),
        }
        let earliest = match sm.earliest_id().await? {
            Some(e) if e > id => e,
            _ => return Ok(None),
        };
        if self.decoupled {
            if let Some(c) = ChangelogManager::new(self.io.clone()).changelog(id).await? {
                return Ok(Some(c));
            }
        }
        Err(Error::SnapshotExpired { snapshot: id, earliest })
    }

    /// One snapshot's changes as a follow-up scanner reads them.
    async fn follow_up(&self, snapshot: &Snapshot) -> Result<ChangePlan> {
        if snapshot.commit_kind == CommitKind::Overwrite && self.read_overwrite {
            return self.overwrite_plan(snapshot).await;
        }
        let splits = if self.source.reads(snapshot) {
            changed_splits(&self.io, &self.schema, snapshot, self.source).await?
        } else {
            vec![]
        };
        Ok(ChangePlan::of(snapshot.id, PlanKind::Raw, splits))
    }

    /// The changes of an OVERWRITE snapshot (Paimon's `SnapshotReader.readChanges` read by its
    /// `IncrementalChangelogReadProvider`): per bucket, the files its delta deleted (with the
    /// deletion vectors of the snapshot before) as `-D`, then the files it added (with its own).
    /// A file both deleted and added by the delta is left out of both.
    async fn overwrite_plan(&self, snapshot: &Snapshot) -> Result<ChangePlan> {
        let manifests = ManifestStore::new(self.io.clone(), &self.schema.core_options().manifest_compression());
        let metas = manifests.read_manifest_list(&snapshot.delta_manifest_list).await?;
        let entries = manifests.read_entries(&metas).await?;
        let added: std::collections::HashSet<(Vec<u8>, i32, String)> = entries
            .iter()
            .filter(|e| e.kind == FileKind::Add)
            .map(|e| (e.partition.data().to_vec(), e.bucket, e.file.file_name.clone()))
            .collect();
        let deleted: std::collections::HashSet<(Vec<u8>, i32, String)> = entries
            .iter()
            .filter(|e| e.kind == FileKind::Delete)
            .map(|e| (e.partition.data().to_vec(), e.bucket, e.file.file_name.clone()))
            .collect();
        let mut before = SplitsByBucket::new(&self.schema, snapshot.id);
        let mut after = SplitsByBucket::new(&self.schema, snapshot.id);
        for e in entries {
            let key = (e.partition.data().to_vec(), e.bucket, e.file.file_name.clone());
            match e.kind {
                FileKind::Delete if !added.contains(&key) => before.add(e)?,
                FileKind::Add if !deleted.contains(&key) => after.add(e)?,
                _ => {}
            }
        }
        if self.schema.core_options().deletion_vectors_enabled()? {
            if !before.splits.is_empty() {
                let previous = self.previous_index_manifest(snapshot.id).await?;
                if let Some(index) = previous {
                    attach_deletion_vectors(&manifests, &index, &mut before.splits).await?;
                }
            }
            if let Some(index) = &snapshot.index_manifest {
                attach_deletion_vectors(&manifests, index, &mut after.splits).await?;
            }
        }
        let mut keys: Vec<(Vec<u8>, i32)> = before.splits.keys().chain(after.splits.keys()).cloned().collect();
        keys.sort();
        keys.dedup();
        let mut splits = vec![];
        for key in keys {
            for (kind, side) in [(PlanKind::Retract, &mut before), (PlanKind::Raw, &mut after)] {
                if let Some(mut split) = side.splits.remove(&key) {
                    split.files.sort_by_key(|f| (f.min_sequence_number, f.max_sequence_number));
                    splits.push(ChangeSplit { kind, split });
                }
            }
        }
        Ok(ChangePlan { snapshot_id: snapshot.id, splits })
    }

    /// The index manifest of the snapshot before `id` (a snapshot or a long-lived changelog).
    async fn previous_index_manifest(&self, id: i64) -> Result<Option<String>> {
        let previous = match self.snapshots().snapshot(id - 1).await {
            Ok(s) => s,
            Err(Error::SnapshotNotFound(_)) => match ChangelogManager::new(self.io.clone()).changelog(id - 1).await? {
                Some(c) => c,
                None => {
                    return Err(Error::InvalidInput(format!(
                        "cannot read the overwrite changes of snapshot {id}: the deletion vectors of the files it \
                         replaced belong to snapshot {}, which is gone",
                        id - 1
                    )))
                }
            },
            Err(e) => return Err(e),
        };
        Ok(previous.index_manifest)
    }

    async fn full_plan(&self, snapshot_id: i64) -> Result<ChangePlan> {
        let plan = TableScan::new(self.io.clone(), self.schema.clone()).with_snapshot(snapshot_id).plan().await?;
        Ok(ChangePlan::of(snapshot_id, PlanKind::Full, plan.splits))
    }

    /// The earliest id a follow-up can start at: the earliest long-lived changelog when the
    /// table's changelog outlives its snapshots and there is one, else the earliest snapshot
    /// (Paimon's `ContinuousFromSnapshotStartingScanner`).
    async fn earliest_followable(&self, earliest_snapshot: i64) -> Result<i64> {
        if self.decoupled {
            if let Some(id) = ChangelogManager::new(self.io.clone()).earliest_id().await? {
                return Ok(id);
            }
        }
        Ok(earliest_snapshot)
    }

    /// Snapshot `id`, or its long-lived changelog (Paimon's `changelogOrSnapshot`).
    async fn snapshot_or_changelog(&self, id: i64) -> Result<Snapshot> {
        if self.decoupled {
            if let Some(c) = ChangelogManager::new(self.io.clone()).changelog(id).await? {
                return Ok(c);
            }
        }
        self.snapshots().snapshot(id).await
    }

    /// The newest id committed before `ms` among the followable ones, or the earliest minus one
    /// (Paimon's `earlierThanTimeMills`, a binary search over changelogs and snapshots).
    async fn earlier_than_time(&self, ms: i64, earliest_snapshot: i64, latest: i64) -> Result<i64> {
        let mut lo = self.earliest_followable(earliest_snapshot).await?;
        if self.snapshot_or_changelog(lo).await?.time_millis >= ms {
            return Ok(lo - 1);
        }
        let mut hi = latest;
        while lo < hi {
            let mid = lo + (hi - lo + 1) / 2;
            if self.snapshot_or_changelog(mid).await?.time_millis < ms {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        Ok(lo)
    }

    async fn first_plan(&mut self) -> Result<Option<ChangePlan>> {
        let sm = self.snapshots();
        let (Some(earliest), Some(latest)) = (sm.earliest_id().await?, sm.latest_id().await?) else {
            // An empty table: everything committed from now on is new.
            if matches!(self.start, StartingPosition::Latest | StartingPosition::FromTimestamp(_)) {
                self.next_snapshot = Some(1);
            }
            return Ok(None);
        };
        match self.start.clone() {
            StartingPosition::LatestFull => self.full_then_follow(latest).await,
            StartingPosition::Latest => {
                self.next_snapshot = Some(latest + 1);
                Ok(None)
            }
            StartingPosition::FromSnapshot(id) => {
                self.next_snapshot = Some(id.max(self.earliest_followable(earliest).await?));
                Ok(None)
            }
            StartingPosition::FromSnapshotFull(id) => {
                if id < earliest || id > latest {
                    return Err(Error::InvalidInput(format!(
                        "scan.snapshot-id = {id} is outside the retained snapshots {earliest}..={latest}"
                    )));
                }
                self.full_then_follow(id).await
            }
            StartingPosition::FromTimestamp(ms) => {
                // The first snapshot committed at or after `ms`: after the last one before it.
                self.next_snapshot = Some(self.earlier_than_time(ms, earliest, latest).await? + 1);
                Ok(None)
            }
            StartingPosition::CompactedFull => {
                let mut id = latest;
                while id >= earliest {
                    match sm.snapshot(id).await {
                        Ok(s) if s.commit_kind == CommitKind::Compact => break,
                        Ok(_) | Err(Error::SnapshotNotFound(_)) => {}
                        Err(e) => return Err(e),
                    }
                    id -= 1;
                }
                self.full_then_follow(if id < earliest { latest } else { id }).await
            }
        }
    }

    async fn full_then_follow(&mut self, id: i64) -> Result<Option<ChangePlan>> {
        let plan = self.full_plan(id).await?;
        self.next_snapshot = Some(id + 1);
        Ok(Some(plan))
    }
}

/// The splits of what one snapshot changed: the ADD entries of its delta manifests, or its
/// changelog manifests. Each split's files are in sequence order, so reading them in order
/// replays the bucket's changes in the order they were written.
pub(crate) async fn changed_splits(
    io: &FileIO,
    schema: &Arc<TableSchema>,
    snapshot: &Snapshot,
    source: ChangeSource,
) -> Result<Vec<DataSplit>> {
    let manifests = ManifestStore::new(io.clone(), &schema.core_options().manifest_compression());
    let list = match source {
        ChangeSource::Delta => Some(&snapshot.delta_manifest_list),
        ChangeSource::Changelog | ChangeSource::CompactionChangelog => snapshot.changelog_manifest_list.as_ref(),
    };
    let Some(list) = list else { return Ok(vec![]) };
    let metas = manifests.read_manifest_list(list).await?;
    let entries: Vec<ManifestEntry> =
        manifests.read_entries(&metas).await?.into_iter().filter(|e| e.kind == FileKind::Add).collect();
    let mut splits_by_bucket = SplitsByBucket::new(schema, snapshot.id);
    for e in entries {
        splits_by_bucket.add(e)?;
    }
    let mut splits: Vec<DataSplit> = splits_by_bucket.splits.into_values().collect();
    for s in &mut splits {
        s.files.sort_by_key(|f| (f.min_sequence_number, f.max_sequence_number));
    }
    Ok(splits)
}

/// Paimon's incremental batch read (`incremental-between = START,END`): the changes of the
/// snapshots after START up to and including END, one raw plan per APPEND snapshot. START and
/// END are snapshot ids or tag names. `changelog` picks the changelog files (None: `auto`, the
/// changelog when the table has a changelog producer, else the deltas).
pub(crate) async fn incremental_plans(
    io: &FileIO,
    schema: &Arc<TableSchema>,
    start: &str,
    end: &str,
    changelog: Option<bool>,
) -> Result<Vec<ChangePlan>> {
    let resolve = |s: &str| {
        let s = s.to_string();
        let io = io.clone();
        async move {
            match s.parse::<i64>() {
                Ok(id) => Ok::<i64, Error>(id),
                Err(_) => Ok(TagManager::new(io).tag(&s).await?.snapshot.id),
            }
        }
    };
    let (from, to) = (resolve(start).await?, resolve(end).await?);
    if from > to {
        return Err(Error::InvalidOptionValue(format!(
            "incremental-between = {start},{end}: the start (snapshot {from}) is after the end (snapshot {to})"
        )));
    }
    let source = match changelog {
        Some(true) => match ChangeSource::for_table(&schema.core_options())? {
            ChangeSource::CompactionChangelog => ChangeSource::CompactionChangelog,
            _ => ChangeSource::Changelog,
        },
        Some(false) => ChangeSource::Delta,
        None => ChangeSource::for_table(&schema.core_options())?,
    };
    let sm = SnapshotManager::new(io.clone());
    let mut plans = vec![];
    for id in from + 1..=to {
        let snapshot = match sm.snapshot(id).await {
            Ok(s) => s,
            Err(Error::SnapshotNotFound(_)) => {
                let earliest = sm.earliest_id().await?.unwrap_or(id + 1);
                return Err(if earliest > id {
                    Error::SnapshotExpired { snapshot: id, earliest }
                } else {
                    Error::InvalidInput(format!("incremental-between = {start},{end}: snapshot {id} does not exist"))
                });
            }
            Err(e) => return Err(e),
        };
        if !source.reads(&snapshot) {
            continue;
        }
        let splits = changed_splits(io, schema, &snapshot, source).await?;
        plans.push(ChangePlan::of(id, PlanKind::Raw, splits));
    }
    Ok(plans)
}
