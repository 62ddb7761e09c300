//! The Exchange record: one request and its response, and its JSON form.
//!
//! Field names follow the JSON-lines contract of the design document; tests
//! and users rely on them.

use std::net::SocketAddr;

use base64::Engine as _;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

use super::{CaptureSource, ConnMeta, K8sConn, Roles, Timestamp, TlsLibrary, TrafficDirection};

/// The application protocol of an exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Protocol {
    /// HTTP/1.0 (and HTTP/0.9 replies).
    #[serde(rename = "http/1.0")]
    Http10,
    /// HTTP/1.1.
    #[serde(rename = "http/1.1")]
    Http11,
    /// HTTP/2.
    #[serde(rename = "h2")]
    H2,
    /// gRPC over HTTP/2.
    #[serde(rename = "grpc")]
    Grpc,
}

impl Protocol {
    /// The name used in JSON records.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Http10 => "http/1.0",
            Self::Http11 => "http/1.1",
            Self::H2 => "h2",
            Self::Grpc => "grpc",
        }
    }
}

/// Something a user should know about how an exchange was captured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    /// Bytes of this exchange were lost in capture.
    Gap,
    /// No response was seen: the connection closed, timed out or lost it.
    NoResponse,
    /// A response was seen whose request was not captured.
    NoRequest,
    /// The connection was joined after it started.
    MidStream,
    /// The stream or connection was reset before the exchange completed.
    Reset,
    /// The connection switched protocols (101, CONNECT); parsing stopped after it.
    Upgrade,
    /// A header referred to compression state from before the capture began;
    /// it is reported as unknown rather than guessed.
    HeadersUnknown,
    /// The message could not be parsed completely.
    Malformed,
    /// The body could not be decompressed and is kept as sent.
    DecodeFailed,
    /// The reply had no status line (HTTP/0.9).
    Http09,
    /// The connection was flushed by a limit (timeout, eviction, shutdown)
    /// before the exchange completed.
    Incomplete,
    /// TCP segments overlapped with different bytes for the same positions
    /// (the earlier bytes were kept): receivers may have read otherwise,
    /// as in IDS evasion.
    OverlapConflict,
}

impl Flag {
    /// The name used in JSON records.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Gap => "gap",
            Self::NoResponse => "no_response",
            Self::NoRequest => "no_request",
            Self::MidStream => "mid_stream",
            Self::Reset => "reset",
            Self::Upgrade => "upgrade",
            Self::HeadersUnknown => "headers_unknown",
            Self::Malformed => "malformed",
            Self::DecodeFailed => "decode_failed",
            Self::Http09 => "http09",
            Self::Incomplete => "incomplete",
            Self::OverlapConflict => "overlap_conflict",
        }
    }
}

/// A header field as seen on the wire, case and order kept.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Header {
    /// Name, as sent.
    pub name: String,
    /// Value, lossily decoded as UTF-8.
    pub value: String,
}

impl Header {
    /// Builds a header.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
        }
    }
}

impl Serialize for Header {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(2))?;
        seq.serialize_element(&self.name)?;
        seq.serialize_element(&self.value)?;
        seq.end()
    }
}

/// Finds the first header named `name`, ignoring ASCII case.
pub fn find_header<'h>(headers: &'h [Header], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
}

/// A message body: the bytes kept, and how many were sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Body {
    /// The bytes kept, up to the body capture limit (decoded if decoding is on).
    pub data: Vec<u8>,
    /// The size of the body on the wire, in bytes, whether kept or not.
    pub size: u64,
    /// True when `data` holds less than the whole body.
    pub truncated: bool,
}

impl Body {
    /// Appends `bytes`, keeping at most `limit` bytes in total and counting all of them.
    pub fn append(&mut self, bytes: &[u8], limit: usize) {
        self.size += bytes.len() as u64;
        let room = limit.saturating_sub(self.data.len());
        if bytes.len() > room {
            self.truncated = true;
        }
        self.data
            .extend_from_slice(bytes.get(..room.min(bytes.len())).unwrap_or_default());
    }
}

/// A request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Request {
    /// Time of the first byte.
    pub ts: Timestamp,
    /// Method.
    pub method: String,
    /// The request target as sent.
    pub path: String,
    /// `Host` or `:authority`.
    pub authority: Option<String>,
    /// Header fields, in order.
    pub headers: Vec<Header>,
    /// Trailer fields (chunked trailers, HTTP/2 trailers).
    pub trailers: Vec<Header>,
    /// The body.
    pub body: Body,
}

/// A response.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Response {
    /// Time of the first byte.
    pub ts: Timestamp,
    /// Time of the last byte (of the body, or of the head when there is no
    /// body): with the request's `ts`, the whole duration of the exchange.
    pub end_ts: Timestamp,
    /// Status code.
    pub status: u16,
    /// Reason phrase (HTTP/1 only).
    pub reason: Option<String>,
    /// Header fields, in order.
    pub headers: Vec<Header>,
    /// Trailer fields.
    pub trailers: Vec<Header>,
    /// The body.
    pub body: Body,
}

/// gRPC details of an exchange.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrpcInfo {
    /// Length-prefixed messages in the request body.
    pub request_messages: u32,
    /// Length-prefixed messages in the response body.
    pub response_messages: u32,
    /// `grpc-status` from the trailers.
    pub status: Option<u32>,
    /// `grpc-message` from the trailers.
    pub message: Option<String>,
}

/// The connection as reported in a record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnInfo {
    /// The client endpoint.
    pub client: SocketAddr,
    /// The server endpoint.
    pub server: SocketAddr,
    /// Network-namespace inode, where known.
    pub netns: Option<u64>,
    /// Owning process, for socket-level sources.
    pub pid: Option<u32>,
    /// Owning process's name, for socket-level sources.
    pub comm: Option<String>,
    /// The socket's file descriptor in `pid`, for socket-level sources
    /// (left out of JSON records when unknown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fd: Option<u32>,
    /// The pod and container on each end, where the node knows them (left
    /// out of JSON records when neither is known). Filled in by an
    /// [`Enricher`](crate::enrich::Enricher) such as `k8s-meta`'s.
    #[serde(default, skip_serializing_if = "K8sConn::is_empty")]
    pub k8s: K8sConn,
}

impl ConnInfo {
    /// The record's view of a connection, its endpoints named by `roles`.
    pub fn from_meta(meta: &ConnMeta, roles: Roles) -> Self {
        let (client, server) = roles.endpoints(&meta.key);
        Self {
            client,
            server,
            netns: meta.key.netns.get(),
            pid: meta.key.pid,
            comm: meta.comm.map(|c| c.to_string_lossy()),
            fd: meta.key.fd,
            k8s: K8sConn::default(),
        }
    }
}

/// One request/response pair (or a lone request or response, flagged).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exchange {
    /// Application protocol.
    pub protocol: Protocol,
    /// How it was captured.
    pub source: CaptureSource,
    /// The TLS library whose plaintext it is, for TLS sources.
    pub tls_library: Option<TlsLibrary>,
    /// The connection.
    pub conn: ConnInfo,
    /// Inbound or outbound, where the source knows.
    pub direction: Option<TrafficDirection>,
    /// HTTP/2 stream id.
    pub stream_id: Option<u32>,
    /// The request, if it was captured.
    pub request: Option<Request>,
    /// The response, if it was captured.
    pub response: Option<Response>,
    /// gRPC details.
    pub grpc: Option<GrpcInfo>,
    /// Capture notes.
    pub flags: Vec<Flag>,
}

impl Exchange {
    /// An empty exchange on the given connection, its endpoints named by
    /// `roles`, to be filled by a parser.
    pub fn new(protocol: Protocol, meta: &ConnMeta, roles: Roles) -> Self {
        let mut flags = Vec::new();
        if meta.mid_stream {
            flags.push(Flag::MidStream);
        }
        Self {
            protocol,
            source: meta.source,
            tls_library: meta.tls_library,
            conn: ConnInfo::from_meta(meta, roles),
            direction: meta.traffic,
            stream_id: None,
            request: None,
            response: None,
            grpc: None,
            flags,
        }
    }

    /// Adds a flag once.
    pub fn flag(&mut self, flag: Flag) {
        if !self.flags.contains(&flag) {
            self.flags.push(flag);
        }
    }

    /// True if `flag` is set.
    pub fn has_flag(&self, flag: Flag) -> bool {
        self.flags.contains(&flag)
    }

    /// The time of the exchange: the request's, else the response's.
    pub fn ts(&self) -> Timestamp {
        self.request
            .as_ref()
            .map(|r| r.ts)
            .or_else(|| self.response.as_ref().map(|r| r.ts))
            .unwrap_or_default()
    }

    /// Serialises the record as one JSON line (without the newline).
    pub fn to_json(&self) -> String {
        let mut out = Vec::with_capacity(1024);
        self.write_json(&mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    /// Appends the JSON record to `out`: the same bytes as serde's
    /// serialisation, written faster.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        super::json::exchange(out, self);
    }
}

struct BodyFields<'a>(&'a Body);

impl BodyFields<'_> {
    fn write<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        map.serialize_entry("body_size", &self.0.size)?;
        match std::str::from_utf8(&self.0.data) {
            Ok(s) => {
                map.serialize_entry("body", s)?;
                map.serialize_entry("body_encoding", "utf8")?;
            }
            Err(_) => {
                let b64 = base64::engine::general_purpose::STANDARD.encode(&self.0.data);
                map.serialize_entry("body", &b64)?;
                map.serialize_entry("body_encoding", "base64")?;
            }
        }
        map.serialize_entry("truncated", &self.0.truncated)
    }
}

impl Serialize for Request {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("ts", &self.ts)?;
        m.serialize_entry("method", &self.method)?;
        m.serialize_entry("path", &self.path)?;
        m.serialize_entry("authority", &self.authority)?;
        m.serialize_entry("headers", &self.headers)?;
        if !self.trailers.is_empty() {
            m.serialize_entry("trailers", &self.trailers)?;
        }
        BodyFields(&self.body).write(&mut m)?;
        m.end()
    }
}

impl Serialize for Response {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("ts", &self.ts)?;
        m.serialize_entry("end_ts", &self.end_ts)?;
        m.serialize_entry("status", &self.status)?;
        if let Some(reason) = &self.reason {
            m.serialize_entry("reason", reason)?;
        }
        m.serialize_entry("headers", &self.headers)?;
        if !self.trailers.is_empty() {
            m.serialize_entry("trailers", &self.trailers)?;
        }
        BodyFields(&self.body).write(&mut m)?;
        m.end()
    }
}

impl Serialize for Exchange {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("protocol", &self.protocol)?;
        m.serialize_entry("source", &self.source)?;
        if let Some(lib) = &self.tls_library {
            m.serialize_entry("tls_library", lib)?;
        }
        m.serialize_entry("conn", &self.conn)?;
        if let Some(d) = &self.direction {
            m.serialize_entry("direction", d)?;
        }
        m.serialize_entry("stream_id", &self.stream_id)?;
        m.serialize_entry("request", &self.request)?;
        m.serialize_entry("response", &self.response)?;
        if let Some(g) = &self.grpc {
            m.serialize_entry("grpc", g)?;
        }
        m.serialize_entry("flags", &self.flags)?;
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ConnKey, NetnsId};

    fn meta() -> ConnMeta {
        ConnMeta::new(
            ConnKey::new(
                "10.0.0.1:40000".parse().unwrap(),
                "10.0.0.2:80".parse().unwrap(),
                NetnsId(4026531840),
            ),
            CaptureSource::Pcap,
            Timestamp(1),
        )
    }

    #[test]
    fn json_follows_the_contract() {
        let mut ex = Exchange::new(Protocol::Http11, &meta(), Roles::CONFIRMED);
        let mut req = Request {
            ts: Timestamp(5),
            method: "POST".into(),
            path: "/a?b=1".into(),
            authority: Some("svc".into()),
            headers: vec![Header::new("Host", "svc"), Header::new("X-Case", "V")],
            ..Default::default()
        };
        req.body.append(b"hello", 3);
        ex.request = Some(req);
        let mut resp = Response {
            ts: Timestamp(9),
            status: 201,
            ..Default::default()
        };
        resp.body.append(&[0xff, 0x00], 64);
        ex.response = Some(resp);
        ex.flag(Flag::Gap);
        let v: serde_json::Value = serde_json::from_str(&ex.to_json()).unwrap();
        assert_eq!(v["protocol"], "http/1.1");
        assert_eq!(v["source"], "pcap");
        assert_eq!(v["conn"]["client"], "10.0.0.1:40000");
        assert_eq!(v["conn"]["server"], "10.0.0.2:80");
        assert_eq!(v["conn"]["netns"], 4026531840u64);
        assert!(v["conn"]["pid"].is_null());
        assert!(v["stream_id"].is_null());
        assert_eq!(v["request"]["method"], "POST");
        assert_eq!(v["request"]["headers"][1][0], "X-Case");
        assert_eq!(v["request"]["body"], "hel");
        assert_eq!(v["request"]["body_size"], 5);
        assert_eq!(v["request"]["truncated"], true);
        assert_eq!(v["request"]["body_encoding"], "utf8");
        assert_eq!(v["response"]["status"], 201);
        assert_eq!(v["response"]["body"], "/wA=");
        assert_eq!(v["response"]["body_encoding"], "base64");
        assert_eq!(v["flags"][0], "gap");
        assert!(v.get("tls_library").is_none(), "omitted when not TLS");
    }

    #[test]
    fn tls_library_follows_source() {
        let mut m = meta();
        m.source = CaptureSource::EbpfGoTls;
        m.tls_library = Some(TlsLibrary::Go);
        let json = Exchange::new(Protocol::H2, &m, Roles::CONFIRMED).to_json();
        assert!(
            json.starts_with(
                r#"{"protocol":"h2","source":"ebpf-go-tls","tls_library":"go","conn":"#
            ),
            "{json}"
        );
    }

    #[test]
    fn swapped_roles_swap_endpoints() {
        let ex = Exchange::new(
            Protocol::Http11,
            &meta(),
            Roles::client_sends(crate::model::Direction::ServerToClient),
        );
        assert_eq!(ex.conn.client.port(), 80);
        assert_eq!(ex.conn.server.port(), 40000);
    }
}
