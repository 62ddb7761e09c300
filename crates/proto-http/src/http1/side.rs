//! One direction of the connection ([`Side`]): its state, and the
//! buffering and reading of message heads — whole in one input, across
//! inputs, too large, or not a head at all (a bad start line, an HTTP/0.9
//! reply). A side's buffer never grows beyond the head limit.

use capture_core::DropReason;
use capture_core::model::{
    BodyBuilder, ConnMeta, Direction, Flag, Head, HeadBuilder, Response, Timestamp,
};
use capture_core::stage::Output;

use super::framing::Framing;
use super::head::{Parsed, RequestHead, ResponseHead};
use super::{Http1, Step, unparsed};

/// A partial start line is checked on every input while no longer than
/// this (and once complete whatever its length).
pub(super) const EARLY_CHECK_MAX: usize = 256;

#[derive(Debug)]
pub(super) enum SideState {
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
pub(super) struct Tail {
    pub(super) bytes: [u8; 2],
    pub(super) len: usize,
}

impl Tail {
    /// The last two bytes of `a ++ b`.
    pub(super) fn of(a: &[u8], b: &[u8]) -> Self {
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

    pub(super) fn bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }
}

#[derive(Debug)]
pub(super) struct Side {
    pub(super) state: SideState,
    /// Partial head, partial resync line, or held bytes.
    pub(super) buf: Vec<u8>,
    /// Time of the first byte in `buf`.
    pub(super) buf_ts: Timestamp,
    /// Time of the latest bytes of this direction: where a message that
    /// ends now ends.
    pub(super) last_ts: Timestamp,
    /// The queue entry the current message belongs to (`None`: discarded).
    pub(super) target: Option<u64>,
    /// While lost: drop the rest of the current line before scanning (it
    /// held a start line that failed to parse).
    pub(super) skip_line: bool,
    /// Client side: the server gave its final answer to an
    /// `Expect: 100-continue` request before any body byte, so the client
    /// may skip the body and send its next request instead. `buf` holds
    /// the first bytes until they tell which.
    pub(super) body_optional: bool,
    /// The body of the current message, as read so far.
    pub(super) body: BodyBuilder,
    /// Bytes of `body` were lost in capture (it may say so with nothing
    /// read): set where they are, cleared when the body is settled.
    pub(super) body_lost: bool,
    /// The trailer fields of the current message (chunked coding).
    pub(super) trailers: HeadBuilder,
}

impl Side {
    pub(super) fn new(state: SideState) -> Self {
        Self {
            state,
            buf: Vec::new(),
            buf_ts: Timestamp(0),
            last_ts: Timestamp(0),
            target: None,
            skip_line: false,
            body_optional: false,
            body: BodyBuilder::new(),
            body_lost: false,
            trailers: HeadBuilder::new(),
        }
    }
    /// Appends `bytes` to the buffer, whose capacity grows by doubling but
    /// never past `cap` (unless the bytes themselves need more), so that a
    /// side holds at most its limit.
    pub(super) fn keep(&mut self, bytes: &[u8], cap: usize) {
        let need = self.buf.len() + bytes.len();
        if need > self.buf.capacity() {
            let want = need.max(self.buf.capacity() * 2).min(cap.max(need));
            self.buf.reserve_exact(want - self.buf.len());
        }
        self.buf.extend_from_slice(bytes);
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

/// What to do with a head that httparse refuses, read straight from the input.
pub(super) enum BadHead {
    /// The start line is bad: drop it and look for the next one.
    Line,
    /// The start line is good and the head incomplete: judge it whole
    /// once complete, as a buffered head is.
    Buffer,
    /// The start line is good and the head, ending here, is not: drop it.
    Whole(usize),
}

pub(super) fn classify_bad<T>(input: &[u8], parse: impl Fn(&[u8]) -> Parsed<T>) -> BadHead {
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
pub(super) enum HeadInput<'a> {
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
pub(super) trait HeadKind {
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

impl HeadKind for RequestHeads {
    type Head = RequestHead;

    fn parse(buf: &[u8], ts: Timestamp, b: &mut HeadBuilder) -> Parsed<RequestHead> {
        super::head::parse_request(buf, ts, b)
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
        super::head::parse_response(buf, ts, b)
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

/// The client's heads.
pub(super) struct RequestHeads;

/// The server's heads.
pub(super) struct ResponseHeads;

impl Http1 {
    /// Reads (part of) a head from `rest`: returns the head's bytes and
    /// length when complete, else what was used.
    pub(super) fn head_bytes<'a>(&mut self, dir: Direction, rest: &'a [u8]) -> HeadInput<'a> {
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
                side.keep(rest.get(..used).unwrap_or_default(), max);
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
                side.keep(rest.get(..end).unwrap_or_default(), max);
                HeadInput::Buffered(end)
            }
            None => {
                if side.buf.len() + rest.len() > max {
                    return HeadInput::TooLarge {
                        used: rest.len(),
                        complete: false,
                    };
                }
                side.keep(rest, max);
                HeadInput::Skip(rest.len())
            }
        }
    }

    /// A head too large to keep: drop it, through its end (`complete`
    /// when `used` reaches it; else the rest is skipped up to the empty line).
    pub(super) fn head_too_large(
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
    pub(super) fn oversized(&mut self, dir: Direction, rest: &[u8], out: &mut Output<'_>) -> Step {
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
    pub(super) fn read_head<K: HeadKind>(
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
    pub(super) fn start_buffer(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        input: &[u8],
        out: &mut Output<'_>,
    ) -> Step {
        if input.len() > self.config.max_header_bytes {
            return self.head_too_large(dir, input, false, out);
        }
        let max = self.config.max_header_bytes;
        let side = self.side(dir);
        side.keep(input, max);
        side.buf_ts = ts;
        Step::Consumed(input.len())
    }

    /// Not a start line of what `K` reads: lose sync (the bytes are counted
    /// by the scan).
    pub(super) fn bad_start_line<K: HeadKind>(
        &mut self,
        dir: Direction,
        out: &mut Output<'_>,
    ) -> Step {
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
    pub(super) fn drop_bad_start_line<T>(
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

    pub(super) fn response_head(
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
    pub(super) fn drop_bad_head(
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
    pub(super) fn not_a_status_line(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        out: &mut Output<'_>,
    ) -> Step {
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
            side.body_lost = false;
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
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::super::testing::Conn;
    use capture_core::DropReason;
    use capture_core::model::{Direction, Flag};

    const REQ: &[u8] =
        b"POST /a?b=1 HTTP/1.1\r\nHost: h\r\nX-Multi: 1\r\nContent-Length: 2\r\n\r\nhi";
    const RESP: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

    #[test]
    fn a_head_split_anywhere_parses_the_same() {
        let mut whole = Conn::new();
        whole.client(REQ).server(RESP);
        let want = whole.exchanges[0].request.clone().expect("request");
        for at in 0..REQ.len() {
            let mut c = Conn::new();
            c.client(&REQ[..at]).client(&REQ[at..]).server(RESP);
            let got = c.exchanges[0].request.as_ref().expect("request");
            assert_eq!(got.headers(), want.headers(), "split at {at}");
            assert_eq!((got.method(), got.path()), (want.method(), want.path()));
            assert_eq!(got.body.data, want.body.data, "split at {at}");
        }
        let mut c = Conn::new();
        c.client_bytewise(REQ).server(RESP);
        assert_eq!(
            c.exchanges[0].request.as_ref().expect("request").headers(),
            want.headers()
        );
    }

    #[test]
    fn an_oversized_head_is_dropped_counted_and_the_next_message_read() {
        let config = crate::config::HttpConfig {
            max_header_bytes: 256,
            ..Default::default()
        };
        let mut c = Conn::with(config);
        let big = format!("GET /big HTTP/1.1\r\nX-Big: {}\r\n\r\n", "x".repeat(1000));
        c.client(big.as_bytes())
            .client(b"GET /next HTTP/1.1\r\n\r\n");
        c.server(RESP).server(RESP);
        assert_eq!(c.drops(DropReason::HeaderListTooLarge), 1);
        assert_eq!(c.pairs(), [(String::new(), 200), ("/next".into(), 200)]);
        assert!(c.exchanges[0].has_flag(Flag::Malformed));
    }

    #[test]
    fn a_side_holds_at_most_its_head_limit() {
        let config = crate::config::HttpConfig {
            max_header_bytes: 1024,
            ..Default::default()
        };
        let mut c = Conn::with(config);
        let head = format!("GET / HTTP/1.1\r\nX-Long: {}", "v".repeat(1000));
        c.client_bytewise(head.as_bytes());
        let side = &c.http1.sides[Direction::ClientToServer.index()];
        assert!(side.buf.len() > 1000);
        assert!(side.buf.capacity() <= 1024, "{}", side.buf.capacity());
    }

    #[test]
    fn a_reply_without_a_status_line_is_http09() {
        let mut c = Conn::new();
        c.client(b"GET / HTTP/1.0\r\n\r\n")
            .server(b"<html>old</html>")
            .close();
        let ex = &c.exchanges[0];
        assert!(ex.has_flag(Flag::Http09));
        let resp = ex.response.as_ref().expect("response");
        assert_eq!(
            (resp.status, &resp.body.data[..]),
            (0, &b"<html>old</html>"[..])
        );
    }
}
