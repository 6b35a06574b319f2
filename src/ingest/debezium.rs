//! Debezium JSON change events into tables.
//!
//! An event is one JSON object per line, with the schema envelope (`{"schema": ..., "payload":
//! {...}}`) or without (the payload itself): `op` is `c` (insert), `r` (snapshot read), `u`
//! (update) or `d` (delete); `before` and `after` hold the row. `c`/`r` become +I of `after`;
//! `u` becomes -U `before` (when present) and +U `after`, or -D `before` and +I `after` when the
//! key changed; `d` becomes -D `before`. Empty lines and tombstones (`null`) are skipped.
//! Values are read as the table's types with Arrow's JSON reader (numbers for numeric, date
//! (days) and timestamp (epoch units of the column) columns, strings for the others);
//! `org.apache.kafka.connect.data.Decimal` values (base64 unscaled bytes) are decoded when the
//! envelope's schema says so.
//!
//! Events route to a table by `--table`, or by `source.table` (in `--database`). A table that
//! does not exist is created from the envelope's schema or, without one, from the first event's
//! JSON values, with the `--primary-key` columns as its key.

use std::collections::BTreeMap;
use std::io::BufRead;

use arrow_schema::SchemaRef;
use async_trait::async_trait;
use serde_json::{Map, Value};

use super::cdc::{ChangeSource, SourceBatch, TableChanges};
use crate::error::{Error, Result};
use crate::spec::{DataType, RowKind, TypeKind};

/// Where events come from: a file's lines, or standard input's.
pub struct EventInput {
    /// Named in errors (`-` for standard input).
    pub name: String,
    pub reader: Box<dyn BufRead + Send>,
}

/// What to do with an event that cannot be read.
#[derive(Clone, Debug)]
pub enum OnError {
    /// Stop; nothing of the run is committed.
    Fail,
    /// Append the event, where it came from and why to this JSON-lines file, and go on.
    DeadLetter(std::path::PathBuf),
}

/// One decoded event, before routing.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// `source.schema`/`source.db` and `source.table`, when given.
    pub source_table: Option<String>,
    pub rows: Vec<(RowKind, Map<String, Value>)>,
    /// The envelope's schema of the row (`after`'s or `before`'s), when given.
    pub row_schema: Option<Value>,
}

/// Parses one line. Ok(None): nothing to do (empty line, tombstone). `key` tells a key change.
pub(crate) fn parse_event(line: &str, key: &[String]) -> std::result::Result<Option<Event>, String> {
    let line = line.trim();
    if line.is_empty() {
        return Ok(None);
    }
    let v: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    if v.is_null() {
        return Ok(None);
    }
    let obj = v.as_object().ok_or("an event must be a JSON object")?;
    let (payload, schema) = match (obj.get("payload"), obj.get("schema")) {
        (Some(p), s) => (p, s),
        (None, _) => (&v, None),
    };
    if payload.is_null() {
        return Ok(None);
    }
    let payload = payload.as_object().ok_or("the payload must be a JSON object")?;
    let op = payload.get("op").and_then(Value::as_str).ok_or("no \"op\"")?;
    let row = |k: &str| -> std::result::Result<Option<Map<String, Value>>, String> {
        match payload.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m.clone())),
            Some(_) => Err(format!("\"{k}\" must be an object or null")),
        }
    };
    let before = row("before")?;
    let after = row("after")?;
    let need = |r: Option<Map<String, Value>>, k: &str| r.ok_or_else(|| format!("op {op:?} without \"{k}\""));
    let rows = match op {
        "c" | "r" => vec![(RowKind::Insert, need(after, "after")?)],
        "u" => {
            let after = need(after, "after")?;
            match before {
                Some(b) if key.iter().any(|k| b.get(k) != after.get(k)) && !key.is_empty() => {
                    vec![(RowKind::Delete, b), (RowKind::Insert, after)]
                }
                Some(b) => vec![(RowKind::UpdateBefore, b), (RowKind::UpdateAfter, after)],
                None => vec![(RowKind::UpdateAfter, after)],
            }
        }
        "d" => vec![(RowKind::Delete, need(before, "before")?)],
        "t" | "m" => vec![],
        other => return Err(format!("unknown op {other:?} (expected c, r, u or d)")),
    };
    let source = payload.get("source").and_then(Value::as_object);
    let source_table = source.and_then(|s| s.get("table")).and_then(Value::as_str).map(str::to_string);
    let row_schema = schema.and_then(|s| s.get("fields")).and_then(Value::as_array).and_then(|fields| {
        fields
            .iter()
            .find(|f| f.get("field").and_then(Value::as_str) == Some("after"))
            .or_else(|| fields.iter().find(|f| f.get("field").and_then(Value::as_str) == Some("before")))
            .cloned()
    });
    let mut ev = Event { source_table, rows, row_schema };
    if let Some(s) = &ev.row_schema {
        decode_decimals(&mut ev.rows, s)?;
    }
    Ok(Some(ev))
}

/// Connect's Decimal (base64 big-endian unscaled bytes with a `scale` parameter) as a decimal
/// string.
fn decode_decimals(rows: &mut [(RowKind, Map<String, Value>)], schema: &Value) -> std::result::Result<(), String> {
    let Some(fields) = schema.get("fields").and_then(Value::as_array) else { return Ok(()) };
    for f in fields {
        if f.get("name").and_then(Value::as_str) != Some("org.apache.kafka.connect.data.Decimal") {
            continue;
        }
        let Some(name) = f.get("field").and_then(Value::as_str) else { continue };
        let scale: u32 = f
            .get("parameters")
            .and_then(|p| p.get("scale"))
            .and_then(|s| s.as_str().and_then(|s| s.parse().ok()).or_else(|| s.as_u64().map(|n| n as u32)))
            .unwrap_or(0);
        for (_, row) in rows.iter_mut() {
            if let Some(Value::String(b64)) = row.get(name) {
                let bytes = base64_decode(b64).ok_or_else(|| format!("field {name:?}: {b64:?} is not base64"))?;
                if bytes.len() > 16 {
                    return Err(format!("field {name:?}: decimal wider than 128 bits"));
                }
                let mut buf = if bytes.first().is_some_and(|b| b & 0x80 != 0) { [0xffu8; 16] } else { [0u8; 16] };
                buf[16 - bytes.len()..].copy_from_slice(&bytes);
                let unscaled = i128::from_be_bytes(buf);
                row.insert(name.to_string(), Value::String(format_decimal(unscaled, scale)));
            }
        }
    }
    Ok(())
}

fn format_decimal(unscaled: i128, scale: u32) -> String {
    let neg = unscaled < 0;
    let digits = unscaled.unsigned_abs().to_string();
    let s = if scale == 0 {
        digits
    } else {
        let scale = scale as usize;
        let padded = format!("{digits:0>width$}", width = scale + 1);
        let (int, frac) = padded.split_at(padded.len() - scale);
        format!("{int}.{frac}")
    };
    if neg {
        format!("-{s}")
    } else {
        s
    }
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a' + 26) as u32,
            b'0'..=b'9' => (c - b'0' + 52) as u32,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        })
    };
    let s = s.trim_end_matches('=').as_bytes();
    let mut out = vec![];
    for chunk in s.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= val(c)? << (18 - 6 * i);
        }
        let n = match chunk.len() {
            4 => 3,
            3 => 2,
            2 => 1,
            _ => return None,
        };
        for i in 0..n {
            out.push((acc >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

/// The Paimon type of a Debezium (Kafka Connect) schema field.
pub(crate) fn connect_type(f: &Value) -> DataType {
    let name = f.get("name").and_then(Value::as_str).unwrap_or("");
    let kind = match (f.get("type").and_then(Value::as_str).unwrap_or(""), name) {
        (_, "org.apache.kafka.connect.data.Decimal") => {
            let p = f.get("parameters");
            let get = |k: &str| {
                p.and_then(|p| p.get(k))
                    .and_then(|s| s.as_str().and_then(|s| s.parse::<u8>().ok()).or_else(|| s.as_u64().map(|n| n as u8)))
            };
            let scale = get("scale").unwrap_or(0);
            let precision = get("connect.decimal.precision").unwrap_or(38).clamp(scale.max(1), 38);
            TypeKind::Decimal { precision, scale }
        }
        (_, "io.debezium.time.Date" | "org.apache.kafka.connect.data.Date") => TypeKind::Date,
        (_, "io.debezium.time.Timestamp" | "org.apache.kafka.connect.data.Timestamp") => TypeKind::Timestamp(3),
        (_, "io.debezium.time.MicroTimestamp") => TypeKind::Timestamp(6),
        (_, "io.debezium.time.NanoTimestamp") => TypeKind::Timestamp(9),
        (_, "io.debezium.time.ZonedTimestamp") => TypeKind::LocalZonedTimestamp(6),
        ("boolean", _) => TypeKind::Boolean,
        ("int8", _) => TypeKind::TinyInt,
        ("int16", _) => TypeKind::SmallInt,
        ("int32", _) => TypeKind::Int,
        ("int64", _) => TypeKind::BigInt,
        ("float32", _) => TypeKind::Float,
        ("float64", _) => TypeKind::Double,
        ("bytes", _) => TypeKind::VarBinary(crate::spec::types::MAX_VAR_LENGTH),
        _ => TypeKind::VarChar(crate::spec::types::MAX_VAR_LENGTH),
    };
    DataType::new(kind)
}

/// The columns of a new table: from the envelope's schema, or from the JSON values.
pub fn infer_columns(ev: &Event) -> Vec<(String, DataType)> {
    if let Some(fields) = ev.row_schema.as_ref().and_then(|s| s.get("fields")).and_then(Value::as_array) {
        return fields.iter().filter_map(|f| Some((f.get("field")?.as_str()?.to_string(), connect_type(f)))).collect();
    }
    let Some((_, row)) = ev.rows.first() else { return vec![] };
    row.iter()
        .map(|(k, v)| {
            let kind = match v {
                Value::Bool(_) => TypeKind::Boolean,
                Value::Number(n) if n.is_i64() || n.is_u64() => TypeKind::BigInt,
                Value::Number(_) => TypeKind::Double,
                _ => TypeKind::VarChar(crate::spec::types::MAX_VAR_LENGTH),
            };
            (k.clone(), DataType::new(kind))
        })
        .collect()
}

/// JSON rows as a batch of `schema` (objects and arrays in string columns become their JSON
/// text).
pub(crate) fn rows_to_batch(
    schema: &SchemaRef,
    rows: &[&Map<String, Value>],
) -> std::result::Result<arrow_array::RecordBatch, String> {
    let mut decoder = arrow::json::ReaderBuilder::new(schema.clone())
        .with_batch_size(rows.len().max(1))
        .build_decoder()
        .map_err(|e| e.to_string())?;
    let fixed: Vec<Map<String, Value>> = rows
        .iter()
        .map(|r| {
            let mut r = (*r).clone();
            for f in schema.fields() {
                if matches!(f.data_type(), arrow_schema::DataType::Utf8) {
                    if let Some(v @ (Value::Object(_) | Value::Array(_) | Value::Number(_) | Value::Bool(_))) =
                        r.get(f.name())
                    {
                        let s = v.to_string();
                        r.insert(f.name().clone(), Value::String(s));
                    }
                }
            }
            r
        })
        .collect();
    decoder.serialize(&fixed).map_err(|e| e.to_string())?;
    match decoder.flush().map_err(|e| e.to_string())? {
        Some(b) => Ok(b),
        None => Ok(arrow_array::RecordBatch::new_empty(schema.clone())),
    }
}

/// Reads events from inputs into [`SourceBatch`]es of up to `chunk` events per table group,
/// positions counting events from 1. Tables must be known to `schemas` (the caller creates
/// them on first sight through `resolve`).
pub struct DebeziumSource<F> {
    inputs: Vec<EventInput>,
    current: usize,
    line: u64,
    position: i64,
    chunk: usize,
    on_error: OnError,
    dead_letter: Option<std::fs::File>,
    /// Routes an event to a table, creating it when needed: (table name, its Arrow schema, its
    /// primary key).
    resolve: F,
    pub dead_lettered: u64,
}

/// How [`DebeziumSource`] finds an event's table.
#[async_trait]
pub trait Router: Send {
    async fn route(&mut self, ev: &Event) -> Result<(String, SchemaRef, Vec<String>)>;
}

impl<F: Router> DebeziumSource<F> {
    pub fn new(inputs: Vec<EventInput>, on_error: OnError, resolve: F) -> Result<Self> {
        let dead_letter = match &on_error {
            OnError::Fail => None,
            OnError::DeadLetter(p) => Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(Error::local_io(format!("dead-letter file {}", p.display())))?,
            ),
        };
        Ok(DebeziumSource {
            inputs,
            current: 0,
            line: 0,
            position: 0,
            chunk: 10_000,
            on_error,
            dead_letter,
            resolve,
            dead_lettered: 0,
        })
    }

    fn bad(&mut self, raw: &str, reason: String) -> Result<()> {
        let name = self.inputs.get(self.current).map(|i| i.name.clone()).unwrap_or_default();
        match (&self.on_error, &mut self.dead_letter) {
            (OnError::DeadLetter(_), Some(f)) => {
                use std::io::Write;
                let rec = serde_json::json!({"input": name, "line": self.line, "error": reason, "event": raw});
                writeln!(f, "{rec}").map_err(Error::local_io("writing the dead-letter file"))?;
                self.dead_lettered += 1;
                Ok(())
            }
            _ => Err(Error::InvalidInput(format!("{name}:{}: {reason}", self.line))),
        }
    }

    pub fn router(&mut self) -> &mut F {
        &mut self.resolve
    }
}

#[async_trait]
impl<F: Router> ChangeSource for DebeziumSource<F> {
    async fn next_batch(&mut self) -> Result<Option<SourceBatch>> {
        // (table -> (schema, rows, kinds, raw lines for errors))
        type Group = (SchemaRef, Vec<Map<String, Value>>, Vec<RowKind>, Vec<(u64, String)>);
        let mut groups: BTreeMap<String, Group> = BTreeMap::new();
        let mut events = 0;
        while events < self.chunk {
            let Some(input) = self.inputs.get_mut(self.current) else { break };
            let mut line = String::new();
            let n = input.reader.read_line(&mut line).map_err(Error::local_io(input.name.clone()))?;
            if n == 0 {
                self.current += 1;
                self.line = 0;
                continue;
            }
            self.line += 1;
            let key_hint: Vec<String> = vec![];
            let ev = match parse_event(&line, &key_hint) {
                Ok(Some(ev)) => ev,
                Ok(None) => continue,
                Err(reason) => {
                    self.bad(line.trim_end(), reason)?;
                    continue;
                }
            };
            let (table, schema, key) = match self.resolve.route(&ev).await {
                Ok(r) => r,
                Err(Error::InvalidInput(reason)) => {
                    self.bad(line.trim_end(), reason)?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            // Now the key is known: a key change in an update is -D old, +I new.
            let ev = match parse_event(&line, &key) {
                Ok(Some(ev)) => ev,
                _ => continue,
            };
            // Check the event reads as the table's types on its own, so a bad one is named.
            let rows: Vec<&Map<String, Value>> = ev.rows.iter().map(|(_, r)| r).collect();
            if let Err(reason) = rows_to_batch(&schema, &rows) {
                self.bad(line.trim_end(), format!("table {table}: {reason}"))?;
                continue;
            }
            if let Some((kind, row)) =
                ev.rows.iter().find(|(_, r)| key.iter().any(|k| r.get(k).is_none_or(Value::is_null)))
            {
                let _ = (kind, row);
                self.bad(
                    line.trim_end(),
                    format!("table {table}: a row without its primary key ({})", key.join(", ")),
                )?;
                continue;
            }
            let g = groups.entry(table).or_insert_with(|| (schema.clone(), vec![], vec![], vec![]));
            for (kind, row) in ev.rows {
                g.1.push(row);
                g.2.push(kind);
            }
            g.3.push((self.line, String::new()));
            events += 1;
            self.position += 1;
        }
        if events == 0 {
            return Ok(None);
        }
        let mut changes = vec![];
        for (table, (schema, rows, kinds, _)) in groups {
            let refs: Vec<&Map<String, Value>> = rows.iter().collect();
            let batch =
                rows_to_batch(&schema, &refs).map_err(|e| Error::InvalidInput(format!("table {table}: {e}")))?;
            changes.push(TableChanges { table, batch, kinds });
        }
        Ok(Some(SourceBatch { position: self.position, changes }))
    }

    async fn committed(&mut self, _position: i64) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events() {
        let key = vec!["id".to_string()];
        let e = parse_event(r#"{"before":null,"after":{"id":1,"n":"a"},"source":{"table":"t"},"op":"c"}"#, &key)
            .unwrap()
            .unwrap();
        assert_eq!(e.source_table.as_deref(), Some("t"));
        assert_eq!(e.rows.len(), 1);
        assert_eq!(e.rows[0].0, RowKind::Insert);
        let e = parse_event(r#"{"payload":{"before":{"id":1},"after":{"id":2},"op":"u"},"schema":{}}"#, &key)
            .unwrap()
            .unwrap();
        assert_eq!(e.rows.iter().map(|r| r.0).collect::<Vec<_>>(), vec![RowKind::Delete, RowKind::Insert]);
        let e = parse_event(r#"{"before":{"id":1,"n":"a"},"after":{"id":1,"n":"b"},"op":"u"}"#, &key).unwrap().unwrap();
        assert_eq!(e.rows.iter().map(|r| r.0).collect::<Vec<_>>(), vec![RowKind::UpdateBefore, RowKind::UpdateAfter]);
        let e = parse_event(r#"{"before":{"id":1},"after":null,"op":"d"}"#, &key).unwrap().unwrap();
        assert_eq!(e.rows[0].0, RowKind::Delete);
        assert_eq!(parse_event("", &key).unwrap(), None);
        assert_eq!(parse_event("null", &key).unwrap(), None);
        assert!(parse_event("{", &key).unwrap_err().contains("not JSON"));
        assert!(parse_event(r#"{"op":"d","before":null}"#, &key).unwrap_err().contains("before"));
        assert!(parse_event(r#"{"op":"x"}"#, &key).unwrap_err().contains("unknown op"));
    }

    #[test]
    fn decimals() {
        // 12345 = 0x3039, scale 2 -> 123.45; -1 = 0xff -> -0.01
        let schema = serde_json::json!({"fields": [{"field": "p", "type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "parameters": {"scale": "2"}}]});
        let mut rows = vec![
            (RowKind::Insert, serde_json::from_str::<Map<String, Value>>(r#"{"p":"MDk="}"#).unwrap()),
            (RowKind::Insert, serde_json::from_str::<Map<String, Value>>(r#"{"p":"/w=="}"#).unwrap()),
        ];
        decode_decimals(&mut rows, &schema).unwrap();
        assert_eq!(rows[0].1["p"], "123.45");
        assert_eq!(rows[1].1["p"], "-0.01");
        assert_eq!(connect_type(&schema["fields"][0]).to_string(), "DECIMAL(38, 2)");
    }
}
