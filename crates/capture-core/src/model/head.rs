//! Message heads as exact bytes: one buffer per head, its fields as ranges
//! into it.
//!
//! A head's buffer holds the bytes of the head — for HTTP/1 the head as
//! captured, start line and header lines; for HTTP/2 the decoded header
//! block — followed by a table with two ranges per header field (name and
//! value). One allocation per head, none per field. Each range also says
//! whether its bytes are UTF-8, found out once when the head was built, so
//! readers and the JSON writer check nothing again.

use std::fmt;
use std::ops::Range;

use bytes::Bytes;

use super::ByteStr;

/// Set in a span's `end` when its bytes are not UTF-8.
const NOT_TEXT: u32 = 1 << 31;
/// Set in a span's `end` while a builder has not found out yet.
const UNKNOWN: u32 = 1 << 30;
/// Bytes of one table entry: four little-endian `u32`s.
const ENTRY: usize = 16;
/// The largest head: offsets must fit in 30 bits.
const MAX_BYTES: usize = (UNKNOWN - 1) as usize;
/// Room for fields reserved at most by [`HeadBuilder::start_captured`].
const MAX_FIELDS: usize = 1024;

/// A field's place in a head's buffer, and whether its bytes are UTF-8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    start: u32,
    /// End offset, with [`NOT_TEXT`] set when the bytes are not UTF-8.
    end: u32,
}

impl Span {
    /// No such field (an absent authority or reason phrase).
    pub(crate) const ABSENT: Span = Span {
        start: u32::MAX,
        end: u32::MAX,
    };

    /// A span of `range`, text or not, or not known yet (`None`).
    #[inline]
    fn new(range: Range<usize>, text: Option<bool>) -> Self {
        if range.start > range.end || range.end > MAX_BYTES {
            return Self::ABSENT;
        }
        let flag = match text {
            Some(true) => 0,
            Some(false) => NOT_TEXT,
            None => UNKNOWN,
        };
        // Both fit in 30 bits (checked above).
        Span {
            start: range.start as u32,
            end: range.end as u32 | flag,
        }
    }

    fn is_unknown(self) -> bool {
        !self.is_absent() && self.end & UNKNOWN != 0
    }

    fn is_absent(self) -> bool {
        self.start == u32::MAX
    }

    fn is_text(self) -> bool {
        self.end & NOT_TEXT == 0
    }

    fn range(self) -> Range<usize> {
        self.start as usize..(self.end & !(NOT_TEXT | UNKNOWN)) as usize
    }

    /// The field's bytes in `buf`, or `None` if absent.
    pub(crate) fn view(self, buf: &[u8]) -> Option<ByteStr<'_>> {
        if self.is_absent() {
            return None;
        }
        buf.get(self.range())
            .map(|b| ByteStr::known(b, self.is_text()))
    }

    #[inline]
    fn bytes(self) -> [u8; 8] {
        let [a, b, c, d] = self.start.to_le_bytes();
        let [e, f, g, h] = self.end.to_le_bytes();
        [a, b, c, d, e, f, g, h]
    }

    fn read(b: &[u8]) -> Option<Self> {
        let word = |i: usize| {
            b.get(i..i + 4)
                .and_then(|w| <[u8; 4]>::try_from(w).ok())
                .map(u32::from_le_bytes)
        };
        Some(Span {
            start: word(0)?,
            end: word(4)?,
        })
    }
}

/// One header (or trailer) field, borrowed from its head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header<'a> {
    name: ByteStr<'a>,
    value: ByteStr<'a>,
}

impl<'a> Header<'a> {
    /// The name, as sent (case kept).
    pub const fn name(&self) -> ByteStr<'a> {
        self.name
    }

    /// The value, as sent (HTTP/1: without the whitespace around it).
    pub const fn value(&self) -> ByteStr<'a> {
        self.value
    }

    /// The name as text, or `None` when it is not UTF-8.
    pub fn name_str(&self) -> Option<&'a str> {
        self.name.as_str()
    }

    /// The value as text, or `None` when it is not UTF-8.
    pub fn value_str(&self) -> Option<&'a str> {
        self.value.as_str()
    }

    /// True when the name is `name`, ignoring ASCII case.
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }
}

/// The header (or trailer) fields of one message, in order, case kept, as
/// exact bytes in one shared buffer. Cloning shares the buffer.
///
/// ```
/// use capture_core::model::Headers;
///
/// let headers = Headers::from_pairs([("Host", &b"shop"[..]), ("X-Raw", b"\xff")]);
/// assert_eq!(headers.get("host").unwrap(), "shop");
/// let raw = headers.iter().nth(1).unwrap();
/// assert_eq!((raw.name_str(), raw.value_str()), (Some("X-Raw"), None));
/// assert_eq!(raw.value().as_bytes(), b"\xff");
/// ```
#[derive(Clone, Default)]
pub struct Headers {
    /// The head's bytes, then the field table.
    buf: Bytes,
    /// Where the table starts in `buf`.
    table: u32,
}

impl Headers {
    /// Headers from (name, value) pairs, each text or bytes.
    pub fn from_pairs<'a, N, V>(pairs: impl IntoIterator<Item = (N, V)>) -> Self
    where
        N: Into<ByteStr<'a>>,
        V: Into<ByteStr<'a>>,
    {
        let mut b = HeadBuilder::new();
        for (n, v) in pairs {
            b.header(n, v);
        }
        b.finish_headers()
    }

    /// The number of fields.
    pub fn len(&self) -> usize {
        self.buf.len().saturating_sub(self.table as usize) / ENTRY
    }

    /// True when there are no fields.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The fields, in order.
    pub fn iter(&self) -> HeaderIter<'_> {
        HeaderIter {
            buf: &self.buf,
            table: self.buf.get(self.table as usize..).unwrap_or_default(),
        }
    }

    /// The value of the first field named `name` (ignoring ASCII case).
    pub fn get(&self, name: &str) -> Option<ByteStr<'_>> {
        self.iter().find(|h| h.is(name)).map(|h| h.value)
    }

    /// The value of the last field named `name` (ignoring ASCII case), as
    /// a map keeping one value per name would hold it.
    pub fn get_last(&self, name: &str) -> Option<ByteStr<'_>> {
        self.iter().filter(|h| h.is(name)).last().map(|h| h.value)
    }

    /// The bytes the fields point into: for HTTP/1 the head as captured
    /// (start line included), for HTTP/2 the decoded names and values.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.table as usize).unwrap_or_default()
    }

    /// The bytes of `span` in this head.
    pub(crate) fn view(&self, span: Span) -> Option<ByteStr<'_>> {
        span.view(self.as_bytes())
    }

    /// Bytes held, table included.
    pub fn heap_size(&self) -> usize {
        self.buf.len()
    }
}

impl PartialEq for Headers {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Headers {}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|h| (h.name, h.value)))
            .finish()
    }
}

impl<'a> IntoIterator for &'a Headers {
    type Item = Header<'a>;
    type IntoIter = HeaderIter<'a>;

    fn into_iter(self) -> HeaderIter<'a> {
        self.iter()
    }
}

/// The fields of [`Headers`], in order.
#[derive(Clone, Debug)]
pub struct HeaderIter<'a> {
    buf: &'a [u8],
    table: &'a [u8],
}

impl<'a> Iterator for HeaderIter<'a> {
    type Item = Header<'a>;

    fn next(&mut self) -> Option<Header<'a>> {
        let (entry, rest) = self.table.split_at_checked(ENTRY)?;
        self.table = rest;
        let (n, v) = entry.split_at(ENTRY / 2);
        let empty = ByteStr::known(b"", true);
        let view = |s: Option<Span>| s.and_then(|s| s.view(self.buf)).unwrap_or(empty);
        Some(Header {
            name: view(Span::read(n)),
            value: view(Span::read(v)),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.table.len() / ENTRY;
        (n, Some(n))
    }
}

impl ExactSizeIterator for HeaderIter<'_> {}

/// A message head: the fields of its first line (method, path and
/// authority, or the reason phrase) and its header fields, in one buffer.
/// Build one with [`HeadBuilder`]; read it through
/// [`Request`](super::Request) and [`Response`](super::Response).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Head {
    headers: Headers,
    /// Requests: method, path, authority. Responses: reason phrase.
    line: [Span; 3],
}

impl Default for Span {
    fn default() -> Self {
        Self::ABSENT
    }
}

impl Head {
    /// The header fields.
    pub const fn headers(&self) -> &Headers {
        &self.headers
    }

    /// First-line field `i` (0..3), or `None` when absent.
    pub(crate) fn line(&self, i: usize) -> Option<ByteStr<'_>> {
        self.line.get(i).and_then(|span| self.headers.view(*span))
    }

    /// Bytes held.
    pub fn heap_size(&self) -> usize {
        self.headers.heap_size()
    }
}

impl fmt::Debug for Head {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Head")
            .field("line", &[self.line(0), self.line(1), self.line(2)])
            .field("headers", &self.headers)
            .finish()
    }
}

/// Builds a [`Head`] (or [`Headers`]) into one buffer. Reusable: finishing
/// a head leaves the builder empty with its memory kept, so a parser keeps
/// one builder per connection.
///
/// Fields are either appended (`method`, `header`, …: HTTP/2's decoded
/// fields) or pointed at in bytes appended whole with [`HeadBuilder::append`]
/// (`method_at`, `header_at`, …: an HTTP/1 head as captured). Appended
/// fields state whether they are text (a `&str`, or a [`ByteStr`] that
/// knows); pointed-at fields are checked when the head is finished — once
/// for the whole head when it is valid UTF-8, the common case.
///
/// ```
/// use capture_core::model::{HeadBuilder, Request, Timestamp};
///
/// let mut b = HeadBuilder::new();
/// let raw = b"GET /a HTTP/1.1\r\nHost: shop\r\n\r\n";
/// let at = b.append(raw);
/// b.method_at(at.start..at.start + 3)
///     .path_at(at.start + 4..at.start + 6)
///     .header_at(at.start + 17..at.start + 21, at.start + 23..at.start + 27);
/// let req = Request::new(Timestamp(1), b.finish());
/// assert_eq!((req.method(), req.path()), ("GET".into(), "/a".into()));
/// assert_eq!(req.header("host").unwrap(), "shop");
/// assert_eq!(req.headers().as_bytes(), raw);
/// ```
#[derive(Clone, Debug, Default)]
pub struct HeadBuilder {
    bytes: Vec<u8>,
    /// `bytes[..ascii]` is known to be ASCII: ranges in it are text.
    ascii: usize,
    /// The field table, encoded as it will be kept.
    table: Vec<u8>,
    line: [Span; 3],
    /// Spans whose text-ness is to be found out when finishing.
    unknown: usize,
}

impl HeadBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets what was added, keeping the memory.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.table.clear();
        self.ascii = 0;
        self.line = [Span::ABSENT; 3];
        self.unknown = 0;
    }

    /// Forgets the header fields added after the first `n`, keeping the
    /// bytes and the first-line fields (a parser that reads the fields
    /// another way after all).
    pub fn truncate_fields(&mut self, n: usize) {
        self.table.truncate(n.saturating_mul(ENTRY));
    }

    /// Bytes added so far.
    pub fn byte_len(&self) -> usize {
        self.bytes.len()
    }

    /// Header fields added so far.
    pub fn field_count(&self) -> usize {
        self.table.len() / ENTRY
    }

    /// Starts a head whose bytes are `bytes` as captured (an HTTP/1 head),
    /// with room for `fields` header fields pointed at with the `*_at`
    /// methods: the buffer the head keeps is allocated here, at its final
    /// size, so that finishing it copies only the field table. Returns
    /// where the bytes are, as [`HeadBuilder::append`] does. Added fields
    /// beyond `fields` are kept too, at the cost of one more copy.
    ///
    /// ```
    /// use capture_core::model::{HeadBuilder, Request, Timestamp};
    ///
    /// let mut b = HeadBuilder::new();
    /// let raw = b"GET /a HTTP/1.1\r\nHost: shop\r\n\r\n";
    /// let at = b.start_captured(raw, 1);
    /// b.method_at(at.start..at.start + 3)
    ///     .header_at(at.start + 17..at.start + 21, at.start + 23..at.start + 27);
    /// let req = Request::new(Timestamp(1), b.finish());
    /// assert_eq!(req.header("host").unwrap(), "shop");
    /// assert_eq!(req.headers().as_bytes(), raw);
    /// ```
    pub fn start_captured(&mut self, bytes: &[u8], fields: usize) -> Range<usize> {
        self.clear();
        if bytes.len() <= MAX_BYTES {
            // The last head took what the builder held (see `build`): as a
            // rule, this is the builder's only allocation for this head.
            self.bytes = Vec::with_capacity(bytes.len() + fields.min(MAX_FIELDS) * ENTRY);
        }
        self.append(bytes)
    }

    /// Appends bytes that are not a field by themselves (an HTTP/1 head as
    /// captured); returns where they are, for the `*_at` methods.
    pub fn append(&mut self, bytes: &[u8]) -> Range<usize> {
        let start = self.bytes.len();
        if self.ascii == start && all_ascii(bytes) {
            self.ascii = start + bytes.len();
        }
        self.bytes.extend_from_slice(bytes);
        start..self.bytes.len()
    }

    #[inline]
    fn push(&mut self, v: ByteStr<'_>) -> Span {
        let start = self.bytes.len();
        // Appended fields state their text-ness: no check here. The ASCII
        // prefix (for ranges pointed at later) ends where they begin.
        self.bytes.extend_from_slice(v.as_bytes());
        let end = self.bytes.len();
        if end > MAX_BYTES {
            return Span::ABSENT;
        }
        // Both fit in 30 bits (checked above).
        Span {
            start: start as u32,
            end: end as u32 | if v.is_text() { 0 } else { NOT_TEXT },
        }
    }

    #[inline]
    fn at(&mut self, range: Range<usize>) -> Span {
        let text = (range.end <= self.ascii).then_some(true);
        if text.is_none() {
            self.unknown += 1;
        }
        Span::new(range, text)
    }

    #[inline]
    fn row(&mut self, n: Span, v: Span) {
        let [a, b, c, d, e, f, g, h] = n.bytes();
        let [i, j, k, l, m, o, p, q] = v.bytes();
        self.table
            .extend_from_slice(&[a, b, c, d, e, f, g, h, i, j, k, l, m, o, p, q]);
    }

    /// Appends the request method.
    pub fn method<'a>(&mut self, v: impl Into<ByteStr<'a>>) -> &mut Self {
        self.line[0] = self.push(v.into());
        self
    }

    /// Appends the request target.
    pub fn path<'a>(&mut self, v: impl Into<ByteStr<'a>>) -> &mut Self {
        self.line[1] = self.push(v.into());
        self
    }

    /// Appends the authority (`Host` or `:authority`).
    pub fn authority<'a>(&mut self, v: impl Into<ByteStr<'a>>) -> &mut Self {
        self.line[2] = self.push(v.into());
        self
    }

    /// Appends the reason phrase of a status line.
    pub fn reason<'a>(&mut self, v: impl Into<ByteStr<'a>>) -> &mut Self {
        self.line[0] = self.push(v.into());
        self
    }

    /// Appends a header field.
    pub fn header<'a, 'b>(
        &mut self,
        name: impl Into<ByteStr<'a>>,
        value: impl Into<ByteStr<'b>>,
    ) -> &mut Self {
        let (name, value) = (name.into(), value.into());
        self.bytes.reserve(name.len() + value.len());
        let n = self.push(name);
        let v = self.push(value);
        self.row(n, v);
        self
    }

    /// Appends a header field whose name and value lie side by side in
    /// `joined`, the name its first `name_len` bytes (as a decoder's table
    /// entry keeps them): one copy for both. `text` says whether the name
    /// and the value are valid UTF-8, as for [`ByteStr::known`].
    ///
    /// ```
    /// use capture_core::model::HeadBuilder;
    ///
    /// let mut b = HeadBuilder::new();
    /// b.header_joined(b"content-typetext/plain", 12, (true, true));
    /// let h = b.finish_headers();
    /// assert_eq!(h.get("content-type").unwrap(), "text/plain");
    /// ```
    #[inline]
    pub fn header_joined(
        &mut self,
        joined: &[u8],
        name_len: usize,
        text: (bool, bool),
    ) -> &mut Self {
        let (name, value) = joined.split_at(name_len.min(joined.len()));
        debug_assert!(!text.0 || std::str::from_utf8(name).is_ok());
        debug_assert!(!text.1 || std::str::from_utf8(value).is_ok());
        let start = self.bytes.len();
        self.bytes.extend_from_slice(joined);
        let end = self.bytes.len();
        let (n, v) = if end > MAX_BYTES {
            (Span::ABSENT, Span::ABSENT)
        } else {
            let flag = |t: bool| if t { 0 } else { NOT_TEXT };
            // All fit in 30 bits (checked above).
            let split = (start + name.len()) as u32;
            (
                Span {
                    start: start as u32,
                    end: split | flag(text.0),
                },
                Span {
                    start: split,
                    end: end as u32 | flag(text.1),
                },
            )
        };
        self.row(n, v);
        self
    }

    /// The method is at `range` of the appended bytes.
    #[inline]
    pub fn method_at(&mut self, range: Range<usize>) -> &mut Self {
        self.line[0] = self.at(range);
        self
    }

    /// The request target is at `range` of the appended bytes.
    #[inline]
    pub fn path_at(&mut self, range: Range<usize>) -> &mut Self {
        self.line[1] = self.at(range);
        self
    }

    /// The authority is at `range` of the appended bytes.
    #[inline]
    pub fn authority_at(&mut self, range: Range<usize>) -> &mut Self {
        self.line[2] = self.at(range);
        self
    }

    /// The reason phrase is at `range` of the appended bytes.
    #[inline]
    pub fn reason_at(&mut self, range: Range<usize>) -> &mut Self {
        self.line[0] = self.at(range);
        self
    }

    /// A header field whose name and value are at these ranges of the
    /// appended bytes.
    #[inline]
    pub fn header_at(&mut self, name: Range<usize>, value: Range<usize>) -> &mut Self {
        let n = self.at(name);
        let v = self.at(value);
        self.row(n, v);
        self
    }

    /// The head, leaving the builder empty.
    #[inline]
    pub fn finish(&mut self) -> Head {
        if self.bytes.is_empty() && self.table.is_empty() && self.line == [Span::ABSENT; 3] {
            // Nothing added (no trailers, most often): nothing to allocate.
            return Head::default();
        }
        let head = self.build();
        self.clear();
        head
    }

    /// The header fields alone (trailers), leaving the builder empty.
    pub fn finish_headers(&mut self) -> Headers {
        self.finish().headers
    }

    fn build(&mut self) -> Head {
        let len = self.bytes.len().min(MAX_BYTES);
        let mut line = self.line;
        let exact = self.bytes.len() + self.table.len();
        let mut buf = if self.bytes.len() == len && self.bytes.capacity() == exact {
            // Sized for this head by `start_captured`: the head's bytes stay
            // where they are, the table goes after them.
            let mut buf = std::mem::take(&mut self.bytes);
            buf.extend_from_slice(&self.table);
            buf
        } else {
            let mut buf = Vec::with_capacity(len + self.table.len());
            buf.extend_from_slice(self.bytes.get(..len).unwrap_or_default());
            buf.extend_from_slice(&self.table);
            buf
        };
        if self.unknown > 0 {
            // Rare: bytes that are not all ASCII. Check each span once, the
            // whole head at most once.
            let (bytes, table) = buf.split_at_mut(len);
            let resolve = Resolver::new(bytes);
            for s in &mut line {
                *s = resolve.span(*s);
            }
            for half in table.chunks_exact_mut(ENTRY / 2) {
                if let Some(s) = Span::read(half) {
                    half.copy_from_slice(&resolve.span(s).bytes());
                }
            }
        }
        let headers = Headers {
            // Capacity equals length: no second allocation.
            buf: Bytes::from(buf),
            table: len as u32,
        };
        Head { headers, line }
    }
}

/// True when every byte of `bytes` is ASCII: as `<[u8]>::is_ascii`, which
/// goes byte by byte over much of a slice as short as a head, 32 bytes at
/// a time.
fn all_ascii(bytes: &[u8]) -> bool {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let word = |w: &[u8]| <[u8; 8]>::try_from(w).map_or(HIGH, u64::from_le_bytes);
    let mut blocks = bytes.chunks_exact(32);
    let mut seen = 0u64;
    for b in &mut blocks {
        let (x, y) = b.split_at(16);
        let (x0, x1) = x.split_at(8);
        let (y0, y1) = y.split_at(8);
        seen |= word(x0) | word(x1) | word(y0) | word(y1);
    }
    let mut words = blocks.remainder().chunks_exact(8);
    for w in &mut words {
        seen |= word(w);
    }
    let tail = words.remainder().iter().fold(0, |a, &b| a | b);
    seen & HIGH == 0 && tail.is_ascii()
}

/// Finds out whether pointed-at ranges are text, checking the whole buffer
/// at most once.
struct Resolver<'a> {
    bytes: &'a [u8],
    all_text: std::cell::OnceCell<bool>,
}

impl<'a> Resolver<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            all_text: std::cell::OnceCell::new(),
        }
    }

    /// `s` with its text-ness found out, if it was unknown.
    fn span(&self, s: Span) -> Span {
        if !s.is_unknown() {
            return s;
        }
        let r = s.range();
        let Some(slice) = self.bytes.get(r.clone()) else {
            return Span::ABSENT;
        };
        // A range of valid UTF-8 cut at character boundaries is valid.
        let boundary = |i: usize| self.bytes.get(i).is_none_or(|&b| b & 0xc0 != 0x80);
        let whole = *self
            .all_text
            .get_or_init(|| std::str::from_utf8(self.bytes).is_ok());
        let text =
            (whole && boundary(r.start) && boundary(r.end)) || std::str::from_utf8(slice).is_ok();
        Span::new(r, Some(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appended_fields_keep_bytes_and_text_knowledge() {
        let mut b = HeadBuilder::new();
        b.method("GET")
            .path(&b"/caf\xe9"[..])
            .header("Host", "a")
            .header(&b"X-\xff"[..], "v");
        let head = b.finish();
        assert_eq!(head.line(0).unwrap(), "GET");
        let path = head.line(1).unwrap();
        assert_eq!((path.as_bytes(), path.is_text()), (&b"/caf\xe9"[..], false));
        assert!(head.line(2).is_none());
        let fields: Vec<_> = head.headers().iter().collect();
        assert_eq!(fields.len(), 2);
        assert_eq!(fields[1].name().as_bytes(), b"X-\xff");
        assert!(!fields[1].name().is_text() && fields[1].value().is_text());
        assert_eq!(b.byte_len(), 0, "finishing empties the builder");
    }

    #[test]
    fn pointed_fields_are_checked_once_and_split_where_needed() {
        let mut b = HeadBuilder::new();
        let raw = "Name: café\r\n".as_bytes();
        let at = b.append(raw);
        b.header_at(at.start..at.start + 4, at.start + 6..at.end - 2);
        let h = b.finish_headers();
        let f = h.iter().next().unwrap();
        assert_eq!((f.name_str(), f.value_str()), (Some("Name"), Some("café")));

        let raw = b"A: \xff\r\nB: ok\r\n";
        let at = b.append(raw);
        b.header_at(at.start..at.start + 1, at.start + 3..at.start + 4)
            .header_at(at.start + 6..at.start + 7, at.start + 9..at.start + 11);
        let h = b.finish_headers();
        let v: Vec<_> = h.iter().map(|f| f.value_str()).collect();
        assert_eq!(v, [None, Some("ok")]);
    }

    #[test]
    fn a_range_inside_a_character_is_not_text() {
        let mut b = HeadBuilder::new();
        let at = b.append("é".as_bytes());
        b.header_at(at.start..at.start + 1, at.start + 1..at.end);
        let h = b.finish_headers();
        let f = h.iter().next().unwrap();
        assert!(!f.name().is_text() && !f.value().is_text());
    }

    #[test]
    fn lookups_ignore_case_and_equality_is_by_content() {
        let a = Headers::from_pairs([("A", "1"), ("b", "2"), ("a", "3")]);
        assert_eq!(a.get("a").unwrap(), "1");
        assert_eq!(a.get_last("A").unwrap(), "3");
        assert!(a.get("c").is_none());
        let mut b = HeadBuilder::new();
        let at = b.append(b"xxA1b2a3");
        let s = at.start;
        b.header_at(s + 2..s + 3, s + 3..s + 4)
            .header_at(s + 4..s + 5, s + 5..s + 6)
            .header_at(s + 6..s + 7, s + 7..s + 8);
        assert_eq!(a, b.finish_headers());
        assert_ne!(a, Headers::from_pairs([("A", "1")]));
    }

    #[test]
    fn bad_ranges_give_empty_fields_not_panics() {
        let mut b = HeadBuilder::new();
        b.append(b"abc");
        #[allow(clippy::reversed_empty_ranges)]
        b.header_at(2..10, 5..1).method_at(7..9);
        let head = b.finish();
        let f = head.headers().iter().next().unwrap();
        assert!(f.name().is_empty() && f.value().is_empty());
        assert!(head.line(0).is_none());
    }

    /// The head `fields` pointed-at fields make of `raw`, built after
    /// [`HeadBuilder::start_captured`] reserved room for `reserved`.
    fn captured(b: &mut HeadBuilder, raw: &[u8], reserved: usize, fields: usize) -> Head {
        let at = b.start_captured(raw, reserved);
        b.method_at(at.start..at.start + 3);
        for i in 0..fields {
            b.header_at(at.start + i..at.start + i + 1, at.start + i + 1..at.end);
        }
        b.finish()
    }

    #[test]
    fn captured_heads_are_the_same_whatever_room_was_reserved() {
        let raw = "GET café\r\n".as_bytes();
        let mut b = HeadBuilder::new();
        let mut plain = HeadBuilder::new();
        for fields in 0..4 {
            let at = plain.append(raw);
            plain.method_at(at.start..at.start + 3);
            for i in 0..fields {
                plain.header_at(at.start + i..at.start + i + 1, at.start + i + 1..at.end);
            }
            let want = plain.finish();
            for reserved in 0..6 {
                let got = captured(&mut b, raw, reserved, fields);
                assert_eq!(got, want, "{fields} fields, room for {reserved}");
                assert_eq!(got.headers().as_bytes(), raw);
                assert_eq!(got.heap_size(), raw.len() + fields * ENTRY);
                assert_eq!(
                    got.headers()
                        .iter()
                        .map(|h| h.value().is_text())
                        .collect::<Vec<_>>(),
                    want.headers()
                        .iter()
                        .map(|h| h.value().is_text())
                        .collect::<Vec<_>>()
                );
                assert_eq!(b.byte_len(), 0, "finishing empties the builder");
            }
        }
    }

    #[test]
    fn the_ascii_check_is_the_standard_one() {
        let mut bytes: Vec<u8> = (0..100u8).map(|i| b'a' + i % 26).collect();
        for len in 0..bytes.len() {
            assert!(all_ascii(&bytes[..len]));
        }
        for at in 0..bytes.len() {
            for high in [0x80, 0xc3, 0xff] {
                bytes[at] = high;
                for len in 0..bytes.len() {
                    assert_eq!(
                        all_ascii(&bytes[..len]),
                        bytes[..len].is_ascii(),
                        "{at} {len}"
                    );
                }
                bytes[at] = b'x';
            }
        }
    }

    #[test]
    fn truncated_fields_are_forgotten_and_an_empty_builder_allocates_nothing() {
        let mut b = HeadBuilder::new();
        let at = b.start_captured(b"GET\r\nA: 1\r\n", 1);
        b.method_at(at.start..at.start + 3)
            .header_at(at.start + 5..at.start + 6, at.start + 8..at.start + 9)
            .truncate_fields(0);
        b.header_at(at.start + 5..at.start + 7, at.start + 8..at.start + 9);
        let head = b.finish();
        assert_eq!(head.line(0).unwrap(), "GET");
        let names: Vec<_> = head
            .headers()
            .iter()
            .map(|h| h.name().to_string())
            .collect();
        assert_eq!(names, ["A:"]);
        let empty = b.finish();
        assert_eq!(empty, Head::default());
        assert_eq!(empty.heap_size(), 0);
        assert!(empty.line(0).is_none() && b.finish_headers().is_empty());
    }
}
