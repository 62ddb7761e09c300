//! One connection for the layers' unit tests: bytes in per direction,
//! exchanges, switches and drop counts out.
#![allow(clippy::indexing_slicing)]

use std::sync::Arc;

use capture_core::DropReason;
use capture_core::model::{
    CaptureSource, CloseReason, ConnKey, ConnMeta, Direction, Exchange, NetnsId, Timestamp,
};
use capture_core::stage::Output;
use capture_core::stats::Counters;

use super::{Http1, Switch};
use crate::config::HttpConfig;

/// An HTTP/1 connection under test.
pub(super) struct Conn {
    pub(super) http1: Http1,
    meta: ConnMeta,
    pub(super) exchanges: Vec<Exchange>,
    counters: Counters,
    ts: u64,
    /// The switch the parser asked for, if any.
    pub(super) switched: Option<Switch>,
}

impl Conn {
    /// A connection whose client sends in `ClientToServer`, seen from its start.
    pub(super) fn new() -> Self {
        Self::with(HttpConfig::default())
    }

    /// The same with `config`.
    pub(super) fn with(config: HttpConfig) -> Self {
        let http1 = Http1::new(
            Arc::new(config.sanitized()),
            Direction::ClientToServer,
            false,
        );
        Self::of(http1, false)
    }

    /// A connection joined mid-stream, its roles unknown.
    pub(super) fn joined() -> Self {
        Self::of(Http1::lost(Arc::new(HttpConfig::default())), true)
    }

    fn of(http1: Http1, mid_stream: bool) -> Self {
        let key = ConnKey::new(
            "10.0.0.1:40000".parse().expect("address"),
            "10.0.0.2:80".parse().expect("address"),
            NetnsId::UNKNOWN,
        );
        Self {
            http1,
            meta: ConnMeta::new(key, CaptureSource::Pcap, Timestamp(0))
                .joined_mid_stream(mid_stream),
            exchanges: Vec::new(),
            counters: Counters::default(),
            ts: 0,
            switched: None,
        }
    }

    fn feed(&mut self, dir: Direction, bytes: &[u8]) -> &mut Self {
        self.ts += 1;
        let mut out = Output::new(&mut self.exchanges, &self.counters);
        if let Some(s) = self
            .http1
            .data(&self.meta, dir, Timestamp(self.ts), bytes, &mut out)
        {
            self.switched = Some(s);
        }
        self
    }

    /// Client bytes.
    pub(super) fn client(&mut self, bytes: &[u8]) -> &mut Self {
        self.feed(Direction::ClientToServer, bytes)
    }

    /// Server bytes.
    pub(super) fn server(&mut self, bytes: &[u8]) -> &mut Self {
        self.feed(Direction::ServerToClient, bytes)
    }

    /// Client bytes, one byte per input.
    pub(super) fn client_bytewise(&mut self, bytes: &[u8]) -> &mut Self {
        for b in bytes.chunks(1) {
            self.client(b);
        }
        self
    }

    /// `len` bytes of `dir` lost in capture.
    pub(super) fn gap(&mut self, dir: Direction, len: u64) -> &mut Self {
        let mut out = Output::new(&mut self.exchanges, &self.counters);
        self.http1.gap(&self.meta, dir, len, &mut out);
        self
    }

    /// The connection ends with FIN.
    pub(super) fn close(&mut self) -> &mut Self {
        let mut out = Output::new(&mut self.exchanges, &self.counters);
        self.http1.close(&self.meta, CloseReason::Fin, &mut out);
        self
    }

    /// Drops counted for `reason`.
    pub(super) fn drops(&self, reason: DropReason) -> u64 {
        self.counters.drops(reason)
    }

    /// `(path, status)` of each exchange, `""` / `0` where missing.
    pub(super) fn pairs(&self) -> Vec<(String, u16)> {
        self.exchanges
            .iter()
            .map(|e| {
                (
                    e.request
                        .as_ref()
                        .map_or(String::new(), |r| r.path().to_string()),
                    e.response.as_ref().map_or(0, |r| r.status),
                )
            })
            .collect()
    }
}
