//! What a writer starts from: the files (and deletion-vector and hash index entries) of the
//! latest snapshot's buckets; and a bucket's view taken again from the table after a commit
//! dropped its compaction.

use std::collections::HashMap;

use crate::error::Result;
use crate::io::FileIO;
use crate::lsm::Levels;
use crate::spec::manifest::{IndexManifestEntry, DELETION_VECTORS_INDEX};
use crate::spec::{DataFileMeta, TableSchema};
use crate::store::{ManifestStore, SnapshotManager};
use crate::write::DroppedCompaction;

use super::bucket::BucketId;
use super::TableWrite;

impl TableWrite {
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
}

/// The index entries of the latest snapshot of a dynamic-bucket table (its hash index files;
/// the assigner ignores other types).
pub(super) async fn latest_hash_index(io: &FileIO, schema: &TableSchema) -> Result<Vec<IndexManifestEntry>> {
    let Some(latest) = SnapshotManager::new(io.clone()).latest().await? else { return Ok(vec![]) };
    let Some(index) = &latest.index_manifest else { return Ok(vec![]) };
    ManifestStore::new(io.clone(), &schema.core_options().manifest_compression()).read_index_manifest(index).await
}

/// The live files of the latest snapshot's buckets that `wanted` keeps, and (with
/// `deletion_vectors`) their index manifest entries.
pub(super) async fn latest_buckets(
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
