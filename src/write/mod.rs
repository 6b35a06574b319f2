//! The write path: rows -> bucket -> write buffer -> sorted, merged level-0 Parquet files (and
//! the writer's compactions) -> [`CommitMessage`]s, which the commit layer ([`crate::commit`])
//! turns into snapshots.

mod cross_partition;
pub(crate) mod dynamic_bucket;
mod message;
pub(crate) mod postpone;
mod spill;
mod table_write;
mod write_buffer;

pub use message::{CommitMessage, DroppedCompaction};
pub use table_write::TableWrite;
