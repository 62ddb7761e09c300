//! Replay's HTTP/1 exchanges against Wireshark's dissection of the same
//! real captures (testdata/truth/*.http1.tsv, made by
//! scripts/http1-ground-truth.sh): the capture recorded here
//! (testdata/INDEX.tsv) and those of other projects in
//! `../shared/pcaps/` (its INDEX.tsv; skipped when absent). Every
//! difference is either zero or listed below with the reason Wireshark is
//! wrong, and the test fails on any other.
#![cfg(all(feature = "pcap", feature = "http"))]
#![allow(clippy::indexing_slicing, clippy::print_stdout)]

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use capture_core::testkit::{SharedFiles, bundled};
use cleartap::core::model::NetnsId;
use cleartap::core::pipeline::Pipeline;
use cleartap::core::sink::MemorySink;
use cleartap::http::HttpProtocol;
use cleartap::pcap::{CaptureFile, FileSource, decode_packet};

/// (method, path, status) of one exchange; `None` where that side is missing.
type Triple = (Option<String>, Option<String>, Option<u16>);

/// Wireshark's exchanges: requests paired with the responses that name them
/// in `http.request_in`; interim 1xx responses (other than 101) are not exchanges.
fn truth(capture: &str) -> Option<Vec<Triple>> {
    // Wireshark's best effort: of its runs with and without out-of-order
    // reassembly, the one that answers more requests.
    let plain = std::fs::read_to_string(bundled(&format!("truth/{capture}.http1.tsv"))).ok()?;
    let plain = pairs(&plain);
    let ooo = std::fs::read_to_string(bundled(&format!("truth/{capture}.ooo.http1.tsv")))
        .ok()
        .map(|t| pairs(&t));
    let answered = |v: &[Triple]| v.iter().filter(|t| t.0.is_some() && t.2.is_some()).count();
    Some(match ooo {
        Some(ooo) if answered(&ooo) > answered(&plain) => ooo,
        _ => plain,
    })
}

/// The exchanges of one tshark TSV.
fn pairs(tsv: &str) -> Vec<Triple> {
    let mut requests: Vec<(String, Vec<(String, String)>)> = Vec::new();
    let mut responses: Vec<(String, u16)> = Vec::new();
    for line in tsv.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        let (frame, method, uri, status, request_in) =
            (f[0], f[4], f[5], f[6], f.get(7).copied().unwrap_or(""));
        if !method.is_empty() {
            match requests.iter_mut().find(|(fr, _)| fr == frame) {
                Some((_, v)) => v.push((method.into(), uri.into())),
                None => requests.push((frame.into(), vec![(method.into(), uri.into())])),
            }
        } else if let Ok(code) = status.parse::<u16>() {
            if (100..200).contains(&code) && code != 101 {
                continue;
            }
            responses.push((request_in.into(), code));
        }
    }
    // Responses pair with the requests of the frame they name, in order.
    let mut answered: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::new();
    for (request_in, code) in responses {
        let reqs = requests
            .iter()
            .find(|(fr, _)| *fr == request_in)
            .map(|(_, v)| v);
        let k = answered.entry(request_in.clone()).or_default();
        match reqs.and_then(|v| v.get(*k)) {
            Some((m, p)) => {
                out.push((Some(m.clone()), Some(p.clone()), Some(code)));
                *k += 1;
            }
            None => out.push((None, None, Some(code))),
        }
    }
    for (frame, reqs) in &requests {
        let k = answered.get(frame).copied().unwrap_or(0);
        for (m, p) in reqs.iter().skip(k) {
            out.push((Some(m.clone()), Some(p.clone()), None));
        }
    }
    out.sort();
    out
}

/// Where a capture lies: bundled in testdata/ or in the shared collection.
fn path(capture: &str) -> PathBuf {
    let here = bundled(capture);
    if here.exists() {
        return here;
    }
    SharedFiles::locate()
        .map(|s| s.pcap(capture))
        .unwrap_or(here)
}

fn replay(capture: &str) -> Vec<Triple> {
    let sink = MemorySink::new(1 << 20);
    Pipeline::builder(HttpProtocol::default())
        .workers(1)
        .source(FileSource::open(path(capture)).unwrap())
        .sink(sink.clone())
        .build()
        .unwrap()
        .run()
        .unwrap();
    let mut out: Vec<Triple> = sink
        .drain()
        .into_iter()
        // HTTP/2 streams are compared with tshark's HTTP/2 view elsewhere,
        // except the request of an h2c upgrade: HTTP/1 ends at its 101, and
        // cleartap reports it as stream 1 with its final status.
        .filter_map(|e| {
            let upgrade = e.request.as_ref().is_some_and(|r| {
                r.header("upgrade")
                    .is_some_and(|v| v.eq_ignore_ascii_case("h2c"))
            });
            let status = match (e.stream_id, upgrade) {
                (None, _) => e.response.as_ref().map(|r| r.status),
                (Some(1), true) => Some(101),
                _ => return None,
            };
            Some((
                e.request
                    .as_ref()
                    .map(|r| String::from_utf8_lossy(r.method().as_bytes()).into_owned()),
                e.request
                    .as_ref()
                    .map(|r| String::from_utf8_lossy(r.path().as_bytes()).into_owned()),
                status,
            ))
        })
        .collect();
    out.sort();
    out
}

/// Multiset difference a − b.
fn minus(a: &[Triple], b: &[Triple]) -> Vec<Triple> {
    let mut counts: BTreeMap<&Triple, i64> = BTreeMap::new();
    for t in b {
        *counts.entry(t).or_default() += 1;
    }
    let mut out = Vec::new();
    for t in a {
        let c = counts.entry(t).or_default();
        if *c > 0 {
            *c -= 1;
        } else {
            out.push(t.clone());
        }
    }
    out
}

/// Captures whose HTTP is inside TLS: tshark decrypts them with the key log
/// shipped beside them; cleartap takes plaintext from eBPF or the pod's
/// loopback instead, and does not decrypt captured TLS.
const TLS_ONLY: &[&str] = &["http-chunked-ssl.pcapng"];

/// Exchanges cleartap reports with their response where Wireshark reports
/// the request alone: the response follows lost or reordered segments and
/// Wireshark gives up on the stream. The bytes prove the response is there:
/// `status_lines_at_message_starts` finds its status line in the capture.
const WIRESHARK_MISSES_RESPONSE: &[(&str, &str, &str, u16)] = &[
    (
        "TLPW1-tcp-174.56.47.59-10.3.11.101-tcp-80-49309.pcap",
        "GET",
        "/",
        200,
    ),
    (
        "http-pipeline-files-with-gap__input.pcap",
        "GET",
        "/wp-content/themes/wall-street/js/skip-link-focus-fix.js?ver=1.1.4",
        200,
    ),
    (
        "http-pipeline-files-with-gap__input.pcap",
        "GET",
        "/wp-content/uploads/2015/04/NSL-InvestorPitch-9.007-420x420.jpg",
        200,
    ),
];

/// An HTTP/0.9-style reply (no status line) to curl's request: Wireshark
/// shows no response; cleartap reports one with status 0, flagged `http09`.
const HTTP09_REPLIES: &[(&str, &str, &str)] = &[("curl_http_09.pcap", "GET", "/zeek.html")];

/// Requests pipelined in one segment: Wireshark names their frame in
/// `http.request_in` of the first response only, so the later responses
/// stand alone. cleartap pairs them in order (RFC 9112 §9.3.2). Here,
/// python's two pipelined requests to the API.
const WIRESHARK_UNPAIRED_PIPELINED: &[(&str, &str, &str, u16)] =
    &[("loopback-http.pcap", "GET", "/api/stream", 200)];

/// Status lines that start a TCP payload, counted once per sequence number
/// (retransmissions are not counted twice).
fn status_lines_at_message_starts(capture: &str) -> usize {
    let file = CaptureFile::open(path(capture)).unwrap();
    let mut seen = std::collections::HashSet::new();
    for p in file.packets().flatten() {
        if let Ok(seg) = decode_packet(p.link, p.ts, p.data, NetnsId::UNKNOWN)
            && seg.payload.starts_with(b"HTTP/1.")
        {
            seen.insert((seg.src, seg.seq));
        }
    }
    seen.len()
}

/// Wireshark's exchanges corrected by the documented differences.
fn corrected(capture: &str, mut expected: Vec<Triple>) -> Vec<Triple> {
    for (c, m, p, status) in WIRESHARK_MISSES_RESPONSE {
        if *c == capture {
            let lone: Triple = (Some((*m).into()), Some((*p).into()), None);
            if let Some(i) = expected.iter().position(|t| *t == lone) {
                expected[i].2 = Some(*status);
            }
        }
    }
    for (c, m, p, status) in WIRESHARK_UNPAIRED_PIPELINED {
        if *c == capture {
            let lone: Triple = (Some((*m).into()), Some((*p).into()), None);
            let unpaired: Triple = (None, None, Some(*status));
            if let (Some(i), Some(j)) = (
                expected.iter().position(|t| *t == lone),
                expected.iter().position(|t| *t == unpaired),
            ) {
                expected[i].2 = Some(*status);
                expected.remove(j);
            }
        }
    }
    for (c, m, p) in HTTP09_REPLIES {
        if *c == capture {
            let lone: Triple = (Some((*m).into()), Some((*p).into()), None);
            if let Some(i) = expected.iter().position(|t| *t == lone) {
                expected[i].2 = Some(0);
            }
        }
    }
    expected.sort();
    expected
}

#[test]
fn wireshark_misses_responses_whose_status_lines_are_in_the_capture() {
    let test = "wireshark_misses_responses_whose_status_lines_are_in_the_capture";
    for capture in [
        "TLPW1-tcp-174.56.47.59-10.3.11.101-tcp-80-49309.pcap",
        "http-pipeline-files-with-gap__input.pcap",
    ] {
        if SharedFiles::pcap_or_skip(test, capture).is_none() {
            return;
        }
        let lone_requests = truth(capture)
            .unwrap()
            .iter()
            .filter(|t| t.2.is_none())
            .count();
        let responses_by_wireshark = truth(capture)
            .unwrap()
            .iter()
            .filter(|t| t.2.is_some())
            .count();
        let status_lines = status_lines_at_message_starts(capture);
        let ours = replay(capture).iter().filter(|t| t.2.is_some()).count();
        assert!(
            lone_requests > 0,
            "{capture}: Wireshark answers every request"
        );
        assert_eq!(
            ours, status_lines,
            "{capture}: cleartap reports every status line in the bytes"
        );
        assert!(
            responses_by_wireshark < status_lines,
            "{capture}: Wireshark reports them all"
        );
    }
}

#[test]
fn http1_exchanges_match_wireshark() {
    let mut index = std::fs::read_to_string(bundled("INDEX.tsv")).unwrap();
    if let Some(shared) = SharedFiles::or_skip("http1_exchanges_match_wireshark (shared captures)")
    {
        index += &std::fs::read_to_string(shared.pcap("INDEX.tsv")).unwrap();
    }
    let mut report = Vec::new();
    let mut unexplained = Vec::new();
    for line in index.lines().filter(|l| !l.starts_with("file\t")) {
        let f: Vec<&str> = line.split('\t').collect();
        let capture = f[0];
        let Some(raw) = truth(capture) else { continue };
        if TLS_ONLY.contains(&capture) {
            report.push(format!(
                "{capture:55} skipped: HTTP inside TLS (Wireshark decrypts with a key log)"
            ));
            continue;
        }
        let got = replay(capture);
        let raw_matched = got.len() - minus(&got, &raw).len();
        let expected = corrected(capture, raw.clone());
        let extra = minus(&got, &expected);
        let missing = minus(&expected, &got);
        let matched = got.len() - extra.len();
        let precision = if got.is_empty() {
            1.0
        } else {
            matched as f64 / got.len() as f64
        };
        let recall = if expected.is_empty() {
            1.0
        } else {
            matched as f64 / expected.len() as f64
        };
        report.push(format!(
            "{capture:55} tshark {:4}  cleartap {:4}  vs tshark: precision {:.3} recall {:.3}  vs corrected: precision {precision:.3} recall {recall:.3}",
            raw.len(),
            got.len(),
            if got.is_empty() { 1.0 } else { raw_matched as f64 / got.len() as f64 },
            if raw.is_empty() { 1.0 } else { raw_matched as f64 / raw.len() as f64 },
        ));
        if !extra.is_empty() || !missing.is_empty() {
            unexplained.push(format!(
                "{capture}:\n  only cleartap: {extra:?}\n  only tshark:   {missing:?}"
            ));
        }
    }
    println!("{}", report.join("\n"));
    assert!(unexplained.is_empty(), "\n{}", unexplained.join("\n"));
}
