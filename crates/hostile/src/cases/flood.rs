//! Floods: more connections, requests or responses than any table holds.

use super::{Case, Input, Scale, pipeline_bytes};
use crate::conn::Conn;
use crate::wire::Emit;
use capture_core::model::TcpFlags;

/// Heap one idle tracked connection may take (reassembler and parser),
/// issue 14's current figure; pipeline's target is 1 KiB.
pub(super) const IDLE_CONN_BYTES: usize = 2048;

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "syn_flood",
            class: "flood",
            about: "300k SYNs (30k at least) from distinct clients, never answered: the connection table stays at its cap and evictions are counted",
            input: Input::Packets(syn_flood),
            shows: &["connection_evicted"],
            heap: |s| s.limits.max_connections * IDLE_CONN_BYTES + pipeline_bytes(s),
            known: None,
        },
        Case {
            name: "unanswered_request_flood",
            class: "flood",
            about: "1M pipelined GETs on one connection, no response: requests beyond the pending limit are counted",
            input: Input::Packets(unanswered_requests),
            shows: &["pending_request_limit"],
            heap: |s| s.http1_conn_bytes() + pipeline_bytes(s),
            known: None,
        },
        Case {
            name: "responses_without_requests",
            class: "flood",
            about: "1M responses on a connection whose client sent nothing: each reported with no_request",
            input: Input::Packets(responses_only),
            shows: &["no_request"],
            heap: |s| s.http1_conn_bytes() + pipeline_bytes(s),
            known: None,
        },
        Case {
            name: "half_heads_on_many_connections",
            class: "flood",
            about: "10k connections each holding 15 KiB of an unfinished request head until the capture ends",
            input: Input::Packets(half_heads),
            shows: &["incomplete", "unparsed_bytes", "parse_error"],
            heap: |s| 10_000 * (s.http.max_header_bytes + IDLE_CONN_BYTES) + pipeline_bytes(s),
            known: None,
        },
    ]
}

fn syn_flood(e: &mut dyn Emit, s: Scale) {
    // Always more than the suite's table holds, whatever the scale.
    for n in 0..s.n(300_000).max(30_000) as u32 {
        let mut c = Conn::new(n, 80, u64::from(n) * 1_000);
        let seq = c.seq(crate::conn::Side::Client);
        c.raw(e, crate::conn::Side::Client, seq, TcpFlags::SYN, b"");
    }
}

fn unanswered_requests(e: &mut dyn Emit, s: Scale) {
    let mut c = Conn::new(1, 80, 0).with_mss(32 * 1024);
    c.handshake(e);
    let one = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
    let block = one.repeat(1000);
    for _ in 0..s.n(1000) {
        c.client(e, &block);
    }
    c.close(e);
}

fn responses_only(e: &mut dyn Emit, s: Scale) {
    let mut c = Conn::new(2, 80, 0).with_mss(32 * 1024);
    c.handshake(e);
    let one = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let block = one.repeat(1000);
    for _ in 0..s.n(1000) {
        c.server(e, &block);
    }
    c.close(e);
}

fn half_heads(e: &mut dyn Emit, s: Scale) {
    let mut head = b"GET /half HTTP/1.1\r\nHost: h\r\n".to_vec();
    while head.len() < 15 * 1024 {
        head.extend_from_slice(b"X-Pad: 0123456789abcdef0123456789abcdef\r\n");
    }
    let n = s.n(10_000) as u32;
    let mut conns: Vec<Conn> = (0..n)
        .map(|i| Conn::new(i, 80, 0).with_mss(16 * 1024))
        .collect();
    for c in &mut conns {
        c.handshake(e);
        c.client(e, &head);
    }
}
