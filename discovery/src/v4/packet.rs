//! The discv4 wire format: packet encoding, signing, decoding and sender recovery.
//!
//! A packet is `hash || signature || packet-type || packet-data`, where
//!
//! - `packet-data` is an RLP list whose shape depends on `packet-type`,
//! - `signature` is the 65-byte recoverable secp256k1 signature `r || s || recovery-id` of
//!   `keccak256(packet-type || packet-data)` made with the sender's node key, and
//! - `hash` is `keccak256(signature || packet-type || packet-data)`.
//!
//! The sender's identity is never on the wire: [`decode`] recovers it from the signature.
//!
//! # Leniency
//!
//! Decoding follows EIP-8 (forward compatibility) and go-ethereum, which every client must
//! interoperate with:
//!
//! - Extra elements at the end of any list (the packet data, endpoints, neighbor nodes) are
//!   ignored, and so are any bytes after the packet-data list. Extra elements must still be
//!   well-formed RLP, as go-ethereum requires (it keeps them as raw values).
//! - The Ping version is any unsigned integer that fits 64 bits (EIP-8 vectors send 555); it is
//!   reported, never checked.
//! - The optional `enr-seq` of Ping and Pong (EIP-868) is taken from the element after the
//!   expiration only if that element is an integer of at most 8 bytes; anything else in that
//!   position (the EIP-8 vectors put a list there) is treated as an ignored extra element and
//!   `enr_seq` is `None`. (go-ethereum rejects such packets since it added `enr-seq`.)
//! - Received packets may be larger than [`MAX_PACKET_SIZE`] (ethereumjs sends 1373-byte
//!   Neighbors with 16 nodes) up to [`MAX_RECEIVE_PACKET_SIZE`].
//!
//! Strictness, also as go-ethereum:
//!
//! - RLP must be canonical: no `0x81 b` for a single byte `b < 0x80`, no long form for short
//!   lengths, no leading zeros in lengths or integers (zero is the empty string). List elements
//!   must exactly tile their list.
//! - Integers are at most 8 bytes; ports are at most 65535, a larger port rejects the packet.
//! - Hashes (Pong's ping hash, ENRResponse's request hash) are 32 bytes and public keys
//!   (FindNode's target, a neighbor's id) 64 bytes. Public keys are not checked to be on the
//!   curve: FindNode targets need not be, and users of a neighbor's id validate it when they
//!   use it as a key (see [`PeerId::to_public_key`]).
//! - An endpoint IP is 4 bytes (IPv4) or 16 bytes (IPv6). In Ping and Pong an empty IP (what
//!   go-ethereum sends for `from` when it does not know its own address) reads as `0.0.0.0`;
//!   any other length rejects the packet. In Neighbors a node whose IP is not 4 or 16 bytes is
//!   skipped (go-ethereum drops such nodes one by one), and only the first
//!   [`MAX_NEIGHBORS_RECEIVED`] valid nodes are kept; every node must still be well-formed.
//! - ENRResponse carries the record as its raw RLP encoding: one RLP list of at most
//!   [`MAX_ENR_SIZE`] bytes (EIP-778). Its content is left to the ENR parser.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use secp256k1::SecretKey;
use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use sha3::{Digest, Keccak256};

use crate::{Enode, PeerId};

/// The largest packet this implementation sends (discv4: "the maximum size of any packet is
/// 1280 bytes").
pub const MAX_PACKET_SIZE: usize = 1280;

/// The largest packet [`decode`] accepts, and so the receive buffer size that suffices.
///
/// Above [`MAX_PACKET_SIZE`] to accept implementations that overshoot (ethereumjs sends 16
/// neighbors, up to about 1.6 KB with IPv6 addresses), while keeping the work spent on one
/// datagram bounded.
pub const MAX_RECEIVE_PACKET_SIZE: usize = 2048;

/// The size of `hash || signature`, before the packet type.
pub const HEADER_SIZE: usize = 32 + 65;

/// The most nodes this implementation puts in one Neighbors packet (as go-ethereum): twelve
/// nodes with IPv6 addresses, maximal ports and expiration fit in [`MAX_PACKET_SIZE`].
pub const MAX_NEIGHBORS_PER_PACKET: usize = 12;

/// The most nodes [`decode`] keeps from one Neighbors packet: a Kademlia bucket's worth. A
/// peer answers FindNode with at most that many nodes; later ones are dropped.
pub const MAX_NEIGHBORS_RECEIVED: usize = 16;

/// The maximum size of an encoded node record (EIP-778).
pub const MAX_ENR_SIZE: usize = 300;

/// The Ping version this implementation sends.
pub const PING_VERSION: u64 = 4;

/// How long a sent packet stays valid: its expiration is this many seconds from now (as
/// go-ethereum).
pub const EXPIRATION_SECS: u64 = 20;

/// Packet type of [`Ping`].
pub const PING: u8 = 0x01;
/// Packet type of [`Pong`].
pub const PONG: u8 = 0x02;
/// Packet type of [`FindNode`].
pub const FIND_NODE: u8 = 0x03;
/// Packet type of [`Neighbors`].
pub const NEIGHBORS: u8 = 0x04;
/// Packet type of [`EnrRequest`] (EIP-868).
pub const ENR_REQUEST: u8 = 0x05;
/// Packet type of [`EnrResponse`] (EIP-868).
pub const ENR_RESPONSE: u8 = 0x06;

/// A node's address: `[ip, udp-port, tcp-port]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// IPv4 addresses go on the wire as 4 bytes, IPv6 ones (including IPv4-mapped) as 16.
    pub ip: IpAddr,
    /// The discovery (UDP) port.
    pub udp_port: u16,
    /// The RLPx (TCP) port; 0 if the node does not accept connections.
    pub tcp_port: u16,
}

impl From<SocketAddr> for Endpoint {
    /// A node serving discovery and RLPx on one port number, as nodes do by default.
    fn from(addr: SocketAddr) -> Self {
        Endpoint {
            ip: addr.ip(),
            udp_port: addr.port(),
            tcp_port: addr.port(),
        }
    }
}

impl From<&Enode> for Endpoint {
    /// Where a node is, as Ping, Pong and Neighbors write it.
    fn from(node: &Enode) -> Self {
        Endpoint {
            ip: node.ip,
            udp_port: node.udp_port,
            tcp_port: node.tcp_port,
        }
    }
}

impl Endpoint {
    /// The node with public key `id` at this endpoint.
    pub fn node(self, id: PeerId) -> Enode {
        Enode {
            id,
            ip: self.ip,
            tcp_port: self.tcp_port,
            udp_port: self.udp_port,
        }
    }
}

/// Ping (0x01): `[version, from, to, expiration, enr-seq?, ...]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ping {
    /// The sender's protocol version ([`PING_VERSION`]); not checked on receipt.
    pub version: u64,
    /// The sender's address as it sees it (informational: replies go to the UDP source).
    pub from: Endpoint,
    /// The recipient's address as the sender sees it.
    pub to: Endpoint,
    /// Unix time (seconds) after which the packet is stale; see [`is_expired`].
    pub expiration: u64,
    /// The sequence number of the sender's node record (EIP-868), if it sent one.
    pub enr_seq: Option<u64>,
}

/// Pong (0x02): `[to, ping-hash, expiration, enr-seq?, ...]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pong {
    /// The UDP source address of the Ping (and the TCP port it announced).
    pub to: Endpoint,
    /// The hash of the Ping this answers.
    pub ping_hash: [u8; 32],
    /// Unix time (seconds) after which the packet is stale.
    pub expiration: u64,
    /// The sequence number of the sender's node record (EIP-868), if it sent one.
    pub enr_seq: Option<u64>,
}

/// FindNode (0x03): `[target, expiration, ...]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FindNode {
    /// The public key whose neighborhood is asked for (any 64 bytes).
    pub target: PeerId,
    /// Unix time (seconds) after which the packet is stale.
    pub expiration: u64,
}

/// Neighbors (0x04): `[[node, ...], expiration, ...]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Neighbors {
    /// The nodes; send at most [`MAX_NEIGHBORS_PER_PACKET`] per packet
    /// ([`neighbors_packets`] splits a longer list).
    pub nodes: Vec<Enode>,
    /// Unix time (seconds) after which the packet is stale.
    pub expiration: u64,
}

/// ENRRequest (0x05, EIP-868): `[expiration, ...]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EnrRequest {
    /// Unix time (seconds) after which the packet is stale.
    pub expiration: u64,
}

/// ENRResponse (0x06, EIP-868): `[request-hash, record, ...]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EnrResponse {
    /// The hash of the ENRRequest this answers.
    pub request_hash: [u8; 32],
    /// The sender's node record, as its RLP encoding: a single RLP list of at most
    /// [`MAX_ENR_SIZE`] bytes. [`encode`] writes it as it is, so it must be exactly that.
    pub enr: Vec<u8>,
}

/// A discv4 message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Message {
    /// 0x01.
    Ping(Ping),
    /// 0x02.
    Pong(Pong),
    /// 0x03.
    FindNode(FindNode),
    /// 0x04.
    Neighbors(Neighbors),
    /// 0x05.
    EnrRequest(EnrRequest),
    /// 0x06.
    EnrResponse(EnrResponse),
}

/// A received, authenticated packet.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Packet {
    /// What it says.
    pub message: Message,
    /// Who signed it.
    pub sender: PeerId,
    /// Its hash (the first 32 bytes), which a Pong or ENRResponse to it must quote.
    pub hash: [u8; 32],
}

/// Why a datagram is not a valid discv4 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// Shorter than the header plus the packet type.
    #[error("packet too small ({0} bytes)")]
    TooSmall(usize),
    /// Longer than [`MAX_RECEIVE_PACKET_SIZE`].
    #[error("packet too large ({0} bytes)")]
    TooLarge(usize),
    /// The hash does not match the rest of the packet.
    #[error("packet hash mismatch")]
    HashMismatch,
    /// No public key can be recovered from the signature.
    #[error("invalid packet signature")]
    InvalidSignature,
    /// The packet type is not one of 0x01..=0x06.
    #[error("unknown packet type {0:#04x}")]
    UnknownType(u8),
    /// The packet data is not well-formed canonical RLP (truncated, bad length prefix, or
    /// malformed list elements).
    #[error("malformed RLP in packet data")]
    InvalidRlp,
    /// A field is missing, of the wrong kind or size, or not a canonical integer.
    #[error("invalid or missing {0}")]
    InvalidField(&'static str),
}

impl PacketError {
    /// Whether the datagram is no discv4 packet at all rather than a broken one: what a port
    /// shared with discv5 hands over (see [`NotDiscv4`](super::service::NotDiscv4)).
    pub fn is_not_discv4(&self) -> bool {
        matches!(
            self,
            PacketError::TooSmall(_)
                | PacketError::TooLarge(_)
                | PacketError::HashMismatch
                | PacketError::InvalidSignature
        )
    }
}

impl Message {
    /// The packet type byte of this message.
    pub fn packet_type(&self) -> u8 {
        match self {
            Message::Ping(_) => PING,
            Message::Pong(_) => PONG,
            Message::FindNode(_) => FIND_NODE,
            Message::Neighbors(_) => NEIGHBORS,
            Message::EnrRequest(_) => ENR_REQUEST,
            Message::EnrResponse(_) => ENR_RESPONSE,
        }
    }

    /// The expiration of this message (ENRResponse has none).
    pub fn expiration(&self) -> Option<u64> {
        match self {
            Message::Ping(p) => Some(p.expiration),
            Message::Pong(p) => Some(p.expiration),
            Message::FindNode(p) => Some(p.expiration),
            Message::Neighbors(p) => Some(p.expiration),
            Message::EnrRequest(p) => Some(p.expiration),
            Message::EnrResponse(_) => None,
        }
    }
}

/// Whether a packet with this expiration is stale at `now_unix_secs`.
///
/// The expiration is read as a signed 64-bit Unix time, as go-ethereum does: a value with the
/// top bit set is a time before 1970 and so always expired. A packet expiring exactly now is
/// still valid.
pub fn is_expired(expiration: u64, now_unix_secs: u64) -> bool {
    let expiration = i64::from_be_bytes(expiration.to_be_bytes());
    let now = i64::try_from(now_unix_secs).unwrap_or(i64::MAX);
    expiration < now
}

/// Keccak-256 of `data`.
fn keccak256(data: &[u8]) -> [u8; 32] {
    Keccak256::digest(data).into()
}

/// Encodes and signs `message`, returning the packet and its hash.
///
/// The packet is at most [`MAX_PACKET_SIZE`] bytes for every message except a Neighbors with
/// more than [`MAX_NEIGHBORS_PER_PACKET`] nodes or an ENRResponse whose record exceeds
/// [`MAX_ENR_SIZE`]; use [`neighbors_packets`] to send nodes.
pub fn encode(message: &Message, key: &SecretKey) -> (Vec<u8>, [u8; 32]) {
    let mut data = Vec::with_capacity(256);
    encode_data(message, &mut data);
    seal(message.packet_type(), &data, key)
}

/// Builds a signed packet of type `packet_type` around already encoded `data`.
fn seal(packet_type: u8, data: &[u8], key: &SecretKey) -> (Vec<u8>, [u8; 32]) {
    let mut packet = Vec::with_capacity(HEADER_SIZE + 1 + data.len());
    packet.resize(HEADER_SIZE, 0);
    packet.push(packet_type);
    packet.extend_from_slice(data);

    let digest = keccak256(&packet[HEADER_SIZE..]);
    let signature =
        RecoverableSignature::sign_ecdsa_recoverable(secp256k1::Message::from_digest(digest), key);
    let (recovery_id, compact) = signature.serialize_compact();
    packet[32..96].copy_from_slice(&compact);
    packet[96] = recovery_id.to_u8();

    let hash = keccak256(&packet[32..]);
    packet[..32].copy_from_slice(&hash);
    (packet, hash)
}

/// Signs Neighbors packets announcing `nodes`, at most [`MAX_NEIGHBORS_PER_PACKET`] per packet,
/// each within [`MAX_PACKET_SIZE`]. No nodes make one packet with an empty list (as
/// go-ethereum answers a FindNode it has nothing for).
pub fn neighbors_packets(nodes: &[Enode], expiration: u64, key: &SecretKey) -> Vec<Vec<u8>> {
    let mut chunks: Vec<&[Enode]> = nodes.chunks(MAX_NEIGHBORS_PER_PACKET).collect();
    if chunks.is_empty() {
        chunks.push(&[]);
    }
    chunks
        .into_iter()
        .map(|chunk| {
            let message = Message::Neighbors(Neighbors {
                nodes: chunk.to_vec(),
                expiration,
            });
            let (packet, _) = encode(&message, key);
            // Twelve nodes take at most 12 * 91 bytes, so this cannot fail.
            assert!(
                packet.len() <= MAX_PACKET_SIZE,
                "Neighbors packet too large"
            );
            packet
        })
        .collect()
}

/// Decodes and authenticates a received datagram.
///
/// Checks, cheapest first: the size, the hash, the packet type, the packet data, and last the
/// signature (public key recovery is by far the most expensive step, so malformed packets never
/// reach it). Expiration is not checked here: see [`is_expired`].
pub fn decode(datagram: &[u8]) -> Result<Packet, PacketError> {
    if datagram.len() < HEADER_SIZE + 1 {
        return Err(PacketError::TooSmall(datagram.len()));
    }
    if datagram.len() > MAX_RECEIVE_PACKET_SIZE {
        return Err(PacketError::TooLarge(datagram.len()));
    }
    let (hash, signed) = datagram.split_at(32);
    let hash: [u8; 32] = hash.try_into().map_err(|_| PacketError::HashMismatch)?;
    if keccak256(signed) != hash {
        return Err(PacketError::HashMismatch);
    }
    let (signature, body) = signed.split_at(65);
    let (&packet_type, data) = body
        .split_first()
        .ok_or(PacketError::TooSmall(datagram.len()))?;
    let message = decode_data(packet_type, data)?;
    let sender = recover_sender(signature, &keccak256(body))?;
    Ok(Packet {
        message,
        sender,
        hash,
    })
}

/// Recovers the signer of `digest` from a 65-byte `r || s || recovery-id` signature.
fn recover_sender(signature: &[u8], digest: &[u8; 32]) -> Result<PeerId, PacketError> {
    let (compact, recovery_id) = signature.split_at(64);
    let recovery_id = recovery_id
        .first()
        .and_then(|&id| RecoveryId::try_from(i32::from(id)).ok())
        .ok_or(PacketError::InvalidSignature)?;
    let key = RecoverableSignature::from_compact(compact, recovery_id)
        .and_then(|sig| sig.recover_ecdsa(secp256k1::Message::from_digest(*digest)))
        .map_err(|_| PacketError::InvalidSignature)?;
    Ok(PeerId::from_public_key(&key))
}

// ---------------------------------------------------------------------------------------------
// Packet data decoding.

fn decode_data(packet_type: u8, data: &[u8]) -> Result<Message, PacketError> {
    if !(PING..=ENR_RESPONSE).contains(&packet_type) {
        return Err(PacketError::UnknownType(packet_type));
    }
    // EIP-8: whatever follows the list is ignored.
    let (item, _, _extra) = rlp::split(data)?;
    let mut fields = item.list("packet data")?;
    let message = match packet_type {
        PING => {
            let version = fields.field("version")?.uint("version")?;
            let from = decode_endpoint(fields.field("from endpoint")?)?;
            let to = decode_endpoint(fields.field("to endpoint")?)?;
            let expiration = fields.field("expiration")?.uint("expiration")?;
            let enr_seq = fields.optional_uint()?;
            Message::Ping(Ping {
                version,
                from,
                to,
                expiration,
                enr_seq,
            })
        }
        PONG => {
            let to = decode_endpoint(fields.field("to endpoint")?)?;
            let ping_hash = fields.field("ping hash")?.fixed("ping hash")?;
            let expiration = fields.field("expiration")?.uint("expiration")?;
            let enr_seq = fields.optional_uint()?;
            Message::Pong(Pong {
                to,
                ping_hash,
                expiration,
                enr_seq,
            })
        }
        FIND_NODE => {
            let target = PeerId(fields.field("target")?.fixed("target")?);
            let expiration = fields.field("expiration")?.uint("expiration")?;
            Message::FindNode(FindNode { target, expiration })
        }
        NEIGHBORS => {
            let nodes = decode_nodes(fields.field("nodes")?)?;
            let expiration = fields.field("expiration")?.uint("expiration")?;
            Message::Neighbors(Neighbors { nodes, expiration })
        }
        ENR_REQUEST => {
            let expiration = fields.field("expiration")?.uint("expiration")?;
            Message::EnrRequest(EnrRequest { expiration })
        }
        _ => {
            let request_hash = fields.field("request hash")?.fixed("request hash")?;
            let (record, raw) = fields
                .next_raw()?
                .ok_or(PacketError::InvalidField("record"))?;
            if !matches!(record, rlp::Item::List(_)) || raw.len() > MAX_ENR_SIZE {
                return Err(PacketError::InvalidField("record"));
            }
            Message::EnrResponse(EnrResponse {
                request_hash,
                enr: raw.to_vec(),
            })
        }
    };
    // EIP-8: extra elements are ignored, but must be well-formed.
    fields.finish()?;
    Ok(message)
}

/// The IP of an endpoint or node: 4 bytes for IPv4, 16 for IPv6.
fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        Some(IpAddr::V4(Ipv4Addr::from(v4)))
    } else if let Ok(v6) = <[u8; 16]>::try_from(bytes) {
        Some(IpAddr::V6(Ipv6Addr::from(v6)))
    } else {
        None
    }
}

/// Reads `[ip, udp-port, tcp-port, ...]` from `list`, leaving any further elements.
fn endpoint_fields<'a>(list: &mut rlp::List<'a>) -> Result<(&'a [u8], u16, u16), PacketError> {
    let ip = list.field("ip")?.bytes("ip")?;
    let udp_port = list.field("udp port")?.u16("udp port")?;
    let tcp_port = list.field("tcp port")?.u16("tcp port")?;
    Ok((ip, udp_port, tcp_port))
}

/// The endpoint of a Ping or Pong.
fn decode_endpoint(item: rlp::Item<'_>) -> Result<Endpoint, PacketError> {
    let mut list = item.list("endpoint")?;
    let (ip, udp_port, tcp_port) = endpoint_fields(&mut list)?;
    list.finish()?;
    let ip = if ip.is_empty() {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        ip_from_bytes(ip).ok_or(PacketError::InvalidField("ip"))?
    };
    Ok(Endpoint {
        ip,
        udp_port,
        tcp_port,
    })
}

/// The node list of a Neighbors packet.
fn decode_nodes(item: rlp::Item<'_>) -> Result<Vec<Enode>, PacketError> {
    let mut list = item.list("nodes")?;
    let mut nodes = Vec::new();
    while let Some((item, _)) = list.next_raw()? {
        let mut node = item.list("node")?;
        let (ip, udp_port, tcp_port) = endpoint_fields(&mut node)?;
        let id = PeerId(node.field("node id")?.fixed("node id")?);
        node.finish()?;
        let Some(ip) = ip_from_bytes(ip) else {
            continue;
        };
        if nodes.len() < MAX_NEIGHBORS_RECEIVED {
            nodes.push(Enode {
                id,
                ip,
                tcp_port,
                udp_port,
            });
        }
    }
    Ok(nodes)
}

// ---------------------------------------------------------------------------------------------
// Packet data encoding.

fn encode_data(message: &Message, out: &mut Vec<u8>) {
    let mut fields = Vec::with_capacity(128);
    match message {
        Message::Ping(ping) => {
            rlp::encode_uint(ping.version, &mut fields);
            encode_endpoint(&ping.from, &mut fields);
            encode_endpoint(&ping.to, &mut fields);
            rlp::encode_uint(ping.expiration, &mut fields);
            if let Some(seq) = ping.enr_seq {
                rlp::encode_uint(seq, &mut fields);
            }
        }
        Message::Pong(pong) => {
            encode_endpoint(&pong.to, &mut fields);
            rlp::encode_bytes(&pong.ping_hash, &mut fields);
            rlp::encode_uint(pong.expiration, &mut fields);
            if let Some(seq) = pong.enr_seq {
                rlp::encode_uint(seq, &mut fields);
            }
        }
        Message::FindNode(find) => {
            rlp::encode_bytes(&find.target.0, &mut fields);
            rlp::encode_uint(find.expiration, &mut fields);
        }
        Message::Neighbors(neighbors) => {
            let mut nodes = Vec::with_capacity(neighbors.nodes.len() * 91);
            for node in &neighbors.nodes {
                let mut fields = Vec::with_capacity(89);
                endpoint_payload(&Endpoint::from(node), &mut fields);
                rlp::encode_bytes(&node.id.0, &mut fields);
                rlp::encode_list(&fields, &mut nodes);
            }
            rlp::encode_list(&nodes, &mut fields);
            rlp::encode_uint(neighbors.expiration, &mut fields);
        }
        Message::EnrRequest(request) => {
            rlp::encode_uint(request.expiration, &mut fields);
        }
        Message::EnrResponse(response) => {
            rlp::encode_bytes(&response.request_hash, &mut fields);
            fields.extend_from_slice(&response.enr);
        }
    }
    rlp::encode_list(&fields, out);
}

/// `ip, udp-port, tcp-port` (without the list header).
fn endpoint_payload(endpoint: &Endpoint, out: &mut Vec<u8>) {
    match endpoint.ip {
        IpAddr::V4(ip) => rlp::encode_bytes(&ip.octets(), out),
        IpAddr::V6(ip) => rlp::encode_bytes(&ip.octets(), out),
    }
    rlp::encode_uint(u64::from(endpoint.udp_port), out);
    rlp::encode_uint(u64::from(endpoint.tcp_port), out);
}

fn encode_endpoint(endpoint: &Endpoint, out: &mut Vec<u8>) {
    let mut fields = Vec::with_capacity(24);
    endpoint_payload(endpoint, &mut fields);
    rlp::encode_list(&fields, out);
}

/// A small strict RLP reader and writer for the packet data.
mod rlp {
    use super::PacketError;
    use crate::rlp::Kind;
    pub(super) use crate::rlp::{encode_bytes, encode_list, encode_uint};

    /// One RLP item with its header stripped.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(super) enum Item<'a> {
        /// A byte string: its content.
        Bytes(&'a [u8]),
        /// A list: its (still encoded) payload.
        List(&'a [u8]),
    }

    /// Splits the first item off `input` with the crate's strict reader: the item, its complete
    /// encoding, and what follows.
    pub(super) fn split(input: &[u8]) -> Result<(Item<'_>, &[u8], &[u8]), PacketError> {
        let (item, rest) = crate::rlp::split_item(input).map_err(|_| PacketError::InvalidRlp)?;
        let typed = match item.kind {
            Kind::Bytes => Item::Bytes(item.payload),
            Kind::List => Item::List(item.payload),
        };
        Ok((typed, item.raw, rest))
    }

    impl<'a> Item<'a> {
        /// The content of a byte string.
        pub(super) fn bytes(self, field: &'static str) -> Result<&'a [u8], PacketError> {
            match self {
                Item::Bytes(bytes) => Ok(bytes),
                Item::List(_) => Err(PacketError::InvalidField(field)),
            }
        }

        /// A byte string of exactly `N` bytes.
        pub(super) fn fixed<const N: usize>(
            self,
            field: &'static str,
        ) -> Result<[u8; N], PacketError> {
            self.bytes(field)?
                .try_into()
                .map_err(|_| PacketError::InvalidField(field))
        }

        /// The elements of a list.
        pub(super) fn list(self, field: &'static str) -> Result<List<'a>, PacketError> {
            match self {
                Item::List(payload) => Ok(List { rest: payload }),
                Item::Bytes(_) => Err(PacketError::InvalidField(field)),
            }
        }

        /// A canonical unsigned integer of at most 8 bytes (zero is the empty string).
        pub(super) fn uint(self, field: &'static str) -> Result<u64, PacketError> {
            self.as_uint().ok_or(PacketError::InvalidField(field))
        }

        /// A canonical unsigned integer of at most 16 bits.
        pub(super) fn u16(self, field: &'static str) -> Result<u16, PacketError> {
            self.as_uint()
                .and_then(|value| u16::try_from(value).ok())
                .ok_or(PacketError::InvalidField(field))
        }

        fn as_uint(self) -> Option<u64> {
            let Item::Bytes(bytes) = self else {
                return None;
            };
            if bytes.len() > 8 || bytes.first() == Some(&0) {
                return None;
            }
            Some(bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
        }
    }

    /// The remaining elements of a list. Elements must tile the list payload exactly.
    #[derive(Debug, Clone)]
    pub(super) struct List<'a> {
        rest: &'a [u8],
    }

    impl<'a> List<'a> {
        /// The next element and its complete encoding, or `None` at the end of the list.
        pub(super) fn next_raw(&mut self) -> Result<Option<(Item<'a>, &'a [u8])>, PacketError> {
            if self.rest.is_empty() {
                return Ok(None);
            }
            let (item, raw, rest) = split(self.rest)?;
            self.rest = rest;
            Ok(Some((item, raw)))
        }

        /// The next element, which must exist.
        pub(super) fn field(&mut self, field: &'static str) -> Result<Item<'a>, PacketError> {
            self.next_raw()?
                .map(|(item, _)| item)
                .ok_or(PacketError::InvalidField(field))
        }

        /// The next element if it is a canonical integer of at most 8 bytes; consumes it either
        /// way (a non-integer there is an ignored extra element).
        pub(super) fn optional_uint(&mut self) -> Result<Option<u64>, PacketError> {
            Ok(self.next_raw()?.and_then(|(item, _)| item.as_uint()))
        }

        /// Checks that the remaining (ignored) elements are well-formed.
        pub(super) fn finish(mut self) -> Result<(), PacketError> {
            while self.next_raw()?.is_some() {}
            Ok(())
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn first(bytes: &[u8]) -> Result<Item<'_>, PacketError> {
            split(bytes).map(|(item, _, _)| item)
        }

        #[test]
        fn headers() {
            assert_eq!(first(&[0x05]), Ok(Item::Bytes(&[0x05])));
            assert_eq!(first(&[0x80]), Ok(Item::Bytes(&[])));
            assert_eq!(first(&[0x81, 0x80]), Ok(Item::Bytes(&[0x80])));
            assert_eq!(first(&[0xc0]), Ok(Item::List(&[])));
            let (item, raw, rest) = split(&[0xc2, 1, 2, 3]).unwrap();
            assert_eq!(
                (item, raw, rest),
                (Item::List(&[1, 2]), &[0xc2, 1, 2][..], &[3][..])
            );
            let mut long = vec![0xb8, 56];
            long.extend_from_slice(&[7; 56]);
            assert_eq!(first(&long), Ok(Item::Bytes(&[7; 56])));
        }

        #[test]
        fn rejects_non_canonical_and_truncated() {
            for bad in [
                &[][..],
                &[0x81, 0x05],             // single byte in a string header
                &[0xb8, 0x01, 0x05],       // long form for a short string
                &[0xb9, 0x00, 0x40],       // leading zero in the length
                &[0xf8, 0x02, 0x01, 0x02], // long form for a short list
                &[0x82, 0x01],             // truncated
                &[0xc3, 0x01],             // truncated list
                &[0xbf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // absurd length
                &[0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            ] {
                assert_eq!(first(bad), Err(PacketError::InvalidRlp), "{bad:02x?}");
            }
        }

        #[test]
        fn integers() {
            let int = |b: &[u8]| first(b).unwrap().uint("x");
            assert_eq!(int(&[0x80]), Ok(0));
            assert_eq!(int(&[0x7f]), Ok(0x7f));
            assert_eq!(int(&[0x82, 0x01, 0x00]), Ok(256));
            assert_eq!(
                int(&[0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
                Ok(u64::MAX)
            );
            assert!(int(&[0x00]).is_err());
            assert!(int(&[0x82, 0x00, 0x01]).is_err());
            assert!(int(&[0x89, 1, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
            assert!(int(&[0xc0]).is_err());
            assert_eq!(first(&[0x82, 0xff, 0xff]).unwrap().u16("p"), Ok(65535));
            assert!(first(&[0x83, 0x01, 0x00, 0x00]).unwrap().u16("p").is_err());

            for value in [0, 1, 0x7f, 0x80, 0xff, 0x100, 1 << 40, u64::MAX] {
                let mut out = Vec::new();
                encode_uint(value, &mut out);
                let (item, _, rest) = split(&out).unwrap();
                assert!(rest.is_empty());
                assert_eq!(item.uint("x"), Ok(value));
            }
        }

        #[test]
        fn lists_must_tile() {
            let (item, _, _) = split(&[0xc3, 0x01, 0x82, 0x02]).unwrap();
            let mut list = item.list("l").unwrap();
            assert_eq!(list.field("a"), Ok(Item::Bytes(&[0x01])));
            assert_eq!(list.next_raw(), Err(PacketError::InvalidRlp));

            let (item, _, _) = split(&[0xc2, 0x01, 0x02]).unwrap();
            let mut list = item.list("l").unwrap();
            list.field("a").unwrap();
            list.field("b").unwrap();
            assert_eq!(list.field("c"), Err(PacketError::InvalidField("c")));
        }

        #[test]
        fn long_headers_round_trip() {
            for len in [0usize, 1, 55, 56, 255, 256, 1024] {
                let payload = vec![0x80; len];
                let mut out = Vec::new();
                encode_list(&payload, &mut out);
                assert_eq!(first(&out), Ok(Item::List(&payload)));
                let bytes = vec![0xaa; len];
                let mut out = Vec::new();
                encode_bytes(&bytes, &mut out);
                assert_eq!(first(&out), Ok(Item::Bytes(&bytes)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SecretKey {
        SecretKey::from_secret_bytes([0x42; 32]).unwrap()
    }

    // Hand-built RLP for bodies `encode` would never write.
    fn b(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        rlp::encode_bytes(bytes, &mut out);
        out
    }
    fn u(value: u64) -> Vec<u8> {
        let mut out = Vec::new();
        rlp::encode_uint(value, &mut out);
        out
    }
    fn l(items: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        rlp::encode_list(&items.concat(), &mut out);
        out
    }
    fn endpoint(ip: &[u8], udp: u64, tcp: u64) -> Vec<u8> {
        l(&[b(ip), u(udp), u(tcp)])
    }
    fn ping_data(from: Vec<u8>) -> Vec<u8> {
        l(&[u(4), from, endpoint(&[1, 2, 3, 4], 30303, 30303), u(1000)])
    }
    fn open(packet_type: u8, data: &[u8]) -> Result<Message, PacketError> {
        let (packet, hash) = seal(packet_type, data, &key());
        let decoded = decode(&packet)?;
        assert_eq!(decoded.sender, PeerId::from_secret_key(&key()));
        assert_eq!(decoded.hash, hash);
        Ok(decoded.message)
    }
    fn node(ip: &[u8], id: u8) -> Vec<u8> {
        l(&[b(ip), u(30303), u(30303), b(&[id; 64])])
    }

    #[test]
    fn size_limits() {
        assert_eq!(decode(&[0; 97]), Err(PacketError::TooSmall(97)));
        assert_eq!(decode(&[]), Err(PacketError::TooSmall(0)));
        assert_eq!(decode(&[0; 98]), Err(PacketError::HashMismatch));
        assert_eq!(
            decode(&[0; MAX_RECEIVE_PACKET_SIZE + 1]),
            Err(PacketError::TooLarge(MAX_RECEIVE_PACKET_SIZE + 1))
        );
        // The type byte alone: empty packet data.
        assert_eq!(open(PING, &[]), Err(PacketError::InvalidRlp));

        // An oversized but acceptable packet: 16 IPv4 nodes, like ethereumjs sends.
        let nodes: Vec<Vec<u8>> = (0..16).map(|i| node(&[8, 8, 8, i], i)).collect();
        let data = l(&[l(&nodes), u(u64::MAX)]);
        let (packet, _) = seal(NEIGHBORS, &data, &key());
        assert!(packet.len() > MAX_PACKET_SIZE);
        let Ok(Message::Neighbors(n)) = decode(&packet).map(|p| p.message) else {
            panic!("not accepted");
        };
        assert_eq!(n.nodes.len(), 16);

        // Exactly at the receive limit (padding after the list is ignored).
        let mut padded = data.clone();
        padded.resize(MAX_RECEIVE_PACKET_SIZE - HEADER_SIZE - 1, 0xee);
        let (packet, _) = seal(NEIGHBORS, &padded, &key());
        assert_eq!(packet.len(), MAX_RECEIVE_PACKET_SIZE);
        assert!(decode(&packet).is_ok());
        padded.push(0xee);
        let (packet, _) = seal(NEIGHBORS, &padded, &key());
        assert_eq!(
            decode(&packet),
            Err(PacketError::TooLarge(MAX_RECEIVE_PACKET_SIZE + 1))
        );
    }

    #[test]
    fn signature_errors() {
        let data = ping_data(endpoint(&[1, 1, 1, 1], 1, 1));
        let (packet, _) = seal(PING, &data, &key());
        let rehash = |mut p: Vec<u8>| {
            let hash = keccak256(&p[32..]);
            p[..32].copy_from_slice(&hash);
            p
        };
        // r = 0.
        let mut bad = packet.clone();
        bad[32..64].fill(0);
        assert_eq!(decode(&rehash(bad)), Err(PacketError::InvalidSignature));
        // s >= n.
        let mut bad = packet.clone();
        bad[64..96].fill(0xff);
        assert_eq!(decode(&rehash(bad)), Err(PacketError::InvalidSignature));
        // Recovery id out of range.
        let mut bad = packet.clone();
        bad[96] = 4;
        assert_eq!(decode(&rehash(bad)), Err(PacketError::InvalidSignature));
        // Another valid recovery id, or a changed body, recovers someone else (or nobody).
        let mut other = packet.clone();
        other[96] ^= 1;
        match decode(&rehash(other)) {
            Ok(p) => assert_ne!(p.sender, PeerId::from_secret_key(&key())),
            Err(e) => assert_eq!(e, PacketError::InvalidSignature),
        }
        let mut other = packet.clone();
        let last = other.len() - 1;
        other[last] ^= 1; // expiration 1000 -> 1001
        match decode(&rehash(other)) {
            Ok(p) => assert_ne!(p.sender, PeerId::from_secret_key(&key())),
            Err(e) => assert_eq!(e, PacketError::InvalidSignature),
        }
        // A malformed body is rejected before any recovery.
        let mut bad = packet.clone();
        bad[98] = 0xff;
        assert_eq!(decode(&rehash(bad)), Err(PacketError::InvalidRlp));
    }

    #[test]
    fn unknown_types() {
        for t in [0x00, 0x07, 0x80, 0xff] {
            assert_eq!(open(t, &l(&[u(1)])), Err(PacketError::UnknownType(t)));
        }
    }

    #[test]
    fn eip8_extras_are_ignored_but_must_be_well_formed() {
        // Extra elements in endpoints, the packet list and after it.
        let from = l(&[b(&[1, 2, 3, 4]), u(1), u(2), u(3), l(&[u(4)])]);
        let mut data = l(&[
            u(4),
            from,
            endpoint(&[5, 6, 7, 8], 9, 10),
            u(1000),
            u(77),
            b(b"future"),
        ]);
        data.extend_from_slice(&[0xff, 0x00, 0x12]);
        let Ok(Message::Ping(ping)) = open(PING, &data) else {
            panic!("rejected")
        };
        assert_eq!(ping.from.ip, IpAddr::V4(Ipv4Addr::new(1, 2, 3, 4)));
        assert_eq!((ping.from.udp_port, ping.from.tcp_port), (1, 2));
        assert_eq!(ping.enr_seq, Some(77));

        // A non-integer (or oversized) enr-seq is an ignored extra element.
        for odd in [l(&[]), b(&[1; 9]), b(&[0, 1])] {
            let data = l(&[
                u(4),
                endpoint(&[1, 1, 1, 1], 1, 1),
                endpoint(&[1, 1, 1, 1], 1, 1),
                u(1000),
                odd,
            ]);
            let Ok(Message::Ping(ping)) = open(PING, &data) else {
                panic!("rejected")
            };
            assert_eq!(ping.enr_seq, None);
        }

        // A truncated extra element inside the list is not ignored.
        let mut inner = [u(1000)].concat();
        inner.extend_from_slice(&[0x82, 0x01]);
        let mut data = Vec::new();
        rlp::encode_list(&inner, &mut data);
        assert_eq!(open(ENR_REQUEST, &data), Err(PacketError::InvalidRlp));
        // Nor inside an endpoint.
        let mut inner = [b(&[1, 1, 1, 1]), u(1), u(1)].concat();
        inner.push(0xb8);
        let mut bad_endpoint = Vec::new();
        rlp::encode_list(&inner, &mut bad_endpoint);
        assert_eq!(
            open(PING, &ping_data(bad_endpoint)),
            Err(PacketError::InvalidRlp)
        );
        // Packet data that is not a list.
        assert_eq!(
            open(ENR_REQUEST, &u(1000)),
            Err(PacketError::InvalidField("packet data"))
        );
    }

    #[test]
    fn endpoint_ips() {
        // Empty: what go-ethereum sends when it does not know its address.
        let Ok(Message::Ping(ping)) = open(PING, &ping_data(endpoint(&[], 0, 0))) else {
            panic!("rejected")
        };
        assert_eq!(ping.from.ip, IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let Ok(Message::Ping(ping)) = open(PING, &ping_data(endpoint(&[0xfe; 16], 0, 0))) else {
            panic!("rejected")
        };
        assert_eq!(ping.from.ip, IpAddr::V6(Ipv6Addr::from([0xfe; 16])));
        for bad in [&[1u8][..], &[1, 2, 3], &[1, 2, 3, 4, 5], &[0; 15], &[0; 17]] {
            assert_eq!(
                open(PING, &ping_data(endpoint(bad, 0, 0))),
                Err(PacketError::InvalidField("ip"))
            );
        }
        // The IP as a list.
        assert_eq!(
            open(PING, &ping_data(l(&[l(&[]), u(1), u(1)]))),
            Err(PacketError::InvalidField("ip"))
        );
    }

    #[test]
    fn integer_fields_are_strict() {
        assert_eq!(
            open(PING, &ping_data(endpoint(&[1, 1, 1, 1], 65536, 1))),
            Err(PacketError::InvalidField("udp port"))
        );
        assert_eq!(
            open(PING, &ping_data(endpoint(&[1, 1, 1, 1], 1, 1 << 40))),
            Err(PacketError::InvalidField("tcp port"))
        );
        // Leading zero in a port.
        let from = l(&[b(&[1, 1, 1, 1]), b(&[0, 5]), u(1)]);
        assert_eq!(
            open(PING, &ping_data(from)),
            Err(PacketError::InvalidField("udp port"))
        );
        // Non-canonical single byte (0x81 0x05) is malformed RLP.
        let mut data = Vec::new();
        rlp::encode_list(&[0x81, 0x05], &mut data);
        assert_eq!(open(ENR_REQUEST, &data), Err(PacketError::InvalidRlp));
        // A 9-byte expiration.
        assert_eq!(
            open(ENR_REQUEST, &l(&[b(&[1; 9])])),
            Err(PacketError::InvalidField("expiration"))
        );
        // The version may be any 64-bit integer.
        let data = l(&[
            u(u64::MAX),
            endpoint(&[1, 1, 1, 1], 1, 1),
            endpoint(&[1, 1, 1, 1], 1, 1),
            u(0),
        ]);
        let Ok(Message::Ping(ping)) = open(PING, &data) else {
            panic!("rejected")
        };
        assert_eq!((ping.version, ping.expiration), (u64::MAX, 0));
    }

    #[test]
    fn missing_and_mis_sized_fields() {
        assert_eq!(
            open(ENR_REQUEST, &l(&[])),
            Err(PacketError::InvalidField("expiration"))
        );
        assert_eq!(
            open(FIND_NODE, &l(&[b(&[1; 63]), u(1)])),
            Err(PacketError::InvalidField("target"))
        );
        assert_eq!(
            open(FIND_NODE, &l(&[b(&[1; 64])])),
            Err(PacketError::InvalidField("expiration"))
        );
        assert_eq!(
            open(
                PONG,
                &l(&[endpoint(&[1, 1, 1, 1], 1, 1), b(&[1; 31]), u(1)])
            ),
            Err(PacketError::InvalidField("ping hash"))
        );
        assert_eq!(
            open(ENR_RESPONSE, &l(&[b(&[1; 32])])),
            Err(PacketError::InvalidField("record"))
        );
        assert_eq!(
            open(
                NEIGHBORS,
                &l(&[l(&[l(&[b(&[1, 1, 1, 1]), u(1), u(1), b(&[1; 65])])]), u(1)])
            ),
            Err(PacketError::InvalidField("node id"))
        );
        assert_eq!(
            open(NEIGHBORS, &l(&[b(&[]), u(1)])),
            Err(PacketError::InvalidField("nodes"))
        );
    }

    #[test]
    fn neighbors_skip_bad_ips_and_keep_at_most_sixteen() {
        let nodes = vec![
            node(&[1, 2, 3, 4], 1),
            node(&[], 2),
            node(&[1, 2, 3], 3),
            node(&[0x20; 16], 4),
            l(&[b(&[9, 9, 9, 9]), u(1), u(2), b(&[5; 64]), b(b"extra")]),
        ];
        let Ok(Message::Neighbors(n)) = open(NEIGHBORS, &l(&[l(&nodes), u(3)])) else {
            panic!("rejected")
        };
        let ids: Vec<u8> = n.nodes.iter().map(|n| n.id.0[0]).collect();
        assert_eq!(ids, [1, 4, 5]);
        assert_eq!(n.nodes[2].tcp_port, 2);

        let nodes: Vec<Vec<u8>> = (0..20).map(|i| node(&[1, 1, 1, i], i)).collect();
        let Ok(Message::Neighbors(n)) = open(NEIGHBORS, &l(&[l(&nodes), u(3)])) else {
            panic!("rejected")
        };
        let ids: Vec<u8> = n.nodes.iter().map(|n| n.id.0[0]).collect();
        assert_eq!(ids, (0..16).collect::<Vec<u8>>());

        // Every node is still checked, even past the sixteenth.
        let mut nodes = nodes;
        nodes.push(l(&[b(&[1, 1, 1, 1]), u(70000), u(1), b(&[0; 64])]));
        assert_eq!(
            open(NEIGHBORS, &l(&[l(&nodes), u(3)])),
            Err(PacketError::InvalidField("udp port"))
        );
    }

    #[test]
    fn enr_response_record() {
        let hash = b(&[7; 32]);
        // A 300-byte list is the largest record.
        let mut record = Vec::new();
        rlp::encode_list(&[0x01; 297], &mut record);
        assert_eq!(record.len(), MAX_ENR_SIZE);
        let Ok(Message::EnrResponse(r)) = open(ENR_RESPONSE, &l(&[hash.clone(), record.clone()]))
        else {
            panic!("rejected")
        };
        assert_eq!((r.request_hash, &r.enr), ([7; 32], &record));

        let mut big = Vec::new();
        rlp::encode_list(&[0x01; 298], &mut big);
        assert_eq!(
            open(ENR_RESPONSE, &l(&[hash.clone(), big])),
            Err(PacketError::InvalidField("record"))
        );
        assert_eq!(
            open(ENR_RESPONSE, &l(&[hash.clone(), b(&[1; 20])])),
            Err(PacketError::InvalidField("record"))
        );
        // Extra elements after the record are ignored.
        let Ok(Message::EnrResponse(r)) = open(ENR_RESPONSE, &l(&[hash, l(&[u(1)]), u(5), l(&[])]))
        else {
            panic!("rejected")
        };
        assert_eq!(r.enr, [0xc1, 0x01]);
    }

    #[test]
    fn worst_case_neighbors_fit() {
        let nodes = [Enode {
            id: PeerId([0xff; 64]),
            ip: IpAddr::V6(Ipv6Addr::from([0xff; 16])),
            tcp_port: u16::MAX,
            udp_port: u16::MAX,
        }; MAX_NEIGHBORS_PER_PACKET];
        let message = Message::Neighbors(Neighbors {
            nodes: nodes.to_vec(),
            expiration: u64::MAX,
        });
        let (packet, _) = encode(&message, &key());
        assert!(packet.len() <= MAX_PACKET_SIZE, "{}", packet.len());
        let mut more = nodes.to_vec();
        more.push(nodes[0]);
        let (packet, _) = encode(
            &Message::Neighbors(Neighbors {
                nodes: more,
                expiration: u64::MAX,
            }),
            &key(),
        );
        assert!(packet.len() > MAX_PACKET_SIZE, "13 nodes could fit");
    }
}
