//! HTTP/1 messages that never end, or end in ways that break framing.

use super::{Case, Input, Scale, pipeline_bytes};
use crate::conn::Conn;
use crate::run::Setup;
use crate::wire::Emit;

pub(super) fn cases() -> Vec<Case> {
    let one = |s: &Setup| s.http1_conn_bytes() + pipeline_bytes(s);
    vec![
        Case {
            name: "endless_head",
            class: "http1",
            about: "a request line, then 100 MB of header lines and never the empty line",
            input: Input::Packets(endless_head),
            shows: &["header_list_too_large"],
            heap: one,
            known: None,
        },
        Case {
            name: "endless_header_line",
            class: "http1",
            about: "one header line of 100 MB that never ends",
            input: Input::Packets(endless_header_line),
            shows: &["header_list_too_large"],
            heap: one,
            known: None,
        },
        Case {
            name: "endless_request_line",
            class: "http1",
            about: "a request target of 100 MB",
            input: Input::Packets(endless_request_line),
            shows: &["header_list_too_large"],
            heap: one,
            known: None,
        },
        Case {
            name: "endless_body_content_length",
            class: "http1",
            about: "Content-Length of 2^62 and 100 MB of body: kept up to the body limit, the rest counted",
            input: Input::Packets(endless_body),
            shows: &["body_truncated"],
            heap: one,
            known: None,
        },
        Case {
            name: "endless_chunked_body",
            class: "http1",
            about: "1M chunks of 100 bytes and never the last chunk",
            input: Input::Packets(endless_chunks),
            shows: &["body_truncated"],
            heap: one,
            known: None,
        },
        Case {
            name: "endless_chunk_extension",
            class: "http1",
            about: "a chunk-size line whose extension runs for 100 MB",
            input: Input::Packets(endless_chunk_ext),
            shows: &["header_list_too_large", "unparsed_bytes", "malformed"],
            heap: one,
            known: None,
        },
        Case {
            name: "chunk_size_overflow",
            class: "http1",
            about: "a chunk size of 20 hex digits, then 10 MB",
            input: Input::Packets(chunk_overflow),
            shows: &["malformed"],
            heap: one,
            known: None,
        },
        Case {
            name: "endless_trailers",
            class: "http1",
            about: "the last chunk, then 100 MB of trailer lines",
            input: Input::Packets(endless_trailers),
            shows: &["header_list_too_large"],
            heap: one,
            known: None,
        },
        Case {
            name: "endless_close_delimited_body",
            class: "http1",
            about: "a response without length: 100 MB until the close",
            input: Input::Packets(close_delimited),
            shows: &["body_truncated"],
            heap: one,
            known: None,
        },
        Case {
            name: "interim_response_flood",
            class: "http1",
            about: "1M `100 Continue` responses to one request before its final response",
            input: Input::Packets(interim_flood),
            shows: &[],
            heap: one,
            known: None,
        },
        Case {
            name: "garbage_on_port_80",
            class: "http1",
            about: "100 MB of seeded random bytes each way: nothing parses, every byte is counted unparsed",
            input: Input::Packets(garbage),
            shows: &["unparsed_bytes"],
            heap: one,
            known: None,
        },
        Case {
            name: "upgrade_then_flood",
            class: "http1",
            about: "a 101 to a websocket upgrade, then 100 MB of frames each way",
            input: Input::Packets(upgrade_flood),
            shows: &["unparsed_bytes"],
            heap: one,
            known: None,
        },
        Case {
            name: "nested_connect_tunnels",
            class: "http1",
            about: "CONNECT inside CONNECT, 1000 deep: tunnels are followed four deep, the rest counted",
            input: Input::Packets(nested_connect),
            shows: &["unparsed_bytes"],
            heap: one,
            known: None,
        },
    ]
}

/// A connection with 32 KiB segments, handshake done.
fn bulk(n: u32, e: &mut dyn Emit) -> Conn {
    let mut c = Conn::new(n, 80, 0).with_mss(32 * 1024);
    c.handshake(e);
    c
}

/// Sends `unit` repeated to make about `bytes` bytes (at the scale) from
/// the client, or the server.
fn repeat(c: &mut Conn, e: &mut dyn Emit, client: bool, unit: &[u8], bytes: usize, s: Scale) {
    let block = unit.repeat((32 * 1024 / unit.len().max(1)).max(1));
    let times = s.n(bytes / block.len().max(1));
    for _ in 0..times {
        if client {
            c.client(e, &block);
        } else {
            c.server(e, &block);
        }
    }
}

const MB100: usize = 100 << 20;

fn endless_head(e: &mut dyn Emit, s: Scale) {
    let mut c = bulk(1, e);
    c.client(e, b"GET / HTTP/1.1\r\nHost: h\r\n");
    repeat(
        &mut c,
        e,
        true,
        b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
        MB100,
        s,
    );
    c.close(e);
}

fn endless_header_line(e: &mut dyn Emit, s: Scale) {
    let mut c = bulk(2, e);
    c.client(e, b"GET / HTTP/1.1\r\nHost: h\r\nX-Long: ");
    repeat(&mut c, e, true, b"a", MB100, s);
    c.close(e);
}

fn endless_request_line(e: &mut dyn Emit, s: Scale) {
    let mut c = bulk(3, e);
    c.client(e, b"GET /");
    repeat(&mut c, e, true, b"a", MB100, s);
    c.close(e);
}

fn endless_body(e: &mut dyn Emit, s: Scale) {
    let mut c = bulk(4, e);
    c.client(
        e,
        b"POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 4611686018427387904\r\n\r\n",
    );
    repeat(&mut c, e, true, b"0123456789", MB100, s);
    c.close(e);
}

fn endless_chunks(e: &mut dyn Emit, s: Scale) {
    let mut c = bulk(5, e);
    c.client(e, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    c.server(e, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    let mut chunk = b"64\r\n".to_vec();
    chunk.extend_from_slice(&[b'x'; 100]);
    chunk.extend_from_slice(b"\r\n");
    repeat(&mut c, e, false, &chunk, MB100, s);
    c.close(e);
}

fn endless_chunk_ext(e: &mut dyn Emit, s: Scale) {
    let mut c = bulk(6, e);
    c.client(e, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    c.server(
        e,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10;ext=",
    );
    repeat(&mut c, e, false, b"v", MB100, s);
    c.close(e);
}

fn chunk_overflow(e: &mut dyn Emit, s: Scale) {
    let mut c = bulk(7, e);
    c.client(e, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    c.server(
        e,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffffff\r\n",
    );
    repeat(&mut c, e, false, b"y", 10 << 20, s);
    c.close(e);
}

fn endless_trailers(e: &mut dyn Emit, s: Scale) {
    let mut c = bulk(8, e);
    c.client(e, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    c.server(
        e,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n",
    );
    repeat(
        &mut c,
        e,
        false,
        b"X-Trailer: zzzzzzzzzzzzzzzzzzzz\r\n",
        MB100,
        s,
    );
    c.close(e);
}

fn close_delimited(e: &mut dyn Emit, s: Scale) {
    let mut c = bulk(9, e);
    c.client(e, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    c.server(e, b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
    repeat(&mut c, e, false, b"body-bytes", MB100, s);
    c.close(e);
}

fn interim_flood(e: &mut dyn Emit, s: Scale) {
    let mut c = bulk(10, e);
    c.client(
        e,
        b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi",
    );
    let unit = b"HTTP/1.1 100 Continue\r\n\r\n";
    repeat(&mut c, e, false, unit, 1_000_000 * unit.len(), s);
    c.server(e, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    c.close(e);
}

/// Seeded pseudo-random bytes (xorshift): the same on every run.
pub(super) fn noise(seed: u64, out: &mut [u8]) {
    let mut x = seed | 1;
    for b in out {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
}

fn garbage(e: &mut dyn Emit, s: Scale) {
    let mut c = bulk(11, e);
    let mut block = vec![0u8; 32 * 1024];
    for i in 0..s.n(MB100 / block.len()) {
        noise(i as u64 + 1, &mut block);
        if i % 2 == 0 {
            c.client(e, &block);
        } else {
            c.server(e, &block);
        }
    }
    c.close(e);
}

fn upgrade_flood(e: &mut dyn Emit, s: Scale) {
    let mut c = bulk(12, e);
    c.client(
        e,
        b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    );
    c.server(
        e,
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    );
    let frame = [&[0x82u8, 126, 0x7f, 0xf0][..], &[0x5a; 0x7ff0]].concat();
    for i in 0..s.n(MB100 / frame.len()) {
        if i % 2 == 0 {
            c.client(e, &frame);
        } else {
            c.server(e, &frame);
        }
    }
    c.close(e);
}

fn nested_connect(e: &mut dyn Emit, s: Scale) {
    let mut c = bulk(13, e);
    for i in 0..s.n(1000) {
        c.client(
            e,
            format!("CONNECT inner{i}:443 HTTP/1.1\r\nHost: inner{i}:443\r\n\r\n").as_bytes(),
        );
        c.server(e, b"HTTP/1.1 200 Connection established\r\n\r\n");
    }
    c.client(e, b"GET /deep HTTP/1.1\r\nHost: h\r\n\r\n");
    c.server(e, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    c.close(e);
}
