//! The maintenance operations as builders (delta-rs's `VacuumBuilder`): each is made from the
//! [`Table`] it acts on, takes its options, and runs with `execute()`. What an option left out
//! means (the table's option it falls back to, a default) is decided here once, for the library,
//! the CLI, the SQL procedures and the Python package alike.
//!
//! ```no_run
//! # async fn f(table: &shoal::Table) -> shoal::Result<()> {
//! use shoal::maintenance::operations::{CreateTag, ExpireSnapshots, RemoveOrphanFiles};
//! use std::time::Duration;
//! ExpireSnapshots::new(table).retain_max(5).older_than(Duration::from_secs(3600)).execute().await?;
//! CreateTag::new(table, "q3-report").snapshot(42).execute().await?;
//! RemoveOrphanFiles::new(table).dry_run(true).execute().await?;
//! # Ok(()) }
//! ```

use std::time::Duration;

use crate::error::Result;
use crate::maintenance::branches::{self, BranchStart, FastForwardReport};
use crate::maintenance::expire::{expire_snapshots, ExpireConfig, ExpireReport, RetentionOverrides};
use crate::maintenance::expire_changelog::{expire_changelogs, ChangelogExpireReport};
use crate::maintenance::orphan_files::{remove_orphan_files, OrphanReport};
use crate::maintenance::post_commit::{self, TagMaintenanceReport};
use crate::maintenance::rollback::{rollback, RollbackReport, RollbackTarget};
use crate::maintenance::tags::{self, TagDeleteReport, TagExpireReport};
use crate::store::Tag;
use crate::table::Table;

// ---------------------------------------------------------------------- expiry

/// Which retention an expiry run uses: the table's options (or a config given whole) with the
/// values given for this run over them. Shared by [`ExpireSnapshots`] and [`ExpireChangelogs`].
#[derive(Clone, Debug, Default)]
struct Retention {
    base: Option<ExpireConfig>,
    overrides: RetentionOverrides,
}

impl Retention {
    /// `table_config`: the table's retention, read only when no config was given whole.
    fn config(&self, table_config: impl FnOnce() -> Result<ExpireConfig>) -> Result<ExpireConfig> {
        Ok(match &self.base {
            // A config given whole keeps its own per-run limit unless this run sets one.
            Some(c) => c.clone().with_overrides(&RetentionOverrides {
                max_deletes: self.overrides.max_deletes.or(Some(c.max_deletes)),
                ..self.overrides.clone()
            }),
            None => table_config()?.with_overrides(&self.overrides),
        })
    }
}

macro_rules! retention_setters {
    () => {
        /// Keep at most this many (None: the table's option).
        pub fn retain_max(mut self, n: impl Into<Option<i64>>) -> Self {
            self.retention.overrides.retain_max = n.into();
            self
        }
        /// Keep at least this many (None: the table's option).
        pub fn retain_min(mut self, n: impl Into<Option<i64>>) -> Self {
            self.retention.overrides.retain_min = n.into();
            self
        }
        /// Keep everything younger than this (None: the table's option).
        pub fn older_than(mut self, d: impl Into<Option<Duration>>) -> Self {
            self.retention.overrides.time_retained = d.into();
            self
        }
        /// Expire at most this many in this run (None: no limit).
        pub fn max_deletes(mut self, n: impl Into<Option<i64>>) -> Self {
            self.retention.overrides.max_deletes = n.into();
            self
        }
        /// All four values at once (see [`ExpireConfig::with_overrides`]).
        pub fn overrides(mut self, o: &RetentionOverrides) -> Self {
            self.retention.overrides = o.clone();
            self
        }
        /// Use this retention instead of the table's options; the values set on the builder
        /// still apply over it, and its `max_deletes` stays unless the run sets one.
        pub fn with_config(mut self, config: &ExpireConfig) -> Self {
            self.retention.base = Some(config.clone());
            self
        }
    };
}

/// Expires snapshots and the files only they referenced (`shoal expire-snapshots`,
/// `CALL sys.expire_snapshots`). Values left out take the table's options
/// (`snapshot.num-retained.min/max`, `snapshot.time-retained`), an explicit maximum below the
/// table's minimum lowers the minimum too, and there is no per-run limit unless
/// [`max_deletes`](Self::max_deletes) sets one ([`ExpireConfig::with_overrides`]).
pub struct ExpireSnapshots<'a> {
    table: &'a Table,
    retention: Retention,
}

impl<'a> ExpireSnapshots<'a> {
    pub fn new(table: &'a Table) -> Self {
        ExpireSnapshots { table, retention: Retention::default() }
    }

    retention_setters!();

    /// The retention this run uses.
    pub fn config(&self) -> Result<ExpireConfig> {
        self.retention.config(|| ExpireConfig::from_options(&self.table.schema().core_options()))
    }

    pub async fn execute(self) -> Result<ExpireReport> {
        let config = self.config()?;
        expire_snapshots(self.table.io(), self.table.schema().clone(), &config).await
    }
}

/// Expires long-lived changelogs (`changelog/changelog-<id>`) and the files only they read
/// (`shoal expire-changelogs`). Values left out take the table's `changelog.*` options (each
/// defaulting to its `snapshot.*` twin); otherwise as [`ExpireSnapshots`].
pub struct ExpireChangelogs<'a> {
    table: &'a Table,
    retention: Retention,
}

impl<'a> ExpireChangelogs<'a> {
    pub fn new(table: &'a Table) -> Self {
        ExpireChangelogs { table, retention: Retention::default() }
    }

    retention_setters!();

    /// The retention this run uses.
    pub fn config(&self) -> Result<ExpireConfig> {
        self.retention.config(|| ExpireConfig::for_changelogs(&self.table.schema().core_options()))
    }

    pub async fn execute(self) -> Result<ChangelogExpireReport> {
        let config = self.config()?;
        expire_changelogs(self.table.io(), self.table.schema().clone(), &config).await
    }
}

/// Deletes consumers not updated within `expiration` (`consumer.expiration-time`); returns
/// their ids.
pub struct ExpireConsumers<'a> {
    table: &'a Table,
    expiration: Duration,
}

impl<'a> ExpireConsumers<'a> {
    pub fn new(table: &'a Table, expiration: Duration) -> Self {
        ExpireConsumers { table, expiration }
    }

    pub async fn execute(self) -> Result<Vec<String>> {
        post_commit::expire_consumers(self.table.io(), self.expiration).await
    }
}

// ---------------------------------------------------------------------- orphan files

/// How old an unreferenced file must be to be removed when the run does not say: a day, as in
/// Paimon (in-flight commits write their files first).
pub const DEFAULT_ORPHAN_OLDER_THAN: Duration = Duration::from_secs(86_400);

/// Removes files nothing references (no snapshot, tag, long-lived changelog or branch) that are
/// older than [`older_than`](Self::older_than) (default [`DEFAULT_ORPHAN_OLDER_THAN`]) or last
/// modified before [`before`](Self::before); [`dry_run`](Self::dry_run) only lists them.
pub struct RemoveOrphanFiles<'a> {
    table: &'a Table,
    cutoff: Cutoff,
    dry_run: bool,
}

enum Cutoff {
    Age(Duration),
    Millis(i64),
}

impl<'a> RemoveOrphanFiles<'a> {
    pub fn new(table: &'a Table) -> Self {
        RemoveOrphanFiles { table, cutoff: Cutoff::Age(DEFAULT_ORPHAN_OLDER_THAN), dry_run: false }
    }

    /// Only files older than this (None: [`DEFAULT_ORPHAN_OLDER_THAN`]).
    pub fn older_than(mut self, d: impl Into<Option<Duration>>) -> Self {
        self.cutoff = Cutoff::Age(d.into().unwrap_or(DEFAULT_ORPHAN_OLDER_THAN));
        self
    }

    /// Only files last modified before `cutoff_millis` (epoch millis; a cut-off in the future takes
    /// every unreferenced file, even one written this millisecond). None: [`Self::older_than`]'s
    /// default.
    pub fn before(mut self, cutoff_millis: impl Into<Option<i64>>) -> Self {
        self.cutoff = match cutoff_millis.into() {
            Some(ms) => Cutoff::Millis(ms),
            None => Cutoff::Age(DEFAULT_ORPHAN_OLDER_THAN),
        };
        self
    }

    /// List the orphans without deleting them.
    pub fn dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }

    pub async fn execute(self) -> Result<OrphanReport> {
        let cutoff = match self.cutoff {
            Cutoff::Millis(ms) => ms,
            Cutoff::Age(d) => chrono::Utc::now().timestamp_millis() - d.as_millis() as i64,
        };
        remove_orphan_files(self.table.io(), self.table.schema().clone(), cutoff, self.dry_run).await
    }
}

// ---------------------------------------------------------------------- tags

/// Tags the latest snapshot, or [`snapshot`](Self::snapshot). The tag is kept until deleted, or,
/// with [`time_retained`](Self::time_retained) (default: the table's `tag.default-time-retained`
/// when set, as Paimon's procedure does), records its creation time and is deleted once that
/// time has passed (after a commit, or by [`ExpireTags`]).
pub struct CreateTag<'a> {
    table: &'a Table,
    name: String,
    snapshot: Option<i64>,
    time_retained: Option<Duration>,
}

impl<'a> CreateTag<'a> {
    pub fn new(table: &'a Table, name: &str) -> Self {
        CreateTag { table, name: name.to_string(), snapshot: None, time_retained: None }
    }

    /// The snapshot to tag (None: the latest).
    pub fn snapshot(mut self, id: impl Into<Option<i64>>) -> Self {
        self.snapshot = id.into();
        self
    }

    /// How long the tag is kept (None: the table's `tag.default-time-retained`, else until deleted).
    pub fn time_retained(mut self, d: impl Into<Option<Duration>>) -> Self {
        self.time_retained = d.into();
        self
    }

    pub async fn execute(self) -> Result<Tag> {
        let retained = match self.time_retained {
            Some(d) => Some(d),
            None => self.table.schema().core_options().tag_default_time_retained()?,
        };
        tags::create_tag(self.table.io(), &self.name, self.snapshot, retained).await
    }
}

/// Deletes a tag (and the files only it kept, when its snapshot has expired).
pub struct DeleteTag<'a> {
    table: &'a Table,
    name: String,
}

impl<'a> DeleteTag<'a> {
    pub fn new(table: &'a Table, name: &str) -> Self {
        DeleteTag { table, name: name.to_string() }
    }

    pub async fn execute(self) -> Result<TagDeleteReport> {
        tags::delete_tag(self.table.io(), self.table.schema().clone(), &self.name).await
    }
}

/// Deletes the tags whose retention time has passed (Paimon's `TagTimeExpire`).
pub struct ExpireTags<'a> {
    table: &'a Table,
}

impl<'a> ExpireTags<'a> {
    pub fn new(table: &'a Table) -> Self {
        ExpireTags { table }
    }

    pub async fn execute(self) -> Result<TagExpireReport> {
        tags::expire_tags(self.table.io(), self.table.schema().clone()).await
    }
}

/// Runs automatic tag creation (`tag.automatic-creation`, over the snapshots not yet considered)
/// and tag expiry now, as after a commit (`shoal tag create-auto`,
/// `CALL sys.trigger_tag_automatic_creation`).
pub struct TagMaintenance<'a> {
    table: &'a Table,
}

impl<'a> TagMaintenance<'a> {
    pub fn new(table: &'a Table) -> Self {
        TagMaintenance { table }
    }

    pub async fn execute(self) -> Result<TagMaintenanceReport> {
        post_commit::run_tag_maintenance(self.table.io(), self.table.schema().clone()).await
    }
}

// ---------------------------------------------------------------------- rollback

/// Rolls the table back to a snapshot or tag: later snapshots and tags and their files go.
pub struct Rollback<'a> {
    table: &'a Table,
    target: RollbackTarget,
}

impl<'a> Rollback<'a> {
    pub fn new(table: &'a Table, target: &RollbackTarget) -> Self {
        Rollback { table, target: target.clone() }
    }

    pub async fn execute(self) -> Result<RollbackReport> {
        rollback(self.table.io(), self.table.schema().clone(), &self.target).await
    }
}

// ---------------------------------------------------------------------- branches

/// Creates branch `name` from the table's branch: empty (its latest schema only, the default),
/// from a tag, or from a snapshot (see [`crate::maintenance::branches`]).
pub struct CreateBranch<'a> {
    table: &'a Table,
    name: String,
    start: BranchStart,
}

impl<'a> CreateBranch<'a> {
    pub fn new(table: &'a Table, name: &str) -> Self {
        CreateBranch { table, name: name.to_string(), start: BranchStart::Empty }
    }

    /// Where the branch starts (default [`BranchStart::Empty`]).
    pub fn start(mut self, start: &BranchStart) -> Self {
        self.start = start.clone();
        self
    }

    pub async fn execute(self) -> Result<()> {
        branches::create_branch(self.table.io(), &self.name, &self.start).await
    }
}

/// Deletes branch `name`; returns how many of its metadata files were removed.
pub struct DeleteBranch<'a> {
    table: &'a Table,
    name: String,
}

impl<'a> DeleteBranch<'a> {
    pub fn new(table: &'a Table, name: &str) -> Self {
        DeleteBranch { table, name: name.to_string() }
    }

    pub async fn execute(self) -> Result<usize> {
        branches::delete_branch(self.table.io(), &self.name).await
    }
}

/// Makes branch `name`'s history the main branch's (Paimon's `fast_forward`).
pub struct FastForward<'a> {
    table: &'a Table,
    name: String,
}

impl<'a> FastForward<'a> {
    pub fn new(table: &'a Table, name: &str) -> Self {
        FastForward { table, name: name.to_string() }
    }

    pub async fn execute(self) -> Result<FastForwardReport> {
        branches::fast_forward(self.table.io(), &self.name).await
    }
}
