//! `tag/tag-<name>` files: named, long-lived copies of snapshots (Paimon's TagManager layout).
//! A tag file is the tagged snapshot's JSON, optionally with Paimon's `tagCreateTime` and
//! `tagTimeRetained` fields (see [`crate::spec::tag`]): a tag with both expires once its
//! retention time has passed since its creation.

use crate::error::{Error, Result};
use crate::io::{FileIO, IoError};
use crate::spec::paths::{tag_path, TAG_DIR, TAG_PREFIX};
use crate::spec::tag::{tag_file_json, TagFields, TagRetention};
use crate::spec::Snapshot;

#[derive(Clone, Debug)]
pub struct TagManager {
    io: FileIO,
}

/// A tag: its name, the snapshot it keeps and, when it has a retention time, when it was
/// created (wall-clock time of the creator's zone, as Paimon writes it) and for how long it is kept.
#[derive(Clone, Debug, PartialEq)]
pub struct Tag {
    pub name: String,
    pub snapshot: Snapshot,
    pub create_time: Option<chrono::NaiveDateTime>,
    pub time_retained: Option<std::time::Duration>,
}

impl Tag {
    /// When the tag's retention time has passed (None without both retention fields).
    pub fn expires_at(&self) -> Option<chrono::NaiveDateTime> {
        let (Some(created), Some(retained)) = (self.create_time, self.time_retained) else { return None };
        Some(
            created
                .checked_add_signed(chrono::Duration::from_std(retained).ok()?)
                .unwrap_or(chrono::NaiveDateTime::MAX),
        )
    }
}

/// Refuses names Paimon cannot round-trip: blank, with a path separator, or all digits (which
/// would be ambiguous with snapshot ids wherever either is accepted).
pub(super) fn validate_tag_name(name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(Error::InvalidInput("a tag name cannot be blank".into()));
    }
    if name.contains('/') || name.contains('\\') {
        return Err(Error::InvalidInput(format!("tag name {name:?} cannot contain a path separator")));
    }
    if name.chars().all(|c| c.is_ascii_digit()) {
        return Err(Error::InvalidInput(format!(
            "tag name {name:?} cannot be all digits (it would read as a snapshot id)"
        )));
    }
    Ok(())
}

impl TagManager {
    pub fn new(io: FileIO) -> Self {
        TagManager { io }
    }

    /// Names of the tags present, sorted.
    pub async fn names(&self) -> Result<Vec<String>> {
        let mut names: Vec<String> = self
            .io
            .list(TAG_DIR)
            .await?
            .into_iter()
            .filter_map(|f| f.name.strip_prefix(TAG_PREFIX).map(str::to_string))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Every tag, ordered by snapshot id then name. A tag deleted while listing is skipped.
    pub async fn tags(&self) -> Result<Vec<Tag>> {
        let mut out = vec![];
        for name in self.names().await? {
            match self.tag(&name).await {
                Ok(t) => out.push(t),
                Err(Error::TagNotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        out.sort_by(|a, b| (a.snapshot.id, &a.name).cmp(&(b.snapshot.id, &b.name)));
        Ok(out)
    }

    pub async fn tag(&self, name: &str) -> Result<Tag> {
        let path = tag_path(name);
        let text = match self.io.read_string(&path).await {
            Ok(t) => t,
            Err(IoError::NotFound { .. }) => return Err(Error::TagNotFound(name.to_string())),
            Err(e) => return Err(e.into()),
        };
        let file = format!("{}/{path}", self.io.uri());
        let snapshot = Snapshot::from_json_str(&text, &file)?;
        let fields = TagFields::from_json_str(&text, &file)?;
        Ok(Tag {
            name: name.to_string(),
            snapshot,
            create_time: fields.create_time,
            time_retained: fields.time_retained,
        })
    }

    pub async fn exists(&self, name: &str) -> Result<bool> {
        Ok(self.io.exists(&tag_path(name)).await?)
    }

    /// Writes a tag file holding `snapshot_json` (the snapshot file's own text) and, with a
    /// retention, Paimon's `tagCreateTime` and `tagTimeRetained`. Creating a tag that already
    /// exists for the same snapshot rewrites its retention fields (as Paimon does); for another
    /// snapshot it is an error.
    pub async fn create(
        &self,
        name: &str,
        snapshot: &Snapshot,
        snapshot_json: &str,
        retention: Option<&TagRetention>,
    ) -> Result<()> {
        validate_tag_name(name)?;
        self.write_tag(name, snapshot, snapshot_json, retention).await
    }

    /// [`TagManager::create`] for names Paimon makes itself: automatic tags may be all digits
    /// (`20240102` with `tag.period-formatter = without_dashes`).
    pub(crate) async fn create_generated(
        &self,
        name: &str,
        snapshot: &Snapshot,
        snapshot_json: &str,
        retention: Option<&TagRetention>,
    ) -> Result<()> {
        if name.trim().is_empty() || name.contains('/') || name.contains('\\') {
            return Err(Error::InvalidInput(format!("generated tag name {name:?} is not a valid file name")));
        }
        self.write_tag(name, snapshot, snapshot_json, retention).await
    }

    async fn write_tag(
        &self,
        name: &str,
        snapshot: &Snapshot,
        snapshot_json: &str,
        retention: Option<&TagRetention>,
    ) -> Result<()> {
        let path = tag_path(name);
        let content =
            tag_file_json(snapshot_json, retention, &format!("{}/snapshot/snapshot-{}", self.io.uri(), snapshot.id))?;
        if self.io.create_new(&path, content.clone()).await? {
            return Ok(());
        }
        let existing = self.tag(name).await?;
        if existing.snapshot.id == snapshot.id {
            if (existing.create_time, existing.time_retained) != (None, None) || retention.is_some() {
                self.io.write(&path, content).await?;
            }
            return Ok(());
        }
        Err(Error::InvalidInput(format!(
            "tag {name:?} already exists (on snapshot {}); delete it first to move it to snapshot {}",
            existing.snapshot.id, snapshot.id
        )))
    }

    /// The tag files' modification times (millis), by name.
    pub async fn modification_times(&self) -> Result<std::collections::HashMap<String, i64>> {
        Ok(self
            .io
            .list(TAG_DIR)
            .await?
            .into_iter()
            .filter_map(|f| f.name.strip_prefix(TAG_PREFIX).map(|n| (n.to_string(), f.last_modified_millis)))
            .collect())
    }

    /// Removes the tag file only (file cleanup is the caller's business).
    pub async fn delete_file(&self, name: &str) -> Result<()> {
        Ok(self.io.delete(&tag_path(name)).await?)
    }
}
