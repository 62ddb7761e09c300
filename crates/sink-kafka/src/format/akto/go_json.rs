//! JSON text exactly as Go's `encoding/json` writes a `map[string]string`,
//! which is how Akto's collector builds both its header maps and its
//! message: keys in byte order, `<`, `>` and `&` escaped as `\u003c` …,
//! U+2028 and U+2029 escaped, and each byte that is not part of valid
//! UTF-8 replaced by U+FFFD (one per byte, as Go's decoder steps).
//!
//! Hand-written because no JSON crate reproduces Go's escaping; the
//! header-map value is itself a JSON text, so its exact characters are
//! part of what Akto receives.

use std::collections::BTreeMap;

/// The hex digit of the low four bits of `n`.
pub(crate) const fn hex_digit(n: u8, upper: bool) -> u8 {
    match n & 0xf {
        d @ 0..=9 => b'0' + d,
        d if upper => b'A' + d - 10,
        d => b'a' + d - 10,
    }
}

/// Appends `s` as a JSON string (with quotes), escaped as Go does.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        if b < 0x80 {
            match b {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                0x08 => out.extend_from_slice(b"\\b"),
                0x0c => out.extend_from_slice(b"\\f"),
                b'<' | b'>' | b'&' | 0..=0x1f => {
                    out.extend_from_slice(b"\\u00");
                    out.push(hex_digit(b >> 4, false));
                    out.push(hex_digit(b, false));
                }
                _ => out.push(b),
            }
            i += 1;
            continue;
        }
        let rest = s.get(i..).unwrap_or_default();
        match utf8_char_len(rest) {
            Some(n) => {
                let ch = rest.get(..n).unwrap_or_default();
                if ch == "\u{2028}".as_bytes() {
                    out.extend_from_slice(b"\\u2028");
                } else if ch == "\u{2029}".as_bytes() {
                    out.extend_from_slice(b"\\u2029");
                } else {
                    out.extend_from_slice(ch);
                }
                i += n;
            }
            None => {
                out.extend_from_slice("\u{fffd}".as_bytes());
                i += 1;
            }
        }
    }
    out.push(b'"');
}

/// `s` as the text a Go string of these bytes becomes in JSON: valid UTF-8
/// as is, each byte that is not part of it U+FFFD. Used only for values
/// Akto's collector would send altered so; the exact bytes go in the
/// message's `…Base64` fields (see the module `akto`).
pub(crate) fn go_string(s: &[u8]) -> std::borrow::Cow<'_, str> {
    if let Ok(text) = std::str::from_utf8(s) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(s.len() + 8);
    let mut i = 0;
    while let Some(rest) = s.get(i..).filter(|r| !r.is_empty()) {
        match rest.first().filter(|b| b.is_ascii()) {
            Some(&b) => {
                out.push(char::from(b));
                i += 1;
            }
            None => match utf8_char_len(rest) {
                Some(n) => {
                    out.push_str(
                        std::str::from_utf8(rest.get(..n).unwrap_or_default()).unwrap_or_default(),
                    );
                    i += n;
                }
                None => {
                    out.push('\u{fffd}');
                    i += 1;
                }
            },
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The length of the valid UTF-8 sequence `s` starts with, or `None` where
/// Go's decoder would return `RuneError` of width 1.
fn utf8_char_len(s: &[u8]) -> Option<usize> {
    let first = *s.first()?;
    let n = match first {
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return None,
    };
    let seq = s.get(..n)?;
    std::str::from_utf8(seq).ok().map(|_| n)
}

/// Appends the object `{k: v, …}` with keys in byte order, as Go sorts map keys.
pub(crate) fn write_map<K: AsRef<[u8]> + Ord, V: AsRef<[u8]>>(
    out: &mut Vec<u8>,
    map: &BTreeMap<K, V>,
) {
    out.push(b'{');
    for (i, (k, v)) in map.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, k.as_ref());
        out.push(b':');
        write_str(out, v.as_ref());
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(b: &[u8]) -> String {
        let mut out = Vec::new();
        write_str(&mut out, b);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escapes_as_go_does() {
        assert_eq!(s(b"a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(s(b"<p>&"), r#""\u003cp\u003e\u0026""#);
        assert_eq!(s(b"\x01\x08\x0c\n\x7f"), "\"\\u0001\\b\\f\\n\u{7f}\"");
        assert_eq!(s("\u{2028}é".as_bytes()), "\"\\u2028é\"");
    }

    #[test]
    fn each_invalid_byte_is_one_replacement() {
        // A truncated 4-byte sequence: three bytes, three replacements (Rust's
        // lossy conversion would give one).
        assert_eq!(
            s(&[b'a', 0xf0, 0x9f, 0x98, b'b']),
            "\"a\u{fffd}\u{fffd}\u{fffd}b\""
        );
        assert_eq!(s(&[0xed, 0xa0, 0x80]), "\"\u{fffd}\u{fffd}\u{fffd}\"");
        assert_eq!(s(&[0xc3]), "\"\u{fffd}\"");
    }

    #[test]
    fn go_strings_replace_each_invalid_byte() {
        assert_eq!(go_string(b"ok"), "ok");
        assert_eq!(
            go_string(&[b'a', 0xf0, 0x9f, 0x98, b'b', 0xc3, 0xa9]),
            "a\u{fffd}\u{fffd}\u{fffd}bé"
        );
    }

    #[test]
    fn maps_sort_keys_by_bytes() {
        let mut m = BTreeMap::new();
        m.insert("b", "1");
        m.insert("Z", "2");
        m.insert("a", "<");
        let mut out = Vec::new();
        write_map(&mut out, &m);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"Z":"2","a":"\u003c","b":"1"}"#
        );
    }
}
