//! INSERT OVERWRITE (Paimon's `BatchWriteBuilder.withOverwrite`): new rows replace what the table
//! holds in the overwritten partitions, in one OVERWRITE snapshot. This is the write and its
//! commit together; the OVERWRITE snapshot itself is [`crate::commit::overwrite`].
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

use crate::commit::{CommitOutcome, OverwriteScope, TableCommit};
use crate::error::{Error, Result};
use crate::spec::RowKind;
use crate::table::Table;
use crate::write::TableWrite;

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
        self.commit.settle(&mut self.write, None).await?;
        Ok(outcome)
    }
}
