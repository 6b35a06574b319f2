//! Writes of a postpone-bucket table (`bucket = -2`, Paimon 1.x): rows are not given a bucket
//! when written. Each partition's rows go, as they come (no sort, no merge: every event kept
//! with its row kind, in arrival order), into level-0 files of the partition's
//! `bucket-postpone` directory, committed as bucket -2 with `totalBuckets = -2`. A compaction
//! (`maintenance::postpone`) later replays them, file by file in creation order, into real
//! buckets; until then batch reads do not see them.
//!
//! As Paimon's PostponeBucketFileStoreWrite, the files of one writer share the name prefix
//! `data--u-<writer uuid>-s-<writer number>-w-` (Paimon: `<data-file.prefix>-u-<commit user>-s-
//! <write id>-w-`), followed by `<uuid>-<n>.<format>`; the writer restores nothing from the
//! table (no bucket state, so any number of writers may write at once) and its sequence numbers
//! count its rows per partition from 0 (pypaimon 2.x's numbering; Java writes -1 for every row;
//! the compaction re-sequences them either way). Paimon writes these files in Avro when the row
//! type converts to Avro; shoal writes them in the table's format (Parquet), which Paimon's
//! readers accept as they pick the reader by the file's extension.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, Int8Array, RecordBatch, UInt32Array};
use arrow_schema::SchemaRef;
use arrow_select::take::take;

use crate::data_file::{FileWriterConfig, RollingWriter};
use crate::error::{Error, Result};
use crate::io::FileIO;
use crate::spec::paths::{bucket_dir, partition_path, POSTPONE_BUCKET};
use crate::spec::{BinaryRow, DataFileMeta, FileSource, TableSchema};
use crate::write::CommitMessage;

/// One partition's pending rows (data-file layout, arrival order) and written files.
#[derive(Default)]
struct PartitionRows {
    partition: Option<BinaryRow>,
    batches: Vec<RecordBatch>,
    bytes: usize,
    next_seq: i64,
    files: Vec<DataFileMeta>,
}

pub(crate) struct PostponeWriter {
    io: FileIO,
    cfg: Arc<FileWriterConfig>,
    file_schema: SchemaRef,
    key_indices: Vec<usize>,
    schema: Arc<TableSchema>,
    /// `data--u-<uuid>-s-<n>-w-<uuid>-`: what every file name of this writer starts with.
    prefix: String,
    next_file: Arc<AtomicU64>,
    partitions: HashMap<Vec<u8>, PartitionRows>,
    /// Arrow bytes buffered across partitions, and the budget (`write-buffer-size`) past which
    /// they are written out.
    buffered: usize,
    limit: usize,
}

impl PostponeWriter {
    pub(crate) fn new(io: FileIO, schema: Arc<TableSchema>, cfg: Arc<FileWriterConfig>) -> Result<PostponeWriter> {
        let opts = schema.core_options();
        let writer_number = rand::random::<u32>() & 0x7fff_ffff;
        let prefix = format!("data--u-{}-s-{writer_number}-w-{}-", uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        Ok(PostponeWriter {
            io,
            file_schema: crate::spec::data_file::data_file_arrow_schema(&schema),
            key_indices: schema.trimmed_primary_key_indices(),
            cfg,
            prefix,
            next_file: Arc::new(AtomicU64::new(0)),
            partitions: HashMap::new(),
            buffered: 0,
            limit: opts.write_buffer_size()? as usize,
            schema,
        })
    }

    /// Buffers the rows of `batch` (table layout, conformed) with their kinds, per partition:
    /// row `r` belongs to `groups[group_of_row[r]]`.
    pub(crate) async fn write(
        &mut self,
        batch: &RecordBatch,
        kinds: &[i8],
        group_of_row: &[u32],
        groups: Vec<(BinaryRow, i32)>,
    ) -> Result<()> {
        for (g, (partition, _)) in groups.into_iter().enumerate() {
            let rows: Vec<u32> = if group_of_row.iter().all(|x| *x as usize == g) {
                (0..batch.num_rows() as u32).collect()
            } else {
                (0..group_of_row.len() as u32).filter(|r| group_of_row[*r as usize] as usize == g).collect()
            };
            let p = self.partitions.entry(partition.data().to_vec()).or_default();
            if p.partition.is_none() {
                p.partition = Some(partition);
            }
            let indices = UInt32Array::from(rows.clone());
            let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.file_schema.fields().len());
            for &k in &self.key_indices {
                columns.push(take(batch.column(k), &indices, None).map_err(Error::arrow("taking postponed keys"))?);
            }
            let n = rows.len() as i64;
            columns.push(Arc::new(Int64Array::from_iter_values(p.next_seq..p.next_seq + n)));
            p.next_seq += n;
            columns.push(Arc::new(Int8Array::from_iter_values(rows.iter().map(|r| kinds[*r as usize]))));
            for c in batch.columns() {
                columns.push(take(c, &indices, None).map_err(Error::arrow("taking postponed rows"))?);
            }
            let rows = RecordBatch::try_new(self.file_schema.clone(), columns)
                .map_err(Error::arrow("building postponed rows"))?;
            let bytes = rows.get_array_memory_size();
            p.bytes += bytes;
            p.batches.push(rows);
            self.buffered += bytes;
        }
        if self.buffered > self.limit {
            self.flush().await?;
        }
        Ok(())
    }

    /// Writes every partition's buffered rows out as files (in arrival order).
    async fn flush(&mut self) -> Result<()> {
        let opts = self.schema.core_options();
        for p in self.partitions.values_mut().filter(|p| !p.batches.is_empty()) {
            let partition = p.partition.clone().ok_or_else(|| Error::Task("a partition without its row".into()))?;
            let path = partition_path(
                &partition,
                &self.schema.partition_keys,
                &self.schema.partition_types(),
                opts.partition_default_name(),
            )?;
            let dir = bucket_dir(&path, POSTPONE_BUCKET);
            let batches = std::mem::take(&mut p.batches);
            self.buffered -= std::mem::take(&mut p.bytes);
            let (cfg, io, schema) = (self.cfg.clone(), self.io.clone(), self.file_schema.clone());
            let (prefix, next) = (self.prefix.clone(), self.next_file.clone());
            let files = tokio::task::spawn_blocking(move || {
                let names = Arc::new(move || format!("{prefix}{}.parquet", next.fetch_add(1, Ordering::Relaxed)));
                let mut w = RollingWriter::new(cfg, io, &dir, schema, 0, FileSource::Append, names, None);
                for b in &batches {
                    w.write(b)?;
                }
                w.finish()
            })
            .await
            .map_err(Error::join("writing postponed rows"))??;
            p.files.extend(files);
        }
        Ok(())
    }

    /// Writes what is buffered and returns one message per partition written since the last
    /// call: its new files in bucket -2, `totalBuckets = -2`, as Paimon commits them.
    pub(crate) async fn prepare_commit(&mut self) -> Result<Vec<CommitMessage>> {
        self.flush().await?;
        let mut messages = vec![];
        for p in self.partitions.values_mut() {
            let files = std::mem::take(&mut p.files);
            if let (false, Some(partition)) = (files.is_empty(), &p.partition) {
                let mut m = CommitMessage::new(partition.clone(), POSTPONE_BUCKET, POSTPONE_BUCKET);
                m.new_files = files;
                messages.push(m);
            }
        }
        messages.sort_by(|a, b| a.partition.data().cmp(b.partition.data()));
        Ok(messages)
    }
}
