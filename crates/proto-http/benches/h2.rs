//! HTTP/2 parsing throughput: a connection of realistic request/response
//! header blocks (HPACK with dynamic-table hits and Huffman literals) and
//! small DATA frames, fed to `H2Parser` in packet-sized chunks, in bytes/s.
//! The time measured is the parser's: producing the exchanges, not
//! dropping them afterwards. After each run, outside the time, every
//! exchange is checked for the exact header values and bodies sent.
//!
//! Like the `replay` example and the HTTP/1 bench, it runs on mimalloc: the
//! allocator is the collector's choice.
//!
//! Time on a shared machine is noisy; instructions are not. With
//! `CLEARTAP_BENCH_ITERS=N` the bench parses the 600-byte-body connection N
//! times and exits, for `valgrind --tool=callgrind`: the difference between
//! two values of N, divided by their difference, is the instructions one
//! connection (1000 streams) takes.
#![allow(missing_docs, clippy::indexing_slicing)]

use std::time::{Duration, Instant};

use capture_core::model::{
    CaptureSource, ConnKey, ConnMeta, Direction, Exchange, NetnsId, Timestamp,
};
use capture_core::stage::{Output, Parser};
use capture_core::stats::Counters;
use criterion::{Criterion, Throughput, criterion_group};
use proto_http::h2::frame::{FrameType, PREFACE, write_frame};
use proto_http::h2::{H2Config, H2Parser};
use proto_http::hpack::encode::{self, Indexing};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A minimal HPACK encoder with a dynamic table, as browsers and servers
/// use it: exact matches indexed, known names referenced, new fields added.
struct Encoder {
    table: Vec<(String, String)>,
}

const STATIC: [(&str, &str); 8] = [
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "404"),
    (":authority", ""),
    ("content-type", ""),
];
const STATIC_INDEX: [usize; 8] = [2, 3, 4, 7, 8, 13, 1, 31];

impl Encoder {
    fn size(&self) -> usize {
        self.table.iter().map(|(n, v)| n.len() + v.len() + 32).sum()
    }

    fn field(&mut self, name: &str, value: &str, index: bool, out: &mut Vec<u8>) {
        if let Some(i) = STATIC.iter().position(|(n, v)| *n == name && *v == value) {
            return encode::indexed(STATIC_INDEX[i], out);
        }
        if let Some(i) = self.table.iter().position(|(n, v)| n == name && v == value) {
            return encode::indexed(62 + i, out);
        }
        let name_ref = STATIC
            .iter()
            .position(|(n, _)| *n == name)
            .map(|i| STATIC_INDEX[i])
            .or_else(|| {
                self.table
                    .iter()
                    .position(|(n, _)| n == name)
                    .map(|i| 62 + i)
            });
        let indexing = if index {
            Indexing::Incremental
        } else {
            Indexing::Without
        };
        encode::literal(
            name_ref.ok_or(name.as_bytes()),
            value.as_bytes(),
            indexing,
            true,
            out,
        );
        if index {
            self.table.insert(0, (name.to_owned(), value.to_owned()));
            while self.size() > 4096 {
                self.table.pop();
            }
        }
    }
}

/// Client and server bytes of one connection, as (direction, chunk) in wire order.
fn connection(streams: u32, body_len: usize) -> (Vec<(Direction, Vec<u8>)>, usize) {
    let (mut req_enc, mut resp_enc) =
        (Encoder { table: Vec::new() }, Encoder { table: Vec::new() });
    let mut chunks = Vec::new();
    let mut client = PREFACE.to_vec();
    write_frame(
        FrameType::Settings,
        0,
        0,
        &[0, 3, 0, 0, 0, 100, 0, 4, 0, 0x60, 0, 0],
        &mut client,
    );
    chunks.push((Direction::ClientToServer, client));
    let mut server = Vec::new();
    write_frame(
        FrameType::Settings,
        0,
        0,
        &[0, 3, 0, 0, 0, 128],
        &mut server,
    );
    chunks.push((Direction::ServerToClient, server));
    let body = vec![b'x'; body_len];
    for i in 0..streams {
        let id = 2 * i + 1;
        let mut block = Vec::new();
        let post = i % 4 == 0;
        req_enc.field(
            ":method",
            if post { "POST" } else { "GET" },
            false,
            &mut block,
        );
        req_enc.field(":scheme", "https", false, &mut block);
        req_enc.field(":authority", "api.example.com", true, &mut block);
        req_enc.field(
            ":path",
            &format!("/v1/items/{}?page={}", i % 50, i % 7),
            false,
            &mut block,
        );
        req_enc.field(
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0",
            true,
            &mut block,
        );
        req_enc.field(
            "accept",
            "application/json, text/plain, */*",
            true,
            &mut block,
        );
        req_enc.field("accept-language", "en-US,en;q=0.9", true, &mut block);
        req_enc.field(
            "cookie",
            &format!("session=9f86d081884c7d659a2feaa0c55ad015; tz={}", i / 100),
            true,
            &mut block,
        );
        req_enc.field(
            "x-request-id",
            &format!("{:032x}", u128::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
            false,
            &mut block,
        );
        let mut c = Vec::new();
        write_frame(
            FrameType::Headers,
            0x4 | u8::from(!post),
            id,
            &block,
            &mut c,
        );
        if post {
            write_frame(FrameType::Data, 0x1, id, &body[..200.min(body_len)], &mut c);
        }
        chunks.push((Direction::ClientToServer, c));

        let mut block = Vec::new();
        resp_enc.field(
            ":status",
            if i % 10 == 9 { "404" } else { "200" },
            false,
            &mut block,
        );
        resp_enc.field("server", "envoy", true, &mut block);
        resp_enc.field(
            "date",
            &format!("Mon, 21 Oct 2024 20:13:{:02} GMT", i % 60),
            true,
            &mut block,
        );
        resp_enc.field("content-type", "application/json", true, &mut block);
        resp_enc.field("content-length", &body_len.to_string(), true, &mut block);
        resp_enc.field("cache-control", "private, max-age=0", true, &mut block);
        resp_enc.field(
            "x-envoy-upstream-service-time",
            &format!("{}", i % 13),
            false,
            &mut block,
        );
        let mut s = Vec::new();
        write_frame(FrameType::Headers, 0x4, id, &block, &mut s);
        for (k, part) in body.chunks(16_384).enumerate() {
            let last = (k + 1) * 16_384 >= body.len();
            write_frame(FrameType::Data, u8::from(last), id, part, &mut s);
        }
        chunks.push((Direction::ServerToClient, s));
    }
    let total = chunks.iter().map(|(_, c)| c.len()).sum();
    (chunks, total)
}

/// What a user gets, checked outside the timed part: every exchange
/// decoded, with the exact header bytes and bodies the connection carried.
fn check(exchanges: &[Exchange], body_len: usize) {
    assert_eq!(exchanges.len(), 1000);
    for (i, ex) in exchanges.iter().enumerate() {
        let (req, resp) = (ex.request.as_ref().unwrap(), ex.response.as_ref().unwrap());
        let post = i % 4 == 0;
        assert_eq!(req.method(), if post { "POST" } else { "GET" });
        assert_eq!(
            req.path(),
            format!("/v1/items/{}?page={}", i % 50, i % 7).as_str()
        );
        assert_eq!(req.authority().unwrap(), "api.example.com");
        let cookie = format!("session=9f86d081884c7d659a2feaa0c55ad015; tz={}", i / 100);
        assert_eq!(req.header("cookie").unwrap(), cookie.as_str());
        let id = format!("{:032x}", (i as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        assert_eq!(req.header("x-request-id").unwrap(), id.as_str());
        assert_eq!(req.headers().len(), 6);
        assert_eq!(resp.status, if i % 10 == 9 { 404 } else { 200 });
        let date = format!("Mon, 21 Oct 2024 20:13:{:02} GMT", i % 60);
        assert_eq!(resp.header("date").unwrap(), date.as_str());
        assert_eq!(resp.header("content-type").unwrap(), "application/json");
        assert_eq!(resp.headers().len(), 6);
        assert_eq!(resp.body.data.len(), body_len);
        assert_eq!(
            req.body.data.len(),
            if post { 200.min(body_len) } else { 0 }
        );
    }
}

fn bench(c: &mut Criterion) {
    let meta = ConnMeta::new(
        ConnKey::new(
            "10.0.0.1:40000".parse().unwrap(),
            "10.0.0.2:443".parse().unwrap(),
            NetnsId::UNKNOWN,
        ),
        CaptureSource::Pcap,
        Timestamp(0),
    );
    let config = H2Config::default();
    let mut group = c.benchmark_group("h2");
    // Small API responses (600 B), and larger ones (4 KiB) where DATA dominates.
    for body_len in [600, 4096] {
        let (chunks, total) = connection(1000, body_len);
        group.throughput(Throughput::Bytes(total as u64));
        group.bench_function(format!("hpack_1000_streams_body_{body_len}"), |b| {
            let counters = Counters::default();
            let mut exchanges = Vec::with_capacity(1024);
            // Parsing only: dropping the exchanges is the consumer's work, and
            // freeing 1000 records at once would dominate with allocator
            // consolidation.
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    let mut parser = H2Parser::new(&config, &meta);
                    for (i, (dir, chunk)) in chunks.iter().enumerate() {
                        let mut out = Output::new(&mut exchanges, &counters);
                        parser.data(&meta, *dir, Timestamp(i as u64), chunk, &mut out);
                    }
                    spent += start.elapsed();
                    check(&exchanges, body_len);
                    exchanges.clear();
                }
                spent
            });
        });
    }
    group.finish();
}

/// Parses the 600-byte-body connection `iters` times (see the crate doc).
fn count(iters: u64) {
    let meta = ConnMeta::new(
        ConnKey::new(
            "10.0.0.1:40000".parse().unwrap(),
            "10.0.0.2:443".parse().unwrap(),
            NetnsId::UNKNOWN,
        ),
        CaptureSource::Pcap,
        Timestamp(0),
    );
    let config = H2Config::default();
    let (chunks, _) = connection(1000, 600);
    let counters = Counters::default();
    let mut exchanges = Vec::with_capacity(1024);
    for n in 0..iters {
        let mut parser = H2Parser::new(&config, &meta);
        for (i, (dir, chunk)) in chunks.iter().enumerate() {
            let mut out = Output::new(&mut exchanges, &counters);
            parser.data(&meta, *dir, Timestamp(i as u64), chunk, &mut out);
        }
        if n == 0 {
            // Once: the instructions counted per connection stay the parser's.
            check(&exchanges, 600);
        }
        exchanges.clear();
    }
}

criterion_group!(benches, bench);

fn main() {
    if let Some(iters) = std::env::var("CLEARTAP_BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return count(iters);
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
