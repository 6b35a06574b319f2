//! The LSM tree of one bucket: its levels and sorted runs ([`levels`]), Paimon's universal
//! compaction strategy deciding what to merge ([`universal`]), and the rewrite that merges the
//! picked files into the output level ([`rewrite`]). Used by writers (in-writer compaction) and
//! by the dedicated compaction job (`shoal compact`). [`shape`] describes a tree for people
//! (`shoal inspect`).

pub(crate) mod deletion_vectors;
mod levels;
pub(crate) mod lookup;
pub(crate) mod rewrite;
pub mod shape;
pub(crate) mod universal;

pub use levels::{Levels, SortedRun};
pub use universal::{CompactUnit, UniversalCompaction};
