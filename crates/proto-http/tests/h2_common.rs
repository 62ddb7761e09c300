//! Helpers to write HTTP/2 frames and drive an H2Parser in tests (included by the h2_* tests).
#![allow(
    dead_code,
    missing_docs,
    unreachable_pub,
    clippy::new_without_default,
    clippy::indexing_slicing
)]

use capture_core::model::*;
use capture_core::stage::{Output, Parser};
use capture_core::stats::{Counters, DropReason};
use proto_http::h2::frame::{FrameType, write_frame};
use proto_http::h2::{H2Config, H2Parser};
use proto_http::hpack::encode;

pub const C2S: Direction = Direction::ClientToServer;
pub const S2C: Direction = Direction::ServerToClient;

pub fn meta(mid_stream: bool) -> ConnMeta {
    capture_core::testkit::meta("10.0.0.1:40000", "10.0.0.2:8080").joined_mid_stream(mid_stream)
}

/// A header block of literals without indexing (no table effect).
pub fn block(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (n, v) in fields {
        encode::literal(
            Err(n.as_bytes()),
            v.as_bytes(),
            encode::Indexing::Without,
            false,
            &mut out,
        );
    }
    out
}

pub fn frame(ty: FrameType, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    write_frame(ty, flags, stream, payload, &mut out);
    out
}

pub fn headers(stream: u32, end_stream: bool, fields: &[(&str, &str)]) -> Vec<u8> {
    frame(
        FrameType::Headers,
        0x4 | u8::from(end_stream),
        stream,
        &block(fields),
    )
}

pub fn data(stream: u32, end_stream: bool, bytes: &[u8]) -> Vec<u8> {
    frame(FrameType::Data, u8::from(end_stream), stream, bytes)
}

pub fn settings(params: &[(u16, u32)]) -> Vec<u8> {
    let mut p = Vec::new();
    for (id, v) in params {
        p.extend_from_slice(&id.to_be_bytes());
        p.extend_from_slice(&v.to_be_bytes());
    }
    frame(FrameType::Settings, 0, 0, &p)
}

pub fn rst(stream: u32, code: u32) -> Vec<u8> {
    frame(FrameType::RstStream, 0, stream, &code.to_be_bytes())
}

pub fn goaway(last: u32, code: u32) -> Vec<u8> {
    let mut p = last.to_be_bytes().to_vec();
    p.extend_from_slice(&code.to_be_bytes());
    frame(FrameType::GoAway, 0, 0, &p)
}

pub fn get(stream: u32, path: &str) -> Vec<u8> {
    headers(
        stream,
        true,
        &[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", path),
            (":authority", "svc"),
        ],
    )
}

pub fn ok(stream: u32, end_stream: bool) -> Vec<u8> {
    headers(
        stream,
        end_stream,
        &[(":status", "200"), ("content-type", "text/plain")],
    )
}

pub fn preface() -> Vec<u8> {
    let mut v = proto_http::h2::frame::PREFACE.to_vec();
    v.extend(settings(&[]));
    v
}

pub struct Conn {
    pub parser: H2Parser,
    pub meta: ConnMeta,
    pub exchanges: Vec<Exchange>,
    pub counters: Counters,
    pub ts: u64,
}

impl Conn {
    pub fn new() -> Self {
        Self::with(H2Config::default())
    }

    pub fn with(config: H2Config) -> Self {
        let meta = meta(false);
        Self::from_parser(H2Parser::new(&config, &meta), meta)
    }

    pub fn mid_stream(config: H2Config) -> Self {
        let meta = meta(true);
        Self::from_parser(H2Parser::joined_mid_stream(&config, &meta), meta)
    }

    pub fn from_parser(parser: H2Parser, meta: ConnMeta) -> Self {
        Self {
            parser,
            meta,
            exchanges: Vec::new(),
            counters: Counters::default(),
            ts: 0,
        }
    }

    pub fn send(&mut self, dir: Direction, bytes: &[u8]) {
        self.ts += 1;
        let mut out = Output::new(&mut self.exchanges, &self.counters);
        self.parser
            .data(&self.meta, dir, Timestamp(self.ts), bytes, &mut out);
    }

    pub fn client(&mut self, bytes: &[u8]) {
        self.send(C2S, bytes);
    }

    pub fn server(&mut self, bytes: &[u8]) {
        self.send(S2C, bytes);
    }

    pub fn gap(&mut self, dir: Direction, len: u64) {
        let mut out = Output::new(&mut self.exchanges, &self.counters);
        self.parser
            .gap(&self.meta, dir, Timestamp(self.ts), len, &mut out);
    }

    pub fn close(&mut self, reason: CloseReason) {
        let mut out = Output::new(&mut self.exchanges, &self.counters);
        self.parser
            .close(&self.meta, Timestamp(self.ts), reason, &mut out);
    }

    pub fn drops(&self, reason: DropReason) -> u64 {
        self.counters.drops(reason)
    }

    pub fn by_stream(&self, id: u32) -> &Exchange {
        self.exchanges
            .iter()
            .find(|e| e.stream_id == Some(id))
            .unwrap_or_else(|| panic!("no exchange for stream {id}"))
    }
}

pub fn summary(ex: &Exchange) -> (u32, String, String, u16) {
    (
        ex.stream_id.unwrap_or(0),
        ex.request
            .as_ref()
            .map(|r| String::from_utf8_lossy(r.method().as_bytes()).into_owned())
            .unwrap_or_default(),
        ex.request
            .as_ref()
            .map(|r| String::from_utf8_lossy(r.path().as_bytes()).into_owned())
            .unwrap_or_default(),
        ex.response.as_ref().map_or(0, |r| r.status),
    )
}
