//! The catalogue: every hostile case, what it sends, where its loss must
//! show and how much heap it may take.
//!
//! A case is deterministic: its bytes depend only on its code and the
//! [`Scale`] (random-looking bytes come from a seeded generator).

mod files;
mod flood;
mod h2;
mod http1;
mod tcp;

use crate::run::Setup;
use crate::wire::Emit;

/// How many of a case's repeated units to send: 1.0 is the full size
/// (floods of about a million frames or 100 MB).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scale(pub f64);

impl Scale {
    /// `full` units at this scale, at least one.
    pub fn n(self, full: usize) -> usize {
        ((full as f64 * self.0) as usize).max(1)
    }
}

/// What a case feeds the pipeline.
#[derive(Clone, Copy)]
pub enum Input {
    /// Ethernet frames, generated while the pipeline reads them.
    Packets(fn(&mut dyn Emit, Scale)),
    /// A whole capture file's bytes (for damaged files).
    File(fn() -> Vec<u8>),
}

/// One hostile case.
#[derive(Clone, Copy)]
pub struct Case {
    /// Unique name (also the file name `hostile-gen` writes).
    pub name: &'static str,
    /// The class: `flood`, `http1`, `h2`, `tcp`, `file`.
    pub class: &'static str,
    /// What it sends and what a collector must do with it.
    pub about: &'static str,
    /// The input.
    pub input: Input,
    /// Where its loss shows: at least one of these figures (drop reasons
    /// or exchange flags, by name) must be non-zero. Empty for a case
    /// whose input loses nothing.
    pub shows: &'static [&'static str],
    /// Heap the run may take above the harness's own, by the documented
    /// limits of [`Setup`].
    pub heap: fn(&Setup) -> usize,
    /// A known defect this case exposes, with who is on it; the suite
    /// reports the case without failing on it.
    pub known: Option<&'static str>,
}

/// Every case, by class.
pub fn all() -> Vec<Case> {
    let mut v = Vec::new();
    v.extend(flood::cases());
    v.extend(http1::cases());
    v.extend(h2::cases());
    v.extend(tcp::cases());
    v.extend(files::cases());
    v
}

/// Heap the pipeline itself may take besides a case's own limit: its
/// documented queue bound (`Limits::queue_bytes` for the workers' queues
/// and as much again for the sink's), plus 4 MiB for the batches being
/// filled and worked on, the tables and the generator's hand-overs
/// (`source::BATCH_BYTES` × (`BATCHES_IN_FLIGHT` + 2)).
pub fn pipeline_bytes(s: &Setup) -> usize {
    2 * s.limits.queue_bytes + (4 << 20)
}
