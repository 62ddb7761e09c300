//! backend-ebpf: work in progress.
