//! Tags: create (on the latest or a given snapshot), delete, list. A tag file is a verbatim copy
//! of the snapshot file, so it shares the snapshot's manifests and data files (no copies), and
//! expiry keeps whatever a tag reads.
//!
//! Deleting a tag whose snapshot still exists only removes the tag file (the snapshot keeps the
//! files). If its snapshot has expired and no other tag names that snapshot, the files only the
//! tag kept are deleted too: its files minus what the earliest snapshot and the other tags read
//! (a file an expired tag shares with a later snapshot is read by the earliest one).

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::io::FileIO;
use crate::maintenance::file_refs::{delete_files, FileReferences, Reach};
use crate::spec::{Snapshot, TableSchema};
use crate::store::{SnapshotManager, Tag, TagManager};

/// Tags the latest snapshot, or `snapshot_id`.
pub async fn create_tag(io: &FileIO, name: &str, snapshot_id: Option<i64>) -> Result<Tag> {
    let sm = SnapshotManager::new(io.clone());
    let id = match snapshot_id {
        Some(id) => id,
        None => sm
            .latest_id()
            .await?
            .ok_or_else(|| Error::InvalidInput(format!("cannot create tag {name:?}: the table has no snapshot yet")))?,
    };
    let json = sm.snapshot_json(id).await?;
    let snapshot = Snapshot::from_json_str(&json, &format!("snapshot-{id}"))?;
    TagManager::new(io.clone()).create(name, &snapshot, json).await?;
    Ok(Tag { name: name.to_string(), snapshot })
}

/// What deleting a tag removed besides the tag file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TagDeleteReport {
    pub data_files_deleted: usize,
    pub manifests_deleted: usize,
}

pub async fn delete_tag(io: &FileIO, schema: Arc<TableSchema>, name: &str) -> Result<TagDeleteReport> {
    let tm = TagManager::new(io.clone());
    let sm = SnapshotManager::new(io.clone());
    let tag = tm.tag(name).await?;
    if sm.exists(tag.snapshot.id).await? {
        tm.delete_file(name).await?;
        return Ok(TagDeleteReport::default());
    }
    // Read every tag before deleting the file (tags are found by listing).
    let others: Vec<Tag> = tm.tags().await?.into_iter().filter(|t| t.name != name).collect();
    tm.delete_file(name).await?;
    if others.iter().any(|t| t.snapshot.id == tag.snapshot.id) {
        return Ok(TagDeleteReport::default());
    }
    let earliest = match sm.earliest_id().await? {
        Some(id) => Some(sm.snapshot(id).await?),
        None => None,
    };
    let mut keepers: Vec<&Snapshot> = others.iter().map(|t| &t.snapshot).collect();
    keepers.extend(earliest.as_ref());
    let mut refs = FileReferences::new(io.clone(), schema);
    let needed = refs.files_of(&keepers, Reach::Live, false).await?;
    let doomed = refs.files_of(&[&tag.snapshot], Reach::All, true).await?.minus(&needed);
    if !doomed.index_manifests.is_empty() {
        // Index files cannot be resolved by shoal: leave them (and say so) rather than guess.
        return Err(Error::Unsupported(format!(
            "tag {name:?} was deleted, but its index manifest (deletion vectors or dynamic-bucket index) \
             cannot be cleaned by shoal; its other files were left for remove-orphan-files"
        )));
    }
    Ok(TagDeleteReport {
        data_files_deleted: delete_files(io, doomed.data).await?,
        manifests_deleted: delete_files(io, doomed.manifests).await?,
    })
}
