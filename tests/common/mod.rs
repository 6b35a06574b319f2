//! Helpers shared by the integration tests: parsing the JSON values the reference
//! implementations use in goldens and specs, and locating the oracle installation.
#![allow(dead_code)]

use serde_json::Value;
use shoal::spec::{DataType, Datum, TypeKind};

pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn parse_date(s: &str) -> i32 {
    let p: Vec<i64> = s.trim().split('-').map(|x| x.parse().expect("date part")).collect();
    days_from_civil(p[0], p[1], p[2]) as i32
}

/// `HH:MM:SS[.fffffffff]` -> nanos of day.
fn parse_time_nanos(s: &str) -> i64 {
    let (hms, frac) = match s.split_once('.') {
        Some((a, b)) => (a, b),
        None => (s, ""),
    };
    let p: Vec<i64> = hms.split(':').map(|x| x.parse().expect("time part")).collect();
    let frac_nanos: i64 = if frac.is_empty() { 0 } else { format!("{frac:0<9}")[..9].parse().expect("fraction") };
    ((p[0] * 60 + p[1]) * 60 + p.get(2).copied().unwrap_or(0)) * 1_000_000_000 + frac_nanos
}

pub fn parse_timestamp_nanos(s: &str) -> i64 {
    let s = s.trim().replace('T', " ");
    let (date, time) = s.split_once(' ').unwrap_or((&s, "00:00:00"));
    parse_date(date) as i64 * 86_400_000_000_000 + parse_time_nanos(time)
}

pub fn parse_decimal(s: &str, scale: u8) -> i128 {
    let s = s.trim();
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let mut frac = frac.to_string();
    while frac.len() < scale as usize {
        frac.push('0');
    }
    let digits = format!("{int}{}", &frac[..scale as usize]);
    let v: i128 = digits.parse().expect("decimal digits");
    if neg {
        -v
    } else {
        v
    }
}

/// A JSON value (in the oracles' spelling) as a Datum of type `t`.
pub fn datum_from_json(v: &Value, t: &DataType) -> Datum {
    if v.is_null() {
        return Datum::Null;
    }
    match &t.kind {
        TypeKind::Boolean => Datum::Boolean(v.as_bool().expect("bool")),
        TypeKind::TinyInt => Datum::TinyInt(v.as_i64().expect("int") as i8),
        TypeKind::SmallInt => Datum::SmallInt(v.as_i64().expect("int") as i16),
        TypeKind::Int => Datum::Int(v.as_i64().expect("int") as i32),
        TypeKind::BigInt => Datum::BigInt(v.as_i64().expect("int")),
        TypeKind::Float => Datum::Float(v.as_f64().expect("float") as f32),
        TypeKind::Double => Datum::Double(v.as_f64().expect("double")),
        TypeKind::Decimal { precision, scale } => Datum::Decimal {
            unscaled: parse_decimal(&json_text(v), *scale),
            precision: *precision,
            scale: *scale,
        },
        TypeKind::Char(_) | TypeKind::VarChar(_) => Datum::String(v.as_str().expect("string").to_string()),
        TypeKind::Binary(_) | TypeKind::VarBinary(_) => Datum::Bytes(hex(v.as_str().expect("hex"))),
        TypeKind::Date => Datum::Date(parse_date(v.as_str().expect("date"))),
        TypeKind::Time(_) => Datum::Time((parse_time_nanos(v.as_str().expect("time")) / 1_000_000) as i32),
        TypeKind::Timestamp(_) | TypeKind::LocalZonedTimestamp(_) => {
            let n = parse_timestamp_nanos(v.as_str().expect("timestamp"));
            Datum::Timestamp { millis: n.div_euclid(1_000_000), nanos: n.rem_euclid(1_000_000) as i32 }
        }
        other => panic!("no golden values of nested type {other:?}"),
    }
}

fn json_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit")).collect()
}

pub fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Minimal CSV reading (RFC 4180 quotes) for the golden files.
pub fn read_csv(path: &str) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut rows = vec![];
    let mut row = vec![];
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            ('"', false) if field.is_empty() => quoted = true,
            (',', false) => row.push(std::mem::take(&mut field)),
            ('\n', false) => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            ('\r', false) => {}
            (c, _) => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}
