//! Link layers: strip what etherparse does not know (cooked captures,
//! loopback, NFLOG, VXLAN) and hand the rest to it.

use capture_core::DropReason;
use etherparse::err::ip::LaxHeaderSliceError;
use etherparse::{EtherType, LaxSlicedPacket};

use super::LinkType;
use crate::file::wire::{Cursor, Endian, pad4};

/// Address families in BSD loopback headers.
const AF_INET: u32 = 2;
/// AF_INET6 on Linux, NetBSD/OpenBSD, FreeBSD and macOS.
const AF_INET6: [u32; 4] = [10, 24, 28, 30];

/// `ARPHRD_NETLINK`: cooked netlink messages, whose protocol field is not an EtherType.
const ARPHRD_NETLINK: u16 = 824;

/// NFLOG attribute holding the packet.
const NFULA_PAYLOAD: u16 = 9;

/// Parses the link layer of `data` and everything above it.
#[inline]
pub(super) fn slice(link: LinkType, data: &[u8]) -> Result<LaxSlicedPacket<'_>, DropReason> {
    match link {
        LinkType::ETHERNET => {
            LaxSlicedPacket::from_ethernet(data).map_err(|_| DropReason::PacketTruncated)
        }
        LinkType::RAW | LinkType::RAW_DLT12 | LinkType::RAW_DLT14 => ip(data),
        LinkType::IPV4 => ip_version(data, 4),
        LinkType::IPV6 => ip_version(data, 6),
        LinkType::NULL => loopback(data, None),
        LinkType::LOOP => loopback(data, Some(Endian::Big)),
        LinkType::LINUX_SLL => sll(data),
        LinkType::LINUX_SLL2 => sll2(data),
        LinkType::NFLOG => nflog(data),
        _ => Err(DropReason::UnsupportedLinkType),
    }
}

/// The inner Ethernet frame of a VXLAN payload (8-byte VXLAN header first).
pub(super) fn vxlan(udp_payload: &[u8]) -> Result<LaxSlicedPacket<'_>, DropReason> {
    let (header, frame) = udp_payload
        .split_first_chunk::<8>()
        .ok_or(DropReason::PacketTruncated)?;
    // The I flag says the VNI is valid; without it this is not VXLAN.
    let [flags, ..] = *header;
    if flags & 0x08 == 0 {
        return Err(DropReason::NotTcp);
    }
    LaxSlicedPacket::from_ethernet(frame).map_err(|_| DropReason::PacketTruncated)
}

fn ip(data: &[u8]) -> Result<LaxSlicedPacket<'_>, DropReason> {
    LaxSlicedPacket::from_ip(data).map_err(|e| match e {
        LaxHeaderSliceError::Len(_) => DropReason::PacketTruncated,
        LaxHeaderSliceError::Content(_) => DropReason::PacketMalformed,
    })
}

fn ip_version(data: &[u8], version: u8) -> Result<LaxSlicedPacket<'_>, DropReason> {
    match data.first() {
        None => Err(DropReason::PacketTruncated),
        Some(b) if b >> 4 != version => Err(DropReason::PacketMalformed),
        Some(_) => ip(data),
    }
}

/// BSD loopback: a 4-byte address family, in the capturing host's byte
/// order for `null` (so both are tried) and big-endian for `loop`.
fn loopback(data: &[u8], endian: Option<Endian>) -> Result<LaxSlicedPacket<'_>, DropReason> {
    let (family, rest) = data
        .split_first_chunk::<4>()
        .ok_or(DropReason::PacketTruncated)?;
    let family = match endian {
        Some(e) => e.u32(*family),
        // Families are small numbers: whichever reading is small is the right one.
        None => u32::from_le_bytes(*family).min(u32::from_be_bytes(*family)),
    };
    if family == AF_INET || AF_INET6.contains(&family) {
        ip(rest)
    } else {
        Err(DropReason::NotTcp)
    }
}

/// Hands a cooked capture's payload on by its protocol field.
fn by_protocol(arphrd: u16, protocol: u16, rest: &[u8]) -> Result<LaxSlicedPacket<'_>, DropReason> {
    // Protocol values below 0x0600 are Linux-specific (802.2 LLC, CAN, …), not EtherTypes.
    if arphrd == ARPHRD_NETLINK || protocol < 0x0600 {
        return Err(DropReason::NotTcp);
    }
    Ok(LaxSlicedPacket::from_ether_type(EtherType(protocol), rest))
}

/// Linux cooked capture v1: packet type, ARPHRD type, address length,
/// 8 address bytes, protocol (all big-endian), 16 bytes in all.
fn sll(data: &[u8]) -> Result<LaxSlicedPacket<'_>, DropReason> {
    let (h, rest) = data
        .split_first_chunk::<16>()
        .ok_or(DropReason::PacketTruncated)?;
    let [_, _, a0, a1, _, _, _, _, _, _, _, _, _, _, p0, p1] = *h;
    by_protocol(
        u16::from_be_bytes([a0, a1]),
        u16::from_be_bytes([p0, p1]),
        rest,
    )
}

/// Linux cooked capture v2: protocol, reserved, interface index, ARPHRD
/// type, packet type, address length, 8 address bytes: 20 bytes in all.
fn sll2(data: &[u8]) -> Result<LaxSlicedPacket<'_>, DropReason> {
    let (h, rest) = data
        .split_first_chunk::<20>()
        .ok_or(DropReason::PacketTruncated)?;
    let [p0, p1, _, _, _, _, _, _, a0, a1, ..] = *h;
    by_protocol(
        u16::from_be_bytes([a0, a1]),
        u16::from_be_bytes([p0, p1]),
        rest,
    )
}

/// NFLOG: a 4-byte header (family, version, resource id), then attributes
/// (length, type — in the capturing host's byte order — and a value padded
/// to 4 bytes). The packet is the `NFULA_PAYLOAD` attribute.
fn nflog(data: &[u8]) -> Result<LaxSlicedPacket<'_>, DropReason> {
    let (_, attrs) = data
        .split_first_chunk::<4>()
        .ok_or(DropReason::PacketTruncated)?;
    // The first attribute's length tells the byte order: it is at least 4
    // and fits in the packet in one reading only (in practice).
    let endian = match attrs.first_chunk::<2>() {
        None => return Err(DropReason::NotTcp),
        Some(len) => {
            let le = usize::from(u16::from_le_bytes(*len));
            if (4..=attrs.len()).contains(&le) {
                Endian::Little
            } else {
                Endian::Big
            }
        }
    };
    let mut c = Cursor::new(attrs, endian);
    // Each turn consumes at least 4 bytes.
    while let (Some(len), Some(kind)) = (c.u16(), c.u16()) {
        let value_len = usize::from(len)
            .checked_sub(4)
            .ok_or(DropReason::PacketMalformed)?;
        let value = c.bytes(value_len).ok_or(DropReason::PacketTruncated)?;
        if kind & 0x3fff == NFULA_PAYLOAD {
            return ip(value);
        }
        let padded = pad4(usize::from(len)).unwrap_or(0);
        if c.skip(padded - usize::from(len)).is_none() {
            break;
        }
    }
    Err(DropReason::NotTcp)
}
