//! The maintainer's status file: per table, its last pass and its backlog, written after every
//! table's pass (atomically: a temporary file renamed), so an operator or a probe sees whether
//! the service keeps up. It also carries what the service must remember across restarts (when
//! the last full compaction and orphan scan ran).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Status {
    /// Epoch millis of the last write.
    pub updated_millis: i64,
    /// The maintainer process that wrote it.
    pub owner: String,
    /// Passes over the tables since the process started (a pass ends when every selected
    /// table had its turn).
    pub passes: u64,
    pub tables: BTreeMap<String, TableStatus>,
}

/// One table's last pass.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct TableStatus {
    pub last_pass_start_millis: i64,
    pub last_pass_seconds: f64,
    pub latest_snapshot: Option<i64>,
    pub snapshots_retained: Option<i64>,
    /// The most sorted runs of any bucket after the pass, and the buckets a compaction would
    /// still pick (the backlog).
    pub max_sorted_runs: usize,
    pub buckets_to_compact: usize,
    /// What the pass did, one line per action.
    pub actions: Vec<String>,
    /// Why the table or one of its actions was skipped or failed.
    pub errors: Vec<String>,
    /// Memory across passes: the snapshot and time of the last full compaction, the times of the
    /// last orphan scan and partition expiry check.
    pub last_full_compaction_snapshot: Option<i64>,
    pub last_full_compaction_millis: Option<i64>,
    pub last_orphan_scan_millis: Option<i64>,
    pub last_partition_check_millis: Option<i64>,
}

impl Status {
    /// The status at `path`, or an empty one if there is none (or it cannot be read: it is
    /// only memory, rebuilt by the next passes).
    pub fn load(path: &Path) -> Status {
        std::fs::read(path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let body = serde_json::to_vec_pretty(self).map_err(Error::internal("status"))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(Error::internal(format!("status {}", dir.display())))?;
        }
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, body).map_err(Error::internal(format!("status {}", tmp.display())))?;
        std::fs::rename(&tmp, path).map_err(Error::internal(format!("status {}", path.display())))
    }
}
