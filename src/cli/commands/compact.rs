//! `shoal compact`: the dedicated compaction job over a table's buckets.

use crate::cli::args::TableArg;
use crate::cli::output::outln;
use crate::cli::parse;
use shoal::error::Result;
use shoal::maintenance::compact::{partition_filter, CompactJob};

/// Compact a table's buckets (the dedicated compaction job; safe beside running writers).
#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  shoal compact /tmp/wh/db.db/orders --full --partition dt=2024-01-01")]
pub struct Args {
    #[command(flatten)]
    table: TableArg,
    /// Merge every bucket completely into the last level (default: what universal compaction picks)
    #[arg(long)]
    full: bool,
    /// Only these partitions, as key=value (repeatable)
    #[arg(long = "partition", value_name = "KEY=VALUE", value_parser = parse::key_value)]
    partitions: Vec<(String, String)>,
}

pub async fn exec(args: Args) -> Result<()> {
    let t = args.table.open().await?;
    let mut job = CompactJob::new(args.full);
    job.partition_filter = partition_filter(&t, &args.partitions)?;
    let pb = indicatif::ProgressBar::new(0);
    pb.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} buckets ({elapsed})").expect("static template"),
    );
    job.progress = Some(pb.clone());
    let started = std::time::Instant::now();
    let r = job.run(&t).await?;
    pb.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    match r.outcome.snapshot_id() {
        Some(id) => outln!(
            "compacted {} buckets: {} files ({:.1} MB, {} rows) -> {} files ({:.1} MB written) in {secs:.2}s \
             ({:.1} MB/s, {:.0} rows/s read), snapshot {id}{}",
            r.buckets_compacted,
            r.files_before,
            r.bytes_read as f64 / 1e6,
            r.rows_read,
            r.files_after,
            r.bytes_written as f64 / 1e6,
            r.bytes_read as f64 / 1e6 / secs.max(1e-9),
            r.rows_read as f64 / secs.max(1e-9),
            shoal::memory::peak_rss_bytes().map(|b| format!("; peak memory {} MiB", b >> 20)).unwrap_or_default()
        )?,
        None => outln!("nothing to compact")?,
    }
    for d in &r.dropped {
        eprintln!("bucket {} left for a later run: {}", d.bucket, d.reason);
    }
    Ok(())
}
