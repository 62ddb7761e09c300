//! Akto messages built from real exchanges equal, field by field, what
//! Akto's collector sends for the same bytes.
//!
//! `testdata/akto/akto-http1.pcap` is curl talking to a small server over
//! 127.0.0.1 and ::1 (recorded by `scripts/record-akto-captures.sh`): names
//! differing only in case, chunked requests and responses with trailers,
//! gzip (plain and chunked) and deflate bodies, `Pragma`, reason phrases
//! with and without text, targets Go re-escapes, an absolute target, an
//! HTTP/1.0 request, a method Akto does not send, invalid UTF-8. Its truth,
//! `testdata/truth/akto-http1.pcap.akto.jsonl`, was written by
//! `scripts/akto-ground-truth.sh`: Go's `net/http` reading the same TCP
//! streams, the fields built as Akto's collector builds them.
//!
//! The capture runs through cleartap's real pipeline (pcap file → TCP
//! reassembly → HTTP parser, `decompress` off as the agent runs it), and
//! each exchange through `AktoFormat`, inbound and outbound.
#![allow(clippy::indexing_slicing, clippy::print_stderr)]

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use backend_pcap::FileSource;
use capture_core::model::{Exchange, TrafficDirection};
use capture_core::pipeline::Pipeline;
use capture_core::sink::MemorySink;
use capture_core::stats::DropReason;
use proto_http::{HttpConfig, HttpProtocol};
use serde_json::Value;
use sink_kafka::{AktoFormat, Message, MessageFormat};

fn testdata(name: &str) -> PathBuf {
    capture_core::testkit::shared::bundled(name)
}

fn exchanges(pcap: &Path) -> Vec<Exchange> {
    let sink = MemorySink::new(10_000);
    let http = HttpConfig {
        decompress: false,
        ..HttpConfig::default()
    };
    Pipeline::builder(HttpProtocol::new(http))
        .workers(1)
        .source(FileSource::open(pcap).unwrap())
        .sink(sink.clone())
        .build()
        .unwrap()
        .run()
        .unwrap();
    let mut all = sink.drain();
    all.sort_by_key(|e| e.ts());
    all
}

struct Truth {
    key: String,
    details: String,
    fields: BTreeMap<String, String>,
    /// Bodies the truth knows only decoded (base64 of the decoded bytes).
    decoded: BTreeMap<String, String>,
}

fn truth(file: &str) -> Vec<Truth> {
    std::fs::read_to_string(testdata(file))
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            Truth {
                key: v["key"].as_str().unwrap().to_owned(),
                details: v["collection_details"].as_str().unwrap().to_owned(),
                fields: serde_json::from_value(v["fields"].clone()).unwrap(),
                decoded: serde_json::from_value(v["decoded"].clone()).unwrap_or_default(),
            }
        })
        .collect()
}

fn encode(ex: &Exchange) -> Result<(Message, BTreeMap<String, String>), DropReason> {
    let mut m = Message::default();
    AktoFormat::default().encode(ex, &mut m)?;
    let fields = serde_json::from_slice(&m.payload).unwrap();
    Ok((m, fields))
}

#[test]
fn http1_messages_equal_what_akto_sends_for_the_same_bytes() {
    let truth = truth("truth/akto-http1.pcap.akto.jsonl");
    let mut exchanges = exchanges(&testdata("akto/akto-http1.pcap"));
    let mut compared = 0;
    let mut declined = Vec::new();
    // Each truth message is the next exchange of its client (connection), in order.
    let mut by_client: BTreeMap<String, Vec<Exchange>> = BTreeMap::new();
    for ex in exchanges.drain(..) {
        match encode(&ex) {
            Ok((_, f)) => by_client.entry(f["ip"].clone()).or_default().push(ex),
            Err(reason) => declined.push((ex.request.map(|r| r.method().to_string()), reason)),
        }
    }
    let mut next: BTreeMap<String, usize> = BTreeMap::new();
    for t in &truth {
        let ip = &t.fields["ip"];
        let i = next.entry(ip.clone()).or_default();
        let ex = &mut by_client
            .get_mut(ip)
            .unwrap_or_else(|| panic!("no exchange from {ip}"))[*i];
        *i += 1;
        for dir in [TrafficDirection::Inbound, TrafficDirection::Outbound] {
            ex.direction = Some(dir);
            let (m, got) = encode(ex).unwrap();
            for (field, want) in &t.fields {
                assert_eq!(
                    got.get(field),
                    Some(want),
                    "{field} of {} {}",
                    t.fields["method"],
                    t.fields["path"]
                );
            }
            assert_eq!(String::from_utf8_lossy(&m.key), t.key, "key");
            let details = m
                .headers
                .iter()
                .find(|(k, _)| k == "collection_details")
                .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default();
            assert_eq!(details, t.details, "collection_details");
            assert_eq!(
                got["direction"],
                if dir == TrafficDirection::Inbound {
                    "1"
                } else {
                    "2"
                }
            );
        }
        compared += 1;
    }
    assert_eq!(compared, 13);
    assert_eq!(
        by_client.values().map(Vec::len).sum::<usize>(),
        compared,
        "every message cleartap sends is one Akto sends"
    );
    // PROPFIND: not a method Akto's collector sends.
    assert_eq!(
        declined,
        [(Some("PROPFIND".to_owned()), DropReason::Filtered)]
    );
    eprintln!("{compared} messages equal Akto's field by field, inbound and outbound");
}

fn json_map(s: &str) -> BTreeMap<String, String> {
    serde_json::from_str(s).unwrap()
}

/// HTTP/2 and gRPC from real captures of other projects (`../shared/pcaps`), against tshark's dissection of the
/// same frames shaped as Akto's HTTP/2 path shapes its messages
/// (`testdata/akto/h2_truth.py`): pseudo-headers and `host` in the request
/// map, trailers in a gRPC response's, bodies in base64 (gRPC without the
/// message prefixes), type `gRPC` or `HTTP/2.0`, status the code.
#[test]
fn http2_and_grpc_messages_equal_what_akto_sends_for_the_same_frames() {
    let mut total = 0;
    for cap in [
        "grpc_Unary.pcapng",
        "http2-bugfixes__input.pcap",
        "bug-5929-02__http2_multiple_headers.pcap",
    ] {
        // Captures of other projects lie in ../shared/pcaps.
        let Some(pcap) = capture_core::testkit::shared::SharedFiles::pcap_or_skip(
            "http2_and_grpc_messages_equal_what_akto_sends_for_the_same_frames",
            cap,
        ) else {
            return;
        };
        let truth = truth(&format!("truth/{cap}.akto-h2.jsonl"));
        let exchanges = exchanges(&pcap);
        for t in &truth {
            let ex = exchanges
                .iter()
                .find(|e| {
                    encode(e).is_ok_and(|(_, f)| {
                        f["ip"] == t.fields["ip"]
                            && f["path"] == t.fields["path"]
                            && f["requestHeaders"].contains(&t.fields["method"])
                    })
                })
                .unwrap_or_else(|| panic!("{cap}: no exchange for {:?}", t.fields["path"]));
            let (m, got) = encode(ex).unwrap();
            for (field, want) in &t.fields {
                if field.ends_with("Headers") {
                    assert_eq!(json_map(&got[field]), json_map(want), "{cap}: {field}");
                } else {
                    assert_eq!(&got[field], want, "{cap}: {field} of {}", t.fields["path"]);
                }
            }
            for (field, want) in &t.decoded {
                // Akto sends the coded bytes; they must decode to what tshark decoded.
                let coded = B64.decode(&got[field]).unwrap();
                let side = if field.starts_with("request") {
                    "requestHeaders"
                } else {
                    "responseHeaders"
                };
                let coding = json_map(&got[side])
                    .remove("content-encoding")
                    .unwrap_or_default();
                let mut plain = Vec::new();
                match coding.as_str() {
                    "gzip" => flate2::read::MultiGzDecoder::new(&coded[..]).read_to_end(&mut plain),
                    "br" => brotli::Decompressor::new(&coded[..], 4096).read_to_end(&mut plain),
                    other => panic!("{cap}: unexpected coding {other:?}"),
                }
                .unwrap();
                assert_eq!(B64.encode(&plain), *want, "{cap}: {field} decoded");
            }
            assert_eq!(String::from_utf8_lossy(&m.key), t.key, "{cap}: key");
            assert_eq!(
                m.headers[0].1,
                t.details.as_bytes(),
                "{cap}: collection_details"
            );
            total += 1;
        }
    }
    assert_eq!(total, 6);
}
