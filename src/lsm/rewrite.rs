//! Executes a compaction unit: merges its files (the same merge as reads, keeping retractions
//! unless nothing older lies below the output level) and writes the result as new files on the
//! output level. A unit of one file that needs no rewriting is upgraded: the same file is
//! recorded on the new level (Paimon's DELETE old level + ADD new level of one file name).

use std::sync::Arc;

use arrow_array::RecordBatch;

use crate::data_file::{DataFileNamer, DecodedFiles, FileWriterConfig, RollingWriter};
use crate::error::{Error, Result};
use crate::io::FileIO;
use crate::lsm::deletion_vectors::BucketDeletionVectors;
use crate::lsm::lookup::{Block, BlockCache, LookupCache, LookupLevels};
use crate::lsm::CompactUnit;
use crate::merge::cell::{ComputedRows, Version};
use crate::merge::keys::KeyEncoder;
use crate::merge::{MergeFunction, Merged};
use crate::read::merge_read::{computed_rows_batch, interleave_rows};
use crate::read::scan::SplitDeletionVector;
use crate::read::{DataSplit, SplitReader};
use crate::spec::{BinaryRow, DataFileMeta, FileSource, RowKind, TableSchema};
use crate::store::SchemaManager;

/// The files a compaction removed and the files it produced.
#[derive(Clone, Debug, Default)]
pub(crate) struct CompactResult {
    pub before: Vec<DataFileMeta>,
    pub after: Vec<DataFileMeta>,
    /// `changelog-producer = lookup`: the changelog the compaction produced.
    pub changelog: Vec<DataFileMeta>,
}

/// What a lookup compaction reads and updates in its bucket: the deletion vectors (empty for
/// tables without them), and the lookup indexes of the bucket's files.
#[derive(Clone, Default)]
pub(crate) struct DvState {
    pub vectors: BucketDeletionVectors,
    pub cache: LookupCache,
}

/// Everything needed to rewrite files of one table.
#[derive(Clone)]
pub(crate) struct Rewriter {
    pub io: FileIO,
    pub schemas: SchemaManager,
    pub schema: Arc<TableSchema>,
    pub cfg: Arc<FileWriterConfig>,
    pub next_name: Arc<dyn Fn() -> String + Send + Sync>,
    /// Names of changelog files (`changelog-<uuid>-<n>.parquet`, the same counter).
    pub next_changelog_name: Arc<dyn Fn() -> String + Send + Sync>,
    /// Decoded rows of the data files this writer (or job) wrote recently: compactions read
    /// their inputs from here when they can, and leave their outputs here.
    pub decoded: DecodedFiles,
    /// Decoded blocks of the lookup indexes of deletion-vector and changelog lookups.
    pub blocks: BlockCache,
    /// The table's last level (`num-levels` - 1): outputs there are not kept decoded.
    max_level: i32,
}

impl Rewriter {
    pub(crate) fn new(io: FileIO, schema: Arc<TableSchema>) -> Result<Rewriter> {
        let namer = Arc::new(DataFileNamer::new());
        let opts = schema.core_options();
        let max_level = crate::lsm::UniversalCompaction::max_level_of(&opts)?;
        Ok(Rewriter {
            max_level,
            schemas: SchemaManager::new(io.clone()),
            cfg: Arc::new(FileWriterConfig::new(schema.clone())?),
            io,
            schema,
            decoded: DecodedFiles::default(),
            blocks: BlockCache::default(),
            next_name: {
                let namer = namer.clone();
                Arc::new(move || namer.next())
            },
            next_changelog_name: Arc::new(move || namer.next_changelog()),
        })
    }

    /// Whether a compaction's output files on `level` are kept decoded: only below the deepest
    /// level. A file on the deepest level is rewritten rarely (when the runs above it outgrow it)
    /// and its lookup index is built once; keeping it cost a writer up to its whole memory pool
    /// of rows nothing read again (a 4M-row commit with deletion vectors and a 256 MiB buffer
    /// held 245 MiB of them at its peak).
    fn keeps_output(&self, level: i32) -> bool {
        level < self.max_level
    }

    /// A writer of the compaction's output files on `level` (kept decoded with `keep`), or of its
    /// changelog files. Made on the runtime, used on a blocking thread.
    fn output(
        &self,
        bucket_path: &str,
        schema: arrow_schema::SchemaRef,
        level: i32,
        names: Arc<dyn Fn() -> String + Send + Sync>,
        keep: bool,
    ) -> RollingWriter {
        let keep = keep.then(|| self.decoded.clone());
        RollingWriter::new(
            self.cfg.clone(),
            self.io.clone(),
            bucket_path,
            schema,
            level,
            FileSource::Compact,
            names,
            keep,
        )
    }

    /// Runs `unit` for the bucket at `bucket_path`. `drop_retracts`: the output level is at or
    /// below every other file of the bucket, so retractions have nothing left to retract.
    pub(crate) async fn rewrite(
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
                return Ok(CompactResult {
                    before: vec![only.clone()],
                    after: vec![only.upgraded(unit.output_level)],
                    changelog: vec![],
                });
            }
        }
        let split = split_of(partition, bucket, bucket_path, &unit.files, Default::default());
        let reader = SplitReader::for_compaction(
            self.io.clone(),
            self.schemas.clone(),
            self.schema.clone(),
            tokio::runtime::Handle::current(),
            drop_retracts,
        )?
        .with_decoded_files(self.decoded.clone());
        let keep = self.keeps_output(unit.output_level);
        let mut out =
            self.output(bucket_path, reader.output_schema().clone(), unit.output_level, self.next_name.clone(), keep);
        let after = tokio::task::spawn_blocking(move || -> Result<_> {
            reader.try_read_split(&split, &mut |b| out.write(&b).map(|()| true))?;
            out.finish()
        })
        .await
        .map_err(Error::join("rewriting compaction inputs"))??;
        self.decoded.remove(unit.files.iter().map(|f| f.file_name.as_str()));
        Ok(CompactResult { before: unit.files, after, changelog: vec![] })
    }
}

/// What a lookup compaction maintains.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LookupMode {
    /// `deletion-vectors.enabled`: mark superseded rows below the output, drop retractions.
    pub deletion_vectors: bool,
    /// `changelog-producer = lookup`: emit the changelog of every key a level-0 file touched.
    pub changelog: bool,
    /// `changelog-producer = full-compaction`: compactions into the last level emit the
    /// changelog of every key an input below the last level touched (Paimon's
    /// `FullChangelogMergeFunctionWrapper`).
    pub full_compaction_changelog: bool,
    /// The last level (`num-levels` - 1).
    pub max_level: i32,
    /// `changelog-producer.row-deduplicate`: no -U/+U pair when the value did not change.
    pub row_deduplicate: bool,
    /// `deletion-vectors.bitmap64`: new deletion vectors in Paimon 1.x's 64-bit layout.
    pub bitmap64: bool,
}

impl LookupMode {
    /// How the compactions of a table look up older rows: None when they need not (no
    /// deletion vectors, changelog producer none or input). Refuses deletion vectors where
    /// shoal does not maintain them (see [`crate::lsm::deletion_vectors::maintained_for`]).
    pub(crate) fn for_table(schema: &TableSchema) -> Result<Option<LookupMode>> {
        use crate::spec::options::ChangelogProducer;
        let deletion_vectors = crate::lsm::deletion_vectors::maintained_for(schema)?;
        if schema.primary_keys.is_empty() {
            return Ok(None);
        }
        let opts = schema.core_options();
        let producer = opts.changelog_producer()?;
        let changelog = producer == ChangelogProducer::Lookup;
        let full_compaction_changelog = producer == ChangelogProducer::FullCompaction;
        if !(deletion_vectors || changelog || full_compaction_changelog) {
            return Ok(None);
        }
        Ok(Some(LookupMode {
            deletion_vectors,
            changelog,
            full_compaction_changelog,
            max_level: crate::lsm::UniversalCompaction::max_level_of(&opts)?,
            row_deduplicate: opts.changelog_row_deduplicate()?,
            bitmap64: opts.deletion_vectors_bitmap64()?,
        }))
    }

    /// Deletion vectors and the lookup changelog compact level 0 (with lookups) at every
    /// commit: Paimon's ForceUpLevel0Compaction and `lookup-wait`.
    pub(crate) fn forces_level0(&self) -> bool {
        self.deletion_vectors || self.changelog
    }

    /// Whether a compaction into `output_level` produces a changelog.
    fn changelog_at(&self, output_level: i32) -> bool {
        self.changelog || (self.full_compaction_changelog && output_level == self.max_level)
    }

    /// Whether a unit of the single level-0 file `file` into `output_level` is looked up (deletion
    /// vectors marked below, changelog produced) but not rewritten: the file moves to the output
    /// level as it is. Paimon's `LookupMergeTreeCompactRewriter.upgradeStrategy`
    /// (`CHANGELOG_NO_REWRITE`) with `MergeTreeCompactTask.upgrade`'s guard: with deletion vectors
    /// only a file without retractions (they must be dropped), never a file with retractions into
    /// the last level, and only where merging cannot change the file's rows (deduplicate without
    /// `sequence.field`, or the last level, where nothing lies below).
    fn upgrades_level0(&self, file: &DataFileMeta, output_level: i32, merge: &MergeFunction) -> bool {
        if file.level != 0 || output_level == 0 || !self.forces_level0() || self.full_compaction_changelog {
            return false;
        }
        let no_retracts = file.delete_row_count == Some(0);
        if (self.deletion_vectors || output_level == self.max_level) && !no_retracts {
            return false;
        }
        output_level == self.max_level || merge.keeps_newest()
    }
}

impl Rewriter {
    /// Paimon's lookup compaction, for tables with `deletion-vectors.enabled` or
    /// `changelog-producer = lookup`. Merges the unit's files (each minus its deleted rows);
    /// then every key written is looked up on the levels below the output (`deeper`: the
    /// bucket's files there).
    ///
    /// With deletion vectors, a live older row found there is marked deleted in its file's
    /// vector, after being merged into the output when the merge engine needs old values
    /// (partial-update, aggregation, `sequence.field`); retractions have then done their work
    /// and are dropped. The vectors of the input files go with them.
    ///
    /// With the lookup changelog producer, each key that a level-0 input touched gets its
    /// changelog from the value before (the newest version on the input levels above 0, else
    /// the lookup's) and the value after: +I, -U/+U, or -D.
    #[allow(clippy::too_many_arguments)] // the bucket (3), the unit, what lies below, the state, the mode
    pub(crate) async fn rewrite_with_lookup(
        &self,
        partition: &BinaryRow,
        bucket: i32,
        bucket_path: &str,
        unit: CompactUnit,
        deeper: Vec<DataFileMeta>,
        mut state: DvState,
        mode: LookupMode,
    ) -> Result<(CompactResult, DvState)> {
        let changelog_now = mode.changelog_at(unit.output_level);
        if let [only] = unit.files.as_slice() {
            // A file above level 0 holds no change to report and, with deletion vectors, live
            // rows only (its vector stays with its name): it moves without a rewrite. (Into the
            // last level of a full-compaction-changelog table its rows are changes.)
            if only.level > 0 && !(mode.full_compaction_changelog && changelog_now && only.level < mode.max_level) {
                if only.level == unit.output_level {
                    return Ok((CompactResult::default(), state));
                }
                return Ok((
                    CompactResult {
                        before: vec![only.clone()],
                        after: vec![only.upgraded(unit.output_level)],
                        changelog: vec![],
                    },
                    state,
                ));
            }
        }
        let merge = MergeFunction::from_schema(&self.schema)?;
        // A level-0 file that merging cannot change is read for its lookups and moved up as it is.
        let upgrade = match unit.files.as_slice() {
            [only] if mode.upgrades_level0(only, unit.output_level, &merge) => Some(only.upgraded(unit.output_level)),
            _ => None,
        };
        let deletion_vectors = unit
            .files
            .iter()
            .filter_map(|f| {
                state.vectors.get(&f.file_name).map(|v| (f.file_name.clone(), SplitDeletionVector::Loaded(v.clone())))
            })
            .collect();
        let split = split_of(partition, bucket, bucket_path, &unit.files, deletion_vectors);
        let handle = tokio::runtime::Handle::current();
        let needs_old_values = mode.deletion_vectors && !merge.picks_by_kind();
        // Retractions are kept through the merge while anything below (or a changelog) still
        // needs them, and settled here.
        let keep_retracts = !deeper.is_empty() || changelog_now;
        let drop_retracts_after = mode.deletion_vectors || deeper.is_empty();
        let reader = SplitReader::for_compaction(
            self.io.clone(),
            self.schemas.clone(),
            self.schema.clone(),
            handle.clone(),
            !keep_retracts,
        )?
        .with_decoded_files(self.decoded.clone());
        // Lookups that only need keys and positions read no value columns.
        let key_reader = SplitReader::new(self.io.clone(), self.schemas.clone(), self.schema.clone(), vec![], handle)?
            .with_decoded_files(self.decoded.clone());
        let lookup_reader = if needs_old_values || changelog_now { reader.clone() } else { key_reader.clone() };
        let num_keys = self.schema.trimmed_key_fields().len();
        let key_types: Vec<_> = self.schema.trimmed_key_fields().iter().map(|f| f.data_type.to_arrow()).collect();
        let path = bucket_path.to_string();
        let inputs = unit.files.clone();
        // Only deletion vectors and the lookup changelog look below the output.
        let deeper = if mode.deletion_vectors || mode.changelog { deeper } else { vec![] };
        let upgraded = upgrade.is_some();
        let schema = reader.output_schema().clone();
        let keep = self.keeps_output(unit.output_level);
        let mut data_out = (!upgraded)
            .then(|| self.output(bucket_path, schema.clone(), unit.output_level, self.next_name.clone(), keep));
        let mut changelog_out =
            self.output(bucket_path, schema, unit.output_level, self.next_changelog_name.clone(), false);
        let blocks = self.blocks.clone();
        let ((data, changelog), state) = tokio::task::spawn_blocking(move || -> Result<_> {
            let levels = LookupLevels::load(&lookup_reader, &path, &deeper, &mut state.cache, &blocks, &key_types)?;
            // The changelog needs the inputs too: which keys level 0 touched, and the versions
            // on the input levels above 0 (the newest state before this compaction).
            let (level0, upper) = if changelog_now {
                // Lookup: keys of level-0 inputs change, the value before is above level 0.
                // Full compaction: keys of inputs below the last level change, the value
                // before is on the last level.
                let boundary = if mode.changelog { 0 } else { mode.max_level - 1 };
                let mut scratch = LookupCache::default();
                let level0: Vec<LookupLevels> = inputs
                    .iter()
                    .filter(|f| f.level <= boundary)
                    .map(|f| {
                        LookupLevels::load_any_level(
                            &key_reader,
                            &path,
                            std::slice::from_ref(f),
                            &mut scratch,
                            &blocks,
                            &key_types,
                        )
                    })
                    .collect::<Result<_>>()?;
                let upper: Vec<DataFileMeta> = inputs.iter().filter(|f| f.level > boundary).cloned().collect();
                (level0, Some(LookupLevels::load(&lookup_reader, &path, &upper, &mut scratch, &blocks, &key_types)?))
            } else {
                (vec![], None)
            };
            let resolver = Resolver {
                merge,
                mode,
                changelog: changelog_now,
                needs_old_values,
                drop_retracts_after,
                num_keys,
                encoder: KeyEncoder::new(&key_types)?,
                levels,
                level0,
                upper,
            };
            // A level-0 file moved up as it is was read for its lookups only.
            reader.try_read_split(&split, &mut |b| {
                let (b, c) = resolver.resolve(b, &mut state.vectors)?;
                if let Some(out) = &mut data_out {
                    out.write(&b)?;
                }
                if let Some(c) = c {
                    changelog_out.write(&c)?;
                }
                Ok(true)
            })?;
            let data = match data_out {
                Some(out) => out.finish()?,
                None => vec![],
            };
            if !upgraded {
                for f in &split.files {
                    state.vectors.remove_file(&f.file_name);
                }
            }
            Ok(((data, changelog_out.finish()?), state))
        })
        .await
        .map_err(Error::join("rewriting compaction inputs"))??;
        if !upgraded {
            self.decoded.remove(unit.files.iter().map(|f| f.file_name.as_str()));
        }
        let mut after = data;
        after.extend(upgrade);
        Ok((CompactResult { before: unit.files, after, changelog }, state))
    }
}

/// Turns merged compaction output into what goes on the output level, and the changelog (see
/// [`Rewriter::rewrite_with_lookup`]).
struct Resolver {
    merge: MergeFunction,
    mode: LookupMode,
    /// Whether this compaction produces a changelog.
    changelog: bool,
    needs_old_values: bool,
    drop_retracts_after: bool,
    num_keys: usize,
    encoder: KeyEncoder,
    /// The levels below the output.
    levels: LookupLevels,
    /// Changelog: each level-0 input file, and the input files above level 0.
    level0: Vec<LookupLevels>,
    upper: Option<LookupLevels>,
}

/// A row merged with an older one, built once all sources are known: the versions as
/// (source, row, sequence number, kind), the sequence number, and the cells.
type PendingMerge = (Vec<(usize, usize, i64, RowKind)>, i64, Vec<crate::merge::cell::Cell>);

/// A row by (source batch, row): source 0 is the merged batch, then the old rows' files, then
/// the computed rows.
type RowRef = (usize, usize);

impl Resolver {
    fn resolve(
        &self,
        batch: RecordBatch,
        vectors: &mut BucketDeletionVectors,
    ) -> Result<(RecordBatch, Option<RecordBatch>)> {
        use arrow_array::cast::AsArray;
        use arrow_array::types::{Int64Type, Int8Type};
        if self.levels.is_empty() && !self.changelog {
            return Ok((batch, None)); // nothing below: the merge already dropped retractions
        }
        let nk = self.num_keys;
        let offset = nk + 2;
        let keys = self.encoder.encode(&batch.columns()[..nk])?;
        let seqs = batch.column(nk).as_primitive::<Int64Type>().values().clone();
        let kinds = batch.column(nk + 1).as_primitive::<Int8Type>().values().clone();
        let kind_of = |k: i8| {
            RowKind::from_byte(k).ok_or_else(|| Error::InvalidInput(format!("_VALUE_KIND {k} is not a row kind")))
        };
        let mut sources: Vec<RecordBatch> = vec![batch.clone()];
        // Rows found below come from lookup blocks: each block one source. The map holds each
        // block, so its address stays its own while the batch is resolved.
        let mut source_of_block: std::collections::HashMap<*const Block, (usize, Arc<Block>)> = Default::default();
        let mut source_of = |block: &Arc<Block>, sources: &mut Vec<RecordBatch>| -> usize {
            source_of_block
                .entry(Arc::as_ptr(block))
                .or_insert_with(|| {
                    sources.push(block.rows.clone());
                    (sources.len() - 1, block.clone())
                })
                .0
        };
        let mut out: Vec<RowRef> = Vec::with_capacity(batch.num_rows());
        // Changelog rows: (kind, row); the row may be a computed one.
        let mut changes: Vec<(RowKind, RowRef)> = vec![];
        let mut computed = ComputedRows::new(batch.num_columns() - offset);
        const COMPUTED: usize = usize::MAX;
        let mut merged: Vec<PendingMerge> = vec![];
        for i in 0..batch.num_rows() {
            let kind = kind_of(kinds[i])?;
            let found = self.levels.lookup(&keys, i, vectors)?;
            // The value before this compaction, for the changelog.
            let mut touched = false;
            if self.changelog {
                for l in &self.level0 {
                    if l.lookup(&keys, i, vectors)?.is_some() {
                        touched = true;
                        break;
                    }
                }
            }
            let before: Option<RowRef> = if touched {
                let upper = match &self.upper {
                    Some(u) => u.lookup(&keys, i, vectors)?,
                    None => None,
                };
                match upper.or(found.clone()) {
                    Some(h) => {
                        let src = source_of(&h.block, &mut sources);
                        let row = h.row_in_block();
                        let k = kind_of(sources[src].column(nk + 1).as_primitive::<Int8Type>().value(row))?;
                        (!k.is_retract()).then_some((src, row))
                    }
                    None => None,
                }
            } else {
                None
            };
            // The value after: the merged row, with the older row merged in where needed.
            let mut after: Option<RowRef> = Some((0, i)).filter(|_| !kind.is_retract());
            let mut keep: Option<RowRef> = Some((0, i));
            if let Some(found) = found {
                let old_pos = found.row_in_block();
                if self.mode.deletion_vectors {
                    vectors.delete_row(&found.file.file_name, found.position);
                }
                if self.needs_old_values {
                    let src = source_of(&found.block, &mut sources);
                    let old = &sources[src];
                    let old_seq = old.column(nk).as_primitive::<Int64Type>().value(old_pos);
                    let old_kind = kind_of(old.column(nk + 1).as_primitive::<Int8Type>().value(old_pos))?;
                    let mut versions = [
                        Version {
                            source: src,
                            columns: &old.columns()[offset..],
                            row: old_pos,
                            seq: old_seq,
                            kind: old_kind,
                        },
                        Version { source: 0, columns: &batch.columns()[offset..], row: i, seq: seqs[i], kind },
                    ];
                    (keep, after) = match self.merge.merge(&mut versions)? {
                        Merged::Pick(p) => {
                            let r = (versions[p].source, versions[p].row);
                            (Some(r), Some(r).filter(|_| !versions[p].kind.is_retract()))
                        }
                        Merged::Row { seq, cells } => {
                            let refs = versions.iter().map(|v| (v.source, v.row, v.seq, v.kind)).collect();
                            merged.push((refs, seq, cells));
                            let r = (COMPUTED, merged.len() - 1);
                            (Some(r), Some(r))
                        }
                        Merged::Nothing => (None, None),
                    };
                }
            }
            if let Some(r) = keep {
                let retract = after.is_none();
                if !(retract && self.drop_retracts_after) {
                    out.push(r);
                }
            }
            if touched {
                match (before, after) {
                    (None, Some(a)) => changes.push((RowKind::Insert, a)),
                    (Some(b), None) => changes.push((RowKind::Delete, b)),
                    (Some(b), Some(a)) => {
                        if !(self.mode.row_deduplicate && self.same_values(&sources, b, a, offset)?) {
                            changes.push((RowKind::UpdateBefore, b));
                            changes.push((RowKind::UpdateAfter, a));
                        }
                    }
                    (None, None) => {}
                }
            }
        }
        if !merged.is_empty() {
            for (refs, seq, cells) in merged {
                let versions: Vec<Version> = refs
                    .iter()
                    .map(|&(source, row, seq, kind)| Version {
                        source,
                        columns: &sources[source].columns()[offset..],
                        row,
                        seq,
                        kind,
                    })
                    .collect();
                computed.push(&versions, seq, cells);
            }
            let built = computed_rows_batch(&batch.schema(), Some(nk), &computed, &|id| &sources[id])?;
            sources.push(built);
            let c = sources.len() - 1;
            for o in out.iter_mut().chain(changes.iter_mut().map(|(_, r)| r)) {
                if o.0 == COMPUTED {
                    o.0 = c;
                }
            }
        }
        let changelog = if changes.is_empty() {
            None
        } else {
            let rows: Vec<RowRef> = changes.iter().map(|c| c.1).collect();
            let mut b = gather(&sources, &rows, &batch.schema())?;
            let mut columns = b.columns().to_vec();
            columns[nk + 1] =
                Arc::new(arrow_array::Int8Array::from(changes.iter().map(|c| c.0 as i8).collect::<Vec<_>>()));
            b = RecordBatch::try_new(batch.schema(), columns).map_err(Error::arrow("assembling changelog rows"))?;
            Some(b)
        };
        if out.len() == batch.num_rows() && out.iter().enumerate().all(|(i, o)| *o == (0, i)) {
            return Ok((batch, changelog));
        }
        Ok((gather(&sources, &out, &batch.schema())?, changelog))
    }

    /// Whether two rows hold the same values (`changelog-producer.row-deduplicate`).
    fn same_values(&self, sources: &[RecordBatch], a: RowRef, b: RowRef, offset: usize) -> Result<bool> {
        if a.0 == usize::MAX || b.0 == usize::MAX {
            return Ok(false); // a computed row: compare after building (rare; no dedup)
        }
        for c in offset..sources[0].num_columns() {
            let x = crate::merge::cell::scalar_at(sources[a.0].column(c).as_ref(), a.1)?;
            let y = crate::merge::cell::scalar_at(sources[b.0].column(c).as_ref(), b.1)?;
            if x != y {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// The split a compaction reads: its input files with their deletion vectors.
fn split_of(
    partition: &BinaryRow,
    bucket: i32,
    bucket_path: &str,
    files: &[DataFileMeta],
    deletion_vectors: std::collections::HashMap<String, SplitDeletionVector>,
) -> DataSplit {
    DataSplit {
        snapshot_id: 0,
        partition: partition.clone(),
        bucket,
        bucket_path: bucket_path.to_string(),
        total_buckets: 0,
        files: files.to_vec(),
        deletion_vectors,
    }
}

/// The rows `rows` of `sources`, in `schema`.
fn gather(sources: &[RecordBatch], rows: &[RowRef], schema: &arrow_schema::SchemaRef) -> Result<RecordBatch> {
    let batches: Vec<&RecordBatch> = sources.iter().collect();
    interleave_rows(&batches, rows, schema)
}

#[cfg(test)]
mod tests;
