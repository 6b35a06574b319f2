//! The initial copy: a table read with `COPY ... TO STDOUT` at the exported snapshot, into the
//! table's writer in bounded batches, with a progress line.

use tokio_postgres::Client;

use super::*;

/// Copies one table at the copy transaction's snapshot into its sink (not committed):
/// `COPY (SELECT <columns> FROM <table>) TO STDOUT` in text format (the values spelled as in
/// the stream), read into Arrow batches of [`COPY_BATCH_ROWS`] rows (fewer when wide) that go
/// to the writer as they fill, so memory stays bounded (the writer spills).
pub(super) async fn copy_table(client: &Client, t: &mut Target, progress: &mut CopyProgress) -> Result<u64> {
    use futures::StreamExt;
    let cols: Vec<String> = t.source.columns.iter().map(|c| quote_ident(&c.0)).collect();
    // For each Postgres column, the table column it fills (None: the table has no such column).
    let map: Vec<Option<usize>> =
        t.source.columns.iter().map(|c| t.fields.iter().position(|(n, _)| n == &c.0)).collect();
    let sql = format!("COPY (SELECT {} FROM {}) TO STDOUT", cols.join(", "), t.source.qualified());
    let stream = client.copy_out(&sql).await.map_err(pg_err(format!("copying {}", t.key)))?;
    let mut stream = std::pin::pin!(stream);
    let schema = t.sink.table().arrow_schema();
    let mut text = pgtypes::CopyText::new(cols.len());
    let mut total = 0u64;
    loop {
        let chunk = stream.next().await.transpose().map_err(pg_err(format!("copying {}", t.key)))?;
        if let Some(c) = &chunk {
            text.feed(c).map_err(|e| invalid(format!("copying Postgres table {}: {e}", t.key)))?;
        }
        let done = chunk.is_none();
        if text.rows() >= COPY_BATCH_ROWS || text.bytes() >= COPY_BATCH_BYTES || (done && text.rows() > 0) {
            let n = text.rows();
            let mut columns: Vec<Option<ArrayRef>> = vec![None; t.fields.len()];
            for (ci, col) in text.take().into_iter().enumerate() {
                let Some(fi) = map[ci] else { continue };
                let (name, dt) = &t.fields[fi];
                columns[fi] = Some(
                    col.into_array(dt)
                        .map_err(|e| invalid(format!("Postgres table {}, column {name:?}: {e}", t.key)))?,
                );
            }
            let columns: Vec<ArrayRef> = columns
                .into_iter()
                .zip(&t.fields)
                .map(|(c, (_, dt))| c.unwrap_or_else(|| arrow_array::new_null_array(&dt.to_arrow(), n)))
                .collect();
            let batch = RecordBatch::try_new(schema.clone(), columns).map_err(Error::arrow("building copied rows"))?;
            t.sink.write(&batch, &vec![RowKind::Insert; n]).await?;
            total += n as u64;
            progress.rows(n as u64);
        }
        if done {
            text.finish().map_err(|e| invalid(format!("copying Postgres table {}: {e}", t.key)))?;
            return Ok(total);
        }
    }
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
