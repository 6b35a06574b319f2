//! Dynamic buckets (`bucket = -1`, Paimon's default for primary-key tables): a key's bucket is
//! not its hash modulo a fixed count but whatever bucket its partition's hash index says, and a
//! new key goes to the first bucket (lowest number) that holds fewer than
//! `dynamic-bucket.target-row-num` keys, or to a new bucket when all are full: Paimon's
//! `HashBucketAssigner` and `PartitionIndex` with one assigner, which is what one writer per
//! partition is. Keys never move, so each bucket stays an independent LSM tree.
//!
//! Each bucket's keys are recorded in a hash index file ([`crate::spec::hash_index`]) listed in
//! the index manifest (type `HASH`); a commit that adds keys to a bucket replaces its file with
//! one holding all of them (Paimon's `HashIndexMaintainer`): DELETE of the old entry, ADD of
//! the new. A partition's index is loaded when the writer first sees the partition, from the
//! snapshot the writer started from. Memory: the hashes of every key of the partitions written
//! (about 7 bytes each), as in Paimon.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::error::{Error, Result};
use crate::io::FileIO;
use crate::spec::hash_index::{self, HASH_INDEX};
use crate::spec::manifest::IndexManifestEntry;
use crate::spec::paths::index_path;
use crate::spec::{BinaryRow, FileKind, SpecError};
use crate::store::manifests::FileNamer;

/// The key-to-bucket index of one partition.
#[derive(Debug)]
struct PartitionIndex {
    partition: BinaryRow,
    hash_to_bucket: HashMap<i32, u16>,
    /// Keys per bucket, for the buckets not yet known to be full (ascending, as Java's
    /// `HashMap<Integer, Long>` iterates small bucket numbers).
    non_full: BTreeMap<i32, i64>,
    buckets: BTreeSet<i32>,
    /// The bucket's current hash index file (replaced when the bucket gets new keys).
    files: HashMap<i32, IndexManifestEntry>,
    /// Buckets with keys not yet in a file.
    dirty: BTreeSet<i32>,
}

impl PartitionIndex {
    fn assign(&mut self, hash: i32, target: i64) -> Result<i32> {
        if let Some(&b) = self.hash_to_bucket.get(&hash) {
            return Ok(b as i32);
        }
        let mut chosen = None;
        let mut full = vec![];
        for (&b, n) in self.non_full.iter_mut() {
            if *n < target {
                *n += 1;
                chosen = Some(b);
                break;
            }
            full.push(b);
        }
        for b in full {
            self.non_full.remove(&b);
        }
        let bucket = match chosen {
            Some(b) => b,
            None => {
                let b = (0..i16::MAX as i32).find(|b| !self.buckets.contains(b)).ok_or_else(|| {
                    Error::InvalidInput(format!(
                        "partition {:?} has {} buckets, the most a dynamic-bucket table can have: raise \
                         dynamic-bucket.target-row-num ({target})",
                        self.partition,
                        self.buckets.len()
                    ))
                })?;
                self.non_full.insert(b, 1);
                self.buckets.insert(b);
                b
            }
        };
        self.hash_to_bucket.insert(hash, bucket as u16);
        self.dirty.insert(bucket);
        Ok(bucket)
    }
}

/// A commit's hash index changes in one partition.
#[derive(Clone, Debug, PartialEq)]
pub struct HashIndexChanges {
    pub partition: BinaryRow,
    /// The partition's hash index files the writer's assignments were based on.
    pub base: Vec<String>,
    /// Per bucket with new keys: DELETE of its old file (if any), ADD of its new one.
    pub changes: Vec<IndexManifestEntry>,
}

/// Fails with a commit conflict when a partition's hash index files in the latest snapshot are
/// not the ones the writer assigned buckets from: another writer added keys to the partition
/// meanwhile, and the same key may now sit in two buckets. Dynamic-bucket tables take one writer
/// per partition at a time (as in Paimon).
pub(crate) fn check_hash_index_base(
    latest: &[IndexManifestEntry],
    partition: &BinaryRow,
    base: &[String],
) -> Result<()> {
    let mut live: Vec<&str> = latest
        .iter()
        .filter(|e| e.index_type == HASH_INDEX && e.partition.data() == partition.data())
        .map(|e| e.file_name.as_str())
        .collect();
    live.sort_unstable();
    if live.iter().copied().eq(base.iter().map(String::as_str)) {
        return Ok(());
    }
    Err(Error::CommitConflict(format!(
        "another writer added keys to partition {partition:?} of this dynamic-bucket table since this writer          started (hash index files now {live:?}, this writer assigned buckets from {base:?}); a dynamic-bucket          table takes one writer per partition at a time, as in Paimon: write again from the latest snapshot"
    )))
}

/// Assigns buckets to the keys of a dynamic-bucket table and keeps its hash index files.
#[derive(Debug)]
pub(crate) struct DynamicBucketAssigner {
    io: FileIO,
    target_row_num: i64,
    /// The `HASH` entries of the snapshot the writer started from, by partition bytes, for the
    /// partitions not loaded yet.
    unloaded: HashMap<Vec<u8>, Vec<IndexManifestEntry>>,
    partitions: HashMap<Vec<u8>, PartitionIndex>,
}

impl DynamicBucketAssigner {
    /// An assigner over the index entries of the writer's base snapshot (the other types are
    /// ignored).
    pub(crate) fn new(io: FileIO, target_row_num: i64, base_index: Vec<IndexManifestEntry>) -> Self {
        let mut unloaded: HashMap<Vec<u8>, Vec<IndexManifestEntry>> = HashMap::new();
        for e in base_index.into_iter().filter(|e| e.index_type == HASH_INDEX && e.kind == FileKind::Add) {
            unloaded.entry(e.partition.data().to_vec()).or_default().push(e);
        }
        DynamicBucketAssigner { io, target_row_num: target_row_num.max(1), unloaded, partitions: HashMap::new() }
    }

    /// Reads the partition's hash index files unless already loaded. Call before
    /// [`DynamicBucketAssigner::assign`] for each partition of a batch.
    pub(crate) async fn load(&mut self, partition: &BinaryRow) -> Result<()> {
        let key = partition.data();
        if self.partitions.contains_key(key) {
            return Ok(());
        }
        let mut index = PartitionIndex {
            partition: partition.clone(),
            hash_to_bucket: HashMap::new(),
            non_full: BTreeMap::new(),
            buckets: BTreeSet::new(),
            files: HashMap::new(),
            dirty: BTreeSet::new(),
        };
        for e in self.unloaded.remove(key).unwrap_or_default() {
            let rel = index_path(&e.file_name);
            let bytes = self.io.read(&rel).await?;
            let file = format!("{}/{rel}", self.io.uri());
            let hashes = hash_index::decode(&bytes, &file)?;
            let bucket = u16::try_from(e.bucket).map_err(|_| {
                SpecError::corrupt(
                    "hash index file",
                    file,
                    format!("its entry names bucket {}, out of range", e.bucket),
                )
            })?;
            *index.non_full.entry(e.bucket).or_default() += hashes.len() as i64;
            index.buckets.insert(e.bucket);
            for h in hashes {
                index.hash_to_bucket.insert(h, bucket);
            }
            index.files.insert(e.bucket, e);
        }
        self.partitions.insert(key.to_vec(), index);
        Ok(())
    }

    /// Whether the partition (its BinaryRow bytes) is loaded.
    pub(crate) fn is_loaded(&self, partition: &[u8]) -> bool {
        self.partitions.contains_key(partition)
    }

    /// The bucket of a key (its BinaryRow hash) in a loaded partition (its BinaryRow bytes).
    pub(crate) fn assign(&mut self, partition: &[u8], hash: i32) -> Result<i32> {
        let index = self
            .partitions
            .get_mut(partition)
            .ok_or_else(|| Error::Task("a dynamic-bucket partition was assigned before it was loaded".into()))?;
        index.assign(hash, self.target_row_num)
    }

    /// Writes a new hash index file for every bucket that got keys since the last call and
    /// returns the index changes to commit: per bucket, DELETE of its previous file and ADD of
    /// the new one. Each change set comes with the partition's hash index files it was built
    /// on, which the commit checks are still the partition's ([`check_hash_index_base`]).
    pub(crate) async fn prepare_commit(&mut self, namer: &mut FileNamer) -> Result<Vec<HashIndexChanges>> {
        let mut out = vec![];
        for index in self.partitions.values_mut().filter(|i| !i.dirty.is_empty()) {
            let mut base: Vec<String> = index.files.values().map(|e| e.file_name.clone()).collect();
            base.sort();
            let mut changes = vec![];
            let mut by_bucket: BTreeMap<i32, Vec<i32>> = index.dirty.iter().map(|&b| (b, vec![])).collect();
            for (&h, &b) in &index.hash_to_bucket {
                if let Some(v) = by_bucket.get_mut(&(b as i32)) {
                    v.push(h);
                }
            }
            for (bucket, mut hashes) in by_bucket {
                hashes.sort_unstable();
                let name = namer.next("index-", "");
                let bytes = hash_index::encode(hashes.iter().copied());
                let size = bytes.len() as i64;
                self.io.write(&index_path(&name), bytes).await?;
                let added = IndexManifestEntry {
                    kind: FileKind::Add,
                    partition: index.partition.clone(),
                    bucket,
                    index_type: HASH_INDEX.to_string(),
                    file_name: name,
                    file_size: size,
                    row_count: hashes.len() as i64,
                    deletion_vectors: vec![],
                };
                if let Some(mut old) = index.files.insert(bucket, added.clone()) {
                    old.kind = FileKind::Delete;
                    changes.push(old);
                }
                changes.push(added);
            }
            index.dirty.clear();
            out.push(HashIndexChanges { partition: index.partition.clone(), base, changes });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
