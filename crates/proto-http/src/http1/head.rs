//! Message heads: the start line and header fields, parsed by httparse,
//! kept as captured in one buffer with the fields as ranges into it
//! ([`HeadBuilder`]), with what the framing of the body needs to know.
//!
//! httparse validates and finds the fields, the same way in both
//! directions. When it skipped lines it could not read as fields (a name
//! with bytes outside the token set or none, a space before the colon, a
//! control byte in a value, a folded line), the fields are split here
//! instead, as a lenient server reads them: every field line is reported
//! exactly as sent, an obs-fold continues the field before it, the body is
//! framed by what that reading says, and the head says what was not valid
//! ([`Framed::malformed`]) or could be framed another way by another reader
//! ([`Framed::ambiguous`]).

use std::mem::MaybeUninit;
use std::ops::Range;

use capture_core::model::{Head, HeadBuilder, Request, Response, Timestamp};

use super::pairing::Method;

/// Header fields parsed at most per head.
const MAX_HEADERS: usize = 256;

/// The outcome of parsing a head from the start of a buffer.
pub(crate) enum Parsed<T> {
    /// A head of `len` bytes.
    Complete(T, usize),
    /// The buffer holds the start of a head only.
    Partial,
    /// Not a valid head.
    Invalid,
}

/// What the body framing and pairing need from the header fields.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Framed {
    /// `Content-Length`, if present and valid (the first one, if several).
    pub content_length: Option<u64>,
    /// `Content-Length` present but not a number.
    pub bad_length: bool,
    /// `Transfer-Encoding` present with at least one coding.
    pub transfer_encoding: bool,
    /// The last transfer coding is `chunked` (and no field of it was folded).
    pub chunked: bool,
    /// A field line is not valid (RFC 9110 §5, RFC 9112 §5): it was read
    /// leniently, and strict servers refuse such a message.
    pub malformed: bool,
    /// The body's length could be read another way by another reader:
    /// `Transfer-Encoding` with `Content-Length`, different lengths, a
    /// framing field folded or with a space before its colon, or a folded
    /// line that reads as a framing field.
    pub ambiguous: bool,
    /// Two `Content-Length` values differ.
    length_conflict: bool,
    /// `Upgrade` present.
    pub upgrade: bool,
    /// `Upgrade` lists `h2c`.
    pub upgrade_h2c: bool,
    /// `Expect: 100-continue`.
    pub expect_continue: bool,
    /// `Content-Encoding` present: the body may need decoding.
    pub content_encoding: bool,
}

/// A parsed request head. The [`Request`] is made where it is kept (see
/// [`RequestHead::into_request`]): a head moves at a third of its size.
pub(crate) struct RequestHead {
    pub head: Head,
    /// When the head's first byte was seen.
    pub ts: Timestamp,
    /// What the method means for the response's framing.
    pub method: Method,
    /// Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    pub framed: Framed,
    /// The request line was invalid and was read leniently.
    pub malformed: bool,
}

impl RequestHead {
    /// The request of this head, without body yet.
    pub(crate) fn into_request(self) -> Request {
        Request::new(self.ts, self.head)
    }

    #[cfg(test)]
    pub(crate) fn request(&self) -> Request {
        Request::new(self.ts, self.head.clone())
    }
}

/// A parsed response head; the [`Response`] is made where it is kept.
pub(crate) struct ResponseHead {
    pub head: Head,
    /// When the head's first byte was seen.
    pub ts: Timestamp,
    pub status: u16,
    pub version: u8,
    pub framed: Framed,
}

impl ResponseHead {
    /// The response of this head, without body yet.
    pub(crate) fn into_response(self) -> Response {
        Response::new(self.ts, self.status, self.head)
    }

    #[cfg(test)]
    pub(crate) fn response(&self) -> Response {
        Response::new(self.ts, self.status, self.head.clone())
    }
}

/// The kind of `method` (see [`Method`]).
fn method_kind(method: &[u8]) -> Method {
    match method {
        b"HEAD" => Method::Head,
        b"CONNECT" => Method::Connect,
        _ => Method::Other,
    }
}

fn config() -> httparse::ParserConfig {
    let mut c = httparse::ParserConfig::default();
    // Field lines httparse refuses are skipped by it and read in
    // `split_fields`, the same way in both directions.
    c.allow_multiple_spaces_in_request_line_delimiters(true)
        .allow_multiple_spaces_in_response_status_delimiters(true)
        .ignore_invalid_headers_in_responses(true)
        .ignore_invalid_headers_in_requests(true);
    c
}

/// Where `part` (a slice of `buf`) lies in `buf`, if it does.
fn range_in(buf: &[u8], part: &[u8]) -> Option<Range<usize>> {
    let start = (part.as_ptr() as usize).checked_sub(buf.as_ptr() as usize)?;
    let end = start.checked_add(part.len())?;
    (end <= buf.len()).then_some(start..end)
}

/// `r` shifted by `by`.
fn shift(r: Range<usize>, by: usize) -> Range<usize> {
    r.start + by..r.end + by
}

/// Parses a request head at the start of `buf` into `b` (left empty).
pub(crate) fn parse_request(buf: &[u8], ts: Timestamp, b: &mut HeadBuilder) -> Parsed<RequestHead> {
    let mut headers = [MaybeUninit::<httparse::Header<'_>>::uninit(); MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    match config().parse_request_with_uninit_headers(&mut req, buf, &mut headers) {
        Ok(httparse::Status::Complete(len)) => {
            let head = buf.get(..len).unwrap_or_default();
            let at = b.start_captured(head, req.headers.len()).start;
            let line = memchr::memchr(b'\n', head).map_or(0, |i| i + 1);
            if let Some(r) = req.method.and_then(|m| range_in(head, m.as_bytes())) {
                b.method_at(shift(r, at));
            }
            if let Some(r) = req.path.and_then(|p| range_in(head, p.as_bytes())) {
                b.path_at(shift(r, at));
            }
            let framed = fields(b, head, line, at, req.headers);
            Parsed::Complete(
                RequestHead {
                    head: b.finish(),
                    ts,
                    method: method_kind(req.method.unwrap_or_default().as_bytes()),
                    version: req.version.unwrap_or(1),
                    framed,
                    malformed: false,
                },
                len,
            )
        }
        Ok(httparse::Status::Partial) => Parsed::Partial,
        Err(_) => parse_request_lenient(buf, ts, b),
    }
}

/// Reads a request whose request line httparse refuses (`GET / HTTP/1.`,
/// `OPTIONS HTTP/1.1`, a target that is not UTF-8) the way Wireshark does:
/// method, then target if any. Only an upper-case method token is accepted,
/// to keep garbage out.
fn parse_request_lenient(buf: &[u8], ts: Timestamp, b: &mut HeadBuilder) -> Parsed<RequestHead> {
    let Some(line_end) = memchr::memchr(b'\n', buf) else {
        return Parsed::Partial;
    };
    let line = buf.get(..line_end).unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut tokens = line.split(|&b| b == b' ').filter(|t| !t.is_empty());
    let method = tokens.next().unwrap_or_default();
    let method_ok = method.first().is_some_and(u8::is_ascii_uppercase)
        && method.len() <= 32
        && method
            .iter()
            .all(|&b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    let path = tokens.next().unwrap_or_default();
    if !method_ok || path.iter().any(|&b| b < b' ' || b == 0x7f) {
        return Parsed::Invalid;
    }
    let version = match tokens.next() {
        Some(b"HTTP/1.0") => 0,
        _ => 1,
    };
    let Some(end) = super::head_end(&[], buf) else {
        return Parsed::Partial;
    };
    b.clear();
    let head = buf.get(..end).unwrap_or_default();
    let at = b.append(head).start;
    if let Some(r) = range_in(head, method) {
        b.method_at(shift(r, at));
    }
    // An absent target is an empty one, right after the method.
    let path = if path.is_empty() {
        head.get(method.len()..method.len()).unwrap_or_default()
    } else {
        path
    };
    if let Some(r) = range_in(head, path) {
        b.path_at(shift(r, at));
    }
    // httparse did not read this head: its fields frame the body as split here.
    let mut framed = Framed::default();
    let authority = split_fields(b, head, line_end + 1, at, &mut framed);
    if let Some(r) = authority {
        b.authority_at(r);
    }
    let framed = framed.finish();
    Parsed::Complete(
        RequestHead {
            head: b.finish(),
            ts,
            method: method_kind(method),
            version,
            framed,
            malformed: true,
        },
        end,
    )
}

/// Parses a response head at the start of `buf` into `b` (left empty).
pub(crate) fn parse_response(
    buf: &[u8],
    ts: Timestamp,
    b: &mut HeadBuilder,
) -> Parsed<ResponseHead> {
    let mut headers = [MaybeUninit::<httparse::Header<'_>>::uninit(); MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut []);
    match config().parse_response_with_uninit_headers(&mut resp, buf, &mut headers) {
        Ok(httparse::Status::Complete(len)) => {
            let head = buf.get(..len).unwrap_or_default();
            let at = b.start_captured(head, resp.headers.len()).start;
            let line = memchr::memchr(b'\n', head).map_or(0, |i| i + 1);
            if resp.reason.is_some() {
                // httparse gives "" for a reason with obs-text: find it here.
                b.reason_at(shift(reason(head.get(..line).unwrap_or_default()), at));
            }
            let framed = fields(b, head, line, at, resp.headers);
            let status = resp.code.unwrap_or_default();
            Parsed::Complete(
                ResponseHead {
                    head: b.finish(),
                    ts,
                    status,
                    version: resp.version.unwrap_or(1),
                    framed,
                },
                len,
            )
        }
        Ok(httparse::Status::Partial) => Parsed::Partial,
        Err(_) => Parsed::Invalid,
    }
}

/// The reason phrase in a status line `HTTP/1.x SP DDD [SP reason] CRLF`,
/// as a range of `line`.
fn reason(line: &[u8]) -> Range<usize> {
    let end =
        line.len() - usize::from(line.ends_with(b"\n")) - usize::from(line.ends_with(b"\r\n"));
    let mut i = 8; // "HTTP/1.x"
    while line.get(i).is_some_and(|&c| c == b' ') {
        i += 1;
    }
    i += 3; // the status code
    while line.get(i).is_some_and(|&c| c == b' ') {
        i += 1;
    }
    i.min(end)..end
}

/// Adds the header fields of `head` (its field lines start at `lines`;
/// `head` starts at `at` in the builder) to `b`, and returns what they say
/// about the body: from `parsed`, the fields httparse accepted, when they
/// are every line; else from the lines as [`split_fields`] reads them.
fn fields(
    b: &mut HeadBuilder,
    head: &[u8],
    lines: usize,
    at: usize,
    parsed: &[httparse::Header<'_>],
) -> Framed {
    let mut framed = Framed::default();
    let mut authority = None;
    // `tidy`: the fields follow each other, each line `name: value CRLF`
    // right after the start line, and the empty line ends them.
    let mut tidy = lines > 0;
    let mut pos = lines;
    let base = head.as_ptr() as usize;
    let offset = |part: &[u8]| (part.as_ptr() as usize).wrapping_sub(base);
    for f in parsed {
        let name = f.name.as_bytes();
        framing_fact(&mut framed, name, f.value, false);
        let (ns, vs) = (offset(name), offset(f.value));
        let (ne, ve) = (ns.wrapping_add(name.len()), vs.wrapping_add(f.value.len()));
        if ns > ne || ne > head.len() || vs > ve || ve > head.len() {
            // Not in `head` (httparse gives slices of it): not kept.
            tidy = false;
            continue;
        }
        let line_start = if pos == lines {
            ns == pos
        } else {
            matches!(head.get(pos..ns), Some(b"\r\n"))
        };
        tidy &= line_start && matches!(head.get(ne..vs), Some(b": "));
        pos = ve;
        if authority.is_none() && name.eq_ignore_ascii_case(b"host") {
            let value = f.value.trim_ascii();
            authority = range_in(head, value).map(|r| shift(r, at));
        }
        b.header_at(ns + at..ne + at, vs + at..ve + at);
    }
    // The last field's line end and the empty line (a match, not a call).
    tidy &= match head.get(pos..) {
        Some(b"\r\n") => parsed.is_empty(),
        Some(b"\r\n\r\n") => !parsed.is_empty(),
        _ => false,
    };
    // Every line but the start line and the empty one is a field, unless
    // httparse skipped or joined some. A tidy head has one line per field
    // (fields hold no line end: httparse ends one at its line end and
    // refuses folds): only an untidy one needs its lines counted.
    let whole = tidy || memchr::memchr_iter(b'\n', head).count().saturating_sub(2) == parsed.len();
    if !whole {
        // httparse skipped lines: every line is read here instead.
        b.truncate_fields(0);
        let mut framed = Framed::default();
        let authority = split_fields(b, head, lines, at, &mut framed);
        if let Some(r) = authority {
            b.authority_at(r);
        }
        return framed.finish();
    }
    if let Some(r) = authority {
        b.authority_at(r);
    }
    framed.finish()
}

/// SP and HTAB: the whitespace (OWS) around a field value.
fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn trim_ows(v: &[u8]) -> &[u8] {
    let start = v.iter().position(|&b| !is_ows(b)).unwrap_or(v.len());
    let end = v.iter().rposition(|&b| !is_ows(b)).map_or(start, |i| i + 1);
    v.get(start..end).unwrap_or_default()
}

/// A token character (RFC 9110 §5.6.2): what a field name is made of.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// True for `content-length` and `transfer-encoding`, the fields that frame a body.
fn frames_body(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"transfer-encoding")
}

/// A field line as split here: name and value as ranges of the head.
struct Line {
    name: Range<usize>,
    value: Range<usize>,
    /// The name up to the colon with the whitespace before it dropped: what
    /// a lenient server looks the field up by.
    lookup: Range<usize>,
    /// An obs-fold continued the value.
    folded: bool,
}

/// Splits the field lines of `head` from offset `lines` on, each exactly
/// as sent — the name up to the colon, the value without the whitespace
/// around it, a folded line joined to the field before — and records what
/// they say about the body in `framed`, as a lenient server reads them: a
/// name is looked up without the whitespace before its colon, a line
/// without a colon or a folded line before any field is skipped. What is
/// not valid sets `framed.malformed`. Returns the first `Host` value's range.
fn split_fields(
    b: &mut HeadBuilder,
    head: &[u8],
    lines: usize,
    at: usize,
    framed: &mut Framed,
) -> Option<Range<usize>> {
    let part = |r: &Range<usize>| head.get(r.clone()).unwrap_or_default();
    let mut authority = None;
    let mut field = |b: &mut HeadBuilder, f: Line, framed: &mut Framed| {
        let (name, lookup, value) = (part(&f.name), part(&f.lookup), part(&f.value));
        if name.len() != lookup.len() && frames_body(lookup) {
            // `Content-Length : 4`: strict servers refuse it, others frame by it.
            framed.ambiguous = true;
        }
        // Bytes a value may not hold: controls but HTAB (and a fold's line end).
        let bad_byte = |&c: &u8| {
            (c < b' ' && c != b'\t' && !(f.folded && (c == b'\r' || c == b'\n'))) || c == 0x7f
        };
        framed.malformed |= value.iter().any(bad_byte);
        framing_fact(framed, lookup, value, f.folded);
        if authority.is_none() && lookup.eq_ignore_ascii_case(b"host") {
            authority = Some(shift(f.value.clone(), at));
        }
        b.header_at(shift(f.name, at), shift(f.value, at));
    };
    let mut last: Option<Line> = None;
    let mut pos = lines;
    while let Some(rest) = head.get(pos..).filter(|r| !r.is_empty()) {
        let len = memchr::memchr(b'\n', rest).map_or(rest.len(), |i| i + 1);
        let line = rest.get(..len).unwrap_or_default();
        let start = pos;
        pos += len;
        let text = line.strip_suffix(b"\n").unwrap_or(line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if text.is_empty() {
            break;
        }
        let content_end = start + text.iter().rposition(|&c| !is_ows(c)).map_or(0, |i| i + 1);
        if text.first().copied().is_some_and(is_ows) {
            // obs-fold: the value goes on to the end of this line.
            match last.as_mut() {
                Some(f) => {
                    if content_end > start {
                        f.value.end = content_end;
                        f.folded = true;
                    }
                }
                // Whitespace before the first field (RFC 9112 §2.2): skipped.
                None => framed.malformed = true,
            }
            // A folded line that reads as a framing field: a reader that
            // does not fold would frame by it.
            let looks = trim_ows(text);
            if let Some(colon) = memchr::memchr(b':', looks)
                && frames_body(trim_ows(looks.get(..colon).unwrap_or_default()))
            {
                framed.ambiguous = true;
            }
            continue;
        }
        let Some(colon) = memchr::memchr(b':', text) else {
            // Not a field: skipped, as a lenient server skips it.
            framed.malformed = true;
            continue;
        };
        if let Some(f) = last.take() {
            field(b, f, framed);
        }
        let name = start..start + colon;
        let name_bytes = part(&name);
        let lookup_len = name_bytes
            .iter()
            .rposition(|&c| !is_ows(c))
            .map_or(0, |i| i + 1);
        framed.malformed |= name_bytes.is_empty() || !name_bytes.iter().all(|&c| is_tchar(c));
        let value_start = start + colon + 1;
        let lead = head
            .get(value_start..content_end.max(value_start))
            .unwrap_or_default()
            .iter()
            .take_while(|&&c| is_ows(c))
            .count();
        last = Some(Line {
            lookup: start..start + lookup_len,
            name,
            value: value_start + lead..content_end.max(value_start + lead),
            folded: false,
        });
    }
    if let Some(f) = last {
        field(b, f, framed);
    }
    authority
}

/// Records what field `name: value` says about the body's framing;
/// `folded`: an obs-fold continued the value.
#[inline(always)]
fn framing_fact(framed: &mut Framed, name: &[u8], value: &[u8], folded: bool) {
    // Most fields say nothing about framing: told apart by length and
    // first letter without a call.
    let first = name.first().map_or(0, |c| c.to_ascii_lowercase());
    if matches!(
        (name.len(), first),
        (6, b'e') | (7, b'u') | (14, b'c') | (16, b'c') | (17, b't')
    ) {
        framing_field(framed, name, value, folded);
    }
}

/// [`framing_fact`] for a field that may be one of those it reads.
fn framing_field(framed: &mut Framed, name: &[u8], value: &[u8], folded: bool) {
    match name.len() {
        6 if name.eq_ignore_ascii_case(b"expect") => {
            framed.expect_continue |= value.trim_ascii().eq_ignore_ascii_case(b"100-continue");
        }
        7 if name.eq_ignore_ascii_case(b"upgrade") => {
            framed.upgrade = true;
            framed.upgrade_h2c |= value
                .split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"h2c"));
        }
        16 if name.eq_ignore_ascii_case(b"content-encoding") => {
            framed.content_encoding = true;
        }
        14 if name.eq_ignore_ascii_case(b"content-length") => {
            // A folded length is read by some, refused by others.
            framed.ambiguous |= folded;
            // Most often one number: a list of one, read without splitting.
            if let Some(n) = parse_length(value) {
                framed.length(Some(n));
                return;
            }
            for part in value.split(|&b| b == b',') {
                framed.length(parse_length(part.trim_ascii()));
            }
        }
        17 if name.eq_ignore_ascii_case(b"transfer-encoding") => {
            let mut codings = value
                .split(|&b| b == b',')
                .map(trim_ows)
                .filter(|t| !t.is_empty())
                .peekable();
            if codings.peek().is_some() {
                framed.transfer_encoding = true;
                // A folded Transfer-Encoding is never taken as chunked: a
                // server that does not fold reads it otherwise.
                framed.chunked = !folded
                    && codings
                        .last()
                        .is_some_and(|t| t.eq_ignore_ascii_case(b"chunked"));
                framed.ambiguous |= folded;
            }
        }
        _ => {}
    }
}

impl Framed {
    /// One element of a `Content-Length` list: a length, or not a number.
    fn length(&mut self, n: Option<u64>) {
        match (n, self.content_length) {
            (Some(n), None) => self.content_length = Some(n),
            (Some(n), Some(m)) if n == m => {}
            (Some(_), Some(_)) => self.length_conflict = true,
            (None, _) => self.bad_length = true,
        }
    }

    /// The facts once every field is read: a length that is also given by
    /// `Transfer-Encoding`, or given twice differently, is ambiguous
    /// (RFC 9112 §6.3: `Transfer-Encoding` wins; different lengths cannot
    /// be told apart).
    fn finish(mut self) -> Self {
        self.ambiguous |= self.length_conflict
            || (self.transfer_encoding && (self.content_length.is_some() || self.bad_length));
        self
    }
}

fn parse_length(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + u64::from(b - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(wire: &[u8]) -> Parsed<RequestHead> {
        parse_request(wire, Timestamp(0), &mut HeadBuilder::new())
    }

    fn resp(wire: &[u8]) -> Parsed<ResponseHead> {
        parse_response(wire, Timestamp(0), &mut HeadBuilder::new())
    }

    /// Names and values of a head's fields, and what frames its body.
    type Read = (
        Vec<(Vec<u8>, Vec<u8>)>,
        Option<Vec<u8>>,
        Option<u64>,
        bool,
        bool,
    );

    fn read(head: &capture_core::model::Head, framed: Framed, authority: Option<Vec<u8>>) -> Read {
        let fields = head
            .headers()
            .iter()
            .map(|h| (h.name().as_bytes().to_vec(), h.value().as_bytes().to_vec()))
            .collect();
        (
            fields,
            authority,
            framed.content_length,
            framed.chunked,
            framed.malformed,
        )
    }

    /// `wire` read by httparse (`parse_request`) and by the lenient
    /// splitter alone.
    fn both_ways(wire: &[u8]) -> (Read, Read) {
        let Parsed::Complete(head, len) = req(wire) else {
            panic!("not parsed: {:?}", String::from_utf8_lossy(wire))
        };
        let r = &head.request();
        let parsed = read(
            r.head(),
            head.framed,
            r.authority().map(|a| a.as_bytes().to_vec()),
        );
        let mut b = HeadBuilder::new();
        let at = b.append(&wire[..len]).start;
        let line = memchr::memchr(b'\n', wire).map_or(0, |i| i + 1);
        let mut framed = Framed::default();
        let authority = split_fields(&mut b, &wire[..len], line, at, &mut framed);
        let authority = authority.map(|a| wire[a].to_vec());
        (parsed, read(&b.finish(), framed.finish(), authority))
    }

    #[test]
    fn httparse_and_the_splitter_read_well_formed_fields_alike() {
        for wire in [
            &b"GET / HTTP/1.1\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nX-A: 1\r\n\r\n",
            // Untidy but valid: LF line ends, no space, trailing and
            // several spaces, tabs, an empty value.
            b"GET / HTTP/1.1\nHost: h\nContent-Length: 3\n\n",
            b"GET / HTTP/1.1\r\nHost:h\r\nX-A:1\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h  \r\nX-A:  \t1 \t\r\n\r\n",
            b"GET / HTTP/1.1\r\nX-E: \r\nX-F:\r\nHost: h\r\n\r\n",
            b"GET / HTTP/1.1\r\nX-A: 1\nX-B: 2\r\n\n",
            b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
        ] {
            let (parsed, split) = both_ways(wire);
            assert_eq!(parsed, split, "{:?}", String::from_utf8_lossy(wire));
            assert!(!parsed.4, "{:?}", String::from_utf8_lossy(wire));
        }
    }

    #[test]
    fn a_line_httparse_skips_anywhere_is_read_by_the_splitter() {
        // A folded or invalid line first, between fields, last; with CRLF
        // or LF line ends: every field is reported as the splitter reads it.
        let lines: [&[u8]; 3] = [b" fold", b"Fo@: x", b"no colon"];
        for bad in lines {
            for eol in [&b"\r\n"[..], b"\n"] {
                for at in 0..3 {
                    let mut fields: Vec<&[u8]> = vec![b"Host: h", b"Content-Length: 2"];
                    fields.insert(at, bad);
                    let mut wire = b"POST / HTTP/1.1".to_vec();
                    for f in &fields {
                        wire.extend_from_slice(eol);
                        wire.extend_from_slice(f);
                    }
                    wire.extend_from_slice(eol);
                    wire.extend_from_slice(eol);
                    let (parsed, split) = both_ways(&wire);
                    assert_eq!(parsed, split, "{:?}", String::from_utf8_lossy(&wire));
                    // A fold after the length continues it, making it no number.
                    let length = (bad != b" fold" || at != 2).then_some(2);
                    assert_eq!(parsed.2, length, "{:?}", String::from_utf8_lossy(&wire));
                    // A fold joins the field before (or is dropped if first),
                    // a line without a colon is dropped.
                    let names = if bad == b"Fo@: x" { 3 } else { 2 };
                    assert_eq!(
                        parsed.0.len(),
                        names,
                        "{:?}",
                        String::from_utf8_lossy(&wire)
                    );
                }
            }
        }
    }

    #[test]
    fn request_head_keeps_order_case_and_host() {
        let wire = b"POST /a?b=1 HTTP/1.0\r\nhOsT: example.com \r\nX-Multi: 1\r\nx-multi: 2\r\nContent-Length: 3\r\n\r\nabc";
        let Parsed::Complete(head, len) =
            parse_request(wire, Timestamp(7), &mut HeadBuilder::new())
        else {
            panic!("not parsed")
        };
        assert_eq!(len, wire.len() - 3);
        assert_eq!(head.version, 0);
        assert_eq!(head.request().method(), "POST");
        assert_eq!(head.request().path(), "/a?b=1");
        assert_eq!(head.request().authority().unwrap(), "example.com");
        let names: Vec<_> = head
            .request()
            .headers()
            .iter()
            .map(|h| h.name().to_string())
            .collect();
        assert_eq!(names, ["hOsT", "X-Multi", "x-multi", "Content-Length"]);
        assert_eq!(head.framed.content_length, Some(3));
    }

    #[test]
    fn broken_request_lines_are_read_leniently() {
        let wire = b"OPTIONS HTTP/1.1\r\nHost: h\r\n\r\n";
        let Parsed::Complete(head, len) = req(wire) else {
            panic!("not parsed")
        };
        assert_eq!(len, wire.len());
        assert!(head.malformed);
        assert_eq!(
            (head.request().method(), head.request().path()),
            ("OPTIONS".into(), "HTTP/1.1".into())
        );
        assert_eq!(head.request().authority().unwrap(), "h");
        assert!(matches!(
            req(b"GET / HTTP/1.\r\nHost: h\r\n"),
            Parsed::Partial
        ));
        assert!(matches!(req(b"OPTIONSHTTP/1.1\r\n\r\n"), Parsed::Invalid));
        assert!(matches!(req(b"{GET} / HTTP/1.1\r\n\r\n"), Parsed::Invalid));
    }

    /// (content_length, bad_length, transfer_encoding, chunked, ambiguous, malformed)
    fn framing(wire: &[u8]) -> (Option<u64>, bool, bool, bool, bool, bool) {
        let f = match (req(wire), resp(wire)) {
            (Parsed::Complete(h, _), _) => h.framed,
            (_, Parsed::Complete(h, _)) => h.framed,
            _ => panic!("not parsed: {:?}", String::from_utf8_lossy(wire)),
        };
        (
            f.content_length,
            f.bad_length,
            f.transfer_encoding,
            f.chunked,
            f.ambiguous,
            f.malformed,
        )
    }

    #[test]
    fn contradictory_lengths_are_ambiguous_and_framed_by_the_first() {
        assert_eq!(
            framing(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"),
            (Some(3), false, false, false, true, false)
        );
        assert_eq!(
            framing(b"HTTP/1.1 200 OK\r\nContent-Length: 3, 4\r\n\r\n"),
            (Some(3), false, false, false, true, false)
        );
        // The same length twice is one length.
        assert_eq!(
            framing(b"HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\nContent-Length: 3\r\n\r\n"),
            (Some(3), false, false, false, false, false)
        );
        assert_eq!(
            framing(b"HTTP/1.1 200 OK\r\nContent-Length: 3x\r\n\r\n"),
            (None, true, false, false, false, false)
        );
    }

    #[test]
    fn transfer_encoding_with_a_length_is_ambiguous() {
        for (wire, chunked) in [
            (
                &b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"[..],
                true,
            ),
            (
                b"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: identity\r\n\r\n",
                false,
            ),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: x\r\n\r\n",
                true,
            ),
        ] {
            let (_, _, te, ch, ambiguous, _) = framing(wire);
            assert_eq!((te, ch, ambiguous), (true, chunked, true));
        }
    }

    #[test]
    fn chunked_must_be_last_coding() {
        let wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n";
        let Parsed::Complete(head, _) = resp(wire) else {
            panic!("not parsed")
        };
        assert!(head.framed.chunked);
        let wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n";
        let Parsed::Complete(head, _) = resp(wire) else {
            panic!("not parsed")
        };
        assert!(head.framed.transfer_encoding && !head.framed.chunked);
        // `identity` is a coding like any other (RFC 9112 §6.3): chunked
        // then identity is not chunked, over one field or two.
        for wire in [
            &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
        ] {
            assert_eq!(framing(wire), (None, false, true, false, false, false));
        }
        assert_eq!(
            framing(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n\r\n"),
            (None, false, true, true, false, false)
        );
        // Empty list elements are no codings.
        assert_eq!(
            framing(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: , chunked ,\r\n\r\n"),
            (None, false, true, true, false, false)
        );
    }

    #[test]
    fn a_folded_framing_field_is_never_chunked_and_always_ambiguous() {
        for wire in [
            &b"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n  abc\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n  abc\r\n\r\n",
            b"PUT / HTTP/1.1\r\nTransfer-Encoding: gzip,\r\n chunked\r\n\r\n",
        ] {
            let (_, _, te, chunked, ambiguous, malformed) = framing(wire);
            assert_eq!(
                (te, chunked, ambiguous, malformed),
                (true, false, true, false)
            );
        }
        assert_eq!(
            framing(b"PUT / HTTP/1.1\r\nContent-Length:\r\n 5\r\n\r\n"),
            (Some(5), false, false, false, true, false)
        );
        // A fold whose line reads as a framing field (a reader that does not
        // fold would frame by it).
        assert_eq!(
            framing(b"POST / HTTP/1.1\r\nFoo: bar\r\n Content-Length: 38\r\n\r\n"),
            (None, false, false, false, true, false)
        );
    }

    #[test]
    fn folds_join_the_same_way_in_both_directions() {
        let fields = |wire: &[u8]| -> Vec<(Vec<u8>, Vec<u8>)> {
            let head = match (req(wire), resp(wire)) {
                (Parsed::Complete(h, _), _) => h.request().head().clone(),
                (_, Parsed::Complete(h, _)) => h.response().head().clone(),
                _ => panic!("not parsed"),
            };
            head.headers()
                .iter()
                .map(|h| (h.name().as_bytes().to_vec(), h.value().as_bytes().to_vec()))
                .collect()
        };
        let lines =
            b"A:   abc\r\n\tdef\r\n ghi \r\nB:\r\n b\r\nC: \r\n \r\nConnection:\r\n close\r\n\r\n";
        let want = [
            (b"A".to_vec(), b"abc\r\n\tdef\r\n ghi".to_vec()),
            (b"B".to_vec(), b"\r\n b".to_vec()),
            (b"C".to_vec(), b"".to_vec()),
            (b"Connection".to_vec(), b"\r\n close".to_vec()),
        ];
        let request = [&b"GET / HTTP/1.1\r\n"[..], lines].concat();
        let response = [&b"HTTP/1.1 200 OK\r\n"[..], lines].concat();
        assert_eq!(fields(&request), want);
        assert_eq!(fields(&response), want);
        assert_eq!(framing(&request), (None, false, false, false, false, false));
    }

    #[test]
    fn invalid_field_lines_are_kept_and_said() {
        for wire in [
            &b"GET / HTTP/1.1\r\nFo@: Failure\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nFoo\x01\ttest: Bar\r\n\r\n",
            b"GET / HTTP/1.1\r\n: Bar\r\n\r\n",
            b"GET / HTTP/1.1\r\nname\r\n : value\r\n\r\n",
            b"GET / HTTP/1.1\r\nHeader1: hello\x0cworld\r\n\r\n",
            b"GET / HTTP/1.1\r\nConnection : upgrade\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nen-US Content-Type: text/xml\r\n\r\n",
            b"GET / HTTP/1.1\r\n leading: fold\r\nA: b\r\n\r\n",
        ] {
            let (_, _, _, _, ambiguous, malformed) = framing(wire);
            assert!(malformed, "{:?}", String::from_utf8_lossy(wire));
            assert!(!ambiguous, "{:?}", String::from_utf8_lossy(wire));
        }
        // A form feed is a value byte, not whitespace around it.
        let Parsed::Complete(head, _) = req(b"GET / HTTP/1.1\r\nHeader1: \x0c\r\n\r\n") else {
            panic!("not parsed")
        };
        assert_eq!(
            head.request()
                .header("header1")
                .map(|v| v.as_bytes().to_vec()),
            Some(b"\x0c".to_vec())
        );
    }

    #[test]
    fn bytes_that_are_not_utf8_are_kept_exactly() {
        let wire = b"GET /a\xff HTTP/1.1\r\nHost: h\r\nX-\xfe: 1\r\nX-V: caf\xe9 \r\nContent-Length: 2\r\n\r\n";
        let Parsed::Complete(head, len) = req(wire) else {
            panic!("not parsed")
        };
        assert_eq!(len, wire.len());
        assert!(
            head.malformed,
            "a target that is not UTF-8 is read leniently"
        );
        let r = &head.request();
        assert_eq!(r.path().as_bytes(), b"/a\xff");
        assert!(!r.path().is_text());
        let fields: Vec<_> = r
            .headers()
            .iter()
            .map(|h| (h.name().as_bytes().to_vec(), h.value().as_bytes().to_vec()))
            .collect();
        assert_eq!(
            fields,
            [
                (b"Host".to_vec(), b"h".to_vec()),
                (b"X-\xfe".to_vec(), b"1".to_vec()),
                (b"X-V".to_vec(), b"caf\xe9".to_vec()),
                (b"Content-Length".to_vec(), b"2".to_vec()),
            ]
        );
        assert_eq!(head.framed.content_length, Some(2));
        assert_eq!(r.headers().as_bytes(), wire);
    }

    #[test]
    fn lines_httparse_skips_are_reported_as_sent() {
        let wire =
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length : 5\r\nX-\xff: v\r\nno colon\r\n\r\n";
        let Parsed::Complete(head, _) = req(wire) else {
            panic!("not parsed")
        };
        assert!(!head.malformed, "the request line is valid");
        assert!(head.framed.malformed && head.framed.ambiguous);
        let names: Vec<_> = head
            .request()
            .headers()
            .iter()
            .map(|h| h.name().as_bytes().to_vec())
            .collect();
        assert_eq!(
            names,
            [
                b"Host".to_vec(),
                b"Content-Length ".to_vec(),
                b"X-\xff".to_vec()
            ]
        );
        // Framed as a lenient server reads it, the space before the colon
        // dropped, and said to be ambiguous: strict servers refuse it.
        assert_eq!(head.framed.content_length, Some(5));
    }

    #[test]
    fn reason_phrases_keep_obs_text_and_folds_join() {
        let wire = b"HTTP/1.1 404 Nicht gefunden \xfc\r\nX-A: 1\r\n  2\r\nY: 3\r\n\r\n";
        let Parsed::Complete(head, _) = resp(wire) else {
            panic!("not parsed")
        };
        let r = &head.response();
        assert_eq!(r.status, 404);
        assert_eq!(r.reason().unwrap().as_bytes(), b"Nicht gefunden \xfc");
        let values: Vec<_> = r
            .headers()
            .iter()
            .map(|h| h.value().as_bytes().to_vec())
            .collect();
        assert_eq!(values, [b"1\r\n  2".to_vec(), b"3".to_vec()]);
        let Parsed::Complete(head, _) = resp(b"HTTP/1.1 200\r\n\r\n") else {
            panic!("not parsed")
        };
        assert!(head.response().reason().is_none_or(|r| r.is_empty()));
    }
}
