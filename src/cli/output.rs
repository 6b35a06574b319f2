//! How the commands print: to [`Stdout`] (a reader that goes away, as `head` does, ends the
//! command quietly), rows in the formats `shoal read` and `shoal tail` offer, durations and
//! times.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use clap::ValueEnum;
use futures::stream::BoxStream;
use futures::StreamExt;
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
    Error::local_io("writing to stdout")(e)
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

/// "1 row", "0 rows".
pub fn rows_text(n: usize) -> String {
    format!("{n} row{}", if n == 1 { "" } else { "s" })
}

/// Rows as a pretty table; with no rows, the header of `schema` (never an empty `++`).
pub fn pretty_rows(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<String> {
    let empty;
    let batches = if batches.iter().all(|b| b.num_rows() == 0) {
        empty = [RecordBatch::new_empty(schema.clone())];
        &empty[..]
    } else {
        batches
    };
    Ok(arrow::util::pretty::pretty_format_batches(batches).map_err(Error::arrow("formatting rows"))?.to_string())
}

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

/// `shoal read --format table` prints a pretty table of this many rows at a time (each with its
/// header, widths fitted to its rows), so that rows show as the read goes, not after it.
pub const TABLE_BLOCK_ROWS: usize = 1000;

/// ... or the rows it has once they waited this long for more.
pub const TABLE_BLOCK_WAIT: Duration = Duration::from_secs(1);

/// A `--format table` output: rows wait in `pending` until a block is full (or waited long
/// enough), then print as one pretty table.
pub struct TableOut {
    schema: SchemaRef,
    pending: Vec<RecordBatch>,
    pending_rows: usize,
    pending_since: Option<tokio::time::Instant>,
    rows: usize,
    blocks: usize,
    block_rows: usize,
    wait: Duration,
    out: Box<dyn Write>,
}

impl TableOut {
    pub fn new(schema: SchemaRef, out: Box<dyn Write>, block_rows: usize, wait: Duration) -> TableOut {
        TableOut {
            schema,
            pending: vec![],
            pending_rows: 0,
            pending_since: None,
            rows: 0,
            blocks: 0,
            block_rows: block_rows.max(1),
            wait,
            out,
        }
    }

    fn write(&mut self, b: &RecordBatch) -> Result<()> {
        let mut b = b.clone();
        while b.num_rows() > 0 {
            let take = b.num_rows().min(self.block_rows - self.pending_rows);
            self.pending.push(b.slice(0, take));
            self.pending_rows += take;
            self.pending_since.get_or_insert_with(tokio::time::Instant::now);
            b = b.slice(take, b.num_rows() - take);
            if self.pending_rows == self.block_rows {
                self.print_pending()?;
            }
        }
        Ok(())
    }

    /// Prints the pending rows as one block.
    fn print_pending(&mut self) -> Result<()> {
        if self.pending_rows == 0 {
            return Ok(());
        }
        let text = pretty_rows(&self.schema, &self.pending)?;
        self.rows += self.pending_rows;
        self.blocks += 1;
        self.pending.clear();
        self.pending_rows = 0;
        self.pending_since = None;
        writeln!(self.out, "{text}").and_then(|_| self.out.flush()).map_err(stdout_error)
    }

    fn finish(mut self) -> Result<()> {
        self.print_pending()?;
        if self.blocks == 0 {
            writeln!(self.out, "{}", pretty_rows(&self.schema, &[])?).map_err(stdout_error)?;
        }
        writeln!(self.out, "{}", rows_text(self.rows)).and_then(|_| self.out.flush()).map_err(stdout_error)
    }
}

/// Where `shoal read` writes its rows.
pub enum OutputSink {
    Table(TableOut),
    Csv(arrow::csv::Writer<Box<dyn Write>>),
    Jsonl(arrow::json::LineDelimitedWriter<Box<dyn Write>>),
    Parquet(ArrowWriter<File>),
}

impl OutputSink {
    pub fn new(format: OutputFormat, output: Option<&Path>, schema: SchemaRef) -> Result<OutputSink> {
        let open = |p: &Path| File::create(p).map_err(Error::local_io(format!("creating {}", p.display())));
        let out: Box<dyn Write> = match output {
            Some(p) if !matches!(format, OutputFormat::Parquet) => Box::new(std::io::BufWriter::new(open(p)?)),
            _ => Box::new(std::io::BufWriter::new(Stdout)),
        };
        Ok(match format {
            OutputFormat::Table => OutputSink::Table(TableOut::new(schema, out, TABLE_BLOCK_ROWS, TABLE_BLOCK_WAIT)),
            OutputFormat::Csv => OutputSink::Csv(arrow::csv::WriterBuilder::new().with_header(true).build(out)),
            OutputFormat::Jsonl => OutputSink::Jsonl(arrow::json::LineDelimitedWriter::new(out)),
            OutputFormat::Parquet => {
                let p = output.ok_or_else(|| Error::InvalidInput("--format parquet needs --output FILE".into()))?;
                OutputSink::Parquet(ArrowWriter::try_new(open(p)?, schema, None).map_err(parquet_error)?)
            }
        })
    }

    pub fn write(&mut self, b: &RecordBatch) -> Result<()> {
        match self {
            OutputSink::Table(t) => t.write(b)?,
            OutputSink::Csv(w) => w.write(b).map_err(Error::arrow("writing CSV"))?,
            OutputSink::Jsonl(w) => w.write(b).map_err(Error::arrow("writing JSON lines"))?,
            OutputSink::Parquet(w) => w.write(b).map_err(parquet_error)?,
        }
        Ok(())
    }

    /// Writes a stream's rows, at most `limit`. A table prints each block as soon as it is full
    /// or its rows waited [`TABLE_BLOCK_WAIT`] for more.
    pub async fn write_stream(
        &mut self,
        mut stream: BoxStream<'_, Result<RecordBatch>>,
        limit: Option<usize>,
    ) -> Result<()> {
        let mut remaining = limit.unwrap_or(usize::MAX);
        while remaining > 0 {
            let deadline = match self {
                OutputSink::Table(t) => t.pending_since.map(|since| since + t.wait),
                _ => None,
            };
            let next = match deadline {
                // Waiting on a stream's next() and dropping it at the deadline loses nothing.
                Some(at) => match tokio::time::timeout_at(at, stream.next()).await {
                    Ok(next) => next,
                    Err(_) => {
                        if let OutputSink::Table(t) = self {
                            t.print_pending()?;
                        }
                        continue;
                    }
                },
                None => stream.next().await,
            };
            let Some(b) = next else { break };
            let b = b?;
            let b = if b.num_rows() > remaining { b.slice(0, remaining) } else { b };
            remaining -= b.num_rows();
            self.write(&b)?;
        }
        Ok(())
    }

    pub fn finish(self) -> Result<()> {
        match self {
            OutputSink::Table(t) => t.finish(),
            OutputSink::Csv(w) => w.into_inner().flush().map_err(Error::local_io("writing CSV")),
            OutputSink::Jsonl(mut w) => {
                w.finish().map_err(Error::arrow("writing JSON lines"))?;
                w.into_inner().flush().map_err(Error::local_io("writing JSON lines"))
            }
            OutputSink::Parquet(w) => w.close().map(|_| ()).map_err(parquet_error),
        }
    }
}

/// A failure of the `--format parquet` writer, its cause kept: the output file's I/O error as
/// [`Error::LocalIo`] (a full disk is transient), anything else as [`Error::Internal`].
fn parquet_error(e: parquet::errors::ParquetError) -> Error {
    match e {
        parquet::errors::ParquetError::External(inner) => match inner.downcast::<std::io::Error>() {
            Ok(io) => Error::local_io("writing Parquet")(*io),
            Err(other) => Error::Internal { context: "writing Parquet".into(), source: other },
        },
        e => Error::internal("writing Parquet")(e),
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

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use arrow_array::Int64Array;
    use arrow_schema::{DataType, Field, Schema};

    use super::*;

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Shared {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    fn ids(schema: &SchemaRef, from: i64, n: i64) -> RecordBatch {
        RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from_iter_values(from..from + n))]).unwrap()
    }

    /// `shoal read --format table` of a large table: rows show while the read goes on, not after.
    #[tokio::test]
    async fn a_table_prints_its_rows_while_the_read_goes_on() {
        let schema: SchemaRef = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
        // 25 rows, then a reader that delivers nothing more (a slow split, or a huge table).
        let stream = futures::stream::iter(vec![Ok(ids(&schema, 0, 25))]).chain(futures::stream::pending()).boxed();
        let out = Shared::default();
        let table = TableOut::new(schema.clone(), Box::new(out.clone()), 10, Duration::from_millis(50));
        let mut sink = OutputSink::Table(table);
        let read = tokio::time::timeout(Duration::from_secs(1), sink.write_stream(stream, None)).await;
        assert!(read.is_err(), "the read never ends");
        let text = out.text();
        // Two full blocks at once, the last 5 rows once they waited: each block with its header.
        assert_eq!(text.matches("| id |").count(), 3, "{text}");
        assert!(text.contains("| 0  |") && text.contains("| 9  |") && text.contains("| 24 |"), "{text}");
    }

    #[tokio::test]
    async fn a_table_output_counts_its_rows_and_keeps_the_limit() {
        let schema: SchemaRef = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
        let stream = futures::stream::iter(vec![Ok(ids(&schema, 0, 7)), Ok(ids(&schema, 7, 7))]).boxed();
        let out = Shared::default();
        let mut sink = OutputSink::Table(TableOut::new(schema.clone(), Box::new(out.clone()), 5, TABLE_BLOCK_WAIT));
        sink.write_stream(stream, Some(12)).await.unwrap();
        sink.finish().unwrap();
        let text = out.text();
        assert_eq!(text.matches("| id |").count(), 3, "{text}");
        assert!(text.contains("| 11 |") && !text.contains("| 12 |") && text.ends_with("12 rows\n"), "{text}");
    }

    /// An empty result shows its columns, not `++` / `++`.
    #[test]
    fn an_empty_result_prints_its_header() {
        let schema: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ]));
        let out = Shared::default();
        TableOut::new(schema.clone(), Box::new(out.clone()), 5, TABLE_BLOCK_WAIT).finish().unwrap();
        assert_eq!(out.text(), "+----+------+\n| id | name |\n+----+------+\n+----+------+\n0 rows\n");
        assert!(pretty_rows(&schema, &[]).unwrap().contains("| id | name |"));
    }
}
