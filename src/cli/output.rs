//! How the commands print: to [`Stdout`] (a reader that goes away, as `head` does, ends the
//! command quietly), rows in the formats `shoal read` and `shoal tail` offer, durations and
//! times.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use clap::ValueEnum;
use parquet::arrow::ArrowWriter;

use shoal::error::{Error, Result};

/// Set once a write to stdout found its reader gone (`EPIPE`: `shoal read T | head`).
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Whether stdout's reader went away: the command's error is then only the consequence, and
/// `shoal` exits quietly with status 0, as Unix tools do.
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::SeqCst)
}

/// Standard output as the commands write it: [`std::io::stdout`], except that a write finding
/// the reader gone is remembered ([`stdout_closed`]) whichever writer (CSV, JSON, a pretty
/// table) reports it and however it words the error. `println!` would panic there instead.
pub struct Stdout;

impl Stdout {
    fn note<T>(r: std::io::Result<T>) -> std::io::Result<T> {
        if let Err(e) = &r {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                STDOUT_CLOSED.store(true, Ordering::SeqCst);
            }
        }
        r
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Stdout::note(std::io::stdout().lock().write(buf))
    }
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        Stdout::note(std::io::stdout().lock().write_all(buf))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Stdout::note(std::io::stdout().lock().flush())
    }
}

/// A failed write to stdout as the command's error.
pub fn stdout_error(e: std::io::Error) -> Error {
    Error::InvalidInput(format!("writing to stdout: {e}"))
}

/// `println!` for the commands: a line to [`Stdout`]; evaluates to a `Result` (use `?`), so a
/// closed stdout ends the command instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!($crate::cli::output::Stdout, $($arg)*).map_err($crate::cli::output::stdout_error)
    }};
}

/// `print!` for the commands, as [`outln!`].
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!($crate::cli::output::Stdout, $($arg)*).map_err($crate::cli::output::stdout_error)
    }};
}

pub(crate) use {out, outln};

/// `shoal read --format`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum OutputFormat {
    Table,
    Csv,
    Jsonl,
    Parquet,
}

/// `shoal tail --format`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum TailFormat {
    Table,
    Csv,
    Jsonl,
}

/// A duration the way the duration options spell it: `7 d`, `2 h`, `90 s`, `250 ms`.
pub fn format_duration(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    for (unit, size) in [("d", 86_400_000u128), ("h", 3_600_000), ("min", 60_000), ("s", 1000)] {
        if ms >= size && ms.is_multiple_of(size) {
            return format!("{} {unit}", ms / size);
        }
    }
    format!("{ms} ms")
}

/// Epoch millis as `YYYY-MM-DD HH:MM:SS.fff` (UTC).
pub fn format_millis(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
        .unwrap_or_default()
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
            _ => Box::new(std::io::BufWriter::new(Stdout)),
        };
        Ok(match format {
            OutputFormat::Table => OutputSink::Table { batches: vec![], out },
            OutputFormat::Csv => OutputSink::Csv(arrow::csv::WriterBuilder::new().with_header(true).build(out)),
            OutputFormat::Jsonl => OutputSink::Jsonl(arrow::json::LineDelimitedWriter::new(out)),
            OutputFormat::Parquet => {
                let p = output.ok_or_else(|| Error::InvalidInput("--format parquet needs --output FILE".into()))?;
                OutputSink::Parquet(
                    ArrowWriter::try_new(open(p)?, schema, None).map_err(|e| Error::InvalidInput(e.to_string()))?,
                )
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
                let text =
                    arrow::util::pretty::pretty_format_batches(&batches).map_err(Error::arrow("formatting rows"))?;
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
    format: TailFormat,
    header_written: bool,
}

impl TailSink {
    pub fn new(format: TailFormat) -> TailSink {
        TailSink { format, header_written: false }
    }

    pub fn write(&mut self, b: &RecordBatch) -> Result<()> {
        let mut buf: Vec<u8> = vec![];
        match self.format {
            TailFormat::Table => {
                let text = arrow::util::pretty::pretty_format_batches(std::slice::from_ref(b))
                    .map_err(Error::arrow("formatting rows"))?;
                buf.extend_from_slice(format!("{text}\n").as_bytes());
            }
            TailFormat::Csv => {
                let mut w = arrow::csv::WriterBuilder::new().with_header(!self.header_written).build(&mut buf);
                w.write(b).map_err(Error::arrow("writing CSV"))?;
                self.header_written = true;
            }
            TailFormat::Jsonl => {
                let mut w = arrow::json::LineDelimitedWriter::new(&mut buf);
                w.write(b).map_err(Error::arrow("writing JSON lines"))?;
                w.finish().map_err(Error::arrow("writing JSON lines"))?;
            }
        }
        Stdout.write_all(&buf).and_then(|_| Stdout.flush()).map_err(stdout_error)
    }
}
