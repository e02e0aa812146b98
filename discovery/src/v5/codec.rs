//! The discv5.1 session codec: turns messages into packets and packets into messages, keeping
//! the sessions and the pending handshakes in between.
//!
//! It is sans-IO: time comes in as `now`, randomness from the [`StdRng`] it was given, bytes
//! as slices. It decides nothing about requests and responses; the protocol state machine
//! above it does (see the module docs of [`v5`](super)).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::Rng;
use rand::rngs::StdRng;
use secp256k1::SecretKey;

use super::crypto::{self, AesKey, Nonce};
use super::handshake::{self, HandshakeError, Whoareyou};
use super::message::{Message, MessageError};
use super::packet::{
    self, AuthData, Body, Flag, MASKING_IV_SIZE, MAX_PACKET_SIZE, MESSAGE_AUTHDATA_SIZE,
    PacketError, PacketTooLarge, STATIC_HEADER_SIZE,
};
use super::session::{Challenges, NodeAddress, PendingChallenge, Session, SessionCache};
use crate::{Enr, NodeId};

/// The size of the random "message" of a packet sent without a session (go-ethereum's).
const RANDOM_MESSAGE_SIZE: usize = 20;

/// Limits of the codec. The defaults are go-ethereum's.
#[derive(Debug, Clone)]
pub struct Config {
    /// Established sessions kept (least recently used evicted first).
    pub session_capacity: usize,
    /// WHOAREYOU challenges awaiting their handshake; beyond it nodes are not challenged.
    pub max_pending_challenges: usize,
    /// How long a challenge waits for its handshake.
    pub handshake_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            session_capacity: 1024,
            max_pending_challenges: 1024,
            handshake_timeout: Duration::from_secs(1),
        }
    }
}

/// A packet to send, and the nonce it carries (a WHOAREYOU answering it names that nonce).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The datagram.
    pub packet: Vec<u8>,
    /// The header nonce.
    pub nonce: Nonce,
    /// What the packet carries.
    pub kind: OutgoingKind,
}

/// What an [`Outgoing`] packet carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutgoingKind {
    /// The message, encrypted with the established session.
    Message,
    /// The message in a handshake packet, which establishes the session.
    Handshake,
    /// No session existed: random bytes that make the node answer with WHOAREYOU. The caller
    /// keeps the message and the nonce, and sends the message with
    /// [`Codec::encode_handshake`] once the matching WHOAREYOU arrives.
    Random,
}

/// A WHOAREYOU to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The datagram.
    pub packet: Vec<u8>,
    /// Whether this is the pending challenge sent again (byte for byte) rather than a new one.
    pub resent: bool,
}

/// What a received packet was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// A message on an established session.
    Message {
        /// The sender.
        from: NodeId,
        /// The message.
        message: Message,
    },
    /// A handshake answering our challenge: a new session is established with the sender.
    Handshake {
        /// The sender.
        from: NodeId,
        /// The sender's record, verified (from the handshake, or the one we knew); boxed, as
        /// it is much larger than the other variants.
        record: Box<Enr>,
        /// The message the handshake carried.
        message: Message,
    },
    /// A WHOAREYOU: the node could not read a packet of ours (the one with this `nonce`).
    Whoareyou(Whoareyou),
    /// A message packet no session of `(from, address)` decrypts: answer it with
    /// [`Codec::challenge`].
    Unreadable {
        /// The claimed sender.
        from: NodeId,
        /// The packet's nonce, named by the WHOAREYOU.
        nonce: Nonce,
    },
}

/// Why a received packet was dropped. No reply is due for any of them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not a well-formed discv5 packet for this node.
    #[error(transparent)]
    Packet(#[from] PacketError),
    /// A handshake that failed; its challenge is forgotten.
    #[error("handshake from {from}: {error}")]
    Handshake {
        /// The claimed sender.
        from: NodeId,
        /// Why.
        error: HandshakeError,
    },
    /// A packet that decrypted to an invalid message (for a handshake packet, the handshake
    /// failed with it).
    #[error("message from {from}: {error}")]
    Message {
        /// The sender.
        from: NodeId,
        /// Why.
        error: MessageError,
    },
}

impl DecodeError {
    /// Whether the datagram is most likely not discv5 at all (too short, wrong protocol id
    /// after unmasking, too short for a message): what a shared UDP port hands to another
    /// protocol, as go-ethereum's `IsInvalidHeader`.
    pub fn is_not_discv5(&self) -> bool {
        matches!(
            self,
            DecodeError::Packet(
                PacketError::TooShort(_)
                    | PacketError::InvalidProtocolId
                    | PacketError::MessageTooShort
            )
        )
    }
}

/// Why a packet could not be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The packet would exceed 1280 bytes.
    #[error(transparent)]
    TooLarge(#[from] PacketTooLarge),
    /// The record given for a node has another node id.
    #[error("record of {record} given for node {node}")]
    RecordMismatch {
        /// The node addressed.
        node: NodeId,
        /// The id of the record given.
        record: NodeId,
    },
    /// [`Config::max_pending_challenges`] challenges are pending; this node is not
    /// challenged now.
    #[error("too many pending handshakes")]
    ChallengesFull,
}

/// The last 8 bytes of the nonces we send to `node`:
/// `sha256(nonce_key || prefix || write key || node id || ip || port)[..8]`, `prefix` being the
/// first 4 and the write key the session's (none for the random packet that starts one).
///
/// Unpredictable to others (the key is ours), so nonces are still "counter || random" as
/// discv5-wire.md asks, but we can recognise our own nonces from the nonce and the node alone
/// ([`Codec::sent_nonce`]) instead of keeping a map of every nonce recently sent (which cost
/// ~350 bytes per session at a thousand sessions).
fn nonce_tag(
    nonce_key: &[u8; 32],
    prefix: [u8; 4],
    node: &NodeAddress,
    write_key: Option<&AesKey>,
) -> [u8; 8] {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    hash.update(nonce_key);
    hash.update(prefix);
    // A new session's counter starts again at 1: its key keeps its nonces apart from the
    // last session's (a WHOAREYOU naming an old packet must not name the new handshake).
    if let Some(write_key) = write_key {
        hash.update(write_key);
    }
    hash.update(node.id.0);
    match node.addr.ip() {
        std::net::IpAddr::V4(ip) => hash.update(ip.octets()),
        std::net::IpAddr::V6(ip) => hash.update(ip.octets()),
    }
    hash.update(node.addr.port().to_be_bytes());
    let digest = hash.finalize();
    digest[..8].try_into().expect("8 of 32 bytes")
}

/// The discv5.1 codec of one node.
pub struct Codec {
    key: SecretKey,
    record: Enr,
    sessions: SessionCache,
    challenges: Challenges,
    /// The secret of [`nonce_tag`].
    nonce_key: [u8; 32],
    rng: StdRng,
}

impl std::fmt::Debug for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Codec")
            .field("id", &self.record.id())
            .field("sessions", &self.sessions.len())
            .field("pending_challenges", &self.challenges.len())
            .finish_non_exhaustive()
    }
}

impl Codec {
    /// The codec of the node with `key` and `record` (which must be signed by `key`). `rng`
    /// supplies masking IVs, nonces, id-nonces and ephemeral keys: seed it from the operating
    /// system outside tests.
    pub fn new(
        key: SecretKey,
        record: Enr,
        config: Config,
        rng: StdRng,
    ) -> Result<Self, EncodeError> {
        let own = NodeId::from_public_key(&key.public_key());
        if record.id() != own {
            return Err(EncodeError::RecordMismatch {
                node: own,
                record: record.id(),
            });
        }
        let mut rng = rng;
        let mut nonce_key = [0u8; 32];
        rng.fill_bytes(&mut nonce_key);
        Ok(Codec {
            key,
            record,
            nonce_key,
            sessions: SessionCache::new(config.session_capacity),
            challenges: Challenges::new(config.max_pending_challenges, config.handshake_timeout),
            rng,
        })
    }

    /// Our node id.
    pub fn local_id(&self) -> NodeId {
        self.record.id()
    }

    /// Our record, as handshakes carry it.
    pub fn local_record(&self) -> &Enr {
        &self.record
    }

    /// Replaces our record (a new sequence number after an address change); later handshakes
    /// carry it to nodes that know an older one.
    pub fn set_local_record(&mut self, record: Enr) -> Result<(), EncodeError> {
        if record.id() != self.record.id() {
            return Err(EncodeError::RecordMismatch {
                node: self.record.id(),
                record: record.id(),
            });
        }
        self.record = record;
        Ok(())
    }

    /// Whether a session with `node` is established. (Sessions keep no record: the table
    /// has the records worth keeping, and a record per session would triple its memory.)
    pub fn has_session(&self, node: &NodeAddress) -> bool {
        self.sessions.peek(node).is_some()
    }

    /// Forgets the session with `node` (the next message starts a handshake).
    pub fn remove_session(&mut self, node: &NodeAddress) -> bool {
        self.sessions.remove(node).is_some()
    }

    /// How many sessions are established.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// How many challenges await their handshake (expired ones included until the next call
    /// that takes `now`).
    pub fn pending_challenge_count(&self) -> usize {
        self.challenges.len()
    }

    /// The nonce of a packet to `node`: `prefix` (the session's message counter, or random
    /// bytes without a session), then its [`nonce_tag`] (with the session's `write_key`).
    fn nonce(&self, prefix: [u8; 4], node: &NodeAddress, write_key: Option<&AesKey>) -> Nonce {
        let mut nonce = [0u8; 12];
        nonce[..4].copy_from_slice(&prefix);
        nonce[4..].copy_from_slice(&nonce_tag(&self.nonce_key, prefix, node, write_key));
        nonce
    }

    /// Whether we sent a packet with `nonce` to `node` (in the current session, or without
    /// one): what lets a WHOAREYOU
    /// naming one of our packets other than the request it answers (crossed handshakes, see
    /// [`Discv5`](super::Discv5)) be told from a forged or misdirected one, without
    /// remembering every nonce sent.
    pub fn sent_nonce(&self, nonce: &Nonce, node: &NodeAddress) -> bool {
        let prefix = nonce[..4].try_into().expect("4 of 12 bytes");
        let session_key = self.sessions.peek(node).map(|session| &session.write_key);
        *nonce == self.nonce(prefix, node, None)
            || session_key.is_some_and(|key| *nonce == self.nonce(prefix, node, Some(key)))
    }

    fn random<const N: usize>(&mut self) -> [u8; N] {
        let mut bytes = [0u8; N];
        self.rng.fill_bytes(&mut bytes);
        bytes
    }

    /// Encodes `message` to `node`: encrypted if a session exists, otherwise as random bytes
    /// that start a handshake ([`OutgoingKind::Random`]).
    pub fn encode(
        &mut self,
        node: &NodeAddress,
        message: &Message,
    ) -> Result<Outgoing, EncodeError> {
        let plaintext = message.encode();
        // Checked before a handshake is started for it: it could never be sent.
        let size = MASKING_IV_SIZE
            + STATIC_HEADER_SIZE
            + MESSAGE_AUTHDATA_SIZE
            + plaintext.len()
            + crypto::TAG_SIZE;
        if size > MAX_PACKET_SIZE {
            return Err(PacketTooLarge(size).into());
        }
        let local_id = self.local_id();
        let nonce_key = &self.nonce_key;
        if let Some(session) = self.sessions.get_mut(node) {
            let key = session.write_key;
            let tag = |prefix| nonce_tag(nonce_key, prefix, node, Some(&key));
            if let Some(nonce) = session.next_nonce(tag) {
                let iv = self.random();
                let (packet, _) = packet::encode(
                    &node.id,
                    &iv,
                    Flag::Message,
                    &nonce,
                    &local_id.0,
                    Body::Encrypted {
                        key: &key,
                        plaintext: &plaintext,
                    },
                )?;
                return Ok(Outgoing {
                    packet,
                    nonce,
                    kind: OutgoingKind::Message,
                });
            }
            // 2^32 - 1 messages on one session: a new handshake gives new keys.
            self.sessions.remove(node);
        }
        let prefix = self.random();
        let nonce = self.nonce(prefix, node, None);
        let iv = self.random();
        let junk = self.random::<RANDOM_MESSAGE_SIZE>();
        let (packet, _) = packet::encode(
            &node.id,
            &iv,
            Flag::Message,
            &nonce,
            &local_id.0,
            Body::Raw(&junk),
        )?;
        Ok(Outgoing {
            packet,
            nonce,
            kind: OutgoingKind::Random,
        })
    }

    /// Encodes `message` to `node` in a handshake packet answering `challenge`, and stores the
    /// new session. `remote` is the node's record (its key is the one the session keys are
    /// agreed with). Our record goes in when the challenge names an older one.
    ///
    /// The caller answers each WHOAREYOU at most once, and only one that names the nonce of a
    /// packet it sent to this node.
    pub fn encode_handshake(
        &mut self,
        node: &NodeAddress,
        remote: &Enr,
        challenge: &Whoareyou,
        message: &Message,
    ) -> Result<Outgoing, EncodeError> {
        if remote.id() != node.id {
            return Err(EncodeError::RecordMismatch {
                node: node.id,
                record: remote.id(),
            });
        }
        let ephemeral_key = crypto::generate_secret_key(&mut self.rng);
        let init = handshake::initiate(
            &self.key,
            &self.record,
            &node.id,
            &remote.public_key(),
            challenge,
            &ephemeral_key,
        );
        let mut session = Session {
            write_key: init.keys.initiator_key,
            read_key: init.keys.recipient_key,
            previous_read_key: None,
            nonce_counter: 0,
        };
        let (nonce_key, key) = (&self.nonce_key, session.write_key);
        let nonce = session
            .next_nonce(|prefix| nonce_tag(nonce_key, prefix, node, Some(&key)))
            .expect("a new session has nonces left");
        let iv = self.random();
        let (packet, _) = packet::encode(
            &node.id,
            &iv,
            Flag::Handshake,
            &nonce,
            &init.authdata,
            Body::Encrypted {
                key: &session.write_key,
                plaintext: &message.encode(),
            },
        )?;
        self.sessions.insert(*node, session);
        Ok(Outgoing {
            packet,
            nonce,
            kind: OutgoingKind::Handshake,
        })
    }

    /// The WHOAREYOU answering the unreadable packet `nonce` from `node`. While a challenge
    /// to `node` is pending (sent less than the handshake timeout before `now`), it is that
    /// same packet again, byte for byte; otherwise a new challenge, remembered until the
    /// timeout. `known` is the node's record if we have one (its sequence number goes into the
    /// challenge, so the node sends its record only if it has a newer one).
    pub fn challenge(
        &mut self,
        now: Instant,
        node: &NodeAddress,
        nonce: Nonce,
        known: Option<&Enr>,
    ) -> Result<Challenge, EncodeError> {
        if let Some(pending) = self.challenges.get(now, node) {
            return Ok(Challenge {
                packet: pending.packet.clone(),
                resent: true,
            });
        }
        if let Some(record) = known
            && record.id() != node.id
        {
            return Err(EncodeError::RecordMismatch {
                node: node.id,
                record: record.id(),
            });
        }
        let record = known.cloned();
        let enr_seq = record.as_ref().map_or(0, Enr::seq);
        let iv = self.random();
        let id_nonce = self.random();
        let authdata = packet::whoareyou_authdata(&id_nonce, enr_seq);
        let (packet, header) = packet::encode(
            &node.id,
            &iv,
            Flag::Whoareyou,
            &nonce,
            &authdata,
            Body::Empty,
        )?;
        let challenge = PendingChallenge {
            packet: packet.clone(),
            challenge_data: header.try_into().expect("a WHOAREYOU header is 63 bytes"),
            record,
            sent: now,
        };
        self.challenges
            .insert(*node, challenge)
            .map_err(|_| EncodeError::ChallengesFull)?;
        Ok(Challenge {
            packet,
            resent: false,
        })
    }

    /// Decodes a datagram that arrived from `from` at `now`.
    pub fn decode(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &[u8],
    ) -> Result<Decoded, DecodeError> {
        let local_id = self.local_id();
        let mut buf = [0u8; MAX_PACKET_SIZE];
        let unmasked = packet::unmask(&local_id, datagram, &mut buf)?;
        match unmasked.auth {
            AuthData::Whoareyou { id_nonce, enr_seq } => Ok(Decoded::Whoareyou(Whoareyou {
                nonce: unmasked.nonce,
                id_nonce,
                enr_seq,
                challenge_data: unmasked
                    .header
                    .try_into()
                    .expect("a WHOAREYOU header is 63 bytes"),
            })),
            AuthData::Message { src } => {
                let node = NodeAddress {
                    id: src,
                    addr: from,
                };
                let unreadable = Decoded::Unreadable {
                    from: src,
                    nonce: unmasked.nonce,
                };
                let Some(session) = self.sessions.peek(&node) else {
                    return Ok(unreadable);
                };
                let decrypt = |key: &crypto::AesKey| {
                    crypto::decrypt(key, &unmasked.nonce, unmasked.message, unmasked.header)
                };
                let Ok(plaintext) = decrypt(&session.read_key).or_else(|error| {
                    session
                        .previous_read_key
                        .as_ref()
                        .map_or(Err(error), decrypt)
                }) else {
                    return Ok(unreadable);
                };
                // Only an authentic packet counts as use of the session.
                self.sessions.get_mut(&node);
                let message = Message::decode(&plaintext)
                    .map_err(|error| DecodeError::Message { from: src, error })?;
                Ok(Decoded::Message { from: src, message })
            }
            AuthData::Handshake(auth) => {
                let from_id = auth.src;
                let node = NodeAddress {
                    id: from_id,
                    addr: from,
                };
                let handshake_error = |error| DecodeError::Handshake {
                    from: from_id,
                    error,
                };
                // Taken now: whatever fails below, this challenge cannot be answered again.
                let challenge = self
                    .challenges
                    .take(now, &node)
                    .ok_or(handshake_error(HandshakeError::Unexpected))?;
                let (record, keys) = handshake::verify(
                    &self.key,
                    &local_id,
                    &auth,
                    &challenge.challenge_data,
                    challenge.record.as_ref(),
                )
                .map_err(handshake_error)?;
                let plaintext = crypto::decrypt(
                    &keys.initiator_key,
                    &unmasked.nonce,
                    unmasked.message,
                    unmasked.header,
                )
                .map_err(|_| handshake_error(HandshakeError::Decrypt))?;
                let message =
                    Message::decode(&plaintext).map_err(|error| DecodeError::Message {
                        from: from_id,
                        error,
                    })?;
                self.sessions.insert(
                    node,
                    Session {
                        write_key: keys.recipient_key,
                        read_key: keys.initiator_key,
                        previous_read_key: None,
                        nonce_counter: 0,
                    },
                );
                Ok(Decoded::Handshake {
                    from: from_id,
                    record: Box::new(record),
                    message,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests;
