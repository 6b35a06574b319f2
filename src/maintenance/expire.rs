//! Snapshot expiry, with Paimon's options and semantics (`ExpireSnapshotsImpl` in 0.9):
//!
//! - keep at most `snapshot.num-retained.max` snapshots, at least `snapshot.num-retained.min`,
//!   and every snapshot younger than `snapshot.time-retained`; expire at most
//!   `snapshot.expire.limit` per run; never expire a snapshot a consumer
//!   (`consumer/consumer-<id>`) will read next, nor anything after it;
//! - expiring `[earliest, end)` deletes the data files that the deltas of snapshots
//!   `(earliest, end]` deleted for good (a level upgrade re-adds a file in the same delta) and
//!   the changelog files of the expired snapshots, except what a tag reads; then the manifests
//!   and lists of the expired snapshots that neither `end` nor a tag uses; then the snapshot
//!   files (ascending); then the `EARLIEST` hint. (Paimon goes snapshot by snapshot for the
//!   manifests and snapshot files; doing each phase for all snapshots at once, with concurrent
//!   deletes, is as safe and needs far fewer round trips.)
//!
//! Why this is exact: a data file is added once and deleted once, so every file an expired
//! snapshot read that no retained snapshot reads was deleted by one of those deltas (earlier
//! ones were handled by earlier runs), and a file deleted by them is read by no retained
//! snapshot. A manifest's life is one contiguous run of snapshots too, so a manifest an expired
//! snapshot shares with any later snapshot is in `end`'s lists. Tags can be anywhere, so every
//! tag's files and manifests are kept.
//!
//! Tables whose changelog outlives its snapshots (`changelog.*` options retaining more, Paimon's
//! decoupled lifecycle) keep, per expired snapshot, a long-lived changelog
//! (`changelog/changelog-<id>`) and what it reads; see [`crate::maintenance::expire_changelog`]
//! for when those go, and format-spec/lifecycle.md for which files stay per changelog producer.
//!
//! Interrupted expiry: the retained snapshots and tags are never touched, so the table stays
//! readable; running expiry again finishes the job (files already gone are skipped, manifests
//! already deleted are tolerated when reading what expired snapshots referenced).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{self, StreamExt, TryStreamExt};

use crate::error::{Error, Result};
use crate::io::FileIO;
use crate::maintenance::branches::other_branches_files;
use crate::maintenance::file_refs::{delete_files, FileReferences, Reach};
use crate::spec::options::{ChangelogProducer, CoreOptions};
use crate::spec::paths::snapshot_path;
use crate::spec::{Snapshot, TableSchema};
use crate::store::{ChangelogManager, ConsumerManager, SnapshotManager, TagManager};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpireConfig {
    pub retain_min: i64,
    pub retain_max: i64,
    pub time_retained: Duration,
    /// `snapshot.expire.limit`.
    pub max_deletes: i64,
}

impl ExpireConfig {
    /// Snapshot retention: `snapshot.num-retained.min/max`, `snapshot.time-retained`.
    pub fn from_options(o: &CoreOptions) -> Result<Self> {
        Ok(ExpireConfig {
            retain_min: o.snapshot_num_retained_min()?,
            retain_max: o.snapshot_num_retained_max()?,
            time_retained: o.snapshot_time_retained()?,
            max_deletes: o.snapshot_expire_limit()?,
        })
    }

    /// Retention of long-lived changelogs (Paimon's `ExpireConfig` changelog part):
    /// `changelog.num-retained.min/max`, `changelog.time-retained` (each defaulting to its
    /// `snapshot.*` twin), and `snapshot.expire.limit` changelogs per run.
    pub fn for_changelogs(o: &CoreOptions) -> Result<Self> {
        Ok(ExpireConfig {
            retain_min: o.changelog_num_retained_min()?,
            retain_max: o.changelog_num_retained_max()?,
            time_retained: o.changelog_time_retained()?,
            max_deletes: o.snapshot_expire_limit()?,
        })
    }

    /// The retention an explicit expiry call asks for (`shoal expire-snapshots`,
    /// `CALL sys.expire_snapshots`) over the table's: values given replace the table's, an explicit
    /// maximum below the table's minimum lowers the minimum too (as Paimon's procedure), and
    /// without `max_deletes` there is no per-run limit.
    pub fn with_overrides(mut self, o: &RetentionOverrides) -> Self {
        self.max_deletes = o.max_deletes.unwrap_or(i64::MAX);
        if let Some(n) = o.retain_max {
            self.retain_max = n;
            self.retain_min = self.retain_min.min(n.max(1));
        }
        if let Some(n) = o.retain_min {
            self.retain_min = n;
        }
        if let Some(d) = o.time_retained {
            self.time_retained = d;
        }
        self
    }

    /// Refuses a retention that keeps nothing or whose maximum is below its minimum; `what`
    /// names the retention in the message ("" for snapshots, "changelog ").
    pub(crate) fn check(&self, what: &str) -> Result<()> {
        if self.retain_max < self.retain_min {
            return Err(Error::InvalidOptionValue(format!(
                "{what}retain max ({}) must be at least {what}retain min ({})",
                self.retain_max, self.retain_min
            )));
        }
        if self.retain_min < 1 {
            return Err(Error::InvalidOptionValue(format!("{what}retain min must be at least 1")));
        }
        Ok(())
    }
}

/// Retention values given for one expiry run; `None` keeps the table's (see
/// [`ExpireConfig::with_overrides`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetentionOverrides {
    pub retain_max: Option<i64>,
    pub retain_min: Option<i64>,
    pub time_retained: Option<Duration>,
    pub max_deletes: Option<i64>,
}

/// What one expiry run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExpireReport {
    pub snapshots_expired: usize,
    pub data_files_deleted: usize,
    /// Manifests and manifest lists.
    pub manifests_deleted: usize,
    /// The earliest snapshot afterwards.
    pub earliest: Option<i64>,
    /// Manifest files and lists read.
    pub manifest_reads: usize,
    /// Long-lived changelogs written (`changelog/changelog-<id>`, decoupled changelog lifecycle).
    pub changelogs_written: usize,
}

/// Expires snapshots of the table at `io` as `config` says.
pub(crate) async fn expire_snapshots(
    io: &FileIO,
    schema: Arc<TableSchema>,
    config: &ExpireConfig,
) -> Result<ExpireReport> {
    match plan_expiry(io, config).await? {
        Some((earliest, end, known)) => expire_until_with(io, schema, earliest, end, known).await,
        None => Ok(ExpireReport::default()),
    }
}

/// The snapshots `config` would expire now: `[earliest, end)` (empty when `end <= earliest`),
/// without deleting anything.
pub(crate) async fn expiry_preview(io: &FileIO, config: &ExpireConfig) -> Result<Option<(i64, i64)>> {
    Ok(plan_expiry(io, config).await?.map(|(earliest, end, _)| (earliest, end)))
}

/// `[earliest, end)` to expire, and the snapshots read on the way; None for an empty table.
async fn plan_expiry(io: &FileIO, config: &ExpireConfig) -> Result<Option<(i64, i64, HashMap<i64, Snapshot>)>> {
    config.check("")?;
    let sm = SnapshotManager::new(io.clone());
    let (Some(latest), Some(earliest)) = (sm.latest_id().await?, sm.earliest_id().await?) else {
        return Ok(None);
    };
    // The first snapshot 'snapshot.num-retained.max' keeps.
    let min = (latest - config.retain_max + 1).max(earliest);
    // Expire below this: 'snapshot.num-retained.min', 'snapshot.expire.limit', consumers.
    let mut max_exclusive = (latest - config.retain_min + 1).min(earliest.saturating_add(config.max_deletes));
    if max_exclusive > earliest {
        if let Some(next) = ConsumerManager::new(io.clone()).min_next_snapshot().await? {
            max_exclusive = max_exclusive.min(next);
        }
    }
    // 'snapshot.time-retained': stop at the first snapshot young enough. Snapshots are read
    // ahead concurrently and handed on, so none is read twice.
    let retained_ms = i64::try_from(config.time_retained.as_millis()).unwrap_or(i64::MAX);
    let older_than = chrono::Utc::now().timestamp_millis().saturating_sub(retained_ms);
    let mut end = max_exclusive;
    let mut known: HashMap<i64, Snapshot> = HashMap::new();
    let mut ahead = stream::iter(min..max_exclusive.max(min))
        .map(|id| {
            let sm = sm.clone();
            async move { read_if_present(&sm, id).await }
        })
        .buffered(READ_AHEAD);
    while let Some(s) = ahead.next().await {
        if let Some(s) = s? {
            if older_than <= s.time_millis {
                end = s.id;
                break;
            }
            known.insert(s.id, s);
        }
    }
    drop(ahead);
    Ok(Some((earliest, end, known)))
}

const READ_AHEAD: usize = 16;

async fn read_if_present(sm: &SnapshotManager, id: i64) -> Result<Option<Snapshot>> {
    match sm.snapshot(id).await {
        Ok(s) => Ok(Some(s)),
        Err(Error::SnapshotNotFound(_)) => Ok(None), // expired concurrently
        Err(e) => Err(e),
    }
}

async fn expire_until_with(
    io: &FileIO,
    schema: Arc<TableSchema>,
    earliest: i64,
    end: i64,
    mut known: HashMap<i64, Snapshot>,
) -> Result<ExpireReport> {
    let sm = SnapshotManager::new(io.clone());
    if end <= earliest {
        if !sm.has_earliest_hint().await? {
            sm.write_earliest_hint(earliest).await?;
        }
        return Ok(ExpireReport { earliest: Some(earliest), ..Default::default() });
    }
    let ids: Vec<i64> = sm.snapshot_ids().await?.into_iter().filter(|&id| id < end).collect();
    let expired: Vec<Snapshot> = stream::iter(ids)
        .map(|id| {
            let cached = known.remove(&id);
            let sm = sm.clone();
            async move {
                match cached {
                    Some(s) => Ok(Some(s)),
                    None => read_if_present(&sm, id).await,
                }
            }
        })
        .buffered(READ_AHEAD)
        .try_filter_map(|s| async move { Ok(s) })
        .try_collect()
        .await?;
    let retained = sm.snapshot(end).await?;
    let tags = TagManager::new(io.clone()).tags().await?;

    // What to delete, as Paimon's SnapshotDeletion works it out: the data files the deltas of
    // snapshots (earliest, end] deleted for good, and the changelog files of the expired
    // snapshots, minus what the tags read; the manifests and lists of the expired snapshots
    // minus those of `end` and of the tags. Only deltas, lists and the tags' manifests are read.
    //
    // With a decoupled changelog lifecycle each expired snapshot becomes a long-lived changelog
    // instead, which keeps what streaming readers read: its changelog list, manifests and files;
    // without a changelog producer, also its base and delta lists (with their manifests) and the
    // files writers wrote (`_FILE_SOURCE` APPEND or unknown) that the deltas deleted, which
    // changelog expiry deletes later (Paimon's SnapshotDeletion with `changelogDecoupled`).
    let opts = schema.core_options();
    let decoupled = opts.changelog_lifecycle_decoupled()?;
    let produces = opts.changelog_producer()? != ChangelogProducer::None;
    // Other branches share the table's files: what they reference stays.
    let mut needed = other_branches_files(io, &schema).await?;
    let mut refs = FileReferences::new(io.clone(), schema);
    let tag_snapshots: Vec<&Snapshot> = tags.iter().map(|t| &t.snapshot).collect();
    needed.extend(refs.files_of(&tag_snapshots, Reach::Live, false).await?);
    needed.extend(refs.files_of(&[&retained], Reach::Manifests, false).await?);
    let expired_refs: Vec<&Snapshot> = expired.iter().collect();
    let own = match (decoupled, produces) {
        (false, _) => Reach::Manifests,
        (true, true) => Reach::DataManifests,
        (true, false) => Reach::Index,
    };
    let mut candidates = refs.files_of(&expired_refs, own, true).await?;
    let mut deleting: Vec<&Snapshot> = expired_refs.iter().skip(1).copied().collect();
    deleting.push(&retained);
    let deleted = if decoupled && !produces { Reach::DeletedCompacted } else { Reach::Deleted };
    // Only the data files: the lists these snapshots name are dealt with above.
    candidates.data.extend(refs.files_of(&deleting, deleted, true).await?.data);
    if !decoupled {
        candidates.data.extend(refs.files_of(&expired_refs, Reach::Changelog, true).await?.data);
    }
    let doomed = candidates.minus(&needed);

    // Data files, then manifests and lists, then the long-lived changelogs, then snapshot files
    // (ascending, in waves), then the hint. Each phase completes before the next starts, so a
    // retry after a crash finds what the earlier phases still have to do.
    let mut report = ExpireReport { snapshots_expired: expired.len(), ..Default::default() };
    let data: Vec<String> = doomed.data.iter().chain(doomed.index_files.iter()).cloned().collect();
    report.data_files_deleted = delete_files(io, data).await?;
    let manifests: Vec<String> = doomed.manifests.iter().chain(doomed.index_manifests.iter()).cloned().collect();
    report.manifests_deleted = delete_files(io, manifests).await?;
    if decoupled {
        // Paimon writes `changelog-<id>` (and the changelog LATEST hint) for every expired
        // snapshot, whatever its commit kind, just before deleting the snapshot file.
        let changelogs = ChangelogManager::new(io.clone());
        for s in &expired {
            changelogs.commit(s.id, &s.to_json_string()).await?;
            report.changelogs_written += 1;
        }
    }
    for wave in expired.chunks(READ_AHEAD) {
        let paths: Vec<String> = wave.iter().map(|s| snapshot_path(s.id)).collect();
        delete_files(io, paths).await?;
    }
    sm.write_earliest_hint(end).await?;
    report.earliest = Some(end);
    report.manifest_reads = refs.reads;
    Ok(report)
}
