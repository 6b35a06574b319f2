//! Encodes sorted rows into Parquet data files rolled at `target-file-size`, and describes each
//! file with Paimon's DataFileMeta (key range, statistics, sequence range, delete count).
//!
//! Encoding is CPU work and runs on a blocking thread, column by column on threads of their own,
//! while the rows come ([`RollingWriter`]); each file is uploaded as it is encoded.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, Int8Type};
use arrow_array::{Array, RecordBatch};
use bytes::Bytes;
use parquet::arrow::arrow_writer::{ArrowColumnChunk, ArrowColumnWriter, ArrowLeafColumn};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::data_file::decoded_files::Held;
use crate::data_file::stats::StatsAccumulator;
use crate::data_file::DecodedFiles;
use crate::error::{Error, Result};
use crate::io::FileIO;
use crate::spec::data_file::{KEY_FIELD_PREFIX, SEQUENCE_NUMBER};
use crate::spec::options::StatsMode;
use crate::spec::{BinaryRowWriter, DataFileMeta, DataType, FileSource, NullStyle, RowKind, SimpleStats, TableSchema};

/// What the writer needs to know about the table, shared by every bucket.
#[derive(Debug)]
pub(crate) struct FileWriterConfig {
    pub schema: Arc<TableSchema>,
    pub props: WriterProperties,
    pub target_file_size: u64,
    pub stats_mode: StatsMode,
    pub is_primary_key: bool,
    /// Number of `_KEY_` columns at the front of a key-value batch.
    pub key_count: usize,
    pub key_types: Vec<DataType>,
    pub value_types: Vec<DataType>,
}

impl FileWriterConfig {
    pub(crate) fn new(schema: Arc<TableSchema>) -> Result<FileWriterConfig> {
        let opts = schema.core_options();
        let compression = match opts.file_compression().as_str() {
            "zstd" => Compression::ZSTD(
                ZstdLevel::try_new(opts.zstd_level()?)
                    .map_err(|e| Error::InvalidOptionValue(format!("file.compression.zstd-level: {e}")))?,
            ),
            "snappy" => Compression::SNAPPY,
            "lz4" => Compression::LZ4_RAW,
            "gzip" => Compression::GZIP(Default::default()),
            _ => Compression::UNCOMPRESSED,
        };
        let is_primary_key = !schema.primary_keys.is_empty();
        let key_fields = schema.trimmed_key_fields();
        let mut props = WriterProperties::builder()
            .set_compression(compression)
            .set_data_page_size_limit(opts.page_size()? as usize)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .set_statistics_enabled(EnabledStatistics::Chunk)
            .set_created_by("shoal (Apache Paimon format)".to_string());
        // Dictionary encoding is off unless `parquet.enable.dictionary = true` (Paimon passes
        // `parquet.*` options to the writer): on the orders workload plain encoding + zstd wrote
        // 40% faster and 23% smaller files than dictionary + zstd (see tools/bench_orders).
        let dictionary =
            opts.get("parquet.enable.dictionary").map(|v| v.trim().eq_ignore_ascii_case("true")).unwrap_or(false);
        props = props.set_dictionary_enabled(dictionary);
        if is_primary_key && dictionary {
            // Keys and sequence numbers are unique within a file: a dictionary is pure overhead.
            let mut unique: Vec<String> = key_fields.iter().map(|f| format!("{KEY_FIELD_PREFIX}{}", f.name)).collect();
            unique.push(SEQUENCE_NUMBER.to_string());
            if key_fields.len() == 1 {
                unique.push(key_fields[0].name.clone());
            }
            for c in unique {
                props = props.set_column_dictionary_enabled(ColumnPath::from(c), false);
            }
        }
        let props = props.build();
        Ok(FileWriterConfig {
            props,
            target_file_size: opts.target_file_size()?,
            stats_mode: opts.stats_mode()?,
            is_primary_key,
            key_count: if is_primary_key { key_fields.len() } else { 0 },
            key_types: key_fields.iter().map(|f| f.data_type.clone()).collect(),
            value_types: schema.fields.iter().map(|f| f.data_type.clone()).collect(),
            schema,
        })
    }

    /// Offset of the first value column in a data-file batch.
    pub(crate) fn value_offset(&self) -> usize {
        if self.is_primary_key {
            self.key_count + 2
        } else {
            0
        }
    }
}

/// The writer's local wall-clock time as epoch millis, as Paimon records `_CREATION_TIME`.
pub(crate) fn local_now_millis() -> i64 {
    chrono::Local::now().naive_local().and_utc().timestamp_millis()
}

/// A file stays in memory until it reaches this many bytes and is then sent as one PUT;
/// beyond, it goes out as a multipart upload of parts of this size while it is encoded (object
/// stores take parts of 5 MiB and more), one part in flight at a time.
const PART_BYTES: usize = 5 << 20;

/// Row groups close at this many rows, or at this many bytes of Arrow data, whichever comes
/// first: the encoded pages of an open row group stay in memory until it closes, and a reader
/// fetches a row group's column chunks at once, so both sides hold at most about one group per
/// file (a few MiB compressed).
pub(crate) const ROW_GROUP_ROWS: usize = 64 * 1024;
const ROW_GROUP_ARROW_BYTES: usize = 16 << 20;

/// Rows handed to the encoders at a time: the granularity at which a file may roll.
const SLICE_ROWS: usize = 8192;

fn io_error(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// Where the bytes of a file being encoded go: a buffer sent as one PUT when the file ends
/// small, else the parts of a multipart upload, sent as they fill (bounded memory for files of
/// any size). Runs on a blocking thread (it blocks on the runtime for uploads).
struct UploadSink {
    io: FileIO,
    path: String,
    handle: tokio::runtime::Handle,
    buf: Vec<u8>,
    upload: Option<object_store::WriteMultipart>,
    /// Bytes of the file so far.
    written: usize,
}

impl UploadSink {
    fn send_part(&mut self) -> std::io::Result<()> {
        if self.upload.is_none() {
            let location = self.io.path(&self.path);
            let up = self
                .handle
                .block_on(object_store::ObjectStoreExt::put_multipart(self.io.store().as_ref(), &location))
                .map_err(io_error)?;
            self.upload = Some(object_store::WriteMultipart::new_with_chunk_size(up, PART_BYTES));
        }
        let up = self.upload.as_mut().expect("started above");
        let _runtime = self.handle.enter();
        up.put(Bytes::from(std::mem::take(&mut self.buf)));
        self.handle.block_on(up.wait_for_capacity(1)).map_err(io_error)
    }

    /// Sends what is left and completes the file.
    fn finish(mut self) -> Result<()> {
        match self.upload.take() {
            None => Ok(self.handle.block_on(self.io.write(&self.path, std::mem::take(&mut self.buf)))?),
            Some(mut up) => {
                let _runtime = self.handle.enter();
                up.put(Bytes::from(std::mem::take(&mut self.buf)));
                self.handle
                    .block_on(up.finish())
                    .map_err(|e| Error::data_file(&self.path, format!("upload failed: {e}")))?;
                Ok(())
            }
        }
    }
}

impl Drop for UploadSink {
    fn drop(&mut self) {
        // A file given up (an error, a dropped writer): its upload is aborted, nothing is left.
        // Spawned, not waited for: a drop may happen anywhere, on the runtime too.
        if let Some(up) = self.upload.take() {
            self.handle.spawn(async move {
                let _ = up.abort().await;
            });
        }
    }
}

impl std::io::Write for UploadSink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        // Parts of exactly PART_BYTES, in a buffer that never grows past one part (a column
        // chunk of several MiB arrives in one call).
        let mut rest = data;
        while !rest.is_empty() {
            let take = (PART_BYTES - self.buf.len()).min(rest.len());
            let needed = self.buf.len() + take;
            if needed > self.buf.capacity() {
                let grown = (2 * self.buf.capacity()).clamp(needed, PART_BYTES);
                self.buf.reserve_exact(grown - self.buf.len());
            }
            self.buf.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.buf.len() >= PART_BYTES {
                self.send_part()?;
                self.buf = Vec::with_capacity(PART_BYTES);
            }
        }
        self.written += data.len();
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The metadata of a file whose rows come batch by batch (Paimon's DataFileMeta: key range,
/// statistics, sequence range, delete count).
struct MetaBuilder {
    rows: usize,
    value_stats: StatsAccumulator,
    key_stats: StatsAccumulator,
    min_key: Option<crate::spec::BinaryRow>,
    max_key: Option<crate::spec::BinaryRow>,
    seq: Option<(i64, i64)>,
    deletes: usize,
}

impl MetaBuilder {
    fn new(cfg: &FileWriterConfig) -> MetaBuilder {
        MetaBuilder {
            rows: 0,
            value_stats: StatsAccumulator::new(&cfg.value_types, cfg.stats_mode),
            key_stats: StatsAccumulator::new(&cfg.key_types, cfg.stats_mode),
            min_key: None,
            max_key: None,
            seq: None,
            deletes: 0,
        }
    }

    fn update(&mut self, cfg: &FileWriterConfig, batch: &RecordBatch) -> Result<()> {
        let n = batch.num_rows();
        if n == 0 {
            return Ok(());
        }
        self.rows += n;
        let vo = cfg.value_offset();
        let value_cols: Vec<&dyn Array> = batch.columns()[vo..].iter().map(|c| c.as_ref()).collect();
        self.value_stats.update(&value_cols);
        if !cfg.is_primary_key {
            return Ok(());
        }
        let k = cfg.key_count;
        let key_cols: Vec<&dyn Array> = batch.columns()[..k].iter().map(|c| c.as_ref()).collect();
        self.key_stats.update(&key_cols);
        let key_row = |i: usize| -> Result<crate::spec::BinaryRow> {
            let mut w = BinaryRowWriter::new(k);
            for (pos, (col, t)) in key_cols.iter().zip(&cfg.key_types).enumerate() {
                w.write_from_array(pos, *col, i, t, NullStyle::Projection)?;
            }
            Ok(w.to_row())
        };
        // Rows come sorted by key: the first row's key is the file's smallest, the last's its largest.
        if self.min_key.is_none() {
            self.min_key = Some(key_row(0)?);
        }
        self.max_key = Some(key_row(n - 1)?);
        let seq = batch.column(k).as_primitive::<Int64Type>();
        let (lo, hi) = (arrow_arith::aggregate::min(seq).unwrap_or(0), arrow_arith::aggregate::max(seq).unwrap_or(0));
        self.seq = Some(self.seq.map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi))));
        let kinds = batch.column(k + 1).as_primitive::<Int8Type>();
        self.deletes +=
            kinds.values().iter().filter(|b| RowKind::from_byte(**b).is_some_and(RowKind::is_retract)).count();
        Ok(())
    }

    /// `append_seq`: for append tables (no sequence column), the first sequence number of the
    /// file's rows, advanced past them.
    #[allow(clippy::too_many_arguments)] // the file (name, size, level, source) and what it holds
    fn finish(
        self,
        cfg: &FileWriterConfig,
        file_name: String,
        file_size: i64,
        level: i32,
        source: FileSource,
        append_seq: Option<&mut i64>,
    ) -> DataFileMeta {
        let rows = self.rows as i64;
        let (min_seq, max_seq) = match append_seq {
            Some(next) => {
                let first = *next;
                *next += rows;
                (first, first + rows - 1)
            }
            None => self.seq.unwrap_or((0, 0)),
        };
        let empty = crate::spec::BinaryRow::empty;
        DataFileMeta {
            file_name,
            file_size,
            row_count: rows,
            min_key: self.min_key.unwrap_or_else(empty),
            max_key: self.max_key.unwrap_or_else(empty),
            key_stats: if cfg.is_primary_key { self.key_stats.finish() } else { SimpleStats::empty() },
            value_stats: self.value_stats.finish(),
            min_sequence_number: min_seq,
            max_sequence_number: max_seq,
            schema_id: cfg.schema.id,
            level,
            extra_files: vec![],
            creation_time: Some(local_now_millis()),
            delete_row_count: Some(self.deletes as i64),
            embedded_index: None,
            file_source: Some(source),
            value_stats_cols: None,
            external_path: None,
        }
    }
}

/// A file being written by a [`RollingWriter`].
struct OpenFile {
    name: String,
    encoders: ColumnEncoders<UploadSink>,
    meta: MetaBuilder,
    /// The rows written, while they fit the decoded-files cache's free room.
    kept: Option<(Vec<RecordBatch>, Held)>,
}

/// Writes rows in data-file layout (sorted by key for primary-key tables) into Parquet files
/// rolled at `target-file-size`, encoding while the rows come (columns on threads of their own)
/// and uploading each file as it fills: memory stays at about a row group and an upload part
/// per open file, whatever the size of what is written. Runs on a blocking thread.
pub(crate) struct RollingWriter {
    cfg: Arc<FileWriterConfig>,
    io: FileIO,
    dir: String,
    handle: tokio::runtime::Handle,
    schema: arrow_schema::SchemaRef,
    level: i32,
    source: FileSource,
    names: Arc<dyn Fn() -> String + Send + Sync>,
    keep: Option<DecodedFiles>,
    /// Append tables: the sequence number of the next row.
    append_seq: Option<i64>,
    open: Option<OpenFile>,
    done: Vec<DataFileMeta>,
    /// Encoded bytes per Arrow byte, learned from closed row groups (estimates an open file's size).
    ratio: f64,
}

impl RollingWriter {
    /// A writer of files named by `names` into the bucket directory `dir`, in `schema` (the
    /// data-file layout). With `keep`, the rows of files small enough for its free room stay
    /// there decoded (see [`DecodedFiles`]).
    #[allow(clippy::too_many_arguments)] // where (io, dir, names), what (cfg, schema, level, source), and the cache
    pub(crate) fn new(
        cfg: Arc<FileWriterConfig>,
        io: FileIO,
        dir: &str,
        schema: arrow_schema::SchemaRef,
        level: i32,
        source: FileSource,
        names: Arc<dyn Fn() -> String + Send + Sync>,
        keep: Option<DecodedFiles>,
    ) -> RollingWriter {
        RollingWriter {
            cfg,
            io,
            dir: dir.to_string(),
            handle: tokio::runtime::Handle::current(),
            schema,
            level,
            source,
            names,
            keep,
            append_seq: None,
            open: None,
            done: vec![],
            ratio: 1.0,
        }
    }

    /// Append tables: the rows' sequence numbers start at `first` (they have no sequence column).
    pub(crate) fn with_append_sequence(mut self, first: i64) -> Self {
        self.append_seq = Some(first);
        self
    }

    fn open_file(&mut self) -> Result<&mut OpenFile> {
        if self.open.is_none() {
            let name = (self.names)();
            let sink = UploadSink {
                io: self.io.clone(),
                path: format!("{}/{name}", self.dir),
                handle: self.handle.clone(),
                buf: Vec::with_capacity(1 << 20),
                upload: None,
                written: 0,
            };
            let encoders = ColumnEncoders::start(&self.cfg, self.schema.clone(), &name, sink)?;
            let kept = self.keep.as_ref().map(|k| (vec![], k.hold()));
            self.open = Some(OpenFile { name, encoders, meta: MetaBuilder::new(&self.cfg), kept });
        }
        Ok(self.open.as_mut().expect("opened above"))
    }

    /// Writes the next rows (in order after the previous ones).
    pub(crate) fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let mut at = 0;
        while at < batch.num_rows() {
            let len = SLICE_ROWS.min(batch.num_rows() - at);
            let rows = batch.slice(at, len);
            at += len;
            let cfg = self.cfg.clone();
            let file = self.open_file()?;
            file.encoders.write(&rows)?;
            file.meta.update(&cfg, &rows)?;
            if let Some((kept, held)) = &mut file.kept {
                if held.grow(rows.get_array_memory_size()) {
                    kept.push(rows);
                } else {
                    file.kept = None; // no room to keep it: read back if ever needed
                }
            }
            if let Some(r) = file.encoders.learned_ratio() {
                self.ratio = r;
            }
            let file = self.open.as_ref().expect("open");
            if file.encoders.estimated_size(self.ratio) >= self.cfg.target_file_size as f64 {
                self.close_file()?;
            }
        }
        Ok(())
    }

    fn close_file(&mut self) -> Result<()> {
        let Some(file) = self.open.take() else { return Ok(()) };
        let sink = file.encoders.finish()?;
        let size = sink.written;
        sink.finish()?;
        let meta =
            file.meta.finish(&self.cfg, file.name, size as i64, self.level, self.source, self.append_seq.as_mut());
        if let (Some(keep), Some((kept, held))) = (&self.keep, file.kept) {
            keep.insert_held(&meta.file_name, kept, held);
        }
        self.done.push(meta);
        Ok(())
    }

    /// Closes the last file; the files written, in order.
    pub(crate) fn finish(mut self) -> Result<Vec<DataFileMeta>> {
        match &self.open {
            Some(f) if f.meta.rows == 0 => self.open = None, // nothing came after the last roll
            _ => self.close_file()?,
        }
        Ok(std::mem::take(&mut self.done))
    }
}

/// One column writer's work, sent to the thread that owns the writer.
enum ColumnJob {
    /// The writers of a new row group (with their leaf positions).
    Start(Vec<(usize, ArrowColumnWriter)>),
    /// The next rows of each writer's leaf, in the same order.
    Write(Vec<ArrowLeafColumn>),
    /// Close the row group's writers and send back their chunks.
    Close,
}

type ClosedChunks = std::result::Result<Vec<(usize, ArrowColumnChunk)>, parquet::errors::ParquetError>;

/// Jobs queued per encoder thread: the caller runs at most this far ahead of the encoders.
const QUEUED_JOBS: usize = 4;

/// One Parquet file whose leaf columns are encoded on threads of their own (leaf i on thread
/// i mod n; parquet's `ArrowColumnWriter`s), while the caller goes on producing rows: the same
/// bytes layout as [`ArrowWriter`] writes, row groups closed at [`ROW_GROUP_ROWS`] rows or
/// [`ROW_GROUP_ARROW_BYTES`] (or the writer's row-group size, if smaller), the Arrow schema in
/// the footer. Before this, one bucket's big compaction merged on one core and then encoded,
/// leaving the other cores idle.
struct ColumnEncoders<W: std::io::Write + Send> {
    name: String,
    schema: arrow_schema::SchemaRef,
    file: parquet::file::writer::SerializedFileWriter<W>,
    factory: parquet::arrow::arrow_writer::ArrowRowGroupWriterFactory,
    jobs: Vec<std::sync::mpsc::SyncSender<ColumnJob>>,
    chunks: std::sync::mpsc::Receiver<ClosedChunks>,
    threads: Vec<std::thread::JoinHandle<()>>,
    group_rows: usize,
    /// Rows and Arrow bytes in the open row group; None when no group is open.
    open: Option<(usize, usize)>,
    next_group: usize,
    /// Arrow bytes of the closed row groups, and what they encoded to.
    closed_arrow: usize,
    closed_encoded: usize,
}

impl<W: std::io::Write + Send> ColumnEncoders<W> {
    fn start(cfg: &FileWriterConfig, schema: arrow_schema::SchemaRef, name: &str, out: W) -> Result<Self> {
        let writer = ArrowWriter::try_new(out, schema.clone(), Some(cfg.props.clone()))
            .map_err(|e| Error::data_file(name, e))?;
        let (file, factory) = writer.into_serialized_writer().map_err(|e| Error::data_file(name, e))?;
        let n = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).clamp(1, 8);
        let (chunk_tx, chunks) = std::sync::mpsc::channel();
        let mut jobs = vec![];
        let mut threads = vec![];
        for _ in 0..n {
            let (tx, rx) = std::sync::mpsc::sync_channel::<ColumnJob>(QUEUED_JOBS);
            let chunk_tx = chunk_tx.clone();
            threads.push(std::thread::spawn(move || encode_columns(rx, chunk_tx)));
            jobs.push(tx);
        }
        let group_rows = cfg.props.max_row_group_row_count().unwrap_or(ROW_GROUP_ROWS).clamp(1, ROW_GROUP_ROWS);
        Ok(ColumnEncoders {
            name: name.to_string(),
            schema,
            file,
            factory,
            jobs,
            chunks,
            threads,
            group_rows,
            open: None,
            next_group: 0,
            closed_arrow: 0,
            closed_encoded: 0,
        })
    }

    fn send(&self, thread: usize, job: ColumnJob) -> Result<()> {
        self.jobs[thread].send(job).map_err(|_| Error::data_file(&self.name, "a column encoder thread stopped"))
    }

    /// Encoded bytes per Arrow byte over the closed row groups, once there is one.
    fn learned_ratio(&self) -> Option<f64> {
        (self.closed_arrow > 0).then(|| self.closed_encoded as f64 / self.closed_arrow as f64)
    }

    /// The file's size so far: what closed row groups wrote, and the open one's Arrow bytes
    /// times `ratio`.
    fn estimated_size(&self, ratio: f64) -> f64 {
        self.file.bytes_written() as f64 + self.open.map_or(0.0, |(_, bytes)| bytes as f64 * ratio)
    }

    /// Hands the batch's columns to the encoder threads (closing row groups as they fill).
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        use parquet::arrow::arrow_writer::compute_leaves;
        let n = self.jobs.len();
        let mut at = 0;
        while at < batch.num_rows() {
            let (open_rows, open_bytes) = match self.open {
                Some(open) => open,
                None => {
                    let writers = self
                        .factory
                        .create_column_writers(self.next_group)
                        .map_err(|e| Error::data_file(&self.name, e))?;
                    self.next_group += 1;
                    let mut shares: Vec<Vec<(usize, ArrowColumnWriter)>> = (0..n).map(|_| vec![]).collect();
                    for (i, w) in writers.into_iter().enumerate() {
                        shares[i % n].push((i, w));
                    }
                    for (t, share) in shares.into_iter().enumerate() {
                        self.send(t, ColumnJob::Start(share))?;
                    }
                    (0, 0)
                }
            };
            let take = (self.group_rows - open_rows).min(batch.num_rows() - at);
            let rows = batch.slice(at, take);
            at += take;
            let bytes = open_bytes + rows.get_array_memory_size();
            let mut shares: Vec<Vec<ArrowLeafColumn>> = (0..n).map(|_| vec![]).collect();
            let mut leaf = 0;
            for (field, column) in self.schema.fields().iter().zip(rows.columns()) {
                for l in compute_leaves(field, column).map_err(|e| Error::data_file(&self.name, e))? {
                    shares[leaf % n].push(l);
                    leaf += 1;
                }
            }
            for (t, share) in shares.into_iter().enumerate() {
                self.send(t, ColumnJob::Write(share))?;
            }
            self.open = Some((open_rows + take, bytes));
            if open_rows + take == self.group_rows || bytes >= ROW_GROUP_ARROW_BYTES {
                self.close_group()?;
            }
        }
        Ok(())
    }

    /// Waits for every thread's chunks of the open row group and appends them in leaf order.
    fn close_group(&mut self) -> Result<()> {
        let Some((_, arrow_bytes)) = self.open.take() else { return Ok(()) };
        for t in 0..self.jobs.len() {
            self.send(t, ColumnJob::Close)?;
        }
        let mut chunks = vec![];
        for _ in 0..self.jobs.len() {
            let closed =
                self.chunks.recv().map_err(|_| Error::data_file(&self.name, "a column encoder thread stopped"))?;
            chunks.extend(closed.map_err(|e| Error::data_file(&self.name, e))?);
        }
        chunks.sort_by_key(|(i, _)| *i);
        let before = self.file.bytes_written();
        let mut group = self.file.next_row_group().map_err(|e| Error::data_file(&self.name, e))?;
        for (_, chunk) in chunks {
            chunk.append_to_row_group(&mut group).map_err(|e| Error::data_file(&self.name, e))?;
        }
        group.close().map_err(|e| Error::data_file(&self.name, e))?;
        self.closed_arrow += arrow_bytes;
        self.closed_encoded += self.file.bytes_written() - before;
        Ok(())
    }

    /// Closes the last row group and the file (footer written); the threads end.
    fn finish(mut self) -> Result<W> {
        self.close_group()?;
        self.jobs.clear();
        for t in self.threads.drain(..) {
            t.join().map_err(|_| Error::data_file(&self.name, "a column encoder panicked"))?;
        }
        self.file.into_inner().map_err(|e| Error::data_file(&self.name, e))
    }
}

/// A column encoder thread: owns its share of each row group's writers; the first failure is
/// reported when the row group closes. Ends when the file's encoders are dropped.
fn encode_columns(jobs: std::sync::mpsc::Receiver<ColumnJob>, chunks: std::sync::mpsc::Sender<ClosedChunks>) {
    let mut writers: Vec<(usize, ArrowColumnWriter)> = vec![];
    let mut failed = None;
    for job in jobs {
        match job {
            ColumnJob::Start(w) => writers = w,
            ColumnJob::Write(leaves) => {
                if failed.is_none() {
                    for ((_, w), leaf) in writers.iter_mut().zip(&leaves) {
                        if let Err(e) = w.write(leaf) {
                            failed = Some(e);
                            break;
                        }
                    }
                }
            }
            ColumnJob::Close => {
                let closed = match failed.take() {
                    Some(e) => Err(e),
                    None => writers.drain(..).map(|(i, w)| w.close().map(|c| (i, c))).collect(),
                };
                writers.clear();
                if chunks.send(closed).is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
