//! One data file read batch by batch: the file's columns mapped to the reader's (by field id,
//! across schema versions), its deletion vector applied, its keys encoded for the merge; from
//! the writer's decoded copy, the Parquet file fetched a row group at a time, or, for large row
//! groups, page by page.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, Int8Type};
use arrow_array::{new_null_array, ArrayRef, RecordBatch, RecordBatchOptions};
use arrow_cast::cast;
use futures::TryStreamExt;
#[allow(deprecated)] // parquet 59 deprecates it for a hand-written AsyncFileReader; it still does what we need
use parquet::arrow::async_reader::ParquetObjectReader;
use parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};

use super::{BatchKeys, SplitReader};
use crate::error::{Error, Result};
use crate::merge::keys::KeyEncoder;
use crate::read::scan::{DataSplit, SplitDeletionVector};
use crate::spec::data_file::{KEY_FIELD_PREFIX, SEQUENCE_NUMBER, VALUE_KIND};
use crate::spec::deletion_vector::decode_deletion_vector;
use crate::spec::{DataFileMeta, TableSchema};

/// Where a file's batches come from: the writer's decoded copy, or the Parquet file itself.
pub(super) enum FileBatchSource {
    Decoded(std::vec::IntoIter<RecordBatch>),
    #[allow(deprecated)]
    Parquet(Box<parquet::arrow::async_reader::ParquetRecordBatchStream<ParquetObjectReader>>),
    /// A file with large row groups (another writer's), read page by page.
    Paged(Box<parquet::arrow::arrow_reader::ParquetRecordBatchReader>),
}

/// Row groups above this many compressed bytes (of the columns read) are read page by page
/// instead of fetched whole. shoal's own row groups stay below it (`ROW_GROUP_ROWS` rows or
/// 16 MiB of Arrow data); Java Paimon's reach `parquet.block.size` (128 MB).
pub(super) const PAGED_ROW_GROUP_BYTES: i64 = 8 << 20;

/// A data file's batches, reduced to what the merge needs.
pub(super) struct FileBatches {
    pub(super) values: Vec<RecordBatch>,
    /// Per batch: (keys, sequence numbers, row kinds); empty for raw reads.
    pub(super) kv: Vec<BatchKeys>,
}

impl SplitReader {
    /// Which columns of a file written with `file_schema` to read, by name: the key-value columns
    /// (with `with_kv`), then the projected value columns present in the file; and per projected
    /// column its name in the file (None: added after the file was written).
    pub(super) fn file_columns(
        &self,
        path: &str,
        file_schema: &TableSchema,
        with_kv: bool,
    ) -> Result<(Vec<String>, Vec<Option<String>>)> {
        let mut wanted: Vec<String> = vec![];
        if with_kv {
            for k in &self.key_fields {
                let name = file_schema
                    .fields
                    .iter()
                    .find(|f| f.id == k.id)
                    .map(|f| format!("{KEY_FIELD_PREFIX}{}", f.name))
                    .ok_or_else(|| {
                        Error::data_file(path, format!("key column {} is not in the file's schema", k.name))
                    })?;
                wanted.push(name);
            }
            wanted.push(SEQUENCE_NUMBER.into());
            wanted.push(VALUE_KIND.into());
        }
        let value_names: Vec<Option<String>> = self
            .projection
            .iter()
            .map(|&i| {
                let id = self.schema.fields[i].id;
                file_schema.fields.iter().find(|f| f.id == id).map(|f| f.name.clone())
            })
            .collect();
        wanted.extend(value_names.iter().flatten().cloned());
        Ok((wanted, value_names))
    }

    pub(super) fn load_file(&self, split: &DataSplit, file: &DataFileMeta, with_kv: bool) -> Result<FileBatches> {
        let mut out = FileBatches { values: vec![], kv: vec![] };
        self.for_each_batch(split, file, with_kv, &mut |values, kv| {
            out.values.push(values);
            out.kv.extend(kv);
            Ok(true)
        })?;
        Ok(out)
    }

    /// Opens one data file for reading batch by batch (see [`FileReading`]).
    pub(super) fn open_file(&self, split: &DataSplit, file: &DataFileMeta, with_kv: bool) -> Result<FileReading> {
        let path = format!("{}/{}", split.bucket_path, file.file_name);
        let file_schema = if file.schema_id == self.schema.id {
            self.schema.clone()
        } else {
            self.runtime.block_on(self.schemas.schema(file.schema_id))?
        };
        let cached = self.decoded.as_ref().and_then(|d| d.get(&file.file_name));
        // A file the writer has at hand decoded is not read back; otherwise only the footer and
        // the projected column chunks are fetched (ranged reads), with the object's size checked
        // against the manifest alongside.
        let (wanted, value_names, batches) = self.runtime.block_on(async {
            if let Some(rows) = cached {
                let (wanted, value_names) = self.file_columns(&path, &file_schema, with_kv)?;
                let step = self.batch_size.max(1);
                let batches: Vec<RecordBatch> = rows
                    .iter()
                    .flat_map(|b| {
                        (0..b.num_rows()).step_by(step).map(move |at| b.slice(at, step.min(b.num_rows() - at)))
                    })
                    .collect();
                return Ok((wanted, value_names, FileBatchSource::Decoded(batches.into_iter())));
            }
            if file.file_name.ends_with(".avro") {
                // Paimon 1.x's postpone-bucket files: read whole (they are small; see avro_data).
                let bytes = self.io.read(&path).await?;
                if bytes.len() as i64 != file.file_size {
                    return Err(Error::data_file(
                        &path,
                        format!("is {} bytes but the manifest records {}", bytes.len(), file.file_size),
                    ));
                }
                let layout = crate::spec::data_file::data_file_arrow_schema(&file_schema);
                let all = crate::read::avro_data::decode_avro_data_file(&bytes, &layout, &path)?;
                let (wanted, value_names) = self.file_columns(&path, &file_schema, with_kv)?;
                let step = self.batch_size.max(1);
                let batches: Vec<RecordBatch> =
                    (0..all.num_rows()).step_by(step).map(|at| all.slice(at, step.min(all.num_rows() - at))).collect();
                return Ok((wanted, value_names, FileBatchSource::Decoded(batches.into_iter())));
            }
            #[allow(deprecated)]
            let reader = ParquetObjectReader::new(self.io.store().clone(), self.io.path(&path))
                .with_file_size(file.file_size as u64);
            let (size, builder) = futures::join!(self.io.size(&path), ParquetRecordBatchStreamBuilder::new(reader));
            let size = size?;
            if size as i64 != file.file_size {
                return Err(Error::data_file(
                    &path,
                    format!("is {size} bytes but the manifest records {}: truncated or replaced", file.file_size),
                ));
            }
            let builder = builder.map_err(|e| Error::data_file(&path, e))?;
            let parquet_schema = builder.parquet_schema();
            let arrow_schema = builder.schema().clone();
            let (wanted, value_names) = self.file_columns(&path, &file_schema, with_kv)?;
            let mut root_indices = vec![];
            for name in &wanted {
                let idx = arrow_schema
                    .fields()
                    .iter()
                    .position(|f| f.name() == name)
                    .ok_or_else(|| Error::data_file(&path, format!("column {name} is missing")))?;
                root_indices.push(idx);
            }
            root_indices.sort_unstable();
            root_indices.dedup();
            let mask = ProjectionMask::roots(parquet_schema, root_indices.iter().copied());
            let largest_group = builder
                .metadata()
                .row_groups()
                .iter()
                .map(|rg| {
                    let columns = rg.columns().iter().enumerate();
                    columns.filter(|(i, _)| mask.leaf_included(*i)).map(|(_, c)| c.compressed_size()).sum::<i64>()
                })
                .max()
                .unwrap_or(0);
            if largest_group > PAGED_ROW_GROUP_BYTES {
                let object = crate::io::ranged::RangedObject::new(
                    self.io.store().clone(),
                    self.io.path(&path),
                    size,
                    self.runtime.clone(),
                );
                let meta = parquet::arrow::arrow_reader::ArrowReaderMetadata::try_new(
                    builder.metadata().clone(),
                    Default::default(),
                )
                .map_err(|e| Error::data_file(&path, e))?;
                let reader =
                    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::new_with_metadata(object, meta)
                        .with_projection(mask)
                        .with_batch_size(self.batch_size)
                        .build()
                        .map_err(|e| Error::data_file(&path, e))?;
                return Ok::<_, Error>((wanted, value_names, FileBatchSource::Paged(Box::new(reader))));
            }
            let stream = builder
                .with_projection(mask)
                .with_batch_size(self.batch_size)
                .build()
                .map_err(|e| Error::data_file(&path, e))?;
            Ok::<_, Error>((wanted, value_names, FileBatchSource::Parquet(Box::new(stream))))
        })?;
        let key_types: Vec<_> = self.key_fields.iter().map(|f| f.data_type.to_arrow()).collect();
        let encoder = if with_kv { Some(KeyEncoder::new(&key_types)?) } else { None };
        let deleted = self.deletion_vector(split, file)?;
        Ok(FileReading {
            reader: self.clone(),
            path,
            file_rows: file.row_count,
            wanted,
            value_names,
            source: batches,
            key_types,
            encoder,
            rows_seen: 0,
            deleted,
        })
    }

    /// Reads one data file batch by batch (deletion vector applied), handing each batch in
    /// [`Self::batch_schema`] and, with `with_kv`, its keys, sequence numbers and row kinds to
    /// `each`, which returns false to stop. Batches are decoded as they are handed on, so a
    /// reader holds one batch of a file at a time, not the whole file: the full read of the
    /// orders DV table peaks at 54-64 MB RSS instead of 156-184 MB (and a 128 MB target-size
    /// file decodes to several hundred MB). Splits read in parallel must then be drained as
    /// they come (`read_splits_numbered`), not in split order. Runs on a blocking thread.
    pub(super) fn for_each_batch(
        &self,
        split: &DataSplit,
        file: &DataFileMeta,
        with_kv: bool,
        each: &mut dyn FnMut(RecordBatch, Option<BatchKeys>) -> Result<bool>,
    ) -> Result<()> {
        let mut reading = self.open_file(split, file, with_kv)?;
        while let Some((values, kv)) = reading.next()? {
            if !each(values, kv)? {
                return Ok(());
            }
        }
        Ok(())
    }

    /// The deletion vector of a data file, if the split has one for it.
    pub(super) fn deletion_vector(
        &self,
        split: &DataSplit,
        file: &DataFileMeta,
    ) -> Result<Option<Arc<roaring::RoaringBitmap>>> {
        let (dv, name) = match split.deletion_vectors.get(&file.file_name) {
            None => return Ok(None),
            Some(SplitDeletionVector::Loaded(dv)) => (dv.clone(), "the writer's deletion vectors".to_string()),
            Some(SplitDeletionVector::File(d)) => {
                let bytes = self.runtime.block_on(self.io.read(&d.path))?;
                let name = format!("{}/{}", self.io.uri(), d.path);
                let dv = decode_deletion_vector(&bytes, d.offset.max(0) as usize, d.length.max(0) as usize, &name)?;
                (Arc::new(dv), name)
            }
        };
        if dv.max().is_some_and(|m| m as i64 >= file.row_count) {
            return Err(Error::data_file(
                &file.file_name,
                format!("its deletion vector in {name} marks rows beyond its {} rows", file.row_count),
            ));
        }
        Ok(Some(dv))
    }
}

/// One data file being read batch by batch: what [`SplitReader::for_each_batch`] walks, and
/// what a merge's run cursor pulls from (one batch of a file in memory at a time).
pub(super) struct FileReading {
    pub(super) reader: SplitReader,
    pub(super) path: String,
    pub(super) file_rows: i64,
    pub(super) wanted: Vec<String>,
    pub(super) value_names: Vec<Option<String>>,
    pub(super) source: FileBatchSource,
    pub(super) key_types: Vec<arrow_schema::DataType>,
    pub(super) encoder: Option<KeyEncoder>,
    pub(super) rows_seen: usize,
    pub(super) deleted: Option<Arc<roaring::RoaringBitmap>>,
}

impl FileReading {
    /// The next batch (deletion vector applied) in [`SplitReader::batch_schema`], with its keys,
    /// sequence numbers and row kinds when opened with them; None at the end of the file.
    pub(super) fn next(&mut self) -> Result<Option<(RecordBatch, Option<BatchKeys>)>> {
        let batch = match &mut self.source {
            FileBatchSource::Decoded(it) => it.next(),
            FileBatchSource::Parquet(stream) => {
                self.reader.runtime.block_on(stream.try_next()).map_err(|e| Error::data_file(&self.path, e))?
            }
            FileBatchSource::Paged(reader) => reader.next().transpose().map_err(|e| Error::data_file(&self.path, e))?,
        };
        let Some(batch) = batch else { return self.check_rows().map(|()| None) };
        let first_row = self.rows_seen;
        self.rows_seen += batch.num_rows();
        let rows_seen = self.rows_seen;
        // Rows marked in the file's deletion vector are gone before anything else sees them.
        let batch = match &self.deleted {
            Some(dv) if dv.range_cardinality(first_row as u32..rows_seen as u32) > 0 => {
                // All rows kept, then the deleted ones (few, in order) cleared.
                let mut keep = arrow_buffer::BooleanBufferBuilder::new(batch.num_rows());
                keep.append_n(batch.num_rows(), true);
                for r in dv.range(first_row as u32..rows_seen as u32) {
                    keep.set_bit(r as usize - first_row, false);
                }
                let keep = arrow_array::BooleanArray::new(keep.finish(), None);
                arrow_select::filter::filter_record_batch(&batch, &keep).map_err(|e| Error::data_file(&self.path, e))?
            }
            _ => batch,
        };
        let col = |name: &str| -> Result<ArrayRef> {
            batch
                .column_by_name(name)
                .cloned()
                .ok_or_else(|| Error::data_file(&self.path, format!("column {name} is missing")))
        };
        let mut kv = None;
        if let Some(enc) = &self.encoder {
            let keys: Vec<ArrayRef> = (0..self.reader.key_fields.len())
                .map(|i| {
                    let c = col(&self.wanted[i])?;
                    let want = &self.key_types[i];
                    if c.data_type() == want {
                        Ok(c)
                    } else {
                        cast(&c, want).map_err(|e| Error::data_file(&self.path, e))
                    }
                })
                .collect::<Result<_>>()?;
            let seq_col = col(SEQUENCE_NUMBER)?;
            let kind_col = col(VALUE_KIND)?;
            let seq = seq_col
                .as_primitive_opt::<Int64Type>()
                .ok_or_else(|| Error::data_file(&self.path, "_SEQUENCE_NUMBER is not BIGINT"))?
                .values()
                .clone();
            let kinds = kind_col
                .as_primitive_opt::<Int8Type>()
                .ok_or_else(|| Error::data_file(&self.path, "_VALUE_KIND is not TINYINT"))?
                .values()
                .clone();
            kv = Some((enc.encode(&keys).map_err(|e| Error::data_file(&self.path, e))?, seq, kinds));
        }
        let mut columns = Vec::with_capacity(self.reader.output_schema.fields().len());
        if self.reader.key_value.is_some() {
            for (name, want) in self.wanted[..self.reader.key_fields.len()].iter().zip(&self.key_types) {
                let c = col(name)?;
                columns.push(if c.data_type() == want {
                    c
                } else {
                    cast(&c, want).map_err(|e| Error::data_file(&self.path, e))?
                });
            }
            columns.push(col(SEQUENCE_NUMBER)?);
            columns.push(col(VALUE_KIND)?);
        }
        for (out_field, name) in self.reader.value_schema.fields().iter().zip(&self.value_names) {
            let c = match name {
                Some(n) => {
                    let c = col(n)?;
                    if c.data_type() == out_field.data_type() {
                        c
                    } else {
                        cast(&c, out_field.data_type())
                            .map_err(|e| Error::data_file(&self.path, format!("column {n}: {e}")))?
                    }
                }
                None => new_null_array(out_field.data_type(), batch.num_rows()),
            };
            columns.push(c);
        }
        let values = RecordBatch::try_new_with_options(
            self.reader.batch_schema().clone(),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
        )
        .map_err(|e| Error::data_file(&self.path, e))?;
        Ok(Some((values, kv)))
    }

    /// At the end of the file: did it hold the rows the manifest records?
    pub(super) fn check_rows(&self) -> Result<()> {
        if self.rows_seen as i64 != self.file_rows {
            return Err(Error::data_file(
                &self.path,
                format!("holds {} rows but the manifest records {}", self.rows_seen, self.file_rows),
            ));
        }
        Ok(())
    }
}
