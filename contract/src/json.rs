//! A writer of flat JSON objects, for the few bodies the guard sends (request bodies,
//! cross-tab messages).
//!
//! The guard's wasm carries no JSON serializer: serde_json's would bring its number
//! formatting and error machinery for objects of three strings and an integer. The
//! serde derives of the same shapes stay the definition the server reads them with, and
//! the tests of this crate pin that this writer's output equals serde_json's for them.

/// Builds one JSON object, field by field, in the order written.
#[derive(Debug)]
pub struct ObjectWriter {
    out: String,
    empty: bool,
}

impl Default for ObjectWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl ObjectWriter {
    /// An object with no fields yet.
    pub fn new() -> Self {
        let mut out = String::with_capacity(96);
        out.push('{');
        ObjectWriter { out, empty: true }
    }

    fn key(&mut self, key: &str) {
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        push_string(&mut self.out, key);
        self.out.push(':');
    }

    /// Adds `"key":"value"`, escaped as JSON requires.
    pub fn string(mut self, key: &str, value: &str) -> Self {
        self.key(key);
        push_string(&mut self.out, value);
        self
    }

    /// Adds `"key":"value"`, or `"key":null` for `None`.
    pub fn optional_string(self, key: &str, value: Option<&str>) -> Self {
        match value {
            Some(value) => self.string(key, value),
            None => self.null(key),
        }
    }

    /// Adds `"key":value` for an integer.
    pub fn int(mut self, key: &str, value: i64) -> Self {
        self.key(key);
        push_int(&mut self.out, value);
        self
    }

    /// Adds `"key":true` or `"key":false`.
    pub fn bool(mut self, key: &str, value: bool) -> Self {
        self.key(key);
        self.out.push_str(if value { "true" } else { "false" });
        self
    }

    /// Adds `"key":[items]`, where `items` already is the comma-separated JSON of the
    /// array's elements (the caller vouches for it: text `JSON.stringify` wrote).
    pub fn raw_array(mut self, key: &str, items: &str) -> Self {
        self.key(key);
        self.out.push('[');
        self.out.push_str(items);
        self.out.push(']');
        self
    }

    /// Adds `"key":json`, where `json` already is one JSON value (the caller vouches for
    /// it: text this module wrote, such as [`string`]'s).
    pub fn raw(mut self, key: &str, json: &str) -> Self {
        self.key(key);
        self.out.push_str(json);
        self
    }

    /// Adds `"key":null`.
    pub fn null(mut self, key: &str) -> Self {
        self.key(key);
        self.out.push_str("null");
        self
    }

    /// The finished object.
    pub fn finish(mut self) -> String {
        self.out.push('}');
        self.out
    }
}

/// `value` as a JSON string, escaped exactly as serde_json escapes it.
pub fn string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    push_string(&mut out, value);
    out
}

/// Appends `value` as a JSON string, escaping exactly what serde_json escapes.
fn push_string(out: &mut String, value: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c < ' ' => {
                let byte = c as u8;
                out.push_str("\\u00");
                out.push(char::from(HEX[usize::from(byte >> 4)]));
                out.push(char::from(HEX[usize::from(byte & 0xf)]));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends `value` in decimal without the formatting machinery.
pub(crate) fn push_int(out: &mut String, value: i64) {
    if value < 0 {
        out.push('-');
    }
    let mut rest = value.unsigned_abs();
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    for &digit in &digits[start..] {
        out.push(char::from(digit));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_like_serde_json() {
        let samples = [
            String::new(),
            "plain".into(),
            "quote \" backslash \\ slash /".into(),
            "\n\r\t\u{8}\u{c}\u{0}\u{1f}\u{7f}".into(),
            "é ✓ 😀 \u{2028}".into(),
            (0u8..0x20).map(char::from).collect::<String>(),
        ];
        for sample in samples {
            let mut out = String::new();
            push_string(&mut out, &sample);
            assert_eq!(out, serde_json::to_string(&sample).unwrap(), "{sample:?}");
            assert_eq!(string(&sample), out);
        }
    }

    #[test]
    fn integers_are_written_like_serde_json() {
        for value in [0, 1, -1, 9, 10, -10, 1_764_000_312_345, i64::MAX, i64::MIN] {
            let mut out = String::new();
            push_int(&mut out, value);
            assert_eq!(out, value.to_string());
        }
    }

    #[test]
    fn objects_have_the_written_fields_in_order() {
        assert_eq!(ObjectWriter::new().finish(), "{}");
        let text = ObjectWriter::new()
            .string("a", "x\"y")
            .int("b", -3)
            .bool("c", true)
            .bool("d", false)
            .optional_string("e", None)
            .optional_string("f", Some("g"))
            .raw("h", &string("i"))
            .raw_array("j", r#"{"k":1},2"#)
            .raw_array("l", "")
            .finish();
        assert_eq!(
            text,
            r#"{"a":"x\"y","b":-3,"c":true,"d":false,"e":null,"f":"g","h":"i","j":[{"k":1},2],"l":[]}"#
        );
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["a"], "x\"y");
    }
}
