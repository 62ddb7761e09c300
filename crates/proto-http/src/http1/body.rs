//! Reading bodies into their messages: bytes as [`Framing`] delimits them,
//! kept within the body limit and counted beyond it; trailers; and the
//! optional body of an `Expect: 100-continue` request the server refused.

use capture_core::DropReason;
use capture_core::model::{BodyBuilder, ConnMeta, Direction, Flag, Timestamp};
use capture_core::stage::Output;

use super::framing::{Failure, Framing, FramingError};
use super::side::{Side, SideState};
use super::{Http1, Step, unparsed};

/// Bytes looked at, at most, to tell a refused body from the next request.
const PROBE_MAX: usize = 64;

impl Http1 {
    /// Starts reading a body framed by `framing` on `dir`; a known length
    /// (within the limit) is reserved at once.
    pub(super) fn start_body(&mut self, dir: Direction, framing: Framing) {
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
    pub(super) fn settle(&mut self, dir: Direction) {
        let client = self.is_client(dir) == Some(true);
        let side = self.side(dir);
        if side.body.size() == 0
            && side.body.kept() == 0
            && !side.body_lost
            && side.trailers.byte_len() == 0
            && side.trailers.field_count() == 0
        {
            // Nothing read (most requests): the message keeps the empty
            // body and trailers it was made with.
            return;
        }
        side.body_lost = false;
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

    /// The client may skip the body the server refused: its next bytes
    /// tell whether they are that body or the next request.
    pub(super) fn optional_body(
        &mut self,
        meta: &ConnMeta,
        dir: Direction,
        ts: Timestamp,
        rest: &[u8],
        out: &mut Output<'_>,
    ) -> Step {
        let side = self.side(dir);
        let mut probe = side.buf.clone();
        probe.extend_from_slice(rest.get(..rest.len().min(PROBE_MAX)).unwrap_or_default());
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
            crate::detect::Detected::NeedMore if probe.len() < PROBE_MAX => {
                if side.buf.is_empty() {
                    side.buf_ts = ts;
                }
                side.keep(rest, PROBE_MAX);
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

    pub(super) fn body(
        &mut self,
        meta: &ConnMeta,
        dir: Direction,
        rest: &[u8],
        out: &mut Output<'_>,
    ) -> Step {
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
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::super::testing::Conn;
    use capture_core::DropReason;

    #[test]
    fn a_body_beyond_the_limit_is_cut_and_counted() {
        let config = crate::config::HttpConfig {
            body_limit: 4,
            ..Default::default()
        };
        let mut c = Conn::with(config);
        c.client(b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789")
            .server(b"HTTP/1.1 204 No Content\r\n\r\n");
        let body = &c.exchanges[0].request.as_ref().expect("request").body;
        assert_eq!(
            (&body.data[..], body.size, body.truncated),
            (&b"0123"[..], 10, true)
        );
        assert_eq!(c.drops(DropReason::BodyTruncated), 6);
    }

    #[test]
    fn chunked_bodies_and_trailers_land_in_their_message() {
        let mut c = Conn::new();
        c.client(b"GET / HTTP/1.1\r\n\r\n").server(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nX-Sum: 5\r\n\r\n",
        );
        let resp = c.exchanges[0].response.as_ref().expect("response");
        assert_eq!(&resp.body.data[..], b"abcde");
        assert_eq!(resp.trailers.get("x-sum").expect("trailer"), "5");
    }

    #[test]
    fn a_refused_continue_body_may_be_skipped() {
        let mut c = Conn::new();
        c.client(b"PUT /big HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
            .server(b"HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\n\r\n")
            .client(b"GET /next HTTP/1.1\r\n\r\n")
            .server(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(c.pairs(), [("/big".into(), 417), ("/next".into(), 200)]);
    }
}
