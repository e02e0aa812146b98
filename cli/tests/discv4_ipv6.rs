//! The tools against IPv6 targets: `ethp2p discv4 ping|resolve` against a node on `[::1]` (the
//! tool binds an IPv6 socket when its targets are IPv6; it used to bind IPv4 only and report
//! "no PONG"), and `ethp2p rlpx ping` against a dual-stack node over 127.0.0.1 and ::1. The
//! discv5 tools against `[::1]` are in `discv5_cli.rs`.

use std::net::{Ipv6Addr, SocketAddr};
use std::process::Command;

use ethp2p::rlpx::random_secret_key;
use ethp2p::server::DiscoveryConfig;
use ethp2p::{Protocol, Server, ServerConfig};
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rlpx_ping_reaches_a_dual_stack_node_over_both_families() {
    let mut config = ServerConfig::new(random_secret_key(&mut StdRng::seed_from_u64(7)));
    config.listen_addr = Some("[::]:0".parse().unwrap());
    config.protocols = vec![Protocol::new("demo", 1, 1, |mut peer| async move {
        while peer.recv().await.is_some() {}
        Ok(())
    })];
    let node = Server::start(config).await.unwrap();
    let over_v4 = node.local_enode();
    let mut over_v6 = over_v4;
    over_v6.ip = Ipv6Addr::LOCALHOST.into();
    for enode in [over_v4.to_string(), over_v6.to_string()] {
        let output = tokio::task::spawn_blocking({
            let enode = enode.clone();
            move || ethp2p(&["rlpx", "ping", "--caps", "demo/1", &enode])
        })
        .await
        .unwrap();
        assert!(output.contains("ping round trip"), "{enode}: {output}");
    }
    node.shutdown().await;
}
