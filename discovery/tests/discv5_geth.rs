//! go-ethereum's discv5 conformance suite (`devp2p discv5 test`, the release pinned in
//! tests/interop/geth/go.mod) against our node on 127.0.0.1, with the tester on 127.0.0.1 and
//! 127.0.0.2: all 7 checks must pass. `scripts/install-geth-tools.sh` (run by
//! `scripts/test.sh`) builds the tool into `.tools/bin`.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ethp2p_discovery::Enr;
use ethp2p_discovery::v5::{Discv5, Discv5Handle, ServiceConfig};
use secp256k1::SecretKey;
use tokio::net::UdpSocket;

fn devp2p() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.tools/bin/devp2p");
    assert!(
        path.exists(),
        "go-ethereum tools are not built: run `bash scripts/install-geth-tools.sh` ({} missing)",
        path.display()
    );
    path
}

#[tokio::test]
async fn geth_discv5_conformance_suite_passes() {
    let tool = devp2p();
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let port = socket.local_addr().unwrap().port();
    let key = SecretKey::from_secret_bytes([0x55; 32]).unwrap();
    let enr = Enr::builder()
        .ip4(Ipv4Addr::LOCALHOST)
        .udp4(port)
        .build(&key)
        .unwrap();
    let discv5 = Discv5::new(
        key,
        enr.clone(),
        ServiceConfig::default(),
        Instant::now(),
        5,
    )
    .unwrap();
    let node = Discv5Handle::spawn(socket, discv5).unwrap();
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
    assert!(report.contains("7/7 tests passed"), "{report}");
    node.shutdown().await;
}
