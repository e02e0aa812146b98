//! The Hello message (id 0x00), the first message each side sends after the RLPx handshake.
//!
//! Spec: [rlpx.md, Hello](https://github.com/ethereum/devp2p/blob/master/rlpx.md#hello-0x00):
//! `[protocolVersion: P, clientId: B, capabilities, listenPort: P, nodeKey: B_64, ...]`.

use rlp::RlpStream;

use super::capability::validate_name;
use super::rlp_reader;
use super::{Capability, P2pError};

/// The base protocol version we implement: 5 adds snappy compression
/// ([EIP-706](https://eips.ethereum.org/EIPS/eip-706)).
pub const PROTOCOL_VERSION: u64 = 5;

/// First base protocol version that compresses messages with snappy.
pub const SNAPPY_PROTOCOL_VERSION: u64 = 5;

/// Most capabilities accepted in a Hello.
///
/// Real clients announce fewer than ten; the cap bounds the matching work a peer can cause.
pub const MAX_CAPABILITIES: usize = 64;

/// Whether messages after Hello are snappy-compressed: both sides must announce version >= 5
/// ([EIP-706](https://eips.ethereum.org/EIPS/eip-706)).
pub fn snappy_enabled(local_version: u64, remote_version: u64) -> bool {
    local_version >= SNAPPY_PROTOCOL_VERSION && remote_version >= SNAPPY_PROTOCOL_VERSION
}

/// A decoded Hello message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// Base protocol version of the sender ([`PROTOCOL_VERSION`] for us). Not validated on
    /// decode: rlpx.md requires ignoring version differences.
    pub protocol_version: u64,
    /// Human-readable client identity, e.g. `Geth/v1.14.0/linux-amd64/go1.22`.
    pub client_id: String,
    /// Sub-protocols the sender supports.
    pub capabilities: Vec<Capability>,
    /// Legacy listening port; 0 means "not listening" or unknown. Should be ignored.
    pub listen_port: u16,
    /// The sender's secp256k1 public key (uncompressed, without the 0x04 prefix). The
    /// caller must compare it with the key authenticated by the RLPx handshake.
    pub id: [u8; 64],
}

impl Hello {
    /// RLP-encodes the Hello `msg-data` (to be framed with id [`HELLO`](super::HELLO), never
    /// compressed).
    pub fn encode(&self) -> Vec<u8> {
        let mut s = RlpStream::new_list(5);
        s.append(&self.protocol_version);
        s.append(&self.client_id.as_str());
        s.begin_list(self.capabilities.len());
        for cap in &self.capabilities {
            s.begin_list(2);
            s.append(&cap.name.as_str());
            s.append(&cap.version);
        }
        s.append(&u64::from(self.listen_port));
        s.append(&self.id.as_slice());
        s.out().to_vec()
    }

    /// Decodes a Hello `msg-data`.
    ///
    /// Leniency and limits (chosen for interoperability while bounding work):
    /// - additional list elements after `nodeKey` are ignored (EIP-8 forward compatibility),
    ///   but must still be well-formed RLP; so are extra elements inside a capability entry;
    /// - bytes after the top-level list are ignored, as go-ethereum's `Msg.Decode` does;
    /// - `protocolVersion` may be any canonical `u64`;
    /// - `clientId` is decoded as UTF-8 lossily (invalid sequences become U+FFFD);
    /// - at most [`MAX_CAPABILITIES`] capabilities ([`P2pError::TooManyCapabilities`]);
    ///   names must be 1..=[`MAX_CAPABILITY_NAME_LEN`](super::MAX_CAPABILITY_NAME_LEN)
    ///   printable ASCII bytes ([`P2pError::InvalidCapabilityName`]) and versions must fit
    ///   in a `u32` ([`P2pError::InvalidCapabilityVersion`]);
    /// - `listenPort` must be a canonical integer; values above 65535 become 0 ("unknown"),
    ///   since the field is legacy and ignored, so it is not worth failing the handshake;
    /// - `nodeKey` must be exactly 64 bytes ([`P2pError::InvalidNodeId`]);
    /// - integers must be canonical (no leading zeros), like go-ethereum's decoder.
    pub fn decode(payload: &[u8]) -> Result<Hello, P2pError> {
        if payload.is_empty() {
            return Err(P2pError::EmptyMessage);
        }
        let (top, _trailing) = rlp_reader::split(payload)?;
        let mut fields = top.list()?;

        let protocol_version = fields.required()?.u64()?;
        let client_id = String::from_utf8_lossy(fields.required()?.bytes()?).into_owned();

        let mut capabilities = Vec::new();
        for entry in fields.required()?.list()? {
            if capabilities.len() >= MAX_CAPABILITIES {
                return Err(P2pError::TooManyCapabilities {
                    limit: MAX_CAPABILITIES,
                });
            }
            let mut parts = entry?.list()?;
            let name = validate_name(parts.required()?.bytes()?)?;
            let version = parts
                .required()?
                .u64()
                .ok()
                .and_then(|v| u32::try_from(v).ok())
                .ok_or(P2pError::InvalidCapabilityVersion)?;
            parts.skip_rest()?;
            capabilities.push(Capability::new(name, version));
        }

        let listen_port = u16::try_from(fields.required()?.u64()?).unwrap_or(0);

        let id_bytes = fields.required()?.bytes()?;
        let id = <[u8; 64]>::try_from(id_bytes).map_err(|_| P2pError::InvalidNodeId {
            len: id_bytes.len(),
        })?;

        fields.skip_rest()?;
        Ok(Hello {
            protocol_version,
            client_id,
            capabilities,
            listen_port,
            id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::p2p::MAX_CAPABILITY_NAME_LEN;

    fn sample() -> Hello {
        let mut id = [0u8; 64];
        for (i, b) in id.iter_mut().enumerate() {
            *b = i as u8;
        }
        Hello {
            protocol_version: PROTOCOL_VERSION,
            client_id: "ethp2p/v0.1.0".into(),
            capabilities: vec![Capability::new("eth", 68), Capability::new("snap", 1)],
            listen_port: 30303,
            id,
        }
    }

    /// Builds a Hello-shaped list with arbitrary raw fields.
    fn raw_hello(fields: &[&[u8]]) -> Vec<u8> {
        let mut s = RlpStream::new_list(fields.len());
        for f in fields {
            s.append_raw(f, 1);
        }
        s.out().to_vec()
    }

    fn enc<T: rlp::Encodable>(v: T) -> Vec<u8> {
        rlp::encode(&v).to_vec()
    }

    fn caps_rlp(caps: &[(&[u8], u64)]) -> Vec<u8> {
        let mut s = RlpStream::new_list(caps.len());
        for (n, v) in caps {
            s.begin_list(2);
            s.append(n);
            s.append(v);
        }
        s.out().to_vec()
    }

    #[test]
    fn roundtrip() {
        let hello = sample();
        let bytes = hello.encode();
        assert_eq!(Hello::decode(&bytes), Ok(hello));
    }

    #[test]
    fn encoding_layout() {
        let hello = Hello {
            protocol_version: 5,
            client_id: "x".into(),
            capabilities: vec![Capability::new("eth", 68)],
            listen_port: 0,
            id: [0xaa; 64],
        };
        let mut expected = vec![
            0xf8, 0x4c, 0x05, 0x78, 0xc6, 0xc5, 0x83, b'e', b't', b'h', 0x44,
        ];
        expected.extend_from_slice(&[0x80, 0xb8, 0x40]);
        expected.extend_from_slice(&[0xaa; 64]);
        assert_eq!(hello.encode(), expected);
    }

    #[test]
    fn accepts_extra_elements_and_trailing_bytes() {
        let h = sample();
        let fields: Vec<Vec<u8>> = vec![
            enc(h.protocol_version),
            enc(h.client_id.as_str()),
            caps_rlp(&[(b"eth", 68), (b"snap", 1)]),
            enc(30303u64),
            enc(h.id.as_slice()),
            enc("future field"),
            vec![0xc2, 0x01, 0x02],
        ];
        let refs: Vec<&[u8]> = fields.iter().map(|f| f.as_slice()).collect();
        let mut bytes = raw_hello(&refs);
        assert_eq!(Hello::decode(&bytes), Ok(h.clone()));
        bytes.extend_from_slice(&[0xde, 0xad]);
        assert_eq!(Hello::decode(&bytes), Ok(h.clone()));

        // Extra elements inside a capability entry are tolerated too.
        let mut cap = RlpStream::new_list(1);
        cap.begin_list(3).append(&"eth").append(&68u64).append(&"x");
        let cap = cap.out().to_vec();
        let mut f2 = fields.clone();
        f2[2] = cap;
        let refs: Vec<&[u8]> = f2.iter().map(|f| f.as_slice()).collect();
        let decoded = Hello::decode(&raw_hello(&refs)).unwrap();
        assert_eq!(decoded.capabilities, [Capability::new("eth", 68)]);
    }

    #[test]
    fn malformed_extra_elements_are_rejected() {
        let mut bytes = sample().encode();
        // Grow the list header by one and append a truncated element inside it.
        bytes[1] += 1;
        bytes.push(0x85);
        assert!(matches!(
            Hello::decode(&bytes),
            Err(P2pError::InvalidRlp(_))
        ));
    }

    #[test]
    fn node_id_must_be_64_bytes() {
        for len in [0usize, 33, 63, 65] {
            let h2 = sample();
            let id = vec![1u8; len];
            let fields = [
                enc(h2.protocol_version),
                enc(h2.client_id.as_str()),
                caps_rlp(&[]),
                enc(0u64),
                enc(id.as_slice()),
            ];
            let refs: Vec<&[u8]> = fields.iter().map(|f| f.as_slice()).collect();
            let h = raw_hello(&refs);
            assert_eq!(Hello::decode(&h), Err(P2pError::InvalidNodeId { len }));
        }
    }

    #[test]
    fn listen_port_out_of_range_becomes_zero() {
        let h = sample();
        for (port, expected) in [(0u64, 0u16), (65535, 65535), (65536, 0), (u64::MAX, 0)] {
            let fields = [
                enc(h.protocol_version),
                enc(h.client_id.as_str()),
                caps_rlp(&[]),
                enc(port),
                enc(h.id.as_slice()),
            ];
            let refs: Vec<&[u8]> = fields.iter().map(|f| f.as_slice()).collect();
            assert_eq!(
                Hello::decode(&raw_hello(&refs)).unwrap().listen_port,
                expected
            );
        }
    }

    #[test]
    fn capability_limits() {
        let h = sample();
        let build = |caps: Vec<u8>| {
            let fields = [
                enc(h.protocol_version),
                enc(h.client_id.as_str()),
                caps,
                enc(0u64),
                enc(h.id.as_slice()),
            ];
            let refs: Vec<&[u8]> = fields.iter().map(|f| f.as_slice()).collect();
            Hello::decode(&raw_hello(&refs))
        };

        let many: Vec<(&[u8], u64)> = (0..MAX_CAPABILITIES).map(|_| (&b"eth"[..], 68)).collect();
        assert_eq!(
            build(caps_rlp(&many)).unwrap().capabilities.len(),
            MAX_CAPABILITIES
        );
        let too_many: Vec<(&[u8], u64)> =
            (0..=MAX_CAPABILITIES).map(|_| (&b"eth"[..], 68)).collect();
        assert_eq!(
            build(caps_rlp(&too_many)),
            Err(P2pError::TooManyCapabilities {
                limit: MAX_CAPABILITIES
            })
        );

        let long = vec![b'a'; MAX_CAPABILITY_NAME_LEN];
        assert!(build(caps_rlp(&[(&long, 1)])).is_ok());
        let too_long = [b'a'; MAX_CAPABILITY_NAME_LEN + 1];
        for bad in [&too_long[..], b"", b"e h", b"\xff"] {
            assert_eq!(
                build(caps_rlp(&[(bad, 1)])),
                Err(P2pError::InvalidCapabilityName)
            );
        }
        assert_eq!(
            build(caps_rlp(&[(b"eth", u64::from(u32::MAX) + 1)])),
            Err(P2pError::InvalidCapabilityVersion)
        );
        assert_eq!(
            build(caps_rlp(&[(b"eth", u64::from(u32::MAX))]))
                .unwrap()
                .capabilities,
            [Capability::new("eth", u32::MAX)]
        );
        // Capability entry that is not a list, and a list with a missing version.
        assert!(build(vec![0xc1, 0x01]).is_err());
        assert!(build(vec![0xc5, 0xc4, 0x83, b'e', b't', b'h']).is_err());
    }

    #[test]
    fn client_id_is_lossy_utf8() {
        let h = sample();
        let fields = [
            enc(h.protocol_version),
            enc(&b"Geth\xff"[..]),
            caps_rlp(&[]),
            enc(0u64),
            enc(h.id.as_slice()),
        ];
        let refs: Vec<&[u8]> = fields.iter().map(|f| f.as_slice()).collect();
        assert_eq!(
            Hello::decode(&raw_hello(&refs)).unwrap().client_id,
            "Geth\u{fffd}"
        );
    }

    #[test]
    fn rejects_wrong_shapes() {
        assert_eq!(Hello::decode(&[]), Err(P2pError::EmptyMessage));
        assert!(Hello::decode(&[0x05]).is_err());
        assert!(Hello::decode(&[0xc0]).is_err());
        // Missing node id.
        let h = sample();
        let fields = [
            enc(h.protocol_version),
            enc(h.client_id.as_str()),
            caps_rlp(&[]),
            enc(0u64),
        ];
        let refs: Vec<&[u8]> = fields.iter().map(|f| f.as_slice()).collect();
        assert_eq!(
            Hello::decode(&raw_hello(&refs)),
            Err(P2pError::InvalidRlp(rlp::DecoderError::RlpIncorrectListLen))
        );
        // Non-canonical version.
        let fields = [
            vec![0x00],
            enc(h.client_id.as_str()),
            caps_rlp(&[]),
            enc(0u64),
            enc(h.id.as_slice()),
        ];
        let refs: Vec<&[u8]> = fields.iter().map(|f| f.as_slice()).collect();
        assert!(Hello::decode(&raw_hello(&refs)).is_err());
    }

    #[test]
    fn truncations_never_panic() {
        let bytes = sample().encode();
        for end in 0..bytes.len() {
            assert!(Hello::decode(&bytes[..end]).is_err());
        }
        for i in 0..bytes.len() {
            for v in [0x00, 0x7f, 0x80, 0xb8, 0xbf, 0xc0, 0xf8, 0xff] {
                let mut b = bytes.clone();
                b[i] = v;
                let _ = Hello::decode(&b);
            }
        }
    }

    #[test]
    fn snappy_negotiation() {
        assert!(snappy_enabled(5, 5));
        assert!(snappy_enabled(5, 6));
        assert!(!snappy_enabled(5, 4));
        assert!(!snappy_enabled(4, 5));
    }
}
