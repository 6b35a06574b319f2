//! The HTTP side of `shoal ui`: hyper's HTTP/1 server on a local socket, GET only, the page's
//! three files embedded in the binary and the JSON of [`Api`]. A request whose Host header
//! names anything but an IP address or `localhost` is refused with 403, so a web page cannot
//! reach the server through a domain it points at 127.0.0.1 (DNS rebinding).

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_TYPE, HOST};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use super::api::Api;
use shoal::error::{Error, ErrorKind, Result};

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const STYLE_CSS: &str = include_str!("assets/style.css");

/// Everything is served from the binary: no script, style, image or connection elsewhere.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

type Body = Full<Bytes>;

/// Serves until the process ends; with `access_log`, each request and its status goes to stderr.
pub async fn serve(listener: TcpListener, api: Arc<Api>, access_log: bool) -> Result<()> {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(c) => c,
            // A failed accept (too many open files, a reset) does not end the server.
            Err(e) => {
                eprintln!("shoal ui: accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let api = api.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let api = api.clone();
                async move {
                    let line = access_log.then(|| format!("{} {}", req.method(), req.uri()));
                    let response = handle(&api, req).await;
                    if let Some(line) = line {
                        eprintln!("{line} {}", response.status().as_u16());
                    }
                    Ok::<_, Infallible>(response)
                }
            });
            // A client going away mid-request is not worth a message.
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

/// Whether the Host header names this machine by address or as `localhost` (any port: the
/// listener's own port is the only one that reaches here).
pub fn host_allowed(host: Option<&HeaderValue>) -> bool {
    let Some(host) = host.and_then(|h| h.to_str().ok()) else { return false };
    let name = if let Some(rest) = host.strip_prefix('[') {
        // [::1]:8080
        match rest.split_once(']') {
            Some((ip, _)) => return ip.parse::<IpAddr>().is_ok(),
            None => return false,
        }
    } else {
        host.rsplit_once(':').map_or(host, |(name, _)| name)
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<IpAddr>().is_ok()
}

async fn handle<B>(api: &Api, req: Request<B>) -> Response<Body> {
    if !host_allowed(req.headers().get(HOST)) {
        return text(StatusCode::FORBIDDEN, "forbidden: the Host header must be an IP address or localhost\n");
    }
    if req.method() != Method::GET {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "shoal ui is read-only: only GET\n");
        r.headers_mut().insert(ALLOW, HeaderValue::from_static("GET"));
        return r;
    }
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes()).into_owned().collect();
    let table = query.iter().find(|(k, _)| k == "t").map(|(_, v)| v.as_str());
    match req.uri().path() {
        "/" | "/index.html" => asset(INDEX_HTML, "text/html; charset=utf-8"),
        "/app.js" => asset(APP_JS, "text/javascript; charset=utf-8"),
        "/style.css" => asset(STYLE_CSS, "text/css; charset=utf-8"),
        "/api/tables" => json_response(api.tables().await),
        "/api/table" => match table {
            Some(t) => json_response(api.table(t).await),
            None => json_response(Err(Error::InvalidInput("give the table as ?t=db.table".into()))),
        },
        "/api/latest" => match table {
            Some(t) => json_response(api.latest(t).await),
            None => json_response(Err(Error::InvalidInput("give the table as ?t=db.table".into()))),
        },
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

fn response(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Body> {
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("content-security-policy", HeaderValue::from_static(CSP));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    r
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    response(status, "text/plain; charset=utf-8", Bytes::from_static(body.as_bytes()))
}

fn asset(body: &'static str, content_type: &'static str) -> Response<Body> {
    response(StatusCode::OK, content_type, Bytes::from_static(body.as_bytes()))
}

fn json_response(r: Result<Value>) -> Response<Body> {
    let (status, value) = match r {
        Ok(v) => (StatusCode::OK, v),
        Err(e) => {
            let status = match e.kind() {
                ErrorKind::Input => StatusCode::BAD_REQUEST,
                ErrorKind::NotFound => StatusCode::NOT_FOUND,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            (status, json!({"error": e.to_string()}))
        }
    };
    response(status, "application/json", Bytes::from(value.to_string()))
}

/// The page's address (a server bound to every interface is reached on 127.0.0.1).
pub fn url_of(addr: SocketAddr) -> String {
    match addr.ip() {
        IpAddr::V4(ip) if !ip.is_unspecified() => format!("http://{ip}:{}/", addr.port()),
        IpAddr::V6(ip) if !ip.is_unspecified() => format!("http://[{ip}]:{}/", addr.port()),
        _ => format!("http://127.0.0.1:{}/", addr.port()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_addresses_and_localhost_are_allowed_hosts() {
        let ok = |h: &str| host_allowed(Some(&HeaderValue::from_str(h).unwrap()));
        for h in ["127.0.0.1:8080", "127.0.0.1", "localhost:1", "LOCALHOST", "[::1]:80", "10.0.0.5:9"] {
            assert!(ok(h), "{h}");
        }
        for h in ["evil.example", "evil.example:8080", "localhost.evil.example", "[evil]:1", "127.0.0.1.nip.io"] {
            assert!(!ok(h), "{h}");
        }
        assert!(!host_allowed(None));
    }
}
