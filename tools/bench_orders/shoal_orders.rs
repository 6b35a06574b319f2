//! shoal's half of the side-by-side orders benchmark (tools/bench_orders/run.sh runs both), and
//! the generator of the workload both halves read (orders_files.rs describes the files):
//! W1 = the w1-* commits (20 of 100k rows by default, keys random in 1..4M), W2 = the w2-* upsert
//! commits (10 of 100k), R1 = full merged read, C1 = a dedicated full compaction (rows and MB of
//! its input per second), R2 = the full read after C1. Each commit's file is read before its
//! timed write. After R2 (untimed) the final table's rows and checksum are computed. Prints one
//! JSON object.
//!
//! cargo run --release --example bench_orders -- --generate DIR [--seed 42] [--w1-commits 20]
//!     [--w2-commits 10] [--rows-per-commit 100000]
//! cargo run --release --example bench_orders -- --data DIR --table-dir /tmp/orders [--option k=v]...
//! cargo run --release --example bench_orders -- --read-only --table-dir /tmp/orders

#[path = "orders_data.rs"]
mod orders_data;
#[path = "orders_files.rs"]
mod orders_files;

use std::path::{Path, PathBuf};
use std::time::Instant;

use arrow_schema::SchemaRef;
use futures::StreamExt;
use orders_files::{BoxResult, Checksum, Workload};
use shoal::Table;

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// R1: reads every merged row of the latest snapshot; returns (rows, seconds).
async fn timed_full_read(table: &Table) -> shoal::Result<(usize, f64)> {
    let start = Instant::now();
    let mut stream = table.scan_stream(None, None).await?;
    let mut rows = 0usize;
    while let Some(b) = stream.next().await {
        rows += b?.num_rows();
    }
    Ok((rows, start.elapsed().as_secs_f64()))
}

/// Writes and commits one commit file after the other, each read before its timed write; returns
/// (rows, elapsed seconds of write + prepare_commit + commit).
async fn run_phase(
    write: &mut shoal::write::TableWrite,
    commit: &shoal::commit::TableCommit,
    identifier: &mut i64,
    schema: &SchemaRef,
    files: &[PathBuf],
) -> BoxResult<(usize, f64)> {
    // Where the time goes: write (bucketing, buffering), prepare (flush, compaction), commit
    // (manifests, snapshots, expiry), and apart from it the reading of the files; to stderr.
    let mut split = [0f64; 3];
    let (mut rows, mut load_s) = (0usize, 0f64);
    for (i, file) in files.iter().enumerate() {
        let t = Instant::now();
        let batch = orders_files::read_commit(file, schema)?;
        load_s += t.elapsed().as_secs_f64();
        rows += batch.num_rows();
        let t = Instant::now();
        write.write(&batch).await?;
        split[0] += t.elapsed().as_secs_f64();
        *identifier += 1;
        // Like the Java side (and a Flink job at end of input): wait for compaction at the end.
        let t = Instant::now();
        let messages = write.prepare_commit_with(i + 1 == files.len()).await?;
        split[1] += t.elapsed().as_secs_f64();
        let t = Instant::now();
        commit.commit_with_identifier(*identifier, messages).await?;
        split[2] += t.elapsed().as_secs_f64();
    }
    eprintln!(
        "phase split: write {:.2}s, prepare_commit {:.2}s, commit {:.2}s (untimed: file reads {load_s:.2}s)",
        split[0], split[1], split[2]
    );
    Ok((rows, split.iter().sum()))
}

/// Row count and checksum of every merged row of the latest snapshot.
async fn table_checksum(table: &Table) -> BoxResult<Checksum> {
    let mut stream = table.scan_stream(None, None).await?;
    let mut sum = Checksum::default();
    while let Some(b) = stream.next().await {
        sum.add(&b?)?;
    }
    Ok(sum)
}

/// Bytes of data files written by flushes (APPEND snapshots) and by compactions (COMPACT
/// snapshots; a file moved up a level without a rewrite counts as no bytes), and the number of
/// such moves, over every snapshot (the bench's table expires none).
async fn write_amplification(table: &Table) -> shoal::Result<(f64, f64, usize)> {
    use shoal::spec::{CommitKind, FileKind};
    let store =
        shoal::store::ManifestStore::new(table.io().clone(), &table.schema().core_options().manifest_compression());
    let (mut flushed, mut compacted, mut upgraded) = (0f64, 0f64, 0usize);
    for id in table.snapshots().snapshot_ids().await? {
        let s = table.snapshots().snapshot(id).await?;
        let metas = store.read_manifest_list(&s.delta_manifest_list).await?;
        let entries = store.read_entries(&metas).await?;
        let deleted: std::collections::HashSet<&str> =
            entries.iter().filter(|e| e.kind == FileKind::Delete).map(|e| e.file.file_name.as_str()).collect();
        for e in entries.iter().filter(|e| e.kind == FileKind::Add) {
            match s.commit_kind {
                CommitKind::Compact if deleted.contains(e.file.file_name.as_str()) => upgraded += 1,
                CommitKind::Compact => compacted += e.file.file_size as f64,
                _ => flushed += e.file.file_size as f64,
            }
        }
    }
    Ok((flushed, compacted, upgraded))
}

#[tokio::main]
async fn main() -> BoxResult<()> {
    let args: Vec<String> = std::env::args().collect();
    if let Some(dir) = args.iter().position(|a| a == "--generate").and_then(|i| args.get(i + 1)) {
        let workload = orders_files::generate(
            Path::new(dir),
            arg(&args, "--seed", 42),
            arg(&args, "--w1-commits", 20),
            arg(&args, "--w2-commits", 10),
            arg(&args, "--rows-per-commit", 100_000),
        )?;
        println!("{}", serde_json::to_string(&workload)?);
        return Ok(());
    }
    let dir: String = arg(&args, "--table-dir", "/tmp/shoal-bench-orders".to_string());
    if args.iter().any(|a| a == "--read-only") {
        // Re-read a table an earlier run left at --table-dir (for profiling the read path).
        let table = Table::open(&dir).await?;
        let (n, s) = timed_full_read(&table).await?;
        println!("{}", serde_json::json!({"r1_rows": n, "r1_seconds": s, "r1_rows_per_s": n as f64 / s}));
        return Ok(());
    }
    let Some(data) = args.iter().position(|a| a == "--data").and_then(|i| args.get(i + 1)).map(PathBuf::from) else {
        return Err("--data DIR is required (a workload written by --generate DIR)".into());
    };
    let workload = Workload::load(&data)?;
    let (w1_files, w2_files) = workload.phase_files(&data);
    let opts: Vec<(String, String)> = args
        .windows(2)
        .filter(|w| w[0] == "--option")
        .filter_map(|w| w[1].split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    let extra: Vec<(&str, &str)> = opts.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let table = Table::create(&dir, orders_data::definition(&extra)).await?;
    let schema = table.arrow_schema();
    let commit = table.new_commit("bench-orders")?;
    let mut write = table.new_write().await?;
    let mut identifier = 0i64;

    let (w1_rows, w1_s) = run_phase(&mut write, &commit, &mut identifier, &schema, &w1_files).await?;
    let (w2_rows, w2_s) = run_phase(&mut write, &commit, &mut identifier, &schema, &w2_files).await?;

    let (r1_rows, r1_s) = timed_full_read(&table).await?;
    let plan = table.new_scan().plan().await?;
    let files: usize = plan.splits.iter().map(|s| s.files.len()).sum();
    let amp = write_amplification(&table).await?;

    // C1: a dedicated full compaction of every bucket (what `shoal compact --full` runs), then
    // R2: the full read again, with nothing left to merge.
    let start = Instant::now();
    let c1 = shoal::maintenance::compact::CompactJob::new(true).run(&table).await?;
    let c1_s = start.elapsed().as_secs_f64();
    let (r2_rows, r2_s) = timed_full_read(&table).await?;
    if r2_rows != r1_rows {
        return Err(format!("{r2_rows} rows after the full compaction, {r1_rows} before").into());
    }
    let last = table_checksum(&table).await?;
    let out = serde_json::json!({
        "impl": "shoal",
        "w1_rows": w1_rows, "w1_seconds": w1_s, "w1_rows_per_s": w1_rows as f64 / w1_s,
        "w2_rows": w2_rows, "w2_seconds": w2_s, "w2_rows_per_s": w2_rows as f64 / w2_s,
        "r1_rows": r1_rows, "r1_seconds": r1_s, "r1_rows_per_s": r1_rows as f64 / r1_s,
        "c1_seconds": c1_s, "c1_rows_read": c1.rows_read, "c1_mb_read": c1.bytes_read as f64 / 1e6,
        "c1_mb_written": c1.bytes_written as f64 / 1e6,
        "c1_rows_per_s": c1.rows_read as f64 / c1_s, "c1_mb_per_s": c1.bytes_read as f64 / 1e6 / c1_s,
        "r2_seconds": r2_s, "r2_rows_per_s": r2_rows as f64 / r2_s,
        "snapshots": table.snapshots().snapshot_ids().await?.len(),
        "flushed_mb": amp.0 / 1e6, "compacted_mb": amp.1 / 1e6, "upgraded_files": amp.2,
        "write_amplification": (amp.0 + amp.1) / amp.0.max(1.0),
        "data_files_after": files,
        "final_rows": last.rows, "final_checksum": last.hex(),
        "peak_rss_mb": orders_data::peak_rss_mib(),
    });
    println!("{out}");
    Ok(())
}
