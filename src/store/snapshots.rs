//! Finding and reading snapshots. Listing `snapshot/` is the truth; the `LATEST` and `EARLIEST`
//! hints are written best-effort and only trusted after checking the next id is absent.

use crate::error::{Error, Result};
use crate::io::FileIO;
use crate::spec::paths::{earliest_hint_path, latest_hint_path, snapshot_path, SNAPSHOT_DIR};
use crate::spec::Snapshot;

#[derive(Clone, Debug)]
pub struct SnapshotManager {
    io: FileIO,
}

impl SnapshotManager {
    pub fn new(io: FileIO) -> Self {
        SnapshotManager { io }
    }

    /// Ids of every snapshot file present, ascending.
    pub async fn snapshot_ids(&self) -> Result<Vec<i64>> {
        super::numbered_ids(&self.io, SNAPSHOT_DIR, "snapshot-").await
    }

    /// The newest snapshot: the `LATEST` hint, confirmed by the absence of the next snapshot,
    /// else by listing.
    pub async fn latest_id(&self) -> Result<Option<i64>> {
        match super::confirmed_hint(&self.io, &latest_hint_path(), snapshot_path, 1).await? {
            Some(id) => Ok(Some(id)),
            None => Ok(self.snapshot_ids().await?.last().copied()),
        }
    }

    /// The oldest snapshot: the `EARLIEST` hint, confirmed by the snapshot existing and its
    /// predecessor not, else by listing.
    pub async fn earliest_id(&self) -> Result<Option<i64>> {
        match super::confirmed_hint(&self.io, &earliest_hint_path(), snapshot_path, -1).await? {
            Some(id) => Ok(Some(id)),
            None => Ok(self.snapshot_ids().await?.first().copied()),
        }
    }

    pub async fn exists(&self, id: i64) -> Result<bool> {
        Ok(self.io.exists(&snapshot_path(id)).await?)
    }

    /// The snapshot file's text as stored (tags copy it verbatim).
    pub async fn snapshot_json(&self, id: i64) -> Result<String> {
        match self.io.read_string(&snapshot_path(id)).await {
            Ok(t) => Ok(t),
            Err(crate::io::IoError::NotFound { .. }) => Err(Error::SnapshotNotFound(id)),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn snapshot(&self, id: i64) -> Result<Snapshot> {
        let path = snapshot_path(id);
        let text = self.snapshot_json(id).await?;
        let snap = Snapshot::from_json_str(&text, &format!("{}/{path}", self.io.uri()))?;
        if snap.id != id {
            return Err(crate::spec::SpecError::corrupt(
                "snapshot",
                format!("{}/{path}", self.io.uri()),
                format!("file holds snapshot id {}", snap.id),
            )
            .into());
        }
        Ok(snap)
    }

    pub async fn latest(&self) -> Result<Option<Snapshot>> {
        match self.latest_id().await? {
            None => Ok(None),
            Some(id) => Ok(Some(self.snapshot(id).await?)),
        }
    }

    /// Publishes a snapshot atomically; `Ok(false)` when another commit took the id first.
    /// Callers check that the created snapshot is on the table's chain (see
    /// `TableCommit::published_off_chain`) before [`Self::publish_hints`].
    pub async fn create(&self, snapshot: &Snapshot) -> Result<bool> {
        self.io.verify_atomic_create().await?;
        Ok(self.io.create_new(&snapshot_path(snapshot.id), snapshot.to_json_string()).await?)
    }

    /// The `LATEST` (and for the first snapshot `EARLIEST`) hints after a commit. Hints are
    /// best-effort: a failure here never fails the commit.
    pub async fn publish_hints(&self, snapshot: &Snapshot) {
        let _ = self.io.write(&latest_hint_path(), snapshot.id.to_string()).await;
        if snapshot.id == 1 {
            let _ = self.io.write(&earliest_hint_path(), "1").await;
        }
    }

    /// The newest snapshot committed at or before `time_millis` (Paimon's
    /// `earlierOrEqualTimeMills`), found by binary search over the contiguous retained ids.
    pub async fn earlier_or_equal_time(&self, time_millis: i64) -> Result<Option<Snapshot>> {
        let (Some(earliest), Some(latest)) = (self.earliest_id().await?, self.latest_id().await?) else {
            return Ok(None);
        };
        let first = self.snapshot(earliest).await?;
        if first.time_millis > time_millis {
            return Ok(None);
        }
        let (mut lo, mut hi, mut best) = (earliest + 1, latest, first);
        while lo <= hi {
            let mid = lo + (hi - lo) / 2;
            let s = self.snapshot(mid).await?;
            if s.time_millis <= time_millis {
                lo = mid + 1;
                best = s;
            } else {
                hi = mid - 1;
            }
        }
        Ok(Some(best))
    }

    /// Deletes a snapshot file (absent is fine).
    pub async fn delete(&self, id: i64) -> Result<()> {
        Ok(self.io.delete(&snapshot_path(id)).await?)
    }

    /// Writes (or publishes) a snapshot file verbatim, only if absent.
    pub async fn create_from_json(&self, id: i64, json: String) -> Result<bool> {
        Ok(self.io.create_new(&snapshot_path(id), json).await?)
    }

    pub async fn write_earliest_hint(&self, id: i64) -> Result<()> {
        Ok(self.io.write(&earliest_hint_path(), id.to_string()).await?)
    }

    pub async fn write_latest_hint(&self, id: i64) -> Result<()> {
        Ok(self.io.write(&latest_hint_path(), id.to_string()).await?)
    }

    pub async fn has_earliest_hint(&self) -> Result<bool> {
        Ok(self.io.exists(&earliest_hint_path()).await?)
    }

    /// The newest snapshot committed by `commit_user`, scanning back from the latest.
    pub async fn latest_of_user(&self, commit_user: &str) -> Result<Option<Snapshot>> {
        for id in self.snapshot_ids().await?.into_iter().rev() {
            match self.snapshot(id).await {
                Ok(s) if s.commit_user == commit_user => return Ok(Some(s)),
                Ok(_) => {}
                Err(Error::SnapshotNotFound(_)) => {} // expired meanwhile
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }
}
