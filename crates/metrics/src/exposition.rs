//! The scrape: merges the shards and reads the pipeline's counters, then
//! writes them with `prometheus-client`'s encoders.

use std::sync::{Arc, Mutex};

use capture_core::Gauge;
use capture_core::pipeline::QueueDepths;
use capture_core::stats::StatsRegistry;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Unit;

use crate::record::{DURATION_BUCKETS, Fold, Shared, series_labels};

/// Where health figures come from: set once the pipeline exists.
#[derive(Debug, Default)]
pub(crate) struct HealthSources {
    pub(crate) stats: Option<StatsRegistry>,
    pub(crate) queues: Option<QueueDepths>,
}

/// The collector registered with the `prometheus-client` registry.
#[derive(Debug)]
pub(crate) struct Exposition {
    pub(crate) shared: Arc<Shared>,
    pub(crate) health: Arc<Mutex<HealthSources>>,
}

type Labels = Vec<(&'static str, String)>;

fn counter(
    e: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    values: &[(Labels, u64)],
) -> Result<(), std::fmt::Error> {
    let mut m = e.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, v) in values {
        ConstCounter::new(*v).encode(m.encode_family(labels)?)?;
    }
    Ok(())
}

fn gauge(
    e: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    values: &[(Labels, i64)],
) -> Result<(), std::fmt::Error> {
    let mut m = e.encode_descriptor(name, help, unit, MetricType::Gauge)?;
    for (labels, v) in values {
        ConstGauge::new(*v).encode(m.encode_family(labels)?)?;
    }
    Ok(())
}

fn signed(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Collector for Exposition {
    fn encode(&self, mut e: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let (stats, queues) = match self.health.lock() {
            Ok(h) => (
                h.stats.as_ref().map(StatsRegistry::snapshot),
                h.queues.clone(),
            ),
            Err(_) => (None, None),
        };
        if let Some(s) = &stats {
            for (name, v) in s.counts() {
                let help = format!(
                    "The pipeline's {} count (cleartap Stats::{name}).",
                    name.replace('_', " ")
                );
                counter(
                    &mut e,
                    &format!("cleartap_{name}"),
                    &help,
                    &[(Vec::new(), v)],
                )?;
            }
            let drops: Vec<(Labels, u64)> = s
                .all_drops()
                .map(|(r, n)| (vec![("reason", r.as_str().to_owned())], n))
                .collect();
            counter(
                &mut e,
                "cleartap_drops",
                "Drops by reason, named as in cleartap's Stats::drops (unparsed_bytes and body_truncated count bytes, the others items). Kernel and ring-buffer losses are reasons kernel_dropped and ringbuf_full.",
                &drops,
            )?;
            gauge(
                &mut e,
                "cleartap_connections_open",
                "Connections opened and not yet closed.",
                None,
                &[(
                    Vec::new(),
                    signed(s.connections.saturating_sub(s.connections_closed)),
                )],
            )?;
            for g in Gauge::ALL {
                if let Some(v) = s.gauges.get(g.as_str()) {
                    let help = match g {
                        Gauge::TlsTargets => "Libraries and binaries carrying TLS uprobes.",
                        Gauge::PodNamespaces => "Pod network namespaces being captured.",
                        Gauge::GoUnprobeable => {
                            "Go programs using crypto/tls that cannot be probed."
                        }
                        _ => "A level reported by a source.",
                    };
                    gauge(
                        &mut e,
                        &format!("cleartap_{}", g.as_str()),
                        help,
                        None,
                        &[(Vec::new(), signed(*v))],
                    )?;
                }
            }
        }
        if let Some(q) = queues {
            let depths = q.now();
            if !depths.is_empty() {
                let fill: Vec<(Labels, i64)> = depths
                    .iter()
                    .map(|d| (vec![("queue", d.name.clone())], signed(d.batches as u64)))
                    .collect();
                gauge(
                    &mut e,
                    "cleartap_queue_depth_batches",
                    "Batches waiting in a pipeline queue (worker-N: inputs for worker N; sink: exchanges for the sink).",
                    None,
                    &fill,
                )?;
                let cap: Vec<(Labels, i64)> = depths
                    .iter()
                    .map(|d| (vec![("queue", d.name.clone())], signed(d.capacity as u64)))
                    .collect();
                gauge(
                    &mut e,
                    "cleartap_queue_capacity_batches",
                    "Batches a pipeline queue holds when full.",
                    None,
                    &cap,
                )?;
                let bytes: Vec<(Labels, i64)> = depths
                    .iter()
                    .map(|d| (vec![("queue", d.name.clone())], signed(d.bytes as u64)))
                    .collect();
                gauge(
                    &mut e,
                    "cleartap_queue_depth",
                    "What the batches waiting in a pipeline queue weigh.",
                    Some(&Unit::Bytes),
                    &bytes,
                )?;
                let bytes_cap: Vec<(Labels, i64)> = depths
                    .iter()
                    .map(|d| {
                        (
                            vec![("queue", d.name.clone())],
                            signed(d.bytes_capacity as u64),
                        )
                    })
                    .collect();
                gauge(
                    &mut e,
                    "cleartap_queue_capacity",
                    "What a pipeline queue may weigh before it is full.",
                    Some(&Unit::Bytes),
                    &bytes_cap,
                )?;
            }
        }
        if let Some(rss) = resident_bytes() {
            gauge(
                &mut e,
                "process_resident_memory",
                "Resident memory of the collector process.",
                Some(&Unit::Bytes),
                &[(Vec::new(), signed(rss))],
            )?;
        }

        let merged = self.shared.merged();
        let requests: Vec<(Labels, u64)> = merged
            .series
            .iter()
            .map(|(k, s)| (series_labels(k), s.requests))
            .collect();
        counter(
            &mut e,
            "cleartap_http_requests",
            "HTTP exchanges by source, destination, method, status class and protocol (status_class none: no response captured; method none: no request captured).",
            &requests,
        )?;
        let mut m = e.encode_descriptor(
            "cleartap_http_request_duration",
            "From the request's first byte to the response's last, for exchanges with both.",
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?;
        for (k, s) in &merged.series {
            if s.durations == 0 {
                continue;
            }
            // prometheus-client adds the buckets up itself: hand it each bucket's own count.
            let buckets: Vec<(f64, u64)> = DURATION_BUCKETS
                .iter()
                .copied()
                .chain([f64::INFINITY])
                .zip(s.buckets)
                .collect();
            let labels = series_labels(k);
            m.encode_family(&labels)?.encode_histogram::<NoLabelSet>(
                s.duration_sum,
                s.durations,
                &buckets,
                None,
            )?;
        }
        let folded: Vec<(Labels, u64)> = Fold::ALL
            .iter()
            .map(|f| {
                (
                    vec![("label", f.label().to_owned())],
                    merged.folded.get(*f as usize).copied().unwrap_or(0),
                )
            })
            .collect();
        counter(
            &mut e,
            "cleartap_http_label_folded",
            "Exchanges whose label values were folded into `other` to bound cardinality: method (not a known method), path (beyond the template cap), series (beyond the series cap: peers and path became other), edge (beyond the map's edge cap).",
            &folded,
        )?;
        Ok(())
    }
}

/// Resident memory of this process, from `/proc/self/statm`.
pub(crate) fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok()?)
}
