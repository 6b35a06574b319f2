//! `shoal files`: list the live data files.

use crate::cli::args::TableArg;
use crate::cli::output::outln;
use shoal::error::Result;

/// List the live data files by partition, bucket and level.
#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  shoal files /tmp/wh/db.db/orders --snapshot 3")]
pub struct Args {
    #[command(flatten)]
    table: TableArg,
    #[arg(long)]
    snapshot: Option<i64>,
}

pub async fn exec(args: Args) -> Result<()> {
    let t = args.table.open().await?;
    let mut scan = t.new_scan();
    if let Some(s) = args.snapshot {
        scan = scan.with_snapshot(s);
    }
    let plan = scan.plan().await?;
    outln!("{:<40}  {:>5}  {:>10}  {:>12}  {:>10}  file", "partition/bucket", "level", "rows", "bytes", "deletes")?;
    for split in plan.splits {
        let mut files = split.files.clone();
        files.sort_by_key(|f| (std::cmp::Reverse(f.level), f.min_sequence_number));
        for f in files {
            outln!(
                "{:<40}  {:>5}  {:>10}  {:>12}  {:>10}  {}",
                split.bucket_path,
                f.level,
                f.row_count,
                f.file_size,
                f.delete_row_count.unwrap_or(0),
                f.file_name
            )?;
        }
    }
    Ok(())
}
