//! # backend-ebpf
//!
//! Sees the plaintext of a host's TCP connections from inside the kernel:
//! at the TLS libraries' read and write functions (OpenSSL, BoringSSL,
//! GnuTLS, NSS; shared or statically linked) and at Go's
//! `crypto/tls.(*Conn).Read`/`Write` for TLS, and at the socket syscalls
//! for the rest. The one idea:
//! every byte handed out carries its position in its socket direction, so
//! what was not captured is a gap the pipeline reports, never silently
//! joined.
//!
//! - `src/bpf/`: the BPF programs (C, CO-RE), one header per concern
//!   (`maps.h`, `emit.h`, `syscalls.h`, `close.h`, `tls.h`, one per TLS
//!   library), built by build.rs as one object; `cleartap.h` is the layout
//!   shared with user space, checked against it by the `layout` test.
//! - [`features`]: what the kernel offers and which program variants follow.
//! - `loader` (feature `bpf`): loading, configuring and attaching them.
//! - [`discovery`], [`library`] and [`ldcache`] (and `elf`, reading
//!   symbol tables): which libraries and binaries to probe (by their
//!   symbols; the system's standard places and application directories
//!   at start, every process's
//!   mappings periodically), and which TLS implementation each holds.
//! - [`go`]: Go programs — release, functions (also in stripped
//!   binaries), the RETs of `Read`, the socket layout.
//! - `event`: the ring-buffer event layout, as a view that never panics.
//! - `translate`: events to pipeline inputs (connection keys, directions),
//!   I/O-free; `proc_net` is what it learns from `/proc`.
//! - [`EbpfSource`] (feature `bpf`): the [`Source`](capture_core::stage::Source).
//!
//! `elf`, `event`, `translate` and `proc_net` are the source's insides:
//! public only with the feature `testkit`, which this crate's tests and the
//! fuzz targets turn on (as quinn-proto does with `cfg(fuzzing)`); they are
//! not a stable API.
//!
//! How an SSL object is tied to its socket: no struct offsets. While an
//! `SSL_*` call runs on a thread, the socket syscall it makes on that thread
//! names the fd; the tie is kept for later buffered reads that make no
//! syscall. For memory BIOs (node), the socket read just before `SSL_read`
//! or written just after `SSL_write` on the same thread names it.
//!
//! Go's crypto/tls is covered for Go 1.17 and later on amd64 (the register
//! ABI), tested with Go 1.19 and 1.21–1.27, normal, stripped and PIE builds,
//! and Debian's caddy: `Write` is captured at entry, `Read` at each of its
//! RET instructions (never uretprobes, which corrupt goroutine stacks that
//! Go moves), its call paired with its entry by goroutine. The socket is
//! followed from the `*tls.Conn` with offsets from DWARF or a table by
//! release. Not covered: Go before 1.17 (ABI0), arm64, and stripped
//! binaries of releases missing from the table (1.17, 1.18, 1.20) — each
//! reported once as unprobeable ([`EbpfSource::unprobeable`]).
//!
//! Connection addresses are read in the kernel from the socket's
//! `struct sock` (fd → file → socket → sock, CO-RE), so sockets opened
//! before the capture started have them too; whether the process is the
//! server of such a socket is decided from the listening ports of its
//! network namespace (`/proc/PID/net/tcp{,6}`).
//!
//! Limits worth knowing:
//! - A read or write already blocked in the kernel when the programs are
//!   attached is not seen (its entry was missed); positions of sockets
//!   opened before the capture count from the first call seen.
//! - Plaintext that starts with a TLS record header (0x14–0x17, 0x03,
//!   0x00–0x04) marks its socket as TLS and is never emitted from the
//!   syscall path; peeks (`MSG_PEEK`) are ignored.
//! - Payload per call is capped by [`EbpfConfig::max_call_bytes`]; the rest,
//!   and events lost to a full ring buffer, are gaps at exact positions
//!   (close events carry each stream's final positions). Lost events are
//!   counted as `DropReason::RingBufferFull`; TLS plaintext of an unknown
//!   socket held beyond its cap as `DropReason::ConnBufferFull`.
//! - Kernel variants: syscall tracepoints and uprobes always; the close
//!   hook uses fentry, else kprobe, else the `sock:inet_sock_set_state`
//!   tracepoint ([`features::ProgramPlan`]).
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

#[cfg(feature = "bpf")]
mod cgroup_filter;
mod config;
pub mod discovery;
mod error;
pub mod features;
pub mod go;
#[cfg(all(test, feature = "bpf"))]
mod layout;
pub mod ldcache;
pub mod library;
#[cfg(feature = "bpf")]
mod loader;
#[cfg(feature = "bpf")]
mod source;

// The source's insides, public for tests and fuzz targets only (feature
// `testkit`); without it their `pub` items reach no user, hence the allow.
#[cfg(feature = "testkit")]
pub mod elf;
#[cfg(not(feature = "testkit"))]
#[allow(unreachable_pub)]
mod elf;
#[cfg(feature = "testkit")]
pub mod event;
#[cfg(all(feature = "bpf", not(feature = "testkit")))]
#[allow(unreachable_pub)]
mod event;
#[cfg(feature = "testkit")]
pub mod proc_net;
#[cfg(all(feature = "bpf", not(feature = "testkit")))]
#[allow(unreachable_pub)]
mod proc_net;
#[cfg(feature = "testkit")]
pub mod translate;
#[cfg(all(feature = "bpf", not(feature = "testkit")))]
#[allow(unreachable_pub)]
mod translate;

#[cfg(feature = "bpf")]
pub use cgroup_filter::CgroupFilter;
pub use config::EbpfConfig;
pub use error::Error;
#[cfg(feature = "bpf")]
pub use source::{AttachedTarget, EbpfSource};
