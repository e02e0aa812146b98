//! Base32 with the standard alphabet and no padding (RFC 4648 §6), as used by EIP-1459 for entry
//! hashes and the public key of an `enrtree://` URL.
//!
//! Decoding follows Go's `base32.StdEncoding.WithPadding(NoPadding)`, which go-ethereum uses:
//! upper case only, no padding, no whitespace, and a final group of 1, 3 or 6 characters is
//! invalid (it cannot carry whole bytes). Like Go, the unused low bits of the last character
//! are ignored rather than required to be zero: go-ethereum's own tests use the hash
//! `BBBBBBBBBBBBBBBBBBBB`, whose last character has such bits set.

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Encodes `data`.
pub(crate) fn encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(encoded_len(data.len()));
    for chunk in data.chunks(5) {
        let mut group = [0u8; 8];
        group[3..3 + chunk.len()].copy_from_slice(chunk);
        let bits = u64::from_be_bytes(group);
        // 1..=5 input bytes make 2, 4, 5, 7 or 8 characters.
        let chars = (chunk.len() * 8).div_ceil(5);
        for i in 0..chars {
            out.push(char::from(ALPHABET[(bits >> (35 - 5 * i) & 0x1f) as usize]));
        }
    }
    out
}

/// The length of the encoding of `len` bytes.
pub(crate) const fn encoded_len(len: usize) -> usize {
    (len * 8).div_ceil(5)
}

/// The number of bytes `len` characters decode to (whole bytes only, as Go's `DecodedLen`).
pub(crate) const fn decoded_len(len: usize) -> usize {
    len * 5 / 8
}

fn value(c: u8) -> Option<u64> {
    let v = match c {
        b'A'..=b'Z' => c - b'A',
        b'2'..=b'7' => c - b'2' + 26,
        _ => return None,
    };
    Some(u64::from(v))
}

/// Decodes `text`, or `None` if it is not unpadded standard base32.
pub(crate) fn decode(text: &str) -> Option<Vec<u8>> {
    let text = text.as_bytes();
    let mut out = Vec::with_capacity(decoded_len(text.len()));
    for chunk in text.chunks(8) {
        // 2, 4, 5, 7 or 8 characters carry 1, 2, 3, 4 or 5 bytes.
        let bytes = match chunk.len() {
            2 => 1,
            4 => 2,
            5 => 3,
            7 => 4,
            8 => 5,
            _ => return None,
        };
        let mut bits = 0u64;
        for (i, &c) in chunk.iter().enumerate() {
            bits |= value(c)? << (35 - 5 * i);
        }
        out.extend_from_slice(&bits.to_be_bytes()[3..3 + bytes]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4648_vectors() {
        for (plain, coded) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(encode(plain.as_bytes()), coded);
            assert_eq!(decode(coded).as_deref(), Some(plain.as_bytes()));
            assert_eq!(encoded_len(plain.len()), coded.len());
            assert_eq!(decoded_len(coded.len()), plain.len());
        }
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(decode(&encode(&all)), Some(all));
    }

    #[test]
    fn rejects_what_go_rejects() {
        assert_eq!(decode("MZXW6==="), None, "padding");
        assert_eq!(decode("M"), None, "one character carries no byte");
        assert_eq!(decode("MZX"), None);
        assert_eq!(decode("MZXW6Y"), None);
        assert_eq!(decode("mzxw6"), None, "lower case");
        assert_eq!(decode("MZXW1"), None, "digit outside the alphabet");
        assert_eq!(decode("MZ\nXW"), None, "newline");
    }

    #[test]
    fn leftover_bits_are_ignored_as_go_does() {
        // "MZ" and "M3" both decode to "f": the last character's low bits do not count.
        assert_eq!(decode("M3").as_deref(), Some(&b"f"[..]));
        assert_eq!(decode("BBBBBBBBBBBBBBBBBBBB").map(|b| b.len()), Some(12));
    }
}
