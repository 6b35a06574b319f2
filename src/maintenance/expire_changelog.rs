//! Expiry of long-lived changelogs (Paimon's `ExpireChangelogImpl` and `ChangelogDeletion` in
//! 0.9), for tables whose changelog outlives its snapshots (`changelog.num-retained.min`,
//! `changelog.num-retained.max`, `changelog.time-retained` retaining more than the snapshot
//! options; see [`crate::store::ChangelogManager`]). It runs after snapshot expiry, after every
//! commit of such a table, and on demand.
//!
//! Which changelogs go (ids count over snapshots and changelogs together, as in Paimon):
//!
//! ```text
//! min          = max(latestSnapshot - changelogRetainMax + 1, earliestChangelog)
//! maxExclusive = latestSnapshot - changelogRetainMin + 1
//! maxExclusive = min(maxExclusive, min(consumer nextSnapshot))
//! maxExclusive = min(maxExclusive, earliestChangelog + snapshot.expire.limit)
//! maxExclusive = min(maxExclusive, latestChangelog)      # the newest changelog always stays
//! end = first id in [min, maxExclusive] whose changelog is younger than changelog.time-retained,
//!       else maxExclusive
//! expire changelogs [earliestChangelog, end)
//! ```
//!
//! What goes with them: their changelog files (the changelog manifests' ADD entries) and, where
//! their delta lists still exist (tables without a changelog producer), the files their deltas
//! deleted for good, which snapshot expiry left for the changelogs to read; then their changelog,
//! delta and base lists that still exist and the manifests in them. Never what a tag reads, nor
//! the lists and manifests of changelog `end` and of the earliest snapshot (a manifest's life is a
//! contiguous run of snapshots, so anything an expired changelog shares with a later one is
//! theirs too). Index manifests are not touched: they went with their snapshots. Then the
//! changelog files (ascending) and the `changelog/EARLIEST` hint = `end`.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::io::FileIO;
use crate::maintenance::branches::other_branches_files;
use crate::maintenance::expire::ExpireConfig;
use crate::maintenance::file_refs::{delete_files, FileReferences, Reach};
use crate::spec::{Snapshot, TableSchema};
use crate::store::{ChangelogManager, ConsumerManager, SnapshotManager, TagManager};

/// What one changelog expiry run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChangelogExpireReport {
    pub changelogs_expired: usize,
    pub data_files_deleted: usize,
    /// Manifests and manifest lists.
    pub manifests_deleted: usize,
    /// The earliest long-lived changelog afterwards (None when there is none).
    pub earliest: Option<i64>,
}

/// Expires long-lived changelogs of the table at `io` as `config` says.
pub(super) async fn expire_changelogs(
    io: &FileIO,
    schema: Arc<TableSchema>,
    config: &ExpireConfig,
) -> Result<ChangelogExpireReport> {
    config.check("changelog ")?;
    let sm = SnapshotManager::new(io.clone());
    let cm = ChangelogManager::new(io.clone());
    let (Some(latest), Some(_)) = (sm.latest_id().await?, sm.earliest_id().await?) else {
        return Ok(ChangelogExpireReport::default());
    };
    let (Some(earliest_cl), Some(latest_cl)) = (cm.earliest_id().await?, cm.latest_id().await?) else {
        return Ok(ChangelogExpireReport::default());
    };
    let min = (latest - config.retain_max + 1).max(earliest_cl);
    let mut max_exclusive = latest - config.retain_min + 1;
    if let Some(next) = ConsumerManager::new(io.clone()).min_next_snapshot().await? {
        max_exclusive = max_exclusive.min(next);
    }
    max_exclusive = max_exclusive.min(earliest_cl.saturating_add(config.max_deletes)).min(latest_cl);
    let retained_ms = i64::try_from(config.time_retained.as_millis()).unwrap_or(i64::MAX);
    let older_than = chrono::Utc::now().timestamp_millis().saturating_sub(retained_ms);
    let mut end = max_exclusive;
    for id in min..=max_exclusive {
        if let Some(c) = cm.changelog(id).await? {
            if older_than <= c.time_millis {
                end = id;
                break;
            }
        }
    }
    expire_changelogs_until(io, schema, earliest_cl, end).await
}

/// Expires the long-lived changelogs in `[earliest, end)`; `end` is retained.
pub(super) async fn expire_changelogs_until(
    io: &FileIO,
    schema: Arc<TableSchema>,
    earliest: i64,
    end: i64,
) -> Result<ChangelogExpireReport> {
    let cm = ChangelogManager::new(io.clone());
    if end <= earliest {
        // Nothing to expire; Paimon still writes the hint (shoal: when it is missing).
        if end == earliest && !io.exists(&crate::spec::paths::changelog_earliest_hint_path()).await? {
            cm.write_earliest_hint(earliest).await?;
        }
        return Ok(ChangelogExpireReport { earliest: Some(earliest), ..Default::default() });
    }
    let mut expired: Vec<Snapshot> = vec![];
    for id in cm.ids().await?.into_iter().filter(|&id| id >= earliest && id < end) {
        if let Some(c) = cm.changelog(id).await? {
            expired.push(c);
        }
    }
    let sm = SnapshotManager::new(io.clone());
    // What stays: changelog `end` (or the snapshot, if it is one), the earliest snapshot, tags.
    let retained = match cm.changelog(end).await? {
        Some(c) => Some(c),
        None => match sm.snapshot(end).await {
            Ok(s) => Some(s),
            Err(Error::SnapshotNotFound(_)) => None,
            Err(e) => return Err(e),
        },
    };
    let earliest_snapshot = match sm.earliest_id().await? {
        Some(id) => Some(sm.snapshot(id).await?),
        None => None,
    };
    let tags = TagManager::new(io.clone()).tags().await?;

    let branches_need = other_branches_files(io, &schema).await?;
    let mut refs = FileReferences::new(io.clone(), schema);
    let tag_snapshots: Vec<&Snapshot> = tags.iter().map(|t| &t.snapshot).collect();
    let mut needed = refs.files_of(&tag_snapshots, Reach::Live, false).await?;
    needed.extend(branches_need);
    needed.extend(refs.files_of(&retained.iter().collect::<Vec<_>>(), Reach::LongLived, true).await?);
    needed.extend(refs.files_of(&earliest_snapshot.iter().collect::<Vec<_>>(), Reach::Manifests, false).await?);
    let expired_refs: Vec<&Snapshot> = expired.iter().collect();
    // The lists and manifests of the expired changelogs (those still there), without data ...
    let mut candidates = refs.files_of(&expired_refs, Reach::LongLived, true).await?;
    candidates.data.clear();
    // ... then their changelog files and what their deltas deleted for good.
    let mut files = refs.files_of(&expired_refs, Reach::Changelog, true).await?;
    files.extend(refs.files_of(&expired_refs, Reach::Deleted, true).await?);
    candidates.data.extend(files.data);
    let doomed = candidates.minus(&needed);

    let mut report = ChangelogExpireReport { changelogs_expired: expired.len(), ..Default::default() };
    report.data_files_deleted = delete_files(io, doomed.data).await?;
    report.manifests_deleted = delete_files(io, doomed.manifests).await?;
    // Ascending, one at a time: an interrupted run leaves the retained changelogs contiguous.
    for c in &expired {
        cm.delete(c.id).await?;
    }
    cm.write_earliest_hint(end).await?;
    report.earliest = cm.earliest_id().await?;
    Ok(report)
}
