//! `shoal demo`: a tour on a local warehouse. Runs the library's orders workload
//! ([`shoal::demo`]) and prints the table and its snapshots at each step.

use crate::cli::output::outln;
use shoal::demo::OrdersDemo;
use shoal::error::{Error, Result};
use shoal::table::Table;

/// Run a demo on a local warehouse: create a table, write, upsert, delete, read, print.
#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  shoal demo --warehouse /tmp/shoal-demo")]
pub struct Args {
    /// Warehouse directory (created if missing)
    #[arg(long, default_value = "warehouse")]
    warehouse: String,
}

async fn show(table: &Table, title: &str) -> Result<()> {
    let batch = table.read_all(None, None).await?;
    let snap = table.latest_snapshot().await?.map(|s| s.id).unwrap_or(0);
    outln!("\n== {title} (snapshot {snap}) ==")?;
    outln!("{}", arrow::util::pretty::pretty_format_batches(&[batch]).map_err(Error::arrow("printing"))?)?;
    Ok(())
}

pub async fn exec(args: Args) -> Result<()> {
    let mut demo = OrdersDemo::create(&args.warehouse).await?;
    let location = demo.location().to_string();
    outln!("created table {location} (primary key order_id, 2 buckets)")?;
    while let Some(title) = demo.next_step().await? {
        show(demo.table(), title).await?;
    }
    let table = demo.table();
    let first = table.read_all(Some(1), None).await?;
    outln!("\ntime travel: snapshot 1 still has {} orders", first.num_rows())?;
    outln!("\nsnapshots:")?;
    let sm = table.snapshots();
    for id in sm.snapshot_ids().await? {
        let s = sm.snapshot(id).await?;
        outln!(
            "  {}  {:?}  +{} rows (total {})",
            s.id,
            s.commit_kind,
            s.delta_record_count.unwrap_or(0),
            s.total_record_count.unwrap_or(0)
        )?;
    }
    outln!("\nThe table is in Apache Paimon's format: Flink, Spark or Java Paimon can read {location}.")?;
    outln!("Try: cargo run --release -- read {location} --format csv")?;
    Ok(())
}
