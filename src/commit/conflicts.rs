//! The conflict checks of a commit against the latest snapshot: files it deletes still live, no
//! overlapping key ranges above level 0, a compaction's base and deletion vectors unchanged, the
//! rows a statement read unchanged; and the live files a committer keeps between its commits.

use std::collections::HashSet;

use super::{compaction_entries, TableCommit};
use crate::error::{Error, Result};
use crate::lsm::deletion_vectors::{check_dv_base, check_index_base};
use crate::spec::manifest::{FileIdentifier, IndexManifestEntry};
use crate::spec::{CommitKind, DataType, Datum, FileKind, ManifestEntry, Snapshot, TableSchema};
use crate::write::CommitMessage;

/// The live data files of one snapshot, kept by a committer between its commits: the next
/// conflict check brings them forward by the delta of each newer snapshot (none when the
/// committer made the latest one) instead of reading every manifest of the table again, which
/// made a streaming writer's compaction commits slower the longer it ran.
pub(super) struct LiveFiles {
    pub(super) snapshot: i64,
    pub(super) files: std::collections::HashMap<FileIdentifier, ManifestEntry>,
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

impl TableCommit {
    /// Which of `compactions` (by position) no longer fit the latest snapshot, and why.
    pub(super) async fn stale_compactions(&self, compactions: &[&CommitMessage]) -> Result<Vec<(usize, String)>> {
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
            let changes = compaction_entries(m);
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

    /// No commit after snapshot `base` up to `latest` (but compactions) wrote into a bucket that
    /// `entries` write to: the rows of this commit, computed from `base`, are still right.
    pub(super) async fn check_rows_unchanged_since(
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

    /// Paimon's conflict checks before a commit that deletes files or adds files above level 0:
    /// every file to delete must still be live, and afterwards no two files on one level >= 1 of
    /// a bucket may overlap in key range (another writer or compactor changed the bucket). Only
    /// buckets this commit adds files to can get new overlaps.
    pub(super) async fn check_conflicts(
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
    pub(super) async fn bring_live_files_to(&self, latest: &Snapshot) -> Result<()> {
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
    pub(super) fn remember_commit(&self, id: i64, entries: &[ManifestEntry]) {
        let Ok(mut guard) = self.live.lock() else { return };
        if let Some(live) = guard.as_mut().filter(|l| l.snapshot == id - 1) {
            if live.apply(id, entries.iter().cloned()).is_err() {
                *guard = None;
            }
        }
    }
}

/// [`CommitMessage::dv_base`] of each of `compactions` against the latest index manifest.
pub(super) fn check_dv_bases(latest_index: &[IndexManifestEntry], compactions: &[&CommitMessage]) -> Result<()> {
    for m in compactions {
        if let Some(base) = &m.dv_base {
            check_dv_base(latest_index, &m.partition, m.bucket, base)?;
        }
    }
    Ok(())
}

/// The conflict checks of [`TableCommit::check_conflicts`] against the live files `live`.
pub(super) fn check_conflicts_in(
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

#[cfg(test)]
mod tests;
