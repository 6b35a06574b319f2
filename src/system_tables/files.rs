//! `$manifests`, `$files`, `$partitions`, `$buckets` and `$table_indexes`: what a snapshot's
//! manifests list (the latest snapshot, or the one the table's time travel names).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow_array::builder::{
    Int32Builder, Int64Builder, ListBuilder, StringBuilder, StructBuilder, TimestampMillisecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType as ArrowType, Field, Fields, Schema, SchemaRef};

use super::{batch, bigint, int, java_array_string, java_string, partition_string, snapshot_read, string, timestamp};
use super::{SystemFilter, Table};
use crate::error::Result;
use crate::spec::{DataFileMeta, DataType, Datum, ManifestEntry, TableSchema};
use crate::store::{ManifestStore, SchemaManager};

fn manifest_store(table: &Table) -> ManifestStore {
    ManifestStore::new(table.io().clone(), &table.schema().core_options().manifest_compression())
}

pub fn manifests_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        string("file_name", false),
        bigint("file_size", false),
        bigint("num_added_files", false),
        bigint("num_deleted_files", false),
        bigint("schema_id", false),
    ]))
}

/// The snapshot's manifests: base, delta, then changelog (Paimon's `readAllManifests`).
pub async fn manifests(table: &Table) -> Result<RecordBatch> {
    let (mut name, mut size, mut added, mut deleted, mut schema_id) =
        (StringBuilder::new(), Int64Builder::new(), Int64Builder::new(), Int64Builder::new(), Int64Builder::new());
    if let Some(snapshot) = snapshot_read(table).await? {
        let store = manifest_store(table);
        let mut metas = store.data_manifests(&snapshot).await?;
        if let Some(changelog) = &snapshot.changelog_manifest_list {
            metas.extend(store.read_manifest_list(changelog).await?);
        }
        for m in metas {
            name.append_value(&m.file_name);
            size.append_value(m.file_size);
            added.append_value(m.num_added_files);
            deleted.append_value(m.num_deleted_files);
            schema_id.append_value(m.schema_id);
        }
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(name.finish()),
        Arc::new(size.finish()),
        Arc::new(added.finish()),
        Arc::new(deleted.finish()),
        Arc::new(schema_id.finish()),
    ];
    batch(manifests_schema(), columns, "building $manifests")
}

/// The live data files of the snapshot a table reads, with their rendered partitions.
async fn live_entries(table: &Table) -> Result<Vec<(String, ManifestEntry)>> {
    let Some(snapshot) = snapshot_read(table).await? else { return Ok(vec![]) };
    let types = table.schema().partition_types();
    let mut rendered: HashMap<Vec<u8>, String> = HashMap::new();
    let mut out = vec![];
    for e in manifest_store(table).live_files(&snapshot).await? {
        let key = e.partition.data().to_vec();
        let p = match rendered.get(&key) {
            Some(p) => p.clone(),
            None => {
                let p = partition_string(&e.partition, &types)?;
                rendered.insert(key, p.clone());
                p
            }
        };
        out.push((p, e));
    }
    Ok(out)
}

/// Whether a rendered partition is the one a filter asks for (brackets optional).
fn partition_matches(filter: &SystemFilter, partition: &str) -> bool {
    match &filter.partition {
        None => true,
        Some(want) => {
            let want = want.trim();
            let want = want.strip_prefix('[').unwrap_or(want);
            let want = want.strip_suffix(']').unwrap_or(want);
            partition.strip_prefix('[').and_then(|p| p.strip_suffix(']')) == Some(want)
        }
    }
}

fn bucket_matches(filter: &SystemFilter, bucket: i32) -> bool {
    filter.buckets.as_ref().is_none_or(|b| b.contains(&bucket))
}

pub fn files_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        string("partition", true),
        int("bucket", false),
        string("file_path", false),
        string("file_format", false),
        bigint("schema_id", false),
        int("level", false),
        bigint("record_count", false),
        bigint("file_size_in_bytes", false),
        string("min_key", true),
        string("max_key", true),
        string("null_value_counts", false),
        string("min_value_stats", false),
        string("max_value_stats", false),
        bigint("min_sequence_number", true),
        bigint("max_sequence_number", true),
        timestamp("creation_time", true),
    ]))
}

/// Whether a batch read of the table skips level-0 files (Paimon 0.9's `DataTableBatchScan`:
/// primary-key tables with deletion vectors or the first-row merge engine), as `$files` and
/// `$audit_log` then do too.
pub fn batch_read_skips_level0(schema: &TableSchema) -> Result<bool> {
    if schema.primary_keys.is_empty() {
        return Ok(false);
    }
    let opts = schema.core_options();
    Ok(opts.deletion_vectors_enabled()? || matches!(opts.merge_engine()?, crate::spec::options::MergeEngine::FirstRow))
}

/// Statistics of one file laid out by the table's current fields (Paimon's
/// `SimpleStatsConverter.evolution`): a field the file's schema lacks has null bounds and a
/// null count equal to the file's row count. Each map is ordered by field name.
struct FileStats {
    nulls: BTreeMap<String, Option<i64>>,
    min: BTreeMap<String, Datum>,
    max: BTreeMap<String, Datum>,
}

fn map_string<V>(m: &BTreeMap<String, V>, render: impl Fn(&V) -> String) -> String {
    let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}={}", render(v))).collect();
    format!("{{{}}}", parts.join(", "))
}

fn file_stats(table: &TableSchema, file_schema: &TableSchema, f: &DataFileMeta) -> FileStats {
    let stats = &f.value_stats;
    let mut out = FileStats { nulls: BTreeMap::new(), min: BTreeMap::new(), max: BTreeMap::new() };
    for field in &table.fields {
        let in_file = file_schema.fields.iter().position(|x| x.id == field.id);
        let pos = match (&f.value_stats_cols, in_file) {
            (_, None) => None,
            (None, Some(i)) => Some(i),
            (Some(cols), Some(i)) => cols.iter().position(|c| *c == file_schema.fields[i].name),
        };
        let (nulls, min, max) = match (pos, in_file) {
            (Some(p), Some(i)) => {
                let t = &file_schema.fields[i].data_type;
                let get = |row: &crate::spec::BinaryRow| {
                    if p < row.arity() {
                        row.get(p, t).unwrap_or(Datum::Null)
                    } else {
                        Datum::Null
                    }
                };
                let nulls = stats.null_counts.as_ref().and_then(|n| n.get(p).copied().flatten());
                (nulls, get(&stats.min_values), get(&stats.max_values))
            }
            (None, Some(_)) => (None, Datum::Null, Datum::Null),
            (_, None) => (Some(f.row_count), Datum::Null, Datum::Null),
        };
        out.nulls.insert(field.name.clone(), nulls);
        out.min.insert(field.name.clone(), min);
        out.max.insert(field.name.clone(), max);
    }
    out
}

/// One row per live data file. Partition, bucket and level filters skip files before their
/// statistics are rendered.
pub async fn files(table: &Table, filter: &SystemFilter) -> Result<RecordBatch> {
    let schema = table.schema();
    let skip_level0 = batch_read_skips_level0(schema)?;
    let schemas = SchemaManager::new(table.io().clone());
    let mut entries: Vec<(String, ManifestEntry)> = live_entries(table)
        .await?
        .into_iter()
        .filter(|(p, e)| {
            partition_matches(filter, p)
                && bucket_matches(filter, e.bucket)
                && filter.levels.as_ref().is_none_or(|l| l.contains(&e.file.level))
                && !(skip_level0 && e.file.level == 0)
        })
        .collect();
    entries.sort_by(|a, b| (&a.0, a.1.bucket, &a.1.file.file_name).cmp(&(&b.0, b.1.bucket, &b.1.file.file_name)));
    let mut cols = (
        StringBuilder::new(),
        Int32Builder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
        Int64Builder::new(),
        Int32Builder::new(),
        Int64Builder::new(),
        Int64Builder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
        Int64Builder::new(),
        Int64Builder::new(),
        TimestampMillisecondBuilder::new(),
    );
    let mut key_types: HashMap<i64, Vec<DataType>> = HashMap::new();
    for (partition, e) in &entries {
        let f = &e.file;
        let file_schema = schemas.schema(f.schema_id).await?;
        let key_types = match key_types.get(&f.schema_id) {
            Some(k) => k.clone(),
            None => {
                let k: Vec<DataType> = file_schema.trimmed_key_fields().into_iter().map(|x| x.data_type).collect();
                key_types.insert(f.schema_id, k.clone());
                k
            }
        };
        let key = |row: &crate::spec::BinaryRow| -> Result<Option<String>> {
            if row.arity() == 0 || key_types.is_empty() {
                return Ok(None);
            }
            Ok(Some(java_array_string(&row.to_datums(&key_types)?)))
        };
        let stats = file_stats(schema, &file_schema, f);
        cols.0.append_value(partition);
        cols.1.append_value(e.bucket);
        cols.2.append_value(&f.file_name);
        cols.3.append_value(f.file_name.rsplit_once('.').map(|(_, ext)| ext).unwrap_or(""));
        cols.4.append_value(f.schema_id);
        cols.5.append_value(f.level);
        cols.6.append_value(f.row_count);
        cols.7.append_value(f.file_size);
        cols.8.append_option(key(&f.min_key)?);
        cols.9.append_option(key(&f.max_key)?);
        cols.10.append_value(map_string(&stats.nulls, |n| n.map(|n| n.to_string()).unwrap_or_else(|| "null".into())));
        cols.11.append_value(map_string(&stats.min, java_string));
        cols.12.append_value(map_string(&stats.max, java_string));
        cols.13.append_value(f.min_sequence_number);
        cols.14.append_value(f.max_sequence_number);
        // Stored as a wall-clock time already.
        cols.15.append_option(f.creation_time);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(cols.0.finish()),
        Arc::new(cols.1.finish()),
        Arc::new(cols.2.finish()),
        Arc::new(cols.3.finish()),
        Arc::new(cols.4.finish()),
        Arc::new(cols.5.finish()),
        Arc::new(cols.6.finish()),
        Arc::new(cols.7.finish()),
        Arc::new(cols.8.finish()),
        Arc::new(cols.9.finish()),
        Arc::new(cols.10.finish()),
        Arc::new(cols.11.finish()),
        Arc::new(cols.12.finish()),
        Arc::new(cols.13.finish()),
        Arc::new(cols.14.finish()),
        Arc::new(cols.15.finish()),
    ];
    batch(files_schema(), columns, "building $files")
}

/// Record count, size, file count and newest file creation time of a group of files.
#[derive(Default)]
struct Totals {
    records: i64,
    bytes: i64,
    files: i64,
    last_creation: Option<i64>,
}

impl Totals {
    /// Counts an entry: an ADD adds the file, a DELETE subtracts it; the creation time of
    /// either counts (Paimon's `PartitionEntry.merge`).
    fn add(&mut self, e: &ManifestEntry) {
        let sign = if e.kind == crate::spec::FileKind::Delete { -1 } else { 1 };
        self.records += sign * e.file.row_count;
        self.bytes += sign * e.file.file_size;
        self.files += sign;
        self.last_creation = self.last_creation.max(e.file.creation_time);
    }
}

/// Totals per (rendered partition, bucket) over every entry of the snapshot's data manifests,
/// as Paimon 0.9 sums them (`readPartitionEntries`): ADDs minus DELETEs, the newest creation
/// time of any entry (so a file compacted away still counts for the time until the manifests
/// are compacted), groups without files left out.
async fn totals(table: &Table) -> Result<BTreeMap<(String, i32), Totals>> {
    let mut by: BTreeMap<(String, i32), Totals> = BTreeMap::new();
    let Some(snapshot) = snapshot_read(table).await? else { return Ok(by) };
    let store = manifest_store(table);
    let types = table.schema().partition_types();
    let mut rendered: HashMap<Vec<u8>, String> = HashMap::new();
    for e in store.read_entries(&store.data_manifests(&snapshot).await?).await? {
        let key = e.partition.data().to_vec();
        let p = match rendered.get(&key) {
            Some(p) => p.clone(),
            None => {
                let p = partition_string(&e.partition, &types)?;
                rendered.insert(key, p.clone());
                p
            }
        };
        by.entry((p, e.bucket)).or_default().add(&e);
    }
    by.retain(|_, t| t.files > 0);
    Ok(by)
}

pub fn partitions_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        string("partition", true),
        bigint("record_count", false),
        bigint("file_size_in_bytes", false),
        bigint("file_count", false),
        timestamp("last_update_time", true),
    ]))
}

/// One row per partition with live files (every level), by rendered partition (see [`totals`]).
pub async fn partitions(table: &Table) -> Result<RecordBatch> {
    let mut by: BTreeMap<String, Totals> = BTreeMap::new();
    for ((p, _), t) in totals(table).await? {
        let sum = by.entry(p).or_default();
        sum.records += t.records;
        sum.bytes += t.bytes;
        sum.files += t.files;
        sum.last_creation = sum.last_creation.max(t.last_creation);
    }
    let (mut part, mut records, mut bytes, mut count, mut last) = (
        StringBuilder::new(),
        Int64Builder::new(),
        Int64Builder::new(),
        Int64Builder::new(),
        TimestampMillisecondBuilder::new(),
    );
    for (p, t) in by {
        part.append_value(p);
        records.append_value(t.records);
        bytes.append_value(t.bytes);
        count.append_value(t.files);
        // Paimon converts the stored wall-clock time to an instant and back: the same value.
        last.append_option(t.last_creation);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(part.finish()),
        Arc::new(records.finish()),
        Arc::new(bytes.finish()),
        Arc::new(count.finish()),
        Arc::new(last.finish()),
    ];
    batch(partitions_schema(), columns, "building $partitions")
}

pub fn buckets_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        string("partition", true),
        int("bucket", false),
        bigint("record_count", false),
        bigint("file_size_in_bytes", false),
        bigint("file_count", false),
        timestamp("last_update_time", true),
    ]))
}

/// One row per bucket with live files (every level), by rendered partition then bucket (see
/// [`totals`]).
pub async fn buckets(table: &Table, filter: &SystemFilter) -> Result<RecordBatch> {
    let mut by = totals(table).await?;
    by.retain(|(p, b), _| partition_matches(filter, p) && bucket_matches(filter, *b));
    let (mut part, mut bucket, mut records, mut bytes, mut count, mut last) = (
        StringBuilder::new(),
        Int32Builder::new(),
        Int64Builder::new(),
        Int64Builder::new(),
        Int64Builder::new(),
        TimestampMillisecondBuilder::new(),
    );
    for ((p, b), t) in by {
        part.append_value(p);
        bucket.append_value(b);
        records.append_value(t.records);
        bytes.append_value(t.bytes);
        count.append_value(t.files);
        last.append_option(t.last_creation);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(part.finish()),
        Arc::new(bucket.finish()),
        Arc::new(records.finish()),
        Arc::new(bytes.finish()),
        Arc::new(count.finish()),
        Arc::new(last.finish()),
    ];
    batch(buckets_schema(), columns, "building $buckets")
}

/// Paimon 1.0's `DeletionVectorMeta` row: data file, offset, length, cardinality.
fn dv_range_fields() -> Fields {
    Fields::from(vec![
        Field::new("f0", ArrowType::Utf8, false),
        Field::new("f1", ArrowType::Int32, false),
        Field::new("f2", ArrowType::Int32, false),
        Field::new("_CARDINALITY", ArrowType::Int64, true),
    ])
}

pub fn table_indexes_schema() -> SchemaRef {
    let item = Field::new("element", ArrowType::Struct(dv_range_fields()), true);
    Arc::new(Schema::new(vec![
        string("partition", true),
        int("bucket", false),
        string("index_type", false),
        string("file_name", false),
        bigint("file_size", false),
        bigint("row_count", false),
        Field::new("dv_ranges", ArrowType::List(Arc::new(item)), true),
    ]))
}

/// One row per index file of the snapshot's index manifest (deletion vectors, hash indexes).
pub async fn table_indexes(table: &Table, filter: &SystemFilter) -> Result<RecordBatch> {
    let types = table.schema().partition_types();
    let mut rows = vec![];
    if let Some(snapshot) = snapshot_read(table).await? {
        if let Some(index_manifest) = &snapshot.index_manifest {
            for e in manifest_store(table).read_index_manifest(index_manifest).await? {
                let p = partition_string(&e.partition, &types)?;
                if partition_matches(filter, &p) && bucket_matches(filter, e.bucket) {
                    rows.push((p, e));
                }
            }
        }
    }
    let (mut part, mut bucket, mut kind, mut name, mut size, mut count) = (
        StringBuilder::new(),
        Int32Builder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
        Int64Builder::new(),
        Int64Builder::new(),
    );
    let item = Field::new("element", ArrowType::Struct(dv_range_fields()), true);
    let mut ranges = ListBuilder::new(StructBuilder::from_fields(dv_range_fields(), 0)).with_field(Arc::new(item));
    for (p, e) in rows {
        part.append_value(p);
        bucket.append_value(e.bucket);
        kind.append_value(&e.index_type);
        name.append_value(&e.file_name);
        size.append_value(e.file_size);
        count.append_value(e.row_count);
        if e.index_type == crate::spec::manifest::DELETION_VECTORS_INDEX {
            let s = ranges.values();
            for r in &e.deletion_vectors {
                if let Some(b) = s.field_builder::<StringBuilder>(0) {
                    b.append_value(&r.data_file);
                }
                if let Some(b) = s.field_builder::<Int32Builder>(1) {
                    b.append_value(r.offset);
                }
                if let Some(b) = s.field_builder::<Int32Builder>(2) {
                    b.append_value(r.length);
                }
                if let Some(b) = s.field_builder::<Int64Builder>(3) {
                    b.append_null();
                }
                s.append(true);
            }
            ranges.append(true);
        } else {
            ranges.append(false);
        }
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(part.finish()),
        Arc::new(bucket.finish()),
        Arc::new(kind.finish()),
        Arc::new(name.finish()),
        Arc::new(size.finish()),
        Arc::new(count.finish()),
        Arc::new(ranges.finish()),
    ];
    batch(table_indexes_schema(), columns, "building $table_indexes")
}
