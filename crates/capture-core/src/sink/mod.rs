//! Sinks that need nothing outside the core: in memory and JSON lines.

mod json_lines;
mod memory;

pub use json_lines::{JsonLineEncoder, JsonLinesSink};
pub use memory::MemorySink;
