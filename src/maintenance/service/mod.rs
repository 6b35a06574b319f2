//! The table service (`shoal maintain`): one long-running process that keeps every selected
//! table of a warehouse healthy, whoever writes it (Flink, Spark, pypaimon, shoal), by the
//! table's own Paimon options: compaction of tables whose writers leave it to others
//! (`write-only`), snapshot, changelog, tag and consumer expiry, automatic tags, orphan files.
//!
//! Scheduling: tables are discovered again before every round (new ones join); a table is due
//! once `interval` has passed since its last turn began; up to `parallelism` tables have their
//! turn at once, the longest-waiting first, so one huge table holds one slot and the others keep
//! their pace. A lease per table ([`lease`]) keeps two maintainers off one table; a turn that
//! loses a race (a writer or another compactor committed first) leaves the rest for the next
//! turn and never commits a stale result.

pub mod discover;
pub mod lease;
pub mod status;
mod table_pass;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use discover::{discover, Patterns, TableName};
use lease::{Acquired, Lease};
use status::{Status, TableStatus};

use crate::error::Result;
use crate::io::FileIO;
use crate::table::Table;

/// Where leases live, relative to the warehouse root (not a `*.db` directory, so catalogs
/// ignore it).
pub const SERVICE_DIR: &str = "_shoal_maintain";

/// What `shoal maintain` does, and to which tables.
#[derive(Clone, Debug)]
pub struct MaintainConfig {
    pub databases: Patterns,
    pub tables: Patterns,
    /// Tables compacted although their writers are not `write-only` (None: none).
    pub compact: Option<Patterns>,
    /// False: no compaction at all.
    pub compaction: bool,
    pub interval: Duration,
    /// Orphan files younger than this stay (Paimon's default: 1 day).
    pub orphan_older_than: Duration,
    /// How often a table's files are scanned for orphans.
    pub orphan_interval: Duration,
    /// Tables maintained at once.
    pub parallelism: usize,
    pub dry_run: bool,
    /// One turn per table, then stop.
    pub once: bool,
    pub lease_ttl: Duration,
    /// The status file (a local path); None: none is written.
    pub status_path: Option<PathBuf>,
}

impl Default for MaintainConfig {
    fn default() -> Self {
        MaintainConfig {
            databases: Patterns::default(),
            tables: Patterns::default(),
            compact: None,
            compaction: true,
            interval: Duration::from_secs(60),
            orphan_older_than: crate::maintenance::orphan_files::DEFAULT_OLDER_THAN,
            orphan_interval: Duration::from_secs(3600),
            parallelism: 2,
            dry_run: false,
            once: false,
            lease_ttl: Duration::from_secs(600),
            status_path: None,
        }
    }
}

/// A round's summary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoundSummary {
    pub tables: usize,
    pub maintained: usize,
    /// Held by another maintainer.
    pub busy: usize,
    pub failed: usize,
    pub actions: usize,
}

pub struct TableService {
    warehouse: FileIO,
    config: MaintainConfig,
    owner: String,
    status: Status,
}

impl TableService {
    pub fn new(warehouse: &str, config: MaintainConfig) -> Result<TableService> {
        let warehouse = FileIO::from_uri(warehouse)?;
        let owner = format!("shoal-maintain-{}", uuid::Uuid::new_v4());
        let mut status = config.status_path.as_deref().map(Status::load).unwrap_or_default();
        status.owner = owner.clone();
        status.passes = 0;
        Ok(TableService { warehouse, config, owner, status })
    }

    pub fn status(&self) -> &Status {
        &self.status
    }

    /// Runs until `stop` resolves (or, with `once`, until every table had one turn).
    pub async fn run(&mut self, stop: impl std::future::Future<Output = ()>) -> Result<RoundSummary> {
        tokio::pin!(stop);
        let mut total = RoundSummary::default();
        loop {
            let started = Instant::now();
            let round = tokio::select! {
                r = self.round() => r?,
                _ = &mut stop => return Ok(total),
            };
            total.tables = round.tables;
            total.maintained += round.maintained;
            total.busy += round.busy;
            total.failed += round.failed;
            total.actions += round.actions;
            if self.config.once {
                return Ok(total);
            }
            // The next round when the earliest table is due again.
            let wait = self.config.interval.saturating_sub(started.elapsed()).max(Duration::from_millis(200));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = &mut stop => return Ok(total),
            }
        }
    }

    /// One round: every selected table that is due gets a turn, `parallelism` at a time,
    /// longest-waiting first.
    pub async fn round(&mut self) -> Result<RoundSummary> {
        let tables = discover(&self.warehouse, &self.config.databases, &self.config.tables).await?;
        let now = chrono::Utc::now().timestamp_millis();
        let interval = self.config.interval.as_millis() as i64;
        let mut due: Vec<(i64, TableName)> = tables
            .iter()
            .map(|t| (self.status.tables.get(&t.to_string()).map(|s| s.last_pass_start_millis).unwrap_or(0), t.clone()))
            .filter(|(last, _)| self.config.once || now - last >= interval)
            .collect();
        due.sort();
        // Forget tables that are gone.
        let names: BTreeSet<String> = tables.iter().map(|t| t.to_string()).collect();
        self.status.tables.retain(|k, _| names.contains(k));

        let mut summary = RoundSummary { tables: tables.len(), ..Default::default() };
        let mut running = tokio::task::JoinSet::new();
        let mut queue = due.into_iter().map(|(_, t)| t);
        loop {
            while running.len() < self.config.parallelism.max(1) {
                let Some(name) = queue.next() else { break };
                let status = self.status.tables.get(&name.to_string()).cloned().unwrap_or_default();
                let (warehouse, config, owner) = (self.warehouse.clone(), self.config.clone(), self.owner.clone());
                running.spawn(async move {
                    let outcome = turn(&warehouse, &name, &config, &owner, status).await;
                    (name, outcome)
                });
            }
            let Some(done) = running.join_next().await else { break };
            let (name, outcome) = done.map_err(|e| crate::Error::Task(format!("a table's turn panicked: {e}")))?;
            match outcome {
                Turn::Done(status) => {
                    summary.maintained += 1;
                    summary.actions += status.actions.len();
                    if !status.errors.is_empty() {
                        summary.failed += 1;
                    }
                    self.status.tables.insert(name.to_string(), *status);
                }
                Turn::Busy(holder) => {
                    summary.busy += 1;
                    eprintln!("maintain table={name} skipped=\"held by {holder}\"");
                }
                Turn::Failed(e, status) => {
                    summary.failed += 1;
                    eprintln!("maintain table={name} error=\"{}\"", e.replace('"', "'"));
                    self.status.tables.insert(name.to_string(), *status);
                }
            }
            self.save_status();
        }
        self.status.passes += 1;
        self.save_status();
        eprintln!(
            "maintain round={} tables={} maintained={} busy={} failed={} actions={}",
            self.status.passes, summary.tables, summary.maintained, summary.busy, summary.failed, summary.actions
        );
        Ok(summary)
    }

    fn save_status(&mut self) {
        self.status.updated_millis = chrono::Utc::now().timestamp_millis();
        if let Some(path) = &self.config.status_path {
            if let Err(e) = self.status.save(path) {
                eprintln!("maintain status file: {e}");
            }
        }
    }
}

enum Turn {
    Done(Box<TableStatus>),
    Busy(String),
    Failed(String, Box<TableStatus>),
}

/// One table's turn under its lease.
async fn turn(
    warehouse: &FileIO,
    name: &TableName,
    config: &MaintainConfig,
    owner: &str,
    mut status: TableStatus,
) -> Turn {
    let lease_dir = format!("{SERVICE_DIR}/leases/{name}");
    let mut lease = match Lease::acquire(warehouse, &lease_dir, owner, config.lease_ttl).await {
        Ok(Acquired::Held(l)) => l,
        Ok(Acquired::Busy(holder)) => return Turn::Busy(holder),
        Err(e) => return Turn::Failed(format!("lease: {e}"), Box::new(status)),
    };
    let result = async {
        let table = Table::open_with_io(warehouse.sub(&name.dir())).await?;
        table_pass::maintain(&table, name, config, &mut status, &mut lease).await
    }
    .await;
    lease.release().await;
    match result {
        Ok(()) => Turn::Done(Box::new(status)),
        Err(e) => {
            status.errors.push(format!("error=\"{e}\""));
            Turn::Failed(e.to_string(), Box::new(status))
        }
    }
}
