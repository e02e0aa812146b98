//! The `eth_status` example's protocol (`examples/eth_status/eth.rs`) against a real go-ethereum
//! node: `geth` v1.17.10 (built by `scripts/install-geth-tools.sh`), initialised with a private
//! proof-of-stake genesis and started on 127.0.0.1 with discovery off (no consensus client is
//! needed to peer). Our node dials it, answers its Status with its own chain, and must still be
//! an eth peer of geth's 30 s later, in geth's own `admin.peers`.

#[path = "../examples/eth_status/eth.rs"]
mod eth;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ethp2p::rlpx::random_secret_key;
use ethp2p::{PeerEvent, Server};
use ethp2p_discovery::Enode;
use ethp2p_testkit::server::dialer_config;
use tokio::sync::mpsc;

const NETWORK_ID: u64 = 4242;
/// How long geth must keep us (issue 10).
const HOLD: Duration = Duration::from_secs(30);
/// Bounds each wait for something to happen.
const WAIT: Duration = Duration::from_secs(60);

/// A chain with every fork through Prague active from genesis: geth runs it as a post-merge
/// network and peers without a beacon client.
const GENESIS: &str = r#"{
  "config": {
    "chainId": 4242,
    "homesteadBlock": 0, "eip150Block": 0, "eip155Block": 0, "eip158Block": 0,
    "byzantiumBlock": 0, "constantinopleBlock": 0, "petersburgBlock": 0, "istanbulBlock": 0,
    "berlinBlock": 0, "londonBlock": 0, "mergeNetsplitBlock": 0,
    "terminalTotalDifficulty": 0, "shanghaiTime": 0, "cancunTime": 0, "pragueTime": 0,
    "blobSchedule": {
      "cancun": { "target": 3, "max": 6, "baseFeeUpdateFraction": 3338477 },
      "prague": { "target": 6, "max": 9, "baseFeeUpdateFraction": 5007716 }
    }
  },
  "difficulty": "0x0",
  "gasLimit": "0x1c9c380",
  "baseFeePerGas": "0x3b9aca00",
  "timestamp": "0x0",
  "extraData": "0x",
  "alloc": {}
}"#;

/// geth on 127.0.0.1 with a data directory of its own; killed (and the directory removed) on drop.
struct Geth {
    child: Child,
    binary: PathBuf,
    dir: PathBuf,
    enode: Enode,
}

impl Geth {
    fn start(binary: PathBuf) -> Geth {
        let dir = std::env::temp_dir().join(format!(
            "ethp2p-geth-eth-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("genesis.json"), GENESIS).unwrap();
        let init = Command::new(&binary)
            .arg("--datadir")
            .arg(&dir)
            .args(["init"])
            .arg(dir.join("genesis.json"))
            .output()
            .unwrap();
        assert!(
            init.status.success(),
            "geth init: {}",
            String::from_utf8_lossy(&init.stderr)
        );
        let mut child = Command::new(&binary)
            .arg("--datadir")
            .arg(&dir)
            .args(["--networkid", &NETWORK_ID.to_string()])
            .args(["--port", "0", "--nodiscover", "--nat", "extip:127.0.0.1"])
            .args(["--authrpc.port", "0", "--verbosity", "3"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start geth");
        // Its log names its enode once P2P is up ("Started P2P networking self=enode://...").
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut log = Vec::new();
        let enode = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|line| {
                log.push(line.clone());
                let start = line.find("self=")? + "self=".len();
                // `self="enode://ID@IP:PORT?discport=0"`: discovery is off.
                let url = line[start..].trim_matches('"').split(['"', '?']).next()?;
                Some(
                    url.parse::<Enode>()
                        .unwrap_or_else(|e| panic!("{line}: {e}")),
                )
            })
            .unwrap_or_else(|| panic!("geth did not start P2P:\n{}", log.join("\n")));
        // Keep draining its log so it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Geth {
            child,
            binary,
            dir,
            enode,
        }
    }

    /// Evaluates `js` in geth's console over its IPC socket.
    fn console(&self, js: &str) -> String {
        let output = Command::new(&self.binary)
            .args(["attach", "--exec", js])
            .arg(self.dir.join("geth.ipc"))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "geth attach: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// geth's eth peers, as `enode://... eth/VERSION` lines (the version negotiated).
    fn eth_peers(&self) -> String {
        self.console(
            "admin.peers.filter(p => p.protocols.eth).map(p => p.enode + ' eth/' + p.protocols.eth.version).join('\\n')",
        )
    }
}

impl Drop for Geth {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn geth_keeps_the_eth_status_example_as_a_peer() {
    let binary = ethp2p_testkit::geth_tool("geth");
    let geth = tokio::task::spawn_blocking(move || Geth::start(binary))
        .await
        .unwrap();
    let genesis_hash = geth.console("eth.getBlock(0).hash");

    let (statuses, mut learned) = mpsc::unbounded_channel();
    let config = dialer_config(
        random_secret_key(&mut rand::rng()),
        eth::protocols(statuses),
    );
    let node = Server::start(config).await.unwrap();
    let mut events = node.events();
    node.add_peer(geth.enode);

    let eth::EthEvent::Status(from, status) = tokio::time::timeout(WAIT, learned.recv())
        .await
        .expect("geth's Status in time")
        .expect("protocol running");
    assert_eq!(from, geth.enode.id);
    assert_eq!(status.network_id, NETWORK_ID);
    assert_eq!(
        status.version,
        eth::VERSIONS[0].0,
        "the newest shared eth version"
    );
    assert_eq!(
        format!("\"0x{}\"", hex::encode(status.genesis)),
        genesis_hash.trim()
    );

    // Held for 30 s: no session end on our side meanwhile, and geth lists us as an eth peer
    // at the end.
    let our_id = node.local_enode().id.to_string();
    let held = tokio::time::timeout(HOLD, async {
        loop {
            match events.recv().await {
                Ok(PeerEvent::Removed { end, .. }) => panic!("geth dropped us: {end:?}"),
                Ok(_) => {}
                Err(error) => panic!("events: {error}"),
            }
        }
    })
    .await;
    assert!(held.is_err(), "the hold ends by its timer");
    let peers = tokio::task::spawn_blocking(move || {
        let peers = geth.eth_peers();
        drop(geth);
        peers
    })
    .await
    .unwrap();
    assert!(
        peers
            .lines()
            .any(|line| line.contains(&our_id) && line.trim_matches('"').ends_with(" eth/72")),
        "geth's eth peers after {HOLD:?}: {peers}"
    );
    node.shutdown().await;
}
