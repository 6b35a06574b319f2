//! `TableWrite`: Arrow batches in, commit messages out.
//!
//! rows -> validate against the schema -> partition + bucket per row (Paimon's hash) -> the
//! bucket's [`WriteBuffer`] (bounded by `write-buffer-size` across all buckets: the largest is
//! flushed when full) -> on flush: sort, merge, encode level-0 Parquet files, upload.
//! [`TableWrite::prepare_commit`] flushes every bucket in parallel and returns what to commit.
//!
//! Its parts, by concept: `context` (what the flushes and compactions of all buckets share),
//! `bucket` (a bucket's state and its commit message), `input` (checking a batch, routing its
//! rows to buckets), `flush` (buffers into level-0 files or spilled runs), `compaction` (the
//! writer's compactions) and `restore` (starting from the latest snapshot, reloading buckets).

mod bucket;
mod compaction;
mod context;
mod flush;
mod input;
mod restore;

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::{RecordBatch, UInt32Array};
use futures::stream::{self, StreamExt, TryStreamExt};

use crate::data_file::decoded_files::DEFAULT_DECODED_FILES_BYTES;
use crate::data_file::{DataFileNamer, DecodedFiles, FileWriterConfig};
use crate::error::{Error, Result};
use crate::io::FileIO;
use crate::lsm::lookup::{BlockCache, LookupDisk};
use crate::lsm::rewrite::{LookupMode, Rewriter};
use crate::lsm::{Levels, UniversalCompaction};
use crate::memory::MemoryPool;
use crate::merge::MergeFunction;
use crate::spec::data_file::{data_file_arrow_schema, table_arrow_schema};
use crate::spec::manifest::IndexManifestEntry;
use crate::spec::{BinaryRow, DataFileMeta, RowKind, TableSchema};
use crate::store::manifests::FileNamer;
use crate::write::cross_partition::CrossPartitionAssigner;
use crate::write::dynamic_bucket::DynamicBucketAssigner;
use crate::write::postpone::PostponeWriter;
use crate::write::spill::SpillSpace;
use crate::write::write_buffer::WriteBuffer;
use crate::write::CommitMessage;

use bucket::{take_message, BucketWriter};
use compaction::start_compaction;
use context::WriteContext;
use flush::flush;
pub(super) use input::conform_batch;
use input::take_rows;
use restore::{latest_buckets, latest_hash_index};

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
                return Err(Error::RowKindRefused(
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
                return Err(Error::RowKindRefused(format!("row {row} is {}: {why}", k[row].short_string())));
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
