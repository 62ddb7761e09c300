//! The common case in a few bounds checks: an untagged link header, IPv4
//! without fragmentation or IPv6 without extension headers, then TCP.
//!
//! It only ever says "here is the segment" or "not sure": everything else
//! (VLAN tags, extension headers, fragments, odd lengths, errors) goes to
//! the etherparse path, which decides and counts. A test checks that both
//! paths give the same segment wherever this one answers.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use capture_core::model::{NetnsId, Segment, TcpFlags, Timestamp};

use super::LinkType;

const IPV4: u16 = 0x0800;
const IPV6: u16 = 0x86dd;
const TCP: u8 = 6;

/// The segment in `data`, or `None` when the general decoder must look.
#[inline]
pub(super) fn segment<'a>(
    link: LinkType,
    ts: Timestamp,
    data: &'a [u8],
    netns: NetnsId,
) -> Option<Segment<'a>> {
    let (version, ip) = match link {
        LinkType::ETHERNET => {
            let (h, ip) = data.split_first_chunk::<14>()?;
            let [.., t0, t1] = *h;
            (ether_version(u16::from_be_bytes([t0, t1]))?, ip)
        }
        LinkType::LINUX_SLL => {
            let (h, ip) = data.split_first_chunk::<16>()?;
            let [_, _, a0, a1, .., p0, p1] = *h;
            if u16::from_be_bytes([a0, a1]) == 824 {
                return None;
            }
            (ether_version(u16::from_be_bytes([p0, p1]))?, ip)
        }
        LinkType::LINUX_SLL2 => {
            let (h, ip) = data.split_first_chunk::<20>()?;
            let [p0, p1, _, _, _, _, _, _, a0, a1, ..] = *h;
            if u16::from_be_bytes([a0, a1]) == 824 {
                return None;
            }
            (ether_version(u16::from_be_bytes([p0, p1]))?, ip)
        }
        LinkType::NULL => {
            let (family, ip) = data.split_first_chunk::<4>()?;
            let family = u32::from_le_bytes(*family).min(u32::from_be_bytes(*family));
            if !matches!(family, 2 | 10 | 24 | 28 | 30) {
                return None;
            }
            (ip.first()? >> 4, ip)
        }
        LinkType::RAW => (data.first()? >> 4, data),
        _ => return None,
    };
    let (src, dst, tcp) = match version {
        4 => ipv4(ip)?,
        6 => ipv6(ip)?,
        _ => return None,
    };
    // TCP: the data offset must cover the fixed header and fit.
    let (h, _) = tcp.split_first_chunk::<20>()?;
    let [
        s0,
        s1,
        d0,
        d1,
        q0,
        q1,
        q2,
        q3,
        a0,
        a1,
        a2,
        a3,
        off,
        flags,
        ..,
    ] = *h;
    let header_len = usize::from(off >> 4) * 4;
    if header_len < 20 {
        return None;
    }
    let payload = tcp.get(header_len..)?;
    Some(Segment {
        ts,
        src: SocketAddr::new(src, u16::from_be_bytes([s0, s1])),
        dst: SocketAddr::new(dst, u16::from_be_bytes([d0, d1])),
        netns,
        seq: u32::from_be_bytes([q0, q1, q2, q3]),
        ack: u32::from_be_bytes([a0, a1, a2, a3]),
        flags: TcpFlags::from_bits_retain(flags & 0x1f),
        payload,
    })
}

fn ether_version(ether_type: u16) -> Option<u8> {
    match ether_type {
        IPV4 => Some(4),
        IPV6 => Some(6),
        _ => None,
    }
}

/// IPv4 carrying an unfragmented TCP segment, with a consistent total length.
#[inline]
fn ipv4(ip: &[u8]) -> Option<(IpAddr, IpAddr, &[u8])> {
    let (h, _) = ip.split_first_chunk::<20>()?;
    let [
        vihl,
        _,
        l0,
        l1,
        _,
        _,
        f0,
        f1,
        _,
        proto,
        _,
        _,
        s0,
        s1,
        s2,
        s3,
        d0,
        d1,
        d2,
        d3,
    ] = *h;
    let header_len = usize::from(vihl & 0x0f) * 4;
    let total_len = usize::from(u16::from_be_bytes([l0, l1]));
    // More-fragments flag or a fragment offset: a fragment.
    let fragment = u16::from_be_bytes([f0, f1]) & 0x3fff != 0;
    if vihl >> 4 != 4 || header_len < 20 || total_len < header_len || fragment || proto != TCP {
        return None;
    }
    let tcp = ip.get(header_len..total_len)?;
    let src = IpAddr::V4(Ipv4Addr::new(s0, s1, s2, s3));
    let dst = IpAddr::V4(Ipv4Addr::new(d0, d1, d2, d3));
    Some((src, dst, tcp))
}

/// IPv6 whose next header is TCP, with a consistent payload length.
#[inline]
fn ipv6(ip: &[u8]) -> Option<(IpAddr, IpAddr, &[u8])> {
    let (h, rest) = ip.split_first_chunk::<40>()?;
    let (fixed, addrs) = h.split_first_chunk::<8>()?;
    let [v, _, _, _, l0, l1, next, _] = *fixed;
    let (src, dst) = addrs.split_first_chunk::<16>()?;
    let dst: &[u8; 16] = dst.try_into().ok()?;
    let payload_len = usize::from(u16::from_be_bytes([l0, l1]));
    if v >> 4 != 6 || next != TCP || payload_len == 0 {
        return None;
    }
    let tcp = rest.get(..payload_len)?;
    Some((
        IpAddr::V6(Ipv6Addr::from(*src)),
        IpAddr::V6(Ipv6Addr::from(*dst)),
        tcp,
    ))
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::decode::general;
    use proptest::prelude::*;

    type Fields<'a> = (Timestamp, SocketAddr, SocketAddr, u32, u32, u8, &'a [u8]);

    fn fields(s: Segment<'_>) -> Fields<'_> {
        (s.ts, s.src, s.dst, s.seq, s.ack, s.flags.bits(), s.payload)
    }

    /// Wherever the fast path answers, the general path gives the same segment.
    fn agree(link: LinkType, data: &[u8]) -> bool {
        let t = Timestamp(1);
        match segment(link, t, data, NetnsId::UNKNOWN) {
            None => false,
            Some(fast) => {
                let slow = general(link, t, data, NetnsId::UNKNOWN);
                assert_eq!(
                    Some(fields(fast)),
                    slow.ok().map(fields),
                    "{link:?} {data:02x?}"
                );
                true
            }
        }
    }

    #[test]
    fn agrees_with_etherparse_on_every_real_packet() {
        // The capture recorded here, and those of other projects when present.
        let mut dirs = vec![capture_core::testkit::bundled("")];
        let shared = capture_core::testkit::SharedFiles::or_skip(
            "agrees_with_etherparse_on_every_real_packet (shared captures)",
        );
        dirs.extend(shared.map(|s| s.pcap("")));
        let (mut answered, mut packets) = (0, 0);
        for dir in dirs {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                let Ok(file) = crate::CaptureFile::open(&path) else {
                    continue;
                };
                for p in file.packets().flatten() {
                    packets += 1;
                    answered += usize::from(agree(p.link, p.data));
                }
            }
        }
        // Most real packets take the fast path.
        assert!(answered * 10 > packets * 9, "{answered} of {packets}");
    }

    fn tcp_packet(v6: bool, options: usize, payload: usize) -> Vec<u8> {
        let mut v = Vec::new();
        let b = if v6 {
            etherparse::PacketBuilder::ethernet2([1; 6], [2; 6]).ipv6([1; 16], [2; 16], 64)
        } else {
            etherparse::PacketBuilder::ethernet2([1; 6], [2; 6]).ipv4([1; 4], [2; 4], 64)
        };
        let opts = vec![1u8; options * 4];
        b.tcp(1, 2, 3, 4)
            .options_raw(&opts)
            .unwrap()
            .write(&mut v, &vec![7; payload])
            .unwrap();
        v
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

        /// Valid packets with a few bytes changed anywhere in the headers.
        #[test]
        fn agrees_with_etherparse_on_mutated_packets(
            v6 in any::<bool>(),
            options in 0usize..3,
            payload in 0usize..40,
            cut in 0usize..8,
            pad in 0usize..8,
            link in proptest::sample::select(vec![
                LinkType::ETHERNET, LinkType::LINUX_SLL, LinkType::LINUX_SLL2, LinkType::RAW,
                LinkType::NULL,
            ]),
            edits in proptest::collection::vec((0usize..80, any::<u8>()), 0..4),
        ) {
            let frame = tcp_packet(v6, options, payload);
            let ip = &frame[14..];
            let ether_type = &frame[12..14];
            let mut data = match link {
                LinkType::ETHERNET => frame.clone(),
                LinkType::LINUX_SLL => [&[0, 0, 0, 1, 0, 6, 1, 1, 1, 1, 1, 1, 0, 0][..], ether_type, ip].concat(),
                LinkType::LINUX_SLL2 => [ether_type, &[0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 1, 1, 1, 1, 1, 1, 0, 0][..], ip].concat(),
                LinkType::NULL => [&[30, 0, 0, 0][..], ip].concat(),
                _ => ip.to_vec(),
            };
            for (at, byte) in edits {
                let n = data.len();
                data[at % n] = byte;
            }
            data.truncate(data.len().saturating_sub(cut));
            data.resize(data.len() + pad, 0xee);
            agree(link, &data);
        }
    }
}
