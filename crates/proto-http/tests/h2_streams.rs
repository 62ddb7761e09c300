//! HTTP/2 stream rules on crafted frame sequences.
#![allow(clippy::indexing_slicing)]

#[path = "h2_common.rs"]
mod h2_common;

use capture_core::model::*;
use capture_core::stats::DropReason;
use h2_common::*;
use proto_http::h2::frame::{FrameType, flags};
use proto_http::h2::{H2Config, H2Parser};

fn simple_conversation() -> (Vec<u8>, Vec<u8>) {
    let mut c = preface();
    c.extend(headers(
        1,
        false,
        &[
            (":method", "POST"),
            (":scheme", "http"),
            (":path", "/upload"),
            (":authority", "svc"),
        ],
    ));
    c.extend(data(1, false, b"hello "));
    c.extend(data(1, true, b"world"));
    let mut s = settings(&[(4, 65535)]);
    s.extend(ok(1, false));
    s.extend(data(1, false, b"stored"));
    s.extend(data(1, true, b""));
    (c, s)
}

#[test]
fn request_and_response_become_one_exchange() {
    let (c, s) = simple_conversation();
    let mut conn = Conn::new();
    conn.client(&c);
    conn.server(&s);
    assert_eq!(conn.exchanges.len(), 1);
    let ex = &conn.exchanges[0];
    assert_eq!(ex.protocol, Protocol::H2);
    assert_eq!(summary(ex), (1, "POST".into(), "/upload".into(), 200));
    let req = ex.request.as_ref().unwrap();
    assert_eq!(req.authority().and_then(|v| v.as_str()), Some("svc"));
    assert_eq!(req.body.data, &b"hello world"[..]);
    assert_eq!(ex.response.as_ref().unwrap().body.data, &b"stored"[..]);
    assert_eq!(
        ex.response
            .as_ref()
            .unwrap()
            .header("content-type")
            .and_then(|v| v.as_str()),
        Some("text/plain")
    );
    assert!(ex.flags.is_empty(), "{:?}", ex.flags);
    assert_eq!(ex.conn.client.port(), 40000);
}

#[test]
fn any_segmentation_gives_the_same_exchange() {
    let (c, s) = simple_conversation();
    let mut whole = Conn::new();
    whole.client(&c);
    whole.server(&s);
    for cut in 1..c.len().max(s.len()) {
        let mut conn = Conn::new();
        for part in [&c[..cut.min(c.len())], &c[cut.min(c.len())..]] {
            conn.client(part);
        }
        for part in [&s[..cut.min(s.len())], &s[cut.min(s.len())..]] {
            conn.server(part);
        }
        assert_eq!(conn.exchanges.len(), 1, "cut {cut}");
        let (a, b) = (&conn.exchanges[0], &whole.exchanges[0]);
        let (ra, rb) = (a.response.as_ref().unwrap(), b.response.as_ref().unwrap());
        assert_eq!(summary(a), summary(b));
        assert_eq!(
            a.request.as_ref().unwrap().body,
            b.request.as_ref().unwrap().body
        );
        assert_eq!((&ra.headers(), &ra.body), (&rb.headers(), &rb.body));
    }
    let mut conn = Conn::new();
    for b in &c {
        conn.client(std::slice::from_ref(b));
    }
    for b in &s {
        conn.server(std::slice::from_ref(b));
    }
    assert_eq!(summary(&conn.exchanges[0]), summary(&whole.exchanges[0]));
}

#[test]
fn interleaved_streams_pair_by_id() {
    let mut conn = Conn::new();
    let mut c = preface();
    for (id, path) in [(1, "/a"), (3, "/b"), (5, "/c")] {
        c.extend(get(id, path));
    }
    conn.client(&c);
    let mut s = Vec::new();
    s.extend(headers(5, false, &[(":status", "404")]));
    s.extend(headers(1, false, &[(":status", "200")]));
    s.extend(data(5, false, b"no"));
    s.extend(data(1, false, b"a-"));
    s.extend(headers(3, true, &[(":status", "204")]));
    s.extend(data(1, true, b"body"));
    s.extend(data(5, true, b"pe"));
    conn.server(&s);
    let got: Vec<_> = conn.exchanges.iter().map(summary).collect();
    assert_eq!(
        got,
        [
            (3, "GET".into(), "/b".into(), 204),
            (1, "GET".into(), "/a".into(), 200),
            (5, "GET".into(), "/c".into(), 404)
        ]
    );
    assert_eq!(
        conn.by_stream(1).response.as_ref().unwrap().body.data,
        &b"a-body"[..]
    );
    assert_eq!(
        conn.by_stream(5).response.as_ref().unwrap().body.data,
        &b"nope"[..]
    );
}

#[test]
fn continuation_padding_and_priority() {
    let mut conn = Conn::new();
    let blk = block(&[
        (":method", "GET"),
        (":scheme", "https"),
        (":path", "/long/path"),
        ("x-a", "1"),
        ("x-b", "2"),
    ]);
    let (a, rest) = blk.split_at(7);
    let (b, c) = rest.split_at(9);
    // HEADERS with PADDED and PRIORITY: pad length, 5 priority bytes, fragment, padding.
    let mut p = vec![3u8, 0x80, 0, 0, 0, 15];
    p.extend_from_slice(a);
    p.extend_from_slice(&[0, 0, 0]);
    let mut bytes = preface();
    bytes.extend(frame(
        FrameType::Headers,
        flags::END_STREAM | flags::PADDED | flags::PRIORITY,
        1,
        &p,
    ));
    bytes.extend(frame(FrameType::Continuation, 0, 1, b));
    bytes.extend(frame(FrameType::Continuation, flags::END_HEADERS, 1, c));
    conn.client(&bytes);
    // Padded DATA.
    let mut d = vec![4u8];
    d.extend_from_slice(b"data!");
    d.extend_from_slice(&[0; 4]);
    let mut s = ok(1, false);
    s.extend(frame(
        FrameType::Data,
        flags::END_STREAM | flags::PADDED,
        1,
        &d,
    ));
    conn.server(&s);
    let ex = &conn.exchanges[0];
    assert_eq!(summary(ex), (1, "GET".into(), "/long/path".into(), 200));
    let req = ex.request.as_ref().unwrap();
    assert_eq!(req.header("x-b").and_then(|v| v.as_str()), Some("2"));
    assert_eq!(ex.response.as_ref().unwrap().body.data, &b"data!"[..]);
    assert_eq!(conn.drops(DropReason::ParseError), 0);
}

#[test]
fn interrupted_header_block_is_an_error() {
    let mut conn = Conn::new();
    let blk = block(&[(":method", "GET"), (":path", "/x")]);
    let mut bytes = preface();
    bytes.extend(frame(FrameType::Headers, flags::END_STREAM, 1, &blk[..3]));
    bytes.extend(data(3, false, b"intruder"));
    conn.client(&bytes);
    assert!(conn.drops(DropReason::ParseError) >= 1);
    // The connection goes on: a later stream is still decoded.
    conn.client(&get(5, "/after"));
    conn.server(&ok(5, true));
    assert_eq!(
        summary(conn.by_stream(5)),
        (5, "GET".into(), "/after".into(), 200)
    );
}

#[test]
fn trailers_on_both_sides() {
    let mut conn = Conn::new();
    let mut c = preface();
    c.extend(headers(1, false, &[(":method", "POST"), (":path", "/t")]));
    c.extend(data(1, false, b"x"));
    c.extend(headers(1, true, &[("x-checksum", "abc")]));
    conn.client(&c);
    let mut s = ok(1, false);
    s.extend(data(1, false, b"y"));
    s.extend(headers(1, true, &[("x-status", "done")]));
    conn.server(&s);
    let ex = &conn.exchanges[0];
    assert_eq!(
        ex.request.as_ref().unwrap().trailers,
        Headers::from_pairs([("x-checksum", "abc")])
    );
    assert_eq!(
        ex.response.as_ref().unwrap().trailers,
        Headers::from_pairs([("x-status", "done")])
    );
    assert_eq!(ex.response.as_ref().unwrap().status, 200);
}

#[test]
fn informational_response_is_replaced_by_the_final_one() {
    let mut conn = Conn::new();
    let mut c = preface();
    c.extend(headers(
        1,
        true,
        &[
            (":method", "PUT"),
            (":path", "/c"),
            ("expect", "100-continue"),
        ],
    ));
    conn.client(&c);
    let mut s = headers(1, false, &[(":status", "100")]);
    s.extend(headers(1, true, &[(":status", "201")]));
    conn.server(&s);
    assert_eq!(conn.exchanges.len(), 1);
    assert_eq!(conn.exchanges[0].response.as_ref().unwrap().status, 201);
}

#[test]
fn rst_stream_emits_a_reset_exchange() {
    let mut conn = Conn::new();
    let mut c = preface();
    c.extend(get(1, "/slow"));
    c.extend(get(3, "/fast"));
    conn.client(&c);
    conn.client(&rst(1, 8)); // CANCEL
    assert_eq!(conn.exchanges.len(), 1);
    let ex = conn.by_stream(1);
    assert!(ex.has_flag(Flag::Reset) && ex.has_flag(Flag::NoResponse));
    // Late frames of the reset stream are ignored, others go on.
    let mut s = ok(1, true);
    s.extend(ok(3, true));
    conn.server(&s);
    assert_eq!(conn.exchanges.len(), 2);
    assert!(conn.by_stream(3).flags.is_empty());
    // RST_STREAM(NO_ERROR) after a complete response is not a reset.
    let mut c = headers(5, false, &[(":method", "POST"), (":path", "/early")]);
    c.extend(data(5, false, b"partial"));
    conn.client(&c);
    let mut s = ok(5, true);
    s.extend(rst(5, 0));
    conn.server(&s);
    let ex = conn.by_stream(5);
    assert_eq!(ex.response.as_ref().unwrap().status, 200);
    assert!(!ex.has_flag(Flag::Reset), "{:?}", ex.flags);
}

#[test]
fn goaway_closes_streams_above_last_stream_id() {
    let mut conn = Conn::new();
    let mut c = preface();
    for (id, p) in [(1, "/1"), (3, "/3"), (5, "/5"), (7, "/7")] {
        c.extend(get(id, p));
    }
    conn.client(&c);
    conn.server(&goaway(3, 0));
    let mut closed: Vec<_> = conn
        .exchanges
        .iter()
        .map(|e| e.stream_id.unwrap())
        .collect();
    closed.sort();
    assert_eq!(closed, [5, 7]);
    assert!(conn.exchanges.iter().all(|e| e.has_flag(Flag::Reset)));
    let mut s = ok(1, true);
    s.extend(ok(3, true));
    conn.server(&s);
    assert_eq!(conn.exchanges.len(), 4);
    assert!(conn.by_stream(3).flags.is_empty());
}

#[test]
fn server_push_gives_one_exchange_per_pushed_stream() {
    let mut conn = Conn::new();
    let mut c = preface();
    c.extend(get(1, "/index.html"));
    conn.client(&c);
    let mut pp = 2u32.to_be_bytes().to_vec();
    pp.extend(block(&[
        (":method", "GET"),
        (":scheme", "http"),
        (":path", "/style.css"),
        (":authority", "svc"),
    ]));
    let mut s = frame(FrameType::PushPromise, flags::END_HEADERS, 1, &pp);
    s.extend(ok(1, false));
    s.extend(headers(
        2,
        false,
        &[(":status", "200"), ("content-type", "text/css")],
    ));
    s.extend(data(1, true, b"<html>"));
    s.extend(data(2, true, b"body{}"));
    conn.server(&s);
    assert_eq!(conn.exchanges.len(), 2);
    let pushed = conn.by_stream(2);
    assert_eq!(summary(pushed), (2, "GET".into(), "/style.css".into(), 200));
    assert_eq!(pushed.response.as_ref().unwrap().body.data, &b"body{}"[..]);
    assert_eq!(
        conn.by_stream(1).response.as_ref().unwrap().body.data,
        &b"<html>"[..]
    );
}

#[test]
fn h2c_upgrade_request_becomes_stream_1() {
    let meta = meta(false);
    let req = Request::builder("GET", "/up")
        .authority("svc")
        .header("Host", "svc")
        .header("Upgrade", "h2c")
        .build(Timestamp(1));
    let mut conn = Conn::from_parser(
        H2Parser::after_upgrade(&H2Config::default(), &meta, req, Roles::CONFIRMED),
        meta,
    );
    conn.client(&preface());
    let mut s = settings(&[]);
    s.extend(ok(1, false));
    s.extend(data(1, true, b"upgraded"));
    conn.server(&s);
    let mut c = get(3, "/next");
    c.extend(settings(&[]));
    conn.client(&c);
    conn.server(&ok(3, true));
    assert_eq!(conn.exchanges.len(), 2);
    let ex = conn.by_stream(1);
    assert_eq!(summary(ex), (1, "GET".into(), "/up".into(), 200));
    assert_eq!(ex.response.as_ref().unwrap().body.data, &b"upgraded"[..]);
    assert_eq!(
        summary(conn.by_stream(3)),
        (3, "GET".into(), "/next".into(), 200)
    );
}

#[test]
fn preface_tells_which_side_is_the_client() {
    // The source oriented the key the wrong way round: the preface comes "from the server".
    let mut conn = Conn::new();
    let mut c = preface();
    c.extend(get(1, "/x"));
    conn.send(S2C, &c);
    conn.send(C2S, &ok(1, true));
    let ex = &conn.exchanges[0];
    assert_eq!(summary(ex), (1, "GET".into(), "/x".into(), 200));
    assert_eq!(ex.conn.client.port(), 8080, "endpoints swapped");
}

#[test]
fn oversized_frame_is_counted_and_skipped() {
    let mut conn = Conn::new();
    conn.server(&settings(&[])); // the server accepts the default 16384
    let mut c = preface();
    c.extend(headers(1, false, &[(":method", "POST"), (":path", "/big")]));
    c.extend(data(1, false, &vec![b'x'; 20_000]));
    c.extend(data(1, true, b"tail"));
    conn.client(&c);
    conn.server(&ok(1, true));
    assert_eq!(conn.drops(DropReason::ParseError), 1);
    let ex = conn.by_stream(1);
    assert_eq!(ex.request.as_ref().unwrap().body.data, &b"tail"[..]);
    // The peer raising the limit makes such frames legal.
    let mut conn = Conn::new();
    conn.server(&settings(&[(5, 1 << 20)]));
    conn.client(&c);
    conn.server(&ok(1, true));
    assert_eq!(conn.drops(DropReason::ParseError), 0);
    assert_eq!(
        conn.by_stream(1).request.as_ref().unwrap().body.size,
        20_004
    );
}

#[test]
fn limits_are_counted() {
    let config = H2Config {
        max_streams: 2,
        body_limit: 4,
        stream_data_limit: 6,
        max_header_list_size: 100,
        ..Default::default()
    };
    let mut conn = Conn::with(config);
    let mut c = preface();
    c.extend(get(1, "/1"));
    c.extend(get(3, "/3"));
    c.extend(get(5, "/5"));
    conn.client(&c);
    assert_eq!(conn.drops(DropReason::StreamLimit), 1);
    let mut s = headers(1, false, &[(":status", "200"), ("x-big", &"v".repeat(200))]);
    s.extend(data(1, true, b"0123456789"));
    s.extend(ok(3, false));
    s.extend(data(3, true, b"ab"));
    conn.server(&s);
    let ex = conn.by_stream(1);
    let resp = ex.response.as_ref().unwrap();
    assert_eq!(
        (&resp.body.data[..], resp.body.size, resp.body.truncated),
        (&b"0123"[..], 10, true)
    );
    assert!(resp.headers().is_empty());
    assert!(ex.has_flag(Flag::Malformed));
    assert_eq!(conn.drops(DropReason::HeaderListTooLarge), 1);
    assert_eq!(conn.drops(DropReason::BodyTruncated), 6);
    assert_eq!(conn.exchanges.len(), 2);

    // Request and response bodies share the per-stream budget.
    let config = H2Config {
        body_limit: 100,
        stream_data_limit: 6,
        ..Default::default()
    };
    let mut conn = Conn::with(config);
    let mut c = preface();
    c.extend(headers(1, false, &[(":method", "POST"), (":path", "/")]));
    c.extend(data(1, true, b"abcd"));
    conn.client(&c);
    let mut s = ok(1, false);
    s.extend(data(1, true, b"efgh"));
    conn.server(&s);
    let ex = &conn.exchanges[0];
    assert_eq!(ex.response.as_ref().unwrap().body.data, &b"ef"[..]);
    assert_eq!(conn.drops(DropReason::StreamDataLimit), 2);
}

#[test]
fn close_flushes_pending_streams() {
    let mut conn = Conn::new();
    let mut c = preface();
    c.extend(get(1, "/never"));
    conn.client(&c);
    conn.close(CloseReason::Fin);
    let ex = &conn.exchanges[0];
    assert!(ex.has_flag(Flag::NoResponse));
    let mut conn = Conn::new();
    conn.client(&c);
    conn.close(CloseReason::Timeout);
    assert!(conn.exchanges[0].has_flag(Flag::Incomplete));
}

#[test]
fn gap_flags_open_streams_and_resynchronises() {
    let mut conn = Conn::new();
    let mut c = preface();
    c.extend(headers(1, false, &[(":method", "POST"), (":path", "/g")]));
    c.extend(data(1, false, b"part"));
    conn.client(&c);
    conn.gap(C2S, 100);
    conn.client(&[0xde, 0xad]); // garbage: the middle of a frame
    conn.client(&data(1, true, b"end"));
    conn.client(&get(3, "/after-gap"));
    let mut s = ok(1, true);
    s.extend(ok(3, true));
    conn.server(&s);
    assert!(conn.by_stream(1).has_flag(Flag::Gap));
    assert_eq!(
        summary(conn.by_stream(3)),
        (3, "GET".into(), "/after-gap".into(), 200)
    );
    assert!(!conn.by_stream(3).has_flag(Flag::Gap));
    assert_eq!(conn.drops(DropReason::UnparsedBytes), 2);
}

#[test]
fn joined_mid_stream_finds_frames_and_roles() {
    let mut conn = Conn::mid_stream(H2Config::default());
    // The first bytes seen are the tail of a DATA frame, then whole frames.
    let mut s = vec![1, 2, 3];
    s.extend(data(1, true, b"tail of an old response"));
    conn.server(&s);
    // Server bytes (SETTINGS ack) before any request: roles unknown until a decisive block.
    conn.server(&frame(FrameType::Settings, flags::ACK, 0, &[]));
    conn.server(&headers(3, true, &[(":status", "500")]));
    conn.client(&get(5, "/fresh"));
    conn.server(&ok(5, true));
    let ex = conn.by_stream(5);
    assert_eq!(summary(ex), (5, "GET".into(), "/fresh".into(), 200));
    assert!(ex.has_flag(Flag::MidStream));
    let old = conn.by_stream(3);
    assert!(old.has_flag(Flag::NoRequest));
    assert_eq!(old.response.as_ref().unwrap().status, 500);
    assert!(H2Parser::looks_like_frames(&settings(&[(1, 4096)])));
    assert!(!H2Parser::looks_like_frames(
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    ));
    assert!(!H2Parser::looks_like_frames(&[
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc
    ]));
}

#[test]
fn arbitrary_bytes_never_panic() {
    let mut seed = 0x1234_5678_u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..300 {
        let mut conn = if round % 2 == 0 {
            Conn::new()
        } else {
            Conn::mid_stream(H2Config::default())
        };
        let mut bytes = preface();
        for _ in 0..40 {
            let len = (next() % 40) as usize;
            let ty = (next() % 11) as u8;
            let fl = (next() % 256) as u8;
            let sid = (next() % 8) as u32;
            let payload: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            bytes.extend(frame(FrameType::from_u8(ty), fl, sid, &payload));
        }
        let cut = (next() as usize) % bytes.len();
        conn.client(&bytes[..cut]);
        conn.server(&bytes[cut..]);
        conn.gap(S2C, 10);
        conn.client(&bytes[cut..]);
        conn.close(CloseReason::Shutdown);
        assert_eq!(conn.parser.open_streams(), 0);
    }
}

#[test]
fn mid_stream_join_reports_unseen_table_entries_as_unknown() {
    use proto_http::hpack::encode::{self, Indexing};
    // Request 1 inserts `:authority` and `x-tenant` into the client's table;
    // request 2 refers to both and inserts `x-trace`; request 3 refers to it.
    let mut b1 = Vec::new();
    encode::indexed(2, &mut b1);
    encode::indexed(4, &mut b1);
    encode::literal(Ok(1), b"svc", Indexing::Incremental, true, &mut b1);
    encode::literal(
        Err(b"x-tenant"),
        b"acme",
        Indexing::Incremental,
        true,
        &mut b1,
    );
    let mut b2 = Vec::new();
    encode::indexed(2, &mut b2);
    encode::literal(Ok(4), b"/two", Indexing::Without, true, &mut b2);
    encode::indexed(63, &mut b2); // :authority: svc
    encode::indexed(62, &mut b2); // x-tenant: acme
    encode::literal(
        Err(b"x-trace"),
        b"t2",
        Indexing::Incremental,
        false,
        &mut b2,
    );
    let mut b3 = Vec::new();
    encode::indexed(3, &mut b3);
    encode::literal(Ok(4), b"/three", Indexing::Without, false, &mut b3);
    encode::indexed(62, &mut b3); // x-trace: t2 (seen)
    encode::indexed(63, &mut b3); // x-tenant: acme (unseen)
    let f1 = frame(
        FrameType::Headers,
        flags::END_HEADERS | flags::END_STREAM,
        1,
        &b1,
    );
    let f2 = frame(
        FrameType::Headers,
        flags::END_HEADERS | flags::END_STREAM,
        3,
        &b2,
    );
    let f3 = frame(
        FrameType::Headers,
        flags::END_HEADERS | flags::END_STREAM,
        5,
        &b3,
    );

    let mut conn = Conn::mid_stream(H2Config::default());
    let _ = f1; // inserted before the capture began
    conn.client(&f2);
    conn.client(&f3);
    let mut s = ok(3, true);
    s.extend(ok(5, true));
    conn.server(&s);
    let two = conn.by_stream(3);
    let req = two.request.as_ref().unwrap();
    assert_eq!(
        (req.method().as_str().unwrap(), req.path().as_str().unwrap()),
        ("GET", "/two")
    );
    assert_eq!(req.authority(), None, "unknown, not guessed");
    assert_eq!(*req.headers(), Headers::from_pairs([("x-trace", "t2")]));
    assert!(two.has_flag(Flag::HeadersUnknown) && two.has_flag(Flag::MidStream));
    let three = conn.by_stream(5);
    let req = three.request.as_ref().unwrap();
    assert_eq!(
        (req.method().as_str().unwrap(), req.path().as_str().unwrap()),
        ("POST", "/three")
    );
    assert_eq!(*req.headers(), Headers::from_pairs([("x-trace", "t2")]));
    assert!(three.has_flag(Flag::HeadersUnknown));
    assert_eq!(conn.drops(DropReason::HpackUnknownReference), 3);

    // The same frames seen from the start decode completely.
    let mut conn = Conn::new();
    let mut c = preface();
    c.extend(f1);
    c.extend(f2);
    c.extend(f3);
    conn.client(&c);
    let mut s = ok(1, true);
    s.extend(ok(3, true));
    s.extend(ok(5, true));
    conn.server(&s);
    let req = conn.by_stream(5).request.clone().unwrap();
    assert_eq!(
        *req.headers(),
        Headers::from_pairs([("x-trace", "t2"), ("x-tenant", "acme")])
    );
    assert!(conn.exchanges.iter().all(|e| e.flags.is_empty()));
}

#[test]
fn endless_trailer_blocks_are_bounded() {
    let mut conn = Conn::new();
    let mut c = preface();
    c.extend(headers(1, false, &[(":method", "POST"), (":path", "/t")]));
    let big = "v".repeat(1000);
    for _ in 0..200 {
        c.extend(headers(1, false, &[("x-trailer", &big)]));
    }
    c.extend(data(1, true, b""));
    conn.client(&c);
    conn.server(&ok(1, true));
    let ex = conn.by_stream(1);
    let kept: usize = ex
        .request
        .as_ref()
        .unwrap()
        .trailers
        .iter()
        .map(|h| h.value().len())
        .sum();
    assert!(kept <= 64 * 1024, "{kept} trailer bytes kept");
    assert!(ex.has_flag(Flag::Malformed));
}

#[test]
fn a_response_ends_with_its_end_stream_frame() {
    let (c, s) = simple_conversation();
    let mut conn = Conn::new();
    conn.client(&c); // ts 1
    let (head, rest) = s.split_at(s.len() - 9 - 6 - 9); // settings + HEADERS | DATA "stored" | DATA END_STREAM
    conn.server(head); // ts 2
    conn.server(&rest[..15]); // ts 3
    assert!(conn.exchanges.is_empty());
    conn.server(&rest[15..]); // ts 4: END_STREAM
    let resp = conn.exchanges[0].response.as_ref().unwrap();
    assert_eq!((resp.ts, resp.end_ts), (Timestamp(2), Timestamp(4)));
    assert_eq!(resp.body.data, &b"stored"[..]);
}
