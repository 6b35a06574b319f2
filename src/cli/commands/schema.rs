//! `shoal schema`: print the latest schema file.

use crate::cli::args::TableArg;
use crate::cli::output::outln;
use shoal::error::Result;

/// Print the table's schema (the latest schema file).
#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  shoal schema /tmp/wh/db.db/orders")]
pub struct Args {
    #[command(flatten)]
    table: TableArg,
}

pub async fn exec(args: Args) -> Result<()> {
    let t = args.table.open().await?;
    outln!("{}", t.schema().to_json_string())?;
    Ok(())
}
