//! Parsers for Postgres's text output of ints, numerics, dates, times and timestamps (with
//! `DateStyle=ISO`), reading byte slices without allocating: the snapshot copy spends most of
//! its time here, and a general format-string parser (chrono's) was the largest item of its
//! profile.
//!
//! The forms read are the ones Postgres prints:
//! - ints: `-123`;
//! - numeric(p, s): `-123.45` (exactly `s` fractional digits);
//! - date: `2024-01-31`, `12345-01-01`, `0044-03-15 BC` (1 BC is year 0), `infinity`,
//!   `-infinity`;
//! - time: `12:34:56`, `12:34:56.5`, `24:00:00`;
//! - timestamp: `2024-01-31 12:34:56.123456`, `0044-03-15 12:00:00 BC`, `±infinity`;
//! - timestamptz: the same with the UTC offset after the time: `+00`, `+05:30`, `-03:30:52`
//!   (seconds before 1901 under some zones), before ` BC`.
//!
//! Fractional seconds may have 1 to 9 digits (Postgres prints at most 6); digits past
//! nanoseconds are dropped.

/// Seconds in a day.
const DAY: i64 = 86_400;

/// An integer: an optional sign and decimal digits. None when malformed or beyond `i64`.
pub(super) fn int(v: &[u8]) -> Option<i64> {
    let (neg, digits) = match v.first()? {
        b'-' => (true, &v[1..]),
        b'+' => (false, &v[1..]),
        _ => (false, v),
    };
    if digits.is_empty() {
        return None;
    }
    // Accumulated negatively so that i64::MIN fits.
    let mut n: i64 = 0;
    for &b in digits {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        n = n.checked_mul(10)?.checked_sub(d as i64)?;
    }
    if neg {
        Some(n)
    } else {
        n.checked_neg()
    }
}

/// A decimal of `scale` fractional digits as its unscaled integer, when `v` is in the form
/// Postgres prints (an optional `-`, digits, and a `.` with at most `scale` digits) and fits
/// `precision` digits. None otherwise, for a general parser to decide (more fractional digits
/// than `scale` are rounded there, and its errors name the problem).
pub(super) fn decimal(v: &[u8], precision: u8, scale: u8) -> Option<i128> {
    let (neg, rest) = match v.first()? {
        b'-' => (true, &v[1..]),
        b'+' => (false, &v[1..]),
        _ => (false, v),
    };
    let (int_part, frac) = match rest.iter().position(|&b| b == b'.') {
        Some(dot) => (&rest[..dot], &rest[dot + 1..]),
        None => (rest, &rest[rest.len()..]),
    };
    if (int_part.is_empty() && frac.is_empty()) || frac.len() > scale as usize || precision > 38 {
        return None;
    }
    let mut n: i128 = 0;
    for &b in int_part.iter().chain(frac) {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(d as i128)?;
    }
    n = n.checked_mul(10i128.pow((scale as usize - frac.len()) as u32))?;
    if n >= 10i128.pow(precision as u32) {
        return None;
    }
    Some(if neg { -n } else { n })
}

/// Days since 1970-01-01 of a proleptic Gregorian date (`year` 0 is 1 BC).
pub(super) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    // H. Hinnant's algorithm: years start in March, so the leap day ends a year.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => 31,
    }
}

/// A cursor over a value's bytes.
struct Cursor<'a> {
    v: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    /// Between `min` and `max` decimal digits.
    fn digits(&mut self, min: usize, max: usize) -> Result<u64, String> {
        let start = self.at;
        let mut n: u64 = 0;
        while self.at - start < max {
            match self.v.get(self.at) {
                Some(b @ b'0'..=b'9') => n = n * 10 + (b - b'0') as u64,
                _ => break,
            }
            self.at += 1;
        }
        if self.at - start < min {
            return Err(format!("expected a number at byte {start}"));
        }
        Ok(n)
    }

    fn byte(&mut self, b: u8) -> Result<(), String> {
        if self.v.get(self.at) == Some(&b) {
            self.at += 1;
            Ok(())
        } else {
            Err(format!("expected {:?} at byte {}", b as char, self.at))
        }
    }

    fn peek(&self) -> Option<u8> {
        self.v.get(self.at).copied()
    }

    fn rest(&self) -> &[u8] {
        &self.v[self.at..]
    }

    /// `YYYY-MM-DD`: (year as printed, month, day), checked by [`civil_days`] once the era is known.
    fn date(&mut self) -> Result<(i64, u32, u32), String> {
        let year = self.digits(1, 7)? as i64;
        self.byte(b'-')?;
        let month = self.digits(2, 2)? as u32;
        self.byte(b'-')?;
        let day = self.digits(2, 2)? as u32;
        Ok((year, month, day))
    }

    /// `HH:MM:SS[.fraction]` as nanoseconds since midnight (`24:00:00` when `allow_24`).
    fn time(&mut self, allow_24: bool) -> Result<i64, String> {
        let h = self.digits(2, 2)? as i64;
        self.byte(b':')?;
        let m = self.digits(2, 2)? as i64;
        self.byte(b':')?;
        let s = self.digits(2, 2)? as i64;
        let mut nanos = 0i64;
        if self.peek() == Some(b'.') {
            self.at += 1;
            let start = self.at;
            while let Some(b @ b'0'..=b'9') = self.peek() {
                if self.at - start < 9 {
                    nanos = nanos * 10 + (b - b'0') as i64;
                }
                self.at += 1;
            }
            let n = self.at - start;
            if n == 0 {
                return Err("no digits after the decimal point".into());
            }
            nanos *= 10i64.pow(9 - n.min(9) as u32);
        }
        let midnight = allow_24 && h == 24 && m == 0 && s == 0 && nanos == 0;
        if (h > 23 || m > 59 || s > 59) && !midnight {
            return Err(format!("no such time: {h:02}:{m:02}:{s:02}"));
        }
        Ok((h * 3600 + m * 60 + s) * 1_000_000_000 + nanos)
    }

    /// ` BC` at the end.
    fn era_bc(&mut self) -> Result<bool, String> {
        match self.rest() {
            [] => Ok(false),
            b" BC" => {
                self.at += 3;
                Ok(true)
            }
            _ => Err(format!("unexpected text at byte {}", self.at)),
        }
    }
}

/// Days since 1970-01-01 of a date as printed (`bc`: before the common era, where 1 BC is the
/// proleptic year 0, a leap year), checked to be a day of the calendar.
fn civil_days((year, month, day): (i64, u32, u32), bc: bool) -> Result<i64, String> {
    let year = match (bc, year) {
        (_, 0) => return Err("year 0 does not exist (1 BC precedes 1 AD)".into()),
        (true, y) => 1 - y,
        (false, y) => y,
    };
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return Err(format!("no such date: year {year}, month {month}, day {day}"));
    }
    Ok(days_from_civil(year, month, day))
}

fn infinite(v: &[u8]) -> bool {
    v == b"infinity" || v == b"-infinity"
}

/// A date as days since 1970-01-01; None for `infinity` / `-infinity`.
pub(super) fn date(v: &[u8]) -> Result<Option<i32>, String> {
    if infinite(v) {
        return Ok(None);
    }
    let mut c = Cursor { v, at: 0 };
    let ymd = c.date()?;
    let days = civil_days(ymd, c.era_bc()?)?;
    i32::try_from(days).map(Some).map_err(|_| "date out of range".into())
}

/// A time of day as nanoseconds since midnight (`24:00:00` is 86,400 s).
pub(super) fn time(v: &[u8]) -> Result<i64, String> {
    let mut c = Cursor { v, at: 0 };
    let t = c.time(true)?;
    if !c.rest().is_empty() {
        return Err(format!("unexpected text at byte {}", c.at));
    }
    Ok(t)
}

/// A timestamp as (seconds since 1970-01-01 00:00:00, nanoseconds within the second): UTC for a
/// `timestamptz` (`zoned`, whose text has a UTC offset), the wall clock for a `timestamp` (none).
/// None for `infinity` / `-infinity`.
pub(super) fn timestamp(v: &[u8], zoned: bool) -> Result<Option<(i64, u32)>, String> {
    if infinite(v) {
        return Ok(None);
    }
    let mut c = Cursor { v, at: 0 };
    let ymd = c.date()?;
    c.byte(b' ')?;
    let nanos = c.time(false)?;
    let mut offset = 0i64;
    if zoned {
        let sign = match c.peek() {
            Some(b'+') => 1,
            Some(b'-') => -1,
            _ => return Err("no UTC offset".into()),
        };
        c.at += 1;
        let h = c.digits(2, 2)? as i64;
        let mut m = 0;
        let mut s = 0;
        if c.peek() == Some(b':') {
            c.at += 1;
            m = c.digits(2, 2)? as i64;
            if c.peek() == Some(b':') {
                c.at += 1;
                s = c.digits(2, 2)? as i64;
            }
        }
        if m > 59 || s > 59 {
            return Err("bad UTC offset".into());
        }
        offset = sign * (h * 3600 + m * 60 + s);
    }
    let secs = civil_days(ymd, c.era_bc()?)? * DAY + nanos / 1_000_000_000 - offset;
    Ok(Some((secs, (nanos % 1_000_000_000) as u32)))
}

/// Seconds and nanoseconds as a count of `per_second` units (1000: milliseconds, ...), rounded
/// down; None beyond `i64`.
pub(super) fn in_units(secs: i64, nanos: u32, per_second: i64) -> Option<i64> {
    secs.checked_mul(per_second)?.checked_add(nanos as i64 / (1_000_000_000 / per_second))
}

/// One byte in each of a word's eight lanes.
const LANES: u64 = 0x0101_0101_0101_0101;
const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;

/// The high bit of each of `w`'s bytes that equals `b` (exact: no carry crosses a byte).
#[inline(always)]
fn lanes_equal(w: u64, b: u8) -> u64 {
    let x = w ^ (LANES * b as u64);
    !(((x & LOW7) + LOW7) | x | LOW7)
}

/// Bit i set when byte i of the block is a tab, a line end or a backslash.
#[inline]
fn special_mask(block: &[u8; 64]) -> u64 {
    let mut mask = 0u64;
    for (k, word) in block.chunks_exact(8).enumerate() {
        let w = u64::from_le_bytes(word.try_into().expect("8 bytes"));
        let m = lanes_equal(w, b'\t') | lanes_equal(w, b'\n') | lanes_equal(w, b'\\');
        // The eight high bits gathered into the top byte, in lane order.
        mask |= ((m >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56) << (k * 8);
    }
    mask
}

/// The positions of the bytes that structure `COPY ... TO` text (tab, line end, backslash), in
/// order. It reads 64 bytes at a time, eight to a machine word (SWAR), into a bit mask whose set
/// bits are the positions: about four times the speed of a byte loop on this text, where a
/// field is a few bytes long (and without a dependency or `unsafe`).
pub(super) struct CopySpecials<'a> {
    text: &'a [u8],
    /// Where the block of `mask` starts.
    base: usize,
    mask: u64,
    next_block: usize,
}

impl CopySpecials<'_> {
    pub(super) fn new(text: &[u8]) -> CopySpecials<'_> {
        CopySpecials { text, base: 0, mask: 0, next_block: 0 }
    }
}

impl Iterator for CopySpecials<'_> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        while self.mask == 0 {
            let rest = self.text.get(self.next_block..).filter(|r| !r.is_empty())?;
            self.mask = match rest.first_chunk::<64>() {
                Some(block) => special_mask(block),
                None => {
                    // The tail, padded with zeros (never special).
                    let mut block = [0u8; 64];
                    block[..rest.len()].copy_from_slice(rest);
                    special_mask(&block)
                }
            };
            self.base = self.next_block;
            self.next_block += 64;
        }
        let bit = self.mask.trailing_zeros() as usize;
        self.mask &= self.mask - 1;
        Some(self.base + bit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, NaiveDateTime, NaiveTime, Timelike};
    use proptest::prelude::*;

    // The oracle: chrono's format parser, as the conversion read these values before.

    /// A year as printed (`bc`: before the common era) in chrono's spelling of proleptic years.
    fn proleptic(y: i32, bc: bool) -> String {
        match if bc { 1 - y } else { y } {
            y if y < 0 => format!("-{:04}", -y),
            y => format!("{y:04}"),
        }
    }
    fn chrono_date(v: &str) -> Option<i32> {
        let (s, bc) = match v.strip_suffix(" BC") {
            Some(s) => (s, true),
            None => (v, false),
        };
        let (y, rest) = s.split_once('-')?;
        let y: i32 = y.parse().ok()?;
        let d = NaiveDate::parse_from_str(&format!("{}-{rest}", proleptic(y, bc)), "%Y-%m-%d").ok()?;
        Some((d - NaiveDate::from_ymd_opt(1970, 1, 1)?).num_days() as i32)
    }

    fn chrono_timestamp(v: &str, zoned: bool) -> Option<(i64, u32)> {
        let (s, bc) = match v.strip_suffix(" BC") {
            Some(s) => (s, true),
            None => (v, false),
        };
        // The year as printed: BC years are validated as the proleptic year they are.
        let (y, rest) = s.split_once('-')?;
        let y: i32 = y.parse().ok()?;
        let s = format!("{}-{rest}", proleptic(y, bc));
        let (local, offset) = if zoned {
            let at = s.rfind(['+', '-']).filter(|&i| i > 10)?;
            s.split_at(at)
        } else {
            (s.as_str(), "")
        };
        let mut secs = 0i64;
        if zoned {
            let sign = if offset.starts_with('-') { -1 } else { 1 };
            for (k, part) in offset[1..].split(':').enumerate() {
                secs += sign * part.parse::<i64>().ok()? * [3600, 60, 1].get(k)?;
            }
        }
        let t = NaiveDateTime::parse_from_str(local, "%Y-%m-%d %H:%M:%S%.f").ok()? - chrono::Duration::seconds(secs);
        let u = t.and_utc();
        Some((u.timestamp(), u.timestamp_subsec_nanos()))
    }

    /// A fraction as Postgres prints it: trailing zeros dropped, nothing when zero.
    fn fraction(micros: u32, digits: u32) -> String {
        let v = micros / 10u32.pow(6 - digits);
        if v == 0 {
            return String::new();
        }
        let s = format!(".{v:0width$}", width = digits as usize);
        s.trim_end_matches('0').to_string()
    }

    fn offset_text(secs: i32) -> String {
        let sign = if secs < 0 { '-' } else { '+' };
        let a = secs.unsigned_abs();
        let (h, m, s) = (a / 3600, a / 60 % 60, a % 60);
        match (m, s) {
            (0, 0) => format!("{sign}{h:02}"),
            (_, 0) => format!("{sign}{h:02}:{m:02}"),
            _ => format!("{sign}{h:02}:{m:02}:{s:02}"),
        }
    }

    #[test]
    fn ints() {
        for v in ["0", "-0", "+7", "-123", "9223372036854775807", "-9223372036854775808"] {
            assert_eq!(int(v.as_bytes()), v.parse().ok(), "{v}");
        }
        for v in ["", "-", "+", "1a", " 1", "9223372036854775808", "-9223372036854775809", "1.0"] {
            assert_eq!(int(v.as_bytes()), None, "{v}");
        }
    }

    #[test]
    fn decimals() {
        assert_eq!(decimal(b"12.50", 10, 2), Some(1250));
        assert_eq!(decimal(b"-0.001", 5, 3), Some(-1));
        assert_eq!(decimal(b"-12", 5, 2), Some(-1200));
        assert_eq!(decimal(b"0.0000", 4, 4), Some(0));
        assert_eq!(decimal(b"99999999999999999999999999999999999999", 38, 0), Some(10i128.pow(38) - 1));
        // Left to the general parser: too many digits, rounding, other spellings.
        assert_eq!(decimal(b"100000000000000000000000000000000000000", 38, 0), None);
        assert_eq!(decimal(b"1000.00", 5, 2), None);
        assert_eq!(decimal(b"1.005", 5, 2), None);
        for v in ["NaN", "", "-", ".", "1e5", "1.2.3", " 1"] {
            assert_eq!(decimal(v.as_bytes(), 10, 2), None, "{v}");
        }
        assert_eq!(decimal(b".5", 3, 2), Some(50));
        assert_eq!(decimal(b"5.", 3, 2), Some(500));
    }

    #[test]
    fn dates() {
        assert_eq!(date(b"1970-01-01"), Ok(Some(0)));
        assert_eq!(date(b"1970-01-02"), Ok(Some(1)));
        assert_eq!(date(b"1969-12-31"), Ok(Some(-1)));
        assert_eq!(date(b"infinity"), Ok(None));
        assert_eq!(date(b"-infinity"), Ok(None));
        // 1 BC is year 0, a leap year.
        assert_eq!(date(b"0001-01-01 BC"), Ok(Some(days_from_civil(0, 1, 1) as i32)));
        assert_eq!(date(b"0001-02-29 BC").map(|d| d.is_some()), Ok(true));
        assert_eq!(date(b"0001-01-01 BC"), Ok(Some(-719_528)));
        assert_eq!(date(b"4713-11-24 BC"), Ok(chrono_date("4713-11-24 BC")));
        assert!(date(b"0004-02-29 BC").is_err());
        assert_eq!(date(b"12345-06-07"), Ok(Some(days_from_civil(12345, 6, 7) as i32)));
        // Postgres's largest date.
        assert_eq!(date(b"5874897-12-31"), Ok(Some(days_from_civil(5874897, 12, 31) as i32)));
        assert!(date(b"5874898-01-01").is_err() || days_from_civil(5874898, 1, 1) <= i32::MAX as i64);
        for v in ["2023-02-29", "2024-13-01", "2024-00-10", "2024-01-32", "0000-01-01", "2024-1-01", "2024-01-01 AD"] {
            assert!(date(v.as_bytes()).is_err(), "{v}");
        }
    }

    #[test]
    fn times() {
        assert_eq!(time(b"00:00:00"), Ok(0));
        assert_eq!(time(b"12:34:56.789"), Ok(45_296_789_000_000));
        assert_eq!(time(b"23:59:59.999999"), Ok(86_399_999_999_000));
        assert_eq!(time(b"24:00:00"), Ok(86_400_000_000_000));
        for v in ["24:00:00.1", "24:00:01", "12:60:00", "12:00:60", "12:00", "12:00:00.", "12:00:00+00"] {
            assert!(time(v.as_bytes()).is_err(), "{v}");
        }
    }

    #[test]
    fn timestamps() {
        assert_eq!(timestamp(b"1970-01-01 00:00:00+00", true), Ok(Some((0, 0))));
        assert_eq!(timestamp(b"2024-01-02 03:04:05.123456+00", true), Ok(Some((1704164645, 123_456_000))));
        assert_eq!(timestamp(b"2024-01-02 05:04:05.123456+02", true), Ok(Some((1704164645, 123_456_000))));
        assert_eq!(timestamp(b"2024-01-02 08:34:05.5+05:30", true), Ok(Some((1704164645, 500_000_000))));
        assert_eq!(
            timestamp(b"1900-01-01 00:00:00-03:30:52", true),
            Ok(chrono_timestamp("1900-01-01 03:30:52+00", true))
        );
        assert_eq!(timestamp(b"1969-12-31 23:59:59.999999", false), Ok(Some((-1, 999_999_000))));
        assert_eq!(timestamp(b"infinity", true), Ok(None));
        assert_eq!(timestamp(b"-infinity", false), Ok(None));
        // Before the common era, after year 9999, and beyond nanoseconds' range (1677-2262).
        assert_eq!(
            timestamp(b"0044-03-15 12:00:00+00 BC", true),
            Ok(Some((days_from_civil(-43, 3, 15) * DAY + 12 * 3600, 0)))
        );
        assert_eq!(
            timestamp(b"0044-03-15 12:00:01.5 BC", false),
            Ok(Some((days_from_civil(-43, 3, 15) * DAY + 12 * 3600 + 1, 500_000_000)))
        );
        assert_eq!(timestamp(b"0001-01-01 00:00:00", false), Ok(chrono_timestamp("0001-01-01 00:00:00", false)));
        let (s, n) = timestamp(b"294276-12-31 23:59:59.999999+00", true).unwrap().unwrap();
        assert_eq!((s, n), (days_from_civil(294276, 12, 31) * DAY + DAY - 1, 999_999_000));
        // Postgres's last microsecond is past i64 microseconds since 1970 (its epoch is 2000).
        assert_eq!(in_units(s, n, 1_000_000), None);
        assert_eq!(in_units(s, n, 1000), Some(s * 1000 + 999));
        let (s, n) = timestamp(b"200000-01-01 00:00:00.000001", false).unwrap().unwrap();
        assert_eq!(in_units(s, n, 1_000_000), Some(s * 1_000_000 + 1));
        assert_eq!(in_units(-1, 999_999_000, 1000), Some(-1));
        for (v, zoned) in [
            ("2024-01-02 03:04:05", true),
            ("2024-01-02 03:04:05+00", false),
            ("2024-01-02 24:00:00+00", true),
            ("2024-01-02T03:04:05+00", true),
            ("2024-01-02 03:04:05+0", true),
            ("2024-01-02 03:04:05+00:60", true),
            ("2024-01-02 03:04:05+00 AD", true),
            ("2024-02-30 03:04:05", false),
        ] {
            assert!(timestamp(v.as_bytes(), zoned).is_err(), "{v}");
        }
    }

    /// A date as printed, with its era: the day within the month of that proleptic year.
    fn civil() -> impl Strategy<Value = (i64, u32, u32, bool)> {
        (1i64..=9999, 1u32..=12, 1u32..=31, any::<bool>())
            .prop_map(|(y, m, d, bc)| (y, m, d.min(days_in_month(if bc { 1 - y } else { y }, m)), bc))
    }

    #[test]
    fn copy_specials_positions() {
        let naive =
            |t: &[u8]| -> Vec<usize> { (0..t.len()).filter(|&i| matches!(t[i], b'\t' | b'\n' | b'\\')).collect() };
        let cases: [&[u8]; 6] =
            [b"", b"abc", b"\t", b"1\tx\\y\n", &[b'\\'; 130], &[0x89, 0x0a, 0x8a, 0x09, 0xdc, 0x5c, 0xff, 0x00]];
        for t in cases {
            assert_eq!(CopySpecials::new(t).collect::<Vec<_>>(), naive(t), "{t:?}");
        }
        // Every position in and around a block's edges.
        for len in [63, 64, 65, 127, 128, 129, 200] {
            for at in 0..len {
                let mut t = vec![b'a'; len];
                t[at] = b'\n';
                assert_eq!(CopySpecials::new(&t).collect::<Vec<_>>(), vec![at]);
            }
        }
    }

    proptest! {
        #[test]
        fn copy_specials_match_a_byte_loop(t in proptest::collection::vec(prop_oneof![Just(b'\t'), Just(b'\n'), Just(b'\\'), any::<u8>()], 0..300)) {
            let want: Vec<usize> = (0..t.len()).filter(|&i| matches!(t[i], b'\t' | b'\n' | b'\\')).collect();
            prop_assert_eq!(CopySpecials::new(&t).collect::<Vec<_>>(), want);
        }

        #[test]
        fn int_matches_std(v in any::<i64>(), plus in any::<bool>()) {
            let s = if plus && v >= 0 { format!("+{v}") } else { v.to_string() };
            prop_assert_eq!(int(s.as_bytes()), Some(v));
        }

        #[test]
        fn int_rejects_what_std_rejects(s in "[-+0-9a]{0,21}") {
            prop_assert_eq!(int(s.as_bytes()), s.parse::<i64>().ok());
        }

        #[test]
        fn decimal_matches_arrow(unscaled in -(10i128.pow(20))..10i128.pow(20), scale in 0u8..=10, extra in 0u8..8) {
            use arrow_array::types::Decimal128Type;
            let precision = 20 + scale + extra % 3;
            let precision = precision.min(38);
            let abs = unscaled.unsigned_abs();
            let p = 10u128.pow(scale as u32);
            let text = if scale == 0 {
                format!("{}{}", if unscaled < 0 { "-" } else { "" }, abs)
            } else {
                format!("{}{}.{:0w$}", if unscaled < 0 { "-" } else { "" }, abs / p, abs % p, w = scale as usize)
            };
            let arrow = arrow_cast::parse::parse_decimal::<Decimal128Type>(&text, precision, scale as i8).ok();
            let fast = decimal(text.as_bytes(), precision, scale);
            prop_assert_eq!(fast, arrow, "{}", text);
        }

        #[test]
        fn date_matches_chrono((y, m, d, bc) in civil()) {
            let text = format!("{y:04}-{m:02}-{d:02}{}", if bc { " BC" } else { "" });
            prop_assert_eq!(date(text.as_bytes()).ok().flatten(), chrono_date(&text), "{}", text);
        }

        #[test]
        fn time_matches_chrono(secs in 0u32..86_400, micros in 0u32..1_000_000, digits in 1u32..=6) {
            let text = format!("{:02}:{:02}:{:02}{}", secs / 3600, secs / 60 % 60, secs % 60, fraction(micros, digits));
            let t = NaiveTime::parse_from_str(&text, "%H:%M:%S%.f").unwrap();
            let want = t.num_seconds_from_midnight() as i64 * 1_000_000_000 + t.nanosecond() as i64;
            prop_assert_eq!(time(text.as_bytes()), Ok(want), "{}", text);
        }

        #[test]
        fn timestamp_matches_chrono(
            (y, m, d, bc) in civil(),
            secs in 0u32..86_400,
            micros in 0u32..1_000_000,
            digits in 1u32..=6,
            offset in -(15 * 3600i32)..=15 * 3600,
            zoned in any::<bool>(),
        ) {
            let offset = match offset % 4 {
                0 => offset / 3600 * 3600,
                1 | -1 => offset / 60 * 60,
                _ => offset,
            };
            let text = format!(
                "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}{}{}{}",
                secs / 3600,
                secs / 60 % 60,
                secs % 60,
                fraction(micros, digits),
                if zoned { offset_text(offset) } else { String::new() },
                if bc { " BC" } else { "" }
            );
            let want = chrono_timestamp(&text, zoned);
            prop_assert!(want.is_some(), "{}", text);
            prop_assert_eq!(timestamp(text.as_bytes(), zoned), Ok(want), "{}", text);
        }
    }
}
