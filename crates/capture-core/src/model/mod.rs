//! The data model: connections, segments, chunks and exchanges.

mod conn;
mod exchange;
mod json;
mod segment;
mod time;

/// The string type of header fields and methods: up to 24 bytes are kept
/// inline, without a heap allocation. Re-exported so that users of the model
/// need no dependency of their own.
pub use compact_str::CompactString;
pub use conn::{CaptureSource, Comm, ConnKey, ConnMeta, Direction, NetnsId, TrafficDirection};
pub use exchange::{
    Body, ConnInfo, Exchange, Flag, GrpcInfo, Header, Protocol, Request, Response, find_header,
};
pub use segment::{CloseReason, Input, Segment, StreamChunk, TcpFlags};
pub use time::Timestamp;
