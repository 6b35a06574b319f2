//! Scan planning: from a snapshot's manifests to splits, one per (partition, bucket), each with
//! the live data files of that bucket.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::error::Result;
use crate::io::FileIO;
use crate::spec::paths::{bucket_dir, partition_path};
use crate::spec::{BinaryRow, DataFileMeta, Datum, Snapshot, TableSchema};
use crate::store::{ManifestStore, SnapshotManager};

/// The files of one bucket to read together.
#[derive(Clone, Debug)]
pub struct DataSplit {
    pub snapshot_id: i64,
    pub partition: BinaryRow,
    pub bucket: i32,
    /// The bucket directory relative to the table root.
    pub bucket_path: String,
    pub total_buckets: i32,
    pub files: Vec<DataFileMeta>,
    /// Deletion vectors of the split's files, by data file name (tables with
    /// `deletion-vectors.enabled`).
    pub deletion_vectors: std::collections::HashMap<String, DeletionFile>,
}

/// Where a data file's deletion vector is: an index file (relative to the table) and the range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeletionFile {
    pub path: String,
    pub offset: i32,
    pub length: i32,
}

impl DataSplit {
    pub fn row_count(&self) -> i64 {
        self.files.iter().map(|f| f.row_count).sum()
    }
}

/// A partition predicate over the partition values (in partition-key order).
pub type PartitionFilter = Arc<dyn Fn(&[Datum]) -> bool + Send + Sync>;

#[derive(Clone)]
pub struct TableScan {
    io: FileIO,
    schema: Arc<TableSchema>,
    snapshot_id: Option<i64>,
    partition_filter: Option<PartitionFilter>,
    bucket_filter: Option<Vec<i32>>,
}

/// What a scan found: the snapshot read (None for an empty table) and its splits.
#[derive(Clone, Debug)]
pub struct Plan {
    pub snapshot: Option<Snapshot>,
    pub splits: Vec<DataSplit>,
}

impl TableScan {
    pub fn new(io: FileIO, schema: Arc<TableSchema>) -> Self {
        TableScan { io, schema, snapshot_id: None, partition_filter: None, bucket_filter: None }
    }

    /// Reads the table as of this snapshot (default: the latest, or `scan.snapshot-id`).
    pub fn with_snapshot(mut self, id: i64) -> Self {
        self.snapshot_id = Some(id);
        self
    }

    pub fn with_partition_filter(mut self, f: PartitionFilter) -> Self {
        self.partition_filter = Some(f);
        self
    }

    pub fn with_buckets(mut self, buckets: Vec<i32>) -> Self {
        self.bucket_filter = Some(buckets);
        self
    }

    pub async fn plan(&self) -> Result<Plan> {
        let snapshots = SnapshotManager::new(self.io.clone());
        let wanted = match self.snapshot_id {
            Some(id) => Some(id),
            None => self.schema.core_options().scan_snapshot_id()?,
        };
        let snapshot = match wanted {
            Some(id) => Some(snapshots.snapshot(id).await?),
            None => snapshots.latest().await?,
        };
        let Some(snapshot) = snapshot else {
            return Ok(Plan { snapshot: None, splits: vec![] });
        };
        let manifests = ManifestStore::new(self.io.clone(), &self.schema.core_options().manifest_compression());
        let entries = manifests.live_files(&snapshot).await?;
        let partition_types = self.schema.partition_types();
        let default_name = self.schema.core_options().partition_default_name().to_string();
        let mut groups: BTreeMap<(Vec<u8>, i32), DataSplit> = BTreeMap::new();
        let mut partition_ok: std::collections::HashMap<Vec<u8>, bool> = Default::default();
        for e in entries {
            if let Some(b) = &self.bucket_filter {
                if !b.contains(&e.bucket) {
                    continue;
                }
            }
            if let Some(f) = &self.partition_filter {
                let key = e.partition.data().to_vec();
                let ok = match partition_ok.get(&key) {
                    Some(ok) => *ok,
                    None => {
                        let ok = f(&e.partition.to_datums(&partition_types)?);
                        partition_ok.insert(key, ok);
                        ok
                    }
                };
                if !ok {
                    continue;
                }
            }
            let key = (e.partition.data().to_vec(), e.bucket);
            if !groups.contains_key(&key) {
                let path = bucket_dir(
                    &partition_path(&e.partition, &self.schema.partition_keys, &partition_types, &default_name)?,
                    e.bucket,
                );
                groups.insert(
                    key.clone(),
                    DataSplit {
                        snapshot_id: snapshot.id,
                        partition: e.partition.clone(),
                        bucket: e.bucket,
                        bucket_path: path,
                        total_buckets: e.total_buckets,
                        files: vec![],
                        deletion_vectors: Default::default(),
                    },
                );
            }
            groups.get_mut(&key).expect("inserted above").files.push(e.file);
        }
        // Deletion vectors, from the snapshot's index manifest, onto their splits.
        if let Some(index_manifest) = &snapshot.index_manifest {
            for e in manifests.read_index_manifest(index_manifest).await? {
                if e.index_type != crate::spec::manifest::DELETION_VECTORS_INDEX {
                    continue;
                }
                if let Some(split) = groups.get_mut(&(e.partition.data().to_vec(), e.bucket)) {
                    for r in e.deletion_vectors {
                        let file = DeletionFile { path: format!("index/{}", e.file_name), offset: r.offset, length: r.length };
                        split.deletion_vectors.insert(r.data_file, file);
                    }
                }
            }
        }
        Ok(Plan { snapshot: Some(snapshot), splits: groups.into_values().collect() })
    }
}
