//! Leaving HTTP/1: a `101` to `Upgrade: h2c` hands the connection to
//! HTTP/2, a `2xx` to `CONNECT` opens a tunnel whose bytes are detected
//! afresh, any other `101` stops parsing. The client's bytes after such a
//! request are held until the response says which protocol they are.

use capture_core::model::{ConnMeta, Direction, Flag, Request, Response, Roles, Timestamp};
use capture_core::stage::Output;

use super::pairing::Entry;
use super::side::SideState;
use super::{Http1, Step, unparsed};

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

impl Http1 {
    /// Client bytes after an upgrade or `CONNECT` request: kept (up to the
    /// head limit) until the response says what they are.
    pub(super) fn hold(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        rest: &[u8],
        out: &mut Output<'_>,
    ) -> Step {
        let cap = self.config.max_header_bytes;
        let side = self.side(dir);
        if side.buf.is_empty() {
            side.buf_ts = ts;
        }
        let room = cap.saturating_sub(side.buf.len()).min(rest.len());
        side.keep(rest.get(..room).unwrap_or_default(), cap);
        unparsed(out, rest.len() - room);
        Step::Consumed(rest.len())
    }

    /// An upgrade that was refused: the held client bytes are HTTP/1 after all.
    pub(super) fn release_held(&mut self, meta: &ConnMeta, out: &mut Output<'_>) {
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
    pub(super) fn tunnel_switch(&mut self, len: usize) -> Option<Switch> {
        let client = self.client_dir()?;
        if !self.queue.is_empty() || !matches!(self.side(client).state, SideState::Held) {
            return None;
        }
        self.switch(None, len)
    }

    /// `101 Switching Protocols` to an `Upgrade: h2c` request.
    pub(super) fn h2c_switch(&mut self, len: usize) -> Option<Switch> {
        self.client_dir()?;
        let entry = self.queue.pop_front()?;
        self.front_id += 1;
        self.switch(Some(entry.request?), len)
    }

    /// The end of HTTP/1 here: the client's held bytes go to what follows.
    pub(super) fn switch(&mut self, h2c_request: Option<Request>, len: usize) -> Option<Switch> {
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
    pub(super) fn upgrade(
        &mut self,
        meta: &ConnMeta,
        response: Response,
        version: u8,
        out: &mut Output<'_>,
    ) {
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
    pub(super) fn stop(&mut self, out: &mut Output<'_>) {
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
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::super::testing::Conn;
    use capture_core::DropReason;
    use capture_core::model::Flag;

    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

    #[test]
    fn h2c_hands_over_the_request_and_the_held_preface() {
        let mut c = Conn::new();
        c.client(b"GET /up HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n")
            .client(PREFACE)
            .server(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00");
        let s = c.switched.as_ref().expect("switched to h2");
        assert_eq!(s.h2c_request.as_ref().expect("stream 1").path(), "/up");
        assert_eq!(s.client_bytes, PREFACE);
        assert!(s.roles.is_known() && !s.roles.swapped());
        assert!(
            c.exchanges.is_empty(),
            "the request becomes HTTP/2 stream 1"
        );
    }

    #[test]
    fn another_101_stops_parsing_and_counts_the_rest() {
        let mut c = Conn::new();
        c.client(b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
            .server(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")
            .client(b"\x81\x85abcdefghi")
            .server(b"\x81\x02hi");
        assert!(c.switched.is_none());
        assert_eq!(c.pairs(), [("/ws".into(), 101)]);
        assert!(c.exchanges[0].has_flag(Flag::Upgrade));
        assert_eq!(c.drops(DropReason::UnparsedBytes), 11 + 4);
    }

    #[test]
    fn a_refused_upgrade_releases_the_held_bytes_as_http1() {
        let mut c = Conn::new();
        c.client(b"GET /a HTTP/1.1\r\nUpgrade: h2c\r\n\r\n")
            .client(b"GET /b HTTP/1.1\r\n\r\n")
            .server(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            .server(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        assert!(c.switched.is_none());
        assert_eq!(c.pairs(), [("/a".into(), 200), ("/b".into(), 200)]);
    }

    #[test]
    fn a_2xx_to_connect_opens_a_tunnel() {
        let mut c = Conn::new();
        c.client(b"CONNECT db:5432 HTTP/1.1\r\nHost: db:5432\r\n\r\n")
            .client(b"tunnel bytes")
            .server(b"HTTP/1.1 200 Connection Established\r\n\r\n");
        let s = c.switched.as_ref().expect("tunnel");
        assert!(s.h2c_request.is_none());
        assert_eq!(s.client_bytes, b"tunnel bytes");
        assert_eq!(c.pairs(), [("db:5432".into(), 200)]);
        assert!(c.exchanges[0].has_flag(Flag::Upgrade));
    }
}
