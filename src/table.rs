//! The handle users open: a table's location, its schema, and builders for writes, commits,
//! scans and reads.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use futures::stream::{BoxStream, StreamExt};

use crate::commit::TableCommit;
use crate::error::{Error, Result};
use crate::io::FileIO;
use crate::read::scan::TimeTravel;
use crate::read::{read_splits_numbered, ChangeBatch, ChangeReader, DataSplit, SplitReader, StreamOptions, TableScan};
use crate::spec::data_file::table_arrow_schema;
use crate::spec::paths::MAIN_BRANCH;
use crate::spec::{DataType, SchemaChange, Snapshot, TableSchema};
use crate::store::{ConsumerManager, SchemaManager, SnapshotManager, Tag, TagManager};
use crate::write::TableWrite;

mod overwrite;
mod sink;

pub use overwrite::{Overwrite, OverwriteBuilder};
pub use sink::{Committable, StreamingSink};

#[derive(Clone, Debug)]
pub struct Table {
    io: FileIO,
    schema: Arc<TableSchema>,
}

/// What a new table looks like: columns, keys, options.
#[derive(Clone, Debug, Default)]
pub struct TableDefinition {
    pub columns: Vec<(String, DataType)>,
    pub partition_keys: Vec<String>,
    pub primary_keys: Vec<String>,
    pub options: BTreeMap<String, String>,
    pub comment: Option<String>,
}

impl TableDefinition {
    pub fn column(mut self, name: &str, t: DataType) -> Self {
        self.columns.push((name.to_string(), t));
        self
    }
    pub fn primary_key(mut self, keys: &[&str]) -> Self {
        self.primary_keys = keys.iter().map(|s| s.to_string()).collect();
        self
    }
    pub fn partition_key(mut self, keys: &[&str]) -> Self {
        self.partition_keys = keys.iter().map(|s| s.to_string()).collect();
        self
    }
    pub fn option(mut self, k: &str, v: &str) -> Self {
        self.options.insert(k.to_string(), v.to_string());
        self
    }

    /// Columns in SQL spelling: `"id BIGINT NOT NULL, name STRING, price DECIMAL(10, 2)"` (Paimon's
    /// type names, see [`parse_type`](crate::spec::parse_type)). Commas inside parentheses or
    /// angle brackets belong to the type; a name may be quoted in backticks.
    pub fn parse_columns(s: &str) -> Result<Vec<(String, DataType)>> {
        let mut parts = vec![];
        let mut depth = 0i32;
        let mut cur = String::new();
        for c in s.chars() {
            match c {
                '(' | '<' => depth += 1,
                ')' | '>' => depth -= 1,
                ',' if depth == 0 => {
                    parts.push(std::mem::take(&mut cur));
                    continue;
                }
                _ => {}
            }
            cur.push(c);
        }
        parts.push(cur);
        let mut cols = vec![];
        for (i, p) in parts.iter().enumerate() {
            let p = p.trim();
            if p.is_empty() {
                continue;
            }
            let (name, ty) = p.split_once(char::is_whitespace).ok_or_else(|| {
                Error::InvalidInput(format!("column {} ({p:?}) needs a name and a type, like \"id BIGINT\"", i + 1))
            })?;
            let t =
                crate::spec::parse_type(ty.trim()).map_err(|e| Error::InvalidInput(format!("column {name:?}: {e}")))?;
            cols.push((name.trim_matches('`').to_string(), t));
        }
        if cols.is_empty() {
            return Err(Error::InvalidInput("no columns given".into()));
        }
        Ok(cols)
    }
}

impl Table {
    /// Creates a table at `location` (a directory path or URL); fails if one exists there.
    pub async fn create(location: &str, def: TableDefinition) -> Result<Table> {
        let io = FileIO::from_uri(location)?;
        Self::create_with_io(io, def).await
    }

    pub async fn create_with_io(io: FileIO, def: TableDefinition) -> Result<Table> {
        let schema = TableSchema::create(def.columns, def.partition_keys, def.primary_keys, def.options, def.comment)?;
        let schemas = SchemaManager::new(io.clone());
        if !schemas.schema_ids().await?.is_empty() || !schemas.commit(&schema).await? {
            return Err(Error::TableExists(io.uri().to_string()));
        }
        Ok(Table { io, schema: Arc::new(schema) })
    }

    /// Opens the table at `location` with its latest schema.
    pub async fn open(location: &str) -> Result<Table> {
        let io = FileIO::from_uri(location)?;
        Self::open_with_io(io).await
    }

    pub async fn open_with_io(io: FileIO) -> Result<Table> {
        let schema = match SchemaManager::new(io.clone()).latest().await? {
            Some(s) => s,
            None if io.branch() != MAIN_BRANCH => {
                return Err(Error::BranchNotFound { table: io.uri().to_string(), branch: io.branch().to_string() })
            }
            None => return Err(Error::TableNotFound(io.uri().to_string())),
        };
        Ok(Table { io, schema })
    }

    /// Opens branch `branch` of the table at `location` (`main` is the table itself): its
    /// latest schema, snapshots, tags and consumers; writes and maintenance stay on the branch.
    pub async fn open_branch(location: &str, branch: &str) -> Result<Table> {
        Self::open_with_io(FileIO::from_uri(location)?.on_branch(branch)).await
    }

    /// The same table on another branch (`main` for the table itself).
    pub async fn switch_to_branch(&self, branch: &str) -> Result<Table> {
        Self::open_with_io(self.io.on_branch(branch)).await
    }

    /// The branch this handle reads and writes (`main` unless opened on another).
    pub fn branch(&self) -> &str {
        self.io.branch()
    }

    pub fn location(&self) -> &str {
        self.io.uri()
    }
    pub fn io(&self) -> &FileIO {
        &self.io
    }
    pub fn schema(&self) -> &Arc<TableSchema> {
        &self.schema
    }
    /// The Arrow schema of the table's rows.
    pub fn arrow_schema(&self) -> SchemaRef {
        table_arrow_schema(&self.schema)
    }

    pub fn snapshots(&self) -> SnapshotManager {
        SnapshotManager::new(self.io.clone())
    }

    pub async fn latest_snapshot(&self) -> Result<Option<Snapshot>> {
        self.snapshots().latest().await
    }

    /// A writer starting from the latest snapshot.
    pub async fn new_write(&self) -> Result<TableWrite> {
        TableWrite::new(self.io.clone(), self.schema.clone()).await
    }

    /// A writer for an overwrite: it ignores the table's current files (Paimon's
    /// `withIgnorePreviousFiles`); commit its messages with
    /// [`TableCommit::overwrite`]. [`Table::new_overwrite`] does both.
    pub async fn new_write_overwrite(&self) -> Result<TableWrite> {
        TableWrite::new_ignoring_previous(self.io.clone(), self.schema.clone()).await
    }

    /// An INSERT OVERWRITE (Paimon's `BatchWriteBuilder.withOverwrite`): options, then
    /// `start()`, write the new rows, `commit()`. See [`crate::table::overwrite`].
    pub fn new_overwrite(&self) -> OverwriteBuilder {
        OverwriteBuilder::new(self.clone())
    }

    /// A committer for `commit_user` (a streaming job keeps one user across restarts). As in
    /// Paimon, every successful commit then expires consumers (`consumer.expiration-time`) and
    /// snapshots, creates automatic tags and expires tags per the table's options (all but the
    /// first unless `write-only`): see [`crate::maintenance::post_commit`].
    pub fn new_commit(&self, commit_user: &str) -> Result<TableCommit> {
        let hook = crate::maintenance::post_commit::after_commit_hook(self.io.clone(), self.schema.clone())?;
        Ok(TableCommit::new(self.io.clone(), self.schema.clone(), commit_user)?.with_after_commit(hook))
    }

    /// The table as of a snapshot, tag or time, for reading: its schema is the one that snapshot
    /// was written with (as Paimon's time travel does) and its scans read that snapshot.
    pub async fn travel(&self, tt: &TimeTravel) -> Result<Table> {
        let snapshot = tt.resolve(&self.io).await?;
        let schema = SchemaManager::new(self.io.clone()).schema(snapshot.schema_id).await?;
        let mut schema = (*schema).clone();
        use crate::spec::options::{SCAN_SNAPSHOT_ID, SCAN_TAG_NAME, SCAN_TIMESTAMP_MILLIS};
        for k in [SCAN_SNAPSHOT_ID, SCAN_TAG_NAME, SCAN_TIMESTAMP_MILLIS] {
            schema.options.remove(k);
        }
        match tt {
            // A tag outlives its snapshot: keep reading through the tag file.
            TimeTravel::Tag(name) => schema.options.insert(SCAN_TAG_NAME.into(), name.clone()),
            _ => schema.options.insert(SCAN_SNAPSHOT_ID.into(), snapshot.id.to_string()),
        };
        Ok(Table { io: self.io.clone(), schema: Arc::new(schema) })
    }

    // ------------------------------------------------------------------ lifecycle
    //
    // Expiry, tags, branches, rollback and orphan files are builders made from a table:
    // see [`crate::maintenance::operations`].

    pub fn tag_manager(&self) -> TagManager {
        TagManager::new(self.io.clone())
    }

    /// Every tag, by snapshot id.
    pub async fn tags(&self) -> Result<Vec<Tag>> {
        self.tag_manager().tags().await
    }

    pub fn consumers(&self) -> ConsumerManager {
        ConsumerManager::new(self.io.clone())
    }

    /// The table's long-lived changelogs (`changelog/`), outliving their snapshots.
    pub fn changelogs(&self) -> crate::store::ChangelogManager {
        crate::store::ChangelogManager::new(self.io.clone())
    }

    /// Applies schema changes as a new `schema-N` file (created only if absent; a concurrent
    /// change makes this one retry on top of it) and returns the table at the new schema.
    pub async fn alter(&self, changes: &[SchemaChange]) -> Result<Table> {
        let schemas = SchemaManager::new(self.io.clone());
        let has_snapshots = self.snapshots().latest_id().await?.is_some();
        for _ in 0..10 {
            let latest = schemas.latest().await?.ok_or_else(|| Error::TableNotFound(self.io.uri().to_string()))?;
            let next = latest.apply_changes(changes, has_snapshots)?;
            if schemas.commit(&next).await? {
                return Ok(Table { io: self.io.clone(), schema: Arc::new(next) });
            }
        }
        Err(Error::CommitConflict(
            "schema changes kept racing with other schema changes; gave up after 10 attempts".into(),
        ))
    }

    /// The table with some options changed for this handle only (Paimon's `table.copy(options)`),
    /// e.g. `scan.mode` or `consumer-id` for a streaming read. Nothing is written.
    pub fn copy_with_options(&self, options: &BTreeMap<String, String>) -> Result<Table> {
        crate::spec::options::validate_keys(options)?;
        let mut schema = (*self.schema).clone();
        for (k, v) in options {
            schema.options.insert(k.clone(), v.clone());
        }
        let copy = Table { io: self.io.clone(), schema: Arc::new(schema) };
        StreamOptions::from_table(&copy)?;
        Ok(copy)
    }

    /// A streaming reader of the table's changes, as the table's options say (`scan.mode`,
    /// `consumer-id`, `continuous.discovery-interval`, ...): see [`crate::read::stream_read`].
    pub async fn stream_read(&self) -> Result<ChangeReader> {
        ChangeReader::new(self.io.clone(), self.schema.clone(), StreamOptions::from_table(self)?).await
    }

    /// A streaming reader with explicit options.
    pub async fn stream_read_with(&self, options: StreamOptions) -> Result<ChangeReader> {
        ChangeReader::new(self.io.clone(), self.schema.clone(), options).await
    }

    /// Paimon's incremental read (`incremental-between = START,END`): the changes of the
    /// snapshots after START up to END (ids or tag names), row kinds in `_ROW_KIND`. Reads the
    /// changelog files when the table has a changelog producer (or `changelog` is Some(true)),
    /// else the APPEND snapshots' deltas.
    pub async fn incremental_between(
        &self,
        start: &str,
        end: &str,
        changelog: Option<bool>,
    ) -> Result<Vec<ChangeBatch>> {
        let plans = crate::read::stream_scan::incremental_plans(&self.io, &self.schema, start, end, changelog).await?;
        crate::read::stream_read::read_plans(&self.io, &self.schema, plans).await
    }

    pub fn new_scan(&self) -> TableScan {
        TableScan::new(self.io.clone(), self.schema.clone())
    }

    /// A reader of the given table columns (all when None).
    pub fn new_read(&self, projection: Option<Vec<usize>>) -> Result<SplitReader> {
        SplitReader::for_table(self.io.clone(), self.schema.clone(), projection)
    }

    /// Column indices for names, with a clear error for unknown ones.
    pub fn projection_of(&self, names: &[&str]) -> Result<Vec<usize>> {
        names
            .iter()
            .map(|n| {
                self.schema.field_index(n).ok_or_else(|| {
                    Error::InvalidInput(format!(
                        "unknown column {n:?}; the table has {}",
                        self.schema.fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", ")
                    ))
                })
            })
            .collect()
    }

    /// Streams the merged rows of a snapshot (latest, or the time travel in the options, when
    /// None), projected. Splits are read in parallel and their batches interleave; within a
    /// split (a bucket) rows come in key order. [`Table::read_all`] returns them in plan order.
    pub async fn scan_stream(
        &self,
        snapshot: Option<i64>,
        projection: Option<Vec<usize>>,
    ) -> Result<BoxStream<'static, Result<RecordBatch>>> {
        let splits = self.splits_of(snapshot).await?;
        self.read_stream(splits, projection)
    }

    pub fn read_stream(
        &self,
        splits: Vec<DataSplit>,
        projection: Option<Vec<usize>>,
    ) -> Result<BoxStream<'static, Result<RecordBatch>>> {
        Ok(self.read_stream_numbered(splits, projection)?.map(|r| r.map(|(_, b)| b)).boxed())
    }

    /// [`Table::read_stream`] with each batch numbered by its split (see
    /// [`crate::read::read_splits_numbered`]).
    fn read_stream_numbered(
        &self,
        splits: Vec<DataSplit>,
        projection: Option<Vec<usize>>,
    ) -> Result<BoxStream<'static, Result<(usize, RecordBatch)>>> {
        let reader = self.new_read(projection)?;
        let parallelism = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        Ok(read_splits_numbered(reader, splits, parallelism))
    }

    /// The splits of a snapshot (latest when None).
    async fn splits_of(&self, snapshot: Option<i64>) -> Result<Vec<DataSplit>> {
        let mut scan = self.new_scan();
        if let Some(id) = snapshot {
            scan = scan.with_snapshot(id);
        }
        Ok(scan.plan().await?.splits)
    }

    /// Reads the merged rows of a snapshot (latest when None) into one batch, in this table's
    /// schema. (For Paimon's time travel, which reads in the snapshot's own schema, use
    /// [`Table::travel`].)
    pub async fn read_all(&self, snapshot: Option<i64>, projection: Option<Vec<usize>>) -> Result<RecordBatch> {
        let schema = match &projection {
            Some(p) => Arc::new(self.arrow_schema().project(p).map_err(Error::arrow("projecting"))?),
            None => self.arrow_schema(),
        };
        let splits = self.splits_of(snapshot).await?;
        let batches = crate::read::collect_in_split_order(self.read_stream_numbered(splits, projection)?).await?;
        crate::read::concat(&schema, &batches)
    }
}

impl StreamOptions {
    /// [`StreamOptions::from_schema`] of `table`'s schema: how the table's options say to stream
    /// it (`scan.mode`, `consumer-id`, `consumer.mode`, ...).
    pub fn from_table(table: &Table) -> Result<StreamOptions> {
        StreamOptions::from_schema(table.schema())
    }
}
