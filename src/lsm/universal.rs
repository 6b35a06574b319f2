//! Paimon's universal compaction (after RocksDB's): given a bucket's sorted runs from newest to
//! oldest, pick a prefix of runs to merge, with Paimon's options and defaults:
//! `num-sorted-run.compaction-trigger` (5), `compaction.max-size-amplification-percent` (200),
//! `compaction.size-ratio` (1).
//!
//! 1. Size amplification: if the runs above the oldest add up to more than max-size-amp % of the
//!    oldest, merge everything into the last level.
//! 2. Size ratio: starting from the newest run, keep adding the next run while it is not much
//!    bigger than what is picked so far; merge if that picked more than one run.
//! 3. Run count: above the trigger, merge at least enough of the newest runs to get back to it.

use super::levels::SortedRun;
use crate::error::Result;
use crate::spec::{CoreOptions, DataFileMeta};

/// What to merge and where the output goes.
#[derive(Clone, Debug)]
pub struct CompactUnit {
    pub output_level: i32,
    pub files: Vec<DataFileMeta>,
}

#[derive(Clone, Copy, Debug)]
pub struct UniversalCompaction {
    pub max_size_amp: i64,
    pub size_ratio: i64,
    pub num_run_trigger: usize,
}

impl UniversalCompaction {
    pub fn from_options(opts: &CoreOptions) -> Result<Self> {
        let int = |k: &str, d: i64| -> Result<i64> {
            match opts.get(k) {
                None => Ok(d),
                Some(v) => v.trim().parse().map_err(|_| {
                    crate::spec::SpecError::InvalidOption {
                        key: k.into(),
                        value: v.into(),
                        message: "expected an integer".into(),
                    }
                    .into()
                }),
            }
        };
        Ok(UniversalCompaction {
            max_size_amp: int("compaction.max-size-amplification-percent", 200)?,
            size_ratio: int("compaction.size-ratio", 1)?,
            num_run_trigger: int("num-sorted-run.compaction-trigger", 5)?.max(1) as usize,
        })
    }

    /// `num-levels`, default trigger + 1 (so the last level is trigger).
    pub fn num_levels(&self, opts: &CoreOptions) -> usize {
        opts.get("num-levels").and_then(|v| v.trim().parse().ok()).unwrap_or(self.num_run_trigger + 1).max(2)
    }

    /// A table's last level (`num-levels` - 1).
    pub fn max_level_of(opts: &CoreOptions) -> Result<i32> {
        Ok(Self::from_options(opts)?.num_levels(opts) as i32 - 1)
    }

    /// `num-sorted-run.stop-trigger`, default trigger + 3: writers wait for compaction above it.
    pub fn stop_trigger(&self, opts: &CoreOptions) -> usize {
        opts.get("num-sorted-run.stop-trigger").and_then(|v| v.trim().parse().ok()).unwrap_or(self.num_run_trigger + 3)
    }

    pub fn pick(&self, max_level: i32, runs: &[SortedRun]) -> Option<CompactUnit> {
        if runs.len() < self.num_run_trigger {
            return None;
        }
        // 1. size amplification
        let (newer, oldest) = runs.split_at(runs.len() - 1);
        let candidate: i64 = newer.iter().map(SortedRun::total_size).sum();
        if candidate * 100 > self.max_size_amp * oldest[0].total_size() {
            return Some(unit(runs, max_level, runs.len()));
        }
        // 2. size ratio
        if let Some(u) = self.pick_for_size_ratio(max_level, runs, 1, false) {
            return Some(u);
        }
        // 3. number of runs
        if runs.len() > self.num_run_trigger {
            return self.pick_for_size_ratio(max_level, runs, runs.len() - self.num_run_trigger + 1, true);
        }
        None
    }

    /// Paimon's `ForceUpLevel0Compaction` (tables that look up older rows: deletion vectors):
    /// what universal compaction picks, else every level-0 run, extended by the size ratio,
    /// so that no row stays on level 0 after a commit.
    pub fn pick_force_level0(&self, max_level: i32, runs: &[SortedRun]) -> Option<CompactUnit> {
        if let Some(u) = self.pick(max_level, runs) {
            return Some(u);
        }
        let level0 = runs.iter().take_while(|r| r.level == 0).count();
        if level0 == 0 {
            return None;
        }
        self.pick_for_size_ratio(max_level, runs, level0, true)
    }

    fn pick_for_size_ratio(
        &self,
        max_level: i32,
        runs: &[SortedRun],
        mut count: usize,
        force: bool,
    ) -> Option<CompactUnit> {
        let mut size: i64 = runs[..count].iter().map(SortedRun::total_size).sum();
        while count < runs.len() {
            let next = runs[count].total_size();
            if (size as f64) * (100.0 + self.size_ratio as f64) / 100.0 < next as f64 {
                break;
            }
            size += next;
            count += 1;
        }
        if force || count > 1 {
            Some(unit(runs, max_level, count))
        } else {
            None
        }
    }
}

/// Merges the newest `count` runs. The output goes just above the next run's level (never
/// level 0), or to the last level when every run is merged.
fn unit(runs: &[SortedRun], max_level: i32, mut count: usize) -> CompactUnit {
    let mut output_level = if count == runs.len() { max_level } else { (runs[count].level - 1).max(0) };
    if output_level == 0 {
        while count < runs.len() {
            let next = &runs[count];
            count += 1;
            if next.level != 0 {
                output_level = next.level;
                break;
            }
        }
    }
    if count == runs.len() {
        output_level = max_level;
    }
    CompactUnit { output_level, files: runs[..count].iter().flat_map(|r| r.files.iter().cloned()).collect() }
}

/// Everything into the last level (a full compaction).
pub(crate) fn full_unit(max_level: i32, runs: &[SortedRun]) -> Option<CompactUnit> {
    let files: Vec<DataFileMeta> = runs.iter().flat_map(|r| r.files.iter().cloned()).collect();
    // A single file already on the last level without retractions needs no work.
    if files.is_empty()
        || (files.len() == 1 && files[0].level == max_level && files[0].delete_row_count.unwrap_or(0) == 0)
    {
        return None;
    }
    Some(CompactUnit { output_level: max_level, files })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{BinaryRow, SimpleStats};

    fn file(level: i32, size: i64, seq: i64) -> DataFileMeta {
        DataFileMeta {
            file_name: format!("f-{level}-{seq}"),
            file_size: size,
            row_count: 1,
            min_key: BinaryRow::empty(),
            max_key: BinaryRow::empty(),
            key_stats: SimpleStats::empty(),
            value_stats: SimpleStats::empty(),
            min_sequence_number: seq,
            max_sequence_number: seq,
            schema_id: 0,
            level,
            extra_files: vec![],
            creation_time: None,
            delete_row_count: Some(0),
            embedded_index: None,
            file_source: None,
            value_stats_cols: None,
            external_path: None,
        }
    }

    fn runs(spec: &[(i32, i64)]) -> Vec<SortedRun> {
        spec.iter()
            .enumerate()
            .map(|(i, (l, s))| SortedRun { level: *l, files: vec![file(*l, *s, i as i64)] })
            .collect()
    }

    const U: UniversalCompaction = UniversalCompaction { max_size_amp: 200, size_ratio: 1, num_run_trigger: 5 };

    #[test]
    fn below_trigger_nothing() {
        assert!(U.pick(5, &runs(&[(0, 1), (0, 1), (0, 1), (5, 100)])).is_none());
    }

    #[test]
    fn size_amplification_merges_everything_to_the_last_level() {
        let u = U.pick(5, &runs(&[(0, 10), (0, 10), (0, 10), (0, 10), (5, 30)])).unwrap();
        assert_eq!(u.output_level, 5);
        assert_eq!(u.files.len(), 5);
    }

    #[test]
    fn size_ratio_merges_similar_newest_runs_above_the_next_level() {
        // 1+1+1+1 = 4 is not within 1% of 100, so the newest four merge, into level 4.
        let u = U.pick(5, &runs(&[(0, 1), (0, 1), (0, 1), (0, 1), (5, 1000)])).unwrap();
        assert_eq!(u.files.len(), 4);
        assert_eq!(u.output_level, 4);
    }

    #[test]
    fn force_level0_takes_every_level0_run_above_the_next_level() {
        let u = U.pick_force_level0(5, &runs(&[(0, 1), (0, 1), (5, 1000)])).unwrap();
        assert_eq!((u.files.len(), u.output_level), (2, 4));
        assert!(U.pick_force_level0(5, &runs(&[(3, 10), (5, 1000)])).is_none());
        // Only level-0 files: everything goes to the last level.
        let u = U.pick_force_level0(5, &runs(&[(0, 1)])).unwrap();
        assert_eq!((u.files.len(), u.output_level), (1, 5));
    }

    #[test]
    fn run_count_forces_a_merge() {
        // Growing sizes defeat the ratio rule; six runs > trigger five force the newest two.
        let u = U.pick(5, &runs(&[(0, 1), (0, 10), (2, 100), (3, 1000), (4, 10_000), (5, 100_000)])).unwrap();
        assert_eq!(u.files.len(), 2);
        assert_eq!(u.output_level, 1, "just above the level-2 run that stays");
        // Never output to level 0: the pick extends to the first run on a higher level.
        let u = U.pick(5, &runs(&[(0, 1), (0, 10), (0, 100), (0, 1000), (3, 10_000), (5, 100_000)])).unwrap();
        assert_eq!((u.files.len(), u.output_level), (5, 3));
    }
}
