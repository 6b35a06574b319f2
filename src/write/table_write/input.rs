//! An input batch: checked against the table's columns ([`conform_batch`]), and each row's
//! partition and bucket.

use std::collections::HashMap;

use arrow_array::{Array, ArrayRef, RecordBatch, UInt32Array};
use arrow_cast::{can_cast_types, cast_with_options, CastOptions};
use arrow_schema::SchemaRef;
use arrow_select::take::take;

use crate::error::{Error, Result};
use crate::spec::{bucket_of, BinaryRow, BinaryRowWriter, NullStyle, TableSchema};

use super::bucket::BucketId;
use super::TableWrite;

impl TableWrite {
    /// Partition and bucket of every row: per row a group index, and the groups. `routed`: the
    /// buckets already chosen (cross-partition upsert tables).
    pub(super) async fn assign(
        &mut self,
        batch: &RecordBatch,
        routed: Option<&[i32]>,
    ) -> Result<(Vec<u32>, Vec<BucketId>)> {
        let n = batch.num_rows();
        let fields = &self.schema.fields;
        let mut part_writer = BinaryRowWriter::new(self.partition_indices.len());
        let mut key_writer = BinaryRowWriter::new(self.bucket_key_indices.len());
        let mut group_of_row = Vec::with_capacity(n);
        let mut groups: Vec<(BinaryRow, i32)> = Vec::new();
        let mut lookup: HashMap<(Vec<u8>, i32), u32> = HashMap::new();
        let part_cols: Vec<&ArrayRef> = self.partition_indices.iter().map(|&i| batch.column(i)).collect();
        let key_cols: Vec<&ArrayRef> = self.bucket_key_indices.iter().map(|&i| batch.column(i)).collect();
        let mut last: Option<(Vec<u8>, i32, u32)> = None;
        for row in 0..n {
            part_writer.reset();
            for (pos, (col, &fi)) in part_cols.iter().zip(&self.partition_indices).enumerate() {
                part_writer.write_from_array(pos, col.as_ref(), row, &fields[fi].data_type, NullStyle::Projection)?;
            }
            let bucket = if let Some(b) = routed.and_then(|r| r.get(row)) {
                *b
            } else if self.dynamic.is_some() || self.num_buckets > 0 {
                // The bucket key's BinaryRow hash (single integer keys without building the row).
                let hash = match fast_hash(&key_cols, row) {
                    Some(h) => h,
                    None => {
                        key_writer.reset();
                        for (pos, (col, &fi)) in key_cols.iter().zip(&self.bucket_key_indices).enumerate() {
                            key_writer.write_from_array(
                                pos,
                                col.as_ref(),
                                row,
                                &fields[fi].data_type,
                                NullStyle::Projection,
                            )?;
                        }
                        key_writer.hash_code()
                    }
                };
                match self.dynamic.as_mut() {
                    Some(dynamic) => {
                        if !dynamic.is_loaded(part_writer.as_bytes()) {
                            dynamic.load(&part_writer.to_row()).await?;
                        }
                        dynamic.assign(part_writer.as_bytes(), hash)?
                    }
                    None => bucket_of(hash, self.num_buckets),
                }
            } else {
                0
            };
            let pbytes = part_writer.as_bytes();
            if let Some((lp, lb, lg)) = &last {
                if *lb == bucket && lp.as_slice() == pbytes {
                    group_of_row.push(*lg);
                    continue;
                }
            }
            let key = (pbytes.to_vec(), bucket);
            let g = match lookup.get(&key) {
                Some(g) => *g,
                None => {
                    let g = groups.len() as u32;
                    groups.push((part_writer.to_row(), bucket));
                    lookup.insert(key.clone(), g);
                    g
                }
            };
            group_of_row.push(g);
            last = Some((key.0, key.1, g));
        }
        Ok((group_of_row, groups))
    }
}

/// The bucket-key hash of a single non-null BIGINT or INT key, without building the row.
fn fast_hash(key_cols: &[&ArrayRef], row: usize) -> Option<i32> {
    use arrow_array::cast::AsArray;
    let [col] = key_cols else { return None };
    if col.null_count() > 0 {
        return None;
    }
    match col.data_type() {
        arrow_schema::DataType::Int64 => Some(crate::spec::binary_row::hash_single_long(
            col.as_primitive::<arrow_array::types::Int64Type>().value(row),
        )),
        arrow_schema::DataType::Int32 => Some(crate::spec::binary_row::hash_single_int(
            col.as_primitive::<arrow_array::types::Int32Type>().value(row),
        )),
        _ => None,
    }
}

pub(super) fn take_rows(batch: &RecordBatch, idx: &UInt32Array) -> Result<RecordBatch> {
    let cols = batch
        .columns()
        .iter()
        .map(|c| take(c.as_ref(), idx, None))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(Error::arrow("splitting a batch by bucket"))?;
    RecordBatch::try_new(batch.schema(), cols).map_err(Error::arrow("splitting a batch by bucket"))
}

/// Checks a user batch against the table: same columns by name and order, types equal or safely
/// castable, and no nulls in NOT NULL columns. Returns the batch with the table's Arrow schema.
pub(crate) fn conform_batch(batch: &RecordBatch, target: &SchemaRef, schema: &TableSchema) -> Result<RecordBatch> {
    let got = batch.schema();
    if got.fields().len() != target.fields().len()
        || got.fields().iter().zip(target.fields()).any(|(a, b)| a.name() != b.name())
    {
        let names =
            |s: &arrow_schema::Schema| s.fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(", ");
        return Err(Error::SchemaMismatch(format!(
            "the batch's columns ({}) do not match the table's columns ({})",
            names(&got),
            names(target)
        )));
    }
    let mut cols = Vec::with_capacity(batch.num_columns());
    for ((col, want), field) in batch.columns().iter().zip(target.fields()).zip(&schema.fields) {
        let col = if col.data_type() == want.data_type() {
            col.clone()
        } else if can_cast_types(col.data_type(), want.data_type()) {
            cast_with_options(col, want.data_type(), &CastOptions { safe: false, ..Default::default() }).map_err(
                |e| {
                    Error::SchemaMismatch(format!(
                        "column {:?}: cannot convert {} to the table's type {} ({e})",
                        field.name,
                        col.data_type(),
                        field.data_type
                    ))
                },
            )?
        } else {
            return Err(Error::SchemaMismatch(format!(
                "column {:?} has Arrow type {}, but the table's type is {} (Arrow {})",
                field.name,
                col.data_type(),
                field.data_type,
                want.data_type()
            )));
        };
        if !field.data_type.nullable && col.null_count() > 0 {
            let row = (0..col.len()).find(|i| col.is_null(*i)).unwrap_or(0);
            let what = if schema.primary_keys.contains(&field.name) { "primary-key column" } else { "NOT NULL column" };
            return Err(Error::SchemaMismatch(format!("{what} {:?} is null in row {row} of the batch", field.name)));
        }
        cols.push(col);
    }
    RecordBatch::try_new(target.clone(), cols).map_err(Error::arrow("conforming the batch to the table schema"))
}
