//! Reading one split (a bucket's files) into merged rows.
//!
//! Files are grouped into sections of overlapping key ranges (Paimon's IntervalPartition, by
//! `_MIN_KEY`/`_MAX_KEY`), and each section into sorted runs of non-overlapping files. A section
//! that is one file without retractions is read as is; anything else goes through a k-way merge
//! by (key, sequence number) where the merge function picks each key's version and retractions
//! drop the key.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, Int64Array, Int8Array, RecordBatch, RecordBatchOptions};
use arrow_buffer::ScalarBuffer;
use arrow_schema::{Field, Schema, SchemaRef};
use arrow_select::interleave::interleave;

use crate::data_file::DecodedFiles;
use crate::error::{Error, Result};
use crate::io::FileIO;
use crate::merge::cell::{ComputedRows, Version};
use crate::merge::keys::SortKeys;
use crate::merge::{MergeFunction, Merged};
use crate::read::scan::DataSplit;
use crate::spec::{DataField, DataFileMeta, DataType, RowKind, TableSchema};
use crate::store::SchemaManager;

mod cursor;
mod file;
mod spill;
#[cfg(test)]
mod tests;

use cursor::{heapify, pop, push, BatchStore, RunCursor};

pub(crate) const DEFAULT_BATCH_SIZE: usize = 8192;

/// Reads splits of one table with a fixed projection. Cheap to clone; used from blocking threads.
#[derive(Clone)]
pub struct SplitReader {
    io: FileIO,
    schemas: SchemaManager,
    schema: Arc<TableSchema>,
    /// Indices of the table columns read from files.
    projection: Vec<usize>,
    /// In row mode, when the merge needs more columns than asked for: which of the read columns
    /// to output.
    output_projection: Option<Vec<usize>>,
    output_schema: SchemaRef,
    /// The table columns read (the output schema in row mode, before `output_projection`).
    value_schema: SchemaRef,
    /// Compaction mode: output rows in the key-value data-file layout, and keep retractions
    /// unless told to drop them (when nothing older lies below the output level).
    key_value: Option<KeyValueOutput>,
    merge: MergeFunction,
    /// `deletion-vectors.enabled`: level-0 files are invisible and deleted rows are filtered.
    deletion_vectors: bool,
    key_fields: Vec<DataField>,
    batch_size: usize,
    /// `sort-spill-threshold`: the most runs a merge reads at once (see [`spill`]).
    spill_threshold: usize,
    runtime: tokio::runtime::Handle,
    /// Decoded rows of files the writer wrote recently, used instead of reading them back.
    decoded: Option<DecodedFiles>,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct KeyValueOutput {
    pub drop_retracts: bool,
}

/// One batch's keys, sequence numbers and row kinds.
type BatchKeys = (SortKeys, ScalarBuffer<i64>, ScalarBuffer<i8>);

impl SplitReader {
    pub fn new(
        io: FileIO,
        schemas: SchemaManager,
        schema: Arc<TableSchema>,
        projection: Vec<usize>,
        runtime: tokio::runtime::Handle,
    ) -> Result<Self> {
        let is_pk = !schema.primary_keys.is_empty();
        let merge = MergeFunction::from_schema(&schema)?;
        let field_of = |i: &usize| schema.fields[*i].to_arrow();
        let output_schema = Arc::new(Schema::new(projection.iter().map(field_of).collect::<Vec<Field>>()));
        // Partial-update, aggregation and sequence fields need every column to merge.
        let (read, output_projection) = if is_pk && !merge.picks_by_kind() {
            ((0..schema.fields.len()).collect::<Vec<_>>(), Some(projection.clone()))
        } else {
            (projection, None)
        };
        let value_schema = Arc::new(Schema::new(read.iter().map(field_of).collect::<Vec<Field>>()));
        let key_fields = if is_pk { schema.trimmed_key_fields() } else { vec![] };
        let deletion_vectors = is_pk && schema.core_options().deletion_vectors_enabled()?;
        let spill_threshold = schema.core_options().sort_spill_threshold()?;
        Ok(SplitReader {
            io,
            schemas,
            merge,
            deletion_vectors,
            value_schema,
            output_schema,
            output_projection,
            key_value: None,
            key_fields,
            batch_size: DEFAULT_BATCH_SIZE,
            spill_threshold,
            decoded: None,
            projection: read,
            schema,
            runtime,
        })
    }

    /// A reader of the given columns (all when None) of `schema`'s table, on the current tokio
    /// runtime (an error outside one).
    pub fn for_table(io: FileIO, schema: Arc<TableSchema>, projection: Option<Vec<usize>>) -> Result<Self> {
        let projection = projection.unwrap_or_else(|| (0..schema.fields.len()).collect());
        if let Some(bad) = projection.iter().find(|&&i| i >= schema.fields.len()) {
            return Err(Error::InvalidInput(format!("column index {bad} is out of range")));
        }
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| Error::InvalidInput("reads need a tokio runtime".into()))?;
        SplitReader::new(io.clone(), SchemaManager::new(io), schema, projection, runtime)
    }

    /// A reader for compaction: every column, in the key-value data-file layout.
    pub fn for_compaction(
        io: FileIO,
        schemas: SchemaManager,
        schema: Arc<TableSchema>,
        runtime: tokio::runtime::Handle,
        drop_retracts: bool,
    ) -> Result<Self> {
        let all = (0..schema.fields.len()).collect();
        let mut r = Self::new(io, schemas, schema.clone(), all, runtime)?;
        r.output_schema = crate::spec::data_file::key_value_arrow_schema(&schema);
        r.output_projection = None;
        r.key_value = Some(KeyValueOutput { drop_retracts });
        Ok(r)
    }

    /// Reads (and merges into) batches of `rows` rows.
    pub fn with_batch_size(mut self, rows: usize) -> Self {
        self.batch_size = rows.max(1);
        self
    }

    /// Takes the rows of files found in `decoded` from there instead of reading them.
    pub fn with_decoded_files(mut self, decoded: DecodedFiles) -> Self {
        self.decoded = Some(decoded);
        self
    }

    pub fn output_schema(&self) -> &SchemaRef {
        &self.output_schema
    }

    /// The schema of batches inside the reader: the key-value layout when compacting, else the
    /// columns read.
    fn batch_schema(&self) -> &SchemaRef {
        if self.key_value.is_some() {
            &self.output_schema
        } else {
            &self.value_schema
        }
    }

    /// Where the table's columns start in the reader's batches.
    fn value_offset(&self) -> usize {
        if self.key_value.is_some() {
            self.key_fields.len() + 2
        } else {
            0
        }
    }

    /// The rows computed by merges as a batch in [`Self::batch_schema`].
    fn computed_batch(&self, store: &BatchStore, computed: &ComputedRows) -> Result<RecordBatch> {
        let keys = self.key_value.map(|_| self.key_fields.len());
        computed_rows_batch(self.batch_schema(), keys, computed, &|id| &store.values[&id])
    }

    fn is_primary_key(&self) -> bool {
        !self.schema.primary_keys.is_empty()
    }

    /// Reads a split, calling `emit` with each output batch (in key order within a section).
    /// Runs on a blocking thread: file reads go through the runtime handle.
    pub fn read_split(&self, split: &DataSplit, emit: &mut dyn FnMut(RecordBatch) -> bool) -> Result<()> {
        if let Some(p) = &self.output_projection {
            let mut failure = None;
            let mut projected = |b: RecordBatch| match b.project(p) {
                Ok(b) => emit(b),
                Err(e) => {
                    failure = Some(Error::arrow("projecting merged rows")(e));
                    false
                }
            };
            self.read_split_unprojected(split, &mut projected)?;
            return failure.map_or(Ok(()), Err);
        }
        self.read_split_unprojected(split, emit)
    }

    /// [`Self::read_split`] with a fallible consumer: its first error stops the read and is
    /// returned.
    pub fn try_read_split(&self, split: &DataSplit, emit: &mut dyn FnMut(RecordBatch) -> Result<bool>) -> Result<()> {
        let mut failure = None;
        self.read_split(split, &mut |b| match emit(b) {
            Ok(go_on) => go_on,
            Err(e) => {
                failure = Some(e);
                false
            }
        })?;
        failure.map_or(Ok(()), Err)
    }

    fn read_split_unprojected(&self, split: &DataSplit, emit: &mut dyn FnMut(RecordBatch) -> bool) -> Result<()> {
        let hides_level0 = self.merge.is_first_row() || self.deletion_vectors;
        if self.key_value.is_none() && hides_level0 && split.files.iter().any(|f| f.level == 0) {
            // Level-0 rows of first-row and deletion-vector tables become visible once compacted
            // (as in Paimon, whose batch reads skip level 0 of such tables).
            let mut visible = split.clone();
            visible.files.retain(|f| f.level > 0);
            return self.read_split_unprojected(&visible, emit);
        }
        if self.key_value.is_none() && self.deletion_vectors {
            // Above level 0 a deletion-vector table holds each key once among its live rows
            // (compaction marks every older version deleted), so each file is read as written,
            // minus its deleted rows, with no merge (Paimon reads such splits raw).
            return self.read_files_raw(split, emit);
        }
        if !self.is_primary_key() {
            let mut files = split.files.clone();
            files.sort_by_key(|f| f.min_sequence_number);
            for f in &files {
                let mut reading = self.open_file(split, f, false)?;
                while let Some((b, _)) = reading.next()? {
                    if !emit(b) {
                        return Ok(());
                    }
                }
            }
            return Ok(());
        }
        for section in self.sections(&split.files)? {
            let raw = section.len() == 1 && section[0].len() == 1 && section[0][0].delete_row_count.unwrap_or(0) == 0;
            if raw {
                let mut reading = self.open_file(split, &section[0][0], self.key_value.is_some())?;
                while let Some((b, _)) = reading.next()? {
                    if !emit(b) {
                        return Ok(());
                    }
                }
            } else if !self.merge_section(split, section, emit)? {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Reads one file of a split as written, without merging: per batch the row kinds (all +I
    /// for append tables) and the rows in [`Self::output_schema`]. Streaming reads of deltas and
    /// changelog files read this way (Paimon reads streaming splits with no merge, deletes kept).
    /// Runs on a blocking thread.
    pub fn read_file_raw(&self, split: &DataSplit, file: &DataFileMeta) -> Result<Vec<(Vec<RowKind>, RecordBatch)>> {
        if self.key_value.is_some() {
            return Err(Error::InvalidInput("read_file_raw is for row readers, not compaction readers".into()));
        }
        let with_kv = self.is_primary_key();
        let loaded = self.load_file(split, file, with_kv)?;
        let mut out = Vec::with_capacity(loaded.values.len());
        for (i, batch) in loaded.values.into_iter().enumerate() {
            let kinds: Vec<RowKind> = match loaded.kv.get(i) {
                Some((_, _, kinds)) => kinds
                    .iter()
                    .map(|k| {
                        RowKind::from_byte(*k).ok_or_else(|| {
                            Error::data_file(&file.file_name, format!("_VALUE_KIND {k} is not a row kind (0..=3)"))
                        })
                    })
                    .collect::<Result<_>>()?,
                None => vec![RowKind::Insert; batch.num_rows()],
            };
            let batch = match &self.output_projection {
                Some(p) => batch.project(p).map_err(Error::arrow("projecting raw rows"))?,
                None => batch,
            };
            out.push((kinds, batch));
        }
        Ok(out)
    }

    /// Reads every file of the split on its own (deletion vectors applied), dropping the
    /// retractions a file may hold.
    fn read_files_raw(&self, split: &DataSplit, emit: &mut dyn FnMut(RecordBatch) -> bool) -> Result<()> {
        let mut stopped = false;
        for f in &split.files {
            let with_kv = f.delete_row_count != Some(0);
            self.for_each_batch(split, f, with_kv, &mut |batch, kv| {
                let batch = match kv {
                    Some((_, _, kinds))
                        if kinds.iter().any(|k| RowKind::from_byte(*k).is_none_or(|k| k.is_retract())) =>
                    {
                        let keep: arrow_array::BooleanArray = kinds
                            .iter()
                            .map(|k| Some(RowKind::from_byte(*k).is_some_and(|k| !k.is_retract())))
                            .collect();
                        arrow_select::filter::filter_record_batch(&batch, &keep)
                            .map_err(Error::arrow("dropping retractions"))?
                    }
                    _ => batch,
                };
                stopped = batch.num_rows() > 0 && !emit(batch);
                Ok(!stopped)
            })?;
            if stopped {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Reads every row of one data file (no deletion vector applied, so batch positions are
    /// file positions), `batch_size` rows at a time, handing each batch in the reader's layout
    /// with its encoded keys to `each`. Runs on a blocking thread.
    pub(crate) fn for_each_file_batch(
        &self,
        bucket_path: &str,
        file: &DataFileMeta,
        batch_size: usize,
        each: &mut dyn FnMut(RecordBatch, SortKeys) -> Result<()>,
    ) -> Result<()> {
        let mut reader = self.clone();
        reader.batch_size = batch_size.max(1);
        let bare = DataSplit {
            snapshot_id: 0,
            partition: crate::spec::BinaryRow::empty(),
            bucket: 0,
            bucket_path: bucket_path.to_string(),
            total_buckets: 0,
            files: vec![],
            deletion_vectors: Default::default(),
        };
        reader.for_each_batch(&bare, file, true, &mut |values, kv| {
            let (keys, _, _) = kv.ok_or_else(|| Error::data_file(&file.file_name, "was read without its keys"))?;
            each(values, keys)?;
            Ok(true)
        })
    }

    /// Groups files into sections of overlapping key ranges, each a list of sorted runs.
    fn sections(&self, files: &[DataFileMeta]) -> Result<Vec<Vec<Vec<DataFileMeta>>>> {
        let key_types: Vec<DataType> = self.key_fields.iter().map(|f| f.data_type.clone()).collect();
        let mut with_keys = Vec::with_capacity(files.len());
        for f in files {
            let min =
                f.min_key.to_datums(&key_types).map_err(|e| Error::data_file(&f.file_name, format!("min key: {e}")))?;
            let max =
                f.max_key.to_datums(&key_types).map_err(|e| Error::data_file(&f.file_name, format!("max key: {e}")))?;
            with_keys.push((min, max, f.clone()));
        }
        let cmp = |a: &[crate::spec::Datum], b: &[crate::spec::Datum]| {
            a.iter().zip(b).map(|(x, y)| x.compare(y)).find(|o| o.is_ne()).unwrap_or(Ordering::Equal)
        };
        with_keys.sort_by(|a, b| cmp(&a.0, &b.0).then_with(|| cmp(&a.1, &b.1)));
        // Files with their (min key, max key).
        type Ranged = (Vec<crate::spec::Datum>, Vec<crate::spec::Datum>, DataFileMeta);
        let mut sections: Vec<Vec<Ranged>> = vec![];
        let mut bound: Option<Vec<crate::spec::Datum>> = None;
        for item in with_keys {
            let starts_new = match &bound {
                None => true,
                Some(b) => cmp(&item.0, b).is_gt(),
            };
            if starts_new {
                bound = Some(item.1.clone());
                sections.push(vec![item]);
            } else {
                if cmp(&item.1, bound.as_ref().expect("bound set")).is_gt() {
                    bound = Some(item.1.clone());
                }
                sections.last_mut().expect("a section exists").push(item);
            }
        }
        // Within a section, pack files into runs: a file joins the first run that ends before it.
        let mut out = vec![];
        for section in sections {
            let mut runs: Vec<(Vec<crate::spec::Datum>, Vec<DataFileMeta>)> = vec![];
            for (min, max, f) in section {
                match runs.iter_mut().find(|(end, _)| cmp(end, &min).is_lt()) {
                    Some(run) => {
                        run.0 = max;
                        run.1.push(f);
                    }
                    None => runs.push((max, vec![f])),
                }
            }
            out.push(runs.into_iter().map(|(_, fs)| fs).collect());
        }
        Ok(out)
    }

    /// k-way merge of a section's sorted runs. Returns false when `emit` asked to stop.
    fn merge_section(
        &self,
        split: &DataSplit,
        runs: Vec<Vec<DataFileMeta>>,
        emit: &mut dyn FnMut(RecordBatch) -> bool,
    ) -> Result<bool> {
        let cursors: Vec<RunCursor> = runs.into_iter().map(RunCursor::of_files).collect();
        // Past `sort-spill-threshold` runs, the smallest are merged onto local disk first.
        let mut cursors = self.spill_runs(split, cursors)?;
        let mut store = BatchStore::default();
        for c in cursors.iter_mut() {
            c.advance_batch(self, split, &mut store)?;
        }
        // Spilled runs hold every version of their keys, one after the other: a group takes
        // them all, comparing with the group's key kept aside (the first cursor moves on).
        let repeats = cursors.iter().any(|c| c.repeats);
        let mut advanced: Vec<usize> = vec![];
        let mut heap: Vec<usize> = (0..cursors.len()).filter(|&i| cursors[i].current.is_some()).collect();
        let less = |cursors: &[RunCursor], a: usize, b: usize| cursors[a].cmp_key_seq(&cursors[b]).is_lt();
        heapify(&mut heap, &cursors, less);
        let mut out: Vec<(usize, usize)> = Vec::with_capacity(self.batch_size);
        // (cursor, batch, row, sequence number, kind) of each version of the key being merged.
        let mut group: Vec<(usize, usize, usize, i64, RowKind)> = vec![];
        let mut kinds: Vec<RowKind> = vec![];
        let by_kind = self.merge.picks_by_kind();
        let keep_retracts = matches!(self.key_value, Some(KeyValueOutput { drop_retracts: false }));
        let offset = self.value_offset();
        let mut computed = ComputedRows::new(self.value_schema.fields().len());
        let mut computed_id = store.reserve();
        while !heap.is_empty() {
            group.clear();
            advanced.clear();
            // Pop every cursor positioned at the smallest key: they come in sequence order.
            let first = heap[0];
            let group_key = repeats.then(|| cursors[first].key_at());
            loop {
                let top = heap[0];
                if !group.is_empty() {
                    let same = match &group_key {
                        Some(k) => cursors[top].has_key(k),
                        None => cursors[top].same_key(&cursors[first]),
                    };
                    if !same {
                        break;
                    }
                }
                let cur = &cursors[top];
                group.push((top, cur.pos().batch_id, cur.pos().row, cur.seq(), cur.kind()));
                pop(&mut heap, &cursors, less);
                if let (true, Some(key)) = (cursors[top].repeats, &group_key) {
                    // Its further versions of the key; it goes back on the heap after the group.
                    loop {
                        cursors[top].advance(self, split, &mut store)?;
                        let cur = &cursors[top];
                        if cur.current.is_none() || !cur.has_key(key) {
                            break;
                        }
                        group.push((top, cur.pos().batch_id, cur.pos().row, cur.seq(), cur.kind()));
                    }
                    advanced.push(top);
                }
                if heap.is_empty() {
                    break;
                }
            }
            group.sort_by_key(|g| g.3);
            if group.len() == 1 || by_kind {
                kinds.clear();
                kinds.extend(group.iter().map(|g| g.4));
                if let Some(pick) = self.merge.pick(&kinds)? {
                    let (_, batch_id, row, _, kind) = group[pick];
                    if !kind.is_retract() || keep_retracts {
                        out.push((batch_id, row));
                    }
                }
            } else {
                let mut versions: Vec<Version> = group
                    .iter()
                    .map(|&(_, batch_id, row, seq, kind)| Version {
                        source: batch_id,
                        columns: &store.values[&batch_id].columns()[offset..],
                        row,
                        seq,
                        kind,
                    })
                    .collect();
                match self.merge.merge(&mut versions)? {
                    Merged::Pick(p) => {
                        let v = &versions[p];
                        if !v.kind.is_retract() || keep_retracts {
                            out.push((v.source, v.row));
                        }
                    }
                    Merged::Row { seq, cells } => {
                        let k = computed.push(&versions, seq, cells);
                        out.push((computed_id, k));
                    }
                    Merged::Nothing => {}
                }
            }
            if out.len() >= self.batch_size {
                if !emit(self.build_output(&mut store, &out, &mut computed, &mut computed_id)?) {
                    return Ok(false);
                }
                out.clear();
                store.retain(&cursors);
            }
            for &(c, ..) in &group {
                if cursors[c].repeats {
                    continue; // moved on while the group was taken
                }
                cursors[c].advance(self, split, &mut store)?;
                if cursors[c].current.is_some() {
                    push(&mut heap, c, &cursors, less);
                }
            }
            for &c in &advanced {
                if cursors[c].current.is_some() {
                    push(&mut heap, c, &cursors, less);
                }
            }
        }
        if !out.is_empty() && !emit(self.build_output(&mut store, &out, &mut computed, &mut computed_id)?) {
            return Ok(false);
        }
        Ok(true)
    }

    /// One output batch of picked and computed rows; the computed rows are then cleared.
    fn build_output(
        &self,
        store: &mut BatchStore,
        out: &[(usize, usize)],
        computed: &mut ComputedRows,
        computed_id: &mut usize,
    ) -> Result<RecordBatch> {
        if computed.is_empty() {
            return store.build(out, self.batch_schema());
        }
        let batch = self.computed_batch(store, computed)?;
        store.values.insert(*computed_id, batch);
        let built = store.build(out, self.batch_schema());
        store.values.remove(computed_id);
        computed.clear();
        *computed_id = store.reserve();
        built
    }
}

/// The rows `rows` ((batch, row) pairs) of `batches`, as one batch in `schema`.
pub(crate) fn interleave_rows(
    batches: &[&RecordBatch],
    rows: &[(usize, usize)],
    schema: &SchemaRef,
) -> Result<RecordBatch> {
    let mut columns = Vec::with_capacity(schema.fields().len());
    for c in 0..schema.fields().len() {
        let arrays: Vec<&dyn Array> = batches.iter().map(|b| b.column(c).as_ref()).collect();
        columns.push(interleave(&arrays, rows).map_err(Error::arrow("assembling merged rows"))?);
    }
    RecordBatch::try_new_with_options(
        schema.clone(),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(rows.len())),
    )
    .map_err(Error::arrow("assembling merged rows"))
}

/// Rows computed by a merge as a batch in `schema`: values only, or with `key_value_keys`
/// key columns, in the key-value data-file layout (each row's keys copied from one of its
/// versions, its sequence number, kind +I, then the values). `batch_of(source)` gives a
/// source batch in the same layout.
pub(crate) fn computed_rows_batch<'a>(
    schema: &SchemaRef,
    key_value_keys: Option<usize>,
    computed: &ComputedRows,
    batch_of: &dyn Fn(usize) -> &'a RecordBatch,
) -> Result<RecordBatch> {
    let offset = key_value_keys.map_or(0, |k| k + 2);
    let types: Vec<_> = schema.fields()[offset..].iter().map(|f| f.data_type().clone()).collect();
    let values = computed.build(&types, &|id| &batch_of(id).columns()[offset..])?;
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(offset + values.len());
    if let Some(num_keys) = key_value_keys {
        let mut ids: Vec<usize> = computed.key_sources().iter().map(|s| s.0).collect();
        ids.sort_unstable();
        ids.dedup();
        let slot: HashMap<usize, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        let indices: Vec<(usize, usize)> = computed.key_sources().iter().map(|(id, row)| (slot[id], *row)).collect();
        for k in 0..num_keys {
            let arrays: Vec<&dyn Array> = ids.iter().map(|id| batch_of(*id).column(k).as_ref()).collect();
            columns.push(interleave(&arrays, &indices).map_err(Error::arrow("assembling merged keys"))?);
        }
        columns.push(Arc::new(Int64Array::from(computed.seqs().to_vec())));
        columns.push(Arc::new(Int8Array::from(vec![RowKind::Insert as i8; computed.len()])));
    }
    columns.extend(values);
    RecordBatch::try_new(schema.clone(), columns).map_err(Error::arrow("assembling merged rows"))
}
