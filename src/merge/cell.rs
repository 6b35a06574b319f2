//! Values of merged rows. A merge that computes a new row (partial-update, aggregation) holds one
//! [`Cell`] per column: mostly references to a version's value (no copy), sometimes a computed
//! scalar or nested value. [`ComputedRows`] turns cells into Arrow columns with one interleave.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{
    new_null_array, Array, ArrayRef, BinaryArray, BooleanArray, Decimal128Array, Float32Array, Float64Array,
    Int16Array, Int32Array, Int64Array, Int8Array, LargeBinaryArray, LargeStringArray, StringArray,
};
use arrow_schema::{DataType as ArrowType, TimeUnit};
use arrow_select::concat::concat;
use arrow_select::interleave::interleave;

use crate::error::{Error, Result};
use crate::spec::RowKind;

/// One version of a key that takes part in a merge: a row of a batch whose columns are the
/// table's columns in table order.
#[derive(Clone, Copy)]
pub(crate) struct Version<'a> {
    /// The caller's id of the batch the row lives in (kept in references to the row's values).
    pub source: usize,
    pub columns: &'a [ArrayRef],
    pub row: usize,
    pub seq: i64,
    pub kind: RowKind,
}

impl Version<'_> {
    /// The cell of column `c` of this version, which is version `index` of its group.
    pub(crate) fn cell(&self, index: usize, c: usize) -> Cell {
        if self.columns[c].is_null(self.row) {
            Cell::Null
        } else {
            Cell::Ref(index)
        }
    }
}

/// The value of one column of a merged row.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Cell {
    Null,
    /// The (non-null) value of version `i` of the group in this column.
    Ref(usize),
    /// The value at (batch source, row): a [`Cell::Ref`] once the group is gone.
    Source(usize, usize),
    Bool(bool),
    /// TINYINT..BIGINT, and DATE, TIME and TIMESTAMP as their stored integer.
    Int(i64),
    F32(f32),
    F64(f64),
    /// An unscaled DECIMAL value (precision and scale are the column's).
    Decimal(i128),
    Str(String),
    Bytes(Vec<u8>),
    /// A nested value (ARRAY, MAP): a length-1 array of the column's type.
    Nested(ArrayRef),
}

impl Cell {
    pub(crate) fn is_null(&self) -> bool {
        matches!(self, Cell::Null)
    }
}

/// Reads the scalar behind a cell of column `c`: references are resolved, everything else is
/// returned as is. Nested values come back as [`Cell::Nested`].
pub(crate) fn resolve(cell: &Cell, versions: &[Version], c: usize) -> Result<Cell> {
    match cell {
        Cell::Ref(v) => {
            let ver = &versions[*v];
            scalar_at(ver.columns[c].as_ref(), ver.row)
        }
        other => Ok(other.clone()),
    }
}

/// The value of `array` at `row` as a cell.
pub(crate) fn scalar_at(a: &dyn Array, row: usize) -> Result<Cell> {
    if a.is_null(row) {
        return Ok(Cell::Null);
    }
    Ok(match a.data_type() {
        ArrowType::Boolean => Cell::Bool(a.as_boolean().value(row)),
        ArrowType::Int8 => Cell::Int(a.as_primitive::<Int8Type>().value(row) as i64),
        ArrowType::Int16 => Cell::Int(a.as_primitive::<Int16Type>().value(row) as i64),
        ArrowType::Int32 => Cell::Int(a.as_primitive::<Int32Type>().value(row) as i64),
        ArrowType::Int64 => Cell::Int(a.as_primitive::<Int64Type>().value(row)),
        ArrowType::Date32 => Cell::Int(a.as_primitive::<Date32Type>().value(row) as i64),
        ArrowType::Time32(TimeUnit::Millisecond) => {
            Cell::Int(a.as_primitive::<Time32MillisecondType>().value(row) as i64)
        }
        ArrowType::Timestamp(TimeUnit::Second, _) => Cell::Int(a.as_primitive::<TimestampSecondType>().value(row)),
        ArrowType::Timestamp(TimeUnit::Millisecond, _) => {
            Cell::Int(a.as_primitive::<TimestampMillisecondType>().value(row))
        }
        ArrowType::Timestamp(TimeUnit::Microsecond, _) => {
            Cell::Int(a.as_primitive::<TimestampMicrosecondType>().value(row))
        }
        ArrowType::Timestamp(TimeUnit::Nanosecond, _) => {
            Cell::Int(a.as_primitive::<TimestampNanosecondType>().value(row))
        }
        ArrowType::Float32 => Cell::F32(a.as_primitive::<Float32Type>().value(row)),
        ArrowType::Float64 => Cell::F64(a.as_primitive::<Float64Type>().value(row)),
        ArrowType::Decimal128(..) => Cell::Decimal(a.as_primitive::<Decimal128Type>().value(row)),
        ArrowType::Utf8 => Cell::Str(a.as_string::<i32>().value(row).to_string()),
        ArrowType::LargeUtf8 => Cell::Str(a.as_string::<i64>().value(row).to_string()),
        ArrowType::Binary => Cell::Bytes(a.as_binary::<i32>().value(row).to_vec()),
        ArrowType::LargeBinary => Cell::Bytes(a.as_binary::<i64>().value(row).to_vec()),
        ArrowType::FixedSizeBinary(_) => Cell::Bytes(a.as_fixed_size_binary().value(row).to_vec()),
        _ => Cell::Nested(a.slice(row, 1)),
    })
}

/// Order of two resolved scalars of one column, nulls first (Paimon's record comparator).
pub(crate) fn compare_scalars(a: &Cell, b: &Cell) -> Ordering {
    match (a, b) {
        (Cell::Null, Cell::Null) => Ordering::Equal,
        (Cell::Null, _) => Ordering::Less,
        (_, Cell::Null) => Ordering::Greater,
        (Cell::Bool(x), Cell::Bool(y)) => x.cmp(y),
        (Cell::Int(x), Cell::Int(y)) => x.cmp(y),
        (Cell::F32(x), Cell::F32(y)) => x.total_cmp(y),
        (Cell::F64(x), Cell::F64(y)) => x.total_cmp(y),
        (Cell::Decimal(x), Cell::Decimal(y)) => x.cmp(y),
        (Cell::Str(x), Cell::Str(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Cell::Bytes(x), Cell::Bytes(y)) => x.cmp(y),
        _ => Ordering::Equal,
    }
}

/// Rows computed by merges, kept as cells until their batch is built.
pub(crate) struct ComputedRows {
    columns: Vec<Vec<Cell>>,
    seqs: Vec<i64>,
    /// Where each row's key can be copied from: (source, row) of one of its versions.
    key_sources: Vec<(usize, usize)>,
}

impl ComputedRows {
    pub(crate) fn new(num_columns: usize) -> Self {
        ComputedRows { columns: vec![vec![]; num_columns], seqs: vec![], key_sources: vec![] }
    }

    pub(crate) fn len(&self) -> usize {
        self.seqs.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.seqs.is_empty()
    }

    pub(crate) fn seqs(&self) -> &[i64] {
        &self.seqs
    }

    pub(crate) fn key_sources(&self) -> &[(usize, usize)] {
        &self.key_sources
    }

    pub(crate) fn clear(&mut self) {
        self.columns.iter_mut().for_each(Vec::clear);
        self.seqs.clear();
        self.key_sources.clear();
    }

    /// Adds a merged row; references to the group's versions become (source, row) references.
    /// Returns the row's index.
    pub(crate) fn push(&mut self, versions: &[Version], seq: i64, cells: Vec<Cell>) -> usize {
        for (c, cell) in cells.into_iter().enumerate() {
            let cell = match cell {
                Cell::Ref(v) => Cell::Source(versions[v].source, versions[v].row),
                other => other,
            };
            self.columns[c].push(cell);
        }
        self.seqs.push(seq);
        self.key_sources.push((versions[0].source, versions[0].row));
        self.len() - 1
    }

    /// The computed rows as Arrow columns of the given types; `columns_of(source)` gives the
    /// table columns of a source batch.
    pub(crate) fn build<'a>(
        &self,
        types: &[ArrowType],
        columns_of: &dyn Fn(usize) -> &'a [ArrayRef],
    ) -> Result<Vec<ArrayRef>> {
        let mut out = Vec::with_capacity(types.len());
        for (c, cells) in self.columns.iter().enumerate() {
            let fresh_cells: Vec<&Cell> = cells.iter().filter(|x| !matches!(x, Cell::Source(..))).collect();
            let fresh = build_array(&types[c], &fresh_cells)?;
            if fresh_cells.len() == cells.len() {
                out.push(fresh);
                continue;
            }
            let mut arrays: Vec<ArrayRef> = vec![fresh];
            let mut slot: HashMap<usize, usize> = HashMap::new();
            let mut indices = Vec::with_capacity(cells.len());
            let mut next_fresh = 0;
            for cell in cells {
                match cell {
                    Cell::Source(s, row) => {
                        let a = *slot.entry(*s).or_insert_with(|| {
                            arrays.push(columns_of(*s)[c].clone());
                            arrays.len() - 1
                        });
                        indices.push((a, *row));
                    }
                    _ => {
                        indices.push((0, next_fresh));
                        next_fresh += 1;
                    }
                }
            }
            let refs: Vec<&dyn Array> = arrays.iter().map(|a| a.as_ref()).collect();
            out.push(interleave(&refs, &indices).map_err(Error::arrow("assembling merged rows"))?);
        }
        Ok(out)
    }
}

fn mismatch(t: &ArrowType, cell: &Cell) -> Error {
    Error::Unsupported(format!("internal: merged value {cell:?} does not fit column type {t}"))
}

/// The values of `cells` (none of them references) as `T`s, nulls as None.
fn values<'c, T>(t: &ArrowType, cells: &[&'c Cell], get: impl Fn(&'c Cell) -> Option<T>) -> Result<Vec<Option<T>>> {
    cells
        .iter()
        .map(|c| match c {
            Cell::Null => Ok(None),
            other => get(other).map(Some).ok_or_else(|| mismatch(t, other)),
        })
        .collect()
}

/// An array of type `t` holding `cells` (none of them references).
fn build_array(t: &ArrowType, cells: &[&Cell]) -> Result<ArrayRef> {
    let int = |c: &Cell| match c {
        Cell::Int(x) => Some(*x),
        _ => None,
    };
    let a: ArrayRef = match t {
        ArrowType::Boolean => Arc::new(BooleanArray::from(values(t, cells, |c| match c {
            Cell::Bool(x) => Some(*x),
            _ => None,
        })?)),
        ArrowType::Int8 => Arc::new(Int8Array::from(values(t, cells, |c| int(c).map(|x| x as i8))?)),
        ArrowType::Int16 => Arc::new(Int16Array::from(values(t, cells, |c| int(c).map(|x| x as i16))?)),
        ArrowType::Int32 => Arc::new(Int32Array::from(values(t, cells, |c| int(c).map(|x| x as i32))?)),
        ArrowType::Int64 => Arc::new(Int64Array::from(values(t, cells, int)?)),
        ArrowType::Float32 => Arc::new(Float32Array::from(values(t, cells, |c| match c {
            Cell::F32(x) => Some(*x),
            _ => None,
        })?)),
        ArrowType::Float64 => Arc::new(Float64Array::from(values(t, cells, |c| match c {
            Cell::F64(x) => Some(*x),
            _ => None,
        })?)),
        ArrowType::Decimal128(p, s) => {
            let v = values(t, cells, |c| match c {
                Cell::Decimal(x) => Some(*x),
                _ => None,
            })?;
            Arc::new(
                Decimal128Array::from(v)
                    .with_precision_and_scale(*p, *s)
                    .map_err(Error::arrow("building a merged DECIMAL"))?,
            )
        }
        ArrowType::Utf8 | ArrowType::LargeUtf8 => {
            let v = values(t, cells, |c| match c {
                Cell::Str(x) => Some(x.as_str()),
                _ => None,
            })?;
            if matches!(t, ArrowType::Utf8) {
                Arc::new(StringArray::from(v))
            } else {
                Arc::new(LargeStringArray::from(v))
            }
        }
        ArrowType::Binary | ArrowType::LargeBinary => {
            let v = values(t, cells, |c| match c {
                Cell::Bytes(x) => Some(x.as_slice()),
                _ => None,
            })?;
            if matches!(t, ArrowType::Binary) {
                Arc::new(BinaryArray::from(v))
            } else {
                Arc::new(LargeBinaryArray::from(v))
            }
        }
        _ => {
            if cells.is_empty() {
                return Ok(new_null_array(t, 0));
            }
            let parts = cells
                .iter()
                .map(|c| match c {
                    Cell::Null => Ok(new_null_array(t, 1)),
                    Cell::Nested(a) if a.data_type() == t => Ok(a.clone()),
                    other => Err(mismatch(t, other)),
                })
                .collect::<Result<Vec<_>>>()?;
            let refs: Vec<&dyn Array> = parts.iter().map(|a| a.as_ref()).collect();
            concat(&refs).map_err(Error::arrow("assembling merged nested values"))?
        }
    };
    Ok(a)
}
