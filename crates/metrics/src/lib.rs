//! # capture-metrics
//!
//! What a cleartap collector shows while it runs: Prometheus metrics and a
//! service map.
//!
//! - **Collector health**: every [`Stats`](capture_core::Stats) count
//!   (`cleartap_packets_total`, …), every drop by reason with the names of
//!   `Stats::drops` (`cleartap_drops_total{reason="…"}`, kernel and ring-buffer
//!   losses included), connections open, attached TLS targets, captured pod
//!   namespaces, queue depths, resident memory.
//! - **HTTP RED metrics** in the manner of Hubble's `httpV2`:
//!   `cleartap_http_requests_total` and the histogram
//!   `cleartap_http_request_duration_seconds` (request's first byte to the
//!   response's last) by source and destination (Kubernetes workload and
//!   namespace when attribution named them, client IP and server address
//!   otherwise), method, status class and protocol, and optionally a path
//!   template. Labels are bounded: methods outside a fixed list, templates
//!   beyond [`MetricsConfig::max_path_templates`] and label sets beyond
//!   [`MetricsConfig::max_series`] are folded into `other`, and counted in
//!   `cleartap_http_label_folded_total{label="…"}`. Raw paths are never labels.
//! - **A service map** ([`ServiceMap`]): nodes are workloads (or
//!   addresses), edges calls with rate, error share, p50/p99 latency and
//!   protocol, rendered as one self-contained HTML page with cytoscape.js
//!   inside.
//!
//! Exposition uses the official `prometheus-client` crate; [`Metrics::serve`]
//! answers `/metrics`, `/map` and `/map.json` with `hyper`. A collector's
//! `--metrics ADDR` option is one [`MetricsEndpoint`]: served and wired into
//! the pipeline when an address was given, nothing otherwise.
//!
//! Exchanges are watched through the pipeline's
//! [`ExchangeObserver`] hook: each worker records
//! into its own shard, locked once per batch, and a scrape merges the
//! shards. Without metrics the pipeline has no observer and pays nothing.
//!
//! # Example
//!
//! ```
//! use capture_core::model::*;
//! use capture_metrics::{Metrics, MetricsConfig};
//!
//! let metrics = Metrics::new(MetricsConfig::default());
//! // A pipeline takes `metrics.observer()`; here one exchange is recorded by hand.
//! let key = ConnKey::new("10.0.0.1:40000".parse()?, "10.0.0.2:80".parse()?, NetnsId::UNKNOWN);
//! let meta = ConnMeta::new(key, CaptureSource::Pcap, Timestamp(0));
//! let mut ex = Exchange::new(Protocol::Http11, &meta, Roles::CONFIRMED);
//! ex.request = Some(Request::builder("GET", "/").build(Timestamp(1_000_000)));
//! let mut resp = Response::builder(200).build_response(Timestamp(2_000_000));
//! resp.end_ts = Timestamp(3_000_000);
//! ex.response = Some(resp);
//! let mut recorder = metrics.recorder();
//! capture_core::pipeline::ExchangeRecorder::record(&mut recorder, &[ex]);
//!
//! let text = metrics.prometheus_text();
//! assert!(text.contains(r#"cleartap_http_requests_total{source="10.0.0.1",source_namespace="",destination="10.0.0.2:80",destination_namespace="",method="GET",status_class="2xx",protocol="http/1.1"} 1"#));
//! let map = metrics.service_map();
//! assert_eq!((map.nodes.len(), map.edges[0].calls), (2, 1));
//!
//!
//! // Serving until `server` is dropped; port 0 lets the kernel choose.
//! let server = metrics.serve("127.0.0.1:0".parse()?)?;
//! eprintln!("scrape http://{0}/metrics, look at http://{0}/map", server.local_addr());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod endpoint;
mod error;
mod exposition;
pub mod labels;
mod map;
mod page;
mod record;
mod server;
mod view;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use capture_core::pipeline::{ExchangeObserver, PipelineBuilder, QueueDepths};
use capture_core::stage::{ParserFactory, Reassembler};
use capture_core::stats::StatsRegistry;
use prometheus_client::registry::Registry;

pub use endpoint::MetricsEndpoint;
pub use error::Error;
pub use map::{MapEdge, MapNode, ServiceMap};
pub use record::{DURATION_BUCKETS, FOLD_SERIES, Recorder};
pub use server::MetricsServer;
pub use view::{ExchangeView, Peer};

use exposition::{Exposition, HealthSources};
use record::{Observer, Shared};

/// How much the metrics may grow, and what they label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricsConfig {
    /// Label sets of the HTTP metrics at most, folded ones included
    /// ([`FOLD_SERIES`] of them are kept for folded traffic). Default 2000.
    pub max_series: usize,
    /// Add a `path` label holding the path's template (query dropped,
    /// identifiers as `{id}`). Off by default.
    pub path_templates: bool,
    /// Distinct path templates at most; the rest are `other`. Default 100.
    pub max_path_templates: usize,
    /// Service-map edges at most; the rest are folded into an edge between
    /// two `other` nodes. Default 1000.
    pub max_map_edges: usize,
    /// Seconds between two fetches of `/map.json` by the live `/map` page. Default 10.
    pub map_refresh_secs: u32,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            max_series: 2000,
            path_templates: false,
            max_path_templates: 100,
            max_map_edges: 1000,
            map_refresh_secs: 10,
        }
    }
}

/// A collector's metrics and service map: hand [`observer`](Self::observer)
/// to the pipeline, point [`watch_stats`](Self::watch_stats) and
/// [`watch_queues`](Self::watch_queues) at it, and [`serve`](Self::serve).
/// Cheap to clone; clones share everything.
#[derive(Clone, Debug)]
pub struct Metrics {
    shared: Arc<Shared>,
    health: Arc<Mutex<HealthSources>>,
    registry: Arc<Registry>,
    config: Arc<MetricsConfig>,
}

impl Metrics {
    /// Metrics with these limits; nothing is recorded until a pipeline or
    /// a [`Recorder`] feeds them.
    pub fn new(config: MetricsConfig) -> Self {
        let shared = Arc::new(Shared::new(config.clone()));
        let health = Arc::new(Mutex::new(HealthSources::default()));
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Exposition {
            shared: shared.clone(),
            health: health.clone(),
        }));
        Self {
            shared,
            health,
            registry: Arc::new(registry),
            config: Arc::new(config),
        }
    }

    /// The limits in force.
    pub fn config(&self) -> &MetricsConfig {
        &self.config
    }

    /// The pipeline hook: `PipelineBuilder::observer(metrics.observer())`.
    pub fn observer(&self) -> Arc<dyn ExchangeObserver> {
        Arc::new(Observer(self.shared.clone()))
    }

    /// A recorder of its own, for exchanges that do not come from a
    /// pipeline (records read from files).
    pub fn recorder(&self) -> Recorder {
        self.shared.recorder()
    }

    /// Watches a pipeline about to be built: its exchanges (through
    /// [`observer`](Self::observer)) and its counters (through
    /// [`watch_stats`](Self::watch_stats)).
    pub fn instrument<P: ParserFactory, R: Reassembler + 'static>(
        &self,
        builder: PipelineBuilder<P, R>,
    ) -> PipelineBuilder<P, R> {
        self.watch_stats(builder.stats_registry());
        builder.observer(self.observer())
    }

    /// Reads the pipeline's counters at each scrape:
    /// `metrics.watch_stats(builder.stats_registry())`.
    pub fn watch_stats(&self, registry: StatsRegistry) {
        if let Ok(mut h) = self.health.lock() {
            h.stats = Some(registry);
        }
    }

    /// Reads the pipeline's queue depths at each scrape:
    /// `metrics.watch_queues(running.queue_depths())`.
    pub fn watch_queues(&self, queues: QueueDepths) {
        if let Ok(mut h) = self.health.lock() {
            h.queues = Some(queues);
        }
    }

    /// The metrics in the OpenMetrics text format (what Prometheus asks for).
    pub fn openmetrics(&self) -> String {
        let mut s = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut s, &self.registry);
        s
    }

    /// The metrics in the Prometheus text format 0.0.4 (what `promtool
    /// check metrics` and plain `curl` read).
    pub fn prometheus_text(&self) -> String {
        let mut s = String::new();
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut s, &self.registry);
        s
    }

    /// The service map of everything recorded so far.
    pub fn service_map(&self) -> ServiceMap {
        ServiceMap::from_merged(&self.shared.merged())
    }

    /// Serves `/metrics`, `/map` and `/map.json` on `addr` from a thread of
    /// its own, until the returned server is dropped.
    pub fn serve(&self, addr: SocketAddr) -> Result<MetricsServer, Error> {
        server::serve(self.clone(), addr)
    }
}
