//! `shoal inspect`: the LSM shape of each bucket, as text and optionally as an SVG picture.

use std::path::PathBuf;

use crate::cli::args::TableArg;
use crate::cli::lsm_render::{render_svg, render_text};
use crate::cli::output::{out, outln};
use shoal::error::{Error, Result};

/// Show the LSM shape of each bucket: sorted runs by level, file counts and sizes, key
/// ranges and overlaps; optionally as an SVG picture.
#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  shoal inspect /tmp/wh/db.db/orders --svg orders-lsm.svg")]
pub struct Args {
    #[command(flatten)]
    table: TableArg,
    /// Snapshot to inspect; default: the latest
    #[arg(long)]
    snapshot: Option<i64>,
    /// Also draw the trees into this SVG file
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
}

pub async fn exec(args: Args) -> Result<()> {
    let t = args.table.open().await?;
    let mut scan = t.new_scan();
    if let Some(s) = args.snapshot {
        scan = scan.with_snapshot(s);
    }
    let plan = scan.plan().await?;
    let shapes = shoal::lsm::shape::bucket_shapes(t.schema(), &plan.splits)?;
    match &plan.snapshot {
        Some(s) => outln!("{} at snapshot {}", t.location(), s.id)?,
        None => outln!("{} has no snapshot yet", t.location())?,
    }
    out!("{}", render_text(&shapes))?;
    if let Some(path) = args.svg {
        std::fs::write(&path, render_svg(t.location(), &shapes))
            .map_err(Error::local_io(format!("cannot write {}", path.display())))?;
        outln!("wrote {}", path.display())?;
    }
    Ok(())
}
