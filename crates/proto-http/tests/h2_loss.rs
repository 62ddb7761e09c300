//! HTTP/2 loss is counted by what arrived: a header block abandoned at its
//! limit, at a gap or at the close is counted with the bytes of its frames,
//! and a frame skipped for its declared length counts the bytes that came,
//! not the length it declared.
#![allow(clippy::indexing_slicing)]

#[path = "h2_common.rs"]
mod h2_common;

use capture_core::model::*;
use capture_core::stats::DropReason;
use h2_common::*;
use proto_http::h2::H2Config;
use proto_http::h2::frame::{FrameType, flags};

/// A request's first HEADERS fragment without END_HEADERS (stream 1).
fn open_block() -> Vec<u8> {
    let block = block(&[(":method", "GET"), (":path", "/flood")]);
    frame(FrameType::Headers, flags::END_STREAM, 1, &block)
}

fn continuation(end: bool, fragment: &[u8]) -> Vec<u8> {
    let fl = if end { flags::END_HEADERS } else { 0 };
    frame(FrameType::Continuation, fl, 1, fragment)
}

#[test]
fn a_continuation_flood_is_counted_at_its_limit_and_every_frame_after() {
    let config = H2Config {
        max_header_block: 1024,
        ..Default::default()
    };
    let mut conn = Conn::with(config);
    conn.client(&preface());
    let mut flood = open_block();
    for _ in 0..10_000 {
        flood.extend(continuation(false, &[b'a'; 100]));
    }
    let sent = flood.len() as u64;
    // In pieces that cut frames anywhere, as segments do.
    for piece in flood.chunks(1400) {
        conn.client(piece);
    }
    assert_eq!(conn.drops(DropReason::HeaderListTooLarge), 1);
    assert_eq!(
        conn.drops(DropReason::UnparsedBytes),
        sent,
        "every byte of the block's frames, as they arrived"
    );
    conn.close(CloseReason::Fin);
    assert_eq!(conn.drops(DropReason::UnparsedBytes), sent);
    assert_eq!(
        conn.drops(DropReason::ParseError),
        0,
        "counted once, at the limit"
    );
    assert!(conn.exchanges.is_empty());
}

#[test]
fn a_block_that_ends_past_its_limit_loses_its_stream_and_nothing_else() {
    let config = H2Config {
        max_header_block: 64,
        ..Default::default()
    };
    let mut conn = Conn::with(config);
    let mut c = preface();
    let mut block_frames = open_block();
    block_frames.extend(continuation(false, &[b'a'; 60]));
    block_frames.extend(continuation(true, &[b'b'; 10]));
    c.extend(&block_frames);
    c.extend(get(3, "/next"));
    conn.client(&c);
    conn.server(&ok(3, true));
    assert_eq!(conn.drops(DropReason::HeaderListTooLarge), 1);
    assert_eq!(
        conn.drops(DropReason::UnparsedBytes),
        block_frames.len() as u64
    );
    assert_eq!(
        summary(conn.by_stream(3)),
        (3, "GET".into(), "/next".into(), 200)
    );
}

#[test]
fn a_block_abandoned_at_the_close_is_a_message_lost_with_its_bytes() {
    let mut conn = Conn::new();
    conn.client(&preface());
    let mut c = open_block();
    c.extend(continuation(false, b"\x82"));
    conn.client(&c);
    assert_eq!(conn.drops(DropReason::UnparsedBytes), 0, "still gathering");
    conn.close(CloseReason::Fin);
    assert_eq!(conn.drops(DropReason::ParseError), 1);
    assert_eq!(conn.drops(DropReason::UnparsedBytes), c.len() as u64);
}

#[test]
fn a_block_cut_by_a_gap_counts_its_bytes_and_the_stream_goes_on() {
    let mut conn = Conn::new();
    let mut c = preface();
    c.extend(get(1, "/before"));
    conn.client(&c);
    let mut cut = open_block();
    // The next frame's header and half its payload arrive, then bytes are lost.
    let next = continuation(true, &[b'x'; 20]);
    cut.extend_from_slice(&next[..19]);
    conn.client(&cut);
    conn.gap(C2S, 500);
    conn.client(&get(5, "/after"));
    let mut s = ok(1, true);
    s.extend(ok(5, true));
    conn.server(&s);
    assert_eq!(conn.drops(DropReason::UnparsedBytes), cut.len() as u64);
    assert_eq!(
        summary(conn.by_stream(5)),
        (5, "GET".into(), "/after".into(), 200)
    );
}

#[test]
fn a_frame_longer_than_allowed_counts_the_bytes_that_came() {
    let mut conn = Conn::new();
    conn.client(&preface());
    // The server's SETTINGS make the default 16 KiB limit known.
    conn.server(&settings(&[]));
    // A HEADERS header declaring 16 MB, then 6 KB and the close.
    let mut lie = vec![0xff, 0xff, 0xff, 1, flags::END_HEADERS, 0, 0, 0, 1];
    lie.extend_from_slice(&[0x40; 6000]);
    for piece in lie.chunks(1000) {
        conn.client(piece);
    }
    conn.close(CloseReason::Fin);
    assert_eq!(conn.drops(DropReason::ParseError), 1);
    assert_eq!(conn.drops(DropReason::UnparsedBytes), 9 + 6000);
}

#[test]
fn an_oversized_frame_counts_what_arrived_of_it() {
    let config = H2Config {
        max_header_block: 100,
        ..Default::default()
    };
    let mut conn = Conn::with(config);
    conn.client(&preface());
    // An unknown frame type larger than what is buffered, cut short by the close.
    let big = frame(FrameType::Unknown(0x42), 0, 0, &[7; 1000]);
    conn.client(&big[..600]);
    conn.close(CloseReason::Fin);
    assert_eq!(conn.drops(DropReason::UnparsedBytes), 600);
}

#[test]
fn a_frame_cut_off_by_the_close_counts_what_came() {
    let mut conn = Conn::new();
    conn.client(&preface());
    let settings = settings(&[(1, 4096), (3, 100), (4, 65535)]);
    conn.client(&settings[..12]);
    conn.close(CloseReason::Fin);
    assert_eq!(conn.drops(DropReason::UnparsedBytes), 12);
}
