//! Arbitrary bytes never panic the reader or the decoder, and the reader
//! always ends: as a whole file, behind a valid pcap or pcapng header, and
//! as a single packet of every link type.
#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

use backend_pcap::file::Packets;
use backend_pcap::{LinkType, decode_packet};
use capture_core::model::{NetnsId, Timestamp};
use proptest::prelude::*;

const LINKS: &[u16] = &[0, 1, 12, 14, 101, 108, 113, 228, 229, 239, 276, 147];

/// Reads every packet and decodes it; the number of items is bounded by
/// the file size (every record or block consumes bytes).
fn read_and_decode(bytes: &[u8]) -> usize {
    let Ok(packets) = Packets::new(bytes) else {
        return 0;
    };
    let mut items = 0;
    for item in packets {
        items += 1;
        assert!(items <= bytes.len() / 12 + 1, "reader does not advance");
        if let Ok(p) = item {
            assert!(p.data.len() <= bytes.len());
            if let Ok(seg) = decode_packet(p.link, p.ts, p.data, NetnsId::UNKNOWN) {
                assert!(seg.payload.len() <= p.data.len());
            }
        }
    }
    items
}

fn pcap_header(link: u16, nanos: bool, big: bool) -> Vec<u8> {
    let magic: u32 = if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
    let w32 = |x: u32| {
        if big {
            x.to_be_bytes()
        } else {
            x.to_le_bytes()
        }
    };
    let w16 = |x: u16| {
        if big {
            x.to_be_bytes()
        } else {
            x.to_le_bytes()
        }
    };
    [
        &w32(magic)[..],
        &w16(2),
        &w16(4),
        &w32(0),
        &w32(0),
        &w32(65535),
        &w32(u32::from(link)),
    ]
    .concat()
}

fn pcapng_header(link: u16, tsresol: u8) -> Vec<u8> {
    let mut v = Vec::new();
    // SHB: type, length 28, byte-order magic, version 1.0, section length -1, length.
    for w in [0x0A0D_0D0Au32, 28, 0x1A2B_3C4D, 1] {
        v.extend_from_slice(&w.to_le_bytes());
    }
    v.extend_from_slice(&u64::MAX.to_le_bytes());
    v.extend_from_slice(&28u32.to_le_bytes());
    // IDB with if_tsresol: length 28.
    for w in [1u32, 28] {
        v.extend_from_slice(&w.to_le_bytes());
    }
    v.extend_from_slice(&link.to_le_bytes());
    v.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    v.extend_from_slice(&[9, 0, 1, 0, tsresol, 0, 0, 0]);
    v.extend_from_slice(&28u32.to_le_bytes());
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_file(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        read_and_decode(&bytes);
    }

    #[test]
    fn arbitrary_records_behind_a_pcap_header(
        link in proptest::sample::select(LINKS),
        nanos in any::<bool>(),
        big in any::<bool>(),
        body in proptest::collection::vec(any::<u8>(), 0..2048),
    ) {
        let mut file = pcap_header(link, nanos, big);
        file.extend_from_slice(&body);
        read_and_decode(&file);
    }

    #[test]
    fn arbitrary_blocks_behind_a_pcapng_header(
        link in proptest::sample::select(LINKS),
        tsresol in any::<u8>(),
        body in proptest::collection::vec(any::<u8>(), 0..2048),
    ) {
        let mut file = pcapng_header(link, tsresol);
        file.extend_from_slice(&body);
        read_and_decode(&file);
    }

    /// Plausible records (lengths that fit) with arbitrary packet bytes,
    /// so that the decoder sees many whole packets.
    #[test]
    fn arbitrary_packets_in_valid_records(
        link in proptest::sample::select(LINKS),
        packets in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..20),
    ) {
        let mut file = pcap_header(link, false, false);
        for p in &packets {
            for w in [1u32, 2, p.len() as u32, p.len() as u32] {
                file.extend_from_slice(&w.to_le_bytes());
            }
            file.extend_from_slice(p);
        }
        prop_assert_eq!(read_and_decode(&file), packets.len());
    }

    /// Arbitrary bytes after a plausible link, IP and TCP prefix.
    #[test]
    fn arbitrary_packet_of_each_link_type(
        link in proptest::sample::select(LINKS),
        prefix in proptest::sample::select(vec![
            vec![],
            vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00],
            vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x88, 0xa8, 0, 1, 0x81, 0x00, 0, 2, 0x86, 0xdd],
            vec![2, 0, 0, 0],
            vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2],
            vec![0x60, 0, 0, 0, 0, 0, 0, 0],
        ]),
        rest in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut data = prefix;
        data.extend_from_slice(&rest);
        let _ = decode_packet(LinkType(link), Timestamp(0), &data, NetnsId::UNKNOWN);
    }
}
