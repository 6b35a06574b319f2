//! moto's S3 server (PyPI), started once per test binary on loopback, for the tests that run
//! against S3 (installed under ~/.cache/shoal/s3 by tools/s3/setup.sh, which the test command
//! runs). Without it the tests say so and pass, unless SHOAL_REQUIRE_S3=1 (set by tools/test).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub struct Server {
    child: Child,
    pub endpoint: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto() -> Option<PathBuf> {
    let home = std::env::var("SHOAL_S3_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/shoal/s3"));
    let bin = home.join("venv/bin/moto_server");
    if bin.exists() {
        return Some(bin);
    }
    if std::env::var("SHOAL_REQUIRE_S3").as_deref() == Ok("1") {
        panic!("moto's S3 server is not installed under {}; run tools/s3/setup.sh", home.display());
    }
    eprintln!("SKIPPED: no S3 server (run tools/s3/setup.sh, or tools/test)");
    None
}

/// The server's process id, killed when the test binary exits (statics are never dropped).
static SERVER_PID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

extern "C" fn stop_server() {
    let pid = SERVER_PID.load(std::sync::atomic::Ordering::SeqCst);
    if pid != 0 {
        let _ = Command::new("kill").arg(pid.to_string()).status();
    }
}

/// One server for the whole test binary (tests run as threads of one process).
pub fn server() -> Option<&'static Server> {
    static SERVER: OnceLock<Option<Server>> = OnceLock::new();
    SERVER
        .get_or_init(|| {
            let bin = moto()?;
            let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let child = Command::new(bin)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start moto_server");
            SERVER_PID.store(child.id(), std::sync::atomic::Ordering::SeqCst);
            extern "C" {
                fn atexit(f: extern "C" fn()) -> i32;
            }
            // SAFETY: registers a plain function with the C runtime's exit handlers.
            unsafe { atexit(stop_server) };
            let endpoint = format!("http://127.0.0.1:{port}");
            let start = Instant::now();
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(start.elapsed() < Duration::from_secs(30), "moto_server did not start");
                std::thread::sleep(Duration::from_millis(100));
            }
            // object_store's S3 client reads these (set once, before any client exists).
            std::env::set_var("AWS_ACCESS_KEY_ID", "test");
            std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
            std::env::set_var("AWS_REGION", "us-east-1");
            std::env::set_var("AWS_ENDPOINT_URL", &endpoint);
            Some(Server { child, endpoint })
        })
        .as_ref()
}

/// Creates a bucket (moto accepts an unsigned PUT).
pub fn create_bucket(server: &Server, bucket: &str) {
    let addr = server.endpoint.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "PUT /{bucket} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "creating bucket {bucket}: {response}");
}
