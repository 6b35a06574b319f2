//! Errors of the format layer: decoding and validating Paimon's files and types.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum SpecError {
    #[error("invalid type {input:?} at position {position}: {message}")]
    InvalidType { input: String, position: usize, message: String },

    #[error("unsupported type: {0}")]
    UnsupportedType(String),

    #[error("invalid schema: {0}")]
    Schema(String),

    #[error("invalid table option {key}={value:?}: {message}")]
    InvalidOption { key: String, value: String, message: String },

    #[error("corrupt {what} in {file}: {message}")]
    Corrupt { what: &'static str, file: String, message: String },

    #[error("invalid branch name {name:?}: {message}")]
    InvalidBranchName { name: String, message: String },

    #[error("corrupt BinaryRow: {0}")]
    BinaryRow(String),

    #[error("avro error in {file}: {message}")]
    Avro { file: String, message: String },
}

impl SpecError {
    pub fn schema(msg: impl Into<String>) -> Self {
        SpecError::Schema(msg.into())
    }
    pub fn corrupt(what: &'static str, file: impl Into<String>, message: impl Into<String>) -> Self {
        SpecError::Corrupt { what, file: file.into(), message: message.into() }
    }
}
