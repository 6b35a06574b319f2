//! Getting data in: files ([`files`]: Parquet, CSV, JSON lines, used by `shoal write`) and
//! change data capture ([`cdc`]: a source trait feeding [`StreamingSink`](crate::table::StreamingSink)s
//! exactly once), with Debezium JSON events ([`debezium`]) and, behind the `postgres` feature,
//! Postgres logical replication ([`postgres`], decoding [`pgoutput`], types [`pgtypes`], values
//! read by [`pgtext`]).
//! This layer uses only the public table and sink API.

pub mod cdc;
pub mod debezium;
mod files;
mod pgoutput;
mod pgtext;
// Public only for the integration tests (tests/ingest_postgres.rs: text_to_array).
#[doc(hidden)]
pub mod pgtypes;
#[cfg(feature = "postgres")]
pub mod postgres;

pub use files::{row_kinds_from_strings, write_file, FileFormat, MissingColumns};
