//! How `shoal write` shows its progress, and how `shoal read` and `shoal tail` print rows.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use indicatif::{ProgressBar, ProgressStyle};
use parquet::arrow::ArrowWriter;

use super::OutputFormat;
use shoal::error::{Error, Result};

/// The spinner `shoal write` shows while it reads a file.
pub fn progress(path: &Path) -> ProgressBar {
    let pb = ProgressBar::new_spinner();
    pb.set_style(ProgressStyle::with_template("{spinner} {msg} {human_pos} rows ({per_sec})").expect("static template"));
    pb.set_message(path.display().to_string());
    pb
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
