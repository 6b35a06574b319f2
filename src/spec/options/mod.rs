//! Table options, with Apache Paimon's option names and defaults kept verbatim so Paimon's
//! documentation applies to shoal. Options live as strings in the schema file; this module gives
//! typed, validated access.

use std::collections::BTreeMap;
use std::time::Duration;

use super::SpecError;

mod keys;
mod values;

pub use keys::*;
pub use values::{parse_duration, parse_memory_size, TimeZoneId};

/// shoal's default `sort-spill-threshold` (Paimon has none): a merge reads at most this many
/// sorted runs at once, each costing a decoded batch and a fetched row group. Above what the
/// writers' own merges reach (`num-sorted-run.stop-trigger` runs of level 0 plus the levels),
/// so only merges of a long write-only backlog spill.
pub const DEFAULT_SORT_SPILL_THRESHOLD: usize = 16;

/// `changelog-producer`: which changelog a table keeps for streaming readers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangelogProducer {
    /// No changelog files: streaming readers read the APPEND snapshots' new data files.
    None,
    /// The writer's input rows, with their row kinds, are written as changelog files.
    Input,
    /// Produced by full compactions (Paimon); shoal does not implement it.
    FullCompaction,
    /// Produced by lookups at compaction (Paimon); shoal does not implement it.
    Lookup,
}

/// `consumer.mode` (Paimon's `ConsumerMode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsumerMode {
    ExactlyOnce,
    AtLeastOnce,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MergeEngine {
    Deduplicate,
    PartialUpdate,
    Aggregation,
    FirstRow,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatsMode {
    None,
    Counts,
    Truncate(usize),
    Full,
}

/// `tag.automatic-creation` (Paimon's `TagCreationMode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TagCreationMode {
    /// `none` (default): no automatic tags.
    None,
    /// `process-time`: by each snapshot's commit time (`timeMillis`) in the local time zone.
    ProcessTime,
    /// `watermark`: by each snapshot's `watermark` in `sink.watermark-time-zone`.
    Watermark,
    /// `batch`: after each batch write, a tag `batch-write-<yyyy-MM-dd>` on its snapshot.
    Batch,
}

/// `tag.creation-period` (Paimon's `TagCreationPeriod`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TagCreationPeriod {
    Daily,
    Hourly,
    TwoHours,
}

impl TagCreationPeriod {
    /// The length of one period.
    pub fn length(self) -> Duration {
        Duration::from_secs(match self {
            TagCreationPeriod::Daily => 86_400,
            TagCreationPeriod::Hourly => 3_600,
            TagCreationPeriod::TwoHours => 7_200,
        })
    }
}

/// `tag.period-formatter` (Paimon's `TagPeriodFormatter`): `with_dashes` (`2024-01-02`,
/// `2024-01-02 10`) or `without_dashes` (`20240102`, `20240102 10`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TagPeriodFormatter {
    WithDashes,
    WithoutDashes,
}

/// Typed view over a table's options.
#[derive(Clone, Debug, Default)]
pub struct CoreOptions {
    map: BTreeMap<String, String>,
}

impl CoreOptions {
    pub fn new(map: BTreeMap<String, String>) -> Self {
        CoreOptions { map }
    }
    pub fn map(&self) -> &BTreeMap<String, String> {
        &self.map
    }
    pub fn get(&self, key: &str) -> Option<&str> {
        self.map.get(key).map(String::as_str)
    }

    fn invalid(&self, key: &str, message: &str) -> SpecError {
        SpecError::InvalidOption { key: key.into(), value: self.get(key).unwrap_or("").into(), message: message.into() }
    }

    fn int(&self, key: &str, default: i64) -> Result<i64, SpecError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.trim().parse().map_err(|_| self.invalid(key, "expected an integer")),
        }
    }

    /// A boolean option (`true`/`false`, any case).
    pub fn bool_option(&self, key: &str, default: bool) -> Result<bool, SpecError> {
        self.bool(key, default)
    }

    fn bool(&self, key: &str, default: bool) -> Result<bool, SpecError> {
        match self.get(key).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if v == "true" => Ok(true),
            Some(v) if v == "false" => Ok(false),
            Some(_) => Err(self.invalid(key, "expected true or false")),
        }
    }

    fn memory(&self, key: &str, default: u64) -> Result<u64, SpecError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => parse_memory_size(v).ok_or_else(|| self.invalid(key, "expected a memory size such as 256 mb")),
        }
    }

    pub fn duration(&self, key: &str, default: Duration) -> Result<Duration, SpecError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => parse_duration(v).ok_or_else(|| self.invalid(key, "expected a duration such as 1 h")),
        }
    }

    /// `bucket`: -1 (Paimon's default: dynamic bucket for primary-key tables, unaware for append).
    pub fn bucket(&self) -> Result<i32, SpecError> {
        let b = self.int(BUCKET, -1)?;
        if b == 0 || b < -2 || b > i32::MAX as i64 {
            return Err(
                self.invalid(BUCKET, "must be -1 (dynamic/unaware), -2 (postpone) or a positive number of buckets")
            );
        }
        Ok(b as i32)
    }

    /// `dynamic-bucket.target-row-num`: keys per bucket before a dynamic-bucket table opens a
    /// new one (default 2,000,000, as Paimon).
    pub fn dynamic_bucket_target_row_num(&self) -> Result<i64, SpecError> {
        let n = self.int("dynamic-bucket.target-row-num", 2_000_000)?;
        if n < 1 {
            return Err(self.invalid("dynamic-bucket.target-row-num", "must be at least 1"));
        }
        Ok(n)
    }

    /// `postpone.default-bucket-num`: the bucket count a postpone-bucket table's compaction gives
    /// a partition without real buckets yet (no default in Paimon 1.x master: the count is then
    /// estimated, see [`Self::postpone_target_row_num_per_bucket`]).
    pub fn postpone_default_bucket_num(&self) -> Result<Option<i32>, SpecError> {
        const KEY: &str = "postpone.default-bucket-num";
        match self.get(KEY) {
            None => Ok(None),
            Some(_) => {
                let n = self.int(KEY, 1)?;
                if n < 1 || n > i32::MAX as i64 {
                    return Err(self.invalid(KEY, "must be greater than 0"));
                }
                Ok(Some(n as i32))
            }
        }
    }

    /// `postpone.target-row-num-per-bucket`: without a default bucket number, a new partition
    /// gets ceil(pending rows / this) buckets (it takes precedence over the target size).
    pub fn postpone_target_row_num_per_bucket(&self) -> Result<Option<i64>, SpecError> {
        const KEY: &str = "postpone.target-row-num-per-bucket";
        match self.get(KEY) {
            None => Ok(None),
            Some(_) => {
                let n = self.int(KEY, 1)?;
                if n < 1 {
                    return Err(self.invalid(KEY, "must be greater than 0"));
                }
                Ok(Some(n))
            }
        }
    }

    /// `postpone.target-size-per-bucket` (default 1 gb): otherwise a new partition gets
    /// ceil(pending file bytes / this) buckets.
    pub fn postpone_target_size_per_bucket(&self) -> Result<u64, SpecError> {
        const KEY: &str = "postpone.target-size-per-bucket";
        let n = self.memory(KEY, 1 << 30)?;
        if n == 0 {
            return Err(self.invalid(KEY, "must be greater than 0"));
        }
        Ok(n)
    }

    pub fn bucket_key(&self) -> Option<Vec<String>> {
        self.get(BUCKET_KEY).map(split_list).filter(|v| !v.is_empty())
    }

    pub fn file_format(&self) -> Result<String, SpecError> {
        let f = self.get(FILE_FORMAT).unwrap_or("parquet").to_ascii_lowercase();
        if f != "parquet" {
            return Err(self.invalid(FILE_FORMAT, "shoal reads and writes parquet data files only"));
        }
        Ok(f)
    }

    pub fn file_compression(&self) -> String {
        self.get(FILE_COMPRESSION).unwrap_or("zstd").to_ascii_lowercase()
    }

    pub fn zstd_level(&self) -> Result<i32, SpecError> {
        Ok(self.int(FILE_COMPRESSION_ZSTD_LEVEL, 1)? as i32)
    }

    pub fn manifest_format(&self) -> Result<String, SpecError> {
        let f = self.get(MANIFEST_FORMAT).unwrap_or("avro").to_ascii_lowercase();
        if f != "avro" {
            return Err(self.invalid(MANIFEST_FORMAT, "shoal reads and writes avro manifests only"));
        }
        Ok(f)
    }

    pub fn manifest_compression(&self) -> String {
        self.get(MANIFEST_COMPRESSION).unwrap_or("zstd").to_ascii_lowercase()
    }

    pub fn manifest_target_file_size(&self) -> Result<u64, SpecError> {
        self.memory(MANIFEST_TARGET_FILE_SIZE, 8 << 20)
    }

    pub fn manifest_merge_min_count(&self) -> Result<usize, SpecError> {
        Ok(self.int(MANIFEST_MERGE_MIN_COUNT, 30)?.max(1) as usize)
    }

    pub fn manifest_full_compaction_size(&self) -> Result<u64, SpecError> {
        self.memory(MANIFEST_FULL_COMPACTION_SIZE, 16 << 20)
    }

    pub fn write_buffer_size(&self) -> Result<u64, SpecError> {
        self.memory(WRITE_BUFFER_SIZE, 256 << 20)
    }

    /// `write-buffer-spillable`: whether full write buffers spill sorted runs to local disk.
    /// Paimon's default: on for object storage, and where `target-file-size` exceeds
    /// `write-buffer-size` (a flushed buffer would make a file smaller than the target).
    pub fn write_buffer_spillable(&self, object_storage: bool) -> Result<bool, SpecError> {
        let default = object_storage || self.target_file_size()? > self.write_buffer_size()?;
        self.bool("write-buffer-spillable", default)
    }

    /// `local-sort.max-num-file-handles`: how many spilled runs are merged at once (128).
    pub fn local_sort_max_num_file_handles(&self) -> Result<usize, SpecError> {
        Ok(self.int("local-sort.max-num-file-handles", 128)?.max(2) as usize)
    }

    /// `sort-spill-threshold`: the most sorted runs a merge (read or compaction) reads at once;
    /// past it, the smallest runs are first merged into runs on local disk. Paimon has no
    /// default (no spill, so memory grows with the runs); shoal's is
    /// [`DEFAULT_SORT_SPILL_THRESHOLD`], so a merge of any number of runs stays bounded.
    pub fn sort_spill_threshold(&self) -> Result<usize, SpecError> {
        Ok(self.int("sort-spill-threshold", DEFAULT_SORT_SPILL_THRESHOLD as i64)?.max(2) as usize)
    }

    /// `lookup.cache-max-memory-size`: the bound of decoded lookup blocks (Paimon: 256 MB).
    pub fn lookup_cache_max_memory_size(&self) -> Result<u64, SpecError> {
        self.memory("lookup.cache-max-memory-size", 256 << 20)
    }

    /// `deletion-vectors.bitmap64` (Paimon 1.x): write deletion vectors as 64-bit bitmaps.
    pub fn deletion_vectors_bitmap64(&self) -> Result<bool, SpecError> {
        self.bool("deletion-vectors.bitmap64", false)
    }

    /// `lookup.cache-max-disk-size`: the local disk a writer's lookup indexes may take (Paimon's
    /// default: unlimited).
    pub fn lookup_cache_max_disk_size(&self) -> Result<u64, SpecError> {
        self.memory("lookup.cache-max-disk-size", u64::MAX)
    }

    /// `target-file-size`: 128 MB (Paimon 0.9's default for primary-key tables).
    pub fn target_file_size(&self) -> Result<u64, SpecError> {
        self.memory(TARGET_FILE_SIZE, 128 << 20)
    }

    pub fn page_size(&self) -> Result<u64, SpecError> {
        self.memory(PAGE_SIZE, 64 << 10)
    }

    pub fn merge_engine(&self) -> Result<MergeEngine, SpecError> {
        match self.get(MERGE_ENGINE).unwrap_or("deduplicate").to_ascii_lowercase().as_str() {
            "deduplicate" => Ok(MergeEngine::Deduplicate),
            "partial-update" => Ok(MergeEngine::PartialUpdate),
            "aggregation" => Ok(MergeEngine::Aggregation),
            "first-row" => Ok(MergeEngine::FirstRow),
            _ => Err(self.invalid(MERGE_ENGINE, "expected deduplicate, partial-update, aggregation or first-row")),
        }
    }

    pub fn sequence_fields(&self) -> Vec<String> {
        self.get(SEQUENCE_FIELD).map(split_list).unwrap_or_default()
    }

    pub fn ignore_delete(&self) -> Result<bool, SpecError> {
        let any =
            ["ignore-delete", "deduplicate.ignore-delete", "partial-update.ignore-delete", "first-row.ignore-delete"];
        for k in any {
            if self.bool(k, false)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    pub fn stats_mode(&self) -> Result<StatsMode, SpecError> {
        let v = self.get(STATS_MODE).unwrap_or("truncate(16)").trim().to_ascii_lowercase();
        match v.as_str() {
            "none" => Ok(StatsMode::None),
            "counts" => Ok(StatsMode::Counts),
            "full" => Ok(StatsMode::Full),
            t if t.starts_with("truncate(") && t.ends_with(')') => t[9..t.len() - 1]
                .trim()
                .parse()
                .map(StatsMode::Truncate)
                .map_err(|_| self.invalid(STATS_MODE, "expected truncate(N)")),
            _ => Err(self.invalid(STATS_MODE, "expected none, counts, truncate(N) or full")),
        }
    }

    pub fn partition_default_name(&self) -> &str {
        self.get(PARTITION_DEFAULT_NAME).unwrap_or("__DEFAULT_PARTITION__")
    }

    pub fn deletion_vectors_enabled(&self) -> Result<bool, SpecError> {
        self.bool(DELETION_VECTORS_ENABLED, false)
    }

    pub fn changelog_producer(&self) -> Result<ChangelogProducer, SpecError> {
        match self.get(CHANGELOG_PRODUCER).unwrap_or("none").trim().to_ascii_lowercase().as_str() {
            "none" => Ok(ChangelogProducer::None),
            "input" => Ok(ChangelogProducer::Input),
            "full-compaction" => Ok(ChangelogProducer::FullCompaction),
            "lookup" => Ok(ChangelogProducer::Lookup),
            _ => Err(self.invalid(CHANGELOG_PRODUCER, "expected none, input, full-compaction or lookup")),
        }
    }

    /// `changelog-producer.row-deduplicate` (default false): no -U/+U pair for an unchanged row.
    pub fn changelog_row_deduplicate(&self) -> Result<bool, SpecError> {
        self.bool("changelog-producer.row-deduplicate", false)
    }

    /// `scan.mode` (Paimon's StartupMode), lower-cased; `default` when unset.
    pub fn scan_mode(&self) -> Result<String, SpecError> {
        let m = self.get(SCAN_MODE).unwrap_or("default").trim().to_ascii_lowercase();
        const MODES: &[&str] = &[
            "default",
            "latest-full",
            "full",
            "latest",
            "from-snapshot",
            "from-snapshot-full",
            "from-timestamp",
            "compacted-full",
            "incremental",
        ];
        if !MODES.contains(&m.as_str()) {
            return Err(self.invalid(
                SCAN_MODE,
                "expected default, latest-full, latest, from-snapshot, from-snapshot-full, from-timestamp or compacted-full",
            ));
        }
        Ok(m)
    }

    pub fn consumer_id(&self) -> Option<&str> {
        self.get(CONSUMER_ID).map(str::trim).filter(|s| !s.is_empty())
    }

    pub fn consumer_mode(&self) -> Result<ConsumerMode, SpecError> {
        match self.get(CONSUMER_MODE).unwrap_or("exactly-once").trim().to_ascii_lowercase().as_str() {
            "exactly-once" => Ok(ConsumerMode::ExactlyOnce),
            "at-least-once" => Ok(ConsumerMode::AtLeastOnce),
            _ => Err(self.invalid(CONSUMER_MODE, "expected exactly-once or at-least-once")),
        }
    }

    pub fn consumer_ignore_progress(&self) -> Result<bool, SpecError> {
        self.bool(CONSUMER_IGNORE_PROGRESS, false)
    }

    /// `continuous.discovery-interval`: how often a streaming reader looks for new snapshots (10 s).
    pub fn continuous_discovery_interval(&self) -> Result<Duration, SpecError> {
        self.duration(CONTINUOUS_DISCOVERY_INTERVAL, Duration::from_secs(10))
    }

    /// `incremental-between`: "START,END" (snapshot ids or tag names).
    pub fn incremental_between(&self) -> Result<Option<(String, String)>, SpecError> {
        let Some(v) = self.get(INCREMENTAL_BETWEEN) else { return Ok(None) };
        let parts: Vec<&str> = v.split(',').map(str::trim).collect();
        match parts.as_slice() {
            [a, b] if !a.is_empty() && !b.is_empty() => Ok(Some((a.to_string(), b.to_string()))),
            _ => Err(self.invalid(INCREMENTAL_BETWEEN, "expected START,END (two snapshot ids or two tag names)")),
        }
    }

    /// `incremental-between-scan-mode`: auto (changelog when the table has a changelog
    /// producer, else delta), delta or changelog.
    pub fn incremental_between_scan_mode(&self) -> Result<String, SpecError> {
        let m = self.get(INCREMENTAL_BETWEEN_SCAN_MODE).unwrap_or("auto").trim().to_ascii_lowercase();
        if !matches!(m.as_str(), "auto" | "delta" | "changelog") {
            return Err(self.invalid(INCREMENTAL_BETWEEN_SCAN_MODE, "expected auto, delta or changelog"));
        }
        Ok(m)
    }

    pub fn commit_max_retries(&self) -> Result<usize, SpecError> {
        Ok(self.int(COMMIT_MAX_RETRIES, 10)?.max(0) as usize)
    }

    pub fn write_only(&self) -> Result<bool, SpecError> {
        self.bool(WRITE_ONLY, false)
    }

    /// `full-compaction.delta-commits`: a full compaction after every this many commits.
    pub fn full_compaction_delta_commits(&self) -> Result<Option<u64>, SpecError> {
        match self.get("full-compaction.delta-commits") {
            None => Ok(None),
            Some(_) => {
                let n = self.int("full-compaction.delta-commits", 1)?;
                if n < 1 {
                    return Err(self.invalid("full-compaction.delta-commits", "expected a positive number of commits"));
                }
                Ok(Some(n as u64))
            }
        }
    }

    pub fn scan_snapshot_id(&self) -> Result<Option<i64>, SpecError> {
        match self.get(SCAN_SNAPSHOT_ID) {
            None => Ok(None),
            Some(_) => Ok(Some(self.int(SCAN_SNAPSHOT_ID, 0)?)),
        }
    }

    pub fn scan_tag_name(&self) -> Option<&str> {
        self.get(SCAN_TAG_NAME)
    }

    pub fn scan_timestamp_millis(&self) -> Result<Option<i64>, SpecError> {
        match self.get(SCAN_TIMESTAMP_MILLIS) {
            None => Ok(None),
            Some(_) => Ok(Some(self.int(SCAN_TIMESTAMP_MILLIS, 0)?)),
        }
    }

    /// `snapshot.num-retained.min`: 10, at least 1.
    pub fn snapshot_num_retained_min(&self) -> Result<i64, SpecError> {
        let v = self.int(SNAPSHOT_NUM_RETAINED_MIN, 10)?;
        if v < 1 {
            return Err(self.invalid(SNAPSHOT_NUM_RETAINED_MIN, "must be at least 1"));
        }
        Ok(v)
    }

    /// `snapshot.num-retained.max`: Integer.MAX_VALUE (Paimon 0.9), at least the minimum.
    pub fn snapshot_num_retained_max(&self) -> Result<i64, SpecError> {
        let v = self.int(SNAPSHOT_NUM_RETAINED_MAX, i32::MAX as i64)?;
        if v < self.snapshot_num_retained_min()? {
            return Err(self.invalid(SNAPSHOT_NUM_RETAINED_MAX, "must be at least snapshot.num-retained.min"));
        }
        Ok(v)
    }

    /// `snapshot.time-retained`: 1 h.
    pub fn snapshot_time_retained(&self) -> Result<Duration, SpecError> {
        self.duration(SNAPSHOT_TIME_RETAINED, Duration::from_secs(3600))
    }

    /// `snapshot.expire.limit`: at most this many snapshots expire per run (10).
    pub fn snapshot_expire_limit(&self) -> Result<i64, SpecError> {
        let v = self.int(SNAPSHOT_EXPIRE_LIMIT, 10)?;
        if v < 1 {
            return Err(self.invalid(SNAPSHOT_EXPIRE_LIMIT, "must be at least 1"));
        }
        Ok(v)
    }

    /// `changelog.num-retained.min`: default `snapshot.num-retained.min`; at least 1.
    pub fn changelog_num_retained_min(&self) -> Result<i64, SpecError> {
        if self.get(CHANGELOG_NUM_RETAINED_MIN).is_none() {
            return self.snapshot_num_retained_min();
        }
        let v = self.int(CHANGELOG_NUM_RETAINED_MIN, 1)?;
        if v < 1 {
            return Err(self.invalid(CHANGELOG_NUM_RETAINED_MIN, "must be at least 1"));
        }
        Ok(v)
    }

    /// `changelog.num-retained.max`: default `snapshot.num-retained.max`; at least
    /// `changelog.num-retained.min` (Paimon's SchemaValidation).
    pub fn changelog_num_retained_max(&self) -> Result<i64, SpecError> {
        let v = match self.get(CHANGELOG_NUM_RETAINED_MAX) {
            None => self.snapshot_num_retained_max()?,
            Some(_) => self.int(CHANGELOG_NUM_RETAINED_MAX, 0)?,
        };
        if v < self.changelog_num_retained_min()? {
            let key = if self.get(CHANGELOG_NUM_RETAINED_MAX).is_some() {
                CHANGELOG_NUM_RETAINED_MAX
            } else {
                CHANGELOG_NUM_RETAINED_MIN
            };
            return Err(
                self.invalid(key, "changelog.num-retained.min must not be larger than changelog.num-retained.max")
            );
        }
        Ok(v)
    }

    /// `changelog.time-retained`: default `snapshot.time-retained`.
    pub fn changelog_time_retained(&self) -> Result<Duration, SpecError> {
        match self.get(CHANGELOG_TIME_RETAINED) {
            None => self.snapshot_time_retained(),
            Some(_) => self.duration(CHANGELOG_TIME_RETAINED, Duration::ZERO),
        }
    }

    /// Whether changelogs outlive their snapshots (Paimon's `changelogLifecycleDecoupled`): any of
    /// the changelog retentions keeps more than the snapshot one.
    pub fn changelog_lifecycle_decoupled(&self) -> Result<bool, SpecError> {
        Ok(self.changelog_num_retained_max()? > self.snapshot_num_retained_max()?
            || self.changelog_time_retained()? > self.snapshot_time_retained()?
            || self.changelog_num_retained_min()? > self.snapshot_num_retained_min()?)
    }

    /// `streaming-read-overwrite` (default false): whether streaming reads read the changes of
    /// OVERWRITE snapshots (the overwritten rows as `-D`, the new ones as written).
    pub fn streaming_read_overwrite(&self) -> Result<bool, SpecError> {
        self.bool(STREAMING_READ_OVERWRITE, false)
    }

    /// `dynamic-partition-overwrite` (default true): an overwrite of a partitioned table without
    /// a static partition replaces only the partitions its new rows are in (false: the whole table).
    pub fn dynamic_partition_overwrite(&self) -> Result<bool, SpecError> {
        self.bool("dynamic-partition-overwrite", true)
    }

    /// `tag.automatic-creation`: none (default), process-time, watermark or batch.
    pub fn tag_creation_mode(&self) -> Result<TagCreationMode, SpecError> {
        match self.get(TAG_AUTOMATIC_CREATION).map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            None | Some("none") => Ok(TagCreationMode::None),
            Some("process-time") => Ok(TagCreationMode::ProcessTime),
            Some("watermark") => Ok(TagCreationMode::Watermark),
            Some("batch") => Ok(TagCreationMode::Batch),
            Some(_) => Err(self.invalid(TAG_AUTOMATIC_CREATION, "expected none, process-time, watermark or batch")),
        }
    }

    /// `tag.creation-period`: daily (default), hourly or two-hours.
    pub fn tag_creation_period(&self) -> Result<TagCreationPeriod, SpecError> {
        match self.get(TAG_CREATION_PERIOD).map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            None | Some("daily") => Ok(TagCreationPeriod::Daily),
            Some("hourly") => Ok(TagCreationPeriod::Hourly),
            Some("two-hours") => Ok(TagCreationPeriod::TwoHours),
            Some(_) => Err(self.invalid(TAG_CREATION_PERIOD, "expected daily, hourly or two-hours")),
        }
    }

    /// `tag.creation-delay`: 0; must be shorter than one `tag.creation-period` (as Paimon checks).
    pub fn tag_creation_delay(&self) -> Result<Duration, SpecError> {
        let d = self.duration(TAG_CREATION_DELAY, Duration::ZERO)?;
        if d >= self.tag_creation_period()?.length() {
            return Err(self.invalid(TAG_CREATION_DELAY, "must be shorter than one tag.creation-period"));
        }
        Ok(d)
    }

    /// `tag.period-formatter`: with_dashes (default) or without_dashes (Paimon's spelling, any case).
    pub fn tag_period_formatter(&self) -> Result<TagPeriodFormatter, SpecError> {
        match self.get(TAG_PERIOD_FORMATTER).map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            None | Some("with_dashes") => Ok(TagPeriodFormatter::WithDashes),
            Some("without_dashes") => Ok(TagPeriodFormatter::WithoutDashes),
            Some(v @ ("with-dashes" | "without-dashes")) => Err(self.invalid(
                TAG_PERIOD_FORMATTER,
                &format!("Paimon spells it with an underscore: {}", v.replace('-', "_")),
            )),
            Some(_) => Err(self.invalid(TAG_PERIOD_FORMATTER, "expected with_dashes or without_dashes")),
        }
    }

    /// `tag.num-retained-max`: at most this many automatically created tags (no default).
    pub fn tag_num_retained_max(&self) -> Result<Option<i64>, SpecError> {
        match self.get(TAG_NUM_RETAINED_MAX) {
            None => Ok(None),
            Some(_) => {
                let v = self.int(TAG_NUM_RETAINED_MAX, 0)?;
                if !(0..=i32::MAX as i64).contains(&v) {
                    return Err(self.invalid(TAG_NUM_RETAINED_MAX, "expected a non-negative number of tags"));
                }
                Ok(Some(v))
            }
        }
    }

    /// `tag.default-time-retained`: how long new tags (automatic or created without a retention
    /// of their own) are kept; no default (kept until deleted).
    pub fn tag_default_time_retained(&self) -> Result<Option<Duration>, SpecError> {
        match self.get(TAG_DEFAULT_TIME_RETAINED) {
            None => Ok(None),
            Some(_) => Ok(Some(self.duration(TAG_DEFAULT_TIME_RETAINED, Duration::ZERO)?)),
        }
    }

    /// `tag.automatic-completion`: false.
    pub fn tag_automatic_completion(&self) -> Result<bool, SpecError> {
        self.bool(TAG_AUTOMATIC_COMPLETION, false)
    }

    /// `sink.watermark-time-zone`: UTC; the zone watermark-based tags are named in.
    pub fn sink_watermark_time_zone(&self) -> Result<TimeZoneId, SpecError> {
        match self.get(SINK_WATERMARK_TIME_ZONE) {
            None => Ok(TimeZoneId::utc()),
            Some(v) => TimeZoneId::parse(v).ok_or_else(|| {
                self.invalid(SINK_WATERMARK_TIME_ZONE, "expected a zone id such as UTC, Asia/Shanghai or GMT-08:00")
            }),
        }
    }

    /// `consumer.expiration-time`: consumers whose file was not modified for this long are
    /// deleted after commits; no default (never).
    pub fn consumer_expiration_time(&self) -> Result<Option<Duration>, SpecError> {
        match self.get(CONSUMER_EXPIRATION_TIME) {
            None => Ok(None),
            Some(_) => Ok(Some(self.duration(CONSUMER_EXPIRATION_TIME, Duration::ZERO)?)),
        }
    }

    /// Validates the options a table is created with: known keys, parseable values, and the
    /// features shoal implements. Paimon's own names are used in every message.
    pub fn validate_for_create(&self) -> Result<(), SpecError> {
        validate_keys(&self.map)?;
        self.bucket()?;
        self.postpone_default_bucket_num()?;
        self.postpone_target_row_num_per_bucket()?;
        self.postpone_target_size_per_bucket()?;
        self.file_format()?;
        self.manifest_format()?;
        self.write_buffer_size()?;
        self.target_file_size()?;
        self.page_size()?;
        self.manifest_target_file_size()?;
        self.manifest_merge_min_count()?;
        self.stats_mode()?;
        self.zstd_level()?;
        self.commit_max_retries()?;
        self.ignore_delete()?;
        self.write_only()?;
        self.full_compaction_delta_commits()?;
        self.snapshot_num_retained_max()?;
        self.snapshot_time_retained()?;
        self.snapshot_expire_limit()?;
        self.scan_timestamp_millis()?;
        self.scan_snapshot_id()?;
        self.tag_creation_mode()?;
        self.tag_creation_delay()?;
        self.tag_period_formatter()?;
        self.tag_num_retained_max()?;
        self.tag_default_time_retained()?;
        self.tag_automatic_completion()?;
        self.sink_watermark_time_zone()?;
        self.consumer_expiration_time()?;
        if !matches!(self.file_compression().as_str(), "zstd" | "snappy" | "lz4" | "gzip" | "none" | "uncompressed") {
            return Err(self.invalid(FILE_COMPRESSION, "expected zstd, snappy, lz4, gzip or none"));
        }
        if !matches!(self.manifest_compression().as_str(), "zstd" | "snappy" | "null" | "none" | "deflate") {
            return Err(self.invalid(MANIFEST_COMPRESSION, "expected zstd, snappy, deflate or none"));
        }
        self.merge_engine()?;
        if self.deletion_vectors_enabled()? && self.merge_engine()? == MergeEngine::FirstRow {
            return Err(self.invalid(
                DELETION_VECTORS_ENABLED,
                "first-row never deletes old rows, so Paimon refuses deletion vectors with merge-engine = first-row",
            ));
        }
        self.changelog_row_deduplicate()?;
        match self.changelog_producer()? {
            ChangelogProducer::None | ChangelogProducer::Input => {}
            ChangelogProducer::Lookup => {
                // Without deletion vectors the older versions stay below the compaction's
                // output and reads merge them again; shoal's lookup then only knows the value
                // before for engines that pick one version.
                let picks =
                    matches!(self.merge_engine()?, MergeEngine::Deduplicate) && self.get("sequence.field").is_none();
                if !picks && !self.deletion_vectors_enabled()? {
                    return Err(self.invalid(
                        CHANGELOG_PRODUCER,
                        "shoal implements changelog-producer = lookup for merge-engine = deduplicate without sequence.field, \
                         and for every engine with deletion-vectors.enabled = true",
                    ));
                }
            }
            ChangelogProducer::FullCompaction => {}
        }
        self.changelog_num_retained_min()?;
        self.changelog_num_retained_max()?;
        self.changelog_time_retained()?;
        if self.streaming_read_overwrite()?
            && matches!(self.changelog_producer()?, ChangelogProducer::Lookup | ChangelogProducer::FullCompaction)
        {
            return Err(self.invalid(
                STREAMING_READ_OVERWRITE,
                "cannot be true with changelog-producer = lookup or full-compaction: the reader would see duplicated changes (as in Paimon)",
            ));
        }
        self.scan_mode()?;
        self.consumer_mode()?;
        self.consumer_ignore_progress()?;
        self.continuous_discovery_interval()?;
        self.incremental_between()?;
        self.incremental_between_scan_mode()?;
        Ok(())
    }
}

pub fn split_list(s: &str) -> Vec<String> {
    s.split(',').map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect()
}

#[cfg(test)]
mod tests;
