//! Packet decode: link layer → IPv4/IPv6 → TCP, into a
//! [`Segment`] that borrows the payload.
//!
//! The link layers are those of capture files and of libpcap on Linux:
//! Ethernet with 802.1Q/QinQ VLAN tags, Linux cooked capture v1 and v2 (the
//! `any` device), BSD loopback (`null`, both byte orders, and `loop`), raw
//! IP, and NFLOG. VXLAN (UDP port 4789) is opened once to reach the inner
//! frame. IP and TCP are parsed by etherparse, except in the common case
//! (untagged Ethernet or cooked header, IPv4 without fragmentation or IPv6
//! without extension headers, TCP) which a few bounds checks decode; a test
//! holds both paths to the same answer.
//!
//! Every packet that does not give a TCP segment says why with a
//! [`DropReason`]: not TCP, truncated, malformed, an IP fragment, or an
//! unsupported link type. Decoding never panics, whatever the bytes.

mod fast;
mod link;

use std::net::{IpAddr, SocketAddr};

use capture_core::DropReason;
use capture_core::model::{NetnsId, Segment, TcpFlags, Timestamp};
use etherparse::{LaxNetSlice, LaxSlicedPacket, TransportSlice};

/// A capture's link-layer header type (the `LINKTYPE_` numbers of pcap and pcapng).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkType(pub u16);

impl LinkType {
    /// BSD loopback: a 4-byte address family in the capturing host's byte order.
    pub const NULL: LinkType = LinkType(0);
    /// Ethernet II, with or without VLAN tags.
    pub const ETHERNET: LinkType = LinkType(1);
    /// Raw IP as `DLT_RAW` on most BSDs.
    pub const RAW_DLT12: LinkType = LinkType(12);
    /// Raw IP as `DLT_RAW` on OpenBSD.
    pub const RAW_DLT14: LinkType = LinkType(14);
    /// Raw IPv4 or IPv6, told apart by the version field.
    pub const RAW: LinkType = LinkType(101);
    /// OpenBSD loopback: the address family in network byte order.
    pub const LOOP: LinkType = LinkType(108);
    /// Linux cooked capture v1 (the `any` device of older libpcap).
    pub const LINUX_SLL: LinkType = LinkType(113);
    /// Linux netfilter NFLOG messages.
    pub const NFLOG: LinkType = LinkType(239);
    /// Raw IPv4 only.
    pub const IPV4: LinkType = LinkType(228);
    /// Raw IPv6 only.
    pub const IPV6: LinkType = LinkType(229);
    /// Linux cooked capture v2 (the `any` device of libpcap ≥ 1.10).
    pub const LINUX_SLL2: LinkType = LinkType(276);

    /// True if [`decode_packet`] understands this link type.
    pub fn is_supported(self) -> bool {
        matches!(
            self,
            Self::NULL
                | Self::ETHERNET
                | Self::RAW_DLT12
                | Self::RAW_DLT14
                | Self::RAW
                | Self::LOOP
                | Self::LINUX_SLL
                | Self::NFLOG
                | Self::IPV4
                | Self::IPV6
                | Self::LINUX_SLL2
        )
    }
}

/// The UDP port of VXLAN.
const VXLAN_PORT: u16 = 4789;

/// Decodes one captured packet into a TCP segment whose payload borrows `data`.
///
/// `link` is the capture's link type, `ts` the capture time and `netns` the
/// network namespace the packet was captured in ([`NetnsId::UNKNOWN`] for
/// files). Sources call this for every packet and count the error as a drop.
///
/// ```
/// use backend_pcap::decode::{decode_packet, LinkType};
/// use capture_core::model::{NetnsId, Timestamp};
///
/// // A raw IPv4 packet: 20-byte IP header, 20-byte TCP header, "hi".
/// let mut p = vec![0x45, 0, 0, 42, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
/// p.extend_from_slice(&[0x9c, 0x40, 0, 80, 0, 0, 0, 100, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
/// p.extend_from_slice(b"hi");
/// let seg = decode_packet(LinkType::RAW, Timestamp(7), &p, NetnsId::UNKNOWN).unwrap();
/// assert_eq!(seg.src.to_string(), "10.0.0.1:40000");
/// assert_eq!(seg.dst.to_string(), "10.0.0.2:80");
/// assert_eq!((seg.seq, seg.payload), (100, &b"hi"[..]));
/// ```
#[inline]
pub fn decode_packet<'a>(
    link: LinkType,
    ts: Timestamp,
    data: &'a [u8],
    netns: NetnsId,
) -> Result<Segment<'a>, DropReason> {
    match fast::segment(link, ts, data, netns) {
        Some(segment) => Ok(segment),
        None => general(link, ts, data, netns),
    }
}

/// Every link type and every case, through etherparse.
fn general<'a>(
    link: LinkType,
    ts: Timestamp,
    data: &'a [u8],
    netns: NetnsId,
) -> Result<Segment<'a>, DropReason> {
    let sliced = link::slice(link, data)?;
    segment(sliced, ts, netns, true)
}

/// Maps an etherparse error onto a drop reason.
fn reason(err: &etherparse::err::packet::SliceError) -> DropReason {
    match err {
        etherparse::err::packet::SliceError::Len(_) => DropReason::PacketTruncated,
        _ => DropReason::PacketMalformed,
    }
}

fn segment<'a>(
    p: LaxSlicedPacket<'a>,
    ts: Timestamp,
    netns: NetnsId,
    outer: bool,
) -> Result<Segment<'a>, DropReason> {
    let stopped = || {
        p.stop_err
            .as_ref()
            .map_or(DropReason::NotTcp, |(e, _)| reason(e))
    };
    let (src, dst, payload) = match &p.net {
        Some(LaxNetSlice::Ipv4(ip)) => {
            let h = ip.header();
            (
                IpAddr::V4(h.source_addr()),
                IpAddr::V4(h.destination_addr()),
                ip.payload(),
            )
        }
        Some(LaxNetSlice::Ipv6(ip)) => {
            let h = ip.header();
            (
                IpAddr::V6(h.source_addr()),
                IpAddr::V6(h.destination_addr()),
                ip.payload(),
            )
        }
        Some(LaxNetSlice::Arp(_)) => return Err(DropReason::NotTcp),
        None => return Err(stopped()),
    };
    if payload.fragmented {
        return Err(DropReason::IpFragment);
    }
    match &p.transport {
        Some(TransportSlice::Tcp(tcp)) => {
            if payload.incomplete {
                return Err(DropReason::PacketTruncated);
            }
            let flags = tcp.header_slice().get(13).copied().unwrap_or(0) & 0x1f;
            Ok(Segment {
                ts,
                src: SocketAddr::new(src, tcp.source_port()),
                dst: SocketAddr::new(dst, tcp.destination_port()),
                netns,
                seq: tcp.sequence_number(),
                ack: tcp.acknowledgment_number(),
                flags: TcpFlags::from_bits_retain(flags),
                payload: tcp.payload(),
            })
        }
        Some(TransportSlice::Udp(udp)) if outer && udp.destination_port() == VXLAN_PORT => {
            let inner = link::vxlan(udp.payload())?;
            segment(inner, ts, netns, false)
        }
        Some(_) => Err(DropReason::NotTcp),
        None if payload.ip_number == etherparse::IpNumber::TCP => Err(stopped()),
        None => Err(DropReason::NotTcp),
    }
}
