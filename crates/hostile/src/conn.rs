//! One TCP connection as a case scripts it: a handshake, data each way cut
//! into segments, FIN or RST, and raw segments at any sequence number for
//! the cases that forge them.

use std::net::{Ipv4Addr, SocketAddrV4};

use capture_core::model::{TcpFlags, Timestamp};

use crate::wire::{Emit, MAX_PAYLOAD, tcp_frame};

/// Which end sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The end that sent the SYN.
    Client,
    /// The end that answered it.
    Server,
}

/// A scripted TCP connection between `10.a.b.c:port` and `10.255.0.1:80`
/// (or another server port).
#[derive(Debug)]
pub struct Conn {
    client: SocketAddrV4,
    server: SocketAddrV4,
    /// Next sequence number the client sends.
    client_seq: u32,
    /// Next sequence number the server sends.
    server_seq: u32,
    /// Packet time, nanoseconds.
    now: u64,
    /// Payload bytes per segment.
    mss: usize,
}

impl Conn {
    /// Connection number `n` (distinct client addresses and ports) to
    /// server port `port`, starting at time `start_ns`.
    pub fn new(n: u32, port: u16, start_ns: u64) -> Self {
        let [a, b, c, d] = n.to_be_bytes();
        let client = SocketAddrV4::new(
            Ipv4Addr::new(10, a, b, c.wrapping_add(1)),
            1024 + u16::from(d) * 250 + (n % 250) as u16,
        );
        Self {
            client,
            server: SocketAddrV4::new(Ipv4Addr::new(10, 255, 0, 1), port),
            client_seq: 1_000_000u32.wrapping_mul(n | 1),
            server_seq: 2_000_000u32.wrapping_mul(n | 1),
            now: start_ns,
            mss: 1448,
        }
    }

    /// Payload bytes per segment from now on (at most one frame's worth).
    pub fn with_mss(mut self, mss: usize) -> Self {
        self.mss = mss.clamp(1, MAX_PAYLOAD);
        self
    }

    /// The current packet time.
    pub fn now(&self) -> Timestamp {
        Timestamp(self.now)
    }

    /// Moves packet time forward.
    pub fn wait(&mut self, ns: u64) {
        self.now += ns;
    }

    /// The next sequence number `side` sends.
    pub fn seq(&self, side: Side) -> u32 {
        match side {
            Side::Client => self.client_seq,
            Side::Server => self.server_seq,
        }
    }

    fn seq_mut(&mut self, side: Side) -> &mut u32 {
        match side {
            Side::Client => &mut self.client_seq,
            Side::Server => &mut self.server_seq,
        }
    }

    fn other(side: Side) -> Side {
        match side {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }

    fn ends(&self, side: Side) -> (SocketAddrV4, SocketAddrV4) {
        match side {
            Side::Client => (self.client, self.server),
            Side::Server => (self.server, self.client),
        }
    }

    /// One segment as given, without moving the sequence numbers.
    pub fn raw(&mut self, e: &mut dyn Emit, side: Side, seq: u32, flags: TcpFlags, payload: &[u8]) {
        let (src, dst) = self.ends(side);
        let ack = self.seq(Self::other(side));
        // A frame of its own, not a buffer kept per connection: a case that
        // holds 10k connections must not weigh 10k frames of the generator's
        // in the heap the suite reads as cleartap's.
        let mut frame = Vec::with_capacity(payload.len() + 64);
        tcp_frame(src, dst, seq, ack, flags, payload, &mut frame);
        self.now += 1_000;
        e.packet(Timestamp(self.now), &frame);
    }

    /// SYN, SYN-ACK, ACK.
    pub fn handshake(&mut self, e: &mut dyn Emit) {
        let (c, s) = (self.client_seq, self.server_seq);
        self.raw(e, Side::Client, c, TcpFlags::SYN, b"");
        self.client_seq = c.wrapping_add(1);
        self.raw(e, Side::Server, s, TcpFlags::SYN | TcpFlags::ACK, b"");
        self.server_seq = s.wrapping_add(1);
        self.raw(e, Side::Client, self.client_seq, TcpFlags::ACK, b"");
    }

    /// `bytes` from `side`, in segments of the connection's size, in order.
    pub fn send(&mut self, e: &mut dyn Emit, side: Side, bytes: &[u8]) {
        for piece in bytes.chunks(self.mss) {
            let seq = self.seq(side);
            self.raw(e, side, seq, TcpFlags::ACK | TcpFlags::PSH, piece);
            *self.seq_mut(side) = seq.wrapping_add(piece.len() as u32);
        }
    }

    /// Client bytes.
    pub fn client(&mut self, e: &mut dyn Emit, bytes: &[u8]) {
        self.send(e, Side::Client, bytes);
    }

    /// Server bytes.
    pub fn server(&mut self, e: &mut dyn Emit, bytes: &[u8]) {
        self.send(e, Side::Server, bytes);
    }

    /// Skips `n` bytes of `side`'s stream without sending them (capture loss).
    pub fn lose(&mut self, side: Side, n: u32) {
        let seq = self.seq_mut(side);
        *seq = seq.wrapping_add(n);
    }

    /// FIN from both sides, each acknowledged.
    pub fn close(&mut self, e: &mut dyn Emit) {
        for side in [Side::Client, Side::Server] {
            let seq = self.seq(side);
            self.raw(e, side, seq, TcpFlags::FIN | TcpFlags::ACK, b"");
            *self.seq_mut(side) = seq.wrapping_add(1);
        }
        let seq = self.client_seq;
        self.raw(e, Side::Client, seq, TcpFlags::ACK, b"");
    }

    /// RST from `side`.
    pub fn reset(&mut self, e: &mut dyn Emit, side: Side) {
        let seq = self.seq(side);
        self.raw(e, side, seq, TcpFlags::RST | TcpFlags::ACK, b"");
    }
}
