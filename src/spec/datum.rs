//! A single typed value: what partitions, min/max keys and statistics hold.

use std::cmp::Ordering;
use std::fmt;

/// One scalar value of a Paimon type. Nested types have no scalar form here (they carry no
/// statistics and cannot be keys or partitions).
#[derive(Clone, Debug, PartialEq)]
pub enum Datum {
    Null,
    Boolean(bool),
    TinyInt(i8),
    SmallInt(i16),
    Int(i32),
    BigInt(i64),
    Float(f32),
    Double(f64),
    /// Unscaled value with its precision and scale.
    Decimal {
        unscaled: i128,
        precision: u8,
        scale: u8,
    },
    String(String),
    Bytes(Vec<u8>),
    /// Days since 1970-01-01.
    Date(i32),
    /// Milliseconds of the day.
    Time(i32),
    /// Epoch millis plus the nanoseconds within that milli (0..999_999).
    Timestamp {
        millis: i64,
        nanos: i32,
    },
}

impl Datum {
    pub fn is_null(&self) -> bool {
        matches!(self, Datum::Null)
    }

    /// Ordering between two values of the same type (nulls first). Used for statistics.
    pub fn compare(&self, other: &Datum) -> Ordering {
        use Datum::*;
        match (self, other) {
            (Null, Null) => Ordering::Equal,
            (Null, _) => Ordering::Less,
            (_, Null) => Ordering::Greater,
            (Boolean(a), Boolean(b)) => a.cmp(b),
            (TinyInt(a), TinyInt(b)) => a.cmp(b),
            (SmallInt(a), SmallInt(b)) => a.cmp(b),
            (Int(a), Int(b)) | (Date(a), Date(b)) | (Time(a), Time(b)) => a.cmp(b),
            (BigInt(a), BigInt(b)) => a.cmp(b),
            (Float(a), Float(b)) => a.total_cmp(b),
            (Double(a), Double(b)) => a.total_cmp(b),
            (Decimal { unscaled: a, .. }, Decimal { unscaled: b, .. }) => a.cmp(b),
            (String(a), String(b)) => a.as_bytes().cmp(b.as_bytes()),
            (Bytes(a), Bytes(b)) => a.cmp(b),
            (Timestamp { millis: a, nanos: an }, Timestamp { millis: b, nanos: bn }) => (a, an).cmp(&(b, bn)),
            _ => Ordering::Equal,
        }
    }
}

impl fmt::Display for Datum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Datum::Null => write!(f, "null"),
            Datum::Boolean(v) => write!(f, "{v}"),
            Datum::TinyInt(v) => write!(f, "{v}"),
            Datum::SmallInt(v) => write!(f, "{v}"),
            Datum::Int(v) | Datum::Date(v) | Datum::Time(v) => write!(f, "{v}"),
            Datum::BigInt(v) => write!(f, "{v}"),
            Datum::Float(v) => write!(f, "{v}"),
            Datum::Double(v) => write!(f, "{v}"),
            Datum::Decimal { unscaled, scale, .. } => write!(f, "{}", format_decimal(*unscaled, *scale)),
            Datum::String(v) => write!(f, "{v}"),
            Datum::Bytes(v) => {
                for b in v {
                    write!(f, "{b:02x}")?;
                }
                Ok(())
            }
            Datum::Timestamp { millis, nanos } => write!(f, "{millis}ms+{nanos}ns"),
        }
    }
}

/// `12345` with scale 2 -> `123.45`.
pub fn format_decimal(unscaled: i128, scale: u8) -> String {
    let neg = unscaled < 0;
    let digits = unscaled.unsigned_abs().to_string();
    let scale = scale as usize;
    let s = if scale == 0 {
        digits
    } else if digits.len() > scale {
        format!("{}.{}", &digits[..digits.len() - scale], &digits[digits.len() - scale..])
    } else {
        format!("0.{}{}", "0".repeat(scale - digits.len()), digits)
    };
    if neg {
        format!("-{s}")
    } else {
        s
    }
}
