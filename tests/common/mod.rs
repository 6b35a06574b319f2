//! Helpers shared by the integration tests: parsing the JSON values the reference
//! implementations use in goldens and specs, and locating the oracle installation.
#![allow(dead_code)]

pub mod dt_kv;
pub mod oracle;
pub mod pg;
pub mod s3;

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
        TypeKind::Decimal { precision, scale } => {
            Datum::Decimal { unscaled: parse_decimal(&json_text(v), *scale), precision: *precision, scale: *scale }
        }
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

// ---------------------------------------------------------------------------------------------
// Rows in the oracles' JSON spelling (tools/oracle/oracle_common.py), to compare reads.

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType as ArrowType, TimeUnit};

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn fmt_date(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

fn fmt_nanos(total: i64, digits: usize) -> String {
    let days = total.div_euclid(86_400_000_000_000);
    let rem = total.rem_euclid(86_400_000_000_000);
    let secs = rem / 1_000_000_000;
    let frac = format!("{:09}", rem % 1_000_000_000);
    format!("{} {:02}:{:02}:{:02}.{}", fmt_date(days), secs / 3600, secs / 60 % 60, secs % 60, &frac[..digits])
}

fn cell(col: &dyn Array, i: usize, t: &DataType) -> Value {
    if col.is_null(i) {
        return Value::Null;
    }
    match col.data_type() {
        ArrowType::Boolean => Value::Bool(col.as_boolean().value(i)),
        ArrowType::Int8 => col.as_primitive::<Int8Type>().value(i).into(),
        ArrowType::Int16 => col.as_primitive::<Int16Type>().value(i).into(),
        ArrowType::Int32 => col.as_primitive::<Int32Type>().value(i).into(),
        ArrowType::Int64 => col.as_primitive::<Int64Type>().value(i).into(),
        ArrowType::Float32 => {
            let v: f64 = format!("{}", col.as_primitive::<Float32Type>().value(i)).parse().unwrap();
            serde_json::Number::from_f64(v).map(Value::Number).unwrap_or(Value::Null)
        }
        ArrowType::Float64 => serde_json::Number::from_f64(col.as_primitive::<Float64Type>().value(i))
            .map(Value::Number)
            .unwrap_or(Value::Null),
        ArrowType::Decimal128(_, s) => {
            Value::String(shoal::spec::datum::format_decimal(col.as_primitive::<Decimal128Type>().value(i), *s as u8))
        }
        ArrowType::Utf8 => Value::String(col.as_string::<i32>().value(i).to_string()),
        ArrowType::Binary => Value::String(to_hex(col.as_binary::<i32>().value(i))),
        ArrowType::Date32 => Value::String(fmt_date(col.as_primitive::<Date32Type>().value(i) as i64)),
        ArrowType::Time32(TimeUnit::Millisecond) => {
            let ms = col.as_primitive::<Time32MillisecondType>().value(i) as i64;
            Value::String(fmt_nanos(ms * 1_000_000, 3)[11..].to_string())
        }
        ArrowType::Timestamp(unit, _) => {
            let digits = match t.kind {
                TypeKind::Timestamp(p) | TypeKind::LocalZonedTimestamp(p) => {
                    if p <= 3 {
                        3
                    } else if p <= 6 {
                        6
                    } else {
                        9
                    }
                }
                _ => 9,
            };
            let nanos = match unit {
                TimeUnit::Second => col.as_primitive::<TimestampSecondType>().value(i) * 1_000_000_000,
                TimeUnit::Millisecond => col.as_primitive::<TimestampMillisecondType>().value(i) * 1_000_000,
                TimeUnit::Microsecond => col.as_primitive::<TimestampMicrosecondType>().value(i) * 1000,
                TimeUnit::Nanosecond => col.as_primitive::<TimestampNanosecondType>().value(i),
            };
            Value::String(fmt_nanos(nanos, digits))
        }
        other => panic!("no oracle spelling for {other}"),
    }
}

/// Every row of the batches as canonical JSON lines (sorted), columns typed by `types`.
pub fn rows_as_lines(batches: &[RecordBatch], types: &[DataType]) -> Vec<String> {
    let mut out = vec![];
    for b in batches {
        let schema = b.schema();
        for i in 0..b.num_rows() {
            let mut m = serde_json::Map::new();
            for (c, (f, t)) in schema.fields().iter().zip(types).enumerate() {
                m.insert(f.name().clone(), cell(b.column(c).as_ref(), i, t));
            }
            out.push(Value::Object(m).to_string());
        }
    }
    out.sort();
    out
}

/// Oracle output (JSON lines) in the same canonical form.
pub fn canonical_lines(text: &str) -> Vec<String> {
    let mut out: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("bad oracle line {l:?}: {e}")).to_string())
        .collect();
    out.sort();
    out
}

/// Compares two sets of canonical rows, printing counts and the first differences only.
pub fn assert_rows_eq(left: &[String], right: &[String], context: &str) {
    if left == right {
        return;
    }
    let l: std::collections::BTreeSet<&String> = left.iter().collect();
    let r: std::collections::BTreeSet<&String> = right.iter().collect();
    let only_l: Vec<_> = l.difference(&r).take(5).collect();
    let only_r: Vec<_> = r.difference(&l).take(5).collect();
    panic!(
        "{context}: {} rows vs {} rows\nonly in left (first 5):\n  {}\nonly in right (first 5):\n  {}",
        left.len(),
        right.len(),
        only_l.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n  "),
        only_r.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n  ")
    );
}

/// The rows of a two-column table (see [`kv_def`]) at a snapshot (None: the latest) as a map;
/// a key read twice fails the test.
pub async fn kv_rows(t: &shoal::Table, snapshot: Option<i64>) -> std::collections::BTreeMap<i64, String> {
    use arrow_array::cast::AsArray;
    let b = t.read_all(snapshot, None).await.expect("the table reads");
    let ks = b.column(0).as_primitive::<arrow_array::types::Int64Type>();
    let vs = b.column(1).as_string::<i32>();
    let mut m = std::collections::BTreeMap::new();
    for i in 0..b.num_rows() {
        assert!(m.insert(ks.value(i), vs.value(i).to_string()).is_none(), "duplicate key {}", ks.value(i));
    }
    m
}

/// A batch of (BIGINT key, STRING value) rows for the two-column tables many tests use.
pub fn kv_batch(t: &shoal::Table, rows: &[(i64, String)]) -> arrow_array::RecordBatch {
    use std::sync::Arc;
    arrow_array::RecordBatch::try_new(
        t.arrow_schema(),
        vec![
            Arc::new(arrow_array::Int64Array::from(rows.iter().map(|r| r.0).collect::<Vec<_>>()))
                as arrow_array::ArrayRef,
            Arc::new(arrow_array::StringArray::from(rows.iter().map(|r| r.1.clone()).collect::<Vec<_>>())),
        ],
    )
    .expect("rows fit the two-column table")
}

/// The two-column table (`k BIGINT` primary key, `v STRING`, 2 buckets) many tests use, with
/// extra options.
pub fn kv_def(extra: &[(&str, &str)]) -> shoal::table::TableDefinition {
    let mut d = shoal::table::TableDefinition::default()
        .column("k", shoal::spec::parse_type("BIGINT").expect("static type"))
        .column("v", shoal::spec::parse_type("STRING").expect("static type"))
        .primary_key(&["k"])
        .option("bucket", "2");
    for (k, v) in extra {
        d = d.option(k, v);
    }
    d
}

/// Runs the `shoal` binary with `args` (ignoring any `SHOAL_WAREHOUSE` of the environment) and
/// returns its stdout; panics with both outputs when it fails.
pub fn shoal_ok<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(args: &[S]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shoal"))
        .args(args)
        .env_remove("SHOAL_WAREHOUSE")
        .output()
        .expect("run shoal");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "shoal {args:?} failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}
