//! After a writer's commit: the buckets whose compaction the commit dropped are brought back in
//! step with the table, and compacted again where rows wait for a compaction to be read.

use super::TableCommit;
use crate::error::Result;
use crate::write::TableWrite;

/// How many times [`TableCommit::settle`] compacts a bucket again after its compaction was
/// dropped, before it leaves the bucket's level-0 files to a later commit or a compactor.
const REDO_TRIES: usize = 3;

impl TableCommit {
    /// Settles a commit of `write`'s messages by this committer: the buckets whose compaction it
    /// dropped (another writer or a compactor compacted them first) are reloaded from the table
    /// (see [`TableWrite::reload_buckets`]). Where level-0 rows wait for a compaction to be read
    /// (deletion vectors, first-row, `changelog-producer = lookup`), those buckets are compacted
    /// again on the fresh view and committed under `identifier` (None: a batch commit), up to
    /// [`REDO_TRIES`] times; a bucket that loses every time keeps its rows on level 0 for the
    /// next commit or a compactor. Call it after every commit of a writer that goes on (or whose
    /// rows should be readable at once); returns how many compactions were dropped.
    pub async fn settle(&self, write: &mut TableWrite, identifier: Option<i64>) -> Result<usize> {
        let mut dropped_total = 0;
        for attempt in 0..=REDO_TRIES {
            let dropped = self.take_dropped_compactions();
            if dropped.is_empty() {
                break;
            }
            dropped_total += dropped.len();
            write.reload_buckets(&dropped).await?;
            if attempt == REDO_TRIES || !write.compacts_level0_at_commit() {
                break;
            }
            let messages = write.compact_buckets(&dropped).await?;
            self.commit_compactions(identifier, messages).await?;
        }
        Ok(dropped_total)
    }
}
