//! Our discv5 node on 127.0.0.1 for the discv5 tests (driver, go-ethereum and sigp interop).

use std::net::Ipv4Addr;
use std::time::Instant;

use ethp2p_discovery::Enr;
use ethp2p_discovery::v5::{Discv5, Discv5Handle, ServiceConfig};
use secp256k1::SecretKey;
use tokio::net::UdpSocket;

/// A node on an ephemeral port of 127.0.0.1 with the key `[seed; 32]`, a fresh table, and
/// `bootnodes`; its record names that port.
pub async fn our_node(seed: u8, bootnodes: Vec<Enr>) -> (Discv5Handle, Enr) {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let port = socket.local_addr().unwrap().port();
    let key = SecretKey::from_secret_bytes([seed; 32]).unwrap();
    let enr = Enr::builder()
        .ip4(Ipv4Addr::LOCALHOST)
        .udp4(port)
        .build(&key)
        .unwrap();
    let config = ServiceConfig {
        bootnodes,
        ..ServiceConfig::default()
    };
    let discv5 = Discv5::new(key, enr.clone(), config, Instant::now(), u64::from(seed)).unwrap();
    (Discv5Handle::spawn(socket, discv5).unwrap(), enr)
}
