//! `TableWrite`: Arrow batches in, commit messages out.
//!
//! rows -> validate against the schema -> partition + bucket per row (Paimon's hash) -> the
//! bucket's [`WriteBuffer`] (bounded by `write-buffer-size` across all buckets: the largest is
//! flushed when full) -> on flush: sort, merge, encode level-0 Parquet files, upload.
//! [`TableWrite::prepare_commit`] flushes every bucket in parallel and returns what to commit.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, RecordBatch, UInt32Array};
use arrow_cast::{can_cast_types, cast_with_options, CastOptions};
use arrow_schema::SchemaRef;
use arrow_select::take::take;
use futures::stream::{self, StreamExt, TryStreamExt};

use crate::data_file::decoded_files::DEFAULT_DECODED_FILES_BYTES;
use crate::data_file::{DataFileNamer, DecodedFiles, FileWriterConfig, RollingWriter};
use crate::error::{Error, Result};
use crate::io::FileIO;
use crate::lsm::deletion_vectors::BucketDeletionVectors;
use crate::lsm::lookup::{BlockCache, LookupDisk};
use crate::lsm::rewrite::{CompactResult, DvState, LookupMode, Rewriter};
use crate::lsm::universal::full_unit;
use crate::lsm::{Levels, UniversalCompaction};
use crate::memory::MemoryPool;
use crate::merge::MergeFunction;
use crate::spec::data_file::{data_file_arrow_schema, table_arrow_schema};
use crate::spec::manifest::{IndexManifestEntry, DELETION_VECTORS_INDEX};
use crate::spec::paths::{bucket_dir, partition_path};
use crate::spec::{bucket_of, BinaryRow, BinaryRowWriter, DataFileMeta, FileSource, NullStyle, RowKind, TableSchema};
use crate::store::manifests::FileNamer;
use crate::store::ManifestStore;
use crate::store::SnapshotManager;
use crate::write::cross_partition::CrossPartitionAssigner;
use crate::write::dynamic_bucket::DynamicBucketAssigner;
use crate::write::postpone::PostponeWriter;
use crate::write::spill::{SpillSpace, SpilledRun};
use crate::write::write_buffer::{SortedRun, WriteBuffer};
use crate::write::{CommitMessage, DroppedCompaction};

/// Everything a flush needs, shared across buckets and blocking threads.
struct WriteContext {
    io: FileIO,
    cfg: Arc<FileWriterConfig>,
    table_schema: SchemaRef,
    file_schema: SchemaRef,
    key_indices: Vec<usize>,
    merge: MergeFunction,
    namer: DataFileNamer,
    partition_keys: Vec<String>,
    partition_types: Vec<crate::spec::DataType>,
    default_partition: String,
    /// `changelog-producer = input` (primary-key tables): flushes also write the input rows as
    /// changelog files.
    input_changelog: bool,
    /// In-writer compaction (primary-key tables unless `write-only`): the strategy, the number
    /// of levels, and the rewriter.
    compaction: Option<(UniversalCompaction, usize, Rewriter)>,
    /// `num-sorted-run.stop-trigger`: a bucket with this many sorted runs waits for its
    /// compaction.
    stop_trigger: usize,
    /// Compactions that maintain deletion vectors or produce a changelog (`lookup`,
    /// `full-compaction`) go through the lookup rewrite with this mode.
    lookup: Option<LookupMode>,
    /// `write-buffer-spillable` (primary-key tables without the input changelog): full buffers
    /// spill sorted runs to local disk, merged into level 0 at the commit.
    spillable: bool,
    /// Jobs that hold a working set beside the pool (flushes, spill merges, compactions: a
    /// batch and a row group per input run, open output files, lookup blocks) running at once:
    /// one per core, whatever their kind. With separate limits, the flushes of a commit ran
    /// beside the compactions of the buckets already flushed, and a 40M-row commit with deletion
    /// vectors peaked 40–50 MiB over its bound.
    job_slots: Arc<tokio::sync::Semaphore>,
}

/// A bucket's background compaction: its result and, for lookup compactions, the bucket's
/// deletion-vector state handed back.
type CompactionTask = tokio::task::JoinHandle<Result<(CompactResult, Option<DvState>)>>;

impl WriteContext {
    /// Whether every commit compacts level 0 (see [`LookupMode::forces_level0`]).
    fn forces_level0(&self) -> bool {
        self.lookup.is_some_and(|m| m.forces_level0())
    }

    /// Whether this writer compacts level 0 at every commit because rows there are not read
    /// until compacted (deletion vectors, first-row) or their changelog waits for the
    /// compaction (`changelog-producer = lookup`).
    fn compacts_level0_at_commit(&self) -> bool {
        self.compaction.is_some() && (self.merge.is_first_row() || self.forces_level0())
    }

    /// A slot of [`WriteContext::job_slots`]; a job takes it along (into its blocking closure or
    /// spawned task), so that it is given back when the work ends, whoever polls the future that
    /// started it.
    async fn job_slot(&self) -> Result<tokio::sync::OwnedSemaphorePermit> {
        self.job_slots.clone().acquire_owned().await.map_err(|e| Error::Task(e.to_string()))
    }

    /// The directory of a bucket of a partition.
    fn bucket_dir(&self, partition: &BinaryRow, bucket: i32) -> Result<String> {
        let path = partition_path(partition, &self.partition_keys, &self.partition_types, &self.default_partition)?;
        Ok(bucket_dir(&path, bucket))
    }
}

/// A bucket of a partition.
type BucketId = (BinaryRow, i32);

struct BucketWriter {
    partition: BinaryRow,
    bucket: i32,
    buffer: WriteBuffer,
    next_seq: i64,
    levels: Levels,
    new_files: Vec<DataFileMeta>,
    changelog_files: Vec<DataFileMeta>,
    /// `changelog-producer = lookup`: changelog files of compactions.
    compact_changelog: Vec<DataFileMeta>,
    compact_before: Vec<DataFileMeta>,
    compact_after: Vec<DataFileMeta>,
    /// The bucket's compaction running in the background, if any (at most one per bucket).
    compacting: Option<CompactionTask>,
    /// Deletion-vector tables: the bucket's vectors and lookup indexes (None while a compaction
    /// holds them, or before they are first needed).
    dv: Option<DvState>,
    /// The bucket's index manifest entries in the snapshot the writer started from, read into
    /// `dv` when the bucket first compacts.
    dv_restore: Option<Vec<IndexManifestEntry>>,
    /// Sorted runs spilled to local disk since the last commit (`write-buffer-spillable`).
    spilled: Vec<SpilledRun>,
}

impl BucketWriter {
    /// Takes a finished compaction into the bucket's levels and its next commit.
    fn absorb(&mut self, (r, dv): (CompactResult, Option<DvState>)) {
        self.levels.update(&r.before, &r.after);
        self.compact_before.extend(r.before);
        self.compact_after.extend(r.after);
        self.compact_changelog.extend(r.changelog);
        if let Some(mut dv) = dv {
            dv.cache.retain_files(&self.levels.all_files());
            self.dv = Some(dv);
        }
    }

    /// The bucket's deletion-vector state, read from its index files on first use.
    async fn take_dv_state(&mut self, io: &FileIO, mode: &LookupMode) -> Result<DvState> {
        if let Some(dv) = self.dv.take() {
            return Ok(dv);
        }
        let entries = self.dv_restore.take().unwrap_or_default();
        let vectors = BucketDeletionVectors::restore(io, entries).await?.with_bitmap64(mode.bitmap64);
        Ok(DvState { vectors, cache: Default::default() })
    }
}

pub struct TableWrite {
    ctx: Arc<WriteContext>,
    schema: Arc<TableSchema>,
    writers: HashMap<(BinaryRow, i32), BucketWriter>,
    /// The files of each bucket in the snapshot the writer started from.
    restored: HashMap<(BinaryRow, i32), Vec<DataFileMeta>>,
    num_buckets: i32,
    partition_indices: Vec<usize>,
    bucket_key_indices: Vec<usize>,
    /// Memory of the input batches still referenced by some buffer, and how many buffers refer to each.
    batch_memory: HashMap<u64, (usize, usize)>,
    next_batch_id: u64,
    buffered: usize,
    parallelism: usize,
    /// `full-compaction.delta-commits`: every this many prepared commits, a full compaction.
    full_compaction_every: Option<u64>,
    prepared_commits: u64,
    /// Deletion-vector tables: each bucket's index entries in the starting snapshot.
    restored_dvs: HashMap<(BinaryRow, i32), Vec<IndexManifestEntry>>,
    index_namer: FileNamer,
    /// The memory budget this writer's buffers and caches share (with other writers, if given).
    pool: Arc<MemoryPool>,
    /// Where full buffers spill, made on the first spill.
    spill: Option<Arc<SpillSpace>>,
    /// Dynamic-bucket tables (`bucket = -1`): the key-to-bucket index.
    dynamic: Option<DynamicBucketAssigner>,
    /// Postpone-bucket tables (`bucket = -2`): rows go, unmerged, to `bucket-postpone` files.
    postpone: Option<PostponeWriter>,
    /// Cross-partition upsert tables (`bucket = -1`, a key without every partition column):
    /// the global key index, which places every row.
    cross: Option<CrossPartitionAssigner>,
}

/// Bytes a buffered row costs beyond its Arrow data when its buffer is flushed: the sort keys,
/// the order, the gather plan, sequence numbers and kinds of the sorted run. Counted against
/// the memory budget with the row, so a flush needs no memory beyond the budget.
const SORT_BYTES_PER_ROW: usize = 64;

impl TableWrite {
    /// A writer for the table's latest state: sequence numbers continue after the latest
    /// snapshot. Its memory budget is the table's `write-buffer-size`.
    pub async fn new(io: FileIO, schema: Arc<TableSchema>) -> Result<TableWrite> {
        Self::new_in(io, schema, None).await
    }

    /// [`TableWrite::new`] sharing `pool` with other writers of this process (writers of several
    /// tables at once): the buffers and caches of all of them stay within the pool's limit
    /// together. None: a pool of the table's own `write-buffer-size`.
    pub async fn new_in(io: FileIO, schema: Arc<TableSchema>, pool: Option<Arc<MemoryPool>>) -> Result<TableWrite> {
        Self::new_with(io, schema, pool, false).await
    }

    /// A writer for an overwrite (Paimon's `withIgnorePreviousFiles`): it starts as if the
    /// table were empty, with no files, deletion vectors or lookups of the files it replaces,
    /// sequence numbers from 0. Its messages are committed with
    /// `TableCommit::overwrite`.
    pub async fn new_ignoring_previous(io: FileIO, schema: Arc<TableSchema>) -> Result<TableWrite> {
        Self::new_with(io, schema, None, true).await
    }

    async fn new_with(
        io: FileIO,
        schema: Arc<TableSchema>,
        pool: Option<Arc<MemoryPool>>,
        ignore_previous: bool,
    ) -> Result<TableWrite> {
        let opts = schema.core_options();
        schema.validate_bucket_mode()?;
        let lookup = LookupMode::for_table(&schema)?;
        let deletion_vectors = lookup.is_some_and(|m| m.deletion_vectors);
        let merge = MergeFunction::from_schema(&schema)?;
        let cfg = Arc::new(FileWriterConfig::new(schema.clone())?);
        // A postpone-bucket writer restores nothing: its files only ever add to bucket -2. An
        // overwrite's writer starts as if the table were empty.
        let postpone_table = opts.bucket()? == crate::spec::paths::POSTPONE_BUCKET;
        let (restored, restored_dvs) = if postpone_table || ignore_previous {
            Default::default()
        } else {
            latest_buckets(&io, &schema, deletion_vectors, |_| true).await?
        };
        let pool = match pool {
            Some(p) => p,
            None => MemoryPool::new(opts.write_buffer_size()? as usize),
        };
        let compaction = if schema.primary_keys.is_empty() || opts.write_only()? {
            None
        } else {
            let u = UniversalCompaction::from_options(&opts)?;
            let mut rewriter = Rewriter::new(io.clone(), schema.clone())?;
            rewriter.decoded = DecodedFiles::in_pool(DEFAULT_DECODED_FILES_BYTES, pool.clone());
            rewriter.blocks = BlockCache::new(opts.lookup_cache_max_memory_size()? as usize, Some(pool.clone()))
                .with_disk(LookupDisk::new(opts.lookup_cache_max_disk_size()?));
            Some((u, u.num_levels(&opts), rewriter))
        };
        let parallelism = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let input_changelog = !schema.primary_keys.is_empty()
            && opts.changelog_producer()? == crate::spec::options::ChangelogProducer::Input;
        let spillable =
            !schema.primary_keys.is_empty() && !input_changelog && opts.write_buffer_spillable(io.is_object_store())?;
        let ctx = WriteContext {
            spillable,
            io,
            table_schema: table_arrow_schema(&schema),
            file_schema: data_file_arrow_schema(&schema),
            key_indices: if schema.primary_keys.is_empty() { vec![] } else { schema.trimmed_primary_key_indices() },
            merge,
            namer: DataFileNamer::new(),
            partition_keys: schema.partition_keys.clone(),
            partition_types: schema.partition_types(),
            default_partition: opts.partition_default_name().to_string(),
            input_changelog,
            stop_trigger: compaction.as_ref().map(|(u, _, _)| u.stop_trigger(&opts)).unwrap_or(usize::MAX),
            compaction,
            lookup,
            cfg,
            job_slots: Arc::new(tokio::sync::Semaphore::new(parallelism)),
        };
        let num_buckets = opts.bucket()?;
        let cross = match num_buckets == -1 && schema.cross_partition_update() {
            // An overwrite's writer ignores the table's rows, their index with them.
            true if ignore_previous => Some(CrossPartitionAssigner::empty(&schema)?),
            true => Some(CrossPartitionAssigner::bootstrap(&ctx.io, schema.clone()).await?),
            false => None,
        };
        let dynamic = if num_buckets == -1 && !schema.primary_keys.is_empty() && cross.is_none() {
            // An overwrite replaces the partitions it writes, their hash index with them.
            let base = if ignore_previous { vec![] } else { latest_hash_index(&ctx.io, &schema).await? };
            Some(DynamicBucketAssigner::new(ctx.io.clone(), opts.dynamic_bucket_target_row_num()?, base))
        } else {
            None
        };
        // Dynamic buckets assign by the hash of the trimmed primary key, as fixed ones do by default.
        let bucket_key_indices = match (num_buckets > 0, &dynamic) {
            (true, _) => schema.bucket_key_indices(),
            (false, Some(_)) => schema.trimmed_primary_key_indices(),
            (false, None) => vec![],
        };
        let postpone = match postpone_table {
            true => Some(PostponeWriter::new(ctx.io.clone(), schema.clone(), ctx.cfg.clone())?),
            false => None,
        };
        Ok(TableWrite {
            postpone,
            ctx: Arc::new(ctx),
            num_buckets,
            partition_indices: schema.partition_indices(),
            bucket_key_indices,
            batch_memory: HashMap::new(),
            next_batch_id: 0,
            buffered: 0,
            parallelism,
            pool,
            spill: None,
            full_compaction_every: opts.full_compaction_delta_commits()?,
            prepared_commits: 0,
            restored_dvs,
            index_namer: FileNamer::new(),
            schema,
            writers: HashMap::new(),
            restored,
            dynamic,
            cross,
        })
    }

    /// How much memory (Arrow bytes) the writer spends keeping the rows of the data files it
    /// wrote, so that its compactions and deletion-vector lookups need not read them back
    /// (default [`crate::data_file::decoded_files::DEFAULT_DECODED_FILES_BYTES`], 256 MiB; 0
    /// turns it off). See [`crate::data_file::DecodedFiles`].
    pub fn set_decoded_files_budget(&mut self, bytes: usize) {
        if let Some((_, _, rewriter)) = &self.ctx.compaction {
            rewriter.decoded.set_budget(bytes);
        }
    }

    pub fn schema(&self) -> &Arc<TableSchema> {
        &self.schema
    }

    /// Writes rows as inserts (+I).
    pub async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.write_with_kinds(batch, None).await
    }

    /// Writes rows with a row kind each (+I, -U, +U, -D).
    pub async fn write_with_kinds(&mut self, batch: &RecordBatch, kinds: Option<&[RowKind]>) -> Result<()> {
        if let Some(k) = kinds {
            if k.len() != batch.num_rows() {
                return Err(Error::InvalidInput(format!(
                    "{} row kinds for a batch of {} rows",
                    k.len(),
                    batch.num_rows()
                )));
            }
            if self.schema.primary_keys.is_empty() && k.iter().any(|k| *k != RowKind::Insert) {
                return Err(Error::InvalidInput(
                    "an append table (no primary key) only takes +I rows; define a primary key to update or delete"
                        .into(),
                ));
            }
        }
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let batch = conform_batch(batch, &self.ctx.table_schema, &self.schema)?;
        let mut kind_bytes: Vec<i8> = match kinds {
            Some(k) => k.iter().map(|k| *k as i8).collect(),
            None => vec![RowKind::Insert as i8; batch.num_rows()],
        };
        if let (Some(k), Some(why)) = (kinds, self.ctx.merge.retract_refusal()) {
            if let Some(row) = k.iter().position(|k| k.is_retract()) {
                return Err(Error::InvalidInput(format!("row {row} is {}: {why}", k[row].short_string())));
            }
        }
        // Rows the merge engine ignores (e.g. retractions with ignore-delete) never reach a buffer.
        let mut batch = batch;
        if let Some(k) = kinds {
            if k.iter().any(|k| self.ctx.merge.ignores(*k)) {
                let keep: Vec<u32> = (0..k.len() as u32).filter(|i| !self.ctx.merge.ignores(k[*i as usize])).collect();
                kind_bytes = keep.iter().map(|i| kind_bytes[*i as usize]).collect();
                batch = take_rows(&batch, &UInt32Array::from(keep))?;
            }
        }

        let mut routed = None;
        if let Some(cross) = self.cross.as_mut() {
            let r = cross.route(&batch, &kind_bytes)?;
            if r.batch.num_rows() == 0 {
                return Ok(());
            }
            batch = r.batch;
            kind_bytes = r.kinds;
            routed = Some(r.buckets);
        }
        let (group_of_row, groups) = self.assign(&batch, routed.as_deref()).await?;
        if let Some(postpone) = self.postpone.as_mut() {
            return postpone.write(&batch, &kind_bytes, &group_of_row, groups).await;
        }
        let all_inserts = kind_bytes.iter().all(|k| *k == RowKind::Insert as i8);
        let single = groups.len() == 1;
        let mut row_lists: Vec<Vec<u32>> = vec![Vec::new(); groups.len()];
        if !single {
            for (row, g) in group_of_row.iter().enumerate() {
                row_lists[*g as usize].push(row as u32);
            }
        }
        let batch_id = self.next_batch_id;
        self.next_batch_id += 1;
        let memory = batch.get_array_memory_size() + batch.num_rows() * (1 + SORT_BYTES_PER_ROW);
        self.batch_memory.insert(batch_id, (memory, groups.len()));
        self.buffered += memory;
        self.pool.grow_buffered(memory);
        for (g, (partition, bucket)) in groups.into_iter().enumerate() {
            let (rows, kinds): (Option<Arc<[u32]>>, Option<Vec<i8>>) = if single {
                (None, if all_inserts { None } else { Some(kind_bytes.clone()) })
            } else {
                let rows = std::mem::take(&mut row_lists[g]);
                let kinds =
                    if all_inserts { None } else { Some(rows.iter().map(|&r| kind_bytes[r as usize]).collect()) };
                (Some(Arc::from(rows)), kinds)
            };
            let n = rows.as_ref().map(|r| r.len()).unwrap_or(batch.num_rows());
            let writer = self.writer(partition, bucket);
            let first = writer.next_seq;
            writer.next_seq += n as i64;
            writer.buffer.push(batch_id, batch.clone(), rows, kinds, first);
        }
        // Over budget: flush this writer's largest buffers (a writer sharing the pool flushes
        // its own; one with nothing buffered goes on).
        while self.pool.over_limit() && self.buffered > 0 {
            self.flush_largest().await?;
        }
        Ok(())
    }

    fn writer(&mut self, partition: BinaryRow, bucket: i32) -> &mut BucketWriter {
        let restored = &mut self.restored;
        let restored_dvs = &mut self.restored_dvs;
        let num_levels = self.ctx.compaction.as_ref().map(|c| c.1).unwrap_or(2);
        self.writers.entry((partition.clone(), bucket)).or_insert_with(|| {
            let dv_restore = restored_dvs.remove(&(partition.clone(), bucket));
            let files = restored.remove(&(partition.clone(), bucket)).unwrap_or_default();
            // Sequence numbers continue after the bucket's highest (Paimon: max + 1).
            let next_seq = files.iter().map(|f| f.max_sequence_number).max().map(|m| m + 1).unwrap_or(0);
            BucketWriter {
                next_seq,
                levels: Levels::new(num_levels, files),
                partition,
                bucket,
                buffer: WriteBuffer::default(),
                new_files: vec![],
                changelog_files: vec![],
                compact_changelog: vec![],
                compact_before: vec![],
                compact_after: vec![],
                compacting: None,
                dv: None,
                dv_restore,
                spilled: vec![],
            }
        })
    }

    /// Partition and bucket of every row: per row a group index, and the groups. `routed`: the
    /// buckets already chosen (cross-partition upsert tables).
    async fn assign(&mut self, batch: &RecordBatch, routed: Option<&[i32]>) -> Result<(Vec<u32>, Vec<BucketId>)> {
        let n = batch.num_rows();
        let fields = &self.schema.fields;
        let mut part_writer = BinaryRowWriter::new(self.partition_indices.len());
        let mut key_writer = BinaryRowWriter::new(self.bucket_key_indices.len());
        let mut group_of_row = Vec::with_capacity(n);
        let mut groups: Vec<(BinaryRow, i32)> = Vec::new();
        let mut lookup: HashMap<(Vec<u8>, i32), u32> = HashMap::new();
        let part_cols: Vec<&ArrayRef> = self.partition_indices.iter().map(|&i| batch.column(i)).collect();
        let key_cols: Vec<&ArrayRef> = self.bucket_key_indices.iter().map(|&i| batch.column(i)).collect();
        let mut last: Option<(Vec<u8>, i32, u32)> = None;
        for row in 0..n {
            part_writer.reset();
            for (pos, (col, &fi)) in part_cols.iter().zip(&self.partition_indices).enumerate() {
                part_writer.write_from_array(pos, col.as_ref(), row, &fields[fi].data_type, NullStyle::Projection)?;
            }
            let bucket = if let Some(b) = routed.and_then(|r| r.get(row)) {
                *b
            } else if self.dynamic.is_some() || self.num_buckets > 0 {
                // The bucket key's BinaryRow hash (single integer keys without building the row).
                let hash = match fast_hash(&key_cols, row) {
                    Some(h) => h,
                    None => {
                        key_writer.reset();
                        for (pos, (col, &fi)) in key_cols.iter().zip(&self.bucket_key_indices).enumerate() {
                            key_writer.write_from_array(
                                pos,
                                col.as_ref(),
                                row,
                                &fields[fi].data_type,
                                NullStyle::Projection,
                            )?;
                        }
                        key_writer.hash_code()
                    }
                };
                match self.dynamic.as_mut() {
                    Some(dynamic) => {
                        if !dynamic.is_loaded(part_writer.as_bytes()) {
                            dynamic.load(&part_writer.to_row()).await?;
                        }
                        dynamic.assign(part_writer.as_bytes(), hash)?
                    }
                    None => bucket_of(hash, self.num_buckets),
                }
            } else {
                0
            };
            let pbytes = part_writer.as_bytes();
            if let Some((lp, lb, lg)) = &last {
                if *lb == bucket && lp.as_slice() == pbytes {
                    group_of_row.push(*lg);
                    continue;
                }
            }
            let key = (pbytes.to_vec(), bucket);
            let g = match lookup.get(&key) {
                Some(g) => *g,
                None => {
                    let g = groups.len() as u32;
                    groups.push((part_writer.to_row(), bucket));
                    lookup.insert(key.clone(), g);
                    g
                }
            };
            group_of_row.push(g);
            last = Some((key.0, key.1, g));
        }
        Ok((group_of_row, groups))
    }

    /// Forgets this (flushed) buffer's references to input batches, releasing the memory of
    /// batches no other buffer refers to.
    fn release(&mut self, batch_ids: &[u64]) {
        for id in batch_ids {
            if let Some((mem, refs)) = self.batch_memory.get_mut(id) {
                *refs -= 1;
                if *refs == 0 {
                    self.buffered -= *mem;
                    self.pool.shrink_buffered(*mem);
                    self.batch_memory.remove(id);
                }
            }
        }
    }

    /// This writer's spill space, made on first use.
    fn spill_space(&mut self) -> Result<Arc<SpillSpace>> {
        if self.spill.is_none() {
            self.spill = Some(Arc::new(SpillSpace::new(self.schema.clone())?));
        }
        Ok(self.spill.clone().expect("made above"))
    }

    async fn flush_largest(&mut self) -> Result<()> {
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
                .map_err(|e| Error::Task(e.to_string()))??;
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

    /// Flushes every buffer and returns one message per bucket with changes: its new files and
    /// its compaction results, waiting for compactions to finish (Paimon's batch
    /// `prepareCommit()`). The writer can keep writing afterwards; sequence numbers continue.
    pub async fn prepare_commit(&mut self) -> Result<Vec<CommitMessage>> {
        self.prepare_commit_with(true).await
    }

    /// Paimon's streaming `prepareCommit(waitCompaction, ...)`: without `wait_compaction`,
    /// compactions keep running in the background and their results ride along with a later
    /// commit (a writer only blocks when a bucket reaches `num-sorted-run.stop-trigger` runs).
    /// A writer dropped with a compaction running leaves its unfinished output uncommitted.
    pub async fn prepare_commit_with(&mut self, wait_compaction: bool) -> Result<Vec<CommitMessage>> {
        if let Some(postpone) = self.postpone.as_mut() {
            return postpone.prepare_commit().await;
        }
        let ctx = self.ctx.clone();
        let jobs: Vec<_> = self
            .writers
            .iter_mut()
            .filter(|(_, w)| !w.buffer.is_empty() || !w.spilled.is_empty())
            .map(|(k, w)| {
                (
                    k.clone(),
                    w.partition.clone(),
                    w.bucket,
                    std::mem::take(&mut w.buffer),
                    std::mem::take(&mut w.spilled),
                )
            })
            .collect();
        let space = self.spill.clone();
        self.batch_memory.clear();
        // Released once the flushes are done (the buffers live until then).
        let released = std::mem::take(&mut self.buffered);
        // Paimon's GlobalFullCompactionSinkWrite: every `full-compaction.delta-commits` commits,
        // the buckets this writer wrote are compacted fully before the commit.
        self.prepared_commits += 1;
        let full = self.ctx.compaction.is_some()
            && self.full_compaction_every.is_some_and(|n| self.prepared_commits.is_multiple_of(n.max(1)));
        // Deletion-vector tables wait for their level-0 compaction (Paimon's `lookup-wait`).
        let wait = wait_compaction || self.ctx.forces_level0();
        // One flush per core: each holds an open row group and an upload part of memory.
        let mut flushes = stream::iter(jobs)
            .map(|(key, partition, bucket, buffer, spilled)| {
                let (ctx, space) = (ctx.clone(), space.clone());
                async move { flush(ctx, partition, bucket, buffer, spilled, space).await.map(|files| (key, files)) }
            })
            .buffer_unordered(self.parallelism);
        // A bucket's compaction starts as soon as its flush is done, beside the other flushes.
        let mut started = std::collections::HashSet::new();
        while let Some((key, (files, changelog))) = flushes.try_next().await? {
            let w = self.writers.get_mut(&key).expect("writer exists");
            for f in &files {
                w.levels.add_level0(f.clone());
            }
            w.new_files.extend(files);
            w.changelog_files.extend(changelog);
            if !full {
                start_compaction(&ctx, w, wait).await?;
                started.insert(key);
            }
        }
        self.pool.shrink_buffered(released);
        if full {
            self.compact_fully().await?;
        } else {
            self.compact(wait, &started).await?;
        }
        let mut messages = vec![];
        for w in self.writers.values_mut() {
            let m = take_message(&self.ctx, &mut self.index_namer, w, self.num_buckets, true).await?;
            if !m.is_empty() {
                messages.push(m);
            }
        }
        if let Some(dynamic) = self.dynamic.as_mut() {
            // Each partition's hash index changes ride with one of its messages.
            for set in dynamic.prepare_commit(&mut self.index_namer).await? {
                match messages.iter_mut().find(|m| m.partition == set.partition && m.hash_index.is_none()) {
                    Some(m) => m.hash_index = Some(set),
                    None => {
                        let bucket = set.changes.first().map_or(0, |c| c.bucket);
                        let mut m = CommitMessage::new(set.partition.clone(), bucket, self.num_buckets);
                        m.hash_index = Some(set);
                        messages.push(m);
                    }
                }
            }
        }
        messages.sort_by(|a, b| (a.partition.data(), a.bucket).cmp(&(b.partition.data(), b.bucket)));
        Ok(messages)
    }
}

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
                w.absorb(handle.await.map_err(|e| Error::Task(e.to_string()))??);
            }
            let m = take_message(&ctx, &mut self.index_namer, w, self.num_buckets, false).await?;
            if !m.is_empty() {
                messages.push(m);
            }
        }
        Ok(messages)
    }

    /// Takes the table's current files of `buckets` as this writer's view of them: for buckets
    /// whose compaction a commit dropped (see `TableCommit::take_dropped_compactions`),
    /// because another writer or a compactor compacted them first. The bucket's compaction
    /// still running is given up (its files deleted), its levels become the table's latest files
    /// plus this writer's uncommitted new files, and its deletion vectors are read again from
    /// the table; buffered rows and sequence numbers stay. Call it after the commit, before
    /// writing on.
    pub async fn reload_buckets(&mut self, buckets: &[DroppedCompaction]) -> Result<()> {
        if buckets.is_empty() {
            return Ok(());
        }
        let ctx = self.ctx.clone();
        let wanted: std::collections::HashSet<BucketId> =
            buckets.iter().map(|d| (d.partition.clone(), d.bucket)).collect();
        let deletion_vectors = ctx.lookup.is_some_and(|m| m.deletion_vectors);
        let (mut files, mut dvs) =
            latest_buckets(&ctx.io, &self.schema, deletion_vectors, |b| wanted.contains(b)).await?;
        let num_levels = ctx.compaction.as_ref().map(|c| c.1).unwrap_or(2);
        for key in wanted {
            let table_files = files.remove(&key).unwrap_or_default();
            let table_dvs = dvs.remove(&key);
            let Some(w) = self.writers.get_mut(&key) else {
                // Not written yet: its writer starts from the table's current state.
                self.restored.insert(key.clone(), table_files);
                match table_dvs {
                    Some(d) => self.restored_dvs.insert(key, d),
                    None => self.restored_dvs.remove(&key),
                };
                continue;
            };
            let dir = ctx.bucket_dir(&w.partition, w.bucket)?;
            // The compaction under way and any not yet committed were planned on the old view.
            let mut before = std::mem::take(&mut w.compact_before);
            let mut after = std::mem::take(&mut w.compact_after);
            let mut changelog = std::mem::take(&mut w.compact_changelog);
            if let Some(handle) = w.compacting.take() {
                if let Ok(Ok((r, _))) = handle.await {
                    before.extend(r.before);
                    after.extend(r.after);
                    changelog.extend(r.changelog);
                }
            }
            let in_use =
                |name: &str| before.iter().chain(&w.new_files).chain(&table_files).any(|f| f.file_name == name);
            for f in after.iter().filter(|f| !in_use(&f.file_name)).chain(&changelog) {
                let _ = ctx.io.delete(&format!("{dir}/{}", f.file_name)).await;
            }
            let max_seq = table_files.iter().map(|f| f.max_sequence_number).max();
            let mut view = table_files;
            view.extend(w.new_files.iter().map(|f| DataFileMeta { level: 0, ..f.clone() }));
            // Files that left the bucket's view (replaced by another writer's compaction, or
            // outputs of the dropped one) leave the decoded-rows cache too, instead of holding
            // its room until the budget ages them out.
            if let Some((_, _, rewriter)) = &ctx.compaction {
                let in_view: std::collections::HashSet<&str> = view.iter().map(|f| f.file_name.as_str()).collect();
                let old = w.levels.all_files();
                let gone = old.iter().chain(&after).map(|f| f.file_name.as_str()).filter(|n| !in_view.contains(n));
                rewriter.decoded.remove(gone);
            }
            w.levels = Levels::new(num_levels, view);
            w.next_seq = w.next_seq.max(max_seq.map_or(0, |m| m + 1));
            w.dv = None;
            w.dv_restore = table_dvs;
        }
        Ok(())
    }

    /// Compacts every bucket this writer holds into one sorted run on the last level, waiting.
    async fn compact_fully(&mut self) -> Result<()> {
        let Some((_, _, rewriter)) = self.ctx.compaction.clone() else { return Ok(()) };
        let ctx = self.ctx.clone();
        for w in self.writers.values_mut() {
            if let Some(handle) = w.compacting.take() {
                w.absorb(handle.await.map_err(|e| Error::Task(e.to_string()))??);
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
    async fn compact(&mut self, wait: bool, started: &std::collections::HashSet<(BinaryRow, i32)>) -> Result<()> {
        let ctx = self.ctx.clone();
        for (key, w) in self.writers.iter_mut() {
            if !started.contains(key) {
                start_compaction(&ctx, w, wait).await?;
            }
        }
        if wait {
            for w in self.writers.values_mut() {
                if let Some(handle) = w.compacting.take() {
                    w.absorb(handle.await.map_err(|e| Error::Task(e.to_string()))??);
                }
            }
        }
        Ok(())
    }
}

/// The live files of the latest snapshot's buckets that `wanted` keeps, and (with
/// `deletion_vectors`) their index manifest entries.
/// The index entries of the latest snapshot of a dynamic-bucket table (its hash index files;
/// the assigner ignores other types).
async fn latest_hash_index(io: &FileIO, schema: &TableSchema) -> Result<Vec<IndexManifestEntry>> {
    let Some(latest) = SnapshotManager::new(io.clone()).latest().await? else { return Ok(vec![]) };
    let Some(index) = &latest.index_manifest else { return Ok(vec![]) };
    ManifestStore::new(io.clone(), &schema.core_options().manifest_compression()).read_index_manifest(index).await
}

async fn latest_buckets(
    io: &FileIO,
    schema: &TableSchema,
    deletion_vectors: bool,
    wanted: impl Fn(&BucketId) -> bool,
) -> Result<(HashMap<BucketId, Vec<DataFileMeta>>, HashMap<BucketId, Vec<IndexManifestEntry>>)> {
    let mut files: HashMap<BucketId, Vec<DataFileMeta>> = HashMap::new();
    let mut dvs: HashMap<BucketId, Vec<IndexManifestEntry>> = HashMap::new();
    let Some(latest) = SnapshotManager::new(io.clone()).latest().await? else { return Ok((files, dvs)) };
    let manifests = ManifestStore::new(io.clone(), &schema.core_options().manifest_compression());
    for e in manifests.live_files(&latest).await? {
        let key = (e.partition.clone(), e.bucket);
        if wanted(&key) {
            files.entry(key).or_default().push(e.file);
        }
    }
    if let (true, Some(index)) = (deletion_vectors, &latest.index_manifest) {
        for e in
            manifests.read_index_manifest(index).await?.into_iter().filter(|e| e.index_type == DELETION_VECTORS_INDEX)
        {
            let key = (e.partition.clone(), e.bucket);
            if wanted(&key) {
                dvs.entry(key).or_default().push(e);
            }
        }
    }
    Ok((files, dvs))
}

/// The bucket's commit message: what it wrote since the last one (unless not `with_writes`:
/// then its new files wait for the next) and its finished compactions.
async fn take_message(
    ctx: &WriteContext,
    index_namer: &mut FileNamer,
    w: &mut BucketWriter,
    total_buckets: i32,
    with_writes: bool,
) -> Result<CommitMessage> {
    let mut m = CommitMessage::new(w.partition.clone(), w.bucket, total_buckets);
    let mut dv_base = None;
    if let Some(dv) = w.dv.as_mut() {
        dv_base = Some(dv.vectors.base_file_names());
        m.index_changes = dv.vectors.write_index(&ctx.io, index_namer, &w.partition, w.bucket).await?;
    }
    if with_writes {
        m.new_files = std::mem::take(&mut w.new_files);
        m.new_files.sort_by_key(|f| f.min_sequence_number);
        m.changelog_files = std::mem::take(&mut w.changelog_files);
        m.changelog_files.sort_by_key(|f| f.min_sequence_number);
    }
    m.compact_before = std::mem::take(&mut w.compact_before);
    m.compact_after = std::mem::take(&mut w.compact_after);
    m.compact_changelog_files = std::mem::take(&mut w.compact_changelog);
    // Compactions that chained before this commit (one's output the next one's input):
    // such a file was never committed, so it leaves both lists, and its bytes go too
    // unless the name is still in use (an upgraded file keeps its name).
    let same = |a: &DataFileMeta, b: &DataFileMeta| a.file_name == b.file_name && a.level == b.level;
    let transient: Vec<DataFileMeta> =
        m.compact_after.iter().filter(|a| m.compact_before.iter().any(|b| same(a, b))).cloned().collect();
    if !transient.is_empty() {
        m.compact_before.retain(|b| !transient.iter().any(|t| same(t, b)));
        m.compact_after.retain(|a| !transient.iter().any(|t| same(t, a)));
        let dir = ctx.bucket_dir(&w.partition, w.bucket)?;
        for t in transient {
            let in_use = m
                .compact_before
                .iter()
                .chain(&m.compact_after)
                .chain(&m.new_files)
                .chain(&w.new_files)
                .any(|f| f.file_name == t.file_name)
                || w.levels.all_files().iter().any(|f| f.file_name == t.file_name);
            if !in_use {
                let _ = ctx.io.delete(&format!("{dir}/{}", t.file_name)).await;
            }
        }
    }
    // What the compactions were planned on, for the commit to check (see
    // [`CommitMessage::compact_base`]): the bucket's files above level 0 before them.
    if ctx.compaction.is_some() && m.has_compaction() {
        let mut base: Vec<(String, i32)> = w
            .levels
            .all_files()
            .iter()
            .filter(|f| f.level > 0 && !m.compact_after.iter().any(|a| same(a, f)))
            .map(|f| (f.file_name.clone(), f.level))
            .collect();
        base.extend(m.compact_before.iter().filter(|f| f.level > 0).map(|f| (f.file_name.clone(), f.level)));
        m.compact_base = Some(base);
    }
    if m.has_compaction() {
        m.dv_base = dv_base;
    }
    Ok(m)
}

/// In-writer compaction of one bucket: collect a finished background compaction (or wait for
/// it when the bucket has reached `num-sorted-run.stop-trigger` runs, or when asked to); then,
/// with no compaction running and at least `num-sorted-run.compaction-trigger` runs, start what
/// universal compaction picks, in the background.
async fn start_compaction(ctx: &Arc<WriteContext>, w: &mut BucketWriter, wait: bool) -> Result<()> {
    let Some((strategy, _, rewriter)) = ctx.compaction.clone() else { return Ok(()) };
    let must_wait = wait || w.levels.number_of_sorted_runs() >= ctx.stop_trigger;
    if let Some(handle) = w.compacting.take() {
        if handle.is_finished() || must_wait {
            w.absorb(handle.await.map_err(|e| Error::Task(e.to_string()))??);
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

/// The data files and the changelog files one flush wrote.
type Flushed = (Vec<DataFileMeta>, Vec<DataFileMeta>);

/// Sorts and merges one bucket's buffer, then encodes and uploads its files slice by slice on a
/// blocking thread (and, with `changelog-producer = input`, the unmerged input rows as changelog
/// files).
async fn flush(
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
    .map_err(|e| Error::Task(e.to_string()))?
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
    .map_err(|e| Error::Task(e.to_string()))?
}

/// Rows assembled at a time when a flush hands its sorted run to the file writer.
const FLUSH_SLICE_ROWS: usize = 8192;

/// The bucket-key hash of a single non-null BIGINT or INT key, without building the row.
fn fast_hash(key_cols: &[&ArrayRef], row: usize) -> Option<i32> {
    use arrow_array::cast::AsArray;
    let [col] = key_cols else { return None };
    if col.null_count() > 0 {
        return None;
    }
    match col.data_type() {
        arrow_schema::DataType::Int64 => Some(crate::spec::binary_row::hash_single_long(
            col.as_primitive::<arrow_array::types::Int64Type>().value(row),
        )),
        arrow_schema::DataType::Int32 => Some(crate::spec::binary_row::hash_single_int(
            col.as_primitive::<arrow_array::types::Int32Type>().value(row),
        )),
        _ => None,
    }
}

fn take_rows(batch: &RecordBatch, idx: &UInt32Array) -> Result<RecordBatch> {
    let cols = batch
        .columns()
        .iter()
        .map(|c| take(c.as_ref(), idx, None))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(Error::arrow("splitting a batch by bucket"))?;
    RecordBatch::try_new(batch.schema(), cols).map_err(Error::arrow("splitting a batch by bucket"))
}

/// Checks a user batch against the table: same columns by name and order, types equal or safely
/// castable, and no nulls in NOT NULL columns. Returns the batch with the table's Arrow schema.
pub fn conform_batch(batch: &RecordBatch, target: &SchemaRef, schema: &TableSchema) -> Result<RecordBatch> {
    let got = batch.schema();
    if got.fields().len() != target.fields().len()
        || got.fields().iter().zip(target.fields()).any(|(a, b)| a.name() != b.name())
    {
        let names =
            |s: &arrow_schema::Schema| s.fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(", ");
        return Err(Error::InvalidInput(format!(
            "the batch's columns ({}) do not match the table's columns ({})",
            names(&got),
            names(target)
        )));
    }
    let mut cols = Vec::with_capacity(batch.num_columns());
    for ((col, want), field) in batch.columns().iter().zip(target.fields()).zip(&schema.fields) {
        let col = if col.data_type() == want.data_type() {
            col.clone()
        } else if can_cast_types(col.data_type(), want.data_type()) {
            cast_with_options(col, want.data_type(), &CastOptions { safe: false, ..Default::default() }).map_err(
                |e| {
                    Error::InvalidInput(format!(
                        "column {:?}: cannot convert {} to the table's type {} ({e})",
                        field.name,
                        col.data_type(),
                        field.data_type
                    ))
                },
            )?
        } else {
            return Err(Error::InvalidInput(format!(
                "column {:?} has Arrow type {}, but the table's type is {} (Arrow {})",
                field.name,
                col.data_type(),
                field.data_type,
                want.data_type()
            )));
        };
        if !field.data_type.nullable && col.null_count() > 0 {
            let row = (0..col.len()).find(|i| col.is_null(*i)).unwrap_or(0);
            let what = if schema.primary_keys.contains(&field.name) { "primary-key column" } else { "NOT NULL column" };
            return Err(Error::InvalidInput(format!("{what} {:?} is null in row {row} of the batch", field.name)));
        }
        cols.push(col);
    }
    RecordBatch::try_new(target.clone(), cols).map_err(Error::arrow("conforming the batch to the table schema"))
}
