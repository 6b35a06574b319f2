//! One bucket's writer state (its buffer, levels, files since the last commit, compaction
//! under way, deletion vectors) and the commit message taken from it.

use crate::error::Result;
use crate::io::FileIO;
use crate::lsm::deletion_vectors::BucketDeletionVectors;
use crate::lsm::rewrite::{CompactResult, DvState, LookupMode};
use crate::lsm::Levels;
use crate::spec::manifest::IndexManifestEntry;
use crate::spec::{BinaryRow, DataFileMeta};
use crate::store::manifests::FileNamer;
use crate::write::spill::SpilledRun;
use crate::write::write_buffer::WriteBuffer;
use crate::write::CommitMessage;

use super::context::WriteContext;

/// A bucket's background compaction: its result and, for lookup compactions, the bucket's
/// deletion-vector state handed back.
pub(super) type CompactionTask = tokio::task::JoinHandle<Result<(CompactResult, Option<DvState>)>>;

/// A bucket of a partition.
pub(super) type BucketId = (BinaryRow, i32);

pub(super) struct BucketWriter {
    pub(super) partition: BinaryRow,
    pub(super) bucket: i32,
    pub(super) buffer: WriteBuffer,
    pub(super) next_seq: i64,
    pub(super) levels: Levels,
    pub(super) new_files: Vec<DataFileMeta>,
    pub(super) changelog_files: Vec<DataFileMeta>,
    /// `changelog-producer = lookup`: changelog files of compactions.
    pub(super) compact_changelog: Vec<DataFileMeta>,
    pub(super) compact_before: Vec<DataFileMeta>,
    pub(super) compact_after: Vec<DataFileMeta>,
    /// The bucket's compaction running in the background, if any (at most one per bucket).
    pub(super) compacting: Option<CompactionTask>,
    /// Deletion-vector tables: the bucket's vectors and lookup indexes (None while a compaction
    /// holds them, or before they are first needed).
    pub(super) dv: Option<DvState>,
    /// The bucket's index manifest entries in the snapshot the writer started from, read into
    /// `dv` when the bucket first compacts.
    pub(super) dv_restore: Option<Vec<IndexManifestEntry>>,
    /// Sorted runs spilled to local disk since the last commit (`write-buffer-spillable`).
    pub(super) spilled: Vec<SpilledRun>,
}

impl BucketWriter {
    /// Takes a finished compaction into the bucket's levels and its next commit.
    pub(super) fn absorb(&mut self, (r, dv): (CompactResult, Option<DvState>)) {
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
    pub(super) async fn take_dv_state(&mut self, io: &FileIO, mode: &LookupMode) -> Result<DvState> {
        if let Some(dv) = self.dv.take() {
            return Ok(dv);
        }
        let entries = self.dv_restore.take().unwrap_or_default();
        let vectors = BucketDeletionVectors::restore(io, entries).await?.with_bitmap64(mode.bitmap64);
        Ok(DvState { vectors, cache: Default::default() })
    }
}

/// The bucket's commit message: what it wrote since the last one (unless not `with_writes`:
/// then its new files wait for the next) and its finished compactions.
pub(super) async fn take_message(
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
