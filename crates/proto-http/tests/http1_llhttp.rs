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
//! Bytes are compared exactly (llhttp's runner reads its markdown and
//! prints its spans as Latin-1, one byte per character). A message of
//! cleartap's is clean unless flagged `malformed`, `incomplete` or
//! `ambiguous_framing`: a message llhttp refuses must carry one of them.
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
    /// Ended cleanly (llhttp: `message complete`; cleartap: not flagged
    /// malformed, incomplete or ambiguous_framing).
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
/// ends removed, line ends made CRLF, each character one byte (Latin-1, as
/// Node's `Buffer.from(s, 'latin1')`), then `\r \n \t \f \xHH \NNN` decoded.
fn unescape_input(block: &str) -> Vec<u8> {
    let joined = block.replace("\\\n", "");
    let crlf = joined.replace('\n', "\r\n");
    let latin1: Vec<u8> = crlf.chars().map(|c| (u32::from(c) & 0xff) as u8).collect();
    let b = latin1.as_slice();
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

/// A span's bytes as llhttp's fixture prints them: raw between quotes, a
/// lone LF or CR as `lf` or `cr`, tabs and form feeds written `\t`, `\f`
/// (which its runner turns back before comparing), and each byte as the
/// Latin-1 character it is (its runner decodes spans as `latin1`).
fn unquote(s: &str) -> Vec<u8> {
    match s.trim() {
        "lf" => return b"\n".to_vec(),
        "cr" => return b"\r".to_vec(),
        _ => {}
    }
    let s = s.trim();
    let s = s.strip_prefix('"').unwrap_or(s);
    let s = s.strip_suffix('"').unwrap_or(s);
    let s = s.replace("\\t", "\t").replace("\\f", "\x0c");
    let mut out = Vec::with_capacity(s.len());
    for c in s.chars() {
        match u8::try_from(u32::from(c)) {
            Ok(b) => out.push(b),
            // Not Latin-1: not a byte llhttp's runner printed; kept as written.
            Err(_) => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
    out
}

/// Bytes as text, one character per byte (Latin-1), as llhttp's fixture
/// prints them: exact, whatever is not UTF-8.
fn latin1(v: &[u8]) -> String {
    v.iter().copied().map(char::from).collect()
}

/// A header value compared as a recipient may read it: whitespace runs
/// (obs-folds included) as one space, none at the ends.
fn collapse(v: &[u8]) -> String {
    latin1(v)
        .split([' ', '\t', '\r', '\n'])
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
                            m.headers.push((latin1(&field), collapse(&value)));
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
                    m.headers.push((latin1(&field), collapse(&value)));
                }
                m.start = if method.is_empty() {
                    rest.split_once("status=")
                        .and_then(|(_, s)| s.split(' ').next())
                        .unwrap_or("")
                        .to_owned()
                } else {
                    format!("{} {}", latin1(&method), latin1(&url))
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
                m.headers.push((latin1(&field), collapse(&value)));
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
    capture_core::testkit::meta("10.0.0.1:40000", "10.0.0.2:80")
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

/// The one place that reads cleartap's exchange model. A message is clean
/// when no flag says it is not what a strict parser would accept:
/// malformed, incomplete, or framed ambiguously.
fn message_of(e: &Exchange, response: bool) -> Option<Message> {
    let clean = ![Flag::Malformed, Flag::Incomplete, Flag::AmbiguousFraming]
        .iter()
        .any(|&f| e.has_flag(f));
    // llhttp reports trailer fields as more header fields.
    let headers = |h: &Headers, t: &Headers| {
        h.iter()
            .chain(t)
            .map(|h| {
                let name = latin1(h.name().as_bytes());
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
                latin1(r.method().as_bytes()),
                latin1(r.path().as_bytes())
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

/// Why a listed case differs: none is cleartap being wrong; each is
/// llhttp's strict mode, a leniency of llhttp no common server shares, or
/// a sniffer's deliberate reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Why {
    /// llhttp's lenient flags read it as cleartap does; cleartap also says it is not valid.
    Flagged,
    /// llhttp strict refuses an obs-fold that cleartap folds (and flags when it reads as framing).
    FoldRefused,
    /// llhttp strict refuses what lenient servers accept (nginx, Apache, llhttp's own lenient flags).
    StrictOnly,
    /// lines ended by a bare LF.
    BareLf,
    /// llhttp's optional-lf-after-cr leniency reads a lone CR as a line end; no common server does, nor does cleartap.
    BareCr,
    /// llhttp's lenient mode reads LF LF after the last chunk as one line end.
    LfLf,
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
            Why::Flagged => {
                "llhttp's lenient flags (lenient-headers, header-value-relaxed) read the message as cleartap does; cleartap also flags it — malformed for an invalid field line, ambiguous_framing for a framing field written with a space before its colon or folded — as strict servers (nginx, Go, Apache's default) refuse it with 400"
            }
            Why::FoldRefused => {
                "llhttp strict refuses an obs-fold in a request (as nginx does); RFC 9112 §5.2 lets a server fold it instead (Apache, Go, llhttp's lenient mode, which agrees with cleartap): cleartap folds, and flags the message ambiguous_framing when the folded line reads as a framing field, so the request after it may be a smuggled one"
            }
            Why::StrictOnly => {
                "llhttp strict refuses what lenient servers accept (nginx, Apache, llhttp's own lenient flags): unknown methods, extra spaces, chunk-size oddities, data after `Connection: close`; a sniffer reports what the server read"
            }
            Why::BareLf => {
                "lines ended by a bare LF: RFC 9112 §2.2 lets a recipient accept them, and nginx, Apache and Node's lenient mode do; cleartap reads them so (llhttp strict refuses)"
            }
            Why::BareCr => {
                "llhttp's optional-lf-after-cr leniency reads a lone CR as a line end; no common server does, nor does cleartap"
            }
            Why::LfLf => {
                "llhttp's lenient mode reads LF LF after the last chunk's size as one line end, so the line after is a trailer to it; RFC 9112 §7.1 (and nginx) read an empty line there, which ends the message, as cleartap does"
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
        "request/lenient-header-value-relaxed.md",
        "Control char in header value (relaxed)",
        Why::Flagged,
    ),
    (
        "request/invalid.md",
        "Spaces before headers (lenient)",
        Why::Flagged,
    ),
    (
        "request/connection.md",
        "Invalid whitespace token with `Connection` header field (lenient)",
        Why::Flagged,
    ),
    (
        "request/content-length.md",
        "Invalid whitespace token with `Content-Length` header field (lenient)",
        Why::Flagged,
    ),
    (
        "request/lenient-headers.md",
        "Header value (lenient)",
        Why::Flagged,
    ),
    (
        "request/lenient-headers.md",
        "Second request header value (lenient)",
        Why::Flagged,
    ),
    (
        "request/invalid.md",
        "Spaces before headers",
        Why::FoldRefused,
    ),
    (
        "request/sample.md",
        "Line folding in header value with LF",
        Why::BareLf,
    ),
    (
        "request/invalid.md",
        "Only LFs present (lenient)",
        Why::LfLf,
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
            (Some(d), Some((_, _, why))) => by_class
                .entry(why.reason())
                .or_default()
                .push(format!("{} / {}\n          {d}", case.file, case.name)),
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
