//! Just enough of the DNS message format ([RFC 1035 §4]) to ask for TXT records and read the
//! answer, for [`UdpResolver`](super::UdpResolver).
//!
//! A query is one question (`QTYPE` TXT, class IN, recursion desired) with an EDNS(0) OPT
//! record ([RFC 6891]) offering [`EDNS_PAYLOAD`] bytes, so that the largest tree entries arrive
//! in one datagram. An answer is checked against the query (id, the question echoed back) and
//! its TXT records are joined into entry texts. Nothing here trusts the bytes: every length and
//! compression pointer is bounded, and what does not parse is [`ResolveError::InvalidAnswer`].
//! The content needs no more trust than that, since the client verifies each entry's hash and
//! the root's signature.
//!
//! [RFC 1035 §4]: https://www.rfc-editor.org/rfc/rfc1035#section-4
//! [RFC 6891]: https://www.rfc-editor.org/rfc/rfc6891

use super::entry::join_character_strings;
use super::resolver::ResolveError;

/// The UDP payload size we offer in EDNS(0): the size DNS flag day 2020 settled on, which
/// avoids IP fragmentation. A tree's entries are far smaller (go-ethereum keeps them in 512).
pub const EDNS_PAYLOAD: u16 = 1232;

const HEADER_LEN: usize = 12;
const TYPE_TXT: u16 = 16;
const TYPE_OPT: u16 = 41;
const CLASS_IN: u16 = 1;
/// The longest name on the wire (RFC 1035 §2.3.4), and the longest label.
const MAX_NAME_LEN: usize = 255;
const MAX_LABEL_LEN: usize = 63;
/// Compression pointers followed while reading one name; a name of 255 bytes has at most 127
/// labels, so more pointers than that can only be a loop.
const MAX_POINTERS: usize = 128;

const FLAG_QR: u16 = 0x8000;
const FLAG_TC: u16 = 0x0200;
const FLAG_RD: u16 = 0x0100;
const RCODE_MASK: u16 = 0x000f;
const RCODE_NXDOMAIN: u16 = 3;

/// What an answer to our query says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The TXT records' texts (possibly none: the name exists without TXT records).
    Texts(Vec<String>),
    /// The answer did not fit the datagram: ask again over TCP.
    Truncated,
}

/// The query for the TXT records of `name` (without the final dot), with message id `id`.
pub fn encode_query(id: u16, name: &str) -> Result<Vec<u8>, ResolveError> {
    let mut out = Vec::with_capacity(HEADER_LEN + name.len() + 2 + 4 + 11);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&FLAG_RD.to_be_bytes());
    // One question, no answers or authority, one additional record (the OPT).
    for count in [1u16, 0, 0, 1] {
        out.extend_from_slice(&count.to_be_bytes());
    }
    encode_name(&mut out, name)?;
    out.extend_from_slice(&TYPE_TXT.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    // OPT: root name, type 41, class = payload size, extended rcode/version/flags 0, no data.
    out.push(0);
    out.extend_from_slice(&TYPE_OPT.to_be_bytes());
    out.extend_from_slice(&EDNS_PAYLOAD.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    Ok(out)
}

fn encode_name(out: &mut Vec<u8>, name: &str) -> Result<(), ResolveError> {
    let name = name.strip_suffix('.').unwrap_or(name);
    // Each label adds its length byte; the root label is the final zero.
    if name.is_empty() || name.len() + 2 > MAX_NAME_LEN {
        return Err(ResolveError::InvalidName);
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > MAX_LABEL_LEN {
            return Err(ResolveError::InvalidName);
        }
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    Ok(())
}

/// The message id of a datagram, to route it to the lookup that sent the query.
pub fn message_id(message: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes(message.get(..2)?.try_into().ok()?))
}

/// Reads the answer `message` to the query for `name` with id `id`.
pub fn decode_answer(message: &[u8], id: u16, name: &str) -> Result<Answer, ResolveError> {
    let mut reader = Reader {
        message,
        position: 0,
    };
    if reader.u16()? != id {
        return Err(ResolveError::InvalidAnswer);
    }
    let flags = reader.u16()?;
    let (questions, answers) = (reader.u16()?, reader.u16()?);
    // Authority and additional records are not read.
    reader.skip(4)?;
    if flags & FLAG_QR == 0 {
        return Err(ResolveError::InvalidAnswer);
    }
    if flags & FLAG_TC != 0 {
        return Ok(Answer::Truncated);
    }
    match flags & RCODE_MASK {
        0 => {}
        RCODE_NXDOMAIN => return Err(ResolveError::NotFound),
        _ => return Err(ResolveError::ServerFailure),
    }
    // The question must be ours, echoed back (RFC 1035 §7.3: a reply to another question, or a
    // stray datagram with a guessed id, is not an answer).
    if questions != 1 {
        return Err(ResolveError::InvalidAnswer);
    }
    let asked = reader.name()?;
    let (qtype, qclass) = (reader.u16()?, reader.u16()?);
    let wanted = name.strip_suffix('.').unwrap_or(name);
    if !asked.eq_ignore_ascii_case(wanted) || qtype != TYPE_TXT || qclass != CLASS_IN {
        return Err(ResolveError::InvalidAnswer);
    }
    let mut texts = Vec::new();
    for _ in 0..answers {
        // The owner is the name or, after a CNAME in this section, its target: either way a
        // TXT record here answers our question.
        reader.skip_name()?;
        let (rtype, rclass) = (reader.u16()?, reader.u16()?);
        reader.skip(4)?; // TTL
        let length = reader.u16()? as usize;
        let data = reader.take(length)?;
        if rtype == TYPE_TXT && rclass == CLASS_IN {
            texts.push(txt_text(data)?);
        }
    }
    Ok(Answer::Texts(texts))
}

/// A TXT record's data: character-strings, each a length byte and that many bytes, joined.
fn txt_text(mut data: &[u8]) -> Result<String, ResolveError> {
    let mut strings = Vec::new();
    while let Some((&len, rest)) = data.split_first() {
        let len = len as usize;
        if rest.len() < len {
            return Err(ResolveError::InvalidAnswer);
        }
        let (string, rest) = rest.split_at(len);
        strings.push(string);
        data = rest;
    }
    join_character_strings(&strings).map_err(|_| ResolveError::InvalidAnswer)
}

/// A bounds-checked cursor over a message.
struct Reader<'a> {
    message: &'a [u8],
    position: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], ResolveError> {
        let end = self
            .position
            .checked_add(len)
            .filter(|&end| end <= self.message.len())
            .ok_or(ResolveError::InvalidAnswer)?;
        let bytes = &self.message[self.position..end];
        self.position = end;
        Ok(bytes)
    }

    fn skip(&mut self, len: usize) -> Result<(), ResolveError> {
        self.take(len).map(|_| ())
    }

    fn u16(&mut self) -> Result<u16, ResolveError> {
        let bytes = self.take(2)?;
        Ok(u16::from_be_bytes([bytes[0], bytes[1]]))
    }

    /// Reads a name (following compression pointers) as dotted text.
    fn name(&mut self) -> Result<String, ResolveError> {
        let mut text = String::new();
        self.walk_name(|label| {
            if !text.is_empty() {
                text.push('.');
            }
            // Labels are bytes; a name we asked for is ASCII, so anything else cannot match.
            text.extend(label.iter().map(|&b| b as char));
        })?;
        Ok(text)
    }

    fn skip_name(&mut self) -> Result<(), ResolveError> {
        self.walk_name(|_| {})
    }

    /// Visits the labels of the name at the cursor, leaving the cursor after the name's bytes
    /// in place (a pointer ends it). RFC 1035 §4.1.4.
    fn walk_name(&mut self, mut label: impl FnMut(&[u8])) -> Result<(), ResolveError> {
        let mut at = self.position;
        let mut resume = None;
        let mut length = 1; // the root label
        let mut pointers = 0;
        loop {
            let len = *self.message.get(at).ok_or(ResolveError::InvalidAnswer)? as usize;
            match len & 0xc0 {
                0x00 if len == 0 => {
                    self.position = resume.unwrap_or(at + 1);
                    return Ok(());
                }
                0x00 => {
                    let bytes = self
                        .message
                        .get(at + 1..at + 1 + len)
                        .ok_or(ResolveError::InvalidAnswer)?;
                    length += len + 1;
                    if length > MAX_NAME_LEN {
                        return Err(ResolveError::InvalidAnswer);
                    }
                    label(bytes);
                    at += 1 + len;
                }
                0xc0 => {
                    let low = *self
                        .message
                        .get(at + 1)
                        .ok_or(ResolveError::InvalidAnswer)?;
                    pointers += 1;
                    if pointers > MAX_POINTERS {
                        return Err(ResolveError::InvalidAnswer);
                    }
                    resume.get_or_insert(at + 2);
                    at = ((len & 0x3f) << 8) | low as usize;
                }
                // 0x40 and 0x80 are reserved label types (RFC 6891 §5).
                _ => return Err(ResolveError::InvalidAnswer),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An answer as a server builds it: our question echoed, then `records` as TXT records
    /// whose owner is a compression pointer to the question's name.
    fn answer(id: u16, flags: u16, name: &str, records: &[&[&[u8]]]) -> Vec<u8> {
        let query = encode_query(id, name).unwrap();
        let question_end = query.len() - 11;
        let mut out = query[..question_end].to_vec();
        out[2..4].copy_from_slice(&(flags | FLAG_QR).to_be_bytes());
        out[6..8].copy_from_slice(&(records.len() as u16).to_be_bytes());
        out[10..12].copy_from_slice(&0u16.to_be_bytes());
        for strings in records {
            out.extend_from_slice(&[0xc0, 12]);
            out.extend_from_slice(&TYPE_TXT.to_be_bytes());
            out.extend_from_slice(&CLASS_IN.to_be_bytes());
            out.extend_from_slice(&60u32.to_be_bytes());
            let data: Vec<u8> = strings
                .iter()
                .flat_map(|s| std::iter::once(s.len() as u8).chain(s.iter().copied()))
                .collect();
            out.extend_from_slice(&(data.len() as u16).to_be_bytes());
            out.extend_from_slice(&data);
        }
        out
    }

    #[test]
    fn query_layout() {
        let query = encode_query(0xabcd, "n.example.org").unwrap();
        let mut want = vec![0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1];
        want.extend_from_slice(b"\x01n\x07example\x03org\x00\x00\x10\x00\x01");
        want.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(query, want);
        assert_eq!(encode_query(1, "a..b"), Err(ResolveError::InvalidName));
        assert_eq!(
            encode_query(1, &"a".repeat(64)),
            Err(ResolveError::InvalidName)
        );
        let long = vec!["a".repeat(63); 4].join(".");
        assert_eq!(encode_query(1, &long), Err(ResolveError::InvalidName));
    }

    #[test]
    fn reads_texts_joined_from_their_strings() {
        let long = [b"x".repeat(255), b"y".repeat(100)];
        let message = answer(
            7,
            0,
            "n.example.org",
            &[&[b"enr:ab"], &[&long[0], &long[1]]],
        );
        let texts = decode_answer(&message, 7, "N.Example.org.").unwrap();
        let joined = format!("{}{}", "x".repeat(255), "y".repeat(100));
        assert_eq!(texts, Answer::Texts(vec!["enr:ab".into(), joined]));
        assert_eq!(
            decode_answer(&answer(7, 0, "n.example.org", &[]), 7, "n.example.org"),
            Ok(Answer::Texts(vec![]))
        );
    }

    #[test]
    fn status_flags() {
        let name = "n.example.org";
        let with_flags = |flags| decode_answer(&answer(1, flags, name, &[]), 1, name);
        assert_eq!(with_flags(FLAG_TC), Ok(Answer::Truncated));
        assert_eq!(with_flags(RCODE_NXDOMAIN), Err(ResolveError::NotFound));
        assert_eq!(with_flags(2), Err(ResolveError::ServerFailure));
        assert_eq!(with_flags(5), Err(ResolveError::ServerFailure));
    }

    #[test]
    fn answers_to_other_questions_are_refused() {
        let name = "n.example.org";
        let message = answer(1, 0, name, &[&[b"enr:ab"]]);
        assert_eq!(
            decode_answer(&message, 2, name),
            Err(ResolveError::InvalidAnswer)
        );
        assert_eq!(
            decode_answer(&message, 1, "m.example.org"),
            Err(ResolveError::InvalidAnswer)
        );
        let mut query_back = message.clone();
        query_back[2] &= 0x7f; // QR cleared: a query, not a response
        assert_eq!(
            decode_answer(&query_back, 1, name),
            Err(ResolveError::InvalidAnswer)
        );
    }

    #[test]
    fn malformed_messages_are_refused() {
        let name = "n.example.org";
        let message = answer(1, 0, name, &[&[b"enr:ab"]]);
        // Every truncation of a valid answer.
        for len in 0..message.len() {
            assert!(
                decode_answer(&message[..len], 1, name).is_err(),
                "cut at {len}"
            );
        }
        // A compression pointer to itself, in the answer's owner name.
        let mut looped = message.clone();
        let owner = message.len() - 2 - 2 - 2 - 4 - 2 - 7;
        looped[owner..owner + 2].copy_from_slice(&[0xc0, owner as u8]);
        assert_eq!(
            decode_answer(&looped, 1, name),
            Err(ResolveError::InvalidAnswer)
        );
        // A character-string longer than the record's data.
        let mut overlong = message.clone();
        let string_len = message.len() - 7;
        overlong[string_len] = 200;
        assert_eq!(
            decode_answer(&overlong, 1, name),
            Err(ResolveError::InvalidAnswer)
        );
        // Text that is not an entry's (a control character).
        let bad = answer(1, 0, name, &[&[b"enr:\x07"]]);
        assert_eq!(
            decode_answer(&bad, 1, name),
            Err(ResolveError::InvalidAnswer)
        );
    }
}
