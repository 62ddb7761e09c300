//! HTTP/2 abuse: header blocks that never end, HPACK bombs, stream floods.

use super::{Case, Input, Scale, pipeline_bytes};
use crate::conn::Conn;
use crate::run::Setup;
use crate::wire::Emit;
use proto_http::h2::frame::{FrameType, PREFACE, flags, write_frame};
use proto_http::hpack::encode;

pub(super) fn cases() -> Vec<Case> {
    let one = |s: &Setup| s.h2_conn_bytes() + pipeline_bytes(s);
    vec![
        Case {
            name: "continuation_flood",
            class: "h2",
            about: "HEADERS without END_HEADERS, then 1M CONTINUATION frames of 100 bytes (100 MB), then the close",
            input: Input::Packets(continuation_flood),
            shows: &["header_list_too_large"],
            heap: one,
            known: None,
        },
        Case {
            name: "hpack_bomb",
            class: "h2",
            about: "a 4 KiB field put in the dynamic table, then 100k requests that each name it 1000 times (4 MB decoded from 1 KB)",
            input: Input::Packets(hpack_bomb),
            shows: &["header_list_too_large"],
            heap: one,
            known: None,
        },
        Case {
            name: "hpack_size_update_flood",
            class: "h2",
            about: "20k header blocks of 1000 table size updates each, alternating 0 and 4 GiB",
            input: Input::Packets(size_update_flood),
            shows: &["parse_error", "malformed", "headers_unknown"],
            heap: one,
            known: None,
        },
        Case {
            name: "million_streams",
            class: "h2",
            about: "1M streams opened by HEADERS and never ended",
            input: Input::Packets(million_streams),
            shows: &["stream_limit"],
            heap: one,
            known: None,
        },
        Case {
            name: "rapid_reset",
            class: "h2",
            about: "1M streams, each HEADERS at once cancelled by RST_STREAM (CVE-2023-44487)",
            input: Input::Packets(rapid_reset),
            shows: &["reset"],
            heap: one,
            known: None,
        },
        Case {
            name: "control_frame_flood",
            class: "h2",
            about: "1M each of SETTINGS, PING, WINDOW_UPDATE and PRIORITY: no exchange, nothing held",
            input: Input::Packets(control_flood),
            shows: &[],
            heap: one,
            known: None,
        },
        Case {
            name: "data_flood_one_stream",
            class: "h2",
            about: "100 MB of DATA on one stream",
            input: Input::Packets(data_flood),
            shows: &["body_truncated", "stream_data_limit"],
            heap: one,
            known: None,
        },
        Case {
            name: "frame_length_lie",
            class: "h2",
            about: "a HEADERS frame header declaring 16 MB, then 6 KB and the close: what is counted is what arrived",
            input: Input::Packets(length_lie),
            shows: &["unparsed_bytes"],
            heap: one,
            known: None,
        },
        Case {
            name: "grpc_4gib_message",
            class: "h2",
            about: "a gRPC message whose prefix declares 4 GiB, then 10 MB",
            input: Input::Packets(grpc_huge),
            shows: &["malformed", "body_truncated", "stream_data_limit"],
            heap: one,
            known: None,
        },
        Case {
            name: "padding_longer_than_frame",
            class: "h2",
            about: "100k HEADERS and DATA frames whose pad length exceeds their payload",
            input: Input::Packets(bad_padding),
            shows: &["parse_error", "malformed"],
            heap: one,
            known: None,
        },
    ]
}

/// An h2c connection with prior knowledge: preface and SETTINGS each way.
fn h2(n: u32, e: &mut dyn Emit) -> Conn {
    let mut c = Conn::new(n, 8080, 0).with_mss(32 * 1024);
    c.handshake(e);
    let mut client = PREFACE.to_vec();
    write_frame(FrameType::Settings, 0, 0, &[], &mut client);
    c.client(e, &client);
    let mut server = Vec::new();
    write_frame(FrameType::Settings, 0, 0, &[], &mut server);
    c.server(e, &server);
    c
}

/// A GET's header block: static :method GET, :scheme http, :path /, and
/// a literal :authority, without indexing.
fn get_block(out: &mut Vec<u8>) {
    encode::indexed(2, out);
    encode::indexed(6, out);
    encode::indexed(4, out);
    encode::literal(Ok(1), b"h", encode::Indexing::Without, false, out);
}

/// Sends `frames` in pieces of about 32 KiB from one side.
fn flush(c: &mut Conn, e: &mut dyn Emit, client: bool, frames: &mut Vec<u8>) {
    if client {
        c.client(e, frames);
    } else {
        c.server(e, frames);
    }
    frames.clear();
}

fn continuation_flood(e: &mut dyn Emit, s: Scale) {
    let mut c = h2(1, e);
    let mut out = Vec::new();
    let mut block = Vec::new();
    get_block(&mut block);
    write_frame(FrameType::Headers, flags::END_STREAM, 1, &block, &mut out);
    let filler = [b'a'; 100];
    for i in 0..s.n(1_000_000) {
        write_frame(FrameType::Continuation, 0, 1, &filler, &mut out);
        if i % 300 == 299 {
            flush(&mut c, e, true, &mut out);
        }
    }
    flush(&mut c, e, true, &mut out);
    c.close(e);
}

fn hpack_bomb(e: &mut dyn Emit, s: Scale) {
    let mut c = h2(2, e);
    let (mut req, mut resp) = (Vec::new(), Vec::new());
    let mut block = Vec::new();
    get_block(&mut block);
    encode::literal(
        Err(b"x-bomb"),
        &[b'b'; 4000],
        encode::Indexing::Incremental,
        false,
        &mut block,
    );
    write_frame(
        FrameType::Headers,
        flags::END_STREAM | flags::END_HEADERS,
        1,
        &block,
        &mut req,
    );
    let mut bomb = Vec::new();
    get_block(&mut bomb);
    for _ in 0..1000 {
        encode::indexed(62, &mut bomb);
    }
    let mut ok = Vec::new();
    encode::indexed(8, &mut ok);
    for i in 0..s.n(100_000) as u32 {
        let stream = 3 + 2 * i;
        write_frame(
            FrameType::Headers,
            flags::END_STREAM | flags::END_HEADERS,
            stream,
            &bomb,
            &mut req,
        );
        write_frame(
            FrameType::Headers,
            flags::END_STREAM | flags::END_HEADERS,
            stream,
            &ok,
            &mut resp,
        );
        if req.len() > 30_000 {
            flush(&mut c, e, true, &mut req);
            flush(&mut c, e, false, &mut resp);
        }
    }
    flush(&mut c, e, true, &mut req);
    flush(&mut c, e, false, &mut resp);
    c.close(e);
}

fn size_update_flood(e: &mut dyn Emit, s: Scale) {
    let mut c = h2(3, e);
    let mut req = Vec::new();
    let mut block = Vec::new();
    for i in 0..1000 {
        encode::size_update(if i % 2 == 0 { 0 } else { 1 << 32 }, &mut block);
    }
    get_block(&mut block);
    for i in 0..s.n(20_000) as u32 {
        write_frame(
            FrameType::Headers,
            flags::END_STREAM | flags::END_HEADERS,
            1 + 2 * i,
            &block,
            &mut req,
        );
        if req.len() > 30_000 {
            flush(&mut c, e, true, &mut req);
        }
    }
    flush(&mut c, e, true, &mut req);
    c.close(e);
}

fn million_streams(e: &mut dyn Emit, s: Scale) {
    let mut c = h2(4, e);
    let mut block = Vec::new();
    get_block(&mut block);
    let mut req = Vec::new();
    for i in 0..s.n(1_000_000) as u32 {
        write_frame(
            FrameType::Headers,
            flags::END_HEADERS,
            1 + 2 * i,
            &block,
            &mut req,
        );
        if req.len() > 30_000 {
            flush(&mut c, e, true, &mut req);
        }
    }
    flush(&mut c, e, true, &mut req);
    c.close(e);
}

fn rapid_reset(e: &mut dyn Emit, s: Scale) {
    let mut c = h2(5, e);
    let mut block = Vec::new();
    get_block(&mut block);
    let mut req = Vec::new();
    for i in 0..s.n(1_000_000) as u32 {
        let stream = 1 + 2 * i;
        write_frame(
            FrameType::Headers,
            flags::END_HEADERS,
            stream,
            &block,
            &mut req,
        );
        write_frame(
            FrameType::RstStream,
            0,
            stream,
            &8u32.to_be_bytes(),
            &mut req,
        );
        if req.len() > 30_000 {
            flush(&mut c, e, true, &mut req);
        }
    }
    flush(&mut c, e, true, &mut req);
    c.close(e);
}

fn control_flood(e: &mut dyn Emit, s: Scale) {
    let mut c = h2(6, e);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for i in 0..s.n(1_000_000) as u32 {
        write_frame(FrameType::Settings, 0, 0, &[0, 4, 0, 1, 0, 0], &mut a);
        write_frame(FrameType::Ping, 0, 0, &[7; 8], &mut a);
        write_frame(FrameType::WindowUpdate, 0, 0, &1u32.to_be_bytes(), &mut b);
        write_frame(
            FrameType::Priority,
            0,
            1 + 2 * (i % 1000),
            &[0, 0, 0, 0, 16],
            &mut b,
        );
        if a.len() > 30_000 {
            flush(&mut c, e, true, &mut a);
            flush(&mut c, e, false, &mut b);
        }
    }
    flush(&mut c, e, true, &mut a);
    flush(&mut c, e, false, &mut b);
    c.close(e);
}

fn data_flood(e: &mut dyn Emit, s: Scale) {
    let mut c = h2(7, e);
    let mut block = Vec::new();
    get_block(&mut block);
    let mut req = Vec::new();
    write_frame(FrameType::Headers, flags::END_HEADERS, 1, &block, &mut req);
    flush(&mut c, e, true, &mut req);
    let data = [b'd'; 16_384];
    for _ in 0..s.n(6400) {
        write_frame(FrameType::Data, 0, 1, &data, &mut req);
        write_frame(FrameType::Data, 0, 1, &data, &mut req);
        flush(&mut c, e, true, &mut req);
    }
    c.close(e);
}

fn length_lie(e: &mut dyn Emit, _s: Scale) {
    let mut c = h2(8, e);
    let mut req = Vec::new();
    // A frame header declaring 2^24 - 1 bytes of HEADERS payload.
    req.extend_from_slice(&[0xff, 0xff, 0xff, 1, flags::END_HEADERS, 0, 0, 0, 1]);
    req.extend_from_slice(&[0x40; 6000]);
    flush(&mut c, e, true, &mut req);
    c.close(e);
}

fn grpc_huge(e: &mut dyn Emit, s: Scale) {
    let mut c = h2(9, e);
    let mut block = Vec::new();
    encode::indexed(3, &mut block);
    encode::indexed(6, &mut block);
    encode::literal(
        Ok(4),
        b"/svc/Method",
        encode::Indexing::Without,
        false,
        &mut block,
    );
    encode::literal(Ok(1), b"h", encode::Indexing::Without, false, &mut block);
    encode::literal(
        Ok(31),
        b"application/grpc",
        encode::Indexing::Without,
        false,
        &mut block,
    );
    let mut req = Vec::new();
    write_frame(FrameType::Headers, flags::END_HEADERS, 1, &block, &mut req);
    let mut first = vec![0u8, 0xff, 0xff, 0xff, 0xff];
    first.extend_from_slice(&[b'g'; 16_000]);
    write_frame(FrameType::Data, 0, 1, &first, &mut req);
    flush(&mut c, e, true, &mut req);
    let data = [b'g'; 16_384];
    for _ in 0..s.n(640) {
        write_frame(FrameType::Data, 0, 1, &data, &mut req);
        flush(&mut c, e, true, &mut req);
    }
    c.close(e);
}

fn bad_padding(e: &mut dyn Emit, s: Scale) {
    let mut c = h2(10, e);
    let mut block = Vec::new();
    get_block(&mut block);
    let mut req = Vec::new();
    for i in 0..s.n(100_000) as u32 {
        let stream = 1 + 2 * i;
        let mut padded = vec![255u8];
        padded.extend_from_slice(&block);
        write_frame(
            FrameType::Headers,
            flags::END_HEADERS | flags::PADDED,
            stream,
            &padded,
            &mut req,
        );
        write_frame(
            FrameType::Data,
            flags::PADDED | flags::END_STREAM,
            stream,
            &[200, 1, 2, 3],
            &mut req,
        );
        if req.len() > 30_000 {
            flush(&mut c, e, true, &mut req);
        }
    }
    flush(&mut c, e, true, &mut req);
    c.close(e);
}
