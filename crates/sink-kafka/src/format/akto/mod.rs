//! The message Akto's data processor reads from `akto.api.logs`, with the
//! values Akto's eBPF collector sends for the same bytes.
//!
//! Akto's collector (`trafficUtil/kafkaUtil/parser.go`, `buildJSONPayload`)
//! parses HTTP/1 with Go's `net/http`, HTTP/2 with its own parser, and
//! writes one flat JSON object of strings per request/response pair with
//! Go's `encoding/json`. This format writes the same object, byte for byte
//! where the exchange holds the bytes Go saw:
//!
//! | field | value |
//! |---|---|
//! | `path` | the request target as Go's `URL.String()` writes it ([`go_url`]) |
//! | `method` | as sent; only `GET HEAD POST PUT DELETE CONNECT OPTIONS TRACE TRACK PATCH` (any case) are sent |
//! | `type` | `HTTP/1.0`, `HTTP/1.1`, `HTTP/2.0`, or `gRPC` for gRPC over HTTP/2 |
//! | `requestHeaders`, `responseHeaders` | a JSON text of the name → value map Go hands Akto ([`go_http`]), the request's with `host` |
//! | `requestPayload`, `responsePayload` | bodies as Akto sends them ([`body`]): gzip responses decoded, HTTP/2 in base64 |
//! | `ip`, `destIp` | client and server `ip:port` (`[v6]:port`) |
//! | `time` | unix seconds when the response was complete (Akto: when it produced the message) |
//! | `statusCode`, `status` | `201` and the status line's text after the version, `201 Created` (HTTP/2: the code) |
//! | `direction` | `1` inbound (the traced process is the server), `2` outbound |
//! | `process_id`, `socket_id` | pid and fd for socket-level sources, else `0` |
//! | `akto_account_id`, `akto_vxlan_id`, `source`, `is_pending`, `daemonset_id`, `enable_graph` | from [`AktoFormat`] |
//! | `tag` | the serving pod's labels (inbound only, from `conn.k8s`) and [`AktoFormat::inject_tags`], a JSON text; absent when there are neither |
//!
//! Message key: the first address of the last `x-forwarded-for` (then
//! `x-real-ip`, `x-cluster-client-ip`, `true-client-ip`,
//! `x-original-forwarded-for`, `x-client-ip`, `client-ip`) when the request
//! has one, else `ip`. Record header `collection_details`:
//! `host|method|path`, left out when one of them is empty.
//!
//! Akto sends only complete pairs: an exchange without a request or a
//! response, with another method, or that Go's parser refuses is declined
//! (counted as `filtered`); one over [`AktoFormat::with_output_limit`]'s
//! budget is dropped (counted as `output_limit`).
//!
//! Exact bytes. Go's JSON writes each byte that is not part of valid UTF-8
//! as U+FFFD, and so does this format where Akto's collector would; but
//! the message then also carries the bytes as sent, so that nothing is
//! altered unsaid. Present only when needed:
//!
//! | field | value |
//! |---|---|
//! | `requestPayloadBase64`, `responsePayloadBase64` | the payload's exact bytes in base64, when they are not UTF-8 (HTTP/1; HTTP/2 payloads are base64 already) |
//! | `requestHeadersBase64`, `responseHeadersBase64` | a JSON text of a map from each field name to its value, both in base64, for the fields (as sent; HTTP/2 pseudo-headers included) whose name or value is not UTF-8 |
//!
//! The path needs none: Go escapes its bytes as `%XX` (this format escapes
//! a query's non-UTF-8 bytes too, where Go would send them replaced). An
//! HTTP/1 header name that is not a token (never UTF-8-less text alone)
//! makes Go refuse the message, and this format declines it likewise.

pub(crate) mod body;
pub(crate) mod go_http;
pub(crate) mod go_json;
pub(crate) mod go_url;
mod limit;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use capture_core::model::{
    ByteStr, Exchange, Headers, Protocol, Request, Response, TrafficDirection,
};
use capture_core::stats::DropReason;

pub use limit::OutputLimit;

use super::{Message, MessageFormat};
use go_http::HeaderMap;
use go_json::go_string;

/// The Akto message format, with the fields that describe the collector.
#[derive(Clone)]
pub struct AktoFormat {
    /// `akto_account_id`; Akto's collector always sends `1000000`.
    pub account_id: String,
    /// `akto_vxlan_id`; `0` for eBPF collectors.
    pub vxlan_id: String,
    /// `source`; Akto's eBPF collector sends `MIRRORING`.
    pub source: String,
    /// `daemonset_id`: identifies this collector run.
    pub daemonset_id: String,
    /// `enable_graph` (`AKTO_ENABLE_GRAPH`, true by default as in Akto).
    pub enable_graph: bool,
    /// Tags added to every message's `tag` (`AKTO_INJECT_TAGS`); pod labels win a clash.
    pub inject_tags: BTreeMap<String, String>,
    /// Decoded bytes kept at most from a gzip response body.
    pub max_decoded_body: usize,
    output_limit: Option<Arc<OutputLimit>>,
}

impl Default for AktoFormat {
    fn default() -> Self {
        Self {
            account_id: "1000000".into(),
            vxlan_id: "0".into(),
            source: "MIRRORING".into(),
            daemonset_id: String::new(),
            enable_graph: true,
            inject_tags: BTreeMap::new(),
            max_decoded_body: 8 << 20,
            output_limit: None,
        }
    }
}

impl std::fmt::Debug for AktoFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AktoFormat")
            .field("daemonset_id", &self.daemonset_id)
            .field("enable_graph", &self.enable_graph)
            .field("inject_tags", &self.inject_tags)
            .field("output_limit", &self.output_limit)
            .finish_non_exhaustive()
    }
}

impl AktoFormat {
    /// Drops messages beyond `bytes_per_minute` (`OUTPUT_BANDWIDTH_LIMIT`).
    #[must_use]
    pub fn with_output_limit(mut self, bytes_per_minute: u64) -> Self {
        self.output_limit = Some(Arc::new(OutputLimit::new(bytes_per_minute)));
        self
    }
}

/// Methods Akto's collector sends (`IsValidMethod`).
const METHODS: [&str; 10] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "TRACK", "PATCH",
];

/// Headers that carry the original client's address, in Akto's order.
const CLIENT_IP_HEADERS: [&str; 7] = [
    "x-forwarded-for",
    "x-real-ip",
    "x-cluster-client-ip",
    "true-client-ip",
    "x-original-forwarded-for",
    "x-client-ip",
    "client-ip",
];

/// One exchange as Akto's collector sees it: everything the message needs
/// that comes from the HTTP bytes. The only place that reads the exchange's
/// request and response.
struct Pair<'a> {
    method: Cow<'a, str>,
    path: String,
    kind: &'static str,
    host: String,
    request_headers: HeaderMap,
    response_headers: HeaderMap,
    request_body: Cow<'a, [u8]>,
    response_body: Cow<'a, [u8]>,
    status_code: u16,
    status: String,
}

impl<'a> Pair<'a> {
    fn of(ex: &'a Exchange, max_decoded_body: usize) -> Option<Self> {
        let (req, resp) = (ex.request.as_ref()?, ex.response.as_ref()?);
        let method = go_string(req.method().as_bytes());
        let path = go_url::request_uri(&method, &escape_non_text(req.path().as_bytes()))?;
        match ex.protocol {
            Protocol::Http10 | Protocol::Http11 => {
                let http11 = ex.protocol == Protocol::Http11;
                let mut req_head = go_http::http1_head(req.headers(), http11)?;
                let resp_head = go_http::http1_head(resp.headers(), http11)?;
                // Go's Request.Host: an absolute target's host, else the Host header.
                let host = absolute_host(&path)
                    .map(str::to_owned)
                    .or(req_head.host.take())
                    .unwrap_or_default();
                req_head.map.insert("host".into(), host.clone());
                let response_body = body::http1_response(
                    &resp.body.data,
                    resp_head.content_encoding.as_deref(),
                    max_decoded_body,
                );
                Some(Self {
                    method,
                    path,
                    kind: if http11 { "HTTP/1.1" } else { "HTTP/1.0" },
                    host,
                    request_headers: req_head.map,
                    response_headers: resp_head.map,
                    request_body: Cow::Borrowed(&req.body.data),
                    response_body: Cow::Owned(response_body),
                    status_code: resp.status,
                    status: match resp.reason().map(|r| go_string(r.as_bytes())) {
                        Some(r) if !r.is_empty() => format!("{} {r}", resp.status),
                        _ => resp.status.to_string(),
                    },
                })
            }
            Protocol::H2 | Protocol::Grpc => {
                let grpc = ex.protocol == Protocol::Grpc;
                let authority = req
                    .authority()
                    .map(|a| go_string(a.as_bytes()).into_owned());
                let mut pseudo = vec![
                    (":method", method.clone().into_owned()),
                    (":path", go_string(req.path().as_bytes()).into_owned()),
                ];
                if let Some(a) = &authority {
                    pseudo.push((":authority", a.clone()));
                }
                let mut request_headers = go_http::http2_map(pseudo, req.headers(), None);
                let host = authority
                    .or_else(|| request_headers.get("host").cloned())
                    .unwrap_or_default();
                request_headers.insert("host".into(), host.clone());
                let trailers = grpc.then_some(&resp.trailers);
                let response_headers = go_http::http2_map(
                    [(":status", resp.status.to_string())],
                    resp.headers(),
                    trailers,
                );
                Some(Self {
                    method,
                    path,
                    kind: if grpc { "gRPC" } else { "HTTP/2.0" },
                    host,
                    request_headers,
                    response_headers,
                    request_body: Cow::Owned(body::http2(&req.body.data, grpc).into_bytes()),
                    response_body: Cow::Owned(body::http2(&resp.body.data, grpc).into_bytes()),
                    status_code: resp.status,
                    status: resp.status.to_string(),
                })
            }
        }
    }

    /// Akto's message key: a forwarding header's first address, else `ip`.
    fn key(&self, ip: &str) -> String {
        let lower: BTreeMap<String, &str> = self
            .request_headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str()))
            .collect();
        for name in CLIENT_IP_HEADERS {
            if let Some(first) = lower
                .get(name)
                .and_then(|v| v.split(',').map(str::trim).find(|s| !s.is_empty()))
            {
                return first.to_owned();
            }
        }
        ip.to_owned()
    }
}

/// The exact bytes of the values Go's JSON would send altered.
struct Exact {
    request_payload: Option<String>,
    response_payload: Option<String>,
    request_headers: Option<Vec<u8>>,
    response_headers: Option<Vec<u8>>,
}

impl Exact {
    fn of(ex: &Exchange, pair: &Pair<'_>) -> Self {
        let payload = |b: &[u8]| std::str::from_utf8(b).is_err().then(|| BASE64.encode(b));
        let headers = |pseudo: &[(&str, Option<ByteStr<'_>>)], list: [Option<&Headers>; 2]| {
            let mut map = BTreeMap::new();
            let fields = pseudo
                .iter()
                .filter_map(|(n, v)| Some((ByteStr::from_str(n), (*v)?)))
                .chain(
                    list.into_iter()
                        .flatten()
                        .flatten()
                        .map(|h| (h.name(), h.value())),
                );
            for (name, value) in fields {
                if !name.is_text() || !value.is_text() {
                    map.insert(BASE64.encode(name), BASE64.encode(value));
                }
            }
            (!map.is_empty()).then(|| {
                let mut out = Vec::new();
                go_json::write_map(&mut out, &map);
                out
            })
        };
        let (req, resp) = (ex.request.as_ref(), ex.response.as_ref());
        let grpc = ex.protocol == Protocol::Grpc;
        // HTTP/2's map holds the pseudo-headers too.
        let pseudo = match (ex.protocol, req) {
            (Protocol::H2 | Protocol::Grpc, Some(r)) => vec![
                (":method", Some(r.method())),
                (":path", Some(r.path())),
                (":authority", r.authority()),
            ],
            _ => Vec::new(),
        };
        Self {
            request_payload: payload(&pair.request_body),
            response_payload: payload(&pair.response_body),
            request_headers: headers(&pseudo, [req.map(Request::headers), None]),
            response_headers: headers(
                &[],
                [
                    resp.map(Response::headers),
                    resp.filter(|_| grpc).map(|r| &r.trailers),
                ],
            ),
        }
    }
}

/// `target` with each byte that is not part of valid UTF-8 written `%XX`,
/// as Go's URL writing escapes the path's.
fn escape_non_text(target: &[u8]) -> Cow<'_, str> {
    if let Ok(text) = std::str::from_utf8(target) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(target.len() + 8);
    for chunk in target.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push('%');
            out.push(char::from(go_json::hex_digit(b >> 4, true)));
            out.push(char::from(go_json::hex_digit(*b, true)));
        }
    }
    Cow::Owned(out)
}

/// The labels of the pod serving an inbound exchange, as Akto's collector
/// sends them in `tag`: not for outbound exchanges, nor when the traced
/// process is Envoy (a sidecar's labels would describe the proxy), nor when
/// the pod is not known (`conn.k8s`, filled in by an enricher such as
/// `k8s-meta`'s).
fn pod_labels(ex: &Exchange) -> Option<BTreeMap<String, String>> {
    if ex.direction == Some(TrafficDirection::Outbound)
        || ex.conn.comm.as_deref().is_some_and(|c| c.contains("envoy"))
    {
        return None;
    }
    let pod = &ex.conn.k8s.server.as_ref()?.pod;
    Some(pod.labels.iter().cloned().collect())
}

/// The host of an absolute `http://host/…` path, which Go takes as `Request.Host`.
fn absolute_host(path: &str) -> Option<&str> {
    let rest = path.split_once("://")?.1;
    let authority = rest.split('/').next()?;
    Some(authority.rsplit_once('@').map_or(authority, |(_, h)| h))
}

/// `ip:port`, `[ip]:port` for IPv6, an IPv4-mapped IPv6 address as IPv4.
fn addr_string(a: SocketAddr) -> String {
    SocketAddr::new(a.ip().to_canonical(), a.port()).to_string()
}

impl MessageFormat for AktoFormat {
    fn encode(&self, ex: &Exchange, message: &mut Message) -> Result<(), DropReason> {
        let pair = Pair::of(ex, self.max_decoded_body).ok_or(DropReason::Filtered)?;
        if !METHODS.iter().any(|m| m.eq_ignore_ascii_case(&pair.method)) {
            return Err(DropReason::Filtered);
        }
        let ip = addr_string(ex.conn.client);
        let inbound = ex.direction != Some(TrafficDirection::Outbound);
        let time = ex
            .response
            .as_ref()
            .map(|r| r.ts)
            .unwrap_or_else(|| ex.ts())
            .as_secs();
        let mut req_headers = Vec::new();
        go_json::write_map(&mut req_headers, &pair.request_headers);
        let mut resp_headers = Vec::new();
        go_json::write_map(&mut resp_headers, &pair.response_headers);

        let mut fields: BTreeMap<&str, Cow<'_, [u8]>> = BTreeMap::new();
        let s = |v: String| Cow::Owned(v.into_bytes());
        let b = |v: &'static str| Cow::Borrowed(v.as_bytes());
        fields.insert("path", Cow::Borrowed(pair.path.as_bytes()));
        fields.insert("method", Cow::Borrowed(pair.method.as_bytes()));
        fields.insert("type", b(pair.kind));
        fields.insert("requestHeaders", Cow::Owned(req_headers));
        fields.insert("responseHeaders", Cow::Owned(resp_headers));
        fields.insert("requestPayload", Cow::Borrowed(&*pair.request_body));
        fields.insert("responsePayload", Cow::Borrowed(&*pair.response_body));
        fields.insert("ip", Cow::Borrowed(ip.as_bytes()));
        fields.insert("destIp", s(addr_string(ex.conn.server)));
        fields.insert("time", s(time.to_string()));
        fields.insert("statusCode", s(pair.status_code.to_string()));
        fields.insert("status", Cow::Borrowed(pair.status.as_bytes()));
        fields.insert("akto_account_id", Cow::Borrowed(self.account_id.as_bytes()));
        fields.insert("akto_vxlan_id", Cow::Borrowed(self.vxlan_id.as_bytes()));
        fields.insert("is_pending", b("false"));
        fields.insert("source", Cow::Borrowed(self.source.as_bytes()));
        fields.insert("direction", b(if inbound { "1" } else { "2" }));
        fields.insert("process_id", s(ex.conn.pid.unwrap_or(0).to_string()));
        fields.insert("socket_id", s(ex.conn.fd.unwrap_or(0).to_string()));
        fields.insert("daemonset_id", Cow::Borrowed(self.daemonset_id.as_bytes()));
        fields.insert(
            "enable_graph",
            b(if self.enable_graph { "true" } else { "false" }),
        );
        let exact = Exact::of(ex, &pair);
        if let Some(b) = &exact.request_payload {
            fields.insert("requestPayloadBase64", Cow::Borrowed(b.as_bytes()));
        }
        if let Some(b) = &exact.response_payload {
            fields.insert("responsePayloadBase64", Cow::Borrowed(b.as_bytes()));
        }
        if let Some(b) = &exact.request_headers {
            fields.insert("requestHeadersBase64", Cow::Borrowed(b));
        }
        if let Some(b) = &exact.response_headers {
            fields.insert("responseHeadersBase64", Cow::Borrowed(b));
        }
        let labels = pod_labels(ex);
        if labels.is_some() || !self.inject_tags.is_empty() {
            let mut tags = self.inject_tags.clone();
            tags.extend(labels.unwrap_or_default());
            let mut t = Vec::new();
            go_json::write_map(&mut t, &tags);
            fields.insert("tag", Cow::Owned(t));
        }
        go_json::write_map(&mut message.payload, &fields);

        if let Some(limit) = &self.output_limit
            && !limit.admit(message.payload.len(), Instant::now())
        {
            message.payload.clear();
            return Err(DropReason::OutputLimit);
        }
        message.key.extend_from_slice(pair.key(&ip).as_bytes());
        if !pair.host.is_empty() && !pair.method.is_empty() && !pair.path.is_empty() {
            let details = format!("{}|{}|{}", pair.host, pair.method, pair.path);
            message
                .headers
                .push(("collection_details".into(), details.into_bytes()));
        }
        Ok(())
    }

    fn name(&self) -> &'static str {
        "akto"
    }
}

#[cfg(test)]
mod tests;
