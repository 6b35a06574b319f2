//! The table service (`shoal maintain`): one long-running process that keeps every selected
//! table of a warehouse healthy, whoever writes it (Flink, Spark, pypaimon, shoal), by the
//! table's own Paimon options: compaction of tables whose writers leave it to others
//! (`write-only`), snapshot, changelog, tag and consumer expiry, automatic tags, orphan files.
//!
//! Scheduling: tables are discovered again every `interval` (new ones join); a table is due once
//! `interval` has passed since its last turn began; up to `parallelism` tables have their turn at
//! once, the longest-waiting first, so one huge table holds one slot and the others keep their
//! pace. A lease per table ([`lease`]) keeps two maintainers off one table; a turn that
//! loses a race (a writer or another compactor committed first) leaves the rest for the next
//! turn and never commits a stale result.

pub mod discover;
mod lease;
mod status;
mod table_pass;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

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

/// What turns did: in a round (every table one turn), or in a whole run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoundSummary {
    pub tables: usize,
    pub maintained: usize,
    /// Held by another maintainer.
    pub busy: usize,
    pub failed: usize,
    pub actions: usize,
}

impl RoundSummary {
    fn add(&mut self, other: &RoundSummary) {
        self.tables = other.tables;
        self.maintained += other.maintained;
        self.busy += other.busy;
        self.failed += other.failed;
        self.actions += other.actions;
    }
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

    /// Runs until `stop` resolves (or, with `once`, until every table found at the start had
    /// one turn). Tables are scheduled one by one, not in lockstep rounds: whenever a slot is
    /// free the longest-waiting due table takes it, so a table whose turn is long holds one slot
    /// and the others keep their pace. Tables are discovered again every `interval`. A summary
    /// line is printed each time every table has had a turn (a round).
    pub async fn run(&mut self, stop: impl std::future::Future<Output = ()>) -> Result<RoundSummary> {
        tokio::pin!(stop);
        let interval = self.config.interval.as_millis() as i64;
        let mut tables: Vec<TableName> = vec![];
        let mut discovered_at: Option<i64> = None;
        let mut running: tokio::task::JoinSet<(TableName, Turn)> = tokio::task::JoinSet::new();
        let mut busy_names: BTreeSet<TableName> = BTreeSet::new();
        let mut had_turn: BTreeSet<TableName> = BTreeSet::new();
        let mut attempted: std::collections::HashMap<TableName, i64> = Default::default();
        let mut total = RoundSummary::default();
        let mut round = RoundSummary::default();
        loop {
            let now = chrono::Utc::now().timestamp_millis();
            if discovered_at.is_none_or(|d| !self.config.once && now - d >= interval) {
                tables = discover(&self.warehouse, &self.config.databases, &self.config.tables).await?;
                discovered_at = Some(now);
                let names: BTreeSet<String> = tables.iter().map(|t| t.to_string()).collect();
                self.status.tables.retain(|k, _| names.contains(k));
                had_turn.retain(|t| tables.contains(t));
            }
            // When its last turn began, or was tried (a turn that found the table held by another
            // maintainer, or could not open it, waits an interval too).
            let last_start = |s: &Self, attempted: &std::collections::HashMap<TableName, i64>, t: &TableName| {
                let done = s.status.tables.get(&t.to_string()).map(|st| st.last_pass_start_millis).unwrap_or(0);
                done.max(attempted.get(t).copied().unwrap_or(0))
            };
            let mut due: Vec<(i64, TableName)> = tables
                .iter()
                .filter(|t| !busy_names.contains(*t))
                .filter(|t| {
                    if self.config.once {
                        !had_turn.contains(*t)
                    } else {
                        now - last_start(self, &attempted, t) >= interval
                    }
                })
                .map(|t| (last_start(self, &attempted, t), t.clone()))
                .collect();
            due.sort();
            for (_, name) in due.into_iter().take(self.config.parallelism.max(1).saturating_sub(running.len())) {
                let status = self.status.tables.get(&name.to_string()).cloned().unwrap_or_default();
                let (warehouse, config, owner) = (self.warehouse.clone(), self.config.clone(), self.owner.clone());
                busy_names.insert(name.clone());
                attempted.insert(name.clone(), now);
                running.spawn(async move {
                    let outcome = turn(&warehouse, &name, &config, &owner, status).await;
                    (name, outcome)
                });
            }
            if self.config.once && running.is_empty() && tables.iter().all(|t| had_turn.contains(t)) {
                self.finish_round(&mut round, tables.len());
                total.add(&round);
                return Ok(total);
            }
            // The next table due, at the latest.
            let next_due = tables
                .iter()
                .filter(|t| !busy_names.contains(*t))
                .map(|t| last_start(self, &attempted, t) + interval - now)
                .min()
                .unwrap_or(interval)
                .clamp(50, interval.max(50));
            tokio::select! {
                Some(done) = running.join_next(), if !running.is_empty() => {
                    let (name, outcome) =
                        done.map_err(crate::Error::join("running a table's turn"))?;
                    busy_names.remove(&name);
                    had_turn.insert(name.clone());
                    self.record(&mut round, name, outcome);
                    if tables.iter().all(|t| had_turn.contains(t)) && !self.config.once {
                        self.finish_round(&mut round, tables.len());
                        total.add(&round);
                        round = RoundSummary::default();
                        had_turn.clear();
                    }
                }
                _ = tokio::time::sleep(Duration::from_millis(next_due as u64)) => {}
                _ = &mut stop => {
                    total.add(&round);
                    return Ok(total);
                }
            }
        }
    }

    /// Takes a finished turn into the status and the round's counts.
    fn record(&mut self, round: &mut RoundSummary, name: TableName, outcome: Turn) {
        match outcome {
            Turn::Done(status) => {
                round.maintained += 1;
                round.actions += status.actions.len();
                if !status.errors.is_empty() {
                    round.failed += 1;
                }
                self.status.tables.insert(name.to_string(), *status);
            }
            Turn::Busy(holder) => {
                round.busy += 1;
                eprintln!("maintain table={name} skipped=\"held by {holder}\"");
            }
            Turn::Failed(e, status) => {
                round.failed += 1;
                eprintln!("maintain table={name} error=\"{}\"", e.replace('"', "'"));
                self.status.tables.insert(name.to_string(), *status);
            }
        }
        self.save_status();
    }

    fn finish_round(&mut self, round: &mut RoundSummary, tables: usize) {
        round.tables = tables;
        self.status.passes += 1;
        self.save_status();
        eprintln!(
            "maintain round={} tables={} maintained={} busy={} failed={} actions={}",
            self.status.passes, round.tables, round.maintained, round.busy, round.failed, round.actions
        );
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
