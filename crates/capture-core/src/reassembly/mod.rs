//! TCP reassembly: segments in, ordered bytes per direction out, with gaps
//! reported instead of hidden. An I/O-free state machine driven by packet time.

mod half;
mod table;
mod tcp;

pub use tcp::TcpReassembler;
