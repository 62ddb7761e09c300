//! Bytes that are not UTF-8 — in a header name, a header value, the path
//! and a body — come out exactly as sent, through HTTP/1 and HTTP/2, to the
//! JSON record and to the Akto message: decoded back from the encoding
//! each one states, they are the bytes on the wire.
#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use cleartap::core::DropReason;
use cleartap::core::model::{CloseReason, ConnMeta, Direction, Exchange, Timestamp};
use cleartap::core::stage::{Output, Parser, ParserFactory as _};
use cleartap::core::stats::Counters;
use cleartap::http::HttpProtocol;
use cleartap::http::h2::frame::{FrameType, PREFACE, write_frame};
use cleartap::http::hpack::encode;
use cleartap::kafka::format::{AktoFormat, Message, MessageFormat};
use serde_json::Value;

/// What was sent, to be found again in the records.
struct Sent {
    path: &'static [u8],
    req_header: (&'static [u8], &'static [u8]),
    req_body: &'static [u8],
    resp_header: (&'static [u8], &'static [u8]),
    resp_body: &'static [u8],
}

const SENT: Sent = Sent {
    path: b"/caf\xe9/\xff?q=\xc3",
    req_header: (b"X-Name-\xfe", b"va\xfdlue \x80"),
    req_body: b"\x00\xff\x80body\xc3",
    resp_header: (b"X-Resp", b"\xff\xfe"),
    resp_body: b"\xfe\x00resp\xe9",
};

fn meta() -> ConnMeta {
    capture_core::testkit::meta("10.0.0.1:40000", "10.0.0.2:80")
}

/// Runs the HTTP parser over one connection's two directions.
fn parse(client: &[u8], server: &[u8]) -> Exchange {
    let meta = meta();
    let mut parser = HttpProtocol::default().parser(&meta);
    let (mut exchanges, counters) = (Vec::new(), Counters::default());
    let mut out = Output::new(&mut exchanges, &counters);
    parser.data(
        &meta,
        Direction::ClientToServer,
        Timestamp(1),
        client,
        &mut out,
    );
    parser.data(
        &meta,
        Direction::ServerToClient,
        Timestamp(2),
        server,
        &mut out,
    );
    parser.close(&meta, Timestamp(3), CloseReason::Fin, &mut out);
    assert_eq!(exchanges.len(), 1, "{exchanges:?}");
    exchanges.pop().unwrap()
}

/// HTTP/1 with `name` for the request's field of `SENT.req_header`'s value.
fn http1(name: &[u8]) -> Exchange {
    let s = &SENT;
    let mut client = b"POST ".to_vec();
    client.extend_from_slice(s.path);
    client.extend_from_slice(b" HTTP/1.1\r\nHost: shop\r\n");
    client.extend_from_slice(name);
    client.extend_from_slice(b": ");
    client.extend_from_slice(s.req_header.1);
    client
        .extend_from_slice(format!("\r\nContent-Length: {}\r\n\r\n", s.req_body.len()).as_bytes());
    client.extend_from_slice(s.req_body);
    let mut server = b"HTTP/1.1 200 OK\r\n".to_vec();
    server.extend_from_slice(s.resp_header.0);
    server.extend_from_slice(b": ");
    server.extend_from_slice(s.resp_header.1);
    server
        .extend_from_slice(format!("\r\nContent-Length: {}\r\n\r\n", s.resp_body.len()).as_bytes());
    server.extend_from_slice(s.resp_body);
    parse(&client, &server)
}

fn h2() -> Exchange {
    let s = &SENT;
    let block = |fields: &[(&[u8], &[u8])], huffman: bool| {
        let mut out = Vec::new();
        for (n, v) in fields {
            encode::literal(Err(n), v, encode::Indexing::Incremental, huffman, &mut out);
        }
        out
    };
    let mut client = PREFACE.to_vec();
    let req = block(
        &[
            (b":method", b"POST"),
            (b":path", s.path),
            (b":authority", b"shop"),
            s.req_header,
        ],
        true,
    );
    write_frame(FrameType::Headers, 0x4, 1, &req, &mut client);
    write_frame(FrameType::Data, 0x1, 1, s.req_body, &mut client);
    let mut server = Vec::new();
    write_frame(FrameType::Settings, 0, 0, &[], &mut server);
    let resp = block(&[(b":status", b"200"), s.resp_header], false);
    write_frame(FrameType::Headers, 0x4, 1, &resp, &mut server);
    write_frame(FrameType::Data, 0x1, 1, s.resp_body, &mut server);
    parse(&client, &server)
}

/// The bytes of a JSON string `v`, decoded as `encoding` says.
fn decoded(v: &Value, encoding: Option<&Value>) -> Vec<u8> {
    let text = v.as_str().unwrap();
    match encoding.and_then(Value::as_str) {
        None | Some("utf8") => text.as_bytes().to_vec(),
        Some("base64") => BASE64.decode(text).unwrap(),
        Some(other) => panic!("unknown encoding {other}"),
    }
}

/// The (name, value) bytes of a record's header list.
fn fields(list: &Value) -> Vec<(Vec<u8>, Vec<u8>)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|h| {
            let enc = h.get(2);
            (decoded(&h[0], enc), decoded(&h[1], enc))
        })
        .collect()
}

fn check_json(ex: &Exchange) {
    let s = &SENT;
    let json = ex.to_json();
    assert_eq!(
        json.as_bytes(),
        serde_json::to_vec(ex).unwrap(),
        "fast writer and serde agree"
    );
    let v: Value = serde_json::from_str(&json).unwrap();
    let (req, resp) = (&v["request"], &v["response"]);
    assert_eq!(decoded(&req["path"], req.get("path_encoding")), s.path);
    assert_eq!(req["path_encoding"], "base64");
    assert_eq!(req["method"], "POST");
    assert!(req.get("method_encoding").is_none(), "text stays text");
    let req_fields = fields(&req["headers"]);
    assert!(
        req_fields.contains(&(s.req_header.0.to_vec(), s.req_header.1.to_vec())),
        "{req_fields:?}"
    );
    assert_eq!(req["authority"], "shop");
    assert_eq!(decoded(&req["body"], req.get("body_encoding")), s.req_body);
    assert_eq!(req["body_encoding"], "base64");
    assert_eq!(req["body_size"], s.req_body.len());
    let resp_fields = fields(&resp["headers"]);
    assert!(
        resp_fields.contains(&(s.resp_header.0.to_vec(), s.resp_header.1.to_vec())),
        "{resp_fields:?}"
    );
    assert_eq!(
        decoded(&resp["body"], resp.get("body_encoding")),
        s.resp_body
    );
}

/// `%XX` escapes undone.
fn percent_decoded(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
            Some(v) if c == b'%' => {
                out.push(v);
                i += 3;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// The Akto message of `ex`, as a JSON object.
fn akto(ex: &Exchange) -> (Message, serde_json::Map<String, Value>) {
    let mut m = Message::default();
    AktoFormat::default().encode(ex, &mut m).unwrap();
    let v: Value = serde_json::from_slice(&m.payload).unwrap();
    (m, v.as_object().unwrap().clone())
}

/// The exact (name, value) bytes a message states for header map `k`.
fn exact_fields(o: &serde_json::Map<String, Value>, k: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    let map: serde_json::Map<String, Value> = o
        .get(&format!("{k}Base64"))
        .map(|e| serde_json::from_str(e.as_str().unwrap()).unwrap())
        .unwrap_or_default();
    map.iter()
        .map(|(n, v)| {
            let b64 = Some(Value::from("base64"));
            (
                decoded(&Value::from(n.as_str()), b64.as_ref()),
                decoded(v, b64.as_ref()),
            )
        })
        .collect()
}

fn check_akto(ex: &Exchange, header_name: bool) {
    let s = &SENT;
    let (m, o) = akto(ex);
    assert!(
        o.values().all(Value::is_string),
        "Akto's values are strings"
    );
    assert_eq!(percent_decoded(o["path"].as_str().unwrap()), s.path);
    assert_eq!(o["method"], "POST");
    let payload = |k: &str| -> Vec<u8> {
        match o.get(&format!("{k}Base64")) {
            Some(b) => decoded(b, Some(&Value::from("base64"))),
            // HTTP/2 payloads are base64 in Akto's messages already.
            None if o["type"] != "HTTP/1.1" => decoded(&o[k], Some(&Value::from("base64"))),
            None => o[k].as_str().unwrap().as_bytes().to_vec(),
        }
    };
    assert_eq!(payload("requestPayload"), s.req_body);
    assert_eq!(payload("responsePayload"), s.resp_body);
    let req = exact_fields(&o, "requestHeaders");
    let value_only = (b"X-Name".to_vec(), s.req_header.1.to_vec());
    let sent = (s.req_header.0.to_vec(), s.req_header.1.to_vec());
    assert!(
        req.contains(if header_name { &sent } else { &value_only }),
        "{req:?}"
    );
    let resp = exact_fields(&o, "responseHeaders");
    assert!(
        resp.contains(&(s.resp_header.0.to_vec(), s.resp_header.1.to_vec())),
        "{resp:?}"
    );
    // The Kafka record header carries host|method|path, the path as in `path`.
    let details = format!("shop|POST|{}", o["path"].as_str().unwrap());
    assert_eq!(
        m.headers,
        vec![("collection_details".to_owned(), details.into_bytes())]
    );
}

#[test]
fn http1_bytes_reach_json_and_akto_exactly() {
    let ex = http1(SENT.req_header.0);
    let req = ex.request.as_ref().unwrap();
    assert_eq!(req.path().as_bytes(), SENT.path);
    assert_eq!(&req.body.data[..], SENT.req_body);
    check_json(&ex);
    // Go's HTTP/1 parser refuses a field name outside the token set, and
    // Akto's collector sends nothing: neither does this format.
    let mut m = Message::default();
    assert_eq!(
        AktoFormat::default().encode(&ex, &mut m),
        Err(DropReason::Filtered)
    );
    // A value, the path and the bodies that are not UTF-8 reach Akto exactly.
    check_akto(&http1(b"X-Name"), false);
}

#[test]
fn http2_bytes_reach_json_and_akto_exactly() {
    let ex = h2();
    assert_eq!(ex.stream_id, Some(1));
    let req = ex.request.as_ref().unwrap();
    assert_eq!(req.path().as_bytes(), SENT.path);
    assert_eq!(&ex.response.as_ref().unwrap().body.data[..], SENT.resp_body);
    check_json(&ex);
    check_akto(&ex, true);
}
