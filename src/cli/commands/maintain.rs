//! `shoal maintain`: the table service over a warehouse.

use crate::cli::output::outln;
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::parse;
use shoal::error::Result;
use shoal::maintenance::service::discover::Patterns;
use shoal::maintenance::service::{MaintainConfig, TableService, SERVICE_DIR};

/// Keep a warehouse's tables healthy, whoever writes them: compaction of write-only tables,
/// snapshot/changelog/tag/consumer expiry and automatic tags by each table's options, orphan files
#[derive(clap::Args, Debug)]
#[command(after_help = "Runs beside any writer (Flink, Spark, pypaimon, shoal). Tables whose writers set \
write-only = true are compacted here; others only when named by --compact. Every action is logged as one \
line (maintain table=db.t action=... key=value ...), and the status of each table (last turn, backlog of \
sorted runs) goes to the status file.

Examples:
  shoal maintain --warehouse /data/wh --interval 1m
  shoal maintain --warehouse s3://lake/wh --databases 'sales*' --once --status /var/lib/shoal/status.json
  shoal maintain --warehouse /data/wh --once --dry-run")]
pub struct Args {
    /// Warehouse root holding <db>.db/<table> directories
    #[arg(long, env = "SHOAL_WAREHOUSE")]
    warehouse: String,
    /// Databases to maintain: comma-separated globs (default: all)
    #[arg(long, value_name = "PATTERN")]
    databases: Option<String>,
    /// Tables to maintain: comma-separated globs on the table name, or on db.table when the glob has a dot (default: all)
    #[arg(long, value_name = "PATTERN")]
    tables: Option<String>,
    /// Also compact these tables although their writers are not write-only (their writers' own
    /// compactions will then sometimes lose a race and be redone)
    #[arg(long, value_name = "PATTERN")]
    compact: Option<String>,
    /// Do not compact at all (expiry, tags and orphan files only)
    #[arg(long)]
    no_compact: bool,
    /// A table's turns start at least this far apart
    #[arg(long, default_value = "1m", value_parser = parse::duration)]
    interval: Duration,
    /// One turn per table, then exit (for cron)
    #[arg(long)]
    once: bool,
    /// Show what would be done; change nothing
    #[arg(long)]
    dry_run: bool,
    /// Unreferenced files younger than this are kept (in-flight commits write their files first)
    #[arg(long, default_value = "1d", value_parser = parse::duration)]
    orphan_older_than: Duration,
    /// How often each table is scanned for orphan files
    #[arg(long, default_value = "1h", value_parser = parse::duration)]
    orphan_interval: Duration,
    /// Tables maintained at the same time (each compacts within its write-buffer-size)
    #[arg(long, default_value_t = 2)]
    parallelism: usize,
    /// How long a table's lease lasts unless renewed (a maintainer that dies on this host is taken over at once)
    #[arg(long, default_value = "10m", value_parser = parse::duration)]
    lease_ttl: Duration,
    /// The status file (JSON) [default: <warehouse>/_shoal_maintain/status.json for a local warehouse]
    #[arg(long)]
    status: Option<PathBuf>,
}

pub async fn exec(args: Args) -> Result<()> {
    let local = args.warehouse.strip_prefix("file://").unwrap_or(&args.warehouse);
    let status_path = args
        .status
        .or_else(|| (!local.contains("://")).then(|| PathBuf::from(local).join(SERVICE_DIR).join("status.json")));
    let config = MaintainConfig {
        databases: Patterns::parse(args.databases.as_deref()),
        tables: Patterns::parse(args.tables.as_deref()),
        compact: args.compact.as_deref().map(|p| Patterns::parse(Some(p))),
        compaction: !args.no_compact,
        interval: args.interval,
        orphan_older_than: args.orphan_older_than,
        orphan_interval: args.orphan_interval,
        parallelism: args.parallelism,
        dry_run: args.dry_run,
        once: args.once || args.dry_run,
        lease_ttl: args.lease_ttl,
        status_path: if args.dry_run { None } else { status_path.clone() },
    };
    let mut service = TableService::new(&args.warehouse, config)?;
    let summary = service.run(std::future::pending()).await?;
    outln!(
        "{} tables: {} maintained, {} held by another maintainer, {} with errors; {} actions{}",
        summary.tables,
        summary.maintained,
        summary.busy,
        summary.failed,
        summary.actions,
        status_path.filter(|_| !args.dry_run).map(|p| format!("; status in {}", p.display())).unwrap_or_default()
    )?;
    Ok(())
}
