//! The in-memory buffer of one bucket: rows in arrival order with their row kinds and sequence
//! numbers. A flush sorts by key (equal keys stay in sequence order), merges each key's versions
//! with the merge function, and yields one sorted run in the data-file layout.

use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, Int8Array, RecordBatch, UInt32Array};
use arrow_schema::SchemaRef;
use arrow_select::concat::{concat, concat_batches};
use arrow_select::take::take;

use crate::error::{Error, Result};
use crate::merge::keys::KeyEncoder;
use crate::merge::MergeFunction;
use crate::spec::RowKind;

#[derive(Default)]
pub struct WriteBuffer {
    batches: Vec<RecordBatch>,
    kinds: Vec<Int8Array>,
    first_seq: Vec<i64>,
    rows: usize,
    memory: usize,
}

impl WriteBuffer {
    pub fn push(&mut self, batch: RecordBatch, kinds: Int8Array, first_seq: i64) {
        self.memory += batch.get_array_memory_size() + kinds.len();
        self.rows += batch.num_rows();
        self.batches.push(batch);
        self.kinds.push(kinds);
        self.first_seq.push(first_seq);
    }
    pub fn memory(&self) -> usize {
        self.memory
    }
    pub fn rows(&self) -> usize {
        self.rows
    }
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Append tables: the rows as written, and the first sequence number.
    pub fn into_append_run(self, schema: &SchemaRef) -> Result<(RecordBatch, i64)> {
        let first = self.first_seq.first().copied().unwrap_or(0);
        let batch = concat_batches(schema, &self.batches).map_err(Error::arrow("concatenating buffered rows"))?;
        Ok((batch, first))
    }

    /// Primary-key tables: one sorted run in the key-value data-file layout (`kv_schema`), one row
    /// per key. `key_indices` are the trimmed primary-key columns within the table's columns.
    pub fn into_sorted_run(
        self,
        table_schema: &SchemaRef,
        kv_schema: &SchemaRef,
        key_indices: &[usize],
        merge: &MergeFunction,
    ) -> Result<RecordBatch> {
        let batch = concat_batches(table_schema, &self.batches).map_err(Error::arrow("concatenating buffered rows"))?;
        let kind_refs: Vec<&dyn arrow_array::Array> = self.kinds.iter().map(|k| k as &dyn arrow_array::Array).collect();
        let kinds = concat(&kind_refs).map_err(Error::arrow("concatenating row kinds"))?;
        let kinds = kinds.as_any().downcast_ref::<Int8Array>().expect("row kinds are Int8").clone();
        let mut seq = Vec::with_capacity(batch.num_rows());
        for (b, first) in self.batches.iter().zip(&self.first_seq) {
            seq.extend(*first..*first + b.num_rows() as i64);
        }
        let key_cols: Vec<ArrayRef> = key_indices.iter().map(|&i| batch.column(i).clone()).collect();
        let key_types: Vec<_> = key_cols.iter().map(|c| c.data_type().clone()).collect();
        let keys = KeyEncoder::new(&key_types)?.encode(&key_cols)?;
        let order = keys.sorted_indices();

        // Walk runs of equal keys and let the merge function pick each key's version.
        let mut selected: Vec<u32> = Vec::with_capacity(order.len());
        let mut group_kinds: Vec<RowKind> = Vec::new();
        let mut start = 0;
        while start < order.len() {
            let mut end = start + 1;
            while end < order.len() && keys.cmp_with(order[start] as usize, &keys, order[end] as usize).is_eq() {
                end += 1;
            }
            if end - start == 1 {
                selected.push(order[start]);
            } else {
                group_kinds.clear();
                for &i in &order[start..end] {
                    group_kinds.push(RowKind::from_byte(kinds.value(i as usize)).unwrap_or(RowKind::Insert));
                }
                if let Some(pick) = merge.pick(&group_kinds) {
                    selected.push(order[start + pick]);
                }
            }
            start = end;
        }
        let idx = UInt32Array::from(selected);
        let take_col = |c: &ArrayRef| take(c.as_ref(), &idx, None).map_err(Error::arrow("selecting merged rows"));
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(kv_schema.fields().len());
        for c in &key_cols {
            columns.push(take_col(c)?);
        }
        columns.push(take_col(&(Arc::new(Int64Array::from(seq)) as ArrayRef))?);
        columns.push(take_col(&(Arc::new(kinds) as ArrayRef))?);
        for c in batch.columns() {
            columns.push(take_col(c)?);
        }
        RecordBatch::try_new(kv_schema.clone(), columns).map_err(Error::arrow("building a data-file batch"))
    }
}
