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
use crate::lsm::deletion_vectors::{check_index_base, combine_index_entries};
use crate::spec::manifest::{FileIdentifier, IndexManifestEntry};
use crate::spec::snapshot::{BATCH_COMMIT_IDENTIFIER, SNAPSHOT_VERSION};
use crate::spec::{
    BinaryRow, CommitKind, DataFileMeta, DataType, Datum, FileKind, ManifestEntry, ManifestFileMeta, NullStyle,
    SimpleStats, Snapshot, TableSchema,
};
use crate::store::manifests::{merge_entries, FileNamer};
use crate::store::{ManifestStore, SnapshotManager};

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
        }
    }
    pub fn is_empty(&self) -> bool {
        self.new_files.is_empty()
            && self.changelog_files.is_empty()
            && self.compact_before.is_empty()
            && self.compact_after.is_empty()
            && self.index_changes.is_empty()
            && self.compact_changelog_files.is_empty()
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
            manifests: ManifestStore::new(io, &opts.manifest_compression()),
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

    pub fn commit_user(&self) -> &str {
        &self.commit_user
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

    async fn commit_messages(&self, identifier: i64, watermark: Option<i64>, messages: Vec<CommitMessage>) -> Result<CommitOutcome> {
        let mut appends = vec![];
        let mut changelog = vec![];
        let mut compacts = vec![];
        let mut index_changes = vec![];
        let mut compact_changelog = vec![];
        for m in &messages {
            index_changes.extend(m.index_changes.iter().cloned());
            compact_changelog.extend(m.compact_changelog_files.iter().map(|f| entry(FileKind::Add, m, f)));
            appends.extend(m.new_files.iter().map(|f| entry(FileKind::Add, m, f)));
            changelog.extend(m.changelog_files.iter().map(|f| entry(FileKind::Add, m, f)));
            compacts.extend(m.compact_before.iter().map(|f| entry(FileKind::Delete, m, f)));
            compacts.extend(m.compact_after.iter().map(|f| entry(FileKind::Add, m, f)));
        }
        let mut outcome = CommitOutcome::Empty;
        if !appends.is_empty() || !changelog.is_empty() {
            outcome = self.commit_entries(identifier, watermark, CommitKind::Append, appends, changelog, vec![]).await?;
        }
        if !compacts.is_empty() || !index_changes.is_empty() || !compact_changelog.is_empty() {
            outcome =
                self.commit_entries(identifier, watermark, CommitKind::Compact, compacts, compact_changelog, index_changes).await?;
        }
        if let (Some(hook), Some(id)) = (&self.after_commit, outcome.snapshot_id()) {
            hook(id).await.map_err(|e| Error::AfterCommit { snapshot: id, source: Box::new(e) })?;
        }
        Ok(outcome)
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

    async fn commit_entries(
        &self,
        identifier: i64,
        watermark: Option<i64>,
        kind: CommitKind,
        entries: Vec<ManifestEntry>,
        changelog: Vec<ManifestEntry>,
        index_changes: Vec<IndexManifestEntry>,
    ) -> Result<CommitOutcome> {
        let partition_types = self.schema.partition_types();
        let mut namer = FileNamer::new();
        let delta_meta = self
            .manifests
            .write_manifest(&mut namer, &entries, self.schema.id, partition_stats(&entries, &partition_types))
            .await?;
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
        let deletes: Vec<FileIdentifier> =
            entries.iter().filter(|e| e.kind == FileKind::Delete).map(ManifestEntry::identifier).collect();
        let delta_records: i64 = entries
            .iter()
            .map(|e| if e.kind == FileKind::Add { e.file.row_count } else { -e.file.row_count })
            .sum();

        for attempt in 0..=self.max_retries {
            if attempt > 0 {
                // Lost the race for the last id: back off with jitter, so that committers
                // contending for the same table do not keep colliding in lockstep.
                let cap_ms = (10u64 << attempt.min(7)).min(1000);
                let wait = rand::random_range(cap_ms / 2..=cap_ms);
                tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
            }
            let latest = self.snapshots.latest().await?;
            if !deletes.is_empty() || entries.iter().any(|e| e.file.level > 0) {
                self.check_conflicts(latest.as_ref(), &deletes, &entries).await?;
            }
            let base_metas = match &latest {
                Some(s) => self.manifests.data_manifests(s).await?,
                None => vec![],
            };
            let (base_metas, mut written) = self.merge_manifests(&mut namer, base_metas, &partition_types).await?;
            // Deletion-vector changes: the latest index manifest with this commit's buckets replaced.
            let mut index_manifest = latest.as_ref().and_then(|s| s.index_manifest.clone());
            if !index_changes.is_empty() {
                let previous = match &index_manifest {
                    Some(name) => self.manifests.read_index_manifest(name).await?,
                    None => vec![],
                };
                check_index_base(&previous, &index_changes)?;
                let combined = combine_index_entries(previous, &index_changes);
                index_manifest = if combined.is_empty() {
                    None
                } else {
                    let name = self.manifests.write_index_manifest(&mut namer, &combined).await?;
                    written.push(name.clone());
                    Some(name)
                };
            }
            let base_list = self.manifests.write_manifest_list(&mut namer, &base_metas).await?;
            let delta_list = self.manifests.write_manifest_list(&mut namer, std::slice::from_ref(&delta_meta)).await?;
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
        let _ = self.manifests.delete(&delta_meta.file_name).await;
        if let Some(list) = &changelog_list {
            for m in self.manifests.read_manifest_list(list).await.unwrap_or_default() {
                let _ = self.manifests.delete(&m.file_name).await;
            }
            let _ = self.manifests.delete(list).await;
        }
        Err(Error::CommitConflict(format!(
            "gave up after {} attempts: other commits kept taking the next snapshot id",
            self.max_retries + 1
        )))
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
    async fn published_off_chain(&self, snapshot: &Snapshot, delta_manifest: &str, entries: &[ManifestEntry]) -> Result<bool> {
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
    async fn check_conflicts(&self, latest: Option<&Snapshot>, deletes: &[FileIdentifier], changes: &[ManifestEntry]) -> Result<()> {
        let Some(latest) = latest else {
            return check_conflicts_in(&Default::default(), deletes, changes, &self.schema);
        };
        self.bring_live_files_to(latest).await?;
        let guard = self.live.lock().map_err(|_| Error::Task("the committer's live-file cache was poisoned".into()))?;
        let live = guard.as_ref().filter(|l| l.snapshot == latest.id).ok_or_else(|| {
            Error::CommitConflict(format!("the live files of snapshot {} changed while this commit read them", latest.id))
        })?;
        check_conflicts_in(&live.files, deletes, changes, &self.schema)
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
                let mut guard = self.live.lock().map_err(|_| Error::Task("the committer's live-file cache was poisoned".into()))?;
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

/// The conflict checks of [`TableCommit::check_conflicts`] against the live files `live`.
fn check_conflicts_in(
    live: &std::collections::HashMap<FileIdentifier, ManifestEntry>,
    deletes: &[FileIdentifier],
    changes: &[ManifestEntry],
    schema: &TableSchema,
) -> Result<()> {
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
        .filter(|(id, e)| e.file.level >= 1 && touched.contains(&(e.partition.data(), e.bucket)) && !deleted.contains(id))
        .map(|(_, e)| e);
    for e in remaining.chain(added) {
        let f = &e.file;
        let min = f.min_key.to_datums(&key_types).map_err(|m| Error::data_file(&f.file_name, format!("min key: {m}")))?;
        let max = f.max_key.to_datums(&key_types).map_err(|m| Error::data_file(&f.file_name, format!("max key: {m}")))?;
        levels.entry((e.partition.data().to_vec(), e.bucket, f.level)).or_default().push((min, max, f.file_name.clone()));
    }
    let cmp = |a: &[Datum], b: &[Datum]| a.iter().zip(b).map(|(x, y)| x.compare(y)).find(|o| o.is_ne()).unwrap_or(std::cmp::Ordering::Equal);
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
    SimpleStats { min_values: row(mins), max_values: row(maxs), null_counts: Some(nulls.into_iter().map(Some).collect()) }
}
