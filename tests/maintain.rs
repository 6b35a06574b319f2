//! The table service (`shoal maintain`) beside writers it does not control: Java Paimon writes
//! several tables in `write-only` mode while the service runs; after the writers stop and one
//! `--once` turn, Java reads every table with the rows it wrote, every bucket is within the
//! compaction trigger, snapshots are within retention and no orphan file is left. And a
//! maintainer killed (-9) at random moments mid-turn leaves every table readable; the next turn
//! finishes the work.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use shoal::maintenance::compact::CompactJob;
use shoal::maintenance::operations::RemoveOrphanFiles;
use shoal::spec::RowKind;
use shoal::Table;

use common::oracle::oracle;

const SHOAL: &str = env!("CARGO_BIN_EXE_shoal");

/// id -> (dt, v): what a table holds.
type Model = BTreeMap<i64, (String, String)>;

/// A spec of `commits` commits of random upserts and deletes over `keys` keys, applied to `model`.
fn spec(seed: u64, commits: usize, keys: i64, options: &[(&str, &str)], model: &mut Model) -> Value {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut out = vec![];
    for c in 0..commits {
        let mut rows = vec![];
        let mut seen = std::collections::HashSet::new();
        for _ in 0..40 {
            let id = rng.random_range(0..keys);
            if !seen.insert(id) {
                continue;
            }
            let dt = format!("2026-01-0{}", 1 + id % 3);
            if c > 0 && rng.random_bool(0.15) && model.contains_key(&id) {
                let (dt, v) = model.remove(&id).unwrap();
                rows.push(json!({"id": id, "dt": dt, "v": v, "_row_kind": "-D"}));
            } else {
                let v = format!("c{c}-{id}");
                model.insert(id, (dt.clone(), v.clone()));
                rows.push(json!({"id": id, "dt": dt, "v": v, "_row_kind": "+I"}));
            }
        }
        out.push(json!({"rows": rows, "compact": false}));
    }
    let partitioned = options.iter().any(|(k, _)| *k == "partitioned");
    let options: serde_json::Map<String, Value> =
        options.iter().filter(|(k, _)| *k != "partitioned").map(|(k, v)| (k.to_string(), json!(v))).collect();
    json!({
        "fields": [
            {"name": "id", "type": "BIGINT NOT NULL"},
            {"name": "dt", "type": "STRING NOT NULL"},
            {"name": "v", "type": "STRING"},
        ],
        "primary_keys": if partitioned { json!(["dt", "id"]) } else { json!(["id"]) },
        "partition_keys": if partitioned { json!(["dt"]) } else { json!([]) },
        "options": options,
        "commits": out,
    })
}

fn lines(model: &Model) -> Vec<String> {
    let mut l: Vec<String> =
        model.iter().map(|(id, (dt, v))| json!({"id": id, "dt": dt, "v": v}).to_string()).collect();
    l.sort();
    l
}

/// The most sorted runs of any bucket, and the buckets a compaction would still pick.
async fn backlog(dir: &Path) -> (usize, usize) {
    let t = Table::open(dir.to_str().unwrap()).await.unwrap();
    let buckets = CompactJob::new(false).survey(&t).await.unwrap();
    (buckets.iter().map(|b| b.sorted_runs).max().unwrap_or(0), buckets.iter().filter(|b| b.pick.is_some()).count())
}

async fn snapshot_count(dir: &Path) -> usize {
    Table::open(dir.to_str().unwrap()).await.unwrap().snapshots().snapshot_ids().await.unwrap().len()
}

/// Files no snapshot or tag references (a dry run of orphan removal with no age guard).
async fn unreferenced(dir: &Path) -> Vec<String> {
    let t = Table::open(dir.to_str().unwrap()).await.unwrap();
    RemoveOrphanFiles::new(&t).older_than(Duration::ZERO).dry_run(true).execute().await.unwrap().orphans
}

fn maintain(wh: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(SHOAL);
    c.args(["maintain", "--warehouse", wh.to_str().unwrap()]).args(extra);
    c
}

const RETENTION: [(&str, &str); 3] =
    [("snapshot.num-retained.min", "2"), ("snapshot.num-retained.max", "4"), ("snapshot.time-retained", "1s")];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintains_java_written_tables_beside_their_writers() {
    let Some(o) = oracle() else { return };
    let root = tempfile::tempdir().unwrap();
    let wh = root.path().join("wh");
    let dir = |t: &str| wh.join("db.db").join(t);
    // A write-only table, a partitioned write-only table with deletion vectors, and a table whose
    // Java writer compacts it itself (the service only expires it).
    let tables: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("plain", [("bucket", "2"), ("write-only", "true")].into_iter().chain(RETENTION).collect()),
        (
            "dv",
            [("bucket", "2"), ("write-only", "true"), ("deletion-vectors.enabled", "true"), ("partitioned", "")]
                .into_iter()
                .chain(RETENTION)
                .collect(),
        ),
        ("self_compacting", [("bucket", "1")].into_iter().chain(RETENTION).collect()),
    ];
    // The tables exist before the service starts (created as Java would create them); then Java
    // writes all their commits while it runs.
    let mut models = BTreeMap::new();
    let mut specs = vec![];
    for (i, (name, options)) in tables.iter().enumerate() {
        let mut model = Model::new();
        let s = spec(10 + i as u64, 14, 60, options, &mut model);
        let mut def = shoal::table::TableDefinition::default()
            .column("id", shoal::spec::parse_type("BIGINT NOT NULL").unwrap())
            .column("dt", shoal::spec::parse_type("STRING NOT NULL").unwrap())
            .column("v", shoal::spec::parse_type("STRING").unwrap());
        def = if options.iter().any(|(k, _)| *k == "partitioned") {
            def.primary_key(&["dt", "id"]).partition_key(&["dt"])
        } else {
            def.primary_key(&["id"])
        };
        for (k, v) in options.iter().filter(|(k, _)| *k != "partitioned") {
            def = def.option(k, v);
        }
        Table::create(dir(name).to_str().unwrap(), def).await.unwrap();
        specs.push((name.to_string(), s));
        models.insert(name.to_string(), model);
    }
    // An orphan in a bucket directory (a killed writer's file).
    let planted = dir("plain").join("bucket-0").join("data-planted-orphan.parquet");
    std::fs::create_dir_all(planted.parent().unwrap()).unwrap();
    std::fs::write(&planted, b"not referenced").unwrap();

    let status = root.path().join("status.json");
    let mut service = maintain(
        &wh,
        // Orphans must be older than the longest a writer may take between creating a data file
        // and committing it: 1 s was too little for a JVM on a loaded machine (it lost a file it
        // was still writing).
        &["--interval", "1s", "--orphan-older-than", "30s", "--orphan-interval", "1s", "--status"],
    )
    .arg(&status)
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    for (name, s) in &specs {
        if let Err(e) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| o.java_write(&dir(name), s))) {
            let _ = service.kill();
            let out = service.wait_with_output().unwrap();
            eprintln!("SERVICE LOG:\n{}", String::from_utf8_lossy(&out.stderr));
            std::panic::resume_unwind(e);
        }
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let _ = service.kill();
    let out = service.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        log.contains("maintain table=db.plain action=compact") && log.contains("maintain table=db.dv action=compact"),
        "the service compacted the write-only tables while they were written:\n{log}"
    );
    let st: Value = serde_json::from_slice(&std::fs::read(&status).unwrap()).unwrap();
    assert_eq!(st["tables"].as_object().unwrap().len(), 3, "{st}");

    // The writers have stopped: no file is in flight, so no age guard is needed.
    let once = maintain(&wh, &["--once", "--orphan-older-than", "0s"]).output().unwrap();
    assert!(once.status.success(), "{}", String::from_utf8_lossy(&once.stderr));
    for (name, _) in &tables {
        let d = dir(name);
        common::assert_rows_eq(&o.java_read(&d, None), &lines(&models[*name]), &format!("Java reads {name}"));
        let (runs, to_compact) = backlog(&d).await;
        assert!(runs < 5 && to_compact == 0, "{name}: {runs} sorted runs, {to_compact} buckets to compact");
        let n = snapshot_count(&d).await;
        assert!(n <= 4, "{name}: {n} snapshots retained, at most 4 expected");
        assert_eq!(unreferenced(&d).await, Vec::<String>::new(), "{name}: orphans left");
    }
    assert!(!planted.exists(), "the planted orphan is removed");
}

/// A table written by shoal in write-only mode with many level-0 files (the backlog).
async fn backlogged_table(dir: &Path, seed: u64) -> BTreeMap<i64, String> {
    let def = common::kv_def(&[("write-only", "true"), ("bucket", "2")]);
    let t = Table::create(dir.to_str().unwrap(), def).await.unwrap();
    let commit = t.new_commit("writer").unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut model = BTreeMap::new();
    for c in 0..16 {
        let mut w = t.new_write().await.unwrap();
        let rows: Vec<(i64, String)> =
            (0..3000).map(|_| rng.random_range(0..20_000)).map(|k| (k, format!("c{c}"))).collect();
        let kinds: Vec<RowKind> =
            rows.iter().map(|(k, _)| if k % 7 == c % 7 { RowKind::Delete } else { RowKind::Insert }).collect();
        for ((k, v), kind) in rows.iter().zip(&kinds) {
            match kind {
                RowKind::Delete => model.remove(k),
                _ => model.insert(*k, v.clone()),
            };
        }
        w.write_with_kinds(&common::kv_batch(&t, &rows), Some(&kinds)).await.unwrap();
        commit.commit(w.prepare_commit().await.unwrap()).await.unwrap();
    }
    model
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_maintainer_killed_mid_turn_leaves_tables_readable_and_the_next_turn_finishes() {
    let root = tempfile::tempdir().unwrap();
    let wh = root.path().join("wh");
    let mut models = vec![];
    for i in 0..3 {
        let d = wh.join("db.db").join(format!("t{i}"));
        models.push((d.clone(), backlogged_table(&d, i).await));
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut kills = 0;
    for _ in 0..6 {
        let mut child = maintain(&wh, &["--once", "--orphan-older-than", "0s", "--parallelism", "2"])
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(rng.random_range(50..600))).await;
        if child.try_wait().unwrap().is_none() {
            kills += 1;
        }
        let _ = child.kill();
        let _ = child.wait();
        for (d, model) in &models {
            let t = Table::open(d.to_str().unwrap()).await.unwrap();
            let rows = common::kv_rows(&t, None).await;
            assert!(
                rows == *model,
                "{}: the rows changed after a kill ({} vs {})",
                d.display(),
                rows.len(),
                model.len()
            );
        }
    }
    assert!(kills >= 3, "at least half the runs are killed mid-turn ({kills})");
    let once = maintain(&wh, &["--once", "--orphan-older-than", "0s"]).output().unwrap();
    assert!(once.status.success(), "{}", String::from_utf8_lossy(&once.stderr));
    for (d, model) in &models {
        let t = Table::open(d.to_str().unwrap()).await.unwrap();
        assert!(common::kv_rows(&t, None).await == *model, "{}", d.display());
        let (runs, to_compact) = backlog(d).await;
        assert!(runs < 5 && to_compact == 0, "{}: {runs} sorted runs, {to_compact} to compact", d.display());
        assert_eq!(unreferenced(d).await, Vec::<String>::new(), "{}: files of killed turns left", d.display());
    }
}

/// `partition.expiration-time`: the service drops the partitions whose date is older, in one
/// OVERWRITE snapshot (their deletion-vector index files with them); the rest reads as before,
/// in shoal and in Java.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_older_than_their_expiration_are_dropped() {
    let root = tempfile::tempdir().unwrap();
    let wh = root.path().join("wh");
    let dir = wh.join("db.db").join("events");
    let def = shoal::table::TableDefinition::default()
        .column("id", shoal::spec::parse_type("BIGINT NOT NULL").unwrap())
        .column("dt", shoal::spec::parse_type("STRING NOT NULL").unwrap())
        .column("v", shoal::spec::parse_type("STRING").unwrap())
        .primary_key(&["dt", "id"])
        .partition_key(&["dt"])
        .option("bucket", "2")
        .option("deletion-vectors.enabled", "true")
        .option("partition.expiration-time", "7d")
        .option("partition.timestamp-formatter", "yyyyMMdd");
    let t = Table::create(dir.to_str().unwrap(), def).await.unwrap();
    let today = chrono::Local::now().date_naive();
    let days: Vec<String> =
        [0i64, 3, 10, 30].iter().map(|d| (today - chrono::Days::new(*d as u64)).format("%Y%m%d").to_string()).collect();
    let commit = t.new_commit("w").unwrap();
    let mut model = Model::new();
    for round in 0..2 {
        let mut w = t.new_write().await.unwrap();
        let rows: Vec<(i64, String, String)> =
            (0..40).map(|i| (i, days[i as usize % 4].clone(), format!("r{round}-{i}"))).collect();
        for (id, dt, v) in &rows {
            model.insert(*id, (dt.clone(), v.clone()));
        }
        let batch = arrow_array::RecordBatch::try_new(
            t.arrow_schema(),
            vec![
                std::sync::Arc::new(arrow_array::Int64Array::from(rows.iter().map(|r| r.0).collect::<Vec<_>>())),
                std::sync::Arc::new(arrow_array::StringArray::from(
                    rows.iter().map(|r| r.1.clone()).collect::<Vec<_>>(),
                )),
                std::sync::Arc::new(arrow_array::StringArray::from(
                    rows.iter().map(|r| r.2.clone()).collect::<Vec<_>>(),
                )),
            ],
        )
        .unwrap();
        w.write(&batch).await.unwrap();
        commit.commit(w.prepare_commit().await.unwrap()).await.unwrap();
    }
    let dry = maintain(&wh, &["--once", "--dry-run"]).output().unwrap();
    let dry_log = String::from_utf8_lossy(&dry.stderr);
    assert!(
        dry_log.contains(&format!("would_drop=dt={}", days[3])) && dry_log.contains(&format!("dt={}", days[2])),
        "{dry_log}"
    );
    let before = t.latest_snapshot().await.unwrap().unwrap().id;
    let once = maintain(&wh, &["--once"]).output().unwrap();
    let log = String::from_utf8_lossy(&once.stderr);
    assert!(once.status.success() && log.contains("action=expire-partitions dropped="), "{log}");
    model.retain(|_, (dt, _)| *dt == days[0] || *dt == days[1]);
    let t = Table::open(dir.to_str().unwrap()).await.unwrap();
    let snapshots = t.snapshots();
    let mut kinds = vec![];
    for id in before + 1..=t.latest_snapshot().await.unwrap().unwrap().id {
        kinds.push(snapshots.snapshot(id).await.unwrap().commit_kind);
    }
    assert!(kinds.contains(&shoal::spec::CommitKind::Overwrite), "{kinds:?}");
    let batch = t.read_all(None, None).await.unwrap();
    assert_eq!(batch.num_rows(), model.len(), "the two recent days remain");
    if let Some(o) = oracle() {
        common::assert_rows_eq(&o.java_read(&dir, None), &lines(&model), "Java reads the remaining partitions");
    }
}
