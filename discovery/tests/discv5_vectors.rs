//! The discv5.1 wire test vectors of devp2p, byte for byte:
//! <https://github.com/ethereum/devp2p/blob/master/discv5/discv5-wire-test-vectors.md>.
//!
//! The four packets are encoded from their inputs (masking IV, nonce and ephemeral key passed
//! in) and decoded with node B's key through the same functions the codec uses; the four
//! cryptographic primitives are checked on their own.

use ethp2p_discovery::v5::crypto::{self, SessionKeys};
use ethp2p_discovery::v5::handshake::{self, Whoareyou};
use ethp2p_discovery::v5::message::{Message, RequestId};
use ethp2p_discovery::v5::packet::{self, AuthData, Body, Flag, MAX_PACKET_SIZE};
use ethp2p_discovery::{Enr, NodeId};
use secp256k1::{PublicKey, SecretKey};
use std::net::Ipv4Addr;

fn bytes(hex_text: &str) -> Vec<u8> {
    let clean: String = hex_text.split_whitespace().collect();
    hex::decode(clean.trim_start_matches("0x")).expect("valid hex in a vector")
}

fn array<const N: usize>(hex_text: &str) -> [u8; N] {
    bytes(hex_text)
        .try_into()
        .expect("vector field of the right size")
}

fn secret(hex_text: &str) -> SecretKey {
    SecretKey::from_secret_bytes(array(hex_text)).unwrap()
}

fn public(hex_text: &str) -> PublicKey {
    PublicKey::from_slice(&bytes(hex_text)).unwrap()
}

const NODE_A_KEY: &str = "eef77acb6c6a6eebc5b363a475ac583ec7eccdb42b6481424c60f59aa326547f";
const NODE_B_KEY: &str = "66fb62bfbd66b9177a138c1e5cddbe4f7c30c343e94e68df8769459cb1cde628";
const NODE_A_ID: &str = "aaaa8419e9f49d0083561b48287df592939a8d19947d8c0ef88f2a4856a69fbb";
const NODE_B_ID: &str = "bbbb9d047f0488c0b5a93c1c3f2d8bafc7c8ff337024a55434a0d0555de64db9";
const ZERO_IV: [u8; 16] = [0; 16];
const MESSAGE_NONCE: [u8; 12] = [0xff; 12];
const REQUEST_NONCE: &str = "0102030405060708090a0b0c";
const ID_NONCE: &str = "0102030405060708090a0b0c0d0e0f10";
const EPHEMERAL_KEY: &str = "0288ef00023598499cb6c940146d050d2b1fb914198c327f76aad590bead68b6";
const EPHEMERAL_PUBKEY: &str = "039a003ba6517b473fa0cd74aefe99dadfdb34627f90fec6362df85803908f53a5";

/// The challenge data of the WHOAREYOU with `enr_seq` (0 or 1) that the vectors use.
fn challenge_data(enr_seq: u8) -> [u8; 63] {
    array(&format!(
        "000000000000000000000000000000006469736376350001010102030405060708090a0b0c00180102030405060708090a0b0c0d0e0f1000000000000000{enr_seq:02x}"
    ))
}

fn node_a_id() -> NodeId {
    NodeId(array(NODE_A_ID))
}

fn node_b_id() -> NodeId {
    NodeId(array(NODE_B_ID))
}

/// Node A's record as the vector carries it: sequence number 1, `ip` 127.0.0.1, the identity.
fn node_a_record() -> Enr {
    Enr::builder()
        .ip4(Ipv4Addr::LOCALHOST)
        .build(&secret(NODE_A_KEY))
        .unwrap()
}

fn ping(enr_seq: u64) -> Message {
    Message::Ping {
        request_id: RequestId::new(&[0, 0, 0, 1]).unwrap(),
        enr_seq,
    }
}

#[test]
fn node_ids_of_the_keys() {
    assert_eq!(
        NodeId::from_public_key(&secret(NODE_A_KEY).public_key()),
        node_a_id()
    );
    assert_eq!(
        NodeId::from_public_key(&secret(NODE_B_KEY).public_key()),
        node_b_id()
    );
}

#[test]
fn ping_message_packet() {
    let vector = bytes(
        "00000000000000000000000000000000088b3d4342774649325f313964a39e55
         ea96c005ad52be8c7560413a7008f16c9e6d2f43bbea8814a546b7409ce783d3
         4c4f53245d08dab84102ed931f66d1492acb308fa1c6715b9d139b81acbdcc",
    );
    let read_key = [0u8; 16];
    let (encoded, _) = packet::encode(
        &node_b_id(),
        &ZERO_IV,
        Flag::Message,
        &MESSAGE_NONCE,
        &node_a_id().0,
        Body::Encrypted {
            key: &read_key,
            plaintext: &ping(2).encode(),
        },
    )
    .unwrap();
    assert_eq!(hex::encode(&encoded), hex::encode(&vector));

    let mut buf = [0u8; MAX_PACKET_SIZE];
    let unmasked = packet::unmask(&node_b_id(), &vector, &mut buf).unwrap();
    assert_eq!(unmasked.nonce, MESSAGE_NONCE);
    assert_eq!(unmasked.auth, AuthData::Message { src: node_a_id() });
    let plaintext = crypto::decrypt(
        &read_key,
        &unmasked.nonce,
        unmasked.message,
        unmasked.header,
    )
    .unwrap();
    assert_eq!(Message::decode(&plaintext), Ok(ping(2)));
}

#[test]
fn whoareyou_packet() {
    let vector = bytes(
        "00000000000000000000000000000000088b3d434277464933a1ccc59f5967ad
         1d6035f15e528627dde75cd68292f9e6c27d6b66c8100a873fcbaed4e16b8d",
    );
    let authdata = packet::whoareyou_authdata(&array(ID_NONCE), 0);
    let (encoded, header) = packet::encode(
        &node_b_id(),
        &ZERO_IV,
        Flag::Whoareyou,
        &array(REQUEST_NONCE),
        &authdata,
        Body::Empty,
    )
    .unwrap();
    assert_eq!(hex::encode(&encoded), hex::encode(&vector));
    assert_eq!(header, challenge_data(0));

    let mut buf = [0u8; MAX_PACKET_SIZE];
    let unmasked = packet::unmask(&node_b_id(), &vector, &mut buf).unwrap();
    assert_eq!(unmasked.nonce, array::<12>(REQUEST_NONCE));
    assert_eq!(
        unmasked.auth,
        AuthData::Whoareyou {
            id_nonce: array(ID_NONCE),
            enr_seq: 0
        }
    );
    assert_eq!(unmasked.header, challenge_data(0));
    assert!(unmasked.message.is_empty());
}

/// Encodes the handshake of A answering the WHOAREYOU with `enr_seq`, checks it against
/// `vector`, then decodes `vector` as B (knowing `known` as A's record) and checks the keys and
/// the message.
fn check_handshake(enr_seq: u8, read_key: &str, vector: &[u8], known: Option<&Enr>) {
    let challenge = Whoareyou {
        nonce: array(REQUEST_NONCE),
        id_nonce: array(ID_NONCE),
        enr_seq: u64::from(enr_seq),
        challenge_data: challenge_data(enr_seq),
    };
    let ephemeral_key = secret(EPHEMERAL_KEY);
    assert_eq!(
        hex::encode(ephemeral_key.public_key().serialize()),
        EPHEMERAL_PUBKEY
    );
    let init = handshake::initiate(
        &secret(NODE_A_KEY),
        &node_a_record(),
        &node_b_id(),
        &secret(NODE_B_KEY).public_key(),
        &challenge,
        &ephemeral_key,
    );
    assert_eq!(init.record_included, enr_seq == 0);
    assert_eq!(hex::encode(init.keys.initiator_key), read_key);
    let (encoded, _) = packet::encode(
        &node_b_id(),
        &ZERO_IV,
        Flag::Handshake,
        &MESSAGE_NONCE,
        &init.authdata,
        Body::Encrypted {
            key: &init.keys.initiator_key,
            plaintext: &ping(1).encode(),
        },
    )
    .unwrap();
    assert_eq!(hex::encode(&encoded), hex::encode(vector));

    let mut buf = [0u8; MAX_PACKET_SIZE];
    let unmasked = packet::unmask(&node_b_id(), vector, &mut buf).unwrap();
    assert_eq!(unmasked.nonce, MESSAGE_NONCE);
    let AuthData::Handshake(auth) = unmasked.auth else {
        panic!("not a handshake: {:?}", unmasked.auth);
    };
    assert_eq!(auth.src, node_a_id());
    assert_eq!(hex::encode(auth.ephemeral_key), EPHEMERAL_PUBKEY);
    assert_eq!(auth.record.is_empty(), enr_seq != 0);
    let (record, keys) = handshake::verify(
        &secret(NODE_B_KEY),
        &node_b_id(),
        &auth,
        &challenge_data(enr_seq),
        known,
    )
    .unwrap();
    assert_eq!(record, node_a_record());
    assert_eq!(keys, init.keys);
    let plaintext = crypto::decrypt(
        &keys.initiator_key,
        &unmasked.nonce,
        unmasked.message,
        unmasked.header,
    )
    .unwrap();
    assert_eq!(Message::decode(&plaintext), Ok(ping(1)));
}

#[test]
fn ping_handshake_packet() {
    let vector = bytes(
        "00000000000000000000000000000000088b3d4342774649305f313964a39e55
         ea96c005ad521d8c7560413a7008f16c9e6d2f43bbea8814a546b7409ce783d3
         4c4f53245d08da4bb252012b2cba3f4f374a90a75cff91f142fa9be3e0a5f3ef
         268ccb9065aeecfd67a999e7fdc137e062b2ec4a0eb92947f0d9a74bfbf44dfb
         a776b21301f8b65efd5796706adff216ab862a9186875f9494150c4ae06fa4d1
         f0396c93f215fa4ef524f1eadf5f0f4126b79336671cbcf7a885b1f8bd2a5d83
         9cf8",
    );
    // B challenged with enr-seq 1: it knows A's record, so A sends none.
    check_handshake(
        1,
        "4f9fac6de7567d1e3b1241dffe90f662",
        &vector,
        Some(&node_a_record()),
    );
}

#[test]
fn ping_handshake_packet_with_enr() {
    let vector = bytes(
        "00000000000000000000000000000000088b3d4342774649305f313964a39e55
         ea96c005ad539c8c7560413a7008f16c9e6d2f43bbea8814a546b7409ce783d3
         4c4f53245d08da4bb23698868350aaad22e3ab8dd034f548a1c43cd246be9856
         2fafa0a1fa86d8e7a3b95ae78cc2b988ded6a5b59eb83ad58097252188b902b2
         1481e30e5e285f19735796706adff216ab862a9186875f9494150c4ae06fa4d1
         f0396c93f215fa4ef524e0ed04c3c21e39b1868e1ca8105e585ec17315e755e6
         cfc4dd6cb7fd8e1a1f55e49b4b5eb024221482105346f3c82b15fdaae36a3bb1
         2a494683b4a3c7f2ae41306252fed84785e2bbff3b022812d0882f06978df84a
         80d443972213342d04b9048fc3b1d5fcb1df0f822152eced6da4d3f6df27e70e
         4539717307a0208cd208d65093ccab5aa596a34d7511401987662d8cf62b1394
         71",
    );
    // B challenged with enr-seq 0: it knows no record of A, which A sends.
    check_handshake(0, "53b1c075f41876423154e157470c2f48", &vector, None);
}

#[test]
fn ecdh() {
    let shared = crypto::ecdh(
        &public("039961e4c2356d61bedb83052c115d311acb3a96f5777296dcf297351130266231"),
        &secret("fb757dc581730490a1d7a00deea65e9b1936924caaea8f44d476014856b68736"),
    );
    assert_eq!(
        hex::encode(shared),
        "033b11a2a1f214567e1537ce5e509ffd9b21373247f2a3ff6841f4976f53165e7e"
    );
}

#[test]
fn key_derivation() {
    let keys = crypto::derive_keys(
        &secret("fb757dc581730490a1d7a00deea65e9b1936924caaea8f44d476014856b68736"),
        &public("0317931e6e0840220642f230037d285d122bc59063221ef3226b1f403ddc69ca91"),
        &node_a_id(),
        &node_b_id(),
        &challenge_data(0),
    );
    assert_eq!(
        keys,
        SessionKeys {
            initiator_key: array("dccc82d81bd610f4f76d3ebe97a40571"),
            recipient_key: array("ac74bb8773749920b0d3a8881c173ec5"),
        }
    );
}

#[test]
fn id_nonce_signing() {
    let static_key = secret("fb757dc581730490a1d7a00deea65e9b1936924caaea8f44d476014856b68736");
    let ephemeral_pubkey: [u8; 33] =
        array("039961e4c2356d61bedb83052c115d311acb3a96f5777296dcf297351130266231");
    let signature = crypto::id_sign(
        &static_key,
        &challenge_data(0),
        &ephemeral_pubkey,
        &node_b_id(),
    );
    let expected = "94852a1e2318c4e5e9d422c98eaf19d1d90d876b29cd06ca7cb7546d0fff7b48\
                    4fe86c09a064fe72bdbef73ba8e9c34df0cd2b53e9d65528c2c7f336d5dfc6e6";
    assert_eq!(hex::encode(signature), expected);
    // And in reverse: the vector's signature verifies, a changed input does not.
    let public_key = static_key.public_key();
    assert!(crypto::id_verify(
        &public_key,
        &bytes(expected),
        &challenge_data(0),
        &ephemeral_pubkey,
        &node_b_id()
    ));
    assert!(!crypto::id_verify(
        &public_key,
        &bytes(expected),
        &challenge_data(1),
        &ephemeral_pubkey,
        &node_b_id()
    ));
}

#[test]
fn aes_gcm() {
    let key = array("9f2d77db7004bf8a1a85107ac686990b");
    let nonce = array("27b5af763c446acd2749fe8e");
    let ad = bytes("93a7400fa0d6a694ebc24d5cf570f65d04215b6ac00757875e3f3a5f42107903");
    let mut ciphertext = Vec::new();
    crypto::encrypt(&key, &nonce, &bytes("01c20101"), &ad, &mut ciphertext);
    assert_eq!(
        hex::encode(&ciphertext),
        "a5d12a2d94b8ccb3ba55558229867dc13bfa3648"
    );
    assert_eq!(
        crypto::decrypt(&key, &nonce, &ciphertext, &ad).unwrap(),
        bytes("01c20101")
    );
}
