//! Ethereum Node Records ([EIP-778](https://eips.ethereum.org/EIPS/eip-778)).
//!
//! A record is the RLP list `[signature, seq, k, v, k, v, ...]`: a sequence number and key/value
//! pairs sorted by key, signed by the node. At most [`MAX_RECORD_SIZE`] bytes. Only the "v4"
//! identity scheme exists: the signature is the 64-byte `r || s` secp256k1 ECDSA signature of
//! `keccak256(rlp([seq, k, v, ...]))`, the public key is the 33-byte compressed point under
//! `"secp256k1"`, and the node id is `keccak256` of the 64-byte uncompressed key. The text form is
//! `enr:` followed by the unpadded base64url of the RLP.
//!
//! An [`Enr`] is immutable and always verified: [`Enr::decode`] and [`str::parse`] check the
//! signature, and [`EnrBuilder::build`] signs. Values are kept as the raw RLP items they were
//! received as, so keys this crate does not know survive a decode / encode round trip byte for
//! byte.

pub(crate) mod base64;

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use secp256k1::ecdsa::Signature;
use secp256k1::{Message, PublicKey, SecretKey};

use crate::node_id::keccak256;
use crate::rlp::{self, Item, Kind};
use crate::{Enode, NodeId, PeerId};

/// The largest encoded record allowed (EIP-778).
pub const MAX_RECORD_SIZE: usize = 300;

/// The longest text form of a record that can decode: `enr:` and the base64 of 300 bytes.
const MAX_TEXT_LEN: usize = 4 + MAX_RECORD_SIZE.div_ceil(3) * 4;

/// The identity scheme key.
pub const KEY_ID: &str = "id";
/// The compressed secp256k1 public key of the "v4" scheme.
pub const KEY_SECP256K1: &str = "secp256k1";
/// IPv4 address, 4 bytes.
pub const KEY_IP: &str = "ip";
/// IPv6 address, 16 bytes.
pub const KEY_IP6: &str = "ip6";
/// TCP port (integer).
pub const KEY_TCP: &str = "tcp";
/// UDP port (integer).
pub const KEY_UDP: &str = "udp";
/// IPv6-specific TCP port (integer); `tcp` applies when absent.
pub const KEY_TCP6: &str = "tcp6";
/// IPv6-specific UDP port (integer); `udp` applies when absent.
pub const KEY_UDP6: &str = "udp6";

/// Why a record was rejected, or could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnrError {
    /// The record is larger than [`MAX_RECORD_SIZE`] bytes (checked before parsing).
    #[error("record of {0} bytes exceeds the 300-byte limit")]
    TooLarge(usize),
    /// The bytes are not a canonical RLP record `[signature, seq, k, v, ...]`.
    #[error("invalid record RLP: {0}")]
    InvalidRlp(&'static str),
    /// The signature is not 64 bytes, or does not verify (high-S signatures do not).
    #[error("invalid record signature")]
    InvalidSignature,
    /// The `id` key names a scheme other than "v4"; such a record cannot be verified.
    #[error("unsupported identity scheme {0:?}")]
    UnsupportedIdScheme(String),
    /// A key the identity scheme needs is absent.
    #[error("record has no {0:?} key")]
    MissingKey(&'static str),
    /// Keys are not strictly increasing.
    #[error("record keys are duplicated or not sorted")]
    DuplicateOrUnsortedKey,
    /// The value of a key is malformed (for a known key, not of its type; for
    /// [`EnrBuilder::insert_raw`], not exactly one canonical RLP item).
    #[error("invalid value for key {key:?}")]
    InvalidValue {
        /// The key (lossily converted to text).
        key: String,
    },
    /// The text form is not canonical unpadded base64url.
    #[error("invalid base64 in record text")]
    InvalidBase64,
    /// The text form does not start with `enr:`.
    #[error("record text must start with \"enr:\"")]
    MissingPrefix,
    /// [`Enr::update`] was given a key other than the record's own.
    #[error("secret key does not belong to this record")]
    KeyMismatch,
    /// The sequence number cannot be increased past `u64::MAX`.
    #[error("sequence number overflow")]
    SeqOverflow,
}

/// Where a key or a value lies in a record's encoding (records are at most 300 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: u16,
    end: u16,
}

impl Span {
    /// The span of `part`, a subslice of `whole`.
    fn of(whole: &[u8], part: &[u8]) -> Span {
        let start = part.as_ptr() as usize - whole.as_ptr() as usize;
        debug_assert!(start + part.len() <= whole.len(), "a subslice");
        Span {
            start: start as u16,
            end: (start + part.len()) as u16,
        }
    }

    fn get(self, whole: &[u8]) -> &[u8] {
        &whole[usize::from(self.start)..usize::from(self.end)]
    }
}

/// A verified node record (identity scheme "v4").
#[derive(Clone)]
pub struct Enr {
    /// The record as encoded and signed.
    raw: Vec<u8>,
    seq: u64,
    signature: [u8; 64],
    /// Key and raw RLP value, strictly increasing by key, as spans of `raw`: one small
    /// allocation instead of two per pair (a table of records is most of discovery's memory).
    pairs: Vec<(Span, Span)>,
    public_key: PublicKey,
    id: NodeId,
    ip4: Option<Ipv4Addr>,
    tcp4: Option<u16>,
    udp4: Option<u16>,
    ip6: Option<Ipv6Addr>,
    tcp6: Option<u16>,
    udp6: Option<u16>,
}

impl Enr {
    /// A builder for a new record (sequence number 1, no keys but the identity).
    pub fn builder() -> EnrBuilder {
        EnrBuilder::new()
    }

    /// Decodes and verifies a record from its RLP.
    ///
    /// Rejects records over 300 bytes, non-canonical RLP, trailing bytes, keys that are not
    /// strictly increasing, identity schemes other than "v4", bad signatures, and malformed
    /// values for the keys this type interprets (`id`, `secp256k1`, `ip`, `ip6`, `tcp`, `udp`,
    /// `tcp6`, `udp6`). Values of other keys are kept as they are (each one RLP item).
    pub fn decode(bytes: &[u8]) -> Result<Enr, EnrError> {
        if bytes.len() > MAX_RECORD_SIZE {
            return Err(EnrError::TooLarge(bytes.len()));
        }
        let record = rlp::single_item(bytes).map_err(EnrError::InvalidRlp)?;
        if record.kind != Kind::List {
            return Err(EnrError::InvalidRlp("record is not a list"));
        }
        let (signature, content) = rlp::split_item(record.payload)
            .map_err(|_| EnrError::InvalidRlp("missing signature"))?;
        if signature.kind != Kind::Bytes {
            return Err(EnrError::InvalidRlp("signature is a list"));
        }
        let (seq, mut rest) = rlp::split_item(content)
            .map_err(|_| EnrError::InvalidRlp("missing sequence number"))?;
        let seq = rlp::uint(&seq, 8).map_err(EnrError::InvalidRlp)?;

        // At most 150 pairs fit in 300 bytes, so this is bounded by the size check above.
        let mut pairs: Vec<(Span, Span)> = Vec::new();
        while !rest.is_empty() {
            let (key, after_key) = rlp::split_item(rest).map_err(EnrError::InvalidRlp)?;
            if key.kind != Kind::Bytes {
                return Err(EnrError::InvalidRlp("key is a list"));
            }
            let (value, after_value) = rlp::split_item(after_key)
                .map_err(|_| EnrError::InvalidRlp("key without a valid value"))?;
            if let Some((previous, _)) = pairs.last()
                && previous.get(bytes) >= key.payload
            {
                return Err(EnrError::DuplicateOrUnsortedKey);
            }
            pairs.push((Span::of(bytes, key.payload), Span::of(bytes, value.raw)));
            rest = after_value;
        }

        // The identity scheme decides how to verify, so it is checked first.
        let scheme = lookup(bytes, &pairs, KEY_ID)
            .ok_or(EnrError::MissingKey(KEY_ID))
            .and_then(|raw| bytes_value(KEY_ID, raw))?;
        if scheme != b"v4" {
            return Err(EnrError::UnsupportedIdScheme(
                String::from_utf8_lossy(scheme).into_owned(),
            ));
        }
        let public_key = lookup(bytes, &pairs, KEY_SECP256K1)
            .ok_or(EnrError::MissingKey(KEY_SECP256K1))
            .and_then(parse_public_key)?;
        let signature = verify_v4(signature.payload, content, &public_key)?;
        Ok(Enr {
            raw: bytes.to_vec(),
            seq,
            signature,
            public_key,
            id: NodeId::from_public_key(&public_key),
            ip4: typed(bytes, &pairs, KEY_IP)?,
            tcp4: typed(bytes, &pairs, KEY_TCP)?,
            udp4: typed(bytes, &pairs, KEY_UDP)?,
            ip6: typed(bytes, &pairs, KEY_IP6)?,
            tcp6: typed(bytes, &pairs, KEY_TCP6)?,
            udp6: typed(bytes, &pairs, KEY_UDP6)?,
            pairs,
        })
    }

    /// The sequence number.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The node id, `keccak256` of the public key.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The node's public key.
    pub fn public_key(&self) -> PublicKey {
        self.public_key
    }

    /// The node's public key as the 64 bytes devp2p uses.
    pub fn peer_id(&self) -> PeerId {
        PeerId::from_public_key(&self.public_key)
    }

    /// The IPv4 address (`ip`).
    pub fn ip4(&self) -> Option<Ipv4Addr> {
        self.ip4
    }

    /// The TCP port (`tcp`).
    pub fn tcp4(&self) -> Option<u16> {
        self.tcp4
    }

    /// The UDP port (`udp`).
    pub fn udp4(&self) -> Option<u16> {
        self.udp4
    }

    /// The IPv6 address (`ip6`).
    pub fn ip6(&self) -> Option<Ipv6Addr> {
        self.ip6
    }

    /// The IPv6-specific TCP port (`tcp6`), without falling back to `tcp`.
    pub fn tcp6(&self) -> Option<u16> {
        self.tcp6
    }

    /// The IPv6-specific UDP port (`udp6`), without falling back to `udp`.
    pub fn udp6(&self) -> Option<u16> {
        self.udp6
    }

    /// The raw RLP item stored under `key`.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Option<&[u8]> {
        lookup_bytes(&self.raw, &self.pairs, key.as_ref())
    }

    /// All keys and raw RLP values, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.pairs
            .iter()
            .map(|(k, v)| (k.get(&self.raw), v.get(&self.raw)))
    }

    /// The 64-byte signature.
    pub fn signature(&self) -> [u8; 64] {
        self.signature
    }

    /// The encoded record.
    pub fn encoded(&self) -> &[u8] {
        &self.raw
    }

    /// The encoded record, copied.
    pub fn to_rlp(&self) -> Vec<u8> {
        self.raw.clone()
    }

    /// The node as an `enode://` URL would give it: the IPv4 address with `tcp` / `udp`, or,
    /// without one, the IPv6 address with `tcp6` / `udp6` (each falling back to `tcp` / `udp`).
    /// A missing port is 0. `None` without any IP address.
    pub fn to_enode(&self) -> Option<Enode> {
        let (ip, tcp, udp) = if let Some(ip) = self.ip4 {
            (IpAddr::V4(ip), self.tcp4, self.udp4)
        } else {
            let ip = self.ip6?;
            (
                IpAddr::V6(ip),
                self.tcp6.or(self.tcp4),
                self.udp6.or(self.udp4),
            )
        };
        Some(Enode {
            id: self.peer_id(),
            ip,
            tcp_port: tcp.unwrap_or(0),
            udp_port: udp.unwrap_or(0),
        })
    }

    /// A builder holding this record's keys and sequence number.
    pub fn to_builder(&self) -> EnrBuilder {
        EnrBuilder {
            seq: self.seq,
            pairs: self.iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect(),
        }
    }

    /// This record changed by `f` and signed again with `key`, its sequence number increased
    /// by one (or set higher by `f`). `key` must be the record's own key.
    pub fn update(
        &self,
        key: &SecretKey,
        f: impl FnOnce(&mut EnrBuilder),
    ) -> Result<Enr, EnrError> {
        if PublicKey::from_secret_key(key) != self.public_key {
            return Err(EnrError::KeyMismatch);
        }
        let next = self.seq.checked_add(1).ok_or(EnrError::SeqOverflow)?;
        let mut builder = self.to_builder();
        f(&mut builder);
        builder.seq = builder.seq.max(next);
        builder.build(key)
    }
}

/// `keccak256(content)` checked against the 64-byte `r || s` signature, where `content` is the
/// payload of the record after the signature (`seq, k, v, ...`).
fn verify_v4(signature: &[u8], content: &[u8], key: &PublicKey) -> Result<[u8; 64], EnrError> {
    let bytes: [u8; 64] = signature
        .try_into()
        .map_err(|_| EnrError::InvalidSignature)?;
    let signature = Signature::from_compact(&bytes).map_err(|_| EnrError::InvalidSignature)?;
    let mut signed = Vec::with_capacity(content.len() + 3);
    rlp::encode_header(content.len(), true, &mut signed);
    signed.extend_from_slice(content);
    // libsecp256k1 rejects high-S signatures, as go-ethereum's VerifySignature does.
    signature
        .verify(Message::from_digest(keccak256(&signed)), key)
        .map_err(|_| EnrError::InvalidSignature)?;
    Ok(bytes)
}

/// The raw value of `key` in pairs sorted by key.
fn lookup<'a>(raw: &'a [u8], pairs: &[(Span, Span)], key: &str) -> Option<&'a [u8]> {
    lookup_bytes(raw, pairs, key.as_bytes())
}

fn lookup_bytes<'a>(raw: &'a [u8], pairs: &[(Span, Span)], key: &[u8]) -> Option<&'a [u8]> {
    pairs
        .binary_search_by(|(k, _)| k.get(raw).cmp(key))
        .ok()
        .map(|i| pairs[i].1.get(raw))
}

/// The value of a known key, if present, checked against its type.
fn typed<T: KnownValue>(
    raw: &[u8],
    pairs: &[(Span, Span)],
    key: &'static str,
) -> Result<Option<T>, EnrError> {
    lookup(raw, pairs, key)
        .map(|raw| T::parse(raw).ok_or_else(|| invalid(key.as_bytes())))
        .transpose()
}

fn invalid(key: &[u8]) -> EnrError {
    EnrError::InvalidValue {
        key: String::from_utf8_lossy(key).into_owned(),
    }
}

/// The payload of a raw value that must be a byte string.
fn bytes_value<'a>(key: &str, raw: &'a [u8]) -> Result<&'a [u8], EnrError> {
    match rlp::single_item(raw) {
        Ok(Item {
            kind: Kind::Bytes,
            payload,
            ..
        }) => Ok(payload),
        _ => Err(invalid(key.as_bytes())),
    }
}

fn parse_public_key(raw: &[u8]) -> Result<PublicKey, EnrError> {
    let bytes = bytes_value(KEY_SECP256K1, raw)?;
    let bytes: [u8; 33] = bytes
        .try_into()
        .map_err(|_| invalid(KEY_SECP256K1.as_bytes()))?;
    PublicKey::from_byte_array_compressed(bytes).map_err(|_| invalid(KEY_SECP256K1.as_bytes()))
}

/// A value type of a key this module interprets, read from its raw RLP.
trait KnownValue: Sized {
    fn parse(raw: &[u8]) -> Option<Self>;
}

impl KnownValue for u16 {
    fn parse(raw: &[u8]) -> Option<Self> {
        let item = rlp::single_item(raw).ok()?;
        rlp::uint(&item, 2).ok().map(|v| v as u16)
    }
}

impl KnownValue for Ipv4Addr {
    fn parse(raw: &[u8]) -> Option<Self> {
        let bytes: [u8; 4] = bytes_value("", raw).ok()?.try_into().ok()?;
        Some(Ipv4Addr::from(bytes))
    }
}

impl KnownValue for Ipv6Addr {
    fn parse(raw: &[u8]) -> Option<Self> {
        let bytes: [u8; 16] = bytes_value("", raw).ok()?.try_into().ok()?;
        Some(Ipv6Addr::from(bytes))
    }
}

/// Checks a value given for `key` before it goes into a record: exactly one canonical RLP item,
/// of the right type if `key` is one this module interprets.
fn check_value(key: &[u8], raw: &[u8]) -> Result<(), EnrError> {
    rlp::single_item(raw).map_err(|_| invalid(key))?;
    let ok = match key {
        b"ip" => Ipv4Addr::parse(raw).is_some(),
        b"ip6" => Ipv6Addr::parse(raw).is_some(),
        b"tcp" | b"udp" | b"tcp6" | b"udp6" => u16::parse(raw).is_some(),
        b"secp256k1" => parse_public_key(raw).is_ok(),
        b"id" => bytes_value(KEY_ID, raw).is_ok(),
        _ => true,
    };
    if ok { Ok(()) } else { Err(invalid(key)) }
}

impl PartialEq for Enr {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}

impl Eq for Enr {}

impl std::hash::Hash for Enr {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.raw.hash(state);
    }
}

impl fmt::Display for Enr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "enr:{}", base64::encode(&self.raw))
    }
}

impl fmt::Debug for Enr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Enr");
        s.field("seq", &self.seq).field("id", &self.id);
        for (key, value) in self.iter() {
            s.field(&String::from_utf8_lossy(key), &hex::encode(value));
        }
        s.finish()
    }
}

impl FromStr for Enr {
    type Err = EnrError;

    /// Parses the text form `enr:<base64url>` (surrounding whitespace is ignored).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let encoded = s.strip_prefix("enr:").ok_or(EnrError::MissingPrefix)?;
        if s.len() > MAX_TEXT_LEN {
            // At least 301 bytes once decoded.
            return Err(EnrError::TooLarge(encoded.len() / 4 * 3));
        }
        let bytes = base64::decode(encoded).ok_or(EnrError::InvalidBase64)?;
        Enr::decode(&bytes)
    }
}

/// Builds and signs a record. Keys are kept sorted; `id` and `secp256k1` are set by
/// [`build`](Self::build) from the signing key.
///
/// Setters return `&mut Self` so they chain, and [`build`](Self::build) takes `&self`:
///
/// ```
/// # use ethp2p_discovery::Enr;
/// # let key = secp256k1::SecretKey::from_secret_bytes([7; 32]).unwrap();
/// let enr = Enr::builder().ip4([10, 0, 0, 1].into()).udp4(30303).build(&key).unwrap();
/// assert_eq!(enr.udp4(), Some(30303));
/// ```
#[derive(Debug, Clone)]
pub struct EnrBuilder {
    seq: u64,
    pairs: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl Default for EnrBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl EnrBuilder {
    /// An empty builder with sequence number 1.
    pub fn new() -> Self {
        EnrBuilder {
            seq: 1,
            pairs: BTreeMap::new(),
        }
    }

    /// Sets the sequence number.
    pub fn seq(&mut self, seq: u64) -> &mut Self {
        self.seq = seq;
        self
    }

    fn put_bytes(&mut self, key: &str, value: &[u8]) -> &mut Self {
        let mut raw = Vec::new();
        rlp::encode_bytes(value, &mut raw);
        self.pairs.insert(key.as_bytes().to_vec(), raw);
        self
    }

    fn put_port(&mut self, key: &str, port: u16) -> &mut Self {
        let mut raw = Vec::new();
        rlp::encode_uint(u64::from(port), &mut raw);
        self.pairs.insert(key.as_bytes().to_vec(), raw);
        self
    }

    /// Sets `ip` or `ip6`, whichever fits the address.
    pub fn ip(&mut self, ip: IpAddr) -> &mut Self {
        match ip {
            IpAddr::V4(ip) => self.ip4(ip),
            IpAddr::V6(ip) => self.ip6(ip),
        }
    }

    /// Sets `ip`.
    pub fn ip4(&mut self, ip: Ipv4Addr) -> &mut Self {
        self.put_bytes(KEY_IP, &ip.octets())
    }

    /// Sets `tcp`.
    pub fn tcp4(&mut self, port: u16) -> &mut Self {
        self.put_port(KEY_TCP, port)
    }

    /// Sets `udp`.
    pub fn udp4(&mut self, port: u16) -> &mut Self {
        self.put_port(KEY_UDP, port)
    }

    /// Sets `ip6`.
    pub fn ip6(&mut self, ip: Ipv6Addr) -> &mut Self {
        self.put_bytes(KEY_IP6, &ip.octets())
    }

    /// Sets `tcp6`.
    pub fn tcp6(&mut self, port: u16) -> &mut Self {
        self.put_port(KEY_TCP6, port)
    }

    /// Sets `udp6`.
    pub fn udp6(&mut self, port: u16) -> &mut Self {
        self.put_port(KEY_UDP6, port)
    }

    /// Sets `key` to `value`, which must be exactly one canonical RLP item (and of the right type
    /// for the keys [`Enr`] interprets).
    pub fn insert_raw(
        &mut self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
    ) -> Result<&mut Self, EnrError> {
        let (key, value) = (key.as_ref(), value.as_ref());
        check_value(key, value)?;
        self.pairs.insert(key.to_vec(), value.to_vec());
        Ok(self)
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: impl AsRef<[u8]>) -> &mut Self {
        self.pairs.remove(key.as_ref());
        self
    }

    /// Signs the record with `key` ("v4" scheme; RFC 6979 deterministic ECDSA). Fails with
    /// [`EnrError::TooLarge`] if it would exceed 300 bytes.
    pub fn build(&self, key: &SecretKey) -> Result<Enr, EnrError> {
        let mut pairs = self.pairs.clone();
        let mut id = Vec::new();
        rlp::encode_bytes(b"v4", &mut id);
        pairs.insert(KEY_ID.as_bytes().to_vec(), id);
        let mut public = Vec::new();
        rlp::encode_bytes(&PublicKey::from_secret_key(key).serialize(), &mut public);
        pairs.insert(KEY_SECP256K1.as_bytes().to_vec(), public);

        let mut content = Vec::new();
        rlp::encode_uint(self.seq, &mut content);
        for (k, v) in &pairs {
            rlp::encode_bytes(k, &mut content);
            content.extend_from_slice(v);
        }
        let mut signed = Vec::with_capacity(content.len() + 9);
        rlp::encode_header(content.len(), true, &mut signed);
        signed.extend_from_slice(&content);
        let signature = secp256k1::ecdsa::sign(Message::from_digest(keccak256(&signed)), key)
            .serialize_compact();

        let mut payload = Vec::with_capacity(66 + content.len());
        rlp::encode_bytes(&signature, &mut payload);
        payload.extend_from_slice(&content);
        let mut record = Vec::with_capacity(payload.len() + 9);
        rlp::encode_header(payload.len(), true, &mut record);
        record.extend_from_slice(&payload);
        if record.len() > MAX_RECORD_SIZE {
            return Err(EnrError::TooLarge(record.len()));
        }
        Enr::decode(&record)
    }
}

#[cfg(test)]
mod tests;
