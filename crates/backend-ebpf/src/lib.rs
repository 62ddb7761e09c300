//! # backend-ebpf
//!
//! Sees the plaintext of a host's TCP connections from inside the kernel:
//! at `SSL_read`/`SSL_write` (OpenSSL, BoringSSL; shared or statically
//! linked) for TLS, and at the socket syscalls for the rest. The one idea:
//! every byte handed out carries its position in its socket direction, so
//! what was not captured is a gap the pipeline reports, never silently
//! joined.
//!
//! - `src/bpf/cleartap.bpf.c`: the BPF programs (C, CO-RE), built by build.rs.
//! - [`features`]: what the kernel offers and which program variants follow.
//! - `loader` (feature `bpf`): loading, configuring and attaching them.
//! - [`discovery`] and [`elf`]: which libraries and binaries to probe.
//! - [`event`]: the ring-buffer event layout, as a view that never panics.
//! - [`translate`]: events to pipeline inputs (connection keys, directions).
//! - [`EbpfSource`] (feature `bpf`): the [`Source`](capture_core::stage::Source).
//!
//! How an SSL object is tied to its socket: no struct offsets. While an
//! `SSL_*` call runs on a thread, the socket syscall it makes on that thread
//! names the fd; the tie is kept for later buffered reads that make no
//! syscall. For memory BIOs (node), the socket read just before `SSL_read`
//! or written just after `SSL_write` on the same thread names it.
//!
//! Connection addresses are read in the kernel from the socket's
//! `struct sock` (fd → file → socket → sock, CO-RE), so sockets opened
//! before the capture started have them too; whether the process is the
//! server of such a socket is decided from the listening ports of its
//! network namespace (`/proc/PID/net/tcp{,6}`).
//!
//! # Example
//!
//! ```no_run
//! # #[cfg(feature = "bpf")]
//! # fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! use backend_ebpf::{EbpfConfig, EbpfSource};
//! use capture_core::model::Input;
//! use capture_core::stage::Source;
//! use capture_core::stats::Counters;
//!
//! let mut source = EbpfSource::new(EbpfConfig { ssl_only: true, ..Default::default() })?;
//! let counters = Counters::default();
//! source.poll(&mut |input: Input<'_>| {
//!     if let Input::Chunk(c) = input {
//!         eprintln!("{:?} {} bytes at {}", c.key, c.data.len(), c.offset);
//!     }
//! }, &counters)?;
//! # Ok(()) }
//! # #[cfg(not(feature = "bpf"))]
//! # fn main() {}
//! ```

mod config;
pub mod discovery;
pub mod elf;
mod error;
pub mod event;
pub mod features;
#[cfg(feature = "bpf")]
mod loader;
#[cfg(feature = "bpf")]
mod source;
pub mod translate;

pub use config::EbpfConfig;
pub use error::Error;
#[cfg(feature = "bpf")]
pub use source::{AttachedTarget, EbpfSource};
