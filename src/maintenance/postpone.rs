//! The compaction of a postpone-bucket table (`bucket = -2`, Paimon 1.x): the rows waiting in
//! each partition's `bucket-postpone` files move into real buckets, as Paimon's postpone
//! compaction (Flink's CompactAction with PostponeBucketCompactSplitSource,
//! PostponeBucketCompactOperator and RemovePostponeBucketFilesOperator) does:
//!
//! - the partition's bucket count is the `totalBuckets` its real buckets already have; a
//!   partition without real buckets gets `postpone.default-bucket-num` if set, otherwise
//!   ceil(pending rows / `postpone.target-row-num-per-bucket`) if that is set, otherwise
//!   ceil(pending file bytes / `postpone.target-size-per-bucket`, default 1 gb), at least 1
//!   (PostponeUtils.createPostponeBucketNumResolver);
//! - the pending files are replayed in creation-time order (a stable sort of the scan order, so
//!   each writer's files keep their order), every event with its row kind, into an ordinary
//!   writer of the table with `bucket` set to that count and `write-only = false`
//!   (PostponeUtils.tableForPostponeRewrite): keys are hashed to buckets as fixed buckets do
//!   (the bucket key, by default the trimmed primary key), sequence numbers continue after each
//!   real bucket's highest, the merge engine merges, and the writer compacts what its strategy
//!   picks;
//! - one COMPACT snapshot commits the writer's files as compaction output (a new file a
//!   compaction of the same run consumed is dropped: PostponeBucketCommittableRewriter /
//!   BucketFiles) with `totalBuckets` = the partition's count, and deletes the pending files
//!   (bucket -2, `totalBuckets` -2). It stands or falls whole
//!   ([`crate::commit::TableCommit::with_atomic_compactions`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::commit::CommitOutcome;
use crate::error::{Error, Result};
use crate::read::scan::PartitionFilter;
use crate::read::{DataSplit, SplitReader};
use crate::spec::paths::{partition_path, POSTPONE_BUCKET};
use crate::spec::{DataFileMeta, TableSchema};
use crate::store::SchemaManager;
use crate::table::Table;
use crate::write::{CommitMessage, TableWrite};

/// What a postpone compaction moved.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct PostponeReport {
    pub outcome: Option<CommitOutcome>,
    /// Partitions whose pending rows moved, with the bucket count each got.
    pub partitions: Vec<(crate::spec::BinaryRow, i32)>,
    /// Pending files deleted and the rows and bytes they held.
    pub files: usize,
    pub rows: i64,
    pub bytes: i64,
    /// Files written into real buckets.
    pub files_written: usize,
    pub bytes_written: i64,
}

/// Whether the table is a postpone-bucket table.
pub(super) fn is_postpone_table(schema: &TableSchema) -> Result<bool> {
    Ok(schema.core_options().bucket()? == POSTPONE_BUCKET)
}

/// The bucket count of a partition without real buckets (see the module documentation).
fn new_partition_buckets(schema: &TableSchema, pending: &[DataFileMeta]) -> Result<i32> {
    let opts = schema.core_options();
    if let Some(n) = opts.postpone_default_bucket_num()? {
        return Ok(n);
    }
    let (value, per_bucket) = match opts.postpone_target_row_num_per_bucket()? {
        Some(t) => (pending.iter().map(|f| f.row_count.max(0) as u64).sum::<u64>(), t as u64),
        None => {
            (pending.iter().map(|f| f.file_size.max(0) as u64).sum::<u64>(), opts.postpone_target_size_per_bucket()?)
        }
    };
    let n = if value == 0 { 1 } else { (value - 1) / per_bucket + 1 };
    i32::try_from(n).map_err(|_| {
        Error::InvalidInput(format!(
            "the postpone compaction would give a partition {n} buckets, more than a bucket count can be: raise \
             postpone.target-row-num-per-bucket or postpone.target-size-per-bucket"
        ))
    })
}

/// Moves the pending rows of a postpone-bucket table (within `partition_filter`) into real
/// buckets in one COMPACT snapshot committed as `commit_user`. Nothing pending: an empty report.
pub(super) async fn compact_postpone(
    table: &Table,
    commit_user: &str,
    partition_filter: Option<&PartitionFilter>,
) -> Result<PostponeReport> {
    let schema = table.schema().clone();
    if !is_postpone_table(&schema)? {
        return Err(Error::InvalidInput(format!("{} is not a postpone-bucket table (bucket = -2)", table.location())));
    }
    let mut scan = table.new_scan().with_buckets(vec![POSTPONE_BUCKET]);
    if let Some(f) = partition_filter {
        scan = scan.with_partition_filter(f.clone());
    }
    let plan = scan.plan().await?;
    let mut report = PostponeReport::default();
    let Some(snapshot) = plan.snapshot else { return Ok(report) };
    let pending: Vec<DataSplit> = plan.splits.into_iter().filter(|s| !s.files.is_empty()).collect();
    if pending.is_empty() {
        return Ok(report);
    }

    // The bucket count each partition's real buckets have, in the same snapshot.
    let mut real = table.new_scan().with_snapshot(snapshot.id);
    if let Some(f) = partition_filter {
        real = real.with_partition_filter(f.clone());
    }
    let mut known: HashMap<Vec<u8>, i32> = HashMap::new();
    for split in real.plan().await?.splits {
        if split.bucket < 0 || split.total_buckets <= 0 {
            continue;
        }
        let count = known.entry(split.partition.data().to_vec()).or_insert(split.total_buckets);
        if *count != split.total_buckets {
            return Err(Error::InvalidInput(format!(
                "a partition of {} has buckets of two bucket counts, {} and {}: rescale it before compacting",
                table.location(),
                count,
                split.total_buckets
            )));
        }
    }
    let mut by_count: BTreeMap<i32, Vec<DataSplit>> = BTreeMap::new();
    for split in pending {
        let n = match known.get(split.partition.data()) {
            Some(n) => *n,
            None => new_partition_buckets(&schema, &split.files)?,
        };
        report.partitions.push((split.partition.clone(), n));
        by_count.entry(n).or_default().push(split);
    }

    let mut messages: Vec<CommitMessage> = vec![];
    let io = table.io().clone();
    let all_columns: Vec<usize> = (0..schema.fields.len()).collect();
    let reader = SplitReader::new(
        io.clone(),
        SchemaManager::new(io.clone()),
        schema.clone(),
        all_columns,
        tokio::runtime::Handle::current(),
    )?;
    for (n, splits) in by_count {
        let mut options = schema.options.clone();
        options.insert("bucket".into(), n.to_string());
        options.insert("write-only".into(), "false".into());
        let real_schema = Arc::new(TableSchema { options, ..(*schema).clone() });
        let mut write = TableWrite::new(io.clone(), real_schema).await?;
        for split in &splits {
            // Replayed in the order written: by creation time, the scan's order among equals.
            let mut files = split.files.clone();
            files.sort_by_key(|f| f.creation_time.unwrap_or(i64::MIN));
            for file in files {
                let (r, s, f) = (reader.clone(), split.clone(), file.clone());
                let batches = tokio::task::spawn_blocking(move || r.read_file_raw(&s, &f))
                    .await
                    .map_err(Error::join("reading a postponed file"))??;
                for (kinds, batch) in batches {
                    write.write_with_kinds(&batch, Some(&kinds)).await?;
                }
                report.files += 1;
                report.rows += file.row_count;
                report.bytes += file.file_size;
            }
            let mut removal = CommitMessage::new(split.partition.clone(), POSTPONE_BUCKET, split.total_buckets);
            removal.compact_before = split.files.clone();
            messages.push(removal);
        }
        for m in write.prepare_commit().await? {
            messages.push(as_compaction(&schema, &io, m).await?);
        }
    }
    for m in &messages {
        report.files_written += m.compaction_outputs().count();
        report.bytes_written += m.compaction_outputs().map(|f| f.file_size).sum::<i64>();
    }
    let commit = table.new_commit(commit_user)?.with_atomic_compactions();
    report.outcome = Some(commit.commit_compactions(None, messages).await?);
    Ok(report)
}

/// A real bucket's message of the rewrite as a compaction: its new files become compaction
/// output, except those a compaction of the same run already replaced (deleted here, never
/// committed), and its input changelog rides with the compaction.
async fn as_compaction(schema: &TableSchema, io: &crate::io::FileIO, mut m: CommitMessage) -> Result<CommitMessage> {
    let mut new_files = std::mem::take(&mut m.new_files);
    let mut before = vec![];
    let mut gone = vec![];
    for f in std::mem::take(&mut m.compact_before) {
        match new_files.iter().position(|n| n.file_name == f.file_name) {
            Some(i) => gone.push(new_files.remove(i)),
            None => before.push(f),
        }
    }
    let opts = schema.core_options();
    let path =
        partition_path(&m.partition, &schema.partition_keys, &schema.partition_types(), opts.partition_default_name())?;
    let dir = crate::spec::paths::bucket_dir(&path, m.bucket);
    for f in gone.iter().filter(|g| !m.compact_after.iter().any(|a| a.file_name == g.file_name)) {
        let _ = io.delete(&format!("{dir}/{}", f.file_name)).await;
    }
    new_files.append(&mut m.compact_after);
    m.compact_before = before;
    m.compact_after = new_files;
    m.compact_changelog_files.splice(0..0, std::mem::take(&mut m.changelog_files));
    // The writer's compactions were planned on files it wrote in this run; nothing above level
    // 0 of another commit is involved beyond what the commit's own checks see.
    Ok(m)
}
