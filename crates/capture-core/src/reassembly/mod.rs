//! TCP reassembly: segments in, ordered bytes per direction out, with gaps
//! reported instead of hidden. An I/O-free state machine driven by packet time.
//!
//! - `tcp`: [`TcpReassembler`], its connection table, expiry and closing;
//! - `segment`: TCP segments — connection, direction, sequence space, flags;
//! - `chunk`: socket chunks from eBPF, already ordered by the kernel;
//! - `conn`: one connection — deliver, hold, declare gaps, close;
//! - `half`: one direction's positions and held runs;
//! - `table`: slots, keyed-hash index and recency list.

mod chunk;
mod conn;
mod half;
mod segment;
mod table;
mod tcp;

pub use tcp::TcpReassembler;
