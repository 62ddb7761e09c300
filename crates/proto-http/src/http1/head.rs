//! Message heads: the start line and header fields, parsed by httparse into
//! the owned model, with what the framing of the body needs to know.

use std::mem::MaybeUninit;

use capture_core::model::{Header, Request, Response, Timestamp};

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

/// Parses a request head at the start of `buf`.
pub(crate) fn parse_request(buf: &[u8], ts: Timestamp) -> Parsed<RequestHead> {
    let mut headers = [MaybeUninit::<httparse::Header<'_>>::uninit(); MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    match config().parse_request_with_uninit_headers(&mut req, buf, &mut headers) {
        Ok(httparse::Status::Complete(len)) => {
            let (headers, framed, authority) = convert(req.headers);
            let request = Request {
                ts,
                method: req.method.unwrap_or_default().to_owned(),
                path: req.path.unwrap_or_default().to_owned(),
                authority,
                headers,
                ..Default::default()
            };
            Parsed::Complete(
                RequestHead {
                    request,
                    version: req.version.unwrap_or(1),
                    framed,
                    malformed: false,
                },
                len,
            )
        }
        Ok(httparse::Status::Partial) => Parsed::Partial,
        Err(_) => parse_request_lenient(buf, ts),
    }
}

/// Reads a request whose request line httparse refuses (`GET / HTTP/1.`,
/// `OPTIONS HTTP/1.1`) the way Wireshark does: method, then target if
/// any. Only an upper-case method token is accepted, to keep garbage out.
fn parse_request_lenient(buf: &[u8], ts: Timestamp) -> Parsed<RequestHead> {
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
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let block = buf.get(line_end + 1..end).unwrap_or_default();
    let parsed = match httparse::parse_headers(block, &mut fields) {
        Ok(httparse::Status::Complete((_, h))) => convert(h),
        _ => convert(&[]),
    };
    let (headers, framed, authority) = parsed;
    let request = Request {
        ts,
        method: lossy(method),
        path: lossy(path),
        authority,
        headers,
        ..Default::default()
    };
    Parsed::Complete(
        RequestHead {
            request,
            version,
            framed,
            malformed: true,
        },
        end,
    )
}

/// Parses a response head at the start of `buf`.
pub(crate) fn parse_response(buf: &[u8], ts: Timestamp) -> Parsed<ResponseHead> {
    let mut headers = [MaybeUninit::<httparse::Header<'_>>::uninit(); MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut []);
    match config().parse_response_with_uninit_headers(&mut resp, buf, &mut headers) {
        Ok(httparse::Status::Complete(len)) => {
            let (headers, framed, _) = convert(resp.headers);
            let response = Response {
                ts,
                status: resp.code.unwrap_or_default(),
                reason: resp.reason.map(str::to_owned),
                headers,
                ..Default::default()
            };
            Parsed::Complete(
                ResponseHead {
                    response,
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

fn lossy(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// Converts header fields to the model and extracts framing facts and `Host`.
fn convert(fields: &[httparse::Header<'_>]) -> (Vec<Header>, Framed, Option<String>) {
    let mut headers = Vec::with_capacity(fields.len());
    let mut framed = Framed::default();
    let mut authority = None;
    for f in fields {
        let name = f.name;
        let value = f.value;
        match name.len() {
            4 if authority.is_none() && name.eq_ignore_ascii_case("host") => {
                authority = Some(lossy(value.trim_ascii()));
            }
            6 if name.eq_ignore_ascii_case("expect") => {
                framed.expect_continue |= value.trim_ascii().eq_ignore_ascii_case(b"100-continue");
            }
            7 if name.eq_ignore_ascii_case("upgrade") => {
                framed.upgrade = true;
                framed.upgrade_h2c |= value
                    .split(|&b| b == b',')
                    .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"h2c"));
            }
            14 if name.eq_ignore_ascii_case("content-length") => {
                for part in value.split(|&b| b == b',') {
                    match parse_length(part.trim_ascii()) {
                        Some(n) if framed.content_length.is_none_or(|m| m == n) => {
                            framed.content_length = Some(n);
                        }
                        _ => framed.bad_length = true,
                    }
                }
            }
            17 if name.eq_ignore_ascii_case("transfer-encoding") => {
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
        headers.push(Header {
            name: name.to_owned(),
            value: lossy(value),
        });
    }
    (headers, framed, authority)
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

    #[test]
    fn request_head_keeps_order_case_and_host() {
        let wire = b"POST /a?b=1 HTTP/1.0\r\nhOsT: example.com \r\nX-Multi: 1\r\nx-multi: 2\r\nContent-Length: 3\r\n\r\nabc";
        let Parsed::Complete(head, len) = parse_request(wire, Timestamp(7)) else {
            panic!("not parsed")
        };
        assert_eq!(len, wire.len() - 3);
        assert_eq!(head.version, 0);
        assert_eq!(head.request.method, "POST");
        assert_eq!(head.request.path, "/a?b=1");
        assert_eq!(head.request.authority.as_deref(), Some("example.com"));
        let names: Vec<_> = head
            .request
            .headers
            .iter()
            .map(|h| h.name.as_str())
            .collect();
        assert_eq!(names, ["hOsT", "X-Multi", "x-multi", "Content-Length"]);
        assert_eq!(head.framed.content_length, Some(3));
    }

    #[test]
    fn broken_request_lines_are_read_leniently() {
        let wire = b"OPTIONS HTTP/1.1\r\nHost: h\r\n\r\n";
        let Parsed::Complete(head, len) = parse_request(wire, Timestamp(0)) else {
            panic!("not parsed")
        };
        assert_eq!(len, wire.len());
        assert!(head.malformed);
        assert_eq!(
            (head.request.method.as_str(), head.request.path.as_str()),
            ("OPTIONS", "HTTP/1.1")
        );
        assert_eq!(head.request.authority.as_deref(), Some("h"));
        assert!(matches!(
            parse_request(b"GET / HTTP/1.\r\nHost: h\r\n", Timestamp(0)),
            Parsed::Partial
        ));
        assert!(matches!(
            parse_request(b"OPTIONSHTTP/1.1\r\n\r\n", Timestamp(0)),
            Parsed::Invalid
        ));
        assert!(matches!(
            parse_request(b"{GET} / HTTP/1.1\r\n\r\n", Timestamp(0)),
            Parsed::Invalid
        ));
    }

    #[test]
    fn contradictory_lengths_are_flagged() {
        let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n";
        let Parsed::Complete(head, _) = parse_response(wire, Timestamp(0)) else {
            panic!("not parsed")
        };
        assert!(head.framed.bad_length);
        let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\n";
        let Parsed::Complete(head, _) = parse_response(wire, Timestamp(0)) else {
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
        let Parsed::Complete(head, _) = parse_response(wire, Timestamp(0)) else {
            panic!("not parsed")
        };
        assert!(head.framed.chunked);
        let wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\nContent-Length: 1\r\n\r\n";
        let Parsed::Complete(head, _) = parse_response(wire, Timestamp(0)) else {
            panic!("not parsed")
        };
        assert!(!head.framed.transfer_encoding && head.framed.content_length == Some(1));
        let wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n";
        let Parsed::Complete(head, _) = parse_response(wire, Timestamp(0)) else {
            panic!("not parsed")
        };
        assert!(head.framed.transfer_encoding && !head.framed.chunked);
    }
}
