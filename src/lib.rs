//! # cleartap
//!
//! Capture the plaintext HTTP traffic of programs on a Linux host or
//! Kubernetes node — also when it is encrypted by mTLS — and get it as
//! request/response pairs.
//!
//! This facade re-exports the workspace's crates behind feature flags:
//!
//! | module | crate | feature |
//! |---|---|---|
//! | [`core`] | `capture-core`: model, stage traits, reassembler, pipeline, sinks | always |
//! | `http` | `proto-http`: HTTP/1.x, HTTP/2, gRPC parsers | `http` (default) |
//! | `pcap` | `backend-pcap`: capture files, live interfaces, pod namespaces | `pcap` (default), `live` |
//! | `ebpf` | `backend-ebpf`: OpenSSL/BoringSSL uprobes, socket syscalls | `ebpf` |
//! | `kafka` | `sink-kafka`: Kafka sink, Akto message format | `kafka` |
//! | `metrics` | `capture-metrics`: Prometheus metrics, service map | `metrics` (default) |
//! | `k8s` | `k8s-meta`: pod, container and workload names on both ends, pod filters | `k8s` |
//! | `akto` | `akto-agent`: Akto's variables, Kafka TLS/SASL, heartbeats | `akto` |
//!
//! # Example
//!
//! Every HTTP exchange of a capture file as JSON lines on stdout — here the
//! capture the repository bundles, recorded from nginx, curl and python:
//!
//! ```
//! # #[cfg(all(feature = "pcap", feature = "http"))]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use cleartap::prelude::*;
//!
//! let capture = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/loopback-http.pcap");
//! let stats = Pipeline::builder(HttpProtocol::default())
//!     .source(FileSource::open(capture)?)
//!     .sink(JsonLinesSink::stdout())
//!     .build()?
//!     .run()?;
//! eprintln!("{} exchanges, drops: {}", stats.exchanges, stats.drops_summary());
//! assert!(stats.exchanges > 0);
//! # Ok(())
//! # }
//! # #[cfg(not(all(feature = "pcap", feature = "http")))]
//! # fn main() {}
//! ```
//!
//! A collector that runs until Ctrl-C or for a while adds
//! `.stop_on_signals()` and `.stop_after(duration)` to the builder; your
//! own sink or source is shown in [`core`]'s documentation.

pub use capture_core as core;

#[cfg(feature = "http")]
pub use proto_http as http;

#[cfg(feature = "pcap")]
pub use backend_pcap as pcap;

#[cfg(feature = "ebpf")]
pub use backend_ebpf as ebpf;

#[cfg(feature = "kafka")]
pub use sink_kafka as kafka;

/// The names most collectors use: `use cleartap::prelude::*;` brings the
/// pipeline, the stage traits and what they pass around, the core sinks,
/// and — with their features — the HTTP parser and the capture-file source.
pub mod prelude {
    pub use capture_core::prelude::*;

    #[cfg(feature = "pcap")]
    pub use backend_pcap::FileSource;
    #[cfg(feature = "http")]
    pub use proto_http::{HttpConfig, HttpProtocol};
}

#[cfg(feature = "akto")]
pub use akto_agent as akto;

#[cfg(feature = "metrics")]
pub use capture_metrics as metrics;

#[cfg(feature = "k8s")]
pub use k8s_meta as k8s;

/// The README's examples, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
