//! What the tests, benches and tools of the cleartap workspace share
//! (behind the `testkit` feature; not part of the stable API).
//!
//! - [`shared`]: captures and corpora from other public projects, read
//!   where they lie in `../shared/` beside the workspace, with a printed
//!   skip when they are absent.

pub mod shared;

pub use shared::{SharedFiles, bundled};
