//! Handshake bodies behind a valid ECIES envelope: the part the raw-packet targets cannot reach,
//! since a mutated packet fails its MAC.
//!
//! Input: one flag byte, then the plaintext body. Flag bit 0 picks ack (sealed to A) over auth
//! (sealed to B); bit 1 picks the legacy envelope (no size prefix) over EIP-8. The sealed packet
//! then goes through the same checks as `handshake_auth` / `handshake_ack`.

#![no_main]

use ethp2p::rlpx::handshake::PacketFormat;
use ethp2p_fuzz::{
    LEGACY_ACK_BODY, LEGACY_AUTH_BODY, check_ack, check_auth, public_a, public_b, seal_eip8,
    seal_legacy,
};
use libfuzzer_sys::fuzz_target;

/// Seed of the RNG that picks the envelope's ephemeral key and IV.
const SEAL_SEED: u64 = 3;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, body)) = data.split_first() else {
        return;
    };
    let is_ack = flags & 1 != 0;
    let legacy = flags & 2 != 0;
    let remote = if is_ack { public_a() } else { public_b() };
    let packet = if legacy {
        seal_legacy(&remote, body, SEAL_SEED)
    } else {
        seal_eip8(&remote, body, SEAL_SEED)
    };

    if is_ack {
        let decoded = check_ack(&packet);
        if legacy && body.len() == LEGACY_ACK_BODY {
            // The legacy layout has no structure to reject: it must decode, field by field.
            let ack = decoded.expect("legacy ack of the legacy size");
            assert_eq!(ack.format, PacketFormat::Legacy);
            assert_eq!(ack.ephemeral_id.0[..], body[..64]);
            assert_eq!(ack.nonce[..], body[64..96]);
        } else if let Ok(ack) = decoded {
            assert_eq!(
                ack.format,
                if legacy {
                    PacketFormat::Legacy
                } else {
                    PacketFormat::Eip8
                }
            );
        }
    } else {
        let decoded = check_auth(&packet);
        if legacy && body.len() == LEGACY_AUTH_BODY {
            let auth = decoded.expect("legacy auth of the legacy size");
            assert_eq!(auth.format, PacketFormat::Legacy);
            assert_eq!(auth.signature[..], body[..65]);
            assert_eq!(auth.initiator_id.0[..], body[97..161]);
            assert_eq!(auth.nonce[..], body[161..193]);
        } else if let Ok(auth) = decoded {
            assert_eq!(
                auth.format,
                if legacy {
                    PacketFormat::Legacy
                } else {
                    PacketFormat::Eip8
                }
            );
        }
    }
});
