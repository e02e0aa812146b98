//! Interop with go-ethereum's discv5 (the release pinned in tests/interop/geth/go.mod), on
//! loopback only:
//! - its conformance suite (`devp2p discv5 test`) against our node, with the tester on
//!   127.0.0.1 and 127.0.0.2: all 10 checks must pass;
//! - both of its suites (`devp2p discv4 test`, 15 checks, then `devp2p discv5 test`) against
//!   one node running discv4 and discv5 on one UDP port;
//! - `devp2p discv5 listen` (a go-ethereum node) and our node, both ways: it bootstraps from
//!   us and pings us; we ping it, ask its record and TALKREQ it, and a lookup of ours finds a
//!   third node that only go-ethereum's table holds.
//!
//! `scripts/install-geth-tools.sh` (run by `scripts/test.sh`) builds the tool into `.tools/bin`.

#[path = "support/discv5.rs"]
mod discv5;

use discv5::our_node;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use ethp2p_discovery::Enr;
use secp256k1::SecretKey;
use tokio::io::{AsyncBufReadExt, BufReader};

fn devp2p() -> PathBuf {
    ethp2p_testkit::geth_tool("devp2p")
}

#[tokio::test]
async fn geth_discv5_conformance_suite_passes() {
    let tool = devp2p();
    let (node, enr) = our_node(0x55, Vec::new()).await;
    let output = tokio::time::timeout(
        // FindnodeResults alone may take up to 60 s by its own rules.
        Duration::from_secs(180),
        tokio::process::Command::new(tool)
            .args([
                "discv5",
                "test",
                "--listen1",
                "127.0.0.1",
                "--listen2",
                "127.0.0.2",
                &enr.to_string(),
            ])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the suite finished in time")
    .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    println!("{report}");
    println!("{:?}", node.stats().await.unwrap());
    assert!(
        output.status.success(),
        "devp2p discv5 test failed:\n{report}"
    );
    assert!(report.contains("10/10 tests passed"), "{report}");
    node.shutdown().await;
}

#[tokio::test]
async fn geth_discv5_node_and_ours_interoperate_both_ways() {
    let tool = devp2p();
    let (ours, our_enr) = our_node(0x66, Vec::new()).await;
    // Bootnodes set to our node only, so it never reaches beyond loopback.
    let mut geth = tokio::process::Command::new(&tool)
        .args([
            "discv5",
            "listen",
            "--addr",
            "127.0.0.1:0",
            "--bootnodes",
            &our_enr.to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(geth.stdout.take().unwrap()).lines();
    let geth_enr: Enr = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let line = lines.next_line().await.unwrap().expect("devp2p exited");
            if let Ok(enr) = line.trim().parse() {
                return enr;
            }
        }
    })
    .await
    .expect("go-ethereum printed its record");

    // Us to go-ethereum.
    let pong = ours.ping(geth_enr.clone()).await.unwrap();
    assert_eq!(pong.to, ours.local_addr());
    let own = ours.find_node(geth_enr.clone(), vec![0]).await.unwrap();
    assert_eq!(own.len(), 1);
    assert_eq!(own[0].id(), geth_enr.id());
    let talk = ours
        .talk_request(geth_enr.clone(), b"unknown".to_vec(), b"x".to_vec())
        .await
        .unwrap();
    assert!(talk.is_empty());

    // go-ethereum to us.
    let status = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new(&tool)
            .args(["discv5", "ping", &our_enr.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .status(),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(status.success(), "devp2p discv5 ping of our node failed");

    // A third node of ours introduces itself to go-ethereum only. go-ethereum takes inbound
    // nodes into its table only once its own start-up refresh is done, and revalidates them on
    // its own schedule (seconds): so ask until it lists the node, within a deadline, and
    // introduce the node again from a fresh socket (a new session, whose handshake carries
    // the record again) every 2 s.
    let third_key = 0x77;
    let third_id = SecretKey::from_secret_bytes([third_key; 32])
        .map(|k| ethp2p_discovery::NodeId::from_public_key(&k.public_key()))
        .unwrap();
    let distance = geth_enr.id().log_distance(&third_id) as u16;
    let mut thirds = Vec::new();
    let listed = tokio::time::timeout(Duration::from_secs(60), async {
        let mut interval = tokio::time::interval(Duration::from_millis(500));
        loop {
            let (third, _) = our_node(third_key, Vec::new()).await;
            let _ = third.ping(geth_enr.clone()).await;
            thirds.push(third);
            for _ in 0..4 {
                interval.tick().await;
                let records = ours.find_node(geth_enr.clone(), vec![distance]).await;
                if let Some(record) = records
                    .unwrap_or_default()
                    .into_iter()
                    .find(|r| r.id() == third_id)
                {
                    return record;
                }
            }
        }
    })
    .await
    .expect("go-ethereum never listed the third node");
    let (lookup, _) = our_node(0x88, vec![geth_enr.clone()]).await;
    let found = lookup.lookup(third_id).await.unwrap();
    assert_eq!(found.first(), Some(&listed), "{found:?}");
    for handle in thirds.into_iter().chain([ours, lookup]) {
        handle.shutdown().await;
    }
    geth.kill().await.unwrap();
}

/// Runs one of go-ethereum's conformance suites and returns its report, asserting it passed.
async fn run_suite(tool: &std::path::Path, args: &[&str], passed: &str) -> String {
    let output = tokio::time::timeout(
        Duration::from_secs(180),
        tokio::process::Command::new(tool)
            .args(args)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the suite finished in time")
    .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    println!("{report}");
    assert!(output.status.success(), "{args:?} failed:\n{report}");
    assert!(report.contains(passed), "{report}");
    report
}

/// Both of go-ethereum's discovery suites against one node that runs discv4 and discv5 on one
/// UDP port (`spawn_shared`): the discv4 suite's malformed and foreign packets must not disturb
/// discv5, and every discv5 packet must get past discv4 to discv5.
#[tokio::test]
async fn geth_discv4_and_discv5_suites_pass_on_one_shared_port() {
    use ethp2p_discovery::v4::{self, Discv4, Endpoint};
    use ethp2p_discovery::v5::{Discv5, ServiceConfig};
    use ethp2p_discovery::{Enode, PeerId, spawn_shared};
    use std::net::Ipv4Addr;
    use std::time::Instant;

    let tool = devp2p();
    let socket = tokio::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .unwrap();
    let addr = socket.local_addr().unwrap();
    let key = SecretKey::from_secret_bytes([0x99; 32]).unwrap();
    let enr = Enr::builder()
        .ip4(Ipv4Addr::LOCALHOST)
        .udp4(addr.port())
        .build(&key)
        .unwrap();
    let now = Instant::now();
    let v4 = Discv4::new(
        key,
        enr.clone(),
        Endpoint::from(addr),
        v4::Config::default(),
        now,
        v4::unix_now(),
        1,
    );
    let v5 = Discv5::new(key, enr.clone(), ServiceConfig::default(), now, 2).unwrap();
    let (v4, v5) = spawn_shared(socket, v4, v5).unwrap();
    let enode = Enode::new(PeerId::from_secret_key(&key), addr).to_string();

    let listen = ["--listen1", "127.0.0.1", "--listen2", "127.0.0.2"];
    let v4_args = [&["discv4", "test", "--remote", &enode][..], &listen[..]].concat();
    run_suite(&tool, &v4_args, "15/15 tests passed").await;
    let enr_text = enr.to_string();
    let v5_args = [
        &["discv5", "test"][..],
        &listen[..],
        &[enr_text.as_str()][..],
    ]
    .concat();
    run_suite(&tool, &v5_args, "10/10 tests passed").await;

    let (stats4, stats5) = (v4.stats().await.unwrap(), v5.stats().await.unwrap());
    println!("discv4: {stats4:?}\ndiscv5: {stats5:?}");
    // Every datagram discv4 did not take went to discv5, and discv5 had something to read.
    assert_eq!(stats4.passed_on, stats5.received);
    assert!(stats5.handshakes > 0);
    v4.shutdown().await;
    v5.shutdown().await;
}
