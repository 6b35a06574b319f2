//! Flushing buffers: a full buffer (the writer over its memory budget) becomes level-0 files,
//! or a sorted run spilled to local disk with `write-buffer-spillable`; at a commit, every
//! bucket's buffer and spilled runs become its level-0 files.

use std::sync::Arc;

use crate::data_file::{DecodedFiles, RollingWriter};
use crate::error::{Error, Result};
use crate::spec::{BinaryRow, DataFileMeta, FileSource};
use crate::write::spill::{SpillSpace, SpilledRun};
use crate::write::write_buffer::{SortedRun, WriteBuffer};

use super::compaction::start_compaction;
use super::context::WriteContext;
use super::TableWrite;

impl TableWrite {
    /// This writer's spill space, made on first use.
    fn spill_space(&mut self) -> Result<Arc<SpillSpace>> {
        if self.spill.is_none() {
            self.spill = Some(Arc::new(SpillSpace::new(self.schema.clone())?));
        }
        Ok(self.spill.clone().expect("made above"))
    }

    pub(super) async fn flush_largest(&mut self) -> Result<()> {
        let Some(key) = self.writers.iter().max_by_key(|(_, w)| w.buffer.rows()).map(|(k, _)| k.clone()) else {
            return Ok(());
        };
        let w = self.writers.get_mut(&key).expect("writer exists");
        let buffer = std::mem::take(&mut w.buffer);
        let (partition, bucket) = (w.partition.clone(), w.bucket);
        let batch_ids = buffer.batch_ids();
        if self.ctx.spillable {
            let space = self.spill_space()?;
            let run = spill(self.ctx.clone(), space.clone(), buffer).await?;
            self.release(&batch_ids);
            let w = self.writers.get_mut(&key).expect("writer exists");
            w.spilled.push(run);
            if w.spilled.len() >= space.max_runs {
                // As many runs as may be merged at once: they become one.
                let runs = std::mem::take(&mut w.spilled);
                let slot = self.ctx.job_slot().await?;
                let merged = tokio::task::spawn_blocking(move || {
                    let _slot = slot;
                    let mut out = space.run_writer();
                    space.merge_into(runs, &mut out)?;
                    out.finish()
                })
                .await
                .map_err(Error::join("merging spilled runs"))??;
                w.spilled.push(merged);
            }
            return Ok(());
        }
        let (files, changelog) = flush(self.ctx.clone(), partition, bucket, buffer, vec![], None).await?;
        self.release(&batch_ids);
        let w = self.writers.get_mut(&key).expect("writer exists");
        for f in &files {
            w.levels.add_level0(f.clone());
        }
        w.new_files.extend(files);
        w.changelog_files.extend(changelog);
        // As Paimon's writer after each flush: compact in the background when the bucket has
        // enough sorted runs (waiting only at `num-sorted-run.stop-trigger`), so a long commit
        // does not pile up level-0 files.
        start_compaction(&self.ctx, w, false).await
    }
}

/// The data files and the changelog files one flush wrote.
type Flushed = (Vec<DataFileMeta>, Vec<DataFileMeta>);

/// Sorts and merges one bucket's buffer, then encodes and uploads its files slice by slice on a
/// blocking thread (and, with `changelog-producer = input`, the unmerged input rows as changelog
/// files).
pub(super) async fn flush(
    ctx: Arc<WriteContext>,
    partition: BinaryRow,
    bucket: i32,
    buffer: WriteBuffer,
    spilled: Vec<SpilledRun>,
    space: Option<Arc<SpillSpace>>,
) -> Result<Flushed> {
    let dir = ctx.bucket_dir(&partition, bucket)?;
    let slot = ctx.job_slot().await?;
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        let c = &ctx;
        type Names = Arc<dyn Fn() -> String + Send + Sync>;
        let writer = |names: Names, keep: Option<DecodedFiles>| {
            RollingWriter::new(
                c.cfg.clone(),
                c.io.clone(),
                &dir,
                c.file_schema.clone(),
                0,
                FileSource::Append,
                names,
                keep,
            )
        };
        let (data_names, changelog_names): (Names, Names) = {
            let (a, b) = (ctx.clone(), ctx.clone());
            (Arc::new(move || a.namer.next()), Arc::new(move || b.namer.next_changelog()))
        };
        let write = |run: &SortedRun, mut w: RollingWriter| -> Result<Vec<DataFileMeta>> {
            run.emit(&c.table_schema, &c.file_schema, &c.key_indices, FLUSH_SLICE_ROWS, &mut |b| w.write(&b))?;
            w.finish()
        };
        // When the writer compacts level 0 at every commit, that compaction reads these files
        // at once: keep their rows at hand. Otherwise a compaction reads them commits later, if
        // ever, and keeping them only held rows (a 12M-row commit kept 48 MiB of its output).
        let keep = c
            .compaction
            .as_ref()
            .filter(|_| c.compacts_level0_at_commit())
            .map(|(_, _, rewriter)| rewriter.decoded.clone());
        if let (false, Some(space)) = (spilled.is_empty(), &space) {
            // Spilled runs and what is still buffered, merged into level 0.
            let mut runs = spilled;
            if !buffer.is_empty() {
                let (run, _) = buffer.into_sorted_run(&c.table_schema, &c.key_indices, &c.merge, false)?;
                runs.push(write(&run, space.run_writer())?);
            }
            let mut out = writer(data_names, keep);
            space.merge_into(runs, &mut out)?;
            return Ok((out.finish()?, vec![]));
        }
        if c.cfg.is_primary_key {
            let (run, changelog) =
                buffer.into_sorted_run(&c.table_schema, &c.key_indices, &c.merge, c.input_changelog)?;
            let changelog = match changelog {
                Some(rows) => write(&rows, writer(changelog_names, None))?,
                None => vec![],
            };
            Ok((write(&run, writer(data_names, keep))?, changelog))
        } else {
            let (run, first_seq) = buffer.into_append_run();
            Ok((write(&run, writer(data_names, None).with_append_sequence(first_seq))?, vec![]))
        }
    })
    .await
    .map_err(Error::join("flushing a write buffer"))?
}

/// Sorts and merges one bucket's full buffer and writes it as a sorted run to local disk.
async fn spill(ctx: Arc<WriteContext>, space: Arc<SpillSpace>, buffer: WriteBuffer) -> Result<SpilledRun> {
    let mut out = space.run_writer();
    let slot = ctx.job_slot().await?;
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        let (run, _) = buffer.into_sorted_run(&ctx.table_schema, &ctx.key_indices, &ctx.merge, false)?;
        run.emit(&ctx.table_schema, &ctx.file_schema, &ctx.key_indices, FLUSH_SLICE_ROWS, &mut |b| out.write(&b))?;
        out.finish()
    })
    .await
    .map_err(Error::join("flushing a write buffer"))?
}

/// Rows assembled at a time when a flush hands its sorted run to the file writer.
const FLUSH_SLICE_ROWS: usize = 8192;
