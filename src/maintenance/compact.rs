//! The dedicated compaction job (`shoal compact`): plans the latest snapshot, picks per bucket
//! what universal compaction would merge (or everything, with `full`), rewrites the buckets in
//! parallel and commits one COMPACT snapshot.
//!
//! Safe beside running writers: the commit checks that every input file is still live, that no
//! level it adds to would overlap, and that the deletion vectors it read are current. A bucket
//! another commit changed meanwhile (a writer's or another compactor's compaction) is dropped:
//! its files are deleted and the other buckets commit; the job then re-plans on the newer
//! snapshot and tries once more. It never commits a stale result.

use std::sync::Arc;

use futures::stream::{self, StreamExt, TryStreamExt};
use indicatif::ProgressBar;

use crate::commit::CommitOutcome;
use crate::error::{Error, Result};
use crate::lsm::deletion_vectors::BucketDeletionVectors;
use crate::lsm::rewrite::{CompactResult, DvState, LookupMode, Rewriter};
use crate::lsm::universal::{full_unit, CompactUnit};
use crate::lsm::{Levels, UniversalCompaction};
use crate::read::scan::PartitionFilter;
use crate::read::DataSplit;
use crate::spec::manifest::IndexManifestEntry;
use crate::store::manifests::FileNamer;
use crate::table::Table;
use crate::write::{CommitMessage, DroppedCompaction};

/// What a compaction run did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompactReport {
    pub outcome: CommitOutcome,
    pub buckets_compacted: usize,
    pub files_before: usize,
    pub files_after: usize,
    /// Rows and bytes of the files the compaction rewrote (its input).
    pub rows_read: i64,
    pub bytes_read: i64,
    pub bytes_written: i64,
    /// Buckets whose compaction was dropped because a writer or another compactor changed
    /// them while this job rewrote them (they are compacted by a later run).
    pub dropped: Vec<DroppedCompaction>,
}

/// One bucket as [`CompactJob::survey`] finds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BucketSurvey {
    pub partition: crate::spec::BinaryRow,
    pub bucket: i32,
    pub sorted_runs: usize,
    pub files: usize,
    pub bytes: i64,
    /// What a run would rewrite: (files, bytes, output level); None: nothing.
    pub pick: Option<(usize, i64, i32)>,
}

pub struct CompactJob {
    pub full: bool,
    pub partition_filter: Option<PartitionFilter>,
    pub progress: Option<ProgressBar>,
    pub commit_user: String,
}

impl CompactJob {
    pub fn new(full: bool) -> Self {
        CompactJob { full, partition_filter: None, progress: None, commit_user: uuid::Uuid::new_v4().to_string() }
    }

    /// Runs the job; when another commit overtook it (all or some of its buckets), it plans
    /// again on the newer snapshot and tries once more.
    pub async fn run(&self, table: &Table) -> Result<CompactReport> {
        match self.run_once(table).await {
            Err(Error::CommitConflict(_)) => self.run_once(table).await,
            Ok(r) if !r.dropped.is_empty() => {
                let again = self.run_once(table).await?;
                Ok(CompactReport {
                    outcome: if again.outcome == CommitOutcome::Empty { r.outcome } else { again.outcome },
                    buckets_compacted: r.buckets_compacted + again.buckets_compacted,
                    files_before: r.files_before + again.files_before,
                    files_after: r.files_after + again.files_after,
                    rows_read: r.rows_read + again.rows_read,
                    bytes_read: r.bytes_read + again.bytes_read,
                    bytes_written: r.bytes_written + again.bytes_written,
                    dropped: again.dropped,
                })
            }
            other => other,
        }
    }

    /// Per bucket of `splits`, what the job compacts (None: nothing) and whether the output drops
    /// retractions (it lands on the highest non-empty level).
    fn pick_units(
        &self,
        table: &Table,
        splits: Vec<DataSplit>,
        num_levels: usize,
        strategy: &UniversalCompaction,
        force_level0: bool,
    ) -> Result<Vec<(DataSplit, Option<CompactUnit>, bool)>> {
        let first_row = crate::merge::MergeFunction::from_schema(table.schema())?.is_first_row();
        // first-row tables are always compacted fully (see MergeFunction::is_first_row).
        let full = self.full || first_row;
        let mut picked = vec![];
        for split in splits {
            let levels = Levels::new(num_levels, split.files.clone());
            let runs = levels.sorted_runs();
            let unit = if full {
                full_unit(levels.max_level(), &runs)
            } else if force_level0 {
                strategy.pick_force_level0(levels.max_level(), &runs)
            } else {
                strategy.pick(levels.max_level(), &runs)
            };
            let drop = unit.as_ref().is_some_and(|u| u.output_level >= levels.non_empty_highest_level());
            picked.push((split, unit, drop));
        }
        Ok(picked)
    }

    /// The table's compaction strategy, its number of levels, and the latest snapshot's plan
    /// within the partition filter; append tables are refused.
    async fn plan(&self, table: &Table) -> Result<(UniversalCompaction, usize, crate::read::scan::Plan)> {
        if table.schema().primary_keys.is_empty() {
            return Err(Error::Unsupported("compaction of append tables is not implemented yet".into()));
        }
        let opts = table.schema().core_options();
        let strategy = UniversalCompaction::from_options(&opts)?;
        let num_levels = strategy.num_levels(&opts);
        let mut scan = table.new_scan();
        if let Some(f) = &self.partition_filter {
            scan = scan.with_partition_filter(f.clone());
        }
        Ok((strategy, num_levels, scan.plan().await?))
    }

    /// The buckets of the latest snapshot (within the partition filter) and what a run would
    /// compact in each, without compacting: for dry runs and backlog reports.
    pub async fn survey(&self, table: &Table) -> Result<Vec<BucketSurvey>> {
        let (strategy, num_levels, plan) = self.plan(table).await?;
        let force_level0 = LookupMode::for_table(table.schema())?.is_some_and(|m| m.forces_level0());
        let picked = self.pick_units(table, plan.splits, num_levels, &strategy, force_level0)?;
        Ok(picked
            .into_iter()
            .map(|(split, unit, _)| BucketSurvey {
                sorted_runs: Levels::new(num_levels, split.files.clone()).number_of_sorted_runs(),
                files: split.files.len(),
                bytes: split.files.iter().map(|f| f.file_size).sum(),
                pick: unit.map(|u| (u.files.len(), u.files.iter().map(|f| f.file_size).sum(), u.output_level)),
                partition: split.partition,
                bucket: split.bucket,
            })
            .collect())
    }

    /// On a postpone-bucket table, first moves the pending rows into real buckets (see
    /// [`crate::maintenance::postpone`]), then compacts the real buckets.
    async fn run_once(&self, table: &Table) -> Result<CompactReport> {
        if !crate::maintenance::postpone::is_postpone_table(table.schema())? {
            return self.compact_buckets(table).await;
        }
        let moved =
            crate::maintenance::postpone::compact_postpone(table, &self.commit_user, self.partition_filter.as_ref())
                .await?;
        let mut report = self.compact_buckets(table).await?;
        if let (CommitOutcome::Empty, Some(outcome)) = (&report.outcome, moved.outcome) {
            report.outcome = outcome;
        }
        report.buckets_compacted += moved.partitions.len();
        report.files_before += moved.files;
        report.files_after += moved.files_written;
        report.rows_read += moved.rows;
        report.bytes_read += moved.bytes;
        report.bytes_written += moved.bytes_written;
        Ok(report)
    }

    async fn compact_buckets(&self, table: &Table) -> Result<CompactReport> {
        let (strategy, num_levels, plan) = self.plan(table).await?;
        let opts = table.schema().core_options();
        // Compactions that maintain deletion vectors or produce a changelog go through the
        // lookup rewrite (deletion-vector tables with each bucket's index entries).
        let lookup = LookupMode::for_table(table.schema())?;
        let dv = lookup.is_some_and(|m| m.deletion_vectors);
        let force_level0 = lookup.is_some_and(|m| m.forces_level0());
        let mut index_of_bucket: std::collections::HashMap<(Vec<u8>, i32), Vec<IndexManifestEntry>> =
            Default::default();
        if let (true, Some(index)) = (dv, plan.snapshot.as_ref().and_then(|s| s.index_manifest.clone())) {
            let manifests = crate::store::ManifestStore::new(table.io().clone(), &opts.manifest_compression());
            for e in manifests.read_index_manifest(&index).await? {
                index_of_bucket.entry((e.partition.data().to_vec(), e.bucket)).or_default().push(e);
            }
        }
        let mut jobs = vec![];
        for (split, unit, drop) in self.pick_units(table, plan.splits, num_levels, &strategy, force_level0)? {
            let Some(unit) = unit else { continue };
            let index = lookup.map(|mode| {
                (mode, index_of_bucket.remove(&(split.partition.data().to_vec(), split.bucket)).unwrap_or_default())
            });
            jobs.push((split, unit, drop, index));
        }
        if let Some(pb) = &self.progress {
            pb.set_length(jobs.len() as u64);
        }
        let mut rewriter = Rewriter::new(table.io().clone(), table.schema().clone())?;
        // Each bucket compacts once: nothing would read the outputs back decoded. Lookup blocks
        // stay within the table's write-buffer-size.
        rewriter.decoded.set_budget(0);
        let pool = crate::memory::MemoryPool::new(opts.write_buffer_size()? as usize);
        rewriter.blocks =
            crate::lsm::lookup::BlockCache::new(opts.lookup_cache_max_memory_size()? as usize, Some(pool))
                .with_disk(crate::lsm::lookup::LookupDisk::new(opts.lookup_cache_max_disk_size()?));
        let parallelism = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let progress = self.progress.clone();
        let io = table.io().clone();
        type Compacted = (DataSplit, CompactResult, Vec<IndexManifestEntry>, Option<Vec<String>>);
        let results: Vec<Compacted> = stream::iter(jobs)
            .map(|(split, unit, drop, index)| {
                let rewriter = rewriter.clone();
                let progress = progress.clone();
                let io = io.clone();
                async move {
                    let (r, index_changes, dv_base) = match index {
                        None => (
                            rewriter.rewrite(&split.partition, split.bucket, &split.bucket_path, unit, drop).await?,
                            vec![],
                            None,
                        ),
                        Some((mode, entries)) => {
                            let state = DvState {
                                vectors: BucketDeletionVectors::restore(&io, entries)
                                    .await?
                                    .with_bitmap64(mode.bitmap64),
                                cache: Default::default(),
                            };
                            let deeper = split.files.iter().filter(|f| f.level > unit.output_level).cloned().collect();
                            let (r, mut state) = rewriter
                                .rewrite_with_lookup(
                                    &split.partition,
                                    split.bucket,
                                    &split.bucket_path,
                                    unit,
                                    deeper,
                                    state,
                                    mode,
                                )
                                .await?;
                            let dv_base = state.vectors.base_file_names();
                            let changes = state
                                .vectors
                                .write_index(&io, &mut FileNamer::new(), &split.partition, split.bucket)
                                .await?;
                            (r, changes, Some(dv_base))
                        }
                    };
                    if let Some(pb) = progress {
                        pb.inc(1);
                    }
                    Ok::<_, Error>((split, r, index_changes, dv_base))
                }
            })
            .buffer_unordered(parallelism)
            .try_collect()
            .await?;
        let mut report = CompactReport {
            outcome: CommitOutcome::Empty,
            buckets_compacted: 0,
            files_before: 0,
            files_after: 0,
            rows_read: 0,
            bytes_read: 0,
            bytes_written: 0,
            dropped: vec![],
        };
        let mut messages = vec![];
        for (split, r, index_changes, dv_base) in results {
            let mut m = CommitMessage::new(split.partition.clone(), split.bucket, split.total_buckets);
            m.compact_before = r.before;
            m.compact_after = r.after;
            m.index_changes = index_changes;
            if dv_base.is_some() {
                // Its lookups (deletion vectors marked, changelog, retractions dropped) were made
                // against the bucket's files above level 0 as planned: any change there since
                // makes it stale, as for a writer's compaction (CommitMessage::compact_base).
                m.compact_base =
                    Some(split.files.iter().filter(|f| f.level > 0).map(|f| (f.file_name.clone(), f.level)).collect());
            }
            m.dv_base = dv_base;
            m.compact_changelog_files = r.changelog;
            if m.has_compaction() {
                messages.push(m);
            }
        }
        let commit = table.new_commit(&self.commit_user)?;
        let committed = commit.commit(messages.clone()).await;
        report.dropped = commit.take_dropped_compactions();
        match committed {
            Ok(outcome) => {
                report.outcome = outcome;
                // The figures count the buckets that committed (a dropped one deleted its files).
                for m in &messages {
                    if report.dropped.iter().any(|d| d.bucket == m.bucket && d.partition == m.partition) {
                        continue;
                    }
                    report.buckets_compacted += 1;
                    report.files_before += m.compact_before.len();
                    report.files_after += m.compact_after.len();
                    report.rows_read += m.compact_before.iter().map(|f| f.row_count).sum::<i64>();
                    report.bytes_read += m.compact_before.iter().map(|f| f.file_size).sum::<i64>();
                    report.bytes_written += m.compaction_outputs().map(|f| f.file_size).sum::<i64>();
                }
                Ok(report)
            }
            Err(e @ Error::CommitConflict(_)) => {
                // Abandon cleanly: a conflict means the rewritten files were never committed.
                commit.abort(&messages).await;
                Err(e)
            }
            // Any other failure may have happened after the snapshot was published (a lost
            // acknowledgement), so the outputs stay; if unreferenced, orphan cleanup removes them.
            Err(e) => Err(e),
        }
    }
}

/// A partition filter from `key=value` strings, compared with the values' path spelling.
pub(crate) fn partition_filter_from_pairs(table: &Table, pairs: &[String]) -> Result<Option<PartitionFilter>> {
    let pairs = pairs
        .iter()
        .map(|p| {
            let (k, v) =
                p.split_once('=').ok_or_else(|| Error::InvalidInput(format!("--partition {p:?} is not key=value")))?;
            Ok((k.to_string(), v.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    partition_filter(table, &pairs)
}

/// A partition filter from (partition column, value) pairs: a partition passes when it has every
/// value given, compared with the values' path spelling (`dt=2024-01-01`).
pub fn partition_filter(table: &Table, pairs: &[(String, String)]) -> Result<Option<PartitionFilter>> {
    if pairs.is_empty() {
        return Ok(None);
    }
    let keys = &table.schema().partition_keys;
    let default_name = table.schema().core_options().partition_default_name().to_string();
    let mut wanted: Vec<(usize, String)> = vec![];
    for (k, v) in pairs {
        let i = keys.iter().position(|x| x == k.trim()).ok_or_else(|| {
            Error::InvalidInput(format!("{k:?} is not a partition column (the table's are: {})", keys.join(", ")))
        })?;
        wanted.push((i, v.trim().to_string()));
    }
    Ok(Some(Arc::new(move |values: &[crate::spec::Datum]| {
        wanted.iter().all(|(i, v)| crate::spec::paths::partition_value_string(&values[*i], &default_name) == *v)
    })))
}
