//! Paimon's field aggregators (`fields.<f>.aggregate-function`), used by the aggregation merge
//! engine for every column and by partial-update for the columns that name one. Each function
//! follows Paimon 0.9's `Field*Agg` rules: how nulls pass through, integer arithmetic wrapping at
//! the column's width, DECIMAL overflow giving null, what retraction (-U/-D) does.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, ListArray, MapArray, StructArray};
use arrow_buffer::OffsetBuffer;
use arrow_row::{RowConverter, SortField};
use arrow_schema::DataType as ArrowType;
use arrow_select::concat::concat;
use arrow_select::take::take;

use super::cell::{compare_scalars, resolve, Cell, Version};
use crate::error::{Error, Result};
use crate::spec::merge_engine::{AggFunction, FieldAggregator};

/// The aggregator of one column, ready to run.
#[derive(Clone, Debug)]
pub(super) struct Aggregator {
    pub function: AggFunction,
    pub ignore_retract: bool,
    pub column_name: String,
    pub arrow_type: ArrowType,
}

/// A group of versions and the column being merged: what resolves [`Cell::Ref`]s.
#[derive(Clone, Copy)]
pub(super) struct Ctx<'a, 'b> {
    pub versions: &'a [Version<'b>],
    pub column: usize,
}

impl Aggregator {
    pub(super) fn new(spec: &FieldAggregator, column_name: &str, arrow_type: ArrowType) -> Self {
        Aggregator {
            function: spec.function.clone(),
            ignore_retract: spec.ignore_retract,
            column_name: column_name.to_string(),
            arrow_type,
        }
    }

    fn resolve(&self, cell: &Cell, ctx: Ctx) -> Result<Cell> {
        resolve(cell, ctx.versions, ctx.column)
    }

    /// Folds `input` into `acc`. `initialized` is the per-merge flag of first_value and
    /// first_non_null_value.
    pub(super) fn agg(&self, acc: Cell, input: Cell, initialized: &mut bool, ctx: Ctx) -> Result<Cell> {
        use AggFunction::*;
        Ok(match &self.function {
            PrimaryKey | LastValue => input,
            LastNonNullValue => {
                if input.is_null() {
                    acc
                } else {
                    input
                }
            }
            FirstValue => {
                if !*initialized {
                    *initialized = true;
                    input
                } else {
                    acc
                }
            }
            FirstNonNullValue => {
                if !*initialized && !input.is_null() {
                    *initialized = true;
                    input
                } else {
                    acc
                }
            }
            _ if acc.is_null() || input.is_null() => {
                if let Collect { distinct: true } = self.function {
                    if !(acc.is_null() && input.is_null()) {
                        let one = if acc.is_null() { input } else { acc };
                        return self.collect(&[one], &[], true, ctx);
                    }
                }
                if acc.is_null() {
                    input
                } else {
                    acc
                }
            }
            Sum => self.arith(acc, input, ctx, Op::Add)?,
            Product => self.arith(acc, input, ctx, Op::Mul)?,
            Max | Min => {
                let (a, b) = (self.resolve(&acc, ctx)?, self.resolve(&input, ctx)?);
                let acc_smaller = compare_scalars(&a, &b).is_lt();
                match (&self.function, acc_smaller) {
                    (Max, true) | (Min, false) => input,
                    _ => acc,
                }
            }
            ListAgg { delimiter } => match (self.resolve(&acc, ctx)?, self.resolve(&input, ctx)?) {
                (Cell::Str(a), Cell::Str(b)) => Cell::Str(format!("{a}{delimiter}{b}")),
                (a, b) => return Err(self.type_error(&a, &b)),
            },
            BoolAnd | BoolOr => match (self.resolve(&acc, ctx)?, self.resolve(&input, ctx)?) {
                (Cell::Bool(a), Cell::Bool(b)) => Cell::Bool(if self.function == BoolAnd { a && b } else { a || b }),
                (a, b) => return Err(self.type_error(&a, &b)),
            },
            Collect { distinct } => self.collect(&[acc, input], &[], *distinct, ctx)?,
            MergeMap => self.merge_map(&acc, &input, None, ctx)?,
            NestedUpdate { nested_key } => self.nested_update(&acc, &input, nested_key, false, ctx)?,
            RoaringBitmap32 => match (self.resolve(&acc, ctx)?, self.resolve(&input, ctx)?) {
                (Cell::Bytes(a), Cell::Bytes(b)) => {
                    let mut x = self.bitmap(&a)?;
                    x |= self.bitmap(&b)?;
                    let mut out = Vec::with_capacity(x.serialized_size());
                    x.serialize_into(&mut out)
                        .map_err(|e| self.failure(format!("serialising a roaring bitmap: {e}")))?;
                    Cell::Bytes(out)
                }
                (a, b) => return Err(self.type_error(&a, &b)),
            },
            RoaringBitmap64 => match (self.resolve(&acc, ctx)?, self.resolve(&input, ctx)?) {
                (Cell::Bytes(a), Cell::Bytes(b)) => {
                    Cell::Bytes(super::rbm64::union(&a, &b).map_err(|(in_acc, e)| {
                        self.failure(format!("the {} value: {e}", if in_acc { "accumulated" } else { "input" }))
                    })?)
                }
                (a, b) => return Err(self.type_error(&a, &b)),
            },
            HllSketch | ThetaSketch => match (self.resolve(&acc, ctx)?, self.resolve(&input, ctx)?) {
                (Cell::Bytes(a), Cell::Bytes(b)) => {
                    let union = if self.function == HllSketch {
                        super::sketches::hll_union(&a, &b)
                    } else {
                        super::sketches::theta_union(&a, &b)
                    };
                    Cell::Bytes(union.map_err(|(in_acc, e)| {
                        self.failure(format!("the {} value: {e}", if in_acc { "accumulated" } else { "input" }))
                    })?)
                }
                (a, b) => return Err(self.type_error(&a, &b)),
            },
        })
    }

    /// Paimon's `aggReversed`: the input is older than the accumulator (partial-update sequence
    /// groups). `agg(input, acc)`, except for collect which keeps the accumulator first.
    pub(super) fn agg_reversed(&self, acc: Cell, input: Cell, initialized: &mut bool, ctx: Ctx) -> Result<Cell> {
        if matches!(self.function, AggFunction::Collect { .. }) {
            self.agg(acc, input, initialized, ctx)
        } else {
            self.agg(input, acc, initialized, ctx)
        }
    }

    /// Takes `input` (a -U/-D version's value) back out of `acc`.
    pub(super) fn retract(&self, acc: Cell, input: Cell, ctx: Ctx) -> Result<Cell> {
        use AggFunction::*;
        if self.ignore_retract {
            return Ok(acc);
        }
        Ok(match &self.function {
            PrimaryKey => input,
            LastValue => Cell::Null,
            LastNonNullValue => {
                if input.is_null() {
                    acc
                } else {
                    Cell::Null
                }
            }
            Sum => {
                if input.is_null() {
                    acc
                } else if acc.is_null() {
                    self.negate(self.resolve(&input, ctx)?)?
                } else {
                    self.arith(acc, input, ctx, Op::Sub)?
                }
            }
            Product => {
                if acc.is_null() || input.is_null() {
                    if acc.is_null() {
                        input
                    } else {
                        acc
                    }
                } else {
                    self.arith(acc, input, ctx, Op::Div)?
                }
            }
            Collect { .. } => {
                if acc.is_null() || input.is_null() {
                    acc
                } else {
                    let acc_distinct = false;
                    self.collect(&[acc], &[input], acc_distinct, ctx)?
                }
            }
            MergeMap => {
                if acc.is_null() || input.is_null() {
                    acc
                } else {
                    self.merge_map(&acc, &Cell::Null, Some(&input), ctx)?
                }
            }
            NestedUpdate { nested_key } => {
                if acc.is_null() || input.is_null() {
                    acc
                } else {
                    self.nested_update(&acc, &input, nested_key, true, ctx)?
                }
            }
            f => {
                return Err(Error::RowKindRefused(format!(
                    "aggregate function '{}' of column {:?} does not support retraction (-U/-D rows); set 'fields.{}.ignore-retract' = true to ignore retractions for it",
                    f.name(),
                    self.column_name,
                    self.column_name
                )))
            }
        })
    }

    fn failure(&self, message: String) -> Error {
        Error::InvalidInput(format!(
            "aggregating column {:?} with '{}': {message}",
            self.column_name,
            self.function.name()
        ))
    }

    fn type_error(&self, a: &Cell, b: &Cell) -> Error {
        self.failure(format!("unexpected values {a:?} and {b:?} for type {}", self.arrow_type))
    }

    fn bitmap(&self, bytes: &[u8]) -> Result<roaring::RoaringBitmap> {
        roaring::RoaringBitmap::deserialize_from(bytes)
            .map_err(|e| self.failure(format!("not a serialised roaring bitmap: {e}")))
    }

    /// Wraps an integer to the column's width, as Java's narrowing casts do.
    fn wrap(&self, v: i64) -> i64 {
        match self.arrow_type {
            ArrowType::Int8 => v as i8 as i64,
            ArrowType::Int16 => v as i16 as i64,
            ArrowType::Int32 => v as i32 as i64,
            _ => v,
        }
    }

    /// A DECIMAL result that no longer fits the column's precision is null (Paimon's
    /// `Decimal.fromBigDecimal`).
    fn fit_decimal(&self, v: i128) -> Cell {
        let ArrowType::Decimal128(p, _) = self.arrow_type else {
            return Cell::Decimal(v);
        };
        if v.unsigned_abs() >= 10u128.pow(p as u32) {
            Cell::Null
        } else {
            Cell::Decimal(v)
        }
    }

    fn scale(&self) -> u32 {
        match self.arrow_type {
            ArrowType::Decimal128(_, s) => s.max(0) as u32,
            _ => 0,
        }
    }

    fn negate(&self, v: Cell) -> Result<Cell> {
        Ok(match v {
            Cell::Null => Cell::Null,
            Cell::Int(x) => Cell::Int(self.wrap(x.wrapping_neg())),
            Cell::F32(x) => Cell::F32(-x),
            Cell::F64(x) => Cell::F64(-x),
            Cell::Decimal(x) => Cell::Decimal(-x),
            other => return Err(self.type_error(&other, &Cell::Null)),
        })
    }

    fn arith(&self, acc: Cell, input: Cell, ctx: Ctx, op: Op) -> Result<Cell> {
        let (a, b) = (self.resolve(&acc, ctx)?, self.resolve(&input, ctx)?);
        Ok(match (a, b) {
            (Cell::Int(x), Cell::Int(y)) => Cell::Int(self.wrap(match op {
                Op::Add => x.wrapping_add(y),
                Op::Sub => x.wrapping_sub(y),
                Op::Mul => x.wrapping_mul(y),
                Op::Div => {
                    if y == 0 {
                        return Err(self.failure("retracting a product by zero (division by zero)".into()));
                    }
                    x.wrapping_div(y)
                }
            })),
            (Cell::F32(x), Cell::F32(y)) => Cell::F32(match op {
                Op::Add => x + y,
                Op::Sub => x - y,
                Op::Mul => x * y,
                Op::Div => x / y,
            }),
            (Cell::F64(x), Cell::F64(y)) => Cell::F64(match op {
                Op::Add => x + y,
                Op::Sub => x - y,
                Op::Mul => x * y,
                Op::Div => x / y,
            }),
            (Cell::Decimal(x), Cell::Decimal(y)) => match op {
                Op::Add => self.fit_decimal(x + y),
                Op::Sub => self.fit_decimal(x - y),
                Op::Mul => {
                    let p =
                        x.checked_mul(y).ok_or_else(|| self.failure("DECIMAL product overflows 38 digits".into()))?;
                    self.fit_decimal(round_half_up(p, 10i128.pow(self.scale())))
                }
                Op::Div => {
                    // BigDecimal.divide: the exact quotient x / y (or an error when it does not
                    // terminate), then rounded HALF_UP to the column's scale.
                    if y == 0 {
                        return Err(self.failure("retracting a DECIMAL product by zero (division by zero)".into()));
                    }
                    if !terminates(x, y) {
                        return Err(
                            self.failure("retracting a DECIMAL product: non-terminating decimal expansion".into())
                        );
                    }
                    let n = x
                        .checked_mul(10i128.pow(self.scale()))
                        .ok_or_else(|| self.failure("DECIMAL overflow".into()))?;
                    self.fit_decimal(round_half_up(n, y))
                }
            },
            (a, b) => return Err(self.type_error(&a, &b)),
        })
    }

    /// The ARRAY elements behind a cell (empty for null).
    fn elements(&self, cell: &Cell, ctx: Ctx) -> Result<Option<ArrayRef>> {
        let list = match self.resolve(cell, ctx)? {
            Cell::Null => return Ok(None),
            Cell::Nested(a) => a,
            other => return Err(self.type_error(&other, &Cell::Null)),
        };
        let list = list
            .as_list_opt::<i32>()
            .ok_or_else(|| self.failure(format!("expected an ARRAY, got {}", list.data_type())))?;
        Ok(Some(list.value(0)))
    }

    fn list_of(&self, values: ArrayRef) -> Result<Cell> {
        let ArrowType::List(field) = &self.arrow_type else {
            return Err(self.failure(format!("expected an ARRAY column, got {}", self.arrow_type)));
        };
        let n = values.len();
        let list = ListArray::try_new(field.clone(), OffsetBuffer::from_lengths([n]), values, None)
            .map_err(Error::arrow("building a collected ARRAY"))?;
        Ok(Cell::Nested(Arc::new(list)))
    }

    /// collect: the elements of `adds` in order (deduplicated when `distinct`), minus one
    /// occurrence of each element of `removes`.
    fn collect(&self, adds: &[Cell], removes: &[Cell], distinct: bool, ctx: Ctx) -> Result<Cell> {
        let mut parts = vec![];
        for c in adds {
            if let Some(e) = self.elements(c, ctx)? {
                parts.push(e);
            }
        }
        let refs: Vec<&dyn Array> = parts.iter().map(|a| a.as_ref()).collect();
        let all = if refs.is_empty() {
            return Ok(Cell::Null);
        } else {
            concat(&refs).map_err(Error::arrow("collecting ARRAY elements"))?
        };
        let converter = RowConverter::new(vec![SortField::new(all.data_type().clone())])
            .map_err(Error::arrow("comparing ARRAY elements"))?;
        let rows =
            converter.convert_columns(std::slice::from_ref(&all)).map_err(Error::arrow("comparing ARRAY elements"))?;
        let mut remove_counts: HashMap<Vec<u8>, usize> = HashMap::new();
        for c in removes {
            if let Some(e) = self.elements(c, ctx)? {
                let r = converter.convert_columns(&[e]).map_err(Error::arrow("comparing ARRAY elements"))?;
                for row in r.iter() {
                    *remove_counts.entry(row.as_ref().to_vec()).or_default() += 1;
                }
            }
        }
        let mut seen = std::collections::HashSet::new();
        let mut keep: Vec<u32> = vec![];
        for (i, row) in rows.iter().enumerate() {
            let bytes = row.as_ref();
            if let Some(n) = remove_counts.get_mut(bytes) {
                if *n > 0 {
                    *n -= 1;
                    continue;
                }
            }
            if distinct && !seen.insert(bytes.to_vec()) {
                continue;
            }
            keep.push(i as u32);
        }
        let values = take(all.as_ref(), &arrow_array::UInt32Array::from(keep), None)
            .map_err(Error::arrow("collecting ARRAY elements"))?;
        self.list_of(values)
    }

    /// merge_map: entries of `acc` then `input` (later keys win), minus the keys of `remove`.
    fn merge_map(&self, acc: &Cell, input: &Cell, remove: Option<&Cell>, ctx: Ctx) -> Result<Cell> {
        let ArrowType::Map(field, sorted) = &self.arrow_type else {
            return Err(self.failure(format!("expected a MAP column, got {}", self.arrow_type)));
        };
        let entries_of = |cell: &Cell| -> Result<Option<StructArray>> {
            match self.resolve(cell, ctx)? {
                Cell::Null => Ok(None),
                Cell::Nested(a) => {
                    let m =
                        a.as_map_opt().ok_or_else(|| self.failure(format!("expected a MAP, got {}", a.data_type())))?;
                    Ok(Some(m.value(0)))
                }
                other => Err(self.type_error(&other, &Cell::Null)),
            }
        };
        let mut parts: Vec<StructArray> = vec![];
        for c in [acc, input] {
            if let Some(e) = entries_of(c)? {
                parts.push(e);
            }
        }
        if parts.is_empty() {
            return Ok(Cell::Null);
        }
        let refs: Vec<&dyn Array> = parts.iter().map(|a| a as &dyn Array).collect();
        let all = concat(&refs).map_err(Error::arrow("merging MAP entries"))?;
        let all = all.as_struct().clone();
        let keys = all.column(0).clone();
        let converter = RowConverter::new(vec![SortField::new(keys.data_type().clone())])
            .map_err(Error::arrow("comparing MAP keys"))?;
        let rows = converter.convert_columns(&[keys]).map_err(Error::arrow("comparing MAP keys"))?;
        let mut removed = std::collections::HashSet::new();
        if let Some(r) = remove {
            if let Some(e) = entries_of(r)? {
                let rk =
                    converter.convert_columns(&[e.column(0).clone()]).map_err(Error::arrow("comparing MAP keys"))?;
                removed.extend(rk.iter().map(|k| k.as_ref().to_vec()));
            }
        }
        // First position of each key, holding the last value written for it.
        let mut position: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut picks: Vec<u32> = vec![];
        for (i, row) in rows.iter().enumerate() {
            let k = row.as_ref();
            if removed.contains(k) {
                continue;
            }
            match position.get(k) {
                Some(&p) => picks[p] = i as u32,
                None => {
                    position.insert(k.to_vec(), picks.len());
                    picks.push(i as u32);
                }
            }
        }
        let n = picks.len();
        let entries =
            take(&all, &arrow_array::UInt32Array::from(picks), None).map_err(Error::arrow("merging MAP entries"))?;
        let map = MapArray::try_new(
            field.clone(),
            OffsetBuffer::from_lengths([n]),
            entries.as_struct().clone(),
            None,
            *sorted,
        )
        .map_err(Error::arrow("building a merged MAP"))?;
        Ok(Cell::Nested(Arc::new(map)))
    }

    /// nested_update: rows of `acc` then `input`; with a nested key, one row per key (the last);
    /// when retracting, rows of `input` (by key, or equal rows without a key) are removed.
    fn nested_update(&self, acc: &Cell, input: &Cell, key: &[usize], retract: bool, ctx: Ctx) -> Result<Cell> {
        let a = self.elements(acc, ctx)?;
        let b = self.elements(input, ctx)?;
        let (Some(a), Some(b)) = (a, b) else {
            return Ok(acc.clone());
        };
        let project = |rows: &ArrayRef| -> Vec<ArrayRef> {
            let s = rows.as_struct();
            if key.is_empty() {
                s.columns().to_vec()
            } else {
                key.iter().map(|&k| s.column(k).clone()).collect()
            }
        };
        let fields: Vec<SortField> = project(&a).iter().map(|c| SortField::new(c.data_type().clone())).collect();
        let converter = RowConverter::new(fields).map_err(Error::arrow("comparing nested rows"))?;
        let ka = converter.convert_columns(&project(&a)).map_err(Error::arrow("comparing nested rows"))?;
        let kb = converter.convert_columns(&project(&b)).map_err(Error::arrow("comparing nested rows"))?;
        let all = concat(&[a.as_ref(), b.as_ref()]).map_err(Error::arrow("merging nested rows"))?;
        let mut picks: Vec<u32> = vec![];
        if retract {
            let gone: std::collections::HashSet<Vec<u8>> = kb.iter().map(|r| r.as_ref().to_vec()).collect();
            picks.extend((0..a.len() as u32).filter(|&i| !gone.contains(ka.row(i as usize).as_ref())));
        } else if key.is_empty() {
            picks.extend(0..(a.len() + b.len()) as u32);
        } else {
            let mut position: HashMap<Vec<u8>, usize> = HashMap::new();
            let keys = ka.iter().chain(kb.iter());
            for (i, k) in keys.enumerate() {
                match position.get(k.as_ref()) {
                    Some(&p) => picks[p] = i as u32,
                    None => {
                        position.insert(k.as_ref().to_vec(), picks.len());
                        picks.push(i as u32);
                    }
                }
            }
        }
        let values = take(all.as_ref(), &arrow_array::UInt32Array::from(picks), None)
            .map_err(Error::arrow("merging nested rows"))?;
        self.list_of(values)
    }
}

#[derive(Clone, Copy)]
enum Op {
    Add,
    Sub,
    Mul,
    Div,
}

/// `n / d` rounded half away from zero (BigDecimal's HALF_UP).
fn round_half_up(n: i128, d: i128) -> i128 {
    let q = n / d;
    let r = n % d;
    if r.unsigned_abs() * 2 >= d.unsigned_abs() {
        q + if (n < 0) != (d < 0) { -1 } else { 1 }
    } else {
        q
    }
}

/// Whether `x / y` has a finite decimal expansion (y's reduced denominator has only 2s and 5s).
fn terminates(x: i128, y: i128) -> bool {
    let (mut a, mut b) = (x.unsigned_abs(), y.unsigned_abs());
    while b != 0 {
        (a, b) = (b, a % b);
    }
    let mut d = y.unsigned_abs() / a.max(1);
    for p in [2, 5] {
        while d.is_multiple_of(p) {
            d /= p;
        }
    }
    d == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_and_termination() {
        assert_eq!(round_half_up(15, 10), 2);
        assert_eq!(round_half_up(-15, 10), -2);
        assert_eq!(round_half_up(14, 10), 1);
        assert!(terminates(1, 4));
        assert!(!terminates(1, 3));
        assert!(terminates(3, 3));
    }
}
