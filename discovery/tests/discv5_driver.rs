//! The tokio driver of discv5 on real UDP sockets on 127.0.0.1 (ephemeral ports): two and
//! three nodes ping, ask FINDNODE, TALKREQ, and a lookup finds a node only a third one knows.

#[path = "support/discv5.rs"]
mod discv5;

use discv5::our_node;
use std::sync::Arc;

use ethp2p_discovery::Enr;
use ethp2p_discovery::v5::{
    CallError, Discv5, Discv5Handle, Event, NodeAddress, RequestError, ServiceConfig,
};
use secp256k1::SecretKey;
use tokio::net::UdpSocket;

#[tokio::test]
async fn two_nodes_ping_findnode_and_talk() {
    let (a, _) = our_node(1, Vec::new()).await;
    let (b, b_enr) = our_node(2, Vec::new()).await;
    b.register_talk_protocol(
        b"echo".to_vec(),
        Box::new(|_: &NodeAddress, request: &[u8]| request.to_vec()),
    )
    .await
    .unwrap();
    let pong = a.ping(b_enr.clone()).await.unwrap();
    assert_eq!(pong.to, a.local_addr());
    assert_eq!(pong.enr_seq, b_enr.seq());
    assert_eq!(
        a.find_node(b_enr.clone(), vec![0]).await.unwrap(),
        vec![b_enr.clone()]
    );
    let echoed = a
        .talk_request(b_enr.clone(), b"echo".to_vec(), b"hello".to_vec())
        .await
        .unwrap();
    assert_eq!(echoed, b"hello");
    let unknown = a
        .talk_request(b_enr.clone(), b"other".to_vec(), b"hello".to_vec())
        .await
        .unwrap();
    assert!(unknown.is_empty());
    assert_eq!(b.stats().await.unwrap().handshakes, 1);
    a.shutdown().await;
    b.shutdown().await;
}

/// Sends `()` when dropped: tells the test a handler's future was cancelled.
struct DropSignal(Option<tokio::sync::oneshot::Sender<()>>);

impl Drop for DropSignal {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

#[tokio::test]
async fn served_talk_handlers_answer_from_a_task_and_slow_ones_are_cut_off() {
    let (a, _) = our_node(6, Vec::new()).await;
    let (b, b_enr) = our_node(7, Vec::new()).await;
    b.serve_talk_protocol(
        b"echo".to_vec(),
        Arc::new(|_node, request| Box::pin(async move { request })),
    )
    .await
    .unwrap();
    let (dropped_tx, dropped) = tokio::sync::oneshot::channel();
    let dropped_tx = Arc::new(std::sync::Mutex::new(Some(dropped_tx)));
    b.serve_talk_protocol(
        b"never".to_vec(),
        Arc::new(move |_node, _request| {
            let signal = DropSignal(dropped_tx.lock().unwrap().take());
            Box::pin(async move {
                let _signal = signal;
                std::future::pending::<Vec<u8>>().await
            })
        }),
    )
    .await
    .unwrap();
    let echoed = a
        .talk_request(b_enr.clone(), b"echo".to_vec(), b"hi".to_vec())
        .await
        .unwrap();
    assert_eq!(echoed, b"hi");
    // The handler that never answers is cancelled at the deadline, and the requester, getting
    // nothing (not an empty answer, which would mean "unknown protocol"), times out.
    let never = a
        .talk_request(b_enr.clone(), b"never".to_vec(), b"hi".to_vec())
        .await;
    assert_eq!(never, Err(CallError::Request(RequestError::Timeout)));
    dropped.await.expect("the slow handler was cancelled");
    assert!(b.stats().await.unwrap().talk_timeouts >= 1);
    // Its place is free again.
    let echoed = a
        .talk_request(b_enr, b"echo".to_vec(), b"again".to_vec())
        .await
        .unwrap();
    assert_eq!(echoed, b"again");
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn three_nodes_lookup_finds_the_third() {
    let (b, b_enr) = our_node(2, Vec::new()).await;
    let (c, c_enr) = our_node(3, Vec::new()).await;
    // C introduces itself to B; B pings it back, so B's table holds it, checked.
    let mut b_events = b.events();
    c.ping(b_enr.clone()).await.unwrap();
    loop {
        match b_events.recv().await.unwrap() {
            Event::NodeAdded(record) if record == c_enr => break,
            _ => {}
        }
    }
    let distance = b_enr.id().log_distance(&c_enr.id()) as u16;
    let listed = c.find_node(b_enr.clone(), vec![distance]).await.unwrap();
    assert_eq!(listed, vec![c_enr.clone()]);
    let (a, _) = our_node(1, vec![b_enr.clone()]).await;
    let found = a.lookup(c_enr.id()).await.unwrap();
    assert_eq!(found.first(), Some(&c_enr), "{found:?}");
    let table = a.table_nodes().await.unwrap();
    assert!(table.contains(&b_enr));
    for handle in [a, b, c] {
        handle.shutdown().await;
    }
}

#[tokio::test]
async fn two_nodes_on_ipv6_loopback_with_udp6_falling_back_to_udp() {
    use std::net::Ipv6Addr;
    let mut handles = Vec::new();
    let mut records = Vec::new();
    for (seed, udp6) in [(4u8, true), (5, false)] {
        let socket = UdpSocket::bind((Ipv6Addr::LOCALHOST, 0)).await.unwrap();
        let port = socket.local_addr().unwrap().port();
        let key = SecretKey::from_secret_bytes([seed; 32]).unwrap();
        let mut builder = Enr::builder();
        builder.ip6(Ipv6Addr::LOCALHOST);
        // The second record names its port only under `udp`, as go-ethereum accepts.
        if udp6 {
            builder.udp6(port);
        } else {
            builder.udp4(port);
        }
        let enr = builder.build(&key).unwrap();
        let config = ServiceConfig::default();
        let discv5 = Discv5::new(key, enr.clone(), config, std::time::Instant::now(), 9).unwrap();
        handles.push(Discv5Handle::spawn(socket, discv5).unwrap());
        records.push(enr);
    }
    let pong = handles[0].ping(records[1].clone()).await.unwrap();
    assert_eq!(pong.to, handles[0].local_addr());
    let pong = handles[1].ping(records[0].clone()).await.unwrap();
    assert_eq!(pong.to, handles[1].local_addr());
    let own = handles[0]
        .find_node(records[1].clone(), vec![0])
        .await
        .unwrap();
    assert_eq!(own, vec![records[1].clone()]);
    for handle in handles {
        handle.shutdown().await;
    }
}
