//! The little RLP discovery needs (ENRs and discv4 packets): a strict reader of one item at a
//! time, and writers for headers, byte strings, integers and lists.
//!
//! The reader accepts only canonical encodings (the same rules go-ethereum's decoder enforces):
//! a single byte below 0x80 is never wrapped in a string header, lengths use the short form
//! when they fit in it, long-form lengths have no leading zero bytes, and integers have no
//! leading zero bytes. It only ever borrows from its input, never allocates and never panics.

/// What an item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A byte string.
    Bytes,
    /// A list; its payload is the concatenation of its items.
    List,
}

/// One item, borrowed from the buffer it was read from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Item<'a> {
    pub(crate) kind: Kind,
    /// The content after the header (for a single byte below 0x80, that byte).
    pub(crate) payload: &'a [u8],
    /// The whole item, header included.
    pub(crate) raw: &'a [u8],
}

/// Reads the first item of `buf`, returning it and the bytes after it.
pub(crate) fn split_item(buf: &[u8]) -> Result<(Item<'_>, &[u8]), &'static str> {
    let (&first, rest) = buf.split_first().ok_or("unexpected end of input")?;
    let (kind, header_len, len) = match first {
        0x00..=0x7f => {
            let item = Item {
                kind: Kind::Bytes,
                payload: &buf[..1],
                raw: &buf[..1],
            };
            return Ok((item, rest));
        }
        0x80..=0xb7 => (Kind::Bytes, 1, usize::from(first - 0x80)),
        0xb8..=0xbf => {
            let (len, n) = long_length(rest, usize::from(first - 0xb7))?;
            (Kind::Bytes, 1 + n, len)
        }
        0xc0..=0xf7 => (Kind::List, 1, usize::from(first - 0xc0)),
        0xf8..=0xff => {
            let (len, n) = long_length(rest, usize::from(first - 0xf7))?;
            (Kind::List, 1 + n, len)
        }
    };
    let total = buf.len();
    if len > total - header_len {
        return Err("item longer than its input");
    }
    let payload = &buf[header_len..header_len + len];
    if kind == Kind::Bytes && len == 1 && payload[0] < 0x80 {
        return Err("non-canonical single byte");
    }
    let item = Item {
        kind,
        payload,
        raw: &buf[..header_len + len],
    };
    Ok((item, &buf[header_len + len..]))
}

/// Reads a long-form length of `n` (1..=8) bytes from `buf`: the length and `n`.
fn long_length(buf: &[u8], n: usize) -> Result<(usize, usize), &'static str> {
    let bytes = buf.get(..n).ok_or("unexpected end of input")?;
    if bytes[0] == 0 {
        return Err("length with leading zero");
    }
    let len = bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    if len < 56 {
        return Err("long-form length below 56");
    }
    // Anything beyond usize is also beyond the input, which is what the caller checks next.
    Ok((usize::try_from(len).unwrap_or(usize::MAX), n))
}

/// Reads `buf` as exactly one item, with nothing after it.
pub(crate) fn single_item(buf: &[u8]) -> Result<Item<'_>, &'static str> {
    let (item, rest) = split_item(buf)?;
    if !rest.is_empty() {
        return Err("trailing bytes after item");
    }
    Ok(item)
}

/// The value of a canonical unsigned integer item of at most `max_bytes` bytes.
pub(crate) fn uint(item: &Item<'_>, max_bytes: usize) -> Result<u64, &'static str> {
    if item.kind != Kind::Bytes {
        return Err("integer is a list");
    }
    let bytes = item.payload;
    if bytes.len() > max_bytes {
        return Err("integer too large");
    }
    if bytes.first() == Some(&0) {
        return Err("integer with leading zero");
    }
    Ok(bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
}

/// Appends the header of a string (`list == false`) or list of `len` payload bytes.
pub(crate) fn encode_header(len: usize, list: bool, out: &mut Vec<u8>) {
    let (short, long) = if list { (0xc0, 0xf7) } else { (0x80, 0xb7) };
    if len < 56 {
        out.push(short + len as u8);
    } else {
        let be = (len as u64).to_be_bytes();
        let skip = be.iter().take_while(|&&b| b == 0).count();
        out.push(long + (8 - skip) as u8);
        out.extend_from_slice(&be[skip..]);
    }
}

/// Appends `data` as a byte string.
pub(crate) fn encode_bytes(data: &[u8], out: &mut Vec<u8>) {
    if let [b] = data
        && *b < 0x80
    {
        out.push(*b);
        return;
    }
    encode_header(data.len(), false, out);
    out.extend_from_slice(data);
}

/// Appends a list whose (already encoded) items are `payload`.
pub(crate) fn encode_list(payload: &[u8], out: &mut Vec<u8>) {
    encode_header(payload.len(), true, out);
    out.extend_from_slice(payload);
}

/// Appends `value` as an integer (big-endian, no leading zeros; zero is the empty string).
pub(crate) fn encode_uint(value: u64, out: &mut Vec<u8>) {
    let be = value.to_be_bytes();
    let skip = be.iter().take_while(|&&b| b == 0).count();
    encode_bytes(&be[skip..], out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_only() {
        // Good encodings.
        assert_eq!(single_item(&[0x05]).unwrap().payload, &[0x05]);
        assert_eq!(single_item(&[0x81, 0x80]).unwrap().payload, &[0x80]);
        assert_eq!(single_item(&[0x80]).unwrap().payload, &[] as &[u8]);
        assert_eq!(single_item(&[0xc0]).unwrap().kind, Kind::List);
        let mut long = vec![0xb8, 56];
        long.extend_from_slice(&[1; 56]);
        assert_eq!(single_item(&long).unwrap().payload.len(), 56);
        // Non-canonical ones.
        assert!(single_item(&[0x81, 0x05]).is_err());
        assert!(single_item(&[0xb8, 0x01, 0x05]).is_err());
        assert!(single_item(&[0xb9, 0x00, 0x38]).is_err());
        assert!(single_item(&[0xf8, 0x00]).is_err());
        // Truncated, trailing, absurd lengths.
        assert!(single_item(&[]).is_err());
        assert!(single_item(&[0x82, 0x01]).is_err());
        assert!(single_item(&[0x01, 0x02]).is_err());
        assert!(single_item(&[0xbf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(single_item(&[0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(single_item(&[0xbb, 0xff, 0xff]).is_err());
    }

    #[test]
    fn integers() {
        for (value, encoded) in [
            (0u64, &[0x80][..]),
            (5, &[0x05]),
            (0x80, &[0x81, 0x80]),
            (30303, &[0x82, 0x76, 0x5f]),
            (
                u64::MAX,
                &[0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            ),
        ] {
            let mut out = Vec::new();
            encode_uint(value, &mut out);
            assert_eq!(out, encoded);
            assert_eq!(uint(&single_item(encoded).unwrap(), 8), Ok(value));
        }
        assert!(uint(&single_item(&[0x00]).unwrap(), 8).is_err());
        assert!(uint(&single_item(&[0x82, 0x00, 0x01]).unwrap(), 8).is_err());
        assert!(uint(&single_item(&[0x83, 1, 2, 3]).unwrap(), 2).is_err());
        assert!(uint(&single_item(&[0xc0]).unwrap(), 8).is_err());
    }

    #[test]
    fn headers() {
        for len in [0usize, 1, 55, 56, 255, 256, 65535, 65536] {
            for list in [false, true] {
                let mut out = Vec::new();
                encode_header(len, list, &mut out);
                out.resize(out.len() + len, 0x90);
                let item = single_item(&out).unwrap();
                assert_eq!(item.payload.len(), len);
                assert_eq!(item.kind == Kind::List, list);
            }
        }
    }
}
