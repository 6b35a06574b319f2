//! Paimon's spellings of option values: memory sizes, durations and time zones.

use std::time::Duration;

/// Paimon's memory-size syntax: `256 mb`, `128MB`, `8 kb`, `1gb`, `1024` (bytes).
pub fn parse_memory_size(s: &str) -> Option<u64> {
    let t = s.trim().to_ascii_lowercase();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult = match unit.trim() {
        "" | "b" | "bytes" => 1,
        "k" | "kb" | "kibibytes" => 1 << 10,
        "m" | "mb" | "mebibytes" => 1 << 20,
        "g" | "gb" | "gibibytes" => 1 << 30,
        "t" | "tb" | "tebibytes" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// Paimon's duration syntax: `1 h`, `30 min`, `10 s`, `500 ms`, `7 d`, `1000` (millis).
pub fn parse_duration(s: &str) -> Option<Duration> {
    let t = s.trim().to_ascii_lowercase();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().ok()?;
    let ms = match unit.trim() {
        "" | "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => 1,
        "s" | "sec" | "secs" | "second" | "seconds" => 1000,
        "m" | "min" | "mins" | "minute" | "minutes" => 60_000,
        "h" | "hour" | "hours" => 3_600_000,
        "d" | "day" | "days" => 86_400_000,
        _ => return None,
    };
    Some(Duration::from_millis(n.checked_mul(ms)?))
}

/// A time zone as Java's `ZoneId.of` accepts it: `UTC`/`GMT`/`UT`/`Z`, an offset (`+08:00`,
/// `GMT-8`, `UTC+05:30`) or a region id (`Asia/Shanghai`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeZoneId {
    Offset(chrono::FixedOffset),
    Region(chrono_tz::Tz),
}

impl TimeZoneId {
    pub fn utc() -> TimeZoneId {
        TimeZoneId::Offset(chrono::FixedOffset::east_opt(0).expect("zero offset"))
    }

    /// Parses a zone id the way `java.time.ZoneId.of` does; `None` if it is not one.
    pub fn parse(id: &str) -> Option<TimeZoneId> {
        let id = id.trim();
        if matches!(id, "Z" | "UTC" | "GMT" | "UT") {
            return Some(TimeZoneId::utc());
        }
        if id.starts_with('+') || id.starts_with('-') {
            return parse_offset(id).map(TimeZoneId::Offset);
        }
        for prefix in ["UTC", "GMT", "UT"] {
            if let Some(rest) = id.strip_prefix(prefix) {
                if rest.starts_with('+') || rest.starts_with('-') {
                    return parse_offset(rest).map(TimeZoneId::Offset);
                }
            }
        }
        id.parse::<chrono_tz::Tz>().ok().map(TimeZoneId::Region)
    }

    /// The wall-clock time in this zone at `millis` since the epoch.
    pub fn local_time(&self, millis: i64) -> Option<chrono::NaiveDateTime> {
        let utc = chrono::DateTime::from_timestamp_millis(millis)?;
        Some(match self {
            TimeZoneId::Offset(o) => utc.with_timezone(o).naive_local(),
            TimeZoneId::Region(tz) => utc.with_timezone(tz).naive_local(),
        })
    }
}

/// `+h`, `+hh`, `+hh:mm`, `+hhmm`, `+hh:mm:ss`, `+hhmmss` (Java's `ZoneOffset.of`).
fn parse_offset(s: &str) -> Option<chrono::FixedOffset> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    if !rest.bytes().all(|b| b.is_ascii_digit() || b == b':') {
        return None;
    }
    let num = |t: &str| -> Option<i32> {
        if t.len() == 2 {
            t.parse().ok()
        } else {
            None
        }
    };
    let (h, m, sec) = match rest.len() {
        1 => (rest.parse().ok()?, 0, 0),
        2 => (num(rest)?, 0, 0),
        4 => (num(&rest[..2])?, num(&rest[2..])?, 0),
        5 if &rest[2..3] == ":" => (num(&rest[..2])?, num(&rest[3..])?, 0),
        6 => (num(&rest[..2])?, num(&rest[2..4])?, num(&rest[4..])?),
        8 if &rest[2..3] == ":" && &rest[5..6] == ":" => (num(&rest[..2])?, num(&rest[3..5])?, num(&rest[6..])?),
        _ => return None,
    };
    if h > 18 || m > 59 || sec > 59 {
        return None;
    }
    chrono::FixedOffset::east_opt(sign * (h * 3600 + m * 60 + sec))
}
