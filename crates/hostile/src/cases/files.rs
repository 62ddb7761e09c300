//! Damaged capture files: every one is read as far as it goes, and the
//! damage is counted.

use super::{Case, Input, pipeline_bytes};
use crate::conn::Conn;
use crate::wire::{Emit, PcapWriter, pcap_header};
use capture_core::model::Timestamp;

pub(super) fn cases() -> Vec<Case> {
    let small = |s: &crate::run::Setup| pipeline_bytes(s);
    vec![
        Case {
            name: "pcap_noise_after_header",
            class: "file",
            about: "a valid pcap header, one exchange, then 1 MB of seeded random bytes",
            input: Input::File(noise_after_header),
            shows: &["packet_malformed", "packet_truncated"],
            heap: small,
            known: None,
        },
        Case {
            name: "pcap_cut_in_last_record",
            class: "file",
            about: "one exchange whose last record is cut in half",
            input: Input::File(cut_last),
            shows: &["packet_truncated", "packet_malformed"],
            heap: small,
            known: None,
        },
        Case {
            name: "pcap_record_claims_4gib",
            class: "file",
            about: "a record header claiming a 4 GiB packet",
            input: Input::File(huge_caplen),
            shows: &["packet_truncated", "packet_malformed"],
            heap: small,
            known: None,
        },
        Case {
            name: "pcapng_block_length_ffffffff",
            class: "file",
            about: "a pcapng section, an interface, then a block whose length is 0xFFFFFFFF",
            input: Input::File(pcapng_huge_block),
            shows: &["packet_truncated", "packet_malformed"],
            heap: small,
            known: None,
        },
        Case {
            name: "malformed_frames",
            class: "file",
            about: "frames with a short IPv4 header length, an IP length past the frame, 1000 VLAN tags, a TCP offset past the segment",
            input: Input::File(malformed_frames),
            shows: &["packet_malformed", "packet_truncated"],
            heap: small,
            known: None,
        },
    ]
}

/// One GET and its response, as a pcap file.
fn exchange_file() -> Vec<u8> {
    let mut w = PcapWriter::new(Vec::new());
    let mut c = Conn::new(1, 80, 1_000_000_000);
    c.handshake(&mut w);
    c.client(&mut w, b"GET /f HTTP/1.1\r\nHost: h\r\n\r\n");
    c.server(&mut w, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    c.close(&mut w);
    w.finish().unwrap_or_default()
}

fn noise_after_header() -> Vec<u8> {
    let mut f = exchange_file();
    let mut noise = vec![0u8; 1 << 20];
    super::http1::noise(42, &mut noise);
    f.extend_from_slice(&noise);
    f
}

fn cut_last() -> Vec<u8> {
    let mut f = exchange_file();
    let n = f.len() - 30;
    f.truncate(n);
    f
}

fn huge_caplen() -> Vec<u8> {
    let mut f = exchange_file();
    f.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0]);
    f.extend_from_slice(&0xffff_fff0u32.to_le_bytes());
    f.extend_from_slice(&0xffff_fff0u32.to_le_bytes());
    f.extend_from_slice(&[0xab; 100]);
    f
}

fn pcapng_huge_block() -> Vec<u8> {
    let mut f = Vec::new();
    // Section header block: type, length 28, byte-order magic, version 1.0, section length -1.
    f.extend_from_slice(&0x0a0d_0d0au32.to_le_bytes());
    f.extend_from_slice(&28u32.to_le_bytes());
    f.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
    f.extend_from_slice(&1u16.to_le_bytes());
    f.extend_from_slice(&0u16.to_le_bytes());
    f.extend_from_slice(&u64::MAX.to_le_bytes());
    f.extend_from_slice(&28u32.to_le_bytes());
    // Interface description block: Ethernet, snaplen 0.
    f.extend_from_slice(&1u32.to_le_bytes());
    f.extend_from_slice(&20u32.to_le_bytes());
    f.extend_from_slice(&1u16.to_le_bytes());
    f.extend_from_slice(&0u16.to_le_bytes());
    f.extend_from_slice(&0u32.to_le_bytes());
    f.extend_from_slice(&20u32.to_le_bytes());
    // An enhanced packet block that claims 4 GiB.
    f.extend_from_slice(&6u32.to_le_bytes());
    f.extend_from_slice(&u32::MAX.to_le_bytes());
    f.extend_from_slice(&[0x5a; 200]);
    f
}

/// A writer that emits raw frames into a pcap file.
struct Raw(Vec<u8>);

impl Emit for Raw {
    fn packet(&mut self, ts: Timestamp, frame: &[u8]) {
        crate::wire::pcap_record(ts, frame, &mut self.0);
    }
}

fn malformed_frames() -> Vec<u8> {
    let mut out = Raw(pcap_header(crate::wire::LINKTYPE_ETHERNET));
    let mut c = Conn::new(1, 80, 0);
    c.handshake(&mut out);
    let mut frame = Vec::new();
    crate::wire::tcp_frame(
        std::net::SocketAddrV4::new(std::net::Ipv4Addr::new(10, 0, 0, 1), 1000),
        std::net::SocketAddrV4::new(std::net::Ipv4Addr::new(10, 0, 0, 2), 80),
        1,
        1,
        capture_core::model::TcpFlags::ACK,
        b"GET / HTTP/1.1\r\n\r\n",
        &mut frame,
    );
    let ts = Timestamp(5);
    // IPv4 header length 4 words (less than the minimum 5).
    let mut f = frame.clone();
    if let Some(b) = f.get_mut(14) {
        *b = 0x44;
    }
    out.packet(ts, &f);
    // IPv4 total length beyond the frame.
    let mut f = frame.clone();
    if let Some(b) = f.get_mut(16..18) {
        b.copy_from_slice(&9000u16.to_be_bytes());
    }
    out.packet(ts, &f);
    // 1000 VLAN tags.
    let mut f = frame.get(..12).unwrap_or_default().to_vec();
    for _ in 0..1000 {
        f.extend_from_slice(&[0x81, 0x00, 0x00, 0x01]);
    }
    f.extend_from_slice(frame.get(12..).unwrap_or_default());
    out.packet(ts, &f);
    // TCP data offset 15 words in a segment shorter than 60 bytes of header.
    let mut f = frame.clone();
    if let Some(b) = f.get_mut(14 + 20 + 12) {
        *b = 0xf0;
    }
    f.truncate(14 + 20 + 30);
    out.packet(ts, &f);
    out.0
}
