//! `tag/tag-<name>` files: named, long-lived copies of snapshots (Paimon's TagManager layout).
//! A tag file is the tagged snapshot's JSON, optionally with Paimon's `tagCreateTime` and
//! `tagTimeRetained` fields, which readers ignore.

use crate::error::{Error, Result};
use crate::io::{FileIO, IoError};
use crate::spec::paths::{tag_path, TAG_DIR, TAG_PREFIX};
use crate::spec::Snapshot;

#[derive(Clone, Debug)]
pub struct TagManager {
    io: FileIO,
}

/// A tag: its name and the snapshot it keeps.
#[derive(Clone, Debug, PartialEq)]
pub struct Tag {
    pub name: String,
    pub snapshot: Snapshot,
}

/// Refuses names Paimon cannot round-trip: blank, with a path separator, or all digits (which
/// would be ambiguous with snapshot ids wherever either is accepted).
pub fn validate_tag_name(name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(Error::InvalidInput("a tag name cannot be blank".into()));
    }
    if name.contains('/') || name.contains('\\') {
        return Err(Error::InvalidInput(format!("tag name {name:?} cannot contain a path separator")));
    }
    if name.chars().all(|c| c.is_ascii_digit()) {
        return Err(Error::InvalidInput(format!("tag name {name:?} cannot be all digits (it would read as a snapshot id)")));
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
        let snapshot = Snapshot::from_json_str(&text, &format!("{}/{path}", self.io.uri()))?;
        Ok(Tag { name: name.to_string(), snapshot })
    }

    pub async fn exists(&self, name: &str) -> Result<bool> {
        Ok(self.io.exists(&tag_path(name)).await?)
    }

    /// Writes a tag file holding `snapshot_json` (the snapshot file's own text). Creating a tag
    /// that already exists for the same snapshot is a no-op; for another snapshot it is an error.
    pub async fn create(&self, name: &str, snapshot: &Snapshot, snapshot_json: String) -> Result<()> {
        validate_tag_name(name)?;
        if self.io.create_new(&tag_path(name), snapshot_json).await? {
            return Ok(());
        }
        let existing = self.tag(name).await?;
        if existing.snapshot.id == snapshot.id {
            return Ok(());
        }
        Err(Error::InvalidInput(format!(
            "tag {name:?} already exists (on snapshot {}); delete it first to move it to snapshot {}",
            existing.snapshot.id, snapshot.id
        )))
    }

    /// Removes the tag file only (file cleanup is the caller's business).
    pub async fn delete_file(&self, name: &str) -> Result<()> {
        Ok(self.io.delete(&tag_path(name)).await?)
    }
}
