//! The schema of data files. A primary-key table's Parquet file holds, in this order:
//! `_KEY_<k>` for each trimmed primary-key column, `_SEQUENCE_NUMBER` BIGINT NOT NULL,
//! `_VALUE_KIND` TINYINT NOT NULL, then every table column. An append table's file holds just
//! the table columns. Field ids follow Paimon 1.x (0.9 readers match by name).

use std::collections::HashMap;
use std::sync::Arc;

use arrow_schema::{DataType as ArrowType, Field, Schema, SchemaRef};

use super::schema::TableSchema;
use super::types::PARQUET_FIELD_ID_META;

pub(crate) const KEY_FIELD_PREFIX: &str = "_KEY_";
pub(crate) const SEQUENCE_NUMBER: &str = "_SEQUENCE_NUMBER";
pub(crate) const VALUE_KIND: &str = "_VALUE_KIND";
/// Paimon's `SpecialFields`: key columns get `KEY_FIELD_ID_START + field id`.
pub(crate) const KEY_FIELD_ID_START: i32 = i32::MAX / 2;
pub(crate) const SEQUENCE_NUMBER_FIELD_ID: i32 = i32::MAX - 1;
pub(crate) const VALUE_KIND_FIELD_ID: i32 = i32::MAX - 2;

fn with_id(f: Field, id: i32) -> Field {
    f.with_metadata(HashMap::from([(PARQUET_FIELD_ID_META.to_string(), id.to_string())]))
}

/// The Arrow schema of the table's rows (what users write and read).
pub(crate) fn table_arrow_schema(schema: &TableSchema) -> SchemaRef {
    Arc::new(Schema::new(schema.fields.iter().map(|f| f.to_arrow()).collect::<Vec<_>>()))
}

/// The Arrow schema of a primary-key table's data files.
pub(crate) fn key_value_arrow_schema(schema: &TableSchema) -> SchemaRef {
    let mut fields = Vec::with_capacity(schema.fields.len() + 4);
    for k in schema.trimmed_key_fields() {
        let mut f = k.to_arrow_with_id(KEY_FIELD_ID_START + k.id);
        f = Field::new(format!("{KEY_FIELD_PREFIX}{}", k.name), f.data_type().clone(), false)
            .with_metadata(f.metadata().clone());
        fields.push(f);
    }
    fields.push(with_id(Field::new(SEQUENCE_NUMBER, ArrowType::Int64, false), SEQUENCE_NUMBER_FIELD_ID));
    fields.push(with_id(Field::new(VALUE_KIND, ArrowType::Int8, false), VALUE_KIND_FIELD_ID));
    fields.extend(schema.fields.iter().map(|f| f.to_arrow()));
    Arc::new(Schema::new(fields))
}

/// The schema of a table's data files: key-value for primary-key tables, plain for append tables.
pub(crate) fn data_file_arrow_schema(schema: &TableSchema) -> SchemaRef {
    if schema.primary_keys.is_empty() {
        table_arrow_schema(schema)
    } else {
        key_value_arrow_schema(schema)
    }
}
