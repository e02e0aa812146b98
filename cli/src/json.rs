//! Just enough JSON output for event lines, without a serializer dependency.

use std::fmt::Write;

/// Builds one JSON object, fields in insertion order.
#[derive(Default)]
pub struct JsonObject(String);

impl JsonObject {
    fn key(&mut self, key: &str) {
        self.0.push(if self.0.is_empty() { '{' } else { ',' });
        push_string(&mut self.0, key);
        self.0.push(':');
    }

    /// A string field.
    pub fn str(mut self, key: &str, value: &str) -> Self {
        self.key(key);
        push_string(&mut self.0, value);
        self
    }

    /// A string field, or `null`.
    pub fn opt_str(mut self, key: &str, value: Option<&str>) -> Self {
        match value {
            Some(value) => self.str(key, value),
            None => {
                self.key(key);
                self.0.push_str("null");
                self
            }
        }
    }

    /// An array of strings.
    pub fn strs<'a>(mut self, key: &str, values: impl IntoIterator<Item = &'a str>) -> Self {
        self.key(key);
        self.0.push('[');
        for (i, value) in values.into_iter().enumerate() {
            if i > 0 {
                self.0.push(',');
            }
            push_string(&mut self.0, value);
        }
        self.0.push(']');
        self
    }

    /// The finished object.
    pub fn finish(mut self) -> String {
        if self.0.is_empty() {
            self.0.push('{');
        }
        self.0.push('}');
        self.0
    }
}

fn push_string(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_orders() {
        let line = JsonObject::default()
            .str("event", "a\"b\\c\n\u{1}")
            .opt_str("none", None)
            .strs("caps", ["eth/68", "snap/1"])
            .finish();
        assert_eq!(
            line,
            r#"{"event":"a\"b\\c\n\u0001","none":null,"caps":["eth/68","snap/1"]}"#
        );
        assert_eq!(JsonObject::default().finish(), "{}");
    }
}
