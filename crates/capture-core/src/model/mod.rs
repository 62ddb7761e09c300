//! The data model: connections, segments, chunks and exchanges.
//!
//! An [`Exchange`] holds a [`Request`] and a [`Response`] whose heads are
//! exact bytes ([`Head`], [`Headers`]: one buffer per head, fields as
//! ranges into it) and whose bodies are [`bytes::Bytes`]. Fields read as
//! [`ByteStr`]: compare them with text, print them, or take the bytes;
//! whether they are UTF-8 was found out once, when the head was parsed.
//!
//! ```
//! use capture_core::model::*;
//!
//! fn describe(ex: &Exchange) -> Option<String> {
//!     let (req, resp) = (ex.request.as_ref()?, ex.response.as_ref()?);
//!     let json = req.header("content-type").is_some_and(|v| v == "application/json");
//!     Some(format!("{} {} -> {} (json: {json})", req.method(), req.path(), resp.status))
//! }
//!
//! let req = Request::builder("GET", &b"/caf\xe9"[..]).header("Content-Type", "application/json");
//! let key = ConnKey::new("10.0.0.1:40000".parse().unwrap(), "10.0.0.2:80".parse().unwrap(), NetnsId::UNKNOWN);
//! let meta = ConnMeta::new(key, CaptureSource::Pcap, Timestamp(0));
//! let mut ex = Exchange::new(Protocol::Http11, &meta, Roles::CONFIRMED);
//! ex.request = Some(req.build(Timestamp(1)));
//! ex.response = Some(Response::builder(200).build_response(Timestamp(2)));
//! assert_eq!(describe(&ex).unwrap(), r"GET /caf\xe9 -> 200 (json: true)");
//! assert_eq!(ex.request.as_ref().unwrap().path().as_bytes(), b"/caf\xe9");
//! ```

mod body;
mod conn;
mod exchange;
mod head;
mod json;
mod k8s;
mod roles;
mod segment;
mod ser;
mod text;
mod time;

pub use body::{Body, BodyBuilder};
pub use conn::{CaptureSource, Comm, ConnKey, ConnMeta, NetnsId, TlsLibrary, TrafficDirection};
pub use exchange::{
    ConnInfo, Exchange, Flag, GrpcInfo, MessageBuilder, Protocol, Request, Response,
};
pub use head::{Head, HeadBuilder, Header, HeaderIter, Headers};
pub(crate) use json::RecordWriter;
pub use k8s::{K8sConn, K8sEnd, Pod, WorkloadKind};
pub use roles::{Direction, Role, Roles};
pub use segment::{CloseReason, Input, Segment, StreamChunk, TcpFlags};
pub use text::ByteStr;
pub use time::Timestamp;
