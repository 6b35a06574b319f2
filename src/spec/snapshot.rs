//! `snapshot/snapshot-N` (version 3): what one commit made the table look like.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::SpecError;

pub(crate) const SNAPSHOT_VERSION: i32 = 3;

/// The commit identifier of batch writes (Paimon's `BatchWriteBuilder.COMMIT_IDENTIFIER`).
pub(crate) const BATCH_COMMIT_IDENTIFIER: i64 = i64::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum CommitKind {
    Append,
    Compact,
    Overwrite,
    Analyze,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub version: i32,
    pub id: i64,
    pub schema_id: i64,
    pub base_manifest_list: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_manifest_list_size: Option<i64>,
    pub delta_manifest_list: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta_manifest_list_size: Option<i64>,
    /// Written even when null, as Paimon 0.9 and 1.0 do.
    #[serde(default)]
    pub changelog_manifest_list: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changelog_manifest_list_size: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_manifest: Option<String>,
    pub commit_user: String,
    pub commit_identifier: i64,
    pub commit_kind: CommitKind,
    pub time_millis: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_offsets: Option<BTreeMap<i32, i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_record_count: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta_record_count: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changelog_record_count: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statistics: Option<String>,
}

impl Snapshot {
    pub fn to_json_string(&self) -> String {
        serde_json::to_string_pretty(self).expect("a snapshot always serializes")
    }

    pub fn from_json_str(s: &str, file: &str) -> Result<Snapshot, SpecError> {
        let snap: Snapshot =
            serde_json::from_str(s).map_err(|e| SpecError::corrupt("snapshot", file, e.to_string()))?;
        if snap.version > SNAPSHOT_VERSION || snap.version < 1 {
            return Err(SpecError::corrupt("snapshot", file, format!("unsupported snapshot version {}", snap.version)));
        }
        Ok(snap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_matches_paimon_field_names() {
        let s = Snapshot {
            version: 3,
            id: 1,
            schema_id: 0,
            base_manifest_list: "manifest-list-a-0".into(),
            base_manifest_list_size: None,
            delta_manifest_list: "manifest-list-a-1".into(),
            delta_manifest_list_size: None,
            changelog_manifest_list: None,
            changelog_manifest_list_size: None,
            index_manifest: None,
            commit_user: "u".into(),
            commit_identifier: BATCH_COMMIT_IDENTIFIER,
            commit_kind: CommitKind::Append,
            time_millis: 5,
            log_offsets: Some(BTreeMap::new()),
            total_record_count: Some(3),
            delta_record_count: Some(3),
            changelog_record_count: Some(0),
            watermark: None,
            statistics: None,
        };
        let j = s.to_json_string();
        assert!(j.contains("\"changelogManifestList\": null"), "{j}");
        assert!(j.contains("\"commitKind\": \"APPEND\""), "{j}");
        assert!(j.contains("\"commitIdentifier\": 9223372036854775807"), "{j}");
        assert!(!j.contains("watermark"));
        assert_eq!(Snapshot::from_json_str(&j, "snapshot-1").unwrap(), s);
        let e = Snapshot::from_json_str(&j[..j.len() / 2], "snapshot-7").unwrap_err().to_string();
        assert!(e.contains("snapshot-7"), "{e}");
    }
}
