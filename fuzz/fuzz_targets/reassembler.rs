//! The TCP reassembler fed arbitrary segments and chunks: no panic, and
//! its limits hold whatever the input.
#![no_main]

use std::sync::Arc;
use std::time::Duration;

use capture_core::Limits;
use capture_core::model::*;
use capture_core::reassembly::TcpReassembler;
use capture_core::stage::{ConnId, Reassembler, StreamHandler};
use capture_core::stats::Counters;
use libfuzzer_sys::fuzz_target;

/// Checks that each connection's events come in a legal order.
#[derive(Default)]
struct Check {
    open: std::collections::HashSet<ConnId>,
}

impl StreamHandler for Check {
    fn open(&mut self, conn: ConnId, _: &ConnMeta) {
        assert!(self.open.insert(conn), "opened twice");
    }
    fn data(&mut self, conn: ConnId, _: &ConnMeta, _: Direction, _: Timestamp, b: &[u8]) {
        assert!(self.open.contains(&conn) && !b.is_empty());
    }
    fn gap(&mut self, conn: ConnId, _: &ConnMeta, _: Direction, _: Timestamp, len: u64) {
        assert!(self.open.contains(&conn) && len > 0);
    }
    fn close(&mut self, conn: ConnId, _: &ConnMeta, _: Timestamp, _: CloseReason) {
        assert!(self.open.remove(&conn), "closed without open");
    }
}

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_connections: 4,
        conn_buffer_bytes: 512,
        total_buffer_bytes: 1024,
        reorder_window_segments: 3,
        reorder_window_time: Duration::from_millis(5),
        inactivity_timeout: Duration::from_millis(50),
        closed_linger: Duration::from_millis(10),
        ..Limits::default()
    };
    let mut r = TcpReassembler::new(limits.clone(), Arc::new(Counters::default()));
    let mut check = Check::default();
    let mut ts = 0u64;
    // Each record: 12 header bytes, then up to 31 payload bytes.
    let mut rest = data;
    while let [
        kind,
        port,
        seq0,
        seq1,
        seq2,
        seq3,
        ack0,
        ack1,
        flags,
        len,
        dt,
        extra,
        tail @ ..,
    ] = rest
    {
        let len = usize::from(*len & 31).min(tail.len());
        let (payload, next) = tail.split_at(len);
        rest = next;
        ts += u64::from(*dt) * 1_000_000;
        let seq = u32::from_le_bytes([*seq0, *seq1, *seq2, *seq3]);
        let ack = u32::from(u16::from_le_bytes([*ack0, *ack1])) << (extra & 16);
        let a = std::net::SocketAddr::from(([10, 0, 0, 1], 1000 + u16::from(*port & 7)));
        let b = std::net::SocketAddr::from(([10, 0, 0, 2], 80));
        let (src, dst) = if kind & 1 == 0 { (a, b) } else { (b, a) };
        let input = match kind % 8 {
            0..=5 => Input::Segment(Segment {
                ts: Timestamp(ts),
                src,
                dst,
                netns: NetnsId(u64::from(extra & 1)),
                seq,
                ack,
                flags: TcpFlags::from_bits_retain(*flags),
                payload,
            }),
            6 => Input::Chunk(StreamChunk {
                ts: Timestamp(ts),
                key: ConnKey {
                    client: a,
                    server: b,
                    netns: NetnsId(2),
                    pid: Some(1),
                    fd: Some(u32::from(*port & 3)),
                },
                dir: if flags & 1 == 0 {
                    Direction::ClientToServer
                } else {
                    Direction::ServerToClient
                },
                offset: u64::from(seq & 0xffff),
                data: payload,
                source: CaptureSource::EbpfSyscall,
                tls_library: None,
                comm: None,
                traffic: None,
            }),
            _ => {
                r.advance(Timestamp(ts), &mut check);
                continue;
            }
        };
        r.push(input, &mut check);
        assert!(r.connections() <= limits.max_connections);
        assert!(r.buffered_bytes() <= limits.total_buffer_bytes);
    }
    r.flush(Timestamp(ts), &mut check);
    assert_eq!(r.connections(), 0);
    assert_eq!(r.buffered_bytes(), 0);
    assert!(
        check.open.is_empty(),
        "flush closes every opened connection"
    );
});
