//! # capture-core
//!
//! The core of cleartap: the data model, the four stage traits, the TCP
//! reassembler, the pipeline that runs them on threads, limits, stats,
//! filters and the sinks that need nothing outside this crate.
//!
//! Data flows one way:
//!
//! ```text
//! Source ──▶ Reassembler ──▶ Parser ──▶ enrichers, filters ──▶ Sink
//! segments    ordered bytes    exchanges                        batches
//! ```
//!
//! Read it top-down: [`model`] (what flows), [`stage`] (the traits),
//! [`reassembly`] (the TCP reassembler), [`pipeline`] (threads, sharding,
//! bounded queues, shutdown), [`stats`] and [`limits`]. [`prelude`] brings
//! the common names in with one line.
//!
//! # Example: your own sink
//!
//! A sink receives exchanges in batches; it may take them or only read
//! them (the pipeline empties each batch after the call):
//!
//! ```
//! use capture_core::prelude::*;
//!
//! struct CountStatuses(std::collections::BTreeMap<u16, u64>);
//!
//! impl Sink for CountStatuses {
//!     fn write(&mut self, batch: &mut Vec<Exchange>) -> Result<(), SinkError> {
//!         for ex in batch.iter() {
//!             *self.0.entry(ex.response.as_ref().map_or(0, |r| r.status)).or_default() += 1;
//!         }
//!         Ok(())
//!     }
//! }
//! # let mut sink = CountStatuses(Default::default());
//! # sink.write(&mut Vec::new()).unwrap();
//! ```
//!
//! and is given to a pipeline with `.sink(CountStatuses(Default::default()))`.
//!
//! # Example: your own source
//!
//! A source hands out TCP segments (or socket chunks) each time it is
//! polled; the segments borrow their payload for the call. This one
//! replays a request it holds, then ends:
//!
//! ```
//! use capture_core::prelude::*;
//!
//! struct OneRequest(bool);
//!
//! impl Source for OneRequest {
//!     fn poll(&mut self, out: &mut dyn InputSink, counters: &Counters) -> Result<Poll, SourceError> {
//!         if std::mem::replace(&mut self.0, true) {
//!             return Ok(Poll::Finished);
//!         }
//!         let (client, server) = ("10.0.0.1:5000".parse()?, "10.0.0.2:80".parse()?);
//!         for (seq, flags, payload) in [(0, TcpFlags::SYN, &b""[..]), (1, TcpFlags::PSH, b"GET / HTTP/1.1\r\n\r\n")] {
//!             counters.add(Counter::Packets, 1);
//!             let netns = NetnsId::UNKNOWN;
//!             let ts = Timestamp(seq.into());
//!             out.input(Input::Segment(Segment { ts, src: client, dst: server, netns, seq, ack: 0, flags, payload }));
//!         }
//!         Ok(Poll::Ready)
//!     }
//!     fn is_live(&self) -> bool {
//!         false
//!     }
//! }
//! # struct Nothing;
//! # impl Parser for Nothing {
//! #     fn data(&mut self, _: &ConnMeta, _: Direction, _: Timestamp, _: &[u8], _: &mut Output<'_>) {}
//! #     fn gap(&mut self, _: &ConnMeta, _: Direction, _: Timestamp, _: u64, _: &mut Output<'_>) {}
//! #     fn close(&mut self, _: &ConnMeta, _: Timestamp, _: CloseReason, _: &mut Output<'_>) {}
//! # }
//! # struct Nothings;
//! # impl ParserFactory for Nothings {
//! #     type Parser = Nothing;
//! #     fn parser(&self, _: &ConnMeta) -> Nothing { Nothing }
//! # }
//! # let stats = Pipeline::builder(Nothings).workers(1).source(OneRequest(false))
//! #     .sink(MemorySink::new(1)).build().unwrap().run().unwrap();
//! # assert_eq!(stats.stream_bytes, 18);
//! ```
//!
//! and is given to a pipeline with `.source(OneRequest(false))`.
//!
//! # Example: the reassembler alone
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
//! let seg = |seq: u32, flags: TcpFlags, payload: &'static [u8]| Input::Segment(Segment {
//!     ts: Timestamp(seq as u64),
//!     src: "10.0.0.1:40000".parse().unwrap(),
//!     dst: "10.0.0.2:80".parse().unwrap(),
//!     netns: NetnsId::UNKNOWN,
//!     seq, ack: 0, flags, payload,
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
pub mod prelude;
pub mod reassembly;
pub mod sink;
pub mod stage;
pub mod stats;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use limits::Limits;
pub use stats::{Counter, DropReason, Gauge, Stats};
