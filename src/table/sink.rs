//! The streaming sink: checkpoint-driven writes with exactly-once commits (Paimon's Flink sink,
//! without Flink).
//!
//! A streaming job keeps one **commit user** for its whole life (across restarts) and numbers
//! its checkpoints with increasing ids. Per checkpoint:
//!
//! 1. [`StreamingSink::write`] the checkpoint's rows (any number of batches);
//! 2. [`StreamingSink::prepare`]`(checkpoint_id)`: flush the buffers into level-0 files (and
//!    changelog files) and return a [`Committable`]: the commit messages tagged with the
//!    checkpoint id. Compactions keep running in the background and ride along with a later
//!    checkpoint. A job that checkpoints its own state stores the committable with it;
//! 3. [`StreamingSink::commit`]`(committable)`: one snapshot (two if compaction results ride
//!    along) with commit identifier = checkpoint id.
//!
//! A job that tracks event time prepares with [`StreamingSink::prepare_with_watermark`]: the
//! snapshot records the watermark (Paimon's Flink committer passes the checkpoint's watermark),
//! which drives `tag.automatic-creation = watermark`.
//!
//! Exactly-once: a commit whose (commit user, identifier) is already in the table (or a later
//! identifier of that user) is a no-op, [`CommitOutcome::AlreadyCommitted`]. Recovery after a
//! crash therefore never needs to know whether the last commit landed:
//!
//! - crash before `commit` (after `prepare` or during `write`): the files written are not in any
//!   snapshot (orphans, removed by `remove_orphan_files` later); the job restarts from
//!   [`StreamingSink::last_committed`] (its source rewinds to the position stored with that
//!   checkpoint) and re-drives the lost checkpoints;
//! - crash after `commit`, before the job recorded it: re-committing the stored committable, or
//!   re-driving the same checkpoint id, is a no-op.
//!
//! Checkpoint ids must increase across restarts; a committed id never commits again, so a job
//! that re-drives a checkpoint must use the same id for the same input.

use arrow_array::RecordBatch;

use crate::commit::{CommitOutcome, TableCommit};
use crate::error::{Error, Result};
use crate::spec::RowKind;
use crate::table::Table;
use crate::write::{CommitMessage, TableWrite};

/// What one checkpoint wrote, ready to commit.
#[derive(Clone, Debug, PartialEq)]
pub struct Committable {
    pub checkpoint_id: i64,
    pub messages: Vec<CommitMessage>,
    /// The job's watermark at this checkpoint (epoch millis), recorded in the snapshot.
    pub watermark: Option<i64>,
}

pub struct StreamingSink {
    write: TableWrite,
    commit: TableCommit,
    /// The last checkpoint prepared; the next must be greater.
    last_prepared: Option<i64>,
    dropped_compactions: u64,
}

impl StreamingSink {
    /// A sink for `commit_user` (the same user across restarts of one job), writing on top of
    /// the table's latest snapshot.
    pub async fn new(table: &Table, commit_user: &str) -> Result<StreamingSink> {
        if commit_user.trim().is_empty() {
            return Err(Error::InvalidInput("a streaming sink needs a non-empty commit user".into()));
        }
        let commit = table.new_commit(commit_user)?;
        let last = commit.last_committed_identifier().await?;
        Ok(StreamingSink { write: table.new_write().await?, commit, last_prepared: last, dropped_compactions: 0 })
    }

    pub fn commit_user(&self) -> &str {
        self.commit.commit_user()
    }

    /// The last checkpoint id this commit user committed (None: none yet): where a restarted
    /// job resumes.
    pub async fn last_committed(&self) -> Result<Option<i64>> {
        self.commit.last_committed_identifier().await
    }

    pub async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.write.write(batch).await
    }

    pub async fn write_with_kinds(&mut self, batch: &RecordBatch, kinds: &[RowKind]) -> Result<()> {
        self.write.write_with_kinds(batch, Some(kinds)).await
    }

    /// Flushes what was written since the last checkpoint into files and returns what to commit.
    pub async fn prepare(&mut self, checkpoint_id: i64) -> Result<Committable> {
        self.prepare_with_watermark(checkpoint_id, None).await
    }

    /// [`StreamingSink::prepare`] carrying the job's watermark (epoch millis) at this
    /// checkpoint: the snapshot records it (the larger of it and the previous snapshot's).
    pub async fn prepare_with_watermark(&mut self, checkpoint_id: i64, watermark: Option<i64>) -> Result<Committable> {
        if let Some(last) = self.last_prepared {
            if checkpoint_id <= last {
                return Err(Error::InvalidInput(format!(
                    "checkpoint {checkpoint_id} is not after checkpoint {last}, which this commit user already \
                     prepared or committed: checkpoint ids must increase"
                )));
            }
        }
        let messages = self.write.prepare_commit_with(false).await?;
        self.last_prepared = Some(checkpoint_id);
        Ok(Committable { checkpoint_id, messages, watermark })
    }

    /// Commits a checkpoint; a no-op when this commit user already committed it (or a later one).
    /// Its rows always commit; a compaction riding along that another writer or a compactor
    /// overtook (they compacted the same bucket first) is dropped, and the sink reloads that
    /// bucket from the table before it writes on (and compacts it again at once where level-0
    /// rows wait for a compaction: see [`TableCommit::settle`]).
    pub async fn commit(&mut self, committable: Committable) -> Result<CommitOutcome> {
        let id = committable.checkpoint_id;
        let outcome = self.commit.commit_with_watermark(Some(id), committable.watermark, committable.messages).await;
        let settled = self.commit.settle(&mut self.write, Some(id)).await;
        let outcome = outcome?;
        self.dropped_compactions += settled? as u64;
        Ok(outcome)
    }

    /// How many compactions this sink's commits dropped because another commit had compacted
    /// their bucket first (each cost a reload of the bucket; a sink beside a dedicated
    /// compactor should run with `write-only = true`).
    pub fn dropped_compactions(&self) -> u64 {
        self.dropped_compactions
    }

    /// Commits checkpoints restored from a job's state after a restart, in order; the ones
    /// already committed are skipped.
    pub async fn recover(&mut self, mut committables: Vec<Committable>) -> Result<Vec<CommitOutcome>> {
        committables.sort_by_key(|c| c.checkpoint_id);
        let mut out = vec![];
        for c in committables {
            out.push(self.commit(c).await?);
        }
        Ok(out)
    }
}
