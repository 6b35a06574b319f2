//! Executes a compaction unit: merges its files (the same merge as reads, keeping retractions
//! unless nothing older lies below the output level) and writes the result as new files on the
//! output level. A unit of one file that needs no rewriting is upgraded: the same file is
//! recorded on the new level (Paimon's DELETE old level + ADD new level of one file name).

use std::sync::Arc;

use arrow_array::RecordBatch;

use crate::error::{Error, Result};
use crate::io::FileIO;
use crate::lsm::deletion_vectors::BucketDeletionVectors;
use crate::lsm::lookup::{LookupCache, LookupLevels};
use crate::lsm::CompactUnit;
use crate::merge::cell::{ComputedRows, Version};
use crate::merge::keys::KeyEncoder;
use crate::merge::{MergeFunction, Merged};
use crate::read::scan::SplitDeletionVector;
use crate::read::{DataSplit, SplitReader};
use crate::spec::{BinaryRow, DataFileMeta, FileSource, RowKind, TableSchema};
use crate::store::SchemaManager;
use crate::write::data_file_writer::{encode_files, upload_files, FileWriterConfig};

/// The files a compaction removed and the files it produced.
#[derive(Clone, Debug, Default)]
pub struct CompactResult {
    pub before: Vec<DataFileMeta>,
    pub after: Vec<DataFileMeta>,
}

/// What a compaction of a table with deletion vectors reads and updates in its bucket: the
/// vectors, and the lookup indexes of the bucket's files.
#[derive(Clone, Default)]
pub struct DvState {
    pub vectors: BucketDeletionVectors,
    pub cache: LookupCache,
}

/// Everything needed to rewrite files of one table.
#[derive(Clone)]
pub struct Rewriter {
    pub io: FileIO,
    pub schemas: SchemaManager,
    pub schema: Arc<TableSchema>,
    pub cfg: Arc<FileWriterConfig>,
    pub next_name: Arc<dyn Fn() -> String + Send + Sync>,
}

impl Rewriter {
    pub fn new(io: FileIO, schema: Arc<TableSchema>) -> Result<Rewriter> {
        let uuid = uuid::Uuid::new_v4().to_string();
        let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
        Ok(Rewriter {
            schemas: SchemaManager::new(io.clone()),
            cfg: Arc::new(FileWriterConfig::new(schema.clone())?),
            io,
            schema,
            next_name: Arc::new(move || {
                format!("data-{uuid}-{}.parquet", counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
            }),
        })
    }

    /// Runs `unit` for the bucket at `bucket_path`. `drop_retracts`: the output level is at or
    /// below every other file of the bucket, so retractions have nothing left to retract.
    pub async fn rewrite(
        &self,
        partition: &BinaryRow,
        bucket: i32,
        bucket_path: &str,
        unit: CompactUnit,
        drop_retracts: bool,
    ) -> Result<CompactResult> {
        if let [only] = unit.files.as_slice() {
            let needs_rewrite = drop_retracts && only.delete_row_count.unwrap_or(1) > 0;
            if !needs_rewrite {
                if only.level == unit.output_level {
                    return Ok(CompactResult::default());
                }
                let mut upgraded = only.clone();
                upgraded.level = unit.output_level;
                return Ok(CompactResult { before: vec![only.clone()], after: vec![upgraded] });
            }
        }
        let split = DataSplit {
            snapshot_id: 0,
            partition: partition.clone(),
            bucket,
            bucket_path: bucket_path.to_string(),
            total_buckets: 0,
            files: unit.files.clone(),
            deletion_vectors: Default::default(),
        };
        let reader = SplitReader::for_compaction(
            self.io.clone(),
            self.schemas.clone(),
            self.schema.clone(),
            tokio::runtime::Handle::current(),
            drop_retracts,
        )?;
        let cfg = self.cfg.clone();
        let next_name = self.next_name.clone();
        let level = unit.output_level;
        let encoded = tokio::task::spawn_blocking(move || -> Result<_> {
            let mut batches: Vec<RecordBatch> = vec![];
            reader.read_split(&split, &mut |b| {
                batches.push(b);
                true
            })?;
            let schema = reader.output_schema().clone();
            let all = arrow_select::concat::concat_batches(&schema, &batches).map_err(Error::arrow("collecting compacted rows"))?;
            if all.num_rows() == 0 {
                return Ok(vec![]);
            }
            encode_files(&cfg, &all, level, FileSource::Compact, || next_name(), None)
        })
        .await
        .map_err(|e| Error::Task(e.to_string()))??;
        let after = upload_files(&self.io, bucket_path, encoded).await?;
        Ok(CompactResult { before: unit.files, after })
    }
}

impl Rewriter {
    /// Compaction of a table with `deletion-vectors.enabled` (Paimon's lookup compaction):
    /// merges the unit's files minus their deleted rows; then every key written is looked up
    /// on the levels below the output (`deeper`: the bucket's files there), and a live older
    /// row found there is marked deleted in its file's vector, after being merged into the
    /// output when the merge engine needs old values (partial-update, aggregation,
    /// `sequence.field`). Retractions have then done their work and are dropped. The vectors of
    /// the input files go with them.
    pub async fn rewrite_with_deletion_vectors(
        &self,
        partition: &BinaryRow,
        bucket: i32,
        bucket_path: &str,
        unit: CompactUnit,
        deeper: Vec<DataFileMeta>,
        mut state: DvState,
    ) -> Result<(CompactResult, DvState)> {
        if let [only] = unit.files.as_slice() {
            // A file above level 0 holds live rows only (its vector stays with its name).
            if only.level > 0 {
                if only.level == unit.output_level {
                    return Ok((CompactResult::default(), state));
                }
                let mut upgraded = only.clone();
                upgraded.level = unit.output_level;
                return Ok((CompactResult { before: vec![only.clone()], after: vec![upgraded] }, state));
            }
        }
        let deletion_vectors = unit
            .files
            .iter()
            .filter_map(|f| state.vectors.get(&f.file_name).map(|v| (f.file_name.clone(), SplitDeletionVector::Loaded(v.clone()))))
            .collect();
        let split = DataSplit {
            snapshot_id: 0,
            partition: partition.clone(),
            bucket,
            bucket_path: bucket_path.to_string(),
            total_buckets: 0,
            files: unit.files.clone(),
            deletion_vectors,
        };
        let handle = tokio::runtime::Handle::current();
        let merge = MergeFunction::from_schema(&self.schema)?;
        let needs_old_values = !merge.picks_by_kind();
        let reader =
            SplitReader::for_compaction(self.io.clone(), self.schemas.clone(), self.schema.clone(), handle.clone(), deeper.is_empty())?;
        let lookup_reader = if needs_old_values {
            reader.clone()
        } else {
            SplitReader::new(self.io.clone(), self.schemas.clone(), self.schema.clone(), vec![], handle)?
        };
        let num_keys = self.schema.trimmed_key_fields().len();
        let key_types: Vec<_> = self.schema.trimmed_key_fields().iter().map(|f| f.data_type.to_arrow()).collect();
        let cfg = self.cfg.clone();
        let next_name = self.next_name.clone();
        let level = unit.output_level;
        let path = bucket_path.to_string();
        let (encoded, state) = tokio::task::spawn_blocking(move || -> Result<_> {
            let levels = LookupLevels::load(&lookup_reader, &path, &deeper, &mut state.cache)?;
            let resolver = Resolver { merge, needs_old_values, num_keys, encoder: KeyEncoder::new(&key_types)?, levels };
            let mut batches: Vec<RecordBatch> = vec![];
            let mut failure = None;
            reader.read_split(&split, &mut |b| match resolver.resolve(b, &mut state.vectors) {
                Ok(b) => {
                    batches.push(b);
                    true
                }
                Err(e) => {
                    failure = Some(e);
                    false
                }
            })?;
            if let Some(e) = failure {
                return Err(e);
            }
            for f in &split.files {
                state.vectors.remove_file(&f.file_name);
            }
            let schema = reader.output_schema().clone();
            let all = arrow_select::concat::concat_batches(&schema, &batches).map_err(Error::arrow("collecting compacted rows"))?;
            if all.num_rows() == 0 {
                return Ok((vec![], state));
            }
            Ok((encode_files(&cfg, &all, level, FileSource::Compact, || next_name(), None)?, state))
        })
        .await
        .map_err(|e| Error::Task(e.to_string()))??;
        let after = upload_files(&self.io, bucket_path, encoded).await?;
        Ok((CompactResult { before: unit.files, after }, state))
    }
}

/// Turns merged compaction output into what goes on the output level of a deletion-vector
/// table (see [`Rewriter::rewrite_with_deletion_vectors`]).
struct Resolver {
    merge: MergeFunction,
    needs_old_values: bool,
    num_keys: usize,
    encoder: KeyEncoder,
    levels: LookupLevels,
}

impl Resolver {
    fn resolve(&self, batch: RecordBatch, vectors: &mut BucketDeletionVectors) -> Result<RecordBatch> {
        use arrow_array::cast::AsArray;
        use arrow_array::types::{Int64Type, Int8Type};
        if self.levels.is_empty() {
            return Ok(batch); // nothing below: the merge already dropped retractions
        }
        let nk = self.num_keys;
        let offset = nk + 2;
        let keys = self.encoder.encode(&batch.columns()[..nk])?;
        let seqs = batch.column(nk).as_primitive::<Int64Type>().values().clone();
        let kinds = batch.column(nk + 1).as_primitive::<Int8Type>().values().clone();
        let kind_of = |k: i8| RowKind::from_byte(k).ok_or_else(|| Error::InvalidInput(format!("_VALUE_KIND {k} is not a row kind")));
        // Output rows as (source, row): source 0 is `batch`, then old rows' files, then computed rows.
        let mut sources: Vec<RecordBatch> = vec![batch.clone()];
        let mut source_of_file: std::collections::HashMap<String, usize> = Default::default();
        let mut out: Vec<(usize, usize)> = Vec::with_capacity(batch.num_rows());
        let mut computed = ComputedRows::new(batch.num_columns() - offset);
        const COMPUTED: usize = usize::MAX;
        let mut merged: Vec<(Vec<(usize, usize, i64, RowKind)>, i64, Vec<crate::merge::cell::Cell>)> = vec![];
        for i in 0..batch.num_rows() {
            let kind = kind_of(kinds[i])?;
            let Some(found) = self.levels.lookup(&keys, i, vectors) else {
                if !kind.is_retract() {
                    out.push((0, i));
                }
                continue;
            };
            let (old_file, old_pos) = (found.file.file_name.clone(), found.position as usize);
            if !self.needs_old_values {
                vectors.delete_row(&old_file, old_pos as u32);
                if !kind.is_retract() {
                    out.push((0, i));
                }
                continue;
            }
            let src = *source_of_file.entry(old_file.clone()).or_insert_with(|| {
                sources.push(found.index.rows.clone());
                sources.len() - 1
            });
            let old = &sources[src];
            let old_seq = old.column(nk).as_primitive::<Int64Type>().value(old_pos);
            let old_kind = kind_of(old.column(nk + 1).as_primitive::<Int8Type>().value(old_pos))?;
            vectors.delete_row(&old_file, old_pos as u32);
            let mut versions = [
                Version { source: src, columns: &old.columns()[offset..], row: old_pos, seq: old_seq, kind: old_kind },
                Version { source: 0, columns: &batch.columns()[offset..], row: i, seq: seqs[i], kind },
            ];
            match self.merge.merge(&mut versions)? {
                Merged::Pick(p) => {
                    if !versions[p].kind.is_retract() {
                        out.push((versions[p].source, versions[p].row));
                    }
                }
                Merged::Row { seq, cells } => {
                    let refs = versions.iter().map(|v| (v.source, v.row, v.seq, v.kind)).collect();
                    merged.push((refs, seq, cells));
                    out.push((COMPUTED, merged.len() - 1));
                }
                Merged::Nothing => {}
            }
        }
        if !merged.is_empty() {
            for (refs, seq, cells) in merged {
                let versions: Vec<Version> = refs
                    .iter()
                    .map(|&(source, row, seq, kind)| Version { source, columns: &sources[source].columns()[offset..], row, seq, kind })
                    .collect();
                computed.push(&versions, seq, cells);
            }
            let schema = batch.schema();
            let types: Vec<_> = schema.fields()[offset..].iter().map(|f| f.data_type().clone()).collect();
            let values = computed.build(&types, &|id| &sources[id].columns()[offset..])?;
            let key_rows: Vec<(usize, usize)> = computed.key_sources().to_vec();
            let mut columns: Vec<arrow_array::ArrayRef> = Vec::with_capacity(batch.num_columns());
            for k in 0..nk {
                let arrays: Vec<&dyn arrow_array::Array> = sources.iter().map(|s| s.column(k).as_ref()).collect();
                columns.push(arrow_select::interleave::interleave(&arrays, &key_rows).map_err(Error::arrow("assembling merged keys"))?);
            }
            columns.push(Arc::new(arrow_array::Int64Array::from(computed.seqs().to_vec())));
            columns.push(Arc::new(arrow_array::Int8Array::from(vec![RowKind::Insert as i8; computed.len()])));
            columns.extend(values);
            let built = RecordBatch::try_new(schema, columns).map_err(Error::arrow("assembling merged rows"))?;
            sources.push(built);
            let c = sources.len() - 1;
            for o in out.iter_mut() {
                if o.0 == COMPUTED {
                    o.0 = c;
                }
            }
        }
        if out.len() == batch.num_rows() && out.iter().enumerate().all(|(i, o)| *o == (0, i)) {
            return Ok(batch);
        }
        let mut columns = Vec::with_capacity(batch.num_columns());
        for c in 0..batch.num_columns() {
            let arrays: Vec<&dyn arrow_array::Array> = sources.iter().map(|s| s.column(c).as_ref()).collect();
            columns.push(arrow_select::interleave::interleave(&arrays, &out).map_err(Error::arrow("assembling compacted rows"))?);
        }
        RecordBatch::try_new_with_options(
            batch.schema(),
            columns,
            &arrow_array::RecordBatchOptions::new().with_row_count(Some(out.len())),
        )
        .map_err(Error::arrow("assembling compacted rows"))
    }
}
