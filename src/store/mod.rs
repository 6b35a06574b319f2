//! A table's metadata over [`FileIO`](crate::io::FileIO): snapshots, long-lived changelogs,
//! schemas, manifests, tags and consumers.
//! Shared by the write path (commit) and the read path (scan planning).

pub mod changelogs;
pub mod consumers;
pub mod manifests;
pub mod schemas;
pub mod snapshots;
pub mod tags;

pub use manifests::ManifestStore;
pub use schemas::SchemaManager;
pub use snapshots::SnapshotManager;
pub use tags::{Tag, TagManager};
pub use changelogs::ChangelogManager;
pub use consumers::{Consumer, ConsumerManager};
