//! Data files as a writer makes them: rows in data-file layout encoded into Parquet files rolled
//! at `target-file-size` ([`writer`]), each described by a DataFileMeta with its column
//! statistics ([`stats`]) and named `data-<uuid>-<n>.parquet` ([`DataFileNamer`]); and the rows
//! of recently written files kept decoded ([`decoded_files`]), which readers consult before
//! reading a file back. The table writer ([`crate::write`]) and the compaction rewrite
//! ([`crate::lsm`]) both write through here.

pub(crate) mod decoded_files;
mod names;
pub(crate) mod stats;
pub(crate) mod writer;

pub(crate) use decoded_files::DecodedFiles;
pub(crate) use names::DataFileNamer;
pub(crate) use writer::{local_now_millis, FileWriterConfig, RollingWriter};
