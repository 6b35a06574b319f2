//! Paimon's data types: the SQL/JSON spelling used in `schema/schema-N`, and the mapping to Arrow.
//!
//! Paimon writes a type as a string (`"BIGINT NOT NULL"`, `"DECIMAL(20, 2)"`,
//! `"TIMESTAMP(3) WITH LOCAL TIME ZONE"`) or, for nested types, as a JSON object
//! (`{"type":"ARRAY","element":"INT"}`). See `format-spec/schema.md`.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use arrow_schema::{DataType as ArrowType, Field, Fields, TimeUnit};
use serde_json::{json, Value};

use super::SpecError;

/// Longest VARCHAR/VARBINARY: `STRING` and `BYTES` are these with the maximum length.
pub(crate) const MAX_VAR_LENGTH: u32 = i32::MAX as u32;

/// Arrow field metadata key carrying the Paimon/Parquet field id.
pub(crate) const PARQUET_FIELD_ID_META: &str = "PARQUET:field_id";

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DataType {
    pub nullable: bool,
    pub kind: TypeKind,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TypeKind {
    Boolean,
    TinyInt,
    SmallInt,
    Int,
    BigInt,
    Float,
    Double,
    Decimal { precision: u8, scale: u8 },
    Char(u32),
    VarChar(u32),
    Binary(u32),
    VarBinary(u32),
    Date,
    Time(u8),
    Timestamp(u8),
    LocalZonedTimestamp(u8),
    Array(Box<DataType>),
    Multiset(Box<DataType>),
    Map(Box<DataType>, Box<DataType>),
    Row(Vec<DataField>),
}

/// A named column with Paimon's stable field id.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DataField {
    pub id: i32,
    pub name: String,
    pub data_type: DataType,
    pub description: Option<String>,
}

impl DataField {
    pub fn new(id: i32, name: impl Into<String>, data_type: DataType) -> Self {
        DataField { id, name: name.into(), data_type, description: None }
    }
}

impl DataType {
    pub fn new(kind: TypeKind) -> Self {
        DataType { nullable: true, kind }
    }
    pub fn not_null(kind: TypeKind) -> Self {
        DataType { nullable: false, kind }
    }
    pub fn with_nullable(&self, nullable: bool) -> Self {
        DataType { nullable, kind: self.kind.clone() }
    }
    pub fn string() -> Self {
        DataType::new(TypeKind::VarChar(MAX_VAR_LENGTH))
    }

    /// Whether a value of this type sits entirely in BinaryRow's fixed 8-byte slot.
    pub fn is_fixed_length_in_binary_row(&self) -> bool {
        match &self.kind {
            TypeKind::Decimal { precision, .. } => *precision <= 18,
            TypeKind::Timestamp(p) | TypeKind::LocalZonedTimestamp(p) => *p <= 3,
            TypeKind::Char(_)
            | TypeKind::VarChar(_)
            | TypeKind::Binary(_)
            | TypeKind::VarBinary(_)
            | TypeKind::Array(_)
            | TypeKind::Multiset(_)
            | TypeKind::Map(..)
            | TypeKind::Row(_) => false,
            _ => true,
        }
    }

    /// Types that have min/max statistics in Paimon's SimpleStats.
    pub fn has_min_max_stats(&self) -> bool {
        !matches!(
            self.kind,
            TypeKind::Binary(_)
                | TypeKind::VarBinary(_)
                | TypeKind::Array(_)
                | TypeKind::Multiset(_)
                | TypeKind::Map(..)
                | TypeKind::Row(_)
        )
    }

    /// The SQL spelling Paimon writes into schema files for non-nested types.
    fn atomic_sql(&self) -> Option<String> {
        let s = match &self.kind {
            TypeKind::Boolean => "BOOLEAN".to_string(),
            TypeKind::TinyInt => "TINYINT".to_string(),
            TypeKind::SmallInt => "SMALLINT".to_string(),
            TypeKind::Int => "INT".to_string(),
            TypeKind::BigInt => "BIGINT".to_string(),
            TypeKind::Float => "FLOAT".to_string(),
            TypeKind::Double => "DOUBLE".to_string(),
            TypeKind::Decimal { precision, scale } => format!("DECIMAL({precision}, {scale})"),
            TypeKind::Char(n) => format!("CHAR({n})"),
            TypeKind::VarChar(n) if *n == MAX_VAR_LENGTH => "STRING".to_string(),
            TypeKind::VarChar(n) => format!("VARCHAR({n})"),
            TypeKind::Binary(n) => format!("BINARY({n})"),
            TypeKind::VarBinary(n) if *n == MAX_VAR_LENGTH => "BYTES".to_string(),
            TypeKind::VarBinary(n) => format!("VARBINARY({n})"),
            TypeKind::Date => "DATE".to_string(),
            TypeKind::Time(p) => format!("TIME({p})"),
            TypeKind::Timestamp(p) => format!("TIMESTAMP({p})"),
            TypeKind::LocalZonedTimestamp(p) => format!("TIMESTAMP({p}) WITH LOCAL TIME ZONE"),
            _ => return None,
        };
        Some(if self.nullable { s } else { format!("{s} NOT NULL") })
    }

    /// Paimon's JSON form (a string for atomic types, an object for nested ones).
    pub fn to_json(&self) -> Value {
        if let Some(s) = self.atomic_sql() {
            return Value::String(s);
        }
        let nn = |s: &str| if self.nullable { s.to_string() } else { format!("{s} NOT NULL") };
        match &self.kind {
            TypeKind::Array(e) => json!({"type": nn("ARRAY"), "element": e.to_json()}),
            TypeKind::Multiset(e) => json!({"type": nn("MULTISET"), "element": e.to_json()}),
            TypeKind::Map(k, v) => json!({"type": nn("MAP"), "key": k.to_json(), "value": v.to_json()}),
            TypeKind::Row(fields) => {
                json!({"type": nn("ROW"), "fields": fields.iter().map(|f| f.to_json()).collect::<Vec<_>>()})
            }
            _ => unreachable!("atomic types are handled above"),
        }
    }

    pub fn from_json(v: &Value) -> Result<DataType, SpecError> {
        match v {
            Value::String(s) => parse_type(s),
            Value::Object(o) => {
                let t = o
                    .get("type")
                    .and_then(Value::as_str)
                    .ok_or_else(|| SpecError::schema(format!("nested type without \"type\": {v}")))?;
                let (base, nullable) = strip_not_null(t);
                let field = |name: &str| {
                    o.get(name).ok_or_else(|| SpecError::schema(format!("{base} type without \"{name}\": {v}")))
                };
                let kind = match base.to_ascii_uppercase().as_str() {
                    "ARRAY" => TypeKind::Array(Box::new(DataType::from_json(field("element")?)?)),
                    "MULTISET" => TypeKind::Multiset(Box::new(DataType::from_json(field("element")?)?)),
                    "MAP" => TypeKind::Map(
                        Box::new(DataType::from_json(field("key")?)?),
                        Box::new(DataType::from_json(field("value")?)?),
                    ),
                    "ROW" => {
                        let fields = field("fields")?
                            .as_array()
                            .ok_or_else(|| SpecError::schema(format!("ROW fields is not a list: {v}")))?;
                        TypeKind::Row(fields.iter().map(DataField::from_json).collect::<Result<_, _>>()?)
                    }
                    other => return Err(SpecError::schema(format!("unknown nested type {other:?}"))),
                };
                Ok(DataType { nullable, kind })
            }
            other => Err(SpecError::schema(format!("a type must be a string or an object, got {other}"))),
        }
    }

    /// The Arrow type shoal reads and writes this Paimon type as.
    pub fn to_arrow(&self) -> ArrowType {
        match &self.kind {
            TypeKind::Boolean => ArrowType::Boolean,
            TypeKind::TinyInt => ArrowType::Int8,
            TypeKind::SmallInt => ArrowType::Int16,
            TypeKind::Int => ArrowType::Int32,
            TypeKind::BigInt => ArrowType::Int64,
            TypeKind::Float => ArrowType::Float32,
            TypeKind::Double => ArrowType::Float64,
            TypeKind::Decimal { precision, scale } => ArrowType::Decimal128(*precision, *scale as i8),
            TypeKind::Char(_) | TypeKind::VarChar(_) => ArrowType::Utf8,
            TypeKind::Binary(_) | TypeKind::VarBinary(_) => ArrowType::Binary,
            TypeKind::Date => ArrowType::Date32,
            TypeKind::Time(_) => ArrowType::Time32(TimeUnit::Millisecond),
            TypeKind::Timestamp(p) => ArrowType::Timestamp(time_unit(*p), None),
            TypeKind::LocalZonedTimestamp(p) => ArrowType::Timestamp(time_unit(*p), Some("UTC".into())),
            TypeKind::Array(e) | TypeKind::Multiset(e) => {
                ArrowType::List(Arc::new(Field::new("element", e.to_arrow(), e.nullable)))
            }
            TypeKind::Map(k, v) => {
                let entries = Field::new(
                    "key_value",
                    ArrowType::Struct(Fields::from(vec![
                        Field::new("key", k.to_arrow(), false),
                        Field::new("value", v.to_arrow(), v.nullable),
                    ])),
                    false,
                );
                ArrowType::Map(Arc::new(entries), false)
            }
            TypeKind::Row(fields) => {
                ArrowType::Struct(Fields::from(fields.iter().map(|f| f.to_arrow()).collect::<Vec<_>>()))
            }
        }
    }

    /// Maps an Arrow type to the Paimon type shoal stores it as.
    pub fn from_arrow(t: &ArrowType, nullable: bool) -> Result<DataType, SpecError> {
        let kind = match t {
            ArrowType::Boolean => TypeKind::Boolean,
            ArrowType::Int8 => TypeKind::TinyInt,
            ArrowType::Int16 => TypeKind::SmallInt,
            ArrowType::Int32 => TypeKind::Int,
            ArrowType::Int64 => TypeKind::BigInt,
            ArrowType::Float32 => TypeKind::Float,
            ArrowType::Float64 => TypeKind::Double,
            ArrowType::Decimal128(p, s) if *s >= 0 && *p <= 38 => TypeKind::Decimal { precision: *p, scale: *s as u8 },
            ArrowType::Utf8 | ArrowType::LargeUtf8 | ArrowType::Utf8View => TypeKind::VarChar(MAX_VAR_LENGTH),
            ArrowType::Binary | ArrowType::LargeBinary | ArrowType::BinaryView => TypeKind::VarBinary(MAX_VAR_LENGTH),
            ArrowType::FixedSizeBinary(n) => TypeKind::Binary(*n as u32),
            ArrowType::Date32 => TypeKind::Date,
            ArrowType::Time32(TimeUnit::Millisecond) => TypeKind::Time(3),
            ArrowType::Timestamp(unit, tz) => {
                let p = match unit {
                    TimeUnit::Second => 0,
                    TimeUnit::Millisecond => 3,
                    TimeUnit::Microsecond => 6,
                    TimeUnit::Nanosecond => 9,
                };
                if tz.is_some() {
                    TypeKind::LocalZonedTimestamp(p)
                } else {
                    TypeKind::Timestamp(p)
                }
            }
            ArrowType::List(f) | ArrowType::LargeList(f) => {
                TypeKind::Array(Box::new(DataType::from_arrow(f.data_type(), f.is_nullable())?))
            }
            ArrowType::Map(entries, _) => match entries.data_type() {
                ArrowType::Struct(kv) if kv.len() == 2 => TypeKind::Map(
                    Box::new(DataType::from_arrow(kv[0].data_type(), false)?),
                    Box::new(DataType::from_arrow(kv[1].data_type(), kv[1].is_nullable())?),
                ),
                other => return Err(SpecError::UnsupportedType(format!("Arrow map entries {other}"))),
            },
            ArrowType::Struct(fields) => TypeKind::Row(
                fields
                    .iter()
                    .enumerate()
                    .map(|(i, f)| {
                        Ok(DataField::new(i as i32, f.name(), DataType::from_arrow(f.data_type(), f.is_nullable())?))
                    })
                    .collect::<Result<_, SpecError>>()?,
            ),
            other => return Err(SpecError::UnsupportedType(format!("Arrow type {other} has no Paimon type"))),
        };
        Ok(DataType { nullable, kind })
    }
}

fn time_unit(precision: u8) -> TimeUnit {
    match precision {
        0..=3 => TimeUnit::Millisecond,
        4..=6 => TimeUnit::Microsecond,
        _ => TimeUnit::Nanosecond,
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.atomic_sql() {
            Some(s) => f.write_str(&s),
            None => {
                let nn = if self.nullable { "" } else { " NOT NULL" };
                match &self.kind {
                    TypeKind::Array(e) => write!(f, "ARRAY<{e}>{nn}"),
                    TypeKind::Multiset(e) => write!(f, "MULTISET<{e}>{nn}"),
                    TypeKind::Map(k, v) => write!(f, "MAP<{k}, {v}>{nn}"),
                    TypeKind::Row(fields) => {
                        write!(f, "ROW<")?;
                        for (i, fl) in fields.iter().enumerate() {
                            if i > 0 {
                                write!(f, ", ")?;
                            }
                            write!(f, "{} {}", fl.name, fl.data_type)?;
                        }
                        write!(f, ">{nn}")
                    }
                    _ => unreachable!(),
                }
            }
        }
    }
}

impl DataField {
    pub fn to_json(&self) -> Value {
        let mut m = serde_json::Map::new();
        m.insert("id".into(), json!(self.id));
        m.insert("name".into(), json!(self.name));
        m.insert("type".into(), self.data_type.to_json());
        if let Some(d) = &self.description {
            m.insert("description".into(), json!(d));
        }
        Value::Object(m)
    }

    pub fn from_json(v: &Value) -> Result<DataField, SpecError> {
        let id = v
            .get("id")
            .and_then(Value::as_i64)
            .ok_or_else(|| SpecError::schema(format!("field without an integer id: {v}")))?;
        let name = v
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| SpecError::schema(format!("field without a name: {v}")))?;
        let t = v.get("type").ok_or_else(|| SpecError::schema(format!("field {name} without a type")))?;
        Ok(DataField {
            id: i32::try_from(id).map_err(|_| SpecError::schema(format!("field id {id} out of range")))?,
            name: name.to_string(),
            data_type: DataType::from_json(t)?,
            description: v.get("description").and_then(Value::as_str).map(str::to_string),
        })
    }

    /// The Arrow field, carrying the field id as Parquet field-id metadata.
    pub fn to_arrow(&self) -> Field {
        self.to_arrow_with_id(self.id)
    }

    pub fn to_arrow_with_id(&self, id: i32) -> Field {
        Field::new(&self.name, self.data_type.to_arrow(), self.data_type.nullable)
            .with_metadata(HashMap::from([(PARQUET_FIELD_ID_META.to_string(), id.to_string())]))
    }
}

fn strip_not_null(s: &str) -> (&str, bool) {
    let t = s.trim();
    let upper = t.to_ascii_uppercase();
    if upper.ends_with(" NOT NULL") {
        (t[..t.len() - " NOT NULL".len()].trim_end(), false)
    } else if upper.ends_with(" NULL") {
        (t[..t.len() - " NULL".len()].trim_end(), true)
    } else {
        (t, true)
    }
}

/// Parses a type in Paimon's SQL spelling, as written in schema files and accepted by the CLI:
/// `BIGINT NOT NULL`, `DECIMAL(20, 2)`, `STRING`, `TIMESTAMP(3) WITH LOCAL TIME ZONE`,
/// `TIMESTAMP_LTZ(3)`, `ARRAY<INT>`, `MAP<STRING, INT>`, `ROW<a INT, b STRING>`.
pub fn parse_type(s: &str) -> Result<DataType, SpecError> {
    let mut p = TypeParser { s: s.as_bytes(), pos: 0, src: s, next_id: 0 };
    let t = p.parse()?;
    p.skip_ws();
    if p.pos != p.s.len() {
        return Err(p.err("unexpected text after the type"));
    }
    Ok(t)
}

struct TypeParser<'a> {
    s: &'a [u8],
    pos: usize,
    src: &'a str,
    next_id: i32,
}

impl TypeParser<'_> {
    fn err(&self, msg: &str) -> SpecError {
        SpecError::InvalidType { input: self.src.to_string(), position: self.pos, message: msg.to_string() }
    }
    fn skip_ws(&mut self) {
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }
    fn word(&mut self) -> String {
        self.skip_ws();
        let start = self.pos;
        while self.pos < self.s.len() && (self.s[self.pos].is_ascii_alphanumeric() || self.s[self.pos] == b'_') {
            self.pos += 1;
        }
        String::from_utf8_lossy(&self.s[start..self.pos]).to_string()
    }
    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.s.get(self.pos).copied()
    }
    fn expect(&mut self, c: u8) -> Result<(), SpecError> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err(&format!("expected '{}'", c as char)))
        }
    }
    fn number(&mut self) -> Result<u64, SpecError> {
        self.skip_ws();
        let start = self.pos;
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_digit() {
            self.pos += 1;
        }
        std::str::from_utf8(&self.s[start..self.pos])
            .ok()
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| self.err("expected a number"))
    }
    /// Optional `(n)` or `(p, s)` parameters.
    fn params(&mut self) -> Result<Vec<u64>, SpecError> {
        let mut out = vec![];
        if self.peek() == Some(b'(') {
            self.pos += 1;
            out.push(self.number()?);
            while self.peek() == Some(b',') {
                self.pos += 1;
                out.push(self.number()?);
            }
            self.expect(b')')?;
        }
        Ok(out)
    }
    fn keyword_follows(&mut self, words: &[&str]) -> bool {
        let save = self.pos;
        for w in words {
            if !self.word().eq_ignore_ascii_case(w) {
                self.pos = save;
                return false;
            }
        }
        true
    }
    fn parse(&mut self) -> Result<DataType, SpecError> {
        let name = self.word().to_ascii_uppercase();
        if name.is_empty() {
            return Err(self.err("expected a type name"));
        }
        let precision = |ps: &[u64], default: u64, max: u64, this: &Self| -> Result<u8, SpecError> {
            let p = ps.first().copied().unwrap_or(default);
            if p > max {
                return Err(this.err(&format!("precision {p} is above the maximum {max}")));
            }
            Ok(p as u8)
        };
        let length = |ps: &[u64], default: u64, this: &Self| -> Result<u32, SpecError> {
            let n = ps.first().copied().unwrap_or(default);
            if n == 0 || n > MAX_VAR_LENGTH as u64 {
                return Err(this.err(&format!("length {n} is out of range")));
            }
            Ok(n as u32)
        };
        let kind = match name.as_str() {
            "BOOLEAN" | "BOOL" => TypeKind::Boolean,
            "TINYINT" => TypeKind::TinyInt,
            "SMALLINT" => TypeKind::SmallInt,
            "INT" | "INTEGER" => TypeKind::Int,
            "BIGINT" => TypeKind::BigInt,
            "FLOAT" | "REAL" => TypeKind::Float,
            "DOUBLE" => {
                self.keyword_follows(&["PRECISION"]);
                TypeKind::Double
            }
            "DECIMAL" | "DEC" | "NUMERIC" => {
                let ps = self.params()?;
                let p = precision(&ps, 10, 38, self)?;
                let s = ps.get(1).copied().unwrap_or(0);
                if p == 0 || s > p as u64 {
                    return Err(
                        self.err(&format!("DECIMAL({p}, {s}) needs 1 <= precision <= 38 and scale <= precision"))
                    );
                }
                TypeKind::Decimal { precision: p, scale: s as u8 }
            }
            "CHAR" => TypeKind::Char(length(&self.params()?, 1, self)?),
            "VARCHAR" => TypeKind::VarChar(length(&self.params()?, 1, self)?),
            "STRING" | "TEXT" => TypeKind::VarChar(MAX_VAR_LENGTH),
            "BINARY" => TypeKind::Binary(length(&self.params()?, 1, self)?),
            "VARBINARY" => TypeKind::VarBinary(length(&self.params()?, 1, self)?),
            "BYTES" | "BLOB" => TypeKind::VarBinary(MAX_VAR_LENGTH),
            "DATE" => TypeKind::Date,
            "TIME" => {
                let p = precision(&self.params()?, 0, 9, self)?;
                self.keyword_follows(&["WITHOUT", "TIME", "ZONE"]);
                TypeKind::Time(p)
            }
            "TIMESTAMP" => {
                let p = precision(&self.params()?, 6, 9, self)?;
                if self.keyword_follows(&["WITH", "LOCAL", "TIME", "ZONE"]) {
                    TypeKind::LocalZonedTimestamp(p)
                } else {
                    self.keyword_follows(&["WITHOUT", "TIME", "ZONE"]);
                    TypeKind::Timestamp(p)
                }
            }
            "TIMESTAMP_LTZ" => TypeKind::LocalZonedTimestamp(precision(&self.params()?, 6, 9, self)?),
            "ARRAY" | "MULTISET" => {
                self.expect(b'<')?;
                let e = self.parse()?;
                self.expect(b'>')?;
                if name == "ARRAY" {
                    TypeKind::Array(Box::new(e))
                } else {
                    TypeKind::Multiset(Box::new(e))
                }
            }
            "MAP" => {
                self.expect(b'<')?;
                let k = self.parse()?;
                self.expect(b',')?;
                let v = self.parse()?;
                self.expect(b'>')?;
                TypeKind::Map(Box::new(k), Box::new(v))
            }
            "ROW" => {
                self.expect(b'<')?;
                let mut fields = vec![];
                loop {
                    let fname = self.word();
                    if fname.is_empty() {
                        return Err(self.err("expected a field name"));
                    }
                    let ft = self.parse()?;
                    fields.push(DataField::new(self.next_id, fname, ft));
                    self.next_id += 1;
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        _ => break,
                    }
                }
                self.expect(b'>')?;
                TypeKind::Row(fields)
            }
            other => return Err(self.err(&format!("unknown type {other}"))),
        };
        let nullable = if self.keyword_follows(&["NOT", "NULL"]) {
            false
        } else {
            self.keyword_follows(&["NULL"]);
            true
        };
        Ok(DataType { nullable, kind })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_spelling_round_trips() {
        for s in [
            "BOOLEAN",
            "TINYINT",
            "SMALLINT",
            "INT NOT NULL",
            "BIGINT NOT NULL",
            "FLOAT",
            "DOUBLE",
            "DECIMAL(20, 2)",
            "CHAR(5)",
            "VARCHAR(20)",
            "STRING",
            "BINARY(4)",
            "VARBINARY(9)",
            "BYTES",
            "DATE",
            "TIME(0)",
            "TIMESTAMP(3)",
            "TIMESTAMP(6) WITH LOCAL TIME ZONE",
        ] {
            let t = parse_type(s).unwrap();
            assert_eq!(t.to_json(), Value::String(s.to_string()), "{s}");
        }
    }

    #[test]
    fn nested_json_round_trips() {
        let v = json!({"type":"MAP NOT NULL","key":"STRING NOT NULL","value":{"type":"ARRAY","element":"INT"}});
        let t = DataType::from_json(&v).unwrap();
        assert!(!t.nullable);
        assert_eq!(t.to_json(), v);
        let r = parse_type("ROW<a INT, b ARRAY<STRING>>").unwrap();
        assert_eq!(r.to_string(), "ROW<a INT, b ARRAY<STRING>>");
    }

    #[test]
    fn bad_types_name_the_problem() {
        let e = parse_type("DECIMAL(50, 2)").unwrap_err().to_string();
        assert!(e.contains("precision 50"), "{e}");
        let e = parse_type("BIGNUM").unwrap_err().to_string();
        assert!(e.contains("unknown type BIGNUM"), "{e}");
        assert!(parse_type("INT garbage").is_err());
    }

    #[test]
    fn arrow_mapping_round_trips() {
        for s in
            ["BIGINT", "DECIMAL(20, 2)", "TIMESTAMP(3)", "TIMESTAMP(6) WITH LOCAL TIME ZONE", "DATE", "STRING", "BYTES"]
        {
            let t = parse_type(s).unwrap();
            let back = DataType::from_arrow(&t.to_arrow(), true).unwrap();
            assert_eq!(back, t, "{s}");
        }
    }
}
