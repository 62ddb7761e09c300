//! The crate's one error type.

use std::path::PathBuf;

/// What can go wrong setting up or running the eBPF source.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The process lacks the privileges to load BPF programs.
    #[error("permission denied while {what}: run as root or grant CAP_BPF and CAP_PERFMON")]
    Permission {
        /// What was being done.
        what: String,
    },
    /// The kernel has no BTF, which the CO-RE programs need.
    #[error(
        "the kernel has no BTF (/sys/kernel/btf/vmlinux is missing): cleartap's BPF programs need a kernel built with CONFIG_DEBUG_INFO_BTF=y (Linux 5.4+ distributions usually have it)"
    )]
    NoBtf,
    /// The kernel has no BPF ring buffer.
    #[error("the kernel has no BPF ring buffer map: Linux 5.8 or later is needed")]
    NoRingBuffer,
    /// tracefs is not available for the syscall tracepoints.
    #[error(
        "tracefs is not mounted and mounting it at /sys/kernel/tracing failed ({0}): run `mount -t tracefs nodev /sys/kernel/tracing`"
    )]
    NoTracefs(String),
    /// The BPF object did not load (verifier, missing helper).
    #[error("cannot load the BPF programs: {0}")]
    Load(String),
    /// A program could not be attached.
    #[error("cannot attach {program} to {target}: {reason}")]
    Attach {
        /// The BPF program.
        program: String,
        /// Tracepoint, or binary and symbol.
        target: String,
        /// The kernel's answer.
        reason: String,
    },
    /// A file under /proc or /sys could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A configuration value is out of range.
    #[error("invalid eBPF source configuration: {0}")]
    Config(String),
    /// The crate was built without its `bpf` feature.
    #[error("backend-ebpf was built without the `bpf` feature: rebuild with it to capture")]
    NotCompiled,
}
