//! Limits and options of the HTTP parser.

use crate::error::Error;
use crate::h2::H2Config;

/// Limits and options of the HTTP parser ([`crate::HttpProtocol`]).
///
/// Every limit bounds the memory one connection can hold; what goes beyond
/// it is counted with a [`capture_core::DropReason`], never kept.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// Body bytes kept per message; the rest is counted in `body_size` (and
    /// as `body_truncated`) and the body is marked `truncated`. Default
    /// 64 KiB. Applies to HTTP/2 too unless `h2.body_limit` was changed
    /// from its default.
    pub body_limit: usize,
    /// Decode `Content-Encoding` gzip, deflate, br and zstd bodies. Only
    /// effective when the crate is built with the `decompress` feature.
    /// Default on.
    pub decompress: bool,
    /// Decoded bytes produced at most per body, whatever the encoded size
    /// (a guard against compression bombs). Default 1 MiB.
    pub decompressed_limit: usize,
    /// Requests waiting for their responses on one connection (pipelining);
    /// beyond it new requests are dropped and counted as
    /// `pending_request_limit`. Default 256.
    pub max_pending_requests: usize,
    /// Bytes of one message head (start line and header fields), and of a
    /// chunked trailer block; beyond it the message is dropped as
    /// `header_list_too_large` and the parser resynchronises. Default 64 KiB.
    pub max_header_bytes: usize,
    /// Options of the HTTP/2 parser, used for HTTP/2 connections and h2c upgrades.
    pub h2: H2Config,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            body_limit: 64 * 1024,
            decompress: true,
            decompressed_limit: 1 << 20,
            max_pending_requests: 256,
            max_header_bytes: 64 * 1024,
            h2: H2Config::default(),
        }
    }
}

impl HttpConfig {
    /// Checks that the limits can work: at least one pending request and
    /// room for a minimal message head.
    pub fn validate(&self) -> Result<(), Error> {
        if self.max_pending_requests == 0 {
            return Err(Error::InvalidConfig {
                field: "max_pending_requests",
                reason: "must be at least 1, or no response could ever be paired",
            });
        }
        if self.max_header_bytes < 256 {
            return Err(Error::InvalidConfig {
                field: "max_header_bytes",
                reason: "must be at least 256 bytes to hold a minimal message head",
            });
        }
        Ok(())
    }

    /// The configuration with unusable limits raised to their minimum.
    pub(crate) fn sanitized(mut self) -> Self {
        if self.h2.body_limit == H2Config::default().body_limit {
            self.h2.body_limit = self.body_limit;
        }
        self.max_pending_requests = self.max_pending_requests.max(1);
        self.max_header_bytes = self.max_header_bytes.max(256);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_limit_applies_to_http2_unless_set_there() {
        let c = HttpConfig {
            body_limit: 100,
            ..Default::default()
        }
        .sanitized();
        assert_eq!(c.h2.body_limit, 100);
        let h2 = H2Config {
            body_limit: 7,
            ..Default::default()
        };
        let c = HttpConfig {
            body_limit: 100,
            h2,
            ..Default::default()
        }
        .sanitized();
        assert_eq!(c.h2.body_limit, 7);
    }

    #[test]
    fn unusable_limits_are_refused() {
        assert!(
            HttpConfig {
                max_pending_requests: 0,
                ..Default::default()
            }
            .validate()
            .is_err()
        );
        assert!(
            HttpConfig {
                max_header_bytes: 10,
                ..Default::default()
            }
            .validate()
            .is_err()
        );
        assert!(HttpConfig::default().validate().is_ok());
    }
}
