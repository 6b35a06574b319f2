//! The names of the data files and changelog files one writer writes.

use std::sync::atomic::{AtomicU64, Ordering};

/// Names data files `data-<uuid>-<n>.parquet` and changelog files `changelog-<uuid>-<n>.parquet`
/// (one counter for both, as Paimon's DataFilePathFactory), unique across one writer.
#[derive(Debug)]
pub(crate) struct DataFileNamer {
    uuid: String,
    next: AtomicU64,
}

impl DataFileNamer {
    /// A namer with a fresh uuid, counting from 0.
    pub(crate) fn new() -> DataFileNamer {
        DataFileNamer { uuid: uuid::Uuid::new_v4().to_string(), next: AtomicU64::new(0) }
    }

    /// The next data file's name.
    pub(crate) fn next(&self) -> String {
        format!("data-{}-{}.parquet", self.uuid, self.next.fetch_add(1, Ordering::Relaxed))
    }

    /// The next changelog file's name.
    pub(crate) fn next_changelog(&self) -> String {
        format!("changelog-{}-{}.parquet", self.uuid, self.next.fetch_add(1, Ordering::Relaxed))
    }
}

impl Default for DataFileNamer {
    fn default() -> Self {
        Self::new()
    }
}
