//! `lookup.cache-max-disk-size`: the local disk a writer's lookup indexes (deletion vectors,
//! lookup changelog) take stays within the option, counted in bytes of the scratch files on
//! disk after every commit; without it the same workload takes more. Its own test binary: the
//! scratch directory is per process.

mod common;

use std::path::Path;

use common::{kv_batch, kv_def, kv_rows};
use rand::{Rng, SeedableRng};
use shoal::Table;

/// Bytes of the lookup index scratch files under `dir`, and the largest one.
fn lookup_bytes(dir: &Path) -> (u64, u64) {
    let (mut total, mut largest) = (0, 0);
    for e in walk(dir) {
        if e.file_name().is_some_and(|n| n.to_string_lossy().contains("lookup")) {
            let len = std::fs::metadata(&e).map(|m| m.len()).unwrap_or(0);
            total += len;
            largest = largest.max(len);
        }
    }
    (total, largest)
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Writes 24 commits of random keys; returns the most lookup bytes seen on disk after a commit,
/// the largest single index, and the rows.
async fn run(root: &Path, scratch: &Path, limit: Option<&str>) -> (u64, u64, std::collections::BTreeMap<i64, String>) {
    let mut opts = vec![("deletion-vectors.enabled", "true"), ("target-file-size", "96kb")];
    if let Some(l) = limit {
        opts.push(("lookup.cache-max-disk-size", l));
    }
    let t = Table::create(root.to_str().unwrap(), kv_def(&opts)).await.unwrap();
    let mut w = t.new_write().await.unwrap();
    let commit = t.new_commit("w").unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let (mut peak, mut largest) = (0, 0);
    for c in 0..24 {
        let rows: Vec<(i64, String)> = (0..4000).map(|_| (rng.random_range(0..60_000), format!("c{c}"))).collect();
        w.write(&kv_batch(&t, &rows)).await.unwrap();
        commit.commit(w.prepare_commit().await.unwrap()).await.unwrap();
        let (now, big) = lookup_bytes(scratch);
        peak = peak.max(now);
        largest = largest.max(big);
    }
    drop(w);
    (peak, largest, kv_rows(&t, None).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookup_indexes_stay_within_their_disk_budget() {
    let dir = tempfile::tempdir().unwrap();
    let scratch = dir.path().join("scratch");
    shoal::io::temp::set_base(&scratch);
    let (free_peak, _, free_rows) = run(&dir.path().join("free"), &scratch, None).await;
    let limit: u64 = 200 << 10;
    let (peak, largest, rows) = run(&dir.path().join("bounded"), &scratch, Some("200kb")).await;
    println!("lookup scratch after commits: unlimited peak {free_peak} B; limit {limit} B: peak {peak} B (largest index {largest} B)");
    assert!(free_peak > 2 * limit, "the workload needs more than the limit without it ({free_peak} B)");
    // Indexes a running lookup uses stay until it is done; between commits the budget holds.
    assert!(peak <= limit, "peak {peak} B over the limit {limit} B (largest index {largest} B)");
    assert_eq!(rows, free_rows, "indexes dropped and rebuilt give the same table");
}
