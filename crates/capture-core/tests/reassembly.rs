//! The TCP reassembler, case by case, with crafted segments.

#![allow(clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use capture_core::Limits;
use capture_core::model::*;
use capture_core::reassembly::TcpReassembler;
use capture_core::stage::Reassembler;
use capture_core::stats::{Counter, Counters, DropReason};
use capture_core::testkit::{Event, Recorder, Wire, addr};

const C2S: Direction = Direction::ClientToServer;
const S2C: Direction = Direction::ServerToClient;

fn client() -> SocketAddr {
    addr("10.0.0.1:40000")
}
fn server() -> SocketAddr {
    addr("10.0.0.2:80")
}

/// Segments of the connection between `client()` and `server()`.
fn wire() -> Wire {
    Wire::new("10.0.0.1:40000", "10.0.0.2:80")
}

const SYN: TcpFlags = TcpFlags::SYN;
const ACK: TcpFlags = TcpFlags::ACK;
const FIN: TcpFlags = TcpFlags::FIN.union(TcpFlags::ACK);
const RST: TcpFlags = TcpFlags::RST;

fn reassembler(limits: Limits) -> (TcpReassembler, Arc<Counters>) {
    let counters = Arc::new(Counters::default());
    (TcpReassembler::new(limits, counters.clone()), counters)
}

/// A reassembler with `limits` that has taken `inputs`, what it delivered,
/// and its counters.
fn pushed(inputs: &[Input<'_>], limits: Limits) -> (TcpReassembler, Recorder, Arc<Counters>) {
    let (mut r, counters) = reassembler(limits);
    let mut rec = Recorder::default();
    for i in inputs {
        r.push(*i, &mut rec);
    }
    (r, rec, counters)
}

fn run(inputs: &[Input<'_>], limits: Limits) -> (Recorder, Arc<Counters>, usize) {
    let (mut r, mut rec, counters) = pushed(inputs, limits);
    let left = r.connections();
    r.flush(Timestamp(u64::MAX / 2), &mut rec);
    (rec, counters, left)
}

#[test]
fn handshake_data_both_ways_and_fin_close() {
    let mut w = wire();
    let inputs = [
        w.seg(true, 100, SYN, b""),
        w.seg(false, 500, SYN | ACK, b""),
        w.seg(true, 101, ACK, b"GET / HTTP/1.1\r\n\r\n"),
        w.seg(false, 501, ACK, b"HTTP/1.1 200 OK\r\n"),
        w.seg(false, 518, ACK, b"\r\n"),
        w.seg(true, 119, FIN, b""),
        w.seg(false, 520, FIN, b""),
    ];
    let (rec, _, left) = run(&inputs, Limits::default());
    assert_eq!(left, 0, "both FINs close the connection");
    assert_eq!(rec.opens(), vec![(client(), false)]);
    assert_eq!(rec.stream(C2S), b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(rec.stream(S2C), b"HTTP/1.1 200 OK\r\n\r\n");
    assert_eq!(rec.closes(), vec![CloseReason::Fin]);
    assert!(rec.gaps(C2S).is_empty() && rec.gaps(S2C).is_empty());
}

#[test]
fn out_of_order_segments_are_ordered() {
    let mut w = wire();
    let inputs = [
        w.seg(true, 100, SYN, b""),
        w.seg(true, 111, ACK, b"cc"),
        w.seg(true, 106, ACK, b"bbbbb"),
        w.seg(true, 101, ACK, b"aaaaa"),
    ];
    let (rec, counters, _) = run(&inputs, Limits::default());
    assert_eq!(rec.stream(C2S), b"aaaaabbbbbcc");
    assert_eq!(counters.drops(DropReason::Gap), 0);
}

#[test]
fn retransmissions_are_delivered_once_and_counted() {
    let mut w = wire();
    let inputs = [
        w.seg(true, 100, SYN, b""),
        w.seg(true, 101, ACK, b"hello"),
        w.seg(true, 101, ACK, b"hello"),
        w.seg(true, 106, ACK, b"world"),
        w.seg(true, 106, ACK, b"world"),
    ];
    let (rec, counters, _) = run(&inputs, Limits::default());
    assert_eq!(rec.stream(C2S), b"helloworld");
    assert_eq!(counters.drops(DropReason::Retransmission), 2);
}

#[test]
fn overlaps_keep_the_bytes_already_delivered_or_starting_earliest() {
    let mut w = wire();
    let inputs = [
        w.seg(true, 100, SYN, b""),
        w.seg(true, 101, ACK, b"abcd"),
        // Overlaps delivered bytes: only "ef" is new; "XX" is not used.
        w.seg(true, 103, ACK, b"XXef"),
        // Two held runs overlapping each other: the earlier-starting one wins.
        w.seg(true, 110, ACK, b"jkl"),
        w.seg(true, 109, ACK, b"iJK"),
        w.seg(true, 107, ACK, b"gh"),
    ];
    let (rec, _, _) = run(&inputs, Limits::default());
    assert_eq!(rec.stream(C2S), b"abcdefghiJKl");
}

#[test]
fn rst_closes_with_reset_and_delivers_what_it_can() {
    let mut w = wire();
    let inputs = [
        w.seg(true, 100, SYN, b""),
        w.seg(true, 101, ACK, b"abc"),
        w.seg(true, 110, ACK, b"zzz"),
        w.seg(false, 900, RST, b""),
    ];
    let (rec, _, left) = run(&inputs, Limits::default());
    assert_eq!(
        left, 1,
        "segments reordered behind a RST are still waited for"
    );
    assert_eq!(rec.closes(), vec![CloseReason::Reset]);
    assert_eq!(rec.stream(C2S), b"abczzz");
    assert_eq!(
        rec.gaps(C2S),
        vec![6],
        "the missing 6 bytes are a gap, not glued"
    );
}

#[test]
fn sequence_numbers_wrap_around() {
    let mut w = wire();
    let isn = u32::MAX - 3;
    let inputs = [
        w.seg(true, isn, SYN, b""),
        w.seg(true, isn.wrapping_add(1), ACK, b"abc"),
        // This one crosses 2^32.
        w.seg(true, isn.wrapping_add(4), ACK, b"defgh"),
        w.seg(true, isn.wrapping_add(12), ACK, b"lmn"),
        w.seg(true, isn.wrapping_add(9), ACK, b"ijk"),
    ];
    let (rec, counters, _) = run(&inputs, Limits::default());
    assert_eq!(rec.stream(C2S), b"abcdefghijklmn");
    assert_eq!(counters.drops(DropReason::Gap), 0);
}

#[test]
fn connection_joined_mid_stream_guesses_the_server_by_port() {
    let mut w = wire();
    let inputs = [
        w.seg(true, 7000, ACK, b"GET /a HTTP/1.1\r\n\r\n"),
        w.seg(false, 9000, ACK, b"HTTP/1.1 200 OK\r\n\r\n"),
    ];
    let (rec, _, _) = run(&inputs, Limits::default());
    assert_eq!(
        rec.opens(),
        vec![(client(), true)],
        "mid-stream, client is the high port"
    );
    assert_eq!(rec.stream(C2S), b"GET /a HTTP/1.1\r\n\r\n");
    assert_eq!(rec.stream(S2C), b"HTTP/1.1 200 OK\r\n\r\n");
}

#[test]
fn mid_stream_data_reordered_before_its_predecessor_is_kept() {
    let mut w = wire();
    // No SYN: the later segment arrives first; the earlier one must not be lost.
    let inputs = [
        w.seg(true, 7005, ACK, b"world"),
        w.seg(true, 7000, ACK, b"hello"),
    ];
    let (rec, _, _) = run(&inputs, Limits::default());
    assert_eq!(rec.stream(C2S), b"helloworld");
}

#[test]
fn syn_reordered_after_data_still_anchors_the_start() {
    let mut w = wire();
    let inputs = [
        w.seg(true, 106, ACK, b"world"),
        w.seg(true, 100, SYN, b""),
        w.seg(true, 101, ACK, b"hello"),
    ];
    let (rec, _, _) = run(&inputs, Limits::default());
    assert_eq!(rec.stream(C2S), b"helloworld");
    assert_eq!(
        rec.opens(),
        vec![(client(), false)],
        "the SYN was seen: not mid-stream"
    );
}

#[test]
fn tcp_fast_open_data_in_the_syn() {
    let mut w = wire();
    let inputs = [
        w.seg(true, 100, SYN, b"GET / HTTP/1.1\r\n"),
        w.seg(true, 117, ACK, b"\r\n"),
    ];
    let (rec, _, _) = run(&inputs, Limits::default());
    assert_eq!(rec.stream(C2S), b"GET / HTTP/1.1\r\n\r\n");
}

#[test]
fn a_lost_segment_is_a_gap_of_its_exact_length() {
    let mut w = wire();
    let mut inputs = vec![
        w.seg(true, 100, SYN, b""),
        w.seg(false, 499, SYN | ACK, b""),
        w.seg(true, 101, ACK, b"aaaa"),
    ];
    // 7 bytes at 105..112 never arrive.
    inputs.push(w.seg(true, 112, ACK, b"bbbb"));
    // Enough later traffic to exhaust the reordering window.
    let limits = Limits {
        reorder_window_segments: 4,
        ..Limits::default()
    };
    for _ in 0..4 {
        inputs.push(w.seg(false, 500, ACK, b""));
    }
    let (_, rec, counters) = pushed(&inputs, limits);
    assert_eq!(
        rec.gaps(C2S),
        vec![7],
        "declared while the connection is still open"
    );
    assert_eq!(rec.stream(C2S), b"aaaabbbb");
    assert_eq!(counters.drops(DropReason::Gap), 1);
    assert_eq!(counters.get(Counter::GapBytes), 7);
    let order: Vec<_> = rec.events.iter().map(|(_, e)| e.clone()).collect();
    assert_eq!(
        order[1..],
        [
            Event::Data(C2S, b"aaaa".to_vec()),
            Event::Gap(C2S, 7),
            Event::Data(C2S, b"bbbb".to_vec())
        ]
    );
}

#[test]
fn bytes_announced_by_fin_but_never_seen_are_a_gap() {
    let mut w = wire();
    let inputs = [
        w.seg(true, 100, SYN, b""),
        w.seg(true, 101, ACK, b"ab"),
        w.seg(true, 106, FIN, b""),
    ];
    let (rec, _, _) = run(&inputs, Limits::default());
    assert_eq!(rec.gaps(C2S), vec![3]);
}

#[test]
fn least_recently_active_connection_is_evicted_at_the_cap() {
    let limits = Limits {
        max_connections: 2,
        ..Limits::default()
    };
    let (mut r, counters) = reassembler(limits);
    let mut rec = Recorder::default();
    let mut ts = 0;
    let mut seg = |port: u16, payload: &'static [u8]| {
        ts += 1;
        Input::Segment(Segment {
            ts: Timestamp(ts),
            src: SocketAddr::new("10.0.0.1".parse().unwrap(), port),
            dst: server(),
            netns: NetnsId::UNKNOWN,
            seq: 1,
            ack: 0,
            flags: SYN,
            payload,
        })
    };
    r.push(seg(1001, b"a"), &mut rec);
    r.push(seg(1002, b"b"), &mut rec);
    // Touch 1001 so that 1002 becomes the least recently active.
    let mut touch = seg(1001, b"");
    if let Input::Segment(s) = &mut touch {
        s.flags = ACK;
        s.seq = 3;
        s.payload = b"c";
    }
    r.push(touch, &mut rec);
    r.push(seg(1003, b"d"), &mut rec);
    assert_eq!(r.connections(), 2);
    assert_eq!(counters.drops(DropReason::ConnectionEvicted), 1);
    assert_eq!(rec.closes(), vec![CloseReason::Evicted]);
    let evicted = rec
        .events
        .iter()
        .find(|(_, e)| matches!(e, Event::Close(_)))
        .unwrap()
        .0;
    let evicted_open = rec
        .events
        .iter()
        .find(|(c, e)| *c == evicted && matches!(e, Event::Open { .. }));
    assert!(matches!(evicted_open, Some((_, Event::Open { client, .. })) if client.port() == 1002));
}

#[test]
fn silent_connections_time_out_in_packet_time() {
    let limits = Limits {
        inactivity_timeout: Duration::from_secs(5),
        ..Limits::default()
    };
    let (mut r, counters) = reassembler(limits);
    let mut rec = Recorder::default();
    let mut w = wire();
    r.push(w.seg(true, 100, SYN, b""), &mut rec);
    r.push(w.seg(true, 101, ACK, b"x"), &mut rec);
    r.advance(Timestamp(w.now().0 + 4_000_000_000), &mut rec);
    assert_eq!(r.connections(), 1, "not yet idle for 5 s");
    r.advance(Timestamp(w.now().0 + 6_000_000_000), &mut rec);
    assert_eq!(r.connections(), 0);
    assert_eq!(rec.closes(), vec![CloseReason::Timeout]);
    assert_eq!(counters.drops(DropReason::ConnectionTimeout), 1);
}

#[test]
fn per_connection_buffer_cap_declares_the_hole_early() {
    let limits = Limits {
        conn_buffer_bytes: 10,
        ..Limits::default()
    };
    let mut w = wire();
    let inputs = [
        w.seg(true, 100, SYN, b""),
        w.seg(true, 111, ACK, b"0123456789"),
        w.seg(true, 121, ACK, b"abc"), // 13 bytes held > 10: the hole 101..111 is given up
    ];
    let (r, rec, counters) = pushed(&inputs, limits);
    assert_eq!(rec.gaps(C2S), vec![10]);
    assert_eq!(rec.stream(C2S), b"0123456789abc");
    assert_eq!(counters.drops(DropReason::ConnBufferFull), 1);
    assert_eq!(r.buffered_bytes(), 0);
}

#[test]
fn total_buffer_cap_drops_out_of_order_bytes_and_counts_them() {
    // Room for one held segment of 5 bytes with what holding it costs
    // (about a hundred bytes), not for two.
    let limits = Limits {
        total_buffer_bytes: 150,
        ..Limits::default()
    };
    let mut w = wire();
    let inputs = [
        w.seg(true, 100, SYN, b""),
        w.seg(true, 111, ACK, b"12345"),
        w.seg(true, 121, ACK, b"67890"), // would exceed the cap
    ];
    let (mut r, mut rec, counters) = pushed(&inputs, limits);
    assert!(
        (5..=150).contains(&r.buffered_bytes()),
        "{} bytes held for a 5-byte segment",
        r.buffered_bytes()
    );
    assert_eq!(counters.drops(DropReason::TotalBufferFull), 1);
    r.flush(w.now(), &mut rec);
    assert_eq!(rec.stream(C2S), b"12345");
    // 101..111 was never seen; 116..121 never seen and 121..126 dropped at the cap.
    assert_eq!(
        rec.gaps(C2S),
        vec![10, 10],
        "dropped bytes are reported as lost, never glued"
    );
}

#[test]
fn late_duplicates_after_close_do_not_open_ghost_connections() {
    let mut w = wire();
    let inputs = [
        w.seg(true, 100, SYN, b""),
        w.seg(true, 101, ACK, b"abc"),
        w.seg(true, 104, FIN, b""),
        w.seg(false, 500, SYN | ACK, b""),
        w.seg(false, 501, FIN, b""),
        w.seg(true, 101, ACK, b"abc"),
    ];
    let (rec, counters, _) = run(&inputs, Limits::default());
    assert_eq!(rec.opens().len(), 1);
    assert_eq!(counters.drops(DropReason::LateSegment), 1);
}

#[test]
fn a_new_syn_on_the_same_ports_starts_a_new_connection() {
    let mut w = wire();
    let inputs = [
        w.seg(true, 100, SYN, b""),
        w.seg(true, 101, ACK, b"one"),
        w.seg(true, 104, FIN, b""),
        w.seg(false, 500, FIN, b""),
        w.seg(true, 90_000, SYN, b""),
        w.seg(true, 90_001, ACK, b"two"),
    ];
    let (rec, _, _) = run(&inputs, Limits::default());
    assert_eq!(rec.opens().len(), 2);
    assert_eq!(rec.stream(C2S), b"onetwo");
}

fn chunk(offset: u64, dir: Direction, data: &'static [u8], netns: u64) -> Input<'static> {
    Input::Chunk(StreamChunk {
        ts: Timestamp(offset + 1),
        key: ConnKey {
            client: client(),
            server: server(),
            netns: NetnsId(netns),
            pid: Some(42),
            fd: Some(7),
        },
        dir,
        offset,
        data,
        source: CaptureSource::EbpfTls,
        tls_library: Some(TlsLibrary::OpenSsl3),
        comm: Some(Comm::new("curl")),
        traffic: Some(TrafficDirection::Outbound),
    })
}

#[test]
fn socket_chunks_are_ordered_by_position_and_jumps_are_gaps() {
    let inputs = [
        chunk(0, C2S, b"GET / HTTP/1.1\r\n", 1),
        chunk(16, C2S, b"\r\n", 1),
        chunk(0, S2C, b"HTTP/1.1 200 OK\r\n", 1),
        // 100 bytes of the response were lost (ring buffer full).
        chunk(117, S2C, b"tail", 1),
        Input::Closed {
            ts: Timestamp(1000),
            key: ConnKey {
                client: client(),
                server: server(),
                netns: NetnsId(1),
                pid: Some(42),
                fd: Some(7),
            },
        },
    ];
    let (rec, _, left) = run(&inputs, Limits::default());
    assert_eq!(left, 0, "Closed ends the connection");
    assert_eq!(rec.stream(C2S), b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(rec.stream(S2C), b"HTTP/1.1 200 OK\r\ntail");
    assert_eq!(rec.gaps(S2C), vec![100]);
    // The chunk's TLS library reaches the parser's connection metadata.
    assert!(rec.events.iter().any(|(_, e)| matches!(
        e,
        Event::Open {
            tls_library: Some(TlsLibrary::OpenSsl3),
            ..
        }
    )));
}

#[test]
fn a_vanished_namespace_closes_only_its_connections() {
    let inputs = [chunk(0, C2S, b"a", 1), chunk(0, C2S, b"b", 2)];
    let (mut r, mut rec, _) = pushed(&inputs, Limits::default());
    assert_eq!(r.connections(), 2);
    r.push(
        Input::NetnsClosed {
            ts: Timestamp(10),
            netns: NetnsId(1),
        },
        &mut rec,
    );
    assert_eq!(r.connections(), 1);
    assert_eq!(rec.closes(), vec![CloseReason::Fin]);
}

#[test]
fn data_reordered_behind_a_rst_is_kept_and_the_reset_closes_after_the_window() {
    let mut w = wire();
    let limits = Limits {
        reorder_window_segments: 3,
        ..Limits::default()
    };
    let inputs = [
        w.seg(true, 100, SYN, b""),
        w.seg(false, 900, SYN | ACK, b""),
        w.seg(true, 101, ACK, b"abc"),
        w.seg(false, 901, RST, b""),
        // Sent before the RST, captured after it.
        w.seg(true, 104, ACK, b"def"),
    ];
    let (mut r, mut rec, _) = pushed(&inputs, limits);
    assert_eq!(r.connections(), 1);
    assert_eq!(rec.stream(C2S), b"abcdef");
    r.push(w.seg(true, 107, ACK, b"g"), &mut rec);
    assert_eq!(r.connections(), 1);
    r.push(w.seg(true, 108, ACK, b"h"), &mut rec);
    assert_eq!(r.connections(), 0, "closed three segments after the RST");
    assert_eq!(rec.closes(), vec![CloseReason::Reset]);
}

#[test]
fn a_reset_connection_closes_after_the_reordering_time() {
    let mut w = wire();
    let (mut r, _) = reassembler(Limits::default());
    let mut rec = Recorder::default();
    r.push(w.seg(true, 100, SYN, b""), &mut rec);
    r.push(w.seg(true, 101, ACK, b"abc"), &mut rec);
    r.push(w.seg(false, 900, RST, b""), &mut rec);
    r.advance(Timestamp(w.now().0 + 100_000_000), &mut rec);
    assert_eq!(r.connections(), 1);
    r.advance(Timestamp(w.now().0 + 600_000_000), &mut rec);
    assert_eq!(r.connections(), 0);
    assert_eq!(rec.closes(), vec![CloseReason::Reset]);
}

#[test]
fn a_response_is_not_delivered_before_the_request_it_acknowledges() {
    let mut w = wire();
    let inputs = [
        w.seg(true, 100, SYN, b""),
        w.seg(false, 900, SYN | ACK, b""),
        // The response (acknowledging the 7-byte request) is captured first.
        Input::Segment(Segment {
            ack: 108,
            ..seg_of(w.seg(false, 901, ACK, b"200 OK\n"))
        }),
        w.seg(true, 101, ACK, b"GET /a\n"),
    ];
    let (rec, _, _) = run(&inputs, Limits::default());
    let order: Vec<_> = rec
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Data(d, _) => Some(*d),
            _ => None,
        })
        .collect();
    assert_eq!(order, vec![C2S, S2C], "request first, then its response");
}

#[test]
fn a_join_before_a_response_keeps_it_before_the_request_that_acknowledged_it() {
    // No SYN: the first bytes seen are a response whose request came before
    // the capture; the next request acknowledges that response. Nothing is
    // released before the close (too few segments for the reordering
    // window), and the close must still keep the acknowledgment order.
    let mut w = wire();
    let old = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    let request = b"GET /new HTTP/1.1\r\n\r\n";
    let new = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    let with_ack = |input: Input<'static>, ack: u32| {
        Input::Segment(Segment {
            ack,
            flags: ACK,
            ..seg_of(input)
        })
    };
    let inputs = [
        with_ack(w.seg(false, 9000, ACK, old), 7000),
        with_ack(w.seg(true, 7000, ACK, request), 9000 + old.len() as u32),
        with_ack(
            w.seg(false, 9000 + old.len() as u32, ACK, new),
            7000 + request.len() as u32,
        ),
    ];
    let (rec, counters, _) = run(&inputs, Limits::default());
    let data: Vec<_> = rec
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Data(d, bytes) => Some((*d, bytes.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        data,
        vec![
            (S2C, old.to_vec()),
            (C2S, request.to_vec()),
            (S2C, new.to_vec())
        ],
        "the old response, then the request that acknowledged it, then its answer"
    );
    assert_eq!(counters.drops(DropReason::Gap), 0);
}

fn seg_of(input: Input<'static>) -> Segment<'static> {
    match input {
        Input::Segment(s) => s,
        _ => unreachable!(),
    }
}

#[test]
fn an_empty_chunk_marks_how_far_the_stream_got() {
    // The eBPF side caps a large call and marks its true end with an empty chunk.
    let inputs = [
        chunk(0, C2S, b"POST / HTTP/1.1\r\n", 1),
        chunk(5_000, C2S, b"", 1),
        Input::Closed {
            ts: Timestamp(9_000),
            key: ConnKey {
                client: client(),
                server: server(),
                netns: NetnsId(1),
                pid: Some(42),
                fd: Some(7),
            },
        },
    ];
    let (rec, _, _) = run(&inputs, Limits::default());
    assert_eq!(rec.gaps(C2S), vec![5_000 - 17]);
}

#[test]
fn a_bare_ack_beyond_the_last_byte_reveals_a_lost_tail() {
    let mut w = wire();
    let limits = Limits {
        reorder_window_segments: 2,
        ..Limits::default()
    };
    let inputs = [
        w.seg(true, 100, SYN, b""),
        w.seg(false, 900, SYN | ACK, b""),
        w.seg(true, 101, ACK, b"GET /"),
        // 4 bytes from 106 lost; the client's next bare ACK sits at 110.
        w.seg(true, 110, ACK, b""),
        w.seg(false, 901, ACK, b""),
        w.seg(false, 901, ACK, b""),
    ];
    let (_, rec, _) = pushed(&inputs, limits);
    assert_eq!(
        rec.gaps(C2S),
        vec![4],
        "declared while the connection is open"
    );
}

#[test]
fn overlapping_segments_with_different_bytes_are_counted_and_reported() {
    let mut w = wire();
    let inputs = [
        w.seg(true, 100, SYN, b""),
        // Held: the hole 101..105 is still open.
        w.seg(true, 105, ACK, b"EFGH"),
        // The same bytes again: a plain retransmission, no conflict.
        w.seg(true, 105, ACK, b"EFGH"),
        // Other bytes for 106..108: what an IDS evasion sends.
        w.seg(true, 106, ACK, b"xy"),
        // Held too (the server's start is not known yet): other bytes for 107.
        w.seg(true, 101, ACK, b"abcd"),
        w.seg(true, 107, ACK, b"Z"),
        // Identical to what is held: no conflict.
        w.seg(true, 103, ACK, b"cdE"),
    ];
    let (rec, counters, _) = run(&inputs, Limits::default());
    assert_eq!(rec.stream(C2S), b"abcdEFGH", "the earlier bytes are kept");
    assert_eq!(counters.drops(DropReason::OverlapConflict), 2);
    let conflicts = rec
        .events
        .iter()
        .filter(|(_, e)| *e == Event::Conflict(C2S))
        .count();
    assert_eq!(conflicts, 2, "the handler is told, to flag the exchange");
}

#[test]
fn forged_sequence_numbers_cannot_claim_gigabytes_lost() {
    let mut w = wire();
    let mut inputs = vec![
        w.seg(true, 100, SYN, b""),
        w.seg(false, 500, SYN | ACK, b""),
        w.seg(true, 101, ACK, b"GET"),
    ];
    // A thousand segments, FINs and bare ACKs each claiming to be almost
    // 2 GiB ahead: taken as gaps they would add up to terabytes.
    for i in 0..1000u32 {
        let far = 104u32.wrapping_add((1 << 31) - 1000 + i);
        inputs.push(w.seg(true, far, ACK, b"x"));
        inputs.push(w.seg(true, far, FIN, b""));
        inputs.push(w.seg(true, far.wrapping_add(7), ACK, b""));
    }
    // One within a window (100 MB ahead): a real gap, of what a window holds.
    inputs.push(w.seg(true, 104 + 100_000_000, ACK, b"y"));
    let (rec, counters, _) = run(&inputs, Limits::default());
    assert_eq!(counters.drops(DropReason::OutOfWindow), 3000);
    assert_eq!(rec.gaps(C2S), vec![100_000_000]);
    assert_eq!(counters.drops(DropReason::Gap), 1);
    assert_eq!(counters.get(Counter::GapBytes), 100_000_000);
    assert_eq!(rec.stream(C2S), b"GETy");
}
