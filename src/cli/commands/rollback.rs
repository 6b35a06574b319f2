//! `shoal rollback`: roll a table back to a snapshot or tag.

use crate::cli::args::TableArg;
use crate::cli::output::outln;
use crate::cli::parse;
use shoal::error::Result;
use shoal::maintenance::operations::Rollback;
use shoal::maintenance::rollback::RollbackTarget;

/// Roll the table back to a snapshot or tag: later snapshots and tags and their files go.
///
/// Example: shoal rollback /tmp/wh/db.db/orders --to 12     (or --to my-tag)
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    table: TableArg,
    /// A snapshot id or a tag name
    #[arg(long, value_parser = parse::rollback_target)]
    to: RollbackTarget,
}

pub async fn exec(args: Args) -> Result<()> {
    let t = args.table.open().await?;
    let r = Rollback::new(&t, &args.to).execute().await?;
    outln!(
        "rolled back to snapshot {}: deleted {} snapshots, tags [{}], {} data files, {} manifest files",
        r.snapshot_id,
        r.snapshots_deleted,
        r.tags_deleted.join(", "),
        r.data_files_deleted,
        r.manifests_deleted
    )?;
    Ok(())
}
