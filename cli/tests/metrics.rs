//! `ethp2p node --metrics`: the node serves Prometheus text, and the peer gauge counts a peer
//! that connected.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use ethp2p::{Protocol, Server, ServerConfig};

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

#[test]
fn metrics_endpoint_reports_a_connected_peer() {
    let mut node = Command::new(env!("CARGO_BIN_EXE_ethp2p"))
        .args([
            "node",
            "--addr",
            "127.0.0.1:0",
            "--nodiscover",
            "--nat",
            "none",
        ])
        .args(["--caps", "echo/1", "--metrics", "--metrics.port", "0"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ethp2p node");
    let pid = node.id() as libc::pid_t;
    std::thread::spawn(move || {
        std::thread::sleep(WATCHDOG);
        // SAFETY: signals the child this test started; at worst it has already exited.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    });
    let mut stdout = BufReader::new(node.stdout.take().unwrap()).lines();
    let mut stderr = BufReader::new(node.stderr.take().unwrap()).lines();
    let metrics_addr: SocketAddr = stderr
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| {
            let url = line.strip_prefix("metrics: http://")?;
            url.strip_suffix("/metrics")?.parse().ok()
        })
        .expect("the node prints its metrics address");
    let enode = stdout.next().expect("the node prints its enode").unwrap();

    let before = scrape(metrics_addr);
    assert_eq!(
        sample(&before, "ethp2p_peers{direction=\"inbound\"}"),
        Some(0.0),
        "{before}"
    );

    // A peer that shares `echo/1` with the node dials it.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let key = ethp2p::rlpx::random_secret_key(&mut rand::make_rng::<rand::rngs::StdRng>());
    let mut config = ServerConfig::new(key);
    config.listen_addr = None;
    config.protocols = vec![Protocol::new("echo", 1, 1, |mut peer| async move {
        peer.send(0, b"ping").await?;
        while peer.recv().await.is_some() {}
        Ok(())
    })];
    let peer = runtime.block_on(Server::start(config)).unwrap();
    peer.add_peer(enode.parse().unwrap());

    // The node prints the event after recording it, so the gauge is set once this line shows.
    stdout
        .by_ref()
        .map_while(Result::ok)
        .find(|line| line.starts_with("peer added"))
        .expect("the node reports the peer");
    let after = scrape(metrics_addr);
    assert_eq!(
        sample(&after, "ethp2p_peers{direction=\"inbound\"}"),
        Some(1.0),
        "{after}"
    );
    assert_eq!(sample(&after, "ethp2p_accepts_total"), Some(1.0), "{after}");
    assert_eq!(
        sample(&after, "ethp2p_handshakes_total{direction=\"inbound\"}"),
        Some(1.0),
        "{after}"
    );

    // Our shutdown sends "client quitting"; the node reads our message before it, and records
    // both before it prints the removal.
    runtime.block_on(peer.shutdown());
    stdout
        .by_ref()
        .map_while(Result::ok)
        .find(|line| line.starts_with("peer removed"))
        .expect("the node reports the peer gone");
    let end = scrape(metrics_addr);
    assert_eq!(
        sample(&end, "ethp2p_peers{direction=\"inbound\"}"),
        Some(0.0),
        "{end}"
    );
    assert_eq!(
        labelled(
            &end,
            "ethp2p_disconnects_total",
            &["reason=\"client quitting\"", "side=\"received\""]
        ),
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
    node.kill().unwrap();
    node.wait().unwrap();
}
