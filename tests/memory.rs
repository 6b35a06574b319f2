//! A writer in bounded memory: `shoal write` of an input several times `write-buffer-size`
//! peaks (the process's VmHWM, which `shoal write` reports) within `write-buffer-size` + 128 MiB,
//! with and without deletion vectors (whose lookups go through local-disk indexes), for one big
//! commit and for upserts over it; scratch files are gone afterwards, and a crashed process's
//! scratch directory is removed by the next run.
#![cfg(feature = "datafusion")]

use std::io::Write;
use std::path::Path;

mod common;

const BUFFER_MIB: u64 = 32;
const BOUND_MIB: u64 = BUFFER_MIB + 128;

fn shoal(args: &[&str], temp_dir: &Path) -> String {
    let mut all: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsStr::new).collect();
    all.extend([std::ffi::OsStr::new("--temp-dir"), temp_dir.as_os_str()]);
    common::shoal_ok(&all)
}

/// `rows` orders as CSV: keys `first..first + rows` spread over the key space by a bijection, a
/// customer, an amount and a note of some length (about 90 bytes of Arrow data per row).
fn orders_csv(path: &Path, first: u64, rows: u64, version: u32) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(f, "id,customer,amount,note").unwrap();
    for i in first..first + rows {
        let id = i.wrapping_mul(2_654_435_761) % 1_000_000_007;
        writeln!(
            f,
            "{id},customer-{:06},{}.{:02},note {version} for order {i} with some words",
            i % 50_000,
            i % 10_000,
            i % 100
        )
        .unwrap();
    }
}

fn peak_mib(out: &str) -> u64 {
    let at = out.find("peak memory ").unwrap_or_else(|| panic!("no peak memory in {out:?}"));
    out[at + "peak memory ".len()..].split_whitespace().next().unwrap().parse().unwrap()
}

fn bounded_writes(options: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let scratch = dir.path().join("scratch");
    let table = dir.path().join("wh/db.db/orders");
    let table = table.to_str().unwrap();
    let mut create = vec![
        "create",
        table,
        "--schema",
        "id BIGINT NOT NULL, customer STRING, amount DECIMAL(12, 2), note STRING",
        "--primary-key",
        "id",
        "--bucket",
        "4",
        "--option",
    ];
    let buffer = format!("write-buffer-size={BUFFER_MIB}mb");
    create.push(&buffer);
    for o in options {
        create.extend(["--option", o]);
    }
    shoal(&create, &scratch);
    // A crashed process's scratch directory: its lock file is there, its lock is not held.
    let crashed = scratch.join("shoal-999999-crashed");
    std::fs::create_dir_all(&crashed).unwrap();
    std::fs::write(crashed.join("lock"), b"").unwrap();
    std::fs::write(crashed.join("lookup-0"), vec![0u8; 4096]).unwrap();

    // 1.6M rows: about 140 MB of Arrow data, over four times the buffer, in one commit.
    let inserts = dir.path().join("inserts.csv");
    orders_csv(&inserts, 0, 1_600_000, 1);
    let out = shoal(&["write", table, inserts.to_str().unwrap()], &scratch);
    assert!(out.contains("wrote 1600000 rows, committed snapshot"), "{out}");
    let first = peak_mib(&out);
    // Upserts of half the keys: lookups into what the first commit wrote.
    let upserts = dir.path().join("upserts.csv");
    orders_csv(&upserts, 800_000, 800_000, 2);
    let out = shoal(&["write", table, upserts.to_str().unwrap()], &scratch);
    let second = peak_mib(&out);
    eprintln!("{options:?}: peak memory {first} MiB (inserts), {second} MiB (upserts); bound {BOUND_MIB} MiB");
    assert!(first <= BOUND_MIB && second <= BOUND_MIB, "peak memory {first} / {second} MiB over {BOUND_MIB} MiB");

    let wh = dir.path().join("wh");
    let sql = "SELECT count(*) AS n, sum(CASE WHEN note LIKE 'note 2 %' THEN 1 ELSE 0 END) AS updated FROM db.orders";
    let out = shoal(&["sql", "--warehouse", wh.to_str().unwrap(), sql], &scratch);
    assert!(out.contains("| 1600000 | 800000 "), "{out}");
    // Nothing left in scratch space: the crashed process's directory went too.
    let left: Vec<_> = std::fs::read_dir(&scratch).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(left.is_empty(), "scratch space not cleaned: {left:?}");
}

#[test]
fn a_write_several_times_the_buffer_stays_within_it() {
    bounded_writes(&[]);
}

#[test]
fn deletion_vector_maintenance_stays_within_the_buffer() {
    bounded_writes(&["deletion-vectors.enabled=true"]);
}

/// A compaction of a long write-only backlog stays within the bound: 150 batches of 10,000
/// rows written with a 1 MiB buffer leave over a hundred level-0 runs over the same key range,
/// and the full compaction reads at most `sort-spill-threshold` (16) of them at once, the
/// smallest first merged onto local disk. Reading all of them at once (a decoded batch and a
/// row group each) peaks well above the bound.
#[test]
fn compaction_of_a_long_backlog_stays_within_the_buffer() {
    use std::sync::Arc;
    const SMALL_BUFFER_MIB: u64 = 1;
    const BATCHES: u64 = 150;
    const ROWS: u64 = 10_000;
    let dir = tempfile::tempdir().unwrap();
    let scratch = dir.path().join("scratch");
    let table = dir.path().join("wh/db.db/orders");
    let table = table.to_str().unwrap();
    let schema = "id BIGINT NOT NULL, customer STRING, amount DECIMAL(12, 2), note STRING";
    let buffer = format!("write-buffer-size={SMALL_BUFFER_MIB}mb");
    let mut args = vec!["create", table, "--schema", schema, "--primary-key", "id", "--bucket", "1"];
    args.extend(["--option", &buffer, "--option", "write-only=true", "--option", "write-buffer-spillable=false"]);
    shoal(&args, &scratch);
    // The backlog, written in this process (the CLI reads input in batches of 65,536 rows).
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        use arrow_array::{ArrayRef, Decimal128Array, Int64Array, RecordBatch, StringArray};
        let t = shoal::Table::open(table).await.unwrap();
        let mut w = t.new_write().await.unwrap();
        for b in 0..BATCHES {
            let ids: Vec<u64> = (b * ROWS..(b + 1) * ROWS).collect();
            let key = |i: &u64| (i.wrapping_mul(2_654_435_761) % 1_000_000_007) as i64;
            let columns: Vec<ArrayRef> = vec![
                Arc::new(Int64Array::from(ids.iter().map(key).collect::<Vec<_>>())),
                Arc::new(StringArray::from(
                    ids.iter().map(|i| format!("customer-{:06}", i % 50_000)).collect::<Vec<_>>(),
                )),
                Arc::new(
                    Decimal128Array::from(ids.iter().map(|i| (i % 1_000_000) as i128).collect::<Vec<_>>())
                        .with_precision_and_scale(12, 2)
                        .unwrap(),
                ),
                Arc::new(StringArray::from(
                    ids.iter().map(|i| format!("note for order {i} with some words")).collect::<Vec<_>>(),
                )),
            ];
            w.write(&RecordBatch::try_new(t.arrow_schema(), columns).unwrap()).await.unwrap();
        }
        let msgs = w.prepare_commit().await.unwrap();
        t.new_commit("backlog").unwrap().commit(msgs).await.unwrap();
    });
    drop(rt);
    let out = shoal(&["files", table], &scratch);
    // Columns: bucket path, level, rows, bytes, deletes, file.
    let level0 = out.lines().filter(|l| l.contains("data-") && l.split_whitespace().nth(1) == Some("0")).count();
    assert!(level0 > 100, "expected a long level-0 backlog, got {level0} files:\n{out}");

    let out = shoal(&["compact", table, "--full"], &scratch);
    assert!(out.contains("1500000 rows"), "{out}");
    let peak = peak_mib(&out);
    let bound = SMALL_BUFFER_MIB + 128;
    eprintln!("full compaction of {level0} level-0 runs: peak memory {peak} MiB; bound {bound} MiB");
    assert!(peak <= bound, "peak memory {peak} MiB over {bound} MiB");
    let wh = dir.path().join("wh");
    let out = shoal(&["sql", "--warehouse", wh.to_str().unwrap(), "SELECT count(*) AS n FROM db.orders"], &scratch);
    assert!(out.contains("| 1500000 |"), "{out}");
    let left: Vec<_> = std::fs::read_dir(&scratch).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(left.is_empty(), "scratch space not cleaned: {left:?}");
}
