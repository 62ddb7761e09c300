//! TCP forgeries: overlaps that disagree, sequence numbers far off,
//! segments in the worst order, floods of retransmissions.

use super::{Case, Input, Scale, pipeline_bytes};
use crate::conn::{Conn, Side};
use crate::run::Setup;
use crate::wire::Emit;
use capture_core::model::TcpFlags;

const DATA: TcpFlags = TcpFlags::ACK.union(TcpFlags::PSH);

pub(super) fn cases() -> Vec<Case> {
    let one = |s: &Setup| s.http1_conn_bytes() + s.limits.conn_buffer_bytes + pipeline_bytes(s);
    vec![
        Case {
            name: "overlap_conflict",
            class: "tcp",
            about: "1000 connections whose held out-of-order segment is sent again with other bytes (IDS evasion)",
            input: Input::Packets(overlap_conflict),
            shows: &["overlap_conflict"],
            heap: one,
            known: None,
        },
        Case {
            name: "forged_sequence_numbers",
            class: "tcp",
            about: "segments 2^31 bytes ahead, acknowledged by forged ACKs, on 1000 connections: gaps are counted, gap sizes stay bounded by what arrived",
            input: Input::Packets(forged_seq),
            shows: &["gaps", "out_of_window"],
            heap: one,
            known: None,
        },
        Case {
            name: "tiny_segments_reversed",
            class: "tcp",
            about: "200 connections each sending 64 KiB in 1-byte segments, last first: held bytes hit their caps",
            input: Input::Packets(tiny_reversed),
            shows: &["conn_buffer_full", "total_buffer_full", "gaps"],
            heap: |s| {
                s.limits.total_buffer_bytes
                    + 200
                        * (super::flood::IDLE_CONN_BYTES
                            + s.http.max_header_bytes
                            + s.http.body_limit)
                    + pipeline_bytes(s)
            },
            known: None,
        },
        Case {
            name: "retransmission_flood",
            class: "tcp",
            about: "one request segment sent 1M times",
            input: Input::Packets(retransmissions),
            shows: &["retransmission"],
            heap: one,
            known: None,
        },
        Case {
            name: "data_after_reset",
            class: "tcp",
            about: "a RST, then 100k segments on the dead connection: those within the reordering window after the RST are parsed, the rest counted as late (not as retransmissions)",
            input: Input::Packets(after_reset),
            shows: &["late_segment"],
            heap: one,
            known: None,
        },
        Case {
            name: "sequence_wraparound",
            class: "tcp",
            about: "1000 exchanges across the 2^32 sequence wrap: nothing lost",
            input: Input::Packets(wraparound),
            shows: &[],
            heap: one,
            known: None,
        },
    ]
}

fn overlap_conflict(e: &mut dyn Emit, s: Scale) {
    for n in 0..s.n(1000) as u32 {
        let mut c = Conn::new(n, 80, u64::from(n) * 10_000_000);
        c.handshake(e);
        let start = c.seq(Side::Client);
        let head = b"GET /innocent HTTP/1.1\r\n";
        let rest = b"Host: h\r\n\r\n";
        // The second segment first (held), then again with other bytes, then the first.
        let second = start.wrapping_add(head.len() as u32);
        c.raw(e, Side::Client, second, DATA, rest);
        c.raw(e, Side::Client, second, DATA, b"Host: x\r\n\r\n");
        c.raw(e, Side::Client, start, DATA, head);
        c.lose(Side::Client, (head.len() + rest.len()) as u32);
        c.server(e, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        c.close(e);
    }
}

fn forged_seq(e: &mut dyn Emit, s: Scale) {
    for n in 0..s.n(1000) as u32 {
        let mut c = Conn::new(n, 80, u64::from(n) * 10_000_000);
        c.handshake(e);
        c.client(e, b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
        c.lose(Side::Client, 1 << 31);
        c.client(e, b"GET /b HTTP/1.1\r\nHost: h\r\n\r\n");
        c.lose(Side::Server, 1 << 31);
        c.server(e, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        c.close(e);
    }
}

fn tiny_reversed(e: &mut dyn Emit, s: Scale) {
    let mut body = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 65000\r\n\r\n".to_vec();
    body.resize(64 * 1024, b'z');
    let n = s.n(200) as u32;
    let mut conns: Vec<Conn> = (0..n).map(|i| Conn::new(i, 80, 0)).collect();
    for c in &mut conns {
        c.handshake(e);
    }
    for (i, c) in conns.iter_mut().enumerate() {
        let start = c.seq(Side::Client);
        for k in (0..body.len()).rev() {
            c.raw(
                e,
                Side::Client,
                start.wrapping_add(k as u32),
                DATA,
                body.get(k..=k).unwrap_or_default(),
            );
        }
        let _ = i;
        c.lose(Side::Client, body.len() as u32);
        c.close(e);
    }
}

fn retransmissions(e: &mut dyn Emit, s: Scale) {
    let mut c = Conn::new(1, 80, 0);
    c.handshake(e);
    let start = c.seq(Side::Client);
    let req = b"GET /again HTTP/1.1\r\nHost: h\r\n\r\n";
    for _ in 0..s.n(1_000_000) {
        c.raw(e, Side::Client, start, DATA, req);
    }
    c.lose(Side::Client, req.len() as u32);
    c.server(e, b"HTTP/1.1 204 No Content\r\n\r\n");
    c.close(e);
}

fn after_reset(e: &mut dyn Emit, s: Scale) {
    let mut c = Conn::new(1, 80, 0);
    c.handshake(e);
    c.client(e, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    c.reset(e, Side::Server);
    for _ in 0..s.n(100_000) {
        c.client(e, b"GET /late HTTP/1.1\r\nHost: h\r\n\r\n");
    }
}

fn wraparound(e: &mut dyn Emit, s: Scale) {
    let mut c = Conn::new(1, 80, 0);
    // Start each side just short of the wrap.
    let (cs, ss) = (c.seq(Side::Client), c.seq(Side::Server));
    c.lose(Side::Client, u32::MAX - 5000 - cs);
    c.lose(Side::Server, u32::MAX - 50_000 - ss);
    c.handshake(e);
    for i in 0..s.n(1000) {
        c.client(
            e,
            format!("GET /{i} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes(),
        );
        c.server(e, b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
        c.server(e, &[b'w'; 100]);
    }
    c.close(e);
}
