//! `schema/schema-N`: a table's columns (with stable field ids), keys and options.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::options::CoreOptions;
use super::types::{DataField, DataType, TypeKind};
use super::SpecError;

/// The schema file version shoal writes (Paimon 0.9 and 1.x write 3).
pub(super) const SCHEMA_VERSION: i64 = 3;

#[derive(Clone, Debug, PartialEq)]
pub struct TableSchema {
    pub version: i64,
    pub id: i64,
    pub fields: Vec<DataField>,
    pub highest_field_id: i32,
    pub partition_keys: Vec<String>,
    pub primary_keys: Vec<String>,
    pub options: BTreeMap<String, String>,
    pub comment: Option<String>,
    pub time_millis: i64,
}

impl TableSchema {
    /// A new schema (id 0) from columns without ids: ids are assigned in order, primary-key
    /// columns become NOT NULL, and everything is validated as Paimon validates it at creation.
    pub fn create(
        columns: Vec<(String, DataType)>,
        partition_keys: Vec<String>,
        primary_keys: Vec<String>,
        options: BTreeMap<String, String>,
        comment: Option<String>,
    ) -> Result<TableSchema, SpecError> {
        let mut next_id = 0;
        let mut fields = Vec::with_capacity(columns.len());
        for (name, mut t) in columns {
            if primary_keys.contains(&name) {
                t.nullable = false;
            }
            let id = next_id;
            next_id += 1;
            assign_nested_ids(&mut t, &mut next_id);
            fields.push(DataField::new(id, name, t));
        }
        let schema = TableSchema {
            version: SCHEMA_VERSION,
            id: 0,
            fields,
            highest_field_id: next_id - 1,
            partition_keys,
            primary_keys,
            options,
            comment,
            time_millis: chrono::Utc::now().timestamp_millis(),
        };
        schema.validate()?;
        schema.core_options().validate_for_create()?;
        schema.validate_bucket_mode()?;
        schema.validate_streaming_options()?;
        if !schema.primary_keys.is_empty() {
            super::merge_engine::MergeEngineConfig::from_schema(&schema)?;
        }
        Ok(schema)
    }

    /// Structural checks that hold for any readable schema.
    pub fn validate(&self) -> Result<(), SpecError> {
        if self.fields.is_empty() {
            return Err(SpecError::schema("a table needs at least one column"));
        }
        let mut seen = std::collections::HashSet::new();
        for f in &self.fields {
            if !seen.insert(f.name.as_str()) {
                return Err(SpecError::schema(format!("column {:?} is defined twice", f.name)));
            }
            if f.name.starts_with("_KEY_") || f.name == "_SEQUENCE_NUMBER" || f.name == "_VALUE_KIND" {
                return Err(SpecError::schema(format!("column name {:?} is reserved by the data file format", f.name)));
            }
        }
        for k in self.partition_keys.iter().chain(&self.primary_keys) {
            if self.field(k).is_none() {
                return Err(SpecError::schema(format!("key column {k:?} is not a column of the table")));
            }
        }
        for k in &self.primary_keys {
            let t = &self.field(k).expect("checked above").data_type;
            if t.nullable {
                return Err(SpecError::schema(format!("primary key column {k:?} must be NOT NULL")));
            }
            if matches!(t.kind, TypeKind::Array(_) | TypeKind::Map(..) | TypeKind::Multiset(_) | TypeKind::Row(_)) {
                return Err(SpecError::schema(format!("primary key column {k:?} cannot have nested type {t}")));
            }
        }
        for k in &self.partition_keys {
            let t = &self.field(k).expect("checked above").data_type;
            if !t.has_min_max_stats() {
                return Err(SpecError::schema(format!("partition column {k:?} cannot have type {t}")));
            }
        }
        if !self.primary_keys.is_empty() && self.primary_keys.iter().all(|k| self.partition_keys.contains(k)) {
            return Err(SpecError::schema(
                "the primary key must contain columns besides the partition columns".to_string(),
            ));
        }
        Ok(())
    }

    /// Streaming options that depend on the keys: `streaming-read-overwrite` needs a primary key
    /// (Paimon turns the overwritten rows into deletes, which only keyed tables can apply).
    pub fn validate_streaming_options(&self) -> Result<(), SpecError> {
        let opts = self.core_options();
        if opts.streaming_read_overwrite()? && self.primary_keys.is_empty() {
            return Err(SpecError::InvalidOption {
                key: super::options::STREAMING_READ_OVERWRITE.into(),
                value: "true".into(),
                message:
                    "streaming reads of overwrite changes need a primary key (Paimon refuses it on tables without one)"
                        .into(),
            });
        }
        Ok(())
    }

    /// The bucket modes shoal writes: fixed (`bucket = N`), dynamic (`bucket = -1`, Paimon's
    /// default; cross-partition upsert when the key leaves out a partition column) and postpone
    /// (`bucket = -2`, Paimon 1.x) for primary-key tables; unaware and fixed for append tables.
    pub fn validate_bucket_mode(&self) -> Result<(), SpecError> {
        let bucket = self.core_options().bucket()?;
        if !self.primary_keys.is_empty() {
            if bucket == -1 && self.core_options().bucket_key().is_some() {
                return Err(SpecError::InvalidOption {
                    key: "bucket-key".into(),
                    value: self.options.get("bucket-key").cloned().unwrap_or_default(),
                    message: "a dynamic-bucket table (bucket = -1) places keys by its hash index, not by a bucket \
                              key (Paimon refuses the combination too)"
                        .into(),
                });
            }
            if bucket == -1 && self.cross_partition_update() && !self.core_options().sequence_fields().is_empty() {
                // Paimon 0.9's SchemaValidation: the index moves a key to its newest partition in
                // input order, which a sequence field could contradict.
                return Err(SpecError::InvalidOption {
                    key: super::options::SEQUENCE_FIELD.into(),
                    value: self.options.get(super::options::SEQUENCE_FIELD).cloned().unwrap_or_default(),
                    message: format!(
                        "a cross-partition upsert table (primary key {:?} without every partition column of {:?}) \
                         cannot have a sequence field (Paimon refuses it too)",
                        self.primary_keys, self.partition_keys
                    ),
                });
            }
            for p in &self.partition_keys {
                if bucket != -1 && !self.primary_keys.contains(p) {
                    let why = if bucket == -2 {
                        "with postpone buckets the primary key must include every partition column"
                    } else {
                        "with fixed buckets the primary key must include every partition column (a key that \
                         moves between partitions needs bucket = -1: cross-partition upsert, as in Paimon)"
                    };
                    return Err(SpecError::schema(format!("{why}; {p:?} is missing from the primary key")));
                }
            }
        } else if bucket == -2 {
            return Err(SpecError::InvalidOption {
                key: "bucket".into(),
                value: bucket.to_string(),
                message: "postpone buckets (bucket = -2) are for primary-key tables (Paimon refuses them on append \
                          tables too)"
                    .into(),
            });
        } else if bucket > 0 && self.core_options().bucket_key().is_none() {
            return Err(SpecError::InvalidOption {
                key: "bucket".into(),
                value: bucket.to_string(),
                message: "an append table with fixed buckets needs the bucket-key option".into(),
            });
        }
        if let Some(bk) = self.core_options().bucket_key() {
            for k in &bk {
                if self.field(k).is_none() {
                    return Err(SpecError::schema(format!("bucket-key column {k:?} is not a column of the table")));
                }
                if !self.primary_keys.is_empty() && !self.trimmed_primary_keys().contains(k) {
                    return Err(SpecError::schema(format!(
                        "bucket-key column {k:?} must be part of the primary key (without partition columns)"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Paimon's `crossPartitionUpdate`: a primary key that leaves out a partition column. With
    /// `bucket = -1` such a table is a cross-partition upsert table (Paimon's `CROSS_PARTITION`
    /// bucket mode): a key lives in one partition at a time, found through a global index.
    pub fn cross_partition_update(&self) -> bool {
        !self.primary_keys.is_empty()
            && !self.partition_keys.is_empty()
            && !self.partition_keys.iter().all(|p| self.primary_keys.contains(p))
    }

    pub fn core_options(&self) -> CoreOptions {
        CoreOptions::new(self.options.clone())
    }

    pub fn field(&self, name: &str) -> Option<&DataField> {
        self.fields.iter().find(|f| f.name == name)
    }

    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }

    fn indices(&self, names: &[String]) -> Vec<usize> {
        names.iter().map(|n| self.field_index(n).expect("key columns are validated")).collect()
    }

    /// Primary keys without the partition columns: the key stored in data files.
    pub fn trimmed_primary_keys(&self) -> Vec<String> {
        let trimmed: Vec<String> =
            self.primary_keys.iter().filter(|k| !self.partition_keys.contains(k)).cloned().collect();
        if trimmed.is_empty() {
            self.primary_keys.clone()
        } else {
            trimmed
        }
    }

    pub fn trimmed_primary_key_indices(&self) -> Vec<usize> {
        self.indices(&self.trimmed_primary_keys())
    }

    pub fn partition_indices(&self) -> Vec<usize> {
        self.indices(&self.partition_keys)
    }

    /// The columns hashed for the bucket: `bucket-key`, else the trimmed primary key.
    pub fn bucket_keys(&self) -> Vec<String> {
        self.core_options().bucket_key().unwrap_or_else(|| self.trimmed_primary_keys())
    }

    pub fn bucket_key_indices(&self) -> Vec<usize> {
        self.indices(&self.bucket_keys())
    }

    pub fn partition_types(&self) -> Vec<DataType> {
        self.partition_indices().iter().map(|&i| self.fields[i].data_type.clone()).collect()
    }

    pub fn trimmed_key_fields(&self) -> Vec<DataField> {
        self.trimmed_primary_key_indices().iter().map(|&i| self.fields[i].clone()).collect()
    }

    pub fn to_json(&self) -> Value {
        let mut m = serde_json::Map::new();
        m.insert("version".into(), json!(self.version));
        m.insert("id".into(), json!(self.id));
        m.insert("fields".into(), Value::Array(self.fields.iter().map(DataField::to_json).collect()));
        m.insert("highestFieldId".into(), json!(self.highest_field_id));
        m.insert("partitionKeys".into(), json!(self.partition_keys));
        m.insert("primaryKeys".into(), json!(self.primary_keys));
        m.insert("options".into(), json!(self.options));
        if let Some(c) = &self.comment {
            m.insert("comment".into(), json!(c));
        }
        m.insert("timeMillis".into(), json!(self.time_millis));
        Value::Object(m)
    }

    pub fn to_json_string(&self) -> String {
        serde_json::to_string_pretty(&self.to_json()).expect("a JSON value always serializes")
    }

    pub fn from_json_str(s: &str, file: &str) -> Result<TableSchema, SpecError> {
        let v: Value = serde_json::from_str(s).map_err(|e| SpecError::corrupt("schema", file, e.to_string()))?;
        Self::from_json(&v).map_err(|e| SpecError::corrupt("schema", file, e.to_string()))
    }

    pub fn from_json(v: &Value) -> Result<TableSchema, SpecError> {
        let int = |k: &str| {
            v.get(k).and_then(Value::as_i64).ok_or_else(|| SpecError::schema(format!("missing integer {k:?}")))
        };
        let strings = |k: &str| -> Result<Vec<String>, SpecError> {
            match v.get(k) {
                None | Some(Value::Null) => Ok(vec![]),
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|x| {
                        x.as_str()
                            .map(str::to_string)
                            .ok_or_else(|| SpecError::schema(format!("{k} holds a non-string")))
                    })
                    .collect(),
                Some(_) => Err(SpecError::schema(format!("{k} is not a list"))),
            }
        };
        let fields = v
            .get("fields")
            .and_then(Value::as_array)
            .ok_or_else(|| SpecError::schema("missing \"fields\""))?
            .iter()
            .map(DataField::from_json)
            .collect::<Result<Vec<_>, _>>()?;
        let mut options = BTreeMap::new();
        if let Some(Value::Object(o)) = v.get("options") {
            for (k, val) in o {
                let s = match val {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                options.insert(k.clone(), s);
            }
        }
        let version = v.get("version").and_then(Value::as_i64).unwrap_or(1);
        // Old schema versions carry different defaults (Paimon's SchemaSerializer): make them explicit.
        if version <= 1 {
            options.entry("bucket".into()).or_insert_with(|| "1".into());
        }
        if version <= 2 {
            options.entry("file.format".into()).or_insert_with(|| "orc".into());
        }
        let schema = TableSchema {
            version,
            id: int("id")?,
            highest_field_id: int("highestFieldId")? as i32,
            fields,
            partition_keys: strings("partitionKeys")?,
            primary_keys: strings("primaryKeys")?,
            options,
            comment: v.get("comment").and_then(Value::as_str).map(str::to_string),
            time_millis: v.get("timeMillis").and_then(Value::as_i64).unwrap_or(0),
        };
        schema.validate()?;
        Ok(schema)
    }
}

pub(crate) fn assign_nested_ids(t: &mut DataType, next_id: &mut i32) {
    match &mut t.kind {
        TypeKind::Row(fields) => {
            for f in fields {
                f.id = *next_id;
                *next_id += 1;
                assign_nested_ids(&mut f.data_type, next_id);
            }
        }
        TypeKind::Array(e) | TypeKind::Multiset(e) => assign_nested_ids(e, next_id),
        TypeKind::Map(k, v) => {
            assign_nested_ids(k, next_id);
            assign_nested_ids(v, next_id);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::types::parse_type;

    fn cols(spec: &[(&str, &str)]) -> Vec<(String, DataType)> {
        spec.iter().map(|(n, t)| (n.to_string(), parse_type(t).unwrap())).collect()
    }

    #[test]
    fn create_assigns_ids_and_json_round_trips() {
        let s = TableSchema::create(
            cols(&[("id", "BIGINT"), ("name", "STRING"), ("r", "ROW<a INT, b INT>"), ("dt", "STRING")]),
            vec!["dt".into()],
            vec!["id".into(), "dt".into()],
            BTreeMap::from([("bucket".into(), "4".into())]),
            None,
        )
        .unwrap();
        assert_eq!(s.fields[0].data_type.to_string(), "BIGINT NOT NULL");
        assert_eq!(s.fields[3].id, 5);
        assert_eq!(s.highest_field_id, 5);
        assert_eq!(s.trimmed_primary_keys(), vec!["id"]);
        let back = TableSchema::from_json_str(&s.to_json_string(), "schema-0").unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn pk_tables_take_dynamic_postpone_and_cross_partition_buckets() {
        let s = TableSchema::create(cols(&[("id", "BIGINT")]), vec![], vec!["id".into()], BTreeMap::new(), None);
        assert_eq!(s.unwrap().core_options().bucket().unwrap(), -1, "Paimon's default: dynamic buckets");
        let postpone = BTreeMap::from([("bucket".into(), "-2".into())]);
        let s = TableSchema::create(cols(&[("id", "BIGINT")]), vec![], vec!["id".into()], postpone.clone(), None);
        assert_eq!(s.unwrap().core_options().bucket().unwrap(), -2);
        let e = TableSchema::create(cols(&[("id", "BIGINT")]), vec![], vec![], postpone, None);
        assert!(e.unwrap_err().to_string().contains("postpone buckets (bucket = -2) are for primary-key tables"));
        let e = TableSchema::create(
            cols(&[("id", "BIGINT"), ("p", "INT")]),
            vec!["p".into()],
            vec!["id".into()],
            BTreeMap::new(),
            None,
        );
        assert!(e.unwrap().cross_partition_update(), "a cross-partition upsert table");
        let seq = BTreeMap::from([("sequence.field".into(), "v".into())]);
        let e = TableSchema::create(
            cols(&[("id", "BIGINT"), ("p", "INT"), ("v", "INT")]),
            vec!["p".into()],
            vec!["id".into()],
            seq,
            None,
        );
        assert!(e.unwrap_err().to_string().contains("cannot have a sequence field"));
        let postpone = BTreeMap::from([("bucket".into(), "-2".into())]);
        let e = TableSchema::create(
            cols(&[("id", "BIGINT"), ("p", "INT")]),
            vec!["p".into()],
            vec!["id".into()],
            postpone,
            None,
        );
        assert!(e.unwrap_err().to_string().contains("postpone buckets the primary key must include"));
    }

    #[test]
    fn bad_keys_are_refused() {
        let opts = BTreeMap::from([("bucket".into(), "2".into())]);
        assert!(
            TableSchema::create(cols(&[("id", "BIGINT")]), vec![], vec!["nope".into()], opts.clone(), None).is_err()
        );
        assert!(TableSchema::create(
            cols(&[("id", "BIGINT"), ("p", "INT")]),
            vec!["p".into()],
            vec!["id".into()],
            opts,
            None
        )
        .is_err());
    }
}
