//! Orphan files (Paimon's `remove_orphan_files`): files in the table directory that no
//! snapshot or tag references, e.g. left by a failed commit or a killed writer. Only files older
//! than a guard are deleted (default 1 day, as Paimon), so in-flight commits, whose files are
//! written before their snapshot, are safe.
//!
//! Candidates are files under `manifest/`, `index/` and the bucket directories; metadata
//! (`snapshot/`, `changelog/`, `schema/`, `tag/`, `consumer/`, hints) is never touched. Index
//! files are referenced through the index manifests of snapshots and tags; long-lived changelogs
//! reference what they keep (see [`Reach::LongLived`]).

use std::sync::Arc;
use std::time::Duration;

use crate::error::Result;
use crate::io::FileIO;
use crate::maintenance::file_refs::{delete_files, FileReferences, Reach};
use crate::spec::paths::{INDEX_DIR, MANIFEST_DIR};
use crate::spec::{Snapshot, TableSchema};
use crate::store::{ChangelogManager, SnapshotManager, TagManager};

/// Paimon's default `older_than` for orphan-file removal.
pub const DEFAULT_OLDER_THAN: Duration = Duration::from_secs(24 * 3600);

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrphanReport {
    /// Orphans found (relative paths), sorted; deleted unless it was a dry run.
    pub orphans: Vec<String>,
    pub bytes: u64,
    /// Unreferenced files kept because they are younger than the guard.
    pub too_young: usize,
    pub deleted: usize,
}

/// Finds (and unless `dry_run` deletes) the files under the table that no snapshot, tag or
/// long-lived changelog references and that were last modified before `cutoff` (epoch millis).
pub async fn remove_orphan_files(
    io: &FileIO,
    schema: Arc<TableSchema>,
    cutoff: i64,
    dry_run: bool,
) -> Result<OrphanReport> {
    // List first: a file written after the listing is not a candidate.
    let listing = io.list_recursive("").await?;
    let sm = SnapshotManager::new(io.clone());
    let mut snapshots: Vec<Snapshot> = vec![];
    for id in sm.snapshot_ids().await? {
        match sm.snapshot(id).await {
            Ok(s) => snapshots.push(s),
            Err(crate::Error::SnapshotNotFound(_)) => {} // expired meanwhile
            Err(e) => return Err(e),
        }
    }
    let tags = TagManager::new(io.clone()).tags().await?;
    let mut all: Vec<&Snapshot> = snapshots.iter().collect();
    all.extend(tags.iter().map(|t| &t.snapshot));
    // Strict: a retained snapshot with a missing manifest is damaged, and guessing would delete
    // files it still lists. (After an interrupted expiry, run expire-snapshots again first.)
    let mut refs = FileReferences::new(io.clone(), schema);
    let mut referenced = refs.files_of(&all, Reach::All, false).await?;
    // Long-lived changelogs (decoupled changelog lifecycle) keep their changelog lists, manifests
    // and files, and the base and delta lists still there (Paimon's `getUsedFilesForChangelog`).
    let changelogs = ChangelogManager::new(io.clone()).all().await?;
    referenced.extend(refs.files_of(&changelogs.iter().collect::<Vec<_>>(), Reach::LongLived, false).await?);

    let mut report = OrphanReport::default();
    for (path, status) in listing {
        let first = path.split('/').next().unwrap_or("");
        let candidate = match first {
            MANIFEST_DIR => true,
            INDEX_DIR => true,
            _ => path.split('/').any(|c| c.starts_with("bucket-")),
        };
        if !candidate
            || referenced.data.contains(&path)
            || referenced.manifests.contains(&path)
            || referenced.index_manifests.contains(&path)
            || referenced.index_files.contains(&path)
        {
            continue;
        }
        if status.last_modified_millis >= cutoff {
            report.too_young += 1;
            continue;
        }
        report.bytes += status.size;
        report.orphans.push(path);
    }
    report.orphans.sort();
    if !dry_run {
        report.deleted = delete_files(io, report.orphans.iter().cloned()).await?;
    }
    Ok(report)
}
