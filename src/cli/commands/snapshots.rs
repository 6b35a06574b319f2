//! `shoal snapshots`: list a table's snapshots.

use crate::cli::args::TableArg;
use crate::cli::output::outln;
use shoal::error::Result;

/// List snapshots.
#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  shoal snapshots /tmp/wh/db.db/orders")]
pub struct Args {
    #[command(flatten)]
    table: TableArg,
}

pub async fn exec(args: Args) -> Result<()> {
    let t = args.table.open().await?;
    let sm = t.snapshots();
    outln!(
        "{:>6}  {:<8}  {:>7}  {:>12}  {:>12}  {:<24}  commit user",
        "id",
        "kind",
        "schema",
        "total rows",
        "delta rows",
        "time (UTC)"
    )?;
    for id in sm.snapshot_ids().await? {
        let s = sm.snapshot(id).await?;
        let time = chrono::DateTime::from_timestamp_millis(s.time_millis)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
            .unwrap_or_default();
        outln!(
            "{:>6}  {:<8}  {:>7}  {:>12}  {:>12}  {:<24}  {}",
            s.id,
            format!("{:?}", s.commit_kind).to_uppercase(),
            s.schema_id,
            s.total_record_count.map(|v| v.to_string()).unwrap_or_default(),
            s.delta_record_count.map(|v| v.to_string()).unwrap_or_default(),
            time,
            s.commit_user
        )?;
    }
    Ok(())
}
