//! The commit of an INSERT OVERWRITE (Paimon's `overwrite`): one OVERWRITE snapshot that
//! deletes every data file and index file of the partitions an [`OverwriteScope`] covers, as of
//! the latest snapshot when it commits, and adds the new files. The writing side (a writer that
//! ignores the previous files, the scope chosen from options) is [`crate::table::overwrite`].

use std::collections::HashSet;

use super::{entry, CommitOutcome, Delta, PartitionTest, TableCommit};
use crate::error::{Error, Result};
use crate::spec::manifest::IndexManifestEntry;
use crate::spec::paths::{partition_path, partition_value_string};
use crate::spec::snapshot::BATCH_COMMIT_IDENTIFIER;
use crate::spec::{BinaryRow, CommitKind, FileKind, ManifestEntry, Snapshot, SpecError, TableSchema};
use crate::write::CommitMessage;

/// Which partitions an overwrite replaces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OverwriteScope {
    /// Every partition with these (partition column, value) pairs, values in their path
    /// spelling (`dt=2024-01-01`, the default partition name for null); no pairs: the whole
    /// table. Replaced even when no new row is there; a new row outside fails the commit.
    Static(Vec<(String, String)>),
    /// The partitions the new rows are in (Paimon's dynamic partition overwrite).
    Dynamic,
}

impl OverwriteScope {
    /// The whole table.
    pub fn whole_table() -> Self {
        OverwriteScope::Static(vec![])
    }

    /// Paimon's choice for `schema`: the static partition `partition` if one is given; else,
    /// for a partitioned table with `dynamic-partition-overwrite` (default true), the partitions
    /// of the new rows; else the whole table. Fails on a column that is not a partition column
    /// or given twice.
    pub fn for_table(schema: &TableSchema, partition: &[(String, String)]) -> Result<Self> {
        let scope = if !partition.is_empty() {
            OverwriteScope::Static(partition.iter().map(|(k, v)| (k.trim().to_string(), v.clone())).collect())
        } else if !schema.partition_keys.is_empty() && schema.core_options().dynamic_partition_overwrite()? {
            OverwriteScope::Dynamic
        } else {
            OverwriteScope::whole_table()
        };
        scope.validate(schema)?;
        Ok(scope)
    }

    /// Checks a static partition's columns against the table's partition columns.
    pub fn validate(&self, schema: &TableSchema) -> Result<()> {
        let OverwriteScope::Static(pairs) = self else { return Ok(()) };
        for (i, (k, _)) in pairs.iter().enumerate() {
            if !schema.partition_keys.contains(k) {
                let keys = if schema.partition_keys.is_empty() {
                    "the table is not partitioned".to_string()
                } else {
                    format!("the table's are: {}", schema.partition_keys.join(", "))
                };
                return Err(Error::InvalidInput(format!(
                    "overwrite of partition {}: {k:?} is not a partition column ({keys})",
                    describe(pairs)
                )));
            }
            if pairs[..i].iter().any(|(other, _)| other == k) {
                return Err(Error::InvalidInput(format!(
                    "overwrite of partition {}: partition column {k:?} is given twice",
                    describe(pairs)
                )));
            }
        }
        Ok(())
    }

    /// Whether a static scope covers `partition` (a row of the table's partition columns).
    pub(crate) fn static_matches(
        pairs: &[(String, String)],
        schema: &TableSchema,
        partition: &BinaryRow,
    ) -> Result<bool> {
        if pairs.is_empty() {
            return Ok(true);
        }
        let values = partition
            .to_datums(&schema.partition_types())
            .map_err(|e| SpecError::corrupt("partition", "a manifest entry", format!("it does not decode: {e}")))?;
        let opts = schema.core_options();
        let default_name = opts.partition_default_name();
        Ok(pairs.iter().all(|(k, v)| {
            schema
                .partition_keys
                .iter()
                .position(|p| p == k)
                .and_then(|i| values.get(i))
                .is_some_and(|d| partition_value_string(d, default_name) == *v)
        }))
    }
}

/// `dt=2024-01-01/hr=3`, or "(the whole table)".
fn describe(pairs: &[(String, String)]) -> String {
    if pairs.is_empty() {
        return "(the whole table)".to_string();
    }
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("/")
}

impl TableCommit {
    /// An overwrite (Paimon's `overwrite`, see `table::overwrite`): one OVERWRITE
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
                // A partition that does not decode ([`OverwriteScope::static_matches`]) fails
                // before the snapshot too.
                let undecodable = matches!(&e, Error::Spec(SpecError::Corrupt { what: "partition", .. }));
                if undecodable || matches!(e, Error::InvalidInput(_) | Error::CommitConflict(_)) {
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
    pub(super) async fn overwrite_only(
        &self,
        scope: &OverwriteScope,
        messages: &[CommitMessage],
    ) -> Result<CommitOutcome> {
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
    pub(super) async fn overwritten_files(
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
}
