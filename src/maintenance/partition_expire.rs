//! Partition expiry (Paimon's `PartitionExpire`, strategy `values-time`): the partitions whose
//! time, read from their values, is older than `partition.expiration-time` are dropped in one
//! OVERWRITE snapshot that deletes all their files (the files themselves go with the snapshot's
//! expiry, as in Paimon).
//!
//! The time of a partition: `partition.timestamp-pattern` with `$column` replaced by the
//! partition's values (default: the first partition column's value), parsed with
//! `partition.timestamp-formatter` (a Java `DateTimeFormatter` pattern such as `yyyyMMdd`;
//! default: `yyyy-MM-dd` or `yyyy-MM-dd HH:mm:ss`). A partition whose values do not parse is
//! kept and reported.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{NaiveDate, NaiveDateTime};

use crate::commit::CommitOutcome;
use crate::error::{Error, Result};
use crate::spec::manifest::{IndexManifestEntry, ManifestEntry};
use crate::spec::options::CoreOptions;
use crate::spec::paths::partition_value_string;
use crate::spec::{BinaryRow, FileKind, SpecError};
use crate::store::ManifestStore;
use crate::table::Table;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct PartitionExpireConfig {
    pub expiration: Duration,
    pub check_interval: Duration,
    pub pattern: Option<String>,
    pub formatter: Option<String>,
}

impl PartitionExpireConfig {
    /// The table's partition expiry, if `partition.expiration-time` is set.
    pub(super) fn from_options(o: &CoreOptions) -> Result<Option<Self>> {
        if o.get("partition.expiration-time").is_none() {
            return Ok(None);
        }
        if let Some(s) = o.get("partition.expiration-strategy").filter(|s| *s != "values-time") {
            return Err(Error::Unsupported(format!(
                "partition.expiration-strategy = {s}: shoal expires partitions by their values (values-time)"
            )));
        }
        Ok(Some(PartitionExpireConfig {
            expiration: o.duration("partition.expiration-time", Duration::MAX)?,
            check_interval: o.duration("partition.expiration-check-interval", Duration::from_secs(3600))?,
            pattern: o.get("partition.timestamp-pattern").map(String::from),
            formatter: o.get("partition.timestamp-formatter").map(String::from),
        }))
    }

    /// The time of a partition given as (column, value) pairs.
    pub(super) fn partition_time(&self, values: &[(String, String)]) -> Option<NaiveDateTime> {
        let text = match &self.pattern {
            Some(p) => {
                // Longest names first, so `$dt` does not eat the start of `$dtx`.
                let mut sorted: Vec<&(String, String)> = values.iter().collect();
                sorted.sort_by_key(|(k, _)| std::cmp::Reverse(k.len()));
                sorted.iter().fold(p.clone(), |acc, (k, v)| acc.replace(&format!("${k}"), v))
            }
            None => values.first()?.1.clone(),
        };
        match &self.formatter {
            Some(f) => parse_with_java_pattern(&text, f),
            None => NaiveDateTime::parse_from_str(&text, "%Y-%m-%d %H:%M:%S")
                .ok()
                .or_else(|| NaiveDate::parse_from_str(&text, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0))),
        }
    }
}

/// Parses `text` with a Java `DateTimeFormatter` pattern (the letters Paimon's docs use:
/// y M d H m s, and literals); a date-only pattern gives midnight.
fn parse_with_java_pattern(text: &str, pattern: &str) -> Option<NaiveDateTime> {
    let mut fmt = String::new();
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    let mut has_time = false;
    while i < chars.len() {
        let c = chars[i];
        let mut n = 1;
        while i + n < chars.len() && chars[i + n] == c {
            n += 1;
        }
        match c {
            'y' | 'u' => fmt.push_str(if n == 2 { "%y" } else { "%Y" }),
            'M' => fmt.push_str("%m"),
            'd' => fmt.push_str("%d"),
            'H' => {
                fmt.push_str("%H");
                has_time = true
            }
            'm' => {
                fmt.push_str("%M");
                has_time = true
            }
            's' => {
                fmt.push_str("%S");
                has_time = true
            }
            '\'' => {}
            '%' => fmt.push_str(&"%%".repeat(n)),
            other => fmt.extend(std::iter::repeat_n(other, n)),
        }
        i += n;
    }
    if has_time {
        NaiveDateTime::parse_from_str(text, &fmt).ok()
    } else {
        NaiveDate::parse_from_str(text, &fmt).ok().and_then(|d| d.and_hms_opt(0, 0, 0))
    }
}

/// What [`expire_partitions`] did (or, in a dry run, would do).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct PartitionExpireReport {
    /// The expired partitions, as paths (`dt=2024-01-01`).
    pub partitions: Vec<String>,
    pub files: usize,
    /// Partitions whose values gave no time (kept).
    pub unparsed: Vec<String>,
    pub snapshot: Option<i64>,
}

/// Drops the partitions of `table` older than `now - expiration`.
pub(super) async fn expire_partitions(
    table: &Table,
    config: &PartitionExpireConfig,
    now: NaiveDateTime,
    dry_run: bool,
) -> Result<PartitionExpireReport> {
    let schema = table.schema();
    if schema.partition_keys.is_empty() {
        return Ok(PartitionExpireReport::default());
    }
    let opts = schema.core_options();
    let types = schema.partition_types();
    let default_name = opts.partition_default_name();
    let limit = now - chrono::Duration::from_std(config.expiration).unwrap_or(chrono::Duration::MAX);
    let plan = table.new_scan().plan().await?;
    let Some(snapshot) = plan.snapshot else { return Ok(PartitionExpireReport::default()) };
    let mut report = PartitionExpireReport::default();
    let mut expired: BTreeMap<String, BinaryRow> = BTreeMap::new();
    let mut entries = vec![];
    for split in &plan.splits {
        let values = split.partition.to_datums(&types).map_err(|e| {
            let manifests = format!("the manifests of snapshot {}", snapshot.id);
            SpecError::corrupt("partition", manifests, format!("it does not decode: {e}"))
        })?;
        let pairs: Vec<(String, String)> = schema
            .partition_keys
            .iter()
            .zip(&values)
            .map(|(k, v)| (k.clone(), partition_value_string(v, default_name)))
            .collect();
        let path = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("/");
        match config.partition_time(&pairs) {
            Some(t) if t < limit => {
                expired.insert(path, split.partition.clone());
                entries.extend(split.files.iter().map(|f| ManifestEntry {
                    kind: FileKind::Delete,
                    partition: split.partition.clone(),
                    bucket: split.bucket,
                    total_buckets: split.total_buckets,
                    file: f.clone(),
                }));
            }
            Some(_) => {}
            None => {
                if !report.unparsed.contains(&path) {
                    report.unparsed.push(path);
                }
            }
        }
    }
    report.partitions = expired.keys().cloned().collect();
    report.files = entries.len();
    if dry_run || entries.is_empty() {
        return Ok(report);
    }
    // The dropped partitions' index files (deletion vectors, hash indexes) go with them.
    let mut index_changes: Vec<IndexManifestEntry> = vec![];
    if let Some(name) = &snapshot.index_manifest {
        let manifests = ManifestStore::new(table.io().clone(), &opts.manifest_compression());
        for e in manifests.read_index_manifest(name).await? {
            if expired.values().any(|p| p.data() == e.partition.data()) {
                index_changes.push(IndexManifestEntry { kind: FileKind::Delete, ..e });
            }
        }
    }
    let outcome = table.new_commit("partition-expire")?.commit_drop(entries, index_changes).await?;
    report.snapshot = match outcome {
        CommitOutcome::Committed(id) => Some(id),
        _ => None,
    };
    Ok(report)
}

#[cfg(test)]
mod tests;
