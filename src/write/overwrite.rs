//! INSERT OVERWRITE (Paimon's `BatchWriteBuilder.withOverwrite`): new rows replace what the table
//! holds in the overwritten partitions, in one OVERWRITE snapshot.
//!
//! - The writer starts with no previous files (Paimon's `withIgnorePreviousFiles`): no lookups,
//!   deletion vectors or compactions against the files being replaced; sequence numbers start
//!   at 0.
//! - The commit ([`TableCommit::overwrite`]) reads the latest snapshot at each attempt and
//!   deletes every data file and index file (deletion vectors) of the overwritten partitions
//!   there, adding the new files, in one snapshot of kind OVERWRITE (compactions the writer made
//!   among its new files follow in a COMPACT snapshot). No changelog is committed, as in Paimon.
//!
//! Which partitions ([`OverwriteScope`], chosen by [`OverwriteScope::for_table`]):
//! - a static partition given (`PARTITION (dt='x')`, possibly only some partition columns):
//!   every partition matching it, even when the new rows are none; a new row outside it fails
//!   the commit (Paimon's static overwrite, Spark's default);
//! - none given, a partitioned table and `dynamic-partition-overwrite = true` (the default):
//!   only the partitions the new rows are in (nothing, when there are no new rows);
//! - otherwise (unpartitioned, or `dynamic-partition-overwrite = false`): the whole table.
//!
//! Concurrent commits: the files deleted are those of the latest snapshot when the overwrite
//! commits (Paimon's `tryOverwrite`), so rows another writer committed before the OVERWRITE
//! snapshot into an overwritten partition are replaced too, and rows committed after it land
//! on top of the new rows.

use arrow_array::RecordBatch;

use crate::error::{Error, Result};
use crate::spec::paths::partition_value_string;
use crate::spec::{BinaryRow, RowKind, TableSchema};
use crate::table::Table;
use crate::write::commit::{CommitOutcome, TableCommit};
use crate::write::table_write::TableWrite;

/// Which partitions an overwrite replaces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OverwriteScope {
    /// Every partition with these (partition column, value) pairs, values in their path
    /// spelling (`dt=2024-01-01`, the default partition name for null); no pairs: the whole
    /// table. Replaced even when no new row is there; a new row outside fails the commit.
    Static(Vec<(String, String)>),
    /// The partitions the new rows are in (Paimon's dynamic partition overwrite).
    Dynamic,
}

impl OverwriteScope {
    /// The whole table.
    pub fn whole_table() -> Self {
        OverwriteScope::Static(vec![])
    }

    /// Paimon's choice for `schema`: the static partition `partition` if one is given; else,
    /// for a partitioned table with `dynamic-partition-overwrite` (default true), the partitions
    /// of the new rows; else the whole table. Fails on a column that is not a partition column
    /// or given twice.
    pub fn for_table(schema: &TableSchema, partition: &[(String, String)]) -> Result<Self> {
        let scope = if !partition.is_empty() {
            OverwriteScope::Static(partition.iter().map(|(k, v)| (k.trim().to_string(), v.clone())).collect())
        } else if !schema.partition_keys.is_empty() && schema.core_options().dynamic_partition_overwrite()? {
            OverwriteScope::Dynamic
        } else {
            OverwriteScope::whole_table()
        };
        scope.validate(schema)?;
        Ok(scope)
    }

    /// Checks a static partition's columns against the table's partition columns.
    pub fn validate(&self, schema: &TableSchema) -> Result<()> {
        let OverwriteScope::Static(pairs) = self else { return Ok(()) };
        for (i, (k, _)) in pairs.iter().enumerate() {
            if !schema.partition_keys.contains(k) {
                let keys = if schema.partition_keys.is_empty() {
                    "the table is not partitioned".to_string()
                } else {
                    format!("the table's are: {}", schema.partition_keys.join(", "))
                };
                return Err(Error::InvalidInput(format!(
                    "overwrite of partition {}: {k:?} is not a partition column ({keys})",
                    describe(pairs)
                )));
            }
            if pairs[..i].iter().any(|(other, _)| other == k) {
                return Err(Error::InvalidInput(format!(
                    "overwrite of partition {}: partition column {k:?} is given twice",
                    describe(pairs)
                )));
            }
        }
        Ok(())
    }

    /// Whether a static scope covers `partition` (a row of the table's partition columns).
    pub(crate) fn static_matches(
        pairs: &[(String, String)],
        schema: &TableSchema,
        partition: &BinaryRow,
    ) -> Result<bool> {
        if pairs.is_empty() {
            return Ok(true);
        }
        let values = partition
            .to_datums(&schema.partition_types())
            .map_err(|e| Error::InvalidInput(format!("a partition of the table does not decode: {e}")))?;
        let opts = schema.core_options();
        let default_name = opts.partition_default_name();
        Ok(pairs.iter().all(|(k, v)| {
            schema
                .partition_keys
                .iter()
                .position(|p| p == k)
                .and_then(|i| values.get(i))
                .is_some_and(|d| partition_value_string(d, default_name) == *v)
        }))
    }
}

/// `dt=2024-01-01/hr=3`, or "(the whole table)".
pub(crate) fn describe(pairs: &[(String, String)]) -> String {
    if pairs.is_empty() {
        return "(the whole table)".to_string();
    }
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("/")
}

/// Options of an overwrite: see [`Table::new_overwrite`].
pub struct OverwriteBuilder {
    table: Table,
    partition: Vec<(String, String)>,
    dynamic: Option<bool>,
    commit_user: Option<String>,
}

impl OverwriteBuilder {
    pub(crate) fn new(table: Table) -> Self {
        OverwriteBuilder { table, partition: vec![], dynamic: None, commit_user: None }
    }

    /// Overwrite this static partition: (partition column, value) pairs, values spelled as in
    /// partition paths; some of the partition columns overwrite every partition matching them.
    pub fn partition<K: Into<String>, V: Into<String>>(mut self, pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        self.partition.extend(pairs.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// Overrides the table's `dynamic-partition-overwrite` for this overwrite (without a static
    /// partition: true replaces the partitions of the new rows, false the whole table).
    pub fn dynamic(mut self, dynamic: bool) -> Self {
        self.dynamic = Some(dynamic);
        self
    }

    /// The commit user (default: a fresh one).
    pub fn commit_user(mut self, user: impl Into<String>) -> Self {
        self.commit_user = Some(user.into());
        self
    }

    /// The scope these options give on this table.
    pub fn scope(&self) -> Result<OverwriteScope> {
        let scope = OverwriteScope::for_table(self.table.schema(), &self.partition)?;
        Ok(match (self.dynamic, &scope) {
            (Some(false), OverwriteScope::Dynamic) => OverwriteScope::whole_table(),
            (Some(true), OverwriteScope::Static(p))
                if p.is_empty() && !self.table.schema().partition_keys.is_empty() =>
            {
                OverwriteScope::Dynamic
            }
            _ => scope,
        })
    }

    /// Starts the overwrite: a writer that ignores the table's current files, and its committer.
    pub async fn start(self) -> Result<Overwrite> {
        let scope = self.scope()?;
        if self.table.schema().cross_partition_update() && scope != OverwriteScope::whole_table() {
            // The new rows' keys may live in partitions the overwrite keeps: the global index
            // would have to delete them there, outside the overwritten partitions.
            return Err(Error::InvalidInput(
                "an overwrite of some partitions of a cross-partition upsert table (primary key without every \
                 partition column) is not supported: its keys may live in the partitions kept; overwrite the \
                 whole table (set dynamic-partition-overwrite = false) or delete and write instead"
                    .into(),
            ));
        }
        let user = self.commit_user.clone().unwrap_or_else(|| format!("shoal-overwrite-{}", uuid::Uuid::new_v4()));
        let commit = self.table.new_commit(&user)?;
        let write = self.table.new_write_overwrite().await?;
        Ok(Overwrite { scope, write, commit })
    }
}

/// An overwrite under way: write the new rows, then [`Overwrite::commit`].
pub struct Overwrite {
    scope: OverwriteScope,
    write: TableWrite,
    commit: TableCommit,
}

impl Overwrite {
    pub fn scope(&self) -> &OverwriteScope {
        &self.scope
    }

    /// The writer (for loaders that take a [`TableWrite`]).
    pub fn writer(&mut self) -> &mut TableWrite {
        &mut self.write
    }

    pub fn committer(&self) -> &TableCommit {
        &self.commit
    }

    /// Writes rows as inserts (+I).
    pub async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.write.write(batch).await
    }

    /// Writes rows with their kinds (primary-key tables).
    pub async fn write_with_kinds(&mut self, batch: &RecordBatch, kinds: Option<&[RowKind]>) -> Result<()> {
        self.write.write_with_kinds(batch, kinds).await
    }

    /// Commits: one OVERWRITE snapshot (see the module documentation and
    /// [`TableCommit::overwrite`]).
    pub async fn commit(mut self) -> Result<CommitOutcome> {
        let messages = self.write.prepare_commit().await?;
        let outcome = self.commit.overwrite(&self.scope, messages).await?;
        self.write.settle_commit(&self.commit, None).await?;
        Ok(outcome)
    }
}
