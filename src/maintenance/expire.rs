//! Snapshot expiry, with Paimon's options and semantics (`ExpireSnapshotsImpl` in 0.9):
//!
//! - keep at most `snapshot.num-retained.max` snapshots, at least `snapshot.num-retained.min`,
//!   and every snapshot younger than `snapshot.time-retained`; expire at most
//!   `snapshot.expire.limit` per run; never expire a snapshot a consumer
//!   (`consumer/consumer-<id>`) will read next, nor anything after it;
//! - expiring `[earliest, end)` deletes the files those snapshots reference that neither the
//!   first retained snapshot `end` nor any tag reads, then their manifests and lists, then the
//!   snapshot files (ascending), then writes the `EARLIEST` hint.
//!
//! Why the first retained snapshot suffices: a file's (and a manifest's) life is one contiguous
//! run of snapshots, so a file an expired snapshot references that any later snapshot still
//! reads is read by `end` too. Tags can be anywhere, so every tag is checked.
//!
//! Interrupted expiry: the retained snapshots and tags are never touched, so the table stays
//! readable; running expiry again finishes the job (files already gone are skipped, manifests
//! already deleted are tolerated when reading what expired snapshots referenced).

use std::sync::Arc;
use std::time::Duration;

use futures::stream::{self, StreamExt, TryStreamExt};

use crate::error::{Error, Result};
use crate::io::FileIO;
use crate::maintenance::file_refs::{delete_files, FileReferences, Reach};
use crate::spec::options::CoreOptions;
use crate::spec::{Snapshot, TableSchema};
use crate::store::{ConsumerManager, SnapshotManager, TagManager};
use crate::write::commit::AfterCommit;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpireConfig {
    pub retain_min: i64,
    pub retain_max: i64,
    pub time_retained: Duration,
    /// `snapshot.expire.limit`.
    pub max_deletes: i64,
}

impl ExpireConfig {
    pub fn from_options(o: &CoreOptions) -> Result<Self> {
        Ok(ExpireConfig {
            retain_min: o.snapshot_num_retained_min()?,
            retain_max: o.snapshot_num_retained_max()?,
            time_retained: o.snapshot_time_retained()?,
            max_deletes: o.snapshot_expire_limit()?,
        })
    }
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
}

/// Expires snapshots of the table at `io` as `config` says.
pub async fn expire_snapshots(io: &FileIO, schema: Arc<TableSchema>, config: &ExpireConfig) -> Result<ExpireReport> {
    if config.retain_max < config.retain_min {
        return Err(Error::InvalidInput(format!(
            "retain max ({}) must be at least retain min ({})",
            config.retain_max, config.retain_min
        )));
    }
    if config.retain_min < 1 {
        return Err(Error::InvalidInput("retain min must be at least 1".into()));
    }
    let sm = SnapshotManager::new(io.clone());
    let (Some(latest), Some(earliest)) = (sm.latest_id().await?, sm.earliest_id().await?) else {
        return Ok(ExpireReport::default());
    };
    // The first snapshot 'snapshot.num-retained.max' keeps.
    let min = (latest - config.retain_max + 1).max(earliest);
    // Expire below this: 'snapshot.num-retained.min', consumers, 'snapshot.expire.limit'.
    let mut max_exclusive = latest - config.retain_min + 1;
    if let Some(next) = ConsumerManager::new(io.clone()).min_next_snapshot().await? {
        max_exclusive = max_exclusive.min(next);
    }
    max_exclusive = max_exclusive.min(earliest.saturating_add(config.max_deletes));
    // 'snapshot.time-retained': stop at the first snapshot young enough.
    let retained_ms = i64::try_from(config.time_retained.as_millis()).unwrap_or(i64::MAX);
    let older_than = chrono::Utc::now().timestamp_millis().saturating_sub(retained_ms);
    let mut end = max_exclusive;
    for id in min..max_exclusive {
        match sm.snapshot(id).await {
            Ok(s) if older_than <= s.time_millis => {
                end = id;
                break;
            }
            Ok(_) | Err(Error::SnapshotNotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    expire_until(io, schema, earliest, end).await
}

/// Expires every snapshot in `[earliest, end)`; `end` is retained.
pub async fn expire_until(io: &FileIO, schema: Arc<TableSchema>, earliest: i64, end: i64) -> Result<ExpireReport> {
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
            let sm = sm.clone();
            async move {
                match sm.snapshot(id).await {
                    Ok(s) => Ok(Some(s)),
                    Err(Error::SnapshotNotFound(_)) => Ok(None), // expired concurrently
                    Err(e) => Err(e),
                }
            }
        })
        .buffered(16)
        .try_filter_map(|s| async move { Ok(s) })
        .try_collect()
        .await?;
    let retained = sm.snapshot(end).await?;
    let tags = TagManager::new(io.clone()).tags().await?;

    let mut refs = FileReferences::new(io.clone(), schema);
    let mut keepers: Vec<&Snapshot> = vec![&retained];
    keepers.extend(tags.iter().map(|t| &t.snapshot));
    let needed = refs.files_of(&keepers, Reach::Live, false).await?;
    let candidates = refs.files_of(&expired.iter().collect::<Vec<_>>(), Reach::All, true).await?;
    let doomed = candidates.minus(&needed);
    if let Some(index) = doomed.index_manifests.iter().next() {
        return Err(Error::Unsupported(format!(
            "expiring snapshots {earliest}..{end} would drop index manifest {index} (deletion vectors or \
             dynamic-bucket index), whose index files shoal cannot read yet; nothing was deleted"
        )));
    }

    let mut report = ExpireReport { snapshots_expired: expired.len(), ..Default::default() };
    report.data_files_deleted = delete_files(io, doomed.data.iter().cloned()).await?;
    let mut doomed_manifests = doomed.manifests;
    for s in &expired {
        let mine: Vec<String> =
            refs.cached_manifests_of(s).into_iter().filter(|m| doomed_manifests.remove(m)).collect();
        report.manifests_deleted += delete_files(io, mine).await?;
        sm.delete(s.id).await?;
    }
    // Manifests of snapshots that had vanished meanwhile are covered by the loop above; anything
    // left was named by an expired snapshot only.
    report.manifests_deleted += delete_files(io, doomed_manifests).await?;
    sm.write_earliest_hint(end).await?;
    report.earliest = Some(end);
    report.manifest_reads = refs.reads;
    Ok(report)
}

/// The post-commit hook Paimon runs after every successful commit (unless `write-only`): expiry
/// with the table's options.
pub fn after_commit_hook(io: FileIO, schema: Arc<TableSchema>) -> Result<Option<AfterCommit>> {
    let opts = schema.core_options();
    if opts.write_only()? {
        return Ok(None);
    }
    let config = ExpireConfig::from_options(&opts)?;
    Ok(Some(Arc::new(move |_snapshot_id| {
        let io = io.clone();
        let schema = schema.clone();
        let config = config.clone();
        Box::pin(async move { expire_snapshots(&io, schema, &config).await.map(|_| ()) })
    })))
}
