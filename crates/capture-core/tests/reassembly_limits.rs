//! The reassembler stays within its limits under a flood of connections.

#![allow(clippy::indexing_slicing)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use capture_core::Limits;
use capture_core::model::*;
use capture_core::reassembly::TcpReassembler;
use capture_core::stage::Reassembler;
use capture_core::stats::{Counter, Counters, DropReason};
use capture_core::testkit::{Tally, segment};

fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// 100k connections that never send FIN, each holding out-of-order bytes:
/// the table never exceeds its cap, held bytes never exceed theirs, and
/// every evicted connection is counted and closed.
#[test]
fn hundred_thousand_connections_without_fin_stay_within_the_caps() {
    let cap = 10_000;
    let held_cap = 4 << 20;
    let limits = Limits {
        max_connections: cap,
        total_buffer_bytes: held_cap,
        ..Limits::default()
    };
    let counters = Arc::new(Counters::default());
    let mut r = TcpReassembler::new(limits, counters.clone());
    let mut out = Tally::default();
    let payload = [b'x'; 512];
    let rss_before = rss_bytes();
    let server = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 1, 0, 1)), 80);
    for i in 0..100_000u32 {
        let client = SocketAddr::new(IpAddr::V4(Ipv4Addr::from(0x0a02_0000 + i)), 40_000);
        let ts = u64::from(i) * 1_000;
        r.push(segment(ts, client, server, 1, TcpFlags::SYN, b""), &mut out);
        let mut synack = segment(ts, server, client, 700, TcpFlags::SYN | TcpFlags::ACK, b"");
        if let Input::Segment(s) = &mut synack {
            s.ack = 2;
        }
        r.push(synack, &mut out);
        r.push(
            segment(ts, client, server, 2, TcpFlags::ACK, b"GET / HTTP/1.1\r\n"),
            &mut out,
        );
        // Out of order: held until the connection is evicted.
        let held = segment(ts, client, server, 5_000, TcpFlags::ACK, &payload);
        r.push(held, &mut out);
        assert!(r.connections() <= cap);
        assert!(r.buffered_bytes() <= held_cap);
    }
    assert_eq!(r.connections(), cap);
    assert_eq!(counters.drops(DropReason::ConnectionEvicted), 90_000);
    assert_eq!(out.closed, 90_000);
    assert!(
        counters.drops(DropReason::TotalBufferFull) > 0,
        "held bytes hit the total cap"
    );
    if let (Some(before), Some(after)) = (rss_before, rss_bytes()) {
        let grown = after.saturating_sub(before);
        assert!(
            grown < 256 << 20,
            "memory grew by {grown} bytes for a 10k-connection table"
        );
    }
    r.flush(Timestamp(u64::MAX / 4), &mut out);
    assert_eq!(r.connections(), 0);
    assert_eq!(r.buffered_bytes(), 0);
    assert_eq!(out.opened, out.closed);
}

/// A connection whose held bytes outgrow the per-connection cap is cut: the
/// hole becomes a gap, counted, and memory stays bounded.
#[test]
fn a_stream_larger_than_the_connection_cap_is_cut_and_counted() {
    // A reordering window so long that only the buffer cap can end the wait.
    let limits = Limits {
        conn_buffer_bytes: 64 << 10,
        reorder_window_segments: u32::MAX,
        reorder_window_time: std::time::Duration::from_secs(3600),
        ..Limits::default()
    };
    let counters = Arc::new(Counters::default());
    let mut r = TcpReassembler::new(limits, counters.clone());
    let mut out = Tally::default();
    let chunk = vec![b'y'; 1460];
    let client: SocketAddr = "10.0.0.1:40000".parse().unwrap();
    let server: SocketAddr = "10.0.0.2:80".parse().unwrap();
    let mut push = |seq: u32, flags: TcpFlags, payload: &[u8], r: &mut TcpReassembler| {
        r.push(
            segment(u64::from(seq), client, server, seq, flags, payload),
            &mut out,
        );
    };
    push(0, TcpFlags::SYN, b"", &mut r);
    // The first segment (1..1461) is lost; 10 MB follow.
    let mut seq = 1 + 1460;
    for _ in 0..7_000 {
        push(seq, TcpFlags::ACK, &chunk, &mut r);
        seq += 1460;
        assert!(r.buffered_bytes() <= (64 << 10) + 1460);
    }
    assert!(counters.drops(DropReason::ConnBufferFull) >= 1);
    assert_eq!(counters.drops(DropReason::Gap), 1);
    assert_eq!(counters.get(Counter::GapBytes), 1460);
}
