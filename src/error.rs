//! The error of shoal's table operations. Each layer has its own enum ([`SpecError`] for the
//! format, [`IoError`] for storage); this one adds the table-level failures and wraps them.

use thiserror::Error;

use crate::io::IoError;
use crate::spec::SpecError;

#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    Spec(#[from] SpecError),

    #[error(transparent)]
    Io(#[from] IoError),

    #[error("no table at {0} (no schema file under schema/)")]
    TableNotFound(String),

    #[error("a table already exists at {0}")]
    TableExists(String),

    #[error("invalid input: {0}")]
    InvalidInput(String),

    #[error("commit conflict: {0}")]
    CommitConflict(String),

    #[error("snapshot {0} does not exist")]
    SnapshotNotFound(i64),

    #[error(
        "snapshot {snapshot}, the next one this streaming reader needs, has expired (the earliest retained is {earliest}): \
         the reader fell behind snapshot expiry; give the reader a consumer-id (expiry keeps what a consumer still \
         needs) or retain snapshots longer (snapshot.num-retained.min, snapshot.time-retained), or keep changelogs \
         beyond the snapshots (changelog.num-retained.max, changelog.time-retained), then restart it"
    )]
    SnapshotExpired { snapshot: i64, earliest: i64 },

    #[error("snapshot {snapshot} was committed, but the maintenance after the commit (consumer and snapshot expiry, automatic tags, tag expiry) failed: {source}")]
    AfterCommit { snapshot: i64, source: Box<Error> },

    #[error("tag {0:?} does not exist")]
    TagNotFound(String),

    #[error("branch {branch:?} does not exist in {table}")]
    BranchNotFound { table: String, branch: String },

    #[error("branch {branch:?} already exists in {table}")]
    BranchExists { table: String, branch: String },

    #[error("data file {file}: {message}")]
    DataFile { file: String, message: String },

    #[error("unsupported: {0}")]
    Unsupported(String),

    #[error("arrow error while {context}: {source}")]
    Arrow { context: String, source: arrow_schema::ArrowError },

    #[error(transparent)]
    LocalDisk(#[from] crate::io::temp::TempError),

    #[error("task failed: {0}")]
    Task(String),

    /// A change source (a database, a message broker) failed; `retriable` when a reconnect may
    /// help (a dropped connection, a restarting server, a slot still held by a dying process).
    #[error("{context}: {source}")]
    Source { context: String, retriable: bool, source: Box<dyn std::error::Error + Send + Sync> },
}

impl Error {
    /// Whether retrying the operation (reconnecting) may succeed.
    pub fn is_retriable(&self) -> bool {
        matches!(self, Error::Source { retriable: true, .. })
    }
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn arrow(context: impl Into<String>) -> impl FnOnce(arrow_schema::ArrowError) -> Error {
        let context = context.into();
        move |source| Error::Arrow { context, source }
    }
    pub fn data_file(file: impl Into<String>, message: impl std::fmt::Display) -> Error {
        Error::DataFile { file: file.into(), message: message.to_string() }
    }

    /// What went wrong, to follow a context: the display without the "invalid input: " of an
    /// [`Error::InvalidInput`], so that `format!("{file}: {}", e.detail())` wrapped in another
    /// `InvalidInput` says "invalid input" once.
    pub fn detail(&self) -> String {
        match self {
            Error::InvalidInput(m) => m.clone(),
            e => e.to_string(),
        }
    }
}
