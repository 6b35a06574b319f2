//! The write path: rows -> bucket -> write buffer -> sorted, merged level-0 Parquet files (and
//! the writer's compactions) -> [`CommitMessage`]s, which the commit layer ([`crate::commit`])
//! turns into snapshots.

pub mod cross_partition;
pub mod dynamic_bucket;
mod message;
pub(crate) mod postpone;
pub mod spill;
pub mod table_write;
pub mod write_buffer;

pub use message::{CommitMessage, DroppedCompaction};
pub use table_write::TableWrite;
