//! The commit protocol (see `format-spec/commit-protocol.md`).
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
//! A committer keeps the live files of the last snapshot it checked or made ([`LiveFiles`]),
//! so a long-running writer's conflict check reads only the snapshots committed since.

use std::collections::HashSet;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::io::FileIO;
use crate::lsm::deletion_vectors::{check_dv_base, check_index_base, combine_index_entries};
use crate::spec::manifest::{FileIdentifier, IndexManifestEntry};
use crate::spec::paths::{bucket_dir, index_path, partition_path};
use crate::spec::snapshot::{BATCH_COMMIT_IDENTIFIER, SNAPSHOT_VERSION};
use crate::spec::{
    BinaryRow, CommitKind, DataFileMeta, DataType, Datum, FileKind, ManifestEntry, ManifestFileMeta, NullStyle,
    SimpleStats, Snapshot, TableSchema,
};
use crate::store::manifests::{merge_entries, FileNamer};
use crate::store::{ManifestStore, SnapshotManager};
use crate::write::dynamic_bucket::{check_hash_index_base, HashIndexChanges};
use crate::write::overwrite::{describe, OverwriteScope};

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
/// [`TableCommit::take_dropped_compactions`]).
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

    /// The compaction as manifest entries: DELETE of the files it replaces, ADD of its result.
    fn compaction_entries(&self) -> Vec<ManifestEntry> {
        let deletes = self.compact_before.iter().map(|f| entry(FileKind::Delete, self, f));
        deletes.chain(self.compact_after.iter().map(|f| entry(FileKind::Add, self, f))).collect()
    }
}

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

/// The live data files of one snapshot, kept by a committer between its commits: the next
/// conflict check brings them forward by the delta of each newer snapshot (none when the
/// committer made the latest one) instead of reading every manifest of the table again, which
/// made a streaming writer's compaction commits slower the longer it ran.
struct LiveFiles {
    snapshot: i64,
    files: std::collections::HashMap<FileIdentifier, ManifestEntry>,
}

impl LiveFiles {
    /// A snapshot further ahead than this is read in full rather than by its deltas.
    const MAX_CATCH_UP: i64 = 64;

    /// Applies the delta of the next snapshot `snapshot`, with Paimon's merge rules: an ADD of a
    /// live file or a DELETE of a file not live is a corrupt table.
    fn apply(&mut self, snapshot: i64, delta: impl IntoIterator<Item = ManifestEntry>) -> Result<()> {
        let corrupt = |what: String| -> Error {
            crate::spec::SpecError::corrupt("manifest", format!("snapshot {snapshot}"), what).into()
        };
        for e in delta {
            let id = e.identifier();
            match e.kind {
                FileKind::Add => {
                    if self.files.insert(id, e).is_some() {
                        return Err(corrupt("a live file is added again".to_string()));
                    }
                }
                FileKind::Delete => {
                    if self.files.remove(&id).is_none() {
                        return Err(corrupt(format!("file {} is deleted but is not live", id.file_name)));
                    }
                }
            }
        }
        self.snapshot = snapshot;
        Ok(())
    }
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
    /// of that identifier dropped (see `TableWrite::settle_commit`).
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
    /// bucket's files from the table (`TableWrite::settle_commit`), or its next compactions
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
                compacts.extend(m.compaction_entries());
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

    /// An overwrite (Paimon's `overwrite`, see [`crate::write::overwrite`]): one OVERWRITE
    /// snapshot that deletes every data file and index file of the partitions `scope` covers,
    /// as of the latest snapshot when it commits (read again at each attempt), and adds the new
    /// files of `messages`; their compactions follow in a COMPACT snapshot. `messages` must come
    /// from a writer that ignored the previous files ([`crate::Table::new_write_overwrite`]).
    /// Changelog files are not committed (as in Paimon) and are deleted.
    ///
    /// A static scope fails, before anything is committed, when a new file lies outside it; a
    /// dynamic scope with no new files commits nothing. When the overwrite fails before its
    /// snapshot (that error, or a conflict), the files of `messages` are deleted.
    pub async fn overwrite(&self, scope: &OverwriteScope, messages: Vec<CommitMessage>) -> Result<CommitOutcome> {
        let result = self.overwrite_only(scope, &messages).await;
        let outcome = match result {
            Ok(o) => o,
            Err(e) => {
                if matches!(e, Error::InvalidInput(_) | Error::CommitConflict(_)) {
                    self.abort(&messages).await;
                }
                return Err(e);
            }
        };
        // Changelog is not part of an overwrite: its files go.
        for m in &messages {
            self.delete_written(
                &CommitMessage::new(m.partition.clone(), m.bucket, m.total_buckets),
                m.changelog_files.iter().chain(&m.compact_changelog_files),
            )
            .await;
        }
        let messages: Vec<CommitMessage> = messages
            .into_iter()
            .map(|m| CommitMessage { changelog_files: vec![], compact_changelog_files: vec![], ..m })
            .collect();
        let outcome = self.commit_compaction_messages(BATCH_COMMIT_IDENTIFIER, None, &messages, outcome).await?;
        if let (Some(hook), Some(id)) = (&self.after_commit, outcome.snapshot_id()) {
            hook(id).await.map_err(|e| Error::AfterCommit { snapshot: id, source: Box::new(e) })?;
        }
        Ok(outcome)
    }

    /// The OVERWRITE snapshot of [`TableCommit::overwrite`].
    async fn overwrite_only(&self, scope: &OverwriteScope, messages: &[CommitMessage]) -> Result<CommitOutcome> {
        scope.validate(&self.schema)?;
        // As Paimon: dynamic partition overwrite applies to partitioned tables only.
        let whole = OverwriteScope::whole_table();
        let scope = match scope {
            OverwriteScope::Dynamic if self.schema.partition_keys.is_empty() => &whole,
            other => other,
        };
        let adds: Vec<ManifestEntry> =
            messages.iter().flat_map(|m| m.new_files.iter().map(move |f| entry(FileKind::Add, m, f))).collect();
        let schema = &self.schema;
        let dynamic: HashSet<Vec<u8>>;
        let test: Box<PartitionTest<'_>> = match scope {
            OverwriteScope::Static(pairs) => {
                for m in messages.iter().filter(|m| !m.new_files.is_empty()) {
                    if !OverwriteScope::static_matches(pairs, schema, &m.partition)? {
                        let opts = schema.core_options();
                        let path = partition_path(
                            &m.partition,
                            &schema.partition_keys,
                            &schema.partition_types(),
                            opts.partition_default_name(),
                        )
                        .unwrap_or_else(|_| "?".into());
                        return Err(Error::InvalidInput(format!(
                            "overwrite of partition {}: new rows are in partition {}, outside it",
                            describe(pairs),
                            path.trim_end_matches('/')
                        )));
                    }
                }
                Box::new(move |p: &BinaryRow| OverwriteScope::static_matches(pairs, schema, p))
            }
            OverwriteScope::Dynamic => {
                if adds.is_empty() {
                    return Ok(CommitOutcome::Empty);
                }
                dynamic = adds.iter().map(|e| e.partition.data().to_vec()).collect();
                let dynamic = &dynamic;
                Box::new(move |p: &BinaryRow| Ok(dynamic.contains(p.data())))
            }
        };
        // Dynamic-bucket tables: the new partitions' hash index files (the writer started from
        // an empty index; the old files go with the overwritten partitions).
        let hash_adds: Vec<IndexManifestEntry> = messages
            .iter()
            .flat_map(|m| m.hash_index.iter().flat_map(|h| h.changes.iter()))
            .filter(|e| e.kind == FileKind::Add)
            .cloned()
            .collect();
        let delta = Delta {
            kind: CommitKind::Overwrite,
            entries: adds,
            changelog: vec![],
            index_changes: hash_adds,
            compactions: &[],
            hash_bases: vec![],
            overwrite: Some(test.as_ref()),
        };
        self.commit_entries(BATCH_COMMIT_IDENTIFIER, None, delta).await
    }

    /// The DELETE entries of the live data files and index files of the partitions `test`
    /// accepts in `latest`, in a stable order.
    async fn overwritten_files(
        &self,
        latest: Option<&Snapshot>,
        test: &PartitionTest<'_>,
    ) -> Result<(Vec<ManifestEntry>, Vec<IndexManifestEntry>)> {
        let Some(latest) = latest else { return Ok((vec![], vec![])) };
        self.bring_live_files_to(latest).await?;
        let cached: Option<Vec<ManifestEntry>> =
            self.live.lock().ok().and_then(|g| {
                g.as_ref().filter(|l| l.snapshot == latest.id).map(|l| l.files.values().cloned().collect())
            });
        let live = match cached {
            Some(l) => l,
            None => self.manifests.live_files(latest).await?,
        };
        let mut files = vec![];
        for e in live {
            if test(&e.partition)? {
                files.push(ManifestEntry { kind: FileKind::Delete, ..e });
            }
        }
        files.sort_by(|a, b| {
            (a.partition.data(), a.bucket, &a.file.file_name).cmp(&(b.partition.data(), b.bucket, &b.file.file_name))
        });
        let mut index = vec![];
        if let Some(name) = &latest.index_manifest {
            for e in self.manifests.read_index_manifest(name).await? {
                if test(&e.partition)? {
                    index.push(IndexManifestEntry { kind: FileKind::Delete, ..e });
                }
            }
        }
        Ok((files, index))
    }

    /// The compactions the commits since the last call dropped because another commit changed
    /// their bucket first (see [`TableCommit::commit`]), in commit order.
    pub fn take_dropped_compactions(&self) -> Vec<DroppedCompaction> {
        self.dropped.lock().map(|mut d| std::mem::take(&mut *d)).unwrap_or_default()
    }

    /// Which of `compactions` (by position) no longer fit the latest snapshot, and why.
    async fn stale_compactions(&self, compactions: &[&CommitMessage]) -> Result<Vec<(usize, String)>> {
        let latest = self.snapshots.latest().await?;
        let index = match latest.as_ref().and_then(|s| s.index_manifest.as_ref()) {
            Some(name) => self.manifests.read_index_manifest(name).await?,
            None => vec![],
        };
        if let Some(latest) = &latest {
            self.bring_live_files_to(latest).await?;
        }
        let guard = self.live.lock().map_err(|_| Error::Task("the committer's live-file cache was poisoned".into()))?;
        let empty = Default::default();
        let live = match (&latest, guard.as_ref()) {
            (None, _) => &empty,
            (Some(latest), Some(l)) if l.snapshot == latest.id => &l.files,
            // Moved on meanwhile: nothing is known stale; the next attempt checks again.
            _ => return Ok(vec![]),
        };
        let mut stale = vec![];
        for (i, m) in compactions.iter().enumerate() {
            let changes = m.compaction_entries();
            let deletes: Vec<FileIdentifier> =
                changes.iter().filter(|e| e.kind == FileKind::Delete).map(ManifestEntry::identifier).collect();
            let checked = check_conflicts_in(live, &deletes, &changes, std::slice::from_ref(m), &self.schema)
                .and_then(|_| check_index_base(&index, &m.index_changes))
                .and_then(|_| check_dv_bases(&index, std::slice::from_ref(m)));
            if let Err(e) = checked {
                stale.push((i, e.to_string()));
            }
        }
        Ok(stale)
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

    async fn commit_entries(&self, identifier: i64, watermark: Option<i64>, delta: Delta<'_>) -> Result<CommitOutcome> {
        let Delta { kind, mut entries, changelog, mut index_changes, compactions, hash_bases, overwrite } = delta;
        let partition_types = self.schema.partition_types();
        let mut namer = FileNamer::new();
        // An overwrite: the new files and index files; each attempt adds the deletes of the
        // overwritten partitions as of its latest snapshot.
        let (new_entries, new_index) = match overwrite {
            Some(_) => (entries.clone(), index_changes.clone()),
            None => (vec![], vec![]),
        };
        let mut delta_meta = match overwrite {
            Some(_) => None, // written per attempt
            None => Some(
                self.manifests
                    .write_manifest(&mut namer, &entries, self.schema.id, partition_stats(&entries, &partition_types))
                    .await?,
            ),
        };
        // Paimon's FileStoreCommitImpl: the changelog files go into one manifest of their own,
        // listed by the snapshot's `changelogManifestList` (written once, shared by retries).
        let changelog_list = if changelog.is_empty() {
            None
        } else {
            let meta = self
                .manifests
                .write_manifest(&mut namer, &changelog, self.schema.id, partition_stats(&changelog, &partition_types))
                .await?;
            Some(self.manifests.write_manifest_list(&mut namer, std::slice::from_ref(&meta)).await?)
        };
        let changelog_records: i64 = changelog.iter().map(|e| e.file.row_count).sum();

        for attempt in 0..=self.max_retries {
            if attempt > 0 {
                // Lost the race for the last id: back off with jitter, so that committers
                // contending for the same table do not keep colliding in lockstep.
                let cap_ms = (10u64 << attempt.min(7)).min(1000);
                let wait = rand::random_range(cap_ms / 2..=cap_ms);
                tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
            }
            let latest = self.snapshots.latest().await?;
            if let Some(test) = overwrite {
                let (deleted, deleted_index) = self.overwritten_files(latest.as_ref(), test).await?;
                let next: Vec<ManifestEntry> = deleted.into_iter().chain(new_entries.iter().cloned()).collect();
                if delta_meta.is_some() && next != entries {
                    // Another commit changed the overwritten partitions: this attempt's delta differs.
                    if let Some(old) = delta_meta.take() {
                        let _ = self.manifests.delete(&old.file_name).await;
                    }
                }
                entries = next;
                index_changes = deleted_index.into_iter().chain(new_index.iter().cloned()).collect();
                if entries.is_empty() && index_changes.is_empty() {
                    // Nothing to delete, nothing to add: no snapshot.
                    self.delete_commit_manifests(delta_meta.as_ref().map(|m| m.file_name.as_str()), None).await;
                    return Ok(CommitOutcome::Empty);
                }
            }
            let delta_meta: &ManifestFileMeta = match delta_meta.take() {
                Some(m) => delta_meta.insert(m),
                None => {
                    let stats = partition_stats(&entries, &partition_types);
                    delta_meta.insert(self.manifests.write_manifest(&mut namer, &entries, self.schema.id, stats).await?)
                }
            };
            let deletes: Vec<FileIdentifier> =
                entries.iter().filter(|e| e.kind == FileKind::Delete).map(ManifestEntry::identifier).collect();
            let delta_records: i64 = entries
                .iter()
                .map(|e| if e.kind == FileKind::Add { e.file.row_count } else { -e.file.row_count })
                .sum();
            // Deletion-vector changes: the latest index manifest with this commit's buckets replaced.
            let mut index_manifest = latest.as_ref().and_then(|s| s.index_manifest.clone());
            let dv_based = compactions.iter().any(|m| m.dv_base.is_some());
            let previous_index = match (&index_manifest, index_changes.is_empty() && !dv_based) {
                (Some(name), false) => self.manifests.read_index_manifest(name).await?,
                _ => vec![],
            };
            let checked = async {
                if let (Some(base), CommitKind::Append) = (self.read_snapshot, kind) {
                    self.check_rows_unchanged_since(base, latest.as_ref(), &entries).await?;
                }
                let based = compactions.iter().any(|m| m.compact_base.is_some());
                if !deletes.is_empty() || based || entries.iter().any(|e| e.file.level > 0) {
                    self.check_conflicts(latest.as_ref(), &deletes, &entries, compactions).await?;
                }
                check_index_base(&previous_index, &index_changes)?;
                for (partition, base) in &hash_bases {
                    check_hash_index_base(&previous_index, partition, base)?;
                }
                check_dv_bases(&previous_index, compactions)
            };
            if let Err(e) = checked.await {
                // Given up before publishing anything: this commit's manifests go.
                self.delete_commit_manifests(Some(&delta_meta.file_name), changelog_list.as_deref()).await;
                return Err(e);
            }
            let base_metas = match &latest {
                Some(s) => self.manifests.data_manifests(s).await?,
                None => vec![],
            };
            let (base_metas, mut written) = self.merge_manifests(&mut namer, base_metas, &partition_types).await?;
            if !index_changes.is_empty() {
                let combined = combine_index_entries(previous_index, &index_changes);
                index_manifest = if combined.is_empty() {
                    None
                } else {
                    let name = self.manifests.write_index_manifest(&mut namer, &combined).await?;
                    written.push(name.clone());
                    Some(name)
                };
            }
            let base_list = self.manifests.write_manifest_list(&mut namer, &base_metas).await?;
            let delta_list = self.manifests.write_manifest_list(&mut namer, std::slice::from_ref(delta_meta)).await?;
            let id = latest.as_ref().map(|s| s.id + 1).unwrap_or(1);
            let snapshot = Snapshot {
                version: SNAPSHOT_VERSION,
                id,
                schema_id: self.schema.id,
                base_manifest_list: base_list.clone(),
                base_manifest_list_size: None,
                delta_manifest_list: delta_list.clone(),
                delta_manifest_list_size: None,
                changelog_manifest_list: changelog_list.clone(),
                changelog_manifest_list_size: None,
                index_manifest,
                commit_user: self.commit_user.clone(),
                commit_identifier: identifier,
                commit_kind: kind,
                time_millis: match &self.clock {
                    Some(clock) => clock(),
                    None => chrono::Utc::now().timestamp_millis(),
                },
                log_offsets: Some(Default::default()),
                total_record_count: Some(
                    latest.as_ref().and_then(|s| s.total_record_count).unwrap_or(0) + delta_records,
                ),
                delta_record_count: Some(delta_records),
                changelog_record_count: Some(changelog_records),
                watermark: match (watermark, latest.as_ref().and_then(|s| s.watermark)) {
                    (Some(w), Some(l)) => Some(w.max(l)),
                    (w, l) => w.or(l),
                },
                statistics: None,
            };
            if self.snapshots.create(&snapshot).await? {
                if !self.published_off_chain(&snapshot, &delta_meta.file_name, &entries).await? {
                    self.snapshots.publish_hints(&snapshot).await;
                    self.remember_commit(id, &entries);
                    return Ok(CommitOutcome::Committed(id));
                }
                // The id had been taken and expired while this attempt was between reading the
                // latest snapshot and publishing: take the stray snapshot back, then retry. If it
                // cannot be deleted the commit fails (a stray snapshot must not look committed).
                self.snapshots.delete(id).await?;
            }
            // Lost the race for this id: drop this attempt's lists and merged manifests, retry.
            for name in [base_list, delta_list].into_iter().chain(written) {
                let _ = self.manifests.delete(&name).await;
            }
        }
        self.delete_commit_manifests(delta_meta.as_ref().map(|m| m.file_name.as_str()), changelog_list.as_deref())
            .await;
        Err(Error::CommitConflict(format!(
            "gave up after {} attempts: other commits kept taking the next snapshot id",
            self.max_retries + 1
        )))
    }

    /// No commit after snapshot `base` up to `latest` (but compactions) wrote into a bucket that
    /// `entries` write to: the rows of this commit, computed from `base`, are still right.
    async fn check_rows_unchanged_since(
        &self,
        base: i64,
        latest: Option<&Snapshot>,
        entries: &[ManifestEntry],
    ) -> Result<()> {
        let Some(latest) = latest else { return Ok(()) };
        let written: HashSet<(&[u8], i32)> = entries.iter().map(|e| (e.partition.data(), e.bucket)).collect();
        for id in base + 1..=latest.id {
            let s = match self.snapshots.snapshot(id).await {
                Ok(s) => s,
                Err(_) => {
                    return Err(Error::CommitConflict(format!(
                        "snapshot {id}, committed after snapshot {base} that this statement read, is gone (expired): \
                         cannot tell whether it changed the rows; run the statement again"
                    )))
                }
            };
            if s.commit_kind == CommitKind::Compact {
                continue;
            }
            let metas = self.manifests.read_manifest_list(&s.delta_manifest_list).await?;
            for e in self.manifests.read_entries(&metas).await? {
                if written.contains(&(e.partition.data(), e.bucket)) {
                    return Err(Error::CommitConflict(format!(
                        "bucket {} changed since snapshot {base}, which this statement read: snapshot {id} ({:?} by {}) \
                         wrote into it; run the statement again",
                        e.bucket, s.commit_kind, s.commit_user
                    )));
                }
            }
        }
        Ok(())
    }

    /// Deletes a commit's delta manifest and changelog manifest list (and its manifest), for a
    /// commit given up before any snapshot referred to them. Best effort.
    async fn delete_commit_manifests(&self, delta: Option<&str>, changelog_list: Option<&str>) {
        if let Some(delta) = delta {
            let _ = self.manifests.delete(delta).await;
        }
        if let Some(list) = changelog_list {
            for m in self.manifests.read_manifest_list(list).await.unwrap_or_default() {
                let _ = self.manifests.delete(&m.file_name).await;
            }
            let _ = self.manifests.delete(list).await;
        }
    }

    /// Whether `snapshot`, just created by this committer, is off the table's chain of
    /// snapshots: create-if-absent only proves its id was free, and an id is free again once a
    /// snapshot that had it expired. A committer that stalls between reading snapshot N-1 as the
    /// latest and creating snapshot-N can find N committed by another writer and expired since
    /// (with small `snapshot.num-retained.*`), and its snapshot would be published below the
    /// latest, its rows never read. So: if no snapshot newer than ours is listed, ours is the
    /// latest (expiry never removes the latest). Otherwise ours is on the chain only if the next
    /// snapshot was built on it: its base lists our delta manifest, or (after a manifest merge)
    /// holds the files we added (or no longer holds those we deleted). Our files have unique
    /// names, so a snapshot built on the expired one never holds them.
    async fn published_off_chain(
        &self,
        snapshot: &Snapshot,
        delta_manifest: &str,
        entries: &[ManifestEntry],
    ) -> Result<bool> {
        let newer: Vec<i64> = self.snapshots.snapshot_ids().await?.into_iter().filter(|&i| i > snapshot.id).collect();
        let mut next = None;
        for id in newer {
            match self.snapshots.snapshot(id).await {
                Ok(s) => {
                    next = Some(s);
                    break;
                }
                Err(Error::SnapshotNotFound(_)) => continue, // expired meanwhile: the next one
                Err(e) => return Err(e),
            }
        }
        let Some(next) = next else { return Ok(false) };
        let base = self.manifests.read_manifest_list(&next.base_manifest_list).await?;
        if base.iter().any(|m| m.file_name == delta_manifest) {
            return Ok(false);
        }
        let live: HashSet<FileIdentifier> =
            merge_entries(self.manifests.read_entries(&base).await?, false, &format!("snapshot {}", next.id))?
                .into_iter()
                .filter(|e| e.kind == FileKind::Add)
                .map(|e| e.identifier())
                .collect();
        if let Some(added) = entries.iter().find(|e| e.kind == FileKind::Add) {
            return Ok(!live.contains(&added.identifier()));
        }
        Ok(entries.iter().any(|e| e.kind == FileKind::Delete && live.contains(&e.identifier())))
    }

    /// Paimon's conflict checks before a commit that deletes files or adds files above level 0:
    /// every file to delete must still be live, and afterwards no two files on one level >= 1 of
    /// a bucket may overlap in key range (another writer or compactor changed the bucket). Only
    /// buckets this commit adds files to can get new overlaps.
    async fn check_conflicts(
        &self,
        latest: Option<&Snapshot>,
        deletes: &[FileIdentifier],
        changes: &[ManifestEntry],
        compactions: &[&CommitMessage],
    ) -> Result<()> {
        let Some(latest) = latest else {
            return check_conflicts_in(&Default::default(), deletes, changes, compactions, &self.schema);
        };
        self.bring_live_files_to(latest).await?;
        let guard = self.live.lock().map_err(|_| Error::Task("the committer's live-file cache was poisoned".into()))?;
        let live = guard.as_ref().filter(|l| l.snapshot == latest.id).ok_or_else(|| {
            Error::CommitConflict(format!(
                "the live files of snapshot {} changed while this commit read them",
                latest.id
            ))
        })?;
        check_conflicts_in(&live.files, deletes, changes, compactions, &self.schema)
    }

    /// Brings the cached live files to `latest`: by the deltas of the snapshots after the
    /// cached one, or by reading `latest`'s manifests when there is no cache, it is too far
    /// behind, or a snapshot in between is gone.
    async fn bring_live_files_to(&self, latest: &Snapshot) -> Result<()> {
        let cached = self.live.lock().ok().and_then(|l| l.as_ref().map(|l| l.snapshot));
        if let Some(from) = cached.filter(|&c| c <= latest.id && latest.id - c <= LiveFiles::MAX_CATCH_UP) {
            let mut deltas = vec![];
            for id in from + 1..=latest.id {
                // A snapshot or manifest expired meanwhile: read `latest` in full below.
                let delta = async {
                    let s = self.snapshots.snapshot(id).await?;
                    let metas = self.manifests.read_manifest_list(&s.delta_manifest_list).await?;
                    self.manifests.read_entries(&metas).await
                };
                match delta.await {
                    Ok(d) => deltas.push((id, d)),
                    Err(_) => break,
                }
            }
            if deltas.len() as i64 == latest.id - from {
                let mut guard =
                    self.live.lock().map_err(|_| Error::Task("the committer's live-file cache was poisoned".into()))?;
                if let Some(live) = guard.as_mut().filter(|l| l.snapshot == from) {
                    for (id, delta) in deltas {
                        if let Err(e) = live.apply(id, delta) {
                            *guard = None;
                            return Err(e);
                        }
                    }
                    return Ok(());
                }
            }
        }
        let files = self.manifests.live_files(latest).await?.into_iter().map(|e| (e.identifier(), e)).collect();
        if let Ok(mut guard) = self.live.lock() {
            *guard = Some(LiveFiles { snapshot: latest.id, files });
        }
        Ok(())
    }

    /// After this committer published snapshot `id` with `entries`: the cached live files, if
    /// they were those of the snapshot before, move to `id`.
    fn remember_commit(&self, id: i64, entries: &[ManifestEntry]) {
        let Ok(mut guard) = self.live.lock() else { return };
        if let Some(live) = guard.as_mut().filter(|l| l.snapshot == id - 1) {
            if live.apply(id, entries.iter().cloned()).is_err() {
                *guard = None;
            }
        }
    }

    /// Paimon's minor manifest compaction: walk the manifests in order, merging groups that reach
    /// the target size; a trailing group is merged once it has `manifest.merge-min-count` files.
    /// Returns the new list and the names of manifests written here.
    async fn merge_manifests(
        &self,
        namer: &mut FileNamer,
        metas: Vec<ManifestFileMeta>,
        partition_types: &[DataType],
    ) -> Result<(Vec<ManifestFileMeta>, Vec<String>)> {
        let mut result = vec![];
        let mut written = vec![];
        let mut group: Vec<ManifestFileMeta> = vec![];
        let mut group_size = 0u64;
        for m in metas {
            group_size += m.file_size as u64;
            group.push(m);
            if group_size >= self.manifest_target_size {
                let g = std::mem::take(&mut group);
                group_size = 0;
                if g.len() == 1 {
                    result.extend(g);
                } else {
                    let merged = self.merge_group(namer, &g, partition_types).await?;
                    written.extend(merged.iter().map(|m| m.file_name.clone()));
                    result.extend(merged);
                }
            }
        }
        if group.len() >= self.manifest_merge_min_count {
            let merged = self.merge_group(namer, &group, partition_types).await?;
            written.extend(merged.iter().map(|m| m.file_name.clone()));
            result.extend(merged);
        } else {
            result.extend(group);
        }
        Ok((result, written))
    }

    async fn merge_group(
        &self,
        namer: &mut FileNamer,
        group: &[ManifestFileMeta],
        partition_types: &[DataType],
    ) -> Result<Vec<ManifestFileMeta>> {
        let entries = self.manifests.read_entries(group).await?;
        let merged = merge_entries(entries, false, "manifest merge")?;
        if merged.is_empty() {
            return Ok(vec![]);
        }
        let stats = partition_stats(&merged, partition_types);
        Ok(vec![self.manifests.write_manifest(namer, &merged, self.schema.id, stats).await?])
    }
}

/// [`CommitMessage::dv_base`] of each of `compactions` against the latest index manifest.
fn check_dv_bases(latest_index: &[IndexManifestEntry], compactions: &[&CommitMessage]) -> Result<()> {
    for m in compactions {
        if let Some(base) = &m.dv_base {
            check_dv_base(latest_index, &m.partition, m.bucket, base)?;
        }
    }
    Ok(())
}

/// The conflict checks of [`TableCommit::check_conflicts`] against the live files `live`.
fn check_conflicts_in(
    live: &std::collections::HashMap<FileIdentifier, ManifestEntry>,
    deletes: &[FileIdentifier],
    changes: &[ManifestEntry],
    compactions: &[&CommitMessage],
    schema: &TableSchema,
) -> Result<()> {
    for m in compactions {
        if let Some(base) = &m.compact_base {
            check_compact_base(live, m, base)?;
        }
    }
    for d in deletes {
        if !live.contains_key(d) {
            return Err(Error::CommitConflict(format!(
                "file {} (bucket {}, level {}) to be deleted is no longer in the table: \
                 another commit removed it; the work that produced this commit is stale",
                d.file_name, d.bucket, d.level
            )));
        }
    }
    if schema.primary_keys.is_empty() {
        return Ok(());
    }
    // The files on each level >= 1 of each bucket this commit adds to, after this commit.
    let added = changes.iter().filter(|e| e.kind == FileKind::Add && e.file.level >= 1);
    let touched: HashSet<(&[u8], i32)> = added.clone().map(|e| (e.partition.data(), e.bucket)).collect();
    if touched.is_empty() {
        return Ok(());
    }
    let deleted: HashSet<&FileIdentifier> = deletes.iter().collect();
    let key_types: Vec<DataType> = schema.trimmed_key_fields().iter().map(|f| f.data_type.clone()).collect();
    // (partition, bucket, level) -> (min key, max key, file name) of each file.
    type KeyRange = (Vec<Datum>, Vec<Datum>, String);
    let mut levels: std::collections::HashMap<(Vec<u8>, i32, i32), Vec<KeyRange>> = Default::default();
    let remaining = live
        .iter()
        .filter(|(id, e)| {
            e.file.level >= 1 && touched.contains(&(e.partition.data(), e.bucket)) && !deleted.contains(id)
        })
        .map(|(_, e)| e);
    for e in remaining.chain(added) {
        let f = &e.file;
        let min =
            f.min_key.to_datums(&key_types).map_err(|m| Error::data_file(&f.file_name, format!("min key: {m}")))?;
        let max =
            f.max_key.to_datums(&key_types).map_err(|m| Error::data_file(&f.file_name, format!("max key: {m}")))?;
        levels.entry((e.partition.data().to_vec(), e.bucket, f.level)).or_default().push((
            min,
            max,
            f.file_name.clone(),
        ));
    }
    let cmp = |a: &[Datum], b: &[Datum]| {
        a.iter().zip(b).map(|(x, y)| x.compare(y)).find(|o| o.is_ne()).unwrap_or(std::cmp::Ordering::Equal)
    };
    for ((_, bucket, level), mut files) in levels {
        files.sort_by(|a, b| cmp(&a.0, &b.0));
        for w in files.windows(2) {
            if cmp(&w[0].1, &w[1].0).is_ge() {
                return Err(Error::CommitConflict(format!(
                    "LSM conflict in bucket {bucket}: files {} and {} on level {level} overlap in key range; \
                     another writer or compactor changed this bucket, so this commit is given up",
                    w[0].2, w[1].2
                )));
            }
        }
    }
    Ok(())
}

/// A writer's compaction against the bucket's files above level 0 it was planned on.
fn check_compact_base(
    live: &std::collections::HashMap<FileIdentifier, ManifestEntry>,
    m: &CommitMessage,
    base: &[(String, i32)],
) -> Result<()> {
    let mut now: Vec<(&str, i32)> = live
        .values()
        .filter(|e| e.bucket == m.bucket && e.file.level > 0 && e.partition.data() == m.partition.data())
        .map(|e| (e.file.file_name.as_str(), e.file.level))
        .collect();
    let mut known: Vec<(&str, i32)> = base.iter().map(|(n, l)| (n.as_str(), *l)).collect();
    now.sort();
    known.sort();
    if now == known {
        return Ok(());
    }
    let unknown: Vec<_> = now.iter().filter(|f| !known.contains(f)).collect();
    let gone: Vec<_> = known.iter().filter(|f| !now.contains(f)).collect();
    Err(Error::CommitConflict(format!(
        "bucket {} changed above level 0 since this compaction was planned (new to it: {unknown:?}; \
         gone: {gone:?}): another writer or a compactor compacted it; the compaction is given up",
        m.bucket
    )))
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

/// Min/max/null-count of the partition values of some entries.
pub fn partition_stats(entries: &[ManifestEntry], types: &[DataType]) -> SimpleStats {
    if types.is_empty() {
        return SimpleStats::empty();
    }
    let n = types.len();
    let mut mins: Vec<Option<Datum>> = vec![None; n];
    let mut maxs: Vec<Option<Datum>> = vec![None; n];
    let mut nulls = vec![0i64; n];
    let mut seen = HashSet::new();
    for e in entries {
        if !seen.insert(e.partition.data().to_vec()) {
            continue;
        }
        let Ok(values) = e.partition.to_datums(types) else { continue };
        for (i, v) in values.into_iter().enumerate() {
            if v.is_null() {
                nulls[i] += 1;
                continue;
            }
            if mins[i].as_ref().map(|m| v.compare(m).is_lt()).unwrap_or(true) {
                mins[i] = Some(v.clone());
            }
            if maxs[i].as_ref().map(|m| v.compare(m).is_gt()).unwrap_or(true) {
                maxs[i] = Some(v);
            }
        }
    }
    let nullable: Vec<DataType> = types.iter().map(|t| t.with_nullable(true)).collect();
    let row = |v: Vec<Option<Datum>>| {
        let d: Vec<Datum> = v.into_iter().map(|x| x.unwrap_or(Datum::Null)).collect();
        BinaryRow::from_datums(&d, &nullable, NullStyle::Serializer).unwrap_or_else(|_| BinaryRow::empty())
    };
    SimpleStats {
        min_values: row(mins),
        max_values: row(maxs),
        null_counts: Some(nulls.into_iter().map(Some).collect()),
    }
}
