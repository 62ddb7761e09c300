//! Arbitrary bytes, cut at arbitrary points and sent in either direction,
//! with gaps and a close: the HTTP parser must not panic, hang or grow.
//!
//! Layout of the input: byte 0 holds options (bit 0: joined mid-stream,
//! bits 1-2: close reason, bit 3: tiny limits); byte 1 is the number `n` of
//! control bytes that follow; each control byte sends the next piece of
//! the data: bit 0 the direction, bit 1-2 the kind (3 = a gap instead of
//! data), bits 3-7 the piece length (0 = 1 byte, 31 = the rest).

#![no_main]

use capture_core::model::*;
use capture_core::stage::{Output, Parser, ParserFactory as _};
use capture_core::stats::Counters;
use libfuzzer_sys::fuzz_target;
use proto_http::{HttpConfig, HttpProtocol};

fuzz_target!(|input: &[u8]| {
    let Some((&options, rest)) = input.split_first() else {
        return;
    };
    let Some((&n, rest)) = rest.split_first() else {
        return;
    };
    let (controls, mut data) = rest.split_at(usize::from(n).min(rest.len()));
    let meta = ConnMeta::new(
        ConnKey::new(
            "10.0.0.1:40000".parse().unwrap(),
            "10.0.0.2:80".parse().unwrap(),
            NetnsId::UNKNOWN,
        ),
        CaptureSource::Pcap,
        Timestamp(0),
    )
    .joined_mid_stream(options & 1 != 0);
    let config = if options & 8 != 0 {
        HttpConfig {
            body_limit: 16,
            max_pending_requests: 2,
            max_header_bytes: 256,
            ..Default::default()
        }
    } else {
        HttpConfig::default()
    };
    let mut parser = HttpProtocol::new(config).parser(&meta);
    let counters = Counters::default();
    let mut exchanges = Vec::new();
    let mut out = Output::new(&mut exchanges, &counters);
    let mut ts = 0u64;
    for &c in controls.iter().chain(std::iter::repeat(&0xff)) {
        if data.is_empty() {
            break;
        }
        ts += 1;
        let dir = if c & 1 == 0 {
            Direction::ClientToServer
        } else {
            Direction::ServerToClient
        };
        let len = match c >> 3 {
            31 => data.len(),
            l => usize::from(l) + 1,
        }
        .min(data.len());
        if (c >> 1) & 3 == 3 {
            parser.gap(&meta, dir, Timestamp(ts), len as u64, &mut out);
            data = &data[len..];
            continue;
        }
        let (piece, next) = data.split_at(len);
        parser.data(&meta, dir, Timestamp(ts), piece, &mut out);
        data = next;
    }
    let reason = match (options >> 1) & 3 {
        0 => CloseReason::Fin,
        1 => CloseReason::Reset,
        2 => CloseReason::Timeout,
        _ => CloseReason::Shutdown,
    };
    parser.close(&meta, Timestamp(ts + 1), reason, &mut out);
    for ex in &exchanges {
        for body in ex
            .request
            .iter()
            .map(|r| &r.body)
            .chain(ex.response.iter().map(|r| &r.body))
        {
            assert!(body.data.len() <= 1 << 20, "a body grew past every limit");
        }
    }
});
