//! `shoal ui` end to end: the server against a warehouse written by the binary, its JSON API and
//! its refusals over plain HTTP, then the page rendered in a real headless browser (Debian's
//! `chromium`; required when SHOAL_REQUIRE_BROWSER=1, as tools/test sets it, else skipped with a
//! note). SHOAL_UI_SCREENSHOT=<file.png> keeps the browser's screenshot (docs/ui.png is one).
#![cfg(feature = "datafusion")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
use common::shoal_ok as ok;

fn shoal(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shoal")).args(args).env_remove("SHOAL_WAREHOUSE").output().expect("run shoal")
}

/// `rows` rows `id,name,amount` with ids `first, first+step, ...`.
fn csv(dir: &Path, name: &str, first: i64, step: i64, rows: i64) -> String {
    let mut text = String::from("id,name,amount\n");
    for i in 0..rows {
        let id = first + i * step;
        text.push_str(&format!("{id},customer-{},{}.{:02}\n", id % 977, (id * 7) % 500, id % 100));
    }
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

/// A warehouse with `shop.orders` (numeric key, 2 buckets, several snapshots of overlapping
/// key ranges, a compaction, a tag, a consumer that lags, a branch), `shop.customers` (a string
/// key) and `logs.events` (an append table).
fn warehouse(dir: &Path) -> String {
    let wh = dir.join("wh");
    let wh = wh.to_str().unwrap().to_string();
    ok(&[
        "create",
        "shop.orders",
        "--warehouse",
        &wh,
        "--schema",
        "id BIGINT NOT NULL, name STRING, amount DECIMAL(10, 2)",
        "--primary-key",
        "id",
        "--bucket",
        "2",
    ]);
    // Three batches over the same key range (runs that overlap completely), a compaction that
    // merges them down, then two narrower batches on top.
    for (i, (first, step)) in [(1, 7), (3, 5), (2, 11)].into_iter().enumerate() {
        let f = csv(dir, &format!("o{i}.csv"), first, step, 1500);
        ok(&["write", "shop.orders", &f, "--warehouse", &wh]);
    }
    ok(&["compact", "shop.orders", "--warehouse", &wh, "--full"]);
    let f = csv(dir, "o3.csv", 2000, 3, 800);
    ok(&["write", "shop.orders", &f, "--warehouse", &wh]);
    let deletes = dir.join("d.csv");
    let rows: String = (0..6).map(|i| format!("{},x,0.00,-D\n", 1 + 7 * i)).collect();
    std::fs::write(&deletes, format!("id,name,amount,op\n{rows}")).unwrap();
    ok(&["write", "shop.orders", deletes.to_str().unwrap(), "--warehouse", &wh, "--row-kind-column", "op"]);
    let f = csv(dir, "o4.csv", 6000, 2, 600);
    ok(&["write", "shop.orders", &f, "--warehouse", &wh]);
    ok(&["tag", "create", "shop.orders", "before-backfill", "--snapshot", "4", "--warehouse", &wh]);
    ok(&["consumer", "reset", "shop.orders", "dashboard", "--next-snapshot", "3", "--warehouse", &wh]);
    // A branch as Paimon lays it out: branch/branch-<name>/ with snapshots of its own.
    let table = Path::new(&wh).join("shop.db/orders");
    let branch = table.join("branch/branch-experiment");
    std::fs::create_dir_all(branch.join("snapshot")).unwrap();
    std::fs::create_dir_all(branch.join("schema")).unwrap();
    std::fs::copy(table.join("snapshot/snapshot-2"), branch.join("snapshot/snapshot-2")).unwrap();
    std::fs::copy(table.join("schema/schema-0"), branch.join("schema/schema-0")).unwrap();

    ok(&[
        "create",
        "shop.customers",
        "--warehouse",
        &wh,
        "--schema",
        "email STRING NOT NULL, city STRING",
        "--primary-key",
        "email",
        "--bucket",
        "1",
    ]);
    for (i, names) in [["ann", "bob", "cy"], ["bea", "dan", "zoe"]].iter().enumerate() {
        let p = dir.join(format!("c{i}.csv"));
        let rows: String = names.iter().map(|n| format!("{n}@example.com,Lyon\n")).collect();
        std::fs::write(&p, format!("email,city\n{rows}")).unwrap();
        ok(&["write", "shop.customers", p.to_str().unwrap(), "--warehouse", &wh]);
    }

    ok(&["create", "logs.events", "--warehouse", &wh, "--schema", "at BIGINT, msg STRING"]);
    let p = dir.join("e.csv");
    std::fs::write(&p, "at,msg\n1,start\n2,stop\n").unwrap();
    ok(&["write", "logs.events", p.to_str().unwrap(), "--warehouse", &wh]);
    wh
}

/// `shoal ui` on a free port, stopped when dropped.
struct Server {
    child: Child,
    port: u16,
    /// The requests served (`--access-log`), one line each.
    requests: std::sync::mpsc::Receiver<String>,
}

impl Server {
    fn start(wh: &str) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_shoal"))
            .args(["ui", "--warehouse", wh, "--port", "0", "--access-log"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start shoal ui");
        let (send, requests) = std::sync::mpsc::channel();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(std::result::Result::ok) {
                let _ = send.send(line);
            }
        });
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        // "shoal ui: serving <wh> at http://127.0.0.1:<port>/ (Ctrl-C to stop)"
        let url =
            line.split_whitespace().find(|w| w.starts_with("http://127.0.0.1:")).unwrap_or_else(|| panic!("{line}"));
        let port = url.trim_start_matches("http://127.0.0.1:").trim_end_matches('/').parse().unwrap();
        Server { child, port, requests }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Reply {
    status: u16,
    headers: String,
    body: String,
}

/// One HTTP/1.1 request over a plain socket.
fn request(port: u16, method: &str, path: &str, host: &str) -> Reply {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(s, "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").unwrap();
    let mut raw = vec![];
    s.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    Reply { status, headers: head.to_ascii_lowercase(), body: body.to_string() }
}

fn get(port: u16, path: &str) -> Reply {
    request(port, "GET", path, &format!("127.0.0.1:{port}"))
}

fn get_json(port: u16, path: &str) -> Value {
    let r = get(port, path);
    assert_eq!(r.status, 200, "{path}: {}", r.body);
    assert!(r.headers.contains("content-type: application/json"), "{}", r.headers);
    serde_json::from_str(&r.body).unwrap()
}

#[test]
fn the_api_serves_the_warehouse_and_refuses_what_it_must() {
    let dir = tempfile::tempdir().unwrap();
    let wh = warehouse(dir.path());
    let server = Server::start(&wh);
    let port = server.port;

    // The page and its two files, embedded in the binary, with a policy forbidding anything else.
    let page = get(port, "/");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<script src=\"/app.js\">") && page.body.contains("/style.css"), "{}", page.body);
    assert!(page.headers.contains("content-security-policy: default-src 'none'"), "{}", page.headers);
    assert!(!page.body.contains("http://") && !page.body.contains("https://"), "the page fetches nothing elsewhere");
    let js = get(port, "/app.js");
    assert_eq!(js.status, 200);
    assert!(js.headers.contains("text/javascript") && js.body.contains("/api/latest"));
    assert!(!js.body.contains("https://"), "the script fetches nothing elsewhere");
    assert_eq!(get(port, "/style.css").status, 200);

    let tables = get_json(port, "/api/tables");
    let dbs: Vec<(String, Vec<String>)> = tables["databases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let names = d["tables"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_string());
            (d["name"].as_str().unwrap().to_string(), names.collect())
        })
        .collect();
    assert_eq!(
        dbs,
        vec![("logs".into(), vec!["events".into()]), ("shop".into(), vec!["customers".into(), "orders".into()])]
    );

    let t = get_json(port, "/api/table?t=shop.orders");
    assert_eq!(t["name"], "shop.orders");
    assert_eq!(t["latest_snapshot"], 7);
    assert_eq!(t["snapshot_count"], 7);
    assert_eq!(t["schema"]["primaryKeys"], serde_json::json!(["id"]));
    assert_eq!(t["schema"]["options"]["bucket"], "2");
    let timeline = t["timeline"].as_array().unwrap();
    let kinds: Vec<&str> = timeline.iter().map(|s| s["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["APPEND", "APPEND", "APPEND", "COMPACT", "APPEND", "APPEND", "APPEND"]);
    assert_eq!(timeline[0]["rows_added"], 1500);
    assert_eq!(timeline[0]["rows_deleted"], 0);
    assert_eq!(timeline[3]["rows_added"], 0, "a compaction adds no rows");
    assert!(timeline[3]["files_deleted"].as_i64().unwrap() >= 6, "{}", timeline[3]);
    assert_eq!(timeline[5]["rows_deleted"], 6, "six retractions");
    assert!(timeline.iter().all(|s| s["time_millis"].as_i64().unwrap() > 0));

    let buckets = t["buckets"].as_array().unwrap();
    let paths: Vec<&str> = buckets.iter().map(|b| b["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["bucket-0", "bucket-1"]);
    for b in buckets {
        assert_eq!(b["file_count"].as_u64().unwrap() as usize, b["files"].as_array().unwrap().len());
        assert!(b["bytes"].as_i64().unwrap() > 0);
    }

    // The LSM shape: per bucket level-0 runs over a compacted last level, on a linear key axis.
    let lsm = t["lsm"]["buckets"].as_array().unwrap();
    assert_eq!(lsm.len(), 2);
    for b in lsm {
        let levels: Vec<i64> = b["runs"].as_array().unwrap().iter().map(|r| r["level"].as_i64().unwrap()).collect();
        assert_eq!(levels.iter().filter(|&&l| l == 0).count(), 3, "{levels:?}");
        assert!(*levels.last().unwrap() > 0, "{levels:?}");
        assert_eq!(b["axis"]["kind"], "linear");
        assert!(b["axis"]["min"].as_f64().unwrap() < 10.0 && b["axis"]["max"].as_f64().unwrap() > 7000.0);
        let f = &b["runs"][0]["files"][0];
        assert!(f["min"]["num"].is_number() && f["rows"].as_i64().unwrap() > 0 && f["bytes"].as_i64().unwrap() > 0);
    }
    assert_eq!(t["tags"][0]["name"], "before-backfill");
    assert_eq!(t["tags"][0]["snapshot"], 4);
    assert_eq!(t["consumers"][0]["id"], "dashboard");
    assert_eq!(t["consumers"][0]["snapshots_behind"], 5, "snapshots 3..=7 are still to read");
    assert_eq!(t["branches"][0]["name"], "experiment");
    assert_eq!(t["branches"][0]["latest_snapshot"], 2);

    // A string key: positions from the sorted distinct file bounds.
    let c = get_json(port, "/api/table?t=shop.customers");
    let axis = &c["lsm"]["buckets"][0]["axis"];
    assert_eq!(axis["kind"], "samples");
    let samples: Vec<&str> = axis["samples"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    assert_eq!(samples, ["ann@example.com", "bea@example.com", "cy@example.com", "zoe@example.com"]);
    let run = &c["lsm"]["buckets"][0]["runs"][0]["files"][0];
    assert_eq!((run["min"]["rank"].as_i64(), run["max"]["rank"].as_i64()), (Some(1), Some(3)), "{run}");

    let e = get_json(port, "/api/table?t=logs.events");
    assert!(e["lsm"]["note"].as_str().unwrap().contains("append table"));
    assert_eq!(e["buckets"][0]["rows"], 2);

    // The page follows a table being written.
    assert_eq!(get_json(port, "/api/latest?t=shop.orders")["latest_snapshot"], 7);
    let f = csv(dir.path(), "o5.csv", 1, 1, 10);
    ok(&["write", "shop.orders", &f, "--warehouse", &wh]);
    assert_eq!(get_json(port, "/api/latest?t=shop.orders")["latest_snapshot"], 8);

    // Refusals: a foreign Host (DNS rebinding), anything but GET, names that are not tables.
    let r = request(port, "GET", "/api/tables", "evil.example");
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(request(port, "GET", "/", &format!("evil.example:{port}")).status, 403);
    assert_eq!(request(port, "GET", "/", &format!("localhost:{port}")).status, 200);
    for method in ["POST", "PUT", "DELETE"] {
        let r = request(port, method, "/api/table?t=shop.orders", &format!("127.0.0.1:{port}"));
        assert_eq!(r.status, 405, "{method}");
        assert!(r.headers.contains("allow: get"), "{}", r.headers);
    }
    assert_eq!(get(port, "/api/table?t=..%2F..%2Fetc.passwd").status, 400);
    assert_eq!(get(port, "/api/table").status, 400);
    let missing = get(port, "/api/table?t=shop.nope");
    assert_eq!(missing.status, 404, "{}", missing.body);
    assert!(missing.body.contains("error"));
    assert_eq!(get(port, "/etc/passwd").status, 404);

    // The command's help has an example; a port in use is a clear error.
    let help = ok(&["ui", "--help"]);
    assert!(help.contains("Example") && help.contains("shoal ui --warehouse"), "{help}");
    let busy = shoal(&["ui", "--warehouse", &wh, "--port", &port.to_string()]);
    let stderr = String::from_utf8_lossy(&busy.stderr);
    assert!(
        !busy.status.success() && stderr.starts_with("shoal: error:") && stderr.contains("cannot listen on 127.0.0.1:"),
        "{stderr}"
    );
}

/// The first browser of Debian's chromium package found on PATH.
fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |d| d.join(name)))
        .find(|p| p.is_file())
}

/// Lets the page's requests and scripts settle (virtual time: no real waiting) before the dump.
const VIRTUAL_TIME: &str = "--virtual-time-budget=5000";

/// Runs the browser on `url` with `args` and returns its stdout, killing it after 90 s.
fn browse(browser: &Path, profile: &Path, args: &[&str], url: &str) -> String {
    let mut child = Command::new(browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"])
        .args(["--disable-extensions", "--hide-scrollbars", "--window-size=1400,1000"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if started.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().unwrap()
}

#[test]
fn the_page_renders_in_a_headless_browser() {
    let Some(browser) = chromium() else {
        if std::env::var("SHOAL_REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
            panic!("SHOAL_REQUIRE_BROWSER=1 but no chromium on PATH (tools/test installs Debian's chromium)");
        }
        eprintln!("note: skipping the browser test of shoal ui: no chromium on PATH (apt-get install chromium)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let wh = warehouse(dir.path());
    let mut server = Server::start(&wh);
    let url = format!("http://127.0.0.1:{}/#shop.orders", server.port);
    let started = Instant::now();

    let dom = browse(&browser, &dir.path().join("profile-dom"), &["--dump-dom", VIRTUAL_TIME], &url);
    let has = |needle: &str| dom.contains(needle);
    assert!(has("id=\"table-name\">shop.orders</h1>"), "the table's page is not shown:\n{dom}");
    // The navigation lists every table.
    for t in ["shop.customers", "shop.orders", "logs.events"] {
        assert!(has(&format!("data-table=\"{t}\"")), "{t} missing from the navigation");
    }
    // The snapshot chart: an inline SVG with one group per snapshot, the compaction among them.
    assert!(has("class=\"timeline-chart\""), "no snapshot chart");
    assert_eq!(dom.matches("class=\"snap\" data-snapshot=").count(), 7, "one mark per snapshot");
    assert!(has("data-kind=\"COMPACT\"") && has("class=\"bar-added\"") && has("class=\"bar-deleted\""));
    // The LSM picture: one SVG per bucket, a bar per file with its level, rows and size.
    assert_eq!(dom.matches("class=\"lsm-chart\"").count(), 2, "one LSM chart per bucket");
    let bars = dom.matches("data-level=\"0\"").count();
    assert_eq!(bars, 6, "three level-0 files in each of two buckets");
    assert!(dom.matches("<rect").count() > 20);
    assert!(has("key (id) — linear"));
    // Files, consumers (with the lag), tags, branches, schema and options.
    assert_eq!(dom.matches("class=\"bucket-row\"").count(), 2);
    assert!(has(">dashboard<") && has("5 snapshots"), "the consumer and its lag");
    assert!(has(">before-backfill<") && has(">experiment<"));
    assert!(has(">amount<") && has("DECIMAL(10, 2)") && has(">bucket<"));
    assert!(!has("class=\"error\""), "the page shows an error:\n{dom}");

    // A string key's picture, on its own page.
    let customers = format!("http://127.0.0.1:{}/#shop.customers", server.port);
    let dom = browse(&browser, &dir.path().join("profile-dom2"), &["--dump-dom", VIRTUAL_TIME], &customers);
    assert!(dom.contains("key (email) — sorted distinct file bounds"), "{dom}");

    let shot = dir.path().join("ui.png");
    browse(
        &browser,
        &dir.path().join("profile-shot"),
        &[&format!("--screenshot={}", shot.display()), VIRTUAL_TIME],
        &url,
    );
    let png = std::fs::read(&shot).expect("chromium wrote no screenshot");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 20_000, "a blank screenshot ({} bytes)", png.len());
    if let Some(keep) = std::env::var_os("SHOAL_UI_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }

    // The page follows a table being written: once it has loaded and polls the latest snapshot,
    // a commit lands, and the page shows the new snapshot. The browser's virtual time runs the
    // 2 s polls back to back (each a real request: 1800 of them took ~6 s here).
    while server.requests.try_recv().is_ok() {}
    let requests = std::mem::replace(&mut server.requests, std::sync::mpsc::channel().1);
    let writer = {
        let (wh, dir) = (wh.clone(), dir.path().to_path_buf());
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                match requests.recv_timeout(Duration::from_secs(1)) {
                    Ok(line) if line.starts_with("GET /api/latest?t=shop.orders") => break,
                    _ => {}
                }
            }
            let f = csv(&dir, "o5.csv", 1, 1, 10);
            ok(&["write", "shop.orders", &f, "--warehouse", &wh]);
        })
    };
    let dom =
        browse(&browser, &dir.path().join("profile-live"), &["--dump-dom", "--virtual-time-budget=3600000"], &url);
    writer.join().unwrap();
    assert_eq!(dom.matches("class=\"snap\" data-snapshot=").count(), 8, "the page did not reload:\n{dom}");
    assert!(dom.contains("data-snapshot=\"8\""));
    eprintln!("browser checks took {:.1} s", started.elapsed().as_secs_f64());
}
