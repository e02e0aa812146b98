//! `ethp2p discv4 ping|resolve` against a node on `[::1]`: the tool binds an IPv6 socket when its
//! targets are IPv6 (it used to bind IPv4 only and report "no PONG").

use std::net::{Ipv6Addr, SocketAddr};
use std::process::Command;

use ethp2p::rlpx::random_secret_key;
use ethp2p::server::DiscoveryConfig;
use ethp2p::{Server, ServerConfig};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn ethp2p(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_ethp2p"))
        .args(args)
        .output()
        .expect("run ethp2p");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "ethp2p {args:?} failed:\n{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discv4_tools_reach_a_node_on_ipv6_loopback() {
    let mut config = ServerConfig::new(random_secret_key(&mut StdRng::seed_from_u64(6)));
    config.listen_addr = Some(SocketAddr::from((Ipv6Addr::LOCALHOST, 0)));
    config.discovery = Some(DiscoveryConfig::default());
    let node = Server::start(config).await.unwrap();
    let enode = node.local_enode().to_string();
    assert!(enode.contains("@[::1]:"), "{enode}");

    let ping = tokio::task::spawn_blocking({
        let enode = enode.clone();
        move || ethp2p(&["discv4", "ping", &enode])
    })
    .await
    .unwrap();
    assert!(ping.starts_with("PONG from [::1]:"), "{ping}");
    let resolved = tokio::task::spawn_blocking(move || ethp2p(&["discv4", "resolve", &enode]))
        .await
        .unwrap();
    let record = node.local_enr().expect("a record").to_string();
    assert!(resolved.lines().any(|line| line == record), "{resolved}");
    node.shutdown().await;
}
