//! The message Akto's data processor reads from `akto.api.logs`.
//!
//! One flat JSON object per exchange whose values are all strings:
//!
//! | field | value |
//! |---|---|
//! | `path` | the request target as sent |
//! | `method` | request method |
//! | `type` | `HTTP/1.0`, `HTTP/1.1` or `HTTP/2.0` |
//! | `requestHeaders` | a JSON string of a flat name → value map, with `host` |
//! | `responseHeaders` | the same for the response |
//! | `requestPayload`, `responsePayload` | bodies as kept (invalid UTF-8 replaced) |
//! | `ip`, `destIp` | client and server address |
//! | `time` | request time, unix seconds |
//! | `statusCode`, `status` | `201` and `201 Created` |
//! | `direction` | `1` inbound (the traced process is the server), `2` outbound |
//! | `process_id`, `socket_id` | pid and fd for socket-level sources, else `0` |
//! | `akto_account_id`, `akto_vxlan_id`, `source`, `is_pending`, `daemonset_id`, `enable_graph` | from [`AktoFormat`] |
//! | `tag` | optional, from [`AktoFormat::tag`] |
//!
//! As in Akto's collector, the header maps keep one value per name (the
//! last), HTTP/2 pseudo-headers are left out and the request's host goes in
//! as `host`. The message key is the client IP, taken from the first of
//! `x-forwarded-for`, `x-real-ip`, … when the request carries one; the
//! record header `collection_details` is `host|method|path`.
//!
//! Akto sends only complete pairs: an exchange without a request or a
//! response is declined.

use std::borrow::Cow;
use std::collections::BTreeMap;

use capture_core::model::{Exchange, Header, Protocol, Request, TrafficDirection};
use serde::Serialize;

use super::{Message, MessageFormat, ip_string};

/// The Akto message format, with the fields that describe the collector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AktoFormat {
    /// `akto_account_id`; Akto's collector always sends `1000000`.
    pub account_id: String,
    /// `akto_vxlan_id`; `0` for eBPF collectors.
    pub vxlan_id: String,
    /// `source`; Akto's eBPF collector sends `MIRRORING`.
    pub source: String,
    /// `daemonset_id`: identifies this collector instance.
    pub daemonset_id: String,
    /// `enable_graph`.
    pub enable_graph: bool,
    /// `tag`: a JSON object as a string (labels), sent when set.
    pub tag: Option<String>,
}

impl Default for AktoFormat {
    fn default() -> Self {
        Self {
            account_id: "1000000".into(),
            vxlan_id: "0".into(),
            source: "MIRRORING".into(),
            daemonset_id: String::new(),
            enable_graph: false,
            tag: None,
        }
    }
}

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

#[derive(Serialize)]
#[allow(non_snake_case)]
struct Record<'a> {
    path: &'a str,
    method: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    requestHeaders: String,
    responseHeaders: String,
    requestPayload: Cow<'a, str>,
    responsePayload: Cow<'a, str>,
    ip: String,
    destIp: String,
    time: String,
    statusCode: String,
    status: String,
    akto_account_id: &'a str,
    akto_vxlan_id: &'a str,
    is_pending: &'static str,
    source: &'a str,
    direction: &'static str,
    process_id: String,
    socket_id: String,
    daemonset_id: &'a str,
    enable_graph: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tag: Option<&'a str>,
}

impl AktoFormat {
    /// The `host` of a request: `Host` or `:authority`, else empty.
    fn host(req: &Request) -> &str {
        req.authority.as_deref().unwrap_or_else(|| {
            req.headers
                .iter()
                .rev()
                .find(|h| h.name.eq_ignore_ascii_case("host") || h.name == ":authority")
                .map_or("", |h| h.value.as_str())
        })
    }

    /// The flat name → value map of `headers` as a JSON string.
    fn header_map(headers: &[Header], host: Option<&str>) -> String {
        let mut map: BTreeMap<&str, &str> = BTreeMap::new();
        for h in headers {
            if h.name.starts_with(':') || (host.is_some() && h.name.eq_ignore_ascii_case("host")) {
                continue;
            }
            map.insert(&h.name, &h.value);
        }
        if let Some(host) = host {
            map.insert("host", host);
        }
        serde_json::to_string(&map).unwrap_or_else(|_| "{}".into())
    }

    /// The client address as Akto keys messages: a forwarding header's first
    /// address if the request has one, else the connection's client.
    fn key_ip(req: &Request, client: &str) -> String {
        for name in CLIENT_IP_HEADERS {
            let value = req
                .headers
                .iter()
                .rev()
                .find(|h| h.name.eq_ignore_ascii_case(name));
            if let Some(h) = value
                && let Some(first) = h.value.split(',').map(str::trim).find(|s| !s.is_empty())
            {
                return first.to_owned();
            }
        }
        client.to_owned()
    }
}

/// The reason phrase of a status code (RFC 9110 and friends).
pub(crate) fn reason_phrase(code: u16) -> Option<&'static str> {
    Some(match code {
        100 => "Continue",
        101 => "Switching Protocols",
        102 => "Processing",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        207 => "Multi-Status",
        208 => "Already Reported",
        226 => "IM Used",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Request Entity Too Large",
        414 => "Request URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Requested Range Not Satisfiable",
        417 => "Expectation Failed",
        418 => "I'm a teapot",
        421 => "Misdirected Request",
        422 => "Unprocessable Entity",
        423 => "Locked",
        424 => "Failed Dependency",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        506 => "Variant Also Negotiates",
        507 => "Insufficient Storage",
        508 => "Loop Detected",
        510 => "Not Extended",
        511 => "Network Authentication Required",
        _ => return None,
    })
}

impl MessageFormat for AktoFormat {
    fn encode(&self, ex: &Exchange, message: &mut Message) -> bool {
        let (Some(req), Some(resp)) = (&ex.request, &ex.response) else {
            return false;
        };
        let host = Self::host(req);
        let client = ip_string(ex.conn.client.ip());
        let reason = resp
            .reason
            .as_deref()
            .filter(|r| !r.is_empty())
            .or_else(|| reason_phrase(resp.status));
        let record = Record {
            path: &req.path,
            method: &req.method,
            kind: match ex.protocol {
                Protocol::Http10 => "HTTP/1.0",
                Protocol::Http11 => "HTTP/1.1",
                Protocol::H2 | Protocol::Grpc => "HTTP/2.0",
            },
            requestHeaders: Self::header_map(&req.headers, Some(host)),
            responseHeaders: Self::header_map(&resp.headers, None),
            requestPayload: String::from_utf8_lossy(&req.body.data),
            responsePayload: String::from_utf8_lossy(&resp.body.data),
            ip: client.clone(),
            destIp: ip_string(ex.conn.server.ip()),
            time: ex.ts().as_secs().to_string(),
            statusCode: resp.status.to_string(),
            status: match reason {
                Some(r) => format!("{} {r}", resp.status),
                None => resp.status.to_string(),
            },
            akto_account_id: &self.account_id,
            akto_vxlan_id: &self.vxlan_id,
            is_pending: "false",
            source: &self.source,
            direction: match ex.direction {
                Some(TrafficDirection::Outbound) => "2",
                Some(TrafficDirection::Inbound) | None => "1",
            },
            process_id: ex.conn.pid.unwrap_or(0).to_string(),
            socket_id: ex.conn.fd.unwrap_or(0).to_string(),
            daemonset_id: &self.daemonset_id,
            enable_graph: if self.enable_graph { "true" } else { "false" },
            tag: self.tag.as_deref(),
        };
        if serde_json::to_writer(&mut message.payload, &record).is_err() {
            return false;
        }
        message
            .key
            .extend_from_slice(Self::key_ip(req, &client).as_bytes());
        if !host.is_empty() && !req.method.is_empty() && !req.path.is_empty() {
            let details = format!("{host}|{}|{}", req.method, req.path);
            message
                .headers
                .push(("collection_details".into(), details.into_bytes()));
        }
        true
    }

    fn name(&self) -> &'static str {
        "akto"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::testing::exchange;
    use serde_json::Value;

    fn encode(ex: &Exchange) -> (Message, serde_json::Map<String, Value>) {
        let f = AktoFormat {
            daemonset_id: "node-a".into(),
            ..AktoFormat::default()
        };
        let mut m = Message::default();
        assert!(f.encode(ex, &mut m));
        let v: Value = serde_json::from_slice(&m.payload).unwrap();
        (m, v.as_object().unwrap().clone())
    }

    fn headers(v: &Value) -> serde_json::Map<String, Value> {
        let s = v.as_str().expect("headers are a JSON string");
        serde_json::from_str::<Value>(s)
            .unwrap()
            .as_object()
            .unwrap()
            .clone()
    }

    #[test]
    fn every_field_is_a_string_with_akto_meaning() {
        let (m, o) = encode(&exchange());
        assert!(o.values().all(Value::is_string), "{o:?}");
        let s = |k: &str| o.get(k).and_then(Value::as_str).unwrap().to_owned();
        assert_eq!(s("path"), "/api/orders?x=1");
        assert_eq!(s("method"), "POST");
        assert_eq!(s("type"), "HTTP/1.1");
        assert_eq!(s("requestPayload"), r#"{"item":7}"#);
        assert_eq!(s("responsePayload"), r#"{"id":9}"#);
        assert_eq!(s("ip"), "10.1.0.7");
        assert_eq!(s("destIp"), "10.1.0.9");
        assert_eq!(s("time"), "1763800000");
        assert_eq!(s("statusCode"), "201");
        assert_eq!(s("status"), "201 Created");
        assert_eq!(s("akto_account_id"), "1000000");
        assert_eq!(s("akto_vxlan_id"), "0");
        assert_eq!(s("is_pending"), "false");
        assert_eq!(s("source"), "MIRRORING");
        assert_eq!(s("direction"), "1");
        assert_eq!(s("process_id"), "4242");
        assert_eq!(s("socket_id"), "17");
        assert_eq!(s("daemonset_id"), "node-a");
        assert_eq!(s("enable_graph"), "false");
        assert!(!o.contains_key("tag"));
        assert_eq!(o.len(), 21);
        assert_eq!(m.key, b"10.1.0.7");
        assert_eq!(
            m.headers,
            vec![(
                "collection_details".to_owned(),
                b"shop.example|POST|/api/orders?x=1".to_vec()
            )]
        );
    }

    #[test]
    fn header_maps_are_flat_json_strings_with_host() {
        let (_, o) = encode(&exchange());
        let req = headers(&o["requestHeaders"]);
        assert_eq!(req.len(), 3, "{req:?}");
        assert_eq!(req["host"], "shop.example");
        assert_eq!(req["Content-Type"], "application/json");
        assert_eq!(req["X-Tenant"], "blue");
        let resp = headers(&o["responseHeaders"]);
        assert_eq!(resp.len(), 2);
        assert_eq!(resp["Location"], "/api/orders/9");
    }

    #[test]
    fn http2_drops_pseudo_headers_and_reports_http_2_0() {
        let mut ex = exchange();
        ex.protocol = Protocol::H2;
        let req = ex.request.as_mut().unwrap();
        req.authority = None;
        req.headers = vec![
            Header::new(":method", "POST"),
            Header::new(":authority", "h2.example"),
            Header::new("x-a", "1"),
        ];
        let resp = ex.response.as_mut().unwrap();
        resp.reason = None;
        resp.headers.insert(0, Header::new(":status", "201"));
        let (m, o) = encode(&ex);
        assert_eq!(o["type"], "HTTP/2.0");
        assert_eq!(o["status"], "201 Created");
        let req = headers(&o["requestHeaders"]);
        assert_eq!(req.len(), 2, "{req:?}");
        assert_eq!(req["host"], "h2.example");
        assert!(!headers(&o["responseHeaders"]).contains_key(":status"));
        assert!(m.headers[0].1.starts_with(b"h2.example|"));
    }

    #[test]
    fn repeated_headers_keep_the_last_value() {
        let mut ex = exchange();
        ex.request
            .as_mut()
            .unwrap()
            .headers
            .push(Header::new("X-Tenant", "green"));
        let (_, o) = encode(&ex);
        assert_eq!(headers(&o["requestHeaders"])["X-Tenant"], "green");
    }

    #[test]
    fn outbound_is_direction_2_and_unknown_pid_is_0() {
        let mut ex = exchange();
        ex.direction = Some(TrafficDirection::Outbound);
        ex.conn.pid = None;
        ex.conn.fd = None;
        let (_, o) = encode(&ex);
        assert_eq!(o["direction"], "2");
        assert_eq!(o["process_id"], "0");
        assert_eq!(o["socket_id"], "0");
    }

    #[test]
    fn forwarded_client_becomes_the_key_but_not_the_ip() {
        let mut ex = exchange();
        ex.request
            .as_mut()
            .unwrap()
            .headers
            .push(Header::new("X-Real-IP", " , 203.0.113.5"));
        ex.request
            .as_mut()
            .unwrap()
            .headers
            .push(Header::new("X-Forwarded-For", "198.51.100.1, 10.0.0.1"));
        let (m, o) = encode(&ex);
        assert_eq!(m.key, b"198.51.100.1");
        assert_eq!(o["ip"], "10.1.0.7");
    }

    #[test]
    fn unknown_reason_and_wire_reason() {
        let mut ex = exchange();
        ex.response.as_mut().unwrap().status = 599;
        ex.response.as_mut().unwrap().reason = None;
        assert_eq!(encode(&ex).1["status"], "599");
        ex.response.as_mut().unwrap().status = 200;
        ex.response.as_mut().unwrap().reason = Some("Fine".into());
        assert_eq!(encode(&ex).1["status"], "200 Fine");
    }

    #[test]
    fn binary_bodies_are_replaced_not_refused() {
        let mut ex = exchange();
        ex.response.as_mut().unwrap().body.data = vec![b'a', 0xff, b'b'];
        assert_eq!(encode(&ex).1["responsePayload"], "a\u{fffd}b");
    }

    #[test]
    fn tag_and_graph_are_sent_when_set() {
        let f = AktoFormat {
            tag: Some(r#"{"app":"shop"}"#.into()),
            enable_graph: true,
            ..AktoFormat::default()
        };
        let mut m = Message::default();
        assert!(f.encode(&exchange(), &mut m));
        let v: Value = serde_json::from_slice(&m.payload).unwrap();
        assert_eq!(v["tag"], r#"{"app":"shop"}"#);
        assert_eq!(v["enable_graph"], "true");
    }

    #[test]
    fn incomplete_pairs_are_declined() {
        let mut m = Message::default();
        let mut ex = exchange();
        ex.response = None;
        assert!(!AktoFormat::default().encode(&ex, &mut m));
        let mut ex = exchange();
        ex.request = None;
        assert!(!AktoFormat::default().encode(&ex, &mut m));
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use crate::format::testing::exchange;
    use proptest::prelude::*;
    use serde_json::Value;

    proptest! {
        /// Whatever the headers and bodies, the message is a JSON object of
        /// strings whose header maps parse back, and the key is not empty.
        #[test]
        fn any_exchange_encodes_to_string_fields(
            req_headers in proptest::collection::vec((".{0,12}", ".{0,20}"), 0..8),
            resp_headers in proptest::collection::vec((".{0,12}", ".{0,20}"), 0..8),
            req_body in proptest::collection::vec(any::<u8>(), 0..64),
            resp_body in proptest::collection::vec(any::<u8>(), 0..64),
            path in ".{0,30}",
            status in 0u16..1000,
        ) {
            let mut ex = exchange();
            let req = ex.request.as_mut().unwrap();
            req.headers = req_headers.iter().map(|(n, v)| Header::new(n.as_str(), v.as_str())).collect();
            req.authority = None;
            req.body.data = req_body;
            req.path = path;
            let resp = ex.response.as_mut().unwrap();
            resp.headers = resp_headers.iter().map(|(n, v)| Header::new(n.as_str(), v.as_str())).collect();
            resp.body.data = resp_body;
            resp.status = status;
            let mut m = Message::default();
            prop_assert!(AktoFormat::default().encode(&ex, &mut m));
            let v: Value = serde_json::from_slice(&m.payload).unwrap();
            let o = v.as_object().unwrap();
            prop_assert!(o.values().all(Value::is_string));
            for k in ["requestHeaders", "responseHeaders"] {
                let inner: Value = serde_json::from_str(o[k].as_str().unwrap()).unwrap();
                prop_assert!(inner.as_object().unwrap().values().all(Value::is_string));
            }
            prop_assert!(!m.key.is_empty());
        }
    }
}
