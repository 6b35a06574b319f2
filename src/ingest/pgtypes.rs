//! Postgres types as Paimon types, and Postgres's text output of a value as an Arrow value.
//!
//! The mapping (documented in `format-spec/ingest.md`):
//!
//! | Postgres | Paimon |
//! | --- | --- |
//! | boolean | BOOLEAN |
//! | smallint / integer / bigint (and serials) | SMALLINT / INT / BIGINT |
//! | oid | BIGINT |
//! | real / double precision | FLOAT / DOUBLE (NaN, ±Infinity kept) |
//! | numeric(p, s), p <= 38 | DECIMAL(p, s) (NaN becomes NULL) |
//! | numeric without precision, or p > 38 | STRING (the exact text) |
//! | char(n) / varchar(n) / text / name | CHAR(n) / VARCHAR(n) / STRING / STRING |
//! | bytea | BYTES |
//! | date | DATE (±infinity becomes NULL) |
//! | time(p) | TIME(min(p, 3)) (Paimon keeps milliseconds) |
//! | timestamp(p) | TIMESTAMP(p) (±infinity becomes NULL; BC kept) |
//! | timestamptz(p) | TIMESTAMP(p) WITH LOCAL TIME ZONE (the instant) |
//! | json, jsonb, uuid, xml, interval, timetz, money, inet, enums, domains, others | STRING (the text form) |
//! | one-dimensional arrays of the types above | `ARRAY<element>` |
//!
//! Values come as Postgres's text output with `DateStyle=ISO`, `TimeZone=UTC`,
//! `extra_float_digits=3` and `bytea_output=hex` (both the snapshot copy and the replication
//! connection set these).

use std::sync::Arc;

use arrow_array::builder::BooleanBuilder;
use arrow_array::types::{
    BinaryType, ByteArrayType, Date32Type, Decimal128Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type,
    Int8Type, Time32MillisecondType, TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType, Utf8Type,
};
use arrow_array::{new_null_array, ArrayRef, ArrowPrimitiveType, GenericByteArray, ListArray, PrimitiveArray};
use arrow_buffer::{BooleanBufferBuilder, Buffer, NullBuffer, OffsetBuffer};
use arrow_schema::{DataType as ArrowType, Field, TimeUnit};

use super::pgtext;
use crate::spec::{DataType, TypeKind};

pub(crate) const BOOL: u32 = 16;
pub(crate) const BYTEA: u32 = 17;
pub(crate) const INT8: u32 = 20;
pub(crate) const INT2: u32 = 21;
pub(crate) const INT4: u32 = 23;
pub(crate) const TEXT: u32 = 25;
pub(crate) const OID: u32 = 26;
pub(crate) const FLOAT4: u32 = 700;
pub(crate) const FLOAT8: u32 = 701;
pub(crate) const BPCHAR: u32 = 1042;
pub(crate) const VARCHAR: u32 = 1043;
pub(crate) const DATE: u32 = 1082;
pub(crate) const TIME: u32 = 1083;
pub(crate) const TIMESTAMP: u32 = 1114;
pub(crate) const TIMESTAMPTZ: u32 = 1184;
pub(crate) const NUMERIC: u32 = 1700;

/// The element type of Postgres's built-in array types.
fn array_element(oid: u32) -> Option<u32> {
    Some(match oid {
        1000 => BOOL,
        1001 => BYTEA,
        1005 => INT2,
        1007 => INT4,
        1016 => INT8,
        1009 => TEXT,
        1014 => BPCHAR,
        1015 => VARCHAR,
        1021 => FLOAT4,
        1022 => FLOAT8,
        1231 => NUMERIC,
        1182 => DATE,
        1183 => TIME,
        1115 => TIMESTAMP,
        1185 => TIMESTAMPTZ,
        // uuid[], json[], jsonb[]: arrays of strings
        2951 | 199 | 3807 => TEXT,
        _ => return None,
    })
}

/// The Paimon type (nullable) of a Postgres column of type `oid` with modifier `typmod`.
pub(crate) fn paimon_type(oid: u32, typmod: i32) -> DataType {
    let kind = match oid {
        BOOL => TypeKind::Boolean,
        INT2 => TypeKind::SmallInt,
        INT4 => TypeKind::Int,
        INT8 | OID => TypeKind::BigInt,
        FLOAT4 => TypeKind::Float,
        FLOAT8 => TypeKind::Double,
        NUMERIC => {
            if typmod >= 4 {
                let precision = ((typmod - 4) >> 16) & 0xffff;
                let scale = (typmod - 4) & 0xffff;
                // Negative scales (Postgres 15 allows numeric(2, -3)) arrive as large numbers.
                if (1..=38).contains(&precision) && scale <= precision {
                    TypeKind::Decimal { precision: precision as u8, scale: scale as u8 }
                } else {
                    TypeKind::VarChar(crate::spec::types::MAX_VAR_LENGTH)
                }
            } else {
                TypeKind::VarChar(crate::spec::types::MAX_VAR_LENGTH)
            }
        }
        BPCHAR if typmod > 4 => TypeKind::Char((typmod - 4) as u32),
        VARCHAR if typmod > 4 => TypeKind::VarChar((typmod - 4) as u32),
        BYTEA => TypeKind::VarBinary(crate::spec::types::MAX_VAR_LENGTH),
        DATE => TypeKind::Date,
        TIME => TypeKind::Time(if typmod < 0 { 3 } else { typmod.min(3) as u8 }),
        TIMESTAMP => TypeKind::Timestamp(if typmod < 0 { 6 } else { typmod.min(9) as u8 }),
        TIMESTAMPTZ => TypeKind::LocalZonedTimestamp(if typmod < 0 { 6 } else { typmod.min(9) as u8 }),
        _ => match array_element(oid) {
            // An array's modifier is its element's.
            Some(e) => TypeKind::Array(Box::new(paimon_type(e, typmod))),
            None => TypeKind::VarChar(crate::spec::types::MAX_VAR_LENGTH),
        },
    };
    DataType::new(kind)
}

/// Whether a column's type changed from `from` to `to` in a way Paimon allows (a wider type).
pub(crate) fn is_widening(from: &DataType, to: &DataType) -> bool {
    use TypeKind::*;
    match (&from.kind, &to.kind) {
        (a, b) if a == b => true,
        (SmallInt, Int | BigInt) | (Int, BigInt) | (Float, Double) => true,
        (VarChar(a), VarChar(b)) => b >= a,
        (Char(_), VarChar(_)) => true,
        (Decimal { precision: p1, scale: s1 }, Decimal { precision: p2, scale: s2 }) => {
            s2 >= s1 && (p2 - s2) >= (p1 - s1)
        }
        (Decimal { .. }, VarChar(n)) => *n == crate::spec::types::MAX_VAR_LENGTH,
        (Timestamp(a), Timestamp(b)) | (LocalZonedTimestamp(a), LocalZonedTimestamp(b)) => b >= a,
        _ => false,
    }
}

/// Postgres's text form of a value as an Arrow array of `t` (one value per input, `None` being
/// NULL). Errors name the row (0-based within `values`) and the value.
pub fn text_to_array(values: &[Option<&str>], t: &DataType) -> Result<ArrayRef, String> {
    convert(values, t)
}

/// A column of values in Postgres's text form, row by row (None: NULL).
trait TextValues {
    fn count(&self) -> usize;
    fn value(&self, i: usize) -> Option<&[u8]>;
}

impl TextValues for [Option<&str>] {
    fn count(&self) -> usize {
        self.len()
    }

    fn value(&self, i: usize) -> Option<&[u8]> {
        self[i].map(str::as_bytes)
    }
}

impl TextValues for TextColumn {
    fn count(&self) -> usize {
        self.valid.len()
    }

    fn value(&self, i: usize) -> Option<&[u8]> {
        self.valid[i].then(|| &self.data[self.offsets[i] as usize..self.offsets[i + 1] as usize])
    }
}

/// An Arrow array of primitive values read by `parse` (None: NULL), straight into one buffer.
fn primitive<T: ArrowPrimitiveType, V: TextValues + ?Sized>(
    values: &V,
    t: &DataType,
    mut parse: impl FnMut(&[u8]) -> Result<Option<T::Native>, String>,
) -> Result<PrimitiveArray<T>, String> {
    let n = values.count();
    let mut out: Vec<T::Native> = Vec::with_capacity(n);
    let mut valid = BooleanBufferBuilder::new(n);
    for i in 0..n {
        let parsed = match values.value(i) {
            None => None,
            Some(v) => parse(v).map_err(|e| bad(i, v, t, &e))?,
        };
        valid.append(parsed.is_some());
        out.push(parsed.unwrap_or_default());
    }
    let valid = NullBuffer::new(valid.finish());
    let nulls = (valid.null_count() > 0).then_some(valid);
    Ok(PrimitiveArray::new(out.into(), nulls))
}

fn bad(i: usize, v: &[u8], t: &DataType, why: &dyn std::fmt::Display) -> String {
    format!("row {i}: cannot read {:?} as {t}: {why}", String::from_utf8_lossy(v))
}

fn utf8(v: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(v).map_err(|e| format!("not UTF-8: {e}"))
}

/// An integer of a type whose values `T::try_from` takes from an `i64`; errors as `str::parse`.
fn int<T: TryFrom<i64> + std::str::FromStr>(v: &[u8]) -> Result<Option<T>, String>
where
    T::Err: std::fmt::Display,
{
    match pgtext::int(v).and_then(|n| T::try_from(n).ok()) {
        Some(n) => Ok(Some(n)),
        None => utf8(v)?.parse::<T>().map(Some).map_err(|e| e.to_string()),
    }
}

fn float<T: std::str::FromStr>(v: &[u8]) -> Result<Option<T>, String>
where
    T::Err: std::fmt::Display,
{
    utf8(v)?.parse::<T>().map(Some).map_err(|e| e.to_string())
}

/// Offsets and concatenated bytes as an Arrow string or binary array (strings checked to be
/// UTF-8).
fn bytes_array<T: ByteArrayType<Offset = i32>>(
    offsets: Vec<i32>,
    data: Vec<u8>,
    valid: Vec<bool>,
) -> Result<ArrayRef, String> {
    let nulls = if valid.iter().all(|v| *v) { None } else { Some(NullBuffer::from(valid)) };
    let a = GenericByteArray::<T>::try_new(OffsetBuffer::new(offsets.into()), Buffer::from_vec(data), nulls)
        .map_err(|e| e.to_string())?;
    Ok(Arc::new(a))
}

/// [`text_to_array`] over any column of text values: the ints, numerics, dates, times and
/// timestamps read from their bytes by [`pgtext`], without allocating per value.
fn convert<V: TextValues + ?Sized>(values: &V, t: &DataType) -> Result<ArrayRef, String> {
    let n = values.count();
    Ok(match &t.kind {
        TypeKind::Boolean => {
            let mut b = BooleanBuilder::with_capacity(n);
            for i in 0..n {
                match values.value(i) {
                    None => b.append_null(),
                    Some(b"t" | b"true") => b.append_value(true),
                    Some(b"f" | b"false") => b.append_value(false),
                    Some(v) => return Err(bad(i, v, t, &"not t or f")),
                }
            }
            Arc::new(b.finish())
        }
        TypeKind::TinyInt => Arc::new(primitive::<Int8Type, _>(values, t, int)?),
        TypeKind::SmallInt => Arc::new(primitive::<Int16Type, _>(values, t, int)?),
        TypeKind::Int => Arc::new(primitive::<Int32Type, _>(values, t, int)?),
        TypeKind::BigInt => Arc::new(primitive::<Int64Type, _>(values, t, int)?),
        TypeKind::Float => Arc::new(primitive::<Float32Type, _>(values, t, float)?),
        TypeKind::Double => Arc::new(primitive::<Float64Type, _>(values, t, float)?),
        TypeKind::Decimal { precision, scale } => {
            let (p, s) = (*precision, *scale);
            let a = primitive::<Decimal128Type, _>(values, t, |v| {
                if v == b"NaN" {
                    return Ok(None);
                }
                match pgtext::decimal(v, p, s) {
                    Some(d) => Ok(Some(d)),
                    // Other spellings, rounding and the errors: Arrow's parser.
                    None => arrow_cast::parse::parse_decimal::<Decimal128Type>(utf8(v)?, p, s as i8)
                        .map(Some)
                        .map_err(|e| e.to_string()),
                }
            })?;
            Arc::new(a.with_precision_and_scale(p, s as i8).map_err(|e| e.to_string())?)
        }
        TypeKind::Char(_) | TypeKind::VarChar(_) | TypeKind::Binary(_) | TypeKind::VarBinary(_) => {
            let binary = matches!(t.kind, TypeKind::Binary(_) | TypeKind::VarBinary(_));
            let mut offsets = Vec::with_capacity(n + 1);
            offsets.push(0i32);
            let mut data = Vec::new();
            let mut valid = Vec::with_capacity(n);
            for i in 0..n {
                let v = values.value(i);
                if let Some(v) = v {
                    if binary {
                        decode_bytea(v, &mut data).map_err(|e| bad(i, v, t, &e))?;
                    } else {
                        data.extend_from_slice(v);
                    }
                }
                valid.push(v.is_some());
                offsets.push(i32::try_from(data.len()).map_err(|_| "more than 2 GiB of values in one batch")?);
            }
            if binary {
                bytes_array::<BinaryType>(offsets, data, valid)?
            } else {
                bytes_array::<Utf8Type>(offsets, data, valid)?
            }
        }
        TypeKind::Date => Arc::new(primitive::<Date32Type, _>(values, t, pgtext::date)?),
        TypeKind::Time(_) => Arc::new(primitive::<Time32MillisecondType, _>(values, t, |v| {
            pgtext::time(v).map(|nanos| Some((nanos / 1_000_000) as i32))
        })?),
        TypeKind::Timestamp(_) | TypeKind::LocalZonedTimestamp(_) => {
            let zoned = matches!(t.kind, TypeKind::LocalZonedTimestamp(_));
            let tz: Option<Arc<str>> = zoned.then(|| Arc::from("UTC"));
            let unit = match t.to_arrow() {
                ArrowType::Timestamp(u, _) => u,
                _ => TimeUnit::Microsecond,
            };
            let per_second = match unit {
                TimeUnit::Second => 1,
                TimeUnit::Millisecond => 1_000,
                TimeUnit::Microsecond => 1_000_000,
                TimeUnit::Nanosecond => 1_000_000_000,
            };
            let parse = |v: &[u8]| -> Result<Option<i64>, String> {
                match pgtext::timestamp(v, zoned)? {
                    None => Ok(None),
                    Some((secs, nanos)) => pgtext::in_units(secs, nanos, per_second)
                        .map(Some)
                        .ok_or_else(|| format!("out of the range of {t}")),
                }
            };
            match unit {
                TimeUnit::Second => {
                    Arc::new(primitive::<TimestampSecondType, _>(values, t, parse)?.with_timezone_opt(tz))
                }
                TimeUnit::Millisecond => {
                    Arc::new(primitive::<TimestampMillisecondType, _>(values, t, parse)?.with_timezone_opt(tz))
                }
                TimeUnit::Microsecond => {
                    Arc::new(primitive::<TimestampMicrosecondType, _>(values, t, parse)?.with_timezone_opt(tz))
                }
                TimeUnit::Nanosecond => {
                    Arc::new(primitive::<TimestampNanosecondType, _>(values, t, parse)?.with_timezone_opt(tz))
                }
            }
        }
        TypeKind::Array(elem) => {
            let mut items: Vec<Option<String>> = vec![];
            let mut offsets = vec![0i32];
            let mut nulls = vec![];
            for i in 0..n {
                match values.value(i) {
                    None => nulls.push(false),
                    Some(v) => {
                        items.extend(utf8(v).and_then(parse_array).map_err(|e| bad(i, v, t, &e))?);
                        nulls.push(true);
                    }
                }
                offsets.push(i32::try_from(items.len()).map_err(|e| e.to_string())?);
            }
            let refs: Vec<Option<&str>> = items.iter().map(|s| s.as_deref()).collect();
            let child = text_to_array(&refs, elem)?;
            let field = Arc::new(Field::new("element", elem.to_arrow(), elem.nullable));
            let list =
                ListArray::try_new(field, OffsetBuffer::new(offsets.into()), child, Some(NullBuffer::from(nulls)))
                    .map_err(|e| e.to_string())?;
            Arc::new(list)
        }
        _ => {
            if (0..n).all(|i| values.value(i).is_none()) {
                return Ok(new_null_array(&t.to_arrow(), n));
            }
            return Err(format!("no conversion from Postgres text to {t}"));
        }
    })
}

/// One column of rows read from `COPY ... TO STDOUT` (text format): the values unescaped and
/// concatenated, where each starts, and which are not NULL.
#[derive(Debug, Default)]
pub(crate) struct TextColumn {
    data: Vec<u8>,
    /// `offsets[i]..offsets[i + 1]` is value `i` (one more entry than values).
    offsets: Vec<i32>,
    valid: Vec<bool>,
}

impl TextColumn {
    fn new() -> TextColumn {
        TextColumn { data: vec![], offsets: vec![0], valid: vec![] }
    }

    fn with_capacity(rows: usize, bytes: usize) -> TextColumn {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        TextColumn { data: Vec::with_capacity(bytes), offsets, valid: Vec::with_capacity(rows) }
    }

    fn nulls(&self) -> Option<NullBuffer> {
        if self.valid.iter().all(|v| *v) {
            None
        } else {
            Some(NullBuffer::from(self.valid.clone()))
        }
    }
}

/// Rows of `COPY ... TO STDOUT` in text format, gathered column by column: fed the copy's data
/// as it arrives (rows may span chunks), taken as Arrow arrays every few thousand rows.
///
/// The text format: one row a line, columns separated by a tab, `\N` for NULL, and backslash
/// escapes (`\\`, `\t`, `\n`, `\r`, `\b`, `\f`, `\v`, octal `\ddd`, hex `\xhh`) for those
/// bytes inside values. The values are the types' text output, as in a query's text results, so
/// [`text_to_array`]'s conversion applies unchanged.
#[derive(Debug)]
pub(crate) struct CopyText {
    columns: Vec<TextColumn>,
    rows: usize,
    /// The start of a row whose end is in a later chunk.
    partial: Vec<u8>,
}

impl CopyText {
    pub(crate) fn new(columns: usize) -> CopyText {
        CopyText { columns: (0..columns).map(|_| TextColumn::new()).collect(), rows: 0, partial: vec![] }
    }

    /// Rows gathered since the last [`CopyText::take`].
    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    /// Bytes of values gathered since the last [`CopyText::take`].
    pub(crate) fn bytes(&self) -> usize {
        self.columns.iter().map(|c| c.data.len()).sum()
    }

    /// Reads the complete rows of `chunk` (after what an earlier chunk left incomplete).
    pub(crate) fn feed(&mut self, chunk: &[u8]) -> Result<(), String> {
        let mut rest = chunk;
        if !self.partial.is_empty() {
            let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
                self.partial.extend_from_slice(rest);
                return Ok(());
            };
            let mut line = std::mem::take(&mut self.partial);
            line.extend_from_slice(&rest[..=nl]);
            self.lines(&line)?;
            line.clear();
            self.partial = line;
            rest = &rest[nl + 1..];
        }
        let complete = rest.iter().rposition(|&b| b == b'\n').map_or(0, |nl| nl + 1);
        self.lines(&rest[..complete])?;
        self.partial.extend_from_slice(&rest[complete..]);
        Ok(())
    }

    /// The end of the copy: an incomplete last row is an error.
    pub(crate) fn finish(&self) -> Result<(), String> {
        if self.partial.is_empty() {
            Ok(())
        } else {
            Err(format!("the copy ended inside a row ({} bytes without a line end)", self.partial.len()))
        }
    }

    /// Reads complete rows (`text` is empty or ends with a line end) in one pass over the tabs,
    /// line ends and backslashes ([`pgtext::CopySpecials`]): a field between two of them is
    /// copied as it is, unless a backslash in it asks for [`unescape_into`].
    fn lines(&mut self, text: &[u8]) -> Result<(), String> {
        let n = self.columns.len();
        if n == 0 {
            self.rows += text.iter().filter(|&&b| b == b'\n').count();
            return Ok(());
        }
        let (mut ci, mut field_start, mut row_start, mut escaped) = (0, 0, 0, false);
        for at in pgtext::CopySpecials::new(text) {
            let b = text[at];
            if b == b'\\' {
                escaped = true;
                continue;
            }
            let last = ci + 1 == n;
            if last != (b == b'\n') {
                // (The copy stops here: the columns filled so far are dropped with it.)
                let line_end = text[at..].iter().position(|&b| b == b'\n').map_or(text.len(), |i| at + i);
                let columns = text[row_start..line_end].split(|&b| b == b'\t').count();
                return Err(format!("a copied row has {columns} columns, not {n}"));
            }
            let field = &text[field_start..at];
            let col = &mut self.columns[ci];
            if !escaped {
                col.data.extend_from_slice(field);
                col.valid.push(true);
            } else if field == b"\\N" {
                col.valid.push(false);
            } else {
                unescape_into(field, &mut col.data)?;
                col.valid.push(true);
            }
            let end_offset = i32::try_from(col.data.len()).map_err(|_| "more than 2 GiB of values in one batch")?;
            col.offsets.push(end_offset);
            field_start = at + 1;
            escaped = false;
            if last {
                ci = 0;
                row_start = at + 1;
                self.rows += 1;
            } else {
                ci += 1;
            }
        }
        debug_assert_eq!(field_start, text.len(), "rows end with a line end");
        Ok(())
    }

    /// The rows gathered so far, column by column (see [`TextColumn::into_array`]), and starts
    /// over.
    pub(crate) fn take(&mut self) -> Vec<TextColumn> {
        let rows = self.rows;
        self.rows = 0;
        // The next batch is sized like this one: no growing (copying) its buffers as it fills.
        let next = self.columns.iter().map(|c| TextColumn::with_capacity(rows, c.data.len())).collect();
        std::mem::replace(&mut self.columns, next)
    }
}

/// Appends a COPY text field to `out`, undoing its backslash escapes.
fn unescape_into(field: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    let mut rest = field;
    loop {
        let Some(bs) = rest.iter().position(|&b| b == b'\\') else {
            out.extend_from_slice(rest);
            return Ok(());
        };
        out.extend_from_slice(&rest[..bs]);
        let Some(&c) = rest.get(bs + 1) else { return Err("a value ends in a lone backslash".into()) };
        let mut used = 2;
        out.push(match c {
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'v' => 0x0b,
            b'0'..=b'7' => {
                let mut v: u32 = 0;
                let mut k = 0;
                while k < 3 && matches!(rest.get(bs + 1 + k), Some(b'0'..=b'7')) {
                    v = v * 8 + (rest[bs + 1 + k] - b'0') as u32;
                    k += 1;
                }
                used = 1 + k;
                v as u8
            }
            b'x' if rest.get(bs + 2).is_some_and(u8::is_ascii_hexdigit) => {
                let mut v: u32 = 0;
                let mut k = 0;
                while k < 2 && rest.get(bs + 2 + k).is_some_and(u8::is_ascii_hexdigit) {
                    v = v * 16 + (rest[bs + 2 + k] as char).to_digit(16).unwrap_or(0);
                    k += 1;
                }
                used = 2 + k;
                v as u8
            }
            other => other,
        });
        rest = &rest[bs + used..];
    }
}

impl TextColumn {
    /// The column as an Arrow array of `t`: strings without a copy of their bytes, the rest
    /// as [`text_to_array`] converts them (so the copy and the stream convert alike).
    pub(crate) fn into_array(self, t: &DataType) -> Result<ArrayRef, String> {
        match &t.kind {
            TypeKind::Char(_) | TypeKind::VarChar(_) => {
                let nulls = self.nulls();
                let offsets = OffsetBuffer::new(self.offsets.into());
                let a = arrow_array::StringArray::try_new(offsets, arrow_buffer::Buffer::from_vec(self.data), nulls)
                    .map_err(|e| e.to_string())?;
                Ok(Arc::new(a))
            }
            _ => convert(&self, t),
        }
    }
}

/// Appends the bytes of a `bytea` in hex format (`\x00ff`) to `out`.
fn decode_bytea(v: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    let hex = v.strip_prefix(b"\\x").ok_or("bytea is not in hex format (bytea_output=hex)")?;
    if hex.len() % 2 != 0 {
        return Err("odd number of hex digits".into());
    }
    let digit =
        |b: u8| (b as char).to_digit(16).map(|d| d as u8).ok_or_else(|| format!("{:?} is not a hex digit", b as char));
    out.reserve(hex.len() / 2);
    for pair in hex.chunks_exact(2) {
        out.push(digit(pair[0])? << 4 | digit(pair[1])?);
    }
    Ok(())
}

/// The elements of a one-dimensional Postgres array literal (`{1,2,NULL}`, `{"a b","c\"d"}`).
pub(crate) fn parse_array(v: &str) -> Result<Vec<Option<String>>, String> {
    // A literal with bounds ("[0:1]={1,2}") starts at its '='.
    let v = match v.strip_prefix('[') {
        Some(_) => v.split_once('=').map(|(_, r)| r).ok_or("array bounds without '='")?,
        None => v,
    };
    let inner = v.strip_prefix('{').and_then(|s| s.strip_suffix('}')).ok_or("not an array literal")?;
    let mut out = vec![];
    if inner.is_empty() {
        return Ok(out);
    }
    let mut chars = inner.chars().peekable();
    loop {
        let mut item = String::new();
        let quoted = chars.peek() == Some(&'"');
        if quoted {
            chars.next();
            loop {
                match chars.next() {
                    Some('\\') => item.push(chars.next().ok_or("dangling backslash")?),
                    Some('"') => break,
                    Some(c) => item.push(c),
                    None => return Err("unterminated quoted element".into()),
                }
            }
            out.push(Some(item));
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                if c == '{' {
                    return Err("multi-dimensional arrays are not supported".into());
                }
                item.push(c);
                chars.next();
            }
            out.push(if item == "NULL" { None } else { Some(item) });
        }
        match chars.next() {
            Some(',') => continue,
            None => break,
            Some(c) => return Err(format!("unexpected {c:?} after an element")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::Array;

    #[test]
    fn type_mapping() {
        assert_eq!(paimon_type(NUMERIC, (10 << 16 | 2) + 4).to_string(), "DECIMAL(10, 2)");
        assert_eq!(paimon_type(NUMERIC, -1).to_string(), "STRING");
        assert_eq!(paimon_type(NUMERIC, (50 << 16) + 4).to_string(), "STRING");
        assert_eq!(paimon_type(VARCHAR, 20 + 4).to_string(), "VARCHAR(20)");
        assert_eq!(paimon_type(VARCHAR, -1).to_string(), "STRING");
        assert_eq!(paimon_type(TIMESTAMPTZ, -1).to_string(), "TIMESTAMP(6) WITH LOCAL TIME ZONE");
        assert_eq!(paimon_type(TIMESTAMP, 3).to_string(), "TIMESTAMP(3)");
        assert_eq!(paimon_type(1007, -1).to_json().to_string(), r#"{"type":"ARRAY","element":"INT"}"#);
        assert_eq!(paimon_type(2950, -1).to_string(), "STRING");
        assert!(is_widening(&paimon_type(INT4, -1), &paimon_type(INT8, -1)));
        assert!(!is_widening(&paimon_type(INT8, -1), &paimon_type(INT4, -1)));
    }

    #[test]
    fn values() {
        let a = text_to_array(&[Some("12.50"), Some("NaN"), None], &paimon_type(NUMERIC, (10 << 16 | 2) + 4)).unwrap();
        let a = a.as_primitive::<Decimal128Type>();
        assert_eq!((a.value(0), a.is_null(1), a.is_null(2)), (1250, true, true));
        let a = text_to_array(&[Some("\\x00ff")], &paimon_type(BYTEA, -1)).unwrap();
        assert_eq!(a.as_binary::<i32>().value(0), &[0u8, 255]);
        let a = text_to_array(
            &[Some("2024-01-02 03:04:05.123456+00"), Some("2024-01-02 05:04:05.123456+02")],
            &paimon_type(TIMESTAMPTZ, -1),
        )
        .unwrap();
        let a = a.as_primitive::<TimestampMicrosecondType>();
        assert_eq!(a.value(0), 1704164645123456);
        assert_eq!(a.value(1), a.value(0));
        let a = text_to_array(&[Some("1970-01-02"), Some("infinity")], &paimon_type(DATE, -1)).unwrap();
        assert_eq!((a.as_primitive::<Date32Type>().value(0), a.is_null(1)), (1, true));
        let a = text_to_array(&[Some("NaN"), Some("-Infinity")], &paimon_type(FLOAT8, -1)).unwrap();
        assert!(a.as_primitive::<Float64Type>().value(0).is_nan());
        let a = text_to_array(&[Some("{1,NULL,3}"), None, Some("{}")], &paimon_type(1007, -1)).unwrap();
        let l = a.as_list::<i32>();
        assert_eq!((l.value_length(0), l.is_null(1), l.value_length(2)), (3, true, 0));
        assert!(text_to_array(&[Some("x")], &paimon_type(INT4, -1)).unwrap_err().contains("\"x\""));
        assert_eq!(
            parse_array(r#"{"a b","c\"d",NULL,"NULL"}"#).unwrap(),
            vec![Some("a b".into()), Some("c\"d".into()), None, Some("NULL".into())]
        );
        // Before the common era and outside 1677-2262 (nanoseconds' range): kept.
        let a = text_to_array(
            &[Some("0044-03-15 12:00:00+00 BC"), Some("9999-12-31 23:59:59.999999+00"), Some("-infinity")],
            &paimon_type(TIMESTAMPTZ, -1),
        )
        .unwrap();
        let a = a.as_primitive::<TimestampMicrosecondType>();
        assert_eq!((a.value(0), a.value(1), a.is_null(2)), (-63_517_780_800_000_000, 253_402_300_799_999_999, true));
        assert!(text_to_array(&[Some("\\x0g")], &paimon_type(BYTEA, -1)).unwrap_err().contains("hex digit"));
        let a = text_to_array(&[Some("12:34:56.789")], &paimon_type(TIME, -1)).unwrap();
        assert_eq!(a.as_primitive::<Time32MillisecondType>().value(0), 45_296_789);
    }

    #[test]
    fn copy_text_rows_across_chunks_escapes_and_nulls() {
        let data = b"1\ta\\tb\\nc\\\\d\n2\t\\N\n3\t\\101\\x42\\z\n";
        let mut c = CopyText::new(2);
        // Rows cut at every place: the same result.
        for cut in [1, 3, 7, data.len()] {
            let mut c2 = CopyText::new(2);
            for part in data.chunks(cut) {
                c2.feed(part).unwrap();
            }
            c2.finish().unwrap();
            assert_eq!(c2.rows(), 3);
        }
        c.feed(data).unwrap();
        let cols = c.take();
        assert_eq!(c.rows(), 0);
        let mut cols = cols.into_iter();
        let ids = cols.next().unwrap().into_array(&paimon_type(INT8, -1)).unwrap();
        assert_eq!(ids.as_primitive::<Int64Type>().values().to_vec(), vec![1, 2, 3]);
        let texts = cols.next().unwrap().into_array(&paimon_type(TEXT, -1)).unwrap();
        let texts = texts.as_string::<i32>();
        assert_eq!(texts.value(0), "a\tb\nc\\d");
        assert!(texts.is_null(1));
        assert_eq!(texts.value(2), "ABz");
        let mut bad = CopyText::new(2);
        assert!(bad.feed(b"1\t2\t3\n").unwrap_err().contains("3 columns"));
        let mut cut = CopyText::new(1);
        cut.feed(b"1\n2").unwrap();
        assert!(cut.finish().is_err());
    }

    /// The values of copied rows, row by row, read from `data` fed in `parts`.
    fn copied(columns: usize, parts: &[&[u8]]) -> Result<Vec<Vec<Option<Vec<u8>>>>, String> {
        let mut c = CopyText::new(columns);
        for p in parts {
            c.feed(p)?;
        }
        c.finish()?;
        let rows = c.rows();
        let cols = c.take();
        Ok((0..rows).map(|r| cols.iter().map(|col| col.value(r).map(<[u8]>::to_vec)).collect()).collect())
    }

    /// A value as `COPY ... TO` writes it.
    fn escaped(v: &Option<Vec<u8>>) -> Vec<u8> {
        let Some(v) = v else { return b"\\N".to_vec() };
        let mut out = vec![];
        for &b in v {
            match b {
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\t' => out.extend_from_slice(b"\\t"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b => out.push(b),
            }
        }
        out
    }

    fn copy_text_of(rows: &[Vec<Option<Vec<u8>>>]) -> Vec<u8> {
        let mut out = vec![];
        for row in rows {
            let fields: Vec<Vec<u8>> = row.iter().map(escaped).collect();
            out.extend_from_slice(&fields.join(&b'\t'));
            out.push(b'\n');
        }
        out
    }

    #[test]
    fn copy_text_fields_empty_null_and_escapes() {
        let v = |s: &str| Some(s.as_bytes().to_vec());
        let long = format!("{}\t{}\\{}", "x".repeat(61), "y".repeat(70), "z".repeat(3));
        let rows = vec![
            vec![v(""), None, v("")],
            // The text \N (written \\N) is not NULL.
            vec![v("\\N"), v("N"), v("\\")],
            vec![v("a\tb"), v("c\nd\re"), v("tab\t")],
            vec![v(&long), None, v("\t\n\\")],
            vec![None, None, None],
        ];
        let data = copy_text_of(&rows);
        assert_eq!(copied(3, &[&data]).unwrap(), rows);
        // Cut anywhere (inside an escape, a field, before a line end), and a byte at a time.
        for cut in 0..=data.len() {
            assert_eq!(copied(3, &[&data[..cut], &data[cut..]]).unwrap(), rows, "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = data.chunks(1).collect();
        assert_eq!(copied(3, &bytes).unwrap(), rows);
        // What Postgres never writes: a lone backslash, and rows of other widths.
        assert!(copied(1, &[b"a\\\n"]).unwrap_err().contains("lone backslash"));
        assert!(copied(3, &[b"1\t2\n"]).unwrap_err().contains("has 2 columns, not 3"));
        assert!(copied(2, &[b"1\t2\n1\t2\t\\N\n"]).unwrap_err().contains("has 3 columns, not 2"));
        assert_eq!(copied(1, &[b"\n\\N\n"]).unwrap(), vec![vec![v("")], vec![None]]);
    }

    proptest::proptest! {
        #[test]
        fn copy_text_reads_back_what_copy_writes(
            rows in proptest::collection::vec(
                proptest::collection::vec(
                    proptest::option::of(proptest::collection::vec(
                        proptest::prop_oneof![
                            proptest::strategy::Just(b'\t'),
                            proptest::strategy::Just(b'\n'),
                            proptest::strategy::Just(b'\\'),
                            proptest::strategy::Just(b'N'),
                            proptest::prelude::any::<u8>(),
                        ],
                        0..90,
                    )),
                    3,
                ),
                0..20,
            ),
            cuts in proptest::collection::vec(0usize..2000, 0..6),
        ) {
            let data = copy_text_of(&rows);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(data.len())).collect();
            cuts.sort();
            let mut parts = vec![];
            let mut at = 0;
            for c in cuts.into_iter().chain([data.len()]) {
                parts.push(&data[at..c]);
                at = c;
            }
            proptest::prop_assert_eq!(copied(3, &parts).unwrap(), rows);
        }
    }
}
