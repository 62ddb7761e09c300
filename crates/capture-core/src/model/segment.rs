//! What sources hand to the reassembler: TCP segments and socket chunks.

use std::net::SocketAddr;

use super::{
    CaptureSource, Comm, ConnKey, Direction, NetnsId, Timestamp, TlsLibrary, TrafficDirection,
};

bitflags::bitflags! {
    /// The TCP flags the reassembler acts on (the other bits are kept as seen).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct TcpFlags: u8 {
        /// No more data from the sender.
        const FIN = 0x01;
        /// Synchronise sequence numbers: the connection's start.
        const SYN = 0x02;
        /// Reset: the connection is gone.
        const RST = 0x04;
        /// Push.
        const PSH = 0x08;
        /// The acknowledgment number is valid.
        const ACK = 0x10;
        // Bits the reassembler does not act on (URG, ECE, CWR, …) are kept.
        const _ = !0;
    }
}

impl TcpFlags {
    /// SYN is set.
    pub const fn syn(self) -> bool {
        self.contains(Self::SYN)
    }
    /// FIN is set.
    pub const fn fin(self) -> bool {
        self.contains(Self::FIN)
    }
    /// RST is set.
    pub const fn rst(self) -> bool {
        self.contains(Self::RST)
    }
    /// ACK is set.
    pub const fn ack(self) -> bool {
        self.contains(Self::ACK)
    }
}

/// One TCP segment as seen on the wire, with a borrowed payload.
#[derive(Clone, Copy, Debug)]
pub struct Segment<'a> {
    /// Capture time of the packet.
    pub ts: Timestamp,
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// Network namespace the packet was captured in.
    pub netns: NetnsId,
    /// Sequence number of the first byte (of the SYN if `flags.syn()`).
    pub seq: u32,
    /// Acknowledgment number, valid when `flags.ack()`.
    pub ack: u32,
    /// TCP flags.
    pub flags: TcpFlags,
    /// TCP payload.
    pub payload: &'a [u8],
}

/// A run of bytes read or written on one socket, as a socket-level source
/// (eBPF) sees it: already ordered by the kernel, stamped with its position.
#[derive(Clone, Copy, Debug)]
pub struct StreamChunk<'a> {
    /// Event time.
    pub ts: Timestamp,
    /// The socket's connection, oriented client → server.
    pub key: ConnKey,
    /// Which way the bytes travel.
    pub dir: Direction,
    /// Position of `data[0]` in this direction's byte stream. A jump forward
    /// between chunks is a gap the reassembler reports.
    pub offset: u64,
    /// The bytes.
    pub data: &'a [u8],
    /// How they were captured.
    pub source: CaptureSource,
    /// The TLS library whose plaintext they are, for TLS sources.
    pub tls_library: Option<TlsLibrary>,
    /// The owning process's name.
    pub comm: Option<Comm>,
    /// Inbound or outbound, from the traced process's point of view.
    pub traffic: Option<TrafficDirection>,
}

/// One input to the reassembler.
#[derive(Clone, Copy, Debug)]
pub enum Input<'a> {
    /// A TCP segment from a packet source.
    Segment(Segment<'a>),
    /// Bytes of one socket from a socket-level source.
    Chunk(StreamChunk<'a>),
    /// A socket-level source saw the socket closed.
    Closed {
        /// When.
        ts: Timestamp,
        /// Which connection.
        key: ConnKey,
    },
    /// A network namespace went away: every connection seen in it is
    /// flushed and closed. The pipeline hands this to every worker.
    NetnsClosed {
        /// When.
        ts: Timestamp,
        /// Which namespace.
        netns: NetnsId,
    },
}

impl<'a> Input<'a> {
    /// The bytes the input carries (none for closes).
    pub fn payload(&self) -> &'a [u8] {
        match self {
            Input::Segment(s) => s.payload,
            Input::Chunk(c) => c.data,
            Input::Closed { .. } | Input::NetnsClosed { .. } => &[],
        }
    }

    /// The same input carrying `payload` instead: how a batch keeps inputs
    /// whose bytes it copied elsewhere.
    pub fn with_payload<'b>(self, payload: &'b [u8]) -> Input<'b> {
        match self {
            Input::Segment(s) => Input::Segment(Segment {
                ts: s.ts,
                src: s.src,
                dst: s.dst,
                netns: s.netns,
                seq: s.seq,
                ack: s.ack,
                flags: s.flags,
                payload,
            }),
            Input::Chunk(c) => Input::Chunk(StreamChunk {
                ts: c.ts,
                key: c.key,
                dir: c.dir,
                offset: c.offset,
                data: payload,
                source: c.source,
                tls_library: c.tls_library,
                comm: c.comm,
                traffic: c.traffic,
            }),
            Input::Closed { ts, key } => Input::Closed { ts, key },
            Input::NetnsClosed { ts, netns } => Input::NetnsClosed { ts, netns },
        }
    }

    /// The event time.
    pub fn ts(&self) -> Timestamp {
        match self {
            Input::Segment(s) => s.ts,
            Input::Chunk(c) => c.ts,
            Input::Closed { ts, .. } | Input::NetnsClosed { ts, .. } => *ts,
        }
    }

    /// The connection's key, in canonical order (see [`ConnKey::canonical`]);
    /// `None` for inputs that concern every connection of a namespace.
    pub fn canonical_key(&self) -> Option<ConnKey> {
        match self {
            Input::Segment(s) => Some(ConnKey::new(s.src, s.dst, s.netns).canonical().0),
            Input::Chunk(c) => Some(c.key.canonical().0),
            Input::Closed { key, .. } => Some(key.canonical().0),
            Input::NetnsClosed { .. } => None,
        }
    }
}

/// Why a connection ended, as told to the parser.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// Both sides sent FIN, or the socket was closed.
    Fin,
    /// A side sent RST.
    Reset,
    /// No packet for longer than the inactivity timeout.
    Timeout,
    /// Evicted to make room under the connection cap.
    Evicted,
    /// The pipeline is shutting down.
    Shutdown,
}
