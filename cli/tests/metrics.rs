//! `ethp2p node --metrics`: the node serves Prometheus text, and the peer gauge counts a peer
//! that connected.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use ethp2p::{Protocol, Server, ServerHandle};
use ethp2p_testkit::server::dialer_config;

#[path = "support/node_process.rs"]
mod node_process;

use node_process::NodeProcess;

/// Kills the node if the test has not finished by then, so a broken node fails the test
/// instead of hanging it.
const WATCHDOG: Duration = Duration::from_secs(60);

fn scrape(addr: SocketAddr) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect to the metrics server");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_string()
}

/// The value of the sample named exactly `series` (name with labels).
fn sample(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

/// The value of a sample of `name` whose labels include all of `labels` (in any order).
fn labelled(body: &str, name: &str, labels: &[&str]) -> Option<f64> {
    body.lines().find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let inner = series
            .strip_prefix(name)?
            .strip_prefix('{')?
            .strip_suffix('}')?;
        let present: Vec<&str> = inner.split(',').collect();
        labels
            .iter()
            .all(|label| present.contains(label))
            .then(|| value.parse().ok())?
    })
}

/// An `ethp2p node --metrics`, killed on drop.
struct MetricsNode {
    process: NodeProcess,
    metrics_addr: SocketAddr,
    enode: String,
}

const METRICS_ARGS: [&str; 5] = ["--caps", "echo/1", "--metrics", "--metrics.port", "0"];

impl MetricsNode {
    fn start() -> Self {
        Self::serving(NodeProcess::start(METRICS_ARGS, WATCHDOG))
    }

    /// A node with discovery on: discv4 and discv5 share its UDP port, which is its TCP port.
    fn start_discovering() -> Self {
        Self::serving(NodeProcess::start_discovering(METRICS_ARGS, WATCHDOG))
    }

    fn serving(mut process: NodeProcess) -> Self {
        let url = process.stderr_line("metrics: http://");
        let metrics_addr = url
            .strip_suffix("/metrics")
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("not a metrics address: {url}"));
        MetricsNode {
            enode: process.enode.clone(),
            process,
            metrics_addr,
        }
    }

    /// Waits for the node's next output line starting with `prefix`.
    fn wait_line(&mut self, prefix: &str) {
        self.process.wait_line(prefix);
    }
}

/// A dial-only peer sharing `echo/1` with the node: sends one 4-byte message, then listens.
fn echo_peer(runtime: &tokio::runtime::Runtime, enode: &str) -> ServerHandle {
    let key = ethp2p::rlpx::random_secret_key(&mut rand::make_rng::<rand::rngs::StdRng>());
    let echo = Protocol::new("echo", 1, 1, |mut peer| async move {
        peer.send(0, b"ping").await?;
        while peer.recv().await.is_some() {}
        Ok(())
    });
    let config = dialer_config(key, vec![echo]);
    let peer = runtime.block_on(Server::start(config)).unwrap();
    peer.add_peer(enode.parse().unwrap());
    peer
}

const INBOUND_PEERS: &str = "ethp2p_peers{direction=\"inbound\"}";

#[test]
fn metrics_endpoint_reports_a_connected_peer() {
    let mut node = MetricsNode::start();
    let before = scrape(node.metrics_addr);
    assert_eq!(sample(&before, INBOUND_PEERS), Some(0.0), "{before}");

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let peer = echo_peer(&runtime, &node.enode);
    // The node prints the event after recording it, so the gauge is set once this line shows.
    node.wait_line("peer added");
    let after = scrape(node.metrics_addr);
    assert_eq!(sample(&after, INBOUND_PEERS), Some(1.0), "{after}");
    assert_eq!(sample(&after, "ethp2p_accepts_total"), Some(1.0), "{after}");
    assert_eq!(
        sample(&after, "ethp2p_handshakes_total{direction=\"inbound\"}"),
        Some(1.0),
        "{after}"
    );

    // Our message may still be on its way (the peer's protocol task sends it once the session
    // is up): wait until the node has counted it, then end the session. The node has no event
    // line per message, so the endpoint is read again until it shows (bounded).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let counted = "ethp2p_messages_in_total{protocol=\"echo\"}";
    while sample(&scrape(node.metrics_addr), counted) != Some(1.0) {
        assert!(
            std::time::Instant::now() < deadline,
            "the node never counted our message"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // Our shutdown sends "client quitting"; the node records it before it prints the removal.
    runtime.block_on(peer.shutdown());
    node.wait_line("peer removed");
    let end = scrape(node.metrics_addr);
    assert_eq!(sample(&end, INBOUND_PEERS), Some(0.0), "{end}");
    let received = ["reason=\"client quitting\"", "side=\"received\""];
    assert_eq!(
        labelled(&end, "ethp2p_disconnects_total", &received),
        Some(1.0),
        "{end}"
    );
    assert_eq!(
        sample(&end, "ethp2p_messages_in_total{protocol=\"echo\"}"),
        Some(1.0),
        "{end}"
    );
    assert_eq!(
        sample(&end, "ethp2p_bytes_in_total{protocol=\"echo\"}"),
        Some(4.0),
        "{end}"
    );
}

/// With discovery on, the discovery metrics count what arrives on the shared UDP port: a
/// discv4 PING by kind, and a datagram that is neither protocol's, which discv4 hands on and
/// discv5 drops as malformed. Both routing-table gauges are exported.
#[test]
fn discovery_metrics_count_v4_pings_and_v5_drops() {
    let mut node = MetricsNode::start_discovering();
    node.process.drain_stdout();
    let ping = Command::new(env!("CARGO_BIN_EXE_ethp2p"))
        .args(["discv4", "ping", "--timeout", "20", &node.enode])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(ping.success(), "discv4 ping got no PONG");
    // The node counts the PING as it decodes it, before its PONG leaves.
    let body = scrape(node.metrics_addr);
    let pings = labelled(
        &body,
        "ethp2p_discovery_packets_in_total",
        &["kind=\"ping\""],
    );
    assert!(pings >= Some(1.0), "{body}");
    for gauge in ["ethp2p_discovery_table_nodes", "ethp2p_discv5_table_nodes"] {
        assert!(sample(&body, gauge).is_some(), "no {gauge}:\n{body}");
    }

    // Loopback may drop a datagram on a busy machine: send again until it has been counted.
    let udp: SocketAddr = node.enode.rsplit_once('@').unwrap().1.parse().unwrap();
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let garbage = [0x5a; 200];
    let malformed = ["reason=\"malformed\""];
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let body = loop {
        socket.send_to(&garbage, udp).unwrap();
        let body = scrape(node.metrics_addr);
        if labelled(&body, "ethp2p_discv5_dropped_total", &malformed).is_some() {
            break body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never counted:\n{body}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    // discv5 saw the garbage only because discv4 handed it on, and counted that first.
    let passed_on = sample(&body, "ethp2p_discovery_passed_on_total");
    assert!(passed_on >= Some(1.0), "{body}");
}

/// How long Prometheus gets to scrape the node (every 200 ms) and report the peer.
const PROMETHEUS_DEADLINE: Duration = Duration::from_secs(30);

/// Debian's `prometheus` (installed by scripts/test.sh) scrapes the node; its query API then
/// reports the peer count the node has. Skipped where Prometheus is not installed, except
/// under CI.
#[test]
fn prometheus_scrapes_the_peer_count() {
    let Some(prometheus) = ["/usr/bin/prometheus", "/usr/local/bin/prometheus"]
        .into_iter()
        .find(|path| std::path::Path::new(path).exists())
    else {
        let missing = Err("prometheus is not installed (scripts/test.sh installs it)".to_string());
        ethp2p_testkit::runnable("prometheus_scrapes_the_peer_count", missing);
        return;
    };
    let mut node = MetricsNode::start();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _peer = echo_peer(&runtime, &node.enode);
    node.wait_line("peer added");

    let dir = std::env::temp_dir().join(format!("ethp2p-prometheus-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 200ms\n  scrape_timeout: 200ms\nscrape_configs:\n  - job_name: ethp2p\n    static_configs:\n      - targets: ['{}']\n",
            node.metrics_addr
        ),
    )
    .unwrap();
    // Prometheus cannot report a port it picked itself: take a free one and hand it over.
    let web = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut server = Command::new(prometheus)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address={web}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    node_process::kill_after(server.id(), WATCHDOG);

    let query = "/api/v1/query?query=ethp2p_peers%7Bdirection%3D%22inbound%22%7D";
    let started = std::time::Instant::now();
    let mut last = String::new();
    let reported = loop {
        if let Ok(mut stream) = TcpStream::connect(web) {
            let request =
                format!("GET {query} HTTP/1.1\r\nHost: {web}\r\nConnection: close\r\n\r\n");
            let mut response = String::new();
            if stream.write_all(request.as_bytes()).is_ok()
                && stream.read_to_string(&mut response).is_ok()
            {
                last = response;
                // One series whose value is "1": `"value":[<time>,"1"]`.
                if last.contains("\"status\":\"success\"") && last.contains(",\"1\"]") {
                    break true;
                }
            }
        }
        if started.elapsed() > PROMETHEUS_DEADLINE {
            break false;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(reported, "Prometheus never reported 1 inbound peer: {last}");
}
