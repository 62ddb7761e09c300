//! # capture-core
//!
//! The core of cleartap: the data model, the four stage traits, the TCP
//! reassembler, the pipeline that runs them on threads, limits, stats,
//! filters and the sinks that need nothing outside this crate.
//!
//! Data flows one way:
//!
//! ```text
//! Source ──▶ Reassembler ──▶ Parser ──▶ enrichers ──▶ filters ──▶ Sink
//! segments    ordered bytes    exchanges                           batches
//! ```
//!
//! Read it top-down: [`model`] (what flows), [`stage`] (the traits),
//! [`reassembly`] (the TCP reassembler), [`pipeline`] (threads, sharding,
//! shutdown), [`stats`] and [`limits`].
//!
//! # Example
//!
//! Reassemble two out-of-order segments and watch the ordered bytes arrive:
//!
//! ```
//! use capture_core::model::*;
//! use capture_core::reassembly::TcpReassembler;
//! use capture_core::stage::{ConnId, Reassembler, StreamHandler};
//!
//! #[derive(Default)]
//! struct Collect(Vec<u8>);
//! impl StreamHandler for Collect {
//!     fn open(&mut self, _: ConnId, _: &ConnMeta) {}
//!     fn data(&mut self, _: ConnId, _: &ConnMeta, _: Direction, _: Timestamp, b: &[u8]) {
//!         self.0.extend_from_slice(b);
//!     }
//!     fn gap(&mut self, _: ConnId, _: &ConnMeta, _: Direction, _: Timestamp, _: u64) {}
//!     fn close(&mut self, _: ConnId, _: &ConnMeta, _: Timestamp, _: CloseReason) {}
//! }
//!
//! let seg = |seq: u32, flags: u8, payload: &'static [u8]| Input::Segment(Segment {
//!     ts: Timestamp(seq as u64),
//!     src: "10.0.0.1:40000".parse().unwrap(),
//!     dst: "10.0.0.2:80".parse().unwrap(),
//!     netns: NetnsId::UNKNOWN,
//!     seq, ack: 0, flags: TcpFlags(flags), payload,
//! });
//! let mut r = TcpReassembler::new(Default::default(), Default::default());
//! let mut out = Collect::default();
//! r.push(seg(100, TcpFlags::SYN, b""), &mut out);
//! r.push(seg(106, TcpFlags::ACK, b"world"), &mut out);
//! r.push(seg(101, TcpFlags::ACK, b"hello"), &mut out);
//! // The server never answered in this capture: flushing hands out what is held.
//! r.flush(Timestamp(1_000), &mut out);
//! assert_eq!(out.0, b"helloworld");
//! ```

pub mod enrich;
pub mod filter;
pub mod limits;
pub mod model;
pub mod pipeline;
pub mod reassembly;
pub mod sink;
pub mod stage;
pub mod stats;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use limits::Limits;
pub use stats::{Counter, DropReason, Gauge, Stats};
