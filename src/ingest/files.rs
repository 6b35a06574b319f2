//! Loading files in other formats (Parquet, CSV, JSON lines) into a table writer: a file's
//! columns are matched to the table's by name and parsed as the table's types; an optional column
//! holds each row's kind (+I, -U, +U or -D) and is not written. A Parquet or CSV input lacking a
//! table column is refused, unless [`MissingColumns::Null`] lets nullable ones be written as nulls.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::Arc;

use arrow_array::{RecordBatch, StringArray};
use arrow_schema::{DataType as ArrowType, Field, Schema, SchemaRef};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::error::{Error, Result};
use crate::spec::RowKind;
use crate::table::Table;
use crate::write::TableWrite;

/// The formats [`write_file`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFormat {
    Parquet,
    Csv,
    /// One JSON object per line.
    Jsonl,
}

impl FileFormat {
    /// The format a file name's extension tells: `.parquet`, `.csv`, `.jsonl`/`.json`/`.ndjson`.
    pub fn from_extension(p: &Path) -> Option<FileFormat> {
        match p.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase()).as_deref() {
            Some("parquet") => Some(FileFormat::Parquet),
            Some("csv") => Some(FileFormat::Csv),
            Some("jsonl") | Some("json") | Some("ndjson") => Some(FileFormat::Jsonl),
            _ => None,
        }
    }
}

/// What [`write_file`] does with a table column a Parquet or CSV input does not have (a JSON
/// line without a key holds a null there in any case).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MissingColumns {
    /// Refuse the input, naming the missing columns and the input's extra ones.
    #[default]
    Error,
    /// Write nulls in a missing nullable column (a missing NOT NULL column is still refused).
    /// On a deduplicate table a null replaces the value stored for the key.
    Null,
}

/// Writes one file's rows into `w` (not committed); returns the number of rows. `kind_col` names
/// the column holding each row's kind; `missing` says what a table column absent from the
/// input gets; `progress` is told the rows written so far after each batch. Errors name the
/// file, and for CSV the line and column.
pub async fn write_file(
    table: &Table,
    w: &mut TableWrite,
    path: &Path,
    format: FileFormat,
    kind_col: Option<&str>,
    missing: MissingColumns,
    mut progress: impl FnMut(usize),
) -> Result<usize> {
    let target = table.arrow_schema();
    let file_err = |e: &dyn std::fmt::Display| Error::InvalidInput(format!("{}: {e}", path.display()));
    // A shoal error's own "invalid input: " is not repeated after the file name.
    let input_err = |e: Error| file_err(&e.detail());
    let io_err = |e: std::io::Error| Error::local_io(path.display().to_string())(e);
    let f = File::open(path).map_err(io_err)?;
    let mut column_names: Vec<String> = vec![];
    let batches: Box<dyn Iterator<Item = std::result::Result<RecordBatch, arrow_schema::ArrowError>>> = match format {
        FileFormat::Parquet => {
            let builder = ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| file_err(&e))?;
            let names: Vec<String> = builder.schema().fields().iter().map(|f| f.name().clone()).collect();
            // A Parquet file's extra columns are not read.
            check_columns(&target, &names, kind_col, missing, false).map_err(input_err)?;
            Box::new(builder.with_batch_size(65536).build().map_err(|e| file_err(&e))?)
        }
        FileFormat::Csv => {
            let mut header = String::new();
            BufReader::new(File::open(path).map_err(io_err)?).read_line(&mut header).map_err(io_err)?;
            let names: Vec<String> =
                header.trim_end().split(',').map(|s| s.trim().trim_matches('"').to_string()).collect();
            check_columns(&target, &names, kind_col, missing, true).map_err(input_err)?;
            let schema = input_schema(&target, &names, kind_col).map_err(input_err)?;
            column_names = names;
            Box::new(
                arrow::csv::ReaderBuilder::new(schema)
                    .with_header(true)
                    .with_batch_size(65536)
                    .build(f)
                    .map_err(|e| file_err(&e))?,
            )
        }
        FileFormat::Jsonl => {
            let names: Vec<String> =
                target.fields().iter().map(|f| f.name().clone()).chain(kind_col.map(str::to_string)).collect();
            let schema = input_schema(&target, &names, kind_col).map_err(input_err)?;
            Box::new(
                arrow::json::ReaderBuilder::new(schema)
                    .with_batch_size(65536)
                    .build(BufReader::new(f))
                    .map_err(|e| file_err(&e))?,
            )
        }
    };
    let mut rows = 0usize;
    for b in batches {
        let b = b.map_err(|e| {
            let m = name_csv_column(&e.to_string(), &column_names);
            // CSV errors name their line; others say where the failing batch starts.
            if m.contains(" at line ") {
                file_err(&m)
            } else {
                file_err(&format!("in the rows after row {rows}: {m}"))
            }
        })?;
        let (values, kinds) = split_kinds(&b, &target, kind_col, rows).map_err(input_err)?;
        w.write_with_kinds(&values, kinds.as_deref()).await.map_err(input_err)?;
        rows += b.num_rows();
        progress(rows);
    }
    Ok(rows)
}

/// Arrow's CSV errors say "for column 2 at line 7"; name the column too.
fn name_csv_column(message: &str, names: &[String]) -> String {
    // arrow-csv counts lines from 0 (the header is line 0); people count from 1.
    let message = match message.find(" at line ") {
        Some(at) => {
            let rest = &message[at + " at line ".len()..];
            let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
            match digits.parse::<usize>() {
                Ok(n) => format!("{} at line {}{}", &message[..at], n + 1, &rest[digits.len()..]),
                Err(_) => message.to_string(),
            }
        }
        None => message.to_string(),
    };
    let message = message.as_str();
    let Some(at) = message.find("for column ") else { return message.to_string() };
    let rest = &message[at + "for column ".len()..];
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    match digits.parse::<usize>().ok().and_then(|i| names.get(i)) {
        Some(name) => format!(
            "{}for column {name:?} (column {}){}",
            &message[..at],
            digits.parse::<usize>().unwrap_or(0) + 1,
            &rest[digits.len()..]
        ),
        None => message.to_string(),
    }
}

/// Refuses an input (its column names) that lacks a table column (unless `missing` lets a
/// nullable one be null) or, with `extra_refused`, has a column the table does not; the message
/// names both the missing columns and the extra ones, where a misspelling shows.
fn check_columns(
    target: &SchemaRef,
    names: &[String],
    kind_col: Option<&str>,
    missing: MissingColumns,
    extra_refused: bool,
) -> Result<()> {
    let quoted = |v: &[&str]| v.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ");
    let absent: Vec<&Field> =
        target.fields().iter().filter(|f| !names.contains(f.name())).map(|f| f.as_ref()).collect();
    let extra: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| Some(*n) != kind_col && target.field_with_name(n).is_err())
        .collect();
    let refused: Vec<&str> = absent
        .iter()
        .filter(|f| missing == MissingColumns::Error || !f.is_nullable())
        .map(|f| f.name().as_str())
        .collect();
    if refused.is_empty() && (extra.is_empty() || !extra_refused) {
        return Ok(());
    }
    let s = |v: &[&str]| if v.len() == 1 { "" } else { "s" };
    let extra_text = format!("column{} the table does not: {}", s(&extra), quoted(&extra));
    let mut m = match refused.as_slice() {
        [] => format!("the input has {extra_text}"),
        _ => {
            let mut m = format!("the input has no column{} {}", s(&refused), quoted(&refused));
            if !extra.is_empty() {
                m.push_str(&format!("; it has {extra_text}"));
            }
            m
        }
    };
    m.push_str(&format!(
        " (the table's columns: {})",
        target.fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(", ")
    ));
    let not_null: Vec<&str> = absent.iter().filter(|f| !f.is_nullable()).map(|f| f.name().as_str()).collect();
    if missing == MissingColumns::Error && not_null.is_empty() && !absent.is_empty() {
        m.push_str("; --missing-columns=null writes nulls in the missing columns");
    } else if !not_null.is_empty() {
        m.push_str(&format!("; {} cannot be null", quoted(&not_null)));
    }
    Err(Error::InvalidInput(m))
}

/// The schema to parse an input with: its columns in file order, typed as the table's columns.
fn input_schema(target: &SchemaRef, names: &[String], kind_col: Option<&str>) -> Result<SchemaRef> {
    let mut fields = vec![];
    for n in names {
        if Some(n.as_str()) == kind_col {
            fields.push(Field::new(n, ArrowType::Utf8, true));
        } else {
            let f = target.field_with_name(n).map_err(|_| {
                Error::InvalidInput(format!(
                    "column {n:?} is not a column of the table ({})",
                    target.fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(", ")
                ))
            })?;
            fields.push(Field::new(n, f.data_type().clone(), true));
        }
    }
    Ok(Arc::new(Schema::new(fields)))
}

/// Reorders an input batch to the table's columns and takes out the row-kind column.
fn split_kinds(
    b: &RecordBatch,
    target: &SchemaRef,
    kind_col: Option<&str>,
    first_row: usize,
) -> Result<(RecordBatch, Option<Vec<RowKind>>)> {
    let kinds = match kind_col {
        None => None,
        Some(k) => {
            let col = b
                .column_by_name(k)
                .ok_or_else(|| Error::InvalidInput(format!("the row kind column {k:?} is not in the input")))?;
            let strings = arrow_cast::cast(col, &ArrowType::Utf8).map_err(Error::arrow("reading row kinds"))?;
            let strings = strings.as_any().downcast_ref::<StringArray>().expect("cast to Utf8");
            Some(row_kinds_from_strings(strings, k, first_row)?)
        }
    };
    let mut cols = vec![];
    let mut fields = vec![];
    for f in target.fields() {
        // A column the input lacks, which [`check_columns`] let be null.
        let c = match b.column_by_name(f.name()) {
            Some(c) => c.clone(),
            None if f.is_nullable() => arrow_array::new_null_array(f.data_type(), b.num_rows()),
            None => return Err(Error::InvalidInput(format!("the input has no column {:?}", f.name()))),
        };
        fields.push(Field::new(f.name(), c.data_type().clone(), true));
        cols.push(c);
    }
    let batch =
        RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).map_err(Error::arrow("reordering input columns"))?;
    Ok((batch, kinds))
}

/// Row kinds from a string column (+I, -U, +U, -D), naming the first bad row.
pub fn row_kinds_from_strings(
    values: &arrow_array::StringArray,
    column: &str,
    first_row: usize,
) -> Result<Vec<RowKind>> {
    use arrow_array::Array;
    (0..values.len())
        .map(|i| {
            if values.is_null(i) {
                return Err(Error::InvalidInput(format!(
                    "row {}: row kind column {column:?} is empty",
                    first_row + i + 1
                )));
            }
            RowKind::from_short_string(values.value(i)).ok_or_else(|| {
                Error::InvalidInput(format!(
                    "row {}: row kind column {column:?} holds {:?}; expected +I, -U, +U or -D",
                    first_row + i + 1,
                    values.value(i)
                ))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn csv_errors_name_the_column() {
        let names = vec!["id".to_string(), "n".to_string()];
        let m = "Parser error: Error while parsing value 'x' as type 'Int32' for column 1 at line 4. Row data: '[3,x]'";
        assert_eq!(
            super::name_csv_column(m, &names),
            "Parser error: Error while parsing value 'x' as type 'Int32' for column \"n\" (column 2) at line 5. Row data: '[3,x]'"
        );
        assert_eq!(super::name_csv_column("other", &names), "other");
    }
}
