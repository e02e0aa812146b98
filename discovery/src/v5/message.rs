//! The discv5.1 messages: PING, PONG, FINDNODE, NODES, TALKREQ, TALKRESP
//! ([discv5-wire.md, "Protocol Messages"](https://github.com/ethereum/devp2p/blob/master/discv5/discv5-wire.md#protocol-messages)).
//!
//! A message plaintext is `message-type || rlp(message-data)`. Decoding is strict, as
//! go-ethereum's is: canonical RLP only (through the crate's one RLP reader), exactly the fields
//! of the type (no extra list elements), request ids of at most 8 bytes.

use std::fmt;
use std::net::IpAddr;

use crate::Enr;
use crate::enr::EnrError;
use crate::rlp::{self, Item, Kind};

/// The longest request id the spec allows.
pub const MAX_REQUEST_ID_SIZE: usize = 8;

/// A request id: up to 8 bytes chosen by the requester and mirrored in the responses.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RequestId {
    bytes: [u8; MAX_REQUEST_ID_SIZE],
    len: u8,
}

impl RequestId {
    /// The id made of `bytes`, or `None` if longer than 8 bytes.
    pub fn new(bytes: &[u8]) -> Option<Self> {
        if bytes.len() > MAX_REQUEST_ID_SIZE {
            return None;
        }
        let mut id = RequestId {
            bytes: [0; MAX_REQUEST_ID_SIZE],
            len: bytes.len() as u8,
        };
        id.bytes[..bytes.len()].copy_from_slice(bytes);
        Some(id)
    }

    /// The id as an 8-byte big-endian number (what go-ethereum sends: 8 random bytes).
    pub fn from_u64(value: u64) -> Self {
        RequestId {
            bytes: value.to_be_bytes(),
            len: 8,
        }
    }

    /// The bytes of the id.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestId({})", hex::encode(self.as_bytes()))
    }
}

/// Message type bytes.
pub mod kind {
    /// PING.
    pub const PING: u8 = 0x01;
    /// PONG.
    pub const PONG: u8 = 0x02;
    /// FINDNODE.
    pub const FINDNODE: u8 = 0x03;
    /// NODES.
    pub const NODES: u8 = 0x04;
    /// TALKREQ.
    pub const TALKREQ: u8 = 0x05;
    /// TALKRESP.
    pub const TALKRESP: u8 = 0x06;
}

/// A discv5 message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// PING: liveness check, carrying the sender's record sequence number.
    Ping {
        /// Mirrored in the PONG.
        request_id: RequestId,
        /// The sender's record sequence number.
        enr_seq: u64,
    },
    /// PONG: the answer to PING, with the address the PING came from.
    Pong {
        /// The PING's request id.
        request_id: RequestId,
        /// The sender's record sequence number.
        enr_seq: u64,
        /// The UDP source IP of the PING (IPv4-mapped addresses are sent as 4 bytes).
        to_ip: IpAddr,
        /// The UDP source port of the PING.
        to_port: u16,
    },
    /// FINDNODE: asks for records at these log-distances from the recipient (0 = its own).
    FindNode {
        /// Mirrored in the NODES.
        request_id: RequestId,
        /// Log-distances, as sent (the handler skips those above 256 and duplicates).
        distances: Vec<u16>,
    },
    /// NODES: one of `total` messages answering a FINDNODE.
    Nodes {
        /// The FINDNODE's request id.
        request_id: RequestId,
        /// How many NODES messages the answer has in all.
        total: u8,
        /// Records, each one verified.
        records: Vec<Enr>,
    },
    /// TALKREQ: a request to an application protocol.
    TalkReq {
        /// Mirrored in the TALKRESP.
        request_id: RequestId,
        /// The protocol name.
        protocol: Vec<u8>,
        /// The request, opaque to discovery.
        request: Vec<u8>,
    },
    /// TALKRESP: the answer to TALKREQ (empty for an unknown protocol).
    TalkResp {
        /// The TALKREQ's request id.
        request_id: RequestId,
        /// The response, opaque to discovery.
        response: Vec<u8>,
    },
}

/// Why a decrypted message was rejected. None of them get a reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// The plaintext is empty: no message type.
    #[error("empty message")]
    Empty,
    /// A message type this crate does not know.
    #[error("unknown message type {0:#04x}")]
    UnknownType(u8),
    /// Not canonical RLP, or not the shape of the message type.
    #[error("invalid message RLP: {0}")]
    InvalidRlp(&'static str),
    /// The list has fewer fields than the message type.
    #[error("message has too few fields")]
    MissingField,
    /// The list has more fields than the message type.
    #[error("message has extra fields")]
    ExtraField,
    /// A request id longer than 8 bytes; go-ethereum's conformance test expects no reply.
    #[error("request id of {0} bytes exceeds 8")]
    RequestIdTooLong(usize),
    /// A PONG IP that is neither 4 nor 16 bytes.
    #[error("IP address of {0} bytes")]
    InvalidIp(usize),
    /// A record in NODES that does not decode or verify.
    #[error("invalid record in NODES: {0}")]
    InvalidRecord(EnrError),
}

impl From<&'static str> for MessageError {
    fn from(reason: &'static str) -> Self {
        MessageError::InvalidRlp(reason)
    }
}

/// Reads the fields of a message list in order, and checks that none is left over.
struct Fields<'a> {
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    fn next(&mut self) -> Result<Item<'a>, MessageError> {
        if self.rest.is_empty() {
            return Err(MessageError::MissingField);
        }
        let (item, rest) = rlp::split_item(self.rest)?;
        self.rest = rest;
        Ok(item)
    }

    fn bytes(&mut self) -> Result<&'a [u8], MessageError> {
        let item = self.next()?;
        if item.kind != Kind::Bytes {
            return Err(MessageError::InvalidRlp("expected a byte string"));
        }
        Ok(item.payload)
    }

    fn uint(&mut self, max_bytes: usize) -> Result<u64, MessageError> {
        Ok(rlp::uint(&self.next()?, max_bytes)?)
    }

    fn request_id(&mut self) -> Result<RequestId, MessageError> {
        let bytes = self.bytes()?;
        RequestId::new(bytes).ok_or(MessageError::RequestIdTooLong(bytes.len()))
    }

    fn list(&mut self) -> Result<&'a [u8], MessageError> {
        let item = self.next()?;
        if item.kind != Kind::List {
            return Err(MessageError::InvalidRlp("expected a list"));
        }
        Ok(item.payload)
    }

    fn finish(self) -> Result<(), MessageError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(MessageError::ExtraField)
        }
    }
}

impl Message {
    /// The message type byte.
    pub fn kind(&self) -> u8 {
        match self {
            Message::Ping { .. } => kind::PING,
            Message::Pong { .. } => kind::PONG,
            Message::FindNode { .. } => kind::FINDNODE,
            Message::Nodes { .. } => kind::NODES,
            Message::TalkReq { .. } => kind::TALKREQ,
            Message::TalkResp { .. } => kind::TALKRESP,
        }
    }

    /// The request id (every message has one).
    pub fn request_id(&self) -> RequestId {
        match self {
            Message::Ping { request_id, .. }
            | Message::Pong { request_id, .. }
            | Message::FindNode { request_id, .. }
            | Message::Nodes { request_id, .. }
            | Message::TalkReq { request_id, .. }
            | Message::TalkResp { request_id, .. } => *request_id,
        }
    }

    /// Whether this is a request (PING, FINDNODE, TALKREQ), which a node answers, rather than
    /// a response.
    pub fn is_request(&self) -> bool {
        matches!(
            self,
            Message::Ping { .. } | Message::FindNode { .. } | Message::TalkReq { .. }
        )
    }

    /// The plaintext `message-type || rlp(message-data)`.
    pub fn encode(&self) -> Vec<u8> {
        let mut fields = Vec::new();
        rlp::encode_bytes(self.request_id().as_bytes(), &mut fields);
        match self {
            Message::Ping { enr_seq, .. } => rlp::encode_uint(*enr_seq, &mut fields),
            Message::Pong {
                enr_seq,
                to_ip,
                to_port,
                ..
            } => {
                rlp::encode_uint(*enr_seq, &mut fields);
                match to_ip.to_canonical() {
                    IpAddr::V4(ip) => rlp::encode_bytes(&ip.octets(), &mut fields),
                    IpAddr::V6(ip) => rlp::encode_bytes(&ip.octets(), &mut fields),
                }
                rlp::encode_uint(u64::from(*to_port), &mut fields);
            }
            Message::FindNode { distances, .. } => {
                let mut list = Vec::with_capacity(distances.len() * 3);
                for distance in distances {
                    rlp::encode_uint(u64::from(*distance), &mut list);
                }
                rlp::encode_list(&list, &mut fields);
            }
            Message::Nodes { total, records, .. } => {
                rlp::encode_uint(u64::from(*total), &mut fields);
                let list: Vec<u8> = records.iter().flat_map(|r| r.encoded()).copied().collect();
                rlp::encode_list(&list, &mut fields);
            }
            Message::TalkReq {
                protocol, request, ..
            } => {
                rlp::encode_bytes(protocol, &mut fields);
                rlp::encode_bytes(request, &mut fields);
            }
            Message::TalkResp { response, .. } => rlp::encode_bytes(response, &mut fields),
        }
        let mut out = Vec::with_capacity(fields.len() + 4);
        out.push(self.kind());
        rlp::encode_list(&fields, &mut out);
        out
    }

    /// Decodes a plaintext `message-type || rlp(message-data)`.
    ///
    /// Allocates at most in proportion to `plaintext` (records are at most 300 bytes each, and
    /// each distance takes at least one byte).
    pub fn decode(plaintext: &[u8]) -> Result<Message, MessageError> {
        let (&kind, data) = plaintext.split_first().ok_or(MessageError::Empty)?;
        if !(kind::PING..=kind::TALKRESP).contains(&kind) {
            return Err(MessageError::UnknownType(kind));
        }
        let list = rlp::single_item(data)?;
        if list.kind != Kind::List {
            return Err(MessageError::InvalidRlp("message data is not a list"));
        }
        let mut fields = Fields { rest: list.payload };
        let request_id = fields.request_id()?;
        let message = match kind {
            kind::PING => Message::Ping {
                request_id,
                enr_seq: fields.uint(8)?,
            },
            kind::PONG => {
                let enr_seq = fields.uint(8)?;
                let ip = fields.bytes()?;
                let to_ip = match ip.len() {
                    4 => IpAddr::from(<[u8; 4]>::try_from(ip).expect("4 bytes")),
                    16 => IpAddr::from(<[u8; 16]>::try_from(ip).expect("16 bytes")),
                    len => return Err(MessageError::InvalidIp(len)),
                };
                Message::Pong {
                    request_id,
                    enr_seq,
                    to_ip,
                    to_port: fields.uint(2)? as u16,
                }
            }
            kind::FINDNODE => {
                let mut rest = fields.list()?;
                let mut distances = Vec::new();
                while !rest.is_empty() {
                    let (item, after) = rlp::split_item(rest)?;
                    distances.push(rlp::uint(&item, 2)? as u16);
                    rest = after;
                }
                Message::FindNode {
                    request_id,
                    distances,
                }
            }
            kind::NODES => {
                let total = fields.uint(1)? as u8;
                let mut rest = fields.list()?;
                let mut records = Vec::new();
                while !rest.is_empty() {
                    let (item, after) = rlp::split_item(rest)?;
                    records.push(Enr::decode(item.raw).map_err(MessageError::InvalidRecord)?);
                    rest = after;
                }
                Message::Nodes {
                    request_id,
                    total,
                    records,
                }
            }
            kind::TALKREQ => Message::TalkReq {
                request_id,
                protocol: fields.bytes()?.to_vec(),
                request: fields.bytes()?.to_vec(),
            },
            _ => Message::TalkResp {
                request_id,
                response: fields.bytes()?.to_vec(),
            },
        };
        fields.finish()?;
        Ok(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn id(bytes: &[u8]) -> RequestId {
        RequestId::new(bytes).unwrap()
    }

    fn record() -> Enr {
        let key = secp256k1::SecretKey::from_secret_bytes([5; 32]).unwrap();
        Enr::builder()
            .ip4(Ipv4Addr::new(10, 0, 0, 1))
            .udp4(30303)
            .build(&key)
            .unwrap()
    }

    #[test]
    fn round_trips() {
        let messages = [
            Message::Ping {
                request_id: id(&[0, 0, 0, 1]),
                enr_seq: 2,
            },
            Message::Pong {
                request_id: id(&[]),
                enr_seq: u64::MAX,
                to_ip: Ipv4Addr::new(127, 0, 0, 1).into(),
                to_port: 30303,
            },
            Message::Pong {
                request_id: id(&[1; 8]),
                enr_seq: 0,
                to_ip: Ipv6Addr::LOCALHOST.into(),
                to_port: 0,
            },
            Message::FindNode {
                request_id: RequestId::from_u64(7),
                distances: vec![0, 255, 256],
            },
            Message::Nodes {
                request_id: id(&[9]),
                total: 3,
                records: vec![record(), record()],
            },
            Message::Nodes {
                request_id: id(&[9]),
                total: 1,
                records: vec![],
            },
            Message::TalkReq {
                request_id: id(&[1, 2, 3, 4]),
                protocol: b"test-protocol".to_vec(),
                request: vec![0; 100],
            },
            Message::TalkResp {
                request_id: id(&[]),
                response: vec![],
            },
        ];
        for message in messages {
            let encoded = message.encode();
            assert_eq!(encoded[0], message.kind());
            assert_eq!(Message::decode(&encoded), Ok(message));
        }
    }

    #[test]
    fn ping_plaintext_of_the_spec_vector() {
        // The plaintext inside the "ping message packet" vector.
        let ping = Message::Ping {
            request_id: id(&[0, 0, 0, 1]),
            enr_seq: 2,
        };
        assert_eq!(hex::encode(ping.encode()), "01c6840000000102");
    }

    #[test]
    fn ipv4_mapped_pong_is_sent_as_four_bytes() {
        let pong = Message::Pong {
            request_id: id(&[1]),
            enr_seq: 1,
            to_ip: Ipv4Addr::new(127, 0, 0, 2).to_ipv6_mapped().into(),
            to_port: 9,
        };
        match Message::decode(&pong.encode()).unwrap() {
            Message::Pong { to_ip, .. } => assert_eq!(to_ip, Ipv4Addr::new(127, 0, 0, 2)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rejections() {
        let decode = |hex_text: &str| Message::decode(&hex::decode(hex_text).unwrap());
        assert_eq!(decode(""), Err(MessageError::Empty));
        assert_eq!(decode("07c0"), Err(MessageError::UnknownType(7)));
        assert_eq!(decode("00c0"), Err(MessageError::UnknownType(0)));
        // PING with a 9-byte request id.
        assert_eq!(
            decode("01cb8901020304050607080901"),
            Err(MessageError::RequestIdTooLong(9))
        );
        // PING with a third field, without its second, with a list as request id.
        assert_eq!(decode("01c3800102"), Err(MessageError::ExtraField));
        assert_eq!(decode("01c180"), Err(MessageError::MissingField));
        assert!(matches!(
            decode("01c2c001"),
            Err(MessageError::InvalidRlp(_))
        ));
        // Not a list; trailing bytes after the list; non-canonical integer.
        assert!(matches!(decode("0180"), Err(MessageError::InvalidRlp(_))));
        assert!(matches!(
            decode("01c2800100"),
            Err(MessageError::InvalidRlp(_))
        ));
        assert!(matches!(
            decode("01c380820001"),
            Err(MessageError::InvalidRlp(_))
        ));
        // PONG with a 5-byte IP, a 3-byte port.
        assert_eq!(
            decode("02c9800185010203040501"),
            Err(MessageError::InvalidIp(5))
        );
        assert!(matches!(
            decode("02cb8001847f00000183010203"),
            Err(MessageError::InvalidRlp(_))
        ));
        // FINDNODE whose distances are not a list; a 3-byte distance.
        assert!(matches!(
            decode("03c28001"),
            Err(MessageError::InvalidRlp(_))
        ));
        assert!(matches!(
            decode("03c680c483010000"),
            Err(MessageError::InvalidRlp(_))
        ));
        // NODES with total 256 (more than a byte), with a record that is not one.
        assert!(matches!(
            decode("04c580820100c0"),
            Err(MessageError::InvalidRlp(_))
        ));
        assert!(matches!(
            decode("04c58001c2c180"),
            Err(MessageError::InvalidRecord(_))
        ));
    }
}
