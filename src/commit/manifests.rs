//! Manifests of a commit: Paimon's minor manifest compaction of the base list, and the
//! partition stats of a manifest.

use std::collections::HashSet;

use super::TableCommit;
use crate::error::Result;
use crate::spec::{BinaryRow, DataType, Datum, ManifestEntry, ManifestFileMeta, NullStyle, SimpleStats};
use crate::store::manifests::{merge_entries, FileNamer};

impl TableCommit {
    /// Paimon's minor manifest compaction: walk the manifests in order, merging groups that reach
    /// the target size; a trailing group is merged once it has `manifest.merge-min-count` files.
    /// Returns the new list and the names of manifests written here.
    pub(super) async fn merge_manifests(
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

    pub(super) async fn merge_group(
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

/// Min/max/null-count of the partition values of some entries.
pub(super) fn partition_stats(entries: &[ManifestEntry], types: &[DataType]) -> SimpleStats {
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

#[cfg(test)]
mod tests;
