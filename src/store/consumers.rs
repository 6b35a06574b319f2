//! `consumer/consumer-<id>` files (Paimon's ConsumerManager layout): `{"nextSnapshot": N}`, the
//! next snapshot a streaming reader will read. Snapshot expiry keeps snapshot N and later.
//! With `consumer.expiration-time`, a consumer whose file was not modified for that long is
//! deleted after commits (Paimon's `ConsumerManager.expire`), so it stops holding snapshots.

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::io::FileIO;
use crate::spec::paths::{consumer_path, CONSUMER_DIR, CONSUMER_PREFIX};
use crate::spec::SpecError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Consumer {
    pub next_snapshot: i64,
}

#[derive(Clone, Debug)]
pub struct ConsumerManager {
    io: FileIO,
}

impl ConsumerManager {
    pub fn new(io: FileIO) -> Self {
        ConsumerManager { io }
    }

    /// Every consumer, by id.
    pub async fn consumers(&self) -> Result<Vec<(String, Consumer)>> {
        let mut out = vec![];
        for f in self.io.list(CONSUMER_DIR).await? {
            let Some(id) = f.name.strip_prefix(CONSUMER_PREFIX) else { continue };
            let path = consumer_path(id);
            let text = match self.io.read_string(&path).await {
                Ok(t) => t,
                Err(crate::io::IoError::NotFound { .. }) => continue, // removed meanwhile
                Err(e) => return Err(e.into()),
            };
            let c: Consumer = serde_json::from_str(&text)
                .map_err(|e| SpecError::corrupt("consumer", format!("{}/{path}", self.io.uri()), e.to_string()))?;
            out.push((id.to_string(), c));
        }
        Ok(out)
    }

    /// When each consumer last recorded its progress (its file's modification time, epoch
    /// millis), by id.
    pub async fn last_updates(&self) -> Result<std::collections::HashMap<String, i64>> {
        Ok(self
            .io
            .list(CONSUMER_DIR)
            .await?
            .into_iter()
            .filter_map(|f| f.name.strip_prefix(CONSUMER_PREFIX).map(|id| (id.to_string(), f.last_modified_millis)))
            .collect())
    }

    /// One consumer's progress, if it exists.
    pub async fn consumer(&self, id: &str) -> Result<Option<Consumer>> {
        validate_consumer_id(id)?;
        let path = consumer_path(id);
        let text = match self.io.read_string(&path).await {
            Ok(t) => t,
            Err(crate::io::IoError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let c: Consumer = serde_json::from_str(&text)
            .map_err(|e| SpecError::corrupt("consumer", format!("{}/{path}", self.io.uri()), e.to_string()))?;
        Ok(Some(c))
    }

    /// Deletes every consumer whose file was last modified before `before_millis` (epoch
    /// millis); returns their ids, sorted.
    pub async fn expire(&self, before_millis: i64) -> Result<Vec<String>> {
        let mut gone = vec![];
        for f in self.io.list(CONSUMER_DIR).await? {
            let Some(id) = f.name.strip_prefix(CONSUMER_PREFIX) else { continue };
            if f.last_modified_millis < before_millis {
                self.io.delete(&consumer_path(id)).await?;
                gone.push(id.to_string());
            }
        }
        gone.sort();
        Ok(gone)
    }

    /// The smallest `nextSnapshot` of any consumer.
    pub async fn min_next_snapshot(&self) -> Result<Option<i64>> {
        Ok(self.consumers().await?.into_iter().map(|(_, c)| c.next_snapshot).min())
    }

    /// Records a consumer's progress (Paimon overwrites the file).
    pub async fn reset(&self, id: &str, consumer: Consumer) -> Result<()> {
        validate_consumer_id(id)?;
        let json = serde_json::to_string(&consumer).expect("a consumer always serializes");
        Ok(self.io.write(&consumer_path(id), json).await?)
    }

    pub async fn delete(&self, id: &str) -> Result<()> {
        validate_consumer_id(id)?;
        Ok(self.io.delete(&consumer_path(id)).await?)
    }
}

/// A consumer id names a file: no path separators, not empty.
pub(crate) fn validate_consumer_id(id: &str) -> Result<()> {
    if id.is_empty() || id.contains(['/', '\\']) || id == "." || id == ".." {
        return Err(crate::Error::InvalidInput(format!(
            "consumer id {id:?} is not usable as a file name (consumer/consumer-<id>): no slashes, not empty"
        )));
    }
    Ok(())
}
