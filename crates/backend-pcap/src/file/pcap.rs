//! Classic pcap: a 24-byte file header, then records of a 16-byte header
//! and the packet bytes.

use capture_core::DropReason;
use capture_core::model::Timestamp;

use super::wire::{Cursor, Endian};
use super::{Corruption, Packet};
use crate::decode::LinkType;

/// Microsecond timestamps, as written by the file's own byte order.
const MAGIC_MICROS: u32 = 0xa1b2_c3d4;
/// Nanosecond timestamps.
const MAGIC_NANOS: u32 = 0xa1b2_3c4d;
/// Alexey Kuznetsov's patched libpcap: 8 more bytes per record header.
const MAGIC_KUZNETSOV: u32 = 0xa1b2_cd34;

const KNOWN: [u32; 3] = [MAGIC_MICROS, MAGIC_NANOS, MAGIC_KUZNETSOV];

const FILE_HEADER_LEN: usize = 24;
/// libpcap refuses records longer than this unless the snap length is larger.
const MAX_RECORD: u32 = 262_144;

/// Reading state of a classic pcap file.
#[derive(Clone, Debug)]
pub(crate) struct PcapReader {
    endian: Endian,
    nanos: bool,
    record_header_len: usize,
    link: LinkType,
    max_record: u32,
    pos: usize,
    done: bool,
}

impl PcapReader {
    /// Recognises the magic number in the first four bytes (read little-endian).
    pub(crate) fn matches(magic_le: u32) -> bool {
        KNOWN
            .iter()
            .any(|m| *m == magic_le || m.swap_bytes() == magic_le)
    }

    /// Reads the file header. `Err` says what is wrong with it.
    pub(crate) fn new(data: &[u8]) -> Result<Self, &'static str> {
        let Some((header, _)) = data.split_first_chunk::<FILE_HEADER_LEN>() else {
            return Err("the pcap file header is cut off");
        };
        let [
            m0,
            m1,
            m2,
            m3,
            v0,
            v1,
            _,
            _,
            _,
            _,
            _,
            _,
            _,
            _,
            _,
            _,
            s0,
            s1,
            s2,
            s3,
            l0,
            l1,
            l2,
            l3,
        ] = *header;
        let magic_le = u32::from_le_bytes([m0, m1, m2, m3]);
        let (endian, magic) = if KNOWN.contains(&magic_le) {
            (Endian::Little, magic_le)
        } else if KNOWN.contains(&magic_le.swap_bytes()) {
            (Endian::Big, magic_le.swap_bytes())
        } else {
            return Err("unknown pcap magic number");
        };
        if endian.u16([v0, v1]) != 2 {
            return Err("unsupported pcap major version (expected 2)");
        }
        let snaplen = endian.u32([s0, s1, s2, s3]);
        // The upper bits hold FCS information; the link type is the low 16 bits.
        let link = LinkType((endian.u32([l0, l1, l2, l3]) & 0xffff) as u16);
        Ok(Self {
            endian,
            nanos: magic == MAGIC_NANOS,
            record_header_len: if magic == MAGIC_KUZNETSOV { 24 } else { 16 },
            link,
            max_record: snaplen.max(MAX_RECORD),
            pos: FILE_HEADER_LEN,
            done: false,
        })
    }

    /// A reader with nothing left to read.
    pub(crate) fn finished() -> Self {
        Self {
            endian: Endian::Little,
            nanos: false,
            record_header_len: 16,
            link: LinkType(0),
            max_record: 0,
            pos: 0,
            done: true,
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

    /// The next record, or `None` at the end of the file.
    #[inline]
    pub(crate) fn next<'a>(&mut self, data: &'a [u8]) -> Option<Result<Packet<'a>, Corruption>> {
        if self.done {
            return None;
        }
        let rest = data.get(self.pos..).unwrap_or_default();
        if rest.is_empty() {
            self.done = true;
            return None;
        }
        let mut c = Cursor::new(rest, self.endian);
        let (Some(secs), Some(frac), Some(incl), Some(orig)) = (c.u32(), c.u32(), c.u32(), c.u32())
        else {
            return Some(Err(self.fail(
                DropReason::PacketTruncated,
                "record header cut off at the end of the file",
            )));
        };
        if c.skip(self.record_header_len - 16).is_none() {
            return Some(Err(self.fail(
                DropReason::PacketTruncated,
                "record header cut off at the end of the file",
            )));
        }
        if incl > self.max_record {
            return Some(Err(self.fail(
                DropReason::PacketMalformed,
                "record length larger than any packet (corrupt record header)",
            )));
        }
        let Some(bytes) = c.bytes(incl as usize) else {
            return Some(Err(self.fail(
                DropReason::PacketTruncated,
                "last record cut off at the end of the file",
            )));
        };
        self.pos += self.record_header_len + incl as usize;
        let frac_nanos = if self.nanos {
            u64::from(frac)
        } else {
            u64::from(frac) * 1000
        };
        let ts = Timestamp(u64::from(secs) * 1_000_000_000 + frac_nanos);
        Some(Ok(Packet {
            ts,
            link: self.link,
            data: bytes,
            orig_len: orig,
        }))
    }
}
