//! Levels of a bucket. Level 0 holds freshly flushed files, each its own sorted run (newest
//! first); every level >= 1 is one sorted run of non-overlapping files.

use crate::spec::DataFileMeta;

/// One sorted run and the level it lives on.
#[derive(Clone, Debug)]
pub struct SortedRun {
    pub level: i32,
    pub files: Vec<DataFileMeta>,
}

impl SortedRun {
    pub fn total_size(&self) -> i64 {
        self.files.iter().map(|f| f.file_size).sum()
    }
}

#[derive(Clone, Debug)]
pub struct Levels {
    num_levels: usize,
    /// Level-0 files, newest (highest sequence number) first.
    level0: Vec<DataFileMeta>,
    /// Levels 1..num_levels, each sorted by file name order of insertion (files do not overlap).
    levels: Vec<Vec<DataFileMeta>>,
}

impl Levels {
    pub fn new(num_levels: usize, files: Vec<DataFileMeta>) -> Levels {
        let num_levels = num_levels.max(2);
        let mut l = Levels { num_levels, level0: vec![], levels: vec![vec![]; num_levels - 1] };
        l.add_all(files);
        l
    }

    fn add_all(&mut self, files: Vec<DataFileMeta>) {
        for f in files {
            if f.level <= 0 {
                self.level0.push(f);
            } else {
                // Files beyond the configured levels (another writer used more) go to the top.
                let idx = (f.level as usize).min(self.num_levels - 1) - 1;
                self.levels[idx].push(f);
            }
        }
        self.level0.sort_by_key(|f| std::cmp::Reverse(f.max_sequence_number));
    }

    pub fn max_level(&self) -> i32 {
        self.num_levels as i32 - 1
    }

    pub fn add_level0(&mut self, file: DataFileMeta) {
        self.add_all(vec![file]);
    }

    /// The highest level holding files, or -1 for an empty tree.
    pub fn non_empty_highest_level(&self) -> i32 {
        for (i, l) in self.levels.iter().enumerate().rev() {
            if !l.is_empty() {
                return i as i32 + 1;
            }
        }
        if self.level0.is_empty() {
            -1
        } else {
            0
        }
    }

    /// Sorted runs from newest to oldest: each level-0 file, then each non-empty level.
    pub fn sorted_runs(&self) -> Vec<SortedRun> {
        let mut runs: Vec<SortedRun> =
            self.level0.iter().map(|f| SortedRun { level: 0, files: vec![f.clone()] }).collect();
        for (i, l) in self.levels.iter().enumerate() {
            if !l.is_empty() {
                runs.push(SortedRun { level: i as i32 + 1, files: l.clone() });
            }
        }
        runs
    }

    pub fn number_of_sorted_runs(&self) -> usize {
        self.level0.len() + self.levels.iter().filter(|l| !l.is_empty()).count()
    }

    pub fn all_files(&self) -> Vec<DataFileMeta> {
        self.level0.iter().chain(self.levels.iter().flatten()).cloned().collect()
    }

    /// Applies a compaction: removes `before` (by name and level), adds `after`.
    pub fn update(&mut self, before: &[DataFileMeta], after: &[DataFileMeta]) {
        let gone = |f: &DataFileMeta| before.iter().any(|b| b.file_name == f.file_name && b.level == f.level);
        self.level0.retain(|f| !gone(f));
        for l in self.levels.iter_mut() {
            l.retain(|f| !gone(f));
        }
        self.add_all(after.to_vec());
    }
}
