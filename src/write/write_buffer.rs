//! The in-memory buffer of one bucket: references to the rows written to it, in arrival order,
//! with their row kinds and sequence numbers. Input batches are shared by reference between the
//! buckets their rows hash to (no copy at write time); a flush sorts the bucket's rows by key
//! (equal keys stay in sequence order), merges each key's versions with the merge function, and
//! assembles one sorted run in the data-file layout with a single gather per column.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type};
use arrow_array::{Array, ArrayRef, Int64Array, Int8Array, RecordBatch, UInt32Array};
use arrow_buffer::ScalarBuffer;
use arrow_row::{RowConverter, SortField};
use arrow_schema::{DataType as ArrowType, SchemaRef};
use arrow_select::interleave::interleave;
use arrow_select::take::take;

use crate::error::{Error, Result};
use crate::merge::cell::{ComputedRows, Version};
use crate::merge::keys::SortKeys;
use crate::merge::{MergeFunction, Merged};
use crate::spec::RowKind;

/// Some rows of a shared input batch.
struct Part {
    batch_id: u64,
    batch: RecordBatch,
    /// Row indices into `batch`, or None for all of its rows.
    rows: Option<Arc<[u32]>>,
    /// Row kinds aligned with the rows, or None when all are +I.
    kinds: Option<Vec<i8>>,
    first_seq: i64,
}

impl Part {
    fn len(&self) -> usize {
        self.rows.as_ref().map(|r| r.len()).unwrap_or(self.batch.num_rows())
    }
    fn row(&self, i: usize) -> usize {
        self.rows.as_ref().map(|r| r[i] as usize).unwrap_or(i)
    }
}

#[derive(Default)]
pub(super) struct WriteBuffer {
    parts: Vec<Part>,
    rows: usize,
}

impl WriteBuffer {
    /// Buffers `rows` of `batch` (all when None) with their kinds; sequence numbers start at `first_seq`.
    pub(super) fn push(
        &mut self,
        batch_id: u64,
        batch: RecordBatch,
        rows: Option<Arc<[u32]>>,
        kinds: Option<Vec<i8>>,
        first_seq: i64,
    ) {
        let part = Part { batch_id, batch, rows, kinds, first_seq };
        self.rows += part.len();
        self.parts.push(part);
    }

    pub(super) fn rows(&self) -> usize {
        self.rows
    }
    pub(super) fn is_empty(&self) -> bool {
        self.rows == 0
    }
    /// The ids of the input batches this buffer refers to (each once).
    pub(super) fn batch_ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self.parts.iter().map(|p| p.batch_id).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The distinct batches and, per buffered row in sequence order, (batch index, row).
    fn gather_plan(&self) -> (Vec<RecordBatch>, Vec<(usize, usize)>) {
        let mut batches = vec![];
        let mut index: HashMap<u64, usize> = HashMap::new();
        let mut rows = Vec::with_capacity(self.rows);
        for p in &self.parts {
            let b = *index.entry(p.batch_id).or_insert_with(|| {
                batches.push(p.batch.clone());
                batches.len() - 1
            });
            rows.extend((0..p.len()).map(|i| (b, p.row(i))));
        }
        (batches, rows)
    }

    fn gather(batches: &[RecordBatch], col: usize, rows: &[(usize, usize)]) -> Result<ArrayRef> {
        if let [only] = batches {
            // One source batch (the common case): a plain take is cheaper than an interleave.
            let idx = UInt32Array::from_iter_values(rows.iter().map(|r| r.1 as u32));
            return take(only.column(col).as_ref(), &idx, None).map_err(Error::arrow("gathering buffered rows"));
        }
        let arrays: Vec<&dyn Array> = batches.iter().map(|b| b.column(col).as_ref()).collect();
        interleave(&arrays, rows).map_err(Error::arrow("gathering buffered rows"))
    }

    /// Append tables: the rows as written, and the first sequence number.
    pub(super) fn into_append_run(self) -> (SortedRun, i64) {
        let first = self.parts.first().map(|p| p.first_seq).unwrap_or(0);
        let (batches, rows) = self.gather_plan();
        (SortedRun { batches, rows, kv: None }, first)
    }

    /// Column `k` (an integer key) of every buffered row, in sequence order.
    fn gather_ints<T: arrow_array::ArrowPrimitiveType>(&self, k: usize) -> ScalarBuffer<T::Native> {
        let mut v = Vec::with_capacity(self.rows);
        for p in &self.parts {
            let col = p.batch.column(k).as_primitive::<T>().values();
            v.extend((0..p.len()).map(|i| col[p.row(i)]));
        }
        ScalarBuffer::from(v)
    }

    /// The sort keys of every buffered row, in sequence order.
    fn keys(&self, key_indices: &[usize]) -> Result<SortKeys> {
        if let [k] = key_indices {
            let t = self.parts.first().map(|p| p.batch.column(*k).data_type().clone());
            match t {
                Some(ArrowType::Int64) => return Ok(SortKeys::I64(self.gather_ints::<Int64Type>(*k))),
                Some(ArrowType::Int32) => return Ok(SortKeys::I32(self.gather_ints::<Int32Type>(*k))),
                _ => {}
            }
        }
        let Some(first) = self.parts.first() else {
            return Ok(SortKeys::I64(ScalarBuffer::from(Vec::<i64>::new())));
        };
        let fields = key_indices.iter().map(|&k| SortField::new(first.batch.column(k).data_type().clone())).collect();
        let converter = RowConverter::new(fields).map_err(Error::arrow("building the key comparator"))?;
        let mut rows = converter.empty_rows(self.rows, self.rows * 16);
        for p in &self.parts {
            let cols: Vec<ArrayRef> = match &p.rows {
                None => key_indices.iter().map(|&k| p.batch.column(k).clone()).collect(),
                Some(r) => {
                    let idx = UInt32Array::from(r.to_vec());
                    key_indices
                        .iter()
                        .map(|&k| take(p.batch.column(k).as_ref(), &idx, None))
                        .collect::<std::result::Result<_, _>>()
                        .map_err(Error::arrow("selecting key columns"))?
                }
            };
            converter.append(&mut rows, &cols).map_err(Error::arrow("encoding keys"))?;
        }
        Ok(SortKeys::Rows(rows))
    }

    /// Primary-key tables: one sorted run (see [`SortedRun::emit`] for the layout), one row
    /// per key. `key_indices` are the trimmed primary-key columns within the table's columns.
    /// With `changelog` (`changelog-producer = input`), also every buffered row unmerged, in the
    /// same layout, sorted by key and then sequence number (Paimon's MergeTreeWriter hands each
    /// input record to the changelog writer as the sorted buffer is walked).
    pub(super) fn into_sorted_run(
        self,
        table_schema: &SchemaRef,
        key_indices: &[usize],
        merge: &MergeFunction,
        changelog: bool,
    ) -> Result<(SortedRun, Option<SortedRun>)> {
        let keys = self.keys(key_indices)?;
        let mut kinds: Vec<i8> = Vec::with_capacity(self.rows);
        let mut seq: Vec<i64> = Vec::with_capacity(self.rows);
        for p in &self.parts {
            match &p.kinds {
                Some(k) => kinds.extend_from_slice(k),
                None => kinds.resize(kinds.len() + p.len(), RowKind::Insert as i8),
            }
            seq.extend(p.first_seq..p.first_seq + p.len() as i64);
        }
        let order = keys.sorted_indices();
        let (mut batches, all_rows) = self.gather_plan();
        let changelog_run = if changelog {
            let rows: Vec<(usize, usize)> = order.iter().map(|&i| all_rows[i as usize]).collect();
            let seqs: Vec<i64> = order.iter().map(|&i| seq[i as usize]).collect();
            let row_kinds: Vec<i8> = order.iter().map(|&i| kinds[i as usize]).collect();
            Some(SortedRun { batches: batches.clone(), rows, kv: Some((seqs, row_kinds)) })
        } else {
            None
        };

        // Walk runs of equal keys (in sequence order) and merge each key's versions. Picked
        // versions are gathered from the input batches; computed rows (partial-update,
        // aggregation) are built into one extra batch.
        let mut selected: Vec<(usize, usize)> = Vec::with_capacity(order.len());
        let mut out_seq: Vec<i64> = Vec::with_capacity(order.len());
        let mut out_kind: Vec<i8> = Vec::with_capacity(order.len());
        let mut computed = ComputedRows::new(table_schema.fields().len());
        let computed_batch = batches.len();
        let by_kind = merge.picks_by_kind();
        let mut group_kinds: Vec<RowKind> = Vec::new();
        let mut start = 0;
        while start < order.len() {
            let mut end = start + 1;
            while end < order.len() && keys.cmp_with(order[start] as usize, &keys, order[end] as usize).is_eq() {
                end += 1;
            }
            let group = &order[start..end];
            start = end;
            let chosen = if group.len() == 1 {
                Some(group[0] as usize)
            } else if by_kind {
                group_kinds.clear();
                group_kinds
                    .extend(group.iter().map(|&i| RowKind::from_byte(kinds[i as usize]).unwrap_or(RowKind::Insert)));
                merge.pick(&group_kinds)?.map(|p| group[p] as usize)
            } else {
                let mut versions: Vec<Version> = group
                    .iter()
                    .map(|&i| {
                        let (b, row) = all_rows[i as usize];
                        Version {
                            source: b,
                            columns: batches[b].columns(),
                            row,
                            seq: seq[i as usize],
                            kind: RowKind::from_byte(kinds[i as usize]).unwrap_or(RowKind::Insert),
                        }
                    })
                    .collect();
                match merge.merge(&mut versions)? {
                    // Sequence numbers identify buffered rows.
                    Merged::Pick(p) => group.iter().map(|&i| i as usize).find(|&i| seq[i] == versions[p].seq),
                    Merged::Nothing => None,
                    Merged::Row { seq: s, cells } => {
                        let k = computed.push(&versions, s, cells);
                        selected.push((computed_batch, k));
                        out_seq.push(s);
                        out_kind.push(RowKind::Insert as i8);
                        None
                    }
                }
            };
            if let Some(i) = chosen {
                selected.push(all_rows[i]);
                out_seq.push(seq[i]);
                out_kind.push(kinds[i]);
            }
        }
        if !computed.is_empty() {
            let types: Vec<_> = table_schema.fields().iter().map(|f| f.data_type().clone()).collect();
            let columns = computed.build(&types, &|b| batches[b].columns())?;
            let batch =
                RecordBatch::try_new(table_schema.clone(), columns).map_err(Error::arrow("assembling merged rows"))?;
            batches.push(batch);
        }
        Ok((SortedRun { batches, rows: selected, kv: Some((out_seq, out_kind)) }, changelog_run))
    }
}

/// A flushed buffer's rows in their order in the file (by key, for primary-key tables), as
/// references into the buffered batches: assembled a slice at a time while the file is encoded,
/// so a flush never holds a second copy of the buffer.
pub(super) struct SortedRun {
    batches: Vec<RecordBatch>,
    /// (batch, row) of each output row, in order.
    rows: Vec<(usize, usize)>,
    /// Primary-key tables: each output row's sequence number and row kind.
    kv: Option<(Vec<i64>, Vec<i8>)>,
}

impl SortedRun {
    #[cfg(test)]
    pub(super) fn num_rows(&self) -> usize {
        self.rows.len()
    }

    /// Hands the rows to `sink`, `chunk` rows at a time: in the key-value data-file layout
    /// (`kv_schema`: keys at `key_indices`, sequence numbers, kinds, values) for primary-key
    /// tables, as the table's columns (`table_schema`) for append tables.
    pub(super) fn emit(
        &self,
        table_schema: &SchemaRef,
        kv_schema: &SchemaRef,
        key_indices: &[usize],
        chunk: usize,
        sink: &mut dyn FnMut(RecordBatch) -> Result<()>,
    ) -> Result<()> {
        let mut at = 0;
        while at < self.rows.len() {
            let end = (at + chunk.max(1)).min(self.rows.len());
            let rows = &self.rows[at..end];
            let values = (0..table_schema.fields().len())
                .map(|c| WriteBuffer::gather(&self.batches, c, rows))
                .collect::<Result<Vec<_>>>()?;
            let batch = match &self.kv {
                None => RecordBatch::try_new(table_schema.clone(), values)
                    .map_err(Error::arrow("assembling buffered rows"))?,
                Some((seqs, kinds)) => {
                    let mut columns: Vec<ArrayRef> = Vec::with_capacity(kv_schema.fields().len());
                    for &k in key_indices {
                        columns.push(values[k].clone());
                    }
                    columns.push(Arc::new(Int64Array::from(seqs[at..end].to_vec())));
                    columns.push(Arc::new(Int8Array::from(kinds[at..end].to_vec())));
                    columns.extend(values);
                    RecordBatch::try_new(kv_schema.clone(), columns)
                        .map_err(Error::arrow("building a data-file batch"))?
                }
            };
            sink(batch)?;
            at = end;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
