//! The writer's compactions: a bucket's universal compaction started in the background after a
//! flush, waited for at a commit (level 0 compacted at every commit with deletion vectors,
//! first-row or the lookup changelog), full compactions every `full-compaction.delta-commits`,
//! and the compactions a commit dropped redone on their own.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::lsm::universal::full_unit;
use crate::spec::{BinaryRow, DataFileMeta};
use crate::write::{CommitMessage, DroppedCompaction};

use super::bucket::{take_message, BucketWriter};
use super::context::WriteContext;
use super::TableWrite;

impl TableWrite {
    /// Whether this writer compacts level 0 at every commit (rows there are not read, or their
    /// changelog not written, until compacted): after a commit dropped one of its compactions,
    /// the bucket is compacted again at once (`TableCommit::settle`).
    pub(crate) fn compacts_level0_at_commit(&self) -> bool {
        self.ctx.compacts_level0_at_commit()
    }

    /// Compacts `buckets` now (what a commit would pick), for a commit of the compactions alone.
    /// A bucket with uncommitted new files is left to the next commit.
    pub(crate) async fn compact_buckets(&mut self, buckets: &[DroppedCompaction]) -> Result<Vec<CommitMessage>> {
        let ctx = self.ctx.clone();
        let mut messages = vec![];
        for d in buckets {
            let Some(w) = self.writers.get_mut(&(d.partition.clone(), d.bucket)) else { continue };
            if !w.new_files.is_empty() {
                continue;
            }
            start_compaction(&ctx, w, true).await?;
            if let Some(handle) = w.compacting.take() {
                w.absorb(handle.await.map_err(Error::join("compacting a bucket"))??);
            }
            let m = take_message(&ctx, &mut self.index_namer, w, self.num_buckets, false).await?;
            if !m.is_empty() {
                messages.push(m);
            }
        }
        Ok(messages)
    }

    /// Compacts every bucket this writer holds into one sorted run on the last level, waiting.
    pub(super) async fn compact_fully(&mut self) -> Result<()> {
        let Some((_, _, rewriter)) = self.ctx.compaction.clone() else { return Ok(()) };
        let ctx = self.ctx.clone();
        for w in self.writers.values_mut() {
            if let Some(handle) = w.compacting.take() {
                w.absorb(handle.await.map_err(Error::join("compacting a bucket"))??);
            }
            let Some(unit) = full_unit(w.levels.max_level(), &w.levels.sorted_runs()) else { continue };
            let path = ctx.bucket_dir(&w.partition, w.bucket)?;
            if let Some(mode) = ctx.lookup {
                let state = w.take_dv_state(&ctx.io, &mode).await?;
                let (r, state) =
                    rewriter.rewrite_with_lookup(&w.partition, w.bucket, &path, unit, vec![], state, mode).await?;
                w.absorb((r, Some(state)));
            } else {
                w.absorb((rewriter.rewrite(&w.partition, w.bucket, &path, unit, true).await?, None));
            }
        }
        Ok(())
    }

    /// In-writer compaction of every bucket (see [`start_compaction`]) but those in `started`,
    /// whose compaction this commit already started. With `wait`, picked compactions run to
    /// completion here.
    pub(super) async fn compact(
        &mut self,
        wait: bool,
        started: &std::collections::HashSet<(BinaryRow, i32)>,
    ) -> Result<()> {
        let ctx = self.ctx.clone();
        for (key, w) in self.writers.iter_mut() {
            if !started.contains(key) {
                start_compaction(&ctx, w, wait).await?;
            }
        }
        if wait {
            for w in self.writers.values_mut() {
                if let Some(handle) = w.compacting.take() {
                    w.absorb(handle.await.map_err(Error::join("compacting a bucket"))??);
                }
            }
        }
        Ok(())
    }
}

/// In-writer compaction of one bucket: collect a finished background compaction (or wait for
/// it when the bucket has reached `num-sorted-run.stop-trigger` runs, or when asked to); then,
/// with no compaction running and at least `num-sorted-run.compaction-trigger` runs, start what
/// universal compaction picks, in the background.
pub(super) async fn start_compaction(ctx: &Arc<WriteContext>, w: &mut BucketWriter, wait: bool) -> Result<()> {
    let Some((strategy, _, rewriter)) = ctx.compaction.clone() else { return Ok(()) };
    let must_wait = wait || w.levels.number_of_sorted_runs() >= ctx.stop_trigger;
    if let Some(handle) = w.compacting.take() {
        if handle.is_finished() || must_wait {
            w.absorb(handle.await.map_err(Error::join("compacting a bucket"))??);
        } else {
            w.compacting = Some(handle);
        }
    }
    // first-row: level-0 rows are invisible until compacted, so a commit that waits compacts
    // them; and only full compactions keep each key in one file above level 0.
    // Deletion vectors: level-0 rows are invisible until compacted with lookups, so a commit
    // that waits compacts them (Paimon's ForceUpLevel0Compaction).
    let first_row = ctx.merge.is_first_row();
    let has_level0 = w.levels.sorted_runs().iter().any(|r| r.level == 0);
    let force = (first_row || ctx.forces_level0()) && wait && has_level0;
    if w.compacting.is_some() || (!force && w.levels.number_of_sorted_runs() < strategy.num_run_trigger) {
        return Ok(());
    }
    let runs = w.levels.sorted_runs();
    let unit = if first_row {
        full_unit(w.levels.max_level(), &runs)
    } else if ctx.forces_level0() {
        strategy.pick_force_level0(w.levels.max_level(), &runs)
    } else {
        strategy.pick(w.levels.max_level(), &runs)
    };
    let Some(unit) = unit else { return Ok(()) };
    let drop_retracts = unit.output_level >= w.levels.non_empty_highest_level();
    let path = ctx.bucket_dir(&w.partition, w.bucket)?;
    let (partition, bucket) = (w.partition.clone(), w.bucket);
    let task_ctx = ctx.clone();
    if let Some(mode) = ctx.lookup {
        let state = w.take_dv_state(&ctx.io, &mode).await?;
        let deeper: Vec<DataFileMeta> =
            w.levels.all_files().into_iter().filter(|f| f.level > unit.output_level).collect();
        w.compacting = Some(tokio::spawn(async move {
            let _slot = task_ctx.job_slot().await?;
            let (r, state) = rewriter.rewrite_with_lookup(&partition, bucket, &path, unit, deeper, state, mode).await?;
            Ok((r, Some(state)))
        }));
    } else {
        w.compacting = Some(tokio::spawn(async move {
            let _slot = task_ctx.job_slot().await?;
            Ok((rewriter.rewrite(&partition, bucket, &path, unit, drop_retracts).await?, None))
        }));
    }
    Ok(())
}
