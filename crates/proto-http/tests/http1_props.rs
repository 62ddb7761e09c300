//! Property tests: random segmentation never changes what the HTTP/1
//! parser reports, and arbitrary bytes never make it panic or report more
//! than it was given.

#![allow(clippy::indexing_slicing)]

use capture_core::DropReason;
use capture_core::model::*;
use capture_core::stage::{Output, Parser, ParserFactory as _};
use capture_core::stats::Counters;
use proptest::prelude::*;
use proto_http::{HttpConfig, HttpProtocol};

fn meta(mid_stream: bool) -> ConnMeta {
    capture_core::testkit::meta("10.0.0.1:40000", "10.0.0.2:80").joined_mid_stream(mid_stream)
}

/// A keep-alive conversation with every framing: pipelined requests with
/// length and chunked bodies, `Expect: 100-continue`, HEAD, 204, 304, an
/// HTTP/1.0 close-delimited reply at the end.
fn conversation() -> Vec<(Direction, Vec<u8>)> {
    let c = Direction::ClientToServer;
    let s = Direction::ServerToClient;
    vec![
        (c, b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nPOST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello".to_vec()),
        (s, b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n2;x=y\r\nok\r\n0\r\nT: 1\r\n\r\n".to_vec()),
        (c, b"PUT /c HTTP/1.1\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec()),
        (s, b"HTTP/1.1 100 Continue\r\n\r\n".to_vec()),
        (c, b"4\r\ndata\r\n0\r\n\r\nHEAD /d HTTP/1.1\r\n\r\nDELETE /e HTTP/1.1\r\n\r\nGET /f HTTP/1.1\r\n\r\n".to_vec()),
        (s, b"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\nHTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\n\r\n".to_vec()),
        (c, b"GET /g HTTP/1.0\r\n\r\n".to_vec()),
        (s, b"HTTP/1.0 200 OK\r\n\r\nuntil the end".to_vec()),
    ]
}

fn feed(
    script: &[(Direction, Vec<u8>)],
    cuts: &[usize],
    gaps: &[(usize, u64)],
) -> (Vec<Exchange>, u64) {
    let meta = meta(false);
    let mut parser = HttpProtocol::new(HttpConfig::default()).parser(&meta);
    let counters = Counters::default();
    let mut exchanges = Vec::new();
    let mut out = Output::new(&mut exchanges, &counters);
    for (i, (dir, bytes)) in script.iter().enumerate() {
        let ts = Timestamp(i as u64 + 1);
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        points.push(bytes.len());
        points.sort_unstable();
        let mut start = 0;
        for p in points {
            if p > start {
                parser.data(&meta, *dir, ts, &bytes[start..p], &mut out);
                start = p;
            }
        }
        for &(at, len) in gaps {
            if at == i {
                parser.gap(&meta, *dir, ts, len, &mut out);
            }
        }
    }
    parser.close(&meta, Timestamp(99), CloseReason::Fin, &mut out);
    (exchanges, counters.drops(DropReason::UnparsedBytes))
}

#[test]
fn the_conversation_is_understood() {
    let (exchanges, unparsed) = feed(&conversation(), &[], &[]);
    let got: Vec<_> = exchanges
        .iter()
        .map(|e| {
            (
                e.request
                    .as_ref()
                    .map(|r| r.path().to_string())
                    .unwrap_or_default(),
                e.response.as_ref().map_or(0, |r| r.status),
                e.flags.clone(),
            )
        })
        .collect();
    let want: Vec<(String, u16, Vec<Flag>)> = [
        ("/a", 200),
        ("/b", 201),
        ("/c", 204),
        ("/d", 200),
        ("/e", 204),
        ("/f", 304),
        ("/g", 200),
    ]
    .iter()
    .map(|(p, s)| (p.to_string(), *s, Vec::new()))
    .collect();
    assert_eq!(got, want);
    assert_eq!(unparsed, 0);
    assert_eq!(
        exchanges[1].response.as_ref().unwrap().trailers,
        Headers::from_pairs([("T", "1")])
    );
    assert_eq!(
        exchanges[2].request.as_ref().unwrap().body.data,
        &b"data"[..]
    );
    assert_eq!(
        exchanges[6].response.as_ref().unwrap().body.data,
        &b"until the end"[..]
    );
    assert_eq!(exchanges[6].protocol, Protocol::Http10);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_segmentation_changes_nothing(cuts in proptest::collection::vec(0usize..400, 0..40)) {
        let script = conversation();
        let whole = feed(&script, &[], &[]);
        let cut = feed(&script, &cuts, &[]);
        prop_assert_eq!(cut, whole);
    }

    #[test]
    fn gaps_are_the_same_whatever_the_segmentation(
        cuts in proptest::collection::vec(0usize..400, 0..20),
        gap_at in 0usize..8,
        gap_len in 1u64..200,
    ) {
        let script = conversation();
        let whole = feed(&script, &[], &[(gap_at, gap_len)]);
        let cut = feed(&script, &cuts, &[(gap_at, gap_len)]);
        prop_assert_eq!(cut, whole);
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        pieces in proptest::collection::vec((any::<bool>(), proptest::collection::vec(any::<u8>(), 0..200), 0u8..8), 0..30),
        mid_stream in any::<bool>(),
    ) {
        let meta = meta(mid_stream);
        let config = HttpConfig { body_limit: 64, max_header_bytes: 256, max_pending_requests: 4, ..Default::default() };
        let mut parser = HttpProtocol::new(config).parser(&meta);
        let counters = Counters::default();
        let mut exchanges = Vec::new();
        let mut out = Output::new(&mut exchanges, &counters);
        let mut total = 0u64;
        for (i, (server, bytes, kind)) in pieces.iter().enumerate() {
            let dir = if *server { Direction::ServerToClient } else { Direction::ClientToServer };
            if *kind == 0 {
                parser.gap(&meta, dir, Timestamp(i as u64), bytes.len() as u64 + 1, &mut out);
            } else {
                total += bytes.len() as u64;
                parser.data(&meta, dir, Timestamp(i as u64), bytes, &mut out);
            }
        }
        parser.close(&meta, Timestamp(1000), CloseReason::Timeout, &mut out);
        if parser.detected() != "h2" {
            prop_assert!(counters.drops(DropReason::UnparsedBytes) <= total);
        }
        for e in &exchanges {
            for b in e.request.iter().map(|r| &r.body).chain(e.response.iter().map(|r| &r.body)) {
                prop_assert!(b.data.len() <= 64);
            }
        }
    }

    #[test]
    fn http_like_garbage_never_panics(
        pieces in proptest::collection::vec(
            (any::<bool>(), proptest::sample::select(vec![
                &b"GET / HTTP/1.1\r\n"[..], b"HTTP/1.1 200 OK\r\n", b"Content-Length: 3\r\n",
                b"Transfer-Encoding: chunked\r\n", b"\r\n", b"5\r\n", b"abc", b"0\r\n", b"Upgrade: h2c\r\n",
                b"HTTP/1.1 101 S\r\n", b"CONNECT x:1 HTTP/1.1\r\n", b"HEAD / HTTP/1.0\r\n", b"\x16\x03\x01",
                b"HTTP/1.1 100 Continue\r\n", b"Expect: 100-continue\r\n",
            ])),
            0..60,
        ),
    ) {
        let meta = meta(false);
        let mut parser = HttpProtocol::new(HttpConfig::default()).parser(&meta);
        let counters = Counters::default();
        let mut exchanges = Vec::new();
        let mut out = Output::new(&mut exchanges, &counters);
        let mut total = 0u64;
        for (i, (server, bytes)) in pieces.iter().enumerate() {
            let dir = if *server { Direction::ServerToClient } else { Direction::ClientToServer };
            total += bytes.len() as u64;
            parser.data(&meta, dir, Timestamp(i as u64), bytes, &mut out);
        }
        parser.close(&meta, Timestamp(1000), CloseReason::Fin, &mut out);
        // (After an h2c switch the HTTP/2 parser does its own accounting.)
        if parser.detected() != "h2" {
            prop_assert!(counters.drops(DropReason::UnparsedBytes) <= total);
        }
        prop_assert!(exchanges.len() <= pieces.len() + 1);
    }
}

/// Pieces of HTTP/1 and of garbage to build hostile conversations from.
const SOUP: &[&[u8]] = &[
    b"GET / HTTP/1.1\r\n",
    b"HTTP/1.1 200 OK\r\n",
    b"Content-Length: 3\r\n",
    b"Content-Length: 0\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"\r\n",
    b"5\r\n",
    b"abc",
    b"0\r\n",
    b"Upgrade: websocket\r\n",
    b"HTTP/1.1 101 S\r\n",
    b"CONNECT x:1 HTTP/1.1\r\n",
    b"HEAD / HTTP/1.0\r\n",
    b"HTTP/1.1 100 Continue\r\n",
    b"Expect: 100-continue\r\n",
    b"HTTP/1.0 204 N\r\n",
    b"HTTP/1.1 304 N\r\n",
    b"X: y\r\n",
    b"GET /",
    b"HTTP/",
    b"\n",
    b"\r",
    b"Content-Length: x\r\n",
    b"of a body",
    b"PUT /p HTTP/1.1\r\n",
    b"T: 1\r\n",
    b"1;e\r\nz\r\n",
    b"\x00",
];

/// What a user sees of a run, timestamps aside (bytes replayed after a
/// malformed head carry the time of the head's first byte).
type Seen = (Vec<(Option<String>, Option<u16>, u64, u64, Vec<Flag>)>, u64);

/// Feeds soup pieces, each direction's consecutive pieces as one input
/// (`split` false) or one input per piece.
fn soup(pieces: &[(bool, &[u8])], mid_stream: bool, small: bool, split: bool) -> Seen {
    let meta = meta(mid_stream);
    let config = if small {
        HttpConfig {
            body_limit: 2,
            max_header_bytes: 256,
            max_pending_requests: 2,
            ..Default::default()
        }
    } else {
        HttpConfig::default()
    };
    let mut parser = HttpProtocol::new(config).parser(&meta);
    let counters = Counters::default();
    let mut exchanges = Vec::new();
    let mut out = Output::new(&mut exchanges, &counters);
    for (i, group) in pieces.chunk_by(|a, b| a.0 == b.0).enumerate() {
        let dir = if group[0].0 {
            Direction::ServerToClient
        } else {
            Direction::ClientToServer
        };
        let ts = Timestamp(i as u64);
        if split {
            for (_, piece) in group {
                parser.data(&meta, dir, ts, piece, &mut out);
            }
        } else {
            let whole: Vec<u8> = group.iter().flat_map(|(_, p)| p.iter().copied()).collect();
            parser.data(&meta, dir, ts, &whole, &mut out);
        }
    }
    parser.close(&meta, Timestamp(999), CloseReason::Fin, &mut out);
    let seen = exchanges
        .iter()
        .map(|e| {
            (
                e.request.as_ref().map(|r| r.path().to_string()),
                e.response.as_ref().map(|r| r.status),
                e.request.as_ref().map_or(0, |r| r.body.size),
                e.response.as_ref().map_or(0, |r| r.body.size),
                e.flags.clone(),
            )
        })
        .collect();
    (seen, counters.drops(DropReason::UnparsedBytes))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn hostile_conversations_do_not_depend_on_segmentation(
        pieces in proptest::collection::vec((any::<bool>(), proptest::sample::select(SOUP)), 0..60),
        mid_stream in any::<bool>(),
        small in any::<bool>(),
    ) {
        prop_assert_eq!(soup(&pieces, mid_stream, small, true), soup(&pieces, mid_stream, small, false));
    }
}
