//! The commit layer: commit messages in, snapshots out (see `format-spec/commit-protocol.md`).
//!
//! 1. Exactly-once: if this commit user already committed an identifier >= this one, the commit
//!    is a no-op (a streaming sink replaying its last checkpoint commits once).
//! 2. The new entries go into one delta manifest, written once.
//! 3. Per attempt: read the latest snapshot; if the commit deletes files, check they are still
//!    live there (else fail: someone else removed them); the new base list = the latest
//!    snapshot's base + delta manifests (small ones merged, Paimon's minor manifest compaction);
//!    publish `snapshot-(latest+1)` with create-if-absent. If another commit won that id, clean
//!    up this attempt's lists and retry on top of the newer snapshot.
//!
//! A committer keeps the live files of the last snapshot it checked or made
//! ([`conflicts::LiveFiles`]), so a long-running writer's conflict check reads only the
//! snapshots committed since.
//!
//! Here: [`TableCommit`] and its entry points (APPEND, then COMPACT with the compactions that
//! lost a race dropped); `publish` (one snapshot: its manifests, the attempts, create-if-absent);
//! `conflicts` (the checks against the latest snapshot); `manifests` (minor manifest merging,
//! partition stats); [`overwrite`] (OVERWRITE snapshots and their [`OverwriteScope`]); `settle`
//! ([`TableCommit::settle`]: a writer brought back in step after its commit dropped compactions). The input,
//! [`CommitMessage`], is the writer's ([`crate::write`]).

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::io::FileIO;
use crate::spec::manifest::IndexManifestEntry;
use crate::spec::paths::{bucket_dir, index_path, partition_path};
use crate::spec::snapshot::BATCH_COMMIT_IDENTIFIER;
use crate::spec::{BinaryRow, CommitKind, DataFileMeta, FileKind, ManifestEntry, TableSchema};
use crate::store::{ManifestStore, SnapshotManager};
use crate::write::{CommitMessage, DroppedCompaction};

mod conflicts;
mod manifests;
mod overwrite;
mod publish;
mod settle;

use conflicts::LiveFiles;
pub use overwrite::OverwriteScope;

/// Runs after a commit published a snapshot (given its id): Paimon's post-commit maintenance
/// (consumer and snapshot expiry, automatic tags, tag expiry). Installed by
/// [`crate::Table::new_commit`].
pub type AfterCommit = Arc<dyn Fn(i64) -> futures::future::BoxFuture<'static, Result<()>> + Send + Sync>;

/// Where a commit's `timeMillis` comes from (epoch millis).
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

pub struct TableCommit {
    schema: Arc<TableSchema>,
    after_commit: Option<AfterCommit>,
    clock: Option<Clock>,
    commit_user: String,
    snapshots: SnapshotManager,
    manifests: ManifestStore,
    max_retries: usize,
    manifest_target_size: u64,
    manifest_merge_min_count: usize,
    /// The live data files of a recent snapshot, for conflict checks (see [`LiveFiles`]).
    live: std::sync::Mutex<Option<LiveFiles>>,
    io: FileIO,
    /// Buckets whose compaction a commit gave up since the last
    /// [`TableCommit::take_dropped_compactions`].
    dropped: std::sync::Mutex<Vec<DroppedCompaction>>,
    /// The snapshot the committed rows were computed from (see [`TableCommit::with_read_snapshot`]).
    read_snapshot: Option<i64>,
    /// All of a commit's compactions commit or none (see [`TableCommit::with_atomic_compactions`]).
    atomic_compactions: bool,
}

/// What happened to a commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommitOutcome {
    /// A new snapshot with this id.
    Committed(i64),
    /// The commit user had already committed this identifier: nothing was written.
    AlreadyCommitted,
    /// Nothing to commit.
    Empty,
}

impl CommitOutcome {
    pub fn snapshot_id(&self) -> Option<i64> {
        match self {
            CommitOutcome::Committed(id) => Some(*id),
            _ => None,
        }
    }
}

impl TableCommit {
    pub fn new(io: FileIO, schema: Arc<TableSchema>, commit_user: impl Into<String>) -> Result<TableCommit> {
        let opts = schema.core_options();
        Ok(TableCommit {
            snapshots: SnapshotManager::new(io.clone()),
            manifests: ManifestStore::new(io.clone(), &opts.manifest_compression()),
            io,
            dropped: std::sync::Mutex::new(vec![]),
            read_snapshot: None,
            atomic_compactions: false,
            commit_user: commit_user.into(),
            max_retries: opts.commit_max_retries()?.max(10),
            manifest_target_size: opts.manifest_target_file_size()?,
            manifest_merge_min_count: opts.manifest_merge_min_count()?,
            live: std::sync::Mutex::new(None),
            schema,
            after_commit: None,
            clock: None,
        })
    }

    /// Runs `hook` after every commit that publishes a snapshot.
    pub fn with_after_commit(mut self, hook: Option<AfterCommit>) -> Self {
        self.after_commit = hook;
        self
    }

    /// Takes each snapshot's `timeMillis` from `clock` instead of the system clock (replays,
    /// tests of time-based maintenance such as automatic tags).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The compactions of a commit stand or fall together: when one of them no longer fits the
    /// table, all are discarded and the commit fails with a conflict, instead of committing the
    /// others (a postpone-bucket compaction moves rows out of bucket -2 into real buckets: a part
    /// of it would lose or duplicate rows).
    pub fn with_atomic_compactions(mut self) -> Self {
        self.atomic_compactions = true;
        self
    }

    pub fn commit_user(&self) -> &str {
        &self.commit_user
    }

    /// The rows this committer commits were computed from what the table held at snapshot
    /// `snapshot` (None: an empty table), as UPDATE, DELETE and MERGE INTO compute theirs: a
    /// commit fails with a conflict, to be retried from a fresh read, if another commit wrote
    /// rows into a bucket this one writes after that snapshot (first committer wins, per bucket;
    /// compactions do not count, they change no row).
    pub fn with_read_snapshot(mut self, snapshot: Option<i64>) -> Self {
        self.read_snapshot = Some(snapshot.unwrap_or(0));
        self
    }

    /// Deletes every file `messages` wrote (their new files, changelog, compaction outputs and
    /// index files), for messages that will not be committed (Paimon's `abort`). Best effort.
    pub async fn abort(&self, messages: &[CommitMessage]) {
        for m in messages {
            let writes = m.new_files.iter().chain(&m.changelog_files);
            self.delete_written(m, writes.chain(m.compaction_outputs()).chain(&m.compact_changelog_files)).await;
        }
    }

    /// A batch commit (identifier `Long.MAX_VALUE`, as Paimon's batch writes use). Every batch
    /// commit lands: exactly-once filtering is for identified (streaming) commits only, so a
    /// committer reused for several batches never drops one.
    pub async fn commit(&self, messages: Vec<CommitMessage>) -> Result<CommitOutcome> {
        self.commit_messages(BATCH_COMMIT_IDENTIFIER, None, messages).await
    }

    /// A commit carrying the writer's watermark (epoch millis, Paimon's `Snapshot.watermark`):
    /// the snapshot records the larger of it and the previous snapshot's watermark, as Paimon
    /// does. `identifier` None is a batch commit; Some makes it exactly-once like
    /// [`TableCommit::commit_with_identifier`]. Watermarks drive `tag.automatic-creation = watermark`.
    pub async fn commit_with_watermark(
        &self,
        identifier: Option<i64>,
        watermark: Option<i64>,
        messages: Vec<CommitMessage>,
    ) -> Result<CommitOutcome> {
        match identifier {
            None => self.commit_messages(BATCH_COMMIT_IDENTIFIER, watermark, messages).await,
            Some(id) => {
                if self.is_committed(id).await? {
                    return Ok(CommitOutcome::AlreadyCommitted);
                }
                self.commit_messages(id, watermark, messages).await
            }
        }
    }

    /// A commit that a streaming sink identifies by its checkpoint id: committing the same
    /// (commit user, identifier) twice commits once.
    pub async fn commit_with_identifier(&self, identifier: i64, messages: Vec<CommitMessage>) -> Result<CommitOutcome> {
        if self.is_committed(identifier).await? {
            return Ok(CommitOutcome::AlreadyCommitted);
        }
        self.commit_messages(identifier, None, messages).await
    }

    /// Commits compactions alone (messages without new files) under `identifier` (None: a batch
    /// commit), without the exactly-once check: a writer's redo of a compaction that a commit
    /// of that identifier dropped (see [`TableCommit::settle`]).
    pub async fn commit_compactions(
        &self,
        identifier: Option<i64>,
        messages: Vec<CommitMessage>,
    ) -> Result<CommitOutcome> {
        if let Some(m) = messages.iter().find(|m| !m.new_files.is_empty() || !m.changelog_files.is_empty()) {
            return Err(Error::InvalidInput(format!(
                "a commit of compactions alone got new files for bucket {}: commit them with `commit`",
                m.bucket
            )));
        }
        self.commit_messages(identifier.unwrap_or(BATCH_COMMIT_IDENTIFIER), None, messages).await
    }

    /// Deletes files and index files from the table in one OVERWRITE snapshot (Paimon's
    /// `dropPartitions`, used by partition expiry): `entries` are DELETE entries of live files,
    /// `index_changes` DELETE entries of live index files. A conflict (a file is no longer live:
    /// a compaction replaced it) fails the commit; the caller plans again.
    pub async fn commit_drop(
        &self,
        entries: Vec<ManifestEntry>,
        index_changes: Vec<IndexManifestEntry>,
    ) -> Result<CommitOutcome> {
        if let Some(e) = entries.iter().find(|e| e.kind != FileKind::Delete) {
            return Err(Error::InvalidInput(format!("a drop commit got an ADD of {}", e.file.file_name)));
        }
        if entries.is_empty() {
            return Ok(CommitOutcome::Empty);
        }
        self.commit_entries(
            BATCH_COMMIT_IDENTIFIER,
            None,
            Delta {
                kind: CommitKind::Overwrite,
                entries,
                changelog: vec![],
                index_changes,
                compactions: &[],
                hash_bases: vec![],
                overwrite: None,
            },
        )
        .await
    }

    /// Commits the writes of `messages` (one APPEND snapshot), then their compactions (one
    /// COMPACT snapshot). A compaction that lost a race (another writer or a compactor changed
    /// its bucket first: the files it replaces are gone, its level would overlap, the bucket's
    /// deletion vectors changed, or, for a writer's compaction, the bucket has files above level
    /// 0 the writer did not know) is dropped, and the other buckets' compactions commit without
    /// it: the writes never fail because of a compaction. A dropped compaction's files (its
    /// outputs, changelog and index files) are deleted, and it is reported by
    /// [`TableCommit::take_dropped_compactions`]: a writer that goes on must reload that
    /// bucket's files from the table ([`TableCommit::settle`]), or its next compactions
    /// would build on files that are not in the table.
    async fn commit_messages(
        &self,
        identifier: i64,
        watermark: Option<i64>,
        messages: Vec<CommitMessage>,
    ) -> Result<CommitOutcome> {
        let mut appends = vec![];
        let mut changelog = vec![];
        let mut hash_index = vec![];
        for m in &messages {
            appends.extend(m.new_files.iter().map(|f| entry(FileKind::Add, m, f)));
            changelog.extend(m.changelog_files.iter().map(|f| entry(FileKind::Add, m, f)));
            hash_index.extend(m.hash_index.iter());
        }
        let mut outcome = CommitOutcome::Empty;
        if !appends.is_empty() || !changelog.is_empty() || !hash_index.is_empty() {
            let mut delta = Delta::append(appends, changelog);
            delta.index_changes = hash_index.iter().flat_map(|h| h.changes.iter().cloned()).collect();
            delta.hash_bases = hash_index.iter().map(|h| (&h.partition, h.base.as_slice())).collect();
            outcome = self.commit_entries(identifier, watermark, delta).await?;
        }
        let outcome = self.commit_compaction_messages(identifier, watermark, &messages, outcome).await?;
        if let (Some(hook), Some(id)) = (&self.after_commit, outcome.snapshot_id()) {
            hook(id).await.map_err(|e| Error::AfterCommit { snapshot: id, source: Box::new(e) })?;
        }
        Ok(outcome)
    }

    /// Commits the compactions of `messages` (one COMPACT snapshot), dropping those that lost a
    /// race (see [`TableCommit::commit`]); `outcome` is that of the commit before, returned if
    /// there is no compaction to commit.
    async fn commit_compaction_messages(
        &self,
        identifier: i64,
        watermark: Option<i64>,
        messages: &[CommitMessage],
        mut outcome: CommitOutcome,
    ) -> Result<CommitOutcome> {
        let mut compactions: Vec<&CommitMessage> = messages.iter().filter(|m| m.has_compaction()).collect();
        let mut attempts = 0;
        while !compactions.is_empty() {
            let mut compacts = vec![];
            let mut index_changes = vec![];
            let mut compact_changelog = vec![];
            for m in &compactions {
                index_changes.extend(m.index_changes.iter().cloned());
                compact_changelog.extend(m.compact_changelog_files.iter().map(|f| entry(FileKind::Add, m, f)));
                compacts.extend(compaction_entries(m));
            }
            let committed = self
                .commit_entries(
                    identifier,
                    watermark,
                    Delta {
                        kind: CommitKind::Compact,
                        entries: compacts,
                        changelog: compact_changelog,
                        index_changes,
                        compactions: &compactions,
                        hash_bases: vec![],
                        overwrite: None,
                    },
                )
                .await;
            match committed {
                Ok(o) => {
                    outcome = o;
                    break;
                }
                Err(Error::CommitConflict(reason)) => {
                    attempts += 1;
                    let stale = self.stale_compactions(&compactions).await?;
                    if stale.is_empty() {
                        if attempts > self.max_retries {
                            return Err(Error::CommitConflict(reason));
                        }
                        continue; // the table moved on while it was checked: check again
                    }
                    if self.atomic_compactions {
                        for m in &compactions {
                            self.discard_compaction(m).await;
                        }
                        let why = stale.iter().map(|(_, r)| r.as_str()).collect::<Vec<_>>().join("; ");
                        return Err(Error::CommitConflict(format!("the compaction no longer fits the table: {why}")));
                    }
                    let mut kept = vec![];
                    for (i, m) in compactions.into_iter().enumerate() {
                        match stale.iter().find(|(j, _)| *j == i) {
                            Some((_, reason)) => {
                                self.discard_compaction(m).await;
                                let dropped = DroppedCompaction {
                                    partition: m.partition.clone(),
                                    bucket: m.bucket,
                                    reason: reason.clone(),
                                };
                                if let Ok(mut d) = self.dropped.lock() {
                                    d.push(dropped);
                                }
                            }
                            None => kept.push(m),
                        }
                    }
                    compactions = kept;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(outcome)
    }

    /// The compactions the commits since the last call dropped because another commit changed
    /// their bucket first (see [`TableCommit::commit`]), in commit order.
    pub fn take_dropped_compactions(&self) -> Vec<DroppedCompaction> {
        self.dropped.lock().map(|mut d| std::mem::take(&mut *d)).unwrap_or_default()
    }

    /// Deletes what a dropped compaction wrote: its new data files (not those it only moved to
    /// another level, which keep their names), its changelog files and its new index files.
    /// Best effort: what is left is unreferenced, for orphan-file removal.
    async fn discard_compaction(&self, m: &CommitMessage) {
        self.delete_written(m, m.compaction_outputs().chain(&m.compact_changelog_files)).await;
    }

    /// Deletes `files` from `m`'s bucket directory, and the index files `m` adds. Best effort.
    async fn delete_written<'a>(&self, m: &CommitMessage, files: impl Iterator<Item = &'a DataFileMeta>) {
        let opts = self.schema.core_options();
        let Ok(partition) = partition_path(
            &m.partition,
            &self.schema.partition_keys,
            &self.schema.partition_types(),
            opts.partition_default_name(),
        ) else {
            return;
        };
        let dir = bucket_dir(&partition, m.bucket);
        for f in files {
            let _ = self.io.delete(&format!("{dir}/{}", f.file_name)).await;
        }
        for e in m.index_changes.iter().filter(|e| e.kind == FileKind::Add) {
            let _ = self.io.delete(&index_path(&e.file_name)).await;
        }
    }

    /// The identifier of this user's latest commit, if any.
    pub async fn last_committed_identifier(&self) -> Result<Option<i64>> {
        Ok(self.snapshots.latest_of_user(&self.commit_user).await?.map(|s| s.commit_identifier))
    }

    /// Whether this user already committed `identifier` (or a later one).
    pub async fn is_committed(&self, identifier: i64) -> Result<bool> {
        Ok(match self.snapshots.latest_of_user(&self.commit_user).await? {
            Some(s) => s.commit_identifier >= identifier,
            None => false,
        })
    }
}

/// What one snapshot commits.
struct Delta<'a> {
    kind: CommitKind,
    entries: Vec<ManifestEntry>,
    changelog: Vec<ManifestEntry>,
    index_changes: Vec<IndexManifestEntry>,
    /// The compactions `entries` come from (COMPACT), for their conflict checks.
    compactions: &'a [&'a CommitMessage],
    /// Dynamic-bucket appends: per partition, the hash index files its bucket assignments
    /// were based on (checked against the latest snapshot).
    hash_bases: Vec<(&'a BinaryRow, &'a [String])>,
    /// An overwrite: at each attempt, every live data file and index file of the partitions
    /// this accepts, in the latest snapshot, is deleted besides `entries` (the new files).
    overwrite: Option<&'a PartitionTest<'a>>,
}

/// Whether a partition is overwritten.
type PartitionTest<'a> = dyn Fn(&BinaryRow) -> Result<bool> + Send + Sync + 'a;

impl Delta<'_> {
    fn append(entries: Vec<ManifestEntry>, changelog: Vec<ManifestEntry>) -> Self {
        Delta {
            kind: CommitKind::Append,
            entries,
            changelog,
            index_changes: vec![],
            compactions: &[],
            hash_bases: vec![],
            overwrite: None,
        }
    }
}

fn entry(kind: FileKind, m: &CommitMessage, f: &DataFileMeta) -> ManifestEntry {
    ManifestEntry {
        kind,
        partition: m.partition.clone(),
        bucket: m.bucket,
        total_buckets: m.total_buckets,
        file: f.clone(),
    }
}

/// A compaction as manifest entries: DELETE of the files it replaces, ADD of its result.
fn compaction_entries(m: &CommitMessage) -> Vec<ManifestEntry> {
    let deletes = m.compact_before.iter().map(|f| entry(FileKind::Delete, m, f));
    deletes.chain(m.compact_after.iter().map(|f| entry(FileKind::Add, m, f))).collect()
}
