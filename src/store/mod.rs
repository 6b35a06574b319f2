//! A table's metadata over [`FileIO`]: snapshots, long-lived changelogs,
//! schemas, manifests, tags and consumers.
//! Shared by the write path (commit) and the read path (scan planning).

mod changelogs;
pub(crate) mod consumers;
pub(crate) mod manifests;
mod schemas;
mod snapshots;
mod tags;

pub use changelogs::ChangelogManager;
pub use consumers::{Consumer, ConsumerManager};
pub use manifests::ManifestStore;
pub use schemas::SchemaManager;
pub use snapshots::SnapshotManager;
pub use tags::{Tag, TagManager};

use crate::error::Result;
use crate::io::FileIO;

/// Ids of the files `<dir>/<prefix><id>` present (snapshots, changelogs, schemas), ascending.
async fn numbered_ids(io: &FileIO, dir: &str, prefix: &str) -> Result<Vec<i64>> {
    let mut ids: Vec<i64> = io
        .list(dir)
        .await?
        .into_iter()
        .filter_map(|f| f.name.strip_prefix(prefix).and_then(|n| n.parse().ok()))
        .collect();
    ids.sort_unstable();
    Ok(ids)
}

/// The id a `LATEST` (`step` 1) or `EARLIEST` (`step` -1) hint names, when the file it names
/// exists and its neighbour beyond it (`id + step`) does not; None otherwise (no hint, garbage,
/// or stale), when the caller lists instead. Hints are written best-effort; listing is the truth.
async fn confirmed_hint(io: &FileIO, hint: &str, path_of: fn(i64) -> String, step: i64) -> Result<Option<i64>> {
    let Some(id) = io.read_string(hint).await.ok().and_then(|t| t.trim().parse::<i64>().ok()) else { return Ok(None) };
    Ok((io.exists(&path_of(id)).await? && !io.exists(&path_of(id + step)).await?).then_some(id))
}
