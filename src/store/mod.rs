//! A table's metadata over [`FileIO`](crate::io::FileIO): snapshots, schemas and manifests.
//! Shared by the write path (commit) and the read path (scan planning).

pub mod manifests;
pub mod schemas;
pub mod snapshots;

pub use manifests::ManifestStore;
pub use schemas::SchemaManager;
pub use snapshots::SnapshotManager;
