//! Base64 with the URL and filename safe alphabet and no padding (RFC 4648 §5), as used by the
//! text form of an ENR.
//!
//! Decoding is strict so that text round-trips exactly: no padding, no whitespace, no
//! characters outside the alphabet, and the unused low bits of the last character must be zero.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Encodes `data`.
pub(crate) fn encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let mut group = [0u8; 3];
        group[..chunk.len()].copy_from_slice(chunk);
        let bits = u32::from(group[0]) << 16 | u32::from(group[1]) << 8 | u32::from(group[2]);
        // 1, 2 or 3 input bytes make 2, 3 or 4 characters.
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(bits >> (18 - 6 * i) & 0x3f) as usize]));
        }
    }
    out
}

fn value(c: u8) -> Option<u32> {
    let v = match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'-' => 62,
        b'_' => 63,
        _ => return None,
    };
    Some(u32::from(v))
}

/// Decodes `text`, or `None` if it is not canonical unpadded base64url.
pub(crate) fn decode(text: &str) -> Option<Vec<u8>> {
    let text = text.as_bytes();
    if text.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3 + 2);
    for chunk in text.chunks(4) {
        let mut bits = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            bits |= value(c)? << (18 - 6 * i);
        }
        let bytes = bits.to_be_bytes();
        // 2, 3 or 4 characters carry 1, 2 or 3 bytes; the bits left over must be zero.
        let n = chunk.len() - 1;
        if bits & (0x00ff_ffff >> (8 * n)) != 0 {
            return None;
        }
        out.extend_from_slice(&bytes[1..1 + n]);
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
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(encode(plain.as_bytes()), coded);
            assert_eq!(decode(coded).as_deref(), Some(plain.as_bytes()));
        }
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(decode(&encode(&all)), Some(all));
        assert_eq!(encode(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn strict() {
        assert_eq!(decode("Zg=="), None);
        assert_eq!(decode("Zh"), None); // non-zero leftover bits
        assert_eq!(decode("Zm9"), None);
        assert_eq!(decode("Z"), None);
        assert_eq!(decode("Zm+v"), None);
        assert_eq!(decode("Zm/v"), None);
        assert_eq!(decode("Zm 9v"), None);
        assert_eq!(decode("Zm9\u{e9}"), None);
    }
}
