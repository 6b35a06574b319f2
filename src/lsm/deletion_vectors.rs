//! The deletion vectors of one bucket while writes and compactions change them (Paimon's
//! `DeletionVectorsMaintainer`).
//!
//! A bucket of a table with `deletion-vectors.enabled` keeps, per data file on levels >= 1, a
//! roaring bitmap of the row positions that newer data superseded. Compaction adds positions
//! (a lookup found an older version of a key it writes) and drops the vectors of the files it
//! rewrote. When anything changed, all of the bucket's vectors go into one new index file
//! (`index/index-<uuid>-<n>`, layout in `spec::deletion_vector`), which replaces the bucket's
//! previous index file in the snapshot's index manifest: an ADD for the new file and a DELETE
//! for each old one, committed with the compaction (Paimon's compact increment).
//!
//! Invariant (checked by `debug_assert` and by the model tests): a position is only ever added
//! for a data file that is live in the bucket, and below that file's row count.

use std::collections::BTreeMap;
use std::sync::Arc;

use roaring::RoaringBitmap;

use crate::error::{Error, Result};
use crate::io::FileIO;
use crate::spec::deletion_vector::{decode_deletion_vector, encode_index_file};
use crate::spec::manifest::{DeletionVectorRange, IndexManifestEntry, DELETION_VECTORS_INDEX};
use crate::spec::paths::index_path;
use crate::spec::{BinaryRow, FileKind, TableSchema};
use crate::store::manifests::FileNamer;

#[derive(Clone, Debug, Default)]
pub(crate) struct BucketDeletionVectors {
    vectors: BTreeMap<String, Arc<RoaringBitmap>>,
    /// The bucket's deletion-vector index files in the snapshot the vectors came from (or last
    /// written here): what a new index file replaces.
    base_index_files: Vec<IndexManifestEntry>,
    modified: bool,
    /// Write 64-bit vectors (`deletion-vectors.bitmap64`); either kind is read.
    bitmap64: bool,
}

impl BucketDeletionVectors {
    /// Reads the vectors of one bucket from its index manifest entries (deletion-vector entries
    /// of that bucket only).
    pub(crate) async fn restore(io: &FileIO, entries: Vec<IndexManifestEntry>) -> Result<Self> {
        let mut vectors = BTreeMap::new();
        for e in &entries {
            if e.index_type != DELETION_VECTORS_INDEX {
                continue;
            }
            let path = index_path(&e.file_name);
            let bytes = io.read(&path).await?;
            let name = format!("{}/{path}", io.uri());
            for r in &e.deletion_vectors {
                let dv = decode_deletion_vector(&bytes, r.offset.max(0) as usize, r.length.max(0) as usize, &name)?;
                vectors.insert(r.data_file.clone(), Arc::new(dv));
            }
        }
        let base_index_files = entries.into_iter().filter(|e| e.index_type == DELETION_VECTORS_INDEX).collect();
        Ok(BucketDeletionVectors { vectors, base_index_files, modified: false, bitmap64: false })
    }

    /// The same vectors, written in Paimon 1.x's 64-bit layout from now on when `on`.
    pub(crate) fn with_bitmap64(mut self, on: bool) -> Self {
        self.bitmap64 = on;
        self
    }

    pub(crate) fn get(&self, data_file: &str) -> Option<&Arc<RoaringBitmap>> {
        self.vectors.get(data_file)
    }

    pub(crate) fn is_deleted(&self, data_file: &str, row: u32) -> bool {
        self.vectors.get(data_file).is_some_and(|v| v.contains(row))
    }

    /// Marks `row` of `data_file` deleted.
    pub(crate) fn delete_row(&mut self, data_file: &str, row: u32) {
        let v = match self.vectors.get_mut(data_file) {
            Some(v) => v,
            None => self.vectors.entry(data_file.to_string()).or_default(),
        };
        if Arc::make_mut(v).insert(row) {
            self.modified = true;
        }
    }

    /// Drops the vector of a file that left the bucket (compacted away).
    pub(crate) fn remove_file(&mut self, data_file: &str) {
        if self.vectors.remove(data_file).is_some() {
            self.modified = true;
        }
    }

    /// The names of the index files the vectors came from (or were last written to): what a
    /// compaction working on them read (see `CommitMessage::dv_base`).
    pub(crate) fn base_file_names(&self) -> Vec<String> {
        self.base_index_files.iter().map(|e| e.file_name.clone()).collect()
    }

    /// If the vectors changed, writes them into one new index file and returns the index
    /// manifest changes: DELETE of the bucket's previous index files, ADD of the new one (none
    /// when no vector is left). The written state becomes the new base.
    pub(crate) async fn write_index(
        &mut self,
        io: &FileIO,
        namer: &mut FileNamer,
        partition: &BinaryRow,
        bucket: i32,
    ) -> Result<Vec<IndexManifestEntry>> {
        if !self.modified {
            return Ok(vec![]);
        }
        self.vectors.retain(|_, v| !v.is_empty());
        let mut changes: Vec<IndexManifestEntry> =
            self.base_index_files.iter().map(|e| IndexManifestEntry { kind: FileKind::Delete, ..e.clone() }).collect();
        let mut base = vec![];
        if !self.vectors.is_empty() {
            let list: Vec<(String, &RoaringBitmap)> =
                self.vectors.iter().map(|(f, v)| (f.clone(), v.as_ref())).collect();
            let (bytes, ranges) = encode_index_file(&list, self.bitmap64);
            let name = namer.next("index", "");
            let size = bytes.len() as i64;
            io.write(&index_path(&name), bytes).await?;
            let entry = IndexManifestEntry {
                kind: FileKind::Add,
                partition: partition.clone(),
                bucket,
                index_type: DELETION_VECTORS_INDEX.into(),
                file_name: name,
                file_size: size,
                row_count: ranges.len() as i64,
                deletion_vectors: ranges
                    .into_iter()
                    .map(|(data_file, offset, length)| DeletionVectorRange { data_file, offset, length })
                    .collect(),
            };
            base.push(entry.clone());
            changes.push(entry);
        }
        self.base_index_files = base;
        self.modified = false;
        Ok(changes)
    }
}

/// Whether writes and compactions of the table maintain deletion vectors. Refuses the
/// combinations Paimon refuses or shoal does not maintain: first-row (it never deletes old
/// rows, so Paimon rejects vectors with it) and append tables (deletion vectors of append
/// tables are a Paimon 1.x feature).
pub(crate) fn maintained_for(schema: &TableSchema) -> Result<bool> {
    if !schema.core_options().deletion_vectors_enabled()? {
        return Ok(false);
    }
    if schema.primary_keys.is_empty() {
        return Err(Error::Unsupported(
            "deletion-vectors.enabled = true on a table without a primary key (an append table): shoal maintains \
             deletion vectors of primary-key tables only"
                .into(),
        ));
    }
    if crate::merge::MergeFunction::from_schema(schema)?.is_first_row() {
        return Err(Error::Unsupported(
            "deletion-vectors.enabled = true with merge-engine = first-row: first-row never deletes old rows, so \
             Paimon refuses deletion vectors with it"
                .into(),
        ));
    }
    Ok(true)
}

/// Applies index manifest changes to the live entries of a snapshot's index manifest, as
/// Paimon's bucketed combiner does: one index file per (partition, bucket, index type), a DELETE
/// removes the bucket's entry and an ADD replaces it.
pub(crate) fn combine_index_entries(
    previous: Vec<IndexManifestEntry>,
    changes: &[IndexManifestEntry],
) -> Vec<IndexManifestEntry> {
    let id = |e: &IndexManifestEntry| (e.partition.data().to_vec(), e.bucket, e.index_type.clone());
    let mut order = vec![];
    let mut map = std::collections::HashMap::new();
    for e in previous {
        let k = id(&e);
        if map.insert(k.clone(), e).is_none() {
            order.push(k);
        }
    }
    for e in changes.iter().filter(|e| e.kind == FileKind::Delete) {
        map.remove(&id(e));
    }
    for e in changes.iter().filter(|e| e.kind == FileKind::Add) {
        let k = id(e);
        if map.insert(k.clone(), e.clone()).is_none() {
            order.push(k);
        }
    }
    let mut seen = std::collections::HashSet::new();
    order.into_iter().filter(|k| seen.insert(k.clone())).filter_map(|k| map.remove(&k)).collect()
}

/// The index changes of a commit must start from the bucket's index files in the latest
/// snapshot: otherwise another commit changed the bucket's deletion vectors in between, and
/// this commit would silently drop its deletions.
pub(crate) fn check_index_base(latest: &[IndexManifestEntry], changes: &[IndexManifestEntry]) -> Result<()> {
    let mut buckets: Vec<(&BinaryRow, i32)> = changes.iter().map(|e| (&e.partition, e.bucket)).collect();
    buckets.sort_by(|a, b| (a.0.data(), a.1).cmp(&(b.0.data(), b.1)));
    buckets.dedup();
    for (partition, bucket) in buckets {
        let based_on: Vec<String> = changes
            .iter()
            .filter(|e| e.partition.data() == partition.data() && e.bucket == bucket)
            .filter(|e| e.index_type == DELETION_VECTORS_INDEX && e.kind == FileKind::Delete)
            .map(|e| e.file_name.clone())
            .collect();
        check_dv_base(latest, partition, bucket, &based_on)?;
    }
    Ok(())
}

/// Fails with a commit conflict unless the deletion-vector index files of `bucket` in `latest`
/// (an index manifest) are `based_on`, the ones a compaction read: a compaction that rewrote a
/// file another commit has since marked rows of would bring those rows back, even when the
/// compaction itself changed no vector.
pub(crate) fn check_dv_base(
    latest: &[IndexManifestEntry],
    partition: &BinaryRow,
    bucket: i32,
    based_on: &[String],
) -> Result<()> {
    let mut live: Vec<&str> = latest
        .iter()
        .filter(|e| e.partition.data() == partition.data() && e.bucket == bucket)
        .filter(|e| e.index_type == DELETION_VECTORS_INDEX)
        .map(|e| e.file_name.as_str())
        .collect();
    let mut based_on: Vec<&str> = based_on.iter().map(String::as_str).collect();
    live.sort();
    based_on.sort();
    if live != based_on {
        return Err(Error::CommitConflict(format!(
            "the deletion vectors of bucket {bucket} changed since this commit's compaction started (index files \
             now {live:?}, the compaction read {based_on:?}); the compaction is given up"
        )));
    }
    Ok(())
}
