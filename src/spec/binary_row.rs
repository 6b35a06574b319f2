//! Paimon's BinaryRow: the byte layout of partition values, keys and statistics in manifests, and
//! the bytes the bucket hash runs over. Layout (see `format-spec/binary-row.md`):
//!
//! ```text
//! [header+null bits: ((arity + 63 + 8) / 64) * 8 bytes][8-byte slot per field][var part, 8-aligned]
//! ```
//! Byte 0 is the row kind (always 0 here); field `i`'s null bit is bit `i + 8`. Everything inside the
//! row is little-endian; the serialized form used in manifests prefixes a big-endian i32 arity.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::Array;
use arrow_schema::{DataType as ArrowType, TimeUnit};

use super::datum::Datum;
use super::types::{DataType, TypeKind};
use super::SpecError;

pub(crate) fn null_bits_size(arity: usize) -> usize {
    ((arity + 63 + 8) / 64) * 8
}

/// How a NULL non-compact DECIMAL/TIMESTAMP is written. Paimon's generated projections (partition
/// rows, keys, bucket keys: everything that is hashed) still reserve the var-part space; the
/// generic serializer (statistics rows) does not. Both decode to NULL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NullStyle {
    Projection,
    Serializer,
}

/// Builds one BinaryRow at a time; reuse it across rows to avoid allocation.
#[derive(Clone, Debug)]
pub struct BinaryRowWriter {
    arity: usize,
    fixed: usize,
    buf: Vec<u8>,
}

impl BinaryRowWriter {
    pub fn new(arity: usize) -> Self {
        let fixed = null_bits_size(arity) + 8 * arity;
        BinaryRowWriter { arity, fixed, buf: vec![0; fixed] }
    }

    pub fn arity(&self) -> usize {
        self.arity
    }

    /// Clears the row for the next one (row kind 0, no nulls, empty var part).
    pub fn reset(&mut self) {
        self.buf.truncate(self.fixed);
        self.buf.fill(0);
    }

    fn slot(&self, pos: usize) -> usize {
        null_bits_size(self.arity) + 8 * pos
    }

    fn put_slot(&mut self, pos: usize, v: u64) {
        let o = self.slot(pos);
        self.buf[o..o + 8].copy_from_slice(&v.to_le_bytes());
    }

    pub fn set_null(&mut self, pos: usize) {
        let bit = pos + 8;
        self.buf[bit >> 3] |= 1 << (bit & 7);
        self.put_slot(pos, 0);
    }

    pub fn write_bool(&mut self, pos: usize, v: bool) {
        self.put_slot(pos, v as u64);
    }
    pub fn write_i8(&mut self, pos: usize, v: i8) {
        self.put_slot(pos, v as u8 as u64);
    }
    pub fn write_i16(&mut self, pos: usize, v: i16) {
        self.put_slot(pos, v as u16 as u64);
    }
    pub fn write_i32(&mut self, pos: usize, v: i32) {
        self.put_slot(pos, v as u32 as u64);
    }
    pub fn write_i64(&mut self, pos: usize, v: i64) {
        self.put_slot(pos, v as u64);
    }
    pub fn write_f32(&mut self, pos: usize, v: f32) {
        self.put_slot(pos, v.to_bits() as u64);
    }
    pub fn write_f64(&mut self, pos: usize, v: f64) {
        self.put_slot(pos, v.to_bits());
    }

    /// Appends `len` rounded up to 8 zero bytes to the var part and returns its offset.
    fn reserve_var(&mut self, len: usize) -> usize {
        let offset = self.buf.len();
        self.buf.resize(offset + len.next_multiple_of(8), 0);
        offset
    }

    /// Strings (UTF-8) and binaries: up to 7 bytes inline, longer in the var part.
    pub fn write_bytes(&mut self, pos: usize, bytes: &[u8]) {
        if bytes.len() <= 7 {
            let mut slot = [0u8; 8];
            slot[..bytes.len()].copy_from_slice(bytes);
            slot[7] = 0x80 | bytes.len() as u8;
            let o = self.slot(pos);
            self.buf[o..o + 8].copy_from_slice(&slot);
        } else {
            let offset = self.reserve_var(bytes.len());
            self.buf[offset..offset + bytes.len()].copy_from_slice(bytes);
            self.put_slot(pos, ((offset as u64) << 32) | bytes.len() as u64);
        }
    }

    pub fn write_decimal(&mut self, pos: usize, unscaled: i128, precision: u8) {
        if precision <= 18 {
            self.write_i64(pos, unscaled as i64);
        } else {
            let bytes = big_integer_bytes(unscaled);
            let offset = self.reserve_var(16);
            self.buf[offset..offset + bytes.len()].copy_from_slice(&bytes);
            self.put_slot(pos, ((offset as u64) << 32) | bytes.len() as u64);
        }
    }

    pub fn write_timestamp(&mut self, pos: usize, millis: i64, nanos: i32, precision: u8) {
        if precision <= 3 {
            self.write_i64(pos, millis);
        } else {
            let offset = self.reserve_var(8);
            self.buf[offset..offset + 8].copy_from_slice(&millis.to_le_bytes());
            self.put_slot(pos, ((offset as u64) << 32) | nanos as u32 as u64);
        }
    }

    /// A NULL value of type `t` in the given style.
    pub fn write_null(&mut self, pos: usize, t: &DataType, style: NullStyle) {
        self.set_null(pos);
        if style == NullStyle::Projection {
            let reserve = match t.kind {
                TypeKind::Decimal { precision, .. } if precision > 18 => 16,
                TypeKind::Timestamp(p) | TypeKind::LocalZonedTimestamp(p) if p > 3 => 8,
                _ => 0,
            };
            if reserve > 0 {
                let offset = self.reserve_var(reserve);
                self.put_slot(pos, (offset as u64) << 32);
            }
        }
    }

    pub fn write_datum(&mut self, pos: usize, d: &Datum, t: &DataType, style: NullStyle) -> Result<(), SpecError> {
        match (d, &t.kind) {
            (Datum::Null, _) => self.write_null(pos, t, style),
            (Datum::Boolean(v), _) => self.write_bool(pos, *v),
            (Datum::TinyInt(v), _) => self.write_i8(pos, *v),
            (Datum::SmallInt(v), _) => self.write_i16(pos, *v),
            (Datum::Int(v), _) | (Datum::Date(v), _) | (Datum::Time(v), _) => self.write_i32(pos, *v),
            (Datum::BigInt(v), _) => self.write_i64(pos, *v),
            (Datum::Float(v), _) => self.write_f32(pos, *v),
            (Datum::Double(v), _) => self.write_f64(pos, *v),
            (Datum::Decimal { unscaled, .. }, TypeKind::Decimal { precision, .. }) => {
                self.write_decimal(pos, *unscaled, *precision)
            }
            (Datum::String(s), _) => self.write_bytes(pos, s.as_bytes()),
            (Datum::Bytes(b), _) => self.write_bytes(pos, b),
            (Datum::Timestamp { millis, nanos }, TypeKind::Timestamp(p) | TypeKind::LocalZonedTimestamp(p)) => {
                self.write_timestamp(pos, *millis, *nanos, *p)
            }
            (d, _) => return Err(SpecError::BinaryRow(format!("cannot write {d:?} as {t}"))),
        }
        Ok(())
    }

    /// Writes row `row` of an Arrow array as field `pos` (values of `t`'s Arrow type).
    pub fn write_from_array(
        &mut self,
        pos: usize,
        array: &dyn Array,
        row: usize,
        t: &DataType,
        style: NullStyle,
    ) -> Result<(), SpecError> {
        if array.is_null(row) {
            self.write_null(pos, t, style);
            return Ok(());
        }
        match array.data_type() {
            ArrowType::Boolean => self.write_bool(pos, array.as_boolean().value(row)),
            ArrowType::Int8 => self.write_i8(pos, array.as_primitive::<Int8Type>().value(row)),
            ArrowType::Int16 => self.write_i16(pos, array.as_primitive::<Int16Type>().value(row)),
            ArrowType::Int32 => self.write_i32(pos, array.as_primitive::<Int32Type>().value(row)),
            ArrowType::Date32 => self.write_i32(pos, array.as_primitive::<Date32Type>().value(row)),
            ArrowType::Time32(TimeUnit::Millisecond) => {
                self.write_i32(pos, array.as_primitive::<Time32MillisecondType>().value(row))
            }
            ArrowType::Int64 => self.write_i64(pos, array.as_primitive::<Int64Type>().value(row)),
            ArrowType::Float32 => self.write_f32(pos, array.as_primitive::<Float32Type>().value(row)),
            ArrowType::Float64 => self.write_f64(pos, array.as_primitive::<Float64Type>().value(row)),
            ArrowType::Decimal128(p, _) => {
                self.write_decimal(pos, array.as_primitive::<Decimal128Type>().value(row), *p)
            }
            ArrowType::Utf8 => self.write_bytes(pos, array.as_string::<i32>().value(row).as_bytes()),
            ArrowType::LargeUtf8 => self.write_bytes(pos, array.as_string::<i64>().value(row).as_bytes()),
            ArrowType::Binary => self.write_bytes(pos, array.as_binary::<i32>().value(row)),
            ArrowType::LargeBinary => self.write_bytes(pos, array.as_binary::<i64>().value(row)),
            ArrowType::FixedSizeBinary(_) => self.write_bytes(pos, array.as_fixed_size_binary().value(row)),
            ArrowType::Timestamp(unit, _) => {
                let precision = match t.kind {
                    TypeKind::Timestamp(p) | TypeKind::LocalZonedTimestamp(p) => p,
                    _ => 3,
                };
                let (millis, nanos) = timestamp_parts(array, *unit, row);
                self.write_timestamp(pos, millis, nanos, precision)
            }
            other => return Err(SpecError::BinaryRow(format!("no BinaryRow encoding for Arrow {other}"))),
        }
        Ok(())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    pub fn hash_code(&self) -> i32 {
        murmur_hash_words(&self.buf)
    }

    pub fn to_row(&self) -> BinaryRow {
        BinaryRow { arity: self.arity, data: Arc::from(self.buf.as_slice()) }
    }
}

/// Splits row `row` of an Arrow timestamp array into epoch millis and nanos-of-milli.
pub(crate) fn timestamp_parts(array: &dyn Array, unit: TimeUnit, row: usize) -> (i64, i32) {
    match unit {
        TimeUnit::Second => (array.as_primitive::<TimestampSecondType>().value(row) * 1000, 0),
        TimeUnit::Millisecond => (array.as_primitive::<TimestampMillisecondType>().value(row), 0),
        TimeUnit::Microsecond => {
            let v = array.as_primitive::<TimestampMicrosecondType>().value(row);
            (v.div_euclid(1000), (v.rem_euclid(1000) * 1000) as i32)
        }
        TimeUnit::Nanosecond => {
            let v = array.as_primitive::<TimestampNanosecondType>().value(row);
            (v.div_euclid(1_000_000), v.rem_euclid(1_000_000) as i32)
        }
    }
}

/// Java's `BigInteger.toByteArray()`: minimal big-endian two's complement.
pub(crate) fn big_integer_bytes(v: i128) -> Vec<u8> {
    let full = v.to_be_bytes();
    let mut start = 0;
    while start < 15 {
        let b = full[start];
        let next_sign = full[start + 1] & 0x80;
        if (b == 0x00 && next_sign == 0) || (b == 0xff && next_sign != 0) {
            start += 1;
        } else {
            break;
        }
    }
    full[start..].to_vec()
}

fn big_integer_from_bytes(b: &[u8]) -> Result<i128, SpecError> {
    if b.is_empty() || b.len() > 16 {
        return Err(SpecError::BinaryRow(format!("decimal of {} bytes", b.len())));
    }
    let fill = if b[0] & 0x80 != 0 { 0xff } else { 0 };
    let mut full = [fill; 16];
    full[16 - b.len()..].copy_from_slice(b);
    Ok(i128::from_be_bytes(full))
}

/// Paimon's `MurmurHashUtils.hashBytesByWords`: MurmurHash3 x86_32, seed 42, over little-endian
/// 4-byte words, finalised with the byte length. `bytes.len()` is a multiple of 4 for BinaryRows.
pub fn murmur_hash_words(bytes: &[u8]) -> i32 {
    const C1: u32 = 0xcc9e2d51;
    const C2: u32 = 0x1b873593;
    let mut h1: u32 = 42;
    for w in bytes.chunks_exact(4) {
        let mut k1 = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
        k1 = k1.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h1 ^= k1;
        h1 = h1.rotate_left(13).wrapping_mul(5).wrapping_add(0xe6546b64);
    }
    h1 ^= bytes.len() as u32;
    h1 ^= h1 >> 16;
    h1 = h1.wrapping_mul(0x85ebca6b);
    h1 ^= h1 >> 13;
    h1 = h1.wrapping_mul(0xc2b2ae35);
    h1 ^= h1 >> 16;
    h1 as i32
}

/// The hash of a one-field BinaryRow holding a non-null BIGINT (16 bytes: header, slot).
pub fn hash_single_long(v: i64) -> i32 {
    let mut b = [0u8; 16];
    b[8..].copy_from_slice(&v.to_le_bytes());
    murmur_hash_words(&b)
}

/// The hash of a one-field BinaryRow holding a non-null INT.
pub(crate) fn hash_single_int(v: i32) -> i32 {
    let mut b = [0u8; 16];
    b[8..12].copy_from_slice(&v.to_le_bytes());
    murmur_hash_words(&b)
}

/// Paimon's fixed-bucket formula: `Math.abs(hash % numBuckets)` with Java's remainder.
pub fn bucket_of(hash: i32, num_buckets: i32) -> i32 {
    (hash % num_buckets).abs()
}

/// An immutable BinaryRow.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct BinaryRow {
    arity: usize,
    data: Arc<[u8]>,
}

impl std::fmt::Debug for BinaryRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BinaryRow(arity={}, {} bytes)", self.arity, self.data.len())
    }
}

impl BinaryRow {
    pub fn empty() -> Self {
        BinaryRowWriter::new(0).to_row()
    }

    pub fn from_datums(values: &[Datum], types: &[DataType], style: NullStyle) -> Result<Self, SpecError> {
        let mut w = BinaryRowWriter::new(values.len());
        for (i, (v, t)) in values.iter().zip(types).enumerate() {
            w.write_datum(i, v, t, style)?;
        }
        Ok(w.to_row())
    }

    pub fn arity(&self) -> usize {
        self.arity
    }
    pub fn data(&self) -> &[u8] {
        &self.data
    }
    pub fn hash_code(&self) -> i32 {
        murmur_hash_words(&self.data)
    }

    /// `SerializationUtils.serializeBinaryRow`: big-endian i32 arity, then the row bytes.
    pub fn serialize(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + self.data.len());
        out.extend_from_slice(&(self.arity as i32).to_be_bytes());
        out.extend_from_slice(&self.data);
        out
    }

    pub fn deserialize(bytes: &[u8]) -> Result<Self, SpecError> {
        if bytes.len() < 4 {
            return Err(SpecError::BinaryRow(format!("{} bytes is too short for a serialized row", bytes.len())));
        }
        let arity = i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        if !(0..=100_000).contains(&arity) {
            return Err(SpecError::BinaryRow(format!("implausible arity {arity}")));
        }
        let arity = arity as usize;
        let data = &bytes[4..];
        let fixed = null_bits_size(arity) + 8 * arity;
        if data.len() < fixed {
            return Err(SpecError::BinaryRow(format!(
                "row of arity {arity} needs at least {fixed} bytes, has {}",
                data.len()
            )));
        }
        Ok(BinaryRow { arity, data: Arc::from(data) })
    }

    pub fn is_null_at(&self, pos: usize) -> bool {
        let bit = pos + 8;
        self.data[bit >> 3] & (1 << (bit & 7)) != 0
    }

    fn slot(&self, pos: usize) -> u64 {
        let o = null_bits_size(self.arity) + 8 * pos;
        u64::from_le_bytes(self.data[o..o + 8].try_into().expect("8-byte slot"))
    }

    fn var_bytes(&self, pos: usize) -> Result<&[u8], SpecError> {
        let slot = self.slot(pos);
        if slot & (1 << 63) != 0 {
            let len = ((slot >> 56) & 0x7f) as usize;
            if len > 7 {
                return Err(SpecError::BinaryRow(format!("inline length {len} at field {pos}")));
            }
            let o = null_bits_size(self.arity) + 8 * pos;
            Ok(&self.data[o..o + len])
        } else {
            let offset = (slot >> 32) as usize;
            let len = (slot & 0xffff_ffff) as usize;
            self.data.get(offset..offset + len).ok_or_else(|| {
                SpecError::BinaryRow(format!(
                    "field {pos} points at {offset}+{len} beyond the row's {} bytes",
                    self.data.len()
                ))
            })
        }
    }

    /// Decodes field `pos` as a value of type `t`.
    pub fn get(&self, pos: usize, t: &DataType) -> Result<Datum, SpecError> {
        if pos >= self.arity {
            return Err(SpecError::BinaryRow(format!("field {pos} of a row of arity {}", self.arity)));
        }
        if self.is_null_at(pos) {
            return Ok(Datum::Null);
        }
        let s = self.slot(pos);
        Ok(match &t.kind {
            TypeKind::Boolean => Datum::Boolean(s as u8 != 0),
            TypeKind::TinyInt => Datum::TinyInt(s as u8 as i8),
            TypeKind::SmallInt => Datum::SmallInt(s as u16 as i16),
            TypeKind::Int => Datum::Int(s as u32 as i32),
            TypeKind::Date => Datum::Date(s as u32 as i32),
            TypeKind::Time(_) => Datum::Time(s as u32 as i32),
            TypeKind::BigInt => Datum::BigInt(s as i64),
            TypeKind::Float => Datum::Float(f32::from_bits(s as u32)),
            TypeKind::Double => Datum::Double(f64::from_bits(s)),
            TypeKind::Decimal { precision, scale } => {
                let unscaled =
                    if *precision <= 18 { s as i64 as i128 } else { big_integer_from_bytes(self.var_bytes(pos)?)? };
                Datum::Decimal { unscaled, precision: *precision, scale: *scale }
            }
            TypeKind::Char(_) | TypeKind::VarChar(_) => Datum::String(
                String::from_utf8(self.var_bytes(pos)?.to_vec())
                    .map_err(|e| SpecError::BinaryRow(format!("field {pos} is not UTF-8: {e}")))?,
            ),
            TypeKind::Binary(_) | TypeKind::VarBinary(_) => Datum::Bytes(self.var_bytes(pos)?.to_vec()),
            TypeKind::Timestamp(p) | TypeKind::LocalZonedTimestamp(p) => {
                if *p <= 3 {
                    Datum::Timestamp { millis: s as i64, nanos: 0 }
                } else {
                    let offset = (s >> 32) as usize;
                    let bytes = self
                        .data
                        .get(offset..offset + 8)
                        .ok_or_else(|| SpecError::BinaryRow(format!("timestamp field {pos} points beyond the row")))?;
                    Datum::Timestamp {
                        millis: i64::from_le_bytes(bytes.try_into().expect("8 bytes")),
                        nanos: (s & 0xffff_ffff) as i32,
                    }
                }
            }
            other => {
                return Err(SpecError::BinaryRow(format!("reading nested {other:?} from a BinaryRow is not supported")))
            }
        })
    }

    pub fn to_datums(&self, types: &[DataType]) -> Result<Vec<Datum>, SpecError> {
        if types.len() != self.arity {
            return Err(SpecError::BinaryRow(format!("row has {} fields, expected {}", self.arity, types.len())));
        }
        types.iter().enumerate().map(|(i, t)| self.get(i, t)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::types::parse_type;

    #[test]
    fn empty_row_serializes_to_twelve_zero_bytes() {
        assert_eq!(BinaryRow::empty().serialize(), vec![0u8; 12]);
    }

    #[test]
    fn single_key_hash_shortcuts_match_the_row_hash() {
        for v in [0i64, -1, 42, i64::MIN, i64::MAX] {
            let mut w = BinaryRowWriter::new(1);
            w.write_i64(0, v);
            assert_eq!(hash_single_long(v), w.hash_code());
            let mut w = BinaryRowWriter::new(1);
            w.write_i32(0, v as i32);
            assert_eq!(hash_single_int(v as i32), w.hash_code());
        }
    }

    #[test]
    fn null_bit_width() {
        assert_eq!(null_bits_size(0), 8);
        assert_eq!(null_bits_size(56), 8);
        assert_eq!(null_bits_size(57), 16);
        assert_eq!(null_bits_size(120), 16);
        assert_eq!(null_bits_size(121), 24);
    }

    #[test]
    fn big_integer_bytes_match_java() {
        assert_eq!(big_integer_bytes(0), vec![0]);
        assert_eq!(big_integer_bytes(127), vec![0x7f]);
        assert_eq!(big_integer_bytes(128), vec![0x00, 0x80]);
        assert_eq!(big_integer_bytes(-1), vec![0xff]);
        assert_eq!(big_integer_bytes(-128), vec![0x80]);
        assert_eq!(big_integer_bytes(-129), vec![0xff, 0x7f]);
        for v in [0i128, 1, -1, 255, -256, i64::MAX as i128 * 1000, -(10i128.pow(37))] {
            assert_eq!(big_integer_from_bytes(&big_integer_bytes(v)).unwrap(), v);
        }
    }

    #[test]
    fn values_round_trip() {
        let types: Vec<DataType> = ["INT", "STRING", "STRING", "DECIMAL(20, 2)", "TIMESTAMP(6)", "BIGINT", "DOUBLE"]
            .iter()
            .map(|s| parse_type(s).unwrap())
            .collect();
        let values = vec![
            Datum::Int(-5),
            Datum::String("short".into()),
            Datum::String("a longer string".into()),
            Datum::Decimal { unscaled: -123456789012345678901, precision: 20, scale: 2 },
            Datum::Timestamp { millis: 1_700_000_000_123, nanos: 456_000 },
            Datum::Null,
            Datum::Double(2.5),
        ];
        let row = BinaryRow::from_datums(&values, &types, NullStyle::Serializer).unwrap();
        assert_eq!(row.data().len() % 8, 0);
        let back = BinaryRow::deserialize(&row.serialize()).unwrap();
        assert_eq!(back.to_datums(&types).unwrap(), values);
    }

    #[test]
    fn corrupt_rows_are_errors_not_panics() {
        assert!(BinaryRow::deserialize(&[0, 0]).is_err());
        assert!(BinaryRow::deserialize(&[0, 0, 0, 2, 0, 0]).is_err());
        // a string slot pointing past the end
        let mut bytes = vec![0, 0, 0, 1];
        bytes.extend_from_slice(&[0u8; 8]);
        bytes.extend_from_slice(&((1000u64 << 32) | 20).to_le_bytes());
        let row = BinaryRow::deserialize(&bytes).unwrap();
        assert!(row.get(0, &DataType::string()).is_err());
    }
}
