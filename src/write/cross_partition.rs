//! Cross-partition upsert (`bucket = -1` with a primary key that leaves out a partition
//! column: Paimon's `CROSS_PARTITION` bucket mode). A key lives in one partition at a time; a
//! global index maps each key (the trimmed primary key) to its partition and bucket, as Paimon's
//! `GlobalIndexAssigner` does:
//!
//! - **Bootstrap**: when the writer starts, every key of the table's latest snapshot is read
//!   (a merged read of the key and partition columns, split by split: Paimon's `IndexBootstrap`)
//!   and indexed with its split's partition and bucket; splits whose files are all older than
//!   `cross-partition-upsert.index-ttl` are skipped (their keys may then be duplicated, as in
//!   Paimon).
//! - **A row whose key is in the index under its own partition** goes to that bucket.
//! - **A new key** goes to a bucket of its partition chosen by Paimon's cross-partition
//!   `BucketAssigner`: the lowest bucket holding fewer than `dynamic-bucket.target-row-num` keys,
//!   else the lowest bucket number not used yet.
//! - **A key found under another partition**, by merge engine (Paimon's `ExistingProcessor`):
//!   deduplicate writes a DELETE into the old partition and bucket (the new row's values with
//!   the old partition's values in the partition columns) and then the row as a new key of its
//!   new partition; partial-update and aggregation write the row into the old partition and
//!   bucket (partition columns set to the old partition's), so the key stays where it is;
//!   first-row drops the new row.
//!
//! No hash index files are written in this mode (Paimon's writer keeps them only for
//! `HASH_DYNAMIC`), and manifest entries carry `totalBuckets = -1`. Each bucket stays an LSM
//! tree of its own, so compaction and reads need nothing special.
//!
//! Memory: Paimon keeps the index in RocksDB on local disk; shoal keeps it in memory, about
//! 50 bytes per key of the table (the hash table slot: a boxed slice of the key, 16 bytes, and
//! its partition id and bucket, 8 bytes, at a load factor between 7/16 and 7/8, plus a control
//! byte; and the allocation overhead of the key bytes) plus the key's BinaryRow bytes (16 for
//! a single BIGINT or INT key), for every key of the table: measured 84 bytes per BIGINT key at
//! 1M keys, 56 at 3M (the hash table doubles as it grows). Not bounded by `write-buffer-size`. One writer per table at a time, as
//! in Paimon (two writers could each place a key in a different partition; this is not
//! detected).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, RecordBatch, UInt32Array};
use arrow_cast::cast;
use arrow_select::interleave::interleave;
use arrow_select::take::take;
use futures::StreamExt;

use crate::error::{Error, Result};
use crate::io::FileIO;
use crate::read::scan::TableScan;
use crate::read::SplitReader;
use crate::spec::options::MergeEngine;
use crate::spec::{BinaryRow, BinaryRowWriter, DataType, NullStyle, RowKind, TableSchema};
use crate::store::{SchemaManager, SnapshotManager};

/// What a key found under another partition does (Paimon's `ExistingProcessor`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Existing {
    /// Deduplicate: DELETE in the old partition, then the row into the new one.
    DeleteOld,
    /// Partial-update and aggregation: the row goes to the old partition and bucket.
    UseOld,
    /// First-row: the new row is dropped.
    SkipNew,
}

/// One partition the index knows.
#[derive(Debug)]
struct Partition {
    /// The partition's values as one-row arrays of the partition columns (None until a row of
    /// the partition was seen: a bootstrapped partition whose rows were all deleted).
    values: Option<Vec<ArrayRef>>,
    /// Keys per bucket (Paimon's `BucketAssigner` statistics), ascending bucket numbers.
    counts: BTreeMap<i32, i64>,
}

impl Partition {
    /// Paimon's cross-partition `BucketAssigner.assignBucket` with one assigner.
    fn assign(&mut self, target: i64) -> i32 {
        for (&b, n) in self.counts.iter_mut() {
            if *n < target {
                *n += 1;
                return b;
            }
        }
        let b = (0..).find(|b| !self.counts.contains_key(b)).unwrap_or(0);
        self.counts.insert(b, 1);
        b
    }
}

/// The rows a batch becomes: the input rows (some moved to another partition, some dropped)
/// and the DELETEs of keys leaving their partition, in the order to buffer them, with each
/// row's kind and bucket.
pub(super) struct Routed {
    pub batch: RecordBatch,
    pub kinds: Vec<i8>,
    pub buckets: Vec<i32>,
}

/// The global key index of a cross-partition upsert table and its bucket assigner.
pub(super) struct CrossPartitionAssigner {
    existing: Existing,
    target_row_num: i64,
    key_indices: Vec<usize>,
    key_types: Vec<DataType>,
    partition_indices: Vec<usize>,
    partition_types: Vec<DataType>,
    /// Trimmed primary key (BinaryRow bytes) -> (partition id, bucket).
    index: HashMap<Box<[u8]>, (u32, i32)>,
    /// Partition BinaryRow bytes -> partition id (its position in `partitions`).
    partition_ids: HashMap<Vec<u8>, u32>,
    partitions: Vec<Partition>,
}

impl std::fmt::Debug for CrossPartitionAssigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrossPartitionAssigner")
            .field("existing", &self.existing)
            .field("keys", &self.index.len())
            .field("partitions", &self.partitions.len())
            .finish()
    }
}

impl CrossPartitionAssigner {
    /// An assigner with an empty index (a writer that ignores the table's rows).
    pub(super) fn empty(schema: &TableSchema) -> Result<Self> {
        let opts = schema.core_options();
        let existing = match opts.merge_engine()? {
            MergeEngine::Deduplicate => Existing::DeleteOld,
            MergeEngine::PartialUpdate | MergeEngine::Aggregation => Existing::UseOld,
            MergeEngine::FirstRow => Existing::SkipNew,
        };
        let key_indices = schema.trimmed_primary_key_indices();
        let partition_indices = schema.partition_indices();
        Ok(CrossPartitionAssigner {
            existing,
            target_row_num: opts.dynamic_bucket_target_row_num()?.max(1),
            key_types: key_indices.iter().map(|&i| schema.fields[i].data_type.clone()).collect(),
            partition_types: partition_indices.iter().map(|&i| schema.fields[i].data_type.clone()).collect(),
            key_indices,
            partition_indices,
            index: HashMap::new(),
            partition_ids: HashMap::new(),
            partitions: vec![],
        })
    }

    /// An assigner whose index holds every key of the table's latest snapshot (Paimon's
    /// `IndexBootstrap`, always from the latest snapshot whatever the `scan.*` options say).
    pub(super) async fn bootstrap(io: &FileIO, schema: Arc<TableSchema>) -> Result<Self> {
        let mut me = Self::empty(&schema)?;
        let Some(latest) = SnapshotManager::new(io.clone()).latest().await? else { return Ok(me) };
        let mut splits = TableScan::new(io.clone(), schema.clone()).with_snapshot(latest.id).plan().await?.splits;
        if let Some(ttl) = index_ttl(&schema)? {
            // Paimon's `IndexBootstrap.filterSplit`: a split is read when any of its files is
            // younger than the TTL (creation times are local wall-clock millis on both sides).
            let now = crate::data_file::local_now_millis();
            splits.retain(|s| s.files.iter().any(|f| f.creation_time.is_none_or(|t| now <= t.saturating_add(ttl))));
        }
        if splits.is_empty() {
            return Ok(me);
        }
        // The key columns, then the partition columns (disjoint: the key is trimmed).
        let projection: Vec<usize> = me.key_indices.iter().chain(&me.partition_indices).copied().collect();
        let reader = SplitReader::new(
            io.clone(),
            SchemaManager::new(io.clone()),
            schema.clone(),
            projection,
            tokio::runtime::Handle::current(),
        )?;
        let parallelism = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let places: Vec<(BinaryRow, i32)> = splits.iter().map(|s| (s.partition.clone(), s.bucket)).collect();
        let mut stream = crate::read::read_splits_numbered(reader, splits, parallelism);
        let nkeys = me.key_indices.len();
        let mut key_writer = BinaryRowWriter::new(nkeys);
        while let Some(item) = stream.next().await {
            let (n, batch) = item?;
            if batch.num_rows() == 0 {
                continue;
            }
            let (partition, bucket) = &places[n];
            let pid = me.partition_id(partition.data());
            let part = &mut me.partitions[pid as usize];
            if part.values.is_none() {
                part.values = Some(batch.columns()[nkeys..].iter().map(|c| c.slice(0, 1)).collect());
            }
            for row in 0..batch.num_rows() {
                key_writer.reset();
                for (pos, t) in me.key_types.iter().enumerate() {
                    key_writer.write_from_array(pos, batch.column(pos).as_ref(), row, t, NullStyle::Projection)?;
                }
                *me.partitions[pid as usize].counts.entry(*bucket).or_default() += 1;
                if let Some((old_pid, old_bucket)) = me.index.insert(key_writer.as_bytes().into(), (pid, *bucket)) {
                    // Paimon's bulk load fails the same way.
                    return Err(Error::InvalidInput(format!(
                        "bootstrapping the cross-partition index: a key is in partition {:?} bucket {bucket} \
                         and in partition {:?} bucket {old_bucket}; the table was written by two writers at \
                         once (a cross-partition upsert table takes one writer at a time)",
                        partition,
                        me.partition_row(old_pid)
                    )));
                }
            }
        }
        Ok(me)
    }

    fn partition_id(&mut self, bytes: &[u8]) -> u32 {
        if let Some(&id) = self.partition_ids.get(bytes) {
            return id;
        }
        let id = self.partitions.len() as u32;
        self.partitions.push(Partition { values: None, counts: BTreeMap::new() });
        self.partition_ids.insert(bytes.to_vec(), id);
        id
    }

    fn partition_row(&self, id: u32) -> Option<&[u8]> {
        self.partition_ids.iter().find(|(_, &v)| v == id).map(|(k, _)| k.as_slice())
    }

    /// Routes a batch (rows of the table's Arrow schema, with their kinds) through the index.
    pub(super) fn route(&mut self, batch: &RecordBatch, kinds: &[i8]) -> Result<Routed> {
        let n = batch.num_rows();
        let mut part_writer = BinaryRowWriter::new(self.partition_indices.len());
        let mut key_writer = BinaryRowWriter::new(self.key_indices.len());
        // Per output row: the input row, the partition it is written into instead of its own
        // (None: its own), its kind and bucket.
        let mut src: Vec<u32> = Vec::with_capacity(n);
        let mut moved: Vec<Option<u32>> = Vec::with_capacity(n);
        let mut out_kinds: Vec<i8> = Vec::with_capacity(n);
        let mut buckets: Vec<i32> = Vec::with_capacity(n);
        for (row, &kind) in kinds.iter().enumerate().take(n) {
            part_writer.reset();
            for (pos, (&i, t)) in self.partition_indices.iter().zip(&self.partition_types).enumerate() {
                part_writer.write_from_array(pos, batch.column(i).as_ref(), row, t, NullStyle::Projection)?;
            }
            key_writer.reset();
            for (pos, (&i, t)) in self.key_indices.iter().zip(&self.key_types).enumerate() {
                key_writer.write_from_array(pos, batch.column(i).as_ref(), row, t, NullStyle::Projection)?;
            }
            let pid = self.partition_id(part_writer.as_bytes());
            if self.partitions[pid as usize].values.is_none() {
                self.partitions[pid as usize].values =
                    Some(self.partition_indices.iter().map(|&i| batch.column(i).slice(row, 1)).collect());
            }
            let mut emit = |moved_to: Option<u32>, kind: i8, bucket: i32| {
                src.push(row as u32);
                moved.push(moved_to);
                out_kinds.push(kind);
                buckets.push(bucket);
            };
            match self.index.get(key_writer.as_bytes()).copied() {
                Some((old, bucket)) if old == pid => emit(None, kind, bucket),
                Some((old, bucket)) => match self.existing {
                    Existing::DeleteOld => {
                        emit(Some(old), RowKind::Delete as i8, bucket);
                        if let Some(c) = self.partitions[old as usize].counts.get_mut(&bucket) {
                            *c -= 1;
                        } else {
                            self.partitions[old as usize].counts.insert(bucket, 0);
                        }
                        let new_bucket = self.partitions[pid as usize].assign(self.target_row_num);
                        self.index.insert(key_writer.as_bytes().into(), (pid, new_bucket));
                        emit(None, kind, new_bucket);
                    }
                    Existing::UseOld => emit(Some(old), kind, bucket),
                    Existing::SkipNew => {}
                },
                None => {
                    let bucket = self.partitions[pid as usize].assign(self.target_row_num);
                    self.index.insert(key_writer.as_bytes().into(), (pid, bucket));
                    emit(None, kind, bucket);
                }
            }
        }
        let untouched = src.len() == n && moved.iter().all(Option::is_none);
        if untouched {
            return Ok(Routed { batch: batch.clone(), kinds: out_kinds, buckets });
        }
        let idx = UInt32Array::from(src);
        let mut cols: Vec<ArrayRef> = batch
            .columns()
            .iter()
            .map(|c| take(c.as_ref(), &idx, None))
            .collect::<std::result::Result<_, _>>()
            .map_err(Error::arrow("routing rows of a cross-partition upsert table"))?;
        if moved.iter().any(Option::is_some) {
            for (pos, &ci) in self.partition_indices.iter().enumerate() {
                let taken = cols[ci].clone();
                // Sources: the taken column, then the one-row values of each partition used.
                let mut sources: Vec<ArrayRef> = vec![taken.clone()];
                let mut slot_of: HashMap<u32, usize> = HashMap::new();
                let mut picks = Vec::with_capacity(moved.len());
                for (j, m) in moved.iter().enumerate() {
                    match m {
                        None => picks.push((0, j)),
                        Some(pid) => {
                            let slot = match slot_of.get(pid) {
                                Some(&s) => s,
                                None => {
                                    let values = self.partitions[*pid as usize].values.as_ref().ok_or_else(|| {
                                        Error::Task("a cross-partition key's partition has no values".into())
                                    })?;
                                    let mut v = values[pos].clone();
                                    if v.data_type() != taken.data_type() {
                                        v = cast(&v, taken.data_type())
                                            .map_err(Error::arrow("casting a partition value"))?;
                                    }
                                    sources.push(v);
                                    slot_of.insert(*pid, sources.len() - 1);
                                    sources.len() - 1
                                }
                            };
                            picks.push((slot, 0));
                        }
                    }
                }
                let refs: Vec<&dyn Array> = sources.iter().map(|a| a.as_ref()).collect();
                cols[ci] = interleave(&refs, &picks).map_err(Error::arrow("setting the old partition of a row"))?;
            }
        }
        let batch = RecordBatch::try_new(batch.schema(), cols)
            .map_err(Error::arrow("routing rows of a cross-partition upsert table"))?;
        Ok(Routed { batch, kinds: out_kinds, buckets })
    }
}

/// `cross-partition-upsert.index-ttl` in milliseconds, if set.
fn index_ttl(schema: &TableSchema) -> Result<Option<i64>> {
    let key = "cross-partition-upsert.index-ttl";
    let Some(v) = schema.options.get(key) else { return Ok(None) };
    let d = crate::spec::options::parse_duration(v).ok_or_else(|| {
        Error::InvalidOptionValue(format!("option {key} = {v:?} is not a duration (such as 1 d, 12 h, 30 min)"))
    })?;
    Ok(Some(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_fill_in_order_and_reuse_freed_room() {
        let mut p = Partition { values: None, counts: BTreeMap::new() };
        let got: Vec<i32> = (0..5).map(|_| p.assign(2)).collect();
        assert_eq!(got, vec![0, 0, 1, 1, 2]);
        *p.counts.get_mut(&0).unwrap() -= 1;
        assert_eq!(p.assign(2), 0, "a key that left bucket 0 made room there");
        p.counts.remove(&1);
        p.counts.insert(0, 2);
        p.counts.insert(2, 2);
        assert_eq!(p.assign(2), 1, "the lowest unused bucket number");
    }
}
