//! Branches (`branch/branch-<name>/`): created from a tag, a snapshot or empty, written and read
//! beside main, kept alive through main's expiry, tag deletion, rollback and orphan removal,
//! fast-forwarded and deleted; through the library, the CLI and SQL, and judged by Java Paimon
//! 0.9 in both directions.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::oracle::oracle;
use common::{kv_batch, kv_def, kv_rows, shoal_ok};
use serde_json::{json, Value};
use shoal::maintenance::branches::list_branches;
use shoal::maintenance::branches::BranchStart;
use shoal::maintenance::expire::ExpireConfig;
use shoal::maintenance::operations::{
    CreateBranch, CreateTag, DeleteBranch, DeleteTag, ExpireSnapshots, FastForward, RemoveOrphanFiles, Rollback,
};
use shoal::maintenance::rollback::RollbackTarget;
use shoal::{Error, Table};

type Rows = BTreeMap<i64, String>;

async fn commit(t: &Table, rows: &[(i64, String)]) -> i64 {
    let mut w = t.new_write().await.unwrap();
    w.write(&kv_batch(t, rows)).await.unwrap();
    let msgs = w.prepare_commit().await.unwrap();
    let user = uuid::Uuid::new_v4().to_string();
    t.new_commit(&user).unwrap().commit(msgs).await.unwrap().snapshot_id().expect("a snapshot")
}

fn rows(keys: std::ops::RangeInclusive<i64>, v: &str) -> Vec<(i64, String)> {
    keys.map(|k| (k, v.to_string())).collect()
}

fn apply(m: &mut Rows, rows: &[(i64, String)]) {
    for (k, v) in rows {
        m.insert(*k, v.clone());
    }
}

/// Expiry keeping only the latest snapshot, whatever its age.
fn keep_one() -> ExpireConfig {
    ExpireConfig { retain_min: 1, retain_max: 1, time_retained: std::time::Duration::ZERO, max_deletes: i64::MAX }
}

#[tokio::test]
async fn branches_share_files_and_survive_main_maintenance() {
    let dir = tempfile::tempdir().unwrap();
    let loc = dir.path().join("wh/db.db/t");
    let loc = loc.to_str().unwrap();
    let main = Table::create(loc, kv_def(&[("write-only", "true")])).await.unwrap();
    let mut at2 = Rows::new();
    apply(&mut at2, &rows(1..=100, "a"));
    commit(&main, &rows(1..=100, "a")).await;
    apply(&mut at2, &rows(50..=150, "b"));
    commit(&main, &rows(50..=150, "b")).await;
    CreateTag::new(&main, "t2").snapshot(2).execute().await.unwrap();
    let mut at3 = at2.clone();
    apply(&mut at3, &rows(1..=10, "c"));
    commit(&main, &rows(1..=10, "c")).await;
    let compacted = shoal::maintenance::compact::CompactJob::new(true).run(&main).await.unwrap();
    let at4 = compacted.outcome.snapshot_id().expect("the compaction committed");
    assert_eq!(kv_rows(&main, None).await, at3);

    // A branch from the tag, and one from the compacted snapshot.
    CreateBranch::new(&main, "dev").start(&BranchStart::Tag("t2".into())).execute().await.unwrap();
    CreateBranch::new(&main, "compacted").start(&BranchStart::Snapshot(at4)).execute().await.unwrap();
    CreateBranch::new(&main, "blank").start(&BranchStart::Empty).execute().await.unwrap();
    let dev = Table::open_branch(loc, "dev").await.unwrap();
    assert_eq!(dev.branch(), "dev");
    assert_eq!(kv_rows(&dev, None).await, at2);
    let mut dev_rows = at2.clone();
    apply(&mut dev_rows, &rows(200..=210, "dev"));
    assert_eq!(commit(&dev, &rows(200..=210, "dev")).await, 3, "the branch continues from its snapshot");
    assert_eq!(kv_rows(&dev, None).await, dev_rows);
    assert_eq!(kv_rows(&main, None).await, at3, "main does not see the branch's commit");
    assert!(dev.tags().await.unwrap().iter().any(|t| t.name == "t2"), "the tag is copied into the branch");
    let blank = main.switch_to_branch("blank").await.unwrap();
    assert!(blank.latest_snapshot().await.unwrap().is_none());

    let listed = list_branches(main.io()).await.unwrap();
    let by_name: BTreeMap<_, _> = listed.iter().map(|b| (b.name.as_str(), b)).collect();
    assert_eq!(by_name.len(), 3);
    assert_eq!(by_name["dev"].created_from_tag.as_deref(), Some("t2"));
    assert_eq!(by_name["dev"].created_from_snapshot, Some(2));
    assert_eq!(by_name["compacted"].created_from_tag, None);
    assert_eq!(by_name["compacted"].created_from_snapshot, Some(at4));
    assert_eq!(by_name["blank"].created_from_snapshot, None);

    // Rolling main back to snapshot 2 would delete the compaction's files: branch "compacted" reads them.
    Rollback::new(&main, &RollbackTarget::Snapshot(2)).execute().await.unwrap();
    assert_eq!(kv_rows(&main, None).await, at2);
    let compacted = main.switch_to_branch("compacted").await.unwrap();
    assert_eq!(kv_rows(&compacted, None).await, at3, "the branch still reads the files main rolled back");

    // Main moves on, expires everything but its latest snapshot and drops the tag the branch
    // came from: the branch's files stay.
    commit(&main, &rows(300..=305, "m")).await;
    shoal::maintenance::compact::CompactJob::new(true).run(&main).await.unwrap();
    let report = ExpireSnapshots::new(&main).with_config(&keep_one()).execute().await.unwrap();
    assert!(report.snapshots_expired >= 2, "{report:?}");
    DeleteTag::new(&main, "t2").execute().await.unwrap();
    let orphans = RemoveOrphanFiles::new(&main).before(i64::MAX).execute().await.unwrap();
    assert_eq!(kv_rows(&dev, None).await, dev_rows, "after expiry, tag deletion and orphan removal ({orphans:?})");
    assert_eq!(kv_rows(&compacted, None).await, at3);
    // Expiry on the branch keeps what main reads.
    let main_rows = kv_rows(&main, None).await;
    ExpireSnapshots::new(&dev).with_config(&keep_one()).execute().await.unwrap();
    assert_eq!(kv_rows(&main, None).await, main_rows);
    assert_eq!(kv_rows(&dev, None).await, dev_rows);

    // Deleting a branch leaves files only it read as orphans; removing them spares the rest.
    DeleteBranch::new(&main, "compacted").execute().await.unwrap();
    let orphans = RemoveOrphanFiles::new(&main).before(i64::MAX).execute().await.unwrap();
    assert!(orphans.deleted > 0, "the compaction's files only the branch read are orphans now: {orphans:?}");
    assert_eq!(kv_rows(&main, None).await, main_rows);
    assert_eq!(kv_rows(&dev, None).await, dev_rows);

    // Fast-forward: main's history becomes dev's.
    let ff = FastForward::new(&main, "dev").execute().await.unwrap();
    assert_eq!(ff.latest, Some(3), "{ff:?}");
    let main = Table::open(loc).await.unwrap();
    assert_eq!(main.latest_snapshot().await.unwrap().unwrap().id, 3);
    assert_eq!(kv_rows(&main, None).await, dev_rows);
    DeleteBranch::new(&main, "dev").execute().await.unwrap();
    RemoveOrphanFiles::new(&main).before(i64::MAX).execute().await.unwrap();
    assert_eq!(kv_rows(&main, None).await, dev_rows, "main reads the files it took from the branch");
    let mut after = dev_rows.clone();
    apply(&mut after, &rows(1..=3, "after"));
    commit(&main, &rows(1..=3, "after")).await;
    assert_eq!(kv_rows(&main, None).await, after);
    assert_eq!(list_branches(main.io()).await.unwrap().len(), 1);
}

#[tokio::test]
async fn branch_mistakes_are_refused_with_their_names() {
    let dir = tempfile::tempdir().unwrap();
    let loc = dir.path().join("t");
    let loc = loc.to_str().unwrap();
    let t = Table::create(loc, kv_def(&[])).await.unwrap();
    commit(&t, &rows(1..=3, "a")).await;
    CreateBranch::new(&t, "b").start(&BranchStart::Empty).execute().await.unwrap();
    assert!(matches!(
        CreateBranch::new(&t, "b").start(&BranchStart::Empty).execute().await,
        Err(Error::BranchExists { .. })
    ));
    assert!(matches!(DeleteBranch::new(&t, "nope").execute().await, Err(Error::BranchNotFound { .. })));
    assert!(matches!(FastForward::new(&t, "nope").execute().await, Err(Error::BranchNotFound { .. })));
    let e = Table::open_branch(loc, "nope").await.unwrap_err();
    assert!(e.to_string().contains("branch \"nope\" does not exist"), "{e}");
    for bad in ["main", "123", "a/b", " ", "x$y"] {
        let e = CreateBranch::new(&t, bad).start(&BranchStart::Empty).execute().await.unwrap_err();
        assert!(e.to_string().contains("invalid branch name"), "{bad:?}: {e}");
    }
    assert!(matches!(
        CreateBranch::new(&t, "c").start(&BranchStart::Tag("none".into())).execute().await,
        Err(Error::TagNotFound(_))
    ));
    assert!(matches!(
        CreateBranch::new(&t, "c").start(&BranchStart::Snapshot(9)).execute().await,
        Err(Error::SnapshotNotFound(9))
    ));
    let e = FastForward::new(&t, "b").execute().await.unwrap_err();
    assert!(e.to_string().contains("has no snapshot yet"), "{e}");
    assert_eq!(list_branches(t.io()).await.unwrap().len(), 1, "failed creations leave nothing behind");
}

#[tokio::test]
async fn branches_from_the_command_line_and_sql() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    let loc = wh.join("db.db/t");
    let t = Table::create(loc.to_str().unwrap(), kv_def(&[])).await.unwrap();
    commit(&t, &rows(1..=5, "a")).await;
    commit(&t, &rows(4..=8, "b")).await;
    let wh_s = wh.to_str().unwrap();
    let out = shoal_ok(&["branch", "create", "db.t", "old", "--snapshot", "1", "--warehouse", wh_s]);
    assert!(out.contains("created from snapshot 1"), "{out}");
    let out = shoal_ok(&["read", "db.t$branch_old", "--warehouse", wh_s, "--format", "csv"]);
    assert_eq!(out.lines().filter(|l| l.ends_with(",a")).count(), 5, "{out}");
    let out = shoal_ok(&["read", "db.t", "--branch", "old", "--warehouse", wh_s, "--format", "csv"]);
    assert!(!out.contains(",b"), "{out}");
    let out = shoal_ok(&["branch", "list", "db.t", "--warehouse", wh_s]);
    assert!(out.lines().any(|l| l.starts_with("old ") && l.contains(" 1 ")), "{out}");

    // SQL: Paimon's procedures.
    let sql = |q: &str| shoal_ok(&["sql", "--warehouse", wh_s, q]);
    sql("CALL sys.create_branch(table => 'db.t', branch => 'dev', snapshot => 2)");
    sql("CALL sys.create_branch('db.t', 'empty')");
    let dev = Table::open_branch(loc.to_str().unwrap(), "dev").await.unwrap();
    commit(&dev, &rows(100..=101, "dev")).await;
    sql("CALL sys.fast_forward(table => 'db.t', branch => 'dev')");
    let main = Table::open(loc.to_str().unwrap()).await.unwrap();
    assert_eq!(kv_rows(&main, None).await.len(), 10);
    sql("CALL sys.delete_branch(table => 'db.t', branch => 'dev,empty')");
    let names: Vec<String> = list_branches(main.io()).await.unwrap().into_iter().map(|b| b.name).collect();
    assert_eq!(names, vec!["old"]);
}

/// Java's rows (JSON lines of `k`, `v`) as a map.
fn java_rows(lines: &[String]) -> Rows {
    lines
        .iter()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["k"].as_i64().unwrap(), v["v"].as_str().unwrap().to_string())
        })
        .collect()
}

fn java_read_branch(o: &common::oracle::Oracle, table: &Path, branch: &str) -> Rows {
    java_rows(&common::canonical_lines(&o.java(&["read", "--table-dir", table.to_str().unwrap(), "--branch", branch])))
}

fn java_branch(o: &common::oracle::Oracle, table: &Path, args: &[&str]) -> Vec<String> {
    let mut all = vec!["branch", "--table-dir", table.to_str().unwrap()];
    all.extend(args);
    serde_json::from_str(o.java(&all).lines().last().unwrap()).unwrap()
}

/// Java's rows of the named system tables (`--names a,b`), by name.
fn java_system_rows(o: &common::oracle::Oracle, table: &Path, names: &str) -> BTreeMap<String, Vec<Vec<Value>>> {
    let out = o.java(&["system-table", "--table-dir", table.to_str().unwrap(), "--names", names]);
    out.lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let rows = v["rows"].as_array().unwrap().iter().map(|r| r.as_array().unwrap().clone()).collect();
            (v["name"].as_str().unwrap().to_string(), rows)
        })
        .collect()
}

/// A query's rows as JSON values (Arrow's JSON writer, column order kept).
async fn sql_rows(ctx: &datafusion::prelude::SessionContext, q: &str) -> Vec<Vec<Value>> {
    let batches = ctx.sql(q).await.unwrap_or_else(|e| panic!("{q}: {e}")).collect().await.unwrap();
    let mut out = vec![];
    for b in &batches {
        let mut w = arrow::json::ArrayWriter::new(Vec::new());
        w.write(b).unwrap();
        w.finish().unwrap();
        let text = String::from_utf8(w.into_inner()).unwrap();
        let objs: Vec<serde_json::Map<String, Value>> =
            if text.trim().is_empty() { vec![] } else { serde_json::from_str(&text).unwrap() };
        for o in objs {
            out.push(b.schema().fields().iter().map(|f| o.get(f.name()).cloned().unwrap_or(Value::Null)).collect());
        }
    }
    out
}

fn sorted(mut v: Vec<Vec<Value>>) -> Vec<Vec<Value>> {
    v.sort_by_key(|r| Value::Array(r.clone()).to_string());
    v
}

#[tokio::test]
async fn java_paimon_reads_and_writes_shoal_branches_and_the_other_way() {
    let Some(o) = oracle() else { return };
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("wh/db.db/t");
    let loc = table.to_str().unwrap();
    let main = Table::create(loc, kv_def(&[("deletion-vectors.enabled", "true")])).await.unwrap();
    let mut at1 = Rows::new();
    apply(&mut at1, &rows(1..=20, "a"));
    commit(&main, &rows(1..=20, "a")).await;
    CreateTag::new(&main, "t1").execute().await.unwrap();
    commit(&main, &rows(10..=30, "b")).await;

    // shoal's branch, read by Java.
    CreateBranch::new(&main, "dev").start(&BranchStart::Tag("t1".into())).execute().await.unwrap();
    let dev = main.switch_to_branch("dev").await.unwrap();
    commit(&dev, &rows(5..=6, "dev")).await;
    let mut dev_rows = at1.clone();
    apply(&mut dev_rows, &rows(5..=6, "dev"));
    assert_eq!(java_read_branch(&o, &table, "dev"), dev_rows);
    assert_eq!(java_branch(&o, &table, &["--action", "list"]), vec!["dev"]);

    // Java's branch (from the same tag), written by Java, read and continued by shoal.
    java_branch(&o, &table, &["--action", "create", "--name", "jb", "--tag", "t1"]);
    let spec = json!({
        "fields": [{"name": "k", "type": "BIGINT"}, {"name": "v", "type": "STRING"}],
        "primary_keys": ["k"],
        "options": {"bucket": "2", "deletion-vectors.enabled": "true"},
        "commits": [{"rows": (15..=16).map(|k| json!({"k": k, "v": "java"})).collect::<Vec<_>>()}],
    });
    let spec_path = dir.path().join("jb.spec.json");
    std::fs::write(&spec_path, spec.to_string()).unwrap();
    o.java(&["write", "--table-dir", loc, "--spec", spec_path.to_str().unwrap(), "--branch", "jb"]);
    let mut jb_rows = at1.clone();
    apply(&mut jb_rows, &rows(15..=16, "java"));
    let jb = Table::open_branch(loc, "jb").await.unwrap();
    assert_eq!(kv_rows(&jb, None).await, jb_rows);
    assert_eq!(java_read_branch(&o, &table, "jb"), jb_rows);
    commit(&jb, &rows(16..=17, "shoal")).await;
    apply(&mut jb_rows, &rows(16..=17, "shoal"));
    assert_eq!(java_read_branch(&o, &table, "jb"), jb_rows);
    let listed: Vec<String> = list_branches(main.io()).await.unwrap().into_iter().map(|b| b.name).collect();
    assert_eq!(listed, vec!["dev", "jb"]);

    // System tables of and about branches, in SQL, as Java's catalog lists them.
    let wh = dir.path().join("wh");
    let ctx = shoal::datafusion::context_for_warehouse(wh.to_str().unwrap()).await.unwrap();
    let java_sys = java_system_rows(&o, &table, "branches,branch_jb$snapshots");
    let ours =
        sql_rows(&ctx, "SELECT branch_name, created_from_tag, created_from_snapshot FROM db.\"t$branches\"").await;
    let theirs: Vec<Vec<Value>> = java_sys["branches"].iter().map(|r| r[..3].to_vec()).collect();
    assert_eq!(sorted(ours), sorted(theirs), "$branches");
    let ours = sql_rows(&ctx, "SELECT snapshot_id, commit_kind FROM db.\"t$branch_jb$snapshots\"").await;
    let theirs: Vec<Vec<Value>> =
        java_sys["branch_jb$snapshots"].iter().map(|r| vec![r[0].clone(), r[4].clone()]).collect();
    assert_eq!(ours, theirs, "t$branch_jb$snapshots");
    // SQL reads and writes a branch.
    sql_rows(&ctx, "INSERT INTO db.\"t$branch_jb\" VALUES (18, 'sql')").await;
    apply(&mut jb_rows, &[(18, "sql".to_string())]);
    let n = sql_rows(&ctx, "SELECT count(*) FROM db.t$branch_jb").await;
    assert_eq!(n, vec![vec![json!(jb_rows.len())]]);
    assert_eq!(java_read_branch(&o, &table, "jb"), jb_rows);

    // Java fast-forwards to its branch; shoal fast-forwards to its own; each reads the other's.
    java_branch(&o, &table, &["--action", "fast-forward", "--name", "jb"]);
    assert_eq!(kv_rows(&Table::open(loc).await.unwrap(), None).await, jb_rows);
    FastForward::new(&main, "dev").execute().await.unwrap();
    assert_eq!(java_rows(&o.java_read(&table, None)), dev_rows);
    // Java deletes shoal's branch.
    assert_eq!(java_branch(&o, &table, &["--action", "delete", "--name", "dev"]), vec!["jb"]);
    let listed: Vec<String> = list_branches(main.io()).await.unwrap().into_iter().map(|b| b.name).collect();
    assert_eq!(listed, vec!["jb"]);
}
