//! Arbitrary bytes as a capture file: reader → packet decoder → TCP
//! reassembler. Nothing may panic, hang or grow without bound.
#![no_main]

use std::sync::Arc;

use backend_pcap::decode_packet;
use backend_pcap::file::Packets;
use capture_core::Limits;
use capture_core::model::{Input, NetnsId, Timestamp};
use capture_core::reassembly::TcpReassembler;
use capture_core::stage::Reassembler;
use capture_core::stats::Counters;
use capture_core::testkit::Tally;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(packets) = Packets::new(data) else {
        return;
    };
    let counters = Arc::new(Counters::default());
    let mut reassembler = TcpReassembler::new(Limits::default(), counters);
    let mut tally = Tally::default();
    let mut now = Timestamp(0);
    let mut items = 0usize;
    for item in packets {
        items += 1;
        assert!(items <= data.len() / 12 + 1, "the reader does not advance");
        let Ok(packet) = item else { continue };
        let Ok(segment) = decode_packet(packet.link, packet.ts, packet.data, NetnsId::UNKNOWN)
        else {
            continue;
        };
        assert!(segment.payload.len() <= packet.data.len());
        now = now.max(segment.ts);
        reassembler.push(Input::Segment(segment), &mut tally);
    }
    reassembler.flush(now, &mut tally);
    assert!(
        tally.bytes <= data.len() as u64,
        "more bytes delivered than captured"
    );
    assert_eq!(
        tally.opened, tally.closed,
        "every connection opened is closed by flush"
    );
    assert_eq!(reassembler.connections(), 0);
});
