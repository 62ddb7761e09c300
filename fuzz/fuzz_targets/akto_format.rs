//! Arbitrary exchanges through the Akto message format: request targets
//! (Go's URL rules), header names and values (Go's canonical names and
//! transfer rules), gzip and gRPC bodies (decoding, unframing) are hostile
//! bytes (kept exact by the model). The encoder must not panic, and
//! whatever it sends is a JSON object whose values are strings.
//!
//! Layout of the input: byte 0 holds options (bits 0-1: HTTP/1.0, HTTP/1.1,
//! h2, gRPC; bit 2: gzip response; bit 3: outbound); the rest is split at
//! `0x00` bytes into target, request header lines (`name:value`), request
//! body, response header lines, response body.

#![no_main]

use capture_core::model::*;
use libfuzzer_sys::fuzz_target;
use sink_kafka::{AktoFormat, Message, MessageFormat};

/// The `name:value` lines of `b`, as exact bytes.
fn headers(b: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    b.split(|&c| c == b'\n').filter_map(|l| {
        let i = l.iter().position(|&c| c == b':')?;
        Some((&l[..i], &l[i + 1..]))
    })
}

fuzz_target!(|input: &[u8]| {
    let Some((&options, rest)) = input.split_first() else {
        return;
    };
    let mut parts = rest.split(|&c| c == 0);
    let mut next = || parts.next().unwrap_or_default();
    let (target, req_h, req_b, resp_h, resp_b) = (next(), next(), next(), next(), next());
    let protocol = [
        Protocol::Http10,
        Protocol::Http11,
        Protocol::H2,
        Protocol::Grpc,
    ][usize::from(options & 3)];
    let mut meta = ConnMeta::new(
        ConnKey::new(
            "10.0.0.1:40000".parse().unwrap(),
            "[::1]:80".parse().unwrap(),
            NetnsId::UNKNOWN,
        ),
        CaptureSource::EbpfSyscall,
        Timestamp(0),
    );
    meta.traffic = Some(if options & 8 != 0 {
        TrafficDirection::Outbound
    } else {
        TrafficDirection::Inbound
    });
    let mut ex = Exchange::new(protocol, &meta, Roles::CONFIRMED);
    let mut req = Request::builder("POST", target);
    for (n, v) in headers(req_h) {
        req = req.header(n, v);
    }
    let req = req.body(req_b.to_vec()).build(Timestamp(0));
    let mut resp = Response::builder(200);
    for (n, v) in headers(resp_h) {
        resp = resp.header(n, v);
    }
    if options & 4 != 0 {
        resp = resp.header("Content-Encoding", "gzip");
    }
    let resp = resp.body(resp_b.to_vec()).build_response(Timestamp(0));
    ex.request = Some(req);
    ex.response = Some(resp);
    let mut m = Message::default();
    if AktoFormat::default().encode(&ex, &mut m).is_ok() {
        let text = std::str::from_utf8(&m.payload).expect("the message is UTF-8");
        assert!(text.starts_with('{') && text.ends_with('}'));
    }
});
