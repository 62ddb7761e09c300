//! The Exchange record: one request and its response.
//!
//! Field names follow the JSON-lines contract of the design document; tests
//! and users rely on them.

use std::net::SocketAddr;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::{
    Body, ByteStr, CaptureSource, ConnMeta, Head, HeadBuilder, Headers, K8sConn, Roles, Timestamp,
    TlsLibrary, TrafficDirection,
};

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
    /// The message's length could be read more than one way (both
    /// `Transfer-Encoding` and `Content-Length`, two different lengths, a
    /// framing field folded or written with a space before its colon):
    /// servers and proxies may frame it differently, as in request
    /// smuggling. It was framed as RFC 9112 §6.3 says.
    AmbiguousFraming,
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
            Self::AmbiguousFraming => "ambiguous_framing",
        }
    }
}

/// A request: its head as exact bytes, its trailers and its body.
///
/// ```
/// use capture_core::model::{Request, Timestamp};
///
/// let req = Request::builder("POST", "/orders")
///     .header("Host", "shop")
///     .header("Content-Type", "application/json")
///     .body("{}")
///     .build(Timestamp(1));
/// assert_eq!(req.method(), "POST");
/// assert_eq!(req.header("content-type").and_then(|v| v.as_str()), Some("application/json"));
/// assert_eq!(req.authority(), None);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Request {
    /// Time of the first byte.
    pub ts: Timestamp,
    head: Head,
    /// Trailer fields (chunked trailers, HTTP/2 trailers).
    pub trailers: Headers,
    /// The body.
    pub body: Body,
}

impl Request {
    /// A request of `head` (built with [`HeadBuilder`]), no trailers, no body.
    pub fn new(ts: Timestamp, head: Head) -> Self {
        Self {
            ts,
            head,
            trailers: Headers::default(),
            body: Body::default(),
        }
    }

    /// Starts a request of `method` and `path` (text or bytes).
    pub fn builder<'a, 'b>(
        method: impl Into<ByteStr<'a>>,
        path: impl Into<ByteStr<'b>>,
    ) -> MessageBuilder {
        let mut head = HeadBuilder::new();
        head.method(method).path(path);
        MessageBuilder {
            head,
            status: 0,
            trailers: Headers::default(),
            body: Body::default(),
        }
    }

    /// A builder holding this request's head, trailers and body, to make a
    /// changed copy (one more header, another body).
    pub fn to_builder(&self) -> MessageBuilder {
        let mut b = Self::builder(self.method(), self.path());
        if let Some(a) = self.authority() {
            b.head.authority(a);
        }
        for h in self.headers() {
            b.head.header(h.name(), h.value());
        }
        b.trailers = self.trailers.clone();
        b.body = self.body.clone();
        b
    }

    /// The method, as sent.
    pub fn method(&self) -> ByteStr<'_> {
        self.head.line(0).unwrap_or_default()
    }

    /// The request target, as sent.
    pub fn path(&self) -> ByteStr<'_> {
        self.head.line(1).unwrap_or_default()
    }

    /// `Host` (HTTP/1, without surrounding whitespace) or `:authority`
    /// (HTTP/2), when the request had one.
    pub fn authority(&self) -> Option<ByteStr<'_>> {
        self.head.line(2)
    }

    /// The header fields, in order.
    pub fn headers(&self) -> &Headers {
        self.head.headers()
    }

    /// The value of the first header named `name`, ignoring ASCII case.
    pub fn header(&self, name: &str) -> Option<ByteStr<'_>> {
        self.head.headers().get(name)
    }

    /// The head.
    pub fn head(&self) -> &Head {
        &self.head
    }
}

/// A response: its status, its head as exact bytes, its trailers and body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Response {
    /// Time of the first byte.
    pub ts: Timestamp,
    /// Time of the last byte (of the body, or of the head when there is no
    /// body): with the request's `ts`, the whole duration of the exchange.
    pub end_ts: Timestamp,
    /// Status code.
    pub status: u16,
    head: Head,
    /// Trailer fields.
    pub trailers: Headers,
    /// The body.
    pub body: Body,
}

impl Response {
    /// A response of `status` and `head` (built with [`HeadBuilder`]), no
    /// trailers, no body, ending when it starts.
    pub fn new(ts: Timestamp, status: u16, head: Head) -> Self {
        Self {
            ts,
            end_ts: ts,
            status,
            head,
            trailers: Headers::default(),
            body: Body::default(),
        }
    }

    /// Starts a response of `status`.
    pub fn builder(status: u16) -> MessageBuilder {
        MessageBuilder {
            head: HeadBuilder::new(),
            status,
            trailers: Headers::default(),
            body: Body::default(),
        }
    }

    /// A builder holding this response's status, head, trailers and body,
    /// to make a changed copy.
    pub fn to_builder(&self) -> MessageBuilder {
        let mut b = Self::builder(self.status);
        if let Some(r) = self.reason() {
            b.head.reason(r);
        }
        for h in self.headers() {
            b.head.header(h.name(), h.value());
        }
        b.trailers = self.trailers.clone();
        b.body = self.body.clone();
        b
    }

    /// The reason phrase (HTTP/1 only), as sent.
    pub fn reason(&self) -> Option<ByteStr<'_>> {
        self.head.line(0)
    }

    /// The header fields, in order.
    pub fn headers(&self) -> &Headers {
        self.head.headers()
    }

    /// The value of the first header named `name`, ignoring ASCII case.
    pub fn header(&self, name: &str) -> Option<ByteStr<'_>> {
        self.head.headers().get(name)
    }

    /// The head.
    pub fn head(&self) -> &Head {
        &self.head
    }
}

/// Builds a [`Request`] or [`Response`] in a few calls, for tests and
/// applications that make their own records; parsers use [`HeadBuilder`].
#[derive(Clone, Debug)]
pub struct MessageBuilder {
    head: HeadBuilder,
    status: u16,
    trailers: Headers,
    body: Body,
}

impl MessageBuilder {
    /// Sets the method (requests).
    pub fn method<'a>(mut self, v: impl Into<ByteStr<'a>>) -> Self {
        self.head.method(v);
        self
    }

    /// Sets the request target (requests).
    pub fn path<'a>(mut self, v: impl Into<ByteStr<'a>>) -> Self {
        self.head.path(v);
        self
    }

    /// Sets the status (responses).
    pub fn status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// Sets the trailer fields.
    pub fn trailers(mut self, trailers: Headers) -> Self {
        self.trailers = trailers;
        self
    }

    /// Sets the authority (requests).
    pub fn authority<'a>(mut self, v: impl Into<ByteStr<'a>>) -> Self {
        self.head.authority(v);
        self
    }

    /// Sets the reason phrase (responses).
    pub fn reason<'a>(mut self, v: impl Into<ByteStr<'a>>) -> Self {
        self.head.reason(v);
        self
    }

    /// Adds a header field.
    pub fn header<'a, 'b>(
        mut self,
        name: impl Into<ByteStr<'a>>,
        value: impl Into<ByteStr<'b>>,
    ) -> Self {
        self.head.header(name, value);
        self
    }

    /// Sets the whole body.
    pub fn body(mut self, data: impl Into<Bytes>) -> Self {
        self.body = Body::new(data);
        self
    }

    /// Sets the body as kept and counted.
    pub fn body_parts(mut self, body: Body) -> Self {
        self.body = body;
        self
    }

    /// The request.
    pub fn build(mut self, ts: Timestamp) -> Request {
        let mut r = Request::new(ts, self.head.finish());
        r.trailers = self.trailers;
        r.body = self.body;
        r
    }

    /// The response.
    pub fn build_response(mut self, ts: Timestamp) -> Response {
        let mut r = Response::new(ts, self.status, self.head.finish());
        r.trailers = self.trailers;
        r.body = self.body;
        r
    }
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
        let mut body = crate::model::BodyBuilder::new();
        body.append(b"hello", 3);
        ex.request = Some(
            Request::builder("POST", "/a?b=1")
                .authority("svc")
                .header("Host", "svc")
                .header("X-Case", "V")
                .body_parts(body.finish())
                .build(Timestamp(5)),
        );
        ex.response = Some(
            Response::builder(201)
                .body(&b"\xff\x00"[..])
                .build_response(Timestamp(9)),
        );
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
    fn a_copy_with_one_more_header_keeps_the_rest() {
        let req = Request::builder("POST", "/a")
            .authority("svc")
            .header("A", "1")
            .body("x")
            .build(Timestamp(3));
        let more = req.to_builder().header("B", &b"\xff"[..]).build(req.ts);
        assert_eq!((more.method(), more.path()), ("POST".into(), "/a".into()));
        assert_eq!(more.authority().unwrap(), "svc");
        assert_eq!(more.headers().len(), 2);
        assert_eq!(more.header("b").unwrap().as_bytes(), b"\xff");
        assert_eq!(more.body, req.body);
        let resp = Response::builder(200)
            .reason("OK")
            .build_response(Timestamp(4));
        let other = resp.to_builder().status(404).build_response(resp.ts);
        assert_eq!((other.status, other.reason().unwrap()), (404, "OK".into()));
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
