//! A real Postgres for the ingest tests: `initdb` into a temporary directory, started on
//! loopback on a free port with `wal_level = logical`, stopped (immediately) when dropped.
//! Postgres refuses to run as root: as root, the server runs as the `postgres` user (the
//! Debian package creates it; `tools/test` installs the package on a fresh machine).
//! `SHOAL_REQUIRE_POSTGRES=1` (set by tools/test) turns a missing Postgres into a failure
//! instead of a skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct PgServer {
    pub port: u16,
    opts: String,
    /// Settings given after `opts` (which they override): see [`PgServer::restart_with`].
    extra: String,
    dir: PathBuf,
    pub bin: PathBuf,
    as_postgres: bool,
}

/// The directory holding initdb/pg_ctl/postgres: `pg_config --bindir`, or the newest
/// /usr/lib/postgresql/<version>/bin.
fn bin_dir() -> Option<PathBuf> {
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if p.join("initdb").exists() {
            return Some(p);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, p): &(u32, PathBuf)| p.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop().map(|(_, p)| p)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

impl PgServer {
    /// Starts a server, or None when Postgres is not installed (and not required).
    pub fn start() -> Option<PgServer> {
        let Some(bin) = bin_dir() else {
            if std::env::var("SHOAL_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
                panic!("SHOAL_REQUIRE_POSTGRES=1 but no Postgres installation (initdb) was found");
            }
            eprintln!("skipping: Postgres is not installed (apt-get install postgresql)");
            return None;
        };
        let as_postgres = unsafe { libc::geteuid() } == 0;
        let dir = std::env::temp_dir().join(format!("shoal-pg-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).expect("pg dir");
        let server = PgServer { port: 0, opts: String::new(), extra: String::new(), dir, bin, as_postgres };
        if as_postgres {
            let out =
                Command::new("chown").arg("-R").arg("postgres:postgres").arg(&server.dir).output().expect("chown");
            assert!(out.status.success(), "chown: {out:?}");
        }
        let data = server.dir.join("data");
        server.run("initdb", &["-D", path(&data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
        let mut server = server;
        for _ in 0..5 {
            server.port = free_port();
            let opts = format!(
                "-c listen_addresses=127.0.0.1 -p {} -k {} -c wal_level=logical -c max_replication_slots=20 \
                 -c max_wal_senders=20 -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
                server.port,
                path(&server.dir)
            );
            server.opts = opts;
            if server.pg_start().status.success() {
                return Some(server);
            }
            let log = std::fs::read_to_string(server.dir.join("log")).unwrap_or_default();
            eprintln!("pg_ctl start failed (port {}): {log}", server.port);
        }
        panic!("could not start Postgres");
    }

    /// `pg_ctl start` with the log in a file: a server writing to an inherited pipe would keep
    /// `Command::output` waiting forever.
    fn pg_start(&self) -> Output {
        let data = self.dir.join("data");
        let log = self.dir.join("log");
        let opts = format!("{} {}", self.opts, self.extra);
        self.run_raw("pg_ctl", &["-D", path(&data), "-l", path(&log), "-o", &opts, "-w", "-t", "60", "start"])
    }

    fn run_raw(&self, tool: &str, args: &[&str]) -> Output {
        let exe = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.arg("-u").arg("postgres").arg("--").arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        cmd.args(args).current_dir(&self.dir).output().unwrap_or_else(|e| panic!("{tool}: {e}"))
    }

    fn run(&self, tool: &str, args: &[&str]) -> Output {
        let out = self.run_raw(tool, args);
        assert!(out.status.success(), "{tool} {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        out
    }

    pub fn conninfo(&self, db: &str) -> String {
        format!("host=127.0.0.1 port={} user=postgres dbname={db}", self.port)
    }

    /// Runs SQL with psql (stops on the first error); returns its unaligned output.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = self.try_psql(db, sql);
        match out {
            Ok(s) => s,
            Err(e) => panic!("psql failed: {e}\nSQL: {sql}"),
        }
    }

    pub fn try_psql(&self, db: &str, sql: &str) -> Result<String, String> {
        let out = Command::new(self.bin.join("psql"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "postgres", "-d", db])
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-F", "|", "-c", sql])
            .env("PGTZ", "UTC")
            .env("PGOPTIONS", "-c extra_float_digits=3 -c DateStyle=ISO -c bytea_output=hex")
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Restarts the server with `settings` (`-c name=value ...`) over the usual ones (empty:
    /// back to those).
    #[allow(dead_code)]
    pub fn restart_with(&mut self, settings: &str) {
        self.extra = settings.to_string();
        self.restart();
    }

    /// Stops and starts the server (a Postgres restart mid-stream).
    pub fn restart(&self) {
        let data = self.dir.join("data");
        self.run("pg_ctl", &["-D", path(&data), "-m", "fast", "-w", "-t", "60", "stop"]);
        let out = self.pg_start();
        assert!(out.status.success(), "restarting Postgres: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = self.run_raw("pg_ctl", &["-D", path(&data), "-m", "immediate", "-w", "stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}
