//! Spilling full write buffers to local disk (Paimon's `write-buffer-spillable`): instead of a
//! level-0 file per full buffer, a primary-key writer sorts and merges the buffer as a flush
//! would and writes it as a sorted run into a local scratch directory; at the commit, the
//! bucket's spilled runs are merged (with the merge engine, retractions kept, as level 0 keeps
//! them) into the level-0 files of the table. Fewer, larger level-0 files mean less
//! compaction; memory stays within the buffer, since a merge holds one batch and one small row
//! group per spilled run.
//!
//! Spilled runs are Parquet files in the data-file layout (LZ4, row groups of
//! [`SPILL_ROW_GROUP_ROWS`]), read back by the same merge reader as compactions, over a
//! [`FileIO`] rooted in this process's scratch directory (see [`crate::io::temp`]). When a
//! bucket has `local-sort.max-num-file-handles` runs (at most [`MAX_MERGE_WIDTH`]), they are
//! merged into one spilled run first. The directory goes when the writer is dropped.

use std::sync::Arc;

use parquet::basic::Compression;
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use crate::data_file::{FileWriterConfig, RollingWriter};
use crate::error::{Error, Result};
use crate::io::temp::SPILL_ROW_GROUP_ROWS;
use crate::io::FileIO;
use crate::read::SplitReader;
use crate::spec::{BinaryRow, DataFileMeta, FileSource, TableSchema};
use crate::store::SchemaManager;

/// The most runs merged at once, whatever `local-sort.max-num-file-handles` says: each costs a
/// decoded batch and a row group of memory during the merge.
pub(super) const MAX_MERGE_WIDTH: usize = 16;

/// A spilled run rolls over to a new file past this size. A merge reads each run's files one
/// after the other and holds the footer of the one it is in: with one file per run, a footer
/// (a row group per 4096 rows) grew with the run, and a 40M-row commit merging 16 runs held
/// 16 MiB of footers at its peak. Capped files keep that to a few hundred KiB a run.
pub(super) const SPILL_FILE_BYTES: u64 = 8 << 20;

/// A writer's spill space: a local directory of sorted runs, removed when dropped.
pub(super) struct SpillSpace {
    /// Rooted at this process's scratch directory.
    io: FileIO,
    /// The directory of the runs, relative to `io`, and on disk.
    rel: String,
    dir: std::path::PathBuf,
    cfg: Arc<FileWriterConfig>,
    schemas: SchemaManager,
    schema: Arc<TableSchema>,
    next: std::sync::atomic::AtomicU64,
    /// How many runs a bucket keeps before they are merged into one.
    pub max_runs: usize,
}

impl Drop for SpillSpace {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One spilled sorted run (its files do not overlap).
pub(super) type SpilledRun = Vec<DataFileMeta>;

impl SpillSpace {
    pub(super) fn new(schema: Arc<TableSchema>) -> Result<SpillSpace> {
        let opts = schema.core_options();
        let max_runs = opts.local_sort_max_num_file_handles()?.min(MAX_MERGE_WIDTH);
        let root = crate::io::temp::process_dir()?;
        let rel = format!("spill-{}", uuid::Uuid::new_v4().simple());
        let dir = root.join(&rel);
        std::fs::create_dir_all(&dir)
            .map_err(|e| crate::io::temp::TempError { path: dir.display().to_string(), message: e.to_string() })?;
        let io = FileIO::from_uri(&root.to_string_lossy())?;
        let mut spill_cfg = FileWriterConfig::new(schema.clone())?;
        spill_cfg.props = WriterProperties::builder()
            .set_compression(Compression::LZ4_RAW)
            .set_max_row_group_row_count(Some(SPILL_ROW_GROUP_ROWS))
            .set_dictionary_enabled(false)
            // Nothing reads a spilled run's statistics, and its footer (held while the run is
            // merged) has a row group per 4096 rows: with min/max per column chunk, the footers
            // of one merge grew with the input (16 MiB at a 40M-row commit).
            .set_statistics_enabled(EnabledStatistics::None)
            .set_write_page_header_statistics(false)
            .build();
        spill_cfg.target_file_size = SPILL_FILE_BYTES;
        Ok(SpillSpace {
            schemas: SchemaManager::new(io.clone()),
            io,
            rel,
            dir,
            cfg: Arc::new(spill_cfg),
            schema,
            next: Default::default(),
            max_runs,
        })
    }

    fn names(&self) -> Arc<dyn Fn() -> String + Send + Sync> {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
        Arc::new(move || format!("run-{n}-{}.parquet", counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed)))
    }

    /// A writer of one spilled run (on a blocking thread; made on the runtime).
    pub(super) fn run_writer(&self) -> RollingWriter {
        let schema = crate::spec::data_file::key_value_arrow_schema(&self.schema);
        RollingWriter::new(
            self.cfg.clone(),
            self.io.clone(),
            &self.rel,
            schema,
            0,
            FileSource::Append,
            self.names(),
            None,
        )
    }

    /// Merges `runs` (with the merge engine, retractions kept) into `out`; the runs' files are
    /// deleted after. Runs on a blocking thread.
    pub(super) fn merge_into(&self, runs: Vec<SpilledRun>, out: &mut RollingWriter) -> Result<()> {
        let reader = SplitReader::for_compaction(
            self.io.clone(),
            self.schemas.clone(),
            self.schema.clone(),
            tokio::runtime::Handle::current(),
            false,
        )?
        .with_batch_size(SPILL_ROW_GROUP_ROWS);
        let files: Vec<DataFileMeta> = runs.into_iter().flatten().collect();
        let split = crate::read::DataSplit {
            snapshot_id: 0,
            partition: BinaryRow::empty(),
            bucket: 0,
            bucket_path: self.rel.clone(),
            total_buckets: 0,
            files: files.clone(),
            deletion_vectors: Default::default(),
        };
        reader.try_read_split(&split, &mut |b| out.write(&b).map(|()| true))?;
        for f in files {
            std::fs::remove_file(self.dir.join(&f.file_name)).map_err(|e| {
                Error::LocalDisk(crate::io::temp::TempError { path: f.file_name.clone(), message: e.to_string() })
            })?;
        }
        Ok(())
    }
}
