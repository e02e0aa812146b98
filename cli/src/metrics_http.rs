//! `--metrics`: installs the Prometheus recorder for the library's metrics (`ethp2p::metrics`,
//! `ethp2p_discovery::metrics`, `ethp2p_nat::metrics`) and serves them as Prometheus text at
//! `http://ADDR:PORT/metrics` (go-ethereum's flags and defaults: 127.0.0.1:6060).
//!
//! The HTTP side is one request per connection, a bounded read of the request head and a fixed
//! reply: enough for Prometheus and curl, and it binds port 0 (reporting the real port), which
//! the exporter's own listener cannot report.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The metrics options of `ethp2p node`.
#[derive(clap::Args)]
pub struct MetricsArgs {
    /// Serve metrics in Prometheus text format over HTTP.
    #[arg(long)]
    metrics: bool,
    /// Address the metrics server listens on.
    #[arg(long = "metrics.addr", default_value = "127.0.0.1")]
    metrics_addr: IpAddr,
    /// Port of the metrics server; 0 picks a free one (printed at start).
    #[arg(long = "metrics.port", default_value_t = 6060)]
    metrics_port: u16,
}

/// The request head we read at most; a scrape's is a few hundred bytes.
const MAX_REQUEST: usize = 8 * 1024;
/// A client that has not sent its request head by then is dropped.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

impl MetricsArgs {
    /// Installs the recorder and starts serving, when `--metrics` is given; returns the address
    /// served. Must run before the server starts, so its metrics register with the recorder.
    pub async fn start(&self) -> Result<Option<SocketAddr>, String> {
        if !self.metrics {
            return Ok(None);
        }
        let handle = PrometheusBuilder::new()
            .install_recorder()
            .map_err(|e| format!("metrics recorder: {e}"))?;
        let addr = SocketAddr::new(self.metrics_addr, self.metrics_port);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot listen for metrics on {addr}: {e}"))?;
        let local = listener.local_addr().map_err(|e| e.to_string())?;
        tokio::spawn(serve(listener, handle));
        Ok(Some(local))
    }
}

async fn serve(listener: TcpListener, handle: PrometheusHandle) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let handle = handle.clone();
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(REQUEST_TIMEOUT, answer(stream, &handle)).await;
                });
            }
            Err(error) => {
                tracing::warn!(%error, "metrics accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Reads one request head and answers it: the metrics for `GET /metrics` (and `/`), 404 for
/// other paths, 400 for anything unreadable.
async fn answer(mut stream: TcpStream, handle: &PrometheusHandle) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() >= MAX_REQUEST {
            return respond(&mut stream, "400 Bad Request", "request too large\n").await;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&chunk[..n]);
    }
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let (method, path) = (parts.next(), parts.next());
    match (method, path) {
        (Some(b"GET"), Some(b"/metrics" | b"/")) => {
            handle.run_upkeep();
            respond(&mut stream, "200 OK", &handle.render()).await
        }
        (Some(b"GET"), Some(_)) => respond(&mut stream, "404 Not Found", "not found\n").await,
        _ => respond(&mut stream, "400 Bad Request", "bad request\n").await,
    }
}

async fn respond(stream: &mut TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}
