//! Auth packets as a recipient receives them: the input is the raw bytes off the wire.
//!
//! Runs `decode_auth` with "Static Key B" and the driver path (`Recipient::packet_len`, then
//! `read_auth` and `write_ack` on the complete prefix), checking that the two agree. Seeds are
//! the EIP-8 vectors Auth1..3 and the fixture handshake's auth, which all decrypt with key B.
//! Mutations almost always break the ECIES MAC; `handshake_body` fuzzes behind it.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ethp2p_fuzz::check_auth(data);
});
