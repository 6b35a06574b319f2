//! Tags: create (on the latest or a given snapshot), delete, list. A tag file is a verbatim copy
//! of the snapshot file, so it shares the snapshot's manifests and data files (no copies), and
//! expiry keeps whatever a tag reads.
//!
//! Deleting a tag whose snapshot still exists only removes the tag file (the snapshot keeps the
//! files). If its snapshot has expired and no other tag names that snapshot, the files only the
//! tag kept are deleted too: its files minus what the earliest snapshot and the other tags read
//! (a file an expired tag shares with a later snapshot is read by the earliest one), and minus
//! what the long-lived changelogs (`changelog/`) keep.
//!
//! Retention (Paimon's `TagTimeExpire`): a tag created with a retention time carries
//! `tagCreateTime` and `tagTimeRetained`; once the local time is past their sum, the tag is
//! deleted as above, after every commit and by [`expire_tags`].

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDateTime;

use crate::error::{Error, Result};
use crate::io::FileIO;
use crate::maintenance::branches::other_branches_files;
use crate::maintenance::file_refs::{delete_files, FileReferences, Reach};
use crate::spec::tag::TagRetention;
use crate::spec::{Snapshot, TableSchema};
use crate::store::{ChangelogManager, SnapshotManager, Tag, TagManager};

/// Tags the latest snapshot, or `snapshot_id`. With `time_retained` the tag records its creation
/// time (now, local wall-clock time as Paimon writes it) and is deleted once that time has passed.
pub(crate) async fn create_tag(
    io: &FileIO,
    name: &str,
    snapshot_id: Option<i64>,
    time_retained: Option<Duration>,
) -> Result<Tag> {
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
    let retention = time_retained.map(|time_retained| TagRetention { create_time: local_now(), time_retained });
    TagManager::new(io.clone()).create(name, &snapshot, &json, retention.as_ref()).await?;
    Ok(Tag {
        name: name.to_string(),
        snapshot,
        create_time: retention.map(|r| r.create_time),
        time_retained: retention.map(|r| r.time_retained),
    })
}

/// The local wall-clock time (Java's `LocalDateTime.now()`, which Paimon stamps tags with).
pub fn local_now() -> NaiveDateTime {
    chrono::Local::now().naive_local()
}

/// What a tag expiry run deleted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TagExpireReport {
    /// The tags deleted, by name.
    pub tags_deleted: Vec<String>,
    pub data_files_deleted: usize,
    pub manifests_deleted: usize,
}

impl TagExpireReport {
    pub(crate) fn add(&mut self, name: &str, r: TagDeleteReport) {
        self.tags_deleted.push(name.to_string());
        self.data_files_deleted += r.data_files_deleted;
        self.manifests_deleted += r.manifests_deleted;
    }
}

/// Deletes every tag whose retention time has passed (Paimon's `TagTimeExpire`), with the
/// files only it kept.
pub(crate) async fn expire_tags(io: &FileIO, schema: Arc<TableSchema>) -> Result<TagExpireReport> {
    expire_tags_at(io, schema, local_now()).await
}

/// [`expire_tags`] as if the local time were `now`.
pub async fn expire_tags_at(io: &FileIO, schema: Arc<TableSchema>, now: NaiveDateTime) -> Result<TagExpireReport> {
    let mut report = TagExpireReport::default();
    for tag in TagManager::new(io.clone()).tags().await? {
        if tag.expires_at().is_some_and(|at| now > at) {
            match delete_tag(io, schema.clone(), &tag.name).await {
                Ok(r) => report.add(&tag.name, r),
                Err(Error::TagNotFound(_)) => {} // deleted meanwhile
                Err(e) => return Err(e),
            }
        }
    }
    Ok(report)
}

/// What deleting a tag removed besides the tag file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TagDeleteReport {
    pub data_files_deleted: usize,
    pub manifests_deleted: usize,
}

pub(crate) async fn delete_tag(io: &FileIO, schema: Arc<TableSchema>, name: &str) -> Result<TagDeleteReport> {
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
    let mut needed = other_branches_files(io, &schema).await?;
    let mut refs = FileReferences::new(io.clone(), schema);
    needed.extend(refs.files_of(&keepers, Reach::Live, false).await?);
    // Long-lived changelogs (decoupled changelog lifecycle) may read what the tag shares with
    // them: its changelog files, and without a producer its delta files and lists.
    let changelogs = ChangelogManager::new(io.clone()).all().await?;
    needed.extend(refs.files_of(&changelogs.iter().collect::<Vec<_>>(), Reach::LongLived, false).await?);
    let doomed = refs.files_of(&[&tag.snapshot], Reach::All, true).await?.minus(&needed);
    Ok(TagDeleteReport {
        data_files_deleted: delete_files(io, doomed.data.into_iter().chain(doomed.index_files)).await?,
        manifests_deleted: delete_files(io, doomed.manifests.into_iter().chain(doomed.index_manifests)).await?,
    })
}
