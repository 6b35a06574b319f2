//! Column statistics of a data file, as Paimon records them (SimpleStats: min and max rows and
//! null counts; strings truncated per `metadata.stats-mode`, default `truncate(16)`).

use arrow_arith::aggregate;
use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::Array;
use arrow_schema::{DataType as ArrowType, TimeUnit};

use crate::spec::options::StatsMode;
use crate::spec::{BinaryRow, DataType, Datum, NullStyle, SimpleStats};

/// Min and max of one column, or None where the type has no min/max statistics.
fn min_max(array: &dyn Array, t: &DataType) -> Option<(Datum, Datum)> {
    if !t.has_min_max_stats() {
        return None;
    }
    if array.null_count() == array.len() {
        return Some((Datum::Null, Datum::Null));
    }
    macro_rules! prim {
        ($ty:ty, $wrap:expr) => {{
            let a = array.as_primitive::<$ty>();
            Some(($wrap(aggregate::min(a)?), $wrap(aggregate::max(a)?)))
        }};
    }
    match array.data_type() {
        ArrowType::Boolean => {
            let a = array.as_boolean();
            Some((Datum::Boolean(aggregate::min_boolean(a)?), Datum::Boolean(aggregate::max_boolean(a)?)))
        }
        ArrowType::Int8 => prim!(Int8Type, Datum::TinyInt),
        ArrowType::Int16 => prim!(Int16Type, Datum::SmallInt),
        ArrowType::Int32 => prim!(Int32Type, Datum::Int),
        ArrowType::Int64 => prim!(Int64Type, Datum::BigInt),
        ArrowType::Float32 => prim!(Float32Type, Datum::Float),
        ArrowType::Float64 => prim!(Float64Type, Datum::Double),
        ArrowType::Date32 => prim!(Date32Type, Datum::Date),
        ArrowType::Time32(TimeUnit::Millisecond) => prim!(Time32MillisecondType, Datum::Time),
        ArrowType::Decimal128(p, s) => {
            let a = array.as_primitive::<Decimal128Type>();
            let d = |v: i128| Datum::Decimal { unscaled: v, precision: *p, scale: *s as u8 };
            Some((d(aggregate::min(a)?), d(aggregate::max(a)?)))
        }
        ArrowType::Timestamp(unit, _) => {
            let (lo, hi) = match unit {
                TimeUnit::Second => {
                    let a = array.as_primitive::<TimestampSecondType>();
                    (aggregate::min(a)? * 1000 * 1_000_000, aggregate::max(a)? * 1000 * 1_000_000)
                }
                TimeUnit::Millisecond => {
                    let a = array.as_primitive::<TimestampMillisecondType>();
                    (aggregate::min(a)? * 1_000_000, aggregate::max(a)? * 1_000_000)
                }
                TimeUnit::Microsecond => {
                    let a = array.as_primitive::<TimestampMicrosecondType>();
                    (aggregate::min(a)? * 1000, aggregate::max(a)? * 1000)
                }
                TimeUnit::Nanosecond => {
                    let a = array.as_primitive::<TimestampNanosecondType>();
                    (aggregate::min(a)?, aggregate::max(a)?)
                }
            };
            let ts =
                |n: i64| Datum::Timestamp { millis: n.div_euclid(1_000_000), nanos: n.rem_euclid(1_000_000) as i32 };
            Some((ts(lo), ts(hi)))
        }
        ArrowType::Utf8 => {
            let a = array.as_string::<i32>();
            Some((
                Datum::String(aggregate::min_string(a)?.to_string()),
                Datum::String(aggregate::max_string(a)?.to_string()),
            ))
        }
        ArrowType::LargeUtf8 => {
            let a = array.as_string::<i64>();
            Some((
                Datum::String(aggregate::min_string(a)?.to_string()),
                Datum::String(aggregate::max_string(a)?.to_string()),
            ))
        }
        _ => None,
    }
}

/// Paimon's truncation of string statistics: the min keeps the first `n` characters; the max
/// keeps them and increments the last one (so it stays an upper bound), or is dropped if it can't.
fn truncate(min: Datum, max: Datum, n: usize) -> (Datum, Datum) {
    let min = match min {
        Datum::String(s) if s.chars().count() > n => Datum::String(s.chars().take(n).collect()),
        other => other,
    };
    let max = match max {
        Datum::String(s) if s.chars().count() > n => {
            let mut chars: Vec<char> = s.chars().take(n).collect();
            let mut out = None;
            while let Some(last) = chars.pop() {
                if let Some(next) = char::from_u32(last as u32 + 1) {
                    chars.push(next);
                    out = Some(Datum::String(chars.iter().collect()));
                    break;
                }
            }
            out.unwrap_or(Datum::Null)
        }
        other => other,
    };
    (min, max)
}

/// Stats over `columns` (with their Paimon types) in the given mode.
#[cfg(test)]
pub(crate) fn collect_stats(columns: &[&dyn Array], types: &[DataType], mode: StatsMode) -> SimpleStats {
    let mut acc = StatsAccumulator::new(types, mode);
    acc.update(columns);
    acc.finish()
}

/// Stats of columns seen batch by batch (a file written while its rows come): the running min,
/// max and null count per column, truncated as the mode says when finished.
pub(crate) struct StatsAccumulator {
    types: Vec<DataType>,
    mode: StatsMode,
    mins: Vec<Option<Datum>>,
    maxs: Vec<Option<Datum>>,
    nulls: Vec<i64>,
}

impl StatsAccumulator {
    pub(crate) fn new(types: &[DataType], mode: StatsMode) -> StatsAccumulator {
        let n = types.len();
        StatsAccumulator { types: types.to_vec(), mode, mins: vec![None; n], maxs: vec![None; n], nulls: vec![0; n] }
    }

    /// Takes in the next rows of every column.
    pub(crate) fn update(&mut self, columns: &[&dyn Array]) {
        if self.mode == StatsMode::None {
            return;
        }
        for (i, (col, t)) in columns.iter().zip(&self.types).enumerate() {
            self.nulls[i] += col.null_count() as i64;
            if self.mode == StatsMode::Counts || col.null_count() == col.len() {
                continue;
            }
            if let Some((lo, hi)) = min_max(*col, t) {
                if self.mins[i].as_ref().is_none_or(|m| lo.compare(m).is_lt()) {
                    self.mins[i] = Some(lo);
                }
                if self.maxs[i].as_ref().is_none_or(|m| hi.compare(m).is_gt()) {
                    self.maxs[i] = Some(hi);
                }
            }
        }
    }

    pub(crate) fn finish(self) -> SimpleStats {
        let n = self.types.len();
        let mut mins = vec![Datum::Null; n];
        let mut maxs = vec![Datum::Null; n];
        let mut nulls = vec![None; n];
        if self.mode != StatsMode::None {
            for i in 0..n {
                nulls[i] = Some(self.nulls[i]);
                if let (Some(lo), Some(hi)) = (self.mins[i].clone(), self.maxs[i].clone()) {
                    let (lo, hi) = match self.mode {
                        StatsMode::Truncate(len) => truncate(lo, hi, len),
                        _ => (lo, hi),
                    };
                    mins[i] = lo;
                    maxs[i] = hi;
                }
            }
        }
        let nullable_types: Vec<DataType> = self.types.iter().map(|t| t.with_nullable(true)).collect();
        let row = |v: &[Datum]| {
            BinaryRow::from_datums(v, &nullable_types, NullStyle::Serializer).unwrap_or_else(|_| {
                BinaryRow::from_datums(&vec![Datum::Null; n], &nullable_types, NullStyle::Serializer)
                    .expect("an all-null row always encodes")
            })
        };
        SimpleStats { min_values: row(&mins), max_values: row(&maxs), null_counts: Some(nulls) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::parse_type;
    use arrow_array::{Int64Array, StringArray};

    #[test]
    fn min_max_nulls_and_truncation() {
        let ints = Int64Array::from(vec![Some(5), None, Some(-3)]);
        let strs = StringArray::from(vec![Some("aaaaaaaaaaaaaaaaaaaaz"), Some("b"), None]);
        let types = vec![parse_type("BIGINT").unwrap(), parse_type("STRING").unwrap()];
        let s = collect_stats(&[&ints, &strs], &types, StatsMode::Truncate(16));
        assert_eq!(s.null_counts, Some(vec![Some(1), Some(1)]));
        assert_eq!(
            s.min_values.to_datums(&types).unwrap(),
            vec![Datum::BigInt(-3), Datum::String("aaaaaaaaaaaaaaaa".into())]
        );
        assert_eq!(s.max_values.to_datums(&types).unwrap(), vec![Datum::BigInt(5), Datum::String("b".into())]);
        // Batch by batch: the same stats.
        let mut acc = StatsAccumulator::new(&types, StatsMode::Truncate(16));
        for at in 0..3 {
            acc.update(&[&ints.slice(at, 1), &strs.slice(at, 1)]);
        }
        assert_eq!(acc.finish(), s);
        let (_, max) = truncate(Datum::Null, Datum::String("abcdefghijklmnopqrstu".into()), 4);
        assert_eq!(max, Datum::String("abce".into()));
    }
}
