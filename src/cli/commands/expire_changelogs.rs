//! `shoal expire-changelogs`: expire long-lived changelogs and the files only they read.

use crate::cli::args::{RetentionArgs, TableArg};
use crate::cli::output::outln;
use shoal::error::Result;
use shoal::maintenance::operations::ExpireChangelogs;

/// Expire long-lived changelogs (changelog/changelog-<id>) of a table whose changelog
/// outlives its snapshots, and delete the files only they read.
///
/// Flags left out take the table's options (changelog.num-retained.min/max,
/// changelog.time-retained, defaulting to the snapshot ones); --max-deletes defaults to no limit.
/// Consumers still hold what they need.
///
/// Example: shoal expire-changelogs /tmp/wh/db.db/orders --retain-max 100 --older-than 1d
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
    let r = ExpireChangelogs::new(&t).overrides(&args.retention.overrides()).execute().await?;
    outln!(
        "expired {} changelogs: deleted {} data files and {} manifest files in {:.2}s; earliest changelog is {}",
        r.changelogs_expired,
        r.data_files_deleted,
        r.manifests_deleted,
        started.elapsed().as_secs_f64(),
        r.earliest.map(|e| e.to_string()).unwrap_or_else(|| "none".into())
    )?;
    Ok(())
}
