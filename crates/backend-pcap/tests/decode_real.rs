//! Real captures of every link type, decoded and compared with tshark's
//! reading of the same files: other projects' captures in
//! `../shared/pcaps/` (the tests skip, saying so, when it is absent) and
//! the one recorded here in testdata/.
//!
//! The expected figures were obtained once with TShark 4.0.17 by
//!
//! ```text
//! tshark -r F -Y tcp -T fields -E separator='|' -e frame.time_epoch \
//!     -e ip.src -e ipv6.src -e tcp.srcport -e ip.dst -e ipv6.dst -e tcp.dstport \
//!     -e tcp.seq_raw -e tcp.ack_raw -e tcp.flags -e tcp.len
//! ```
//!
//! and summarised per file: the number of TCP packets, the sum of `tcp.len`,
//! the first segment, the time of the last one, and the first segment with
//! the largest payload (its index among the TCP segments). For tunnelled
//! packets (VXLAN) the inner addresses are the ones compared.
#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use backend_pcap::{CaptureFile, FileSource, LinkType, decode_packet};
use capture_core::DropReason;
use capture_core::model::{Input, NetnsId};
use capture_core::stage::{Poll, Source};
use capture_core::stats::Counters;
use capture_core::testkit::{SharedFiles, bundled};

/// One TCP segment as tshark prints it: time (ns), source, destination,
/// raw sequence and acknowledgment numbers, flags (low 5 bits), payload length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Row {
    ts: u64,
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    ack: u32,
    flags: u8,
    len: usize,
}

struct Truth {
    file: &'static str,
    link: LinkType,
    packets: u64,
    tcp: usize,
    payload_bytes: usize,
    first: Row,
    last_ts: u64,
    biggest_index: usize,
    biggest: Row,
}

fn row(
    ts: u64,
    src: (&str, u16),
    dst: (&str, u16),
    seq: u32,
    ack: u32,
    flags: u8,
    len: usize,
) -> Row {
    let addr = |(ip, port): (&str, u16)| SocketAddr::new(ip.parse::<IpAddr>().unwrap(), port);
    Row {
        ts,
        src: addr(src),
        dst: addr(dst),
        seq,
        ack,
        flags,
        len,
    }
}

/// A capture bundled in testdata/, or else one of `../shared/pcaps/`;
/// `None` (the skip printed) when it is in neither.
fn capture(test: &str, name: &str) -> Option<PathBuf> {
    let here = bundled(name);
    if here.exists() {
        return Some(here);
    }
    SharedFiles::pcap_or_skip(test, name)
}

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH_ACK: u8 = 0x18;

fn truths() -> Vec<Truth> {
    vec![
        Truth {
            file: "http-vlan-0.pcap", // Ethernet + 802.1Q
            link: LinkType::ETHERNET,
            packets: 14,
            tcp: 14,
            payload_bytes: 5143,
            first: row(
                1362692526869344000,
                ("141.142.228.5", 59856),
                ("192.150.187.43", 80),
                4263588410,
                0,
                SYN,
                0,
            ),
            last_ts: 1362692527080972000,
            biggest_index: 5,
            biggest: row(
                1362692527009512000,
                ("192.150.187.43", 80),
                ("141.142.228.5", 59856),
                2779762239,
                4263588547,
                ACK,
                1448,
            ),
        },
        Truth {
            file: "websocket-ping__input.pcap", // Linux cooked v1
            link: LinkType::LINUX_SLL,
            packets: 19,
            tcp: 19,
            payload_bytes: 381,
            first: row(
                1394016340965052000,
                ("127.0.0.1", 55371),
                ("127.0.0.1", 10301),
                1326362267,
                0,
                SYN,
                0,
            ),
            last_ts: 1394016342845811000,
            biggest_index: 3,
            biggest: row(
                1394016340965436000,
                ("127.0.0.1", 55371),
                ("127.0.0.1", 10301),
                1326362268,
                963777669,
                PSH_ACK,
                241,
            ),
        },
        Truth {
            file: "decode-sll2-01__input.pcap", // Linux cooked v2
            link: LinkType::LINUX_SLL2,
            packets: 5,
            tcp: 5,
            payload_bytes: 82,
            first: row(
                1736381483613927000,
                ("192.168.1.253", 56478),
                ("192.168.1.21", 80),
                2332771219,
                0,
                SYN,
                0,
            ),
            last_ts: 1736381483615602000,
            biggest_index: 3,
            biggest: row(
                1736381483615043000,
                ("192.168.1.253", 56478),
                ("192.168.1.21", 80),
                2332771220,
                845479109,
                PSH_ACK,
                82,
            ),
        },
        Truth {
            file: "http-ipv6__input.pcap", // BSD null, IPv6
            link: LinkType::NULL,
            packets: 14,
            tcp: 14,
            payload_bytes: 791,
            first: row(
                1626868686228067000,
                ("::1", 55717),
                ("::1", 8000),
                296797504,
                0,
                SYN,
                0,
            ),
            last_ts: 1626868686231513000,
            biggest_index: 8,
            biggest: row(
                1626868686231293000,
                ("::1", 8000),
                ("::1", 55717),
                2637652914,
                296797579,
                PSH_ACK,
                563,
            ),
        },
        Truth {
            file: "connect-with-header.pcap", // BSD null, IPv6
            link: LinkType::NULL,
            packets: 58,
            tcp: 58,
            payload_bytes: 59143,
            first: row(
                1443732977727740000,
                ("::1", 52522),
                ("::1", 80),
                1321751229,
                0,
                SYN,
                0,
            ),
            last_ts: 1443732978418981000,
            biggest_index: 26,
            biggest: row(
                1443732978238323000,
                ("::1", 80),
                ("::1", 52522),
                2788587145,
                1321754874,
                PSH_ACK,
                8192,
            ),
        },
        Truth {
            file: "grpc_Unary.pcapng", // pcapng, null, IPv4 and IPv6, 12 UDP packets
            link: LinkType::NULL,
            packets: 4318,
            tcp: 4306,
            payload_bytes: 52447,
            first: row(
                1672043390251748000,
                ("127.0.0.1", 3220),
                ("127.0.0.1", 64449),
                3227482033,
                2267204642,
                PSH_ACK,
                24,
            ),
            last_ts: 1672045509242536000,
            biggest_index: 36,
            biggest: row(
                1672043401017474000,
                ("::1", 65094),
                ("::1", 50051),
                887947328,
                3977936522,
                PSH_ACK,
                100,
            ),
        },
        Truth {
            file: "http-chunked-ssl.pcapng", // pcapng, Ethernet, nanosecond resolution
            link: LinkType::ETHERNET,
            packets: 54,
            tcp: 54,
            payload_bytes: 37487,
            first: row(
                1427210628146561067,
                ("10.9.0.2", 50177),
                ("178.21.112.251", 443),
                329493824,
                0,
                SYN,
                0,
            ),
            last_ts: 1427210628344878866,
            biggest_index: 5,
            biggest: row(
                1427210628238138696,
                ("178.21.112.251", 443),
                ("10.9.0.2", 50177),
                481060156,
                329494342,
                ACK,
                2896,
            ),
        },
        Truth {
            file: "http2-16-ssl.pcapng", // pcapng, Ethernet, IPv6 and IPv4 loopback
            link: LinkType::ETHERNET,
            packets: 24,
            tcp: 24,
            payload_bytes: 2131,
            first: row(
                1423310436845960084,
                ("::1", 54751),
                ("::1", 443),
                3705557102,
                0,
                SYN,
                0,
            ),
            last_ts: 1423310436890592493,
            biggest_index: 7,
            biggest: row(
                1423310436848020094,
                ("127.0.0.1", 443),
                ("127.0.0.1", 60883),
                2033999539,
                3684036468,
                PSH_ACK,
                851,
            ),
        },
        Truth {
            file: "1000-requests-one-dropped-response.pcap", // Ethernet, IPv6
            link: LinkType::ETHERNET,
            packets: 4102,
            tcp: 4102,
            payload_bytes: 996757,
            first: row(
                1692957822217493000,
                ("::1", 44730),
                ("::1", 80),
                2119750198,
                0,
                SYN,
                0,
            ),
            last_ts: 1692957822840777000,
            biggest_index: 6,
            biggest: row(
                1692957822217706000,
                ("::1", 80),
                ("::1", 44730),
                97217011,
                2119750343,
                PSH_ACK,
                615,
            ),
        },
        Truth {
            file: "nflog-http.pcap", // NFLOG
            link: LinkType::NFLOG,
            packets: 13,
            tcp: 13,
            payload_bytes: 1682,
            first: row(
                1470574779148133000,
                ("10.0.2.15", 49762),
                ("93.184.216.34", 80),
                1060289233,
                0,
                SYN,
                0,
            ),
            last_ts: 1470574780138288000,
            biggest_index: 7,
            biggest: row(
                1470574779148133000,
                ("93.184.216.34", 80),
                ("10.0.2.15", 49762),
                1131904002,
                1060289313,
                PSH_ACK,
                1603,
            ),
        },
        Truth {
            file: "vxlan-encapsulated-http.pcap", // Ethernet, VXLAN around Ethernet
            link: LinkType::ETHERNET,
            packets: 12,
            tcp: 12,
            payload_bytes: 9299,
            first: row(
                1630165473690298000,
                ("172.16.11.201", 40354),
                ("54.86.237.188", 80),
                1521476008,
                0,
                SYN,
                0,
            ),
            last_ts: 1630165474317388000,
            biggest_index: 7,
            biggest: row(
                1630165474112640000,
                ("54.86.237.188", 80),
                ("172.16.11.201", 40354),
                2518538754,
                1521476096,
                PSH_ACK,
                8984,
            ),
        },
    ]
}

#[test]
fn segments_match_tshark() {
    for t in truths() {
        let Some(path) = capture("segments_match_tshark", t.file) else {
            return;
        };
        let file = CaptureFile::open(path).unwrap();
        let mut rows = Vec::new();
        let mut drops = BTreeMap::new();
        let mut packets = 0;
        for p in file.packets() {
            let p = p.unwrap_or_else(|c| panic!("{}: {c}", t.file));
            packets += 1;
            assert_eq!(p.link, t.link, "{}", t.file);
            match decode_packet(p.link, p.ts, p.data, NetnsId::UNKNOWN) {
                Ok(s) => rows.push(Row {
                    ts: s.ts.as_nanos(),
                    src: s.src,
                    dst: s.dst,
                    seq: s.seq,
                    ack: s.ack,
                    flags: s.flags.bits(),
                    len: s.payload.len(),
                }),
                Err(r) => *drops.entry(r).or_insert(0u64) += 1,
            }
        }
        assert_eq!(packets, t.packets, "{}: packets", t.file);
        assert_eq!(rows.len(), t.tcp, "{}: TCP segments", t.file);
        let non_tcp = t.packets - t.tcp as u64;
        let expected_drops: BTreeMap<_, _> = (non_tcp > 0)
            .then_some((DropReason::NotTcp, non_tcp))
            .into_iter()
            .collect();
        assert_eq!(drops, expected_drops, "{}: drops", t.file);
        assert_eq!(
            rows.iter().map(|r| r.len).sum::<usize>(),
            t.payload_bytes,
            "{}: payload",
            t.file
        );
        assert_eq!(rows[0], t.first, "{}: first segment", t.file);
        assert_eq!(rows.last().unwrap().ts, t.last_ts, "{}: last time", t.file);
        let max = rows.iter().map(|r| r.len).max().unwrap();
        let index = rows.iter().position(|r| r.len == max).unwrap();
        assert_eq!(
            (index, rows[index]),
            (t.biggest_index, t.biggest),
            "{}: biggest",
            t.file
        );
    }
}

/// Every real capture decodes without a drop other than non-TCP packets,
/// with tshark's TCP packet count and payload total (same command,
/// `-e tcp.len` only, counted and summed).
#[test]
fn every_real_capture_matches_tshark_totals() {
    #[rustfmt::skip]
    const TOTALS: &[(&str, usize, usize)] = &[
        // Recorded here (bundled); the others from ../shared/pcaps.
        ("loopback-http.pcap", 240, 12296),
        ("100-continue.pcap", 66, 63324),
        ("1000-requests-one-dropped-response.pcap", 4102, 996757),
        ("206_example_b.pcap", 1556, 1379737),
        ("TLPW1-tcp-174.56.47.59-10.3.11.101-tcp-80-49309.pcap", 75, 54379),
        ("bug-5929-02__http2_multiple_headers.pcap", 12, 879),
        ("connect-with-header.pcap", 58, 59143),
        ("curl_http_09.pcap", 8, 133),
        ("decode-sll2-01__input.pcap", 5, 82),
        ("dns-over-http2-limit__input.pcap", 50, 131665),
        ("docker-http-upgrade.pcap", 200, 4749),
        ("get-gzip.pcap", 14, 421),
        ("get_nosyn.pcap", 11, 5143),
        ("handshake-reorder.pcap", 14, 5143),
        ("http-brotli-ce__input.pcap", 16, 5392),
        ("http-ipv6__input.pcap", 14, 791),
        ("http-pipeline-files-with-gap__input.pcap", 169, 61577),
        ("http-post-large.pcap", 38, 244780),
        ("http-range-file__input.pcap", 316, 157609),
        ("http-vlan-0.pcap", 14, 5143),
        ("http2-bugfixes__input.pcap", 29, 4807),
        ("http2-deflate__http2_deflate.pcap", 30, 511),
        ("http2-errorcode__input.pcap", 55, 949),
        ("http2-keywords2__input.pcap", 10, 773),
        ("http2-range__http2-range.pcap", 116, 2279),
        ("ipv4-websocket-segmented.pcap", 23, 6589),
        ("methods.pcap", 655, 184311),
        ("nflog-http.pcap", 13, 1682),
        ("pipelined-requests.pcap", 49, 42362),
        ("tcp-fast-open.pcap", 16, 1658),
        ("vnd.ms-cab-compressed-multi-conn.pcap", 158, 88634),
        ("vxlan-encapsulated-http.pcap", 12, 9299),
        ("websocket-compressed__example_websocket.pcap", 27, 637),
        ("websocket-ping__input.pcap", 19, 381),
        ("websocket.pcap", 27, 1966),
        ("grpc_Client_Streaming.pcapng", 52, 556),
        ("grpc_Unary.pcapng", 4306, 52447),
        ("http-chunked-ssl.pcapng", 54, 37487),
        ("http2-16-ssl.pcapng", 24, 2131),
    ];
    for &(name, tcp, bytes) in TOTALS {
        let Some(path) = capture("every_real_capture_matches_tshark_totals", name) else {
            return;
        };
        let mut source = FileSource::open(path).unwrap();
        let counters = Counters::default();
        let (mut n, mut sum) = (0, 0);
        let mut sink = |i: Input<'_>| {
            if let Input::Segment(s) = i {
                n += 1;
                sum += s.payload.len();
            }
        };
        let mut polls = 0;
        while source.poll(&mut sink, &counters).unwrap() != Poll::Finished {
            polls += 1;
            assert!(polls < 1000, "{name}: source never finished");
        }
        assert_eq!((n, sum), (tcp, bytes), "{name}");
        let packets = counters.get(capture_core::Counter::Packets);
        let drops: u64 = DropReason::ALL.iter().map(|r| counters.drops(*r)).sum();
        assert_eq!(
            drops,
            counters.drops(DropReason::NotTcp),
            "{name}: only non-TCP drops"
        );
        assert_eq!(
            packets,
            tcp as u64 + drops,
            "{name}: every packet a segment or a drop"
        );
        assert_eq!(
            source.consumed_bytes(),
            source.total_bytes(),
            "{name}: progress at the end"
        );
    }
}
