//! Jobs that keep a table healthy beside its writers: compaction, snapshot and changelog expiry, tags
//! (manual, automatic, retention), consumer expiry, rollback and orphan-file removal; and
//! [`post_commit`], what runs after every commit. The file-deleting ones share [`file_refs`]:
//! what a set of snapshots and tags references.

pub mod auto_tag;
pub mod branches;
pub mod compact;
pub mod expire;
pub mod expire_changelog;
pub mod file_refs;
pub mod orphan_files;
pub mod partition_expire;
pub mod post_commit;
pub mod postpone;
pub mod rollback;
pub mod service;
pub mod tags;
