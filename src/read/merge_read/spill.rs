//! `sort-spill-threshold`: a merge reads at most that many sorted runs at once. Each run costs
//! a decoded batch and a fetched row group, so a merge of a long backlog of level-0 files (a
//! write-only table's, or Java writers') would otherwise grow with the backlog. Past the
//! threshold, the smallest runs are merged, by (key, sequence number) and keeping every
//! version, into one run on local disk, a threshold at a time, until the threshold holds;
//! then the merge proper reads the spilled runs beside the others (as Paimon's `MergeSorter`
//! spills its smallest readers into an external buffer).
//!
//! A spilled run is a Parquet file in this process's scratch space (LZ4, small row groups):
//! the batch's keys (integers, or Arrow row-format bytes), sequence numbers and row kinds, then
//! the reader's batch columns. It is read back one row group at a time and deleted when its
//! cursor is dropped (on success and on error).

use std::sync::Arc;

use arrow_array::builder::BinaryBuilder;
use arrow_array::{ArrayRef, Int32Array, Int64Array, Int8Array, RecordBatch, RecordBatchOptions};
use arrow_schema::{DataType as ArrowType, Field, Schema, SchemaRef};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use super::cursor::{heapify, pop, push, BatchStore, RunCursor, RunReading};
use super::{BatchKeys, SplitReader};
use crate::error::{Error, Result};
use crate::io::temp::{TempError, TempFile, SPILL_ROW_GROUP_ROWS};
use crate::merge::keys::{KeyEncoder, SortKeys};
use crate::read::scan::DataSplit;

impl SplitReader {
    /// Brings `runs` down to `sort-spill-threshold` by spilling the smallest, a threshold of
    /// them at a time (so no spill reads more runs at once than the merge after it).
    pub(super) fn spill_runs(&self, split: &DataSplit, mut runs: Vec<RunCursor>) -> Result<Vec<RunCursor>> {
        let limit = self.spill_threshold.max(2);
        while runs.len() > limit {
            runs.sort_by_key(|r| std::cmp::Reverse(r.size()));
            let take = (runs.len() - limit + 1).clamp(2, limit);
            let smallest = runs.split_off(runs.len() - take);
            runs.push(self.spill(split, smallest)?);
        }
        Ok(runs)
    }

    /// Merges `runs` into one run on local disk, every version of every key kept.
    fn spill(&self, split: &DataSplit, mut runs: Vec<RunCursor>) -> Result<RunCursor> {
        let mut store = BatchStore::default();
        for c in runs.iter_mut() {
            c.advance_batch(self, split, &mut store)?;
        }
        let mut heap: Vec<usize> = (0..runs.len()).filter(|&i| runs[i].current.is_some()).collect();
        let less = |cursors: &[RunCursor], a: usize, b: usize| cursors[a].cmp_key_seq(&cursors[b]).is_lt();
        heapify(&mut heap, &runs, less);
        let key_kind = match runs.iter().find_map(|c| c.current.as_ref()).map(|p| &p.kv.0) {
            Some(SortKeys::I64(_)) => ArrowType::Int64,
            Some(SortKeys::I32(_)) => ArrowType::Int32,
            _ => ArrowType::Binary,
        };
        let mut out = SpillWriter::create(self.batch_schema(), key_kind)?;
        let mut rows: Vec<(usize, usize)> = Vec::with_capacity(self.batch_size);
        while let Some(&top) = heap.first() {
            let p = runs[top].pos();
            rows.push((p.batch_id, p.row));
            out.keys.push(&p.kv.0, p.row, out.temp.path())?;
            out.seqs.push(p.seq);
            out.kinds.push(p.kv.2[p.row]);
            pop(&mut heap, &runs, less);
            if rows.len() >= self.batch_size {
                out.write(store.build(&rows, self.batch_schema())?)?;
                rows.clear();
                store.retain(&runs);
            }
            runs[top].advance(self, split, &mut store)?;
            if runs[top].current.is_some() {
                push(&mut heap, top, &runs, less);
            }
        }
        if !rows.is_empty() {
            out.write(store.build(&rows, self.batch_schema())?)?;
        }
        let key_types: Vec<_> = self.key_fields.iter().map(|f| f.data_type.to_arrow()).collect();
        let reading = out.finish(self.batch_schema().clone(), KeyEncoder::new(&key_types)?, self.batch_size)?;
        Ok(RunCursor {
            files: Default::default(),
            reading: Some(RunReading::Spilled(Box::new(reading))),
            current: None,
            repeats: true,
        })
    }
}

/// The keys of rows being spilled, as one column.
enum KeyColumn {
    I64(Vec<i64>),
    I32(Vec<i32>),
    Rows(BinaryBuilder),
}

impl KeyColumn {
    fn push(&mut self, keys: &SortKeys, row: usize, path: &std::path::Path) -> Result<()> {
        match (self, keys) {
            (KeyColumn::I64(v), SortKeys::I64(k)) => v.push(k[row]),
            (KeyColumn::I32(v), SortKeys::I32(k)) => v.push(k[row]),
            (KeyColumn::Rows(b), SortKeys::Rows(k)) => b.append_value(k.row(row).as_ref()),
            _ => return Err(local(path, "the runs of a merge encode their keys differently")),
        }
        Ok(())
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            KeyColumn::I64(v) => Arc::new(Int64Array::from(std::mem::take(v))),
            KeyColumn::I32(v) => Arc::new(Int32Array::from(std::mem::take(v))),
            KeyColumn::Rows(b) => Arc::new(b.finish()),
        }
    }
}

fn local(path: &std::path::Path, message: impl std::fmt::Display) -> Error {
    Error::LocalDisk(TempError { path: path.display().to_string(), message: message.to_string() })
}

/// A spilled run being written.
struct SpillWriter {
    temp: TempFile,
    writer: ArrowWriter<std::fs::File>,
    schema: SchemaRef,
    keys: KeyColumn,
    seqs: Vec<i64>,
    kinds: Vec<i8>,
}

impl SpillWriter {
    fn create(batch_schema: &SchemaRef, key_kind: ArrowType) -> Result<SpillWriter> {
        let (temp, file) = TempFile::create("merge-spill")?;
        let mut fields = vec![
            Field::new("_k", key_kind.clone(), false),
            Field::new("_seq", ArrowType::Int64, false),
            Field::new("_kind", ArrowType::Int8, false),
        ];
        // Positional names: the batch's own may clash with the three above.
        fields.extend(
            batch_schema.fields().iter().enumerate().map(|(i, f)| f.as_ref().clone().with_name(format!("c{i}"))),
        );
        let schema = Arc::new(Schema::new(fields));
        let props = WriterProperties::builder()
            .set_compression(Compression::LZ4_RAW)
            .set_statistics_enabled(EnabledStatistics::None)
            .set_max_row_group_row_count(Some(SPILL_ROW_GROUP_ROWS))
            .build();
        let writer = ArrowWriter::try_new(file, schema.clone(), Some(props)).map_err(|e| local(temp.path(), e))?;
        let keys = match key_kind {
            ArrowType::Int64 => KeyColumn::I64(vec![]),
            ArrowType::Int32 => KeyColumn::I32(vec![]),
            _ => KeyColumn::Rows(BinaryBuilder::new()),
        };
        Ok(SpillWriter { temp, writer, schema, keys, seqs: vec![], kinds: vec![] })
    }

    /// Writes `values` with the keys, sequence numbers and kinds pushed for its rows.
    fn write(&mut self, values: RecordBatch) -> Result<()> {
        let mut columns = vec![
            self.keys.finish(),
            Arc::new(Int64Array::from(std::mem::take(&mut self.seqs))) as ArrayRef,
            Arc::new(Int8Array::from(std::mem::take(&mut self.kinds))),
        ];
        columns.extend(values.columns().iter().cloned());
        let batch = RecordBatch::try_new_with_options(
            self.schema.clone(),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(values.num_rows())),
        )
        .map_err(|e| local(self.temp.path(), e))?;
        self.writer.write(&batch).map_err(|e| local(self.temp.path(), e))
    }

    fn finish(self, batch_schema: SchemaRef, encoder: KeyEncoder, batch_size: usize) -> Result<SpilledReading> {
        let SpillWriter { temp, writer, .. } = self;
        writer.close().map_err(|e| local(temp.path(), e))?;
        let file = temp.open()?;
        let size = file.metadata().map_err(|e| local(temp.path(), e))?.len();
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.with_batch_size(batch_size.min(SPILL_ROW_GROUP_ROWS)).build())
            .map_err(|e| local(temp.path(), e))?;
        let path = temp.path().display().to_string();
        Ok(SpilledReading { temp, path, size, reader, batch_schema, encoder })
    }
}

/// A spilled run being read back, one row group at a time; its file goes when it is dropped.
pub(super) struct SpilledReading {
    temp: TempFile,
    path: String,
    size: u64,
    reader: ParquetRecordBatchReader,
    batch_schema: SchemaRef,
    encoder: KeyEncoder,
}

impl SpilledReading {
    pub(super) fn path(&self) -> &str {
        &self.path
    }

    pub(super) fn size(&self) -> u64 {
        self.size
    }

    /// The next batch in the reader's batch schema with its keys, sequence numbers and kinds.
    pub(super) fn next(&mut self) -> Result<Option<(RecordBatch, BatchKeys)>> {
        let Some(batch) = self.reader.next() else { return Ok(None) };
        let batch = batch.map_err(|e| local(self.temp.path(), e))?;
        let bad = || local(self.temp.path(), "is not a spilled run of this merge");
        if batch.num_columns() != 3 + self.batch_schema.fields().len() {
            return Err(bad());
        }
        let keys = self.encoder.keys_from_column(batch.column(0)).ok_or_else(bad)?;
        let seqs = batch.column(1).as_any().downcast_ref::<Int64Array>().ok_or_else(bad)?.values().clone();
        let kinds = batch.column(2).as_any().downcast_ref::<Int8Array>().ok_or_else(bad)?.values().clone();
        let values = RecordBatch::try_new_with_options(
            self.batch_schema.clone(),
            batch.columns()[3..].to_vec(),
            &RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
        )
        .map_err(|e| local(self.temp.path(), e))?;
        Ok(Some((values, (keys, seqs, kinds))))
    }
}
