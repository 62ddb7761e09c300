//! Connection metadata, TCP segments, and stream handlers that record or
//! count what a reassembler hands out.
//!
//! ```
//! use capture_core::model::{Direction, TcpFlags};
//! use capture_core::reassembly::TcpReassembler;
//! use capture_core::stage::Reassembler;
//! use capture_core::testkit::{Recorder, Wire};
//!
//! let mut wire = Wire::new("10.0.0.1:40000", "10.0.0.2:80");
//! let mut r = TcpReassembler::new(Default::default(), Default::default());
//! let mut rec = Recorder::default();
//! for input in [
//!     wire.seg(true, 100, TcpFlags::SYN, b""),
//!     wire.seg(true, 106, TcpFlags::PSH, b"world"),
//!     wire.seg(true, 101, TcpFlags::PSH, b"hello"),
//! ] {
//!     r.push(input, &mut rec);
//! }
//! r.flush(wire.now(), &mut rec);
//! assert_eq!(rec.stream(Direction::ClientToServer), b"helloworld");
//! ```

use std::net::SocketAddr;

use crate::model::{
    CaptureSource, CloseReason, ConnKey, ConnMeta, Direction, Input, NetnsId, Segment, TcpFlags,
    Timestamp, TlsLibrary,
};
use crate::stage::{ConnId, StreamHandler};

/// Parses `"ip:port"`; panics on a typo, as a test should.
pub fn addr(text: &str) -> SocketAddr {
    text.parse()
        .unwrap_or_else(|e| panic!("{text:?} is not ip:port: {e}"))
}

/// What a parser knows of a packet-captured connection from `client` to
/// `server` (`"ip:port"`), seen from its start.
pub fn meta(client: &str, server: &str) -> ConnMeta {
    ConnMeta::new(
        ConnKey::new(addr(client), addr(server), NetnsId::UNKNOWN),
        CaptureSource::Pcap,
        Timestamp(0),
    )
}

/// One TCP segment.
pub fn segment(
    ts: u64,
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    flags: TcpFlags,
    payload: &[u8],
) -> Input<'_> {
    Input::Segment(Segment {
        ts: Timestamp(ts),
        src,
        dst,
        netns: NetnsId::UNKNOWN,
        seq,
        ack: 0,
        flags,
        payload,
    })
}

/// Segments of one connection with explicit sequence numbers, each a
/// microsecond after the one before.
#[derive(Clone, Debug)]
pub struct Wire {
    /// The connecting side.
    pub client: SocketAddr,
    /// The accepting side.
    pub server: SocketAddr,
    ts: u64,
}

impl Wire {
    /// A connection from `client` to `server` (`"ip:port"`).
    pub fn new(client: &str, server: &str) -> Self {
        Self {
            client: addr(client),
            server: addr(server),
            ts: 1_000_000_000,
        }
    }

    /// The time of the last segment made.
    pub fn now(&self) -> Timestamp {
        Timestamp(self.ts)
    }

    /// The next segment, from the client or from the server.
    pub fn seg<'a>(
        &mut self,
        from_client: bool,
        seq: u32,
        flags: TcpFlags,
        payload: &'a [u8],
    ) -> Input<'a> {
        self.ts += 1_000;
        let (src, dst) = if from_client {
            (self.client, self.server)
        } else {
            (self.server, self.client)
        };
        segment(self.ts, src, dst, seq, flags, payload)
    }
}

/// What a reassembler handed a [`Recorder`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A connection opened.
    Open {
        /// Its client.
        client: SocketAddr,
        /// Joined after its start.
        mid_stream: bool,
        /// The TLS library its plaintext came from, if any.
        tls_library: Option<TlsLibrary>,
    },
    /// Bytes of one direction (adjacent ones merged).
    Data(Direction, Vec<u8>),
    /// Bytes of one direction lost.
    Gap(Direction, u64),
    /// The connection ended.
    Close(CloseReason),
    /// Bytes conflicted with bytes held for the same positions.
    Conflict(Direction),
}

/// A [`StreamHandler`] that records everything, for assertions.
#[derive(Debug, Default)]
pub struct Recorder {
    /// Everything handed over, in order.
    pub events: Vec<(ConnId, Event)>,
}

impl StreamHandler for Recorder {
    fn open(&mut self, conn: ConnId, meta: &ConnMeta) {
        self.events.push((
            conn,
            Event::Open {
                client: meta.key.client,
                mid_stream: meta.mid_stream,
                tls_library: meta.tls_library,
            },
        ));
    }
    fn data(&mut self, conn: ConnId, _: &ConnMeta, dir: Direction, _: Timestamp, b: &[u8]) {
        // Adjacent data is merged: tests see the stream, not its segmentation.
        if let Some((c, Event::Data(d, bytes))) = self.events.last_mut()
            && *c == conn
            && *d == dir
        {
            bytes.extend_from_slice(b);
            return;
        }
        self.events.push((conn, Event::Data(dir, b.to_vec())));
    }
    fn gap(&mut self, conn: ConnId, _: &ConnMeta, dir: Direction, _: Timestamp, len: u64) {
        self.events.push((conn, Event::Gap(dir, len)));
    }
    fn close(&mut self, conn: ConnId, _: &ConnMeta, _: Timestamp, reason: CloseReason) {
        self.events.push((conn, Event::Close(reason)));
    }
    fn overlap_conflict(&mut self, conn: ConnId, _: &ConnMeta, dir: Direction, _: Timestamp) {
        self.events.push((conn, Event::Conflict(dir)));
    }
}

impl Recorder {
    /// Every byte delivered in `dir`, all connections.
    pub fn stream(&self, dir: Direction) -> Vec<u8> {
        let mut out = Vec::new();
        for (_, e) in &self.events {
            if let Event::Data(d, b) = e
                && *d == dir
            {
                out.extend_from_slice(b);
            }
        }
        out
    }

    /// The gaps of `dir`, in order.
    pub fn gaps(&self, dir: Direction) -> Vec<u64> {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::Gap(d, n) if *d == dir => Some(*n),
                _ => None,
            })
            .collect()
    }

    /// Why each connection closed, in order.
    pub fn closes(&self) -> Vec<CloseReason> {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::Close(r) => Some(*r),
                _ => None,
            })
            .collect()
    }

    /// Each opened connection's client and whether it was joined mid-stream.
    pub fn opens(&self) -> Vec<(SocketAddr, bool)> {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::Open {
                    client, mid_stream, ..
                } => Some((*client, *mid_stream)),
                _ => None,
            })
            .collect()
    }
}

/// A [`StreamHandler`] that counts and keeps nothing (saturating: fuzz
/// targets feed it hostile input).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Connections opened.
    pub opened: u64,
    /// Connections closed.
    pub closed: u64,
    /// Bytes delivered, both directions.
    pub bytes: u64,
    /// Bytes declared lost, both directions.
    pub gap_bytes: u64,
}

impl StreamHandler for Tally {
    fn open(&mut self, _: ConnId, _: &ConnMeta) {
        self.opened = self.opened.saturating_add(1);
    }
    fn data(&mut self, _: ConnId, _: &ConnMeta, _: Direction, _: Timestamp, b: &[u8]) {
        self.bytes = self.bytes.saturating_add(b.len() as u64);
    }
    fn gap(&mut self, _: ConnId, _: &ConnMeta, _: Direction, _: Timestamp, len: u64) {
        self.gap_bytes = self.gap_bytes.saturating_add(len);
    }
    fn close(&mut self, _: ConnId, _: &ConnMeta, _: Timestamp, _: CloseReason) {
        self.closed = self.closed.saturating_add(1);
    }
}
