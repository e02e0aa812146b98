//! Interop with sigp's discv5 (the crate Lighthouse and reth use, 0.12, a dev-dependency) on
//! 127.0.0.1, both ways: PING, FINDNODE and TALKREQ from each side, and a lookup of ours that
//! finds a node only the sigp node knows.

#[path = "support/discv5.rs"]
mod discv5;

use discv5::our_node;
use std::net::Ipv4Addr;
use std::time::Duration;

use discv5_sigp::{ConfigBuilder, IpMode, ListenConfig, NodeContact};
use enr_sigp::CombinedKey;
use ethp2p_discovery::Enr;
use ethp2p_discovery::v5::NodeAddress;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

/// A started sigp node on 127.0.0.1. Its record must name the port it listens on, so a free
/// port is found first by binding port 0 and releasing it.
async fn sigp_node(seed: u8) -> (discv5_sigp::Discv5, discv5_sigp::Enr) {
    let port = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut secret = [seed; 32];
    let key = CombinedKey::secp256k1_from_bytes(&mut secret).unwrap();
    let enr = enr_sigp::Enr::builder()
        .ip4(Ipv4Addr::LOCALHOST)
        .udp4(port)
        .build(&key)
        .unwrap();
    let config = ConfigBuilder::new(ListenConfig::Ipv4 {
        ip: Ipv4Addr::LOCALHOST,
        port,
    })
    .build();
    let mut node = discv5_sigp::Discv5::new(enr.clone(), key, config).unwrap();
    node.start().await.unwrap();
    (node, enr)
}

fn to_sigp(enr: &Enr) -> discv5_sigp::Enr {
    enr.to_string().parse().unwrap()
}

fn from_sigp(enr: &discv5_sigp::Enr) -> Enr {
    enr.to_base64().parse().unwrap()
}

#[tokio::test]
async fn ping_findnode_and_talk_both_ways() {
    let (ours, our_enr) = our_node(0x31, Vec::new()).await;
    ours.register_talk_protocol(
        b"echo".to_vec(),
        Box::new(|_: &NodeAddress, request: &[u8]| request.to_vec()),
    )
    .await
    .unwrap();
    let (sigp, sigp_enr) = sigp_node(0x32).await;
    let sigp_ours = from_sigp(&sigp_enr);

    // Us to sigp.
    let pong = ours.ping(sigp_ours.clone()).await.unwrap();
    assert_eq!(pong.to, ours.local_addr());
    let own = ours.find_node(sigp_ours.clone(), vec![0]).await.unwrap();
    assert_eq!(own, vec![sigp_ours.clone()]);
    let talk = ours
        .talk_request(sigp_ours.clone(), b"nope".to_vec(), b"x".to_vec())
        .await
        .unwrap();
    assert!(talk.is_empty());

    // sigp to us, on a fresh sigp node (no session yet, so it starts the handshake).
    let (sigp2, _) = sigp_node(0x33).await;
    let pong = timeout(WAIT, sigp2.send_ping(to_sigp(&our_enr)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pong.enr_seq, our_enr.seq());
    let own = timeout(
        WAIT,
        sigp2.find_node_designated_peer(to_sigp(&our_enr), vec![0]),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(own.len(), 1);
    assert_eq!(from_sigp(&own[0]), our_enr);
    let contact = NodeContact::try_from_enr(to_sigp(&our_enr), IpMode::Ip4).unwrap();
    let echoed = timeout(
        WAIT,
        sigp2.talk_req(contact, b"echo".to_vec(), b"hello".to_vec()),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(echoed, b"hello");
    drop((sigp, sigp2));
    ours.shutdown().await;
}

#[tokio::test]
async fn our_lookup_finds_a_node_only_sigp_knows() {
    let (sigp, sigp_enr) = sigp_node(0x41).await;
    let sigp_ours = from_sigp(&sigp_enr);
    // A node of ours introduces itself to sigp, which keeps it (its record matches the socket).
    let (third, third_enr) = our_node(0x42, Vec::new()).await;
    third.ping(sigp_ours.clone()).await.unwrap();
    let listed = timeout(WAIT, async {
        loop {
            if sigp
                .table_entries_enr()
                .iter()
                .any(|e| e.node_id().raw() == third_enr.id().0)
            {
                return;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(listed.is_ok(), "sigp never took our node into its table");
    let (lookup, _) = our_node(0x43, vec![sigp_ours.clone()]).await;
    let found = lookup.lookup(third_enr.id()).await.unwrap();
    assert_eq!(found.first(), Some(&third_enr), "{found:?}");
    for handle in [third, lookup] {
        handle.shutdown().await;
    }
}
