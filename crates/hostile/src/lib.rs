//! # hostile
//!
//! Crafted hostile input for cleartap, and the means to run it: a
//! deterministic generator of captures (floods, endless heads and bodies,
//! HPACK bombs, CONTINUATION floods, million-stream connections,
//! overlapping and forged TCP segments, damaged capture files, and more —
//! see [`cases::all`]) and a runner that pushes each through a whole
//! pipeline while counting the heap.
//!
//! What every case must show (`tests/suite.rs`, run by `.ci/run` through
//! `scripts/test.sh`): it finishes within its deadline, nothing panics, the
//! heap stays under the bound its limits document (with 1 and 2 workers),
//! and its loss shows in a counter.
//!
//! `cargo run --release -p hostile --bin hostile-gen -- DIR` writes every
//! case as a pcap file, to replay with `examples/replay`, open in
//! Wireshark, or seed the fuzzers.
//!
//! # Example
//!
//! ```
//! use hostile::cases::{Input, Scale, all};
//! use hostile::wire::PcapWriter;
//!
//! let case = all().into_iter().find(|c| c.name == "continuation_flood").unwrap();
//! let Input::Packets(generate) = case.input else { unreachable!() };
//! let mut file = PcapWriter::new(Vec::new());
//! generate(&mut file, Scale(0.001));
//! let bytes = file.finish().unwrap();
//! assert!(bytes.len() > 1000);
//! ```

pub mod cases;
pub mod conn;
pub mod heap;
pub mod run;
pub mod source;
pub mod wire;
