//! pcapng: a sequence of blocks (type, length, body, length). A Section
//! Header Block sets the byte order and starts a new list of interfaces;
//! Interface Description Blocks give each interface's link type and
//! timestamp resolution; Enhanced, Simple and (obsolete) Packet Blocks
//! carry packets. Every other block is skipped.

use capture_core::DropReason;
use capture_core::model::Timestamp;

use super::wire::{Cursor, Endian, pad4};
use super::{Corruption, Packet};
use crate::decode::LinkType;

/// The Section Header Block type, the same in both byte orders.
pub(crate) const SHB: u32 = 0x0A0D_0D0A;
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;
const IDB: u32 = 1;
const OPB: u32 = 2;
const SPB: u32 = 3;
const EPB: u32 = 6;

const OPT_END: u16 = 0;
const OPT_IF_TSRESOL: u16 = 9;
const OPT_IF_TSOFFSET: u16 = 14;

/// More interfaces than this in one section is taken as corruption.
const MAX_INTERFACES: usize = 65_536;

/// How to turn an interface's timestamp units into nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TsScale {
    /// Units are 10^-n seconds with n ≤ 9: multiply.
    Mul(u64),
    /// Units are 10^-n seconds with n > 9: divide.
    Div(u64),
    /// Units are 2^-n seconds.
    Pow2(u32),
    /// Units too small to matter (10^-n with n > 28).
    Zero,
}

impl TsScale {
    /// From the `if_tsresol` option byte: most significant bit clear means a
    /// power of 10, set means a power of 2; the rest is the negative exponent.
    fn from_tsresol(v: u8) -> Self {
        let n = u32::from(v & 0x7f);
        if v & 0x80 != 0 {
            return TsScale::Pow2(n);
        }
        if n <= 9 {
            TsScale::Mul(10u64.pow(9 - n))
        } else {
            10u64.checked_pow(n - 9).map_or(TsScale::Zero, TsScale::Div)
        }
    }

    #[inline]
    fn nanos(self, units: u64) -> u64 {
        match self {
            TsScale::Mul(m) => units.saturating_mul(m),
            TsScale::Div(d) => units / d,
            TsScale::Pow2(n) => {
                let ns = (u128::from(units) * 1_000_000_000) >> n;
                u64::try_from(ns).unwrap_or(u64::MAX)
            }
            TsScale::Zero => 0,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Interface {
    link: LinkType,
    snaplen: u32,
    scale: TsScale,
    /// `if_tsoffset`: seconds added to every timestamp.
    offset_secs: i64,
}

impl Interface {
    fn timestamp(&self, high: u32, low: u32) -> Timestamp {
        let units = (u64::from(high) << 32) | u64::from(low);
        let ns = i128::from(self.scale.nanos(units)) + i128::from(self.offset_secs) * 1_000_000_000;
        Timestamp(u64::try_from(ns.max(0)).unwrap_or(u64::MAX))
    }
}

/// Reading state of a pcapng file.
#[derive(Clone, Debug)]
pub(crate) struct PcapngReader {
    endian: Endian,
    interfaces: Vec<Interface>,
    /// The time of the last timestamped packet, for Simple Packet Blocks.
    last_ts: Timestamp,
    pos: usize,
    done: bool,
}

impl PcapngReader {
    /// Checks the first Section Header Block. `Err` says what is wrong with it.
    pub(crate) fn new(data: &[u8]) -> Result<Self, &'static str> {
        let mut r = Self {
            endian: Endian::Little,
            interfaces: Vec::new(),
            last_ts: Timestamp(0),
            pos: 0,
            done: false,
        };
        match r.block(data) {
            Ok(Some((SHB, body))) => {
                r.section(body).map_err(|(_, what, _)| what)?;
                Ok(Self { pos: 0, ..r })
            }
            Ok(Some(_)) => Err("the file does not start with a section header block"),
            Ok(None) => Err("the first block is cut off"),
            Err(c) => Err(c.what),
        }
    }

    /// Bytes consumed so far.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    fn fail(&mut self, reason: DropReason, what: &'static str) -> Corruption {
        self.done = true;
        Corruption {
            offset: self.pos as u64,
            reason,
            what,
            fatal: true,
        }
    }

    /// The next packet, or `None` at the end of the file.
    pub(crate) fn next<'a>(&mut self, data: &'a [u8]) -> Option<Result<Packet<'a>, Corruption>> {
        // Every turn consumes at least one 12-byte block, so this ends.
        while !self.done {
            let start = self.pos;
            let (block_type, body) = match self.block(data) {
                Ok(Some(b)) => b,
                Ok(None) => {
                    self.done = true;
                    return None;
                }
                Err(c) => return Some(Err(c)),
            };
            let result = match block_type {
                SHB => self.section(body).map(|()| None),
                IDB => self.interface(body).map(|()| None),
                EPB => self.enhanced_packet(body).map(Some),
                SPB => self.simple_packet(body).map(Some),
                OPB => self.obsolete_packet(body).map(Some),
                _ => Ok(None),
            };
            match result {
                Ok(Some(packet)) => return Some(Ok(packet)),
                Ok(None) => {}
                Err((reason, what, fatal)) => {
                    self.done = fatal;
                    return Some(Err(Corruption {
                        offset: start as u64,
                        reason,
                        what,
                        fatal,
                    }));
                }
            }
        }
        None
    }

    /// Frames the block at `pos`: its type and body, advancing past it.
    fn block<'a>(&mut self, data: &'a [u8]) -> Result<Option<(u32, &'a [u8])>, Corruption> {
        let rest = data.get(self.pos..).unwrap_or_default();
        if rest.is_empty() {
            return Ok(None);
        }
        let Some((head, _)) = rest.split_first_chunk::<12>() else {
            return Err(self.fail(
                DropReason::PacketTruncated,
                "block cut off at the end of the file",
            ));
        };
        let [t0, t1, t2, t3, l0, l1, l2, l3, b0, b1, b2, b3] = *head;
        if u32::from_le_bytes([t0, t1, t2, t3]) == SHB {
            // A new section may switch the byte order.
            self.endian = match u32::from_le_bytes([b0, b1, b2, b3]) {
                BYTE_ORDER_MAGIC => Endian::Little,
                m if m.swap_bytes() == BYTE_ORDER_MAGIC => Endian::Big,
                _ => {
                    return Err(self.fail(
                        DropReason::PacketMalformed,
                        "section header with an invalid byte-order magic",
                    ));
                }
            };
        }
        let block_type = self.endian.u32([t0, t1, t2, t3]);
        let total = self.endian.u32([l0, l1, l2, l3]) as usize;
        if total < 12 || !total.is_multiple_of(4) {
            return Err(self.fail(DropReason::PacketMalformed, "block length invalid"));
        }
        let Some(block) = rest.get(..total) else {
            return Err(self.fail(
                DropReason::PacketTruncated,
                "block cut off at the end of the file",
            ));
        };
        let (Some(body), Some(trailer)) = (block.get(8..total - 4), block.last_chunk::<4>()) else {
            return Err(self.fail(DropReason::PacketMalformed, "block length invalid"));
        };
        if self.endian.u32(*trailer) as usize != total {
            return Err(self.fail(
                DropReason::PacketMalformed,
                "block's trailing length differs from its leading length",
            ));
        }
        self.pos += total;
        Ok(Some((block_type, body)))
    }

    fn section(&mut self, body: &[u8]) -> Result<(), BlockError> {
        let mut c = Cursor::new(body, self.endian);
        let (Some(_magic), Some(major)) = (c.u32(), c.u16()) else {
            return Err((
                DropReason::PacketMalformed,
                "section header too short",
                true,
            ));
        };
        if major != 1 {
            return Err((
                DropReason::PacketMalformed,
                "unsupported pcapng major version",
                true,
            ));
        }
        self.interfaces.clear();
        Ok(())
    }

    fn interface(&mut self, body: &[u8]) -> Result<(), BlockError> {
        let mut c = Cursor::new(body, self.endian);
        let (Some(link), Some(_reserved), Some(snaplen)) = (c.u16(), c.u16(), c.u32()) else {
            return Err((
                DropReason::PacketMalformed,
                "interface description too short",
                false,
            ));
        };
        let mut iface = Interface {
            link: LinkType(link),
            snaplen,
            scale: TsScale::Mul(1000),
            offset_secs: 0,
        };
        // Options are advisory: a malformed list ends the options, not the file.
        while let (Some(code), Some(len)) = (c.u16(), c.u16()) {
            if code == OPT_END {
                break;
            }
            let Some(value) = c.bytes(len as usize) else {
                break;
            };
            let _ = c.skip(pad4(len as usize).unwrap_or(0) - len as usize);
            match (code, value) {
                (OPT_IF_TSRESOL, [v, ..]) => iface.scale = TsScale::from_tsresol(*v),
                (OPT_IF_TSOFFSET, _) => {
                    if let Some(b) = value.first_chunk::<8>() {
                        iface.offset_secs = self.endian.u64(*b) as i64;
                    }
                }
                _ => {}
            }
        }
        if self.interfaces.len() >= MAX_INTERFACES {
            return Err((
                DropReason::PacketMalformed,
                "too many interfaces in one section",
                true,
            ));
        }
        self.interfaces.push(iface);
        Ok(())
    }

    fn iface(&self, id: usize) -> Result<Interface, BlockError> {
        self.interfaces.get(id).copied().ok_or((
            DropReason::PacketMalformed,
            "packet refers to an interface not described before it",
            false,
        ))
    }

    fn enhanced_packet<'a>(&mut self, body: &'a [u8]) -> Result<Packet<'a>, BlockError> {
        let mut c = Cursor::new(body, self.endian);
        let (Some(id), Some(high), Some(low), Some(cap), Some(orig)) =
            (c.u32(), c.u32(), c.u32(), c.u32(), c.u32())
        else {
            return Err((
                DropReason::PacketTruncated,
                "enhanced packet block too short",
                false,
            ));
        };
        let data = c.bytes(cap as usize);
        self.timed_packet(
            id as usize,
            (high, low),
            data,
            orig,
            "packet longer than its enhanced packet block",
        )
    }

    fn obsolete_packet<'a>(&mut self, body: &'a [u8]) -> Result<Packet<'a>, BlockError> {
        let mut c = Cursor::new(body, self.endian);
        let (Some(id), Some(_drops), Some(high), Some(low), Some(cap), Some(orig)) =
            (c.u16(), c.u16(), c.u32(), c.u32(), c.u32(), c.u32())
        else {
            return Err((DropReason::PacketTruncated, "packet block too short", false));
        };
        let data = c.bytes(cap as usize);
        self.timed_packet(
            usize::from(id),
            (high, low),
            data,
            orig,
            "packet longer than its packet block",
        )
    }

    /// A packet of interface `id` stamped `(high, low)` in its units; its
    /// time is the one a following Simple Packet Block gets. `data` is
    /// `None` when the captured length runs past the block (`too_long`).
    fn timed_packet<'a>(
        &mut self,
        id: usize,
        (high, low): (u32, u32),
        data: Option<&'a [u8]>,
        orig_len: u32,
        too_long: &'static str,
    ) -> Result<Packet<'a>, BlockError> {
        let iface = self.iface(id)?;
        let data = data.ok_or((DropReason::PacketTruncated, too_long, false))?;
        let ts = iface.timestamp(high, low);
        self.last_ts = ts;
        Ok(Packet {
            ts,
            link: iface.link,
            data,
            orig_len,
        })
    }

    /// A Simple Packet Block has no timestamp: it gets the last one seen.
    fn simple_packet<'a>(&mut self, body: &'a [u8]) -> Result<Packet<'a>, BlockError> {
        let mut c = Cursor::new(body, self.endian);
        let Some(orig) = c.u32() else {
            return Err((
                DropReason::PacketTruncated,
                "simple packet block too short",
                false,
            ));
        };
        let iface = self.iface(0)?;
        let mut cap = (orig as usize).min(c.rest().len());
        if iface.snaplen != 0 {
            cap = cap.min(iface.snaplen as usize);
        }
        let data = c.bytes(cap).unwrap_or_default();
        Ok(Packet {
            ts: self.last_ts,
            link: iface.link,
            data,
            orig_len: orig,
        })
    }
}

/// A block that could not be used: the drop reason, what is wrong, and
/// whether the rest of the file is unreadable.
type BlockError = (DropReason, &'static str, bool);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsresol_scales() {
        assert_eq!(TsScale::from_tsresol(6).nanos(1_500_000), 1_500_000_000);
        assert_eq!(TsScale::from_tsresol(9).nanos(7), 7);
        assert_eq!(TsScale::from_tsresol(12).nanos(7_000), 7);
        assert_eq!(TsScale::from_tsresol(0x80 | 10).nanos(1024), 1_000_000_000);
        assert_eq!(
            TsScale::from_tsresol(0x80 | 30).nanos(3 << 29),
            1_500_000_000
        );
        assert_eq!(TsScale::from_tsresol(127).nanos(u64::MAX), 0);
        assert_eq!(TsScale::from_tsresol(0xff).nanos(u64::MAX), 0);
        assert_eq!(TsScale::from_tsresol(0).nanos(u64::MAX), u64::MAX);
    }
}
