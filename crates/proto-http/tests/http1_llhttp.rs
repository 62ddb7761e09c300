//! cleartap's HTTP/1 parser against llhttp's test suite (Node.js's HTTP
//! parser; its cases are markdown, MIT, in `../shared/corpora/llhttp/`;
//! the test skips, saying so, when it is absent).
//!
//! Each case is an input and the callbacks llhttp makes on it. The input is
//! fed to cleartap as one direction of a connection (a response after as
//! many `GET` requests as llhttp sees messages), the connection closed, and
//! the messages compared: start line, header fields, body, and whether the
//! message ended cleanly. A header value is compared with its whitespace
//! runs (and obs-folds) collapsed, as RFC 9112 §5.2 lets a recipient do.
//!
//! Every case either agrees, or is listed in [`DIFFERENCES`] with the class
//! of its difference and why cleartap differs; the test fails on any other
//! difference, and on a listed case that now agrees (so the list stays
//! true). llhttp runs strict by default; a passive sniffer must read what
//! the server it watches read, which is usually the lenient reading.
#![allow(clippy::indexing_slicing, clippy::print_stdout)]

use std::collections::BTreeMap;

use capture_core::model::*;
use capture_core::stage::{Output, Parser, ParserFactory as _};
use capture_core::stats::Counters;
use capture_core::testkit::SharedFiles;
use proto_http::{HttpConfig, HttpProtocol};

/// One message as either parser saw it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Message {
    /// `METHOD url` or the status code.
    start: String,
    /// Header fields, values with whitespace runs collapsed.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Ended cleanly (llhttp: `message complete`; cleartap: neither
    /// malformed nor incomplete).
    complete: bool,
}

/// What llhttp reported for one case.
#[derive(Debug, Default)]
struct Expected {
    messages: Vec<Message>,
    /// `error code=N reason=…` that stopped it, if any (pauses excluded).
    error: Option<String>,
    /// llhttp paused on an upgrade or CONNECT: the bytes after are not HTTP/1.
    paused: bool,
}

/// One test of llhttp's markdown.
struct Case {
    file: String,
    name: String,
    kind: String,
    /// llhttp's callbacks change the parse (`skipBody`): no wire meaning.
    api_only: bool,
    input: Vec<u8>,
    log: String,
}

/// The tests of one markdown file: a `<!-- meta=… -->` line, an ```` ```http ````
/// block and a ```` ```log ```` block, under the nearest heading.
fn cases_of(file: &str, text: &str) -> Vec<Case> {
    let mut out = Vec::new();
    let mut heading = String::new();
    let mut kind: Option<String> = None;
    let mut api_only = false;
    let mut input: Option<Vec<u8>> = None;
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some(h) = line.strip_prefix('#') {
            heading = h.trim_start_matches('#').trim().to_owned();
        } else if let Some(meta) = line.trim().strip_prefix("<!-- meta=") {
            let json = meta.trim_end_matches("-->").trim();
            let v: serde_json::Value = serde_json::from_str(json).unwrap();
            kind = v["type"].as_str().map(str::to_owned);
            api_only = v.get("skipBody").is_some();
        } else if line.starts_with("```http") || line.starts_with("```log") {
            let mut block = Vec::new();
            for l in lines.by_ref() {
                if l.starts_with("```") {
                    break;
                }
                block.push(l);
            }
            let block = block.join("\n");
            if line.starts_with("```http") {
                input = Some(unescape_input(&block));
            } else if let (Some(k), Some(i)) = (kind.take(), input.take()) {
                out.push(Case {
                    file: file.to_owned(),
                    name: heading.clone(),
                    kind: k,
                    api_only,
                    input: i,
                    log: block,
                });
            }
        }
    }
    out
}

/// The input as llhttp's runner builds it (test/md-test.ts): escaped line
/// ends removed, line ends made CRLF, then `\r \n \t \f \xHH \NNN` decoded.
fn unescape_input(block: &str) -> Vec<u8> {
    let joined = block.replace("\\\n", "");
    let crlf = joined.replace('\n', "\r\n");
    let b = crlf.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            let c = b[i + 1];
            let simple = match c {
                b'r' => Some(b'\r'),
                b'n' => Some(b'\n'),
                b't' => Some(b'\t'),
                b'f' => Some(0x0c),
                _ => None,
            };
            if let Some(s) = simple {
                out.push(s);
                i += 2;
                continue;
            }
            if c == b'x' {
                let hex: Vec<u8> = b[i + 2..]
                    .iter()
                    .copied()
                    .take_while(u8::is_ascii_hexdigit)
                    .collect();
                if !hex.is_empty() {
                    let v = u32::from_str_radix(std::str::from_utf8(&hex).unwrap(), 16).unwrap();
                    out.push(v as u8);
                    i += 2 + hex.len();
                    continue;
                }
            }
            let oct: Vec<u8> = b[i + 1..]
                .iter()
                .copied()
                .take(3)
                .take_while(|d| (b'0'..=b'7').contains(d))
                .collect();
            if !oct.is_empty() {
                let v = u32::from_str_radix(std::str::from_utf8(&oct).unwrap(), 8).unwrap();
                out.push(v as u8);
                i += 1 + oct.len();
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// A span's text as llhttp's fixture prints it: raw between quotes, a
/// lone LF or CR as `lf` or `cr`, and tabs and form feeds written `\t`,
/// `\f` (which its runner turns back before comparing).
fn unquote(s: &str) -> Vec<u8> {
    match s.trim() {
        "lf" => return b"\n".to_vec(),
        "cr" => return b"\r".to_vec(),
        _ => {}
    }
    let s = s.trim();
    let s = s.strip_prefix('"').unwrap_or(s);
    let s = s.strip_suffix('"').unwrap_or(s);
    s.replace("\\t", "\t").replace("\\f", "\x0c").into_bytes()
}

/// A header value compared as a recipient may read it: whitespace runs
/// (obs-folds included) as one space, none at the ends.
fn collapse(v: &[u8]) -> String {
    let text = String::from_utf8_lossy(v);
    text.split([' ', '\t', '\r', '\n'])
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// llhttp's messages, from its callback log.
fn expected(log: &str) -> Expected {
    let mut e = Expected::default();
    let mut cur: Option<Message> = None;
    let (mut method, mut url, mut status) = (Vec::new(), Vec::new(), Vec::new());
    let (mut field, mut value) = (Vec::new(), Vec::new());
    let mut in_value = false;
    for line in log.lines() {
        let rest = line.split_once(' ').map_or("", |(_, r)| r);
        let rest = match rest.strip_prefix("len=") {
            Some(r) => r.split_once(' ').map_or("", |(_, r)| r),
            None => rest,
        };
        if rest == "message begin" {
            cur = Some(Message::default());
            method.clear();
            url.clear();
            status.clear();
        } else if let Some(span) = rest.strip_prefix("span[") {
            let (name, text) = span.split_once("]=").unwrap();
            let bytes = unquote(text);
            match name {
                "method" => method.extend(bytes),
                "url" => url.extend(bytes),
                "status" => status.extend(bytes),
                "header_field" => {
                    if in_value {
                        if let Some(m) = cur.as_mut() {
                            m.headers.push((
                                String::from_utf8_lossy(&field).into_owned(),
                                collapse(&value),
                            ));
                        }
                        field.clear();
                        value.clear();
                        in_value = false;
                    }
                    field.extend(bytes);
                }
                "header_value" => {
                    in_value = true;
                    value.extend(bytes);
                }
                "body" => {
                    if let Some(m) = cur.as_mut() {
                        m.body.extend(bytes);
                    }
                }
                _ => {}
            }
        } else if rest == "header_value complete" {
            // A value's spans end here; an obs-fold continues it with more spans
            // before the next field, so the field is closed at the next name.
            in_value = true;
        } else if rest.starts_with("headers complete") {
            if let Some(m) = cur.as_mut() {
                if in_value || !field.is_empty() {
                    m.headers.push((
                        String::from_utf8_lossy(&field).into_owned(),
                        collapse(&value),
                    ));
                }
                m.start = if method.is_empty() {
                    rest.split_once("status=")
                        .and_then(|(_, s)| s.split(' ').next())
                        .unwrap_or("")
                        .to_owned()
                } else {
                    format!(
                        "{} {}",
                        String::from_utf8_lossy(&method),
                        String::from_utf8_lossy(&url)
                    )
                };
            }
            field.clear();
            value.clear();
            in_value = false;
        } else if rest == "message complete" {
            // Trailer fields end with the message, not with `headers complete`.
            if let Some(m) = cur.as_mut()
                && (in_value || !field.is_empty())
            {
                m.headers.push((
                    String::from_utf8_lossy(&field).into_owned(),
                    collapse(&value),
                ));
                field.clear();
                value.clear();
                in_value = false;
            }
            if let Some(mut m) = cur.take() {
                m.complete = true;
                e.messages.push(m);
            }
        } else if let Some(err) = rest.strip_prefix("error ") {
            if err.contains("Pause on") {
                e.paused = true;
            } else {
                e.error = Some(err.to_owned());
            }
            if let Some(m) = cur.take() {
                e.messages.push(m);
            }
            break;
        }
    }
    if let Some(m) = cur.take() {
        e.messages.push(m);
    }
    e
}

fn meta() -> ConnMeta {
    ConnMeta::new(
        ConnKey::new(
            "10.0.0.1:40000".parse().unwrap(),
            "10.0.0.2:80".parse().unwrap(),
            NetnsId::UNKNOWN,
        ),
        CaptureSource::Pcap,
        Timestamp(0),
    )
}

/// cleartap's messages for one case: the requests, or the responses.
fn cleartap(case: &Case, expected_messages: usize) -> Vec<Message> {
    let meta = meta();
    let protocol = HttpProtocol::new(HttpConfig::default());
    let mut parser = protocol.parser(&meta);
    let counters = Counters::default();
    let mut exchanges = Vec::new();
    let mut out = Output::new(&mut exchanges, &counters);
    let response = case.kind.starts_with("response");
    if response {
        for _ in 0..expected_messages.max(1) {
            let get = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
            parser.data(
                &meta,
                Direction::ClientToServer,
                Timestamp(1),
                get,
                &mut out,
            );
        }
        parser.data(
            &meta,
            Direction::ServerToClient,
            Timestamp(2),
            &case.input,
            &mut out,
        );
    } else {
        parser.data(
            &meta,
            Direction::ClientToServer,
            Timestamp(1),
            &case.input,
            &mut out,
        );
    }
    parser.close(&meta, Timestamp(3), CloseReason::Fin, &mut out);
    exchanges
        .iter()
        .filter_map(|e| message_of(e, response))
        .collect()
}

/// The one place that reads cleartap's exchange model.
fn message_of(e: &Exchange, response: bool) -> Option<Message> {
    let clean = !e.has_flag(Flag::Malformed) && !e.has_flag(Flag::Incomplete);
    // llhttp reports trailer fields as more header fields.
    let headers = |h: &Headers, t: &Headers| {
        h.iter()
            .chain(t)
            .map(|h| {
                let name = String::from_utf8_lossy(h.name().as_bytes()).into_owned();
                (name, collapse(h.value().as_bytes()))
            })
            .collect()
    };
    if response {
        let r = e.response.as_ref()?;
        Some(Message {
            start: r.status.to_string(),
            headers: headers(r.headers(), &r.trailers),
            body: r.body.data.to_vec(),
            complete: clean,
        })
    } else {
        let r = e.request.as_ref()?;
        Some(Message {
            start: format!(
                "{} {}",
                String::from_utf8_lossy(r.method().as_bytes()),
                String::from_utf8_lossy(r.path().as_bytes())
            ),
            headers: headers(r.headers(), &r.trailers),
            body: r.body.data.to_vec(),
            complete: clean,
        })
    }
}

/// How cleartap's messages differ from llhttp's; `None` when they agree.
///
/// Interim responses (1xx but 101) are not exchanges in cleartap and are
/// left out of llhttp's list. llhttp's runner never signals the end of
/// input (except in `-finish` cases), so a last message whose body runs to
/// the close stays open there; cleartap closes the connection, and such a
/// message is compared on its start, headers and body alone.
fn difference(e: &Expected, ours: &[Message]) -> Option<String> {
    let interim = |m: &Message| m.start.len() == 3 && m.start.starts_with('1') && m.start != "101";
    let messages: Vec<Message> = e.messages.iter().filter(|m| !interim(m)).cloned().collect();
    let e = &Expected {
        messages,
        error: e.error.clone(),
        paused: e.paused,
    };
    if e.error.is_none()
        && let Some(last) = e.messages.last()
        && !last.complete
        && !last.start.is_empty()
    {
        let i = e.messages.len() - 1;
        let open = |m: &Message| (m.start.clone(), m.headers.clone(), m.body.clone());
        match ours.get(i) {
            Some(got) if open(got) == open(last) => {}
            other => {
                return Some(format!(
                    "message {i} (to the close): llhttp {last:?}, cleartap {other:?}"
                ));
            }
        }
        if let Some(d) = difference_complete(e, ours, i) {
            return Some(d);
        }
        return None;
    }
    difference_complete(e, ours, usize::MAX)
}

/// The rule for messages llhttp completed, and for what follows them.
fn difference_complete(e: &Expected, ours: &[Message], open: usize) -> Option<String> {
    // Messages llhttp completed must be ours too, exactly and cleanly.
    for (i, want) in e.messages.iter().enumerate().filter(|(_, m)| m.complete) {
        if i == open {
            continue;
        }
        match ours.get(i) {
            Some(got) if got == want => {}
            Some(got) => return Some(format!("message {i}: llhttp {want:?}, cleartap {got:?}")),
            None => return Some(format!("message {i}: llhttp {want:?}, cleartap none")),
        }
    }
    let done = e.messages.iter().filter(|m| m.complete).count() + usize::from(open != usize::MAX);
    // Whatever llhttp did not complete (an error, or input that ended
    // mid-message) must not be a clean message of ours; after a pause the
    // bytes are not HTTP/1 and are not compared.
    if !e.paused
        && let Some(extra) = ours.iter().skip(done).find(|m| m.complete)
    {
        return Some(format!(
            "llhttp {} after {done} message(s); cleartap completes {extra:?}",
            e.error.as_deref().unwrap_or("stops")
        ));
    }
    None
}

/// Why a listed case differs: the first seven are cleartap's to fix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Why {
    /// cleartap wrong (issue 14 point 5, to fix on model's HTTP/1 layering).
    InvalidHeaderLine,
    /// cleartap wrong (issue 14 point 5, to fix on model's HTTP/1 layering).
    ObsFold,
    /// cleartap wrong (issue 14 point 5, to fix on model's HTTP/1 layering).
    LeadingEmptyLines,
    /// cleartap wrong (issue 14 point 5, to fix on model's HTTP/1 layering).
    ChunkedNotLast,
    /// cleartap wrong (issue 14 point 5, to fix on model's HTTP/1 layering).
    AmbiguousFraming,
    /// cleartap wrong (to fix with the above).
    LostTrailer,
    /// model's (issue 15).
    LossyBytes,
    /// llhttp strict refuses what lenient servers accept (nginx, Apache, llhttp's own lenient flags).
    StrictOnly,
    /// lines ended by a bare LF.
    BareLf,
    /// llhttp's optional-lf-after-cr leniency reads a lone CR as a line end; no common server does, nor does cleartap.
    BareCr,
    /// RTSP, ICE and mistyped protocols are not HTTP.
    NotHttp,
    /// a request line without a version (HTTP/0.9) or with an unknown one, accepted by llhttp's lenient-version.
    Version,
    /// CONNECT with Content-Length.
    ConnectBody,
    /// the case uses llhttp's callback API (`skipBody`) to change the parse.
    LlhttpApi,
}

impl Why {
    fn reason(self) -> &'static str {
        match self {
            Why::InvalidHeaderLine => {
                "cleartap wrong (issue 14 point 5, to fix on model's HTTP/1 layering): an invalid header line (space before the colon, a bad byte or none in the name, a control byte in the value) disappears without a flag"
            }
            Why::ObsFold => {
                "cleartap wrong (issue 14 point 5, to fix on model's HTTP/1 layering): an obs-fold in a request is cut at the fold (responses keep it), and a folded Transfer-Encoding is taken as chunked"
            }
            Why::LeadingEmptyLines => {
                "cleartap wrong (issue 14 point 5, to fix on model's HTTP/1 layering): empty lines before a request line are not skipped (RFC 9112 §2.2)"
            }
            Why::ChunkedNotLast => {
                "cleartap wrong (issue 14 point 5, to fix on model's HTTP/1 layering): with chunked not the last transfer coding the body runs to the close (RFC 9112 §6.3)"
            }
            Why::AmbiguousFraming => {
                "cleartap wrong (issue 14 point 5, to fix on model's HTTP/1 layering): Transfer-Encoding with Content-Length is framed without a flag; it must be flagged (ambiguous_framing), as request smuggling looks so"
            }
            Why::LostTrailer => {
                "cleartap wrong (to fix with the above): the last trailer field of a chunked body whose lines end in bare LF is lost"
            }
            Why::LossyBytes => {
                "model's (issue 15): header values are held as lossy UTF-8 until the bytes model lands, so a 0xFF byte reads U+FFFD"
            }
            Why::StrictOnly => {
                "llhttp strict refuses what lenient servers accept (nginx, Apache, llhttp's own lenient flags): unknown methods, UTF-8 in the target, extra spaces, chunk-size oddities, data after `Connection: close`; a sniffer reports what the server read"
            }
            Why::BareLf => {
                "lines ended by a bare LF: RFC 9112 §2.2 lets a recipient accept them, and nginx, Apache and Node's lenient mode do; cleartap reads them so (llhttp strict refuses)"
            }
            Why::BareCr => {
                "llhttp's optional-lf-after-cr leniency reads a lone CR as a line end; no common server does, nor does cleartap"
            }
            Why::NotHttp => {
                "RTSP, ICE and mistyped protocols are not HTTP: cleartap reports a reply without an HTTP status line as HTTP/0.9 (status 0, flag http09) and leaves such requests open"
            }
            Why::Version => {
                "a request line without a version (HTTP/0.9) or with an unknown one, accepted by llhttp's lenient-version: cleartap keeps the message open (incomplete) rather than guess its framing"
            }
            Why::ConnectBody => {
                "CONNECT with Content-Length: llhttp stops at the head (a tunnel follows); cleartap frames the declared body, as RFC 9112 §6.3 frames any request, until a 2xx opens the tunnel"
            }
            Why::LlhttpApi => {
                "the case uses llhttp's callback API (`skipBody`) to change the parse: no meaning on the wire"
            }
        }
    }
}

/// Cases where cleartap and llhttp differ: (file, test heading, why).
const DIFFERENCES: &[(&str, &str, Why)] = &[
    (
        "request/connection.md",
        "Invalid whitespace token with `Connection` header field",
        Why::InvalidHeaderLine,
    ),
    (
        "request/content-length.md",
        "Invalid whitespace token with `Content-Length` header field",
        Why::InvalidHeaderLine,
    ),
    (
        "request/content-length.md",
        "Invalid whitespace token with `Content-Length` header field (lenient)",
        Why::InvalidHeaderLine,
    ),
    (
        "request/invalid.md",
        "Invalid header token #1",
        Why::InvalidHeaderLine,
    ),
    (
        "request/invalid.md",
        "Invalid header token #2",
        Why::InvalidHeaderLine,
    ),
    (
        "request/invalid.md",
        "Invalid header token #3",
        Why::InvalidHeaderLine,
    ),
    (
        "request/invalid.md",
        "Illegal header field name line folding",
        Why::InvalidHeaderLine,
    ),
    (
        "request/lenient-header-value-relaxed.md",
        "Control char in header value (strict)",
        Why::InvalidHeaderLine,
    ),
    (
        "request/lenient-headers.md",
        "Header value (lenient)",
        Why::InvalidHeaderLine,
    ),
    (
        "request/lenient-headers.md",
        "Second request header value (lenient)",
        Why::InvalidHeaderLine,
    ),
    (
        "request/lenient-headers.md",
        "Header value",
        Why::InvalidHeaderLine,
    ),
    (
        "response/sample.md",
        "Spaces in header name",
        Why::InvalidHeaderLine,
    ),
    ("request/invalid.md", "Spaces before headers", Why::ObsFold),
    (
        "request/sample.md",
        "Line folding in header value with CRLF",
        Why::ObsFold,
    ),
    (
        "request/sample.md",
        "Line folding in header value with LF",
        Why::ObsFold,
    ),
    (
        "request/transfer-encoding.md",
        "Invalid OBS fold after chunked value",
        Why::ObsFold,
    ),
    (
        "request/sample.md",
        "Prefix newline",
        Why::LeadingEmptyLines,
    ),
    (
        "request/sample.md",
        "Request starting with CRLF",
        Why::LeadingEmptyLines,
    ),
    (
        "request/transfer-encoding.md",
        "POST with `chunked` before other transfer-coding (lenient)",
        Why::ChunkedNotLast,
    ),
    (
        "request/transfer-encoding.md",
        "POST with `chunked` and duplicate transfer-encoding (lenient)",
        Why::ChunkedNotLast,
    ),
    (
        "response/transfer-encoding.md",
        "multiple transfer-encoding where chunked is not the last one",
        Why::ChunkedNotLast,
    ),
    (
        "request/transfer-encoding.md",
        "POST with `Transfer-Encoding` and `Content-Length`",
        Why::AmbiguousFraming,
    ),
    (
        "request/transfer-encoding.md",
        "POST with `Transfer-Encoding` and `Content-Length` (lenient)",
        Why::AmbiguousFraming,
    ),
    (
        "request/invalid.md",
        "Only LFs present (lenient)",
        Why::LostTrailer,
    ),
    (
        "request/sample.md",
        "255 ASCII in header value",
        Why::LossyBytes,
    ),
    (
        "request/connection.md",
        "No restart when keep-alive is off (1.0)",
        Why::StrictOnly,
    ),
    (
        "request/invalid.md",
        "HTTP protocol and ANNOUNCE method",
        Why::StrictOnly,
    ),
    ("request/invalid.md", "Invalid method", Why::StrictOnly),
    (
        "request/uri.md",
        "Disallow UTF-8 in URI path in strict mode",
        Why::StrictOnly,
    ),
    (
        "request/transfer-encoding.md",
        "No semicolon before chunk extensions",
        Why::StrictOnly,
    ),
    (
        "request/transfer-encoding.md",
        "No extension after semicolon",
        Why::StrictOnly,
    ),
    (
        "request/transfer-encoding.md",
        "Space after chunk header",
        Why::StrictOnly,
    ),
    (
        "response/transfer-encoding.md",
        "No semicolon before chunk extensions",
        Why::StrictOnly,
    ),
    (
        "response/transfer-encoding.md",
        "No extension after semicolon",
        Why::StrictOnly,
    ),
    (
        "response/transfer-encoding.md",
        "Trailing space on chunked body",
        Why::StrictOnly,
    ),
    (
        "response/invalid.md",
        "Extra space between HTTP version and status code",
        Why::StrictOnly,
    ),
    (
        "request/invalid.md",
        "Missing CR between headers",
        Why::BareLf,
    ),
    ("request/invalid.md", "Only LFs present", Why::BareLf),
    (
        "response/invalid.md",
        "Only LFs present and no body",
        Why::BareLf,
    ),
    ("response/invalid.md", "Only LFs present", Why::BareLf),
    ("response/sample.md", "No carriage ret", Why::BareLf),
    (
        "request/content-length.md",
        "Missing CRLF-CRLF before body (lenient)",
        Why::BareCr,
    ),
    (
        "request/invalid.md",
        "Headers separated by dummy characters (lenient)",
        Why::BareCr,
    ),
    (
        "request/lenient-headers.md",
        "Empty headers separated by CR (lenient)",
        Why::BareCr,
    ),
    (
        "request/transfer-encoding.md",
        "Chunk header not terminated by CRLF (lenient)",
        Why::BareCr,
    ),
    (
        "response/invalid.md",
        "Bare CR after response line (lenient)",
        Why::BareCr,
    ),
    ("request/method.md", "SOURCE request with ICE", Why::NotHttp),
    (
        "request/method.md",
        "OPTIONS request with RTSP",
        Why::NotHttp,
    ),
    (
        "request/method.md",
        "ANNOUNCE request with RTSP",
        Why::NotHttp,
    ),
    ("response/sample.md", "RTSP response", Why::NotHttp),
    ("response/sample.md", "ICE response", Why::NotHttp),
    (
        "response/invalid.md",
        "Incomplete HTTP protocol",
        Why::NotHttp,
    ),
    (
        "response/sample.md",
        "Error on invalid response start",
        Why::NotHttp,
    ),
    ("request/sample.md", "No HTTP version", Why::Version),
    (
        "request/lenient-version.md",
        "Invalid HTTP version (lenient)",
        Why::Version,
    ),
    (
        "response/lenient-version.md",
        "Invalid HTTP version (lenient)",
        Why::Version,
    ),
    ("response/sample.md", "HTTP version 0.9", Why::Version),
    ("request/method.md", "CONNECT with body", Why::ConnectBody),
    (
        "request/content-length.md",
        "Content-Length reset when no body is received",
        Why::LlhttpApi,
    ),
    (
        "response/content-length.md",
        "Content-Length reset when no body is received",
        Why::LlhttpApi,
    ),
];

#[test]
fn http1_agrees_with_llhttp_or_says_why_not() {
    let Some(dir) =
        SharedFiles::corpus_or_skip("http1_agrees_with_llhttp_or_says_why_not", "llhttp")
    else {
        return;
    };
    let mut cases = Vec::new();
    for sub in ["request", "response"] {
        let mut files: Vec<_> = std::fs::read_dir(dir.join(sub))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for path in files {
            let name = format!("{sub}/{}", path.file_name().unwrap().to_string_lossy());
            cases.extend(cases_of(&name, &std::fs::read_to_string(&path).unwrap()));
        }
    }
    let mut agree = 0;
    let mut by_class: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut unexplained = Vec::new();
    let mut stale = Vec::new();
    for case in &cases {
        let e = expected(&case.log);
        let ours = cleartap(case, e.messages.len());
        let diff = if case.api_only {
            Some("llhttp's callback API changes the parse".to_owned())
        } else {
            difference(&e, &ours)
        };
        let listed = DIFFERENCES
            .iter()
            .find(|(f, n, _)| *f == case.file && *n == case.name);
        match (diff, listed) {
            (None, None) => agree += 1,
            (None, Some(_)) => stale.push(format!("{} / {}", case.file, case.name)),
            (Some(d), None) => unexplained.push(format!(
                "{} / {} ({}): {d}",
                case.file, case.name, case.kind
            )),
            (Some(_), Some((_, _, why))) => by_class
                .entry(why.reason())
                .or_default()
                .push(format!("{} / {}", case.file, case.name)),
        }
    }
    println!(
        "{agree} of {} llhttp cases agree; the others, by reason:",
        cases.len()
    );
    for (why, list) in &by_class {
        println!("  {} — {why}", list.len());
        for c in list {
            println!("      {c}");
        }
    }
    assert!(cases.len() > 240, "only {} cases read", cases.len());
    assert!(stale.is_empty(), "listed but now agreeing: {stale:#?}");
    assert!(
        unexplained.is_empty(),
        "{} differences unexplained:\n{}",
        unexplained.len(),
        unexplained.join("\n")
    );
}
