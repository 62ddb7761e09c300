//! Arbitrary bytes in every field of an exchange through the JSON record
//! writer: its output must be the same bytes as serde's serialisation of
//! the record (`ser.rs`, the reference the fast writer is held to) and
//! valid JSON. The fast writer escapes by words and writes into room it
//! made beforehand; this target searches the lengths, offsets and bytes
//! where such code goes wrong. The JSON-lines encoder, which keeps each
//! connection's rendered `"conn"` object, must write the same lines.
//!
//! Layout of the input: byte 0 holds options (bit 0: IPv6 addresses;
//! bits 1-3: the TLS library, 0 for none; bit 4: no request; bit 5: no
//! response; bit 6: Kubernetes pods on both ends; bit 7: gRPC with a
//! status message); the rest is split at `0x00` bytes into method, path,
//! authority, reason, request header lines (`name:value`), request body,
//! response header lines, response body, the command name and a text used
//! for the pod's names and the gRPC message.

#![no_main]

use std::sync::Arc;

use capture_core::model::*;
use capture_core::sink::JsonLineEncoder;
use capture_core::stage::ExchangeEncoder as _;
use libfuzzer_sys::fuzz_target;

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
    let (method, path, authority, reason) = (next(), next(), next(), next());
    let (req_h, req_b, resp_h, resp_b) = (next(), next(), next(), next());
    let (comm, text) = (next(), String::from_utf8_lossy(next()).into_owned());

    let (client, server) = if options & 1 != 0 {
        (
            "[fe80::1%3]:40000".parse().unwrap(),
            "[::1]:443".parse().unwrap(),
        )
    } else {
        (
            "10.0.0.1:40000".parse().unwrap(),
            "192.168.255.2:80".parse().unwrap(),
        )
    };
    let lib = match (options >> 1) & 7 {
        0 => None,
        i => TlsLibrary::ALL.get(usize::from(i) - 1).copied(),
    };
    let meta = ConnMeta::new(
        ConnKey {
            client,
            server,
            netns: NetnsId(u64::from(options)),
            pid: Some(u32::from(options) * 977),
            fd: Some(3),
        },
        CaptureSource::EbpfTls,
        Timestamp(1),
    )
    .with_tls_library(lib)
    .with_comm(Some(Comm::new(&String::from_utf8_lossy(comm))))
    .with_traffic(Some(TrafficDirection::Outbound));
    let mut ex = Exchange::new(Protocol::Grpc, &meta, Roles::CONFIRMED);
    ex.stream_id = Some(u32::from(options));

    if options & 16 == 0 {
        let mut req = Request::builder(method, path).authority(authority);
        for (n, v) in headers(req_h) {
            req = req.header(n, v);
        }
        let mut req = req.body(req_b.to_vec()).build(Timestamp(u64::MAX));
        req.trailers = Headers::from_pairs([("grpc-status", text.as_str())]);
        ex.request = Some(req);
    }
    if options & 32 == 0 {
        let mut resp = Response::builder(u16::from(options) * 257).reason(reason);
        for (n, v) in headers(resp_h) {
            resp = resp.header(n, v);
        }
        ex.response = Some(resp.body(resp_b.to_vec()).build_response(Timestamp(0)));
    }
    if options & 64 != 0 {
        let pod = Arc::new(Pod {
            namespace: text.clone(),
            name: format!("{text}-0"),
            uid: String::new(),
            workload: text.clone(),
            workload_kind: WorkloadKind::StatefulSet,
            labels: vec![(text.clone(), text.clone())],
        });
        ex.conn.k8s = K8sConn {
            client: Some(K8sEnd::new(pod.clone(), Some(text.as_str().into()))),
            server: Some(K8sEnd::new(pod, None)),
        };
    }
    if options & 128 != 0 {
        ex.grpc = Some(GrpcInfo {
            request_messages: 1,
            response_messages: u32::from(options),
            status: Some(2),
            message: Some(text.clone()),
        });
        ex.flag(Flag::Gap);
        ex.flag(Flag::MidStream);
    }

    let mut fast = Vec::new();
    ex.write_json(&mut fast);
    let reference = serde_json::to_vec(&ex).expect("serde writes every record");
    assert!(
        fast == reference,
        "the JSON writer differs from serde:\n fast: {}\nserde: {}",
        String::from_utf8_lossy(&fast),
        String::from_utf8_lossy(&reference)
    );
    serde_json::from_slice::<serde_json::Value>(&fast).expect("the record is valid JSON");

    // The JSON-lines encoder keeps each connection's rendered "conn"
    // object: the same record again (a hit), then one whose connection
    // differs in a single field (must miss), each line equal to serde's.
    let mut encoder = JsonLineEncoder::default();
    let mut other = ex.clone();
    other.conn.pid = other.conn.pid.map(|p| p ^ 1);
    for record in [&ex, &ex, &other, &ex] {
        let mut line = Vec::new();
        encoder.encode(record, &mut line);
        let mut expected = serde_json::to_vec(record).expect("serde writes every record");
        expected.push(b'\n');
        assert!(
            line == expected,
            "the JSON-lines encoder differs from serde:\n line: {}\nserde: {}",
            String::from_utf8_lossy(&line),
            String::from_utf8_lossy(&expected)
        );
    }
});
