use std::io::Write as _;

use capture_core::model::{Body, Headers, Request, Response, Timestamp};
use serde_json::Value;

use super::*;
use crate::format::testing::exchange;

fn encode_with(f: &AktoFormat, ex: &Exchange) -> (Message, serde_json::Map<String, Value>) {
    let mut m = Message::default();
    f.encode(ex, &mut m).expect("encoded");
    let v: Value = serde_json::from_slice(&m.payload).unwrap();
    (m, v.as_object().unwrap().clone())
}

fn encode(ex: &Exchange) -> (Message, serde_json::Map<String, Value>) {
    let f = AktoFormat {
        daemonset_id: "node-a".into(),
        ..AktoFormat::default()
    };
    encode_with(&f, ex)
}

/// The exchange's request, changed by `f`.
fn with_request(
    ex: &Exchange,
    f: impl FnOnce(capture_core::model::MessageBuilder) -> capture_core::model::MessageBuilder,
) -> Request {
    let r = ex.request.as_ref().unwrap();
    f(r.to_builder()).build(r.ts)
}

/// The exchange's response, changed by `f`.
fn with_response(
    ex: &Exchange,
    f: impl FnOnce(capture_core::model::MessageBuilder) -> capture_core::model::MessageBuilder,
) -> Response {
    let r = ex.response.as_ref().unwrap();
    f(r.to_builder()).build_response(r.ts)
}

fn headers(v: &Value) -> serde_json::Map<String, Value> {
    serde_json::from_str::<Value>(v.as_str().unwrap())
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
    assert_eq!(s("ip"), "10.1.0.7:51000");
    assert_eq!(s("destIp"), "10.1.0.9:8443");
    assert_eq!(s("time"), "1763800001");
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
    assert_eq!(s("enable_graph"), "true");
    assert!(!o.contains_key("tag"));
    assert_eq!(o.len(), 21);
    assert_eq!(m.key, b"10.1.0.7:51000");
    assert_eq!(
        m.headers,
        vec![(
            "collection_details".to_owned(),
            b"shop.example|POST|/api/orders?x=1".to_vec()
        )]
    );
    // Go's encoding/json: keys in byte order, so the text is reproducible.
    let text = String::from_utf8(m.payload).unwrap();
    assert!(
        text.starts_with(r#"{"akto_account_id":"1000000","akto_vxlan_id":"0","daemonset_id""#),
        "{text}"
    );
}

#[test]
fn header_maps_are_go_canonical_with_host() {
    let (_, o) = encode(&exchange());
    let req = headers(&o["requestHeaders"]);
    assert_eq!(req.len(), 3, "{req:?}");
    assert_eq!(req["host"], "shop.example");
    assert_eq!(req["Content-Type"], "application/json");
    assert_eq!(req["X-Tenant"], "blue");
    let resp = headers(&o["responseHeaders"]);
    assert_eq!(resp["Location"], "/api/orders/9");
    // The inner text is Go's too.
    assert_eq!(
        o["requestHeaders"],
        r#"{"Content-Type":"application/json","X-Tenant":"blue","host":"shop.example"}"#
    );
}

#[test]
fn names_differing_in_case_become_one_with_the_last_value() {
    let mut ex = exchange();
    ex.request = Some(with_request(&ex, |b| b.header("x-tenant", "green")));
    let (_, o) = encode(&ex);
    let req = headers(&o["requestHeaders"]);
    assert_eq!(req["X-Tenant"], "green");
    assert!(!req.contains_key("x-tenant"));
}

#[test]
fn transfer_encoding_is_removed_and_chunked_drops_content_length() {
    let mut ex = exchange();
    ex.response = Some(with_response(&ex, |b| {
        b.header("Transfer-Encoding", "chunked")
            .header("Content-Length", "8")
    }));
    let (_, o) = encode(&ex);
    let h = headers(&o["responseHeaders"]);
    assert!(
        !h.contains_key("Transfer-Encoding") && !h.contains_key("Content-Length"),
        "{h:?}"
    );
    // Go refuses other transfer codings: Akto sends nothing.
    let mut ex = exchange();
    ex.response = Some(with_response(&ex, |b| {
        b.header("Transfer-Encoding", "gzip, chunked")
    }));
    let mut m = Message::default();
    assert_eq!(
        AktoFormat::default().encode(&ex, &mut m),
        Err(DropReason::Filtered)
    );
}

#[test]
fn gzip_responses_are_decoded_always() {
    let mut ex = exchange();
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(br#"{"id":9}"#).unwrap();
    let gz = e.finish().unwrap();
    ex.response = Some(with_response(&ex, |b| {
        b.header("Content-Encoding", "gzip").body(gz)
    }));
    let (_, o) = encode(&ex);
    assert_eq!(o["responsePayload"], r#"{"id":9}"#);
    assert_eq!(headers(&o["responseHeaders"])["Content-Encoding"], "gzip");
}

#[test]
fn http2_is_base64_with_pseudo_headers() {
    let mut ex = exchange();
    ex.protocol = Protocol::H2;
    let req = ex.request.as_ref().unwrap();
    ex.request = Some(
        Request::builder("POST", "/api/orders?x=1")
            .authority("h2.example")
            .header("x-a", "1")
            .body_parts(req.body.clone())
            .build(req.ts),
    );
    let resp = ex.response.as_ref().unwrap();
    ex.response = Some(
        Response::builder(201)
            .header("content-type", "application/json")
            .body_parts(resp.body.clone())
            .build_response(resp.ts),
    );
    let (m, o) = encode(&ex);
    assert_eq!(o["type"], "HTTP/2.0");
    assert_eq!(o["status"], "201");
    assert_eq!(o["requestPayload"], "eyJpdGVtIjo3fQ==");
    assert_eq!(o["responsePayload"], "eyJpZCI6OX0=");
    let req = headers(&o["requestHeaders"]);
    assert_eq!(req["host"], "h2.example");
    assert_eq!(req[":authority"], "h2.example");
    assert_eq!(req[":method"], "POST");
    assert_eq!(req["x-a"], "1");
    assert_eq!(headers(&o["responseHeaders"])[":status"], "201");
    assert!(m.headers[0].1.starts_with(b"h2.example|"));
}

#[test]
fn grpc_is_type_grpc_with_unframed_base64_and_trailers() {
    let mut ex = exchange();
    ex.protocol = Protocol::Grpc;
    let msg = [0x0a, 0x03, b'b', b'o', b'b'];
    let mut framed = vec![0, 0, 0, 0, 5];
    framed.extend_from_slice(&msg);
    ex.request = Some(with_request(&ex, |b| b.body(framed.clone())));
    ex.response = Some(with_response(&ex, |b| {
        b.body(framed)
            .trailers(Headers::from_pairs([("grpc-status", "0")]))
    }));
    let (_, o) = encode(&ex);
    assert_eq!(o["type"], "gRPC");
    assert_eq!(o["requestPayload"], "CgNib2I=");
    assert_eq!(o["responsePayload"], "CgNib2I=");
    assert_eq!(headers(&o["responseHeaders"])["grpc-status"], "0");
}

#[test]
fn ipv6_addresses_are_bracketed_and_mapped_ipv4_is_ipv4() {
    let mut ex = exchange();
    ex.conn.client = "[2001:db8::1]:40000".parse().unwrap();
    ex.conn.server = "[::ffff:10.0.0.9]:80".parse().unwrap();
    let (m, o) = encode(&ex);
    assert_eq!(o["ip"], "[2001:db8::1]:40000");
    assert_eq!(o["destIp"], "10.0.0.9:80");
    assert_eq!(m.key, b"[2001:db8::1]:40000");
}

fn with_pod(ex: &mut Exchange, labels: &[(&str, &str)]) {
    use capture_core::model::{K8sEnd, Pod, WorkloadKind};
    let pod = Pod {
        namespace: "shop".into(),
        name: "shop-1".into(),
        uid: "u".into(),
        workload: "shop".into(),
        workload_kind: WorkloadKind::Deployment,
        labels: labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    };
    ex.conn.k8s.server = Some(K8sEnd::new(Arc::new(pod), None));
}

#[test]
fn outbound_is_direction_2_and_gets_no_pod_labels() {
    let mut ex = exchange();
    with_pod(&mut ex, &[("app", "shop")]);
    let (_, o) = encode(&ex);
    assert_eq!(o["tag"], r#"{"app":"shop"}"#);
    ex.direction = Some(TrafficDirection::Outbound);
    ex.conn.pid = None;
    ex.conn.fd = None;
    let (_, o) = encode(&ex);
    assert_eq!(o["direction"], "2");
    assert_eq!(o["process_id"], "0");
    assert!(!o.contains_key("tag"));
}

#[test]
fn envoy_served_exchanges_get_no_pod_labels() {
    let mut ex = exchange();
    with_pod(&mut ex, &[("app", "shop")]);
    ex.conn.comm = Some("envoy".into());
    assert!(!encode(&ex).1.contains_key("tag"));
}

#[test]
fn inject_tags_merge_with_pod_labels_winning() {
    let f = AktoFormat {
        inject_tags: [
            ("env".to_owned(), "prod".to_owned()),
            ("app".to_owned(), "x".to_owned()),
        ]
        .into(),
        enable_graph: false,
        ..AktoFormat::default()
    };
    let mut ex = exchange();
    with_pod(&mut ex, &[("app", "shop")]);
    let (_, o) = encode_with(&f, &ex);
    assert_eq!(o["tag"], r#"{"app":"shop","env":"prod"}"#);
    assert_eq!(o["enable_graph"], "false");
    // Without a pod, the inject tags alone.
    let (_, o) = encode_with(&f, &exchange());
    assert_eq!(o["tag"], r#"{"app":"x","env":"prod"}"#);
}

#[test]
fn forwarded_client_becomes_the_key_but_not_the_ip() {
    let mut ex = exchange();
    ex.request = Some(with_request(&ex, |b| {
        b.header("X-Real-IP", " , 203.0.113.5")
            .header("X-Forwarded-For", "198.51.100.1, 10.0.0.1")
    }));
    let (m, o) = encode(&ex);
    assert_eq!(m.key, b"198.51.100.1");
    assert_eq!(o["ip"], "10.1.0.7:51000");
}

#[test]
fn status_is_the_wire_text() {
    let mut ex = exchange();
    let resp = ex.response.as_ref().unwrap();
    ex.response = Some(
        Response::builder(299)
            .header("Content-Type", "application/json")
            .body_parts(resp.body.clone())
            .build_response(resp.ts),
    );
    assert_eq!(encode(&ex).1["status"], "299");
    ex.response = Some(with_response(&ex, |b| b.reason("Fine")));
    assert_eq!(encode(&ex).1["status"], "299 Fine");
}

#[test]
fn binary_bodies_are_replaced_per_byte_as_go_does() {
    let mut ex = exchange();
    let bytes = [b'a', 0xf0, 0x9f, 0x98, b'b'];
    ex.response.as_mut().unwrap().body = Body::new(bytes.to_vec());
    let (_, o) = encode(&ex);
    assert_eq!(o["responsePayload"], "a\u{fffd}\u{fffd}\u{fffd}b");
    // …and the bytes as sent are in the message too.
    assert_eq!(o["responsePayloadBase64"], "YfCfmGI=");
    assert!(!o.contains_key("requestPayloadBase64"));
}

#[test]
fn other_methods_and_incomplete_pairs_are_declined() {
    let mut m = Message::default();
    let mut ex = exchange();
    ex.request = Some(with_request(&ex, |b| b.method("PROPFIND")));
    assert_eq!(
        AktoFormat::default().encode(&ex, &mut m),
        Err(DropReason::Filtered)
    );
    let mut ex = exchange();
    ex.request = Some(with_request(&ex, |b| b.method("get")));
    assert!(AktoFormat::default().encode(&ex, &mut m).is_ok());
    let mut ex = exchange();
    ex.response = None;
    assert_eq!(
        AktoFormat::default().encode(&ex, &mut m),
        Err(DropReason::Filtered)
    );
}

#[test]
fn the_output_limit_drops_and_says_so() {
    let f = AktoFormat::default().with_output_limit(1000);
    let ex = exchange();
    let mut sent = 0;
    let mut limited = 0;
    for _ in 0..5 {
        let mut m = Message::default();
        match f.encode(&ex, &mut m) {
            Ok(()) => sent += 1,
            Err(DropReason::OutputLimit) => limited += 1,
            Err(e) => panic!("{e:?}"),
        }
    }
    assert!(sent >= 1 && limited >= 1, "{sent} {limited}");
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever the headers and bodies, the message is a JSON object of
        /// strings whose header maps parse back, or a counted decline.
        #[test]
        fn any_exchange_encodes_to_string_fields_or_declines(
            req_headers in proptest::collection::vec((".{0,12}", ".{0,20}"), 0..8),
            resp_headers in proptest::collection::vec((".{0,12}", ".{0,20}"), 0..8),
            req_body in proptest::collection::vec(any::<u8>(), 0..64),
            resp_body in proptest::collection::vec(any::<u8>(), 0..64),
            path in ".{0,30}",
            status in 0u16..1000,
            h2 in any::<bool>(),
        ) {
            let mut ex = exchange();
            if h2 { ex.protocol = Protocol::H2; }
            let mut req = Request::builder("POST", path.as_str());
            for (n, v) in &req_headers {
                req = req.header(n.as_str(), v.as_str());
            }
            ex.request = Some(req.body(req_body).build(Timestamp(1)));
            let mut resp = Response::builder(status);
            for (n, v) in &resp_headers {
                resp = resp.header(n.as_str(), v.as_str());
            }
            ex.response = Some(resp.body(resp_body).build_response(Timestamp(2)));
            let mut m = Message::default();
            match AktoFormat::default().encode(&ex, &mut m) {
                Ok(()) => {
                    let v: Value = serde_json::from_slice(&m.payload).unwrap();
                    let o = v.as_object().unwrap();
                    prop_assert!(o.values().all(Value::is_string));
                    for k in ["requestHeaders", "responseHeaders"] {
                        let inner: Value = serde_json::from_str(o[k].as_str().unwrap()).unwrap();
                        prop_assert!(inner.as_object().unwrap().values().all(Value::is_string));
                    }
                    prop_assert!(!m.key.is_empty());
                }
                Err(reason) => prop_assert_eq!(reason, DropReason::Filtered),
            }
        }
    }
}
