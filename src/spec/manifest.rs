//! Manifest files (`manifest/manifest-*`: ManifestEntry records), manifest lists
//! (`manifest/manifest-list-*`: ManifestFileMeta records) and the DataFileMeta / SimpleStats
//! records inside them, as Avro with Paimon's record schemas.
//!
//! shoal writes the current (1.x) record shape, which Paimon 0.9 also reads (its Avro reader matches
//! fields by name and skips unknown ones), and reads both the 0.9 and the 1.x shapes the same way:
//! by field name, with missing nullable fields as null.

use apache_avro::types::Value as AvroValue;
use apache_avro::{Codec, Schema, Writer, ZstandardSettings};
use std::sync::OnceLock;

use super::binary_row::BinaryRow;
use super::SpecError;

/// `_VERSION` of ManifestEntry and ManifestFileMeta records.
pub(crate) const MANIFEST_RECORD_VERSION: i32 = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileKind {
    Add = 0,
    Delete = 1,
}

/// Min/max rows and null counts of a set of columns.
#[derive(Clone, Debug, PartialEq)]
pub struct SimpleStats {
    pub min_values: BinaryRow,
    pub max_values: BinaryRow,
    /// None when the stats carry no null counts; items are None where unknown.
    pub null_counts: Option<Vec<Option<i64>>>,
}

impl SimpleStats {
    pub fn empty() -> Self {
        SimpleStats { min_values: BinaryRow::empty(), max_values: BinaryRow::empty(), null_counts: Some(vec![]) }
    }
}

/// Where a data file came from (`_FILE_SOURCE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileSource {
    Append = 0,
    Compact = 1,
}

/// One data file, as recorded in a manifest entry.
#[derive(Clone, Debug, PartialEq)]
pub struct DataFileMeta {
    pub file_name: String,
    pub file_size: i64,
    pub row_count: i64,
    pub min_key: BinaryRow,
    pub max_key: BinaryRow,
    pub key_stats: SimpleStats,
    pub value_stats: SimpleStats,
    pub min_sequence_number: i64,
    pub max_sequence_number: i64,
    pub schema_id: i64,
    pub level: i32,
    pub extra_files: Vec<String>,
    /// Writer's local wall-clock time as epoch millis (Paimon's `LocalDateTime.now()`).
    pub creation_time: Option<i64>,
    /// Number of -U/-D rows; 0 or None lets readers skip the merge for a lone file.
    pub delete_row_count: Option<i64>,
    pub embedded_index: Option<Vec<u8>>,
    pub file_source: Option<FileSource>,
    /// None: the value stats cover every column of the file's schema.
    pub value_stats_cols: Option<Vec<String>>,
    pub external_path: Option<String>,
}

impl DataFileMeta {
    /// The same file on another level (Paimon's `DataFileMeta.upgrade`: a compaction moves it
    /// without a rewrite, recorded as DELETE of the old level and ADD of this).
    pub fn upgraded(&self, level: i32) -> DataFileMeta {
        DataFileMeta { level, ..self.clone() }
    }

    pub fn add_row_count(&self) -> i64 {
        self.row_count - self.delete_row_count.unwrap_or(0)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ManifestEntry {
    pub kind: FileKind,
    pub partition: BinaryRow,
    pub bucket: i32,
    pub total_buckets: i32,
    pub file: DataFileMeta,
}

/// What identifies a data file across ADD and DELETE entries (Paimon 0.9's identifier, plus the
/// extra files and external path that 1.x adds).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FileIdentifier {
    pub partition: BinaryRow,
    pub bucket: i32,
    pub level: i32,
    pub file_name: String,
    pub extra_files: Vec<String>,
    pub external_path: Option<String>,
}

impl ManifestEntry {
    pub fn identifier(&self) -> FileIdentifier {
        FileIdentifier {
            partition: self.partition.clone(),
            bucket: self.bucket,
            level: self.file.level,
            file_name: self.file.file_name.clone(),
            extra_files: self.file.extra_files.clone(),
            external_path: self.file.external_path.clone(),
        }
    }
}

/// One manifest file, as listed in a manifest list.
#[derive(Clone, Debug, PartialEq)]
pub struct ManifestFileMeta {
    pub file_name: String,
    pub file_size: i64,
    pub num_added_files: i64,
    pub num_deleted_files: i64,
    pub partition_stats: SimpleStats,
    pub schema_id: i64,
    pub min_bucket: Option<i32>,
    pub max_bucket: Option<i32>,
    pub min_level: Option<i32>,
    pub max_level: Option<i32>,
}

// ---------------------------------------------------------------------------------------------
// Avro schemas (Paimon's AvroSchemaConverter naming: nested records are named
// `<parent>_<field>`; nullable fields are `["null", T]` with default null).

const RECORD: &str = "org.apache.paimon.avro.generated.record";

fn stats_schema(name: &str) -> String {
    format!(
        r#"{{"type":"record","name":"{name}","fields":[
            {{"name":"_MIN_VALUES","type":"bytes"}},
            {{"name":"_MAX_VALUES","type":"bytes"}},
            {{"name":"_NULL_COUNTS","type":["null",{{"type":"array","items":["null","long"]}}],"default":null}}]}}"#
    )
}

fn manifest_entry_schema_json() -> String {
    let file = format!("{RECORD}__FILE");
    format!(
        r#"{{"type":"record","name":"{RECORD}","fields":[
        {{"name":"_VERSION","type":"int"}},
        {{"name":"_KIND","type":"int"}},
        {{"name":"_PARTITION","type":"bytes"}},
        {{"name":"_BUCKET","type":"int"}},
        {{"name":"_TOTAL_BUCKETS","type":"int"}},
        {{"name":"_FILE","type":{{"type":"record","name":"{file}","fields":[
            {{"name":"_FILE_NAME","type":"string"}},
            {{"name":"_FILE_SIZE","type":"long"}},
            {{"name":"_ROW_COUNT","type":"long"}},
            {{"name":"_MIN_KEY","type":"bytes"}},
            {{"name":"_MAX_KEY","type":"bytes"}},
            {{"name":"_KEY_STATS","type":{key_stats}}},
            {{"name":"_VALUE_STATS","type":{value_stats}}},
            {{"name":"_MIN_SEQUENCE_NUMBER","type":"long"}},
            {{"name":"_MAX_SEQUENCE_NUMBER","type":"long"}},
            {{"name":"_SCHEMA_ID","type":"long"}},
            {{"name":"_LEVEL","type":"int"}},
            {{"name":"_EXTRA_FILES","type":{{"type":"array","items":"string"}}}},
            {{"name":"_CREATION_TIME","type":["null",{{"type":"long","logicalType":"timestamp-millis"}}],"default":null}},
            {{"name":"_DELETE_ROW_COUNT","type":["null","long"],"default":null}},
            {{"name":"_EMBEDDED_FILE_INDEX","type":["null","bytes"],"default":null}},
            {{"name":"_FILE_SOURCE","type":["null","int"],"default":null}},
            {{"name":"_VALUE_STATS_COLS","type":["null",{{"type":"array","items":"string"}}],"default":null}},
            {{"name":"_EXTERNAL_PATH","type":["null","string"],"default":null}},
            {{"name":"_FIRST_ROW_ID","type":["null","long"],"default":null}},
            {{"name":"_WRITE_COLS","type":["null",{{"type":"array","items":"string"}}],"default":null}}
        ]}}}}]}}"#,
        key_stats = stats_schema(&format!("{file}__KEY_STATS")),
        value_stats = stats_schema(&format!("{file}__VALUE_STATS")),
    )
}

fn manifest_file_meta_schema_json() -> String {
    format!(
        r#"{{"type":"record","name":"{RECORD}","fields":[
        {{"name":"_VERSION","type":"int"}},
        {{"name":"_FILE_NAME","type":"string"}},
        {{"name":"_FILE_SIZE","type":"long"}},
        {{"name":"_NUM_ADDED_FILES","type":"long"}},
        {{"name":"_NUM_DELETED_FILES","type":"long"}},
        {{"name":"_PARTITION_STATS","type":{stats}}},
        {{"name":"_SCHEMA_ID","type":"long"}},
        {{"name":"_MIN_BUCKET","type":["null","int"],"default":null}},
        {{"name":"_MAX_BUCKET","type":["null","int"],"default":null}},
        {{"name":"_MIN_LEVEL","type":["null","int"],"default":null}},
        {{"name":"_MAX_LEVEL","type":["null","int"],"default":null}}]}}"#,
        stats = stats_schema(&format!("{RECORD}__PARTITION_STATS")),
    )
}

fn manifest_entry_schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| Schema::parse_str(&manifest_entry_schema_json()).expect("static manifest entry schema"))
}

fn manifest_file_meta_schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| Schema::parse_str(&manifest_file_meta_schema_json()).expect("static manifest list schema"))
}

// ---------------------------------------------------------------------------------------------
// Encoding

fn nullable(v: Option<AvroValue>) -> AvroValue {
    match v {
        None => AvroValue::Union(0, Box::new(AvroValue::Null)),
        Some(v) => AvroValue::Union(1, Box::new(v)),
    }
}

fn string_array(v: &[String]) -> AvroValue {
    AvroValue::Array(v.iter().map(|s| AvroValue::String(s.clone())).collect())
}

fn stats_value(s: &SimpleStats) -> AvroValue {
    AvroValue::Record(vec![
        ("_MIN_VALUES".into(), AvroValue::Bytes(s.min_values.serialize())),
        ("_MAX_VALUES".into(), AvroValue::Bytes(s.max_values.serialize())),
        (
            "_NULL_COUNTS".into(),
            nullable(
                s.null_counts
                    .as_ref()
                    .map(|c| AvroValue::Array(c.iter().map(|n| nullable(n.map(AvroValue::Long))).collect())),
            ),
        ),
    ])
}

fn data_file_value(f: &DataFileMeta) -> AvroValue {
    AvroValue::Record(vec![
        ("_FILE_NAME".into(), AvroValue::String(f.file_name.clone())),
        ("_FILE_SIZE".into(), AvroValue::Long(f.file_size)),
        ("_ROW_COUNT".into(), AvroValue::Long(f.row_count)),
        ("_MIN_KEY".into(), AvroValue::Bytes(f.min_key.serialize())),
        ("_MAX_KEY".into(), AvroValue::Bytes(f.max_key.serialize())),
        ("_KEY_STATS".into(), stats_value(&f.key_stats)),
        ("_VALUE_STATS".into(), stats_value(&f.value_stats)),
        ("_MIN_SEQUENCE_NUMBER".into(), AvroValue::Long(f.min_sequence_number)),
        ("_MAX_SEQUENCE_NUMBER".into(), AvroValue::Long(f.max_sequence_number)),
        ("_SCHEMA_ID".into(), AvroValue::Long(f.schema_id)),
        ("_LEVEL".into(), AvroValue::Int(f.level)),
        ("_EXTRA_FILES".into(), string_array(&f.extra_files)),
        ("_CREATION_TIME".into(), nullable(f.creation_time.map(AvroValue::TimestampMillis))),
        ("_DELETE_ROW_COUNT".into(), nullable(f.delete_row_count.map(AvroValue::Long))),
        ("_EMBEDDED_FILE_INDEX".into(), nullable(f.embedded_index.clone().map(AvroValue::Bytes))),
        ("_FILE_SOURCE".into(), nullable(f.file_source.map(|s| AvroValue::Int(s as i32)))),
        ("_VALUE_STATS_COLS".into(), nullable(f.value_stats_cols.as_deref().map(string_array))),
        ("_EXTERNAL_PATH".into(), nullable(f.external_path.clone().map(AvroValue::String))),
        ("_FIRST_ROW_ID".into(), nullable(None)),
        ("_WRITE_COLS".into(), nullable(None)),
    ])
}

fn codec(compression: &str) -> Codec {
    match compression {
        "zstd" => Codec::Zstandard(ZstandardSettings::new(1)),
        "snappy" => Codec::Snappy,
        "deflate" => Codec::Deflate(Default::default()),
        _ => Codec::Null,
    }
}

fn write_container(schema: &Schema, compression: &str, records: Vec<AvroValue>) -> Result<Vec<u8>, SpecError> {
    let mut w = Writer::with_codec(schema, Vec::new(), codec(compression));
    for r in records {
        w.append(r).map_err(|e| SpecError::Avro { file: "<new manifest>".into(), message: e.to_string() })?;
    }
    w.into_inner().map_err(|e| SpecError::Avro { file: "<new manifest>".into(), message: e.to_string() })
}

pub(crate) fn encode_manifest_entries(entries: &[ManifestEntry], compression: &str) -> Result<Vec<u8>, SpecError> {
    let records = entries
        .iter()
        .map(|e| {
            AvroValue::Record(vec![
                ("_VERSION".into(), AvroValue::Int(MANIFEST_RECORD_VERSION)),
                ("_KIND".into(), AvroValue::Int(e.kind as i32)),
                ("_PARTITION".into(), AvroValue::Bytes(e.partition.serialize())),
                ("_BUCKET".into(), AvroValue::Int(e.bucket)),
                ("_TOTAL_BUCKETS".into(), AvroValue::Int(e.total_buckets)),
                ("_FILE".into(), data_file_value(&e.file)),
            ])
        })
        .collect();
    write_container(manifest_entry_schema(), compression, records)
}

pub(crate) fn encode_manifest_list(metas: &[ManifestFileMeta], compression: &str) -> Result<Vec<u8>, SpecError> {
    let records = metas
        .iter()
        .map(|m| {
            AvroValue::Record(vec![
                ("_VERSION".into(), AvroValue::Int(MANIFEST_RECORD_VERSION)),
                ("_FILE_NAME".into(), AvroValue::String(m.file_name.clone())),
                ("_FILE_SIZE".into(), AvroValue::Long(m.file_size)),
                ("_NUM_ADDED_FILES".into(), AvroValue::Long(m.num_added_files)),
                ("_NUM_DELETED_FILES".into(), AvroValue::Long(m.num_deleted_files)),
                ("_PARTITION_STATS".into(), stats_value(&m.partition_stats)),
                ("_SCHEMA_ID".into(), AvroValue::Long(m.schema_id)),
                ("_MIN_BUCKET".into(), nullable(m.min_bucket.map(AvroValue::Int))),
                ("_MAX_BUCKET".into(), nullable(m.max_bucket.map(AvroValue::Int))),
                ("_MIN_LEVEL".into(), nullable(m.min_level.map(AvroValue::Int))),
                ("_MAX_LEVEL".into(), nullable(m.max_level.map(AvroValue::Int))),
            ])
        })
        .collect();
    write_container(manifest_file_meta_schema(), compression, records)
}

// ---------------------------------------------------------------------------------------------
// Decoding, by field name (works for the 0.9 and the 1.x record shapes).

struct Rec<'a> {
    fields: &'a [(String, AvroValue)],
    file: &'a str,
    what: &'static str,
}

fn unwrap_union(v: &AvroValue) -> &AvroValue {
    match v {
        AvroValue::Union(_, inner) => inner,
        other => other,
    }
}

impl<'a> Rec<'a> {
    fn new(v: &'a AvroValue, file: &'a str, what: &'static str) -> Result<Self, SpecError> {
        match unwrap_union(v) {
            AvroValue::Record(fields) => Ok(Rec { fields, file, what }),
            other => Err(SpecError::corrupt(what, file, format!("expected a record, found {other:?}"))),
        }
    }
    fn err(&self, msg: String) -> SpecError {
        SpecError::corrupt(self.what, self.file, msg)
    }
    /// The field's value, with a null union resolved to None.
    fn opt(&self, name: &str) -> Option<&'a AvroValue> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| unwrap_union(v))
            .filter(|v| !matches!(v, AvroValue::Null))
    }
    fn req(&self, name: &str) -> Result<&'a AvroValue, SpecError> {
        self.opt(name).ok_or_else(|| self.err(format!("required field {name} is missing or null")))
    }
    fn long(&self, name: &str) -> Result<i64, SpecError> {
        as_long(self.req(name)?).ok_or_else(|| self.err(format!("field {name} is not a number")))
    }
    fn opt_long(&self, name: &str) -> Result<Option<i64>, SpecError> {
        self.opt(name).map(|v| as_long(v).ok_or_else(|| self.err(format!("field {name} is not a number")))).transpose()
    }
    fn int(&self, name: &str) -> Result<i32, SpecError> {
        let v = self.long(name)?;
        i32::try_from(v).map_err(|_| self.err(format!("field {name} = {v} does not fit an int")))
    }
    fn opt_int(&self, name: &str) -> Result<Option<i32>, SpecError> {
        self.opt_long(name)?
            .map(|v| i32::try_from(v).map_err(|_| self.err(format!("field {name} = {v} does not fit an int"))))
            .transpose()
    }
    fn string(&self, name: &str) -> Result<String, SpecError> {
        match self.req(name)? {
            AvroValue::String(s) => Ok(s.clone()),
            _ => Err(self.err(format!("field {name} is not a string"))),
        }
    }
    fn opt_string(&self, name: &str) -> Result<Option<String>, SpecError> {
        match self.opt(name) {
            None => Ok(None),
            Some(AvroValue::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.err(format!("field {name} is not a string"))),
        }
    }
    fn bytes(&self, name: &str) -> Result<&'a [u8], SpecError> {
        match self.req(name)? {
            AvroValue::Bytes(b) | AvroValue::Fixed(_, b) => Ok(b),
            _ => Err(self.err(format!("field {name} is not bytes"))),
        }
    }
    fn row(&self, name: &str) -> Result<BinaryRow, SpecError> {
        BinaryRow::deserialize(self.bytes(name)?).map_err(|e| self.err(format!("field {name}: {e}")))
    }
    fn strings(&self, name: &str) -> Result<Option<Vec<String>>, SpecError> {
        match self.opt(name) {
            None => Ok(None),
            Some(AvroValue::Array(items)) => items
                .iter()
                .map(|i| match unwrap_union(i) {
                    AvroValue::String(s) => Ok(s.clone()),
                    _ => Err(self.err(format!("field {name} holds a non-string"))),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(self.err(format!("field {name} is not an array"))),
        }
    }
    fn stats(&self, name: &str) -> Result<SimpleStats, SpecError> {
        let r = Rec::new(self.req(name)?, self.file, self.what)?;
        let null_counts = match r.opt("_NULL_COUNTS") {
            None => None,
            Some(AvroValue::Array(items)) => Some(
                items
                    .iter()
                    .map(|i| match unwrap_union(i) {
                        AvroValue::Null => Ok(None),
                        v => as_long(v).map(Some).ok_or_else(|| r.err("a null count is not a number".into())),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            Some(_) => return Err(r.err("_NULL_COUNTS is not an array".into())),
        };
        Ok(SimpleStats { min_values: r.row("_MIN_VALUES")?, max_values: r.row("_MAX_VALUES")?, null_counts })
    }
}

fn as_long(v: &AvroValue) -> Option<i64> {
    match v {
        AvroValue::Int(i) | AvroValue::Date(i) | AvroValue::TimeMillis(i) => Some(*i as i64),
        AvroValue::Long(l)
        | AvroValue::TimestampMillis(l)
        | AvroValue::TimestampMicros(l)
        | AvroValue::LocalTimestampMillis(l)
        | AvroValue::LocalTimestampMicros(l)
        | AvroValue::TimeMicros(l) => Some(*l),
        _ => None,
    }
}

fn read_container<T>(
    bytes: &[u8],
    file: &str,
    what: &'static str,
    mut decode: impl FnMut(Rec<'_>) -> Result<T, SpecError>,
) -> Result<Vec<T>, SpecError> {
    // A corrupt length prefix must not make the decoder allocate gigabytes (found by fuzzing):
    // no single Avro value in Paimon's metadata comes near this bound.
    apache_avro::util::max_allocation_bytes(256 << 20);
    let records = super::avro_container::read_records(bytes).map_err(|e| SpecError::corrupt(what, file, e))?;
    let mut out = Vec::with_capacity(records.len());
    for v in &records {
        out.push(decode(Rec::new(v, file, what)?)?);
    }
    Ok(out)
}

fn decode_data_file(r: &Rec<'_>) -> Result<DataFileMeta, SpecError> {
    let f = Rec::new(r.req("_FILE")?, r.file, r.what)?;
    Ok(DataFileMeta {
        file_name: f.string("_FILE_NAME")?,
        file_size: f.long("_FILE_SIZE")?,
        row_count: f.long("_ROW_COUNT")?,
        min_key: f.row("_MIN_KEY")?,
        max_key: f.row("_MAX_KEY")?,
        key_stats: f.stats("_KEY_STATS")?,
        value_stats: f.stats("_VALUE_STATS")?,
        min_sequence_number: f.long("_MIN_SEQUENCE_NUMBER")?,
        max_sequence_number: f.long("_MAX_SEQUENCE_NUMBER")?,
        schema_id: f.long("_SCHEMA_ID")?,
        level: f.int("_LEVEL")?,
        extra_files: f.strings("_EXTRA_FILES")?.unwrap_or_default(),
        creation_time: f.opt_long("_CREATION_TIME")?,
        delete_row_count: f.opt_long("_DELETE_ROW_COUNT")?,
        embedded_index: match f.opt("_EMBEDDED_FILE_INDEX") {
            Some(AvroValue::Bytes(b)) => Some(b.clone()),
            _ => None,
        },
        file_source: match f.opt_int("_FILE_SOURCE")? {
            None => None,
            Some(0) => Some(FileSource::Append),
            Some(1) => Some(FileSource::Compact),
            Some(other) => return Err(f.err(format!("unknown _FILE_SOURCE {other}"))),
        },
        value_stats_cols: f.strings("_VALUE_STATS_COLS")?,
        external_path: f.opt_string("_EXTERNAL_PATH")?,
    })
}

pub fn decode_manifest_entries(bytes: &[u8], file: &str) -> Result<Vec<ManifestEntry>, SpecError> {
    read_container(bytes, file, "manifest", |r| {
        let kind = match r.int("_KIND")? {
            0 => FileKind::Add,
            1 => FileKind::Delete,
            k => return Err(r.err(format!("unknown _KIND {k}"))),
        };
        Ok(ManifestEntry {
            kind,
            partition: r.row("_PARTITION")?,
            bucket: r.int("_BUCKET")?,
            total_buckets: r.int("_TOTAL_BUCKETS")?,
            file: decode_data_file(&r)?,
        })
    })
}

pub fn decode_manifest_list(bytes: &[u8], file: &str) -> Result<Vec<ManifestFileMeta>, SpecError> {
    read_container(bytes, file, "manifest list", |r| {
        Ok(ManifestFileMeta {
            file_name: r.string("_FILE_NAME")?,
            file_size: r.long("_FILE_SIZE")?,
            num_added_files: r.long("_NUM_ADDED_FILES")?,
            num_deleted_files: r.long("_NUM_DELETED_FILES")?,
            partition_stats: r.stats("_PARTITION_STATS")?,
            schema_id: r.long("_SCHEMA_ID")?,
            min_bucket: r.opt_int("_MIN_BUCKET")?,
            max_bucket: r.opt_int("_MAX_BUCKET")?,
            min_level: r.opt_int("_MIN_LEVEL")?,
            max_level: r.opt_int("_MAX_LEVEL")?,
        })
    })
}

/// Where one data file's deletion vector lives in an index file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeletionVectorRange {
    pub data_file: String,
    /// Offset of the entry's size int in the index file.
    pub offset: i32,
    /// Length of the entry's body (magic and bitmap).
    pub length: i32,
}

/// An entry of an index manifest: one index file of a (partition, bucket).
#[derive(Clone, Debug, PartialEq)]
pub struct IndexManifestEntry {
    pub kind: FileKind,
    pub partition: BinaryRow,
    pub bucket: i32,
    /// `DELETION_VECTORS` or `HASH`.
    pub index_type: String,
    pub file_name: String,
    pub file_size: i64,
    pub row_count: i64,
    pub deletion_vectors: Vec<DeletionVectorRange>,
}

pub(crate) const DELETION_VECTORS_INDEX: &str = "DELETION_VECTORS";

/// `_VERSION` of IndexManifestEntry records (Paimon 0.9 and 1.x).
pub(crate) const INDEX_MANIFEST_RECORD_VERSION: i32 = 1;

fn index_manifest_schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| {
        let json = format!(
            r#"{{"type":"record","name":"{RECORD}","fields":[
            {{"name":"_VERSION","type":"int"}},
            {{"name":"_KIND","type":"int"}},
            {{"name":"_PARTITION","type":"bytes"}},
            {{"name":"_BUCKET","type":"int"}},
            {{"name":"_INDEX_TYPE","type":"string"}},
            {{"name":"_FILE_NAME","type":"string"}},
            {{"name":"_FILE_SIZE","type":"long"}},
            {{"name":"_ROW_COUNT","type":"long"}},
            {{"name":"_DELETIONS_VECTORS_RANGES","type":["null",{{"type":"array","items":["null",
                {{"type":"record","name":"{RECORD}__DELETIONS_VECTORS_RANGES","fields":[
                    {{"name":"f0","type":"string"}},{{"name":"f1","type":"int"}},{{"name":"f2","type":"int"}}]}}]}}],
             "default":null}}]}}"#
        );
        Schema::parse_str(&json).expect("static index manifest schema")
    })
}

/// Encodes index manifest entries in Paimon's record shape (the one Java 0.9 writes).
pub(crate) fn encode_index_manifest(entries: &[IndexManifestEntry], compression: &str) -> Result<Vec<u8>, SpecError> {
    let records = entries
        .iter()
        .map(|e| {
            let ranges = if e.index_type == DELETION_VECTORS_INDEX {
                Some(AvroValue::Array(
                    e.deletion_vectors
                        .iter()
                        .map(|r| {
                            nullable(Some(AvroValue::Record(vec![
                                ("f0".into(), AvroValue::String(r.data_file.clone())),
                                ("f1".into(), AvroValue::Int(r.offset)),
                                ("f2".into(), AvroValue::Int(r.length)),
                            ])))
                        })
                        .collect(),
                ))
            } else {
                None
            };
            AvroValue::Record(vec![
                ("_VERSION".into(), AvroValue::Int(INDEX_MANIFEST_RECORD_VERSION)),
                ("_KIND".into(), AvroValue::Int(e.kind as i32)),
                ("_PARTITION".into(), AvroValue::Bytes(e.partition.serialize())),
                ("_BUCKET".into(), AvroValue::Int(e.bucket)),
                ("_INDEX_TYPE".into(), AvroValue::String(e.index_type.clone())),
                ("_FILE_NAME".into(), AvroValue::String(e.file_name.clone())),
                ("_FILE_SIZE".into(), AvroValue::Long(e.file_size)),
                ("_ROW_COUNT".into(), AvroValue::Long(e.row_count)),
                ("_DELETIONS_VECTORS_RANGES".into(), nullable(ranges)),
            ])
        })
        .collect();
    write_container(index_manifest_schema(), compression, records)
}

pub fn decode_index_manifest(bytes: &[u8], file: &str) -> Result<Vec<IndexManifestEntry>, SpecError> {
    read_container(bytes, file, "index manifest", |r| {
        let kind = match r.int("_KIND")? {
            0 => FileKind::Add,
            1 => FileKind::Delete,
            k => return Err(r.err(format!("unknown _KIND {k}"))),
        };
        let mut deletion_vectors = vec![];
        match r.opt("_DELETIONS_VECTORS_RANGES") {
            None => {}
            Some(AvroValue::Array(items)) => {
                for item in items {
                    let d = Rec::new(item, r.file, r.what)?;
                    deletion_vectors.push(DeletionVectorRange {
                        data_file: d.string("f0")?,
                        offset: d.int("f1")?,
                        length: d.int("f2")?,
                    });
                }
            }
            Some(_) => return Err(r.err("_DELETIONS_VECTORS_RANGES is not an array".into())),
        }
        Ok(IndexManifestEntry {
            kind,
            partition: r.row("_PARTITION")?,
            bucket: r.int("_BUCKET")?,
            index_type: r.string("_INDEX_TYPE")?,
            file_name: r.string("_FILE_NAME")?,
            file_size: r.long("_FILE_SIZE")?,
            row_count: r.long("_ROW_COUNT")?,
            deletion_vectors,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_file(name: &str, level: i32) -> DataFileMeta {
        DataFileMeta {
            file_name: name.into(),
            file_size: 1234,
            row_count: 10,
            min_key: BinaryRow::empty(),
            max_key: BinaryRow::empty(),
            key_stats: SimpleStats::empty(),
            value_stats: SimpleStats {
                min_values: BinaryRow::empty(),
                max_values: BinaryRow::empty(),
                null_counts: Some(vec![Some(0), None]),
            },
            min_sequence_number: 0,
            max_sequence_number: 9,
            schema_id: 0,
            level,
            extra_files: vec![],
            creation_time: Some(1_700_000_000_000),
            delete_row_count: Some(2),
            embedded_index: None,
            file_source: Some(FileSource::Append),
            value_stats_cols: None,
            external_path: None,
        }
    }

    #[test]
    fn manifest_round_trips() {
        let entries = vec![ManifestEntry {
            kind: FileKind::Add,
            partition: BinaryRow::empty(),
            bucket: 3,
            total_buckets: 4,
            file: sample_file("data-1.parquet", 0),
        }];
        for codec in ["zstd", "snappy", "none"] {
            let bytes = encode_manifest_entries(&entries, codec).unwrap();
            assert_eq!(decode_manifest_entries(&bytes, "m").unwrap(), entries);
        }
        let metas = vec![ManifestFileMeta {
            file_name: "manifest-x-0".into(),
            file_size: 99,
            num_added_files: 1,
            num_deleted_files: 0,
            partition_stats: SimpleStats::empty(),
            schema_id: 0,
            min_bucket: Some(3),
            max_bucket: Some(3),
            min_level: Some(0),
            max_level: Some(0),
        }];
        let bytes = encode_manifest_list(&metas, "zstd").unwrap();
        assert_eq!(decode_manifest_list(&bytes, "l").unwrap(), metas);
    }

    #[test]
    fn index_manifest_round_trips() {
        let entries = vec![IndexManifestEntry {
            kind: FileKind::Add,
            partition: BinaryRow::empty(),
            bucket: 2,
            index_type: DELETION_VECTORS_INDEX.into(),
            file_name: "index-x-0".into(),
            file_size: 31,
            row_count: 2,
            deletion_vectors: vec![
                DeletionVectorRange { data_file: "data-a.parquet".into(), offset: 1, length: 22 },
                DeletionVectorRange { data_file: "data-b.parquet".into(), offset: 31, length: 24 },
            ],
        }];
        for codec in ["zstd", "none"] {
            let bytes = encode_index_manifest(&entries, codec).unwrap();
            assert_eq!(decode_index_manifest(&bytes, "i").unwrap(), entries);
        }
    }

    #[test]
    fn truncated_manifest_is_a_named_error() {
        let entries = vec![ManifestEntry {
            kind: FileKind::Add,
            partition: BinaryRow::empty(),
            bucket: 0,
            total_buckets: 1,
            file: sample_file("data-1.parquet", 0),
        }];
        let bytes = encode_manifest_entries(&entries, "zstd").unwrap();
        let e = decode_manifest_entries(&bytes[..bytes.len() / 2], "manifest-abc-0").unwrap_err().to_string();
        assert!(e.contains("manifest-abc-0"), "{e}");
    }
}
