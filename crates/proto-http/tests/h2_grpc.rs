//! gRPC over HTTP/2: message counting across DATA frames, status from
//! trailers (or a trailers-only response), unary and streaming calls.
#![allow(clippy::indexing_slicing)]

#[path = "h2_common.rs"]
mod h2_common;

use capture_core::model::*;
use h2_common::*;
use proto_http::h2::H2Config;

fn msg(compressed: bool, body: &[u8]) -> Vec<u8> {
    let mut v = vec![u8::from(compressed)];
    v.extend_from_slice(&(body.len() as u32).to_be_bytes());
    v.extend_from_slice(body);
    v
}

fn call(stream: u32, method: &str) -> Vec<u8> {
    headers(
        stream,
        false,
        &[
            (":method", "POST"),
            (":scheme", "http"),
            (":path", method),
            (":authority", "grpc.svc:50051"),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
        ],
    )
}

fn grpc_ok(stream: u32) -> Vec<u8> {
    headers(
        stream,
        false,
        &[(":status", "200"), ("content-type", "application/grpc")],
    )
}

#[test]
fn unary_call() {
    let mut conn = Conn::new();
    let mut c = preface();
    c.extend(call(1, "/greet.Greeter/SayHello"));
    c.extend(data(1, true, &msg(false, b"\x0a\x05world")));
    conn.client(&c);
    let mut s = grpc_ok(1);
    s.extend(data(1, false, &msg(false, b"\x0a\x0bhello world")));
    s.extend(headers(
        1,
        true,
        &[("grpc-status", "0"), ("grpc-message", "")],
    ));
    conn.server(&s);
    let ex = &conn.exchanges[0];
    assert_eq!(ex.protocol, Protocol::Grpc);
    assert_eq!(
        summary(ex),
        (1, "POST".into(), "/greet.Greeter/SayHello".into(), 200)
    );
    let g = ex.grpc.as_ref().unwrap();
    assert_eq!(
        (g.request_messages, g.response_messages, g.status),
        (1, 1, Some(0))
    );
    assert!(ex.flags.is_empty(), "{:?}", ex.flags);
}

#[test]
fn streaming_call_with_messages_split_across_frames() {
    let mut conn = Conn::new();
    let mut body = Vec::new();
    for i in 0..5u8 {
        body.extend(msg(i == 3, &vec![i; 100 + usize::from(i) * 50]));
    }
    let mut c = preface();
    c.extend(call(1, "/route.Guide/RecordRoute"));
    // DATA frames cut at arbitrary points, across message boundaries.
    for chunk in body.chunks(77) {
        c.extend(data(1, false, chunk));
    }
    c.extend(data(1, true, b""));
    conn.client(&c);
    let mut s = grpc_ok(1);
    let mut rbody = msg(false, b"summary-1");
    rbody.extend(msg(false, b"summary-2"));
    let (a, b) = rbody.split_at(3);
    s.extend(data(1, false, a));
    s.extend(data(1, false, b));
    s.extend(headers(1, true, &[("grpc-status", "0")]));
    conn.server(&s);
    let g = conn.exchanges[0].grpc.clone().unwrap();
    assert_eq!((g.request_messages, g.response_messages), (5, 2));
    assert_eq!(
        conn.exchanges[0].request.as_ref().unwrap().body.size,
        body.len() as u64
    );
}

#[test]
fn trailers_only_error() {
    let mut conn = Conn::new();
    let mut c = preface();
    c.extend(call(1, "/svc.S/Missing"));
    c.extend(data(1, true, &msg(false, b"")));
    conn.client(&c);
    conn.server(&headers(
        1,
        true,
        &[
            (":status", "200"),
            ("content-type", "application/grpc"),
            ("grpc-status", "12"),
            ("grpc-message", "unknown%20method%20Missing"),
        ],
    ));
    let ex = &conn.exchanges[0];
    let g = ex.grpc.as_ref().unwrap();
    assert_eq!((g.request_messages, g.response_messages), (1, 0));
    assert_eq!(g.status, Some(12));
    assert_eq!(g.message.as_deref(), Some("unknown method Missing"));
}

#[test]
fn concurrent_calls_and_oversized_message() {
    let config = H2Config {
        grpc_max_message: 1000,
        ..Default::default()
    };
    let mut conn = Conn::with(config);
    let mut c = preface();
    c.extend(call(1, "/a.A/One"));
    c.extend(call(3, "/a.A/Two"));
    c.extend(data(3, false, &msg(false, b"x")));
    c.extend(data(1, true, &msg(false, &[0; 2000])));
    c.extend(data(3, true, &msg(false, b"y")));
    conn.client(&c);
    let mut s = grpc_ok(3);
    s.extend(grpc_ok(1));
    s.extend(headers(3, true, &[("grpc-status", "0")]));
    s.extend(headers(1, true, &[("grpc-status", "8")]));
    conn.server(&s);
    let two = conn.by_stream(3);
    assert_eq!(two.grpc.as_ref().unwrap().request_messages, 2);
    assert!(two.flags.is_empty());
    let one = conn.by_stream(1);
    assert_eq!(one.grpc.as_ref().unwrap().request_messages, 0);
    assert_eq!(one.grpc.as_ref().unwrap().status, Some(8));
    assert!(one.has_flag(Flag::Malformed));
}
