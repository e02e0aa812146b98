//! Ack packets as an initiator receives them: the input is the raw bytes off the wire.
//!
//! Runs `decode_ack` with "Static Key A" and the driver path (`AwaitingAck::packet_len`, then
//! `read_ack` on the complete prefix) of an initiator A -> B that wrote its auth with the
//! vector's ephemeral key and nonce. Seeds are the EIP-8 vectors Ack1..3 and the fixture
//! handshake's ack. Mutations almost always break the ECIES MAC; `handshake_body` fuzzes behind it.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ethp2p_fuzz::check_ack(data);
});
