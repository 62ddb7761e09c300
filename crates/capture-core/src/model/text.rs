//! A view of exact bytes that knows whether they are UTF-8 text.

use std::fmt;

/// The exact bytes of one field of a message (a method, a path, a header
/// name or value), and whether they are valid UTF-8.
///
/// Captured bytes are kept as sent; whether they are text was found out
/// once, when the message was parsed, so [`ByteStr::as_str`] checks
/// nothing. Compare with a `&str` directly (`method == "GET"`), print it
/// (`Display` writes text as is and any byte that is not UTF-8 as `\xNN`),
/// or take the bytes.
///
/// ```
/// use capture_core::model::ByteStr;
///
/// let text = ByteStr::new(b"GET");
/// assert!(text == "GET" && text.as_str() == Some("GET"));
/// let raw = ByteStr::new(b"caf\xe9");
/// assert_eq!(raw.as_str(), None);
/// assert_eq!(raw.as_bytes(), b"caf\xe9");
/// assert_eq!(raw.to_string(), "caf\\xe9");
/// ```
#[derive(Clone, Copy)]
pub struct ByteStr<'a> {
    bytes: &'a [u8],
    text: bool,
}

impl Default for ByteStr<'_> {
    /// No bytes (which are text).
    fn default() -> Self {
        Self::from_str("")
    }
}

impl<'a> ByteStr<'a> {
    /// A view of `bytes`, checking whether they are UTF-8.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            text: std::str::from_utf8(bytes).is_ok(),
        }
    }

    /// A view of text.
    pub const fn from_str(text: &'a str) -> Self {
        Self {
            bytes: text.as_bytes(),
            text: true,
        }
    }

    /// A view of `bytes` whose UTF-8 validity the caller already knows,
    /// without checking again: for parsers that found it out on the way
    /// (a decoder whose output can only be ASCII, a table entry checked
    /// once when it was stored).
    ///
    /// `text` must be true only if the bytes are valid UTF-8: the JSON
    /// writer writes text as it is. A wrong `true` is a bug, not undefined
    /// behaviour ([`ByteStr::as_str`] still checks); debug builds assert it.
    ///
    /// ```
    /// use capture_core::model::ByteStr;
    ///
    /// let raw = ByteStr::known(b"caf\xe9", false);
    /// assert!(!raw.is_text() && ByteStr::known(b"GET", true) == "GET");
    /// ```
    pub const fn known(bytes: &'a [u8], text: bool) -> Self {
        debug_assert!(!text || std::str::from_utf8(bytes).is_ok());
        Self { bytes, text }
    }

    /// The bytes, exactly as captured.
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The bytes as text, or `None` when they are not valid UTF-8.
    pub fn as_str(&self) -> Option<&'a str> {
        if self.text {
            // Checked when the field was parsed (or built).
            std::str::from_utf8(self.bytes).ok()
        } else {
            None
        }
    }

    /// True when the bytes are valid UTF-8.
    pub const fn is_text(&self) -> bool {
        self.text
    }

    /// True when there are no bytes.
    pub const fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The number of bytes.
    pub const fn len(&self) -> usize {
        self.bytes.len()
    }

    /// True when the bytes equal `other`, ignoring ASCII case.
    pub fn eq_ignore_ascii_case(&self, other: &str) -> bool {
        self.bytes.eq_ignore_ascii_case(other.as_bytes())
    }
}

impl AsRef<[u8]> for ByteStr<'_> {
    fn as_ref(&self) -> &[u8] {
        self.bytes
    }
}

impl std::ops::Deref for ByteStr<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.bytes
    }
}

impl PartialEq for ByteStr<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for ByteStr<'_> {}

impl std::hash::Hash for ByteStr<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.bytes.hash(state);
    }
}

impl PartialEq<str> for ByteStr<'_> {
    fn eq(&self, other: &str) -> bool {
        self.bytes == other.as_bytes()
    }
}

impl PartialEq<&str> for ByteStr<'_> {
    fn eq(&self, other: &&str) -> bool {
        self.bytes == other.as_bytes()
    }
}

impl PartialEq<ByteStr<'_>> for &str {
    fn eq(&self, other: &ByteStr<'_>) -> bool {
        self.as_bytes() == other.bytes
    }
}

impl PartialEq<ByteStr<'_>> for str {
    fn eq(&self, other: &ByteStr<'_>) -> bool {
        self.as_bytes() == other.bytes
    }
}

impl PartialEq<[u8]> for ByteStr<'_> {
    fn eq(&self, other: &[u8]) -> bool {
        self.bytes == other
    }
}

impl<const N: usize> PartialEq<&[u8; N]> for ByteStr<'_> {
    fn eq(&self, other: &&[u8; N]) -> bool {
        self.bytes == other.as_slice()
    }
}

impl<'a> From<&'a str> for ByteStr<'a> {
    fn from(text: &'a str) -> Self {
        Self::from_str(text)
    }
}

impl<'a, const N: usize> From<&'a [u8; N]> for ByteStr<'a> {
    fn from(bytes: &'a [u8; N]) -> Self {
        Self::new(bytes)
    }
}

impl<'a> From<&'a String> for ByteStr<'a> {
    fn from(text: &'a String) -> Self {
        Self::from_str(text)
    }
}

impl<'a> From<&'a Vec<u8>> for ByteStr<'a> {
    fn from(bytes: &'a Vec<u8>) -> Self {
        Self::new(bytes)
    }
}

impl<'a> From<&'a [u8]> for ByteStr<'a> {
    fn from(bytes: &'a [u8]) -> Self {
        Self::new(bytes)
    }
}

impl fmt::Display for ByteStr<'_> {
    /// Text as is; each byte that is not part of valid UTF-8 as `\xNN`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(s) = self.as_str() {
            return f.write_str(s);
        }
        for chunk in self.bytes.utf8_chunks() {
            f.write_str(chunk.valid())?;
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for ByteStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for chunk in self.bytes.utf8_chunks() {
            for c in chunk.valid().chars() {
                write!(f, "{}", c.escape_debug())?;
            }
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        f.write_str("\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_compares_with_str_and_prints_as_is() {
        let t = ByteStr::new(b"GET");
        assert!(t == "GET" && t.is_text());
        assert_eq!("GET", t);
        assert_eq!(t.to_string(), "GET");
        assert_eq!(format!("{t:?}"), "\"GET\"");
    }

    #[test]
    fn bytes_that_are_not_utf8_are_stated_not_replaced() {
        let b = ByteStr::new(b"a\xffb\xc3");
        assert_eq!(b.as_str(), None);
        assert_eq!(b.as_bytes(), b"a\xffb\xc3");
        assert_eq!(b.to_string(), "a\\xffb\\xc3");
        assert_eq!(format!("{b:?}"), "\"a\\xffb\\xc3\"");
        assert!(b != "a\u{fffd}b\u{fffd}");
    }

    #[test]
    fn case_insensitive_comparison_is_ascii_only() {
        assert!(ByteStr::new(b"Content-Type").eq_ignore_ascii_case("content-type"));
        assert!(!ByteStr::new(b"Content-Type\xff").eq_ignore_ascii_case("content-type"));
    }
}
