//! Reading input files into a table writer, and writing read results in several formats.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::Arc;

use arrow_array::{RecordBatch, StringArray};
use arrow_schema::{DataType as ArrowType, Field, Schema, SchemaRef};
use indicatif::{ProgressBar, ProgressStyle};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;

use super::{row_kinds_from_strings, InputFormat, OutputFormat};
use crate::error::{Error, Result};
use crate::spec::RowKind;
use crate::table::Table;
use crate::write::TableWrite;

pub fn format_from_extension(p: &Path) -> Result<InputFormat> {
    match p.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase()).as_deref() {
        Some("parquet") => Ok(InputFormat::Parquet),
        Some("csv") => Ok(InputFormat::Csv),
        Some("jsonl") | Some("json") | Some("ndjson") => Ok(InputFormat::Jsonl),
        _ => Err(Error::InvalidInput(format!("{}: cannot tell the format from the extension; pass --format", p.display()))),
    }
}

fn progress(path: &Path) -> ProgressBar {
    let pb = ProgressBar::new_spinner();
    pb.set_style(ProgressStyle::with_template("{spinner} {msg} {human_pos} rows ({per_sec})").expect("static template"));
    pb.set_message(path.display().to_string());
    pb
}

/// Writes one file's rows; returns the number of rows.
pub async fn write_file(table: &Table, w: &mut TableWrite, path: &Path, format: InputFormat, kind_col: Option<&str>) -> Result<usize> {
    let target = table.arrow_schema();
    let file_err = |e: &dyn std::fmt::Display| Error::InvalidInput(format!("{}: {e}", path.display()));
    let f = File::open(path).map_err(|e| file_err(&e))?;
    let mut column_names: Vec<String> = vec![];
    let batches: Box<dyn Iterator<Item = std::result::Result<RecordBatch, arrow_schema::ArrowError>>> = match format {
        InputFormat::Parquet => Box::new(
            ParquetRecordBatchReaderBuilder::try_new(f).and_then(|b| b.with_batch_size(65536).build()).map_err(|e| file_err(&e))?,
        ),
        InputFormat::Csv => {
            let mut header = String::new();
            BufReader::new(File::open(path).map_err(|e| file_err(&e))?).read_line(&mut header).map_err(|e| file_err(&e))?;
            let names: Vec<String> = header.trim_end().split(',').map(|s| s.trim().trim_matches('"').to_string()).collect();
            let schema = input_schema(&target, &names, kind_col).map_err(|e| file_err(&e))?;
            column_names = names;
            Box::new(
                arrow::csv::ReaderBuilder::new(schema)
                    .with_header(true)
                    .with_batch_size(65536)
                    .build(f)
                    .map_err(|e| file_err(&e))?,
            )
        }
        InputFormat::Jsonl => {
            let names: Vec<String> = target.fields().iter().map(|f| f.name().clone()).chain(kind_col.map(str::to_string)).collect();
            let schema = input_schema(&target, &names, kind_col).map_err(|e| file_err(&e))?;
            Box::new(
                arrow::json::ReaderBuilder::new(schema)
                    .with_batch_size(65536)
                    .build(BufReader::new(f))
                    .map_err(|e| file_err(&e))?,
            )
        }
    };
    let pb = progress(path);
    let mut rows = 0usize;
    for b in batches {
        let b = b.map_err(|e| {
            let m = name_csv_column(&e.to_string(), &column_names);
            // CSV errors name their line; others say where the failing batch starts.
            if m.contains(" at line ") { file_err(&m) } else { file_err(&format!("in the rows after row {rows}: {m}")) }
        })?;
        let (values, kinds) = split_kinds(&b, &target, kind_col, rows).map_err(|e| file_err(&e))?;
        w.write_with_kinds(&values, kinds.as_deref()).await.map_err(|e| file_err(&e))?;
        rows += b.num_rows();
        pb.set_position(rows as u64);
    }
    pb.finish_and_clear();
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
        Some(name) => format!("{}for column {name:?} (column {}){}", &message[..at], digits.parse::<usize>().unwrap_or(0) + 1, &rest[digits.len()..]),
        None => message.to_string(),
    }
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
fn split_kinds(b: &RecordBatch, target: &SchemaRef, kind_col: Option<&str>, first_row: usize) -> Result<(RecordBatch, Option<Vec<RowKind>>)> {
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
        let c = b
            .column_by_name(f.name())
            .ok_or_else(|| Error::InvalidInput(format!("the input has no column {:?}", f.name())))?;
        fields.push(Field::new(f.name(), c.data_type().clone(), true));
        cols.push(c.clone());
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).map_err(Error::arrow("reordering input columns"))?;
    Ok((batch, kinds))
}

/// Where `shoal read` writes its rows.
pub enum OutputSink {
    Table { batches: Vec<RecordBatch>, out: Box<dyn Write> },
    Csv(arrow::csv::Writer<Box<dyn Write>>),
    Jsonl(arrow::json::LineDelimitedWriter<Box<dyn Write>>),
    Parquet(ArrowWriter<File>),
}

impl OutputSink {
    pub fn new(format: OutputFormat, output: Option<&Path>, schema: SchemaRef) -> Result<OutputSink> {
        let open = |p: &Path| File::create(p).map_err(|e| Error::InvalidInput(format!("{}: {e}", p.display())));
        let out: Box<dyn Write> = match output {
            Some(p) if !matches!(format, OutputFormat::Parquet) => Box::new(std::io::BufWriter::new(open(p)?)),
            _ => Box::new(std::io::BufWriter::new(std::io::stdout())),
        };
        Ok(match format {
            OutputFormat::Table => OutputSink::Table { batches: vec![], out },
            OutputFormat::Csv => OutputSink::Csv(arrow::csv::WriterBuilder::new().with_header(true).build(out)),
            OutputFormat::Jsonl => OutputSink::Jsonl(arrow::json::LineDelimitedWriter::new(out)),
            OutputFormat::Parquet => {
                let p = output.ok_or_else(|| Error::InvalidInput("--format parquet needs --output FILE".into()))?;
                OutputSink::Parquet(ArrowWriter::try_new(open(p)?, schema, None).map_err(|e| Error::InvalidInput(e.to_string()))?)
            }
        })
    }

    pub fn write(&mut self, b: &RecordBatch) -> Result<()> {
        match self {
            OutputSink::Table { batches, .. } => batches.push(b.clone()),
            OutputSink::Csv(w) => w.write(b).map_err(Error::arrow("writing CSV"))?,
            OutputSink::Jsonl(w) => w.write(b).map_err(Error::arrow("writing JSON lines"))?,
            OutputSink::Parquet(w) => w.write(b).map_err(|e| Error::InvalidInput(e.to_string()))?,
        }
        Ok(())
    }

    pub fn finish(self) -> Result<()> {
        match self {
            OutputSink::Table { batches, mut out } => {
                let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
                let text = arrow::util::pretty::pretty_format_batches(&batches).map_err(Error::arrow("formatting rows"))?;
                writeln!(out, "{text}\n{rows} rows").map_err(|e| Error::InvalidInput(e.to_string()))?;
                out.flush().map_err(|e| Error::InvalidInput(e.to_string()))
            }
            OutputSink::Csv(w) => w.into_inner().flush().map_err(|e| Error::InvalidInput(e.to_string())),
            OutputSink::Jsonl(mut w) => {
                w.finish().map_err(Error::arrow("writing JSON lines"))?;
                w.into_inner().flush().map_err(|e| Error::InvalidInput(e.to_string()))
            }
            OutputSink::Parquet(w) => w.close().map(|_| ()).map_err(|e| Error::InvalidInput(e.to_string())),
        }
    }
}

/// Where `shoal tail` prints change batches: each batch as soon as it arrives.
pub struct TailSink {
    format: super::TailFormat,
    header_written: bool,
}

impl TailSink {
    pub fn new(format: super::TailFormat) -> TailSink {
        TailSink { format, header_written: false }
    }

    pub fn write(&mut self, b: &RecordBatch) -> Result<()> {
        let mut buf: Vec<u8> = vec![];
        match self.format {
            super::TailFormat::Table => {
                let text = arrow::util::pretty::pretty_format_batches(std::slice::from_ref(b)).map_err(Error::arrow("formatting rows"))?;
                buf.extend_from_slice(format!("{text}\n").as_bytes());
            }
            super::TailFormat::Csv => {
                let mut w = arrow::csv::WriterBuilder::new().with_header(!self.header_written).build(&mut buf);
                w.write(b).map_err(Error::arrow("writing CSV"))?;
                self.header_written = true;
            }
            super::TailFormat::Jsonl => {
                let mut w = arrow::json::LineDelimitedWriter::new(&mut buf);
                w.write(b).map_err(Error::arrow("writing JSON lines"))?;
                w.finish().map_err(Error::arrow("writing JSON lines"))?;
            }
        }
        let mut out = std::io::stdout().lock();
        out.write_all(&buf).and_then(|_| out.flush()).map_err(|e| Error::InvalidInput(format!("writing to stdout: {e}")))
    }
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
