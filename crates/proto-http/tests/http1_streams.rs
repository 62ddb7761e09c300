//! HTTP/1 streams fed to the parser at every split point: every rule of
//! the HTTP/1 parser, each shown not to depend on how the bytes were cut.

#![allow(clippy::indexing_slicing)]

use capture_core::DropReason;
use capture_core::model::*;
use capture_core::stage::{Output, Parser, ParserFactory as _};
use capture_core::stats::Counters;
use proto_http::{HttpConfig, HttpProtocol};

/// One event of a connection script.
#[derive(Clone, Copy, Debug)]
enum Ev<'a> {
    /// Client-to-server bytes (relative to the key).
    C(&'a [u8]),
    /// Server-to-client bytes.
    S(&'a [u8]),
    /// Bytes lost client-to-server.
    GapC(u64),
    /// Bytes lost server-to-client.
    GapS(u64),
    /// The connection ends.
    Close(CloseReason),
}

fn meta(mid_stream: bool) -> ConnMeta {
    capture_core::testkit::meta("10.0.0.1:40000", "10.0.0.2:80").joined_mid_stream(mid_stream)
}

#[derive(Debug, PartialEq)]
struct Outcome {
    exchanges: Vec<Exchange>,
    drops: Vec<(DropReason, u64)>,
    detected: &'static str,
}

impl Outcome {
    /// `f` of every exchange, in order.
    fn each<T>(&self, f: impl Fn(&Exchange) -> T) -> Vec<T> {
        self.exchanges.iter().map(f).collect()
    }

    fn drop(&self, reason: DropReason) -> u64 {
        self.drops
            .iter()
            .find(|(r, _)| *r == reason)
            .map_or(0, |(_, n)| *n)
    }
}

/// Feeds `script`, cutting data event `i` at the offsets `cuts(i, len)`.
fn feed_with(
    config: &HttpConfig,
    mid: bool,
    script: &[Ev<'_>],
    cuts: &dyn Fn(usize, usize) -> Vec<usize>,
) -> Outcome {
    let meta = meta(mid);
    let protocol = HttpProtocol::new(config.clone());
    let mut parser = protocol.parser(&meta);
    let counters = Counters::default();
    let mut exchanges = Vec::new();
    for (i, ev) in script.iter().enumerate() {
        let ts = Timestamp(1000 * (i as u64 + 1));
        let mut out = Output::new(&mut exchanges, &counters);
        match *ev {
            Ev::C(b) | Ev::S(b) => {
                let dir = if matches!(ev, Ev::C(_)) {
                    Direction::ClientToServer
                } else {
                    Direction::ServerToClient
                };
                let mut start = 0;
                for cut in cuts(i, b.len()).into_iter().chain([b.len()]) {
                    if cut > start && cut <= b.len() {
                        parser.data(&meta, dir, ts, &b[start..cut], &mut out);
                        start = cut;
                    }
                }
            }
            Ev::GapC(n) => parser.gap(&meta, Direction::ClientToServer, ts, n, &mut out),
            Ev::GapS(n) => parser.gap(&meta, Direction::ServerToClient, ts, n, &mut out),
            Ev::Close(r) => parser.close(&meta, ts, r, &mut out),
        }
    }
    let drops = DropReason::ALL
        .iter()
        .map(|&r| (r, counters.drops(r)))
        .filter(|(_, n)| *n > 0)
        .collect();
    Outcome {
        exchanges,
        drops,
        detected: parser.detected(),
    }
}

/// Feeds `script` whole, then at every single split point of every data
/// event, then byte by byte, and checks that the outcome never changes.
fn check_with(config: &HttpConfig, mid: bool, script: &[Ev<'_>]) -> Outcome {
    let whole = feed_with(config, mid, script, &|_, _| Vec::new());
    for (i, ev) in script.iter().enumerate() {
        if let Ev::C(b) | Ev::S(b) = ev {
            for split in 1..b.len() {
                let cut = feed_with(config, mid, script, &|j, _| {
                    if j == i { vec![split] } else { Vec::new() }
                });
                assert_eq!(cut, whole, "event {i} split at {split}");
            }
        }
    }
    let bytewise = feed_with(config, mid, script, &|_, len| (1..len).collect());
    assert_eq!(bytewise, whole, "byte by byte");
    whole
}

fn check(script: &[Ev<'_>]) -> Outcome {
    check_with(&HttpConfig::default(), false, script)
}

fn req(ex: &Exchange) -> &Request {
    ex.request.as_ref().expect("request")
}

fn resp(ex: &Exchange) -> &Response {
    ex.response.as_ref().expect("response")
}

const GET: &[u8] =
    b"GET /users/1?x=y HTTP/1.1\r\nHost: api.example\r\nUser-Agent: t\r\nx-Lower: A\r\n\r\n";
const OK: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"id\":true}";

#[test]
fn content_length_exchange_has_every_field() {
    let o = check(&[Ev::C(GET), Ev::S(OK)]);
    assert_eq!(o.exchanges.len(), 1);
    let ex = &o.exchanges[0];
    assert_eq!(ex.protocol, Protocol::Http11);
    assert_eq!(ex.conn.client.port(), 40000);
    assert!(ex.flags.is_empty(), "{:?}", ex.flags);
    let r = req(ex);
    assert_eq!(
        (r.method().as_str().unwrap(), r.path().as_str().unwrap()),
        ("GET", "/users/1?x=y")
    );
    assert_eq!(r.authority().and_then(|v| v.as_str()), Some("api.example"));
    assert_eq!(r.ts, Timestamp(1000));
    let names: Vec<_> = r
        .headers()
        .iter()
        .map(|h| (h.name_str().unwrap(), h.value_str().unwrap()))
        .collect();
    assert_eq!(
        names,
        [
            ("Host", "api.example"),
            ("User-Agent", "t"),
            ("x-Lower", "A")
        ]
    );
    let s = resp(ex);
    assert_eq!(
        (s.status, s.reason().and_then(|v| v.as_str())),
        (200, Some("OK"))
    );
    assert_eq!(s.ts, Timestamp(2000));
    assert_eq!(s.body.data, &b"{\"id\":true}"[..]);
    assert_eq!((s.body.size, s.body.truncated), (11, false));
    assert!(o.drops.is_empty(), "{:?}", o.drops);
}

#[test]
fn chunked_bodies_with_extensions_and_trailers() {
    let request: &[u8] = b"POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\nX-Check: 7\r\n\r\n";
    let response: &[u8] =
        b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nA\r\n, world!!!\r\n0\r\n\r\n";
    let o = check(&[Ev::C(request), Ev::S(response), Ev::C(GET), Ev::S(OK)]);
    assert_eq!(o.exchanges.len(), 2);
    let r = req(&o.exchanges[0]);
    assert_eq!(r.body.data, &b"abc"[..]);
    assert_eq!(r.trailers, Headers::from_pairs([("X-Check", "7")]));
    let s = resp(&o.exchanges[0]);
    assert_eq!(s.body.data, &b"hello, world!!!"[..]);
    assert_eq!(s.body.size, 15);
    assert_eq!(resp(&o.exchanges[1]).body.data, &b"{\"id\":true}"[..]);
}

#[test]
fn pipelined_requests_pair_in_order() {
    let reqs: &[u8] = b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\nPOST /3 HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi";
    let resps: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1HTTP/1.1 404 Not Found\r\nContent-Length: 1\r\n\r\n2HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n3";
    let o = check(&[Ev::C(reqs), Ev::S(resps), Ev::Close(CloseReason::Fin)]);
    let pairs = o.each(|e| {
        (
            req(e).path().to_string(),
            resp(e).status,
            resp(e).body.data.to_vec(),
        )
    });
    assert_eq!(
        pairs,
        [
            ("/1".into(), 200, b"1".to_vec()),
            ("/2".into(), 404, b"2".to_vec()),
            ("/3".into(), 200, b"3".to_vec())
        ]
    );
    assert_eq!(req(&o.exchanges[2]).body.data, &b"hi"[..]);
}

#[test]
fn keep_alive_exchanges_carry_their_own_times() {
    let o = check(&[
        Ev::C(GET),
        Ev::S(OK),
        Ev::C(GET),
        Ev::S(OK),
        Ev::C(GET),
        Ev::S(OK),
    ]);
    let times = o.each(|e| (req(e).ts.0, resp(e).ts.0));
    assert_eq!(times, [(1000, 2000), (3000, 4000), (5000, 6000)]);
}

#[test]
fn close_delimited_response_ends_at_close() {
    let request: &[u8] = b"GET /old HTTP/1.0\r\n\r\n";
    let response: &[u8] = b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\nall of this\r\nuntil close";
    let o = check(&[Ev::C(request), Ev::S(response), Ev::Close(CloseReason::Fin)]);
    assert_eq!(o.exchanges.len(), 1);
    let ex = &o.exchanges[0];
    assert_eq!(ex.protocol, Protocol::Http10);
    assert_eq!(resp(ex).body.data, &b"all of this\r\nuntil close"[..]);
    assert!(ex.flags.is_empty(), "{:?}", ex.flags);
    // Before the close nothing is emitted: the body may go on.
    let o = check(&[Ev::C(request), Ev::S(response)]);
    assert!(o.exchanges.is_empty());
}

#[test]
fn head_204_304_and_1xx_have_no_body() {
    let reqs: &[u8] = b"HEAD /a HTTP/1.1\r\n\r\nDELETE /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\nIf-None-Match: x\r\n\r\nGET /d HTTP/1.1\r\n\r\n";
    let resps: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\nHTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 30\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let o = check(&[Ev::C(reqs), Ev::S(resps)]);
    let got = o.each(|e| (req(e).path().to_string(), resp(e).status, resp(e).body.size));
    assert_eq!(
        got,
        [
            ("/a".into(), 200, 0),
            ("/b".into(), 204, 0),
            ("/c".into(), 304, 0),
            ("/d".into(), 200, 2)
        ]
    );
}

#[test]
fn expect_continue_interim_responses_are_not_final() {
    let head: &[u8] =
        b"PUT /f HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n";
    let cont: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
    let cont2: &[u8] = b"HTTP/1.1 100 Continue\r\nX: again\r\n\r\n";
    let body: &[u8] = b"data";
    let fin: &[u8] = b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
    let o = check(&[
        Ev::C(head),
        Ev::S(cont),
        Ev::S(cont2),
        Ev::C(body),
        Ev::S(fin),
        Ev::C(GET),
        Ev::S(OK),
    ]);
    assert_eq!(o.exchanges.len(), 2);
    assert_eq!(req(&o.exchanges[0]).body.data, &b"data"[..]);
    assert_eq!(resp(&o.exchanges[0]).status, 201);
    assert_eq!(resp(&o.exchanges[0]).ts, Timestamp(5000));
    assert_eq!(resp(&o.exchanges[1]).status, 200);
}

#[test]
fn refused_expect_continue_body_may_be_skipped_or_sent() {
    let head: &[u8] = b"POST /up HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n";
    let refused: &[u8] = b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n";
    // The client gives up the body and sends its next request.
    let o = check(&[Ev::C(head), Ev::S(refused), Ev::C(GET), Ev::S(OK)]);
    let got = o.each(|e| (req(e).path().to_string(), req(e).body.size, resp(e).status));
    assert_eq!(
        got,
        [("/up".into(), 0, 401), ("/users/1?x=y".into(), 0, 200)]
    );
    // The client sends the body anyway.
    let o = check(&[
        Ev::C(head),
        Ev::S(refused),
        Ev::C(b"0123456789"),
        Ev::C(GET),
        Ev::S(OK),
    ]);
    let got = o.each(|e| (req(e).path().to_string(), req(e).body.size, resp(e).status));
    assert_eq!(
        got,
        [("/up".into(), 10, 401), ("/users/1?x=y".into(), 0, 200)]
    );
    // A JSON body the client sends anyway is a body.
    let o = check(&[
        Ev::C(head),
        Ev::S(refused),
        Ev::C(br#"{"k":"vv"}"#),
        Ev::C(GET),
        Ev::S(OK),
    ]);
    assert_eq!(req(&o.exchanges[0]).body.data, &br#"{"k":"vv"}"#[..]);
    assert_eq!(o.exchanges.len(), 2);
}

#[test]
fn http2_frames_without_preface_go_to_the_http2_parser() {
    // A SETTINGS frame and a PING: a connection joined after its preface.
    let frames: &[u8] =
        b"\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x08\x06\x00\x00\x00\x00\x00pingping";
    let o = check_with(&HttpConfig::default(), true, &[Ev::C(frames)]);
    assert_eq!(o.detected, "h2");
}

#[test]
fn websocket_upgrade_stops_parsing() {
    let request: &[u8] =
        b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
    let response: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello";
    let client_frame: &[u8] = b"\x81\x85abcdGET / HTTP/1.1\r\n\r\n";
    let o = check(&[
        Ev::C(request),
        Ev::S(response),
        Ev::C(client_frame),
        Ev::Close(CloseReason::Fin),
    ]);
    assert_eq!(o.exchanges.len(), 1);
    let ex = &o.exchanges[0];
    assert_eq!(resp(ex).status, 101);
    assert!(ex.has_flag(Flag::Upgrade));
    assert_eq!(
        o.drop(DropReason::UnparsedBytes),
        7 + client_frame.len() as u64
    );
}

#[test]
fn refused_upgrade_keeps_parsing_http1() {
    let request: &[u8] =
        b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\nGET /next HTTP/1.1\r\n\r\n";
    let response: &[u8] = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    let o = check(&[Ev::C(request), Ev::S(response)]);
    let got = o.each(|e| (req(e).path().to_string(), resp(e).status));
    assert_eq!(got, [("/ws".into(), 400), ("/next".into(), 200)]);
}

/// A TLS tunnel: HTTP/1 stops at the 200 and the tunnel's bytes, detected
/// as TLS, are counted as unparsed.
#[test]
fn connect_tunnel_of_tls_is_not_parsed() {
    let request: &[u8] = b"CONNECT api.example:443 HTTP/1.1\r\nHost: api.example:443\r\n\r\n\x16\x03\x01\x00\x05hello";
    let response: &[u8] = b"HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x03\x00\x01x";
    let o = check(&[Ev::C(request), Ev::S(response), Ev::Close(CloseReason::Fin)]);
    assert_eq!(o.exchanges.len(), 1);
    let ex = &o.exchanges[0];
    assert_eq!(req(ex).path(), "api.example:443");
    assert!(ex.has_flag(Flag::Upgrade));
    assert_eq!(o.drop(DropReason::UnparsedBytes), 10 + 6);
}

#[test]
fn plaintext_http1_inside_a_connect_tunnel_is_parsed() {
    let connect: &[u8] = b"CONNECT api.internal:80 HTTP/1.1\r\nHost: api.internal:80\r\n\r\nGET /inner HTTP/1.1\r\nHost: api.internal\r\n\r\n";
    let established: &[u8] = b"HTTP/1.1 200 Connection established\r\n\r\n";
    let o = check(&[
        Ev::C(connect),
        Ev::S(established),
        Ev::S(OK),
        Ev::Close(CloseReason::Fin),
    ]);
    let got = o.each(|e| {
        (
            req(e).method().to_string(),
            req(e).path().to_string(),
            resp(e).status,
            e.has_flag(Flag::Upgrade),
        )
    });
    assert_eq!(
        got,
        [
            ("CONNECT".into(), "api.internal:80".into(), 200, true),
            ("GET".into(), "/inner".into(), 200, false),
        ]
    );
    assert_eq!(
        String::from_utf8_lossy(&resp(&o.exchanges[1]).body.data),
        "{\"id\":true}"
    );
    assert_eq!(o.drop(DropReason::UnparsedBytes), 0);
}

#[test]
fn http2_inside_a_connect_tunnel_is_parsed() {
    use proto_http::h2::frame::{FrameType, PREFACE, write_frame};
    use proto_http::hpack::encode;
    let headers = |fields: &[(&str, &str)], out: &mut Vec<u8>| {
        let mut block = Vec::new();
        for (n, v) in fields {
            encode::literal(
                Err(n.as_bytes()),
                v.as_bytes(),
                encode::Indexing::Incremental,
                true,
                &mut block,
            );
        }
        write_frame(FrameType::Headers, 0x4 | 0x1, 1, &block, out);
    };
    let mut client =
        b"CONNECT grpc.internal:8080 HTTP/1.1\r\nHost: grpc.internal:8080\r\n\r\n".to_vec();
    client.extend_from_slice(PREFACE);
    write_frame(FrameType::Settings, 0, 0, &[], &mut client);
    headers(
        &[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/tunnelled"),
            (":authority", "grpc.internal"),
        ],
        &mut client,
    );
    let mut server = b"HTTP/1.1 200 Connection established\r\n\r\n".to_vec();
    write_frame(FrameType::Settings, 0, 0, &[], &mut server);
    headers(&[(":status", "204")], &mut server);
    let o = check(&[Ev::C(&client), Ev::S(&server), Ev::Close(CloseReason::Fin)]);
    let got = o.each(|e| {
        (
            e.protocol,
            req(e).path().to_string(),
            resp(e).status,
            e.stream_id,
        )
    });
    assert_eq!(
        got,
        [
            (Protocol::Http11, "grpc.internal:8080".into(), 200, None),
            (Protocol::H2, "/tunnelled".into(), 204, Some(1)),
        ]
    );
    assert!(!o.exchanges[1].has_flag(Flag::MidStream));
}

/// Tunnels inside tunnels are followed four deep; a fifth one's bytes are
/// counted as unparsed rather than recursed into.
#[test]
fn nested_connect_tunnels_are_followed_to_a_limit() {
    let connect: &[u8] = b"CONNECT next:80 HTTP/1.1\r\n\r\n";
    let established: &[u8] = b"HTTP/1.1 200 OK\r\n\r\n";
    let inner: &[u8] = b"GET /deep HTTP/1.1\r\n\r\n";
    let mut script = Vec::new();
    for _ in 0..5 {
        script.push(Ev::C(connect));
        script.push(Ev::S(established));
    }
    script.push(Ev::C(inner));
    script.push(Ev::Close(CloseReason::Fin));
    let o = feed_with(&HttpConfig::default(), false, &script, &|_, _| Vec::new());
    let methods: Vec<_> = o
        .exchanges
        .iter()
        .map(|e| req(e).method().to_string())
        .collect();
    assert_eq!(methods, ["CONNECT"; 5]);
    assert_eq!(o.drop(DropReason::UnparsedBytes), inner.len() as u64);
}

#[test]
fn refused_connect_keeps_parsing_http1() {
    let first: &[u8] = b"CONNECT api:443 HTTP/1.1\r\nHost: api:443\r\n\r\n";
    let refused: &[u8] = b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n";
    let again: &[u8] =
        b"CONNECT api:443 HTTP/1.1\r\nProxy-Authorization: Basic eDp5\r\n\r\n\x16\x03\x01\x00\x00";
    let ok: &[u8] = b"HTTP/1.1 200 Connection established\r\n\r\n";
    let o = check(&[
        Ev::C(first),
        Ev::S(refused),
        Ev::C(again),
        Ev::S(ok),
        Ev::Close(CloseReason::Fin),
    ]);
    let got = o.each(|e| (resp(e).status, e.has_flag(Flag::Upgrade)));
    assert_eq!(got, [(407, false), (200, true)]);
    assert_eq!(o.drop(DropReason::UnparsedBytes), 5);
}

#[test]
fn early_response_waits_for_the_rest_of_its_request() {
    let head: &[u8] = b"POST /big HTTP/1.1\r\nContent-Length: 10\r\n\r\n01234";
    let early: &[u8] = b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n";
    let rest: &[u8] = b"56789GET /next HTTP/1.1\r\n\r\n";
    let o = check(&[Ev::C(head), Ev::S(early), Ev::C(rest), Ev::S(OK)]);
    let got = o.each(|e| (req(e).path().to_string(), req(e).body.size, resp(e).status));
    assert_eq!(got, [("/big".into(), 10, 413), ("/next".into(), 0, 200)]);
}

#[test]
fn h2c_upgrade_switches_to_http2() {
    let request: &[u8] = b"GET /h2 HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n";
    let preface: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";
    // 101, then the server's SETTINGS and its HEADERS on stream 1
    // (`:status: 200` as HPACK static index 8, END_STREAM | END_HEADERS).
    let response: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x01\x01\x05\x00\x00\x00\x01\x88";
    let o = check(&[Ev::C(request), Ev::C(preface), Ev::S(response)]);
    assert_eq!(o.detected, "h2");
    assert_eq!(o.drop(DropReason::UnparsedBytes), 0);
    // The upgrade request is HTTP/2 stream 1, answered over HTTP/2.
    assert_eq!(o.exchanges.len(), 1, "{:?}", o.exchanges);
    let ex = &o.exchanges[0];
    assert_eq!(ex.protocol, Protocol::H2);
    assert_eq!(ex.stream_id, Some(1));
    assert_eq!(req(ex).path(), "/h2");
    assert_eq!(resp(ex).status, 200);
}

#[test]
fn gap_inside_a_known_length_body_keeps_sync() {
    let head: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789";
    let tail: &[u8] = &[b'z'; 40];
    let o = check(&[
        Ev::C(GET),
        Ev::C(GET),
        Ev::S(head),
        Ev::GapS(50),
        Ev::S(tail),
        Ev::S(OK),
    ]);
    assert_eq!(o.exchanges.len(), 2);
    let first = &o.exchanges[0];
    assert!(first.has_flag(Flag::Gap));
    assert_eq!(resp(first).body.size, 100);
    assert!(resp(first).body.truncated);
    assert!(!o.exchanges[1].has_flag(Flag::Gap));
    assert_eq!(resp(&o.exchanges[1]).body.data, &b"{\"id\":true}"[..]);
    assert_eq!(o.drop(DropReason::UnparsedBytes), 0);
}

#[test]
fn huge_gaps_are_absorbed() {
    let old: &[u8] = b"GET / HTTP/1.0\r\n\r\n";
    let reply: &[u8] = b"HTTP/1.0 200 OK\r\n\r\nstart";
    let o = check(&[
        Ev::C(old),
        Ev::S(reply),
        Ev::GapS(u64::MAX),
        Ev::GapS(u64::MAX),
        Ev::GapC(u64::MAX),
        Ev::Close(CloseReason::Fin),
    ]);
    assert_eq!(o.exchanges.len(), 1);
    let r = resp(&o.exchanges[0]);
    assert_eq!((r.body.size, r.body.truncated), (u64::MAX, true));
    assert!(o.exchanges[0].has_flag(Flag::Gap));
}

#[test]
fn gap_in_chunk_data_keeps_sync() {
    let head: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n0123";
    let tail: &[u8] = b"89abcdef\r\n0\r\n\r\n";
    let o = check(&[
        Ev::C(GET),
        Ev::C(GET),
        Ev::S(head),
        Ev::GapS(20),
        Ev::S(tail),
        Ev::S(OK),
    ]);
    assert_eq!(o.exchanges.len(), 2);
    assert!(o.exchanges[0].has_flag(Flag::Gap));
    assert_eq!(resp(&o.exchanges[0]).body.size, 32);
    assert_eq!(resp(&o.exchanges[1]).status, 200);
}

#[test]
fn client_gap_resynchronises_at_next_request_line() {
    let first: &[u8] = b"POST /a HTTP/1.1\r\nContent-Length: 10\r\n\r\n01234";
    // The gap swallows the end of /a's body and the start of /b.
    let after: &[u8] = b"t: 1\r\n\r\nxxGET /c HTTP/1.1\r\nHost: h\r\n\r\n";
    let resps: &[u8] =
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 201 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 202 OK\r\nContent-Length: 0\r\n\r\n";
    let o = check(&[
        Ev::C(first),
        Ev::GapC(30),
        Ev::C(after),
        Ev::S(resps),
        Ev::Close(CloseReason::Fin),
    ]);
    let got = o.each(|e| {
        (
            e.request.as_ref().map(|r| r.path().to_string()),
            e.response.as_ref().map(|r| r.status),
        )
    });
    // /a is cut by the gap; /b was lost in it (its response has no request); /c is intact.
    assert_eq!(
        got,
        [
            (Some("/a".into()), Some(200)),
            (None, Some(201)),
            (Some("/c".into()), Some(202))
        ]
    );
    assert!(o.exchanges[0].has_flag(Flag::Gap));
    assert!(o.exchanges[1].has_flag(Flag::NoRequest));
    assert!(!o.exchanges[2].has_flag(Flag::Gap));
    assert_eq!(
        o.drop(DropReason::UnparsedBytes),
        (b"t: 1\r\n\r\nxx".len()) as u64
    );
}

#[test]
fn server_gap_between_responses_loses_one_response() {
    let reqs: &[u8] = b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n";
    let r1: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1";
    let rest: &[u8] = b"ngth: 1\r\n\r\n2HTTP/1.1 203 OK\r\nContent-Length: 1\r\n\r\n3";
    let o = check(&[Ev::C(reqs), Ev::S(r1), Ev::GapS(30), Ev::S(rest)]);
    let got = o.each(|e| {
        (
            req(e).path().to_string(),
            e.response.as_ref().map(|r| r.status),
        )
    });
    assert_eq!(
        got,
        [
            ("/1".into(), Some(200)),
            ("/2".into(), None),
            ("/3".into(), Some(203))
        ]
    );
    assert!(o.exchanges[1].has_flag(Flag::Gap) && o.exchanges[1].has_flag(Flag::NoResponse));
    assert_eq!(
        o.drop(DropReason::UnparsedBytes),
        b"ngth: 1\r\n\r\n2".len() as u64
    );
}

#[test]
fn exchange_lost_in_both_directions_leaves_no_empty_record() {
    let o = check(&[
        Ev::C(GET),
        Ev::S(OK),
        Ev::GapC(80),
        Ev::GapS(90),
        Ev::C(GET),
        Ev::S(OK),
    ]);
    assert_eq!(o.exchanges.len(), 2);
    assert!(
        o.exchanges
            .iter()
            .all(|e| e.request.is_some() && e.response.is_some())
    );
    assert!(o.exchanges.iter().all(|e| e.flags.is_empty()));
}

#[test]
fn http09_reply_has_status_zero_and_body_until_close() {
    let request: &[u8] = b"GET / HTTP/1.1\r\nHost: old\r\n\r\n";
    let reply: &[u8] = b"<html>hello</html>\n";
    let o = check(&[Ev::C(request), Ev::S(reply), Ev::Close(CloseReason::Fin)]);
    assert_eq!(o.exchanges.len(), 1);
    let ex = &o.exchanges[0];
    assert!(ex.has_flag(Flag::Http09));
    assert_eq!(resp(ex).status, 0);
    assert_eq!(resp(ex).body.data, reply);
}

#[test]
fn requests_without_response_are_emitted_at_close() {
    let o = check(&[
        Ev::C(GET),
        Ev::S(OK),
        Ev::C(GET),
        Ev::Close(CloseReason::Fin),
    ]);
    assert_eq!(o.exchanges.len(), 2);
    assert!(o.exchanges[1].response.is_none());
    assert!(o.exchanges[1].has_flag(Flag::NoResponse));
    // A body cut by a timeout is flagged incomplete.
    let partial: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234";
    let o = check(&[Ev::C(GET), Ev::S(partial), Ev::Close(CloseReason::Timeout)]);
    assert_eq!(o.exchanges.len(), 1);
    assert!(o.exchanges[0].has_flag(Flag::Incomplete));
    assert_eq!(resp(&o.exchanges[0]).body.data, &b"01234"[..]);
    let o = check(&[Ev::C(GET), Ev::S(partial), Ev::Close(CloseReason::Reset)]);
    assert!(o.exchanges[0].has_flag(Flag::Reset));
}

#[test]
fn response_without_request_joined_mid_stream() {
    let o = check_with(
        &HttpConfig::default(),
        true,
        &[Ev::S(OK), Ev::C(GET), Ev::S(OK)],
    );
    assert_eq!(o.exchanges.len(), 2);
    let lone = &o.exchanges[0];
    assert!(lone.request.is_none());
    assert!(lone.has_flag(Flag::NoRequest) && lone.has_flag(Flag::MidStream));
    assert_eq!(lone.protocol, Protocol::Http11);
    assert!(o.exchanges[1].request.is_some() && o.exchanges[1].response.is_some());
}

#[test]
fn joined_mid_stream_the_ends_of_earlier_messages_pair_nothing() {
    // The capture starts inside the body of request A while the server is
    // answering it: neither tail may shift the pairing of B.
    let resp_a: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\naa";
    let tail_a: &[u8] = b"of A's body\"}\r\n";
    let req_b: &[u8] = b"GET /b HTTP/1.1\r\nHost: h\r\n\r\n";
    let resp_b: &[u8] = b"HTTP/1.1 201 OK\r\nContent-Length: 2\r\n\r\nbb";
    for script in [
        [Ev::S(resp_a), Ev::C(tail_a), Ev::C(req_b), Ev::S(resp_b)],
        [Ev::C(tail_a), Ev::S(resp_a), Ev::C(req_b), Ev::S(resp_b)],
    ] {
        let o = check_with(&HttpConfig::default(), true, &script);
        let got = o.each(|e| {
            (
                e.request.as_ref().map(|r| r.path().to_string()),
                resp(e).status,
            )
        });
        assert_eq!(got, [(None, 200), (Some("/b".into()), 201)], "{script:?}");
    }
    // A response body's tail first is not an HTTP/0.9 reply either.
    let o = check_with(
        &HttpConfig::default(),
        true,
        &[Ev::C(req_b), Ev::S(b"tail of a body\r\n"), Ev::S(resp_b)],
    );
    assert_eq!(o.exchanges.len(), 1);
    assert_eq!(resp(&o.exchanges[0]).status, 201);
    assert!(!o.exchanges[0].has_flag(Flag::Http09));
}

#[test]
fn joined_inside_a_body_resynchronises() {
    let tail: &[u8] = b"lo\":\"end of a body\"}\r\nGET /next HTTP/1.1\r\nHost: h\r\n\r\n";
    let server: &[u8] = b"\"x\"}HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    let o = check_with(&HttpConfig::default(), true, &[Ev::C(tail), Ev::S(server)]);
    assert_eq!(o.exchanges.len(), 1);
    assert_eq!(req(&o.exchanges[0]).path(), "/next");
    assert_eq!(resp(&o.exchanges[0]).status, 200);
    assert!(o.exchanges[0].has_flag(Flag::MidStream));
}

#[test]
fn request_in_server_to_client_direction_swaps_roles() {
    let o = check(&[Ev::S(GET), Ev::C(OK)]);
    assert_eq!(o.exchanges.len(), 1);
    let ex = &o.exchanges[0];
    assert_eq!(ex.conn.client, "10.0.0.2:80".parse().unwrap());
    assert_eq!(ex.conn.server, "10.0.0.1:40000".parse().unwrap());
    assert_eq!(resp(ex).status, 200);
}

#[test]
fn tls_and_unknown_binary_are_ignored_and_counted() {
    let hello: &[u8] = b"\x16\x03\x01\x00\x30\x01\x00\x00\x2c\x03\x03rest of a client hello";
    let o = check(&[
        Ev::C(hello),
        Ev::S(b"\x16\x03\x03\x00\x02ab"),
        Ev::Close(CloseReason::Fin),
    ]);
    assert_eq!(o.detected, "ignored");
    assert!(o.exchanges.is_empty());
    assert_eq!(o.drop(DropReason::UnparsedBytes), hello.len() as u64 + 7);
    let binary: &[u8] = b"\x00\x00\x01\x02garbage that is not http at all";
    let reply: &[u8] = b"\x00\x07binary reply";
    let o = check(&[
        Ev::C(binary),
        Ev::S(reply),
        Ev::C(b"more"),
        Ev::Close(CloseReason::Fin),
    ]);
    assert_eq!(o.detected, "ignored");
    assert_eq!(
        o.drop(DropReason::UnparsedBytes),
        (binary.len() + reply.len() + 4) as u64
    );
    // Bytes of one direction that never tell are counted at close.
    let o = check(&[Ev::C(binary), Ev::Close(CloseReason::Fin)]);
    assert_eq!(o.drop(DropReason::UnparsedBytes), binary.len() as u64);
    assert!(o.exchanges.is_empty());
}

#[test]
fn broken_request_answered_by_a_status_line_is_reported() {
    let broken: &[u8] = b"OPTIONSHTTP/1.1\r\nHost: h\r\n\r\n";
    let reply: &[u8] = b"HTTP/1.0 400 Bad Request\r\nContent-Length: 2\r\n\r\nno";
    let o = check(&[Ev::C(broken), Ev::S(reply), Ev::Close(CloseReason::Fin)]);
    assert_eq!(o.detected, "http/1");
    assert_eq!(o.exchanges.len(), 1);
    let ex = &o.exchanges[0];
    assert!(ex.request.is_none() && ex.has_flag(Flag::NoRequest) && ex.has_flag(Flag::Malformed));
    assert_eq!(resp(ex).status, 400);
    assert_eq!(ex.protocol, Protocol::Http10);
    // A request line missing its target is still read, as Wireshark does.
    let lenient: &[u8] = b"OPTIONS HTTP/1.1\r\nHost: h\r\n\r\n";
    let o = check(&[Ev::C(lenient), Ev::S(reply), Ev::Close(CloseReason::Fin)]);
    let ex = &o.exchanges[0];
    assert_eq!(
        (
            req(ex).method().as_str().unwrap(),
            req(ex).path().as_str().unwrap()
        ),
        ("OPTIONS", "HTTP/1.1")
    );
    assert!(ex.has_flag(Flag::Malformed));
    assert_eq!(resp(ex).body.data, &b"no"[..]);
}

#[test]
fn http2_preface_goes_to_the_http2_parser() {
    let o = check(&[Ev::C(
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00",
    )]);
    assert_eq!(o.detected, "h2");
}

#[test]
fn pending_request_limit_is_counted() {
    let config = HttpConfig {
        max_pending_requests: 2,
        ..Default::default()
    };
    let reqs: &[u8] = b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nPOST /3 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /4 HTTP/1.1\r\n\r\n";
    let o = check_with(&config, false, &[Ev::C(reqs), Ev::Close(CloseReason::Fin)]);
    assert_eq!(o.drop(DropReason::PendingRequestLimit), 2);
    let paths: Vec<_> = o
        .exchanges
        .iter()
        .map(|e| req(e).path().to_string())
        .collect();
    assert_eq!(paths, ["/1", "/2"]);
}

#[test]
fn oversized_head_is_dropped_and_parsing_resumes() {
    let config = HttpConfig {
        max_header_bytes: 256,
        ..Default::default()
    };
    let mut big = b"GET /big HTTP/1.1\r\n".to_vec();
    for i in 0..20 {
        big.extend_from_slice(format!("X-Filler-{i}: 0123456789\r\n").as_bytes());
    }
    big.extend_from_slice(b"\r\nGET /small HTTP/1.1\r\n\r\n");
    let resps: &[u8] =
        b"HTTP/1.1 500 X\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    let o = check_with(&config, false, &[Ev::C(&big), Ev::S(resps)]);
    assert_eq!(o.drop(DropReason::HeaderListTooLarge), 1);
    let got = o.each(|e| {
        (
            e.request.as_ref().map(|r| r.path().to_string()),
            resp(e).status,
        )
    });
    assert_eq!(got, [(None, 500), (Some("/small".into()), 200)]);
}

#[test]
fn a_bad_head_full_of_start_lines_is_dropped_whole() {
    // 3000 status lines, then a field with a NUL byte: one bad response
    // head, dropped in one piece (no rescan of what it held, however it
    // was cut), then the next response is found.
    let mut bad = b"HTTP/1.1 200 OK\r\n".to_vec();
    for _ in 0..3000 {
        bad.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
    }
    bad.extend_from_slice(b"X: \x00\r\n\r\n");
    let good: &[u8] = b"HTTP/1.1 204 No Content\r\n\r\n";
    let bad_len = bad.len() as u64;
    let o = feed_with(
        &HttpConfig::default(),
        false,
        &[Ev::C(GET), Ev::C(GET), Ev::S(&bad), Ev::S(good)],
        &|_, _| Vec::new(),
    );
    let bytewise = feed_with(
        &HttpConfig::default(),
        false,
        &[Ev::C(GET), Ev::C(GET), Ev::S(&bad), Ev::S(good)],
        &|i, len| {
            if i == 2 {
                (1..len).step_by(7).collect()
            } else {
                Vec::new()
            }
        },
    );
    assert_eq!(bytewise, o);
    let got = o.each(|e| (e.response.as_ref().map(|r| r.status), e.flags.clone()));
    assert_eq!(
        got,
        [
            (None, vec![Flag::Malformed, Flag::NoResponse]),
            (Some(204), vec![])
        ]
    );
    assert_eq!(o.drop(DropReason::UnparsedBytes), bad_len);
    assert_eq!(o.drop(DropReason::ParseError), 1);
}

#[test]
fn bodies_beyond_the_limit_are_truncated_with_full_size() {
    let config = HttpConfig {
        body_limit: 4,
        ..Default::default()
    };
    let o = check_with(&config, false, &[Ev::C(GET), Ev::S(OK)]);
    let b = &resp(&o.exchanges[0]).body;
    assert_eq!(
        (&b.data[..], b.size, b.truncated),
        (&b"{\"id"[..], 11, true)
    );
    assert_eq!(o.drop(DropReason::BodyTruncated), 7);
}

#[test]
fn malformed_chunk_size_flags_and_recovers() {
    let bad: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    let o = check(&[Ev::C(GET), Ev::C(GET), Ev::S(bad)]);
    assert_eq!(o.exchanges.len(), 2);
    assert!(o.exchanges[0].has_flag(Flag::Malformed));
    assert_eq!(resp(&o.exchanges[1]).status, 200);
    assert_eq!(o.drop(DropReason::ParseError), 1);
}

#[test]
fn leading_empty_lines_between_messages_are_skipped() {
    let reqs: &[u8] = b"POST /a HTTP/1.1\r\nContent-Length: 1\r\n\r\nx\r\nGET /b HTTP/1.1\r\n\r\n";
    let resps: &[u8] =
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    let o = check(&[Ev::C(reqs), Ev::S(resps)]);
    let paths: Vec<_> = o
        .exchanges
        .iter()
        .map(|e| req(e).path().to_string())
        .collect();
    assert_eq!(paths, ["/a", "/b"]);
}

#[test]
fn empty_lines_before_the_first_request_line_are_skipped() {
    let o = check(&[
        Ev::C(b"\r\n\r\nGET /first HTTP/1.1\r\nHost: h\r\n\r\n"),
        Ev::S(b"\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ]);
    assert_eq!(o.detected, "http/1");
    assert_eq!(o.each(|e| req(e).path().to_string()), ["/first"]);
    assert_eq!(resp(&o.exchanges[0]).status, 200);
    assert!(
        o.exchanges[0].flags.is_empty(),
        "{:?}",
        o.exchanges[0].flags
    );
    assert!(o.drops.is_empty(), "{:?}", o.drops);
}

const NO_BODY: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

/// The flags of each exchange, by name.
fn flag_names(o: &Outcome) -> Vec<Vec<&'static str>> {
    o.each(|e| e.flags.iter().map(|f| f.as_str()).collect())
}

#[test]
fn a_space_before_the_colon_frames_the_body_and_is_flagged() {
    let o = check(&[
        Ev::C(b"PUT /url HTTP/1.1\r\nContent-Length : 4\r\n\r\nabcdGET /next HTTP/1.1\r\n\r\n"),
        Ev::S(NO_BODY),
        Ev::S(NO_BODY),
    ]);
    assert_eq!(o.each(|e| req(e).path().to_string()), ["/url", "/next"]);
    assert_eq!(req(&o.exchanges[0]).body.data, &b"abcd"[..]);
    assert_eq!(
        req(&o.exchanges[0])
            .headers()
            .iter()
            .map(|h| h.name_str().unwrap())
            .collect::<Vec<_>>(),
        ["Content-Length "],
        "kept as sent"
    );
    assert_eq!(
        flag_names(&o),
        [vec!["malformed", "ambiguous_framing"], vec![]]
    );
}

#[test]
fn invalid_field_lines_are_kept_as_sent_and_flagged() {
    let o = check(&[
        Ev::C(b"GET / HTTP/1.1\r\nFo@: x\r\nno colon\r\n: empty\r\nA: b\x0cc\r\nB: d\r\n\r\n"),
        Ev::S(b"HTTP/1.1 200 OK\r\nen-US Content-Type: text/xml\r\nContent-Length: 2\r\n\r\nok"),
    ]);
    let ex = &o.exchanges[0];
    let fields: Vec<_> = req(ex)
        .headers()
        .iter()
        .map(|h| (h.name().as_bytes().to_vec(), h.value().as_bytes().to_vec()))
        .collect();
    assert_eq!(
        fields,
        [
            (b"Fo@".to_vec(), b"x".to_vec()),
            (b"".to_vec(), b"empty".to_vec()),
            (b"A".to_vec(), b"b\x0cc".to_vec()),
            (b"B".to_vec(), b"d".to_vec()),
        ]
    );
    assert_eq!(resp(ex).body.data, &b"ok"[..]);
    assert_eq!(flag_names(&o), [vec!["malformed"]]);
}

#[test]
fn obs_folds_join_in_requests_and_responses_alike() {
    let fold = b"Line1:   abc\r\n\tdef\r\nLine2: x\r\nConnection:\r\n close\r\n";
    let request = [&b"GET / HTTP/1.1\r\n"[..], fold, b"\r\n"].concat();
    let response = [
        &b"HTTP/1.1 200 OK\r\n"[..],
        fold,
        b"Content-Length: 0\r\n\r\n",
    ]
    .concat();
    let o = check(&[Ev::C(&request), Ev::S(&response)]);
    let ex = &o.exchanges[0];
    let fields = |h: &Headers| -> Vec<(String, Vec<u8>)> {
        h.iter()
            .map(|h| {
                (
                    h.name_str().unwrap().to_owned(),
                    h.value().as_bytes().to_vec(),
                )
            })
            .take(3)
            .collect()
    };
    let want = vec![
        ("Line1".to_owned(), b"abc\r\n\tdef".to_vec()),
        ("Line2".to_owned(), b"x".to_vec()),
        ("Connection".to_owned(), b"\r\n close".to_vec()),
    ];
    assert_eq!(fields(req(ex).headers()), want);
    assert_eq!(fields(resp(ex).headers()), want);
    assert!(ex.flags.is_empty(), "{:?}", ex.flags);
}

#[test]
fn a_folded_transfer_encoding_is_never_chunked() {
    let body: &[u8] = b"5\r\nWorld\r\n0\r\n\r\n";
    let request = [
        &b"PUT /url HTTP/1.1\r\nTransfer-Encoding: chunked\r\n  abc\r\n\r\n"[..],
        body,
    ]
    .concat();
    let o = check(&[Ev::C(&request), Ev::S(NO_BODY), Ev::Close(CloseReason::Fin)]);
    // A request whose length is unknown runs to the close.
    assert_eq!(req(&o.exchanges[0]).body.data, body);
    assert_eq!(flag_names(&o), [vec!["ambiguous_framing", "malformed"]]);
    let response = [
        &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n  abc\r\n\r\n"[..],
        body,
    ]
    .concat();
    let o = check(&[
        Ev::C(b"GET / HTTP/1.1\r\n\r\n"),
        Ev::S(&response),
        Ev::Close(CloseReason::Fin),
    ]);
    assert_eq!(resp(&o.exchanges[0]).body.data, body);
    assert_eq!(flag_names(&o), [vec!["ambiguous_framing"]]);
}

#[test]
fn chunked_then_identity_runs_to_the_close() {
    let o = check(&[
        Ev::C(b"GET / HTTP/1.1\r\n\r\n"),
        Ev::S(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n5\r\nWorld"),
        Ev::Close(CloseReason::Fin),
    ]);
    assert_eq!(resp(&o.exchanges[0]).body.data, &b"5\r\nWorld"[..]);
    assert!(
        o.exchanges[0].flags.is_empty(),
        "{:?}",
        o.exchanges[0].flags
    );
    let o = check(&[
        Ev::C(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, deflate\r\n\r\nWorld"),
        Ev::S(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
        Ev::Close(CloseReason::Fin),
    ]);
    assert_eq!(req(&o.exchanges[0]).body.data, &b"World"[..]);
    assert_eq!(resp(&o.exchanges[0]).status, 400);
    assert_eq!(flag_names(&o), [vec!["malformed"]]);
}

#[test]
fn transfer_encoding_with_content_length_is_chunked_and_flagged() {
    let o = check(&[
        Ev::C(b"POST /a HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /b HTTP/1.1\r\n\r\n"),
        Ev::S(NO_BODY),
        Ev::S(NO_BODY),
    ]);
    assert_eq!(o.each(|e| req(e).path().to_string()), ["/a", "/b"]);
    assert_eq!(req(&o.exchanges[0]).body.data, &b"abc"[..]);
    assert_eq!(flag_names(&o), [vec!["ambiguous_framing"], vec![]]);
}

#[test]
fn two_different_lengths_are_framed_by_the_first_and_flagged() {
    let o = check(&[
        Ev::C(b"POST /a HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 30\r\n\r\nabGET /b HTTP/1.1\r\n\r\n"),
        Ev::S(NO_BODY),
        Ev::S(NO_BODY),
    ]);
    assert_eq!(o.each(|e| req(e).path().to_string()), ["/a", "/b"]);
    assert_eq!(req(&o.exchanges[0]).body.data, &b"ab"[..]);
    assert_eq!(flag_names(&o), [vec!["ambiguous_framing"], vec![]]);
}

#[cfg(feature = "decompress")]
#[test]
fn gzip_bodies_are_decoded_and_bad_ones_flagged() {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b"{\"hello\":\"world\"}").unwrap();
    let gz = e.finish().unwrap();
    let mut response = format!(
        "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
        gz.len()
    )
    .into_bytes();
    response.extend_from_slice(&gz);
    let o = check(&[Ev::C(GET), Ev::S(&response)]);
    let b = &resp(&o.exchanges[0]).body;
    assert_eq!(b.data, &b"{\"hello\":\"world\"}"[..]);
    assert_eq!(b.size, gz.len() as u64);
    let broken: &[u8] =
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\nnope";
    let o = check(&[Ev::C(GET), Ev::S(broken)]);
    assert!(o.exchanges[0].has_flag(Flag::DecodeFailed));
    assert_eq!(resp(&o.exchanges[0]).body.data, &b"nope"[..]);
}

#[test]
fn a_response_ends_at_its_last_body_byte() {
    // Events are stamped 1000, 2000, …: the body ends in the fourth.
    let o = check(&[
        Ev::C(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"),
        Ev::S(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nab"),
        Ev::S(b"cd"),
        Ev::S(b"ef"),
        Ev::C(b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n"),
        Ev::S(b"HTTP/1.1 204 No Content\r\n\r\n"),
        Ev::C(b"GET /c HTTP/1.1\r\nHost: x\r\n\r\n"),
        Ev::S(b"HTTP/1.0 200 OK\r\n\r\nuntil close"),
        Ev::Close(CloseReason::Fin),
    ]);
    let times = o.each(|e| (req(e).ts.0, resp(e).ts.0, resp(e).end_ts.0));
    assert_eq!(
        times,
        [(1000, 2000, 4000), (5000, 6000, 6000), (7000, 8000, 8000)]
    );
}
