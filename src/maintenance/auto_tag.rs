//! Automatic tags, with Paimon 0.9's options and semantics (`TagAutoCreation`,
//! `TagPeriodHandler`, `TagTimeExtractor`, `TagAutoManager`; `batch` as Flink's
//! `BatchWriteGeneratorTagOperator`):
//!
//! - `tag.automatic-creation = process-time | watermark`: each snapshot has a time, its commit
//!   time (`timeMillis`) in the local time zone, or its `watermark` in `sink.watermark-time-zone`
//!   (snapshots without a watermark are skipped). Snapshots are visited in id order from the one
//!   after the newest automatic tag (from the earliest snapshot when there is none). The first
//!   snapshot visited without a previous automatic tag, and afterwards the first one whose time
//!   minus `tag.creation-delay` reaches the end of the period after the last tag, gets the tag
//!   of the period before the one its time falls in: a snapshot at `2024-01-03 00:20` tags
//!   `2024-01-02` (daily). With `tag.automatic-completion`, it gets the period right after the
//!   last tag instead (so no period is skipped, one tag per qualifying snapshot).
//! - Names: daily `2024-01-02` (`20240102` with `tag.period-formatter = without_dashes`),
//!   hourly `2024-01-02 10` (`20240102 10`), two-hours `2024-01-02 10` (always with dashes).
//!   Any tag whose name parses in the table's period format counts as automatic.
//! - A tag that exists is not created again. New tags carry `tag.default-time-retained`.
//!   With `tag.num-retained-max`, the automatic tags on the oldest snapshots beyond that number
//!   are deleted (with the files only they kept).
//! - `batch`: after every batch commit, the latest snapshot is tagged
//!   `batch-write-<yyyy-MM-dd>` (its commit date, local time), replacing a tag of that name;
//!   then, with `tag.num-retained-max`, the oldest tags of the table (all of them, as Paimon)
//!   beyond that number are deleted.
//!
//! Paimon keeps the "next tag" state in the committer; shoal keeps it in the commit's
//! after-commit hook and rebuilds it from the tags when a committer starts, as Paimon does.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use futures::stream::{self, StreamExt};

use crate::error::{Error, Result};
use crate::io::FileIO;
use crate::maintenance::tags::{delete_tag, local_now, TagExpireReport};
use crate::spec::options::{CoreOptions, TagCreationMode, TagCreationPeriod, TagPeriodFormatter, TimeZoneId};
use crate::spec::tag::TagRetention;
use crate::spec::{Snapshot, SpecError, TableSchema};
use crate::store::{SnapshotManager, Tag, TagManager};

/// Tag names and times of one `tag.creation-period` and `tag.period-formatter`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct TagPeriodHandler {
    pub period: TagCreationPeriod,
    pub formatter: TagPeriodFormatter,
}

impl TagPeriodHandler {
    pub(super) fn new(period: TagCreationPeriod, formatter: TagPeriodFormatter) -> Self {
        TagPeriodHandler { period, formatter }
    }

    pub(super) fn one_period(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.period.length()).expect("a period fits chrono's range")
    }

    fn dashes(&self) -> bool {
        // Paimon's two-hours handler always uses the dashed hour format.
        self.period == TagCreationPeriod::TwoHours || self.formatter == TagPeriodFormatter::WithDashes
    }

    /// The tag name of the period starting at `t`.
    pub(super) fn tag_name(&self, t: NaiveDateTime) -> String {
        let date = if self.dashes() {
            format!("{}-{:02}-{:02}", t.year(), t.month(), t.day())
        } else {
            format!("{}{:02}{:02}", t.year(), t.month(), t.day())
        };
        match self.period {
            TagCreationPeriod::Daily => date,
            TagCreationPeriod::Hourly | TagCreationPeriod::TwoHours => format!("{date} {:02}", t.hour()),
        }
    }

    /// The period start a tag name stands for; None if the name is not of this format (Java's
    /// lenient parse: `2024-13-01` is `2025-01-01`; daily tags ignore everything after a space).
    pub(super) fn tag_time(&self, name: &str) -> Option<NaiveDateTime> {
        match self.period {
            TagCreationPeriod::Daily => {
                let date = name.split(' ').next()?;
                parse_date(date, self.dashes()).map(|d| d.and_hms_opt(0, 0, 0).expect("midnight"))
            }
            TagCreationPeriod::Hourly | TagCreationPeriod::TwoHours => {
                let (date, hour) = name.split_once(' ')?;
                if hour.len() != 2 || !hour.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let h: i64 = hour.parse().ok()?;
                parse_date(date, self.dashes())?.and_hms_opt(0, 0, 0)?.checked_add_signed(chrono::Duration::hours(h))
            }
        }
    }

    pub(super) fn is_auto_tag(&self, name: &str) -> bool {
        self.tag_time(name).is_some()
    }

    /// The start of the period before the one `t` falls in (periods are aligned to the epoch in
    /// wall-clock time, as Paimon computes them).
    pub(super) fn normalize_to_previous_tag(&self, t: NaiveDateTime) -> NaiveDateTime {
        let ms = t.and_utc().timestamp_millis();
        let p = self.one_period().num_milliseconds();
        // Java's long division truncates toward zero, like Rust's.
        let start = chrono::DateTime::from_timestamp_millis((ms / p) * p).map(|d| d.naive_utc()).unwrap_or(t);
        start - self.one_period()
    }

    pub(super) fn next_tag_time(&self, t: NaiveDateTime) -> NaiveDateTime {
        t + self.one_period()
    }
}

/// `yyyy-MM-dd` or `yyyyMMdd` with a 1..10 digit year, resolved leniently (month 13 is January
/// of the next year, day 0 the last day of the month before), as Java's lenient resolver does.
fn parse_date(s: &str, dashes: bool) -> Option<NaiveDate> {
    let (y, m, d) = if dashes {
        let mut it = s.split('-');
        let (y, m, d) = (it.next()?, it.next()?, it.next()?);
        if it.next().is_some() || m.len() != 2 || d.len() != 2 {
            return None;
        }
        (y, m, d)
    } else {
        if s.len() < 5 {
            return None;
        }
        let (y, md) = s.split_at(s.len() - 4);
        (y, &md[..2], &md[2..])
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if !digits(y) || y.len() > 10 || !digits(m) || !digits(d) {
        return None;
    }
    let (y, m, d): (i64, i64, i64) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    let first = NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, 1, 1)?;
    let months = u32::try_from(m - 1).ok().map(chrono::Months::new);
    let with_months = match months {
        Some(ms) => first.checked_add_months(ms)?,
        None => first.checked_sub_months(chrono::Months::new(1))?, // month 00
    };
    with_months.checked_add_signed(chrono::Duration::days(d - 1))
}

/// Where a snapshot's time comes from (`TagTimeExtractor`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TimeExtractor {
    /// `timeMillis`, in the local time zone.
    ProcessTime,
    /// `watermark` (absent or `Long.MIN_VALUE`: no time), in this zone.
    Watermark(TimeZoneId),
}

impl TimeExtractor {
    pub(super) fn extract(&self, time_millis: i64, watermark: Option<i64>) -> Option<NaiveDateTime> {
        match self {
            TimeExtractor::ProcessTime => chrono::DateTime::from_timestamp_millis(time_millis)
                .map(|t| t.with_timezone(&chrono::Local).naive_local()),
            TimeExtractor::Watermark(zone) => match watermark {
                None | Some(i64::MIN) => None,
                Some(w) => zone.local_time(w),
            },
        }
    }
}

/// The table's `tag.*` options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct AutoTagConfig {
    pub mode: TagCreationMode,
    pub handler: TagPeriodHandler,
    pub delay: Duration,
    pub num_retained_max: Option<i64>,
    pub default_time_retained: Option<Duration>,
    pub automatic_completion: bool,
    pub watermark_zone: TimeZoneId,
}

impl AutoTagConfig {
    pub(super) fn from_options(o: &CoreOptions) -> Result<Self> {
        Ok(AutoTagConfig {
            mode: o.tag_creation_mode()?,
            handler: TagPeriodHandler::new(o.tag_creation_period()?, o.tag_period_formatter()?),
            delay: o.tag_creation_delay()?,
            num_retained_max: o.tag_num_retained_max()?,
            default_time_retained: o.tag_default_time_retained()?,
            automatic_completion: o.tag_automatic_completion()?,
            watermark_zone: o.sink_watermark_time_zone()?,
        })
    }

    /// The time extractor of period-based creation; None for `none` and `batch`.
    pub(super) fn extractor(&self) -> Option<TimeExtractor> {
        match self.mode {
            TagCreationMode::ProcessTime => Some(TimeExtractor::ProcessTime),
            TagCreationMode::Watermark => Some(TimeExtractor::Watermark(self.watermark_zone)),
            TagCreationMode::None | TagCreationMode::Batch => None,
        }
    }

    fn retention(&self) -> Option<TagRetention> {
        self.default_time_retained.map(|time_retained| TagRetention { create_time: local_now(), time_retained })
    }
}

/// What a run of automatic tag creation did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AutoTagReport {
    /// Tags created: (name, snapshot id).
    pub created: Vec<(String, i64)>,
    /// Tags deleted by `tag.num-retained-max`.
    pub deleted: TagExpireReport,
}

/// Period-based tag creation over a table's snapshots (`TagAutoCreation`): keeps the next tag
/// time and the next snapshot to look at between runs.
#[derive(Debug)]
pub(super) struct TagAutoCreation {
    io: FileIO,
    schema: Arc<TableSchema>,
    config: AutoTagConfig,
    extractor: TimeExtractor,
    delay: chrono::Duration,
    next_tag: Option<NaiveDateTime>,
    next_snapshot: i64,
}

const READ_AHEAD: usize = 16;

impl TagAutoCreation {
    /// Starts after the newest automatic tag (or at the earliest snapshot); None unless
    /// `tag.automatic-creation` is process-time or watermark.
    pub(super) async fn new(
        io: &FileIO,
        schema: Arc<TableSchema>,
        config: AutoTagConfig,
    ) -> Result<Option<TagAutoCreation>> {
        let Some(extractor) = config.extractor() else { return Ok(None) };
        let delay = chrono::Duration::from_std(config.delay)
            .map_err(|_| Error::InvalidOptionValue(format!("tag.creation-delay {:?} is out of range", config.delay)))?;
        let mut me =
            TagAutoCreation { io: io.clone(), schema, config, extractor, delay, next_tag: None, next_snapshot: 1 };
        let auto = me.auto_tags().await?;
        match auto.last_key_value() {
            None => me.next_snapshot = SnapshotManager::new(io.clone()).earliest_id().await?.unwrap_or(1),
            Some((id, names)) => {
                me.next_snapshot = id + 1;
                let name = one_auto_tag(*id, names)?;
                let time = config.handler.tag_time(name).expect("auto tags parse");
                me.next_tag = Some(config.handler.next_tag_time(time));
            }
        }
        Ok(Some(me))
    }

    /// The automatic tags by snapshot id.
    async fn auto_tags(&self) -> Result<BTreeMap<i64, Vec<String>>> {
        let mut out: BTreeMap<i64, Vec<String>> = BTreeMap::new();
        for name in TagManager::new(self.io.clone()).names().await? {
            if !self.config.handler.is_auto_tag(&name) {
                continue;
            }
            match TagManager::new(self.io.clone()).tag(&name).await {
                Ok(t) => out.entry(t.snapshot.id).or_default().push(name),
                Err(Error::TagNotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Visits the snapshots not seen yet, creating the tags they are due.
    pub(super) async fn run(&mut self) -> Result<AutoTagReport> {
        let sm = SnapshotManager::new(self.io.clone());
        let mut report = AutoTagReport::default();
        loop {
            let Some(latest) = sm.latest_id().await? else { return Ok(report) };
            if self.next_snapshot > latest {
                return Ok(report);
            }
            // Read ahead concurrently, visit in order; stop at the first missing snapshot.
            let mut ahead = stream::iter(self.next_snapshot..=latest)
                .map(|id| {
                    let sm = sm.clone();
                    async move {
                        match sm.snapshot_json(id).await {
                            Ok(json) => {
                                let s = Snapshot::from_json_str(&json, &format!("snapshot-{id}"))?;
                                Ok(Some((s, json)))
                            }
                            Err(Error::SnapshotNotFound(_)) => Ok(None),
                            Err(e) => Err(e),
                        }
                    }
                })
                .buffered(READ_AHEAD);
            let mut missing = false;
            while let Some(next) = ahead.next().await {
                match next? {
                    Some((s, json)) => {
                        self.try_create(&s, &json, &mut report).await?;
                        self.next_snapshot = s.id + 1;
                    }
                    None => {
                        missing = true;
                        break;
                    }
                }
            }
            drop(ahead);
            if missing {
                // Expired meanwhile: go on from the earliest snapshot, if that is further on.
                match sm.earliest_id().await? {
                    Some(e) if e > self.next_snapshot => self.next_snapshot = e,
                    _ => return Ok(report),
                }
            }
        }
    }

    async fn try_create(&mut self, snapshot: &Snapshot, json: &str, report: &mut AutoTagReport) -> Result<()> {
        let Some(time) = self.extractor.extract(snapshot.time_millis, snapshot.watermark) else { return Ok(()) };
        let handler = self.config.handler;
        let due = match self.next_tag {
            None => true,
            Some(next) => time - self.delay >= handler.next_tag_time(next),
        };
        if !due {
            return Ok(());
        }
        let this_tag = match (self.config.automatic_completion, self.next_tag) {
            (true, Some(next)) => next,
            _ => handler.normalize_to_previous_tag(time),
        };
        let name = handler.tag_name(this_tag);
        let tm = TagManager::new(self.io.clone());
        if !tm.exists(&name).await? {
            match tm.create_generated(&name, snapshot, json, self.config.retention().as_ref()).await {
                Ok(()) => report.created.push((name.clone(), snapshot.id)),
                // Another committer created it first (on its own snapshot): keep theirs.
                Err(_) if tm.exists(&name).await? => {}
                Err(e) => return Err(e),
            }
        }
        self.next_tag = Some(handler.next_tag_time(this_tag));

        if let Some(max) = self.config.num_retained_max {
            let auto = self.auto_tags().await?;
            let excess = auto.len().saturating_sub(usize::try_from(max).unwrap_or(usize::MAX));
            for (id, names) in auto.iter().take(excess) {
                let name = one_auto_tag(*id, names)?;
                match delete_tag(&self.io, self.schema.clone(), name).await {
                    Ok(r) => report.deleted.add(name, r),
                    Err(Error::TagNotFound(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }
}

fn one_auto_tag(snapshot: i64, names: &[String]) -> Result<&str> {
    match names {
        [one] => Ok(one),
        _ => Err(Error::InvalidInput(format!(
            "snapshot {snapshot} has more than one automatically created tag ({}); delete all but one",
            names.join(", ")
        ))),
    }
}

pub(super) const BATCH_WRITE_TAG_PREFIX: &str = "batch-write-";

/// `tag.automatic-creation = batch`: tags the latest snapshot `batch-write-<yyyy-MM-dd>` (its
/// commit date in the local time zone), replacing a tag of that name, then deletes the oldest
/// tags beyond `tag.num-retained-max` (ties on one snapshot: oldest tag file first).
pub(super) async fn create_batch_tag(
    io: &FileIO,
    schema: Arc<TableSchema>,
    config: &AutoTagConfig,
) -> Result<AutoTagReport> {
    let sm = SnapshotManager::new(io.clone());
    let tm = TagManager::new(io.clone());
    let mut report = AutoTagReport::default();
    let Some(id) = sm.latest_id().await? else { return Ok(report) };
    let json = sm.snapshot_json(id).await?;
    let snapshot = Snapshot::from_json_str(&json, &format!("snapshot-{id}"))?;
    let day = TimeExtractor::ProcessTime.extract(snapshot.time_millis, None).ok_or_else(|| {
        SpecError::corrupt(
            "snapshot",
            format!("snapshot-{id}"),
            format!("timeMillis {} is out of range", snapshot.time_millis),
        )
    })?;
    let name = format!("{BATCH_WRITE_TAG_PREFIX}{:04}-{:02}-{:02}", day.year(), day.month(), day.day());
    if tm.exists(&name).await? {
        match delete_tag(io, schema.clone(), &name).await {
            Ok(r) => report.deleted.add(&name, r),
            Err(Error::TagNotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    tm.create_generated(&name, &snapshot, &json, config.retention().as_ref()).await?;
    report.created.push((name, id));

    if let Some(max) = config.num_retained_max {
        let max = usize::try_from(max).unwrap_or(usize::MAX);
        let tags = tm.tags().await?;
        if tags.len() > max {
            // Oldest first: by snapshot, then by tag file age within a snapshot.
            let times = tm.modification_times().await?;
            let mut order: Vec<&Tag> = tags.iter().collect();
            order.sort_by_key(|t| (t.snapshot.id, times.get(&t.name).copied().unwrap_or(i64::MIN), t.name.clone()));
            for t in order.into_iter().take(tags.len() - max) {
                match delete_tag(io, schema.clone(), &t.name).await {
                    Ok(r) => report.deleted.add(&t.name, r),
                    Err(Error::TagNotFound(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn names_as_paimon_formats_them() {
        use TagCreationPeriod::*;
        use TagPeriodFormatter::*;
        let at = t("2024-01-02 10:30:00");
        assert_eq!(TagPeriodHandler::new(Daily, WithDashes).tag_name(at), "2024-01-02");
        assert_eq!(TagPeriodHandler::new(Daily, WithoutDashes).tag_name(at), "20240102");
        assert_eq!(TagPeriodHandler::new(Hourly, WithDashes).tag_name(at), "2024-01-02 10");
        assert_eq!(TagPeriodHandler::new(Hourly, WithoutDashes).tag_name(at), "20240102 10");
        assert_eq!(TagPeriodHandler::new(TwoHours, WithoutDashes).tag_name(at), "2024-01-02 10");
        for h in [TagPeriodHandler::new(Daily, WithDashes), TagPeriodHandler::new(Hourly, WithoutDashes)] {
            let start = t("2024-03-04 05:00:00");
            let start = if h.period == Daily { t("2024-03-04 00:00:00") } else { start };
            assert_eq!(h.tag_time(&h.tag_name(start)), Some(start), "{h:?}");
        }
    }

    #[test]
    fn parsing_is_paimons_lenient_one() {
        use TagCreationPeriod::*;
        use TagPeriodFormatter::*;
        let daily = TagPeriodHandler::new(Daily, WithDashes);
        assert_eq!(daily.tag_time("2024-01-02"), Some(t("2024-01-02 00:00:00")));
        // Daily tags ignore what follows a space, so an hourly name counts as daily too.
        assert_eq!(daily.tag_time("2024-01-02 10"), Some(t("2024-01-02 00:00:00")));
        assert_eq!(daily.tag_time("2024-13-01"), Some(t("2025-01-01 00:00:00")));
        assert_eq!(daily.tag_time("2024-02-30"), Some(t("2024-03-01 00:00:00")));
        for not in ["q3-report", "2024-1-02", "2024-01-02x", "", "2024/01/02", "20240102", "12345678901-01-01"] {
            assert!(!daily.is_auto_tag(not), "{not:?}");
        }
        let compact = TagPeriodHandler::new(Daily, WithoutDashes);
        assert_eq!(compact.tag_time("20240102"), Some(t("2024-01-02 00:00:00")));
        assert!(!compact.is_auto_tag("2024-01-02") && !compact.is_auto_tag("0102"));
        let hourly = TagPeriodHandler::new(Hourly, WithDashes);
        assert_eq!(hourly.tag_time("2024-01-02 10"), Some(t("2024-01-02 10:00:00")));
        assert_eq!(hourly.tag_time("2024-01-02 24"), Some(t("2024-01-03 00:00:00")));
        for not in ["2024-01-02", "2024-01-02 1", "2024-01-02 10:00", "2024-01-02  10"] {
            assert!(!hourly.is_auto_tag(not), "{not:?}");
        }
    }

    #[test]
    fn periods_normalize_to_the_previous_one() {
        use TagCreationPeriod::*;
        let d = TagPeriodHandler::new(Daily, TagPeriodFormatter::WithDashes);
        assert_eq!(d.normalize_to_previous_tag(t("2024-01-03 00:20:00")), t("2024-01-02 00:00:00"));
        assert_eq!(d.normalize_to_previous_tag(t("2024-01-03 00:00:00")), t("2024-01-02 00:00:00"));
        let h = TagPeriodHandler::new(Hourly, TagPeriodFormatter::WithDashes);
        assert_eq!(h.normalize_to_previous_tag(t("2024-01-03 00:20:00")), t("2024-01-02 23:00:00"));
        let two = TagPeriodHandler::new(TwoHours, TagPeriodFormatter::WithDashes);
        assert_eq!(two.normalize_to_previous_tag(t("2024-01-03 03:59:59")), t("2024-01-03 00:00:00"));
        assert_eq!(two.next_tag_time(t("2024-01-03 00:00:00")), t("2024-01-03 02:00:00"));
    }

    #[test]
    fn watermarks_are_read_in_their_zone() {
        let ms = t("2024-01-02 23:30:00").and_utc().timestamp_millis();
        let utc = TimeExtractor::Watermark(TimeZoneId::utc());
        assert_eq!(utc.extract(0, Some(ms)), Some(t("2024-01-02 23:30:00")));
        assert_eq!(utc.extract(ms, None), None);
        assert_eq!(utc.extract(ms, Some(i64::MIN)), None);
        let shanghai = TimeExtractor::Watermark(TimeZoneId::parse("Asia/Shanghai").unwrap());
        assert_eq!(shanghai.extract(0, Some(ms)), Some(t("2024-01-03 07:30:00")));
        let la = TimeExtractor::Watermark(TimeZoneId::parse("GMT-08:00").unwrap());
        assert_eq!(la.extract(0, Some(ms)), Some(t("2024-01-02 15:30:00")));
        for bad in ["Mars/Olympus", "GMT+25", "+8:00", ""] {
            assert!(TimeZoneId::parse(bad).is_none(), "{bad:?}");
        }
        for good in ["UTC", "Z", "+08", "-0530", "UTC+05:30", "Europe/Berlin", "GMT+8"] {
            assert!(TimeZoneId::parse(good).is_some(), "{good:?}");
        }
    }
}
