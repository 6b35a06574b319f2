//! The option keys Paimon knows: a typo in a table's options is refused with the nearest key,
//! not silently ignored.

use std::collections::BTreeMap;

use crate::spec::SpecError;

pub const BUCKET: &str = "bucket";
pub const BUCKET_KEY: &str = "bucket-key";
pub const FILE_FORMAT: &str = "file.format";
pub const FILE_COMPRESSION: &str = "file.compression";
pub const FILE_COMPRESSION_ZSTD_LEVEL: &str = "file.compression.zstd-level";
pub const MANIFEST_FORMAT: &str = "manifest.format";
pub const MANIFEST_COMPRESSION: &str = "manifest.compression";
pub const MANIFEST_TARGET_FILE_SIZE: &str = "manifest.target-file-size";
pub const MANIFEST_MERGE_MIN_COUNT: &str = "manifest.merge-min-count";
pub const MANIFEST_FULL_COMPACTION_SIZE: &str = "manifest.full-compaction-threshold-size";
pub const WRITE_BUFFER_SIZE: &str = "write-buffer-size";
pub const TARGET_FILE_SIZE: &str = "target-file-size";
pub const PAGE_SIZE: &str = "page-size";
pub const MERGE_ENGINE: &str = "merge-engine";
pub const SEQUENCE_FIELD: &str = "sequence.field";
pub const IGNORE_DELETE: &str = "ignore-delete";
pub const STATS_MODE: &str = "metadata.stats-mode";
pub const PARTITION_DEFAULT_NAME: &str = "partition.default-name";
pub const DELETION_VECTORS_ENABLED: &str = "deletion-vectors.enabled";
pub const CHANGELOG_PRODUCER: &str = "changelog-producer";
pub const COMMIT_MAX_RETRIES: &str = "commit.max-retries";
pub const WRITE_ONLY: &str = "write-only";
pub const NUM_SORTED_RUN_COMPACTION_TRIGGER: &str = "num-sorted-run.compaction-trigger";
pub const NUM_SORTED_RUN_STOP_TRIGGER: &str = "num-sorted-run.stop-trigger";
pub const NUM_LEVELS: &str = "num-levels";
pub const SNAPSHOT_NUM_RETAINED_MIN: &str = "snapshot.num-retained.min";
pub const SNAPSHOT_NUM_RETAINED_MAX: &str = "snapshot.num-retained.max";
pub const SNAPSHOT_TIME_RETAINED: &str = "snapshot.time-retained";
pub const SNAPSHOT_EXPIRE_LIMIT: &str = "snapshot.expire.limit";
pub const CHANGELOG_NUM_RETAINED_MIN: &str = "changelog.num-retained.min";
pub const CHANGELOG_NUM_RETAINED_MAX: &str = "changelog.num-retained.max";
pub const CHANGELOG_TIME_RETAINED: &str = "changelog.time-retained";
pub const STREAMING_READ_OVERWRITE: &str = "streaming-read-overwrite";
pub const SCAN_SNAPSHOT_ID: &str = "scan.snapshot-id";
pub const TAG_AUTOMATIC_CREATION: &str = "tag.automatic-creation";
pub const TAG_CREATION_PERIOD: &str = "tag.creation-period";
pub const TAG_CREATION_DELAY: &str = "tag.creation-delay";
pub const TAG_PERIOD_FORMATTER: &str = "tag.period-formatter";
pub const TAG_NUM_RETAINED_MAX: &str = "tag.num-retained-max";
pub const TAG_DEFAULT_TIME_RETAINED: &str = "tag.default-time-retained";
pub const TAG_AUTOMATIC_COMPLETION: &str = "tag.automatic-completion";
pub const SINK_WATERMARK_TIME_ZONE: &str = "sink.watermark-time-zone";
pub const CONSUMER_EXPIRATION_TIME: &str = "consumer.expiration-time";
pub const SCAN_TAG_NAME: &str = "scan.tag-name";
pub const SCAN_TIMESTAMP_MILLIS: &str = "scan.timestamp-millis";
pub const PATH: &str = "path";
pub const SCAN_MODE: &str = "scan.mode";
pub const CONSUMER_ID: &str = "consumer-id";
pub const CONSUMER_MODE: &str = "consumer.mode";
pub const CONSUMER_IGNORE_PROGRESS: &str = "consumer.ignore-progress";
pub const CONTINUOUS_DISCOVERY_INTERVAL: &str = "continuous.discovery-interval";
pub const INCREMENTAL_BETWEEN: &str = "incremental-between";
pub const INCREMENTAL_BETWEEN_SCAN_MODE: &str = "incremental-between-scan-mode";

/// Keys Paimon 0.9 knows that shoal accepts in a table's options (stored verbatim; the ones
/// shoal acts on have typed getters below). Families with a per-field or per-format suffix are
/// matched by prefix in [`KNOWN_PREFIXES`].
const KNOWN_KEYS: &[&str] = &[
    BUCKET,
    BUCKET_KEY,
    FILE_FORMAT,
    FILE_COMPRESSION,
    FILE_COMPRESSION_ZSTD_LEVEL,
    MANIFEST_FORMAT,
    MANIFEST_COMPRESSION,
    MANIFEST_TARGET_FILE_SIZE,
    MANIFEST_MERGE_MIN_COUNT,
    MANIFEST_FULL_COMPACTION_SIZE,
    WRITE_BUFFER_SIZE,
    TARGET_FILE_SIZE,
    PAGE_SIZE,
    MERGE_ENGINE,
    SEQUENCE_FIELD,
    IGNORE_DELETE,
    STATS_MODE,
    PARTITION_DEFAULT_NAME,
    DELETION_VECTORS_ENABLED,
    CHANGELOG_PRODUCER,
    COMMIT_MAX_RETRIES,
    WRITE_ONLY,
    NUM_SORTED_RUN_COMPACTION_TRIGGER,
    NUM_SORTED_RUN_STOP_TRIGGER,
    NUM_LEVELS,
    SNAPSHOT_NUM_RETAINED_MIN,
    SNAPSHOT_NUM_RETAINED_MAX,
    SNAPSHOT_TIME_RETAINED,
    SNAPSHOT_EXPIRE_LIMIT,
    SCAN_TAG_NAME,
    SCAN_TIMESTAMP_MILLIS,
    PATH,
    "write-buffer-spillable",
    "write-buffer-spill.max-disk-size",
    "sort-spill-threshold",
    "sort-spill-buffer-size",
    "local-sort.max-num-file-handles",
    "compaction.max-size-amplification-percent",
    "compaction.size-ratio",
    "compaction.optimization-interval",
    "compaction.min.file-num",
    "compaction.max.file-num",
    "full-compaction.delta-commits",
    "changelog-producer.row-deduplicate",
    "partial-update.remove-record-on-delete",
    "partial-update.ignore-delete",
    "first-row.ignore-delete",
    "deduplicate.ignore-delete",
    "dynamic-bucket.target-row-num",
    "postpone.default-bucket-num",
    "postpone.target-row-num-per-bucket",
    "postpone.target-size-per-bucket",
    "dynamic-bucket.initial-buckets",
    "dynamic-bucket.assigner-parallelism",
    "dynamic-partition-overwrite",
    "commit.force-compact",
    "commit.force-create-snapshot",
    "commit.callbacks",
    "commit.user-prefix",
    "commit.timeout",
    "snapshot.expire.limit",
    "snapshot.expire.execution-mode",
    "snapshot.clean-empty-directories",
    "consumer-id",
    "consumer.expiration-time",
    "consumer.mode",
    "consumer.ignore-progress",
    "changelog.num-retained.min",
    "changelog.num-retained.max",
    "changelog.time-retained",
    "manifest.delete-file-drop-stats",
    "metadata.stats-mode",
    "metadata.stats-dense-store",
    "file.block-size",
    "file-index.read.enabled",
    "file-index.in-manifest-threshold",
    "partition.expiration-time",
    "partition.expiration-check-interval",
    "partition.timestamp-formatter",
    "partition.timestamp-pattern",
    "partition.legacy-name",
    "partition.mark-done-action",
    "streaming-read-overwrite",
    "streaming-read-mode",
    "read.batch-size",
    "write-manifest-cache",
    "branch",
    "data-file.path-directory",
    "data-file.prefix",
    "changelog-file.prefix",
    "file.suffix.include.compression",
    "deletion-vectors.index-file.target-size",
    "deletion-vectors.bitmap64",
    "lookup-wait",
    "lookup.cache-max-disk-size",
    "lookup.cache-max-memory-size",
    "lookup.cache-file-retention",
    "lookup.hash-load-factor",
    "cache-page-size",
    "record-level.expire-time",
    "record-level.time-field",
    "incremental-between",
    "incremental-between-timestamp",
    "incremental-between-scan-mode",
    "streaming.read.snapshot.delay",
    "sink.watermark-time-zone",
    "sequence.field.sort-order",
    "local-merge-buffer-size",
    "cross-partition-upsert.index-ttl",
    "cross-partition-upsert.bootstrap-parallelism",
    "primary-key",
    "partition",
    "type",
    "owner",
    "comment",
    "async-file-write",
    "spill-compression",
    "spill-compression.zstd-level",
    "target-file-size",
    "zorder.var-length-contribution",
    "num-sorted-run.stop-trigger",
    "tag.automatic-creation",
    "tag.creation-period",
    "tag.creation-delay",
    "tag.period-formatter",
    "tag.num-retained-max",
    "tag.default-time-retained",
    "tag.automatic-completion",
    "tag.callback.enabled",
    "snapshot.watermark-idle-timeout",
    "fields.default-aggregate-function",
    "manifest.compression",
    "data-file.thin-mode",
    "row-tracking.enabled",
];

const KNOWN_PREFIXES: &[&str] = &[
    "fields.",
    "parquet.",
    "orc.",
    "avro.",
    "file-index.",
    "scan.",
    "sink.",
    "lookup.",
    "log.",
    "tag.",
    "snapshot.",
    "changelog.",
    "consumer.",
    "compaction.",
    "format-table.",
    "file.compression.per.level",
    "file.format.per.level",
    "metadata.stats-mode.per.level",
    "rowkind.",
    "continuous.",
    "streaming-read",
    "source.",
    "partition.",
    "end-input.",
    "global-index.",
    "cross-partition-upsert.",
    "write-buffer-for-append",
    "dynamic-bucket.",
    "deletion-vector",
    "clustering.",
];

/// Checks that every key is one Paimon knows, so a typo does not silently do nothing.
pub fn validate_keys(options: &BTreeMap<String, String>) -> Result<(), SpecError> {
    for (k, v) in options {
        let known = KNOWN_KEYS.contains(&k.as_str()) || KNOWN_PREFIXES.iter().any(|p| k.starts_with(p));
        if !known {
            let hint = KNOWN_KEYS
                .iter()
                .find(|known| edit_distance(known, k) <= 2)
                .map(|s| format!(" (did you mean {s:?}?)"))
                .unwrap_or_default();
            return Err(SpecError::InvalidOption {
                key: k.clone(),
                value: v.clone(),
                message: format!("unknown option{hint}"),
            });
        }
    }
    Ok(())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push((prev[j] + (ca != *cb) as usize).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}
