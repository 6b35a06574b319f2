//! Merge engines: what a primary key's value is when several versions of it meet. The same
//! function runs in the write buffer (one version per key per file), in merge-on-read, and in
//! compaction, so they can never disagree.
//!
//! Versions arrive in sequence order (oldest first). Paimon's `deduplicate` keeps the newest.

pub mod keys;

use crate::error::Result;
use crate::spec::options::MergeEngine;
use crate::spec::{CoreOptions, RowKind};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MergeFunction {
    /// Keep the version with the highest sequence number (a retraction deletes the key).
    Deduplicate { ignore_delete: bool },
}

impl MergeFunction {
    pub fn from_options(options: &CoreOptions) -> Result<MergeFunction> {
        match options.merge_engine()? {
            MergeEngine::Deduplicate => Ok(MergeFunction::Deduplicate { ignore_delete: options.ignore_delete()? }),
            other => Err(crate::Error::Unsupported(format!("merge-engine {other:?} is not implemented yet"))),
        }
    }

    /// Whether an input row of this kind is dropped before it reaches the buffer.
    pub fn ignores(&self, kind: RowKind) -> bool {
        match self {
            MergeFunction::Deduplicate { ignore_delete } => *ignore_delete && kind.is_retract(),
        }
    }

    /// Given the kinds of one key's versions in sequence order, the index of the version that
    /// represents the key after merging. The result may be a retraction: whether it is dropped
    /// depends on the caller (kept in level-0 files, dropped by readers).
    pub fn pick(&self, kinds: &[RowKind]) -> Option<usize> {
        match self {
            MergeFunction::Deduplicate { .. } => kinds.len().checked_sub(1),
        }
    }
}
