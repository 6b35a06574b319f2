//! shoal: a Rust-native table store that speaks the Apache Paimon table format.
//!
//! The modules follow the data flow: [`spec`] (format types and codecs) -> [`io`] (object store)
//! -> [`write`] (bucket writer, write buffer, file writer, commit) -> [`read`] (scan planning,
//! merge read) -> [`table`] (the handle users open). Beside them: [`maintenance`] (compaction,
//! expiry, tags, rollback), [`ingest`] (loading files, and change data capture from Postgres and Debezium)
//! and [`demo`] (the workload `shoal demo` runs). The `shoal` command line is the binary's
//! (`src/main.rs`, `src/cli/`), built on these.

pub mod commit;
#[cfg(feature = "datafusion")]
pub mod datafusion;
pub mod demo;
pub mod error;
pub mod ingest;
pub mod io;
pub mod lsm;
pub mod maintenance;
pub mod memory;
pub mod merge;
pub mod read;
pub mod spec;
pub mod store;
pub mod system_tables;
pub mod table;
pub mod write;

pub use error::{Error, ErrorKind, Result};
pub use table::Table;
