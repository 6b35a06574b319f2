//! Avro data files, read whole into Arrow. Paimon 1.x writes the pending files of a
//! postpone-bucket table (`bucket = -2`) in Avro whenever the table's row type converts to Avro
//! (Java's PostponeBucketFileStoreWrite; pypaimon 2.x the same), whatever `file.format` says;
//! shoal reads them to move their rows into real buckets. The layout is the data-file one
//! (`_KEY_<k>`..., `_SEQUENCE_NUMBER`, `_VALUE_KIND`, the value columns), each nullable column a
//! `["null", T]` union, atomic types as Paimon's AvroSchemaConverter maps them (TINYINT and
//! SMALLINT as `int`, DATE `int`/`date`, TIME `int`/`time-millis`, TIMESTAMP(p) `long` with
//! `timestamp-millis` (p <= 3) or `timestamp-micros`, DECIMAL `bytes` with the `decimal`
//! logical type, big-endian two's complement). Nested types are refused by name.

use std::collections::HashMap;
use std::sync::Arc;

use apache_avro::types::Value;
use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, Float32Builder, Float64Builder, Int16Builder,
    Int32Builder, Int64Builder, Int8Builder, StringBuilder, Time32MillisecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch, TimestampMicrosecondArray, TimestampMillisecondArray};
use arrow_array::{TimestampNanosecondArray, TimestampSecondArray};
use arrow_schema::{DataType as ArrowType, SchemaRef, TimeUnit};

use crate::error::{Error, Result};

/// The rows of the Avro data file `bytes` (at `path`, for errors) as one batch of `schema` (the
/// file's data-file layout in Arrow), columns matched by name.
pub(super) fn decode_avro_data_file(bytes: &[u8], schema: &SchemaRef, path: &str) -> Result<RecordBatch> {
    let records = crate::spec::avro_container::read_records(bytes).map_err(|e| Error::data_file(path, e))?;
    let mut rows: Vec<&[(String, Value)]> = Vec::with_capacity(records.len());
    for r in &records {
        match r {
            Value::Record(fields) => rows.push(fields),
            other => return Err(Error::data_file(path, format!("an Avro data file holds records, not {other:?}"))),
        }
    }
    // Every record of a container has the writer schema's fields in the same order.
    let positions: HashMap<&str, usize> =
        rows.first().map(|r| r.iter().enumerate().map(|(i, (n, _))| (n.as_str(), i)).collect()).unwrap_or_default();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let pos = match positions.get(field.name().as_str()) {
            Some(p) => Some(*p),
            None if rows.is_empty() => None,
            None => return Err(Error::data_file(path, format!("column {} is missing", field.name()))),
        };
        let values = rows.iter().map(|r| pos.and_then(|p| r.get(p)).map(|(_, v)| unwrap_union(v)));
        let column = build_column(values, field.data_type())
            .map_err(|e| Error::data_file(path, format!("column {}: {e}", field.name())))?;
        if !field.is_nullable() && column.null_count() > 0 {
            return Err(Error::data_file(path, format!("column {} holds nulls but is NOT NULL", field.name())));
        }
        columns.push(column);
    }
    RecordBatch::try_new_with_options(
        schema.clone(),
        columns,
        &arrow_array::RecordBatchOptions::new().with_row_count(Some(rows.len())),
    )
    .map_err(|e| Error::data_file(path, e))
}

/// A nullable column's value: the branch of its `["null", T]` union.
fn unwrap_union(v: &Value) -> &Value {
    match v {
        Value::Union(_, inner) => inner,
        other => other,
    }
}

fn unexpected(v: &Value, t: &ArrowType) -> String {
    format!("Avro value {v:?} does not hold a {t}")
}

/// One column from its values (None and `Value::Null`: null).
fn build_column<'a>(
    values: impl Iterator<Item = Option<&'a Value>>,
    t: &ArrowType,
) -> std::result::Result<ArrayRef, String> {
    let values: Vec<Option<&Value>> = values.map(|v| v.filter(|v| !matches!(v, Value::Null))).collect();
    macro_rules! ints {
        ($builder:ty, $native:ty) => {{
            let mut b = <$builder>::with_capacity(values.len());
            for v in &values {
                match v {
                    None => b.append_null(),
                    Some(Value::Int(i)) | Some(Value::Date(i)) | Some(Value::TimeMillis(i)) => {
                        b.append_value(<$native>::try_from(*i).map_err(|_| format!("{i} is out of range for {t}"))?)
                    }
                    Some(Value::Long(i)) => {
                        b.append_value(<$native>::try_from(*i).map_err(|_| format!("{i} is out of range for {t}"))?)
                    }
                    Some(other) => return Err(unexpected(other, t)),
                }
            }
            Arc::new(b.finish()) as ArrayRef
        }};
    }
    let array: ArrayRef = match t {
        ArrowType::Boolean => {
            let mut b = BooleanBuilder::with_capacity(values.len());
            for v in &values {
                match v {
                    None => b.append_null(),
                    Some(Value::Boolean(x)) => b.append_value(*x),
                    Some(other) => return Err(unexpected(other, t)),
                }
            }
            Arc::new(b.finish())
        }
        ArrowType::Int8 => ints!(Int8Builder, i8),
        ArrowType::Int16 => ints!(Int16Builder, i16),
        ArrowType::Int32 => ints!(Int32Builder, i32),
        ArrowType::Int64 => ints!(Int64Builder, i64),
        ArrowType::Date32 => ints!(Date32Builder, i32),
        ArrowType::Time32(TimeUnit::Millisecond) => ints!(Time32MillisecondBuilder, i32),
        ArrowType::Float32 => {
            let mut b = Float32Builder::with_capacity(values.len());
            for v in &values {
                match v {
                    None => b.append_null(),
                    Some(Value::Float(x)) => b.append_value(*x),
                    Some(other) => return Err(unexpected(other, t)),
                }
            }
            Arc::new(b.finish())
        }
        ArrowType::Float64 => {
            let mut b = Float64Builder::with_capacity(values.len());
            for v in &values {
                match v {
                    None => b.append_null(),
                    Some(Value::Double(x)) => b.append_value(*x),
                    Some(Value::Float(x)) => b.append_value(*x as f64),
                    Some(other) => return Err(unexpected(other, t)),
                }
            }
            Arc::new(b.finish())
        }
        ArrowType::Utf8 => {
            let mut b = StringBuilder::with_capacity(values.len(), 0);
            for v in &values {
                match v {
                    None => b.append_null(),
                    Some(Value::String(s)) | Some(Value::Enum(_, s)) => b.append_value(s),
                    Some(other) => return Err(unexpected(other, t)),
                }
            }
            Arc::new(b.finish())
        }
        ArrowType::Binary => {
            let mut b = BinaryBuilder::with_capacity(values.len(), 0);
            for v in &values {
                match v {
                    None => b.append_null(),
                    Some(Value::Bytes(x)) | Some(Value::Fixed(_, x)) => b.append_value(x),
                    Some(other) => return Err(unexpected(other, t)),
                }
            }
            Arc::new(b.finish())
        }
        ArrowType::Decimal128(p, s) => {
            let mut b = Decimal128Builder::with_capacity(values.len());
            for v in &values {
                match v {
                    None => b.append_null(),
                    Some(Value::Decimal(d)) => {
                        let bytes: Vec<u8> = d.try_into().map_err(|e| format!("decimal: {e}"))?;
                        b.append_value(unscaled(&bytes)?);
                    }
                    Some(Value::Bytes(x)) | Some(Value::Fixed(_, x)) => b.append_value(unscaled(x)?),
                    Some(other) => return Err(unexpected(other, t)),
                }
            }
            Arc::new(b.finish().with_precision_and_scale(*p, *s).map_err(|e| e.to_string())?)
        }
        ArrowType::Timestamp(unit, tz) => {
            let mut out: Vec<Option<i64>> = Vec::with_capacity(values.len());
            for v in &values {
                out.push(match v {
                    None => None,
                    Some(v) => Some(timestamp_in(v, unit).ok_or_else(|| unexpected(v, t))?),
                });
            }
            match unit {
                TimeUnit::Second => Arc::new(TimestampSecondArray::from(out).with_timezone_opt(tz.clone())),
                TimeUnit::Millisecond => Arc::new(TimestampMillisecondArray::from(out).with_timezone_opt(tz.clone())),
                TimeUnit::Microsecond => Arc::new(TimestampMicrosecondArray::from(out).with_timezone_opt(tz.clone())),
                TimeUnit::Nanosecond => Arc::new(TimestampNanosecondArray::from(out).with_timezone_opt(tz.clone())),
            }
        }
        other => return Err(format!("{other} columns in Avro data files are not read by shoal yet")),
    };
    Ok(array)
}

/// A big-endian two's complement unscaled decimal.
fn unscaled(bytes: &[u8]) -> std::result::Result<i128, String> {
    if bytes.len() > 16 {
        return Err(format!("a decimal of {} bytes does not fit 128 bits", bytes.len()));
    }
    let negative = bytes.first().is_some_and(|b| b & 0x80 != 0);
    let mut buf = if negative { [0xffu8; 16] } else { [0u8; 16] };
    buf[16 - bytes.len()..].copy_from_slice(bytes);
    Ok(i128::from_be_bytes(buf))
}

/// A timestamp value in `unit`, from whichever unit the Avro value carries (a bare `long`: taken
/// as already in `unit`).
fn timestamp_in(v: &Value, unit: &TimeUnit) -> Option<i64> {
    let (value, nanos_per): (i64, i64) = match v {
        Value::TimestampMillis(x) | Value::LocalTimestampMillis(x) => (*x, 1_000_000),
        Value::TimestampMicros(x) | Value::LocalTimestampMicros(x) => (*x, 1_000),
        Value::TimestampNanos(x) | Value::LocalTimestampNanos(x) => (*x, 1),
        Value::Long(x) => return Some(*x),
        _ => return None,
    };
    let target: i64 = match unit {
        TimeUnit::Second => 1_000_000_000,
        TimeUnit::Millisecond => 1_000_000,
        TimeUnit::Microsecond => 1_000,
        TimeUnit::Nanosecond => 1,
    };
    if nanos_per >= target {
        value.checked_mul(nanos_per / target)
    } else {
        Some(value.div_euclid(target / nanos_per))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_big_endian_twos_complement() {
        assert_eq!(unscaled(&[0x01, 0x00]).unwrap(), 256);
        assert_eq!(unscaled(&[0xff]).unwrap(), -1);
        assert_eq!(unscaled(&[]).unwrap(), 0);
        assert!(unscaled(&[0; 17]).is_err());
    }

    #[test]
    fn timestamps_convert_between_units() {
        assert_eq!(timestamp_in(&Value::TimestampMillis(1500), &TimeUnit::Microsecond), Some(1_500_000));
        assert_eq!(timestamp_in(&Value::TimestampMicros(1_500_999), &TimeUnit::Millisecond), Some(1500));
        assert_eq!(timestamp_in(&Value::Long(7), &TimeUnit::Millisecond), Some(7));
    }
}
