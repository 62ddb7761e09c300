//! HTTP/1.x on one connection: heads by httparse, bodies by length, chunked
//! coding or close, responses paired with requests first-in first-out.
//!
//! Each direction is a [`Side`] that reads message heads and bodies; the
//! requests wait in a bounded queue of [`Entry`] until their response is
//! complete, then leave as one exchange, in order.

mod framing;
mod head;
mod resync;

use std::collections::VecDeque;
use std::sync::Arc;

use capture_core::DropReason;
use capture_core::model::{
    Body, BodyBuilder, CloseReason, ConnMeta, Direction, Exchange, Flag, Head, HeadBuilder,
    Protocol, Request, Response, Role, Roles, Timestamp,
};
use capture_core::stage::Output;

use crate::body::{self, Decoding};
use crate::config::HttpConfig;
use framing::Failure;
use framing::{Chunked, Framing, FramingError};
use head::{Parsed, RequestHead, ResponseHead};
use resync::StartLine;

/// Bytes scanned for a message start on a connection that never showed
/// one, before it is given up as not HTTP/1.
const GIVE_UP_AFTER: u64 = 1 << 20;
/// A partial start line is checked on every input while no longer than
/// this (and once complete whatever its length).
const EARLY_CHECK_MAX: usize = 256;
/// Partial line kept while resynchronising.
const RESYNC_LINE_MAX: usize = 8 * 1024;

/// The end of HTTP/1 on a connection that goes on in another protocol:
/// HTTP/2 after `Upgrade: h2c` and `101`, or whatever a `CONNECT` tunnel
/// carries after its `2xx`.
pub(crate) struct Switch {
    /// For h2c, the request that asked for the upgrade: HTTP/2 stream 1.
    /// `None` for a tunnel, whose protocol is detected afresh.
    pub h2c_request: Option<Request>,
    /// Who the client is (known: a request or status line was parsed).
    pub roles: Roles,
    /// Client bytes that followed the request (the HTTP/2 preface, or the
    /// start of the tunnel).
    pub client_bytes: Vec<u8>,
    /// Time of the first of `client_bytes`.
    pub client_ts: Timestamp,
    /// Offset in the input being parsed where the server's HTTP/2 bytes start.
    pub server_offset: usize,
}

/// What parsing some bytes led to.
enum Step {
    /// Input bytes used (possibly none when the state changed).
    Consumed(usize),
    /// The connection continues in another protocol from here.
    Switch(Switch),
}

#[derive(Debug)]
enum SideState {
    /// Expecting a message head; `Side::buf` holds a partial one.
    Head,
    /// Inside a body.
    Body(Framing),
    /// Lost sync: scanning for the next start line; `Side::buf` holds the partial line.
    Lost,
    /// Client side after an upgrade or CONNECT request: bytes are held until
    /// the response says which protocol they are.
    Held,
    /// No more HTTP/1 on this side (after an upgrade, or not HTTP at all).
    Stopped,
    /// Inside a head over the size limit, dropped up to its empty line.
    Oversized(Tail),
}

/// The last two bytes seen, to find a head's end across inputs.
#[derive(Clone, Copy, Debug, Default)]
struct Tail {
    bytes: [u8; 2],
    len: usize,
}

impl Tail {
    /// The last two bytes of `a ++ b`.
    fn of(a: &[u8], b: &[u8]) -> Self {
        let mut last = a.iter().chain(b).rev();
        match (last.next(), last.next()) {
            (Some(&y), Some(&x)) => Tail {
                bytes: [x, y],
                len: 2,
            },
            (Some(&y), None) => Tail {
                bytes: [y, 0],
                len: 1,
            },
            _ => Tail::default(),
        }
    }

    fn bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }
}

#[derive(Debug)]
struct Side {
    state: SideState,
    /// Partial head, partial resync line, or held bytes.
    buf: Vec<u8>,
    /// Time of the first byte in `buf`.
    buf_ts: Timestamp,
    /// Time of the latest bytes of this direction: where a message that
    /// ends now ends.
    last_ts: Timestamp,
    /// The queue entry the current message belongs to (`None`: discarded).
    target: Option<u64>,
    /// While lost: drop the rest of the current line before scanning (it
    /// held a start line that failed to parse).
    skip_line: bool,
    /// Client side: the server gave its final answer to an
    /// `Expect: 100-continue` request before any body byte, so the client
    /// may skip the body and send its next request instead. `buf` holds
    /// the first bytes until they tell which.
    body_optional: bool,
    /// The body of the current message, as read so far.
    body: BodyBuilder,
    /// The trailer fields of the current message (chunked coding).
    trailers: HeadBuilder,
}

impl Side {
    fn new(state: SideState) -> Self {
        Self {
            state,
            buf: Vec::new(),
            buf_ts: Timestamp(0),
            last_ts: Timestamp(0),
            target: None,
            skip_line: false,
            body_optional: false,
            body: BodyBuilder::new(),
            trailers: HeadBuilder::new(),
        }
    }
}

/// The kind of request method that changes how its response is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Method {
    Head,
    Connect,
    Other,
}

/// A request and, once seen, its response.
#[derive(Debug)]
struct Entry {
    /// `None` for a request lost in capture or a response with no request.
    request: Option<Request>,
    req_version: u8,
    req_done: bool,
    method: Method,
    upgrade: bool,
    upgrade_h2c: bool,
    /// `Expect: 100-continue`, and no `100` seen yet.
    awaits_continue: bool,
    response: Option<Response>,
    resp_version: u8,
    resp_done: bool,
    flags: Vec<Flag>,
}

impl Entry {
    fn placeholder(flag: Flag) -> Self {
        Self {
            request: None,
            req_version: 1,
            req_done: true,
            method: Method::Other,
            upgrade: false,
            upgrade_h2c: false,
            awaits_continue: false,
            response: None,
            resp_version: 1,
            resp_done: false,
            flags: vec![flag],
        }
    }

    fn flag(&mut self, flag: Flag) {
        if !self.flags.contains(&flag) {
            self.flags.push(flag);
        }
    }
}

/// The HTTP/1 state of one connection.
#[derive(Debug)]
pub(crate) struct Http1 {
    config: Arc<HttpConfig>,
    /// Who the client is: known once a request or status line was seen.
    roles: Roles,
    sides: [Side; 2],
    queue: VecDeque<Entry>,
    /// Id of `queue.front()`; ids grow by one per entry pushed.
    front_id: u64,
    /// Entries at the front whose response has started (or was given up).
    answered: usize,
    /// Request heads seen on this connection.
    requests_seen: u64,
    /// Final responses seen on this connection.
    responses_seen: u64,
    /// The connection was joined after it started.
    mid_stream: bool,
    /// A message head was parsed on this connection.
    parsed_any: bool,
    /// Bytes scanned while lost, before any head was parsed.
    lost_bytes: u64,
    /// Where heads are built, reused from head to head.
    heads: HeadBuilder,
}

/// Bytes that are part of no message, counted once.
fn unparsed(out: &mut Output<'_>, n: usize) {
    if n > 0 {
        out.dropped(DropReason::UnparsedBytes, n as u64);
    }
}

/// End of a message head in `buf ++ input`: the index in `input` just after
/// the empty line, looking back at most two bytes into `buf`.
pub(crate) fn head_end(buf: &[u8], input: &[u8]) -> Option<usize> {
    let back = |i: usize, k: usize| -> Option<u8> {
        // Byte k positions before input[i], reaching into buf when needed.
        if i >= k {
            input.get(i - k).copied()
        } else {
            buf.len()
                .checked_sub(k - i)
                .and_then(|j| buf.get(j).copied())
        }
    };
    memchr::memchr_iter(b'\n', input)
        .find(|&i| {
            back(i, 1) == Some(b'\n') || (back(i, 1) == Some(b'\r') && back(i, 2) == Some(b'\n'))
        })
        .map(|i| i + 1)
}

impl Http1 {
    /// A parser that saw a request (or response) start in `client`'s
    /// direction (or the other one).
    /// `mid_stream`: the start of the connection was not seen, so the
    /// first bytes of a side may be the end of an earlier message.
    pub(crate) fn new(config: Arc<HttpConfig>, client: Direction, mid_stream: bool) -> Self {
        Self {
            config,
            roles: Roles::client_sends(client),
            sides: [Side::new(SideState::Head), Side::new(SideState::Head)],
            queue: VecDeque::new(),
            front_id: 0,
            answered: 0,
            requests_seen: 0,
            responses_seen: 0,
            parsed_any: false,
            lost_bytes: 0,
            mid_stream,
            heads: HeadBuilder::new(),
        }
    }

    /// A parser for a connection joined mid-message: both sides scan for a
    /// start line, which also tells the roles.
    pub(crate) fn lost(config: Arc<HttpConfig>) -> Self {
        let mut p = Self::new(config, Direction::ClientToServer, true);
        p.roles = Roles::GUESSED;
        p.sides = [Side::new(SideState::Lost), Side::new(SideState::Lost)];
        p
    }

    fn is_client(&self, dir: Direction) -> Option<bool> {
        self.roles.known_sender(dir).map(|r| r == Role::Client)
    }

    /// The direction requests travel in, once known.
    fn client_dir(&self) -> Option<Direction> {
        self.roles
            .is_known()
            .then(|| self.roles.direction_of(Role::Client))
    }

    fn side(&mut self, dir: Direction) -> &mut Side {
        let [a, b] = &mut self.sides;
        match dir {
            Direction::ClientToServer => a,
            Direction::ServerToClient => b,
        }
    }

    fn entry(&mut self, id: u64) -> Option<&mut Entry> {
        let idx = usize::try_from(id.checked_sub(self.front_id)?).ok()?;
        self.queue.get_mut(idx)
    }

    fn push(&mut self, entry: Entry) -> u64 {
        let id = self.front_id + self.queue.len() as u64;
        self.queue.push_back(entry);
        id
    }

    // ---------------------------------------------------------------- data

    /// Parses the next bytes of `dir`. Returns the switch to another
    /// protocol when an h2c upgrade or a `CONNECT` tunnel was accepted.
    pub(crate) fn data(
        &mut self,
        meta: &ConnMeta,
        dir: Direction,
        ts: Timestamp,
        bytes: &[u8],
        out: &mut Output<'_>,
    ) -> Option<Switch> {
        self.side(dir).last_ts = ts;
        let mut pos = 0;
        let mut idle = 0;
        while let Some(rest) = bytes.get(pos..).filter(|r| !r.is_empty()) {
            let optional = self.side(dir).body_optional;
            let step = match self.side(dir).state {
                SideState::Head => match self.is_client(dir) {
                    Some(true) => self.read_head::<RequestHeads>(meta, dir, ts, rest, out),
                    Some(false) => self.response_head(meta, dir, ts, rest, out),
                    None => {
                        self.side(dir).state = SideState::Lost;
                        Step::Consumed(0)
                    }
                },
                SideState::Body(_) if optional => self.optional_body(meta, dir, ts, rest, out),
                SideState::Body(_) => self.body(meta, dir, rest, out),
                SideState::Lost => self.scan(dir, ts, rest, out),
                SideState::Held => {
                    let cap = self.config.max_header_bytes;
                    let side = self.side(dir);
                    if side.buf.is_empty() {
                        side.buf_ts = ts;
                    }
                    let room = cap.saturating_sub(side.buf.len()).min(rest.len());
                    side.buf
                        .extend_from_slice(rest.get(..room).unwrap_or_default());
                    unparsed(out, rest.len() - room);
                    Step::Consumed(rest.len())
                }
                SideState::Stopped => {
                    unparsed(out, rest.len());
                    Step::Consumed(rest.len())
                }
                SideState::Oversized(_) => self.oversized(dir, rest, out),
            };
            match step {
                Step::Consumed(0) => {
                    // A state change uses no input; a parser that keeps
                    // using none is stuck: drop the rest rather than spin.
                    idle += 1;
                    if idle > 4 {
                        debug_assert!(false, "HTTP/1 parser made no progress");
                        unparsed(out, rest.len());
                        return None;
                    }
                }
                Step::Consumed(n) => {
                    idle = 0;
                    pos += n;
                }
                Step::Switch(mut switch) => {
                    switch.server_offset += pos;
                    return Some(switch);
                }
            }
        }
        None
    }

    /// Reads (part of) a head from `rest`: returns the head's bytes and
    /// length when complete, else what was used.
    fn head_bytes<'a>(&mut self, dir: Direction, rest: &'a [u8]) -> HeadInput<'a> {
        let max = self.config.max_header_bytes;
        let side = self.side(dir);
        if side.buf.is_empty() {
            // Empty lines between messages are allowed (and common after bodies).
            let blank = rest
                .iter()
                .take_while(|&&b| b == b'\r' || b == b'\n')
                .count();
            if blank > 0 {
                return HeadInput::Skip(blank);
            }
            return HeadInput::Direct(rest);
        }
        if memchr::memchr(b'\n', &side.buf).is_none() {
            // The start line is being read: check it as it grows (while
            // short) and once complete, as a head parsed straight from the
            // input would be.
            let lf = memchr::memchr(b'\n', rest);
            let used = lf.map_or(rest.len(), |lf| lf + 1);
            if side.buf.len() + used > max {
                return HeadInput::TooLarge {
                    used,
                    complete: false,
                };
            }
            if lf.is_some() || side.buf.len() + used <= EARLY_CHECK_MAX {
                side.buf
                    .extend_from_slice(rest.get(..used).unwrap_or_default());
                return HeadInput::StartLine(used);
            }
        }
        match head_end(&side.buf, rest) {
            Some(end) => {
                if side.buf.len() + end > max {
                    return HeadInput::TooLarge {
                        used: end,
                        complete: true,
                    };
                }
                side.buf
                    .extend_from_slice(rest.get(..end).unwrap_or_default());
                HeadInput::Buffered(end)
            }
            None => {
                if side.buf.len() + rest.len() > max {
                    return HeadInput::TooLarge {
                        used: rest.len(),
                        complete: false,
                    };
                }
                side.buf.extend_from_slice(rest);
                HeadInput::Skip(rest.len())
            }
        }
    }

    /// A head too large to keep: drop it, through its end (`complete`
    /// when `used` reaches it; else the rest is skipped up to the empty line).
    fn head_too_large(
        &mut self,
        dir: Direction,
        used: &[u8],
        complete: bool,
        out: &mut Output<'_>,
    ) -> Step {
        if self.is_client(dir) == Some(true) {
            self.lost_request(Flag::Malformed);
        } else {
            self.lost_response(Flag::Malformed);
        }
        let side = self.side(dir);
        let n = side.buf.len() + used.len();
        side.state = if complete {
            SideState::Head
        } else {
            SideState::Oversized(Tail::of(&side.buf, used))
        };
        side.buf.clear();
        unparsed(out, n);
        out.dropped(DropReason::HeaderListTooLarge, 1);
        Step::Consumed(used.len())
    }

    /// Skips the rest of an oversized head, up to its empty line.
    fn oversized(&mut self, dir: Direction, rest: &[u8], out: &mut Output<'_>) -> Step {
        let side = self.side(dir);
        let SideState::Oversized(tail) = &mut side.state else {
            return Step::Consumed(0);
        };
        match head_end(tail.bytes(), rest) {
            Some(end) => {
                side.state = SideState::Head;
                unparsed(out, end);
                Step::Consumed(end)
            }
            None => {
                *tail = Tail::of(tail.bytes(), rest);
                unparsed(out, rest.len());
                Step::Consumed(rest.len())
            }
        }
    }

    /// Reads (part of) a request or response head from `rest`, the rules
    /// being the same for both but for what `K` says.
    fn read_head<K: HeadKind>(
        &mut self,
        meta: &ConnMeta,
        dir: Direction,
        ts: Timestamp,
        rest: &[u8],
        out: &mut Output<'_>,
    ) -> Step {
        match self.head_bytes(dir, rest) {
            HeadInput::Skip(n) => Step::Consumed(n),
            HeadInput::TooLarge { used, complete } => {
                self.head_too_large(dir, rest.get(..used).unwrap_or_default(), complete, out)
            }
            HeadInput::StartLine(used) => {
                if self
                    .drop_bad_start_line(dir, out, |b, ts| K::parse(b, ts, &mut HeadBuilder::new()))
                {
                    K::lost(self, Flag::Malformed);
                }
                Step::Consumed(used)
            }
            HeadInput::Direct(input) => match K::parse(input, ts, &mut self.heads) {
                Parsed::Complete(_, len) if len > self.config.max_header_bytes => {
                    self.head_too_large(dir, input.get(..len).unwrap_or_default(), true, out)
                }
                Parsed::Complete(head, len) => K::on_head(self, meta, dir, head, len, out),
                Parsed::Partial => self.start_buffer(dir, ts, input, out),
                Parsed::Invalid => {
                    match classify_bad(input, |l| K::parse(l, ts, &mut HeadBuilder::new())) {
                        BadHead::Buffer => self.start_buffer(dir, ts, input, out),
                        BadHead::Whole(end) if end > self.config.max_header_bytes => self
                            .head_too_large(dir, input.get(..end).unwrap_or_default(), true, out),
                        BadHead::Whole(end) => self.drop_bad_head(dir, end, false, out),
                        BadHead::Line => self.bad_start_line::<K>(dir, out),
                    }
                }
            },
            HeadInput::Buffered(used) => {
                let side = self.side(dir);
                let mut buf = std::mem::take(&mut side.buf);
                let buf_ts = side.buf_ts;
                let step = match K::parse(&buf, buf_ts, &mut self.heads) {
                    Parsed::Complete(head, len) => {
                        unparsed(out, buf.len().saturating_sub(len));
                        // The head ended within the `used` bytes of this input.
                        match K::on_head(self, meta, dir, head, 0, out) {
                            Step::Consumed(_) => Step::Consumed(used),
                            Step::Switch(mut s) => {
                                s.server_offset = used;
                                Step::Switch(s)
                            }
                        }
                    }
                    Parsed::Partial => {
                        self.side(dir).buf = buf;
                        return Step::Consumed(used);
                    }
                    Parsed::Invalid => {
                        self.side(dir).buf = buf;
                        return self.drop_bad_head(dir, used, true, out);
                    }
                };
                buf.clear();
                let side = self.side(dir);
                if side.buf.is_empty() {
                    side.buf = buf;
                }
                step
            }
        }
    }

    /// Starts buffering a partial head.
    fn start_buffer(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        input: &[u8],
        out: &mut Output<'_>,
    ) -> Step {
        if input.len() > self.config.max_header_bytes {
            return self.head_too_large(dir, input, false, out);
        }
        let side = self.side(dir);
        side.buf.extend_from_slice(input);
        side.buf_ts = ts;
        Step::Consumed(input.len())
    }

    /// Not a start line of what `K` reads: lose sync (the bytes are counted
    /// by the scan).
    fn bad_start_line<K: HeadKind>(&mut self, dir: Direction, out: &mut Output<'_>) -> Step {
        out.dropped(DropReason::ParseError, 1);
        K::lost(self, Flag::Malformed);
        let side = self.side(dir);
        side.state = SideState::Lost;
        side.skip_line = true;
        Step::Consumed(0)
    }

    /// Drops the buffered start line of `dir` if `parse` finds it cannot
    /// begin a head (and the rest of the line if unfinished), counting it.
    /// True when it was dropped.
    fn drop_bad_start_line<T>(
        &mut self,
        dir: Direction,
        out: &mut Output<'_>,
        parse: impl Fn(&[u8], Timestamp) -> Parsed<T>,
    ) -> bool {
        let side = self.side(dir);
        if !matches!(parse(&side.buf, side.buf_ts), Parsed::Invalid) {
            return false;
        }
        let n = side.buf.len();
        side.skip_line = side.buf.last() != Some(&b'\n');
        side.buf.clear();
        side.state = SideState::Lost;
        unparsed(out, n);
        out.dropped(DropReason::ParseError, 1);
        true
    }

    /// A request was lost (gap, malformed): a placeholder keeps responses
    /// paired with the right requests.
    fn lost_request(&mut self, flag: Flag) {
        if flag != Flag::Gap && self.mid_stream && self.requests_seen == 0 {
            // Unreadable bytes before the first request of a joined
            // connection: the end of a request from before the capture.
            return;
        }
        if self.queue.len() < self.config.max_pending_requests {
            self.push(Entry::placeholder(flag));
        }
    }

    fn on_request(
        &mut self,
        meta: &ConnMeta,
        dir: Direction,
        head: RequestHead,
        out: &mut Output<'_>,
    ) {
        self.parsed_any = true;
        self.requests_seen += 1;
        let RequestHead {
            request,
            version,
            framed,
            malformed,
        } = head;
        let method = match request.method().as_bytes() {
            b"HEAD" => Method::Head,
            b"CONNECT" => Method::Connect,
            _ => Method::Other,
        };
        let mut entry = Entry {
            request: Some(request),
            req_version: version,
            req_done: false,
            method,
            upgrade: framed.upgrade,
            upgrade_h2c: framed.upgrade_h2c,
            awaits_continue: framed.expect_continue,
            response: None,
            resp_version: version,
            resp_done: false,
            flags: Vec::new(),
        };
        if malformed {
            entry.flag(Flag::Malformed);
        }
        let lost = !framed.chunked && (framed.transfer_encoding || framed.bad_length);
        let framing = if framed.chunked {
            Some(Framing::Chunked(Chunked::default()))
        } else if lost {
            // A request body without a usable length cannot be delimited.
            entry.flag(Flag::Malformed);
            None
        } else {
            framed
                .content_length
                .filter(|&n| n > 0)
                .map(Framing::Length)
        };
        let target = if self.queue.len() < self.config.max_pending_requests {
            Some(self.push(entry))
        } else {
            out.dropped(DropReason::PendingRequestLimit, 1);
            None
        };
        self.side(dir).target = target;
        match framing {
            Some(f) => self.start_body(dir, f),
            None => {
                self.finish_request(meta, dir, out);
                if lost {
                    self.side(dir).state = SideState::Lost;
                }
            }
        }
    }

    /// Starts reading a body framed by `framing` on `dir`; a known length
    /// (within the limit) is reserved at once.
    fn start_body(&mut self, dir: Direction, framing: Framing) {
        let limit = self.config.body_limit;
        let side = self.side(dir);
        if let Framing::Length(n) = framing {
            let n = usize::try_from(n).unwrap_or(usize::MAX).min(limit);
            side.body = BodyBuilder::with_capacity(n);
        }
        side.state = SideState::Body(framing);
    }

    /// Moves the body and trailers read on `dir` into the message of the
    /// entry they belong to.
    fn settle(&mut self, dir: Direction) {
        let client = self.is_client(dir) == Some(true);
        let side = self.side(dir);
        let body = side.body.finish();
        let trailers = side.trailers.finish_headers();
        let target = side.target;
        let Some(e) = target.and_then(|id| self.entry(id)) else {
            return;
        };
        let (b, t) = match (client, e.request.as_mut(), e.response.as_mut()) {
            (true, Some(r), _) => (&mut r.body, &mut r.trailers),
            (false, _, Some(r)) => (&mut r.body, &mut r.trailers),
            _ => return,
        };
        *b = body;
        *t = trailers;
    }

    fn finish_request(&mut self, meta: &ConnMeta, dir: Direction, out: &mut Output<'_>) {
        self.settle(dir);
        self.side(dir).body_optional = false;
        let target = self.side(dir).target.take();
        let mut hold = false;
        if let Some(e) = target.and_then(|id| self.entry(id)) {
            e.req_done = true;
            // After an upgrade or CONNECT request the next bytes may not be
            // HTTP/1: hold them until the response tells.
            hold = (e.upgrade || e.method == Method::Connect) && !e.resp_done;
        }
        self.side(dir).state = if hold {
            SideState::Held
        } else {
            SideState::Head
        };
        self.emit_ready(meta, out);
    }

    fn response_head(
        &mut self,
        meta: &ConnMeta,
        dir: Direction,
        ts: Timestamp,
        rest: &[u8],
        out: &mut Output<'_>,
    ) -> Step {
        // A reply that does not start with "HTTP/" to the first request is HTTP/0.9.
        let side = self.side(dir);
        let seen = side.buf.len().min(5);
        let start: Vec<u8>;
        let prefix: &[u8] = if side.buf.is_empty() {
            // Empty lines between messages are skipped first, whatever follows.
            let blank = rest
                .iter()
                .take_while(|&&b| b == b'\r' || b == b'\n')
                .count();
            if blank > 0 {
                return Step::Consumed(blank);
            }
            rest
        } else {
            start = side
                .buf
                .iter()
                .take(seen)
                .chain(rest.iter().take(5 - seen))
                .copied()
                .collect();
            &start
        };
        let n = prefix.len().min(5);
        if n > 0 && prefix.get(..n) != b"HTTP/".get(..n) {
            return self.not_a_status_line(dir, ts, out);
        }
        self.read_head::<ResponseHeads>(meta, dir, ts, rest, out)
    }

    /// A complete head that is not valid, its start line being good (a
    /// forbidden byte in a field): dropped whole, then the next start line
    /// is looked for. `used` input bytes end it; `Side::buf` holds the
    /// part that came before (and `buffered` says `used` is in it too).
    fn drop_bad_head(
        &mut self,
        dir: Direction,
        used: usize,
        buffered: bool,
        out: &mut Output<'_>,
    ) -> Step {
        out.dropped(DropReason::ParseError, 1);
        if self.is_client(dir) == Some(true) {
            self.lost_request(Flag::Malformed);
        } else {
            self.lost_response(Flag::Malformed);
        }
        let side = self.side(dir);
        unparsed(out, side.buf.len() + if buffered { 0 } else { used });
        side.buf.clear();
        side.state = SideState::Lost;
        side.skip_line = false;
        Step::Consumed(used)
    }

    /// Server bytes that are not a status line where one was expected.
    fn not_a_status_line(&mut self, dir: Direction, ts: Timestamp, out: &mut Output<'_>) -> Step {
        let answered = self.answered;
        let unanswered = answered < self.queue.len();
        if self.responses_seen == 0 && unanswered && !self.mid_stream {
            // HTTP/0.9: the whole reply until close is the body.
            let limit = self.config.body_limit;
            let side = self.side(dir);
            let buf = std::mem::take(&mut side.buf);
            let resp_ts = if buf.is_empty() { ts } else { side.buf_ts };
            let response = Response::new(resp_ts, 0, Head::default());
            side.body = BodyBuilder::new();
            let cut = side.body.append(&buf, limit);
            if cut > 0 {
                out.dropped(DropReason::BodyTruncated, cut as u64);
            }
            self.responses_seen += 1;
            let id = self.front_id + answered as u64;
            self.answered += 1;
            if let Some(e) = self.entry(id) {
                e.response = Some(response);
                e.resp_version = 0;
                e.flag(Flag::Http09);
            }
            let side = self.side(dir);
            side.target = Some(id);
            side.state = SideState::Body(Framing::Close);
            return Step::Consumed(0);
        }
        out.dropped(DropReason::ParseError, 1);
        self.lost_response(Flag::Malformed);
        self.side(dir).state = SideState::Lost;
        Step::Consumed(0)
    }

    /// The response to the next unanswered request was lost (gap, malformed).
    fn lost_response(&mut self, flag: Flag) {
        if flag != Flag::Gap && self.mid_stream && self.responses_seen == 0 {
            // The end of a response from before the capture.
            return;
        }
        if let Some(e) = self.queue.get_mut(self.answered) {
            e.resp_done = true;
            e.flag(flag);
            self.answered += 1;
        }
    }

    fn on_response(
        &mut self,
        meta: &ConnMeta,
        dir: Direction,
        head: ResponseHead,
        len: usize,
        out: &mut Output<'_>,
    ) -> Step {
        self.parsed_any = true;
        let ResponseHead {
            response,
            version,
            framed,
        } = head;
        let status = response.status;
        let next = self.queue.get(self.answered);
        let (method, upgrade_h2c) =
            next.map_or((Method::Other, false), |e| (e.method, e.upgrade_h2c));
        if (100..200).contains(&status) {
            if status == 101 {
                if upgrade_h2c
                    && self.answered == 0
                    && let Some(switch) = self.h2c_switch(len)
                {
                    return Step::Switch(switch);
                }
                self.upgrade(meta, response, version, out);
                return Step::Consumed(len);
            }
            // Interim (100 Continue, 102, 103): not the final response.
            if status == 100
                && let Some(e) = self.queue.get_mut(self.answered)
            {
                e.awaits_continue = false;
            }
            return Step::Consumed(len);
        }
        self.responses_seen += 1;
        let id = if self.answered < self.queue.len() {
            let id = self.front_id + self.answered as u64;
            self.answered += 1;
            Some(id)
        } else if self.queue.len() < self.config.max_pending_requests.saturating_mul(2) {
            let mut e = Entry::placeholder(Flag::NoRequest);
            e.resp_version = version;
            self.answered += 1;
            Some(self.push(e))
        } else {
            out.dropped(DropReason::PendingRequestLimit, 1);
            None
        };
        let tunnel = method == Method::Connect && (200..300).contains(&status);
        let mut flags = Vec::new();
        let framing = if method == Method::Head || status == 204 || status == 304 || tunnel {
            None
        } else if framed.chunked {
            Some(Framing::Chunked(Chunked::default()))
        } else if framed.transfer_encoding {
            Some(Framing::Close)
        } else if framed.bad_length {
            flags.push(Flag::Malformed);
            Some(Framing::Close)
        } else {
            match framed.content_length {
                Some(0) => None,
                Some(n) => Some(Framing::Length(n)),
                None => Some(Framing::Close),
            }
        };
        let mut skippable_body = false;
        let held = if let Some(e) = id.and_then(|id| self.entry(id)) {
            e.response = Some(response);
            e.resp_version = version;
            for f in flags {
                e.flag(f);
            }
            skippable_body = e.awaits_continue && !e.req_done && e.request.is_some();
            e.upgrade || e.method == Method::Connect
        } else {
            false
        };
        if skippable_body
            && let Some(client) = self.client_dir()
            && self.side(client).target == id
            && self.side(client).body.size() == 0
        {
            self.side(client).body_optional = true;
        }
        if tunnel {
            if let Some(e) = id.and_then(|id| self.entry(id)) {
                e.flag(Flag::Upgrade);
                e.resp_done = true;
            }
            self.emit_ready(meta, out);
            if let Some(switch) = self.tunnel_switch(len) {
                return Step::Switch(switch);
            }
            self.stop(out);
            self.emit_ready(meta, out);
            return Step::Consumed(len);
        }
        let side = self.side(dir);
        side.target = id;
        match framing {
            Some(f) => side.state = SideState::Body(f),
            None => self.finish_response(meta, dir, out),
        }
        if held {
            self.release_held(meta, out);
        }
        Step::Consumed(len)
    }

    /// An upgrade that was refused: the held client bytes are HTTP/1 after all.
    fn release_held(&mut self, meta: &ConnMeta, out: &mut Output<'_>) {
        let Some(client) = self.client_dir() else {
            return;
        };
        let side = self.side(client);
        if !matches!(side.state, SideState::Held) {
            return;
        }
        side.state = SideState::Head;
        let held = std::mem::take(&mut side.buf);
        let ts = side.buf_ts;
        if !held.is_empty() {
            // Client bytes never switch the protocol.
            let _ = self.data(meta, client, ts, &held, out);
        }
    }

    /// A `2xx` to `CONNECT` once every exchange before it is out: the held
    /// client bytes and the server's next ones start the tunnel.
    fn tunnel_switch(&mut self, len: usize) -> Option<Switch> {
        let client = self.client_dir()?;
        if !self.queue.is_empty() || !matches!(self.side(client).state, SideState::Held) {
            return None;
        }
        self.switch(None, len)
    }

    /// `101 Switching Protocols` to an `Upgrade: h2c` request.
    fn h2c_switch(&mut self, len: usize) -> Option<Switch> {
        self.client_dir()?;
        let entry = self.queue.pop_front()?;
        self.front_id += 1;
        self.switch(Some(entry.request?), len)
    }

    /// The end of HTTP/1 here: the client's held bytes go to what follows.
    fn switch(&mut self, h2c_request: Option<Request>, len: usize) -> Option<Switch> {
        let roles = self.roles;
        let side = self.side(self.client_dir()?);
        Some(Switch {
            h2c_request,
            roles,
            client_bytes: std::mem::take(&mut side.buf),
            client_ts: side.buf_ts,
            server_offset: len,
        })
    }

    /// 101 to any other upgrade: report it and stop parsing.
    fn upgrade(&mut self, meta: &ConnMeta, response: Response, version: u8, out: &mut Output<'_>) {
        self.responses_seen += 1;
        let id = if self.answered < self.queue.len() {
            Some(self.front_id + self.answered as u64)
        } else {
            Some(self.push(Entry::placeholder(Flag::NoRequest)))
        };
        self.answered += 1;
        if let Some(e) = id.and_then(|id| self.entry(id)) {
            e.response = Some(response);
            e.resp_version = version;
            e.resp_done = true;
            e.flag(Flag::Upgrade);
        }
        self.stop(out);
        self.emit_ready(meta, out);
    }

    /// Stops HTTP/1 parsing on both sides; held bytes count as unparsed.
    fn stop(&mut self, out: &mut Output<'_>) {
        for dir in [Direction::ClientToServer, Direction::ServerToClient] {
            if matches!(self.side(dir).state, SideState::Body(_)) {
                self.settle(dir);
            }
        }
        for side in &mut self.sides {
            unparsed(out, side.buf.len());
            side.buf = Vec::new();
            side.state = SideState::Stopped;
        }
        // Requests whose body was in flight are complete as far as we go.
        for e in &mut self.queue {
            if !e.req_done {
                e.req_done = true;
                e.flag(Flag::Incomplete);
            }
        }
    }

    fn finish_response(&mut self, meta: &ConnMeta, dir: Direction, out: &mut Output<'_>) {
        self.settle(dir);
        let target = self.side(dir).target.take();
        let end = self.side(dir).last_ts;
        if let Some(e) = target.and_then(|id| self.entry(id)) {
            e.resp_done = true;
            if let Some(r) = &mut e.response {
                r.end_ts = end;
            }
        }
        self.side(dir).state = SideState::Head;
        self.emit_ready(meta, out);
    }

    /// The client may skip the body the server refused: its next bytes
    /// tell whether they are that body or the next request.
    fn optional_body(
        &mut self,
        meta: &ConnMeta,
        dir: Direction,
        ts: Timestamp,
        rest: &[u8],
        out: &mut Output<'_>,
    ) -> Step {
        let side = self.side(dir);
        let mut probe = side.buf.clone();
        probe.extend_from_slice(rest.get(..rest.len().min(64)).unwrap_or_default());
        match crate::detect::detect(&probe) {
            crate::detect::Detected::Request => {
                // No body after all: the next request starts here.
                side.body_optional = false;
                let buf = std::mem::take(&mut side.buf);
                let buf_ts = side.buf_ts;
                self.finish_request(meta, dir, out);
                let side = self.side(dir);
                side.buf = buf;
                side.buf_ts = buf_ts;
                Step::Consumed(0)
            }
            crate::detect::Detected::NeedMore if probe.len() < 64 => {
                if side.buf.is_empty() {
                    side.buf_ts = ts;
                }
                side.buf.extend_from_slice(rest);
                Step::Consumed(rest.len())
            }
            _ => {
                // It is the body: replay what was held back, then go on.
                side.body_optional = false;
                let held = std::mem::take(&mut side.buf);
                let held_ts = side.buf_ts;
                if !held.is_empty() {
                    let _ = self.data(meta, dir, held_ts, &held, out);
                }
                Step::Consumed(0)
            }
        }
    }

    fn body(&mut self, meta: &ConnMeta, dir: Direction, rest: &[u8], out: &mut Output<'_>) -> Step {
        let client = self.is_client(dir) == Some(true);
        let limit = self.config.body_limit;
        let max_trailers = self.config.max_header_bytes;
        let target = self.side(dir).target;
        // A message dropped at a limit is read through, not kept.
        let kept = target.and_then(|id| self.entry(id)).is_some_and(|e| {
            if client {
                e.request.is_some()
            } else {
                e.response.is_some()
            }
        });
        let Side {
            state,
            body,
            trailers,
            ..
        } = self.side(dir);
        let SideState::Body(framing) = state else {
            return Step::Consumed(0);
        };
        let mut cut = 0;
        let mut sink = |b: &[u8]| {
            if kept {
                cut += body.append(b, limit);
            }
        };
        let result = framing.read(rest, max_trailers, &mut sink, trailers);
        if cut > 0 {
            out.dropped(DropReason::BodyTruncated, cut as u64);
        }
        match result {
            Ok(step) => {
                if step.done {
                    if client {
                        self.finish_request(meta, dir, out);
                    } else {
                        self.finish_response(meta, dir, out);
                    }
                }
                Step::Consumed(step.consumed)
            }
            Err(Failure {
                error,
                consumed,
                discarded,
            }) => {
                unparsed(out, discarded);
                if error == FramingError::TrailersTooLarge {
                    out.dropped(DropReason::HeaderListTooLarge, 1);
                } else {
                    out.dropped(DropReason::ParseError, 1);
                }
                if let Some(entry) = target.and_then(|id| self.entry(id)) {
                    entry.flag(Flag::Malformed);
                }
                if client {
                    self.finish_request(meta, dir, out);
                } else {
                    self.finish_response(meta, dir, out);
                }
                self.side(dir).state = SideState::Lost;
                Step::Consumed(consumed)
            }
        }
    }

    /// Lost: scan lines for the next start line.
    fn scan(&mut self, dir: Direction, ts: Timestamp, rest: &[u8], out: &mut Output<'_>) -> Step {
        let role = self.is_client(dir);
        let side = self.side(dir);
        if side.skip_line {
            let n = memchr::memchr(b'\n', rest).map_or(rest.len(), |lf| {
                side.skip_line = false;
                lf + 1
            });
            unparsed(out, n);
            return self.scanned(n, out);
        }
        let Some(lf) = memchr::memchr(b'\n', rest) else {
            if side.buf.is_empty() {
                side.buf_ts = ts;
            }
            side.buf.extend_from_slice(rest);
            if side.buf.len() > RESYNC_LINE_MAX {
                // Keep the tail, where a start line may begin.
                let cut = side.buf.len() - 256;
                side.buf.drain(..cut);
                unparsed(out, cut);
            }
            return self.scanned(rest.len(), out);
        };
        let part = rest.get(..lf).unwrap_or_default();
        let found = if side.buf.is_empty() {
            resync::find_start_line(part, role)
        } else {
            side.buf.extend_from_slice(part);
            resync::find_start_line(&side.buf, role)
        };
        let Some(start) = found else {
            unparsed(out, side.buf.len().max(part.len()) + 1);
            side.buf.clear();
            return self.scanned(lf + 1, out);
        };
        let (at, is_request) = match start {
            StartLine::Request(at) => (at, true),
            StartLine::Status(at) => (at, false),
        };
        let line_ts = if side.buf.is_empty() { ts } else { side.buf_ts };
        let mut line = if side.buf.is_empty() {
            part.to_vec()
        } else {
            std::mem::take(&mut side.buf)
        };
        line.drain(..at.min(line.len()));
        unparsed(out, at);
        line.push(b'\n');
        side.buf = line;
        side.buf_ts = line_ts;
        side.state = SideState::Head;
        if role.is_none() {
            let sender = if is_request {
                Role::Client
            } else {
                Role::Server
            };
            self.roles.learn(dir, sender);
        }
        Step::Consumed(lf + 1)
    }

    /// Accounts scanned bytes; gives up on connections that never show HTTP/1.
    fn scanned(&mut self, n: usize, out: &mut Output<'_>) -> Step {
        if !self.parsed_any {
            self.lost_bytes += n as u64;
            if self.lost_bytes > GIVE_UP_AFTER {
                self.stop(out);
            }
        }
        Step::Consumed(n)
    }

    // ----------------------------------------------------------------- gap

    /// `len` bytes of `dir` were lost in capture.
    pub(crate) fn gap(&mut self, meta: &ConnMeta, dir: Direction, len: u64, out: &mut Output<'_>) {
        let client = self.is_client(dir);
        let target = self.side(dir).target;
        let side = self.side(dir);
        if side.body_optional {
            // What the held bytes were is lost with the gap.
            side.body_optional = false;
            unparsed(out, side.buf.len());
            side.buf.clear();
        }
        let n = side.buf.len();
        match &mut side.state {
            SideState::Stopped => {}
            // The end of the dropped head may be in the gap.
            SideState::Oversized(_) => side.state = SideState::Lost,
            SideState::Lost | SideState::Held => {
                side.buf.clear();
                side.skip_line = false;
                unparsed(out, n);
            }
            SideState::Head => {
                side.buf.clear();
                unparsed(out, n);
                side.state = SideState::Lost;
                match client {
                    Some(true) => self.lost_request(Flag::Gap),
                    Some(false) => self.lost_response(Flag::Gap),
                    None => {}
                }
            }
            SideState::Body(framing) => {
                let skip = len <= framing.skippable();
                if skip {
                    framing.skip(len);
                }
                let done = skip && framing.is_done();
                side.body.lost(len, skip);
                if let Some(e) = target.and_then(|id| self.entry(id)) {
                    e.flag(Flag::Gap);
                }
                if !skip || done {
                    if client == Some(true) {
                        self.finish_request(meta, dir, out);
                    } else {
                        self.finish_response(meta, dir, out);
                    }
                }
                if !skip {
                    // The rest of the gap held the start of the next message.
                    self.side(dir).state = SideState::Lost;
                    match client {
                        Some(true) => self.lost_request(Flag::Gap),
                        Some(false) => self.lost_response(Flag::Gap),
                        None => {}
                    }
                }
            }
        }
    }

    // --------------------------------------------------------------- close

    /// The connection ended: close-delimited bodies end, everything pending
    /// is emitted with flags saying what is missing.
    pub(crate) fn close(&mut self, meta: &ConnMeta, reason: CloseReason, out: &mut Output<'_>) {
        let cut = match reason {
            CloseReason::Fin => None,
            CloseReason::Reset => Some(Flag::Reset),
            CloseReason::Timeout | CloseReason::Evicted | CloseReason::Shutdown => {
                Some(Flag::Incomplete)
            }
        };
        for dir in [Direction::ClientToServer, Direction::ServerToClient] {
            let client = self.is_client(dir) == Some(true);
            self.settle(dir);
            let target = self.side(dir).target.take();
            let side = self.side(dir);
            let end = side.last_ts;
            unparsed(out, side.buf.len());
            side.buf = Vec::new();
            let state = std::mem::replace(&mut side.state, SideState::Stopped);
            let SideState::Body(framing) = state else {
                continue;
            };
            let Some(e) = target.and_then(|id| self.entry(id)) else {
                continue;
            };
            let complete = matches!(framing, Framing::Close);
            if client {
                e.req_done = true;
            } else {
                e.resp_done = true;
                if let Some(r) = &mut e.response {
                    r.end_ts = end;
                }
            }
            match (complete, cut) {
                (true, Some(Flag::Incomplete)) | (false, _) => {
                    e.flag(cut.unwrap_or(Flag::Incomplete))
                }
                _ => {}
            }
        }
        while let Some(mut e) = self.queue.pop_front() {
            self.front_id += 1;
            if !e.req_done {
                e.flag(cut.unwrap_or(Flag::Incomplete));
            }
            self.emit(meta, e, out);
        }
        self.answered = 0;
    }

    // ---------------------------------------------------------------- emit

    fn emit_ready(&mut self, meta: &ConnMeta, out: &mut Output<'_>) {
        while self
            .queue
            .front()
            .is_some_and(|e| e.req_done && e.resp_done)
        {
            let Some(e) = self.queue.pop_front() else {
                break;
            };
            self.front_id += 1;
            self.answered = self.answered.saturating_sub(1);
            self.emit(meta, e, out);
        }
    }

    fn emit(&self, meta: &ConnMeta, e: Entry, out: &mut Output<'_>) {
        if e.request.is_none() && e.response.is_none() {
            // A request lost in capture whose response was lost too: the
            // bytes are already counted, there is nothing to report.
            return;
        }
        let version = if e.request.is_some() {
            e.req_version
        } else {
            e.resp_version
        };
        let protocol = if version == 0 {
            Protocol::Http10
        } else {
            Protocol::Http11
        };
        let mut ex = Exchange::new(protocol, meta, self.roles);
        for f in e.flags {
            ex.flag(f);
        }
        ex.request = e.request;
        ex.response = e.response;
        if let Some(r) = &mut ex.response {
            // A response that ended with its head (or was cut) ends where it began.
            r.end_ts = r.end_ts.max(r.ts);
        }
        if ex.request.is_none() {
            ex.flag(Flag::NoRequest);
        }
        if ex.response.is_none() {
            ex.flag(Flag::NoResponse);
        }
        if self.config.decompress {
            let limit = self.config.decompressed_limit.min(self.config.body_limit);
            let mut failed = false;
            // The head shares its buffer: a clone costs a count, taken
            // only for a body to decode.
            if let Some(r) = ex.request.as_mut().filter(|r| !r.body.is_empty()) {
                let head = r.head().clone();
                failed |= decode(&head, &mut r.body, limit);
            }
            if let Some(r) = ex.response.as_mut().filter(|r| !r.body.is_empty()) {
                let head = r.head().clone();
                failed |= decode(&head, &mut r.body, limit);
            }
            if failed {
                ex.flag(Flag::DecodeFailed);
            }
        }
        out.exchange(ex);
    }
}

/// Decodes a body per its `Content-Encoding`; true on failure.
fn decode(head: &Head, b: &mut Body, limit: usize) -> bool {
    match head
        .headers()
        .get("content-encoding")
        .and_then(|v| v.as_str())
    {
        Some(enc) => body::decode(b, enc, limit) == Decoding::Failed,
        None => false,
    }
}

/// What to do with a head that httparse refuses, read straight from the input.
enum BadHead {
    /// The start line is bad: drop it and look for the next one.
    Line,
    /// The start line is good and the head incomplete: judge it whole
    /// once complete, as a buffered head is.
    Buffer,
    /// The start line is good and the head, ending here, is not: drop it.
    Whole(usize),
}

fn classify_bad<T>(input: &[u8], parse: impl Fn(&[u8]) -> Parsed<T>) -> BadHead {
    let Some(lf) = memchr::memchr(b'\n', input) else {
        return BadHead::Line;
    };
    if let Parsed::Invalid = parse(input.get(..=lf).unwrap_or_default()) {
        return BadHead::Line;
    }
    match head_end(&[], input) {
        Some(end) => BadHead::Whole(end),
        None => BadHead::Buffer,
    }
}

/// How head bytes are available.
enum HeadInput<'a> {
    /// Use this many bytes and come back.
    Skip(usize),
    /// Nothing buffered: parse straight from the input.
    Direct(&'a [u8]),
    /// The head is complete in the side's buffer, using this many input bytes.
    Buffered(usize),
    /// The head is over the limit; this many input bytes belong to it,
    /// and its end is among them (`complete`) or still to come.
    TooLarge { used: usize, complete: bool },
    /// The start line in the side's buffer grew (or is complete), using
    /// this many input bytes: check it.
    StartLine(usize),
}

/// What differs between reading a request head and a response head.
trait HeadKind {
    type Head;

    /// Parses a head at the start of `buf`.
    fn parse(buf: &[u8], ts: Timestamp, b: &mut HeadBuilder) -> Parsed<Self::Head>;

    /// Takes a complete head of `len` input bytes.
    fn on_head(
        p: &mut Http1,
        meta: &ConnMeta,
        dir: Direction,
        head: Self::Head,
        len: usize,
        out: &mut Output<'_>,
    ) -> Step;

    /// A head of this kind was lost.
    fn lost(p: &mut Http1, flag: Flag);
}

/// The client's heads.
struct RequestHeads;

/// The server's heads.
struct ResponseHeads;

impl HeadKind for RequestHeads {
    type Head = RequestHead;

    fn parse(buf: &[u8], ts: Timestamp, b: &mut HeadBuilder) -> Parsed<RequestHead> {
        head::parse_request(buf, ts, b)
    }

    fn on_head(
        p: &mut Http1,
        meta: &ConnMeta,
        dir: Direction,
        head: RequestHead,
        len: usize,
        out: &mut Output<'_>,
    ) -> Step {
        p.on_request(meta, dir, head, out);
        Step::Consumed(len)
    }

    fn lost(p: &mut Http1, flag: Flag) {
        p.lost_request(flag);
    }
}

impl HeadKind for ResponseHeads {
    type Head = ResponseHead;

    fn parse(buf: &[u8], ts: Timestamp, b: &mut HeadBuilder) -> Parsed<ResponseHead> {
        head::parse_response(buf, ts, b)
    }

    fn on_head(
        p: &mut Http1,
        meta: &ConnMeta,
        dir: Direction,
        head: ResponseHead,
        len: usize,
        out: &mut Output<'_>,
    ) -> Step {
        p.on_response(meta, dir, head, len, out)
    }

    fn lost(p: &mut Http1, flag: Flag) {
        p.lost_response(flag);
    }
}
