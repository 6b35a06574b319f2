//! `shoal ingest postgres` against a real Postgres (tests/common/pg.rs starts one on loopback
//! with wal_level = logical; tools/test installs Debian's postgresql on a fresh machine and sets
//! SHOAL_REQUIRE_POSTGRES=1). The ingest runs as the `shoal` binary, so a kill is a real
//! SIGKILL of the process. Tables are compared row by row with Postgres: Postgres's rows (psql's
//! text output) and the shoal table's rows are both turned into Arrow arrays of the table's
//! types and printed.
#![cfg(feature = "postgres")]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::{ArrayRef, RecordBatch};
use common::pg::PgServer;
use rand::{Rng, SeedableRng};
use shoal::ingest::pgtypes::text_to_array;
use shoal::Table;

const NULL: &str = "\u{1}NULL\u{1}";

fn shoal_cmd(pg: &PgServer, wh: &Path, extra: &[&str]) -> Command {
    shoal_cmd_at(&pg.conninfo("shop"), wh, extra)
}

fn shoal_cmd_at(conninfo: &str, wh: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_shoal"));
    c.args(["ingest", "postgres", conninfo, "--warehouse", wh.to_str().unwrap(), "--quiet"]);
    c.args(extra);
    c.env("SHOAL_TEMP_DIR", wh.join("tmp"));
    c
}

/// Runs the ingest until it has caught up; returns its stdout.
fn ingest_caught_up(pg: &PgServer, wh: &Path, extra: &[&str]) -> String {
    let out = shoal_cmd(pg, wh, extra).arg("--exit-when-caught-up").output().expect("run shoal");
    assert!(
        out.status.success(),
        "shoal ingest failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Postgres's rows of `sql` (text output, NULL as [`NULL`]).
fn pg_rows(pg: &PgServer, sql: &str) -> Vec<Vec<Option<String>>> {
    let out = Command::new(pg.bin.join("psql"))
        .args(["-h", "127.0.0.1", "-p", &pg.port.to_string(), "-U", "postgres", "-d", "shop"])
        .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-F", "\u{1f}", "-R", "\u{1e}", "-P"])
        .arg(format!("null={NULL}"))
        .args(["-c", sql])
        .env("PGTZ", "UTC")
        .env("PGOPTIONS", "-c extra_float_digits=3 -c DateStyle=ISO -c bytea_output=hex -c IntervalStyle=postgres")
        .output()
        .expect("psql");
    assert!(out.status.success(), "psql: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("utf-8");
    text.trim_end_matches('\n')
        .split('\u{1e}')
        .filter(|r| !r.is_empty())
        .map(|r| r.split('\u{1f}').map(|c| if c == NULL { None } else { Some(c.to_string()) }).collect())
        .collect()
}

/// The table's rows as sorted strings, and Postgres's (the table's columns that Postgres has).
async fn compare(pg: &PgServer, wh: &Path, pg_table: &str, name: &str) -> usize {
    let t = Table::open(wh.join(format!("shop.db/{name}")).to_str().unwrap()).await.expect("open table");
    let pg_cols: Vec<String> = pg_rows(
        pg,
        &format!(
            "SELECT attname FROM pg_attribute WHERE attrelid = '{pg_table}'::regclass AND attnum > 0 AND NOT attisdropped"
        ),
    )
    .into_iter()
    .filter_map(|r| r[0].clone())
    .collect();
    let fields: Vec<_> = t.schema().fields.iter().filter(|f| pg_cols.contains(&f.name)).cloned().collect();
    let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
    let rows = pg_rows(
        pg,
        &format!("SELECT {} FROM {pg_table}", names.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ")),
    );
    let mut pg_cols_arrays: Vec<ArrayRef> = vec![];
    for (i, f) in fields.iter().enumerate() {
        let vals: Vec<Option<&str>> = rows.iter().map(|r| r[i].as_deref()).collect();
        pg_cols_arrays.push(text_to_array(&vals, &f.data_type.with_nullable(true)).expect("postgres values convert"));
    }
    let projection = t.projection_of(&names).expect("projection");
    let shoal = t.read_all(None, Some(projection)).await.expect("read table");
    let lines = |cols: &[ArrayRef], n: usize| -> Vec<String> {
        let fmts: Vec<_> = cols
            .iter()
            .map(|c| arrow_cast::display::ArrayFormatter::try_new(c.as_ref(), &Default::default()).unwrap())
            .collect();
        let mut v: Vec<String> =
            (0..n).map(|i| fmts.iter().map(|f| f.value(i).to_string()).collect::<Vec<_>>().join(" | ")).collect();
        v.sort();
        v
    };
    let ours = lines(shoal.columns(), shoal.num_rows());
    let theirs = lines(&pg_cols_arrays, rows.len());
    common::assert_rows_eq(&ours, &theirs, &format!("shoal table {name} (left) vs Postgres {pg_table} (right)"));
    ours.len()
}

async fn read(wh: &Path, name: &str) -> RecordBatch {
    Table::open(wh.join(format!("shop.db/{name}")).to_str().unwrap()).await.unwrap().read_all(None, None).await.unwrap()
}

/// A Postgres with an empty database `shop`, and a directory for the warehouse; None where no
/// Postgres can run (see tests/common/pg.rs).
fn shop() -> Option<(PgServer, tempfile::TempDir)> {
    let pg = PgServer::start()?;
    pg.psql("postgres", "CREATE DATABASE shop");
    Some((pg, tempfile::tempdir().unwrap()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_then_stream_types_updates_deletes_key_changes_truncate_add_column() {
    let Some((pg, dir)) = shop() else { return };
    let wh = dir.path();
    pg.psql(
        "shop",
        "CREATE TABLE typed (id int PRIMARY KEY, b bool, i2 smallint, i8 bigint, f4 real, f8 double precision, \
           n numeric(12,3), nb numeric, c char(3), vc varchar(20), t text, by bytea, d date, tm time, ts timestamp, \
           tstz timestamptz, j json, jb jsonb, u uuid, ai int[], at text[], big text);
         CREATE TABLE orders (region text, id bigint, amount numeric(10,2), PRIMARY KEY (region, id));
         CREATE TABLE events (id bigint, day date, v text, PRIMARY KEY (id, day)) PARTITION BY RANGE (day);
         CREATE TABLE events_1 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2024-02-01');
         CREATE TABLE events_2 PARTITION OF events FOR VALUES FROM ('2024-02-01') TO ('2024-03-01');
         CREATE TABLE scratch (id int PRIMARY KEY, v text);
         CREATE TABLE nokey (x int);
         INSERT INTO typed VALUES
           (1, true, 1, 10000000000, 1.5, 2.25, 12.345, 3.14159265358979323846, 'ab', 'vc', 'tab\there \"q\" | é',
            '\\x00ff10', '2024-02-29', '12:34:56.789', '2024-01-02 03:04:05.123456', '2024-01-02 03:04:05.5+02',
            '{\"a\": [1, 2]}', '{\"b\": null}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{1,NULL,3}', '{\"x y\",NULL,\"z\\\"\"}',
            (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 400) g)),
           (2, false, -1, -5, 'NaN', '-Infinity', -0.001, 'NaN', NULL, NULL, '', '\\x', 'infinity', '00:00:00',
            '1999-12-31 23:59:59', '1970-01-01 00:00:00+00', 'null', '[]', NULL, '{}', '{}', 'small'),
           (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
            NULL, NULL, NULL, NULL);
         INSERT INTO orders SELECT CASE WHEN g % 2 = 0 THEN 'eu' ELSE 'us' END, g, g * 1.25 FROM generate_series(1, 500) g;
         INSERT INTO events SELECT g, DATE '2024-01-01' + (g % 50), 'e' || g FROM generate_series(1, 300) g;
         INSERT INTO scratch SELECT g, 's' || g FROM generate_series(1, 10) g;",
    );

    // A table without a primary key is refused with a clear message.
    let out =
        shoal_cmd(&pg, wh, &["--tables", "public.nokey", "--slot", "nokey", "--exit-when-caught-up"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("has no primary key"), "{err}");

    let tables = "public.typed,public.orders,public.events,public.scratch";
    let opts = ["--tables", tables, "--table-option", "bucket=2", "--table-option", "changelog-producer=input"];
    let out = ingest_caught_up(&pg, wh, &opts);
    assert!(out.contains("4 copied"), "{out}");
    assert_eq!(compare(&pg, wh, "typed", "typed").await, 3);
    assert_eq!(compare(&pg, wh, "orders", "orders").await, 500);
    assert_eq!(compare(&pg, wh, "events", "events").await, 300);

    // Independent checks of a few mapped values.
    {
        use arrow_array::cast::AsArray;
        use arrow_array::types::*;
        let t = Table::open(wh.join("shop.db/typed").to_str().unwrap()).await.unwrap();
        let ty = |n: &str| t.schema().fields.iter().find(|f| f.name == n).unwrap().data_type.to_string();
        assert_eq!(ty("id"), "INT NOT NULL");
        assert_eq!(ty("n"), "DECIMAL(12, 3)");
        assert_eq!(ty("nb"), "STRING");
        assert_eq!(ty("tstz"), "TIMESTAMP(6) WITH LOCAL TIME ZONE");
        assert_eq!(ty("vc"), "VARCHAR(20)");
        assert_eq!(ty("by"), "BYTES");
        let b = t.read_all(None, Some(t.projection_of(&["id", "n", "tstz", "by", "nb"]).unwrap())).await.unwrap();
        let row = (0..b.num_rows()).find(|&i| b.column(0).as_primitive::<Int32Type>().value(i) == 1).unwrap();
        assert_eq!(b.column(1).as_primitive::<Decimal128Type>().value(row), 12345);
        assert_eq!(b.column(2).as_primitive::<TimestampMicrosecondType>().value(row), 1_704_157_445_500_000);
        assert_eq!(b.column(3).as_binary::<i32>().value(row), &[0u8, 255, 16]);
        assert_eq!(b.column(4).as_string::<i32>().value(row), "3.14159265358979323846");
    }

    // Changes: updates (one leaving the TOASTed `big` unchanged, REPLICA IDENTITY DEFAULT), deletes,
    // key changes, a truncate (skipped), ADD COLUMN mid-stream, a partitioned table's rows moving.
    pg.psql(
        "shop",
        "UPDATE typed SET i2 = 7 WHERE id = 1;
         UPDATE typed SET t = 'changed', ai = '{9}' WHERE id = 2;
         DELETE FROM typed WHERE id = 3;
         INSERT INTO typed (id, t) VALUES (4, 'four');
         BEGIN; UPDATE orders SET amount = amount + 1 WHERE id <= 100; DELETE FROM orders WHERE id > 450; COMMIT;
         UPDATE orders SET id = id + 10000 WHERE id BETWEEN 101 AND 120;
         UPDATE orders SET region = 'ap' WHERE id BETWEEN 121 AND 130;
         UPDATE events SET day = DATE '2024-02-15' WHERE id <= 20;
         DELETE FROM events WHERE id > 280;
         TRUNCATE scratch;
         ALTER TABLE orders ADD COLUMN note text;
         INSERT INTO orders VALUES ('eu', 100000, 1.00, 'with a note');
         UPDATE orders SET note = 'noted' WHERE id = 2;",
    );
    ingest_caught_up(&pg, wh, &opts);
    compare(&pg, wh, "typed", "typed").await;
    let n = compare(&pg, wh, "orders", "orders").await;
    assert_eq!(n, 451);
    compare(&pg, wh, "events", "events").await;
    // TRUNCATE is logged and skipped: the rows stay.
    assert_eq!(read(wh, "scratch").await.num_rows(), 10);
    let orders = Table::open(wh.join("shop.db/orders").to_str().unwrap()).await.unwrap();
    assert!(orders.schema().fields.iter().any(|f| f.name == "note"), "ADD COLUMN reached the table");
    // The TOASTed value survived the update that did not touch it.
    let big = pg_rows(&pg, "SELECT big FROM typed WHERE id = 1")[0][0].clone().unwrap();
    assert!(big.len() > 10_000);

    // Java Paimon reads the ingested tables (the oracle), when installed.
    if let Some(java) = common_oracle() {
        for name in ["orders", "events"] {
            let t = Table::open(wh.join(format!("shop.db/{name}")).to_str().unwrap()).await.unwrap();
            let types: Vec<_> = t.schema().fields.iter().map(|f| f.data_type.clone()).collect();
            let ours = common::rows_as_lines(&[t.read_all(None, None).await.unwrap()], &types);
            let theirs = java_read(&java, &wh.join(format!("shop.db/{name}")));
            common::assert_rows_eq(&ours, &theirs, &format!("{name}: shoal (left) vs Java Paimon (right)"));
        }
    }

    // Cleanup drops the slot and the publication.
    let out = shoal_cmd(&pg, wh, &["--cleanup"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(pg_rows(&pg, "SELECT 1 FROM pg_replication_slots WHERE slot_name = 'shoal'").is_empty());
}

/// The Java oracle's python, when installed (see tests/interop.rs).
fn common_oracle() -> Option<std::path::PathBuf> {
    let home = std::env::var("SHOAL_ORACLE_HOME").map(std::path::PathBuf::from).unwrap_or_else(|_| {
        std::path::PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/shoal/oracle")
    });
    let java = home.join("java09/bin/python");
    if java.exists() && home.join("env.sh").exists() {
        return Some(java);
    }
    if std::env::var("SHOAL_REQUIRE_ORACLE").as_deref() == Ok("1") {
        panic!("the Paimon oracles are not installed under {}", home.display());
    }
    eprintln!("SKIPPED the Java Paimon read: oracle not installed");
    None
}

fn java_read(python: &Path, table_dir: &Path) -> Vec<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/oracle/java_oracle.py");
    let out =
        Command::new(python).arg(script).args(["read", "--table-dir", table_dir.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "java read: {}", String::from_utf8_lossy(&out.stderr));
    common::canonical_lines(&String::from_utf8(out.stdout).unwrap())
}

/// A writer making random changes in Postgres until stopped: inserts, updates (some changing
/// the key), deletes, in transactions of a few statements.
fn spawn_writer(psql: std::path::PathBuf, port: u16, seed: u64, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut txs = 0;
        while !stop.load(Ordering::Relaxed) {
            let mut sql = String::from("BEGIN;");
            for _ in 0..rng.random_range(1..20) {
                let id: i64 = rng.random_range(1..60_000);
                sql += &match rng.random_range(0..10) {
                    0..=3 => format!(
                        "INSERT INTO kv VALUES ({id}, 'v{}', {}.{:02}, now()) ON CONFLICT (id) DO UPDATE SET v = excluded.v;",
                        rng.random::<u32>(),
                        rng.random_range(0..100_000),
                        rng.random_range(0..100)
                    ),
                    4..=5 => format!("UPDATE kv SET v = v || 'u', n = n + 1 WHERE id BETWEEN {id} AND {};", id + 3),
                    6 => format!("DELETE FROM kv WHERE id BETWEEN {id} AND {};", id + 2),
                    7 => format!(
                        "UPDATE kv SET id = id + 100000 WHERE id = {id} AND NOT EXISTS (SELECT 1 FROM kv WHERE id = {id} + 100000);"
                    ),
                    _ => format!("INSERT INTO kv2 VALUES ({id}, {}) ON CONFLICT (k) DO UPDATE SET c = kv2.c + 1;", rng.random_range(0..9)),
                };
            }
            sql += "COMMIT;";
            let out = Command::new(&psql)
                .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "postgres", "-d", "shop", "-X", "-q"])
                .args(["-v", "ON_ERROR_STOP=1", "-c", &sql])
                .stdout(Stdio::null())
                .output()
                .expect("psql");
            if out.status.success() {
                txs += 1;
            }
        }
        txs
    })
}

/// kill -9 of the ingest at random moments, during the copy and while streaming, with a writer
/// changing Postgres all along and one Postgres restart; then the tables equal Postgres.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_nine_at_random_moments_then_tables_equal_postgres() {
    let Some((pg, dir)) = shop() else { return };
    let wh = dir.path();
    pg.psql(
        "shop",
        "CREATE TABLE kv (id bigint PRIMARY KEY, v text, n numeric(12,2), ts timestamptz);
         ALTER TABLE kv REPLICA IDENTITY FULL;
         CREATE TABLE kv2 (k bigint PRIMARY KEY, c int);
         INSERT INTO kv SELECT g, 'init' || g, g / 7.0, now() FROM generate_series(1, 150000) g;",
    );
    let seed: u64 = std::env::var("SHOAL_INGEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(21);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = spawn_writer(pg.bin.join("psql"), pg.port, seed, stop.clone());
    let opts = [
        "--tables",
        "public.kv*",
        "--commit-interval",
        "300ms",
        "--table-option",
        "bucket=2",
        "--table-option",
        "changelog-producer=input",
    ];
    let started = Instant::now();
    let mut kills = 0;
    let mut restarted_pg = false;
    for round in 0..12 {
        let mut child: Child = shoal_cmd(&pg, wh, &opts).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        // Early rounds kill during the copy (150k rows take a few seconds); later ones while streaming.
        let wait = match round {
            // The first kill waits for the copy to be under way: the temporary slot whose
            // snapshot the copy reads lives from before its COPY TO until the copy is committed
            // (a fixed delay missed the copy once it got faster, and so, once, did polling for
            // the COPY TO alone, which can end between two polls).
            0 => {
                let copying = || {
                    let q = "SELECT (SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'shoal_copy_%') \
                             + (SELECT count(*) FROM pg_stat_progress_copy)";
                    pg.psql("shop", q).trim() != "0"
                };
                let t = Instant::now();
                while !copying() {
                    assert!(t.elapsed() < Duration::from_secs(30), "the ingest never started its copy");
                    std::thread::sleep(Duration::from_millis(10));
                }
                0
            }
            1..=2 => rng.random_range(200..1500),
            _ => rng.random_range(300..3000),
        };
        std::thread::sleep(Duration::from_millis(wait));
        if round == 6 && !restarted_pg {
            // A Postgres restart under a running ingest: it reconnects with backoff.
            pg.restart();
            restarted_pg = true;
            std::thread::sleep(Duration::from_millis(1500));
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the ingest exited by itself in round {round}: {status}");
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;
        if round == 0 {
            // The first kill came during the copy of kv: nothing of it is committed.
            let kv = Table::open(wh.join("shop.db/kv").to_str().unwrap()).await.unwrap();
            assert!(kv.latest_snapshot().await.unwrap().is_none(), "the first kill was meant to hit the copy");
        }
        // The killed process's walsender lets go of the slot shortly.
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, Ordering::Relaxed);
    let txs = writer.join().unwrap();
    assert!(txs > 10, "the writer made only {txs} transactions");
    assert!(kills >= 10);
    // The last run catches up and exits (the slot may still be held for a moment: retried).
    ingest_caught_up(&pg, wh, &opts);
    let n = compare(&pg, wh, "kv", "kv").await;
    assert!(n > 100_000);
    compare(&pg, wh, "kv2", "kv2").await;
    eprintln!("{kills} kills, {txs} writer transactions, {n} rows, {:?}", started.elapsed());

    // Every commit of the job recorded a larger LSN than the one before (no repeated position).
    let t = Table::open(wh.join("shop.db/kv").to_str().unwrap()).await.unwrap();
    let mut last = 0;
    let mut ids = BTreeMap::new();
    for id in t.snapshots().snapshot_ids().await.unwrap() {
        let s = t.snapshots().snapshot(id).await.unwrap();
        if s.commit_user.starts_with("shoal-ingest-") && s.commit_kind == shoal::spec::CommitKind::Append {
            assert!(s.commit_identifier > last, "commit identifiers increase");
            last = s.commit_identifier;
            ids.insert(s.id, s.commit_identifier);
        }
    }
    assert!(!ids.is_empty());

    // The changelog (changelog-producer=input) holds every change once: replayed per key it
    // never inserts a present key, never deletes or updates an absent one, and ends at the table.
    for name in ["kv", "kv2"] {
        let t = Table::open(wh.join(format!("shop.db/{name}")).to_str().unwrap()).await.unwrap();
        let mut o = shoal::read::StreamOptions::from_table(&t).unwrap();
        o.start = shoal::read::StartingPosition::FromSnapshot(1);
        let mut reader = t.stream_read_with(o).await.unwrap();
        let mut model: BTreeMap<i64, String> = BTreeMap::new();
        let mut pending_before: Option<i64> = None;
        let mut changes = 0;
        // Per key: (kind, second column) in order, for the comparison with Java's read.
        let mut per_key: BTreeMap<i64, Vec<(String, String)>> = BTreeMap::new();
        for b in reader.read_available().await.unwrap() {
            let fmts: Vec<_> = b.batch.columns()[1..]
                .iter()
                .map(|c| arrow_cast::display::ArrayFormatter::try_new(c.as_ref(), &Default::default()).unwrap())
                .collect();
            let kinds = b.batch.column(0).as_any().downcast_ref::<arrow_array::StringArray>().unwrap();
            let keys = b.batch.column(1).as_any().downcast_ref::<arrow_array::Int64Array>().unwrap();
            for i in 0..b.batch.num_rows() {
                use arrow_array::Array;
                let (k, kind) = (keys.value(i), kinds.value(i));
                let row = fmts.iter().map(|f| f.value(i).to_string()).collect::<Vec<_>>().join("|");
                per_key.entry(k).or_default().push((kind.to_string(), fmts[1].value(i).to_string()));
                changes += 1;
                match kind {
                    "+I" => assert!(
                        model.insert(k, row).is_none(),
                        "{name}: +I of present key {k} (snapshot {})",
                        b.snapshot_id
                    ),
                    "-D" => {
                        assert!(model.remove(&k).is_some(), "{name}: -D of absent key {k} (snapshot {})", b.snapshot_id)
                    }
                    "-U" => {
                        assert!(model.contains_key(&k), "{name}: -U of absent key {k}");
                        pending_before = Some(k);
                    }
                    _ => {
                        if name == "kv" {
                            assert_eq!(pending_before.take(), Some(k), "{name}: +U of {k} without its -U");
                        }
                        assert!(model.insert(k, row).is_some(), "{name}: +U of absent key {k}");
                    }
                }
                let _ = keys.is_null(i);
            }
        }
        let table = t.read_all(None, None).await.unwrap();
        let fmts: Vec<_> = table
            .columns()
            .iter()
            .map(|c| arrow_cast::display::ArrayFormatter::try_new(c.as_ref(), &Default::default()).unwrap())
            .collect();
        let rows: BTreeMap<i64, String> = (0..table.num_rows())
            .map(|i| {
                let k = table.column(0).as_any().downcast_ref::<arrow_array::Int64Array>().unwrap().value(i);
                (k, fmts.iter().map(|f| f.value(i).to_string()).collect::<Vec<_>>().join("|"))
            })
            .collect();
        assert!(
            model == rows,
            "{name}: the changelog replayed ({} rows) differs from the table ({} rows)",
            model.len(),
            rows.len()
        );
        eprintln!("{name}: {changes} changelog rows replay to the table's {} rows", rows.len());
        // Java Paimon streams the same changelog (kv2: BIGINT and INT columns, which the
        // oracle prints as JSON numbers).
        if name == "kv2" {
            if let Some(py) = common_oracle() {
                let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/oracle/java_stream.py");
                let dir = wh.join("shop.db/kv2");
                let out = Command::new(&py)
                    .arg(script)
                    .args(["stream", "--table-dir", dir.to_str().unwrap()])
                    .args(["--option", "scan.mode=from-snapshot", "--option", "scan.snapshot-id=1"])
                    .output()
                    .unwrap();
                assert!(out.status.success(), "java stream: {}", String::from_utf8_lossy(&out.stderr));
                let mut java: BTreeMap<i64, Vec<(String, String)>> = BTreeMap::new();
                for l in String::from_utf8(out.stdout).unwrap().lines().filter(|l| l.starts_with('{')) {
                    let v: serde_json::Value = serde_json::from_str(l).unwrap();
                    let c = if v["c"].is_null() { "".to_string() } else { v["c"].to_string() };
                    java.entry(v["k"].as_i64().unwrap())
                        .or_default()
                        .push((v["_ROW_KIND"].as_str().unwrap().to_string(), c));
                }
                assert!(java == per_key, "Java Paimon's streaming read of kv2's changelog differs from shoal's");
                eprintln!("Java Paimon streams kv2's changelog: {} keys, equal", java.len());
            }
        }
    }
}

fn slot_confirmed(pg: &PgServer) -> u64 {
    let r =
        pg_rows(pg, "SELECT confirmed_flush_lsn - '0/0'::pg_lsn FROM pg_replication_slots WHERE slot_name = 'shoal'");
    r[0][0].as_deref().unwrap().parse::<f64>().unwrap() as u64
}

fn current_lsn(pg: &PgServer) -> u64 {
    let r = pg_rows(pg, "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn");
    r[0][0].as_deref().unwrap().parse::<f64>().unwrap() as u64
}

async fn wait_rows(wh: &Path, name: &str, n: usize, within: Duration) {
    let started = Instant::now();
    loop {
        let t = Table::open(wh.join(format!("shop.db/{name}")).to_str().unwrap()).await.unwrap();
        let got = t.read_all(None, None).await.unwrap().num_rows();
        if got == n {
            return;
        }
        assert!(started.elapsed() < within, "{name} has {got} rows, not {n}, after {within:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// WAL of tables the job does not ingest still lets the slot advance (keepalives while idle,
/// the caught-up marker at exit); a running ingest survives a Postgres restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slot_advances_on_quiet_tables_and_ingest_survives_a_postgres_restart() {
    let Some((pg, dir)) = shop() else { return };
    let wh = dir.path();
    pg.psql(
        "shop",
        "CREATE TABLE kv (id bigint PRIMARY KEY, v text); CREATE TABLE other (id bigint PRIMARY KEY, v text);
         INSERT INTO kv SELECT g, 'v' || g FROM generate_series(1, 10) g;",
    );
    let opts = ["--tables", "public.kv", "--commit-interval", "200ms"];
    ingest_caught_up(&pg, wh, &opts);
    // Changes only in a table the job does not ingest: the slot still moves past them.
    pg.psql("shop", "INSERT INTO other SELECT g, 'o' FROM generate_series(1, 20000) g;");
    let wal = current_lsn(&pg);
    assert!(slot_confirmed(&pg) < wal);
    ingest_caught_up(&pg, wh, &opts);
    assert!(slot_confirmed(&pg) >= wal, "the slot advanced over WAL of tables not ingested");

    let mut child = shoal_cmd(&pg, wh, &opts).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    pg.psql("shop", "INSERT INTO kv VALUES (100, 'live')");
    wait_rows(wh, "kv", 11, Duration::from_secs(30)).await;
    // Quiet kv, busy other: keepalive replies let the slot follow the server.
    pg.psql("shop", "UPDATE other SET v = 'p' WHERE id <= 5000;");
    let wal = current_lsn(&pg);
    let started = Instant::now();
    while slot_confirmed(&pg) < wal {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the slot did not advance while the ingested table was idle"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // One large transaction (its rows go to the writer before it ends, then commit with it).
    pg.psql("shop", "INSERT INTO kv SELECT g, 'big' || g FROM generate_series(1000, 100999) g;");
    wait_rows(wh, "kv", 100_011, Duration::from_secs(120)).await;
    // Postgres restarts under the running ingest; it reconnects and goes on.
    pg.restart();
    pg.psql("shop", "INSERT INTO kv VALUES (101, 'after restart'), (102, 'too'); DELETE FROM kv WHERE id = 1;");
    wait_rows(wh, "kv", 100_012, Duration::from_secs(60)).await;
    assert!(child.try_wait().unwrap().is_none(), "the ingest is still running");
    child.kill().unwrap();
    child.wait().unwrap();
    compare(&pg, wh, "kv", "kv").await;
}

/// Runs an ingest that must fail; returns its stderr.
fn ingest_fails(conninfo: &str, wh: &Path, extra: &[&str]) -> String {
    let out = shoal_cmd_at(conninfo, wh, extra).arg("--exit-when-caught-up").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "the ingest was meant to fail:\n{err}");
    err
}

/// What is wrong with the server, the role or the slot is said, with how to fix it:
/// wal_level not logical, a role without REPLICATION, a slot another ingest holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clear_errors_for_wal_level_replication_privilege_and_a_held_slot() {
    let Some((mut pg, dir)) = shop() else { return };
    let wh = dir.path();
    pg.psql("shop", "CREATE TABLE kv (id bigint PRIMARY KEY, v text); INSERT INTO kv VALUES (1, 'a');");
    let opts = ["--tables", "public.kv", "--max-retries", "0"];

    pg.restart_with("-c wal_level=replica");
    let err = ingest_fails(&pg.conninfo("shop"), wh, &opts);
    assert!(err.contains("wal_level = replica") && err.contains("ALTER SYSTEM SET wal_level = logical"), "{err}");
    pg.restart_with("");

    // A role that owns the table but lacks the REPLICATION attribute.
    pg.psql("shop", "CREATE ROLE app LOGIN; GRANT CREATE ON DATABASE shop TO app; ALTER TABLE kv OWNER TO app;");
    let app = format!("host=127.0.0.1 port={} user=app dbname=shop", pg.port);
    let err = ingest_fails(&app, wh, &opts);
    assert!(err.contains("REPLICATION attribute") && err.contains("ALTER ROLE \"app\" REPLICATION"), "{err}");

    // A slot held by a running ingest: a second one names the holder and what to do.
    let mut first = shoal_cmd(&pg, wh, &opts).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let started = Instant::now();
    while pg_rows(&pg, "SELECT 1 FROM pg_replication_slots WHERE slot_name = 'shoal' AND active").is_empty() {
        assert!(started.elapsed() < Duration::from_secs(60), "the first ingest did not start streaming");
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut second = opts.to_vec();
    second.extend(["--slot-wait", "1s"]);
    let err = ingest_fails(&pg.conninfo("shop"), wh, &second);
    assert!(err.contains("replication slot \"shoal\" is in use by another process"), "{err}");
    assert!(err.contains("--slot") && err.contains("pg_terminate_backend"), "{err}");
    first.kill().unwrap();
    first.wait().unwrap();
    // Once the holder is gone, the slot is free again (a killed ingest's walsender lets go).
    ingest_caught_up(&pg, wh, &opts);
    compare(&pg, wh, "kv", "kv").await;
}

/// A table without a primary key is refused, naming it and --append-keyless; with the flag it
/// becomes an append table that takes the inserts, while its updates and deletes (not
/// published: an insert-only publication) neither fail in Postgres nor reach the table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyless_tables_are_refused_or_ingested_as_append_tables() {
    let Some((pg, dir)) = shop() else { return };
    let wh = dir.path();
    pg.psql(
        "shop",
        "CREATE TABLE log (at timestamptz, msg text, n int);
         CREATE TABLE kv (id bigint PRIMARY KEY, v text);
         INSERT INTO log SELECT '2024-01-01'::timestamptz + g * interval '1 s', 'm' || g, g FROM generate_series(1, 1000) g;
         INSERT INTO kv SELECT g, 'v' || g FROM generate_series(1, 10) g;",
    );
    let err = ingest_fails(&pg.conninfo("shop"), wh, &["--tables", "public.*"]);
    assert!(err.contains("public.log has no primary key") && err.contains("--append-keyless"), "{err}");

    let opts = ["--tables", "public.*", "--append-keyless", "--table-option", "bucket=2"];
    let out = ingest_caught_up(&pg, wh, &opts);
    assert!(out.contains("2 copied"), "{out}");
    let log = Table::open(wh.join("shop.db/log").to_str().unwrap()).await.unwrap();
    assert!(log.schema().primary_keys.is_empty(), "an append table");
    assert_eq!(compare(&pg, wh, "log", "log").await, 1000);

    pg.psql(
        "shop",
        "INSERT INTO log SELECT now(), 'new' || g, g FROM generate_series(1, 5) g;
         UPDATE log SET msg = 'updated' WHERE n <= 10;
         DELETE FROM log WHERE n > 990;
         UPDATE kv SET v = 'changed' WHERE id = 1; DELETE FROM kv WHERE id = 2;",
    );
    ingest_caught_up(&pg, wh, &opts);
    let rows = read(wh, "log").await;
    assert_eq!(rows.num_rows(), 1005, "inserts arrive; updates and deletes of the append table are not applied");
    let msgs = arrow_cast::display::ArrayFormatter::try_new(rows.column(1).as_ref(), &Default::default()).unwrap();
    assert!((0..rows.num_rows()).all(|i| msgs.value(i).to_string() != "updated"));
    assert_eq!(compare(&pg, wh, "kv", "kv").await, 9);
}
