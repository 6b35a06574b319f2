//! shoal: a Rust-native table store that speaks the Apache Paimon table format.
//!
//! The modules are layers; each imports only the ones before it (`tests/layers.rs` checks this,
//! and lists the few exceptions left with what removes them):
//!
//! [`spec`] (format types and codecs) -> [`io`] (object stores) -> [`error`] -> [`memory`] (the
//! pool buffers and caches share) -> [`merge`] (merge engines, key comparison) -> [`store`] (a
//! table's snapshots, schemas, manifests) -> [`data_file`] (the Parquet data-file writer, file
//! statistics and names, recently written files kept decoded) -> [`read`] (scan planning, the merge
//! read) -> [`lsm`] (levels, compaction picking, the compaction rewrite) -> [`write`](mod@write) (table
//! writer: buffers, spills, the writer's compactions; out come commit messages) -> [`commit`]
//! (commit messages into snapshots: the commit protocol) -> [`table`] (the handle users open; the
//! streaming sink and INSERT OVERWRITE, which write and commit) -> [`maintenance`] (compaction
//! jobs, expiry, tags, branches, rollback) -> [`system_tables`] -> [`ingest`] (loading files,
//! change data capture from Postgres and Debezium) -> `datafusion` (SQL, feature `datafusion`) ->
//! [`demo`] (the workload `shoal demo` runs). The `shoal` command line is the binary's
//! (`src/main.rs`, `src/cli/`), built on these.

#![warn(unreachable_pub)]
// The module docs describe the crate-private layers for the next maintainer, and link them:
// `cargo doc --document-private-items` renders those links.
#![allow(rustdoc::private_intra_doc_links)]

pub mod commit;
pub(crate) mod data_file;
#[cfg(feature = "datafusion")]
pub mod datafusion;
pub mod demo;
pub mod error;
pub mod ingest;
pub mod io;
pub mod lsm;
pub mod maintenance;
pub mod memory;
// Public only for the integration tests (tests/merge_engines.rs: rbm64 and the sketches).
#[doc(hidden)]
pub mod merge;
pub mod read;
pub mod spec;
pub mod store;
pub mod system_tables;
pub mod table;
pub mod write;

pub use error::{Error, ErrorKind, Result};
pub use table::Table;
