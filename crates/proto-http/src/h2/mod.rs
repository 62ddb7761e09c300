//! HTTP/2: frames, HPACK, streams and gRPC. (Interface stub: filled by the HTTP/2 work.)

use capture_core::model::{CloseReason, ConnMeta, Direction, Request, Timestamp};
use capture_core::stage::{Output, Parser};

/// Limits and options of the HTTP/2 parser.
#[derive(Clone, Debug)]
pub struct H2Config {
    /// Body bytes kept per message.
    pub body_limit: usize,
}

impl Default for H2Config {
    fn default() -> Self {
        Self {
            body_limit: 64 * 1024,
        }
    }
}

/// The HTTP/2 state of one connection.
pub struct H2Parser {
    _config: H2Config,
}

impl H2Parser {
    /// A parser for a connection whose client preface was seen (or is next in the stream).
    pub fn new(config: &H2Config, _meta: &ConnMeta) -> Self {
        Self {
            _config: config.clone(),
        }
    }

    /// A parser for a connection joined mid-stream: frames without a preface.
    pub fn joined_mid_stream(config: &H2Config, _meta: &ConnMeta) -> Self {
        Self {
            _config: config.clone(),
        }
    }

    /// A parser after an HTTP/1.1 `Upgrade: h2c` answered by 101: `request`
    /// becomes stream 1. `swapped` says the client is `meta.key.server`.
    pub fn after_upgrade(
        config: &H2Config,
        _meta: &ConnMeta,
        _request: Request,
        _swapped: bool,
    ) -> Self {
        Self {
            _config: config.clone(),
        }
    }

    /// True if `bytes` (the start of a direction, no preface) look like HTTP/2 frames.
    pub fn looks_like_frames(_bytes: &[u8]) -> bool {
        false
    }
}

impl Parser for H2Parser {
    fn data(&mut self, _: &ConnMeta, _: Direction, _: Timestamp, _: &[u8], _: &mut Output<'_>) {}
    fn gap(&mut self, _: &ConnMeta, _: Direction, _: Timestamp, _: u64, _: &mut Output<'_>) {}
    fn close(&mut self, _: &ConnMeta, _: Timestamp, _: CloseReason, _: &mut Output<'_>) {}
}
