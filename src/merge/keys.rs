//! Key comparison shared by the write buffer's sort and the merge read. Primary-key columns are
//! NOT NULL; a single BIGINT/INT key is compared as integers, anything else through Arrow's
//! row format (byte-comparable, same order as Paimon's key comparator for the types keys use).

use std::cmp::Ordering;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type};
use arrow_array::{Array, ArrayRef};
use arrow_buffer::ScalarBuffer;
use arrow_row::{RowConverter, Rows, SortField};
use arrow_schema::DataType as ArrowType;

use crate::error::{Error, Result};

/// Sort keys of one batch.
pub(crate) enum SortKeys {
    I64(ScalarBuffer<i64>),
    I32(ScalarBuffer<i32>),
    Rows(Rows),
}

/// Builds comparable keys for batches of one key schema.
pub(crate) struct KeyEncoder {
    fast: Option<ArrowType>,
    converter: Option<RowConverter>,
}

impl KeyEncoder {
    pub(crate) fn new(key_types: &[ArrowType]) -> Result<KeyEncoder> {
        if key_types.len() == 1 && matches!(key_types[0], ArrowType::Int64 | ArrowType::Int32) {
            return Ok(KeyEncoder { fast: Some(key_types[0].clone()), converter: None });
        }
        let fields = key_types.iter().map(|t| SortField::new(t.clone())).collect();
        let converter = RowConverter::new(fields).map_err(Error::arrow("building the key comparator"))?;
        Ok(KeyEncoder { fast: None, converter: Some(converter) })
    }

    pub(crate) fn encode(&self, columns: &[ArrayRef]) -> Result<SortKeys> {
        match (&self.fast, &self.converter) {
            (Some(ArrowType::Int64), _) if columns[0].null_count() == 0 => {
                Ok(SortKeys::I64(columns[0].as_primitive::<Int64Type>().values().clone()))
            }
            (Some(ArrowType::Int32), _) if columns[0].null_count() == 0 => {
                Ok(SortKeys::I32(columns[0].as_primitive::<Int32Type>().values().clone()))
            }
            (Some(_), _) => Err(Error::SchemaMismatch("a primary-key column holds a null".into())),
            (None, Some(conv)) => {
                conv.convert_columns(columns).map(SortKeys::Rows).map_err(Error::arrow("encoding keys"))
            }
            (None, None) => unreachable!("an encoder has a fast path or a converter"),
        }
    }
}

impl KeyEncoder {
    /// Appends keys `range` of `keys` to `out` in a form [`Self::read_keys`] reads back (local
    /// lookup files).
    pub(crate) fn write_keys(&self, keys: &SortKeys, range: std::ops::Range<usize>, out: &mut Vec<u8>) {
        for i in range {
            match keys {
                SortKeys::I64(v) => out.extend_from_slice(&v[i].to_le_bytes()),
                SortKeys::I32(v) => out.extend_from_slice(&v[i].to_le_bytes()),
                SortKeys::Rows(r) => {
                    let row = r.row(i);
                    let bytes: &[u8] = row.as_ref();
                    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
                    out.extend_from_slice(bytes);
                }
            }
        }
    }

    /// Reads `n` keys written by [`Self::write_keys`]; None when the bytes are not such keys.
    pub(crate) fn read_keys(&self, bytes: &[u8], n: usize) -> Option<SortKeys> {
        let word = |at: usize, len: usize| bytes.get(at..at + len);
        match (&self.fast, &self.converter) {
            (Some(ArrowType::Int64), _) => {
                let v: Option<Vec<i64>> = (0..n)
                    .map(|i| word(i * 8, 8).map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes"))))
                    .collect();
                Some(SortKeys::I64(ScalarBuffer::from(v?)))
            }
            (Some(_), _) => {
                let v: Option<Vec<i32>> = (0..n)
                    .map(|i| word(i * 4, 4).map(|b| i32::from_le_bytes(b.try_into().expect("4 bytes"))))
                    .collect();
                Some(SortKeys::I32(ScalarBuffer::from(v?)))
            }
            (None, Some(conv)) => {
                let parser = conv.parser();
                let mut rows = conv.empty_rows(n, bytes.len());
                let mut at = 0;
                for _ in 0..n {
                    let len = u32::from_le_bytes(word(at, 4)?.try_into().expect("4 bytes")) as usize;
                    rows.push(parser.parse(word(at + 4, len)?));
                    at += 4 + len;
                }
                Some(SortKeys::Rows(rows))
            }
            (None, None) => None,
        }
    }

    /// Keys stored as one Arrow column by a local spill file (integers as they are, row-format
    /// keys as their bytes) read back; None when the column is not such keys.
    pub(crate) fn keys_from_column(&self, column: &ArrayRef) -> Option<SortKeys> {
        match (&self.fast, &self.converter) {
            (Some(ArrowType::Int64), _) => {
                Some(SortKeys::I64(column.as_primitive_opt::<Int64Type>()?.values().clone()))
            }
            (Some(_), _) => Some(SortKeys::I32(column.as_primitive_opt::<Int32Type>()?.values().clone())),
            (None, Some(conv)) => {
                let bytes = column.as_binary_opt::<i32>()?;
                let parser = conv.parser();
                let mut rows = conv.empty_rows(bytes.len(), bytes.values().len());
                for b in bytes.iter() {
                    rows.push(parser.parse(b?));
                }
                Some(SortKeys::Rows(rows))
            }
            (None, None) => None,
        }
    }

    /// Key `i` of `keys` alone.
    pub(crate) fn one(&self, keys: &SortKeys, i: usize) -> SortKeys {
        match (keys, &self.converter) {
            // Copied, not sliced: a slice would keep the whole batch's key buffer alive (a
            // lookup index keeps one key per block, and held 32 KiB per block that way).
            (SortKeys::I64(v), _) => SortKeys::I64(ScalarBuffer::from(vec![v[i]])),
            (SortKeys::I32(v), _) => SortKeys::I32(ScalarBuffer::from(vec![v[i]])),
            (SortKeys::Rows(r), Some(conv)) => {
                let row = r.row(i);
                let mut one = conv.empty_rows(1, row.as_ref().len());
                one.push(row);
                SortKeys::Rows(one)
            }
            (SortKeys::Rows(_), None) => unreachable!("row keys come from an encoder with a converter"),
        }
    }
}

impl SortKeys {
    /// Bytes held.
    pub(crate) fn memory_size(&self) -> usize {
        match self {
            SortKeys::I64(v) => v.len() * 8,
            SortKeys::I32(v) => v.len() * 4,
            SortKeys::Rows(r) => r.size(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            SortKeys::I64(v) => v.len(),
            SortKeys::I32(v) => v.len(),
            SortKeys::Rows(r) => r.num_rows(),
        }
    }

    /// Compares key `i` of self with key `j` of `other` (both from the same encoder).
    #[inline]
    pub(crate) fn cmp_with(&self, i: usize, other: &SortKeys, j: usize) -> Ordering {
        match (self, other) {
            (SortKeys::I64(a), SortKeys::I64(b)) => a[i].cmp(&b[j]),
            (SortKeys::I32(a), SortKeys::I32(b)) => a[i].cmp(&b[j]),
            (SortKeys::Rows(a), SortKeys::Rows(b)) => a.row(i).cmp(&b.row(j)),
            _ => unreachable!("keys of one encoder share a representation"),
        }
    }

    /// Row indices sorted by key; equal keys keep their input order (stable).
    pub(crate) fn sorted_indices(&self) -> Vec<u32> {
        match self {
            SortKeys::I64(v) => {
                let mut pairs: Vec<(i64, u32)> = v.iter().enumerate().map(|(i, k)| (*k, i as u32)).collect();
                pairs.sort_unstable();
                pairs.into_iter().map(|(_, i)| i).collect()
            }
            SortKeys::I32(v) => {
                let mut pairs: Vec<(i32, u32)> = v.iter().enumerate().map(|(i, k)| (*k, i as u32)).collect();
                pairs.sort_unstable();
                pairs.into_iter().map(|(_, i)| i).collect()
            }
            SortKeys::Rows(r) => {
                let mut idx: Vec<u32> = (0..r.num_rows() as u32).collect();
                idx.sort_by(|a, b| r.row(*a as usize).cmp(&r.row(*b as usize)));
                idx
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key taken alone owns its bytes: a lookup index keeps one per block, and a slice of the
    /// batch's keys would keep every block's whole key buffer alive.
    #[test]
    fn one_key_does_not_hold_the_batch() {
        let encoder = KeyEncoder::new(&[ArrowType::Int64]).expect("encoder");
        let keys = SortKeys::I64(ScalarBuffer::from((0..4096i64).collect::<Vec<_>>()));
        match encoder.one(&keys, 7) {
            SortKeys::I64(v) => {
                assert_eq!(v.as_ref(), &[7]);
                assert!(v.inner().capacity() < 1024, "holds {} bytes", v.inner().capacity());
            }
            _ => panic!("an I64 key"),
        }
        let encoder = KeyEncoder::new(&[ArrowType::Int32]).expect("encoder");
        let keys = SortKeys::I32(ScalarBuffer::from((0..4096i32).collect::<Vec<_>>()));
        match encoder.one(&keys, 9) {
            SortKeys::I32(v) => {
                assert_eq!(v.as_ref(), &[9]);
                assert!(v.inner().capacity() < 1024, "holds {} bytes", v.inner().capacity());
            }
            _ => panic!("an I32 key"),
        }
    }
}
