//! Limits and options of the HTTP/2 parser.

use crate::hpack;

/// Limits and options of the HTTP/2 parser. Each limit bounds the memory of
/// one connection; what goes beyond it is counted by a
/// [`DropReason`](capture_core::DropReason).
#[derive(Clone, Debug)]
pub struct H2Config {
    /// Body bytes kept per message; the rest is counted (`body_truncated`)
    /// and the body marked truncated. Default 64 KiB.
    pub body_limit: usize,
    /// Body bytes kept per stream, request and response together; beyond
    /// it DATA is counted as `stream_data_limit`. With `max_streams` this
    /// bounds the body memory of a connection. Default 128 KiB.
    pub stream_data_limit: usize,
    /// Decoded size of one header list (name + value + 32 per field, as in
    /// SETTINGS_MAX_HEADER_LIST_SIZE); fields beyond it are left out and
    /// counted as `header_list_too_large`. Default 64 KiB.
    pub max_header_list_size: usize,
    /// Encoded bytes of one header block (HEADERS or PUSH_PROMISE and its
    /// CONTINUATION frames), and of any other non-DATA frame buffered; a
    /// larger block is skipped and counted as `header_list_too_large`.
    /// Default 256 KiB.
    pub max_header_block: usize,
    /// Streams in flight per connection; new streams beyond it are ignored
    /// and counted as `stream_limit`. Default 256.
    pub max_streams: usize,
    /// Bytes of HPACK dynamic table kept per direction, whatever the peers
    /// agreed. Entries beyond it are reported unknown when referenced.
    /// Default 64 KiB.
    pub hpack_table_limit: usize,
    /// Largest gRPC message counted; a longer one stops the splitting of its
    /// body (flagged malformed). Default 64 MiB.
    pub grpc_max_message: u32,
}

impl Default for H2Config {
    fn default() -> Self {
        Self {
            body_limit: 64 * 1024,
            stream_data_limit: 128 * 1024,
            max_header_list_size: 64 * 1024,
            max_header_block: 256 * 1024,
            max_streams: 256,
            hpack_table_limit: hpack::DEFAULT_MEM_CAP,
            grpc_max_message: 64 << 20,
        }
    }
}
