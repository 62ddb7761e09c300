//! Real HTTP/2 captures replayed through the pipeline (FileSource →
//! TcpReassembler → HttpProtocol), compared stream by stream with tshark's
//! dissection (testdata/truth/*.http2.tsv, made by scripts/h2-ground-truth.sh).
//! Also: the same captures cut at a packet, to join connections mid-stream.
//! The capture recorded here is in testdata/; those of other projects are
//! read from `../shared/pcaps/` and skipped, saying so, when it is absent.
#![allow(clippy::indexing_slicing)]

use std::collections::BTreeMap;

use std::path::{Path, PathBuf};

use backend_pcap::CaptureFile;
use capture_core::DropReason;
use capture_core::model::{ByteStr, Exchange, Flag, Protocol};
use capture_core::testkit::{SharedFiles, bundled};

mod file_replay;
use file_replay::replay;

/// A capture bundled in testdata/, or else one of `../shared/pcaps/`;
/// `None` (the skip printed) when it is in neither.
fn capture(test: &str, name: &str) -> Option<PathBuf> {
    let here = bundled(name);
    if here.exists() {
        return Some(here);
    }
    SharedFiles::pcap_or_skip(test, name)
}

/// tshark's view of a capture, made by scripts/h2-ground-truth.sh.
fn truth_text(file: &str) -> String {
    std::fs::read_to_string(bundled(&format!("truth/{file}.http2.tsv"))).unwrap()
}

/// (client, server, stream id) → (method, path, status); "" where tshark saw none.
type Streams = BTreeMap<(String, String, u32), (String, String, String)>;

fn truth(file: &str) -> Streams {
    let text = truth_text(file);
    let mut streams = Streams::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        let (src, dst, id, method, path, status) =
            (f[1], f[2], f[3].parse().unwrap(), f[4], f[5], f[6]);
        if !method.is_empty() {
            let e = streams.entry((src.into(), dst.into(), id)).or_default();
            (e.0, e.1) = (method.into(), path.into());
        } else if !status.is_empty() && !status.starts_with('1') {
            let e = streams.entry((dst.into(), src.into(), id)).or_default();
            if e.2.is_empty() {
                e.2 = status.into();
            }
        }
    }
    streams
}

fn ours(exchanges: &[Exchange]) -> Streams {
    exchanges
        .iter()
        .filter(|e| matches!(e.protocol, Protocol::H2 | Protocol::Grpc))
        .map(|e| {
            let key = (
                e.conn.client.to_string(),
                e.conn.server.to_string(),
                e.stream_id.unwrap_or(0),
            );
            let req = e.request.as_ref();
            let value = (
                req.map(|r| lossy(r.method())).unwrap_or_default(),
                req.map(|r| lossy(r.path())).unwrap_or_default(),
                e.response
                    .as_ref()
                    .map(|r| r.status.to_string())
                    .unwrap_or_default(),
            );
            (key, value)
        })
        .collect()
}

/// A stream of ours matches tshark's when every field tshark decoded is equal.
fn matches(truth: &(String, String, String), ours: &(String, String, String)) -> bool {
    let eq = |t: &String, o: &String| t.is_empty() || t == o;
    eq(&truth.0, &ours.0) && eq(&truth.1, &ours.1) && eq(&truth.2, &ours.2)
}

/// (precision, recall, matched, ours, truth)
fn score(truth: &Streams, ours: &Streams) -> (f64, f64, usize, usize, usize) {
    let matched = truth
        .iter()
        .filter(|(k, t)| ours.get(*k).is_some_and(|o| matches(t, o)))
        .count();
    let ratio = |a: usize, b: usize| if b == 0 { 1.0 } else { a as f64 / b as f64 };
    (
        ratio(matched, ours.len()),
        ratio(matched, truth.len()),
        matched,
        ours.len(),
        truth.len(),
    )
}

/// Every capture with HTTP/2 in testdata/INDEX.tsv and in the shared
/// collection's INDEX.tsv, with the recall we expect and why it can be
/// less than 1.
const CASES: &[(&str, f64, &str)] = &[
    ("loopback-http.pcap", 1.0, ""),
    ("bug-5929-02__http2_multiple_headers.pcap", 1.0, ""),
    ("dns-over-http2-limit__input.pcap", 1.0, ""),
    ("grpc_Client_Streaming.pcapng", 1.0, ""),
    ("grpc_Unary.pcapng", 1.0, ""),
    (
        "http2-16-ssl.pcapng",
        0.0,
        "TLS: tshark decrypts with the key log, a packet capture cannot",
    ),
    ("http2-bugfixes__input.pcap", 1.0, ""),
    ("http2-deflate__http2_deflate.pcap", 1.0, ""),
    // One of its streams runs inside an HTTP/1.1 CONNECT tunnel.
    ("http2-errorcode__input.pcap", 1.0, ""),
    ("http2-keywords2__input.pcap", 1.0, ""),
    ("http2-range__http2-range.pcap", 1.0, ""),
];

#[test]
fn captures_match_tshark_stream_by_stream() {
    let mut failures = Vec::new();
    eprintln!(
        "{:<45} {:>9} {:>7} {:>15}",
        "capture", "precision", "recall", "matched/ours/ts"
    );
    for &(file, want_recall, why) in CASES {
        let Some(path) = capture("captures_match_tshark_stream_by_stream", file) else {
            continue;
        };
        let (exchanges, stats) = replay(&path);
        let (t, o) = (truth(file), ours(&exchanges));
        let (precision, recall, m, n_ours, n_truth) = score(&t, &o);
        eprintln!("{file:<45} {precision:>9.2} {recall:>7.2} {m:>5}/{n_ours}/{n_truth} {why}");
        for (k, tv) in &t {
            if !o.get(k).is_some_and(|ov| matches(tv, ov)) {
                eprintln!("    missed {k:?} {tv:?} (ours: {:?})", o.get(k));
            }
        }
        if recall < want_recall || precision < 1.0 {
            failures.push(format!(
                "{file}: precision {precision:.2} recall {recall:.2}"
            ));
        }
        let malformed = exchanges
            .iter()
            .filter(|e| matches!(e.protocol, Protocol::H2 | Protocol::Grpc))
            .filter(|e| e.has_flag(Flag::Malformed) || e.has_flag(Flag::HeadersUnknown))
            .count();
        if malformed > 0 {
            failures.push(format!(
                "{file}: {malformed} HTTP/2 exchanges malformed ({stats:?})"
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn grpc_captures_count_messages_and_status() {
    let test = "grpc_captures_count_messages_and_status";
    let Some(streaming) = capture(test, "grpc_Client_Streaming.pcapng") else {
        return;
    };
    let Some(unary) = capture(test, "grpc_Unary.pcapng") else {
        return;
    };
    let (exchanges, _) = replay(&streaming);
    let call = exchanges
        .iter()
        .find(|e| e.protocol == Protocol::Grpc)
        .expect("a gRPC exchange");
    let g = call.grpc.as_ref().unwrap();
    assert_eq!(g.status, Some(0));
    assert!(
        g.request_messages > 1,
        "client streaming sends several messages: {g:?}"
    );
    assert_eq!(g.response_messages, 1);
    let (exchanges, _) = replay(&unary);
    let call = exchanges
        .iter()
        .find(|e| e.protocol == Protocol::Grpc)
        .expect("a gRPC exchange");
    let g = call.grpc.as_ref().unwrap();
    assert_eq!(
        (g.request_messages, g.response_messages, g.status),
        (1, 1, Some(0))
    );
}

/// Writes the packets of `file` from index `from` on as a new pcap file.
fn cut(path: &Path, from: usize, dir: &Path) -> PathBuf {
    let capture = CaptureFile::open(path).unwrap();
    let packets: Vec<_> = capture.packets().map(|p| p.unwrap()).collect();
    let link = packets.first().map_or(1, |p| p.link.0);
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_3c4d_u32.to_le_bytes()); // nanosecond pcap
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&262_144u32.to_le_bytes());
    out.extend_from_slice(&u32::from(link).to_le_bytes());
    for p in &packets[from..] {
        let ns = p.ts.as_nanos();
        out.extend_from_slice(&((ns / 1_000_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&((ns % 1_000_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&(p.data.len() as u32).to_le_bytes());
        out.extend_from_slice(&p.orig_len.to_le_bytes());
        out.extend_from_slice(p.data);
    }
    let name = path.file_name().unwrap().to_string_lossy();
    let cut = dir.join(format!("{name}.from{from}.pcap"));
    std::fs::write(&cut, out).unwrap();
    cut
}

#[test]
fn joining_mid_stream_recovers_later_streams_and_never_invents_headers() {
    let dir = tempfile::tempdir().unwrap();
    let cuts = [
        ("http2-bugfixes__input.pcap", 7),
        ("http2-bugfixes__input.pcap", 12),
        // After the h2c upgrade's stream 1: stream 3 comes on a joined connection.
        ("http2-keywords2__input.pcap", 7),
    ];
    for (file, first_frame) in cuts {
        let test = "joining_mid_stream_recovers_later_streams_and_never_invents_headers";
        let Some(path) = capture(test, file) else {
            continue;
        };
        let t = truth(file);
        let (full, _) = replay(&path);
        let full = ours(&full);
        let (exchanges, stats) = replay(&cut(&path, first_frame - 1, dir.path()));
        // Streams whose request HEADERS come at or after the cut (tshark frame numbers).
        let text = truth_text(file);
        let later: Vec<u32> = text
            .lines()
            .skip(1)
            .map(|l| l.split('\t').collect::<Vec<_>>())
            .filter(|f| !f[4].is_empty() && f[0].parse::<usize>().unwrap() >= first_frame)
            .map(|f| f[3].parse().unwrap())
            .collect();
        assert!(!later.is_empty());
        for id in &later {
            let ex = exchanges
                .iter()
                .find(|e| e.stream_id == Some(*id))
                .unwrap_or_else(|| {
                    panic!("{file} cut at {first_frame}: stream {id} not recovered")
                });
            assert!(ex.has_flag(Flag::MidStream));
            let req = ex.request.as_ref().expect("request");
            let (key, truth_v) = t.iter().find(|(k, _)| k.2 == *id).unwrap();
            let full_v = &full[key];
            // Every field we report is exact; a field we cannot know is empty and flagged.
            for (got, want) in [
                (&lossy(req.method()), &truth_v.0),
                (&lossy(req.path()), &truth_v.1),
            ] {
                if got.is_empty() {
                    assert!(
                        ex.has_flag(Flag::HeadersUnknown),
                        "{file} stream {id}: empty without flag"
                    );
                } else {
                    assert_eq!(got, want, "{file} stream {id}");
                }
            }
            assert_eq!(
                ex.response.as_ref().map(|r| r.status.to_string()).as_ref(),
                Some(&full_v.2)
            );
            eprintln!(
                "{file} cut at frame {first_frame}: stream {id} {} {} -> {} flags {:?}",
                req.method(),
                req.path(),
                ex.response.as_ref().map_or(0, |r| r.status),
                ex.flags
            );
        }
        eprintln!(
            "  unknown references counted: {}",
            stats.drops(DropReason::HpackUnknownReference)
        );
    }
}

/// The bytes as text the way tshark's field output gives them.
fn lossy(b: ByteStr<'_>) -> String {
    String::from_utf8_lossy(b.as_bytes()).into_owned()
}
