//! Rollback to a snapshot or a tag (Paimon's `rollbackTo` / `RollbackHelper.cleanLargerThan`):
//! the snapshots and tags after the target are deleted (snapshot files first, latest first, so
//! readers stop seeing them), then the files only they referenced, then the `LATEST` hint is
//! set to the target. Rolling back to a tag whose snapshot has expired restores the tag as the
//! snapshot file and the `EARLIEST` hint.
//!
//! Long-lived changelogs (`changelog/changelog-<id>`) after the target are deleted too, with the
//! `changelog/LATEST` hint set to the target (-1 when none is left), as Paimon does.
//!
//! The files deleted: everything the dropped snapshots, changelogs and tags read or added, minus
//! what the target, the remaining changelogs and the remaining tags read. (A file the dropped ones share with an older snapshot is
//! read by the target too: a file's life is one contiguous run of snapshots.)

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::io::FileIO;
use crate::maintenance::branches::other_branches_files;
use crate::maintenance::file_refs::{delete_files, FileReferences, Reach};
use crate::spec::paths::tag_path;
use crate::spec::{Snapshot, TableSchema};
use crate::store::{ChangelogManager, SnapshotManager, TagManager};

/// Where to roll back to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RollbackTarget {
    Snapshot(i64),
    Tag(String),
}

impl RollbackTarget {
    /// A number is a snapshot id, anything else a tag name (tag names cannot be all digits).
    pub fn parse(s: &str) -> RollbackTarget {
        match s.trim().parse::<i64>() {
            Ok(id) => RollbackTarget::Snapshot(id),
            Err(_) => RollbackTarget::Tag(s.trim().to_string()),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RollbackReport {
    pub snapshot_id: i64,
    pub snapshots_deleted: usize,
    pub tags_deleted: Vec<String>,
    pub data_files_deleted: usize,
    pub manifests_deleted: usize,
}

pub(crate) async fn rollback(io: &FileIO, schema: Arc<TableSchema>, target: &RollbackTarget) -> Result<RollbackReport> {
    let sm = SnapshotManager::new(io.clone());
    let tm = TagManager::new(io.clone());
    let (retained, tag_json) = match target {
        RollbackTarget::Snapshot(id) => match sm.snapshot(*id).await {
            Ok(s) => (s, None),
            Err(Error::SnapshotNotFound(_)) => {
                return Err(Error::InvalidInput(format!("cannot roll back to snapshot {id}: it does not exist")))
            }
            Err(e) => return Err(e),
        },
        RollbackTarget::Tag(name) => {
            let tag = tm.tag(name).await?;
            let json = io.read_string(&tag_path(name)).await?;
            (tag.snapshot, Some(json))
        }
    };
    let ids: Vec<i64> = sm.snapshot_ids().await?.into_iter().filter(|&id| id > retained.id).collect();
    let mut dropped: Vec<Snapshot> = Vec::with_capacity(ids.len());
    for &id in &ids {
        dropped.push(sm.snapshot(id).await?);
    }
    let (dropped_tags, kept_tags): (Vec<_>, Vec<_>) =
        tm.tags().await?.into_iter().partition(|t| t.snapshot.id > retained.id);

    // Long-lived changelogs after the target go too (Paimon's `cleanLongLivedChangelogDataFiles`);
    // they can only be there when the target is a tag on an expired snapshot.
    let cm = ChangelogManager::new(io.clone());
    let changelog_ids = cm.ids().await?;
    let mut dropped_changelogs: Vec<Snapshot> = vec![];
    for &id in changelog_ids.iter().filter(|&&id| id > retained.id) {
        if let Some(c) = cm.changelog(id).await? {
            dropped_changelogs.push(c);
        }
    }

    let mut needed = other_branches_files(io, &schema).await?;
    let mut refs = FileReferences::new(io.clone(), schema);
    let mut keepers: Vec<&Snapshot> = vec![&retained];
    keepers.extend(kept_tags.iter().map(|t| &t.snapshot));
    needed.extend(refs.files_of(&keepers, Reach::Live, false).await?);
    let kept_changelogs: Vec<Snapshot> = match changelog_ids.iter().any(|&id| id <= retained.id) {
        true => cm.all().await?.into_iter().filter(|c| c.id <= retained.id).collect(),
        false => vec![],
    };
    needed.extend(refs.files_of(&kept_changelogs.iter().collect::<Vec<_>>(), Reach::LongLived, false).await?);
    let mut gone = refs.files_of(&dropped.iter().collect::<Vec<_>>(), Reach::Added, true).await?;
    // A dropped changelog's own files, and without a producer what its delta added.
    let mut changelogs_gone = refs.files_of(&dropped_changelogs.iter().collect::<Vec<_>>(), Reach::Added, true).await?;
    changelogs_gone.index_manifests.clear();
    changelogs_gone.index_files.clear();
    gone.extend(changelogs_gone);
    let mut live_of_dropped: Vec<&Snapshot> = dropped.first().into_iter().collect();
    live_of_dropped.extend(dropped_tags.iter().map(|t| &t.snapshot));
    gone.extend(refs.files_of(&live_of_dropped, Reach::Live, true).await?);
    let doomed = gone.minus(&needed);

    for s in dropped.iter().rev() {
        sm.delete(s.id).await?;
    }
    for c in dropped_changelogs.iter().rev() {
        cm.delete(c.id).await?;
    }
    if !dropped_changelogs.is_empty() {
        // Paimon: the changelog LATEST hint becomes the target, or -1 when no changelog is left.
        let left = changelog_ids.iter().any(|&id| id <= retained.id);
        cm.write_latest_hint(if left { retained.id } else { -1 }).await?;
    }
    for t in &dropped_tags {
        tm.delete_file(&t.name).await?;
    }
    let mut report = RollbackReport {
        snapshot_id: retained.id,
        snapshots_deleted: dropped.len(),
        tags_deleted: dropped_tags.iter().map(|t| t.name.clone()).collect(),
        ..Default::default()
    };
    report.data_files_deleted = delete_files(io, doomed.data.into_iter().chain(doomed.index_files)).await?;
    report.manifests_deleted = delete_files(io, doomed.manifests.into_iter().chain(doomed.index_manifests)).await?;
    if let Some(json) = tag_json {
        if !sm.exists(retained.id).await? {
            // The tag's snapshot had expired: it becomes the table's only snapshot (without the
            // tag's retention fields, as Paimon's `trimToSnapshot`).
            let json = crate::spec::tag::tag_file_json(&json, None, &format!("{}/{}", io.uri(), tag_path_of(target)))?;
            sm.create_from_json(retained.id, json).await?;
            sm.write_earliest_hint(retained.id).await?;
        }
    }
    sm.write_latest_hint(retained.id).await?;
    Ok(report)
}

fn tag_path_of(target: &RollbackTarget) -> String {
    match target {
        RollbackTarget::Tag(name) => tag_path(name),
        RollbackTarget::Snapshot(id) => crate::spec::paths::snapshot_path(*id),
    }
}
