//! What the eBPF source captures and how.

use std::path::PathBuf;
use std::time::Duration;

/// Settings of an [`EbpfSource`](crate::EbpfSource). Every field has a documented default.
#[derive(Clone, Debug)]
pub struct EbpfConfig {
    /// Only these processes (and, for TLS discovery, only their files); empty: all. Default: empty.
    pub pids: Vec<u32>,
    /// Only processes with these names (comm, at most 15 bytes); empty: all. Default: empty.
    pub comms: Vec<String>,
    /// Only processes in these cgroup v2 directories (e.g.
    /// `/sys/fs/cgroup/kubepods.slice/...`); empty: all. Default: empty.
    pub cgroups: Vec<PathBuf>,
    /// Filter by cgroup even when `cgroups` is empty: nothing is traced
    /// until a set is given through [`EbpfSource::cgroup_filter`](crate::EbpfSource::cgroup_filter)
    /// (the pods selected by a Kubernetes selector, kept current). Default: false.
    pub filter_cgroups: bool,
    /// Capture TLS plaintext only, no plaintext at socket syscalls. Default: false.
    pub ssl_only: bool,
    /// Capture connections the traced processes opened (outbound), not only those they accepted. Default: true.
    pub egress: bool,
    /// Ignore connections to or from these ports (the Kafka broker of the collector). Default: empty.
    pub exclude_ports: Vec<u16>,
    /// Payload bytes captured per read/write call at most; the rest of the call is reported
    /// as a gap. Default: 8 MiB.
    pub max_call_bytes: u64,
    /// Size of the BPF ring buffer in bytes (a power of two, at least 4096). Default: 32 MiB.
    pub ring_buffer_bytes: u32,
    /// How often `/proc` is rescanned for new TLS libraries and binaries. Default: 5 s.
    pub rescan_interval: Duration,
    /// Longest wait of one `poll` for events. Default: 100 ms.
    pub poll_timeout: Duration,
    /// Stop (poll returns `Finished`) after this long. Default: never.
    pub duration: Option<Duration>,
    /// TLS plaintext held while its socket is not known yet (memory BIO), in bytes. Default: 8 MiB.
    pub max_pending_tls_bytes: usize,
    /// How long TLS plaintext waits for its socket to be known; after that its TLS object is
    /// taken for one that cannot be tied to a socket (a GnuTLS session with its own push/pull
    /// functions moving records through another thread or a non-TCP transport), and its
    /// plaintext goes out keyed by process and object, counted as `tls_unattributed`.
    /// Default: 1 s.
    pub tls_tie_wait: Duration,
    /// Directories whose TLS libraries are probed at start, besides the
    /// dynamic linker's cache: applications that carry their own copy
    /// there (Firefox and Thunderbird ship NSS's `libssl3.so`). A program
    /// that loads a library from here is captured from its first request;
    /// one elsewhere is found by the periodic rescan. Directories missing
    /// on the host are skipped. Default:
    /// [`APPLICATION_LIBRARY_DIRS`](crate::discovery::APPLICATION_LIBRARY_DIRS).
    pub tls_library_dirs: Vec<PathBuf>,
}

impl Default for EbpfConfig {
    fn default() -> Self {
        Self {
            pids: Vec::new(),
            comms: Vec::new(),
            cgroups: Vec::new(),
            filter_cgroups: false,
            ssl_only: false,
            egress: true,
            exclude_ports: Vec::new(),
            max_call_bytes: 8 << 20,
            ring_buffer_bytes: 32 << 20,
            rescan_interval: Duration::from_secs(5),
            poll_timeout: Duration::from_millis(100),
            duration: None,
            max_pending_tls_bytes: 8 << 20,
            tls_tie_wait: Duration::from_secs(1),
            tls_library_dirs: crate::discovery::APPLICATION_LIBRARY_DIRS
                .iter()
                .map(PathBuf::from)
                .collect(),
        }
    }
}

impl EbpfConfig {
    /// Checks the values that the kernel would reject.
    pub fn validate(&self) -> Result<(), crate::Error> {
        let rb = self.ring_buffer_bytes;
        if rb < 4096 || !rb.is_power_of_two() {
            return Err(crate::Error::Config(format!(
                "ring_buffer_bytes {rb} must be a power of two of at least 4096"
            )));
        }
        if let Some(c) = self.comms.iter().find(|c| c.len() > 15) {
            return Err(crate::Error::Config(format!(
                "process name {c:?} is longer than the kernel's 15-byte comm; give its first 15 bytes"
            )));
        }
        Ok(())
    }
}
