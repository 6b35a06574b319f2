//! `shoal read`: a table's merged rows, optionally at a snapshot, projected, filtered (through
//! DataFusion) and limited, in one of several formats.

use std::path::PathBuf;

use crate::cli::args::TableArg;
use crate::cli::output::{OutputFormat, OutputSink};
use crate::cli::parse::{self, Columns};
use shoal::error::{Error, Result};
use shoal::read::scan::TimeTravel;

/// Read a table (merged), optionally at a snapshot, projected, filtered and limited.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  shoal read /tmp/wh/db.db/orders --columns id,fee --limit 10 --format csv\n  shoal read orders.orders --warehouse /tmp/wh --where \"order_state = 'PAID' AND order_fee > 100\""
)]
pub struct Args {
    #[command(flatten)]
    table: TableArg,
    /// Snapshot id to read (time travel); default: the latest
    #[arg(long, conflicts_with_all = ["tag", "as_of"])]
    snapshot: Option<i64>,
    /// Read the snapshot a tag keeps
    #[arg(long, conflicts_with = "as_of")]
    tag: Option<String>,
    /// Read the latest snapshot committed at or before this time: epoch millis or an ISO
    /// timestamp (2024-01-02T03:04:05Z, 2024-01-02 03:04:05 in UTC, 2024-01-02)
    #[arg(long, value_parser = parse::timestamp_millis)]
    as_of: Option<i64>,
    /// Columns to output, comma-separated
    #[arg(long, value_parser = parse::columns)]
    columns: Option<Columns>,
    /// Only rows matching this SQL predicate (evaluated by DataFusion; partition filters prune)
    #[arg(long = "where", value_name = "PREDICATE")]
    filter: Option<String>,
    /// Stop after this many rows
    #[arg(long)]
    limit: Option<usize>,
    #[arg(long, value_enum, default_value = "table")]
    format: OutputFormat,
    /// Write to this file instead of stdout
    #[arg(long)]
    output: Option<PathBuf>,
}

pub async fn exec(args: Args) -> Result<()> {
    let mut t = args.table.open().await?;
    let travel = match (args.snapshot, args.tag, args.as_of) {
        (Some(id), _, _) => Some(TimeTravel::Snapshot(id)),
        (_, Some(name), _) => Some(TimeTravel::Tag(name)),
        (_, _, Some(at)) => Some(TimeTravel::Timestamp(at)),
        _ => None,
    };
    if let Some(tt) = travel {
        t = t.travel(&tt).await?;
    }
    let projection = match &args.columns {
        Some(c) => Some(t.projection_of(&c.0.iter().map(String::as_str).collect::<Vec<_>>())?),
        None => None,
    };
    let schema = match &projection {
        Some(p) => std::sync::Arc::new(t.arrow_schema().project(p).map_err(Error::arrow("projecting"))?),
        None => t.arrow_schema(),
    };
    let stream = match &args.filter {
        Some(predicate) => {
            let rows = shoal::datafusion::filtered_stream(&t, projection.as_deref(), predicate, args.limit).await;
            rows.map_err(|e| match e {
                Error::InvalidInput(m) => Error::InvalidInput(format!("--where: {m}")),
                e => e,
            })?
            .1
        }
        None => t.scan_stream(None, projection).await?,
    };
    let mut sink = OutputSink::new(args.format, args.output.as_deref(), schema)?;
    sink.write_stream(stream, args.limit).await?;
    sink.finish()
}
