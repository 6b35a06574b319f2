//! `shoal expire-snapshots`: expire old snapshots and the files only they referenced.

use crate::cli::args::{RetentionArgs, TableArg};
use crate::cli::output::outln;
use shoal::error::Result;
use shoal::maintenance::operations::ExpireSnapshots;

/// Expire old snapshots and delete the files only they referenced.
///
/// Flags left out take the table's options (snapshot.num-retained.min/max,
/// snapshot.time-retained); --max-deletes defaults to no limit.
///
/// Example: shoal expire-snapshots /tmp/wh/db.db/orders --retain-max 5 --older-than 1h
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    table: TableArg,
    #[command(flatten)]
    retention: RetentionArgs,
}

pub async fn exec(args: Args) -> Result<()> {
    let t = args.table.open().await?;
    let started = std::time::Instant::now();
    let r = ExpireSnapshots::new(&t).overrides(&args.retention.overrides()).execute().await?;
    outln!(
        "expired {} snapshots: deleted {} data files and {} manifest files in {:.2}s; earliest snapshot is {}",
        r.snapshots_expired,
        r.data_files_deleted,
        r.manifests_deleted,
        started.elapsed().as_secs_f64(),
        r.earliest.map(|e| e.to_string()).unwrap_or_else(|| "none".into())
    )?;
    if r.changelogs_written > 0 {
        outln!(
            "kept {} long-lived changelogs in changelog/ (the table's changelog outlives its snapshots; \
             shoal expire-changelogs removes them)",
            r.changelogs_written
        )?;
    }
    Ok(())
}
