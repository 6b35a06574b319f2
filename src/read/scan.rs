//! Scan planning: from a snapshot's manifests to splits, one per (partition, bucket), each with
//! the live data files of that bucket.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::error::Result;
use crate::io::FileIO;
use crate::spec::paths::{bucket_dir, partition_path, POSTPONE_BUCKET};
use crate::spec::{BinaryRow, DataFileMeta, Datum, Snapshot, TableSchema};
use crate::store::{ManifestStore, SnapshotManager, TagManager};

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
    pub deletion_vectors: std::collections::HashMap<String, SplitDeletionVector>,
}

/// A data file's deletion vector: where to read it, or (compactions inside a writer, whose
/// vectors are not committed yet) the vector itself.
#[derive(Clone, Debug, PartialEq)]
pub enum SplitDeletionVector {
    File(DeletionFile),
    Loaded(Arc<roaring::RoaringBitmap>),
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
pub(crate) type PartitionFilter = Arc<dyn Fn(&[Datum]) -> bool + Send + Sync>;

/// Which snapshot to read (Paimon's `scan.snapshot-id`, `scan.tag-name`, `scan.timestamp-millis`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TimeTravel {
    Snapshot(i64),
    Tag(String),
    /// The latest snapshot committed at or before this epoch-millis time.
    Timestamp(i64),
}

impl TimeTravel {
    /// A point in time as epoch millis: a number of millis, RFC 3339
    /// (`2024-01-02T03:04:05+02:00`), or `2024-01-02 03:04:05[.fff]`, `2024-01-02T03:04`,
    /// `2024-01-02` in UTC.
    pub fn parse_time(s: &str) -> Option<i64> {
        let t = s.trim();
        if let Ok(ms) = t.parse::<i64>() {
            return Some(ms);
        }
        if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(t) {
            return Some(dt.timestamp_millis());
        }
        for f in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"] {
            if let Ok(dt) = chrono::NaiveDateTime::parse_from_str(t, f) {
                return Some(dt.and_utc().timestamp_millis());
            }
        }
        let d = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d").ok()?;
        Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
    }

    /// The time travel a table's options ask for, if any (at most one of the three options).
    pub fn from_options(opts: &crate::spec::options::CoreOptions) -> Result<Option<TimeTravel>> {
        let mut found = vec![];
        if let Some(id) = opts.scan_snapshot_id()? {
            found.push(TimeTravel::Snapshot(id));
        }
        if let Some(t) = opts.scan_tag_name() {
            found.push(TimeTravel::Tag(t.to_string()));
        }
        if let Some(ms) = opts.scan_timestamp_millis()? {
            found.push(TimeTravel::Timestamp(ms));
        }
        if found.len() > 1 {
            return Err(crate::Error::InvalidInput(format!(
                "set only one of scan.snapshot-id, scan.tag-name and scan.timestamp-millis (found {found:?})"
            )));
        }
        Ok(found.pop())
    }

    /// The snapshot this points at, with a clear error when there is none.
    pub async fn resolve(&self, io: &FileIO) -> Result<Snapshot> {
        let sm = SnapshotManager::new(io.clone());
        match self {
            TimeTravel::Snapshot(id) => sm.snapshot(*id).await,
            TimeTravel::Tag(name) => Ok(TagManager::new(io.clone()).tag(name).await?.snapshot),
            TimeTravel::Timestamp(ms) => match sm.earlier_or_equal_time(*ms).await? {
                Some(s) => Ok(s),
                None => {
                    let when = chrono::DateTime::from_timestamp_millis(*ms).map(|t| t.to_rfc3339()).unwrap_or_default();
                    Err(crate::Error::InvalidInput(format!(
                        "no snapshot was committed at or before {when} ({ms} ms) among the retained snapshots"
                    )))
                }
            },
        }
    }
}

#[derive(Clone)]
pub struct TableScan {
    io: FileIO,
    schema: Arc<TableSchema>,
    time_travel: Option<TimeTravel>,
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
        TableScan { io, schema, time_travel: None, partition_filter: None, bucket_filter: None }
    }

    /// Reads the table as of this snapshot (default: the latest, or what the `scan.*` time
    /// travel options say).
    pub fn with_snapshot(mut self, id: i64) -> Self {
        self.time_travel = Some(TimeTravel::Snapshot(id));
        self
    }

    pub fn with_time_travel(mut self, tt: TimeTravel) -> Self {
        self.time_travel = Some(tt);
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
        let wanted = match &self.time_travel {
            Some(tt) => Some(tt.clone()),
            None => TimeTravel::from_options(&self.schema.core_options())?,
        };
        let snapshot = match wanted {
            Some(tt) => Some(tt.resolve(&self.io).await?),
            None => SnapshotManager::new(self.io.clone()).latest().await?,
        };
        let Some(snapshot) = snapshot else {
            return Ok(Plan { snapshot: None, splits: vec![] });
        };
        let manifests = ManifestStore::new(self.io.clone(), &self.schema.core_options().manifest_compression());
        let entries = manifests.live_files(&snapshot).await?;
        let partition_types = self.schema.partition_types();
        let mut splits_by_bucket = SplitsByBucket::new(&self.schema, snapshot.id);
        let mut partition_ok: std::collections::HashMap<Vec<u8>, bool> = Default::default();
        // A postpone-bucket table's pending rows (bucket -2) are not read until a compaction
        // moved them into real buckets (Paimon's `onlyReadRealBuckets`), unless asked for.
        let only_real = self.schema.core_options().bucket()? == POSTPONE_BUCKET
            && !self.bucket_filter.as_ref().is_some_and(|b| b.contains(&POSTPONE_BUCKET));
        for e in entries {
            if only_real && e.bucket < 0 {
                continue;
            }
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
            splits_by_bucket.add(e)?;
        }
        // Deletion vectors, from the snapshot's index manifest, onto their splits.
        if let Some(index_manifest) = &snapshot.index_manifest {
            attach_deletion_vectors(&manifests, index_manifest, &mut splits_by_bucket.splits).await?;
        }
        Ok(Plan { snapshot: Some(snapshot), splits: splits_by_bucket.splits.into_values().collect() })
    }
}

/// Puts the deletion vectors an index manifest lists onto the splits of their buckets.
pub(crate) async fn attach_deletion_vectors(
    manifests: &ManifestStore,
    index_manifest: &str,
    splits: &mut BTreeMap<(Vec<u8>, i32), DataSplit>,
) -> Result<()> {
    for e in manifests.read_index_manifest(index_manifest).await? {
        if e.index_type != crate::spec::manifest::DELETION_VECTORS_INDEX {
            continue;
        }
        if let Some(split) = splits.get_mut(&(e.partition.data().to_vec(), e.bucket)) {
            for r in e.deletion_vectors {
                let file = DeletionFile { path: format!("index/{}", e.file_name), offset: r.offset, length: r.length };
                split.deletion_vectors.insert(r.data_file, SplitDeletionVector::File(file));
            }
        }
    }
    Ok(())
}

/// Files of one snapshot gathered into a split per (partition, bucket), in key order.
pub(crate) struct SplitsByBucket<'a> {
    schema: &'a TableSchema,
    snapshot_id: i64,
    partition_types: Vec<crate::spec::DataType>,
    default_name: String,
    pub splits: BTreeMap<(Vec<u8>, i32), DataSplit>,
}

impl<'a> SplitsByBucket<'a> {
    pub(crate) fn new(schema: &'a TableSchema, snapshot_id: i64) -> Self {
        SplitsByBucket {
            schema,
            snapshot_id,
            partition_types: schema.partition_types(),
            default_name: schema.core_options().partition_default_name().to_string(),
            splits: BTreeMap::new(),
        }
    }

    /// Adds an entry's file to its bucket's split, creating the split on first sight.
    pub(crate) fn add(&mut self, e: crate::spec::ManifestEntry) -> Result<()> {
        let split = match self.splits.entry((e.partition.data().to_vec(), e.bucket)) {
            std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::btree_map::Entry::Vacant(v) => {
                let partition = partition_path(
                    &e.partition,
                    &self.schema.partition_keys,
                    &self.partition_types,
                    &self.default_name,
                )?;
                v.insert(DataSplit {
                    snapshot_id: self.snapshot_id,
                    partition: e.partition.clone(),
                    bucket: e.bucket,
                    bucket_path: bucket_dir(&partition, e.bucket),
                    total_buckets: e.total_buckets,
                    files: vec![],
                    deletion_vectors: Default::default(),
                })
            }
        };
        split.files.push(e.file);
        Ok(())
    }
}
