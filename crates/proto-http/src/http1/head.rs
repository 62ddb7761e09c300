//! Message heads: the start line and header fields, parsed by httparse,
//! kept as captured in one buffer with the fields as ranges into it
//! ([`HeadBuilder`]), with what the framing of the body needs to know.
//!
//! httparse validates and finds the fields; when it skipped lines it could
//! not read as fields (a name with bytes outside the token set, a space
//! before the colon, a folded line), the fields are split here instead, so
//! the record reports every field line exactly as sent. What frames the
//! body is still decided on the fields httparse accepted.

use std::mem::MaybeUninit;
use std::ops::Range;

use capture_core::model::{HeadBuilder, Request, Response, Timestamp};

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
    /// `Content-Length`, if present and valid.
    pub content_length: Option<u64>,
    /// `Content-Length` present but invalid or contradictory.
    pub bad_length: bool,
    /// `Transfer-Encoding` present.
    pub transfer_encoding: bool,
    /// `Transfer-Encoding` ends with `chunked`.
    pub chunked: bool,
    /// `Upgrade` present.
    pub upgrade: bool,
    /// `Upgrade` lists `h2c`.
    pub upgrade_h2c: bool,
    /// `Expect: 100-continue`.
    pub expect_continue: bool,
    /// `Content-Encoding` present: the body may need decoding.
    pub content_encoding: bool,
}

/// A parsed request head.
pub(crate) struct RequestHead {
    pub request: Request,
    /// Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    pub framed: Framed,
    /// The request line was invalid and was read leniently.
    pub malformed: bool,
}

/// A parsed response head.
pub(crate) struct ResponseHead {
    pub response: Response,
    pub version: u8,
    pub framed: Framed,
}

fn config() -> httparse::ParserConfig {
    let mut c = httparse::ParserConfig::default();
    c.allow_spaces_after_header_name_in_responses(true)
        .allow_obsolete_multiline_headers_in_responses(true)
        .allow_multiple_spaces_in_request_line_delimiters(true)
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
            b.clear();
            let head = buf.get(..len).unwrap_or_default();
            let at = b.append(head).start;
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
                    request: Request::new(ts, b.finish()),
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
    let authority = split_fields(b, head, line_end + 1, at, Some(&mut framed));
    if let Some(r) = authority {
        b.authority_at(r);
    }
    Parsed::Complete(
        RequestHead {
            request: Request::new(ts, b.finish()),
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
            b.clear();
            let head = buf.get(..len).unwrap_or_default();
            let at = b.append(head).start;
            let line = memchr::memchr(b'\n', head).map_or(0, |i| i + 1);
            if resp.reason.is_some() {
                // httparse gives "" for a reason with obs-text: find it here.
                b.reason_at(shift(reason(head.get(..line).unwrap_or_default()), at));
            }
            let framed = fields(b, head, line, at, resp.headers);
            let status = resp.code.unwrap_or_default();
            Parsed::Complete(
                ResponseHead {
                    response: Response::new(ts, status, b.finish()),
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
/// `head` starts at `at` in the builder) to `b`, and returns the framing
/// facts of `parsed`, the fields httparse accepted.
fn fields(
    b: &mut HeadBuilder,
    head: &[u8],
    lines: usize,
    at: usize,
    parsed: &[httparse::Header<'_>],
) -> Framed {
    let mut framed = Framed::default();
    // Every line but the start line and the empty one is a field, unless
    // httparse skipped or joined some.
    let field_lines = memchr::memchr_iter(b'\n', head).count().saturating_sub(2);
    let whole = field_lines == parsed.len();
    let mut authority = None;
    for f in parsed {
        framing_fact(&mut framed, f.name.as_bytes(), f.value);
        if !whole {
            continue;
        }
        let (Some(n), Some(v)) = (range_in(head, f.name.as_bytes()), range_in(head, f.value))
        else {
            continue;
        };
        if authority.is_none() && f.name.eq_ignore_ascii_case("host") {
            let value = f.value.trim_ascii();
            authority = range_in(head, value).map(|r| shift(r, at));
        }
        b.header_at(shift(n, at), shift(v, at));
    }
    if !whole {
        authority = split_fields(b, head, lines, at, None);
    }
    if let Some(r) = authority {
        b.authority_at(r);
    }
    framed
}

/// Splits the field lines of `head` from offset `lines` on, each exactly
/// as sent: the name up to the colon, the value without the whitespace
/// around it, a folded line joined to the field before. Lines without a
/// colon are not fields. Returns the first `Host` value's range; records
/// the framing facts of the fields in `framed` when given.
fn split_fields(
    b: &mut HeadBuilder,
    head: &[u8],
    lines: usize,
    at: usize,
    mut framed: Option<&mut Framed>,
) -> Option<Range<usize>> {
    let mut field = |b: &mut HeadBuilder, n: Range<usize>, v: Range<usize>| {
        if let Some(f) = framed.as_deref_mut() {
            let part = |r: &Range<usize>| head.get(r.clone()).unwrap_or_default();
            framing_fact(f, part(&n), part(&v));
        }
        b.header_at(shift(n, at), shift(v, at));
    };
    let mut authority = None;
    let mut last: Option<(Range<usize>, Range<usize>)> = None;
    let mut pos = lines;
    while let Some(rest) = head.get(pos..).filter(|r| !r.is_empty()) {
        let len = memchr::memchr(b'\n', rest).map_or(rest.len(), |i| i + 1);
        let line = rest.get(..len).unwrap_or_default();
        let start = pos;
        pos += len;
        let text = line.trim_ascii_end();
        if text.is_empty() {
            break;
        }
        let trimmed = |r: Range<usize>| -> Range<usize> {
            let v = head.get(r.clone()).unwrap_or_default();
            let lead = v.len() - v.trim_ascii_start().len();
            let trail = v.len() - v.trim_ascii_end().len();
            r.start + lead..(r.end - trail).max(r.start + lead)
        };
        if matches!(line.first(), Some(b' ' | b'\t')) {
            // obs-fold: the value goes on to the end of this line.
            if let Some((_, v)) = last.as_mut() {
                v.end = start + text.len();
            }
            continue;
        }
        let Some(colon) = memchr::memchr(b':', text) else {
            continue;
        };
        if let Some((n, v)) = last.take() {
            field(b, n, v);
        }
        let name = start..start + colon;
        let value = trimmed(start + colon + 1..start + text.len());
        if authority.is_none()
            && head
                .get(name.clone())
                .is_some_and(|n| n.eq_ignore_ascii_case(b"host"))
        {
            authority = Some(shift(value.clone(), at));
        }
        last = Some((name, value));
    }
    if let Some((n, v)) = last {
        field(b, n, v);
    }
    authority
}

/// Records what field `name: value` says about the body's framing.
fn framing_fact(framed: &mut Framed, name: &[u8], value: &[u8]) {
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
            for part in value.split(|&b| b == b',') {
                match parse_length(part.trim_ascii()) {
                    Some(n) if framed.content_length.is_none_or(|m| m == n) => {
                        framed.content_length = Some(n);
                    }
                    _ => framed.bad_length = true,
                }
            }
        }
        17 if name.eq_ignore_ascii_case(b"transfer-encoding") => {
            // The obsolete `identity` coding frames nothing.
            let mut codings = value
                .split(|&b| b == b',')
                .map(<[u8]>::trim_ascii)
                .filter(|t| !t.is_empty() && !t.eq_ignore_ascii_case(b"identity"))
                .peekable();
            if codings.peek().is_some() {
                framed.transfer_encoding = true;
                framed.chunked = codings
                    .last()
                    .is_some_and(|t| t.eq_ignore_ascii_case(b"chunked"));
            }
        }
        _ => {}
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
        assert_eq!(head.request.method(), "POST");
        assert_eq!(head.request.path(), "/a?b=1");
        assert_eq!(head.request.authority().unwrap(), "example.com");
        let names: Vec<_> = head
            .request
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
            (head.request.method(), head.request.path()),
            ("OPTIONS".into(), "HTTP/1.1".into())
        );
        assert_eq!(head.request.authority().unwrap(), "h");
        assert!(matches!(
            req(b"GET / HTTP/1.\r\nHost: h\r\n"),
            Parsed::Partial
        ));
        assert!(matches!(req(b"OPTIONSHTTP/1.1\r\n\r\n"), Parsed::Invalid));
        assert!(matches!(req(b"{GET} / HTTP/1.1\r\n\r\n"), Parsed::Invalid));
    }

    #[test]
    fn contradictory_lengths_are_flagged() {
        let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n";
        let Parsed::Complete(head, _) = resp(wire) else {
            panic!("not parsed")
        };
        assert!(head.framed.bad_length);
        let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\n";
        let Parsed::Complete(head, _) = resp(wire) else {
            panic!("not parsed")
        };
        assert_eq!(
            (head.framed.content_length, head.framed.bad_length),
            (Some(3), false)
        );
    }

    #[test]
    fn chunked_must_be_last_coding() {
        let wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n";
        let Parsed::Complete(head, _) = resp(wire) else {
            panic!("not parsed")
        };
        assert!(head.framed.chunked);
        let wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\nContent-Length: 1\r\n\r\n";
        let Parsed::Complete(head, _) = resp(wire) else {
            panic!("not parsed")
        };
        assert!(!head.framed.transfer_encoding && head.framed.content_length == Some(1));
        let wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n";
        let Parsed::Complete(head, _) = resp(wire) else {
            panic!("not parsed")
        };
        assert!(head.framed.transfer_encoding && !head.framed.chunked);
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
        let r = &head.request;
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
        assert!(!head.malformed);
        let names: Vec<_> = head
            .request
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
        // The body is framed by what httparse accepts: no length here.
        assert_eq!(head.framed.content_length, None);
    }

    #[test]
    fn reason_phrases_keep_obs_text_and_folds_join() {
        let wire = b"HTTP/1.1 404 Nicht gefunden \xfc\r\nX-A: 1\r\n  2\r\nY: 3\r\n\r\n";
        let Parsed::Complete(head, _) = resp(wire) else {
            panic!("not parsed")
        };
        let r = &head.response;
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
        assert!(head.response.reason().is_none_or(|r| r.is_empty()));
    }
}
