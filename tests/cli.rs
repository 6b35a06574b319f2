//! The `shoal` binary end to end: every subcommand's happy path, and user mistakes that must
//! give a clear message on stderr and a non-zero exit code (never a panic or a backtrace).
#![cfg(feature = "datafusion")]

use std::path::Path;
use std::process::{Command, Output};

fn shoal(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shoal")).args(args).env_remove("SHOAL_WAREHOUSE").output().expect("run shoal")
}

fn shoal_stdin(args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_shoal"))
        .args(args)
        .env_remove("SHOAL_WAREHOUSE")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run shoal");
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn ok(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "shoal failed\nstdout:\n{stdout}\nstderr:\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

/// A user error: non-zero exit, the message on stderr, no panic or backtrace.
fn user_error(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "expected a failure; stdout: {}", String::from_utf8_lossy(&out.stdout));
    assert!(!stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"), "{stderr}");
    assert!(stderr.starts_with("shoal: error:") || stderr.starts_with("error:"), "{stderr}");
    stderr
}

fn write_file(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn every_subcommand_has_help_with_an_example() {
    for cmd in ["demo", "create", "write", "read", "compact", "sql", "inspect", "snapshots", "schema", "files"] {
        let out = ok(&shoal(&[cmd, "--help"]));
        assert!(out.contains("Example"), "{cmd} --help has no example:\n{out}");
        assert!(out.contains(&format!("shoal {cmd}")), "{cmd} --help example does not use the command:\n{out}");
    }
}

#[test]
fn create_write_read_sql_inspect_compact_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    let wh = wh.to_str().unwrap();
    let out = ok(&shoal(&[
        "create",
        "shop.orders",
        "--warehouse",
        wh,
        "--schema",
        "id BIGINT NOT NULL, state STRING, fee DECIMAL(10, 2), dt STRING NOT NULL",
        "--primary-key",
        "dt,id",
        "--partition",
        "dt",
        "--bucket",
        "2",
    ]));
    assert!(out.contains("created"), "{out}");
    let csv = write_file(dir.path(), "a.csv", "id,state,fee,dt\n1,NEW,10.50,d1\n2,PAID,20.00,d1\n3,NEW,5.25,d2\n");
    let out = ok(&shoal(&["write", "shop.orders", &csv, "--warehouse", wh]));
    assert!(out.contains("wrote 3 rows, committed snapshot 1"), "{out}");
    let changes = write_file(dir.path(), "b.jsonl", "{\"id\":1,\"state\":\"PAID\",\"fee\":\"10.50\",\"dt\":\"d1\",\"op\":\"+U\"}\n{\"id\":3,\"state\":\"NEW\",\"fee\":\"5.25\",\"dt\":\"d2\",\"op\":\"-D\"}\n");
    let out = ok(&shoal(&["write", "shop.orders", &changes, "--warehouse", wh, "--row-kind-column", "op"]));
    assert!(out.contains("committed snapshot 2"), "{out}");

    let out = ok(&shoal(&["read", "shop.orders", "--warehouse", wh, "--format", "csv"]));
    let mut lines: Vec<&str> = out.lines().skip(1).collect();
    lines.sort();
    assert_eq!(lines, vec!["1,PAID,10.50,d1", "2,PAID,20.00,d1"]);
    let out = ok(&shoal(&[
        "read",
        "shop.orders",
        "--warehouse",
        wh,
        "--snapshot",
        "1",
        "--columns",
        "id",
        "--format",
        "csv",
    ]));
    assert_eq!(out.lines().count(), 4, "{out}");
    let out =
        ok(&shoal(&["read", "shop.orders", "--warehouse", wh, "--where", "fee > 15 AND dt = 'd1'", "--format", "csv"]));
    assert_eq!(out.trim(), "id,state,fee,dt\n2,PAID,20.00,d1");
    let out = ok(&shoal(&[
        "read",
        "shop.orders",
        "--warehouse",
        wh,
        "--where",
        "state = 'PAID'",
        "--columns",
        "id",
        "--limit",
        "1",
        "--format",
        "jsonl",
    ]));
    assert_eq!(out.lines().count(), 1, "{out}");

    let out = ok(&shoal(&["sql", "SELECT state, count(*) AS n FROM shop.orders GROUP BY state", "--warehouse", wh]));
    assert!(out.contains("PAID") && out.contains("| 2 "), "{out}");
    let out = ok(&shoal(&[
        "sql",
        "INSERT INTO shop.orders VALUES (7, 'NEW', 1.00, 'd3'); UPDATE shop.orders SET state = 'SHIPPED' WHERE id = 2; DELETE FROM shop.orders WHERE id = 1",
        "--warehouse",
        wh,
    ]));
    assert!(out.contains("count"), "{out}");
    let out = ok(&shoal(&["sql", "SELECT id, state FROM shop.orders ORDER BY id", "--warehouse", wh]));
    assert!(out.contains("SHIPPED") && out.contains("| 7 ") && !out.contains("| 1  "), "{out}");
    let out = ok(&shoal(&["sql", "SELECT count(*) AS n FROM shop.orders VERSION AS OF 1", "--warehouse", wh]));
    assert!(out.contains("| 3 "), "{out}");

    // An empty result shows its columns.
    let out = ok(&shoal(&["sql", "SELECT id, state FROM shop.orders WHERE id < 0", "--warehouse", wh]));
    assert!(out.contains("| id | state |") && out.trim_end().ends_with("0 rows"), "{out}");
    let out = ok(&shoal(&["read", "shop.orders", "--warehouse", wh, "--where", "id < 0"]));
    assert!(out.contains("| id | state | fee | dt |") && out.trim_end().ends_with("0 rows"), "{out}");

    // The interactive prompt reads statements up to ';' from stdin.
    let out = shoal_stdin(
        &["sql", "--warehouse", wh],
        "SELECT count(*) AS n\n  FROM shop.orders;\nSELECT 40 + 2 AS answer;\n",
    );
    let stdout = ok(&out);
    assert!(stdout.contains("| 2 ") && stdout.contains("42"), "{stdout}");

    let out = ok(&shoal(&["snapshots", "shop.orders", "--warehouse", wh]));
    assert!(out.lines().count() >= 6, "{out}");
    let out = ok(&shoal(&["schema", "shop.orders", "--warehouse", wh]));
    assert!(out.contains("\"primaryKeys\""), "{out}");
    let out = ok(&shoal(&["files", "shop.orders", "--warehouse", wh]));
    assert!(out.contains("dt=d1/bucket-"), "{out}");

    let svg = dir.path().join("lsm.svg");
    let out = ok(&shoal(&["inspect", "shop.orders", "--warehouse", wh, "--svg", svg.to_str().unwrap()]));
    assert!(out.contains("sorted runs") && out.contains("level 0") && out.contains("keys ["), "{out}");
    let picture = std::fs::read_to_string(&svg).unwrap();
    assert!(picture.starts_with("<svg") && picture.contains("<rect") && picture.trim_end().ends_with("</svg>"));

    let out = ok(&shoal(&["compact", "shop.orders", "--warehouse", wh, "--full"]));
    assert!(out.contains("compacted"), "{out}");
    let out = ok(&shoal(&["inspect", "shop.orders", "--warehouse", wh]));
    assert!(out.contains("0 overlapping file pairs") && !out.contains("level 0:"), "{out}");
    let out = ok(&shoal(&["sql", "CALL sys.compact(table => 'shop.orders')", "--warehouse", wh]));
    assert!(out.contains("true"), "{out}");

    let demo = dir.path().join("demo");
    let out = ok(&shoal(&["demo", "--warehouse", demo.to_str().unwrap()]));
    assert!(!out.is_empty());
}

#[test]
fn user_mistakes_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("db.db").join("t");
    let t = t.to_str().unwrap();

    let e = user_error(&shoal(&["create", t, "--schema", "id BIGINT NOT NULL, name STRANG"]));
    assert!(e.contains("name") && e.contains("STRANG"), "{e}");
    let e = user_error(&shoal(&["create", t, "--schema", "id"]));
    assert!(e.contains("needs a name and a type"), "{e}");
    ok(&shoal(&[
        "create",
        t,
        "--schema",
        "id BIGINT NOT NULL, n INT, s STRING",
        "--primary-key",
        "id",
        "--bucket",
        "2",
    ]));
    let e = user_error(&shoal(&["create", t, "--schema", "id BIGINT"]));
    assert!(e.contains("already exists"), "{e}");

    let e = user_error(&shoal(&["write", t, "/definitely/not/here.csv"]));
    assert!(e.contains("/definitely/not/here.csv"), "{e}");
    let bad = write_file(dir.path(), "bad.csv", "id,n,s\n1,2,x\n2,3,y\n3,three,z\n");
    let e = user_error(&shoal(&["write", t, &bad]));
    assert!(e.contains("bad.csv") && e.contains("three") && e.contains("\"n\"") && e.contains("line 4"), "{e}");
    let kinds = write_file(dir.path(), "k.csv", "id,n,s,op\n1,2,x,+I\n2,3,y,UPSERT\n");
    let e = user_error(&shoal(&["write", t, &kinds, "--row-kind-column", "op"]));
    assert!(e.contains("row 2") && e.contains("UPSERT"), "{e}");
    // The file's name and "invalid input" once each, not "invalid input: f.csv: invalid input: ...".
    let e = user_error(&shoal(&["write", t, &write_file(dir.path(), "extra.csv", "id,n,zz\n1,2,3\n")]));
    assert!(
        e.contains("\"zz\"") && e.matches("invalid input").count() == 1 && e.matches("extra.csv").count() == 1,
        "{e}"
    );
    let e = user_error(&shoal(&["write", t, &write_file(dir.path(), "x.txt", "id\n1\n")]));
    assert!(e.contains("--format"), "{e}");

    let e = user_error(&shoal(&["read", dir.path().join("nothing").to_str().unwrap()]));
    assert!(e.contains("no table"), "{e}");
    let e = user_error(&shoal(&["read", t, "--columns", "id,nope"]));
    assert!(e.contains("nope"), "{e}");
    let e = user_error(&shoal(&["read", t, "--where", "nope = 1"]));
    assert!(e.contains("nope"), "{e}");
    let e = user_error(&shoal(&["read", t, "--snapshot", "42"]));
    assert!(e.contains("42"), "{e}");
    let e = user_error(&shoal(&["read", "db.t", "--warehouse", dir.path().to_str().unwrap(), "--where", "id = = 1"]));
    assert!(e.contains("--where"), "{e}");

    let wh = dir.path().to_str().unwrap();
    let e = user_error(&shoal(&["sql", "SELEC 1", "--warehouse", wh]));
    assert!(e.contains("SELEC"), "{e}");
    let e = user_error(&shoal(&["sql", "SELECT * FROM db.missing", "--warehouse", wh]));
    assert!(e.contains("missing"), "{e}");
    let e = user_error(&shoal(&["sql", "UPDATE db.t SET id = 3", "--warehouse", wh]));
    assert!(e.contains("primary-key"), "{e}");
    let e = user_error(&shoal(&["sql", "CALL sys.rollback_to(table => 'db.t', snapshot => 1)", "--warehouse", wh]));
    assert!(e.contains("sys.rollback_to"), "{e}");
    let e = user_error(&shoal(&["inspect", t, "--snapshot", "7"]));
    assert!(e.contains('7'), "{e}");
    let e = user_error(&shoal(&["files", "db", "--warehouse", wh]));
    assert!(e.contains("db.table"), "{e}");
    // clap's own usage errors exit non-zero too.
    let out = shoal(&["read"]);
    assert!(!out.status.success());

    // The exit status tells the kind of failure (shoal::ErrorKind::exit_code).
    let code = |args: &[&str]| shoal(args).status.code();
    assert_eq!(code(&["create", t, "--schema", "id BIGINT NOT NULL, name STRANG"]), Some(2), "input");
    assert_eq!(code(&["write", t, &bad]), Some(2), "input");
    assert_eq!(code(&["read", dir.path().join("nothing").to_str().unwrap()]), Some(3), "not found");
    assert_eq!(code(&["read", t, "--snapshot", "42"]), Some(3), "not found");
    assert_eq!(code(&["create", t, "--schema", "id BIGINT"]), Some(4), "already exists");
}

/// Issue 19's user run: three `shoal write` processes (disjoint keys sharing the buckets,
/// default options, so each compacts in-writer) and a `shoal compact --full` loop on one table
/// at once. Every write succeeds and every row of the last round is read back.
#[test]
fn writers_beside_a_compact_loop_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    let wh = wh.to_str().unwrap().to_string();
    ok(&shoal(&[
        "create",
        "db.t",
        "--warehouse",
        &wh,
        "--schema",
        "id BIGINT NOT NULL, v STRING",
        "--primary-key",
        "id",
        "--bucket",
        "2",
    ]));
    let rounds = 8;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let compactor = {
        let (wh, done) = (wh.clone(), done.clone());
        std::thread::spawn(move || {
            let mut runs = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                ok(&shoal(&["compact", "db.t", "--full", "--warehouse", &wh]));
                runs += 1;
            }
            runs
        })
    };
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let (wh, path) = (wh.clone(), dir.path().to_path_buf());
            std::thread::spawn(move || {
                for r in 0..rounds {
                    let text: String = std::iter::once("id,v\n".to_string())
                        .chain((0..100).map(|i| format!("{},w{w}r{r}\n", i * 3 + w)))
                        .collect();
                    let csv = write_file(&path, &format!("w{w}-r{r}.csv"), &text);
                    let out = ok(&shoal(&["write", "db.t", &csv, "--warehouse", &wh]));
                    assert!(out.contains("wrote 100 rows, committed snapshot"), "{out}");
                }
            })
        })
        .collect();
    for w in writers {
        w.join().expect("a writer failed");
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let runs = compactor.join().expect("the compactor failed");
    let out = ok(&shoal(&["read", "db.t", "--warehouse", &wh, "--format", "csv"]));
    let mut got: Vec<&str> = out.lines().skip(1).collect();
    got.sort();
    let mut want: Vec<String> = (0..300).map(|id| format!("{id},w{}r{}", id % 3, rounds - 1)).collect();
    want.sort();
    assert_eq!(got, want, "after {runs} compactions");
}

/// `shoal inspect T | head`: when the reader of stdout goes away, the commands stop quietly with
/// status 0, as Unix tools do (no panic, no "Broken pipe" error).
#[test]
fn a_closed_stdout_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    let wh = wh.to_str().unwrap();
    ok(&shoal(&[
        "create",
        "db.t",
        "--warehouse",
        wh,
        "--schema",
        "id BIGINT NOT NULL, v STRING",
        "--primary-key",
        "id",
        "--bucket",
        "2",
    ]));
    let text: String = std::iter::once("id,v\n".to_string()).chain((0..3000).map(|i| format!("{i},v{i}\n"))).collect();
    let csv = write_file(dir.path(), "a.csv", &text);
    for _ in 0..3 {
        ok(&shoal(&["write", "db.t", &csv, "--warehouse", wh]));
    }
    let commands: &[&[&str]] = &[
        &["inspect", "db.t"],
        &["snapshots", "db.t"],
        &["files", "db.t"],
        &["schema", "db.t"],
        &["read", "db.t"],
        &["read", "db.t", "--format", "csv"],
        &["read", "db.t", "--format", "jsonl"],
        &["tail", "db.t", "--exit-when-caught-up"],
        &["tail", "db.t", "--exit-when-caught-up", "--format", "csv"],
        &["sql", "SELECT * FROM db.t"],
        // The one-line commands too (they change the table, so last).
        &["consumer", "list", "db.t"],
        &["create", "db.u", "--schema", "id BIGINT NOT NULL"],
        &["compact", "db.t"],
    ];
    for args in commands {
        // A pipe whose reader is gone before shoal writes anything.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = Command::new(env!("CARGO_BIN_EXE_shoal"))
            .args(*args)
            .args(["--warehouse", wh])
            .env_remove("SHOAL_WAREHOUSE")
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {:?}\n{stderr}", out.status);
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe") && !stderr.contains("error"),
            "{args:?}: {stderr}"
        );
    }
}

/// A Parquet or CSV input lacking a table column is refused with the missing and the extra
/// columns named; `--missing-columns=null` writes nulls in missing nullable columns.
#[test]
fn an_input_missing_a_column_is_named_or_written_as_nulls() {
    use std::sync::Arc;

    use arrow_array::{Int32Array, Int64Array, RecordBatch};
    use arrow_schema::{Field, Schema};

    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    let wh = wh.to_str().unwrap();
    ok(&shoal(&[
        "create",
        "db.t",
        "--warehouse",
        wh,
        "--schema",
        "id BIGINT NOT NULL, order_name STRING, fee INT",
        "--primary-key",
        "id",
        "--bucket",
        "1",
    ]));
    let csv = write_file(dir.path(), "a.csv", "id,ordername,fee\n1,x,5\n");
    let e = user_error(&shoal(&["write", "db.t", &csv, "--warehouse", wh]));
    assert!(
        e.contains("no column \"order_name\"") && e.contains("\"ordername\"") && e.contains("--missing-columns"),
        "{e}"
    );

    let parquet = |name: &str, fields: Vec<(&str, Arc<dyn arrow_array::Array>)>| {
        let schema = Arc::new(Schema::new(
            fields.iter().map(|(n, a)| Field::new(*n, a.data_type().clone(), true)).collect::<Vec<_>>(),
        ));
        let batch = RecordBatch::try_new(schema.clone(), fields.into_iter().map(|(_, a)| a).collect()).unwrap();
        let p = dir.path().join(name);
        let mut w = parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&p).unwrap(), schema, None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        p.to_str().unwrap().to_string()
    };
    let no_name = parquet(
        "no_name.parquet",
        vec![
            ("id", Arc::new(Int64Array::from(vec![1, 2]))),
            ("fee", Arc::new(Int32Array::from(vec![5, 6]))),
            ("extra", Arc::new(Int32Array::from(vec![0, 0]))),
        ],
    );
    let e = user_error(&shoal(&["write", "db.t", &no_name, "--warehouse", wh]));
    assert!(e.contains("no column \"order_name\"") && e.contains("\"extra\""), "{e}");
    let out = ok(&shoal(&["write", "db.t", &no_name, "--warehouse", wh, "--missing-columns", "null"]));
    assert!(out.contains("wrote 2 rows"), "{out}");
    let out = ok(&shoal(&["read", "db.t", "--warehouse", wh, "--format", "csv"]));
    assert_eq!(out, "id,order_name,fee\n1,,5\n2,,6\n");
    // A key column cannot be null.
    let no_id = parquet("no_id.parquet", vec![("fee", Arc::new(Int32Array::from(vec![5])))]);
    let e = user_error(&shoal(&["write", "db.t", &no_id, "--warehouse", wh, "--missing-columns", "null"]));
    assert!(e.contains("no column \"id\"") && e.contains("cannot be null"), "{e}");
}

/// `shoal` on a pseudo-terminal, as a person at a terminal runs it: what it writes is collected
/// by a thread (which answers the line editor's cursor-position query as a terminal would).
struct OnTerminal {
    master: std::fs::File,
    child: std::process::Child,
    screen: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

impl OnTerminal {
    fn spawn(args: &[&str], envs: &[(&str, &Path)]) -> OnTerminal {
        use std::io::{Read, Write};
        use std::os::fd::{FromRawFd, OwnedFd};
        use std::os::unix::process::CommandExt;
        let (mut master, mut slave) = (0, 0);
        let size = libc::winsize { ws_row: 40, ws_col: 200, ws_xpixel: 0, ws_ypixel: 0 };
        let rc = unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), &size) };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        let master = unsafe { std::fs::File::from_raw_fd(master) };
        let slave = unsafe { OwnedFd::from_raw_fd(slave) };
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_shoal"));
        cmd.args(args)
            .env_remove("SHOAL_WAREHOUSE")
            .env("TERM", "xterm")
            .stdin(slave.try_clone().unwrap())
            .stdout(slave.try_clone().unwrap())
            .stderr(slave);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        // Its own session, with the terminal as its controlling terminal.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                libc::ioctl(0, libc::TIOCSCTTY as _, 0);
                Ok(())
            });
        }
        let child = cmd.spawn().expect("run shoal");
        // The parent's copies of the terminal's end are closed with `cmd`.
        drop(cmd);
        let screen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (mut reader, mut answer) = (master.try_clone().unwrap(), master.try_clone().unwrap());
        let seen = screen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // Ends with EIO once the child has gone.
            while let Ok(n @ 1..) = reader.read(&mut buf) {
                if buf[..n].windows(4).any(|w| w == b"\x1b[6n") {
                    let _ = answer.write_all(b"\x1b[1;1R");
                }
                seen.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        OnTerminal { master, child, screen }
    }

    /// What the terminal has shown so far, escape sequences and all.
    fn shown(&self) -> String {
        String::from_utf8_lossy(&self.screen.lock().unwrap()).to_string()
    }

    /// Waits until `text` has been shown `count` times.
    fn wait_for(&self, text: &str, count: usize) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while self.shown().matches(text).count() < count {
            assert!(std::time::Instant::now() < deadline, "no {count}x {text:?} on the terminal:\n{:?}", self.shown());
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    fn keys(&mut self, keys: &str) {
        use std::io::Write;
        self.master.write_all(keys.as_bytes()).unwrap();
    }

    fn finish(mut self) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "{status:?}:\n{}", self.shown());
                break;
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("shoal did not leave:\n{:?}", self.shown());
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        self.shown()
    }
}

/// The `shoal sql` prompt on a terminal edits lines: Up recalls the last statement (also one of
/// an earlier session, from the history file), Ctrl-R searches the history, a statement goes on
/// over lines up to ';'; piped input is read as before.
#[test]
fn the_sql_prompt_has_line_editing_and_a_history_across_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    let history = dir.path().join("history");
    let envs = [("SHOAL_HISTORY", history.as_path())];
    let args = ["sql", "--warehouse", wh.to_str().unwrap()];

    let mut t = OnTerminal::spawn(&args, &envs);
    t.wait_for("shoal> ", 1);
    t.keys("SELECT 40 + 2\r");
    t.keys("  AS answer;\r");
    t.wait_for("| 42     |", 1);
    t.wait_for("shoal> ", 2);
    // Up arrow: the statement again, both lines.
    t.keys("\x1b[A\r");
    t.wait_for("| 42     |", 2);
    t.wait_for("shoal> ", 3);
    t.keys("quit\r");
    let shown = t.finish();
    assert!(!shown.contains("^[[A"), "{shown:?}");
    let kept = std::fs::read_to_string(&history).unwrap();
    assert!(kept.contains("SELECT 40 + 2") && kept.contains("AS answer;"), "{kept}");

    // A second session finds the first one's statement with Ctrl-R (reverse search).
    let mut t = OnTerminal::spawn(&args, &envs);
    t.wait_for("shoal> ", 1);
    t.keys("SELECT 7 AS seven;\r");
    t.wait_for("| 7     |", 1);
    t.wait_for("shoal> ", 2);
    t.keys("\x1240 +");
    t.wait_for("reverse-i-search", 1);
    t.keys("\r");
    t.wait_for("| 42     |", 1);
    t.wait_for("shoal> ", 3);
    // Ctrl-D leaves.
    t.keys("\x04");
    t.finish();
    let kept = std::fs::read_to_string(&history).unwrap();
    assert!(kept.contains("SELECT 7 AS seven;"), "{kept}");

    // Piped input still works as before: no prompt, one statement over lines, and a history
    // is neither read nor written.
    std::fs::remove_file(&history).unwrap();
    let out = shoal_stdin(&["sql", "--warehouse", wh.to_str().unwrap()], "SELECT 1\n  AS one;\nSELECT 'x' AS s;\n");
    let stdout = ok(&out);
    assert!(stdout.contains("| one |") && stdout.contains("| x |"), "{stdout}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("shoal>"));
    assert!(!history.exists());
}

/// `shoal inspect --svg` draws key ranges to scale: files covering the same keys get the same
/// bar, and on a numeric key a file covering [0, 50] is half as wide as one covering [0, 100].
#[test]
fn the_lsm_picture_has_a_true_key_axis() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    let wh = wh.to_str().unwrap();
    ok(&shoal(
        &["create", "db.t", "--warehouse", wh, "--schema", "id BIGINT NOT NULL, v STRING"]
            .into_iter()
            .chain(["--primary-key", "id", "--bucket", "1"])
            .collect::<Vec<_>>(),
    ));
    for top in [50, 100, 100] {
        let text: String =
            std::iter::once("id,v\n".to_string()).chain((0..=top).map(|i| format!("{i},v{i}\n"))).collect();
        let csv = write_file(dir.path(), "a.csv", &text);
        ok(&shoal(&["write", "db.t", &csv, "--warehouse", wh]));
    }
    let svg = dir.path().join("t.svg");
    ok(&shoal(&["inspect", "db.t", "--warehouse", wh, "--svg", svg.to_str().unwrap()]));
    let svg = std::fs::read_to_string(&svg).unwrap();
    let attr = |line: &str, name: &str| -> f64 {
        let at = line.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
        line[at..].split('"').next().unwrap().parse().unwrap()
    };
    // (x, width) of each file's bar by its key range.
    let bars: Vec<(String, f64, f64)> = svg
        .lines()
        .filter(|l| l.starts_with("<rect") && l.contains("<title>"))
        .map(|l| {
            assert!(l.contains("(level 0)") && l.contains(" rows, "), "{l}");
            let keys = l[l.find("keys [").unwrap()..].split(']').next().unwrap().to_string();
            (keys, attr(l, "x"), attr(l, "width"))
        })
        .collect();
    assert_eq!(bars.len(), 3, "{svg}");
    let whole: Vec<_> = bars.iter().filter(|b| b.0 == "keys [0 .. 100").collect();
    let half: Vec<_> = bars.iter().filter(|b| b.0 == "keys [0 .. 50").collect();
    assert_eq!((whole.len(), half.len()), (2, 1), "{bars:?}");
    assert_eq!((whole[0].1, whole[0].2), (whole[1].1, whole[1].2), "{bars:?}");
    assert_eq!(half[0].1, whole[0].1, "{bars:?}");
    assert!((half[0].2 * 2.0 - whole[0].2).abs() < 0.5, "{bars:?}");
    // Labelled ticks along the axis.
    for tick in [">0<", ">20<", ">100<"] {
        assert!(svg.contains(tick), "no tick {tick}:\n{svg}");
    }
}
