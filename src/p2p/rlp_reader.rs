//! A strict, allocation-free RLP reader for decoding network input.
//!
//! The `rlp` 0.6 crate is used for header parsing (`PayloadInfo`, which already rejects
//! non-canonical long-form lengths and length prefixes with leading zeros), but its
//! higher-level accessors are too lenient or can panic on hostile input:
//! - `Rlp::as_val::<u64>()` accepts non-canonical integers such as `0xb8 0x01 0x05`;
//! - `Rlp::data()` accepts a single byte < 0x80 wrapped as `0x81 0x05`;
//! - list iteration silently stops at a malformed element, ignoring garbage inside a list;
//! - `Rlp::is_int()` and its `Display` impl index out of bounds on some inputs.
//!
//! This module adds the missing canonicality checks and requires list elements to tile the
//! list payload exactly, matching go-ethereum's `rlp` package.

use rlp::DecoderError;

use super::P2pError;

/// One RLP item with its header stripped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Item<'a> {
    /// A byte string; holds its content.
    Bytes(&'a [u8]),
    /// A list; holds its (still encoded) payload.
    List(&'a [u8]),
}

/// Splits the first item off `bytes`, returning it and the bytes that follow it.
pub(crate) fn split(bytes: &[u8]) -> Result<(Item<'_>, &[u8]), P2pError> {
    let first = *bytes.first().ok_or(DecoderError::RlpIsTooShort)?;
    // `payload_info` checks that header + value fit inside `bytes` (with overflow checks).
    let info = rlp::Rlp::new(bytes).payload_info()?;
    let end = info
        .header_len
        .checked_add(info.value_len)
        .ok_or(DecoderError::RlpIsTooShort)?;
    let value = bytes
        .get(info.header_len..end)
        .ok_or(DecoderError::RlpIsTooShort)?;
    let rest = bytes.get(end..).ok_or(DecoderError::RlpIsTooShort)?;
    let item = if first >= 0xc0 {
        Item::List(value)
    } else {
        // A single byte below 0x80 must be encoded as itself, not as `0x81 b`.
        if first == 0x81 && value.first().is_some_and(|&b| b < 0x80) {
            return Err(DecoderError::RlpInvalidIndirection.into());
        }
        Item::Bytes(value)
    };
    Ok((item, rest))
}

impl<'a> Item<'a> {
    /// The content of a byte string; lists are rejected.
    pub(crate) fn bytes(self) -> Result<&'a [u8], P2pError> {
        match self {
            Item::Bytes(b) => Ok(b),
            Item::List(_) => Err(DecoderError::RlpExpectedToBeData.into()),
        }
    }

    /// An iterator over the elements of a list; byte strings are rejected.
    pub(crate) fn list(self) -> Result<ListIter<'a>, P2pError> {
        match self {
            Item::List(payload) => Ok(ListIter { rest: payload }),
            Item::Bytes(_) => Err(DecoderError::RlpExpectedToBeList.into()),
        }
    }

    /// A canonical RLP unsigned integer (no leading zero bytes, at most 8 bytes).
    ///
    /// Zero is the empty string `0x80`; the byte `0x00` is rejected as non-canonical, as
    /// go-ethereum does.
    pub(crate) fn u64(self) -> Result<u64, P2pError> {
        let bytes = self.bytes()?;
        if bytes.len() > 8 {
            return Err(DecoderError::RlpIsTooBig.into());
        }
        if bytes.first() == Some(&0) {
            return Err(DecoderError::RlpInvalidIndirection.into());
        }
        Ok(bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }
}

/// Iterator over the elements of an RLP list payload.
///
/// Yields an error (and then stops) if an element is malformed or truncated, so garbage at
/// the end of a list is never silently ignored.
#[derive(Debug, Clone)]
pub(crate) struct ListIter<'a> {
    rest: &'a [u8],
}

impl<'a> ListIter<'a> {
    /// The next element, or `RlpIncorrectListLen` if the list has no more elements.
    pub(crate) fn required(&mut self) -> Result<Item<'a>, P2pError> {
        self.next()
            .unwrap_or(Err(DecoderError::RlpIncorrectListLen.into()))
    }

    /// Checks that all remaining elements are well-formed, discarding them.
    pub(crate) fn skip_rest(self) -> Result<(), P2pError> {
        for item in self {
            item?;
        }
        Ok(())
    }
}

impl<'a> Iterator for ListIter<'a> {
    type Item = Result<Item<'a>, P2pError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match split(self.rest) {
            Ok((item, rest)) => {
                self.rest = rest;
                Some(Ok(item))
            }
            Err(err) => {
                self.rest = &[];
                Some(Err(err))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(e: DecoderError) -> P2pError {
        P2pError::InvalidRlp(e)
    }

    #[test]
    fn splits_items_and_rest() {
        assert_eq!(
            split(&[0x05, 0xff]).unwrap(),
            (Item::Bytes(&[0x05]), &[0xff][..])
        );
        assert_eq!(split(&[0x80]).unwrap(), (Item::Bytes(&[]), &[][..]));
        assert_eq!(split(&[0x82, 1, 2]).unwrap().0, Item::Bytes(&[1, 2]));
        assert_eq!(split(&[0xc0]).unwrap().0, Item::List(&[]));
        assert_eq!(
            split(&[0xc2, 1, 2, 3]).unwrap(),
            (Item::List(&[1, 2]), &[3][..])
        );
    }

    #[test]
    fn rejects_malformed_headers() {
        assert_eq!(split(&[]), Err(err(DecoderError::RlpIsTooShort)));
        assert_eq!(split(&[0x82, 1]), Err(err(DecoderError::RlpIsTooShort)));
        assert_eq!(split(&[0xc3, 1]), Err(err(DecoderError::RlpIsTooShort)));
        // Non-canonical single byte.
        assert_eq!(
            split(&[0x81, 0x05]),
            Err(err(DecoderError::RlpInvalidIndirection))
        );
        assert!(split(&[0x81, 0x80]).is_ok());
        // Long form for a short string.
        assert!(split(&[0xb8, 0x01, 0x05]).is_err());
        // Length with leading zero.
        assert!(split(&[0xb9, 0x00, 0x40]).is_err());
        // Absurd lengths must not overflow or panic.
        assert!(split(&[0xbf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(split(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).is_err());
    }

    #[test]
    fn u64_is_canonical() {
        let int = |b: &[u8]| split(b).and_then(|(i, _)| i.u64());
        assert_eq!(int(&[0x80]), Ok(0));
        assert_eq!(int(&[0x7f]), Ok(0x7f));
        assert_eq!(int(&[0x82, 0x01, 0x00]), Ok(256));
        assert_eq!(
            int(&[0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            Ok(u64::MAX)
        );
        assert_eq!(int(&[0x00]), Err(err(DecoderError::RlpInvalidIndirection)));
        assert_eq!(
            int(&[0x82, 0x00, 0x01]),
            Err(err(DecoderError::RlpInvalidIndirection))
        );
        assert_eq!(
            int(&[0x89, 1, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(err(DecoderError::RlpIsTooBig))
        );
        assert_eq!(int(&[0xc0]), Err(err(DecoderError::RlpExpectedToBeData)));
    }

    #[test]
    fn list_iteration_is_strict() {
        let (item, _) = split(&[0xc3, 0x01, 0x82, 0x02]).unwrap();
        // The list payload [01 82 02] ends with a truncated element.
        let items: Vec<_> = item.list().unwrap().collect();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0], Ok(Item::Bytes(&[1])));
        assert!(items[1].is_err());

        let (item, _) = split(&[0xc2, 0x01, 0x02]).unwrap();
        let mut it = item.list().unwrap();
        assert_eq!(it.required(), Ok(Item::Bytes(&[1])));
        assert_eq!(it.required(), Ok(Item::Bytes(&[2])));
        assert_eq!(it.required(), Err(err(DecoderError::RlpIncorrectListLen)));
        assert_eq!(
            Item::Bytes(&[]).list().err(),
            Some(err(DecoderError::RlpExpectedToBeList))
        );
    }

    #[test]
    fn never_panics_on_short_inputs() {
        for a in 0..=255u8 {
            let _ = split(&[a]);
            for b in 0..=255u8 {
                if let Ok((item, _)) = split(&[a, b]) {
                    let _ = item.u64();
                    if let Ok(it) = item.list() {
                        let _ = it.skip_rest();
                    }
                }
            }
        }
    }
}
