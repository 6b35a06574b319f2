//! Finding where a key lives on the levels below a compaction's output (Paimon's
//! `LookupLevels`), for deletion-vector maintenance.
//!
//! Each data file on levels >= 1 is sorted by key and holds a key at most once, so a file's
//! lookup index is simply its key column, encoded for comparison ([`SortKeys`]), with the row
//! position as the index. A level is one sorted run of files that do not overlap, searched by
//! binary search on each file's first key, then within the file. Levels are searched from the
//! shallowest (newest) down; a row already marked in its file's deletion vector does not count.
//!
//! Indexes are loaded on first use and kept in a [`LookupCache`] per bucket, so a writer that
//! compacts level 0 at every commit reads each deeper file's keys once. They live in memory:
//! 8 bytes per row for a BIGINT key (Paimon spills its lookup files to local disk instead).

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::RecordBatch;

use crate::error::Result;
use crate::lsm::deletion_vectors::BucketDeletionVectors;
use crate::merge::keys::SortKeys;
use crate::read::SplitReader;
use crate::spec::DataFileMeta;

/// One file's keys in file order and its rows (only the key-value metadata columns when the
/// merge needs no old values).
pub struct LookupFile {
    pub keys: SortKeys,
    pub rows: RecordBatch,
}

/// Loaded lookup indexes of one bucket, by data file name.
#[derive(Clone, Default)]
pub struct LookupCache {
    files: HashMap<String, Arc<LookupFile>>,
}

impl LookupCache {
    /// Forgets files that are no longer in the bucket.
    pub fn retain_files(&mut self, live: &[DataFileMeta]) {
        self.files.retain(|name, _| live.iter().any(|f| &f.file_name == name));
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

/// A hit: the file, the row position in it, and the file's loaded index.
#[derive(Clone, Copy)]
pub struct Found<'a> {
    pub file: &'a DataFileMeta,
    pub position: u32,
    pub index: &'a Arc<LookupFile>,
}

/// The files of the searched levels with their indexes, each level ordered by first key.
pub struct LookupLevels {
    levels: Vec<Vec<(DataFileMeta, Arc<LookupFile>)>>,
    /// Per level, where the previous BIGINT lookup ended (file, position): compactions probe in
    /// key order, so the next key is usually a few positions further in the same file.
    hints: Vec<std::cell::Cell<(usize, usize)>>,
}

impl LookupLevels {
    /// Loads (or takes from `cache`) the indexes of `files`, grouped by level. `reader` decides
    /// what is loaded besides keys (see [`LookupFile`]). Runs on a blocking thread.
    pub fn load(reader: &SplitReader, bucket_path: &str, files: &[DataFileMeta], cache: &mut LookupCache) -> Result<LookupLevels> {
        let above0: Vec<DataFileMeta> = files.iter().filter(|f| f.level >= 1).cloned().collect();
        Self::load_any_level(reader, bucket_path, &above0, cache)
    }

    /// [`Self::load`] without leaving out level 0: the caller makes sure that the files of a
    /// level do not overlap (one level-0 file at a time).
    pub fn load_any_level(reader: &SplitReader, bucket_path: &str, files: &[DataFileMeta], cache: &mut LookupCache) -> Result<LookupLevels> {
        let mut by_level: std::collections::BTreeMap<i32, Vec<(DataFileMeta, Arc<LookupFile>)>> = Default::default();
        for f in files {
            let index = match cache.files.get(&f.file_name) {
                Some(i) => i.clone(),
                None => {
                    let Some((keys, rows)) = reader.load_file_whole(bucket_path, f)? else { continue };
                    let i = Arc::new(LookupFile { keys, rows });
                    cache.files.insert(f.file_name.clone(), i.clone());
                    i
                }
            };
            by_level.entry(f.level).or_default().push((f.clone(), index));
        }
        let mut levels: Vec<Vec<(DataFileMeta, Arc<LookupFile>)>> = by_level.into_values().collect();
        for level in &mut levels {
            level.sort_by(|a, b| a.1.keys.cmp_with(0, &b.1.keys, 0));
        }
        let hints = levels.iter().map(|_| std::cell::Cell::new((0, 0))).collect();
        Ok(LookupLevels { levels, hints })
    }

    pub fn is_empty(&self) -> bool {
        self.levels.is_empty()
    }

    /// The live row holding key `row` of `keys`, on the shallowest level that has one.
    pub fn lookup<'a>(&'a self, keys: &SortKeys, row: usize, dvs: &BucketDeletionVectors) -> Option<Found<'a>> {
        if let SortKeys::I64(probe) = keys {
            return self.lookup_i64(probe[row], dvs);
        }
        for level in &self.levels {
            // The last file whose first key is <= the key.
            let after = level.partition_point(|(_, i)| i.keys.cmp_with(0, keys, row).is_le());
            let Some((file, index)) = after.checked_sub(1).map(|i| &level[i]) else { continue };
            let n = index.keys.len();
            let (mut lo, mut hi) = (0usize, n);
            while lo < hi {
                let mid = (lo + hi) / 2;
                if index.keys.cmp_with(mid, keys, row).is_lt() {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            if lo < n && index.keys.cmp_with(lo, keys, row).is_eq() && !dvs.is_deleted(&file.file_name, lo as u32) {
                return Some(Found { file, position: lo as u32, index });
            }
        }
        None
    }

    /// [`Self::lookup`] for a single BIGINT key: searches over the key values, galloping forward
    /// from where the previous lookup ended on each level when the key lies beyond it.
    fn lookup_i64(&self, key: i64, dvs: &BucketDeletionVectors) -> Option<Found<'_>> {
        let first = |i: &Arc<LookupFile>| match &i.keys {
            SortKeys::I64(v) => v.first().copied().unwrap_or(i64::MAX),
            _ => i64::MAX,
        };
        for (level, hint) in self.levels.iter().zip(&self.hints) {
            let (hint_file, hint_pos) = hint.get();
            // The last file whose first key is <= the key: the hinted one when the key is in its
            // range of files, else by binary search.
            let in_hinted = hint_file < level.len()
                && first(&level[hint_file].1) <= key
                && level.get(hint_file + 1).is_none_or(|next| first(&next.1) > key);
            let file_at = if in_hinted {
                hint_file
            } else {
                let Some(i) = level.partition_point(|(_, i)| first(i) <= key).checked_sub(1) else { continue };
                i
            };
            let (file, index) = &level[file_at];
            let SortKeys::I64(values) = &index.keys else { continue };
            // Keys in a file are strictly increasing: if the hinted position holds a key <= the
            // probe, the probe's lower bound is at or after it.
            let start = if file_at == hint_file && values.get(hint_pos).is_some_and(|v| *v <= key) { hint_pos } else { 0 };
            let pos = gallop_lower_bound(values, start, key);
            hint.set((file_at, pos.min(values.len().saturating_sub(1))));
            if pos < values.len() && values[pos] == key && !dvs.is_deleted(&file.file_name, pos as u32) {
                return Some(Found { file, position: pos as u32, index });
            }
        }
        None
    }
}

/// The first position at or after `start` whose value is >= `key` (`values` ascending, and every
/// value before `start` below `key`): exponential steps from `start`, then a binary search.
fn gallop_lower_bound(values: &[i64], start: usize, key: i64) -> usize {
    let (mut lo, mut step) = (start, 1usize);
    let mut hi = start;
    while hi < values.len() && values[hi] < key {
        lo = hi + 1;
        hi = start.saturating_add(step);
        step = step.saturating_mul(2);
    }
    let hi = hi.min(values.len());
    lo + values[lo..hi].partition_point(|v| *v < key)
}

#[cfg(test)]
mod tests {
    use super::gallop_lower_bound;

    #[test]
    fn gallop_finds_the_lower_bound_from_any_valid_start() {
        let values: Vec<i64> = (0..1000).map(|i| i * 3).collect();
        for key in -2..3005 {
            let want = values.partition_point(|v| *v < key);
            for start in [0usize, want.saturating_sub(1), want / 2, want] {
                if values[..start].iter().all(|v| *v < key) {
                    assert_eq!(gallop_lower_bound(&values, start, key), want, "key {key} start {start}");
                }
            }
        }
        assert_eq!(gallop_lower_bound(&[], 0, 5), 0);
    }
}
