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
use crate::maintenance::branches::branch_names;
use crate::maintenance::file_refs::{delete_files, FileReferences, FileSet, Reach};
use crate::spec::paths::{INDEX_DIR, MAIN_BRANCH, MANIFEST_DIR};
use crate::spec::{Snapshot, TableSchema};
use crate::store::{ChangelogManager, SnapshotManager, TagManager};

/// Paimon's default `older_than` for orphan-file removal.
pub(super) const DEFAULT_OLDER_THAN: Duration = Duration::from_secs(24 * 3600);

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
/// Safe beside snapshot expiry: a manifest that vanishes with its expired snapshot meanwhile
/// makes it read the references again.
pub(super) async fn remove_orphan_files(
    io: &FileIO,
    schema: Arc<TableSchema>,
    cutoff: i64,
    dry_run: bool,
) -> Result<OrphanReport> {
    // Every branch's references count, whichever branch `io` is on.
    let io = &io.on_branch(MAIN_BRANCH);
    // List first: a file written after the listing is not a candidate.
    let listing = io.list_recursive("").await?;
    let sm = SnapshotManager::new(io.clone());
    let mut attempt = 0;
    let referenced = loop {
        let earliest = sm.snapshot_ids().await?.first().copied();
        match referenced_files(io, &schema, &sm).await {
            Ok(r) => break r,
            // A manifest that vanished because snapshot expiry removed its snapshot meanwhile
            // (expiry deletes manifests before the snapshot file): read everything again, a
            // few times. With no snapshot expired meanwhile, a missing manifest is damage.
            Err(e @ crate::Error::Io(crate::io::IoError::NotFound { .. })) => {
                attempt += 1;
                let mut moved = sm.snapshot_ids().await?.first().copied() != earliest;
                if !moved {
                    // An expiry may be between deleting the manifests and the snapshot file.
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                    moved = sm.snapshot_ids().await?.first().copied() != earliest;
                }
                if !moved || attempt >= 5 {
                    return Err(e);
                }
            }
            Err(e) => return Err(e),
        }
    };

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

/// The snapshots `sm` lists (those expired while being read are skipped).
async fn retained_snapshots(sm: &SnapshotManager) -> Result<Vec<Snapshot>> {
    let mut snapshots = vec![];
    for id in sm.snapshot_ids().await? {
        match sm.snapshot(id).await {
            Ok(s) => snapshots.push(s),
            Err(crate::Error::SnapshotNotFound(_)) => {} // expired meanwhile
            Err(e) => return Err(e),
        }
    }
    Ok(snapshots)
}

/// The files the retained snapshots, tags and long-lived changelogs reference, the branches'
/// included.
async fn referenced_files(io: &FileIO, schema: &Arc<TableSchema>, sm: &SnapshotManager) -> Result<FileSet> {
    let mut snapshots: Vec<Snapshot> = retained_snapshots(sm).await?;
    let mut tags = TagManager::new(io.clone()).tags().await?;
    let mut changelogs = ChangelogManager::new(io.clone()).all().await?;
    // Branches (`branch/branch-<name>/`) keep snapshots, tags and changelogs of their own over
    // the table's manifests and data files: what they reference is live too.
    for name in branch_names(io).await? {
        let branch = io.on_branch(&name);
        snapshots.extend(retained_snapshots(&SnapshotManager::new(branch.clone())).await?);
        tags.extend(TagManager::new(branch.clone()).tags().await?);
        changelogs.extend(ChangelogManager::new(branch).all().await?);
    }
    let mut all: Vec<&Snapshot> = snapshots.iter().collect();
    all.extend(tags.iter().map(|t| &t.snapshot));
    // Strict: a retained snapshot with a missing manifest is damaged, and guessing would delete
    // files it still lists. (After an interrupted expiry, run expire-snapshots again first.)
    let mut refs = FileReferences::new(io.clone(), schema.clone());
    let mut referenced = refs.files_of(&all, Reach::All, false).await?;
    // Long-lived changelogs (decoupled changelog lifecycle) keep their changelog lists, manifests
    // and files, and the base and delta lists still there (Paimon's `getUsedFilesForChangelog`).
    referenced.extend(refs.files_of(&changelogs.iter().collect::<Vec<_>>(), Reach::LongLived, false).await?);
    Ok(referenced)
}
