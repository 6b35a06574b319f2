//! The physical scan of a shoal table: its splits spread over DataFusion partitions, each
//! partition reading its splits one after another through the merge reader as a stream of
//! Arrow batches (nothing is materialised beyond the reader's per-split merge state).

use std::fmt;
use std::sync::Arc;

use ::datafusion::arrow::datatypes::SchemaRef;
use ::datafusion::common::stats::Precision;
use ::datafusion::common::tree_node::TreeNodeRecursion;
use ::datafusion::common::{internal_err, Result, Statistics};
use ::datafusion::execution::{SendableRecordBatchStream, TaskContext};
use ::datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use ::datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use ::datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricBuilder, MetricsSet};
use ::datafusion::physical_plan::statistics::StatisticsArgs;
use ::datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use ::datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties};
use futures::StreamExt;

use super::df_err;
use crate::read::{read_splits, DataSplit};
use crate::table::Table;

/// Scans splits of one snapshot of a shoal table.
pub struct ShoalScanExec {
    table: Table,
    snapshot_id: Option<i64>,
    /// Table column indices to output (all when None).
    projection: Option<Vec<usize>>,
    schema: SchemaRef,
    /// Splits per output partition.
    partitions: Vec<Vec<DataSplit>>,
    limit: Option<usize>,
    /// Whether the split row counts are the exact number of rows the scan returns.
    exact_rows: bool,
    /// Partitions and files left out by pruning, for EXPLAIN.
    pruned: PruneSummary,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

/// What the planner left out, shown by EXPLAIN.
#[derive(Clone, Copy, Debug, Default)]
pub struct PruneSummary {
    pub splits_before: usize,
    pub splits_after_partition_pruning: usize,
    pub files_before_skipping: usize,
    pub files_skipped: usize,
}

impl ShoalScanExec {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        table: Table,
        snapshot_id: Option<i64>,
        projection: Option<Vec<usize>>,
        schema: SchemaRef,
        splits: Vec<DataSplit>,
        target_partitions: usize,
        limit: Option<usize>,
        exact_rows: bool,
        pruned: PruneSummary,
    ) -> Self {
        // With a limit, read splits in order on one partition so reading stops once it is met;
        // otherwise spread them by size over the partitions (largest first, to the lightest).
        let n = if limit.is_some() { 1 } else { target_partitions.max(1).min(splits.len()).max(1) };
        let mut partitions: Vec<Vec<DataSplit>> = vec![vec![]; n];
        let mut load = vec![0i64; n];
        let mut splits = splits;
        if limit.is_none() {
            splits.sort_by_key(|s| std::cmp::Reverse(s.files.iter().map(|f| f.file_size).sum::<i64>()));
        }
        for s in splits {
            let i = (0..n).min_by_key(|&i| load[i]).unwrap_or(0);
            load[i] += s.files.iter().map(|f| f.file_size).sum::<i64>().max(1);
            partitions[i].push(s);
        }
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema.clone()),
            Partitioning::UnknownPartitioning(n),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        ShoalScanExec {
            table,
            snapshot_id,
            projection,
            schema,
            partitions,
            limit,
            exact_rows,
            pruned,
            properties,
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }

    /// The splits each partition reads.
    pub fn partitions(&self) -> &[Vec<DataSplit>] {
        &self.partitions
    }

    /// Files this scan will open (after pruning).
    pub fn file_count(&self) -> usize {
        self.partitions.iter().flatten().map(|s| s.files.len()).sum()
    }

    pub fn prune_summary(&self) -> PruneSummary {
        self.pruned
    }

    fn stats_of<'a>(&self, splits: impl Iterator<Item = &'a DataSplit>) -> Statistics {
        let (mut rows, mut bytes) = (0usize, 0usize);
        for s in splits {
            rows += s.row_count().max(0) as usize;
            bytes += s.files.iter().map(|f| f.file_size.max(0) as usize).sum::<usize>();
        }
        let mut stats = Statistics::new_unknown(&self.schema);
        let rows = match self.limit {
            Some(l) if l < rows => l,
            _ => rows,
        };
        stats.num_rows =
            if self.exact_rows && self.limit.is_none() { Precision::Exact(rows) } else { Precision::Inexact(rows) };
        stats.total_byte_size = Precision::Inexact(bytes);
        stats
    }
}

impl fmt::Debug for ShoalScanExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ShoalScanExec({})", self.table.location())
    }
}

impl DisplayAs for ShoalScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let splits: usize = self.partitions.iter().map(Vec::len).sum();
        write!(
            f,
            "ShoalScanExec: table={}, snapshot={}, partitions={}, splits={} (of {}), files={} ({} skipped by statistics)",
            self.table.location(),
            self.snapshot_id.map(|s| s.to_string()).unwrap_or_else(|| "none".into()),
            self.partitions.len(),
            splits,
            self.pruned.splits_before,
            self.file_count(),
            self.pruned.files_skipped,
        )?;
        if self.projection.is_some() {
            let names: Vec<&str> = self.schema.fields().iter().map(|f| f.name().as_str()).collect();
            write!(f, ", projection=[{}]", names.join(", "))?;
        }
        if let Some(l) = self.limit {
            write!(f, ", limit={l}")?;
        }
        Ok(())
    }
}

impl ExecutionPlan for ShoalScanExec {
    fn name(&self) -> &str {
        "ShoalScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        if children.is_empty() {
            Ok(self)
        } else {
            internal_err!("ShoalScanExec has no children")
        }
    }

    fn execute(&self, partition: usize, _context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let Some(splits) = self.partitions.get(partition) else {
            return internal_err!("ShoalScanExec has no partition {partition}");
        };
        let files_read = MetricBuilder::new(&self.metrics).counter("files_read", partition);
        let output_rows = MetricBuilder::new(&self.metrics).output_rows(partition);
        let reader = self.table.new_read(self.projection.clone()).map_err(df_err)?;
        // Two splits at a time per partition, their batches interleaved: each is read and
        // decoded on a blocking thread of its own, so while one waits for its bytes or hands over
        // a batch the other decodes; DataFusion's partitions add the rest of the parallelism. (One at a time left
        // the cores idle: the DV read of the orders bench took 42 ms instead of 36.) With a
        // limit, one at a time, so nothing is read past it.
        let splits = splits.clone();
        files_read.add(splits.iter().map(|s| s.files.len()).sum());
        let ahead = if self.limit.is_some() { 1 } else { 2 };
        let mut stream = read_splits(reader, splits, ahead).map(|r| r.map_err(df_err)).boxed();
        if let Some(limit) = self.limit {
            // Exactly `limit` rows; dropping the stream stops the split readers.
            stream = stream
                .scan(limit, |remaining, r| {
                    if *remaining == 0 {
                        return futures::future::ready(None);
                    }
                    futures::future::ready(Some(r.map(|b| {
                        let b = if b.num_rows() > *remaining { b.slice(0, *remaining) } else { b };
                        *remaining -= b.num_rows();
                        b
                    })))
                })
                .boxed();
        }
        let stream = stream.inspect(move |r| {
            if let Ok(b) = r {
                output_rows.add(b.num_rows());
            }
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), stream)))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn statistics_from_inputs(
        &self,
        _input_stats: &[Arc<Statistics>],
        args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        Ok(Arc::new(match args.partition() {
            Some(p) => self.stats_of(self.partitions.get(p).into_iter().flatten()),
            None => self.stats_of(self.partitions.iter().flatten()),
        }))
    }

    #[allow(deprecated)]
    fn partition_statistics(&self, partition: Option<usize>) -> Result<Arc<Statistics>> {
        Ok(Arc::new(match partition {
            Some(p) => self.stats_of(self.partitions.get(p).into_iter().flatten()),
            None => self.stats_of(self.partitions.iter().flatten()),
        }))
    }

    fn fetch(&self) -> Option<usize> {
        self.limit
    }
}
