//! What the tests, benches and tools of the cleartap workspace share
//! (behind the `testkit` feature; not part of the stable API).
//!
//! - [`shared`]: captures and corpora from other public projects, read
//!   where they lie in `../shared/` beside the workspace, with a printed
//!   skip when they are absent.
//! - [`stream`]: connection metadata, TCP segments ([`Wire`]), and stream
//!   handlers that record ([`Recorder`]) or count ([`Tally`]).
//! - [`replay`]: [`Replay`], a source of owned segments, file-like or live.
//! - [`live`]: [`exchanges_while`], a live source through a pipeline while
//!   the test makes traffic.
//! - [`root`]: [`RootScenario`], a guard for tests that need root.
//! - [`certificate`]: [`self_signed`], a certificate for test servers.
//! - [`config`]: configuration files under `testdata/` with placeholders
//!   a test fills in ([`filled_config`]).

pub mod certificate;
pub mod config;
pub mod live;
pub mod replay;
pub mod root;
pub mod shared;
pub mod stream;

pub use certificate::self_signed;
pub use config::filled_config;
pub use live::exchanges_while;
pub use replay::{OwnedSegment, Replay};
pub use root::RootScenario;
pub use shared::{SharedFiles, bundled};
pub use stream::{Event, Recorder, Tally, Wire, addr, meta, segment};
