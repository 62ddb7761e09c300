//! Capture files and packets built byte by byte: every format variant and
//! link type the reader and decoder claim to handle, and the broken ones.
#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

use backend_pcap::file::{Corruption, Packets};
use backend_pcap::{CaptureFile, Error, FileSource, LinkType, decode_packet};
use capture_core::DropReason;
use capture_core::model::{Input, NetnsId, TcpFlags, Timestamp};
use capture_core::stage::{Poll, Source};
use capture_core::stats::Counters;
use etherparse::PacketBuilder;

const PAYLOAD: &[u8] = b"GET / HTTP/1.1\r\n\r\n";

/// IPv4 + TCP 10.0.0.1:40000 → 10.0.0.2:80, seq 1000, ack 5, PSH|ACK.
fn ipv4_tcp() -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .tcp(40000, 80, 1000, 65535)
        .psh()
        .ack(5)
        .write(&mut v, PAYLOAD)
        .unwrap();
    v
}

/// IPv6 + TCP [fd00::1]:40000 → [fd00::2]:80.
fn ipv6_tcp() -> Vec<u8> {
    let mut a = [0u8; 16];
    a[0] = 0xfd;
    let (mut src, mut dst) = (a, a);
    src[15] = 1;
    dst[15] = 2;
    let mut v = Vec::new();
    PacketBuilder::ipv6(src, dst, 64)
        .tcp(40000, 80, 1000, 65535)
        .syn()
        .write(&mut v, b"")
        .unwrap();
    v
}

fn ethernet(ether_types_and_tags: &[u8], ip: &[u8]) -> Vec<u8> {
    let mut v = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
    v.extend_from_slice(ether_types_and_tags);
    v.extend_from_slice(ip);
    v
}

/// Checks the segment of `ipv4_tcp`.
fn assert_ipv4_segment(link: LinkType, data: &[u8]) {
    let seg = decode_packet(link, Timestamp(42), data, NetnsId(7)).unwrap();
    assert_eq!(seg.src, "10.0.0.1:40000".parse().unwrap());
    assert_eq!(seg.dst, "10.0.0.2:80".parse().unwrap());
    assert_eq!((seg.seq, seg.ack), (1000, 5));
    assert_eq!(seg.flags, TcpFlags::PSH | TcpFlags::ACK);
    assert_eq!(seg.payload, PAYLOAD);
    assert_eq!((seg.ts, seg.netns), (Timestamp(42), NetnsId(7)));
}

#[derive(Clone, Copy)]
enum Order {
    Little,
    Big,
}

fn put32(v: &mut Vec<u8>, order: Order, x: u32) {
    v.extend_from_slice(&match order {
        Order::Little => x.to_le_bytes(),
        Order::Big => x.to_be_bytes(),
    });
}

fn put16(v: &mut Vec<u8>, order: Order, x: u16) {
    v.extend_from_slice(&match order {
        Order::Little => x.to_le_bytes(),
        Order::Big => x.to_be_bytes(),
    });
}

/// A classic pcap file with `records` of (seconds, fraction, bytes).
fn pcap(order: Order, magic: u32, link: u32, records: &[(u32, u32, &[u8])]) -> Vec<u8> {
    let mut v = Vec::new();
    put32(&mut v, order, magic);
    put16(&mut v, order, 2);
    put16(&mut v, order, 4);
    put32(&mut v, order, 0);
    put32(&mut v, order, 0);
    put32(&mut v, order, 65535);
    put32(&mut v, order, link);
    for (secs, frac, data) in records {
        put32(&mut v, order, *secs);
        put32(&mut v, order, *frac);
        put32(&mut v, order, data.len() as u32);
        put32(&mut v, order, data.len() as u32);
        v.extend_from_slice(data);
    }
    v
}

fn block(v: &mut Vec<u8>, order: Order, kind: u32, body: &[u8]) {
    let padded = body.len().div_ceil(4) * 4;
    let total = (12 + padded) as u32;
    put32(v, order, kind);
    put32(v, order, total);
    v.extend_from_slice(body);
    v.resize(v.len() + padded - body.len(), 0);
    put32(v, order, total);
}

fn shb(v: &mut Vec<u8>, order: Order) {
    let mut b = Vec::new();
    put32(&mut b, order, 0x1A2B_3C4D);
    put16(&mut b, order, 1);
    put16(&mut b, order, 0);
    b.extend_from_slice(&u64::MAX.to_le_bytes()); // section length: unknown
    block(v, order, 0x0A0D_0D0A, &b);
}

fn idb(v: &mut Vec<u8>, order: Order, link: u16, tsresol: Option<u8>) {
    let mut b = Vec::new();
    put16(&mut b, order, link);
    put16(&mut b, order, 0);
    put32(&mut b, order, 0);
    // An option the reader does not know comes first (if_name = "eth0").
    put16(&mut b, order, 2);
    put16(&mut b, order, 4);
    b.extend_from_slice(b"eth0");
    if let Some(r) = tsresol {
        put16(&mut b, order, 9);
        put16(&mut b, order, 1);
        b.extend_from_slice(&[r, 0, 0, 0]);
    }
    put16(&mut b, order, 0);
    put16(&mut b, order, 0);
    block(v, order, 1, &b);
}

fn epb(v: &mut Vec<u8>, order: Order, iface: u32, units: u64, data: &[u8]) {
    let mut b = Vec::new();
    put32(&mut b, order, iface);
    put32(&mut b, order, (units >> 32) as u32);
    put32(&mut b, order, units as u32);
    put32(&mut b, order, data.len() as u32);
    put32(&mut b, order, data.len() as u32);
    b.extend_from_slice(data);
    block(v, order, 6, &b);
}

fn read_all(bytes: &[u8]) -> Vec<Result<backend_pcap::file::Packet<'_>, Corruption>> {
    Packets::new(bytes).unwrap().collect()
}

#[test]
fn big_endian_microsecond_pcap() {
    let frame = ethernet(&[0x08, 0x00], &ipv4_tcp());
    let file = pcap(
        Order::Big,
        0xa1b2_c3d4,
        1,
        &[(1_700_000_000, 123_456, &frame)],
    );
    assert_eq!(&file[..4], &[0xa1, 0xb2, 0xc3, 0xd4]);
    let packets = read_all(&file);
    assert_eq!(packets.len(), 1);
    let p = packets[0].unwrap();
    assert_eq!(p.ts, Timestamp(1_700_000_000_123_456_000));
    assert_eq!(p.link, LinkType::ETHERNET);
    assert_eq!(p.data, &frame[..]);
    assert_ipv4_segment(p.link, p.data);
}

#[test]
fn nanosecond_pcap_in_both_byte_orders() {
    for order in [Order::Little, Order::Big] {
        let ip = ipv4_tcp();
        let file = pcap(
            order,
            0xa1b2_3c4d,
            101,
            &[(1_700_000_000, 999_999_999, &ip)],
        );
        let p = read_all(&file)[0].unwrap();
        assert_eq!(p.ts, Timestamp(1_700_000_000_999_999_999));
        assert_eq!(p.link, LinkType::RAW);
        assert_ipv4_segment(p.link, p.data);
    }
}

#[test]
fn pcapng_power_of_two_and_power_of_ten_resolutions() {
    let frame = ethernet(&[0x08, 0x00], &ipv4_tcp());
    let ip = ipv4_tcp();
    let mut f = Vec::new();
    shb(&mut f, Order::Little);
    idb(&mut f, Order::Little, 1, Some(0x80 | 20)); // 2^-20 s
    idb(&mut f, Order::Little, 101, Some(9)); // 10^-9 s
    idb(&mut f, Order::Little, 1, None); // default 10^-6 s
    epb(
        &mut f,
        Order::Little,
        0,
        (1_700_000_000u64 << 20) | (1 << 19),
        &frame,
    );
    epb(&mut f, Order::Little, 1, 1_700_000_000_123_456_789, &ip);
    epb(&mut f, Order::Little, 2, 1_700_000_000_000_001, &frame);
    let packets: Vec<_> = read_all(&f).into_iter().map(Result::unwrap).collect();
    assert_eq!(packets.len(), 3);
    assert_eq!(packets[0].ts, Timestamp(1_700_000_000_500_000_000));
    assert_eq!(packets[1].ts, Timestamp(1_700_000_000_123_456_789));
    assert_eq!(packets[2].ts, Timestamp(1_700_000_000_000_001_000));
    assert_eq!(
        packets.iter().map(|p| p.link).collect::<Vec<_>>(),
        [LinkType::ETHERNET, LinkType::RAW, LinkType::ETHERNET]
    );
    for p in &packets {
        assert_ipv4_segment(p.link, p.data);
    }
}

#[test]
fn pcapng_sections_switch_byte_order_and_interfaces() {
    let frame = ethernet(&[0x08, 0x00], &ipv4_tcp());
    let ip = ipv4_tcp();
    let mut f = Vec::new();
    shb(&mut f, Order::Little);
    idb(&mut f, Order::Little, 1, None);
    epb(&mut f, Order::Little, 0, 1_000_000, &frame);
    // A name resolution block and a custom block: skipped.
    block(&mut f, Order::Little, 4, &[0, 0, 0, 0]);
    block(&mut f, Order::Little, 0x0000_0BAD, &[1, 2, 3]);
    shb(&mut f, Order::Big);
    idb(&mut f, Order::Big, 101, Some(3)); // milliseconds
    epb(&mut f, Order::Big, 0, 2_500, &ip);
    // Interface 1 does not exist in this section: that packet alone is dropped.
    epb(&mut f, Order::Big, 1, 2_600, &ip);
    epb(&mut f, Order::Big, 0, 2_700, &ip);
    let items = read_all(&f);
    assert_eq!(items.len(), 4);
    let p0 = items[0].unwrap();
    assert_eq!(
        (p0.ts, p0.link),
        (Timestamp(1_000_000_000), LinkType::ETHERNET)
    );
    let p1 = items[1].unwrap();
    assert_eq!((p1.ts, p1.link), (Timestamp(2_500_000_000), LinkType::RAW));
    let bad = items[2].unwrap_err();
    assert_eq!(bad.reason, DropReason::PacketMalformed);
    assert!(!bad.fatal);
    assert_eq!(items[3].unwrap().ts, Timestamp(2_700_000_000));
}

#[test]
fn truncated_record_at_end_of_file_is_counted_once() {
    let ip = ipv4_tcp();
    let mut file = pcap(Order::Little, 0xa1b2_c3d4, 101, &[(1, 0, &ip), (2, 0, &ip)]);
    file.truncate(file.len() - 10);
    let items = read_all(&file);
    assert_eq!(items.len(), 2);
    assert!(items[0].is_ok());
    let c = items[1].unwrap_err();
    assert_eq!((c.reason, c.fatal), (DropReason::PacketTruncated, true));
    assert_eq!(c.offset, 24 + 16 + ip.len() as u64);
    assert!(c.to_string().contains("cut off"), "{c}");

    // The same through the source: one packet, one truncation drop, finished.
    let cf = CaptureFile::from_bytes("cut.pcap", file).unwrap();
    let mut source = FileSource::from_files([cf]).unwrap();
    let counters = Counters::default();
    let mut segments = 0;
    let mut sink = |i: Input<'_>| {
        if let Input::Segment(_) = i {
            segments += 1
        }
    };
    let mut polls = 0;
    while source.poll(&mut sink, &counters).unwrap() != Poll::Finished {
        polls += 1;
        assert!(polls < 10);
    }
    assert_eq!(segments, 1);
    assert_eq!(counters.get(capture_core::Counter::Packets), 1);
    assert_eq!(counters.drops(DropReason::PacketTruncated), 1);
}

#[test]
fn corrupt_pcapng_block_length_ends_the_file() {
    let ip = ipv4_tcp();
    let mut f = Vec::new();
    shb(&mut f, Order::Little);
    idb(&mut f, Order::Little, 101, None);
    epb(&mut f, Order::Little, 0, 1, &ip);
    let corrupt_at = f.len();
    epb(&mut f, Order::Little, 0, 2, &ip);
    epb(&mut f, Order::Little, 0, 3, &ip);
    // A block length of 0xfffffff0: larger than the file.
    f[corrupt_at + 4..corrupt_at + 8].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
    let items = read_all(&f);
    assert_eq!(items.len(), 2);
    assert!(items[0].is_ok());
    let c = items[1].unwrap_err();
    assert!(c.fatal);
    assert_eq!(c.offset, corrupt_at as u64);
    // A trailing length that disagrees with the leading one.
    let mut g = f.clone();
    g[corrupt_at + 4..corrupt_at + 8].copy_from_slice(&((12 + 20 + 64u32).to_le_bytes()));
    let items = read_all(&g);
    assert_eq!(items.len(), 2);
    assert_eq!(items[1].unwrap_err().reason, DropReason::PacketMalformed);
}

#[test]
fn garbage_and_missing_files_give_actionable_errors() {
    let err = CaptureFile::from_bytes("notes.txt", b"hello, world, this is not a capture".to_vec())
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotACapture {
                magic: 0x6865_6c6c,
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("notes.txt is not a pcap or pcapng file (magic 0x68656c6c)"),
        "{msg}"
    );

    let err = CaptureFile::from_bytes("empty.pcap", Vec::new()).unwrap_err();
    assert!(matches!(err, Error::TooShort { len: 0, .. }), "{err:?}");

    let err = FileSource::open("/nonexistent/dir/trace.pcap")
        .err()
        .unwrap();
    let msg = err.to_string();
    assert!(
        msg.starts_with("cannot open capture file /nonexistent/dir/trace.pcap: "),
        "{msg}"
    );

    assert!(matches!(
        FileSource::open_many(Vec::<String>::new()),
        Err(Error::NoFiles)
    ));

    // A pcap header with a bad version.
    let mut file = pcap(Order::Little, 0xa1b2_c3d4, 1, &[]);
    file[4] = 9;
    let err = CaptureFile::from_bytes("v9.pcap", file).unwrap_err();
    assert!(matches!(err, Error::BadHeader { .. }), "{err:?}");
}

#[test]
fn vlan_and_qinq_tags_are_stripped() {
    let ip = ipv4_tcp();
    let single = ethernet(&[0x81, 0x00, 0x00, 0x0a, 0x08, 0x00], &ip);
    assert_ipv4_segment(LinkType::ETHERNET, &single);
    // 802.1ad outer tag (S-VLAN 100) around an 802.1Q inner tag (C-VLAN 10).
    let qinq = ethernet(
        &[0x88, 0xa8, 0x00, 0x64, 0x81, 0x00, 0x00, 0x0a, 0x08, 0x00],
        &ip,
    );
    assert_ipv4_segment(LinkType::ETHERNET, &qinq);
    // The older 0x9100 double tag.
    let old = ethernet(
        &[0x91, 0x00, 0x00, 0x64, 0x81, 0x00, 0x00, 0x0a, 0x08, 0x00],
        &ip,
    );
    assert_ipv4_segment(LinkType::ETHERNET, &old);
}

#[test]
fn ethernet_padding_is_not_payload() {
    let mut ip = Vec::new();
    PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .tcp(40000, 80, 1000, 65535)
        .ack(5)
        .write(&mut ip, b"")
        .unwrap();
    let mut frame = ethernet(&[0x08, 0x00], &ip);
    frame.resize(60, 0xee);
    let seg = decode_packet(LinkType::ETHERNET, Timestamp(0), &frame, NetnsId::UNKNOWN).unwrap();
    assert!(seg.payload.is_empty());
}

#[test]
fn cooked_loopback_raw_and_nflog_links() {
    let ip = ipv4_tcp();
    // Linux cooked v1: outgoing, ARPHRD_ETHER, 6-byte address, protocol IPv4.
    let mut sll = vec![0, 4, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00];
    sll.extend_from_slice(&ip);
    assert_ipv4_segment(LinkType::LINUX_SLL, &sll);
    // Linux cooked v2: protocol IPv4, reserved, ifindex 2, ARPHRD_ETHER, type, addr.
    let mut sll2 = vec![
        0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 4, 6, 2, 0, 0, 0, 0, 1, 0, 0,
    ];
    sll2.extend_from_slice(&ip);
    assert_ipv4_segment(LinkType::LINUX_SLL2, &sll2);
    // BSD null in both byte orders, and loop (always big-endian).
    for family in [2u32.to_le_bytes(), 2u32.to_be_bytes()] {
        let mut null = family.to_vec();
        null.extend_from_slice(&ip);
        assert_ipv4_segment(LinkType::NULL, &null);
    }
    let mut lo = 2u32.to_be_bytes().to_vec();
    lo.extend_from_slice(&ip);
    assert_ipv4_segment(LinkType::LOOP, &lo);
    for raw in [
        LinkType::RAW,
        LinkType::RAW_DLT12,
        LinkType::RAW_DLT14,
        LinkType::IPV4,
    ] {
        assert_ipv4_segment(raw, &ip);
    }
    assert_eq!(
        decode_packet(LinkType::IPV6, Timestamp(0), &ip, NetnsId::UNKNOWN).unwrap_err(),
        DropReason::PacketMalformed
    );
    // macOS AF_INET6 (30) on null; Linux raw IPv6.
    let ip6 = ipv6_tcp();
    let mut null6 = 30u32.to_le_bytes().to_vec();
    null6.extend_from_slice(&ip6);
    for (link, data) in [
        (LinkType::NULL, &null6),
        (LinkType::IPV6, &ip6),
        (LinkType::RAW, &ip6),
    ] {
        let seg = decode_packet(link, Timestamp(0), data, NetnsId::UNKNOWN).unwrap();
        assert_eq!(seg.dst, "[fd00::2]:80".parse().unwrap());
        assert!(seg.flags.syn());
    }
    // NFLOG: header (AF_INET, v0, group 0), a prefix attribute, then the payload.
    let mut nflog = vec![2, 0, 0, 0];
    nflog.extend_from_slice(&9u16.to_le_bytes());
    nflog.extend_from_slice(&10u16.to_le_bytes()); // NFULA_PREFIX
    nflog.extend_from_slice(b"ab\0\0\0\0\0\0"); // 5 value bytes + 3 padding
    nflog.extend_from_slice(&((4 + ip.len()) as u16).to_le_bytes());
    nflog.extend_from_slice(&9u16.to_le_bytes()); // NFULA_PAYLOAD
    nflog.extend_from_slice(&ip);
    assert_ipv4_segment(LinkType::NFLOG, &nflog);
}

#[test]
fn vxlan_is_decapsulated() {
    let inner = ethernet(&[0x08, 0x00], &ipv4_tcp());
    let mut vx = vec![0x08, 0, 0, 0, 0, 0, 0x2a, 0];
    vx.extend_from_slice(&inner);
    let mut outer = Vec::new();
    PacketBuilder::ethernet2([2; 6], [4; 6])
        .ipv4([192, 168, 0, 1], [192, 168, 0, 2], 64)
        .udp(50000, 4789)
        .write(&mut outer, &vx)
        .unwrap();
    assert_ipv4_segment(LinkType::ETHERNET, &outer);
}

#[test]
fn drops_say_why() {
    let t = Timestamp(0);
    let n = NetnsId::UNKNOWN;
    let ip = ipv4_tcp();
    let reason = |link, data: &[u8]| decode_packet(link, t, data, n).unwrap_err();

    assert_eq!(reason(LinkType(147), &ip), DropReason::UnsupportedLinkType);
    let mut udp = Vec::new();
    PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .udp(53, 53)
        .write(&mut udp, b"x")
        .unwrap();
    assert_eq!(reason(LinkType::RAW, &udp), DropReason::NotTcp);
    let arp = ethernet(&[0x08, 0x06], &[0; 28]);
    assert_eq!(reason(LinkType::ETHERNET, &arp), DropReason::NotTcp);
    assert_eq!(
        reason(LinkType::ETHERNET, &ip[..10]),
        DropReason::PacketTruncated
    );
    assert_eq!(
        reason(LinkType::ETHERNET, &ethernet(&[0x08, 0x00], &ip[..10])),
        DropReason::PacketTruncated
    );
    // TCP header cut after 10 bytes.
    assert_eq!(
        reason(LinkType::RAW, &ip[..30]),
        DropReason::PacketTruncated
    );
    // Snap length cut the payload.
    assert_eq!(
        reason(LinkType::RAW, &ip[..45]),
        DropReason::PacketTruncated
    );
    // TCP data offset 4 (< 5 words).
    let mut bad = ip.clone();
    bad[20 + 12] = 0x40;
    assert_eq!(reason(LinkType::RAW, &bad), DropReason::PacketMalformed);
    // IP version 7.
    let mut bad = ip.clone();
    bad[0] = 0x75;
    assert_eq!(reason(LinkType::RAW, &bad), DropReason::PacketMalformed);
    // More-fragments set: the first fragment is counted as a fragment, not decoded.
    let mut frag = ip.clone();
    frag[6] = 0x20;
    assert_eq!(reason(LinkType::RAW, &frag), DropReason::IpFragment);
    // A null header with AF_APPLETALK.
    let mut null = 16u32.to_le_bytes().to_vec();
    null.extend_from_slice(&ip);
    assert_eq!(reason(LinkType::NULL, &null), DropReason::NotTcp);
    // Cooked capture of a netlink message.
    let mut sll = vec![0, 4, 0x03, 0x38, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00];
    sll.extend_from_slice(&ip);
    assert_eq!(reason(LinkType::LINUX_SLL, &sll), DropReason::NotTcp);
}

#[test]
fn ipv6_extension_headers_are_skipped() {
    let ip6 = ipv6_tcp();
    // Insert a hop-by-hop options header (8 bytes, PadN) after the fixed header.
    let mut v = ip6[..40].to_vec();
    v[6] = 0; // next header: hop-by-hop
    let len = u16::from_be_bytes([v[4], v[5]]) + 8;
    v[4..6].copy_from_slice(&len.to_be_bytes());
    v.extend_from_slice(&[6, 0, 1, 4, 0, 0, 0, 0]); // next: TCP, len 0, PadN(4)
    v.extend_from_slice(&ip6[40..]);
    let seg = decode_packet(LinkType::RAW, Timestamp(0), &v, NetnsId::UNKNOWN).unwrap();
    assert_eq!(seg.src, "[fd00::1]:40000".parse().unwrap());
    assert_eq!(seg.seq, 1000);
}

#[test]
fn file_source_hands_out_blocks_and_tracks_progress() {
    let frame = ethernet(&[0x08, 0x00], &ipv4_tcp());
    let records: Vec<(u32, u32, &[u8])> = (0..5).map(|i| (i, 0, &frame[..])).collect();
    let a =
        CaptureFile::from_bytes("a.pcap", pcap(Order::Little, 0xa1b2_c3d4, 1, &records)).unwrap();
    let b =
        CaptureFile::from_bytes("b.pcap", pcap(Order::Big, 0xa1b2_c3d4, 1, &records[..2])).unwrap();
    let total = a.len() + b.len();
    let mut source = FileSource::from_files([a, b])
        .unwrap()
        .with_batch(2)
        .with_netns(NetnsId(9));
    assert_eq!(source.name(), "files a.pcap (+1 more)");
    assert!(!source.is_live());
    let progress = source.progress();
    assert_eq!(
        (progress.total_bytes(), progress.consumed_bytes()),
        (total, 0)
    );
    let counters = Counters::default();
    let mut per_poll = Vec::new();
    let mut times = Vec::new();
    loop {
        let mut n = 0;
        let mut sink = |i: Input<'_>| {
            if let Input::Segment(s) = i {
                assert_eq!(s.netns, NetnsId(9));
                times.push(s.ts.as_secs());
                n += 1;
            }
        };
        let poll = source.poll(&mut sink, &counters).unwrap();
        if poll == Poll::Finished {
            assert_eq!(n, 0);
            break;
        }
        per_poll.push(n);
        assert!(per_poll.len() < 20);
    }
    assert_eq!(per_poll, [2, 2, 1, 2]);
    assert_eq!(times, [0, 1, 2, 3, 4, 0, 1]);
    assert_eq!(counters.get(capture_core::Counter::Packets), 7);
    assert_eq!(
        counters.get(capture_core::Counter::Bytes),
        7 * frame.len() as u64
    );
    assert_eq!(progress.consumed_bytes(), total);
    assert!((progress.fraction() - 1.0).abs() < f64::EPSILON);
}

#[test]
fn pcapng_simple_and_obsolete_packet_blocks() {
    let frame = ethernet(&[0x08, 0x00], &ipv4_tcp());
    let mut f = Vec::new();
    shb(&mut f, Order::Big);
    idb(&mut f, Order::Big, 1, None);
    // Obsolete Packet Block: interface (u16), drops (u16), time, lengths, data.
    let mut opb = Vec::new();
    for w in [0u16, 0] {
        put16(&mut opb, Order::Big, w);
    }
    for w in [0u32, 5_000_000, frame.len() as u32, frame.len() as u32] {
        put32(&mut opb, Order::Big, w);
    }
    opb.extend_from_slice(&frame);
    block(&mut f, Order::Big, 2, &opb);
    // Simple Packet Block: original length, data; it takes the last time seen.
    let mut spb = Vec::new();
    put32(&mut spb, Order::Big, frame.len() as u32);
    spb.extend_from_slice(&frame);
    block(&mut f, Order::Big, 3, &spb);
    let packets: Vec<_> = read_all(&f).into_iter().map(Result::unwrap).collect();
    assert_eq!(packets.len(), 2);
    for p in &packets {
        assert_eq!(p.ts, Timestamp(5_000_000_000));
        assert_eq!(p.data, &frame[..], "padding is not part of the packet");
        assert_ipv4_segment(p.link, p.data);
    }
}

#[test]
fn kuznetsov_pcap_records_have_longer_headers() {
    let ip = ipv4_tcp();
    let mut v = pcap(Order::Little, 0xa1b2_cd34, 101, &[]);
    for _ in 0..2 {
        for w in [7u32, 250_000, ip.len() as u32, ip.len() as u32] {
            put32(&mut v, Order::Little, w);
        }
        // ifindex, protocol, packet type, padding.
        v.extend_from_slice(&[0; 8]);
        v.extend_from_slice(&ip);
    }
    let packets: Vec<_> = read_all(&v).into_iter().map(Result::unwrap).collect();
    assert_eq!(packets.len(), 2);
    assert_eq!(packets[1].ts, Timestamp(7_250_000_000));
    assert_ipv4_segment(packets[1].link, packets[1].data);
}

/// A pipe cannot be memory-mapped: the file is read into memory instead.
#[test]
fn unmappable_file_is_read_into_memory() {
    let frame = ethernet(&[0x08, 0x00], &ipv4_tcp());
    let file = pcap(
        Order::Little,
        0xa1b2_c3d4,
        1,
        &[(1, 0, &frame), (2, 0, &frame)],
    );
    let path = std::env::temp_dir().join(format!("backend-pcap-fifo-{}", std::process::id()));
    let c_path = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    if unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) } != 0 {
        eprintln!("skipped: cannot create a FIFO in {}", path.display());
        return;
    }
    let writer = {
        let (path, file) = (path.clone(), file.clone());
        std::thread::spawn(move || std::fs::write(path, file))
    };
    let opened = CaptureFile::open(&path);
    writer.join().unwrap().unwrap();
    let _ = std::fs::remove_file(&path);
    let opened = opened.unwrap();
    assert_eq!(opened.bytes(), &file[..]);
    assert_eq!(opened.packets().count(), 2);
}
