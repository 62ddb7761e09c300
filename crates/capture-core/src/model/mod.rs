//! The data model: connections, segments, chunks and exchanges.

mod conn;
mod exchange;
mod json;
mod k8s;
mod roles;
mod segment;
mod time;

pub use conn::{CaptureSource, Comm, ConnKey, ConnMeta, NetnsId, TlsLibrary, TrafficDirection};
pub use exchange::{
    Body, ConnInfo, Exchange, Flag, GrpcInfo, Header, Protocol, Request, Response, find_header,
};
pub use k8s::{K8sConn, K8sEnd, Pod, WorkloadKind};
pub use roles::{Direction, Role, Roles};
pub use segment::{CloseReason, Input, Segment, StreamChunk, TcpFlags};
pub use time::Timestamp;
