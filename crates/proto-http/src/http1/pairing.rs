//! Pairing: requests wait in a bounded queue of [`Entry`] until their
//! response is complete, then leave as one exchange, in order. Lost
//! messages keep their place as placeholders, so later responses still
//! meet their requests.

use capture_core::DropReason;
use capture_core::model::{
    Body, ConnMeta, Direction, Exchange, Flag, Head, Protocol, Request, Response,
};
use capture_core::stage::Output;

use super::framing::{Chunked, Framing};
use super::head::{RequestHead, ResponseHead};
use super::side::SideState;
use super::{Http1, Step};

/// The kind of request method that changes how its response is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Method {
    Head,
    Connect,
    Other,
}

/// A request and, once seen, its response.
#[derive(Debug)]
pub(super) struct Entry {
    /// `None` for a request lost in capture or a response with no request.
    pub(super) request: Option<Request>,
    pub(super) req_version: u8,
    pub(super) req_done: bool,
    pub(super) method: Method,
    pub(super) upgrade: bool,
    pub(super) upgrade_h2c: bool,
    /// `Expect: 100-continue`, and no `100` seen yet.
    pub(super) awaits_continue: bool,
    pub(super) response: Option<Response>,
    pub(super) resp_version: u8,
    pub(super) resp_done: bool,
    /// The request, the response has `Content-Encoding`.
    pub(super) encoded: [bool; 2],
    pub(super) flags: Vec<Flag>,
}

impl Entry {
    pub(super) fn placeholder(flag: Flag) -> Self {
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
            encoded: [false; 2],
            flags: vec![flag],
        }
    }

    pub(super) fn flag(&mut self, flag: Flag) {
        add_flag(&mut self.flags, flag);
    }
}

/// Adds `flag` to `flags` once.
fn add_flag(flags: &mut Vec<Flag>, flag: Flag) {
    if !flags.contains(&flag) {
        flags.push(flag);
    }
}

/// Decodes a body per its `Content-Encoding`; true on failure.
pub(super) fn decode(head: &Head, b: &mut Body, limit: usize) -> bool {
    match head
        .headers()
        .get("content-encoding")
        .and_then(|v| v.as_str())
    {
        Some(enc) => crate::body::decode(b, enc, limit) == crate::body::Decoding::Failed,
        None => false,
    }
}

impl Http1 {
    /// A request was lost (gap, malformed): a placeholder keeps responses
    /// paired with the right requests.
    pub(super) fn lost_request(&mut self, flag: Flag) {
        if flag != Flag::Gap && self.mid_stream && self.requests_seen == 0 {
            // Unreadable bytes before the first request of a joined
            // connection: the end of a request from before the capture.
            return;
        }
        if self.queue.len() < self.config.max_pending_requests {
            self.push(Entry::placeholder(flag));
        }
    }

    pub(super) fn on_request(
        &mut self,
        meta: &ConnMeta,
        dir: Direction,
        head: RequestHead,
        out: &mut Output<'_>,
    ) {
        self.parsed_any = true;
        self.requests_seen += 1;
        // The request moves once, into its queue entry; what else is
        // needed is read from the head where it is.
        let framed = head.framed;
        let method = head.method;
        let mut flags = Vec::new();
        if head.malformed || framed.malformed {
            add_flag(&mut flags, Flag::Malformed);
        }
        if framed.ambiguous {
            add_flag(&mut flags, Flag::AmbiguousFraming);
        }
        // RFC 9112 §6.3: Transfer-Encoding frames the body whatever the
        // lengths say; without chunked last, a request's length is unknown
        // (a server answers 400 and closes): it runs to the close.
        let lost = !framed.transfer_encoding && framed.bad_length;
        let framing = if framed.chunked {
            Some(Framing::Chunked(Chunked::default()))
        } else if framed.transfer_encoding {
            add_flag(&mut flags, Flag::Malformed);
            Some(Framing::Close)
        } else if lost {
            // A request body without a usable length cannot be delimited.
            add_flag(&mut flags, Flag::Malformed);
            None
        } else {
            framed
                .content_length
                .filter(|&n| n > 0)
                .map(Framing::Length)
        };
        let target = if self.queue.len() < self.config.max_pending_requests {
            let id = self.push(Entry {
                request: None,
                req_version: head.version,
                req_done: false,
                method,
                upgrade: framed.upgrade,
                upgrade_h2c: framed.upgrade_h2c,
                awaits_continue: framed.expect_continue,
                response: None,
                resp_version: head.version,
                resp_done: false,
                encoded: [framed.content_encoding, false],
                flags,
            });
            if let Some(e) = self.queue.back_mut() {
                e.request = Some(head.into_request());
            }
            Some(id)
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

    pub(super) fn finish_request(&mut self, meta: &ConnMeta, dir: Direction, out: &mut Output<'_>) {
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

    /// The response to the next unanswered request was lost (gap, malformed).
    pub(super) fn lost_response(&mut self, flag: Flag) {
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

    pub(super) fn on_response(
        &mut self,
        meta: &ConnMeta,
        dir: Direction,
        head: ResponseHead,
        len: usize,
        out: &mut Output<'_>,
    ) -> Step {
        self.parsed_any = true;
        // The response moves once, into its entry (or on an upgrade).
        let (version, framed) = (head.version, head.framed);
        let status = head.status;
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
                self.upgrade(meta, head.into_response(), version, out);
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
        if framed.malformed {
            flags.push(Flag::Malformed);
        }
        if framed.ambiguous {
            flags.push(Flag::AmbiguousFraming);
        }
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
            e.response = Some(head.into_response());
            e.resp_version = version;
            if let Some(coded) = e.encoded.get_mut(1) {
                *coded = framed.content_encoding;
            }
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

    pub(super) fn finish_response(
        &mut self,
        meta: &ConnMeta,
        dir: Direction,
        out: &mut Output<'_>,
    ) {
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

    pub(super) fn emit_ready(&mut self, meta: &ConnMeta, out: &mut Output<'_>) {
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

    pub(super) fn emit(&self, meta: &ConnMeta, e: Entry, out: &mut Output<'_>) {
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
            let [req_coded, resp_coded] = e.encoded;
            if let Some(r) = ex
                .request
                .as_mut()
                .filter(|r| req_coded && !r.body.is_empty())
            {
                let head = r.head().clone();
                failed |= decode(&head, &mut r.body, limit);
            }
            if let Some(r) = ex
                .response
                .as_mut()
                .filter(|r| resp_coded && !r.body.is_empty())
            {
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

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::super::testing::Conn;
    use capture_core::DropReason;
    use capture_core::model::Flag;

    const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

    #[test]
    fn pipelined_requests_pair_in_order() {
        let mut c = Conn::new();
        c.client(b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n");
        assert!(c.exchanges.is_empty(), "requests wait for their responses");
        c.server(OK)
            .server(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            .server(OK);
        assert_eq!(
            c.pairs(),
            [("/1".into(), 200), ("/2".into(), 404), ("/3".into(), 200)]
        );
    }

    #[test]
    fn a_response_without_its_request_is_flagged() {
        let mut c = Conn::new();
        c.server(OK)
            .client(b"GET /later HTTP/1.1\r\n\r\n")
            .server(OK);
        assert_eq!(c.pairs(), [(String::new(), 200), ("/later".into(), 200)]);
        assert!(c.exchanges[0].has_flag(Flag::NoRequest));
    }

    #[test]
    fn requests_beyond_the_pending_limit_are_counted() {
        let config = crate::config::HttpConfig {
            max_pending_requests: 2,
            ..Default::default()
        };
        let mut c = Conn::with(config);
        c.client(b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n");
        assert_eq!(c.drops(DropReason::PendingRequestLimit), 1);
        c.close();
        assert!(c.exchanges.iter().all(|e| e.has_flag(Flag::NoResponse)));
        assert_eq!(c.exchanges.len(), 2);
    }
}
