//! `shoal ui`: serve a read-only web page over a warehouse.

use std::net::IpAddr;
use std::sync::Arc;

use crate::cli::ui::{api::Api, server};
use shoal::error::{Error, Result};

/// Serve a local, read-only web page over a warehouse: its databases and tables, and per table
/// the schema and options, a snapshot timeline, the LSM shape of each bucket, tags, branches,
/// consumers and how far they lag, and the files per partition and bucket. The page follows a
/// table being written (it polls the latest snapshot id every 2 s).
///
/// Everything is served by this process (no external scripts or fonts); only GET requests are
/// answered, and only with a Host header that is an IP address or localhost.
#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  shoal ui --warehouse /tmp/wh --port 8080\n  (then open http://127.0.0.1:8080/)")]
pub struct Args {
    /// Warehouse root holding <db>.db/<table> directories
    #[arg(long, env = "SHOAL_WAREHOUSE")]
    warehouse: String,
    /// Port to listen on (0: any free port; the address is printed)
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Address to listen on; the default serves this machine only
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Print each request (method, path, status) to stderr
    #[arg(long)]
    access_log: bool,
}

pub async fn exec(args: Args) -> Result<()> {
    let listener = tokio::net::TcpListener::bind((args.bind, args.port))
        .await
        .map_err(Error::local_io(format!("cannot listen on {}:{}", args.bind, args.port)))?;
    let addr = listener.local_addr().map_err(Error::local_io("listening socket"))?;
    let api = Arc::new(Api::new(&args.warehouse));
    println!("shoal ui: serving {} at {} (Ctrl-C to stop)", api.warehouse(), server::url_of(addr));
    server::serve(listener, api, args.access_log).await
}
