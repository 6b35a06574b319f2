//! The write path: rows -> bucket -> write buffer -> sorted, merged level-0 Parquet files (and
//! the writer's compactions) -> [`CommitMessage`]s, which the commit layer ([`crate::commit`])
//! turns into snapshots.

pub mod cross_partition;
pub mod data_file_writer;
pub mod dynamic_bucket;
mod message;
pub mod overwrite;
pub(crate) mod postpone;
pub mod sink;
pub mod spill;
pub mod stats;
pub mod table_write;
pub mod write_buffer;

pub use message::{CommitMessage, DroppedCompaction};
pub use overwrite::{Overwrite, OverwriteBuilder};
pub use sink::{Committable, StreamingSink};
pub use table_write::TableWrite;

// The path src/ingest/cdc.rs imports CommitOutcome by (to go once it imports crate::commit).
#[doc(hidden)]
pub use crate::commit::CommitOutcome;
