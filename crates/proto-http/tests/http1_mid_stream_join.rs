//! HTTP/1 pairing on a connection joined mid-stream, after a request whose
//! response is the first thing seen: that response answers a request from
//! before the capture, so it is reported without one (`no_request`), and
//! the next request — which acknowledged it — meets its own response. The
//! TCP reassembler keeps the order the sequence and acknowledgment numbers
//! tell; the parser pairs first in, first out.
//!
//! Shown with crafted segments through the reassembler and the parser, and
//! with `http-start-from-response.pcap` (Suricata's, read from
//! `../shared/corpora/captures/`, skipped with the reason when absent)
//! through the whole pipeline.
#![allow(clippy::indexing_slicing)]

use std::sync::Arc;

use capture_core::Limits;
use capture_core::model::*;
use capture_core::reassembly::TcpReassembler;
use capture_core::stage::{ConnId, Output, Parser, ParserFactory, Reassembler, StreamHandler};
use capture_core::stats::{Counters, DropReason};
use capture_core::testkit::{SharedFiles, Wire};
use proto_http::{HttpConfig, HttpParser, HttpProtocol};

mod file_replay;
use file_replay::replay;

/// (path, status) of each exchange in order; "" / 0 where a side is missing.
fn pairs(exchanges: &[Exchange]) -> Vec<(String, u16)> {
    exchanges
        .iter()
        .map(|e| {
            (
                e.request
                    .as_ref()
                    .map(|r| String::from_utf8_lossy(&r.path()).into_owned())
                    .unwrap_or_default(),
                e.response.as_ref().map_or(0, |r| r.status),
            )
        })
        .collect()
}

/// The reassembler's output handed to the HTTP parser, as the pipeline's
/// workers do, for one connection.
struct ParseStreams {
    protocol: HttpProtocol,
    parser: Option<HttpParser>,
    exchanges: Vec<Exchange>,
    counters: Arc<Counters>,
}

impl ParseStreams {
    /// A TCP reassembler and an HTTP parser behind it, sharing their counters.
    fn with_reassembler() -> (TcpReassembler, Self, Arc<Counters>) {
        let counters = Arc::new(Counters::default());
        let reassembler = TcpReassembler::new(Limits::default(), counters.clone());
        let streams = ParseStreams {
            protocol: HttpProtocol::new(HttpConfig::default()),
            parser: None,
            exchanges: Vec::new(),
            counters: counters.clone(),
        };
        (reassembler, streams, counters)
    }
}

impl StreamHandler for ParseStreams {
    fn open(&mut self, _conn: ConnId, meta: &ConnMeta) {
        self.parser = Some(self.protocol.parser(meta));
    }

    fn data(&mut self, _conn: ConnId, meta: &ConnMeta, dir: Direction, ts: Timestamp, b: &[u8]) {
        let mut out = Output::new(&mut self.exchanges, &self.counters);
        if let Some(p) = &mut self.parser {
            p.data(meta, dir, ts, b, &mut out);
        }
    }

    fn gap(&mut self, _conn: ConnId, meta: &ConnMeta, dir: Direction, ts: Timestamp, len: u64) {
        let mut out = Output::new(&mut self.exchanges, &self.counters);
        if let Some(p) = &mut self.parser {
            p.gap(meta, dir, ts, len, &mut out);
        }
    }

    fn close(&mut self, _conn: ConnId, meta: &ConnMeta, ts: Timestamp, reason: CloseReason) {
        let mut out = Output::new(&mut self.exchanges, &self.counters);
        if let Some(p) = &mut self.parser {
            p.close(meta, ts, reason, &mut out);
        }
    }
}

/// A segment with its acknowledgment number.
fn acking(input: Input<'_>, ack: u32) -> Input<'_> {
    match input {
        Input::Segment(s) => Input::Segment(Segment {
            ack,
            flags: TcpFlags::ACK,
            ..s
        }),
        other => other,
    }
}

#[test]
fn a_request_after_a_response_it_acknowledged_gets_its_own_response() {
    const OLD: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
    const REQUEST: &[u8] = b"GET /favicon.ico HTTP/1.1\r\nHost: a\r\n\r\n";
    const NEW: &[u8] = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    let (c, s) = (7000u32, 9000u32);
    let mut w = Wire::new("10.0.0.1:40000", "10.0.0.2:80");
    let inputs = [
        // The server's bare ACK, then the response to a request from
        // before the capture.
        acking(w.seg(false, s, TcpFlags::ACK, b""), c),
        acking(w.seg(false, s, TcpFlags::ACK, OLD), c),
        // The next request acknowledges that response.
        acking(w.seg(true, c, TcpFlags::ACK, REQUEST), s + OLD.len() as u32),
        acking(
            w.seg(false, s + OLD.len() as u32, TcpFlags::ACK, NEW),
            c + REQUEST.len() as u32,
        ),
        acking(
            w.seg(
                true,
                c + REQUEST.len() as u32,
                TcpFlags::FIN | TcpFlags::ACK,
                b"",
            ),
            s + (OLD.len() + NEW.len()) as u32,
        ),
    ];
    let (mut reassembler, mut streams, counters) = ParseStreams::with_reassembler();
    for input in inputs {
        reassembler.push(input, &mut streams);
    }
    reassembler.flush(w.now(), &mut streams);

    let exchanges = &streams.exchanges;
    assert_eq!(
        pairs(exchanges),
        [(String::new(), 200), ("/favicon.ico".into(), 404)],
        "the old response alone, the new request with its own response"
    );
    assert!(exchanges[0].has_flag(Flag::NoRequest));
    assert!(!exchanges[1].has_flag(Flag::NoRequest));
    assert!(!exchanges[1].has_flag(Flag::NoResponse));
    assert_eq!(counters.drops(DropReason::Gap), 0, "nothing was lost");
}

#[test]
fn a_long_connection_joined_at_a_response_pairs_every_later_request() {
    // The same join, followed by 100 more exchanges: the directions are
    // released by the reordering window while the capture goes on, not
    // at the close, and every request still meets its own response.
    const OLD: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nold";
    let (mut c, mut s) = (7000u32, 9000u32);
    let mut w = Wire::new("10.0.0.1:40000", "10.0.0.2:80");
    let requests: Vec<Vec<u8>> = (0..100)
        .map(|i| format!("GET /{i} HTTP/1.1\r\nHost: a\r\n\r\n").into_bytes())
        .collect();
    let responses: Vec<Vec<u8>> = (0..100)
        .map(|i| format!("HTTP/1.1 {} OK\r\nContent-Length: 0\r\n\r\n", 200 + i).into_bytes())
        .collect();
    let mut inputs = vec![acking(w.seg(false, s, TcpFlags::ACK, OLD), c)];
    s += OLD.len() as u32;
    for (req, resp) in requests.iter().zip(&responses) {
        inputs.push(acking(w.seg(true, c, TcpFlags::ACK, req), s));
        c += req.len() as u32;
        inputs.push(acking(w.seg(false, s, TcpFlags::ACK, resp), c));
        s += resp.len() as u32;
    }
    let (mut reassembler, mut streams, counters) = ParseStreams::with_reassembler();
    for input in inputs {
        reassembler.push(input, &mut streams);
    }
    let before_close = streams.exchanges.len();
    assert!(
        before_close >= 50,
        "released during the capture: {before_close} exchanges before the close"
    );
    reassembler.flush(w.now(), &mut streams);
    let mut want = vec![(String::new(), 200)];
    want.extend((0..100).map(|i| (format!("/{i}"), 200 + i as u16)));
    assert_eq!(pairs(&streams.exchanges), want);
    assert_eq!(counters.drops(DropReason::Gap), 0, "nothing was lost");
}

#[test]
fn start_from_response_capture_pairs_each_request_with_its_own_response() {
    let test = "start_from_response_capture_pairs_each_request_with_its_own_response";
    let Some(path) = SharedFiles::corpus_or_skip(test, "captures/http-start-from-response.pcap")
    else {
        return;
    };
    let (exchanges, _) = replay(&path);
    // Wireshark agrees: the 200 answers a request before the capture
    // (no `http.request_in`), the 404 answers GET /favicon.ico.
    assert_eq!(
        pairs(&exchanges),
        [(String::new(), 200), ("/favicon.ico".into(), 404)]
    );
    assert!(exchanges[0].has_flag(Flag::NoRequest));
    assert_eq!(exchanges[0].response.as_ref().unwrap().body.data.len(), 11);
    assert!(!exchanges[1].has_flag(Flag::NoRequest));
    assert_eq!(exchanges[1].response.as_ref().unwrap().body.data.len(), 209);
}
