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
    /// A batch could not be handed to a worker because its queue was full.
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
    /// Bytes declared lost in capture (a gap handed to the parser).
    GapBytes => "gap_bytes",
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
    /// An exchange could not be handed to the sink because its queue was full.
    SinkQueueFull => "sink_queue_full",
    /// The sink failed to deliver an exchange.
    SinkDeliveryFailed => "sink_delivery_failed",
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
}

impl Gauge {
    /// Every gauge, in declaration order.
    pub const ALL: &'static [Gauge] = &[Gauge::TlsTargets, Gauge::PodNamespaces];
    /// How many gauges there are.
    pub const COUNT: usize = Self::ALL.len();

    /// The gauge's name in stats output.
    pub const fn as_str(self) -> &'static str {
        match self {
            Gauge::TlsTargets => "tls_targets",
            Gauge::PodNamespaces => "pod_namespaces",
        }
    }
}

/// One thread's counters. Relaxed atomics: each block has one writer.
#[derive(Debug, Default)]
pub struct Counters {
    /// Packets or events read by a source.
    pub packets: AtomicU64,
    /// Bytes of those packets or events.
    pub bytes: AtomicU64,
    /// TCP segments (or socket chunks) given to a reassembler.
    pub segments: AtomicU64,
    /// Payload bytes delivered in order to parsers.
    pub stream_bytes: AtomicU64,
    /// Connections opened.
    pub connections: AtomicU64,
    /// Connections closed, for any reason.
    pub connections_closed: AtomicU64,
    /// Exchanges produced by parsers.
    pub exchanges: AtomicU64,
    /// Exchanges accepted by the sink.
    pub exchanges_delivered: AtomicU64,
    drops: [AtomicU64; DropReason::COUNT],
    gauges: [AtomicU64; Gauge::COUNT],
    /// Bit `g` set: gauge `g` was reported by this block.
    gauges_set: AtomicU64,
}

impl Counters {
    /// Adds `n` to a counter.
    #[inline]
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
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
}

/// A point-in-time sum of every thread's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Packets or events read by sources.
    pub packets: u64,
    /// Bytes of those packets or events.
    pub bytes: u64,
    /// TCP segments or socket chunks given to reassemblers.
    pub segments: u64,
    /// Payload bytes delivered in order to parsers.
    pub stream_bytes: u64,
    /// Connections opened.
    pub connections: u64,
    /// Connections closed.
    pub connections_closed: u64,
    /// Exchanges produced.
    pub exchanges: u64,
    /// Exchanges accepted by the sink.
    pub exchanges_delivered: u64,
    /// Drops by reason; reasons with no drop are left out.
    pub drops: BTreeMap<&'static str, u64>,
    /// Gauges reported by sources, by name; gauges never set are left out.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub gauges: BTreeMap<&'static str, u64>,
}

impl Stats {
    /// Every count except the drops, each with its field's name, in
    /// declaration order: for exporters and summaries that list them all
    /// without naming each field.
    pub fn counts(&self) -> [(&'static str, u64); 8] {
        [
            ("packets", self.packets),
            ("bytes", self.bytes),
            ("segments", self.segments),
            ("stream_bytes", self.stream_bytes),
            ("connections", self.connections),
            ("connections_closed", self.connections_closed),
            ("exchanges", self.exchanges),
            ("exchanges_delivered", self.exchanges_delivered),
        ]
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

    /// All drops added up, except bytes counted as gap or unparsed (those are bytes, not items).
    pub fn total_drops(&self) -> u64 {
        self.drops
            .iter()
            .filter(|(k, _)| {
                **k != DropReason::GapBytes.as_str()
                    && **k != DropReason::UnparsedBytes.as_str()
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
            let ld = |a: &AtomicU64| a.load(Ordering::Relaxed);
            s.packets += ld(&c.packets);
            s.bytes += ld(&c.bytes);
            s.segments += ld(&c.segments);
            s.stream_bytes += ld(&c.stream_bytes);
            s.connections += ld(&c.connections);
            s.connections_closed += ld(&c.connections_closed);
            s.exchanges += ld(&c.exchanges);
            s.exchanges_delivered += ld(&c.exchanges_delivered);
            for (sum, d) in drops.iter_mut().zip(c.drops.iter()) {
                *sum += ld(d);
            }
            let reported = ld(&c.gauges_set);
            for (i, ((sum, set), g)) in gauges
                .iter_mut()
                .zip(&mut gauges_set)
                .zip(&c.gauges)
                .enumerate()
            {
                *sum += ld(g);
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
        Counters::add(&a.packets, 3);
        Counters::add(&b.packets, 4);
        b.dropped(DropReason::NotTcp, 2);
        let s = reg.snapshot();
        assert_eq!(s.packets, 7);
        assert_eq!(s.drops(DropReason::NotTcp), 2);
        assert_eq!(s.drops.get("not_tcp"), Some(&2));
        assert_eq!(s.drops.len(), 1);
        assert!(s.gauges.is_empty(), "no source reported a gauge");
        a.set_gauge(Gauge::TlsTargets, 2);
        b.set_gauge(Gauge::TlsTargets, 3);
        b.set_gauge(Gauge::PodNamespaces, 0);
        let s = reg.snapshot();
        assert_eq!(s.gauge(Gauge::TlsTargets), 5);
        assert_eq!(s.gauges.get("pod_namespaces"), Some(&0));
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
