//! The write path: rows -> bucket -> write buffer -> sorted, merged level-0 Parquet files ->
//! commit messages -> the commit protocol (manifests, manifest list, snapshot).

pub mod commit;
pub mod cross_partition;
pub mod data_file_writer;
pub mod dynamic_bucket;
pub mod overwrite;
pub(crate) mod postpone;
pub mod sink;
pub mod spill;
pub mod stats;
pub mod table_write;
pub mod write_buffer;

pub use commit::{CommitMessage, CommitOutcome, DroppedCompaction, TableCommit};
pub use overwrite::{Overwrite, OverwriteBuilder, OverwriteScope};
pub use sink::{Committable, StreamingSink};
pub use table_write::TableWrite;
