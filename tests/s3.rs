//! shoal on a real S3-compatible server: moto's server mode (PyPI), started on loopback by this
//! test and stopped when it ends (installed under ~/.cache/shoal/s3 by tools/s3/setup.sh, which
//! the test command runs). Proves that a second create of the same snapshot file is refused by
//! the server (conditional PUT, `If-None-Match: *`), and runs writes, commits, compaction and
//! concurrent committers against it.
//!
//! Without the server installed these tests say so and pass, unless SHOAL_REQUIRE_S3=1 (set by
//! tools/test), where a missing server fails the run.

mod common;

use std::collections::BTreeMap;
use std::time::Instant;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use shoal::io::FileIO;
use shoal::maintenance::compact::CompactJob;
use shoal::spec::parse_type;
use shoal::table::TableDefinition;
use shoal::Table;

use common::s3::{create_bucket, server};

fn def() -> TableDefinition {
    TableDefinition::default()
        .column("k", parse_type("BIGINT NOT NULL").unwrap())
        .column("v", parse_type("STRING").unwrap())
        .primary_key(&["k"])
        .option("bucket", "4")
}

use common::kv_batch as batch;

async fn read(t: &Table) -> BTreeMap<i64, String> {
    let b = t.read_all(None, None).await.unwrap();
    let ks = b.column(0).as_primitive::<Int64Type>();
    let vs = b.column(1).as_string::<i32>();
    (0..b.num_rows()).map(|i| (ks.value(i), vs.value(i).to_string())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_refuses_a_second_create_of_the_same_file() {
    let Some(server) = server() else { return };
    create_bucket(server, "conditional");
    let io = FileIO::from_uri("s3://conditional/t").unwrap();
    assert!(io.create_new("snapshot/snapshot-1", "first").await.unwrap());
    assert!(!io.create_new("snapshot/snapshot-1", "second").await.unwrap(), "the server accepted a second create");
    assert_eq!(io.read("snapshot/snapshot-1").await.unwrap().as_ref(), b"first");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_on_s3_write_commit_compact_and_read() {
    let Some(server) = server() else { return };
    create_bucket(server, "tables");
    let uri = "s3://tables/wh/db.db/orders";
    let table = Table::create(uri, def()).await.unwrap();
    let commit = table.new_commit("s3-writer").unwrap();
    let mut model = BTreeMap::new();
    let mut w = table.new_write().await.unwrap();
    for round in 0..6i64 {
        let rows: Vec<(i64, String)> =
            (0..200).map(|k| ((k * 7 + round * 13) % 500, format!("r{round}-{k}"))).collect();
        for r in &rows {
            model.insert(r.0, r.1.clone());
        }
        w.write(&batch(&table, &rows)).await.unwrap();
        commit.commit(w.prepare_commit().await.unwrap()).await.unwrap();
    }
    assert_eq!(read(&Table::open(uri).await.unwrap()).await, model);
    CompactJob::new(true).run(&table).await.unwrap();
    let reopened = Table::open(uri).await.unwrap();
    assert_eq!(read(&reopened).await, model);
    for s in reopened.new_scan().plan().await.unwrap().splits {
        assert!(s.files.iter().all(|f| f.level == 5));
    }
}

/// Writers on disjoint buckets committing at once through the server: every commit lands with
/// contiguous snapshot ids (losers of a race see the conditional PUT refused and retry).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_committers_on_s3_lose_nothing() {
    let Some(server) = server() else { return };
    create_bucket(server, "concurrent");
    let uri = "s3://concurrent/t";
    let table = Table::create(uri, def().option("write-only", "true")).await.unwrap();
    let started = Instant::now();
    let mut tasks = vec![];
    let mut expected = BTreeMap::new();
    for writer in 0..4i64 {
        let keys: Vec<i64> = (0..100_000i64)
            .filter(|k| shoal::spec::bucket_of(shoal::spec::binary_row::hash_single_long(*k), 4) as i64 == writer)
            .take(40)
            .collect();
        for k in &keys {
            expected.insert(*k, format!("w{writer}"));
        }
        tasks.push(tokio::spawn(async move {
            let t = Table::open(uri).await.unwrap();
            let commit = t.new_commit(&format!("writer-{writer}")).unwrap();
            let mut w = t.new_write().await.unwrap();
            for (i, chunk) in keys.chunks(8).enumerate() {
                let rows: Vec<_> = chunk.iter().map(|k| (*k, format!("w{writer}"))).collect();
                w.write(&batch(&t, &rows)).await.unwrap();
                commit.commit_with_identifier(i as i64, w.prepare_commit().await.unwrap()).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let ids = table.snapshots().snapshot_ids().await.unwrap();
    eprintln!(
        "S3: {} concurrent commits in {:.2?} ({:.1} commits/s), none lost",
        ids.len(),
        started.elapsed(),
        ids.len() as f64 / started.elapsed().as_secs_f64()
    );
    assert_eq!(ids, (1..=20).collect::<Vec<i64>>());
    assert_eq!(read(&table).await, expected);
}
