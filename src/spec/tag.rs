//! The two fields Paimon 0.9's `Tag` adds to a tag file's snapshot JSON when the tag has a
//! retention time:
//!
//! - `tagCreateTime`: a `java.time.LocalDateTime` (wall-clock time of the writer's zone, no
//!   offset), which Jackson writes as an array `[year, month, day, hour, minute]` followed by the
//!   second when it or the nanos are non-zero, and the nanos when non-zero:
//!   `[ 2026, 11, 30, 13, 32, 20, 919010261 ]`. Jackson also reads an ISO string
//!   (`"2026-11-30T13:32:20.919"`).
//! - `tagTimeRetained`: a `java.time.Duration`, written as decimal seconds with nine fraction
//!   digits (`7200.000000000`); read from a number (seconds) or an ISO-8601 string (`"PT2H"`).
//!
//! A tag without a retention time is the snapshot JSON alone (Paimon writes no `tagCreateTime`
//! then, so readers older than 0.8 can read it).

use std::time::Duration;

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use serde_json::Value;

use super::SpecError;

pub(crate) const TAG_CREATE_TIME: &str = "tagCreateTime";
pub(crate) const TAG_TIME_RETAINED: &str = "tagTimeRetained";

/// A tag's creation time and how long it is kept after it (both or neither are written).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TagRetention {
    pub create_time: NaiveDateTime,
    pub time_retained: Duration,
}

/// The optional tag fields of a tag file, as found (Paimon expires a tag only when both exist).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TagFields {
    pub create_time: Option<NaiveDateTime>,
    pub time_retained: Option<Duration>,
}

impl TagFields {
    /// Reads `tagCreateTime` and `tagTimeRetained` from a tag file's text (`file` names it in errors).
    pub(crate) fn from_json_str(text: &str, file: &str) -> Result<TagFields, SpecError> {
        let v: Value = serde_json::from_str(text).map_err(|e| SpecError::corrupt("tag", file, e.to_string()))?;
        let bad = |m: String| SpecError::corrupt("tag", file, m);
        let create_time = match v.get(TAG_CREATE_TIME) {
            None | Some(Value::Null) => None,
            Some(t) => Some(
                parse_local_date_time(t).ok_or_else(|| bad(format!("{TAG_CREATE_TIME} {t} is not a LocalDateTime")))?,
            ),
        };
        let time_retained = match v.get(TAG_TIME_RETAINED) {
            None | Some(Value::Null) => None,
            Some(d) => {
                Some(parse_duration(d).ok_or_else(|| bad(format!("{TAG_TIME_RETAINED} {d} is not a duration")))?)
            }
        };
        Ok(TagFields { create_time, time_retained })
    }
}

/// The text of a tag file for a snapshot whose file reads `snapshot_json`: the snapshot's own
/// text (kept byte for byte when it carries no tag fields), plus the retention fields if given.
pub(crate) fn tag_file_json(
    snapshot_json: &str,
    retention: Option<&TagRetention>,
    file: &str,
) -> Result<String, SpecError> {
    let mut base = snapshot_json.to_string();
    if base.contains(TAG_CREATE_TIME) || base.contains(TAG_TIME_RETAINED) {
        // A snapshot file written from a tag (an old rollback): drop the stale tag fields.
        let mut v: Value =
            serde_json::from_str(&base).map_err(|e| SpecError::corrupt("snapshot", file, e.to_string()))?;
        let obj = v.as_object_mut().ok_or_else(|| SpecError::corrupt("snapshot", file, "not a JSON object"))?;
        obj.remove(TAG_CREATE_TIME);
        obj.remove(TAG_TIME_RETAINED);
        base = serde_json::to_string_pretty(&v).map_err(|e| SpecError::corrupt("snapshot", file, e.to_string()))?;
    }
    let Some(r) = retention else { return Ok(base) };
    let body =
        base.trim_end().strip_suffix('}').ok_or_else(|| SpecError::corrupt("snapshot", file, "not a JSON object"))?;
    let body = body.trim_end();
    let sep = if body.ends_with('{') { "" } else { "," };
    Ok(format!(
        "{body}{sep}\n  \"{TAG_CREATE_TIME}\" : {},\n  \"{TAG_TIME_RETAINED}\" : {}\n}}",
        format_local_date_time(&r.create_time),
        format_duration(r.time_retained)
    ))
}

/// Jackson's array form of a `LocalDateTime`.
pub(crate) fn format_local_date_time(t: &NaiveDateTime) -> String {
    let mut parts = vec![t.year() as i64, t.month() as i64, t.day() as i64, t.hour() as i64, t.minute() as i64];
    let (sec, nanos) = (t.second(), t.nanosecond());
    if sec > 0 || nanos > 0 {
        parts.push(sec as i64);
        if nanos > 0 {
            parts.push(nanos as i64);
        }
    }
    format!("[ {} ]", parts.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", "))
}

/// Jackson's decimal-seconds form of a `Duration`.
pub(crate) fn format_duration(d: Duration) -> String {
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}

/// A `LocalDateTime` as Jackson reads it: the array form or an ISO-8601 string.
pub fn parse_local_date_time(v: &Value) -> Option<NaiveDateTime> {
    match v {
        Value::Array(a) => {
            let n: Vec<i64> = a.iter().map(Value::as_i64).collect::<Option<Vec<_>>>()?;
            if !(5..=7).contains(&n.len()) {
                return None;
            }
            let u = |i: usize| u32::try_from(n.get(i).copied().unwrap_or(0)).ok();
            let date = NaiveDate::from_ymd_opt(i32::try_from(n[0]).ok()?, u(1)?, u(2)?)?;
            date.and_hms_nano_opt(u(3)?, u(4)?, u(5)?, u(6)?)
        }
        Value::String(s) => {
            let s = s.trim();
            ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"].iter().find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        }
        _ => None,
    }
}

/// A `Duration` as Jackson reads it: seconds as a number, or an ISO-8601 string (`PT2H`, `P7D`).
pub(crate) fn parse_duration(v: &Value) -> Option<Duration> {
    match v {
        Value::Number(n) => {
            if let Some(s) = n.as_u64() {
                return Some(Duration::from_secs(s));
            }
            let f = n.as_f64()?;
            if !(0.0..=u64::MAX as f64).contains(&f) {
                return None;
            }
            let secs = f.trunc();
            let nanos = ((f - secs) * 1e9).round().min(999_999_999.0);
            Some(Duration::new(secs as u64, nanos as u32))
        }
        Value::String(s) => parse_iso_duration(s.trim()),
        _ => None,
    }
}

/// `PnDTnHnMn.nS` (what `java.time.Duration.parse` accepts, without negative parts).
fn parse_iso_duration(s: &str) -> Option<Duration> {
    let rest = s.strip_prefix('P').or_else(|| s.strip_prefix('p'))?;
    let (days, time) = match rest.find(['T', 't']) {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let mut total = Duration::ZERO;
    if !days.is_empty() {
        let d: u64 = days.strip_suffix(['D', 'd'])?.parse().ok()?;
        total += Duration::from_secs(d.checked_mul(86_400)?);
    }
    if let Some(mut t) = time {
        if t.is_empty() {
            return None;
        }
        for (unit, secs) in [('H', 3600u64), ('M', 60)] {
            if let Some(i) = t.find([unit, unit.to_ascii_lowercase()]) {
                let n: u64 = t[..i].parse().ok()?;
                total += Duration::from_secs(n.checked_mul(secs)?);
                t = &t[i + 1..];
            }
        }
        if !t.is_empty() {
            let num = t.strip_suffix(['S', 's'])?;
            let (whole, frac) = num.split_once(['.', ',']).unwrap_or((num, ""));
            if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let nanos: u32 = if frac.is_empty() { 0 } else { format!("{frac:0<9}").parse().ok()? };
            total += Duration::new(whole.parse().ok()?, nanos);
        }
    } else if days.is_empty() {
        return None;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dt(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, n: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, mo, d).unwrap().and_hms_nano_opt(h, mi, s, n).unwrap()
    }

    #[test]
    fn jackson_forms_round_trip() {
        // As Java Paimon 0.9 wrote them (format-spec/lifecycle.md).
        let t = dt(2026, 11, 30, 13, 32, 20, 919010261);
        assert_eq!(format_local_date_time(&t), "[ 2026, 11, 30, 13, 32, 20, 919010261 ]");
        assert_eq!(format_local_date_time(&dt(2024, 1, 2, 3, 4, 0, 0)), "[ 2024, 1, 2, 3, 4 ]");
        assert_eq!(format_local_date_time(&dt(2024, 1, 2, 3, 4, 0, 5)), "[ 2024, 1, 2, 3, 4, 0, 5 ]");
        assert_eq!(format_duration(Duration::from_secs(7200)), "7200.000000000");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.500000000");
        for t in [t, dt(2024, 1, 2, 3, 4, 0, 0), dt(2024, 1, 2, 3, 4, 7, 0), dt(2024, 1, 2, 3, 4, 0, 5)] {
            let v: Value = serde_json::from_str(&format_local_date_time(&t)).unwrap();
            assert_eq!(parse_local_date_time(&v), Some(t));
        }
        let v: Value = serde_json::from_str("7200.000000000").unwrap();
        assert_eq!(parse_duration(&v), Some(Duration::from_secs(7200)));
        let v: Value = serde_json::from_str("0.250000000").unwrap();
        assert_eq!(parse_duration(&v), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration(&Value::from(60)), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration(&Value::from("PT2H")), Some(Duration::from_secs(7200)));
        assert_eq!(parse_duration(&Value::from("P1DT1M1.5S")), Some(Duration::from_millis(86_461_500)));
        assert_eq!(parse_duration(&Value::from("P")), None);
        assert_eq!(parse_duration(&Value::from(-1.0)), None);
        assert_eq!(
            parse_local_date_time(&Value::from("2024-01-02T03:04:05.5")),
            Some(dt(2024, 1, 2, 3, 4, 5, 500_000_000))
        );
        assert_eq!(parse_local_date_time(&serde_json::json!([2024, 13, 1, 0, 0])), None);
        assert_eq!(parse_local_date_time(&serde_json::json!([2024, 1])), None);
    }

    #[test]
    fn tag_file_json_appends_and_strips_the_fields() {
        let snap = "{\n  \"version\" : 3,\n  \"id\" : 4\n}";
        assert_eq!(tag_file_json(snap, None, "s").unwrap(), snap, "no retention: the snapshot text verbatim");
        let r = TagRetention { create_time: dt(2024, 1, 2, 3, 4, 5, 0), time_retained: Duration::from_secs(3600) };
        let tagged = tag_file_json(snap, Some(&r), "s").unwrap();
        assert!(
            tagged.starts_with("{\n  \"version\" : 3,\n  \"id\" : 4,\n  \"tagCreateTime\" : [ 2024, 1, 2, 3, 4, 5 ]"),
            "{tagged}"
        );
        let f = TagFields::from_json_str(&tagged, "t").unwrap();
        assert_eq!(f, TagFields { create_time: Some(r.create_time), time_retained: Some(r.time_retained) });
        // A snapshot file that came from a tag loses the stale fields.
        let again = tag_file_json(&tagged, None, "s").unwrap();
        assert_eq!(TagFields::from_json_str(&again, "t").unwrap(), TagFields::default());
        let v: Value = serde_json::from_str(&again).unwrap();
        assert_eq!(v["id"], 4);
        let e = TagFields::from_json_str("{\"tagTimeRetained\": \"soon\"}", "tag/tag-x").unwrap_err().to_string();
        assert!(e.contains("tag/tag-x") && e.contains("tagTimeRetained"), "{e}");
    }
}
