//! A small streaming job on shoal: a generated source of order updates written through the
//! checkpoint-driven [`StreamingSink`] (a checkpoint every `--checkpoint-ms`), and a reader
//! tailing the table's changelog (`changelog-producer = input`) with a consumer id, printing
//! the commit-to-reader latency of each snapshot.
//!
//! Run: cargo run --example streaming_sink -- [TABLE_DIR] [--seconds N] [--checkpoint-ms MS]
//!
//! Restart it on the same directory: the sink resumes after its last committed checkpoint (the
//! source is deterministic per checkpoint id, so re-driven checkpoints carry the same rows), and
//! the reader resumes at its consumer's next snapshot.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use rand::{Rng, SeedableRng};
use shoal::read::StreamOptions;
use shoal::spec::{parse_type, RowKind};
use shoal::table::StreamingSink;
use shoal::table::TableDefinition;
use shoal::Table;

const COMMIT_USER: &str = "orders-job";

/// The rows of checkpoint `c`: upserts and some deletes of 1000 order ids, deterministic by `c`.
fn source(table: &Table, c: i64) -> (RecordBatch, Vec<RowKind>) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(c as u64);
    let n = 200;
    let ids: Vec<i64> = (0..n).map(|_| rng.random_range(0..1000)).collect();
    let status: Vec<String> = (0..n).map(|_| ["new", "paid", "shipped"][rng.random_range(0..3)].to_string()).collect();
    let kinds: Vec<RowKind> =
        (0..n).map(|_| if rng.random_range(0..10) == 0 { RowKind::Delete } else { RowKind::Insert }).collect();
    let amount: Vec<i64> = (0..n).map(|_| rng.random_range(1..10_000)).collect();
    let cols: Vec<ArrayRef> =
        vec![Arc::new(Int64Array::from(ids)), Arc::new(StringArray::from(status)), Arc::new(Int64Array::from(amount))];
    (RecordBatch::try_new(table.arrow_schema(), cols).expect("the source matches the table"), kinds)
}

#[tokio::main]
async fn main() -> shoal::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut dir = None;
    let (mut seconds, mut checkpoint_ms) = (10u64, 1000u64);
    while let Some(a) = args.next() {
        let mut num = |what: &str| -> u64 {
            args.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("{what} needs a number"))
        };
        match a.as_str() {
            "--seconds" => seconds = num("--seconds"),
            "--checkpoint-ms" => checkpoint_ms = num("--checkpoint-ms"),
            other => dir = Some(other.to_string()),
        }
    }
    let dir = dir.unwrap_or_else(|| std::env::temp_dir().join("shoal-streaming-sink").to_string_lossy().to_string());
    let table = match Table::open(&dir).await {
        Ok(t) => t,
        Err(_) => {
            let def = TableDefinition::default()
                .column("id", parse_type("BIGINT NOT NULL").expect("type"))
                .column("status", parse_type("STRING").expect("type"))
                .column("amount", parse_type("BIGINT").expect("type"))
                .primary_key(&["id"])
                .option("bucket", "2")
                .option("changelog-producer", "input")
                .option("snapshot.num-retained.min", "5")
                .option("snapshot.num-retained.max", "20");
            Table::create(&dir, def).await?
        }
    };
    println!("table {dir}");

    // The job: write the source, checkpoint every `checkpoint_ms`, commit each checkpoint.
    let job_table = table.clone();
    let job = tokio::spawn(async move {
        let mut sink = StreamingSink::new(&job_table, COMMIT_USER).await?;
        let first = sink.last_committed().await?.map(|c| c + 1).unwrap_or(1);
        println!("sink: resuming at checkpoint {first}");
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let mut c = first;
        while Instant::now() < deadline {
            let (batch, kinds) = source(&job_table, c);
            sink.write_with_kinds(&batch, &kinds).await?;
            tokio::time::sleep(Duration::from_millis(checkpoint_ms)).await;
            let committable = sink.prepare(c).await?;
            let outcome = sink.commit(committable).await?;
            println!("sink: checkpoint {c} -> {outcome:?}");
            c += 1;
        }
        Ok::<_, shoal::Error>(c - first)
    });

    // The tailing reader: the changelog from where its consumer left off.
    let mut options = StreamOptions::from_table(&table)?;
    options.consumer_id = Some("example-tail".into());
    options.discovery_interval = Duration::from_millis(50);
    let mut reader = table.stream_read_with(options).await?;
    let mut rows = 0usize;
    let mut latencies = vec![];
    let mut last_snapshot = 0;
    let sm = table.snapshots();
    let stop = Instant::now() + Duration::from_secs(seconds + 2);
    while Instant::now() < stop {
        let Ok(b) = tokio::time::timeout(Duration::from_millis(500), reader.next_batch()).await else { continue };
        let b = b?;
        rows += b.batch.num_rows();
        if b.snapshot_id != last_snapshot {
            last_snapshot = b.snapshot_id;
            let committed = sm.snapshot(b.snapshot_id).await?.time_millis;
            let latency = chrono::Utc::now().timestamp_millis() - committed;
            latencies.push(latency);
            println!(
                "reader: snapshot {} ({} rows in its first batch), {latency} ms after its commit",
                b.snapshot_id,
                b.batch.num_rows()
            );
        }
    }
    reader.checkpoint().await?;
    let checkpoints = job.await.map_err(shoal::Error::join("running the streaming job"))??;
    latencies.sort_unstable();
    let median = latencies.get(latencies.len() / 2).copied().unwrap_or(0);
    println!(
        "{checkpoints} checkpoints committed; the reader saw {rows} changelog rows; commit-to-reader latency median {median} ms, max {} ms",
        latencies.last().copied().unwrap_or(0)
    );
    Ok(())
}
