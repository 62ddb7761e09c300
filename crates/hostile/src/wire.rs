//! Packets and capture files: Ethernet/IPv4/TCP frames (built with
//! etherparse) and the pcap file format they are written in.

use std::net::SocketAddrV4;

use capture_core::model::{TcpFlags, Timestamp};

/// Receives the frames a case produces, in capture order.
pub trait Emit {
    /// One Ethernet frame captured at `ts`.
    fn packet(&mut self, ts: Timestamp, frame: &[u8]);
}

/// Builds the Ethernet frame of one TCP segment into `out` (cleared first).
/// ACK among `flags` carries `ack`.
pub fn tcp_frame(
    src: SocketAddrV4,
    dst: SocketAddrV4,
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    payload: &[u8],
    out: &mut Vec<u8>,
) {
    out.clear();
    let mut b = etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(src.ip().octets(), dst.ip().octets(), 64)
        .tcp(src.port(), dst.port(), seq, 65_535);
    if flags.contains(TcpFlags::SYN) {
        b = b.syn();
    }
    if flags.contains(TcpFlags::ACK) {
        b = b.ack(ack);
    }
    if flags.contains(TcpFlags::FIN) {
        b = b.fin();
    }
    if flags.contains(TcpFlags::RST) {
        b = b.rst();
    }
    if flags.contains(TcpFlags::PSH) {
        b = b.psh();
    }
    // A payload too large for IPv4 is a bug in the case, not hostile input.
    b.write(out, payload)
        .unwrap_or_else(|e| panic!("cannot build a frame of {} bytes: {e}", payload.len()));
}

/// Largest TCP payload of one frame (IPv4 total length minus headers).
pub const MAX_PAYLOAD: usize = 65_535 - 40;

/// Link type of the frames: Ethernet.
pub const LINKTYPE_ETHERNET: u32 = 1;

/// The 24-byte header of a pcap file with nanosecond timestamps.
pub fn pcap_header(link: u32) -> Vec<u8> {
    let mut h = Vec::with_capacity(24);
    h.extend_from_slice(&0xa1b2_3c4d_u32.to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&4u16.to_le_bytes());
    h.extend_from_slice(&[0; 8]);
    h.extend_from_slice(&262_144u32.to_le_bytes());
    h.extend_from_slice(&link.to_le_bytes());
    h
}

/// Appends one pcap record (nanosecond timestamps).
pub fn pcap_record(ts: Timestamp, frame: &[u8], out: &mut Vec<u8>) {
    let ns = ts.as_nanos();
    let len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&((ns / 1_000_000_000) as u32).to_le_bytes());
    out.extend_from_slice(&((ns % 1_000_000_000) as u32).to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(frame);
}

/// Writes frames as a pcap file into a writer.
#[derive(Debug)]
pub struct PcapWriter<W: std::io::Write> {
    out: W,
    record: Vec<u8>,
    /// The first write error, if any.
    pub error: Option<std::io::Error>,
}

impl<W: std::io::Write> PcapWriter<W> {
    /// Writes the file header.
    pub fn new(mut out: W) -> Self {
        let error = out.write_all(&pcap_header(LINKTYPE_ETHERNET)).err();
        Self {
            out,
            record: Vec::new(),
            error,
        }
    }

    /// The writer, flushed.
    pub fn finish(mut self) -> std::io::Result<W> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: std::io::Write> Emit for PcapWriter<W> {
    fn packet(&mut self, ts: Timestamp, frame: &[u8]) {
        if self.error.is_some() {
            return;
        }
        self.record.clear();
        pcap_record(ts, frame, &mut self.record);
        if let Err(e) = self.out.write_all(&self.record) {
            self.error = Some(e);
        }
    }
}
