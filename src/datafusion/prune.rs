//! Which splits and files a query needs.
//!
//! - Partition pruning is exact: every filter that only reads partition columns is evaluated by
//!   DataFusion itself over one row per partition (so `=`, `IN`, ranges, `LIKE`, functions ...
//!   all prune), and partitions where it is not true are dropped.
//! - File skipping is inexact (DataFusion re-applies the filter): a file is skipped when its
//!   min/max statistics prove no row can match. Key columns always qualify — a key's versions
//!   all carry that key, so skipping a file whose key range misses the filter cannot change the
//!   merged row of a key that matches. Value columns qualify only where no merge can bring back
//!   an older version: append tables, deletion-vector tables (read without merge), and buckets
//!   whose files hold each key once (no overlapping
//!   key ranges, no retractions).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use ::datafusion::arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, UInt64Array};
use ::datafusion::arrow::datatypes::{DataType as ArrowType, Field, Schema, SchemaRef, TimeUnit};
use ::datafusion::catalog::Session;
use ::datafusion::common::tree_node::{Transformed, TreeNode};
use ::datafusion::common::{Column, DFSchema, Result, ScalarValue};
use ::datafusion::logical_expr::utils::conjunction;
use ::datafusion::logical_expr::{Expr, Volatility};
use ::datafusion::physical_optimizer::pruning::{PruningPredicateBuilder, PruningStatistics};

use crate::read::DataSplit;
use crate::spec::{DataFileMeta, DataType, Datum, SimpleStats, TableSchema, TypeKind};

/// A Datum as a DataFusion scalar of the given Arrow type (a typed null for `Datum::Null`).
pub(super) fn datum_to_scalar(d: &Datum, t: &ArrowType) -> Result<ScalarValue> {
    Ok(match (d, t) {
        (Datum::Null, t) => ScalarValue::try_from(t)?,
        (Datum::Boolean(v), _) => ScalarValue::Boolean(Some(*v)),
        (Datum::TinyInt(v), _) => ScalarValue::Int8(Some(*v)),
        (Datum::SmallInt(v), _) => ScalarValue::Int16(Some(*v)),
        (Datum::Int(v), _) => ScalarValue::Int32(Some(*v)),
        (Datum::BigInt(v), _) => ScalarValue::Int64(Some(*v)),
        (Datum::Float(v), _) => ScalarValue::Float32(Some(*v)),
        (Datum::Double(v), _) => ScalarValue::Float64(Some(*v)),
        (Datum::Decimal { unscaled, precision, scale }, _) => {
            ScalarValue::Decimal128(Some(*unscaled), *precision, *scale as i8)
        }
        (Datum::String(s), ArrowType::LargeUtf8) => ScalarValue::LargeUtf8(Some(s.clone())),
        (Datum::String(s), ArrowType::Utf8View) => ScalarValue::Utf8View(Some(s.clone())),
        (Datum::String(s), _) => ScalarValue::Utf8(Some(s.clone())),
        (Datum::Bytes(b), ArrowType::LargeBinary) => ScalarValue::LargeBinary(Some(b.clone())),
        (Datum::Bytes(b), _) => ScalarValue::Binary(Some(b.clone())),
        (Datum::Date(v), _) => ScalarValue::Date32(Some(*v)),
        (Datum::Time(v), _) => ScalarValue::Time32Millisecond(Some(*v)),
        (Datum::Timestamp { millis, nanos }, ArrowType::Timestamp(unit, tz)) => {
            let tz = tz.clone();
            match unit {
                TimeUnit::Second => ScalarValue::TimestampSecond(Some(millis.div_euclid(1000)), tz),
                TimeUnit::Millisecond => ScalarValue::TimestampMillisecond(Some(*millis), tz),
                TimeUnit::Microsecond => {
                    ScalarValue::TimestampMicrosecond(Some(millis * 1000 + (*nanos as i64) / 1000), tz)
                }
                TimeUnit::Nanosecond => ScalarValue::TimestampNanosecond(Some(millis * 1_000_000 + *nanos as i64), tz),
            }
        }
        (d, t) => {
            return Err(::datafusion::common::DataFusionError::Internal(format!(
                "value {d} does not fit Arrow type {t}"
            )))
        }
    })
}

/// An array of Datums of one Arrow type.
fn datums_to_array(values: &[Datum], t: &ArrowType) -> Result<ArrayRef> {
    if values.is_empty() {
        return Ok(::datafusion::arrow::array::new_empty_array(t));
    }
    let scalars = values.iter().map(|d| datum_to_scalar(d, t)).collect::<Result<Vec<_>>>()?;
    let array = ScalarValue::iter_to_array(scalars)?;
    // Decimal precision and timestamp zones come from the scalars; align with the table's type.
    if array.data_type() != t {
        return Ok(::datafusion::arrow::compute::cast(&array, t)?);
    }
    Ok(array)
}

/// Column references without their table qualifier (filters arrive as `t.col`).
pub(super) fn unqualified(e: &Expr) -> Result<Expr> {
    Ok(e.clone()
        .transform(|e| {
            Ok(match e {
                Expr::Column(c) if c.relation.is_some() => {
                    Transformed::yes(Expr::Column(Column::new_unqualified(c.name)))
                }
                other => Transformed::no(other),
            })
        })?
        .data)
}

fn column_names(e: &Expr) -> HashSet<String> {
    e.column_refs().into_iter().map(|c| c.name.clone()).collect()
}

/// Whether evaluating `e` is the same every time (no `random()`, `now()` is fine per query).
fn is_deterministic(e: &Expr) -> bool {
    let mut ok = true;
    let _ = e.apply(|e| {
        if let Expr::ScalarFunction(f) = e {
            if f.func.signature().volatility == Volatility::Volatile {
                ok = false;
            }
        }
        if matches!(
            e,
            Expr::ScalarSubquery(_)
                | Expr::Exists(_)
                | Expr::InSubquery(_)
                | Expr::SetComparison(_)
                | Expr::OuterReferenceColumn(..)
        ) {
            ok = false;
        }
        Ok(::datafusion::common::tree_node::TreeNodeRecursion::Continue)
    });
    ok
}

/// Whether a filter reads only partition columns, so pruning partitions applies it exactly.
pub(super) fn is_partition_filter(schema: &TableSchema, e: &Expr) -> bool {
    let cols = column_names(e);
    !cols.is_empty() && cols.iter().all(|c| schema.partition_keys.contains(c)) && is_deterministic(e)
}

/// The splits whose partition satisfies every partition filter (evaluated by DataFusion over
/// one row per partition; null counts as false, as in a WHERE clause).
pub(super) fn prune_partitions(
    state: &dyn Session,
    schema: &TableSchema,
    filters: &[Expr],
    splits: Vec<DataSplit>,
) -> crate::Result<Vec<DataSplit>> {
    let filters: Vec<&Expr> = filters.iter().filter(|f| is_partition_filter(schema, f)).collect();
    if filters.is_empty() || splits.is_empty() {
        return Ok(splits);
    }
    let types = schema.partition_types();
    let fields: Vec<Field> =
        schema.partition_keys.iter().zip(&types).map(|(k, t)| Field::new(k, t.to_arrow(), true)).collect();
    let arrow_schema: SchemaRef = Arc::new(Schema::new(fields));
    // One row per distinct partition.
    let mut index_of: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut rows: Vec<Vec<Datum>> = vec![];
    for s in &splits {
        let key = s.partition.data().to_vec();
        if let std::collections::hash_map::Entry::Vacant(e) = index_of.entry(key) {
            e.insert(rows.len());
            rows.push(s.partition.to_datums(&types)?);
        }
    }
    let df = |e: ::datafusion::error::DataFusionError| crate::Error::InvalidInput(format!("partition filter: {e}"));
    let columns = (0..types.len())
        .map(|i| {
            let values: Vec<Datum> = rows.iter().map(|r| r[i].clone()).collect();
            datums_to_array(&values, arrow_schema.field(i).data_type())
        })
        .collect::<Result<Vec<_>>>()
        .map_err(df)?;
    let batch = RecordBatch::try_new(arrow_schema.clone(), columns).map_err(crate::Error::arrow("partition values"))?;
    let df_schema = DFSchema::try_from(arrow_schema.as_ref().clone()).map_err(df)?;
    let mut keep = vec![true; rows.len()];
    for f in filters {
        let physical = state.create_physical_expr(unqualified(f).map_err(df)?, &df_schema).map_err(df)?;
        let result = physical.evaluate(&batch).map_err(df)?.into_array(rows.len()).map_err(df)?;
        let Some(bools) = result.as_any().downcast_ref::<BooleanArray>() else {
            return Err(crate::Error::InvalidInput(format!("partition filter {f} is not a boolean expression")));
        };
        for (i, k) in keep.iter_mut().enumerate() {
            *k &= bools.is_valid(i) && bools.value(i);
        }
    }
    Ok(splits.into_iter().filter(|s| keep[index_of[s.partition.data()]]).collect())
}

/// Types whose min/max statistics shoal trusts for skipping (floats are left out: NaN orders
/// differently across writers).
fn prunable(t: &DataType) -> bool {
    !matches!(t.kind, TypeKind::Float | TypeKind::Double) && t.has_min_max_stats()
}

/// Min/max/null-count statistics of files, for DataFusion's `PruningPredicate`.
struct FileStats {
    num_files: usize,
    /// column name -> (mins, maxes, null counts), one entry per file.
    columns: HashMap<String, (ArrayRef, ArrayRef, ArrayRef)>,
    rows: ArrayRef,
}

impl PruningStatistics for FileStats {
    fn min_values(&self, column: &Column) -> Option<ArrayRef> {
        self.columns.get(&column.name).map(|c| c.0.clone())
    }
    fn max_values(&self, column: &Column) -> Option<ArrayRef> {
        self.columns.get(&column.name).map(|c| c.1.clone())
    }
    fn num_containers(&self) -> usize {
        self.num_files
    }
    fn null_counts(&self, column: &Column) -> Option<ArrayRef> {
        self.columns.get(&column.name).map(|c| c.2.clone())
    }
    fn row_counts(&self) -> Option<ArrayRef> {
        Some(self.rows.clone())
    }
    fn contained(&self, _column: &Column, _values: &HashSet<ScalarValue>) -> Option<BooleanArray> {
        None
    }
}

/// Per file, the statistics of one column: (min, max, null count), or None if unknown.
type ColumnStat = Option<(Datum, Datum, Option<i64>)>;

fn stat_of(stats: &SimpleStats, pos: usize, t: &DataType) -> ColumnStat {
    let t = t.with_nullable(true);
    let min = stats.min_values.get(pos, &t).ok()?;
    let max = stats.max_values.get(pos, &t).ok()?;
    let nulls = stats.null_counts.as_ref().and_then(|n| n.get(pos).copied().flatten());
    Some((min, max, nulls))
}

/// Whether every key occurs in one file only: sorted by min key, no file's range reaches the
/// next one, and no file holds retractions.
fn keys_unique_across_files(files: &[DataFileMeta], key_types: &[DataType]) -> bool {
    let mut ranges = vec![];
    for f in files {
        if f.delete_row_count.unwrap_or(1) != 0 {
            return false;
        }
        let (Ok(min), Ok(max)) = (f.min_key.to_datums(key_types), f.max_key.to_datums(key_types)) else {
            return false;
        };
        ranges.push((min, max));
    }
    let cmp = |a: &[Datum], b: &[Datum]| {
        a.iter().zip(b).map(|(x, y)| x.compare(y)).find(|o| o.is_ne()).unwrap_or(std::cmp::Ordering::Equal)
    };
    ranges.sort_by(|a, b| cmp(&a.0, &b.0));
    ranges.windows(2).all(|w| cmp(&w[0].1, &w[1].0).is_lt())
}

/// What file skipping did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct SkipReport {
    pub files_before: usize,
    pub files_skipped: usize,
}

/// Drops files whose statistics prove that no row matches the (non-partition) filters.
pub(super) fn skip_files(
    state: &dyn Session,
    schema: &TableSchema,
    filters: &[Expr],
    splits: Vec<DataSplit>,
) -> crate::Result<(Vec<DataSplit>, SkipReport)> {
    let files_before = splits.iter().map(|s| s.files.len()).sum();
    let mut report = SkipReport { files_before, files_skipped: 0 };
    let usable: Vec<Expr> = filters
        .iter()
        .filter(|f| !is_partition_filter(schema, f) && is_deterministic(f))
        .map(unqualified)
        .collect::<Result<_>>()
        .map_err(|e| crate::Error::InvalidInput(format!("filter: {e}")))?;
    let Some(predicate) = conjunction(usable) else {
        return Ok((splits, report));
    };
    let arrow_schema = crate::spec::data_file::table_arrow_schema(schema);
    let Ok(df_schema) = DFSchema::try_from(arrow_schema.as_ref().clone()) else {
        return Ok((splits, report));
    };
    let Ok(physical) = state.create_physical_expr(predicate, &df_schema) else {
        return Ok((splits, report));
    };
    let Ok(pruning) = PruningPredicateBuilder::new().with_file_schema(arrow_schema.clone()).try_build(physical) else {
        return Ok((splits, report));
    };
    if pruning.always_true() {
        return Ok((splits, report));
    }
    let key_fields = if schema.primary_keys.is_empty() { vec![] } else { schema.trimmed_key_fields() };
    let deletion_vectors = schema.core_options().deletion_vectors_enabled().unwrap_or(false);
    let key_types: Vec<DataType> = key_fields.iter().map(|f| f.data_type.clone()).collect();

    // One container per file, over all splits.
    let all: Vec<(usize, &DataFileMeta, bool)> = splits
        .iter()
        .enumerate()
        .flat_map(|(i, s)| {
            // Deletion-vector tables read every file above level 0 on its own (older versions
            // are marked deleted, level 0 is invisible): value statistics bound what is read.
            let values_ok =
                schema.primary_keys.is_empty() || deletion_vectors || keys_unique_across_files(&s.files, &key_types);
            s.files.iter().map(move |f| (i, f, values_ok))
        })
        .collect();
    let mut per_column: HashMap<String, Vec<ColumnStat>> = HashMap::new();
    for (ci, field) in schema.fields.iter().enumerate() {
        if !prunable(&field.data_type) {
            continue;
        }
        let key_pos = key_fields.iter().position(|k| k.name == field.name);
        let stats: Vec<ColumnStat> = all
            .iter()
            .map(|(_, f, values_ok)| {
                // Statistics are laid out by the file's schema; only trust the current one.
                if f.schema_id != schema.id {
                    return None;
                }
                if let Some(p) = key_pos {
                    return stat_of(&f.key_stats, p, &field.data_type);
                }
                if !values_ok {
                    return None;
                }
                let pos = match &f.value_stats_cols {
                    None => ci,
                    Some(cols) => cols.iter().position(|c| *c == field.name)?,
                };
                stat_of(&f.value_stats, pos, &field.data_type)
            })
            .collect();
        if stats.iter().any(Option::is_some) {
            per_column.insert(field.name.clone(), stats);
        }
    }
    if per_column.is_empty() {
        return Ok((splits, report));
    }
    let mut columns = HashMap::new();
    for (name, stats) in per_column {
        let t = arrow_schema.field_with_name(&name).map_err(crate::Error::arrow("statistics"))?.data_type().clone();
        let pick = |f: fn(&(Datum, Datum, Option<i64>)) -> Datum| -> Vec<Datum> {
            stats.iter().map(|s| s.as_ref().map(f).unwrap_or(Datum::Null)).collect()
        };
        let mins = datums_to_array(&pick(|s| s.0.clone()), &t);
        let maxs = datums_to_array(&pick(|s| s.1.clone()), &t);
        let (Ok(mins), Ok(maxs)) = (mins, maxs) else { continue };
        let nulls: ArrayRef = Arc::new(UInt64Array::from(
            stats.iter().map(|s| s.as_ref().and_then(|s| s.2).map(|n| n as u64)).collect::<Vec<_>>(),
        ));
        columns.insert(name, (mins, maxs, nulls));
    }
    let rows: ArrayRef =
        Arc::new(UInt64Array::from(all.iter().map(|(_, f, _)| Some(f.row_count as u64)).collect::<Vec<_>>()));
    let file_stats = FileStats { num_files: all.len(), columns, rows };
    let Ok(keep) = pruning.prune(&file_stats) else {
        return Ok((splits, report));
    };
    let mut keep_names: HashSet<(usize, &str)> = HashSet::new();
    for ((split, f, _), k) in all.iter().zip(&keep) {
        if *k {
            keep_names.insert((*split, f.file_name.as_str()));
        }
    }
    let keep_names: HashSet<(usize, String)> = keep_names.into_iter().map(|(i, n)| (i, n.to_string())).collect();
    let mut out = Vec::with_capacity(splits.len());
    for (i, mut s) in splits.into_iter().enumerate() {
        let before = s.files.len();
        s.files.retain(|f| keep_names.contains(&(i, f.file_name.clone())));
        report.files_skipped += before - s.files.len();
        if !s.files.is_empty() {
            out.push(s);
        }
    }
    Ok((out, report))
}
