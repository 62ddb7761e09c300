//! The crate's one error type.

use std::path::PathBuf;

/// What can go wrong when opening a packet source.
///
/// Problems inside a capture file after its header (a corrupt record, a
/// packet that does not decode) are not errors: they are counted as drops
/// with a [`capture_core::DropReason`] and the file ends or the packet is
/// skipped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be opened or read.
    #[error(
        "cannot open capture file {}: {source} — check that the path exists and is readable",
        .path.display()
    )]
    Open {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },

    /// The file does not start with a pcap or pcapng magic number.
    #[error(
        "{} is not a pcap or pcapng file (magic {magic:#010x}) — give a capture written by \
         tcpdump, tshark or Wireshark, and decompress .gz files first",
        .path.display()
    )]
    NotACapture {
        /// The file.
        path: PathBuf,
        /// The first four bytes, read big-endian.
        magic: u32,
    },

    /// The file is shorter than a capture file header.
    #[error(
        "{} is too short to be a capture file ({len} bytes) — the capture was probably \
         interrupted before anything was written",
        .path.display()
    )]
    TooShort {
        /// The file.
        path: PathBuf,
        /// Its length in bytes.
        len: u64,
    },

    /// The file header is present but invalid.
    #[error("capture file {} has an invalid header: {what} — the file is corrupt", .path.display())]
    BadHeader {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: &'static str,
    },

    /// A list of capture files was empty.
    #[error("no capture file given — pass at least one pcap or pcapng path")]
    NoFiles,

    /// An address filter entry could not be parsed.
    #[error(
        "invalid subnet or address {text:?} in an address filter: write it as 10.0.0.0/8, \
         fd00::/8 or a bare address"
    )]
    InvalidCidr {
        /// The text as given.
        text: String,
    },

    /// `/proc` could not be listed.
    #[error("cannot list {}: {source} — is procfs mounted there?", .path.display())]
    ProcScan {
        /// The directory.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },

    /// One process's entry in `/proc` could not be read.
    #[error("cannot read /proc/{pid}/{what}: {source}{}", permission_hint(source))]
    Proc {
        /// The process.
        pid: u32,
        /// The file inside `/proc/PID`.
        what: &'static str,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },

    /// A pod's network namespace could not be entered.
    #[error(
        "cannot enter network namespace {netns} of pid {pid}: {source}{}",
        permission_hint(source)
    )]
    EnterNetns {
        /// The process whose namespace was to be entered.
        pid: u32,
        /// The namespace's inode.
        netns: u64,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },

    /// libpcap could not open or configure a live capture.
    #[error(
        "cannot capture on {device} (network namespace {netns}): {message}{}",
        pcap_hint(message)
    )]
    Pcap {
        /// The interface.
        device: String,
        /// The namespace's inode (0: the caller's).
        netns: u64,
        /// libpcap's message.
        message: String,
    },

    /// The capture process lacks the privileges to capture packets.
    #[error("{what}: permission denied — {CAPABILITY_HINT}")]
    Permission {
        /// What was attempted.
        what: String,
    },
}

/// What to do about missing privileges for live and pod capture.
pub(crate) const CAPABILITY_HINT: &str =
    "run as root or grant CAP_NET_ADMIN, CAP_NET_RAW and CAP_SYS_ADMIN";

fn permission_hint(e: &std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::PermissionDenied {
        format!(" — {CAPABILITY_HINT}")
    } else {
        String::new()
    }
}

fn pcap_hint(message: &str) -> String {
    let m = message.to_ascii_lowercase();
    if m.contains("permission") || m.contains("not permitted") {
        format!(" — {CAPABILITY_HINT}")
    } else {
        String::new()
    }
}

impl Error {
    /// The same error about another path (the reader works on bytes and
    /// does not know the file's name).
    pub(crate) fn with_path(self, path: &std::path::Path) -> Self {
        let path = path.to_path_buf();
        match self {
            Error::Open { source, .. } => Error::Open { path, source },
            Error::NotACapture { magic, .. } => Error::NotACapture { path, magic },
            Error::TooShort { len, .. } => Error::TooShort { path, len },
            Error::BadHeader { what, .. } => Error::BadHeader { path, what },
            other => other,
        }
    }
}
