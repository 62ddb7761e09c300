//! Replay gives the same exchanges whatever the worker count, and whatever
//! the packet order within a window: real captures (the one recorded here
//! and, when `../shared/` is present, those of other projects), shuffled
//! and with duplicated packets.
#![cfg(all(feature = "pcap", feature = "http"))]

use std::path::{Path, PathBuf};

use capture_core::testkit::{SharedFiles, bundled};

use cleartap::core::model::{Exchange, Input, NetnsId, Segment, TcpFlags, Timestamp};
use cleartap::core::pipeline::Pipeline;
use cleartap::core::sink::MemorySink;
use cleartap::core::stage::{InputSink, Poll, Source, SourceError};
use cleartap::core::stats::{Counter, Counters};
use cleartap::http::HttpProtocol;
use cleartap::pcap::{CaptureFile, FileSource, decode_packet};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A decoded segment with its payload owned, so it can be reordered.
#[derive(Clone)]
struct Owned {
    seg: Segment<'static>,
    payload: Vec<u8>,
}

fn segments(path: &Path) -> Vec<Owned> {
    let file = CaptureFile::open(path).unwrap();
    let mut out = Vec::new();
    for packet in file.packets().flatten() {
        if let Ok(seg) = decode_packet(packet.link, packet.ts, packet.data, NetnsId::UNKNOWN) {
            let payload = seg.payload.to_vec();
            out.push(Owned {
                seg: Segment {
                    payload: &[],
                    ..seg
                },
                payload,
            });
        }
    }
    out
}

/// Segments from memory, in the order given, as a file-like source.
struct Segments(Vec<Owned>, bool);

impl Source for Segments {
    fn poll(&mut self, out: &mut dyn InputSink, counters: &Counters) -> Result<Poll, SourceError> {
        if std::mem::replace(&mut self.1, true) {
            return Ok(Poll::Finished);
        }
        for o in &self.0 {
            counters.add(Counter::Packets, 1);
            out.input(Input::Segment(Segment {
                payload: &o.payload,
                ..o.seg
            }));
        }
        Ok(Poll::Ready)
    }
    fn is_live(&self) -> bool {
        false
    }
}

fn digest(bytes: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

/// The lines in one list and not the other, for a readable failure.
fn differences(a: &[String], b: &[String]) -> Vec<String> {
    let only_a = a
        .iter()
        .filter(|x| !b.contains(x))
        .map(|x| format!("- {x}"));
    let only_b = b
        .iter()
        .filter(|x| !a.contains(x))
        .map(|x| format!("+ {x}"));
    only_a.chain(only_b).collect()
}

/// What a user compares: the pairs, their bodies and flags, in a stable order.
fn summary(exchanges: Vec<Exchange>) -> Vec<String> {
    let mut v: Vec<String> = exchanges
        .into_iter()
        .map(|e| {
            let req = e.request.as_ref().map(|r| {
                (
                    r.method().to_string(),
                    r.path().to_string(),
                    r.body.size,
                    digest(&r.body.data),
                )
            });
            let resp = e
                .response
                .as_ref()
                .map(|r| (r.status, r.body.size, digest(&r.body.data)));
            let mut flags: Vec<String> = e.flags.iter().map(|f| format!("{f:?}")).collect();
            flags.sort();
            format!(
                "{} {} {:?} {:?} {:?}",
                e.conn.client, e.conn.server, req, resp, flags
            )
        })
        .collect();
    v.sort();
    v
}

fn run(source: Box<dyn Source>, workers: usize) -> Vec<String> {
    let sink = MemorySink::new(1 << 20);
    Pipeline::builder(HttpProtocol::default())
        .workers(workers)
        .source(source)
        .sink(sink.clone())
        .build()
        .unwrap()
        .run()
        .unwrap();
    summary(sink.drain())
}

/// Permutes every run of `window` consecutive segments at random (so none
/// moves more than `window - 1` places) and duplicates about one in ten.
fn shuffle_and_duplicate(mut segs: Vec<Owned>, window: usize, seed: u64) -> Vec<Owned> {
    use rand::seq::SliceRandom;
    let mut rng = StdRng::seed_from_u64(seed);
    for block in segs.chunks_mut(window) {
        block.shuffle(&mut rng);
    }
    let mut out = Vec::with_capacity(segs.len() * 11 / 10);
    for s in segs {
        if rng.gen_ratio(1, 10) {
            out.push(s.clone());
        }
        out.push(s);
    }
    out
}

/// Captures of other projects, from `../shared/pcaps/`.
const SHARED: &[&str] = &[
    "pipelined-requests.pcap",
    "1000-requests-one-dropped-response.pcap",
    "http-range-file__input.pcap",
    "vnd.ms-cab-compressed-multi-conn.pcap",
    "http-post-large.pcap",
    "100-continue.pcap",
];

/// The bundled capture, and the shared ones when present.
fn captures(test: &str) -> Vec<PathBuf> {
    let mut all = vec![bundled("loopback-http.pcap")];
    if let Some(shared) = SharedFiles::or_skip(&format!("{test} (shared captures)")) {
        all.extend(SHARED.iter().map(|name| shared.pcap(name)));
    }
    all
}

#[test]
fn same_exchanges_with_any_worker_count() {
    for path in captures("same_exchanges_with_any_worker_count") {
        let capture = path.display();
        let baseline = run(Box::new(FileSource::open(&path).unwrap()), 1);
        assert!(!baseline.is_empty(), "{capture}: no exchanges");
        for workers in [2, 3, 4] {
            let other = run(Box::new(FileSource::open(&path).unwrap()), workers);
            assert!(
                other == baseline,
                "{capture} with {workers} workers: {:#?}",
                differences(&baseline, &other)
            );
        }
    }
}

#[test]
fn same_exchanges_with_packets_shuffled_within_a_window_and_duplicated() {
    let test = "same_exchanges_with_packets_shuffled_within_a_window_and_duplicated";
    for path in captures(test) {
        let segs = segments(&path);
        let capture = path.display();
        let baseline = run(Box::new(Segments(segs.clone(), false)), 1);
        assert!(!baseline.is_empty(), "{capture}: no exchanges");
        for seed in 0..4 {
            let shuffled = shuffle_and_duplicate(segs.clone(), 5, seed);
            let got = run(Box::new(Segments(shuffled, false)), 1 + seed as usize % 2);
            assert!(
                got == baseline,
                "{capture} seed {seed}: {:#?}",
                differences(&baseline, &got)
            );
        }
    }
}

#[test]
fn file_source_and_decoded_segments_agree() {
    // Guards the test's own decoding against drifting from FileSource.
    for path in captures("file_source_and_decoded_segments_agree") {
        let a = run(Box::new(FileSource::open(&path).unwrap()), 1);
        let b = run(Box::new(Segments(segments(&path), false)), 1);
        assert_eq!(a, b, "{}", path.display());
    }
    let _ = (TcpFlags::empty(), Timestamp(0));
}
