//! The Paimon format: types, schema, options, BinaryRow and the bucket hash, the metadata files
//! (manifests, manifest lists, snapshots) and where files live. Pure format logic: no IO here.

pub(crate) mod avro_container;
// Public only for the integration tests (hash_single_long); BinaryRow and co. are re-exported below.
#[doc(hidden)]
pub mod binary_row;
pub(crate) mod data_file;
// Public only for the integration tests (format_decimal); Datum is re-exported below.
#[doc(hidden)]
pub mod datum;
pub mod deletion_vector;
mod error;
pub(crate) mod hash_index;
pub mod manifest;
pub mod merge_engine;
pub mod options;
pub mod paths;
mod schema;
pub(crate) mod schema_change;
pub(crate) mod snapshot;
pub mod tag;
pub(crate) mod types;

pub use binary_row::{bucket_of, murmur_hash_words, BinaryRow, BinaryRowWriter, NullStyle};
pub use datum::Datum;
pub use error::SpecError;
pub use manifest::{DataFileMeta, FileKind, FileSource, ManifestEntry, ManifestFileMeta, SimpleStats};
pub use options::CoreOptions;
pub use schema::TableSchema;
pub use schema_change::{ColumnPosition, SchemaChange};
pub use snapshot::{CommitKind, Snapshot};
pub use types::{parse_type, DataField, DataType, TypeKind};

/// The value of `_VALUE_KIND` / a row's kind: +I, -U, +U, -D.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(i8)]
pub enum RowKind {
    Insert = 0,
    UpdateBefore = 1,
    UpdateAfter = 2,
    Delete = 3,
}

impl RowKind {
    pub fn from_byte(b: i8) -> Option<RowKind> {
        match b {
            0 => Some(RowKind::Insert),
            1 => Some(RowKind::UpdateBefore),
            2 => Some(RowKind::UpdateAfter),
            3 => Some(RowKind::Delete),
            _ => None,
        }
    }
    /// `+I`, `-U`, `+U`, `-D`.
    pub fn short_string(self) -> &'static str {
        match self {
            RowKind::Insert => "+I",
            RowKind::UpdateBefore => "-U",
            RowKind::UpdateAfter => "+U",
            RowKind::Delete => "-D",
        }
    }
    pub fn from_short_string(s: &str) -> Option<RowKind> {
        match s.trim() {
            "+I" => Some(RowKind::Insert),
            "-U" => Some(RowKind::UpdateBefore),
            "+U" => Some(RowKind::UpdateAfter),
            "-D" => Some(RowKind::Delete),
            _ => None,
        }
    }
    /// -U and -D retract a key.
    pub fn is_retract(self) -> bool {
        matches!(self, RowKind::UpdateBefore | RowKind::Delete)
    }
}
