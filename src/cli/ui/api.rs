//! The JSON the page reads, built from the same library calls as the commands: the catalog's
//! listing (`shoal sql`), the schema (`shoal schema`), snapshots (`shoal snapshots`), the scan
//! plan (`shoal files`), the LSM shape (`shoal inspect`), tags (`shoal tag list`) and consumers
//! (`shoal consumer list`). Read-only: nothing here writes to the warehouse.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use datafusion::catalog::CatalogProvider;
use serde_json::{json, Value};

use shoal::datafusion::ShoalCatalogProvider;
use shoal::error::{Error, Result};
use shoal::lsm::shape::{axis_number, bucket_shapes, compare_keys, sorted_bounds, BucketShape};
use shoal::spec::{CommitKind, Datum, FileKind};
use shoal::store::{ManifestStore, SnapshotManager, TagManager};
use shoal::Table;

/// The newest snapshots the timeline shows (each costs a read of its delta manifests once).
pub const TIMELINE_SNAPSHOTS: usize = 300;

/// What a snapshot's delta manifests say it changed; snapshots never change, so this is
/// computed once per snapshot and kept.
#[derive(Clone, Debug)]
struct Delta {
    files_added: i64,
    files_deleted: i64,
    /// Rows the added files hold as inserts or updates (`+I`, `+U`).
    rows_added: i64,
    /// Retractions the added files hold (`-D`, `-U`).
    rows_retracted: i64,
    /// Rows of the files the snapshot removed (rewritten by a compaction, dropped by an
    /// overwrite).
    rows_removed: i64,
}

/// The page's data source over one warehouse.
pub struct Api {
    warehouse: String,
    deltas: Mutex<HashMap<(String, i64), Delta>>,
}

/// `db.table`, checked to be a plain name (no path separators or `..`) before it becomes a path.
pub fn split_name(name: &str) -> Result<(&str, &str)> {
    let (db, table) = name
        .split_once('.')
        .ok_or_else(|| Error::InvalidInput(format!("name the table as db.table (got {name:?})")))?;
    let plain = |s: &str| !s.is_empty() && s != ".." && !s.contains(['/', '\\']) && !s.starts_with('.');
    if !plain(db) || !plain(table) {
        return Err(Error::InvalidInput(format!("not a table name: {name:?}")));
    }
    Ok((db, table))
}

impl Api {
    pub fn new(warehouse: &str) -> Api {
        Api { warehouse: warehouse.trim_end_matches('/').to_string(), deltas: Mutex::new(HashMap::new()) }
    }

    pub fn warehouse(&self) -> &str {
        &self.warehouse
    }

    async fn open(&self, name: &str) -> Result<Table> {
        let (db, table) = split_name(name)?;
        Table::open(&format!("{}/{db}.db/{table}", self.warehouse)).await
    }

    /// `/api/tables`: the databases and their tables, with each table's latest snapshot id.
    pub async fn tables(&self) -> Result<Value> {
        let catalog = ShoalCatalogProvider::open(&self.warehouse).await?;
        let mut dbs = vec![];
        for db in catalog.schema_names() {
            let Some(schema) = catalog.schema(&db) else { continue };
            let mut names = schema.table_names();
            names.sort();
            if names.is_empty() && (db == "default" || db == "public") {
                continue; // the catalog's session schemas, not directories of the warehouse
            }
            let mut tables = vec![];
            for t in names {
                let full = format!("{db}.{t}");
                let latest = match self.open(&full).await {
                    Ok(table) => table.snapshots().latest_id().await.ok().flatten(),
                    Err(_) => None,
                };
                tables.push(json!({"name": t, "full_name": full, "latest_snapshot": latest}));
            }
            dbs.push(json!({"name": db, "tables": tables}));
        }
        Ok(json!({"warehouse": self.warehouse, "databases": dbs}))
    }

    /// `/api/latest?t=db.table`: the latest snapshot id, what the page polls.
    pub async fn latest(&self, name: &str) -> Result<Value> {
        let t = self.open(name).await?;
        Ok(json!({"table": name, "latest_snapshot": t.snapshots().latest_id().await?}))
    }

    /// `/api/table?t=db.table`: everything the table's page shows.
    pub async fn table(&self, name: &str) -> Result<Value> {
        let t = self.open(name).await?;
        let sm = t.snapshots();
        let ids = sm.snapshot_ids().await?;
        let latest = ids.last().copied();
        let plan = t.new_scan().plan().await?;
        let snapshot = plan.snapshot.as_ref().map(|s| s.id);
        let lsm = if t.schema().primary_keys.is_empty() {
            json!({"note": "an append table (no primary key) has no LSM tree: its files are in the files section"})
        } else {
            let shapes = bucket_shapes(t.schema(), &plan.splits)?;
            json!({
                "key_fields": t.schema().trimmed_key_fields().iter().map(|f| f.name.clone()).collect::<Vec<_>>(),
                "buckets": shapes.iter().map(lsm_bucket).collect::<Vec<_>>(),
            })
        };
        Ok(json!({
            "name": name,
            "location": t.location(),
            "schema": t.schema().to_json(),
            "latest_snapshot": latest,
            "snapshot_count": ids.len(),
            "earliest_snapshot": ids.first(),
            "timeline": self.timeline(&t, &ids).await?,
            "files_snapshot": snapshot,
            "buckets": buckets(&plan.splits),
            "lsm": lsm,
            "tags": tags(&t).await?,
            "branches": branches(&t).await?,
            "consumers": consumers(&t, latest).await?,
        }))
    }

    /// The newest [`TIMELINE_SNAPSHOTS`] snapshots with what each changed.
    async fn timeline(&self, t: &Table, ids: &[i64]) -> Result<Value> {
        let sm = t.snapshots();
        let manifests = ManifestStore::new(t.io().clone(), &t.schema().core_options().manifest_compression());
        let mut out = vec![];
        for &id in &ids[ids.len().saturating_sub(TIMELINE_SNAPSHOTS)..] {
            let s = match sm.snapshot(id).await {
                Ok(s) => s,
                Err(Error::SnapshotNotFound(_)) => continue, // expired while listing
                Err(e) => return Err(e),
            };
            let key = (t.location().to_string(), id);
            let cached = self.deltas.lock().unwrap_or_else(|e| e.into_inner()).get(&key).cloned();
            let delta = match cached {
                Some(d) => Some(d),
                None => match delta_of(&manifests, &s.delta_manifest_list).await {
                    Ok(d) => {
                        self.deltas.lock().unwrap_or_else(|e| e.into_inner()).insert(key, d.clone());
                        Some(d)
                    }
                    Err(_) => None, // its manifests expired meanwhile: shown without the detail
                },
            };
            let kind = format!("{:?}", s.commit_kind).to_uppercase();
            let (added, deleted) = match (&delta, s.commit_kind) {
                (Some(d), CommitKind::Append) => (Some(d.rows_added), Some(d.rows_retracted)),
                (Some(d), CommitKind::Overwrite) => (Some(d.rows_added), Some(d.rows_retracted + d.rows_removed)),
                (Some(_), _) => (Some(0), Some(0)),
                (None, _) => (None, None),
            };
            out.push(json!({
                "id": s.id,
                "kind": kind,
                "schema_id": s.schema_id,
                "time_millis": s.time_millis,
                "commit_user": s.commit_user,
                "total_rows": s.total_record_count,
                "delta_rows": s.delta_record_count,
                "rows_added": added,
                "rows_deleted": deleted,
                "files_added": delta.as_ref().map(|d| d.files_added),
                "files_deleted": delta.as_ref().map(|d| d.files_deleted),
                "rows_rewritten": delta.as_ref().filter(|_| s.commit_kind == CommitKind::Compact).map(|d| d.rows_removed),
            }));
        }
        Ok(Value::Array(out))
    }
}

async fn delta_of(manifests: &ManifestStore, list: &str) -> Result<Delta> {
    let metas = manifests.read_manifest_list(list).await?;
    let entries = manifests.read_entries(&metas).await?;
    let mut d = Delta { files_added: 0, files_deleted: 0, rows_added: 0, rows_retracted: 0, rows_removed: 0 };
    for e in entries {
        match e.kind {
            FileKind::Add => {
                d.files_added += 1;
                d.rows_added += e.file.add_row_count();
                d.rows_retracted += e.file.delete_row_count.unwrap_or(0);
            }
            FileKind::Delete => {
                d.files_deleted += 1;
                d.rows_removed += e.file.row_count;
            }
        }
    }
    Ok(d)
}

/// The live files by partition/bucket (what `shoal files` lists).
fn buckets(splits: &[shoal::read::DataSplit]) -> Value {
    let mut by_path: BTreeMap<&str, Vec<&shoal::spec::DataFileMeta>> = BTreeMap::new();
    for s in splits {
        by_path.entry(&s.bucket_path).or_default().extend(&s.files);
    }
    Value::Array(
        by_path
            .into_iter()
            .map(|(path, mut files)| {
                files.sort_by_key(|f| (std::cmp::Reverse(f.level), f.min_sequence_number));
                json!({
                    "path": path,
                    "file_count": files.len(),
                    "rows": files.iter().map(|f| f.row_count).sum::<i64>(),
                    "bytes": files.iter().map(|f| f.file_size).sum::<i64>(),
                    "files": files.iter().map(|f| json!({
                        "name": f.file_name,
                        "level": f.level,
                        "rows": f.row_count,
                        "bytes": f.file_size,
                        "deletes": f.delete_row_count.unwrap_or(0),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect(),
    )
}

/// A key as the page shows it; a single numeric (or date/time) key also as a number, for a
/// linear axis.
fn key_json(key: &[Datum], rank: usize) -> Value {
    json!({"text": key.iter().map(datum_text).collect::<Vec<_>>().join(", "), "num": axis_number(key), "rank": rank})
}

/// How the page labels a linear axis's numbers.
fn axis_format(d: &Datum) -> &'static str {
    match d {
        Datum::Date(_) => "date",
        Datum::Time(_) => "time",
        Datum::Timestamp { .. } => "timestamp",
        _ => "number",
    }
}

fn datum_text(d: &Datum) -> String {
    match d {
        Datum::Date(days) => chrono::DateTime::from_timestamp(*days as i64 * 86_400, 0)
            .map(|t| t.format("%Y-%m-%d").to_string())
            .unwrap_or_else(|| d.to_string()),
        Datum::Timestamp { millis, .. } => chrono::DateTime::from_timestamp_millis(*millis)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
            .unwrap_or_else(|| d.to_string()),
        _ => d.to_string(),
    }
}

/// One bucket's tree with its key axis: linear for a single numeric key, else the sorted
/// distinct file bounds (each file's min and max key get their rank among them).
fn lsm_bucket(b: &BucketShape) -> Value {
    let samples = sorted_bounds(b.files().map(|f| (&f.min_key[..], &f.max_key[..])));
    let rank = |k: &[Datum]| samples.partition_point(|s| compare_keys(s, k).is_lt());
    let linear = b.files().all(|f| axis_number(&f.min_key).is_some() && axis_number(&f.max_key).is_some());
    let axis = match samples.first() {
        Some([first]) if linear => json!({
            "kind": "linear",
            "format": axis_format(first),
            "min": axis_number(samples[0]),
            "max": samples.last().and_then(|k| axis_number(k)),
        }),
        _ => json!({
            "kind": "samples",
            "samples": samples.iter().map(|k| k.iter().map(datum_text).collect::<Vec<_>>().join(", ")).collect::<Vec<_>>(),
        }),
    };
    json!({
        "path": b.bucket_path,
        "max_level": b.max_level,
        "overlapping_pairs": b.overlapping_pairs,
        "bytes": b.size(),
        "axis": axis,
        "runs": b.runs.iter().map(|r| json!({
            "level": r.level,
            "rows": r.rows(),
            "bytes": r.size(),
            "files": r.files.iter().map(|f| json!({
                "name": f.file.file_name,
                "rows": f.file.row_count,
                "bytes": f.file.file_size,
                "deletes": f.file.delete_row_count.unwrap_or(0),
                "overlaps": f.overlaps,
                "min": key_json(&f.min_key, rank(&f.min_key)),
                "max": key_json(&f.max_key, rank(&f.max_key)),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

async fn tags(t: &Table) -> Result<Value> {
    Ok(Value::Array(
        t.tags()
            .await?
            .iter()
            .map(|tag| {
                json!({
                    "name": tag.name,
                    "snapshot": tag.snapshot.id,
                    "snapshot_time_millis": tag.snapshot.time_millis,
                    "total_rows": tag.snapshot.total_record_count,
                    "created": tag.create_time.map(|c| c.format("%Y-%m-%d %H:%M:%S").to_string()),
                    "retained_seconds": tag.time_retained.map(|d| d.as_secs()),
                })
            })
            .collect(),
    ))
}

/// Branches (`branch/branch-<name>/`, written by Paimon), each with its snapshots and tags.
async fn branches(t: &Table) -> Result<Value> {
    let mut out = vec![];
    for dir in t.io().list_dirs("branch").await? {
        let Some(name) = dir.strip_prefix("branch-") else { continue };
        let io = t.io().sub(&format!("branch/{dir}"));
        let ids = SnapshotManager::new(io.clone()).snapshot_ids().await?;
        let tags = TagManager::new(io).names().await?;
        out.push(json!({
            "name": name,
            "snapshot_count": ids.len(),
            "latest_snapshot": ids.last(),
            "tags": tags,
        }));
    }
    Ok(Value::Array(out))
}

/// Consumers and how many snapshots each has still to read (its next snapshot up to the latest).
async fn consumers(t: &Table, latest: Option<i64>) -> Result<Value> {
    let times = t.consumers().last_updates().await?;
    let mut consumers = t.consumers().consumers().await?;
    consumers.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Value::Array(
        consumers
            .into_iter()
            .map(|(id, c)| {
                let behind = latest.map(|l| (l - c.next_snapshot + 1).max(0));
                json!({
                    "id": id,
                    "next_snapshot": c.next_snapshot,
                    "snapshots_behind": behind,
                    "last_update_millis": times.get(&id),
                })
            })
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_plain() {
        assert_eq!(split_name("db.t").unwrap(), ("db", "t"));
        for bad in ["db", "../x.t", "db./etc", "db.t/..", ".hidden.t", "db.", "a\\b.c"] {
            assert!(split_name(bad).is_err(), "{bad}");
        }
    }
}
