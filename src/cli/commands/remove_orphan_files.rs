//! `shoal remove-orphan-files`: delete files no snapshot or tag references.

use crate::cli::args::TableArg;
use crate::cli::output::outln;
use crate::cli::parse::{self, SpelledDuration};
use shoal::error::Result;
use shoal::maintenance::operations::RemoveOrphanFiles;

/// Delete files in the table directory that no snapshot or tag references.
///
/// Example: shoal remove-orphan-files /tmp/wh/db.db/orders --older-than 1d --dry-run
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    table: TableArg,
    /// Only files older than this (Paimon's default: 1 day)
    #[arg(long, default_value = "1 d", value_parser = parse::spelled_duration)]
    older_than: SpelledDuration,
    /// List the orphans without deleting them
    #[arg(long)]
    dry_run: bool,
}

pub async fn exec(args: Args) -> Result<()> {
    let t = args.table.open().await?;
    let dry_run = args.dry_run;
    let r = RemoveOrphanFiles::new(&t).older_than(args.older_than.value).dry_run(dry_run).execute().await?;
    for o in &r.orphans {
        outln!("{}{o}", if dry_run { "orphan: " } else { "deleted: " })?;
    }
    outln!(
        "{} orphan files ({:.1} MB){}; {} unreferenced files younger than {} kept",
        r.orphans.len(),
        r.bytes as f64 / 1e6,
        if dry_run { ", dry run: nothing deleted" } else { " deleted" },
        r.too_young,
        args.older_than
    )?;
    Ok(())
}
