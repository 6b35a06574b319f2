//! Jobs that keep a table healthy beside its writers: compaction, snapshot and changelog expiry, tags
//! (manual, automatic, retention), consumer expiry, rollback and orphan-file removal; and
//! [`post_commit`], what runs after every commit. The file-deleting ones share [`file_refs`]:
//! what a set of snapshots and tags references. [`operations`]: each operation as a builder made
//! from a [`crate::Table`], reading its options in one place for the library, CLI, SQL and Python.

mod auto_tag;
pub mod branches;
pub mod compact;
pub mod expire;
mod expire_changelog;
mod file_refs;
pub mod operations;
mod orphan_files;
mod partition_expire;
pub(crate) mod post_commit;
mod postpone;
pub mod rollback;
pub mod service;
// Public only for the integration tests (expire_tags_at, local_now); tags are made and dropped
// through `operations`.
#[doc(hidden)]
pub mod tags;
