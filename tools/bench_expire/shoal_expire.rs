//! Snapshot-expiry benchmark: a streaming-style table gets N small commits (one writer, one
//! commit user, in-writer compaction on, 2 buckets), then one expiry run keeps the newest
//! `--retain` snapshots. Reports time and object-store requests (counted by
//! `shoal::io::counting::CountingStore` around the real store) for:
//!   - the bulk run (expire N - retain snapshots at once, as `shoal expire-snapshots` does),
//!   - the steady state after commits (Paimon's default `snapshot.expire.limit` = 10 per commit),
//!     against the same commits on a `write-only` table (no expiry).
//!
//! Prints one JSON object.
//!
//! cargo run --release --example bench_expire -- --table-dir /tmp/expire [--snapshots 10000]
//!     [--retain 10] [--rows-per-commit 20] [--steady-commits 200]

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use shoal::commit::TableCommit;
use shoal::io::counting::{CountingStore, Requests};
use shoal::io::FileIO;
use shoal::maintenance::expire::ExpireConfig;
use shoal::maintenance::operations::ExpireSnapshots;
use shoal::spec::parse_type;
use shoal::table::TableDefinition;
use shoal::write::TableWrite;
use shoal::Table;

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn definition(options: &[(&str, String)]) -> TableDefinition {
    let mut d = TableDefinition::default()
        .column("k", parse_type("BIGINT").unwrap())
        .column("v", parse_type("STRING").unwrap())
        .primary_key(&["k"])
        .option("bucket", "2");
    for (k, v) in options {
        d = d.option(k, v);
    }
    d
}

/// A fresh table at `dir` (removed first), behind a request counter.
async fn counted_table(dir: &str, options: &[(&str, String)]) -> shoal::Result<(Table, CountingStore)> {
    let _ = std::fs::remove_dir_all(dir);
    let (io, counter) = FileIO::from_uri(dir)?.counting();
    Ok((Table::create_with_io(io, definition(options)).await?, counter))
}

/// Upserts `rows` keys (spread by `commit`) and commits them as checkpoint `commit`.
async fn commit_rows(
    t: &Table,
    w: &mut TableWrite,
    c: &TableCommit,
    commit: i64,
    rows: i64,
    keys: i64,
) -> shoal::Result<bool> {
    let ks: Vec<i64> = (0..rows).map(|i| (commit * 7919 + i * 104_729) % keys).collect();
    let vs: Vec<String> = ks.iter().map(|k| format!("v{commit}-{k}")).collect();
    let b = RecordBatch::try_new(
        t.arrow_schema(),
        vec![Arc::new(Int64Array::from(ks)) as ArrayRef, Arc::new(StringArray::from(vs))],
    )
    .map_err(shoal::Error::arrow("building a batch"))?;
    w.write(&b).await?;
    Ok(c.commit_with_identifier(commit, w.prepare_commit_with(false).await?).await?.snapshot_id().is_some())
}

fn add(a: Requests, b: Requests) -> Requests {
    Requests {
        puts: a.puts + b.puts,
        gets: a.gets + b.gets,
        heads: a.heads + b.heads,
        deletes: a.deletes + b.deletes,
        lists: a.lists + b.lists,
        copies: a.copies + b.copies,
    }
}

/// `commits` commits on a fresh table; the requests of each commit (with whatever runs after
/// it) summed over the commits after the first `skip`.
async fn steady(
    dir: &str,
    options: &[(&str, String)],
    commits: i64,
    skip: i64,
    rows: i64,
) -> shoal::Result<(Requests, f64, usize)> {
    let (t, counter) = counted_table(dir, options).await?;
    let mut w = t.new_write().await?;
    let c = t.new_commit("bench")?;
    let mut sum = Requests::default();
    let started = Instant::now();
    for i in 0..commits {
        counter.reset();
        let committed = commit_rows(&t, &mut w, &c, i, rows, 5_000).await?;
        if i >= skip && committed {
            sum = add(sum, counter.requests());
        }
    }
    Ok((sum, started.elapsed().as_secs_f64(), t.snapshots().snapshot_ids().await?.len()))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> shoal::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let dir: String = arg(&args, "--table-dir", "/tmp/shoal-bench-expire".to_string());
    let snapshots: i64 = arg(&args, "--snapshots", 10_000);
    let retain: i64 = arg(&args, "--retain", 10);
    let rows: i64 = arg(&args, "--rows-per-commit", 20);
    let steady_commits: i64 = arg(&args, "--steady-commits", 200);

    // Build the history: commits until `snapshots` snapshots exist (compactions add some).
    let (table, counter) = counted_table(&dir, &[]).await?;
    let started = Instant::now();
    let mut write = table.new_write().await?;
    let commit = table.new_commit("bench")?;
    let mut commits = 0i64;
    while table.snapshots().latest_id().await?.unwrap_or(0) < snapshots {
        commit_rows(&table, &mut write, &commit, commits, rows, 100_000).await?;
        commits += 1;
    }
    let build_secs = started.elapsed().as_secs_f64();
    let built = table.snapshots().snapshot_ids().await?.len();
    let manifest_files = std::fs::read_dir(format!("{dir}/manifest")).map(|d| d.count()).unwrap_or(0);

    // One bulk expiry.
    counter.reset();
    let config =
        ExpireConfig { retain_min: retain, retain_max: retain, time_retained: Duration::ZERO, max_deletes: i64::MAX };
    let started = Instant::now();
    let report = ExpireSnapshots::new(&table).with_config(&config).execute().await?;
    let bulk_secs = started.elapsed().as_secs_f64();
    let bulk = counter.requests();
    let remaining = table.snapshots().snapshot_ids().await?.len();

    // Steady state: expiry after every commit vs. write-only.
    let expiring = [
        ("snapshot.time-retained", "0 ms".to_string()),
        ("snapshot.num-retained.min", retain.to_string()),
        ("snapshot.num-retained.max", retain.to_string()),
    ];
    let skip = retain * 2;
    let (with_expiry, with_secs, left) =
        steady(&format!("{dir}-steady"), &expiring, steady_commits, skip, rows).await?;
    let (write_only, plain_secs, _) =
        steady(&format!("{dir}-write-only"), &[("write-only", "true".to_string())], steady_commits, skip, rows).await?;
    let n = (steady_commits - skip) as f64;
    println!(
        "{}",
        serde_json::json!({
            "snapshots_built": built,
            "commits": commits,
            "build_seconds": build_secs,
            "manifest_dir_files_before": manifest_files,
            "bulk": {
                "expired": report.snapshots_expired,
                "remaining": remaining,
                "data_files_deleted": report.data_files_deleted,
                "manifests_deleted": report.manifests_deleted,
                "manifest_reads": report.manifest_reads,
                "seconds": bulk_secs,
                "requests": bulk.total(),
                "gets": bulk.gets, "heads": bulk.heads, "puts": bulk.puts, "deletes": bulk.deletes, "lists": bulk.lists,
            },
            "steady_state": {
                "commits": steady_commits,
                "snapshots_left": left,
                "seconds_with_expiry": with_secs,
                "seconds_write_only": plain_secs,
                "requests_per_commit_with_expiry": with_expiry.total() as f64 / n,
                "requests_per_commit_write_only": write_only.total() as f64 / n,
                "deletes_per_commit": with_expiry.deletes as f64 / n,
            }
        })
    );
    Ok(())
}
