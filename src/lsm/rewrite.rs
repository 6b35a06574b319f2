//! Executes a compaction unit: merges its files (the same merge as reads, keeping retractions
//! unless nothing older lies below the output level) and writes the result as new files on the
//! output level. A unit of one file that needs no rewriting is upgraded: the same file is
//! recorded on the new level (Paimon's DELETE old level + ADD new level of one file name).

use std::sync::Arc;

use arrow_array::RecordBatch;

use crate::error::{Error, Result};
use crate::io::FileIO;
use crate::lsm::CompactUnit;
use crate::read::{DataSplit, SplitReader};
use crate::spec::{BinaryRow, DataFileMeta, FileSource, TableSchema};
use crate::store::SchemaManager;
use crate::write::data_file_writer::{encode_files, upload_files, FileWriterConfig};

/// The files a compaction removed and the files it produced.
#[derive(Clone, Debug, Default)]
pub struct CompactResult {
    pub before: Vec<DataFileMeta>,
    pub after: Vec<DataFileMeta>,
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
