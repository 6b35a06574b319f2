//! What every bucket's flushes and compactions of one [`TableWrite`](super::TableWrite) share.

use std::sync::Arc;

use arrow_schema::SchemaRef;

use crate::data_file::{DataFileNamer, FileWriterConfig};
use crate::error::{Error, Result};
use crate::io::FileIO;
use crate::lsm::rewrite::{LookupMode, Rewriter};
use crate::lsm::UniversalCompaction;
use crate::merge::MergeFunction;
use crate::spec::paths::{bucket_dir, partition_path};
use crate::spec::BinaryRow;

/// Everything a flush needs, shared across buckets and blocking threads.
pub(super) struct WriteContext {
    pub(super) io: FileIO,
    pub(super) cfg: Arc<FileWriterConfig>,
    pub(super) table_schema: SchemaRef,
    pub(super) file_schema: SchemaRef,
    pub(super) key_indices: Vec<usize>,
    pub(super) merge: MergeFunction,
    pub(super) namer: DataFileNamer,
    pub(super) partition_keys: Vec<String>,
    pub(super) partition_types: Vec<crate::spec::DataType>,
    pub(super) default_partition: String,
    /// `changelog-producer = input` (primary-key tables): flushes also write the input rows as
    /// changelog files.
    pub(super) input_changelog: bool,
    /// In-writer compaction (primary-key tables unless `write-only`): the strategy, the number
    /// of levels, and the rewriter.
    pub(super) compaction: Option<(UniversalCompaction, usize, Rewriter)>,
    /// `num-sorted-run.stop-trigger`: a bucket with this many sorted runs waits for its
    /// compaction.
    pub(super) stop_trigger: usize,
    /// Compactions that maintain deletion vectors or produce a changelog (`lookup`,
    /// `full-compaction`) go through the lookup rewrite with this mode.
    pub(super) lookup: Option<LookupMode>,
    /// `write-buffer-spillable` (primary-key tables without the input changelog): full buffers
    /// spill sorted runs to local disk, merged into level 0 at the commit.
    pub(super) spillable: bool,
    /// Jobs that hold a working set beside the pool (flushes, spill merges, compactions: a
    /// batch and a row group per input run, open output files, lookup blocks) running at once:
    /// one per core, whatever their kind. With separate limits, the flushes of a commit ran
    /// beside the compactions of the buckets already flushed, and a 40M-row commit with deletion
    /// vectors peaked 40–50 MiB over its bound.
    pub(super) job_slots: Arc<tokio::sync::Semaphore>,
}

impl WriteContext {
    /// Whether every commit compacts level 0 (see [`LookupMode::forces_level0`]).
    pub(super) fn forces_level0(&self) -> bool {
        self.lookup.is_some_and(|m| m.forces_level0())
    }

    /// Whether this writer compacts level 0 at every commit because rows there are not read
    /// until compacted (deletion vectors, first-row) or their changelog waits for the
    /// compaction (`changelog-producer = lookup`).
    pub(super) fn compacts_level0_at_commit(&self) -> bool {
        self.compaction.is_some() && (self.merge.is_first_row() || self.forces_level0())
    }

    /// A slot of [`WriteContext::job_slots`]; a job takes it along (into its blocking closure or
    /// spawned task), so that it is given back when the work ends, whoever polls the future that
    /// started it.
    pub(super) async fn job_slot(&self) -> Result<tokio::sync::OwnedSemaphorePermit> {
        self.job_slots.clone().acquire_owned().await.map_err(Error::internal("waiting for a job slot"))
    }

    /// The directory of a bucket of a partition.
    pub(super) fn bucket_dir(&self, partition: &BinaryRow, bucket: i32) -> Result<String> {
        let path = partition_path(partition, &self.partition_keys, &self.partition_types, &self.default_partition)?;
        Ok(bucket_dir(&path, bucket))
    }
}
