//! The shape of a bucket's LSM tree, for people: its sorted runs by level, each file's key
//! range and size, and which files' key ranges overlap (what a read must merge).

use std::cmp::Ordering;

use crate::error::{Error, Result};
use crate::lsm::levels::Levels;
use crate::read::DataSplit;
use crate::spec::{DataFileMeta, DataType, Datum, TableSchema};

/// One file as placed in the tree.
#[derive(Clone, Debug)]
pub struct FileShape {
    pub file: DataFileMeta,
    pub min_key: Vec<Datum>,
    pub max_key: Vec<Datum>,
    /// How many files of other sorted runs overlap this file's key range.
    pub overlaps: usize,
}

/// One sorted run.
#[derive(Clone, Debug)]
pub struct RunShape {
    pub level: i32,
    pub files: Vec<FileShape>,
}

impl RunShape {
    pub fn size(&self) -> i64 {
        self.files.iter().map(|f| f.file.file_size).sum()
    }
    pub fn rows(&self) -> i64 {
        self.files.iter().map(|f| f.file.row_count).sum()
    }
}

/// One bucket's tree.
#[derive(Clone, Debug)]
pub struct BucketShape {
    /// `dt=2024-01-01/bucket-0`.
    pub bucket_path: String,
    pub max_level: i32,
    /// Newest first: each level-0 file, then each non-empty level.
    pub runs: Vec<RunShape>,
    /// Pairs of files in different runs whose key ranges overlap.
    pub overlapping_pairs: usize,
}

impl BucketShape {
    pub fn files(&self) -> impl Iterator<Item = &FileShape> {
        self.runs.iter().flat_map(|r| r.files.iter())
    }
    pub fn size(&self) -> i64 {
        self.runs.iter().map(RunShape::size).sum()
    }
}

pub fn compare_keys(a: &[Datum], b: &[Datum]) -> Ordering {
    a.iter().zip(b).map(|(x, y)| x.compare(y)).find(|o| o.is_ne()).unwrap_or(Ordering::Equal)
}

/// The tree of each split's bucket.
pub fn bucket_shapes(schema: &TableSchema, splits: &[DataSplit]) -> Result<Vec<BucketShape>> {
    if schema.primary_keys.is_empty() {
        return Err(Error::Unsupported("an append table has no LSM tree (it has no primary key)".into()));
    }
    let opts = schema.core_options();
    let num_levels = crate::lsm::universal::UniversalCompaction::from_options(&opts)?.num_levels(&opts);
    let key_types: Vec<DataType> = schema.trimmed_key_fields().iter().map(|f| f.data_type.clone()).collect();
    let mut out = vec![];
    for split in splits {
        let levels = Levels::new(num_levels, split.files.clone());
        let mut runs = vec![];
        for run in levels.sorted_runs() {
            let mut files = vec![];
            for f in run.files {
                let min_key = f
                    .min_key
                    .to_datums(&key_types)
                    .map_err(|e| Error::data_file(&f.file_name, format!("min key: {e}")))?;
                let max_key = f
                    .max_key
                    .to_datums(&key_types)
                    .map_err(|e| Error::data_file(&f.file_name, format!("max key: {e}")))?;
                files.push(FileShape { file: f, min_key, max_key, overlaps: 0 });
            }
            files.sort_by(|a, b| compare_keys(&a.min_key, &b.min_key));
            runs.push(RunShape { level: run.level, files });
        }
        // Overlaps between files of different runs.
        let mut pairs = 0;
        for i in 0..runs.len() {
            for j in i + 1..runs.len() {
                for a in 0..runs[i].files.len() {
                    for b in 0..runs[j].files.len() {
                        let (fa, fb) = (&runs[i].files[a], &runs[j].files[b]);
                        let overlap = compare_keys(&fa.min_key, &fb.max_key).is_le()
                            && compare_keys(&fb.min_key, &fa.max_key).is_le();
                        if overlap {
                            pairs += 1;
                            runs[i].files[a].overlaps += 1;
                            runs[j].files[b].overlaps += 1;
                        }
                    }
                }
            }
        }
        out.push(BucketShape {
            bucket_path: split.bucket_path.clone(),
            max_level: levels.max_level(),
            runs,
            overlapping_pairs: pairs,
        });
    }
    Ok(out)
}

/// Where key ranges sit on a picture's x axis, from 0 (the smallest file bound) to 1 (the
/// largest): linear when the key is one numeric (or date/time) column, so a file covering
/// [0, 50] is half as wide as one covering [0, 100]; otherwise (strings, composite keys) each
/// distinct file bound gets its rank among them, so equal bounds get equal positions and
/// overlapping ranges are drawn overlapping. Shared by `shoal inspect --svg` and any other
/// drawing of [`BucketShape`]s.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyAxis {
    /// Whether positions are proportional to the key values.
    pub linear: bool,
    /// Each input range's (start, end), in input order.
    pub spans: Vec<(f64, f64)>,
    /// Labelled positions along the axis, in order.
    pub ticks: Vec<(f64, String)>,
}

impl KeyAxis {
    /// The axis of the given (min key, max key) ranges, with at most `max_ticks` ticks (at
    /// least 2: the smallest and the largest bound).
    pub fn of<'a>(ranges: impl IntoIterator<Item = (&'a [Datum], &'a [Datum])>, max_ticks: usize) -> KeyAxis {
        let ranges: Vec<(&[Datum], &[Datum])> = ranges.into_iter().collect();
        let max_ticks = max_ticks.max(2);
        let numbers: Option<Vec<(f64, f64)>> =
            ranges.iter().map(|(lo, hi)| Some((axis_number(lo)?, axis_number(hi)?))).collect();
        match numbers {
            Some(numbers) if !numbers.is_empty() => {
                let lo = numbers.iter().map(|n| n.0).fold(f64::INFINITY, f64::min);
                let hi = numbers.iter().map(|n| n.1).fold(f64::NEG_INFINITY, f64::max);
                let at = |v: f64| if hi > lo { ((v - lo) / (hi - lo)).clamp(0.0, 1.0) } else { 0.5 };
                let sample = &ranges[0].0[0];
                let ticks = if hi > lo {
                    let n = max_ticks - 1;
                    (0..=n)
                        .map(|i| {
                            let v = lo + (hi - lo) * i as f64 / n as f64;
                            (at(v), number_text(sample, v))
                        })
                        .collect()
                } else {
                    vec![(0.5, number_text(sample, lo))]
                };
                KeyAxis { linear: true, spans: numbers.iter().map(|&(a, b)| (at(a), at(b))).collect(), ticks }
            }
            _ => {
                let bounds = sorted_bounds(ranges.iter().copied());
                let last = bounds.len().saturating_sub(1);
                let at = |rank: usize| if last == 0 { 0.5 } else { rank as f64 / last as f64 };
                let rank = |k: &[Datum]| bounds.partition_point(|b| compare_keys(b, k).is_lt());
                let spans = ranges.iter().map(|(lo, hi)| (at(rank(lo)), at(rank(hi)))).collect();
                // Evenly picked bounds, always the first and the last.
                let count = bounds.len().min(max_ticks);
                let mut picked: Vec<usize> = (0..count)
                    .map(|i| if count == 1 { 0 } else { (i * last + (count - 1) / 2) / (count - 1) })
                    .collect();
                picked.dedup();
                let ticks = picked
                    .into_iter()
                    .map(|r| (at(r), bounds[r].iter().map(|d| d.to_string()).collect::<Vec<_>>().join(",")))
                    .collect();
                KeyAxis { linear: false, spans, ticks }
            }
        }
    }
}

/// The distinct bounds of key ranges, in key order: the samples a non-linear axis places keys
/// by (a key's position is its rank among them).
pub fn sorted_bounds<'a>(ranges: impl IntoIterator<Item = (&'a [Datum], &'a [Datum])>) -> Vec<&'a [Datum]> {
    let mut bounds: Vec<&[Datum]> = ranges.into_iter().flat_map(|(lo, hi)| [lo, hi]).collect();
    bounds.sort_by(|a, b| compare_keys(a, b));
    bounds.dedup_by(|a, b| compare_keys(a, b).is_eq());
    bounds
}

/// A single-column key as a number on a linear axis (None for other keys, and for NaN or
/// infinite floats).
pub fn axis_number(key: &[Datum]) -> Option<f64> {
    let [d] = key else { return None };
    Some(match d {
        Datum::TinyInt(v) => *v as f64,
        Datum::SmallInt(v) => *v as f64,
        Datum::Int(v) | Datum::Date(v) | Datum::Time(v) => *v as f64,
        Datum::BigInt(v) => *v as f64,
        Datum::Float(v) if v.is_finite() => *v as f64,
        Datum::Double(v) if v.is_finite() => *v,
        Datum::Decimal { unscaled, scale, .. } => *unscaled as f64 / 10f64.powi(*scale as i32),
        Datum::Timestamp { millis, .. } => *millis as f64,
        _ => return None,
    })
}

/// A tick's label: the number as a key of `like`'s type (a date as a date, an integer rounded).
fn number_text(like: &Datum, v: f64) -> String {
    let d = match like {
        Datum::TinyInt(_) | Datum::SmallInt(_) | Datum::Int(_) | Datum::BigInt(_) => Datum::BigInt(v.round() as i64),
        Datum::Date(_) => Datum::Date(v.round() as i32),
        Datum::Time(_) => Datum::Time(v.round() as i32),
        Datum::Timestamp { .. } => Datum::Timestamp { millis: v.round() as i64, nanos: 0 },
        Datum::Decimal { precision, scale, .. } => Datum::Decimal {
            unscaled: (v * 10f64.powi(*scale as i32)).round() as i128,
            precision: *precision,
            scale: *scale,
        },
        _ => return format!("{}", (v * 1000.0).round() / 1000.0),
    };
    d.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(v: i64) -> Vec<Datum> {
        vec![Datum::BigInt(v)]
    }

    #[test]
    fn a_numeric_key_is_drawn_to_scale() {
        let (a, b, c) = ((int(0), int(50)), (int(0), int(100)), (int(2), int(99_989)));
        let axis = KeyAxis::of([(&a.0[..], &a.1[..]), (&b.0[..], &b.1[..])], 5);
        assert!(axis.linear);
        assert_eq!(axis.spans, vec![(0.0, 0.5), (0.0, 1.0)]);
        let labels: Vec<&str> = axis.ticks.iter().map(|t| t.1.as_str()).collect();
        assert_eq!(labels, ["0", "25", "50", "75", "100"]);
        // Ranges that are the same are drawn the same.
        let axis = KeyAxis::of([(&c.0[..], &c.1[..]), (&c.0[..], &c.1[..])], 5);
        assert_eq!(axis.spans, vec![(0.0, 1.0), (0.0, 1.0)]);
    }

    #[test]
    fn other_keys_are_placed_by_the_rank_of_their_bounds() {
        let s = |a: &str, b: i32| vec![Datum::String(a.into()), Datum::Int(b)];
        let files = [(s("a", 1), s("m", 1)), (s("a", 1), s("m", 1)), (s("c", 0), s("z", 9))];
        let axis = KeyAxis::of(files.iter().map(|(lo, hi)| (&lo[..], &hi[..])), 10);
        assert!(!axis.linear);
        // Distinct bounds a,1 < c,0 < m,1 < z,9.
        assert_eq!(axis.spans, vec![(0.0, 2.0 / 3.0), (0.0, 2.0 / 3.0), (1.0 / 3.0, 1.0)]);
        let labels: Vec<&str> = axis.ticks.iter().map(|t| t.1.as_str()).collect();
        assert_eq!(labels, ["a,1", "c,0", "m,1", "z,9"]);
        let axis = KeyAxis::of(files.iter().map(|(lo, hi)| (&lo[..], &hi[..])), 2);
        assert_eq!(axis.ticks, vec![(0.0, "a,1".to_string()), (1.0, "z,9".to_string())]);
        // A date key is linear, labelled with dates.
        let d = [(vec![Datum::Date(0)], vec![Datum::Date(10)])];
        let axis = KeyAxis::of(d.iter().map(|(lo, hi)| (&lo[..], &hi[..])), 3);
        assert!(axis.linear);
        assert_eq!(axis.ticks[0].1, Datum::Date(0).to_string());
    }
}
