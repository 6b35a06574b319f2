//! What a writer hands to a commit: one [`CommitMessage`] per bucket it changed; and what a
//! commit hands back when it dropped a compaction ([`DroppedCompaction`]).

use crate::spec::manifest::IndexManifestEntry;
use crate::spec::{BinaryRow, DataFileMeta};
use crate::write::dynamic_bucket::HashIndexChanges;

/// What one bucket changed: new files from writes and their changelog files (committed as an
/// APPEND snapshot), and the files a compaction removed and produced (committed as a COMPACT
/// snapshot after it). Paimon's CommitMessage: `newFilesIncrement` (newFiles, changelogFiles)
/// and `compactIncrement` (compactBefore, compactAfter).
#[derive(Clone, Debug, PartialEq)]
pub struct CommitMessage {
    pub partition: BinaryRow,
    pub bucket: i32,
    pub total_buckets: i32,
    pub new_files: Vec<DataFileMeta>,
    /// `changelog-producer = input`: the input rows of `new_files`, unmerged, with their row kinds
    /// (`changelog-<uuid>-<n>.<format>` files in the bucket directory).
    pub changelog_files: Vec<DataFileMeta>,
    pub compact_before: Vec<DataFileMeta>,
    pub compact_after: Vec<DataFileMeta>,
    /// `changelog-producer = lookup`: the changelog of the compaction, committed with the
    /// COMPACT snapshot (Paimon's `compactIncrement.changelogFiles`).
    pub compact_changelog_files: Vec<DataFileMeta>,
    /// Deletion-vector index changes of the bucket, committed with the compaction: DELETE of the
    /// index files the compaction started from, ADD of the one replacing them (Paimon's
    /// `compactIncrement` new/deleted index files).
    pub index_changes: Vec<IndexManifestEntry>,
    /// A compaction that looked keys up (a writer's, or a dedicated compactor's on tables with
    /// deletion vectors or a lookup changelog): the bucket's files above level 0 (name, level)
    /// as it knew them when it was planned. The compaction is dropped if the bucket holds other
    /// files above level 0 when it commits: it was planned, and its lookups (deletion vectors,
    /// changelog, retractions dropped) made, without them. None (a dedicated compactor's plain
    /// rewrite): only the files it deletes, the levels it adds to and the deletion vectors it
    /// read are checked.
    pub compact_base: Option<Vec<(String, i32)>>,
    /// A compaction of a deletion-vector table: the bucket's deletion-vector index files its
    /// lookups read. The compaction is dropped if the bucket's index files differ when it
    /// commits, whether or not it changed a vector itself: another commit marked rows of files
    /// it may have rewritten (they would come back).
    pub dv_base: Option<Vec<String>>,
    /// Dynamic-bucket tables: the hash index changes of this message's partition (carried by
    /// one message per partition), committed with the appended files.
    pub hash_index: Option<HashIndexChanges>,
}

/// A compaction a commit dropped because another commit changed its bucket first (see
/// `TableCommit::take_dropped_compactions` in the commit layer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DroppedCompaction {
    pub partition: BinaryRow,
    pub bucket: i32,
    /// Why it no longer fit the table.
    pub reason: String,
}

impl CommitMessage {
    pub fn new(partition: BinaryRow, bucket: i32, total_buckets: i32) -> Self {
        CommitMessage {
            partition,
            bucket,
            total_buckets,
            new_files: vec![],
            changelog_files: vec![],
            compact_before: vec![],
            compact_after: vec![],
            compact_changelog_files: vec![],
            index_changes: vec![],
            compact_base: None,
            dv_base: None,
            hash_index: None,
        }
    }
    pub fn is_empty(&self) -> bool {
        self.new_files.is_empty()
            && self.changelog_files.is_empty()
            && !self.has_compaction()
            && self.hash_index.is_none()
    }

    /// Whether it carries a compaction (files replaced, its changelog or deletion vectors).
    pub fn has_compaction(&self) -> bool {
        !self.compact_before.is_empty()
            || !self.compact_after.is_empty()
            || !self.index_changes.is_empty()
            || !self.compact_changelog_files.is_empty()
    }

    /// The compaction's new data files: its outputs but those it only moved to another level
    /// (they keep their names).
    pub fn compaction_outputs(&self) -> impl Iterator<Item = &DataFileMeta> {
        self.compact_after.iter().filter(|a| !self.compact_before.iter().any(|b| b.file_name == a.file_name))
    }
}
