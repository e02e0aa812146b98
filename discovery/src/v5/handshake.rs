//! The two halves of the discv5.1 handshake
//! ([discv5-theory.md, "Handshake Steps"](https://github.com/ethereum/devp2p/blob/master/discv5/discv5-theory.md#handshake-steps)):
//! the initiator answering a WHOAREYOU (step 3) and the recipient checking that answer (step 4).
//!
//! Both are pure functions of keys, challenge data and records; the [`Codec`](super::Codec)
//! keeps the state around them (which challenge was sent to whom, the resulting session).

use secp256k1::{PublicKey, SecretKey};

use super::crypto::{self, Nonce, SessionKeys};
use super::packet::{self, ChallengeData, HandshakeAuth};
use crate::enr::EnrError;
use crate::{Enr, NodeId};

/// A WHOAREYOU challenge as the challenged node received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Whoareyou {
    /// The nonce of the packet it answers: how the challenged node finds the request to re-send.
    pub nonce: Nonce,
    /// Random bytes covered by the id-signature.
    pub id_nonce: [u8; 16],
    /// The sequence number of our record that the challenger knows (0: none); the handshake
    /// carries our record when this is older than it.
    pub enr_seq: u64,
    /// The unmasked packet, input of the key derivation and the id-signature.
    pub challenge_data: ChallengeData,
}

/// What the initiator sends in its handshake packet, and the keys it derived.
#[derive(Debug, Clone)]
pub struct HandshakeInit {
    /// The handshake packet's authdata.
    pub authdata: Vec<u8>,
    /// The new session keys (the initiator writes with `initiator_key`).
    pub keys: SessionKeys,
    /// Whether `authdata` carries our record.
    pub record_included: bool,
}

/// Why a handshake packet was refused. The codec forgets the challenge after any of them, so
/// the same handshake cannot be tried again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// No challenge is pending for this node id and address (never sent, expired, already
    /// answered: a replay).
    #[error("handshake without a pending challenge")]
    Unexpected,
    /// We know no record of the sender and the handshake carries none.
    #[error("handshake carries no record and none is known")]
    NoRecord,
    /// The record in the handshake does not decode or verify.
    #[error("invalid record in handshake: {0}")]
    InvalidRecord(EnrError),
    /// The record in the handshake belongs to another node id than the packet's source.
    #[error("record in handshake is not the sender's")]
    RecordIdMismatch,
    /// The id-signature does not verify against the sender's record.
    #[error("invalid id-signature")]
    InvalidIdSignature,
    /// The ephemeral key is not a 33-byte compressed point on secp256k1.
    #[error("invalid ephemeral public key")]
    InvalidEphemeralKey,
    /// The message in the handshake packet does not authenticate with the derived keys.
    #[error("handshake message does not decrypt")]
    Decrypt,
}

/// Step 3: the authdata and session keys of the answer to `challenge`, from us (`local_key`,
/// `local_record`) to `remote_id` / `remote_key`, with `ephemeral_key` (random in real use).
///
/// Our record goes in only when the challenge's `enr_seq` is older than ours.
pub fn initiate(
    local_key: &SecretKey,
    local_record: &Enr,
    remote_id: &NodeId,
    remote_key: &PublicKey,
    challenge: &Whoareyou,
    ephemeral_key: &SecretKey,
) -> HandshakeInit {
    let local_id = local_record.id();
    let ephemeral_pubkey = ephemeral_key.public_key().serialize();
    let id_signature = crypto::id_sign(
        local_key,
        &challenge.challenge_data,
        &ephemeral_pubkey,
        remote_id,
    );
    let record_included = challenge.enr_seq < local_record.seq();
    let record: &[u8] = if record_included {
        local_record.encoded()
    } else {
        &[]
    };
    let authdata = packet::handshake_authdata(&local_id, &id_signature, &ephemeral_pubkey, record);
    let keys = crypto::derive_keys(
        ephemeral_key,
        remote_key,
        &local_id,
        remote_id,
        &challenge.challenge_data,
    );
    HandshakeInit {
        authdata,
        keys,
        record_included,
    }
}

/// Step 4: checks a handshake's authdata against the challenge we sent (`challenge_data`) and
/// the sender's record we knew (`known_record`), and derives the session keys.
///
/// Returns the sender's record (the one in the handshake if newer than the known one) and the
/// keys. The message itself is decrypted by the caller with `keys.initiator_key`.
pub fn verify(
    local_key: &SecretKey,
    local_id: &NodeId,
    auth: &HandshakeAuth<'_>,
    challenge_data: &[u8],
    known_record: Option<&Enr>,
) -> Result<(Enr, SessionKeys), HandshakeError> {
    let record = if auth.record.is_empty() {
        known_record.cloned().ok_or(HandshakeError::NoRecord)?
    } else {
        let sent = Enr::decode(auth.record).map_err(HandshakeError::InvalidRecord)?;
        if sent.id() != auth.src {
            return Err(HandshakeError::RecordIdMismatch);
        }
        match known_record {
            Some(known) if known.seq() >= sent.seq() => known.clone(),
            _ => sent,
        }
    };
    if record.id() != auth.src {
        return Err(HandshakeError::RecordIdMismatch);
    }
    if !crypto::id_verify(
        &record.public_key(),
        auth.id_signature,
        challenge_data,
        auth.ephemeral_key,
        local_id,
    ) {
        return Err(HandshakeError::InvalidIdSignature);
    }
    let ephemeral_key = <[u8; 33]>::try_from(auth.ephemeral_key)
        .ok()
        .and_then(|bytes| PublicKey::from_byte_array_compressed(bytes).ok())
        .ok_or(HandshakeError::InvalidEphemeralKey)?;
    let keys = crypto::derive_keys(
        local_key,
        &ephemeral_key,
        &auth.src,
        local_id,
        challenge_data,
    );
    Ok((record, keys))
}
