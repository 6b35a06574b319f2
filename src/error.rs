//! The error of shoal's table operations. Each layer has its own enum ([`SpecError`] for the
//! format, [`IoError`] for storage); this one adds the table-level failures and wraps them.

use thiserror::Error;

use crate::io::IoError;
use crate::spec::SpecError;

#[derive(Debug, Error)]
#[non_exhaustive]
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

    /// Rows of a kind the table does not take: -U/-D rows for an append table, or for a merge
    /// engine that refuses retractions (first-row and partial-update without `ignore-delete`,
    /// an aggregate function that cannot retract).
    #[error("invalid input: {0}")]
    RowKindRefused(String),

    /// Rows that do not fit the table's schema: other columns, a type that does not convert, a
    /// null in a NOT NULL or primary-key column.
    #[error("invalid input: {0}")]
    SchemaMismatch(String),

    /// A table or read option (or the argument standing for it) with a value shoal cannot use.
    #[error("invalid input: {0}")]
    InvalidOptionValue(String),

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

    /// A local file, standard stream or socket failed outside the table's storage: the `--output`
    /// file, stdout, the SQL prompt, an input or dead-letter file, the UI's listening socket. As
    /// for a storage error ([`Error::Io`]), the kind follows the cause: a missing file is
    /// [`ErrorKind::NotFound`], one that exists already [`ErrorKind::AlreadyExists`], a refused
    /// permission, an address not available here or data that is not text (not UTF-8)
    /// [`ErrorKind::Input`], an unsupported operation [`ErrorKind::Unsupported`]; the rest (a
    /// full disk, an interrupted read, an address in use) is [`ErrorKind::Transient`], as for
    /// [`Error::LocalDisk`]. Not [`ErrorKind::Internal`]: a local I/O failure is not shoal's bug.
    #[error("{context}: {source}")]
    LocalIo { context: String, source: std::io::Error },

    /// An unexpected state inside shoal (a poisoned lock, a missing writer): a bug.
    #[error("task failed: {0}")]
    Task(String),

    /// A background task (a blocking flush, compaction or read) panicked or was cancelled.
    #[error("task failed while {context}: {source}")]
    Join { context: String, source: tokio::task::JoinError },

    /// An unexpected failure inside shoal, with its cause (its own state not serializable, a
    /// closed job queue, the service's local status file).
    #[error("task failed: {context}: {source}")]
    Internal { context: String, source: Box<dyn std::error::Error + Send + Sync> },

    /// A change source (a database, a message broker) failed; `retriable` when a reconnect may
    /// help (a dropped connection, a restarting server, a slot still held by a dying process).
    #[error("{context}: {source}")]
    Source { context: String, retriable: bool, source: Box<dyn std::error::Error + Send + Sync> },
}

impl Error {
    /// Whether reconnecting to a change source may succeed (what `shoal ingest` retries with
    /// backoff). [`Error::kind`] classifies every error.
    pub fn is_retriable(&self) -> bool {
        matches!(self, Error::Source { retriable: true, .. })
    }

    /// What kind of failure this is, to decide what to do about it (see [`ErrorKind`]).
    pub fn kind(&self) -> ErrorKind {
        use arrow_schema::ArrowError as A;
        match self {
            Error::Spec(e) => spec_kind(e),
            Error::Io(e) => io_kind(e),
            Error::TableNotFound(_)
            | Error::SnapshotNotFound(_)
            | Error::SnapshotExpired { .. }
            | Error::TagNotFound(_)
            | Error::BranchNotFound { .. } => ErrorKind::NotFound,
            Error::TableExists(_) | Error::BranchExists { .. } => ErrorKind::AlreadyExists,
            Error::InvalidInput(_)
            | Error::RowKindRefused(_)
            | Error::SchemaMismatch(_)
            | Error::InvalidOptionValue(_) => ErrorKind::Input,
            Error::CommitConflict(_) => ErrorKind::Conflict,
            Error::AfterCommit { source, .. } => source.kind(),
            Error::DataFile { .. } => ErrorKind::Corruption,
            Error::Unsupported(_) => ErrorKind::Unsupported,
            Error::Arrow { source, .. } => match source {
                A::CastError(_) | A::InvalidArgumentError(_) | A::SchemaError(_) | A::ParseError(_) => ErrorKind::Input,
                A::IoError(..) | A::ExternalError(_) => ErrorKind::Transient,
                A::NotYetImplemented(_) => ErrorKind::Unsupported,
                _ => ErrorKind::Internal,
            },
            Error::LocalDisk(_) => ErrorKind::Transient,
            Error::LocalIo { source, .. } => local_io_kind(source),
            Error::Task(_) | Error::Join { .. } | Error::Internal { .. } => ErrorKind::Internal,
            Error::Source { retriable: true, .. } => ErrorKind::Transient,
            Error::Source { retriable: false, .. } => ErrorKind::Input,
        }
    }
}

/// The kind of a format-layer error (here, so that `spec` knows nothing of the layers above).
fn spec_kind(e: &SpecError) -> ErrorKind {
    match e {
        SpecError::InvalidType { .. } | SpecError::Schema(_) | SpecError::InvalidOption { .. } => ErrorKind::Input,
        SpecError::InvalidBranchName { .. } => ErrorKind::Input,
        SpecError::UnsupportedType(_) => ErrorKind::Unsupported,
        SpecError::Corrupt { .. } | SpecError::BinaryRow(_) | SpecError::Avro { .. } => ErrorKind::Corruption,
    }
}

/// The kind of a local I/O error (by its cause, as [`io_kind`] classifies the store's errors).
fn local_io_kind(e: &std::io::Error) -> ErrorKind {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::NotFound => ErrorKind::NotFound,
        K::AlreadyExists => ErrorKind::AlreadyExists,
        K::PermissionDenied | K::AddrNotAvailable | K::InvalidInput | K::InvalidData => ErrorKind::Input,
        K::Unsupported => ErrorKind::Unsupported,
        _ => ErrorKind::Transient,
    }
}

/// The kind of a storage error.
fn io_kind(e: &IoError) -> ErrorKind {
    use object_store::Error as S;
    match e {
        IoError::NotFound { .. } => ErrorKind::NotFound,
        IoError::AlreadyExists { .. } => ErrorKind::AlreadyExists,
        IoError::InvalidLocation { .. } => ErrorKind::Input,
        IoError::UnsafeStore { .. } => ErrorKind::Unsupported,
        IoError::RemoveDir { .. } => ErrorKind::Transient,
        IoError::Store { source, .. } => match source {
            S::NotFound { .. } => ErrorKind::NotFound,
            S::AlreadyExists { .. } | S::Precondition { .. } | S::NotModified { .. } => ErrorKind::Conflict,
            S::NotSupported { .. } | S::NotImplemented { .. } => ErrorKind::Unsupported,
            S::PermissionDenied { .. } | S::Unauthenticated { .. } | S::UnknownConfigurationKey { .. } => {
                ErrorKind::Input
            }
            S::InvalidPath { .. } => ErrorKind::Input,
            _ => ErrorKind::Transient,
        },
    }
}

/// The kinds of failure, by what the caller can do about them (slatedb's `ErrorKind` idea).
/// Every [`Error`](enum@Error) has one ([`Error::kind`]); the `shoal` command exits with
/// [`ErrorKind::exit_code`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input is wrong (data, options, arguments, a source's configuration): fix it and run
    /// again; running again unchanged fails the same way.
    Input,
    /// What was asked for does not exist: a table, snapshot, tag, branch or file.
    NotFound,
    /// What was to be created exists already.
    AlreadyExists,
    /// Another writer or job got there first: run again, on a fresh view of the table. Nothing
    /// committed is lost.
    Conflict,
    /// Storage, a local disk or a source failed in a way that may pass (network, throttling, a
    /// restarting server, a full disk): retry later.
    Transient,
    /// Stored data is damaged or does not match its metadata: retrying will not help; restore
    /// the file or roll the table back.
    Corruption,
    /// Something shoal (or Paimon) does not do.
    Unsupported,
    /// A failure inside shoal (a task that panicked, an unexpected state): please report it.
    Internal,
}

impl ErrorKind {
    /// Whether running the same operation again may succeed.
    pub fn is_retriable(self) -> bool {
        matches!(self, ErrorKind::Conflict | ErrorKind::Transient)
    }

    /// The exit status of the `shoal` command for an error of this kind: 2 input (as for bad
    /// arguments), 3 not found, 4 already exists, 5 conflict, 6 transient, 7 corruption,
    /// 8 unsupported, 1 internal.
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::Input => 2,
            ErrorKind::NotFound => 3,
            ErrorKind::AlreadyExists => 4,
            ErrorKind::Conflict => 5,
            ErrorKind::Transient => 6,
            ErrorKind::Corruption => 7,
            ErrorKind::Unsupported => 8,
            ErrorKind::Internal => 1,
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ErrorKind::Input => "input",
            ErrorKind::NotFound => "not found",
            ErrorKind::AlreadyExists => "already exists",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Transient => "transient",
            ErrorKind::Corruption => "corruption",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Internal => "internal",
        })
    }
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn arrow(context: impl Into<String>) -> impl FnOnce(arrow_schema::ArrowError) -> Error {
        let context = context.into();
        move |source| Error::Arrow { context, source }
    }
    /// For `handle.await.map_err(Error::join("flushing a bucket"))`: a task that did not finish.
    pub fn join(context: impl Into<String>) -> impl FnOnce(tokio::task::JoinError) -> Error {
        let context = context.into();
        move |source| Error::Join { context, source }
    }
    /// For `.map_err(Error::internal("status file"))`: an unexpected failure, cause kept.
    pub fn internal<E: std::error::Error + Send + Sync + 'static>(
        context: impl Into<String>,
    ) -> impl FnOnce(E) -> Error {
        let context = context.into();
        move |source| Error::Internal { context, source: Box::new(source) }
    }
    /// For `.map_err(Error::local_io("writing to stdout"))`: a local file or stream failed, its
    /// [`std::io::Error`] kept (see [`Error::LocalIo`]).
    pub fn local_io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::LocalIo { context, source }
    }
    pub fn data_file(file: impl Into<String>, message: impl std::fmt::Display) -> Error {
        Error::DataFile { file: file.into(), message: message.to_string() }
    }

    /// What went wrong, to follow a context: the display without the "invalid input: " of an
    /// [`Error::InvalidInput`] (or of its specific kinds), so that `format!("{file}: {}",
    /// e.detail())` wrapped in another `InvalidInput` says "invalid input" once.
    pub fn detail(&self) -> String {
        match self {
            Error::InvalidInput(m)
            | Error::RowKindRefused(m)
            | Error::SchemaMismatch(m)
            | Error::InvalidOptionValue(m) => m.clone(),
            e => e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests;
