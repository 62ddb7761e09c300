//! # proto-http
//!
//! The Parser stage of cleartap for HTTP: per connection it detects the
//! protocol from the first bytes of either direction (an HTTP/1 request or
//! status line, the HTTP/2 preface or frames; TLS and unknown binary are
//! ignored and counted) and turns the ordered bytes into request/response
//! [`Exchange`](capture_core::model::Exchange)s.
//!
//! HTTP/1.x bodies are framed by `Content-Length`, chunked coding or the
//! close of the connection (a request whose last transfer coding is not
//! chunked runs to the close, flagged `malformed`); empty lines before a
//! start line are skipped; obs-folds join the field before them in both
//! directions; pipelined requests are paired with responses
//! first-in first-out; after a gap the parser resynchronises at the next
//! start line. With the `decompress` feature, gzip, deflate, br and zstd
//! bodies are decoded up to a size cap.
//!
//! What an HTTP/1 exchange's [`Flag`](capture_core::model::Flag)s mean here:
//!
//! | flag | when |
//! |---|---|
//! | `gap` | bytes of the exchange were lost; a gap inside a body of known length keeps sync (`body_size` counts it, `truncated` is set) |
//! | `no_response` | the connection ended (or lost the response) before it came |
//! | `no_request` | the request was not captured (joined mid-stream, lost, or unparsable) |
//! | `mid_stream` | the connection was joined after it started |
//! | `upgrade` | `101` or a `2xx` to `CONNECT`: HTTP/1 parsing stopped; after a `101` the rest is counted as unparsed (`Upgrade: h2c` continues as HTTP/2 instead), a tunnel's bytes are detected afresh (plaintext HTTP/1 and HTTP/2 are parsed, TLS is counted as unparsed) |
//! | `http09` | the reply had no status line: status `0`, body until close |
//! | `malformed` | a head, length or chunk could not be read as sent, or a field line is not valid (a space before the colon, a byte outside the token set or none in a name, a control byte in a value, a line without a colon): it is kept as sent and read as a lenient server reads it |
//! | `ambiguous_framing` | the body's length could be read another way by another reader (request smuggling looks so): `Transfer-Encoding` with `Content-Length`, two different lengths, a framing field folded or with a space before its colon, a folded line that reads as a framing field; framed as RFC 9112 §6.3 says (`Transfer-Encoding` first, else the first length) |
//! | `incomplete`, `reset` | the connection was flushed, timed out or reset mid-message |
//! | `decode_failed` | the body could not be decompressed and is kept as sent |
//!
//! Every byte that belongs to no message is counted as
//! [`DropReason::UnparsedBytes`](capture_core::DropReason::UnparsedBytes).
//!
//! # Example
//!
//! ```
//! use capture_core::model::*;
//! use capture_core::stage::{Output, Parser, ParserFactory as _};
//! use capture_core::stats::Counters;
//! use proto_http::{HttpConfig, HttpProtocol};
//!
//! let meta = ConnMeta::new(ConnKey::new("10.0.0.1:40000".parse().unwrap(), "10.0.0.2:80".parse().unwrap(), NetnsId::UNKNOWN), CaptureSource::Pcap, Timestamp(0));
//! let protocol = HttpProtocol::new(HttpConfig::default());
//! let mut parser = protocol.parser(&meta);
//! let (mut exchanges, counters) = (Vec::new(), Counters::default());
//! let mut out = Output::new(&mut exchanges, &counters);
//! parser.data(&meta, Direction::ClientToServer, Timestamp(1), b"GET /hi HTTP/1.1\r\nHost: a\r\n\r\n", &mut out);
//! parser.data(&meta, Direction::ServerToClient, Timestamp(2), b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", &mut out);
//! let request = exchanges[0].request.as_ref().unwrap();
//! assert!(request.method() == "GET" && request.path() == "/hi");
//! assert_eq!(request.header("host").and_then(|v| v.as_str()), Some("a"));
//! assert_eq!(exchanges[0].response.as_ref().unwrap().body.data, &b"ok"[..]);
//! ```

mod body;
mod config;
mod detect;
mod error;
pub mod grpc;
pub mod h2;
pub mod hpack;
mod http1;

use std::sync::Arc;

use capture_core::model::ConnMeta;

pub use config::HttpConfig;
pub use detect::HttpParser;
pub use error::Error;

/// The HTTP [`ParserFactory`](capture_core::stage::ParserFactory): starts an
/// [`HttpParser`] for each connection.
#[derive(Clone, Debug)]
pub struct HttpProtocol {
    config: Arc<HttpConfig>,
}

impl HttpProtocol {
    /// A protocol with these options; unusable limits are raised to their
    /// minimum (see [`HttpConfig::validate`] to refuse them instead).
    pub fn new(config: HttpConfig) -> Self {
        Self {
            config: Arc::new(config.sanitized()),
        }
    }

    /// A protocol with these options, refusing unusable limits.
    pub fn try_new(config: HttpConfig) -> Result<Self, Error> {
        config.validate()?;
        Ok(Self::new(config))
    }

    /// The options in use.
    pub fn config(&self) -> &HttpConfig {
        &self.config
    }
}

impl Default for HttpProtocol {
    fn default() -> Self {
        Self::new(HttpConfig::default())
    }
}

impl capture_core::stage::ParserFactory for HttpProtocol {
    type Parser = HttpParser;

    fn parser(&self, _meta: &ConnMeta) -> HttpParser {
        HttpParser::new(self.config.clone())
    }
}
