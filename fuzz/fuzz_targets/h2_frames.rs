//! HTTP/2 frame views and the whole H2Parser on arbitrary bytes: no panic,
//! bounded state.
#![no_main]

use capture_core::model::{
    CaptureSource, CloseReason, ConnKey, ConnMeta, Direction, NetnsId, Request, Roles, Timestamp,
};
use capture_core::stage::{Output, Parser};
use capture_core::stats::Counters;
use libfuzzer_sys::fuzz_target;
use proto_http::h2::frame::{self, Frame, FrameHeader};
use proto_http::h2::{H2Config, H2Parser};

fuzz_target!(|data: &[u8]| {
    // The frame views alone.
    for (header, payload) in frame::frames(data) {
        let _ = header.validate(frame::DEFAULT_MAX_FRAME_SIZE);
        if let Ok(Frame::Settings { params, .. }) = Frame::parse(&header, payload) {
            for _ in Frame::settings(params) {}
        }
    }
    if let Ok(h) = FrameHeader::parse(data) {
        let _ = (h.len(), h.frame_type(), h.flags(), h.stream_id());
    }
    let _ = H2Parser::looks_like_frames(data);

    // The whole parser: the first byte picks the start, then each control
    // byte gives a direction and a chunk length (or a gap).
    let Some((&mode, mut rest)) = data.split_first() else {
        return;
    };
    let meta = ConnMeta::new(
        ConnKey::new(
            "10.0.0.1:1".parse().unwrap(),
            "10.0.0.2:2".parse().unwrap(),
            NetnsId::UNKNOWN,
        ),
        CaptureSource::Pcap,
        Timestamp(0),
    )
    .joined_mid_stream(mode & 1 == 1);
    let config = H2Config {
        max_streams: 8,
        body_limit: 64,
        stream_data_limit: 100,
        max_header_block: 512,
        hpack_table_limit: 1024,
        ..Default::default()
    };
    let mut parser = match mode % 3 {
        0 => H2Parser::new(&config, &meta),
        1 => H2Parser::joined_mid_stream(&config, &meta),
        _ => {
            let client = if mode & 4 != 0 {
                Direction::ServerToClient
            } else {
                Direction::ClientToServer
            };
            H2Parser::after_upgrade(
                &config,
                &meta,
                Request::default(),
                Roles::client_sends(client),
            )
        }
    };
    let (mut exchanges, counters) = (Vec::new(), Counters::default());
    let mut ts = 0;
    while let Some((&ctl, r)) = rest.split_first() {
        ts += 1;
        let dir = if ctl & 1 == 0 {
            Direction::ClientToServer
        } else {
            Direction::ServerToClient
        };
        let mut out = Output::new(&mut exchanges, &counters);
        if ctl & 0xfe == 0xfe {
            parser.gap(&meta, dir, Timestamp(ts), 100, &mut out);
            rest = r;
            continue;
        }
        let n = usize::from(ctl >> 1).min(r.len());
        let (chunk, after) = r.split_at(n);
        parser.data(&meta, dir, Timestamp(ts), chunk, &mut out);
        assert!(parser.open_streams() <= config.max_streams);
        rest = after;
    }
    let mut out = Output::new(&mut exchanges, &counters);
    parser.close(&meta, Timestamp(ts), CloseReason::Fin, &mut out);
    assert_eq!(parser.open_streams(), 0);
    for ex in &exchanges {
        for body in [
            ex.request.as_ref().map(|r| &r.body),
            ex.response.as_ref().map(|r| &r.body),
        ]
        .into_iter()
        .flatten()
        {
            assert!(body.data.len() <= config.body_limit);
        }
    }
});
