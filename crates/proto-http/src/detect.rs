//! Protocol detection from the first bytes of a connection, and the
//! per-connection parser that dispatches to HTTP/1 or HTTP/2 once it knows.

use std::sync::Arc;

use capture_core::DropReason;
use capture_core::model::{CloseReason, ConnMeta, Direction, Role, Timestamp};
use capture_core::stage::{Output, Parser};

use crate::config::HttpConfig;
use crate::h2::H2Parser;
use crate::http1::Http1;

/// The HTTP/2 client connection preface.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Bytes of one direction looked at, at most, to decide.
const DETECT_MAX: usize = 64;
/// Bytes kept, at most, while neither direction has shown its protocol.
const UNDETECTED_MAX: usize = 16 * 1024;
/// CONNECT tunnels followed inside one another on one connection; the
/// bytes of a deeper one are counted as unparsed.
const MAX_TUNNELS: u8 = 4;
/// Longest method token accepted by detection.
const METHOD_MAX: usize = 32;

/// What the first bytes of a direction are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Detected {
    /// Too few bytes to tell.
    NeedMore,
    /// An HTTP/1 request line (method token and a space).
    Request,
    /// An HTTP/1 status line.
    Response,
    /// The HTTP/2 client preface.
    H2Preface,
    /// HTTP/2 frames without a preface.
    H2Frames,
    /// A TLS record.
    Tls,
    /// Something else.
    Unknown,
}

fn tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Classifies the first bytes of one direction.
pub(crate) fn detect(bytes: &[u8]) -> Detected {
    // Empty lines before a start line are skipped (RFC 9112 §2.2: some
    // clients send a CRLF after a body, and the next request starts a
    // connection's capture just as well).
    let blank = bytes
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    if blank > 0
        && let v @ (Detected::Request | Detected::Response | Detected::NeedMore) =
            detect_start(bytes.get(blank..).unwrap_or_default())
    {
        return v;
    }
    detect_start(bytes)
}

/// Classifies bytes that start where a message would.
fn detect_start(bytes: &[u8]) -> Detected {
    let Some(&first) = bytes.first() else {
        return Detected::NeedMore;
    };
    if bytes.len() < PREFACE.len() && PREFACE.starts_with(bytes) {
        return Detected::NeedMore;
    }
    if bytes.starts_with(PREFACE) {
        return Detected::H2Preface;
    }
    let status = b"HTTP/1.";
    if bytes.len() < status.len() && status.starts_with(bytes) {
        return Detected::NeedMore;
    }
    if bytes.starts_with(status) {
        return Detected::Response;
    }
    if (0x14..=0x17).contains(&first) {
        match bytes.get(1) {
            None => return Detected::NeedMore,
            Some(3) => return Detected::Tls,
            Some(_) => {}
        }
    }
    if first.is_ascii_uppercase() {
        let token = bytes
            .iter()
            .take(METHOD_MAX + 1)
            .take_while(|&&b| tchar(b))
            .count();
        match bytes.get(token) {
            Some(b' ') if token <= METHOD_MAX => return Detected::Request,
            None if token <= METHOD_MAX => return Detected::NeedMore,
            _ => {}
        }
    }
    if H2Parser::looks_like_frames(bytes) {
        return Detected::H2Frames;
    }
    if bytes.len() < 9 {
        // An HTTP/2 frame header is 9 bytes.
        return Detected::NeedMore;
    }
    Detected::Unknown
}

/// Bytes seen before the protocol was known, replayed after.
enum Event {
    Data(Direction, Timestamp, Vec<u8>),
}

#[derive(Default)]
struct Undetected {
    events: Vec<Event>,
    /// Bytes in `events`.
    buffered: usize,
    /// The first bytes of each direction, up to [`DETECT_MAX`].
    seen: [Vec<u8>; 2],
    /// Directions whose first bytes are not HTTP.
    unknown: [bool; 2],
}

enum State {
    Undetected(Undetected),
    Http1(Box<Http1>),
    H2(Box<H2Parser>),
    /// Not HTTP (TLS, unknown binary): bytes are counted as unparsed.
    Ignored,
}

/// The HTTP state of one connection: detects HTTP/1 or HTTP/2 from the
/// first bytes of either direction, then parses it; anything else (TLS,
/// unknown binary) is ignored and its bytes counted as
/// [`DropReason::UnparsedBytes`].
pub struct HttpParser {
    config: Arc<HttpConfig>,
    state: State,
    /// CONNECT tunnels entered so far (nested in one another).
    tunnels: u8,
}

impl HttpParser {
    /// A parser for a new connection.
    pub fn new(config: Arc<HttpConfig>) -> Self {
        Self {
            config,
            state: State::Undetected(Undetected::default()),
            tunnels: 0,
        }
    }

    /// The name of the protocol detected so far: `"undetected"`, `"http/1"`,
    /// `"h2"` or `"ignored"`.
    pub fn detected(&self) -> &'static str {
        match self.state {
            State::Undetected(_) => "undetected",
            State::Http1(_) => "http/1",
            State::H2(_) => "h2",
            State::Ignored => "ignored",
        }
    }

    fn decide(&mut self, meta: &ConnMeta, dir: Direction, verdict: Detected) -> State {
        let config = &self.config;
        match verdict {
            Detected::Request => {
                State::Http1(Box::new(Http1::new(config.clone(), dir, meta.mid_stream)))
            }
            Detected::Response => State::Http1(Box::new(Http1::new(
                config.clone(),
                dir.reverse(),
                meta.mid_stream,
            ))),
            Detected::H2Preface => State::H2(Box::new(H2Parser::new(&config.h2, meta))),
            Detected::H2Frames => {
                State::H2(Box::new(H2Parser::joined_mid_stream(&config.h2, meta)))
            }
            Detected::Tls => State::Ignored,
            Detected::Unknown | Detected::NeedMore => {
                // A tunnel's start is seen even on a connection joined late.
                if meta.mid_stream && self.tunnels == 0 {
                    State::Http1(Box::new(Http1::lost(config.clone())))
                } else {
                    State::Ignored
                }
            }
        }
    }

    /// Switches to `state` and replays what was seen before.
    fn enter(&mut self, meta: &ConnMeta, state: State, out: &mut Output<'_>) {
        let old = std::mem::replace(&mut self.state, state);
        let State::Undetected(u) = old else { return };
        // Consecutive pieces of one direction are handed over as one.
        let mut merged: Vec<Event> = Vec::with_capacity(u.events.len());
        for event in u.events {
            let Event::Data(dir, ts, bytes) = event;
            match merged.last_mut() {
                Some(Event::Data(last_dir, _, last)) if *last_dir == dir => {
                    last.extend_from_slice(&bytes)
                }
                _ => merged.push(Event::Data(dir, ts, bytes)),
            }
        }
        for Event::Data(dir, ts, bytes) in merged {
            self.parse(meta, dir, ts, &bytes, out);
        }
    }

    /// Hands bytes to the detected protocol.
    fn parse(
        &mut self,
        meta: &ConnMeta,
        dir: Direction,
        ts: Timestamp,
        bytes: &[u8],
        out: &mut Output<'_>,
    ) {
        let switch = match &mut self.state {
            State::Http1(h1) => h1.data(meta, dir, ts, bytes, out),
            State::H2(h2) => return h2.data(meta, dir, ts, bytes, out),
            State::Ignored => {
                return out.dropped(DropReason::UnparsedBytes, bytes.len() as u64);
            }
            State::Undetected(_) => return,
        };
        let Some(switch) = switch else { return };
        let client = switch.roles.direction_of(Role::Client);
        let rest = bytes.get(switch.server_offset..).filter(|r| !r.is_empty());
        match switch.h2c_request {
            Some(request) => {
                let mut h2 = H2Parser::after_upgrade(&self.config.h2, meta, request, switch.roles);
                if !switch.client_bytes.is_empty() {
                    h2.data(meta, client, switch.client_ts, &switch.client_bytes, out);
                }
                if let Some(rest) = rest {
                    h2.data(meta, dir, ts, rest, out);
                }
                self.state = State::H2(Box::new(h2));
            }
            None if self.tunnels < MAX_TUNNELS => {
                // A CONNECT tunnel: its bytes are a new connection's start.
                self.tunnels += 1;
                self.state = State::Undetected(Undetected::default());
                if !switch.client_bytes.is_empty() {
                    self.data(meta, client, switch.client_ts, &switch.client_bytes, out);
                }
                if let Some(rest) = rest {
                    self.data(meta, dir, ts, rest, out);
                }
            }
            None => {
                let unparsed = switch.client_bytes.len() + rest.map_or(0, <[u8]>::len);
                out.dropped(DropReason::UnparsedBytes, unparsed as u64);
                self.state = State::Ignored;
            }
        }
    }

    fn parse_gap(
        &mut self,
        meta: &ConnMeta,
        dir: Direction,
        ts: Timestamp,
        len: u64,
        out: &mut Output<'_>,
    ) {
        match &mut self.state {
            State::Http1(h1) => h1.gap(meta, dir, len, out),
            State::H2(h2) => h2.gap(meta, dir, ts, len, out),
            State::Ignored | State::Undetected(_) => {}
        }
    }
}

impl Parser for HttpParser {
    fn data(
        &mut self,
        meta: &ConnMeta,
        dir: Direction,
        ts: Timestamp,
        bytes: &[u8],
        out: &mut Output<'_>,
    ) {
        let State::Undetected(u) = &mut self.state else {
            return self.parse(meta, dir, ts, bytes, out);
        };
        if bytes.is_empty() {
            return;
        }
        let [a, b] = &mut u.seen;
        let seen = if dir == Direction::ClientToServer {
            a
        } else {
            b
        };
        let verdict = if seen.is_empty() {
            detect(bytes)
        } else {
            let room = DETECT_MAX.saturating_sub(seen.len()).min(bytes.len());
            seen.extend_from_slice(bytes.get(..room).unwrap_or_default());
            detect(seen)
        };
        let verdict = match verdict {
            Detected::NeedMore if seen.len() >= DETECT_MAX => Detected::Unknown,
            v => v,
        };
        let decisive = !matches!(verdict, Detected::NeedMore | Detected::Unknown);
        let both_unknown = verdict == Detected::Unknown
            && u.unknown
                .get(dir.reverse().index())
                .copied()
                .unwrap_or(false);
        if decisive || both_unknown {
            // What this direction sent before is replayed together with
            // these bytes, so the parser sees the start in one piece.
            let replay = !u.events.is_empty();
            if replay {
                u.events.push(Event::Data(dir, ts, bytes.to_vec()));
            }
            let state = self.decide(meta, dir, verdict);
            self.enter(meta, state, out);
            if !replay {
                self.parse(meta, dir, ts, bytes, out);
            }
            return;
        }
        // Not known yet, or not HTTP in this direction while the other one
        // may still tell (a malformed request answered by a status line):
        // keep the bytes, within bounds.
        if seen.is_empty() {
            let room = DETECT_MAX.min(bytes.len());
            seen.extend_from_slice(bytes.get(..room).unwrap_or_default());
        }
        if verdict == Detected::Unknown
            && let Some(flag) = u.unknown.get_mut(dir.index())
        {
            *flag = true;
        }
        u.buffered += bytes.len();
        u.events.push(Event::Data(dir, ts, bytes.to_vec()));
        if u.buffered > UNDETECTED_MAX || u.events.len() > 64 {
            let state = self.decide(meta, dir, Detected::Unknown);
            self.enter(meta, state, out);
        }
    }

    fn gap(
        &mut self,
        meta: &ConnMeta,
        dir: Direction,
        ts: Timestamp,
        len: u64,
        out: &mut Output<'_>,
    ) {
        if let State::Undetected(_) = self.state {
            // Bytes lost before the protocol was known: what follows starts
            // mid-message, so look for the next HTTP/1 start line.
            let state = State::Http1(Box::new(Http1::lost(self.config.clone())));
            self.enter(meta, state, out);
        }
        self.parse_gap(meta, dir, ts, len, out);
    }

    fn close(&mut self, meta: &ConnMeta, ts: Timestamp, reason: CloseReason, out: &mut Output<'_>) {
        match &mut self.state {
            State::Undetected(u) => {
                let n: usize = u
                    .events
                    .iter()
                    .map(|e| match e {
                        Event::Data(_, _, b) => b.len(),
                    })
                    .sum();
                out.dropped(DropReason::UnparsedBytes, n as u64);
                u.events.clear();
            }
            State::Http1(h1) => h1.close(meta, reason, out),
            State::H2(h2) => h2.close(meta, ts, reason, out),
            State::Ignored => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_bytes_are_classified() {
        assert_eq!(detect(b"GET / HTTP/1.1\r\n"), Detected::Request);
        assert_eq!(detect(b"GE"), Detected::NeedMore);
        assert_eq!(detect(b"M-SEARCH * HTTP/1.1"), Detected::Request);
        assert_eq!(detect(b"HTTP/1.1 200 OK"), Detected::Response);
        assert_eq!(detect(b"HTTP"), Detected::NeedMore);
        assert_eq!(detect(b"PRI * HTTP/2.0\r\n"), Detected::NeedMore);
        assert_eq!(detect(PREFACE), Detected::H2Preface);
        assert_eq!(detect(b"\x16\x03\x01\x02\x00"), Detected::Tls);
        assert_eq!(detect(b"\x16"), Detected::NeedMore);
        assert_eq!(
            detect(b"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09"),
            Detected::Unknown
        );
        assert_eq!(detect(b"SSH-2.0-OpenSSH_9.6\r\n"), Detected::Unknown);
        assert_eq!(detect(b"\r\nGET / HTTP/1.1\r\n"), Detected::Request);
        assert_eq!(detect(b"\r\n\r\nHTTP/1.1 200 OK"), Detected::Response);
        assert_eq!(detect(b"\r\n"), Detected::NeedMore);
        assert_eq!(
            detect(b"\r\n\x00\x01\x02\x03\x04\x05\x06\x07\x08"),
            Detected::Unknown
        );
    }
}
