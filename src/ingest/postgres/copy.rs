//! The initial copy: a table read with `COPY ... TO STDOUT` at the exported snapshot, into the
//! table's writer in bounded batches, with a progress line.

use tokio_postgres::Client;

use super::*;

/// Bytes of `COPY` data the reader gathers before handing them to the parser: many rows (Postgres
/// sends a message per row), so the parser reads long runs of text.
const COPY_CHUNK_BYTES: usize = 64 << 10;
/// Chunks and batches in flight between the reader, the parser and the writer: what bounds the
/// copy's memory beside the writer's own.
const CHUNKS_IN_FLIGHT: usize = 4;
const BATCHES_IN_FLIGHT: usize = 2;

/// What the reader hands the parser.
enum Chunk {
    Data(Vec<u8>),
    /// The copy ended (all its data was sent).
    End,
    Failed(Error),
}

/// Copies one table at the copy transaction's snapshot into its sink (not committed):
/// `COPY (SELECT <columns> FROM <table>) TO STDOUT` in text format (the values spelled as in
/// the stream), read into Arrow batches of about [`COPY_BATCH_ROWS`] rows (fewer when wide) that
/// go to the writer as they fill, so memory stays bounded (the writer spills).
///
/// Three stages run at once, joined by bounded channels, so that the copy uses more than one
/// core: a task reads the copy's messages into chunks of [`COPY_CHUNK_BYTES`]; a blocking thread
/// splits them into fields and converts the columns into Arrow batches; this task hands the
/// batches to the writer (whose encoders have threads of their own). Before, one task did all
/// three in turn.
pub(super) async fn copy_table(client: &Client, t: &mut Target, progress: &mut CopyProgress) -> Result<u64> {
    use futures::StreamExt;
    let cols: Vec<String> = t.source.columns.iter().map(|c| quote_ident(&c.0)).collect();
    // For each Postgres column, the table column it fills (None: the table has no such column).
    let map: Vec<Option<usize>> =
        t.source.columns.iter().map(|c| t.fields.iter().position(|(n, _)| n == &c.0)).collect();
    let sql = format!("COPY (SELECT {} FROM {}) TO STDOUT", cols.join(", "), t.source.qualified());
    let stream = client.copy_out(&sql).await.map_err(pg_err(format!("copying {}", t.key)))?;

    let (chunk_tx, mut chunk_rx) = tokio::sync::mpsc::channel::<Chunk>(CHUNKS_IN_FLIGHT);
    let key = t.key.clone();
    let reader = tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        let mut chunk = Vec::with_capacity(COPY_CHUNK_BYTES);
        loop {
            let message = match stream.next().await {
                Some(Ok(m)) => m,
                Some(Err(e)) => {
                    let _ = chunk_tx.send(Chunk::Failed(pg_err(format!("copying {key}"))(e))).await;
                    return;
                }
                None => break,
            };
            chunk.extend_from_slice(&message);
            if chunk.len() >= COPY_CHUNK_BYTES {
                let full = std::mem::replace(&mut chunk, Vec::with_capacity(COPY_CHUNK_BYTES));
                if chunk_tx.send(Chunk::Data(full)).await.is_err() {
                    return; // the parser stopped (its error is reported)
                }
            }
        }
        if !chunk.is_empty() && chunk_tx.send(Chunk::Data(chunk)).await.is_err() {
            return;
        }
        let _ = chunk_tx.send(Chunk::End).await;
    });

    let (batch_tx, mut batch_rx) = tokio::sync::mpsc::channel::<RecordBatch>(BATCHES_IN_FLIGHT);
    let (key, fields, schema) = (t.key.clone(), t.fields.clone(), t.sink.table().arrow_schema());
    let parser = tokio::task::spawn_blocking(move || -> Result<()> {
        let failed = |e: String| invalid(format!("copying Postgres table {key}: {e}"));
        let mut text = pgtypes::CopyText::new(map.len());
        loop {
            let done = match chunk_rx.blocking_recv() {
                Some(Chunk::Data(c)) => {
                    text.feed(&c).map_err(failed)?;
                    false
                }
                Some(Chunk::End) => true,
                Some(Chunk::Failed(e)) => return Err(e),
                None => return Err(failed("the copy's reader stopped".into())),
            };
            if text.rows() >= COPY_BATCH_ROWS || text.bytes() >= COPY_BATCH_BYTES || (done && text.rows() > 0) {
                let batch = to_batch(&mut text, &map, &fields, &schema, &key)?;
                if batch_tx.blocking_send(batch).is_err() {
                    return Ok(()); // the writer stopped (its error is reported)
                }
            }
            if done {
                return text.finish().map_err(failed);
            }
        }
    });

    let mut total = 0u64;
    let mut kinds = vec![];
    let written: Result<()> = async {
        while let Some(batch) = batch_rx.recv().await {
            let n = batch.num_rows();
            kinds.resize(n, RowKind::Insert);
            t.sink.write(&batch, &kinds).await?;
            total += n as u64;
            progress.rows(n as u64);
        }
        Ok(())
    }
    .await;
    drop(batch_rx);
    if written.is_err() {
        reader.abort(); // (the parser then stops too)
    }
    let parsed = parser.await.unwrap_or_else(|e| Err(Error::join("parsing the copy")(e)));
    let result = written.and(parsed);
    match result {
        Ok(()) => {
            let _ = reader.await;
            Ok(total)
        }
        Err(e) => {
            reader.abort();
            Err(e)
        }
    }
}

/// The rows gathered in `text` as a batch of the table's columns (`map`: for each Postgres
/// column, the table column it fills; the table's others are null).
fn to_batch(
    text: &mut pgtypes::CopyText,
    map: &[Option<usize>],
    fields: &[(String, DataType)],
    schema: &arrow_schema::SchemaRef,
    key: &str,
) -> Result<RecordBatch> {
    let n = text.rows();
    let mut columns: Vec<Option<ArrayRef>> = vec![None; fields.len()];
    for (ci, col) in text.take().into_iter().enumerate() {
        let Some(fi) = map[ci] else { continue };
        let (name, dt) = &fields[fi];
        columns[fi] =
            Some(col.into_array(dt).map_err(|e| invalid(format!("Postgres table {key}, column {name:?}: {e}")))?);
    }
    let columns: Vec<ArrayRef> = columns
        .into_iter()
        .zip(fields)
        .map(|(c, (_, dt))| c.unwrap_or_else(|| arrow_array::new_null_array(&dt.to_arrow(), n)))
        .collect();
    RecordBatch::try_new(schema.clone(), columns).map_err(Error::arrow("building copied rows"))
}

/// The snapshot copy's progress on stderr: a progress bar (rows, rows/s, tables done) when
/// stderr is a terminal, else a status line every `every`; nothing when quiet.
pub(super) struct CopyProgress {
    bar: Option<indicatif::ProgressBar>,
    every: Option<Duration>,
    started: Instant,
    last_line: Instant,
    rows: u64,
    tables: usize,
    done: usize,
    current: String,
}

impl CopyProgress {
    pub(super) fn new(every: Option<Duration>, tables: usize) -> CopyProgress {
        use std::io::IsTerminal;
        let bar = (every.is_some() && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} copying {msg}: {human_pos} rows ({per_sec}, {elapsed})",
                )
                .expect("static template"),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        CopyProgress {
            bar,
            every,
            started: Instant::now(),
            last_line: Instant::now(),
            rows: 0,
            tables,
            done: 0,
            current: String::new(),
        }
    }

    pub(super) fn rate(&self) -> f64 {
        self.rows as f64 / self.started.elapsed().as_secs_f64().max(1e-3)
    }

    pub(super) fn start_table(&mut self, name: &str) {
        self.current = name.to_string();
        if let Some(bar) = &self.bar {
            bar.set_message(format!("{name} ({}/{} tables done)", self.done, self.tables));
        }
    }

    pub(super) fn rows(&mut self, n: u64) {
        self.rows += n;
        if let Some(bar) = &self.bar {
            bar.set_position(self.rows);
        } else if self.every.is_some_and(|every| self.last_line.elapsed() >= every) {
            eprintln!(
                "shoal ingest: copying {}: {} rows, {:.0} rows/s; {}/{} tables done",
                self.current,
                self.rows,
                self.rate(),
                self.done,
                self.tables
            );
            self.last_line = Instant::now();
        }
    }

    pub(super) fn table_done(&mut self, rows: u64) {
        self.done += 1;
        let line = format!(
            "shoal ingest: copied {} ({rows} rows); {} rows, {:.0} rows/s overall; {}/{} tables done",
            self.current,
            self.rows,
            self.rate(),
            self.done,
            self.tables
        );
        match &self.bar {
            Some(bar) => bar.println(line),
            None if self.every.is_some() => eprintln!("{line}"),
            None => {}
        }
    }
}

impl Drop for CopyProgress {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
