//! Criterion benchmarks of the write path (buffer, sort, encode, commit) and the merge read, on
//! the orders workload (tools/bench_orders/orders_data.rs). The side-by-side comparison with Java
//! Paimon lives in tools/bench_orders/run.sh.

#[path = "../tools/bench_orders/orders_data.rs"]
mod orders_data;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use futures::StreamExt;
use shoal::Table;

const ROWS: usize = 100_000;

fn bench_write(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut g = c.benchmark_group("write");
    g.throughput(Throughput::Elements(ROWS as u64));
    g.sample_size(20);
    g.bench_function("orders_100k_rows_commit", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().unwrap();
                let table =
                    rt.block_on(Table::create(dir.path().to_str().unwrap(), orders_data::definition(&[]))).unwrap();
                let batch = orders_data::Generator::new(1).batch(&table.arrow_schema(), ROWS);
                (dir, table, batch)
            },
            |(dir, table, batch)| {
                rt.block_on(async {
                    let mut w = table.new_write().await.unwrap();
                    w.write(&batch).await.unwrap();
                    table.new_commit("bench").unwrap().commit(w.prepare_commit().await.unwrap()).await.unwrap();
                });
                drop(dir);
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn bench_merge_read(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    // 10 overlapping commits of 100k rows: every bucket has 10 level-0 sorted runs to merge.
    let table = rt.block_on(async {
        let table = Table::create(dir.path().to_str().unwrap(), orders_data::definition(&[])).await.unwrap();
        let mut gen = orders_data::Generator::new(2);
        let mut w = table.new_write().await.unwrap();
        let commit = table.new_commit("bench").unwrap();
        for i in 0..10 {
            w.write(&gen.batch(&table.arrow_schema(), ROWS)).await.unwrap();
            commit.commit_with_identifier(i, w.prepare_commit().await.unwrap()).await.unwrap();
        }
        table
    });
    let rows = rt.block_on(table.read_all(None, None)).unwrap().num_rows();
    let mut g = c.benchmark_group("read");
    g.throughput(Throughput::Elements(rows as u64));
    g.sample_size(10);
    g.bench_function("orders_merge_10_runs", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut s = table.scan_stream(None, None).await.unwrap();
                let mut n = 0;
                while let Some(b) = s.next().await {
                    n += b.unwrap().num_rows();
                }
                assert_eq!(n, rows);
            })
        })
    });
    g.finish();
}

criterion_group!(benches, bench_write, bench_merge_read);
criterion_main!(benches);
