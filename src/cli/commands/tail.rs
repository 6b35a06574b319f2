//! `shoal tail`: follow a table's changes as they are committed.

use std::time::Duration;

use crate::cli::args::TableArg;
use crate::cli::output::{TailFormat, TailSink};
use crate::cli::parse;
use shoal::error::Result;
use shoal::read::{StartingPosition, StreamOptions};

/// Follow a table: print its changes as they are committed, with the row kind (+I, -U, +U,
/// -D) in the first column, until interrupted.
///
/// --from: full (default: the latest snapshot in full, then its changes), latest (only new
/// changes), earliest (the changes of every retained snapshot), a snapshot id (its changes
/// and later), or a time (YYYY-MM-DD[ HH:MM:SS] UTC, or epoch millis: the changes committed
/// since). With --consumer-id the reader records its progress in consumer/consumer-<ID>
/// (snapshot expiry keeps what it still needs) and resumes there when restarted.
///
/// Example: shoal tail /tmp/wh/db.db/orders --from latest --consumer-id dashboard --format jsonl
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    table: TableArg,
    /// full | latest | earliest | SNAPSHOT_ID | TIME (default: the table's scan.mode, else full)
    #[arg(long, value_parser = parse::starting_position)]
    from: Option<StartingPosition>,
    /// Record and resume progress under this consumer id
    #[arg(long)]
    consumer_id: Option<String>,
    /// How often to look for new snapshots, e.g. 1s, 500ms (default: continuous.discovery-interval, 10 s)
    #[arg(long, value_parser = parse::duration)]
    interval: Option<Duration>,
    /// Exit once every committed snapshot has been printed, instead of waiting for more
    #[arg(long)]
    exit_when_caught_up: bool,
    #[arg(long, value_enum, default_value = "table")]
    format: TailFormat,
}

pub async fn exec(args: Args) -> Result<()> {
    let t = args.table.open().await?;
    let mut options = StreamOptions::from_table(&t)?;
    if let Some(start) = args.from {
        options.start = start;
    }
    if let Some(id) = args.consumer_id {
        options.consumer_id = Some(id);
    }
    if let Some(i) = args.interval {
        options.discovery_interval = i;
    }
    let mut reader = t.stream_read_with(options).await?;
    let mut out = TailSink::new(args.format);
    loop {
        let batches = reader.read_available().await?;
        for b in &batches {
            out.write(&b.batch)?;
        }
        if batches.is_empty() {
            if args.exit_when_caught_up {
                reader.checkpoint().await?;
                return Ok(());
            }
            tokio::time::sleep(reader.discovery_interval()).await;
        }
    }
}
