//! Counters for everything the pipeline sees, and every drop by its reason.
//!
//! Each thread owns a [`Counters`] block (no sharing on the hot path); a
//! [`StatsRegistry`] sums them into a [`Stats`] snapshot on demand.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;

macro_rules! drop_reasons {
    ($( $(#[$doc:meta])* $variant:ident => $name:literal, )*) => {
        /// Why something was dropped. Every drop in cleartap increments the
        /// counter of exactly one reason.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum DropReason {
            $( $(#[$doc])* $variant, )*
        }

        impl DropReason {
            /// Every reason, in declaration order.
            pub const ALL: &'static [DropReason] = &[$(DropReason::$variant,)*];
            /// How many reasons there are.
            pub const COUNT: usize = Self::ALL.len();

            /// The counter's name in stats output.
            pub const fn as_str(self) -> &'static str {
                match self { $(DropReason::$variant => $name,)* }
            }
        }
    };
}

drop_reasons! {
    /// A packet was shorter than its headers claim.
    PacketTruncated => "packet_truncated",
    /// A packet's headers are invalid.
    PacketMalformed => "packet_malformed",
    /// A packet is not TCP (UDP, ICMP, ARP, …).
    NotTcp => "not_tcp",
    /// A capture link type that the decoder does not handle.
    UnsupportedLinkType => "unsupported_link_type",
    /// An IP fragment: fragments are not reassembled.
    IpFragment => "ip_fragment",
    /// The same packet was seen twice (veth pair, `any` device).
    DuplicatePacket => "duplicate_packet",
    /// A packet or chunk was excluded by an address filter.
    AddressFiltered => "address_filtered",
    /// The kernel dropped packets before libpcap saw them.
    KernelDropped => "kernel_dropped",
    /// The eBPF ring buffer was full: an event was lost in the kernel.
    RingBufferFull => "ringbuf_full",
    /// An input could not be handed to a worker because its queue was full
    /// (in inputs or in bytes); counted per input.
    WorkerQueueFull => "worker_queue_full",
    /// Segment data already delivered (retransmission), or a late duplicate.
    Retransmission => "retransmission",
    /// A segment arrived for a connection already closed.
    LateSegment => "late_segment",
    /// A connection was evicted to stay under the connection cap.
    ConnectionEvicted => "connection_evicted",
    /// A connection went silent and was flushed.
    ConnectionTimeout => "connection_timeout",
    /// Out-of-order bytes beyond a connection's buffer cap.
    ConnBufferFull => "conn_buffer_full",
    /// Out-of-order bytes beyond the pipeline-wide buffer cap.
    TotalBufferFull => "total_buffer_full",
    /// A hole in a byte stream handed to the parser as lost, counted once per
    /// hole. How many bytes the holes span is a claim of sequence numbers,
    /// not bytes that arrived: see [`Counter::GapBytes`].
    Gap => "gaps",
    /// A segment whose bytes lie further ahead than any TCP window reaches
    /// (forged or corrupt sequence numbers): dropped, counted per segment.
    OutOfWindow => "out_of_window",
    /// A segment overlapped bytes held for reordering with different bytes
    /// (how IDS evasion looks): the earlier bytes are kept, the exchange is
    /// flagged `overlap_conflict`; counted per segment.
    OverlapConflict => "overlap_conflict",
    /// Bytes a parser could not use (before a resynchronisation point, after an upgrade, garbage).
    UnparsedBytes => "unparsed_bytes",
    /// A message that could not be parsed.
    ParseError => "parse_error",
    /// Body bytes beyond the body capture limit (counted, not kept).
    BodyTruncated => "body_truncated",
    /// A header list larger than the limit.
    HeaderListTooLarge => "header_list_too_large",
    /// HTTP/2 streams beyond the per-connection limit.
    StreamLimit => "stream_limit",
    /// HTTP/2 DATA beyond the per-stream buffer limit.
    StreamDataLimit => "stream_data_limit",
    /// A header referenced compression state from before the capture.
    HpackUnknownReference => "hpack_unknown_reference",
    /// Requests waiting for responses beyond the per-connection limit.
    PendingRequestLimit => "pending_request_limit",
    /// An exchange rejected by a filter.
    Filtered => "filtered",
    /// An exchange could not be handed to the sink because its queue was full
    /// (in exchanges or in bytes).
    SinkQueueFull => "sink_queue_full",
    /// The sink failed to deliver an exchange.
    SinkDeliveryFailed => "sink_delivery_failed",
    /// A message over a sink's output budget (bytes per minute), dropped unsent.
    OutputLimit => "output_limit",
    /// Load shed because the process was above its memory ceiling.
    MemoryCeiling => "memory_ceiling",
}

/// A level a source reports (not a count): what it is watching now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Gauge {
    /// Libraries and binaries that carry TLS uprobes.
    TlsTargets,
    /// Pod network namespaces with a capture running.
    PodNamespaces,
    /// Go programs using crypto/tls that cannot be probed (each logged once
    /// with the reason: Go before 1.17, not amd64, unknown layout, ...).
    GoUnprobeable,
}

impl Gauge {
    /// Every gauge, in declaration order.
    pub const ALL: &'static [Gauge] = &[
        Gauge::TlsTargets,
        Gauge::PodNamespaces,
        Gauge::GoUnprobeable,
    ];
    /// How many gauges there are.
    pub const COUNT: usize = Self::ALL.len();

    /// The gauge's name in stats output.
    pub const fn as_str(self) -> &'static str {
        match self {
            Gauge::TlsTargets => "tls_targets",
            Gauge::PodNamespaces => "pod_namespaces",
            Gauge::GoUnprobeable => "go_unprobeable",
        }
    }
}

macro_rules! counters {
    ($( $(#[$doc:meta])* $variant:ident => $field:ident, )*) => {
        /// What a [`Counters`] block counts, besides drops.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Counter {
            $( $(#[$doc])* $variant, )*
        }

        impl Counter {
            /// Every counter, in declaration order.
            pub const ALL: &'static [Counter] = &[$(Counter::$variant,)*];
            /// How many counters there are.
            pub const COUNT: usize = Self::ALL.len();

            /// The counter's name in stats output.
            pub const fn as_str(self) -> &'static str {
                match self { $(Counter::$variant => stringify!($field),)* }
            }
        }

        /// A point-in-time sum of every thread's counters.
        #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
        pub struct Stats {
            $( $(#[$doc])* pub $field: u64, )*
            /// Drops by reason; reasons with no drop are left out.
            pub drops: BTreeMap<&'static str, u64>,
            /// Gauges reported by sources, by name; gauges never set are left out.
            #[serde(skip_serializing_if = "BTreeMap::is_empty")]
            pub gauges: BTreeMap<&'static str, u64>,
        }

        impl Stats {
            /// The value of `counter`.
            pub fn get(&self, counter: Counter) -> u64 {
                match counter { $(Counter::$variant => self.$field,)* }
            }

            fn field_mut(&mut self, counter: Counter) -> &mut u64 {
                match counter { $(Counter::$variant => &mut self.$field,)* }
            }
        }
    };
}

counters! {
    /// Packets or events read by sources.
    Packets => packets,
    /// Bytes of those packets or events.
    Bytes => bytes,
    /// TCP segments or socket chunks given to reassemblers.
    Segments => segments,
    /// Payload bytes delivered in order to parsers.
    StreamBytes => stream_bytes,
    /// Connections opened.
    Connections => connections,
    /// Connections closed, for any reason.
    ConnectionsClosed => connections_closed,
    /// Exchanges produced by parsers.
    Exchanges => exchanges,
    /// Exchanges accepted by the sink.
    ExchangesDelivered => exchanges_delivered,
    /// Bytes the gaps span by their sequence numbers or stream positions: a
    /// claim, not bytes that arrived. Each TCP gap is at most what one TCP
    /// window can hold (1 GiB), since segments further ahead are dropped as
    /// `out_of_window`; the gaps themselves are counted as the drop `gaps`.
    GapBytes => gap_bytes,
    /// TLS plaintext chunks whose connection is not a TCP socket (a Go
    /// `tls.Conn` over a unix socket, a pipe or another `net.Conn`), or
    /// could not be tied to one (a GnuTLS session whose own push/pull
    /// functions move its records through another thread): handed out keyed
    /// by process and connection object, without addresses.
    TlsUnattributed => tls_unattributed,
}

/// One thread's counters. Relaxed atomics: each block has one writer.
///
/// ```
/// use capture_core::stats::{Counter, Counters, DropReason};
///
/// let counters = Counters::default();
/// counters.add(Counter::Packets, 1);
/// counters.dropped(DropReason::NotTcp, 1);
/// assert_eq!(counters.get(Counter::Packets), 1);
/// assert_eq!(counters.drops(DropReason::NotTcp), 1);
/// ```
#[derive(Debug, Default)]
pub struct Counters {
    counts: [AtomicU64; Counter::COUNT],
    drops: [AtomicU64; DropReason::COUNT],
    gauges: [AtomicU64; Gauge::COUNT],
    /// Bit `g` set: gauge `g` was reported by this block.
    gauges_set: AtomicU64,
}

impl Counters {
    /// Adds `n` to `counter`.
    #[inline]
    pub fn add(&self, counter: Counter, n: u64) {
        if let Some(c) = self.counts.get(counter as usize) {
            c.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// The value of `counter`.
    pub fn get(&self, counter: Counter) -> u64 {
        self.counts
            .get(counter as usize)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Counts `n` drops for `reason`.
    #[inline]
    pub fn dropped(&self, reason: DropReason, n: u64) {
        if let Some(c) = self.drops.get(reason as usize) {
            c.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Sets a counter that mirrors an external cumulative figure (kernel drops).
    pub fn set_drops(&self, reason: DropReason, n: u64) {
        if let Some(c) = self.drops.get(reason as usize) {
            c.store(n, Ordering::Relaxed);
        }
    }

    /// The drop count for `reason`.
    pub fn drops(&self, reason: DropReason) -> u64 {
        self.drops
            .get(reason as usize)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Sets a gauge of this block (a source's level: targets probed,
    /// namespaces captured); snapshots add up the blocks' values.
    pub fn set_gauge(&self, gauge: Gauge, value: u64) {
        if let Some(g) = self.gauges.get(gauge as usize) {
            g.store(value, Ordering::Relaxed);
            self.gauges_set
                .fetch_or(1 << (gauge as usize), Ordering::Relaxed);
        }
    }

    /// The value of a gauge of this block, `None` when it was never set.
    pub fn gauge(&self, gauge: Gauge) -> Option<u64> {
        let set = self.gauges_set.load(Ordering::Relaxed) & (1 << (gauge as usize)) != 0;
        set.then(|| self.gauges.get(gauge as usize))
            .flatten()
            .map(|g| g.load(Ordering::Relaxed))
    }
}

impl Stats {
    /// Every count except the drops and gauges, each with its field's name,
    /// in declaration order: for exporters and summaries that list them all
    /// without naming each field.
    pub fn counts(&self) -> [(&'static str, u64); Counter::COUNT] {
        let mut out = [("", 0); Counter::COUNT];
        for (slot, &counter) in out.iter_mut().zip(Counter::ALL) {
            *slot = (counter.as_str(), self.get(counter));
        }
        out
    }

    /// Every drop reason with its count, zeros included, in declaration order.
    pub fn all_drops(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL.iter().map(|&r| (r, self.drops(r)))
    }

    /// The drop count for `reason`.
    pub fn drops(&self, reason: DropReason) -> u64 {
        self.drops.get(reason.as_str()).copied().unwrap_or(0)
    }

    /// The value of `gauge` (0 when no source reports it).
    pub fn gauge(&self, gauge: Gauge) -> u64 {
        self.gauges.get(gauge.as_str()).copied().unwrap_or(0)
    }

    /// The drops as `reason=count` words, or `none`: a summary line's part.
    pub fn drops_summary(&self) -> String {
        if self.drops.is_empty() {
            return String::from("none");
        }
        let words: Vec<String> = self.drops.iter().map(|(k, v)| format!("{k}={v}")).collect();
        words.join(" ")
    }

    /// All drops added up, except those counted in bytes (unparsed, body
    /// truncation): items, not bytes.
    pub fn total_drops(&self) -> u64 {
        self.drops
            .iter()
            .filter(|(k, _)| {
                **k != DropReason::UnparsedBytes.as_str()
                    && **k != DropReason::BodyTruncated.as_str()
            })
            .map(|(_, v)| v)
            .sum()
    }
}

/// Hands out per-thread [`Counters`] and sums them.
#[derive(Clone, Debug, Default)]
pub struct StatsRegistry {
    blocks: Arc<Mutex<Vec<Arc<Counters>>>>,
}

impl StatsRegistry {
    /// A registry with no counters yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new counter block for one thread, included in every snapshot.
    pub fn counters(&self) -> Arc<Counters> {
        let c = Arc::new(Counters::default());
        if let Ok(mut blocks) = self.blocks.lock() {
            blocks.push(c.clone());
        }
        c
    }

    /// Sums every block.
    pub fn snapshot(&self) -> Stats {
        let mut s = Stats::default();
        let mut drops = [0u64; DropReason::COUNT];
        let mut gauges = [0u64; Gauge::COUNT];
        let mut gauges_set = [false; Gauge::COUNT];
        let Ok(blocks) = self.blocks.lock() else {
            return s;
        };
        for c in blocks.iter() {
            for &counter in Counter::ALL {
                *s.field_mut(counter) += c.get(counter);
            }
            for (sum, d) in drops.iter_mut().zip(c.drops.iter()) {
                *sum += d.load(Ordering::Relaxed);
            }
            let reported = c.gauges_set.load(Ordering::Relaxed);
            for (i, ((sum, set), g)) in gauges
                .iter_mut()
                .zip(&mut gauges_set)
                .zip(&c.gauges)
                .enumerate()
            {
                *sum += g.load(Ordering::Relaxed);
                *set |= reported & (1 << i) != 0;
            }
        }
        for ((gauge, n), set) in Gauge::ALL.iter().zip(gauges).zip(gauges_set) {
            if set {
                s.gauges.insert(gauge.as_str(), n);
            }
        }
        for (reason, n) in DropReason::ALL.iter().zip(drops) {
            if n > 0 {
                s.drops.insert(reason.as_str(), n);
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_sums_threads_and_names_drops() {
        let reg = StatsRegistry::new();
        let a = reg.counters();
        let b = reg.counters();
        a.add(Counter::Packets, 3);
        b.add(Counter::Packets, 4);
        b.dropped(DropReason::NotTcp, 2);
        let s = reg.snapshot();
        assert_eq!(s.packets, 7);
        assert_eq!(s.get(Counter::Packets), 7);
        assert_eq!(s.drops(DropReason::NotTcp), 2);
        assert_eq!(s.drops.get("not_tcp"), Some(&2));
        assert_eq!(s.drops.len(), 1);
    }

    #[test]
    fn counts_name_every_field_and_all_drops_every_reason() {
        let s = Stats {
            packets: 1,
            exchanges_delivered: 8,
            drops: [("not_tcp", 3)].into_iter().collect(),
            ..Stats::default()
        };
        // Every field of the serialised form but `drops` is in `counts`.
        let json = serde_json::to_value(&s).unwrap();
        let fields = json.as_object().unwrap();
        assert_eq!(
            fields.len(),
            s.counts().len() + 1,
            "no gauge set: not serialised"
        );
        for (name, n) in s.counts() {
            assert_eq!(fields.get(name), Some(&serde_json::json!(n)), "{name}");
        }
        let drops: Vec<_> = s.all_drops().collect();
        assert_eq!(drops.len(), DropReason::COUNT);
        assert!(drops.contains(&(DropReason::NotTcp, 3)));
        assert_eq!(drops.iter().map(|(_, n)| n).sum::<u64>(), 3);
    }
}
