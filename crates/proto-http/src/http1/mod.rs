//! HTTP/1.x on one connection, in layers, each in its own file:
//!
//! | file | what it holds |
//! |---|---|
//! | [`side`] | one direction: its state, and the buffering and reading of message heads (HTTP/0.9 replies included) |
//! | [`head`] | parsing a head (httparse) into the exact-bytes model, and the facts that frame its body |
//! | [`framing`] | body framing: a length, chunked coding, or the close |
//! | [`body`] | reading bodies into their messages, within limits; `Expect: 100-continue` |
//! | [`pairing`] | the queue that pairs responses with requests, first in first out, and the exchanges it emits |
//! | [`switch`] | leaving HTTP/1: `101` (h2c or another protocol), `CONNECT` tunnels, held client bytes |
//! | [`resync`] | losing sync (gaps, garbage) and finding the next start line |
//!
//! This file is the connection: its state and the loop that hands each
//! direction's bytes to the layer its side is in.

mod body;
mod framing;
mod head;
mod pairing;
mod resync;
mod side;
mod switch;
#[cfg(test)]
mod testing;

use std::collections::VecDeque;
use std::sync::Arc;

use capture_core::DropReason;
use capture_core::model::{
    CloseReason, ConnMeta, Direction, Flag, HeadBuilder, Role, Roles, Timestamp,
};
use capture_core::stage::Output;

use crate::config::HttpConfig;
use framing::Framing;
use pairing::Entry;
use side::{RequestHeads, Side, SideState};

pub(crate) use side::head_end;
pub(crate) use switch::Switch;

/// What parsing some bytes led to.
enum Step {
    /// Input bytes used (possibly none when the state changed).
    Consumed(usize),
    /// The connection continues in another protocol from here.
    Switch(Switch),
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
                SideState::Held => self.hold(dir, ts, rest, out),
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
}
