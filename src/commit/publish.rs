//! Publishing one snapshot: its delta and changelog manifests (written once), then per attempt
//! the conflict checks, the merged base manifest list, the index manifest and the snapshot file,
//! created if absent; a lost race cleans up and retries on top of the newer snapshot.

use std::collections::HashSet;

use super::conflicts::check_dv_bases;
use super::manifests::partition_stats;
use super::{CommitOutcome, Delta, TableCommit};
use crate::error::{Error, Result};
use crate::lsm::deletion_vectors::{check_index_base, combine_index_entries};
use crate::spec::manifest::FileIdentifier;
use crate::spec::snapshot::SNAPSHOT_VERSION;
use crate::spec::{CommitKind, FileKind, ManifestEntry, ManifestFileMeta, Snapshot};
use crate::store::manifests::{merge_entries, FileNamer};
use crate::write::dynamic_bucket::check_hash_index_base;

impl TableCommit {
    pub(super) async fn commit_entries(
        &self,
        identifier: i64,
        watermark: Option<i64>,
        delta: Delta<'_>,
    ) -> Result<CommitOutcome> {
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

    /// Deletes a commit's delta manifest and changelog manifest list (and its manifest), for a
    /// commit given up before any snapshot referred to them. Best effort.
    pub(super) async fn delete_commit_manifests(&self, delta: Option<&str>, changelog_list: Option<&str>) {
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
    pub(super) async fn published_off_chain(
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
}
