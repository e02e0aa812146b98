//! Splits a byte stream into top-level JSON values, the way go-ethereum's IPC transport reads
//! its socket (a stream of JSON values, no newline or length framing). Each byte is scanned
//! once, so a slow sender costs linear time, and a value longer than the limit is refused
//! before it is buffered whole. Only the lexical structure is checked here (brackets, strings,
//! escapes); the value itself is parsed by serde_json afterwards.

/// Why the stream cannot go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A value grew past the limit before it ended.
    #[error("request larger than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// A top-level value that is not an object or array (JSON-RPC requests are one or the
    /// other); where it ends cannot be told apart from junk.
    #[error("expected a JSON object or array, found byte 0x{0:02x}")]
    NotAnObject(u8),
}

/// Incremental splitter over the bytes read so far.
#[derive(Debug)]
pub struct Framer {
    limit: usize,
    buf: Vec<u8>,
    /// Bytes of `buf` already scanned.
    scanned: usize,
    /// Where the current value starts in `buf`, once its first byte arrived.
    start: Option<usize>,
    depth: usize,
    in_string: bool,
    escaped: bool,
}

impl Framer {
    /// A framer that refuses values longer than `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Framer {
            limit,
            buf: Vec::new(),
            scanned: 0,
            start: None,
            depth: 0,
            in_string: false,
            escaped: false,
        }
    }

    /// Appends bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Whether a value has begun and not ended: the time a client takes to finish it is bounded.
    pub fn in_progress(&self) -> bool {
        self.start.is_some()
    }

    /// The next complete value, `Ok(None)` if more bytes are needed.
    pub fn next_value(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        while self.scanned < self.buf.len() {
            let i = self.scanned;
            let byte = self.buf[i];
            self.scanned += 1;
            let Some(start) = self.start else {
                match byte {
                    b' ' | b'\t' | b'\r' | b'\n' => continue,
                    b'{' | b'[' => {
                        self.start = Some(i);
                        self.depth = 1;
                        continue;
                    }
                    other => return Err(FrameError::NotAnObject(other)),
                }
            };
            if i - start >= self.limit {
                return Err(FrameError::TooLarge { limit: self.limit });
            }
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if byte == b'\\' {
                    self.escaped = true;
                } else if byte == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            match byte {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        let value = self.buf[start..=i].to_vec();
                        self.buf.drain(..=i);
                        self.scanned = 0;
                        self.start = None;
                        return Ok(Some(value));
                    }
                }
                _ => {}
            }
        }
        match self.start {
            // Only whitespace so far: nothing to keep.
            None => {
                self.buf.clear();
                self.scanned = 0;
            }
            Some(start) if start > 0 => {
                self.buf.drain(..start);
                self.scanned -= start;
                self.start = Some(0);
            }
            Some(_) => {}
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(framer: &mut Framer) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(value) = framer.next_value().unwrap() {
            out.push(String::from_utf8(value).unwrap());
        }
        out
    }

    #[test]
    fn splits_back_to_back_values_fed_byte_by_byte() {
        let stream = br#" {"a":"}\"{","b":[1,{"c":2}]}[{"x":"]"}]
{"d":"\\"}"#;
        let mut framer = Framer::new(1024);
        let mut got = Vec::new();
        for byte in stream {
            framer.push(&[*byte]);
            got.extend(all(&mut framer));
        }
        assert_eq!(
            got,
            [
                r#"{"a":"}\"{","b":[1,{"c":2}]}"#,
                r#"[{"x":"]"}]"#,
                r#"{"d":"\\"}"#
            ]
        );
        assert!(!framer.in_progress());
    }

    #[test]
    fn a_partial_value_is_in_progress_until_it_ends() {
        let mut framer = Framer::new(1024);
        framer.push(b"\n\n{\"jsonrpc\":");
        assert_eq!(framer.next_value(), Ok(None));
        assert!(framer.in_progress());
        framer.push(b"\"2.0\"}");
        assert_eq!(
            framer.next_value().unwrap().as_deref(),
            Some(&br#"{"jsonrpc":"2.0"}"#[..])
        );
        assert!(!framer.in_progress());
    }

    #[test]
    fn refuses_a_value_over_the_limit_before_it_ends() {
        let mut framer = Framer::new(16);
        framer.push(b"{\"k\":\"0123456789");
        assert_eq!(framer.next_value(), Ok(None));
        framer.push(b"abcdef");
        assert_eq!(framer.next_value(), Err(FrameError::TooLarge { limit: 16 }));
        // Exactly at the limit is fine.
        let mut framer = Framer::new(16);
        framer.push(b"{\"k\":\"01234567\"}");
        assert_eq!(framer.next_value().unwrap().map(|v| v.len()), Some(16));
    }

    /// Arbitrary bytes in arbitrary chunks: no panic, and every value it yields is within the
    /// limit and bracketed; and JSON documents sent back to back come out exactly as sent.
    #[test]
    fn arbitrary_input_in_arbitrary_chunks() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        const ALPHABET: &[u8] = b"{}[]\"\\ a:,\n";
        for _ in 0..2000 {
            let len = (next() % 200) as usize;
            let mut bytes: Vec<u8> = (0..len)
                .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize])
                .collect();
            bytes.insert(0, b'{');
            let mut framer = Framer::new(64);
            let mut rest = &bytes[..];
            'feed: while !rest.is_empty() {
                let take = 1 + (next() % 17) as usize;
                let (chunk, tail) = rest.split_at(take.min(rest.len()));
                rest = tail;
                framer.push(chunk);
                loop {
                    match framer.next_value() {
                        Ok(Some(value)) => {
                            assert!(value.len() <= 64);
                            assert!(matches!(value[0], b'{' | b'['));
                            assert!(matches!(value[value.len() - 1], b'}' | b']'));
                        }
                        Ok(None) => break,
                        Err(_) => break 'feed,
                    }
                }
            }
        }
        let documents: Vec<String> = (0..50)
            .map(|i| {
                let value = serde_json::json!({"id": i, "s": "}{\"\\", "a": [[i], {"k": []}]});
                value.to_string()
            })
            .collect();
        let stream = documents.join(" \n");
        let mut framer = Framer::new(1024);
        let mut got = Vec::new();
        for chunk in stream.as_bytes().chunks(7) {
            framer.push(chunk);
            got.extend(all(&mut framer));
        }
        assert_eq!(got, documents);
    }

    #[test]
    fn refuses_top_level_scalars_and_junk() {
        for junk in [&b"42"[..], b"\"str\"", b"true", b"\x00"] {
            let mut framer = Framer::new(64);
            framer.push(junk);
            assert_eq!(framer.next_value(), Err(FrameError::NotAnObject(junk[0])));
        }
    }
}
