//! Long-lived changelogs (Paimon's decoupled changelog lifecycle, `changelog.num-retained.*`,
//! `changelog.time-retained`): when snapshot expiry removes snapshot N of a table whose changelog
//! outlives its snapshots, it writes the snapshot's JSON to `changelog/changelog-N` (Paimon's
//! `Changelog`, a snapshot under another name), so that streaming readers can still read N's
//! changes. `changelog/LATEST` is rewritten with each changelog written, `changelog/EARLIEST` by
//! changelog expiry. As for snapshots, listing is the truth and the hints are only trusted after a
//! check.

use crate::error::{Error, Result};
use crate::io::{FileIO, IoError};
use crate::spec::paths::{
    changelog_earliest_hint_path, changelog_latest_hint_path, changelog_path, CHANGELOG_DIR, CHANGELOG_PREFIX,
};
use crate::spec::{Snapshot, SpecError};

#[derive(Clone, Debug)]
pub struct ChangelogManager {
    io: FileIO,
}

impl ChangelogManager {
    pub fn new(io: FileIO) -> Self {
        ChangelogManager { io }
    }

    /// Ids of every long-lived changelog present, ascending.
    pub async fn ids(&self) -> Result<Vec<i64>> {
        super::numbered_ids(&self.io, CHANGELOG_DIR, CHANGELOG_PREFIX).await
    }

    /// The newest long-lived changelog: the `LATEST` hint when that changelog exists and the next
    /// does not, else by listing.
    pub async fn latest_id(&self) -> Result<Option<i64>> {
        match super::confirmed_hint(&self.io, &changelog_latest_hint_path(), changelog_path, 1).await? {
            Some(id) => Ok(Some(id)),
            None => Ok(self.ids().await?.last().copied()),
        }
    }

    /// The oldest long-lived changelog: the `EARLIEST` hint when that changelog exists and the
    /// one before does not, else by listing.
    pub async fn earliest_id(&self) -> Result<Option<i64>> {
        match super::confirmed_hint(&self.io, &changelog_earliest_hint_path(), changelog_path, -1).await? {
            Some(id) => Ok(Some(id)),
            None => Ok(self.ids().await?.first().copied()),
        }
    }

    pub async fn exists(&self, id: i64) -> Result<bool> {
        Ok(self.io.exists(&changelog_path(id)).await?)
    }

    /// Changelog `id`, or None when there is no such file.
    pub async fn changelog(&self, id: i64) -> Result<Option<Snapshot>> {
        let path = changelog_path(id);
        let text = match self.io.read_string(&path).await {
            Ok(t) => t,
            Err(IoError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let where_ = format!("{}/{path}", self.io.uri());
        let c = Snapshot::from_json_str(&text, &where_)?;
        if c.id != id {
            return Err(SpecError::corrupt("changelog", where_, format!("file holds snapshot id {}", c.id)).into());
        }
        Ok(Some(c))
    }

    /// Changelog `id`, which must exist.
    pub async fn get(&self, id: i64) -> Result<Snapshot> {
        self.changelog(id).await?.ok_or_else(|| {
            Error::InvalidInput(format!("changelog {id} ({}/{}) does not exist", self.io.uri(), changelog_path(id)))
        })
    }

    /// Writes `changelog/changelog-<id>` with the snapshot's JSON (Paimon's `commitChangelog`),
    /// then the `LATEST` hint. An existing file is overwritten: it holds the same snapshot (an
    /// expiry that was interrupted and runs again).
    pub async fn commit(&self, id: i64, snapshot_json: &str) -> Result<()> {
        self.io.write(&changelog_path(id), snapshot_json.to_string()).await?;
        self.write_latest_hint(id).await
    }

    pub async fn delete(&self, id: i64) -> Result<()> {
        Ok(self.io.delete(&changelog_path(id)).await?)
    }

    pub async fn write_latest_hint(&self, id: i64) -> Result<()> {
        Ok(self.io.write(&changelog_latest_hint_path(), id.to_string()).await?)
    }

    pub async fn write_earliest_hint(&self, id: i64) -> Result<()> {
        Ok(self.io.write(&changelog_earliest_hint_path(), id.to_string()).await?)
    }

    /// Every long-lived changelog, ascending (those deleted while listing are skipped).
    pub async fn all(&self) -> Result<Vec<Snapshot>> {
        let mut out = vec![];
        for id in self.ids().await? {
            if let Some(c) = self.changelog(id).await? {
                out.push(c);
            }
        }
        Ok(out)
    }
}
