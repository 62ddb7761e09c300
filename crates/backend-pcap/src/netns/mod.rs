//! Capture inside pod network namespaces.
//!
//! Where a sidecar proxy terminates TLS, the plaintext exists only on the
//! pod's loopback, inside the pod's network namespace. `PodSource` (feature
//! `live`) finds the pods ([`discovery`]: proxy processes in `/proc`,
//! grouped by namespace), runs one capture thread per namespace that enters
//! it with `setns` and opens libpcap there (on `lo` by default, or `any`),
//! and merges the threads' segments through a bounded queue. It rescans
//! periodically: new pods are picked up, and a pod whose processes are gone
//! has its thread stopped and its connections flushed
//! ([`Input::NetnsClosed`](capture_core::model::Input::NetnsClosed)).
//! Segments carry the namespace's inode, so the same 127.0.0.1 flow in two
//! pods never mixes.
//!
//! ```no_run
//! # #[cfg(feature = "live")] {
//! use backend_pcap::netns::{PodConfig, PodSource};
//!
//! let mut config = PodConfig::default(); // processes named `envoy`, their `lo`
//! config.discovery.instance_ips.insert("10.244.1.7".parse().unwrap());
//! let source = PodSource::new(config).unwrap();
//! // hand `source` to a capture_core pipeline
//! # }
//! ```
//!
//! Needs root, or CAP_NET_ADMIN, CAP_NET_RAW and CAP_SYS_ADMIN.

#[cfg(feature = "live")]
mod batch;
#[cfg(feature = "live")]
mod capture;
pub mod discovery;

#[cfg(feature = "live")]
pub use capture::enter_netns;
#[cfg(feature = "live")]
mod source;
#[cfg(feature = "live")]
pub use source::{PodConfig, PodSource};
