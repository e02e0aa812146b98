//! Fixtures of the discv5 targets: the two nodes of the devp2p discv5 wire test vectors (so the
//! vector packets, addressed to node B, unmask and decode as seeds), their codecs, and the
//! header masking the targets apply to a fuzzed plaintext packet.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::OnceLock;
use std::time::Instant;

use aes::Aes128;
use ctr::cipher::{KeyIvInit, StreamCipher};
use ethp2p_discovery::Enr;
use ethp2p_discovery::v5::{Codec, Config, Decoded, NodeAddress, Whoareyou};
use rand::SeedableRng;
use rand::rngs::StdRng;
use secp256k1::SecretKey;

/// `node-a-key` of the vectors.
pub const NODE_A_KEY: &str = "eef77acb6c6a6eebc5b363a475ac583ec7eccdb42b6481424c60f59aa326547f";
/// `node-b-key` of the vectors: every vector packet is addressed to B.
pub const NODE_B_KEY: &str = "66fb62bfbd66b9177a138c1e5cddbe4f7c30c343e94e68df8769459cb1cde628";

/// The four packets of the vectors, as hex.
pub const VECTOR_PACKETS: [(&str, &str); 4] = [
    (
        "ping_message",
        "00000000000000000000000000000000088b3d4342774649325f313964a39e55ea96c005ad52be8c7560413a7008f16c9e6d2f43bbea8814a546b7409ce783d34c4f53245d08dab84102ed931f66d1492acb308fa1c6715b9d139b81acbdcc",
    ),
    (
        "whoareyou",
        "00000000000000000000000000000000088b3d434277464933a1ccc59f5967ad1d6035f15e528627dde75cd68292f9e6c27d6b66c8100a873fcbaed4e16b8d",
    ),
    (
        "ping_handshake",
        "00000000000000000000000000000000088b3d4342774649305f313964a39e55ea96c005ad521d8c7560413a7008f16c9e6d2f43bbea8814a546b7409ce783d34c4f53245d08da4bb252012b2cba3f4f374a90a75cff91f142fa9be3e0a5f3ef268ccb9065aeecfd67a999e7fdc137e062b2ec4a0eb92947f0d9a74bfbf44dfba776b21301f8b65efd5796706adff216ab862a9186875f9494150c4ae06fa4d1f0396c93f215fa4ef524f1eadf5f0f4126b79336671cbcf7a885b1f8bd2a5d839cf8",
    ),
    (
        "ping_handshake_enr",
        "00000000000000000000000000000000088b3d4342774649305f313964a39e55ea96c005ad539c8c7560413a7008f16c9e6d2f43bbea8814a546b7409ce783d34c4f53245d08da4bb23698868350aaad22e3ab8dd034f548a1c43cd246be98562fafa0a1fa86d8e7a3b95ae78cc2b988ded6a5b59eb83ad58097252188b902b21481e30e5e285f19735796706adff216ab862a9186875f9494150c4ae06fa4d1f0396c93f215fa4ef524e0ed04c3c21e39b1868e1ca8105e585ec17315e755e6cfc4dd6cb7fd8e1a1f55e49b4b5eb024221482105346f3c82b15fdaae36a3bb12a494683b4a3c7f2ae41306252fed84785e2bbff3b022812d0882f06978df84a80d443972213342d04b9048fc3b1d5fcb1df0f822152eced6da4d3f6df27e70e4539717307a0208cd208d65093ccab5aa596a34d7511401987662d8cf62b139471",
    ),
];

/// Node A's UDP endpoint.
pub const ADDR_A: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 30301);
/// Node B's UDP endpoint.
pub const ADDR_B: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), 30302);

fn key(hex_text: &str) -> SecretKey {
    let bytes: [u8; 32] = hex::decode(hex_text).unwrap().try_into().unwrap();
    SecretKey::from_secret_bytes(bytes).unwrap()
}

/// Node A's key.
pub fn key_a() -> SecretKey {
    key(NODE_A_KEY)
}

/// Node B's key.
pub fn key_b() -> SecretKey {
    key(NODE_B_KEY)
}

/// Node A's record as the handshake vector carries it (seq 1, ip 127.0.0.1).
pub fn record_a() -> &'static Enr {
    static RECORD: OnceLock<Enr> = OnceLock::new();
    RECORD.get_or_init(|| {
        Enr::builder()
            .ip4(Ipv4Addr::LOCALHOST)
            .build(&key_a())
            .unwrap()
    })
}

/// Node B's record (seq 1, at [`ADDR_B`]).
pub fn record_b() -> &'static Enr {
    static RECORD: OnceLock<Enr> = OnceLock::new();
    RECORD.get_or_init(|| {
        Enr::builder()
            .ip4(Ipv4Addr::new(127, 0, 0, 2))
            .udp4(ADDR_B.port())
            .build(&key_b())
            .unwrap()
    })
}

/// A at its address, as B addresses it.
pub fn address_a() -> NodeAddress {
    NodeAddress {
        id: record_a().id(),
        addr: ADDR_A,
    }
}

/// B at its address, as A addresses it.
pub fn address_b() -> NodeAddress {
    NodeAddress {
        id: record_b().id(),
        addr: ADDR_B,
    }
}

/// A fresh codec of node A.
pub fn codec_a() -> Codec {
    Codec::new(
        key_a(),
        record_a().clone(),
        Config::default(),
        StdRng::seed_from_u64(1),
    )
    .unwrap()
}

/// A fresh codec of node B.
pub fn codec_b() -> Codec {
    Codec::new(
        key_b(),
        record_b().clone(),
        Config::default(),
        StdRng::seed_from_u64(2),
    )
    .unwrap()
}

/// The codecs of A and B after A's first packet (no session) and B's WHOAREYOU, which A has
/// decoded. B knows A's record if `b_knows_a`, so A's handshake carries it only otherwise.
pub fn challenged(now: Instant, b_knows_a: bool) -> (Codec, Codec, Whoareyou) {
    let (mut a, mut b) = (codec_a(), codec_b());
    let first = a
        .encode(
            &address_b(),
            &ethp2p_discovery::v5::Message::Ping {
                request_id: ethp2p_discovery::v5::RequestId::from_u64(1),
                enr_seq: 1,
            },
        )
        .unwrap();
    let Ok(Decoded::Unreadable { nonce, .. }) = b.decode(now, ADDR_A, &first.packet) else {
        panic!("B cannot read A's first packet");
    };
    let known = b_knows_a.then(record_a);
    let challenge = b.challenge(now, &address_a(), nonce, known).unwrap();
    let Ok(Decoded::Whoareyou(whoareyou)) = a.decode(now, ADDR_B, &challenge.packet) else {
        panic!("A cannot read B's WHOAREYOU");
    };
    (a, b, whoareyou)
}

/// Masks (or unmasks: it is its own inverse) everything after the 16-byte IV of a packet
/// addressed to node B: what the sender does to the header, applied also to the message, so a
/// fuzzed *plaintext* packet reaches the header checks behind the masking.
pub fn mask_for_b(packet: &[u8]) -> Vec<u8> {
    let mut out = packet.to_vec();
    if out.len() < 16 {
        return out;
    }
    let key: [u8; 16] = record_b().id().0[..16].try_into().unwrap();
    let iv: [u8; 16] = out[..16].try_into().unwrap();
    let mut cipher = ctr::Ctr128BE::<Aes128>::new(&key.into(), &iv.into());
    cipher.apply_keystream(&mut out[16..]);
    out
}
