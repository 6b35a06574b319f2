//! `shoal ingest debezium`: Debezium JSON change events from files and stdin into tables.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use shoal::Table;

fn shoal(wh: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_shoal"));
    c.args(["ingest", "debezium"]).args(args).args(["--warehouse", wh.to_str().unwrap(), "--database", "shop"]);
    c.env("SHOAL_TEMP_DIR", wh.join("tmp"));
    c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    if let Some(s) = stdin {
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    } else {
        drop(child.stdin.take());
    }
    child.wait_with_output().unwrap()
}

/// (id, name) rows of a table, sorted.
async fn rows(wh: &Path, table: &str) -> Vec<(i64, String)> {
    let t = Table::open(wh.join(format!("shop.db/{table}")).to_str().unwrap()).await.unwrap();
    let b = t.read_all(None, Some(t.projection_of(&["id", "name"]).unwrap())).await.unwrap();
    let mut v: Vec<(i64, String)> = (0..b.num_rows())
        .map(|i| {
            (b.column(0).as_primitive::<Int64Type>().value(i), b.column(1).as_string::<i32>().value(i).to_string())
        })
        .collect();
    v.sort();
    v
}

const EVENTS: &str = r#"{"before":null,"after":{"id":1,"name":"a","price":"1.50"},"source":{"schema":"public","table":"items"},"op":"r"}
{"before":null,"after":{"id":2,"name":"b","price":"2.00"},"source":{"schema":"public","table":"items"},"op":"c"}
{"schema":{"type":"struct","fields":[]},"payload":{"before":{"id":1,"name":"a","price":"1.50"},"after":{"id":1,"name":"a2","price":"1.75"},"source":{"table":"items"},"op":"u"}}

{"before":{"id":2,"name":"b","price":"2.00"},"after":{"id":3,"name":"b","price":"2.00"},"source":{"table":"items"},"op":"u"}
{"before":null,"after":{"id":10,"name":"x","price":"0"},"source":{"table":"other"},"op":"c"}
{"before":{"id":10,"name":"x","price":"0"},"after":null,"source":{"table":"other"},"op":"d"}
null
{"before":null,"after":{"id":11,"name":"y","price":"0"},"source":{"table":"other"},"op":"c"}
"#;

#[tokio::test]
async fn events_route_create_and_apply() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path();
    let f = wh.join("events.jsonl");
    std::fs::write(&f, EVENTS).unwrap();
    let out = shoal(wh, &[f.to_str().unwrap(), "--primary-key", "id", "--table-option", "bucket=1"], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Key change of id 2 -> 3 is -D 2, +I 3.
    assert_eq!(rows(wh, "items").await, vec![(1, "a2".into()), (3, "b".into())]);
    assert_eq!(rows(wh, "other").await, vec![(11, "y".into())]);

    // From stdin, into a named table that exists: no key needed.
    let more = r#"{"before":{"id":3,"name":"b","price":"2.00"},"after":null,"op":"d"}
{"before":null,"after":{"id":4,"name":"d","price":"4.25"},"op":"c"}"#;
    let out = shoal(wh, &["-", "--table", "items"], Some(more));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(rows(wh, "items").await, vec![(1, "a2".into()), (4, "d".into())]);
}

#[tokio::test]
async fn a_malformed_event_stops_with_file_line_and_commits_nothing_unless_dead_lettered() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path();
    let f = wh.join("bad.jsonl");
    let bad = format!("{EVENTS}{{\"op\":\"c\",\"after\":{{\"id\":\"not a number\",\"name\":\"z\"}},\"source\":{{\"table\":\"items\"}}}}\n{{\"op\":\"q\"}}\n{{broken\n");
    std::fs::write(&f, &bad).unwrap();
    let out = shoal(wh, &[f.to_str().unwrap(), "--primary-key", "id"], None);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.jsonl:10"), "the error names file and line: {err}");
    // Nothing of the run was committed.
    for t in ["items", "other"] {
        let p = wh.join(format!("shop.db/{t}"));
        if let Ok(t) = Table::open(p.to_str().unwrap()).await {
            assert!(t.latest_snapshot().await.unwrap().is_none(), "no snapshot after a failed run");
        }
    }

    let dead = wh.join("dead.jsonl");
    let arg = format!("dead-letter={}", dead.display());
    let out = shoal(wh, &[f.to_str().unwrap(), "--primary-key", "id", "--on-error", &arg], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(rows(wh, "items").await, vec![(1, "a2".into()), (3, "b".into())]);
    let dead = std::fs::read_to_string(&dead).unwrap();
    let lines: Vec<serde_json::Value> = dead.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3, "{dead}");
    assert_eq!(lines.iter().map(|l| l["line"].as_u64().unwrap()).collect::<Vec<_>>(), vec![10, 11, 12]);
    assert!(lines[1]["error"].as_str().unwrap().contains("unknown op"));
    assert!(lines[2]["error"].as_str().unwrap().contains("not JSON"));
}

#[test]
fn kafka_options_keep_their_shape_and_are_refused_with_the_stdin_bridge() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path();
    let out = shoal(wh, &["--kafka-brokers", "127.0.0.1:9", "--topic", "t", "--group", "g"], None);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not implemented") && err.contains("kcat"), "{err}");
    // --topic and --group go with --kafka-brokers; files do not.
    let out = shoal(wh, &["--kafka-brokers", "127.0.0.1:9", "--topic", "t"], None);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--group"));
    let out = shoal(wh, &["events.jsonl", "--kafka-brokers", "127.0.0.1:9", "--topic", "t", "--group", "g"], None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be used with"));
}
