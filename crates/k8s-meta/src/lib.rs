//! # k8s-meta
//!
//! Names the Kubernetes pod, container and workload on each end of a
//! captured connection, from the node alone: no API server.
//!
//! ```text
//! pid ──/proc/PID/cgroup──▶ container id ──runtime API labels──▶ pod, container ──name + labels──▶ workload
//! netns inode ─────────────────────────────────────────────────▶ pod
//! peer address ──pod addresses (read in each pod's netns)──▶ pod ──socket owner──▶ container
//! ```
//!
//! - [`cgroup`]: container ids in the cgroup layouts of kubelet's systemd
//!   and cgroupfs drivers, for containerd, CRI-O and Docker, on cgroup v1,
//!   v2 and hybrid hosts (pure functions).
//! - [`workload`]: Deployment, StatefulSet, DaemonSet, Job or CronJob from
//!   the pod's name and labels (pure).
//! - [`selector`]: namespaces, pod-name globs, label selectors (pure).
//! - [`procnet`]: a namespace's sockets and addresses from `/proc/PID/net` text (pure).
//! - [`runtime`]: containerd's gRPC API (the `containerd-client` crate).
//! - [`Attributor`]: the cache and the pipeline [`Enricher`](capture_core::enrich::Enricher):
//!   sets `conn.k8s` on every exchange; [`PodFilter`] keeps selected pods' exchanges;
//!   [`Attributor::watch_pod_cgroups`] keeps an eBPF cgroup filter current.
//!
//! Unknown stays absent, never guessed: a process in no pod, an address
//! of no pod on this node, a runtime that does not answer.
//!
//! # Example
//!
//! Name the pods of a pipeline's exchanges and keep those of namespace `shop`:
//!
//! ```no_run
//! use capture_core::model::Exchange;
//! use k8s_meta::{Attributor, K8sConfig, PodFilter, PodSelector};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let names = Attributor::new(K8sConfig::default())?;
//! print!("{}", k8s_meta::mapping_report(&names.snapshot()));
//! let shop = PodFilter::new(PodSelector { namespaces: vec!["shop".into()], ..Default::default() });
//! // Pipeline::builder(..).enricher(Box::new(names.clone())).filter(Box::new(shop))
//! # let _ = shop;
//! # Ok(()) }
//! ```
//!
//! The pure parts run anywhere:
//!
//! ```
//! use k8s_meta::cgroup::{container_of, RuntimeKind};
//!
//! let line = "0::/kubepods.slice/kubepods-besteffort.slice/\
//!             kubepods-besteffort-pod5f1c2d3e_4a5b_4c6d_8e7f_9a0b1c2d3e4f.slice/\
//!             cri-containerd-2d8f3b9c5e7a4f1d0b6c8e2a9f7d5c3b1e0a8f6d4c2b0a9e7f5d3c1b0a8e6f4d.scope";
//! let c = container_of(line).unwrap();
//! assert_eq!(c.runtime, RuntimeKind::Containerd);
//! assert_eq!(c.pod_uid.as_deref(), Some("5f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f"));
//! ```

mod attributor;
pub mod cgroup;
mod error;
mod filter;
pub mod node;
pub mod procnet;
mod report;
pub mod runtime;
pub mod selector;
pub mod snapshot;
pub mod workload;

pub use attributor::{Attributor, K8sConfig, K8sStats, cgroup_v2_mount, kubepods_cgroup_dirs};
pub use error::Error;
pub use filter::PodFilter;
pub use report::mapping_report;
pub use selector::{Glob, LabelSelector, PodSelector};
pub use snapshot::{ContainerInfo, Snapshot};
