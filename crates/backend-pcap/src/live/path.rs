//! What every live packet goes through before it is handed out: decode,
//! duplicate removal and address filtering.

use std::time::Duration;

use capture_core::DropReason;
use capture_core::model::{NetnsId, Segment, Timestamp};

use crate::cidr::CidrFilter;
use crate::decode::{LinkType, decode_packet};
use crate::dedup::{self, Dedup};

/// Decode → dedup → CIDR filter, for the packets of one network namespace.
///
/// I/O-free: live sources feed it captured bytes and count the
/// [`DropReason`] of every packet it rejects.
#[derive(Debug)]
pub struct PacketPath {
    netns: NetnsId,
    dedup: Option<Dedup>,
    cidr: CidrFilter,
}

impl PacketPath {
    /// A path stamping segments with `netns`, dropping copies seen again
    /// within `dedup_window` (none when `None`) and applying `cidr`.
    pub fn new(netns: NetnsId, dedup_window: Option<Duration>, cidr: CidrFilter) -> Self {
        Self {
            netns,
            dedup: dedup_window.map(|w| Dedup::new(w, dedup::DEFAULT_CAPACITY)),
            cidr,
        }
    }

    /// The segment in one captured packet, or why it is dropped.
    pub fn segment<'a>(
        &mut self,
        link: LinkType,
        ts: Timestamp,
        data: &'a [u8],
    ) -> Result<Segment<'a>, DropReason> {
        let seg = decode_packet(link, ts, data, self.netns)?;
        if !self.cidr.keeps(seg.src.ip(), seg.dst.ip()) {
            return Err(DropReason::AddressFiltered);
        }
        if let Some(d) = self.dedup.as_mut()
            && let Some(ip) = ip_packet(link, data)
            && d.is_duplicate(ts, ip)
        {
            return Err(DropReason::DuplicatePacket);
        }
        Ok(seg)
    }
}

/// The IP packet inside a frame of the link types a live Linux capture
/// produces (Ethernet with VLAN tags, cooked v1/v2, raw IP, loopback), or
/// `None` for anything else (such a packet is never deduplicated).
pub fn ip_packet(link: LinkType, data: &[u8]) -> Option<&[u8]> {
    let is_ip = |ethertype: u16| matches!(ethertype, 0x0800 | 0x86dd);
    let be16 = |at: usize| {
        data.get(at..at + 2)
            .and_then(|b| b.try_into().ok())
            .map(u16::from_be_bytes)
    };
    let start = match link {
        LinkType::ETHERNET => {
            let mut at = 12;
            let mut ethertype = be16(at)?;
            while matches!(ethertype, 0x8100 | 0x88a8 | 0x9100) {
                at += 4;
                ethertype = be16(at)?;
            }
            is_ip(ethertype).then_some(at + 2)?
        }
        LinkType::LINUX_SLL => is_ip(be16(14)?).then_some(16)?,
        LinkType::LINUX_SLL2 => is_ip(be16(0)?).then_some(20)?,
        LinkType::RAW | LinkType::RAW_DLT12 | LinkType::RAW_DLT14 => 0,
        LinkType::IPV4 | LinkType::IPV6 => 0,
        LinkType::NULL | LinkType::LOOP => 4,
        _ => return None,
    };
    data.get(start..)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn ip_tcp(payload: &[u8], ttl: u8) -> Vec<u8> {
        let total = (40 + payload.len()) as u16;
        let mut p = vec![0x45, 0];
        p.extend_from_slice(&total.to_be_bytes());
        p.extend_from_slice(&[0, 7, 0x40, 0, ttl, 6, 0, 0, 10, 231, 1, 1, 10, 231, 1, 2]);
        p.extend_from_slice(&[
            0x9c, 0x40, 1, 187, 0, 0, 0, 100, 0, 0, 0, 9, 0x50, 0x18, 1, 0,
        ]);
        p.extend_from_slice(&[0, 0, 0, 0]);
        p.extend_from_slice(payload);
        p
    }

    fn ethernet(ip: &[u8]) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
        f.extend_from_slice(ip);
        f
    }

    fn sll(ip: &[u8], pkttype: u8) -> Vec<u8> {
        let mut f = vec![0, pkttype, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00];
        f.extend_from_slice(ip);
        f
    }

    #[test]
    fn the_same_packet_on_two_interfaces_passes_once() {
        let mut path = PacketPath::new(
            NetnsId(42),
            Some(Duration::from_millis(50)),
            CidrFilter::default(),
        );
        let ip = ip_tcp(b"GET /a HTTP/1.1\r\n\r\n", 64);
        let t = Timestamp(1_000_000_000);
        let frame = ethernet(&ip);
        let seg = path.segment(LinkType::ETHERNET, t, &frame).unwrap();
        assert_eq!(seg.netns, NetnsId(42));
        assert_eq!(seg.payload, b"GET /a HTTP/1.1\r\n\r\n");
        // The `any` device: cooked header, outgoing vs incoming, routed (TTL-1).
        let routed = ip_tcp(b"GET /a HTTP/1.1\r\n\r\n", 63);
        assert_eq!(
            path.segment(LinkType::LINUX_SLL, t, &sll(&ip, 4))
                .unwrap_err(),
            DropReason::DuplicatePacket
        );
        assert_eq!(
            path.segment(LinkType::LINUX_SLL, t, &sll(&routed, 0))
                .unwrap_err(),
            DropReason::DuplicatePacket
        );
        // Another request is not a copy.
        assert!(
            path.segment(
                LinkType::LINUX_SLL,
                t,
                &sll(&ip_tcp(b"GET /b HTTP/1.1\r\n\r\n", 64), 0)
            )
            .is_ok()
        );
    }

    #[test]
    fn without_dedup_every_copy_passes() {
        let mut path = PacketPath::new(NetnsId(1), None, CidrFilter::default());
        let f = ethernet(&ip_tcp(b"x", 64));
        assert!(path.segment(LinkType::ETHERNET, Timestamp(1), &f).is_ok());
        assert!(path.segment(LinkType::ETHERNET, Timestamp(1), &f).is_ok());
    }

    #[test]
    fn address_filter_and_decode_drops_are_reported() {
        let cidr = CidrFilter::parse(&["10.9.0.0/16"], &[]).unwrap();
        let mut path = PacketPath::new(NetnsId(1), None, cidr);
        let f = ethernet(&ip_tcp(b"x", 64));
        assert_eq!(
            path.segment(LinkType::ETHERNET, Timestamp(1), &f)
                .unwrap_err(),
            DropReason::AddressFiltered
        );
        assert!(
            path.segment(LinkType::ETHERNET, Timestamp(1), &f[..20])
                .is_err()
        );
    }

    #[test]
    fn ip_layer_is_found_under_vlan_tags_and_cooked_headers() {
        let ip = ip_tcp(b"x", 64);
        let mut tagged = vec![
            2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x81, 0x00, 0, 5, 0x08, 0x00,
        ];
        tagged.extend_from_slice(&ip);
        assert_eq!(ip_packet(LinkType::ETHERNET, &tagged), Some(&ip[..]));
        assert_eq!(ip_packet(LinkType::LINUX_SLL, &sll(&ip, 0)), Some(&ip[..]));
        let mut sll2 = vec![
            0x08, 0x00, 0, 0, 0, 0, 0, 3, 0, 1, 4, 6, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        sll2.extend_from_slice(&ip);
        assert_eq!(ip_packet(LinkType::LINUX_SLL2, &sll2), Some(&ip[..]));
        assert_eq!(ip_packet(LinkType::RAW, &ip), Some(&ip[..]));
        assert_eq!(ip_packet(LinkType::ETHERNET, &[0x81, 0]), None);
        assert_eq!(ip_packet(LinkType::NFLOG, &ip), None);
    }
}
