//! DNS answers as `UdpResolver` reads them (`ethp2p_discovery::dns::message`): the input is a
//! whole message, read as the answer to a TXT query for `n.example.org` with the id the message
//! carries (so the fuzzer gets past the id check at once and spends its time on the question,
//! the records and their compression pointers).
//!
//! Nothing may panic or loop. An answer's texts are entry text: at most `MAX_ENTRY_SIZE` bytes
//! of printable ASCII. The input as a name (when it is UTF-8) either encodes to a query that is
//! never taken for an answer (QR clear), or is refused as a name.

#![no_main]

use ethp2p_discovery::dns::ResolveError;
use ethp2p_discovery::dns::entry::MAX_ENTRY_SIZE;
use ethp2p_discovery::dns::message::{Answer, decode_answer, encode_query, message_id};
use libfuzzer_sys::fuzz_target;

const NAME: &str = "n.example.org";

fuzz_target!(|data: &[u8]| {
    if let Some(id) = message_id(data)
        && let Ok(Answer::Texts(texts)) = decode_answer(data, id, NAME)
    {
        for text in texts {
            assert!(text.len() <= MAX_ENTRY_SIZE);
            assert!(text.bytes().all(|b| b.is_ascii_graphic() || b == b' '));
        }
    }
    if let Ok(name) = std::str::from_utf8(data) {
        match encode_query(0x1234, name) {
            Ok(query) => {
                assert!(query.len() <= 12 + 255 + 4 + 11);
                assert_eq!(
                    decode_answer(&query, 0x1234, name),
                    Err(ResolveError::InvalidAnswer)
                );
            }
            Err(error) => assert_eq!(error, ResolveError::InvalidName),
        }
    }
});
