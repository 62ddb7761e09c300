//! # backend-pcap
//!
//! Packet sources for cleartap: capture files (pcap and pcapng), and —
//! with the `live` feature — live interfaces and pod network namespaces.
//! Each source decodes link-layer packets into TCP
//! [`Segment`](capture_core::model::Segment)s that borrow their payload,
//! and counts every packet it cannot use under a
//! [`DropReason`](capture_core::DropReason).
//!
//! - [`file`](mod@file): [`FileSource`] and the capture file reader behind it.
//! - [`decode`]: [`decode_packet`], the link-layer → IP → TCP decoder
//!   that every packet source shares.
//! - `live` (feature `live`): `LiveSource`, one interface through libpcap.
//! - [`netns`]: pod discovery (proxy processes found in `/proc`); with the
//!   `live` feature, `PodSource`: one `setns` capture thread per pod
//!   network namespace.
//! - [`dedup`]: packets seen twice (veth pairs, bridges, `any`) dropped once.
//! - [`cidr`]: allow/deny subnet filters for pod and service CIDRs.
//!
//! # Example
//!
//! Replay a capture file through a source by hand and count its TCP
//! segments (here the capture the repository bundles):
//!
//! ```
//! use backend_pcap::FileSource;
//! use capture_core::model::Input;
//! use capture_core::stage::{Poll, Source};
//! use capture_core::stats::Counters;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let capture = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/loopback-http.pcap");
//! let mut source = FileSource::open(capture)?;
//! let counters = Counters::default();
//! let mut segments = 0;
//! let mut count = |input: Input<'_>| if let Input::Segment(_) = input { segments += 1 };
//! while source.poll(&mut count, &counters)? != Poll::Finished {}
//! println!("{segments} TCP segments");
//! assert!(segments > 0);
//! assert!(source.corruptions().is_empty());
//! # Ok(()) }
//! ```

mod error;

pub mod cidr;
pub mod decode;
pub mod dedup;
pub mod file;
#[cfg(feature = "live")]
pub mod live;
pub mod netns;

pub use decode::{LinkType, decode_packet};
pub use error::Error;
pub use file::{CaptureFile, Corruptions, FileCorruption, FileSource, Progress};
