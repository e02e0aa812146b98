//! The seven messages of the `stream/1` subprotocol and their RLP codec (pure functions of bytes,
//! fuzzed by `fuzz/fuzz_targets/stream_message.rs`).
//!
//! | code | message | RLP |
//! |---|---|---|
//! | 0 | Open | `[id, name, window]` |
//! | 1 | Accept | `[id, window]` |
//! | 2 | Data | `[id, bytes]` |
//! | 3 | Window | `[id, credit]` |
//! | 4 | Close | `[id]` |
//! | 5 | Reset | `[id, reason]` |
//! | 6 | Probe | `[id, name]` |
//!
//! Extra list elements are accepted and ignored (devp2p's forward compatibility rule); every
//! length is checked before anything is kept.

use rlp::RlpStream;

use crate::p2p::P2pError;
use crate::p2p::rlp_reader::{Item, ListIter, split};

/// Code of Open: the opener asks for a stream to a protocol name, announcing its receive window.
pub const OPEN: u64 = 0;
/// Code of Accept: the listener took the stream and announces its receive window.
pub const ACCEPT: u64 = 1;
/// Code of Data: bytes of one stream, at most the credit the receiver granted.
pub const DATA: u64 = 2;
/// Code of Window: the receiver consumed bytes and grants that much more credit.
pub const WINDOW: u64 = 3;
/// Code of Close: the sender will send no more data (half-close).
pub const CLOSE: u64 = 4;
/// Code of Reset: the stream is abandoned in both directions (or the open is refused).
pub const RESET: u64 = 5;
/// Code of Probe: would the listener accept a stream to this name from us? Answered like Open
/// (Accept with window 0, or Reset with the reason), but nothing is opened.
pub const PROBE: u64 = 6;
/// How many message codes the protocol uses.
pub const LENGTH: u64 = 7;

/// Longest protocol name a stream may be opened with.
pub const MAX_NAME_LEN: usize = 128;
/// Most bytes one Data message carries; writes are cut into chunks of this size.
pub const MAX_DATA: usize = 64 * 1024;
/// Largest receive window either side may announce (and the most credit a sender may hold).
pub const MAX_WINDOW: u64 = 16 * 1024 * 1024;

/// Why a stream was reset or its open refused, as carried in Reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResetReason {
    /// The remote has no listener for the name.
    NoListener,
    /// The remote's listener for the name does not allow us.
    NotAllowed,
    /// The remote has too many streams open with us.
    TooManyStreams,
    /// The remote's listener has too many streams waiting to be accepted.
    Backlog,
    /// The application dropped or reset the stream.
    Cancelled,
    /// A code this version does not know.
    Other(u64),
}

impl ResetReason {
    /// The wire code.
    pub fn code(self) -> u64 {
        match self {
            ResetReason::NoListener => 1,
            ResetReason::NotAllowed => 2,
            ResetReason::TooManyStreams => 3,
            ResetReason::Backlog => 4,
            ResetReason::Cancelled => 5,
            ResetReason::Other(code) => code,
        }
    }

    /// The reason a wire code stands for.
    pub fn from_code(code: u64) -> Self {
        match code {
            1 => ResetReason::NoListener,
            2 => ResetReason::NotAllowed,
            3 => ResetReason::TooManyStreams,
            4 => ResetReason::Backlog,
            5 => ResetReason::Cancelled,
            other => ResetReason::Other(other),
        }
    }
}

impl std::fmt::Display for ResetReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResetReason::NoListener => f.write_str("the remote has no listener for this name"),
            ResetReason::NotAllowed => {
                f.write_str("the remote's listener for this name does not allow us")
            }
            ResetReason::TooManyStreams => f.write_str("the remote has too many streams with us"),
            ResetReason::Backlog => f.write_str("the remote's listener is not accepting"),
            ResetReason::Cancelled => f.write_str("cancelled by the application"),
            ResetReason::Other(code) => write!(f, "reason code {code}"),
        }
    }
}

/// One message of the stream protocol; `Data` borrows its bytes from the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamMessage<'a> {
    /// Opens stream `id` to `name`; the opener accepts `window` bytes before granting more.
    Open {
        /// Stream id, chosen by the opener (odd if it dialed the connection, even otherwise).
        id: u64,
        /// Protocol name, at most [`MAX_NAME_LEN`] bytes of UTF-8.
        name: &'a str,
        /// The opener's initial receive window.
        window: u64,
    },
    /// Accepts stream `id`.
    Accept {
        /// Stream id.
        id: u64,
        /// The listener's initial receive window.
        window: u64,
    },
    /// Bytes of stream `id`.
    Data {
        /// Stream id.
        id: u64,
        /// At most [`MAX_DATA`] bytes.
        bytes: &'a [u8],
    },
    /// More credit for stream `id`.
    Window {
        /// Stream id.
        id: u64,
        /// Bytes added to the sender's credit.
        credit: u64,
    },
    /// No more data on stream `id` from its sender.
    Close {
        /// Stream id.
        id: u64,
    },
    /// Stream `id` is abandoned.
    Reset {
        /// Stream id.
        id: u64,
        /// Why.
        reason: ResetReason,
    },
    /// Asks whether an Open of `name` would be accepted, under id `id`.
    Probe {
        /// Id of the question, from the opener's ids.
        id: u64,
        /// Protocol name.
        name: &'a str,
    },
}

/// Why a stream message could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Not RLP of the expected shape.
    #[error(transparent)]
    Rlp(#[from] P2pError),
    /// The code is not one of the protocol's.
    #[error("unknown stream message code {0}")]
    UnknownCode(u64),
    /// The name is empty, too long or not UTF-8.
    #[error("invalid stream protocol name")]
    BadName,
    /// Data carries more than [`MAX_DATA`] bytes.
    #[error("data message of {0} bytes, limit {MAX_DATA}")]
    DataTooLarge(usize),
    /// A window or credit above [`MAX_WINDOW`].
    #[error("window of {0} bytes, limit {MAX_WINDOW}")]
    WindowTooLarge(u64),
}

fn window(item: Item<'_>) -> Result<u64, WireError> {
    let value = item.u64()?;
    if value > MAX_WINDOW {
        return Err(WireError::WindowTooLarge(value));
    }
    Ok(value)
}

fn name(item: Item<'_>) -> Result<&str, WireError> {
    let name = item.bytes()?;
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(WireError::BadName);
    }
    std::str::from_utf8(name).map_err(|_| WireError::BadName)
}

impl<'a> StreamMessage<'a> {
    /// Decodes the payload of a message with protocol-relative `code`.
    pub fn decode(code: u64, payload: &'a [u8]) -> Result<Self, WireError> {
        if code >= LENGTH {
            return Err(WireError::UnknownCode(code));
        }
        let (item, rest) = split(payload)?;
        if !rest.is_empty() {
            return Err(P2pError::InvalidRlp(rlp::DecoderError::RlpIsTooBig).into());
        }
        let mut list: ListIter<'a> = item.list()?;
        let id = list.required()?.u64()?;
        let message = match code {
            OPEN => {
                let name = name(list.required()?)?;
                let window = window(list.required()?)?;
                StreamMessage::Open { id, name, window }
            }
            PROBE => StreamMessage::Probe {
                id,
                name: name(list.required()?)?,
            },
            ACCEPT => StreamMessage::Accept {
                id,
                window: window(list.required()?)?,
            },
            DATA => {
                let bytes = list.required()?.bytes()?;
                if bytes.len() > MAX_DATA {
                    return Err(WireError::DataTooLarge(bytes.len()));
                }
                StreamMessage::Data { id, bytes }
            }
            WINDOW => StreamMessage::Window {
                id,
                credit: window(list.required()?)?,
            },
            CLOSE => StreamMessage::Close { id },
            _ => StreamMessage::Reset {
                id,
                reason: ResetReason::from_code(list.required()?.u64()?),
            },
        };
        list.skip_rest()?;
        Ok(message)
    }

    /// The protocol-relative code and RLP payload.
    pub fn encode(&self) -> (u64, Vec<u8>) {
        if let StreamMessage::Data { id, bytes } = *self {
            return (DATA, encode_data(id, bytes));
        }
        let mut s = RlpStream::new();
        let code = match *self {
            StreamMessage::Open { id, name, window } => {
                s.begin_list(3).append(&id).append(&name).append(&window);
                OPEN
            }
            StreamMessage::Accept { id, window } => {
                s.begin_list(2).append(&id).append(&window);
                ACCEPT
            }
            StreamMessage::Data { .. } => unreachable!("encoded above"),
            StreamMessage::Window { id, credit } => {
                s.begin_list(2).append(&id).append(&credit);
                WINDOW
            }
            StreamMessage::Close { id } => {
                s.begin_list(1).append(&id);
                CLOSE
            }
            StreamMessage::Reset { id, reason } => {
                s.begin_list(2).append(&id).append(&reason.code());
                RESET
            }
            StreamMessage::Probe { id, name } => {
                s.begin_list(2).append(&id).append(&name);
                PROBE
            }
        };
        (code, s.out().into())
    }

    /// The stream the message is about.
    pub fn id(&self) -> u64 {
        match *self {
            StreamMessage::Open { id, .. }
            | StreamMessage::Accept { id, .. }
            | StreamMessage::Data { id, .. }
            | StreamMessage::Window { id, .. }
            | StreamMessage::Close { id }
            | StreamMessage::Reset { id, .. }
            | StreamMessage::Probe { id, .. } => id,
        }
    }
}

/// An RLP string or list header for `len` bytes of content (`offset` 0x80 or 0xc0).
fn header(offset: u8, len: usize, out: &mut Vec<u8>) {
    if len < 56 {
        out.push(offset + len as u8);
    } else {
        let be = (len as u64).to_be_bytes();
        let skip = be.iter().take_while(|&&b| b == 0).count();
        out.push(offset + 55 + (8 - skip) as u8);
        out.extend_from_slice(&be[skip..]);
    }
}

/// Data's `[id, bytes]`, written once into a buffer of the exact size: the hot path, where
/// `RlpStream`'s growing buffer and final copy cost a measurable share of a 64 KiB write.
fn encode_data(id: u64, bytes: &[u8]) -> Vec<u8> {
    let id = rlp::encode(&id);
    let mut string = Vec::with_capacity(9);
    if !(bytes.len() == 1 && bytes[0] < 0x80) {
        header(0x80, bytes.len(), &mut string);
    }
    let content = id.len() + string.len() + bytes.len();
    let mut out = Vec::with_capacity(content + 9);
    header(0xc0, content, &mut out);
    out.extend_from_slice(&id);
    out.extend_from_slice(&string);
    out.extend_from_slice(bytes);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_round_trips() {
        let data = vec![7u8; MAX_DATA];
        let messages = [
            StreamMessage::Open {
                id: 1,
                name: "http",
                window: MAX_WINDOW,
            },
            StreamMessage::Accept { id: 2, window: 0 },
            StreamMessage::Data {
                id: 3,
                bytes: &data,
            },
            StreamMessage::Data { id: 3, bytes: &[] },
            StreamMessage::Window {
                id: u64::MAX,
                credit: 1,
            },
            StreamMessage::Close { id: 0 },
            StreamMessage::Reset {
                id: 9,
                reason: ResetReason::NotAllowed,
            },
            StreamMessage::Reset {
                id: 9,
                reason: ResetReason::Other(77),
            },
            StreamMessage::Probe {
                id: 11,
                name: "ssh",
            },
        ];
        for message in messages {
            let (code, payload) = message.encode();
            assert_eq!(StreamMessage::decode(code, &payload), Ok(message));
        }
    }

    #[test]
    fn data_encoding_matches_rlp_stream() {
        for len in [0, 1, 2, 55, 56, 255, 256, 65535, MAX_DATA] {
            for first in [0u8, 0x7f, 0x80, 0xff] {
                let mut bytes = vec![first; len];
                bytes.iter_mut().skip(1).for_each(|b| *b = 0x42);
                for id in [0u64, 1, 0x7f, 0x80, u64::MAX] {
                    let mut s = RlpStream::new();
                    s.begin_list(2).append(&id).append(&bytes.as_slice());
                    assert_eq!(
                        encode_data(id, &bytes),
                        s.out().to_vec(),
                        "len {len} id {id}"
                    );
                }
            }
        }
    }

    #[test]
    fn limits_are_enforced() {
        let big = vec![0u8; MAX_DATA + 1];
        let (code, payload) = StreamMessage::Data { id: 1, bytes: &big }.encode();
        assert_eq!(
            StreamMessage::decode(code, &payload),
            Err(WireError::DataTooLarge(MAX_DATA + 1))
        );
        let (code, payload) = StreamMessage::Window {
            id: 1,
            credit: MAX_WINDOW + 1,
        }
        .encode();
        assert_eq!(
            StreamMessage::decode(code, &payload),
            Err(WireError::WindowTooLarge(MAX_WINDOW + 1))
        );
        let long = "x".repeat(MAX_NAME_LEN + 1);
        let (code, payload) = StreamMessage::Open {
            id: 1,
            name: &long,
            window: 1,
        }
        .encode();
        assert_eq!(
            StreamMessage::decode(code, &payload),
            Err(WireError::BadName)
        );
        assert_eq!(
            StreamMessage::decode(LENGTH, &[0xc1, 0x01]),
            Err(WireError::UnknownCode(LENGTH))
        );
        assert!(StreamMessage::decode(CLOSE, &[0xc1, 0x01, 0x00]).is_err());
        assert!(StreamMessage::decode(CLOSE, &[]).is_err());
        // Extra elements are ignored.
        assert_eq!(
            StreamMessage::decode(CLOSE, &[0xc2, 0x01, 0x02]),
            Ok(StreamMessage::Close { id: 1 })
        );
    }
}
