//! Interop with ChainSafe's discv5 (`@chainsafe/discv5` 11.0.0 from npm, the TypeScript
//! implementation Lodestar uses) on 127.0.0.1, both ways: it PINGs us and FINDNODEs us (our own
//! record at distance 0, a third node at its distance) and looks a node up through us, we PING
//! and FINDNODE it, TALKREQ goes both ways, and a lookup of ours finds a node only the ChainSafe
//! node knows.
//!
//! The peer program is `tests/interop/chainsafe/node.mjs` (commands on stdin, JSON lines on
//! stdout); `scripts/test.sh` installs its pinned npm packages with `npm ci`. Without Node or
//! the packages the tests are skipped with a message, except under CI (env `CI` set), where
//! that is a failure.
//!
//! ChainSafe behaviour to know about:
//! - It never answers a TALKREQ by itself: the application must call `sendTalkResp`. So a
//!   TALKREQ of a protocol it does not serve gets no TALKRESP at all, where the spec asks for
//!   an empty one (go-ethereum and we send it), see
//!   <https://github.com/ethereum/devp2p/blob/master/discv5/discv5-wire.md#talkreq-request-0x05>.
//!   Not a behaviour the spec allows, so no test depends on it: `node.mjs` serves protocol
//!   `echo`, which is what our TALKREQ asks.
//! - It keeps a session only when the peer's record names the socket the packets come from
//!   (or no socket at all), so every record here names its exact 127.0.0.1 port (ours do;
//!   `node.mjs` writes its bound port into its record after binding port 0).
//! - Its secp256k1 and AES are JavaScript and its request timeout is 1 s with one retry: on a
//!   loaded machine a first answer can take a while, so every wait here is generous, and a
//!   node entering its table is awaited as an event (`enr_added`), not expected at once.

#[path = "../../tests/child/mod.rs"]
mod child;
#[path = "support/discv5.rs"]
mod discv5;

use std::path::{Path, PathBuf};
use std::time::Duration;

use child::{JsonChild, repo_path};
use discv5::our_node;
use ethp2p_discovery::v5::NodeAddress;
use ethp2p_discovery::{Enr, NodeId};
use serde_json::Value;
use tokio::time::timeout;

/// Bound of the polls here; shorter than the child helper's per-line deadline.
const WAIT: Duration = Duration::from_secs(20);

/// The ChainSafe node's own end: longer than any test, which closes its stdin when done.
const LIFETIME_MS: &str = "120000";

/// The peer program's directory, or `None` (test skipped) when Node or its packages are
/// missing outside CI.
fn chainsafe_dir() -> Option<PathBuf> {
    let dir = repo_path("../tests/interop/chainsafe");
    let installed = dir.join("node_modules/@chainsafe/discv5").is_dir();
    let node = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    if installed && node {
        return Some(dir);
    }
    let why = if node {
        "@chainsafe/discv5 is not installed: run `bash scripts/test.sh` (it runs `npm ci` in tests/interop/chainsafe)"
    } else {
        "node is not installed (Node 20 or later)"
    };
    ethp2p_testkit::runnable("discv5_chainsafe", Err(why.to_string()));
    None
}

/// A running ChainSafe node and its record.
struct ChainSafe {
    child: JsonChild,
    enr: Enr,
    /// Commands sent so far: `node.mjs` tags each answer with the command's number.
    sent: u64,
}

impl ChainSafe {
    /// Starts a node with the key `[seed; 32]` on an ephemeral port of 127.0.0.1.
    async fn start(dir: &Path, seed: u8) -> ChainSafe {
        let key = hex::encode([seed; 32]);
        let mut args = vec!["node.mjs", "--key", &key, "--timeout-ms", LIFETIME_MS];
        // Its debug log on stderr, for debugging.
        if std::env::var_os("CHAINSAFE_TRACE").is_some() {
            args.push("--trace");
        }
        let hint = "run `npm ci` in tests/interop/chainsafe";
        let mut child = JsonChild::spawn_with_stdin(Path::new("node"), &args, dir, hint);
        let listening = child.expect("listening").await;
        let enr: Enr = listening["enr"].as_str().unwrap().parse().unwrap();
        assert_eq!(listening["node_id"], hex::encode(enr.id().0), "{listening}");
        assert_eq!(enr.ip4(), Some([127, 0, 0, 1].into()));
        assert_eq!(u64::from(enr.udp4().unwrap()), listening["udp_port"]);
        ChainSafe {
            child,
            enr,
            sent: 0,
        }
    }

    /// Runs one command and returns its answer (events between are skipped); an `error`
    /// answer fails the test.
    async fn ask(&mut self, command: &str) -> Value {
        self.child.send(command).await;
        self.sent += 1;
        loop {
            let line = self.child.event().await;
            if line["n"] == self.sent {
                assert_ne!(line["event"], "error", "ChainSafe: `{command}`: {line}");
                return line;
            }
        }
    }

    /// Waits for the `enr_added` event of `enr`'s node: ChainSafe put it in its table.
    async fn added(&mut self, enr: &Enr) {
        let id = hex::encode(enr.id().0);
        let wait = async {
            loop {
                let line = self.child.event().await;
                if line["event"] == "enr_added" && line["node_id"] == id.as_str() {
                    return;
                }
            }
        };
        timeout(WAIT, wait)
            .await
            .unwrap_or_else(|_| panic!("ChainSafe never took {id} into its table"));
    }

    async fn ping(&mut self, enr: &Enr) -> Value {
        let pong = self.ask(&format!("ping {enr}")).await;
        assert_eq!(pong["event"], "pong", "{pong}");
        pong
    }

    /// The records of a `nodes` or `table` answer.
    async fn records(&mut self, command: &str) -> Vec<Enr> {
        let answer = self.ask(command).await;
        let enrs = answer["enrs"]
            .as_array()
            .unwrap_or_else(|| panic!("{answer}"));
        enrs.iter()
            .map(|e| e.as_str().unwrap().parse().unwrap())
            .collect()
    }

    async fn find_node(&mut self, enr: &Enr, distances: &[u32]) -> Vec<Enr> {
        let list: Vec<String> = distances.iter().map(u32::to_string).collect();
        self.records(&format!("findnode {enr} {}", list.join(",")))
            .await
    }
}

/// ChainSafe to us: its PING gets our PONG, naming the socket it sent from; its FINDNODE at
/// distance 0 gets our record, and at the distance of a third node we hold, that node; its
/// TALKREQs get our handler's answer (or an empty one); its lookup of the third node through us
/// finds it.
#[tokio::test]
async fn chainsafe_pings_and_findnodes_us() {
    let Some(dir) = chainsafe_dir() else { return };
    let (ours, our_enr) = our_node(0x91, Vec::new()).await;
    ours.register_talk_protocol(
        b"echo".to_vec(),
        Box::new(|_: &NodeAddress, request: &[u8]| request.to_vec()),
    )
    .await
    .unwrap();
    // A third node answers our PING, so it is in our table and known to be live.
    let (third, third_enr) = our_node(0x92, Vec::new()).await;
    ours.ping(third_enr.clone()).await.unwrap();
    let in_table = ours.table_nodes().await.unwrap();
    assert!(in_table.contains(&third_enr), "{in_table:?}");

    let mut chainsafe = ChainSafe::start(&dir, 0x93).await;
    let pong = chainsafe.ping(&our_enr).await;
    assert_eq!(pong["enr_seq"], our_enr.seq());
    assert_eq!(pong["ip"], "127.0.0.1");
    assert_eq!(
        u64::from(chainsafe.enr.udp4().unwrap()),
        pong["port"],
        "{pong}"
    );

    let own = chainsafe.find_node(&our_enr, &[0]).await;
    assert_eq!(own, vec![our_enr.clone()]);

    let distance = our_enr.id().log_distance(&third_enr.id());
    let found = chainsafe.find_node(&our_enr, &[distance]).await;
    assert_eq!(found, vec![third_enr.clone()], "distance {distance}");

    // TALKREQ: our handler's answer, and an empty one for a protocol we do not serve.
    let echoed = chainsafe
        .ask(&format!("talk {our_enr} echo 68656c6c6f"))
        .await;
    assert_eq!(echoed["response"], "68656c6c6f", "{echoed}");
    let unknown = chainsafe.ask(&format!("talk {our_enr} nope 78")).await;
    assert_eq!(unknown["response"], "", "{unknown}");

    // ChainSafe's own lookup, with us as the only node it knows: its FINDNODEs ask for three
    // distances around the target's, and it must take our NODES as valid.
    let looked_up = chainsafe
        .records(&format!("lookup {}", hex::encode(third_enr.id().0)))
        .await;
    assert_eq!(looked_up.first(), Some(&third_enr), "{looked_up:?}");

    for handle in [ours, third] {
        handle.shutdown().await;
    }
}

/// Us to ChainSafe: our PING gets its PONG (naming our socket and its record's sequence
/// number), our FINDNODE at distance 0 gets its record, our TALKREQ its application's answer.
/// ChainSafe takes our node into its
/// table, which it does only when the record in our handshake verified (signature, and the
/// socket it names is the one we send from).
#[tokio::test]
async fn we_ping_and_findnode_chainsafe() {
    let Some(dir) = chainsafe_dir() else { return };
    let mut chainsafe = ChainSafe::start(&dir, 0xa1).await;
    let (ours, our_enr) = our_node(0xa2, Vec::new()).await;

    let pong = ours.ping(chainsafe.enr.clone()).await.unwrap();
    assert_eq!(pong.to, ours.local_addr());
    assert_eq!(pong.enr_seq, chainsafe.enr.seq());
    let own = ours
        .find_node(chainsafe.enr.clone(), vec![0])
        .await
        .unwrap();
    assert_eq!(own, vec![chainsafe.enr.clone()]);
    // ChainSafe answers TALKREQ only where its application does: node.mjs serves "echo".
    let echoed = ours
        .talk_request(chainsafe.enr.clone(), b"echo".to_vec(), b"hello".to_vec())
        .await
        .unwrap();
    assert_eq!(echoed, b"hello");
    chainsafe.added(&our_enr).await;
    let table = chainsafe.records("table").await;
    assert_eq!(table, vec![our_enr]);
    ours.shutdown().await;
}

/// A node of ours introduces itself to ChainSafe only (its PING, which ChainSafe answers and
/// follows with a PING of its own before it lists the node); a second node of ours, with
/// ChainSafe as its only bootnode, then finds it by a lookup.
#[tokio::test]
async fn our_lookup_finds_a_node_only_chainsafe_knows() {
    let Some(dir) = chainsafe_dir() else { return };
    let mut chainsafe = ChainSafe::start(&dir, 0xb1).await;
    let (third, third_enr) = our_node(0xb2, Vec::new()).await;
    third.ping(chainsafe.enr.clone()).await.unwrap();
    chainsafe.added(&third_enr).await;
    let table = chainsafe.records("table").await;
    assert!(table.contains(&third_enr), "{table:?}");

    let (lookup, _) = our_node(0xb3, vec![chainsafe.enr.clone()]).await;
    let target: NodeId = third_enr.id();
    let found = lookup.lookup(target).await.unwrap();
    assert_eq!(found.first(), Some(&third_enr), "{found:?}");
    for handle in [third, lookup] {
        handle.shutdown().await;
    }
}
