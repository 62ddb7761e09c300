//! Dropping packets that a capture sees twice.
//!
//! The same IP packet can reach one capture more than once: the `any`
//! device sees it on each interface it crosses (a veth pair and the bridge
//! behind it), and a namespace captured on both `lo` and `any` sees its
//! loopback traffic on both handles. The copies differ only in what the
//! hops rewrite — the link-layer header, the IPv4 TTL and header checksum
//! (IPv6 hop limit) when the packet is routed, and the TCP checksum, which
//! may still be a partial pseudo-header sum on the sending side with
//! checksum offload. [`Dedup`] fingerprints the IP packet with those fields
//! masked and drops a packet whose fingerprint was seen within a short
//! window.
//!
//! It is an I/O-free state machine with a fixed-size table: memory stays
//! bounded whatever the traffic, at the cost of missing a duplicate when its
//! slot was reused by busier traffic in between (a miss lets the copy
//! through; the reassembler then drops it as a retransmission).
//!
//! ```
//! use backend_pcap::dedup::Dedup;
//! use capture_core::model::Timestamp;
//!
//! # let packet = [0x45u8, 0, 0, 20, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
//! let mut dedup = Dedup::default();
//! assert!(!dedup.is_duplicate(Timestamp(1_000), &packet));
//! assert!(dedup.is_duplicate(Timestamp(2_000), &packet));
//! ```

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use capture_core::model::Timestamp;

/// How long a packet is remembered by default: copies arrive within
/// microseconds of each other; 50 ms leaves room for scheduling delays while
/// staying far below any retransmission timeout.
pub const DEFAULT_WINDOW: Duration = Duration::from_millis(50);

/// Fingerprints remembered by default (16 bytes each: 1 MiB).
pub const DEFAULT_CAPACITY: usize = 1 << 16;

/// IPv4 protocol / IPv6 next-header number of TCP.
const IPPROTO_TCP: u8 = 6;
/// Offset of the checksum inside a TCP header.
const TCP_CHECKSUM: usize = 16;

#[derive(Clone, Copy, Default)]
struct Slot {
    /// Fingerprint; 0 marks an empty slot (a real fingerprint of 0 is remapped).
    fp: u64,
    /// Capture time of the first sighting, in nanoseconds.
    ts: u64,
}

/// A bounded memory of recent packets that recognises copies of the same IP
/// packet within a time window.
pub struct Dedup {
    slots: Box<[Slot]>,
    /// `slots.len() - 1`; the length is a power of two of at least 2.
    mask: usize,
    window_ns: u64,
    hasher: foldhash::fast::RandomState,
}

impl Default for Dedup {
    fn default() -> Self {
        Self::new(DEFAULT_WINDOW, DEFAULT_CAPACITY)
    }
}

impl std::fmt::Debug for Dedup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dedup")
            .field("capacity", &self.slots.len())
            .field("window_ns", &self.window_ns)
            .finish()
    }
}

impl Dedup {
    /// A memory of `capacity` fingerprints (rounded up to a power of two,
    /// at least 2) that treats a packet seen again within `window` as a
    /// duplicate.
    pub fn new(window: Duration, capacity: usize) -> Self {
        let len = capacity.clamp(2, 1 << 26).next_power_of_two();
        Self {
            slots: vec![Slot::default(); len].into_boxed_slice(),
            mask: len - 1,
            window_ns: u64::try_from(window.as_nanos()).unwrap_or(u64::MAX),
            // Keyed per process: the packets, hence the fingerprints, are chosen by others.
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    /// The fingerprint of an IP packet (starting at its IPv4 or IPv6 header):
    /// a keyed hash of its bytes with the fields that differ between copies
    /// of the same packet masked out. Never 0.
    pub fn fingerprint(&self, ip_packet: &[u8]) -> u64 {
        let ip_packet = trim_to_ip_length(ip_packet);
        let mut h = self.hasher.build_hasher();
        h.write_usize(ip_packet.len());
        let masked = masked_fields(ip_packet);
        let mut at = 0usize;
        for (start, len) in masked.into_iter().flatten() {
            if let Some(part) = ip_packet.get(at..start) {
                h.write(part);
            }
            at = start.saturating_add(len);
        }
        if let Some(rest) = ip_packet.get(at..) {
            h.write(rest);
        }
        h.finish().max(1)
    }

    /// True when a copy of `ip_packet` was seen within the window before or
    /// after `ts`; otherwise remembers it and returns false.
    pub fn is_duplicate(&mut self, ts: Timestamp, ip_packet: &[u8]) -> bool {
        let fp = self.fingerprint(ip_packet);
        self.is_duplicate_fingerprint(ts, fp)
    }

    /// [`Dedup::is_duplicate`] for a fingerprint computed earlier.
    pub fn is_duplicate_fingerprint(&mut self, ts: Timestamp, fp: u64) -> bool {
        let now = ts.as_nanos();
        let fp = fp.max(1);
        // Two-way set: the slot pair at the fingerprint's even index.
        let base = usize::try_from(fp).unwrap_or(usize::MAX) & self.mask & !1;
        let window = self.window_ns;
        let fresh = |s: &Slot| s.fp != 0 && now.abs_diff(s.ts) <= window;
        let mut victim: Option<usize> = None;
        let mut oldest = u64::MAX;
        for i in [base, base | 1] {
            let Some(slot) = self.slots.get(i) else {
                continue;
            };
            if slot.fp == fp && fresh(slot) {
                return true;
            }
            // Prefer an empty or expired slot, else the least recent one.
            let age_key = if fresh(slot) { slot.ts } else { 0 };
            if victim.is_none() || age_key < oldest {
                victim = Some(i);
                oldest = age_key;
            }
        }
        if let Some(slot) = victim.and_then(|i| self.slots.get_mut(i)) {
            *slot = Slot { fp, ts: now };
        }
        false
    }
}

/// The packet without link-layer padding after it: cut to the length its
/// IP header declares (when the capture holds that much).
fn trim_to_ip_length(p: &[u8]) -> &[u8] {
    let be16 = |at: usize| {
        p.get(at..at + 2)
            .and_then(|b| b.try_into().ok())
            .map(u16::from_be_bytes)
    };
    let declared = match p.first().map(|b| b >> 4) {
        Some(4) => be16(2).map(usize::from),
        Some(6) => be16(4).map(|n| usize::from(n) + 40),
        _ => None,
    };
    match declared {
        // 0 is what a GSO super-packet may carry: keep everything.
        Some(n) if n > 0 => p.get(..n).unwrap_or(p),
        _ => p,
    }
}

/// Byte ranges `(start, len)` of `ip_packet` that hops rewrite, in order.
fn masked_fields(p: &[u8]) -> [Option<(usize, usize)>; 3] {
    let Some(&first) = p.first() else {
        return [None; 3];
    };
    match first >> 4 {
        4 => {
            let ihl = usize::from(first & 0x0f) * 4;
            let proto = p.get(9).copied();
            let tcp_csum =
                (proto == Some(IPPROTO_TCP) && ihl >= 20).then_some((ihl + TCP_CHECKSUM, 2));
            // TTL at 8, header checksum at 10..12.
            [Some((8, 1)), Some((10, 2)), tcp_csum]
        }
        6 => {
            let next = p.get(6).copied();
            let tcp_csum = (next == Some(IPPROTO_TCP)).then_some((40 + TCP_CHECKSUM, 2));
            // Hop limit at 7.
            [Some((7, 1)), tcp_csum, None]
        }
        _ => [None; 3],
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// An IPv4/TCP packet with a payload.
    fn v4(ttl: u8, ip_id: u16, payload: &[u8]) -> Vec<u8> {
        let total = 40 + payload.len();
        let mut p = vec![0x45, 0, (total >> 8) as u8, total as u8];
        p.extend_from_slice(&ip_id.to_be_bytes());
        p.extend_from_slice(&[0x40, 0, ttl, 6, 0xab, 0xcd, 10, 0, 0, 1, 10, 0, 0, 2]);
        // TCP: ports, seq, ack, offset, flags, window, checksum, urgent
        p.extend_from_slice(&[0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x18, 1, 0]);
        p.extend_from_slice(&[0x12, 0x34, 0, 0]);
        p.extend_from_slice(payload);
        p
    }

    fn v6(hop: u8, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0, 0, (20 + payload.len()) as u8, 6, hop];
        p.extend_from_slice(&[0xfd; 16]);
        p.extend_from_slice(&[0xfe; 16]);
        p.extend_from_slice(&[0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x18, 1, 0]);
        p.extend_from_slice(&[0x12, 0x34, 0, 0]);
        p.extend_from_slice(payload);
        p
    }

    const MS: u64 = 1_000_000;

    #[test]
    fn second_copy_within_window_is_a_duplicate() {
        let mut d = Dedup::default();
        let p = v4(64, 7, b"GET / HTTP/1.1\r\n\r\n");
        assert!(!d.is_duplicate(Timestamp(1_000 * MS), &p));
        assert!(d.is_duplicate(Timestamp(1_000 * MS + 20), &p));
        // A third copy (veth, bridge, veth) too.
        assert!(d.is_duplicate(Timestamp(1_001 * MS), &p));
    }

    #[test]
    fn routed_copy_with_other_ttl_and_checksums_is_a_duplicate() {
        let mut d = Dedup::default();
        let a = v4(64, 7, b"hello");
        let mut b = v4(63, 7, b"hello");
        b[10] = 0x11; // IP header checksum
        b[11] = 0x22;
        b[20 + 16] = 0x99; // TCP checksum (partial vs full)
        assert!(!d.is_duplicate(Timestamp(MS), &a));
        assert!(d.is_duplicate(Timestamp(MS + 5), &b));

        let mut d = Dedup::default();
        let a = v6(64, b"hello");
        let mut b = v6(63, b"hello");
        b[40 + 16] = 0;
        assert!(!d.is_duplicate(Timestamp(MS), &a));
        assert!(d.is_duplicate(Timestamp(MS + 5), &b));
    }

    #[test]
    fn link_layer_padding_is_not_part_of_the_packet() {
        let mut d = Dedup::default();
        let p = v4(64, 3, b"");
        let mut padded = p.clone();
        padded.extend_from_slice(&[0; 6]);
        assert!(!d.is_duplicate(Timestamp(MS), &p));
        assert!(d.is_duplicate(Timestamp(MS), &padded));
    }

    #[test]
    fn copies_arriving_out_of_order_across_handles_match() {
        let mut d = Dedup::default();
        let p = v4(64, 9, b"x");
        assert!(!d.is_duplicate(Timestamp(10 * MS), &p));
        assert!(d.is_duplicate(Timestamp(9 * MS), &p));
    }

    #[test]
    fn distinct_packets_are_kept() {
        let mut d = Dedup::default();
        let t = Timestamp(MS);
        assert!(!d.is_duplicate(t, &v4(64, 1, b"same payload")));
        // Same everything but the IP ID: a retransmission, a different packet.
        assert!(!d.is_duplicate(t, &v4(64, 2, b"same payload")));
        assert!(!d.is_duplicate(t, &v4(64, 1, b"same payloaD")));
        assert!(!d.is_duplicate(t, &v4(64, 1, b"same payload plus")));
        assert!(!d.is_duplicate(t, &v6(64, b"same payload")));
    }

    #[test]
    fn a_copy_after_the_window_is_kept() {
        let mut d = Dedup::new(Duration::from_millis(50), 64);
        let p = v4(64, 1, b"again");
        assert!(!d.is_duplicate(Timestamp(MS), &p));
        assert!(!d.is_duplicate(Timestamp(MS + 51 * MS), &p));
        // …and that later sighting is remembered in turn.
        assert!(d.is_duplicate(Timestamp(MS + 60 * MS), &p));
    }

    #[test]
    fn memory_is_bounded_and_busy_traffic_only_costs_misses() {
        let mut d = Dedup::new(Duration::from_millis(50), 8);
        assert_eq!(d.slots.len(), 8);
        let first = v4(64, 0, b"first");
        assert!(!d.is_duplicate(Timestamp(MS), &first));
        for id in 1..10_000u16 {
            let p = v4(64, id, b"busy");
            assert!(!d.is_duplicate(Timestamp(MS), &p));
            assert!(d.is_duplicate(Timestamp(MS + 1), &p));
        }
        assert_eq!(d.slots.len(), 8);
        // The first packet's slot was most likely reused: a miss, never a false drop.
        let _ = d.is_duplicate(Timestamp(MS + 2), &first);
    }

    proptest::proptest! {
        /// Changing any byte that hops keep changes the fingerprint; changing
        /// one that hops rewrite does not.
        #[test]
        fn only_rewritten_fields_are_ignored(
            payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            ip_id in proptest::prelude::any::<u16>(),
            pos in 0usize..104,
            flip in 1u8..=255,
        ) {
            let d = Dedup::default();
            let a = v4(64, ip_id, &payload);
            let pos = pos % a.len();
            let mut b = a.clone();
            b[pos] ^= flip;
            let rewritten = matches!(pos, 8 | 10 | 11 | 36 | 37);
            proptest::prop_assert_eq!(d.fingerprint(&a) == d.fingerprint(&b), rewritten, "byte {}", pos);
        }
    }

    #[test]
    fn hostile_short_and_garbage_packets_do_not_panic() {
        let mut d = Dedup::default();
        for len in 0..64 {
            let junk: Vec<u8> = (0..len).map(|i| (i * 37) as u8).collect();
            let _ = d.is_duplicate(Timestamp(MS), &junk);
            let mut v4ish = junk.clone();
            if let Some(b) = v4ish.first_mut() {
                *b = 0x4f;
            }
            let _ = d.is_duplicate(Timestamp(MS), &v4ish);
            let mut v6ish = junk;
            if let Some(b) = v6ish.first_mut() {
                *b = 0x60;
            }
            let _ = d.is_duplicate(Timestamp(MS), &v6ish);
        }
    }
}
