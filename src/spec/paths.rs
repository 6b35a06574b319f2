//! Where each file of a table lives, relative to the table root (Paimon's FileStorePathFactory).

use super::binary_row::BinaryRow;
use super::datum::Datum;
use super::types::DataType;
use super::SpecError;

pub(crate) const SNAPSHOT_DIR: &str = "snapshot";
pub(crate) const SCHEMA_DIR: &str = "schema";
pub(crate) const MANIFEST_DIR: &str = "manifest";
pub(crate) const INDEX_DIR: &str = "index";
pub(crate) const TAG_DIR: &str = "tag";
pub(crate) const CONSUMER_DIR: &str = "consumer";
/// Long-lived changelogs (Paimon's decoupled changelog lifecycle): `changelog/changelog-<id>`.
pub(crate) const CHANGELOG_DIR: &str = "changelog";
pub(crate) const CHANGELOG_PREFIX: &str = "changelog-";
pub(crate) const TAG_PREFIX: &str = "tag-";
pub(crate) const CONSUMER_PREFIX: &str = "consumer-";
/// Branches live in `branch/branch-<name>/` (Paimon's `BranchManager`).
pub(crate) const BRANCH_DIR: &str = "branch";
pub(crate) const BRANCH_PREFIX: &str = "branch-";
/// The branch a table's root holds; it has no directory of its own.
pub const MAIN_BRANCH: &str = "main";
/// The directories each branch keeps for itself; manifests, index files and data files are
/// shared by every branch at the table root (Paimon's `BranchManager.branchPath`, used by its
/// snapshot, schema, tag and consumer managers).
pub(crate) const PER_BRANCH_DIRS: [&str; 5] = [SNAPSHOT_DIR, CHANGELOG_DIR, SCHEMA_DIR, TAG_DIR, CONSUMER_DIR];

/// `branch/branch-<name>`: the directory of a branch other than `main`.
pub(crate) fn branch_path(name: &str) -> String {
    format!("{BRANCH_DIR}/{BRANCH_PREFIX}{name}")
}

/// Where `rel` (a path relative to the table root) lives for `branch`: inside the branch's
/// directory when it is in one of the [`PER_BRANCH_DIRS`], unchanged otherwise (or on `main`).
pub(crate) fn on_branch(rel: &str, branch: &str) -> Option<String> {
    if branch == MAIN_BRANCH {
        return None;
    }
    let first = rel.split('/').next().unwrap_or_default();
    PER_BRANCH_DIRS.contains(&first).then(|| format!("{}/{rel}", branch_path(branch)))
}

/// Refuses a branch name Paimon refuses (blank, `main`, only digits) or one that cannot be a
/// directory name.
pub(crate) fn check_branch_name(name: &str) -> Result<(), SpecError> {
    let bad = |why: &str| Err(SpecError::InvalidBranchName { name: name.to_string(), message: why.to_string() });
    if name.trim().is_empty() {
        return bad("it is blank");
    }
    if name == MAIN_BRANCH {
        return bad("it is the default branch, not one to create or delete");
    }
    if name.chars().all(|c| c.is_ascii_digit()) {
        return bad("a name of digits only is refused (Paimon reads it as a snapshot id)");
    }
    if name.contains(['/', '\\', '$']) || name.starts_with('.') {
        return bad("it must not contain '/', '\\' or '$', nor start with '.'");
    }
    Ok(())
}

pub(crate) fn snapshot_path(id: i64) -> String {
    format!("{SNAPSHOT_DIR}/snapshot-{id}")
}
pub(crate) fn schema_path(id: i64) -> String {
    format!("{SCHEMA_DIR}/schema-{id}")
}
pub fn manifest_path(name: &str) -> String {
    format!("{MANIFEST_DIR}/{name}")
}
/// `tag/tag-<name>`: a copy of the tagged snapshot's JSON.
pub fn tag_path(name: &str) -> String {
    format!("{TAG_DIR}/{TAG_PREFIX}{name}")
}
/// `consumer/consumer-<id>`: `{"nextSnapshot": N}`, the next snapshot a reader will read.
pub(crate) fn consumer_path(id: &str) -> String {
    format!("{CONSUMER_DIR}/{CONSUMER_PREFIX}{id}")
}
/// `changelog/changelog-<id>`: the JSON of snapshot `id`, kept after the snapshot expired so that
/// streaming readers can still read its changes.
pub(crate) fn changelog_path(id: i64) -> String {
    format!("{CHANGELOG_DIR}/{CHANGELOG_PREFIX}{id}")
}
pub(crate) fn changelog_latest_hint_path() -> String {
    format!("{CHANGELOG_DIR}/LATEST")
}
pub(crate) fn changelog_earliest_hint_path() -> String {
    format!("{CHANGELOG_DIR}/EARLIEST")
}
pub(crate) fn index_path(name: &str) -> String {
    format!("{INDEX_DIR}/{name}")
}
pub(crate) fn latest_hint_path() -> String {
    format!("{SNAPSHOT_DIR}/LATEST")
}
pub(crate) fn earliest_hint_path() -> String {
    format!("{SNAPSHOT_DIR}/EARLIEST")
}

/// The bucket of a postpone-bucket table's pending files (Paimon 1.x `bucket = -2`), whose
/// directory is `bucket-postpone`.
pub(crate) const POSTPONE_BUCKET: i32 = -2;

/// `bucket-N` under the partition directory (`k=v/k2=v2/`), or under the table root; the
/// postpone bucket's is `bucket-postpone` (Paimon's FileStorePathFactory).
pub(crate) fn bucket_dir(partition_path: &str, bucket: i32) -> String {
    let name = if bucket == POSTPONE_BUCKET { "postpone".to_string() } else { bucket.to_string() };
    if partition_path.is_empty() {
        format!("bucket-{name}")
    } else {
        format!("{partition_path}/bucket-{name}")
    }
}

/// Paimon's escaping of partition names and values in paths (`%XX`, upper-case hex).
pub(crate) fn escape_path_name(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        let needs = (ch as u32) < 0x20
            || matches!(
                ch,
                '"' | '#' | '%' | '\'' | '*' | '/' | ':' | '=' | '?' | '\\' | '\x7f' | '{' | '}' | '[' | ']' | '^'
            );
        if needs {
            out.push_str(&format!("%{:02X}", ch as u32));
        } else {
            out.push(ch);
        }
    }
    out
}

/// The string Paimon puts in a partition path for a value (legacy naming: the internal
/// value's `toString()`, so DATE is its day number).
pub(crate) fn partition_value_string(d: &Datum, default_name: &str) -> String {
    match d {
        Datum::Null => default_name.to_string(),
        Datum::String(s) if s.trim().is_empty() => default_name.to_string(),
        Datum::Timestamp { millis, nanos } => timestamp_to_string(*millis, *nanos),
        other => other.to_string(),
    }
}

/// Paimon's `Timestamp.toString()`: ISO local date-time (`2024-01-02T03:04:05.123`).
fn timestamp_to_string(millis: i64, nanos: i32) -> String {
    let secs = millis.div_euclid(1000);
    let nano_of_second = (millis.rem_euclid(1000) * 1_000_000) as u32 + nanos as u32;
    match chrono::DateTime::from_timestamp(secs, nano_of_second) {
        Some(dt) => dt.naive_utc().format("%Y-%m-%dT%H:%M:%S%.f").to_string(),
        None => format!("{millis}"),
    }
}

/// `k1=v1/k2=v2` for a partition row, or "" for an unpartitioned table.
pub(crate) fn partition_path(
    partition: &BinaryRow,
    keys: &[String],
    types: &[DataType],
    default_name: &str,
) -> Result<String, SpecError> {
    let values = partition.to_datums(types)?;
    Ok(keys
        .iter()
        .zip(values.iter())
        .map(|(k, v)| format!("{}={}", escape_path_name(k), escape_path_name(&partition_value_string(v, default_name))))
        .collect::<Vec<_>>()
        .join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(escape_path_name("a/b=c"), "a%2Fb%3Dc");
        assert_eq!(escape_path_name("2024-01-01"), "2024-01-01");
    }

    #[test]
    fn partition_values() {
        assert_eq!(partition_value_string(&Datum::Null, "__DEFAULT_PARTITION__"), "__DEFAULT_PARTITION__");
        assert_eq!(partition_value_string(&Datum::Date(19000), "d"), "19000");
        assert_eq!(partition_value_string(&Datum::Timestamp { millis: 1000, nanos: 0 }, "d"), "1970-01-01T00:00:01");
    }
}
