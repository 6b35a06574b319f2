//! Jobs that keep a table healthy beside its writers: compaction, snapshot expiry, tags,
//! rollback and orphan-file removal. The file-deleting ones share [`file_refs`]: what a set of
//! snapshots and tags references.

pub mod compact;
pub mod expire;
pub mod file_refs;
pub mod orphan_files;
pub mod rollback;
pub mod tags;
