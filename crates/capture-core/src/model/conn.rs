//! Connection identity and the metadata a parser sees about a connection.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::{Role, Timestamp};

/// The inode of a network namespace, as in `/proc/PID/ns/net`.
///
/// Every pod has its own 127.0.0.1, so the namespace is part of a
/// connection's identity. `NetnsId::UNKNOWN` (0) is used where the source
/// cannot tell, such as a capture file.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct NetnsId(pub u64);

impl NetnsId {
    /// The namespace is not known (capture files, plain interfaces).
    pub const UNKNOWN: NetnsId = NetnsId(0);

    /// The inode, or `None` when unknown.
    pub fn get(self) -> Option<u64> {
        (self.0 != 0).then_some(self.0)
    }
}

/// Whether the traced process is the server (inbound) or the client (outbound) of a connection.
///
/// Only sources that see a process (eBPF) know this; packet captures leave it unset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrafficDirection {
    /// The traced process accepted the connection: it is the server.
    Inbound,
    /// The traced process opened the connection: it is the client.
    Outbound,
}

impl TrafficDirection {
    /// The name used in JSON records.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Inbound => "inbound",
            Self::Outbound => "outbound",
        }
    }

    /// The role the traced process plays on the connection.
    pub const fn traced_role(self) -> Role {
        match self {
            Self::Inbound => Role::Server,
            Self::Outbound => Role::Client,
        }
    }
}

/// How the bytes of a connection were captured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CaptureSource {
    /// Packets from libpcap or a capture file.
    #[serde(rename = "pcap")]
    Pcap,
    /// Plaintext at a TLS library's read/write, from eBPF uprobes.
    #[serde(rename = "ebpf-tls")]
    EbpfTls,
    /// Plaintext at socket syscalls, from eBPF tracepoints or kprobes.
    #[serde(rename = "ebpf-syscall")]
    EbpfSyscall,
    /// Plaintext at Go's `crypto/tls.(*Conn).Read`/`Write`, from eBPF uprobes.
    #[serde(rename = "ebpf-go-tls")]
    EbpfGoTls,
}

impl CaptureSource {
    /// The name used in JSON records.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pcap => "pcap",
            Self::EbpfTls => "ebpf-tls",
            Self::EbpfSyscall => "ebpf-syscall",
            Self::EbpfGoTls => "ebpf-go-tls",
        }
    }

    /// True for plaintext taken from inside a TLS implementation.
    pub const fn is_tls(self) -> bool {
        matches!(self, Self::EbpfTls | Self::EbpfGoTls)
    }
}

/// The TLS implementation whose plaintext a TLS source captured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TlsLibrary {
    /// OpenSSL 3.x (`libssl.so.3`, or linked into a binary such as node).
    #[serde(rename = "openssl-3")]
    OpenSsl3,
    /// OpenSSL 1.1.x (`libssl.so.1.1`).
    #[serde(rename = "openssl-1.1")]
    OpenSsl11,
    /// BoringSSL (linked into envoy, Chromium-based programs and others).
    #[serde(rename = "boringssl")]
    BoringSsl,
    /// GnuTLS.
    #[serde(rename = "gnutls")]
    GnuTls,
    /// NSS (Mozilla's Network Security Services).
    #[serde(rename = "nss")]
    Nss,
    /// Go's `crypto/tls`.
    #[serde(rename = "go")]
    Go,
}

impl TlsLibrary {
    /// The name used in JSON records.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::OpenSsl3 => "openssl-3",
            Self::OpenSsl11 => "openssl-1.1",
            Self::BoringSsl => "boringssl",
            Self::GnuTls => "gnutls",
            Self::Nss => "nss",
            Self::Go => "go",
        }
    }

    /// Every library, in a fixed order.
    pub const ALL: [TlsLibrary; 6] = [
        Self::OpenSsl3,
        Self::OpenSsl11,
        Self::BoringSsl,
        Self::GnuTls,
        Self::Nss,
        Self::Go,
    ];
}

/// A process name as the kernel keeps it: at most 16 bytes, NUL padded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Comm(pub [u8; 16]);

impl Comm {
    /// Builds a `Comm` from a name, cutting it at 16 bytes.
    pub fn new(name: &str) -> Self {
        let mut b = [0u8; 16];
        for (dst, src) in b.iter_mut().zip(name.as_bytes()) {
            *dst = *src;
        }
        Self(b)
    }

    /// The name up to the first NUL, lossily decoded.
    pub fn to_string_lossy(&self) -> String {
        let end = self.0.iter().position(|&c| c == 0).unwrap_or(self.0.len());
        String::from_utf8_lossy(self.0.get(..end).unwrap_or_default()).into_owned()
    }
}

/// The identity of one connection: its two endpoints, its network
/// namespace and, for sources that see sockets, the owning pid and fd.
///
/// `client` and `server` are the best knowledge of the source: the sender of
/// the SYN for packets, the accepting or connecting side for sockets, and a
/// port heuristic for connections joined mid-stream. Parsers may find out
/// that the roles are the other way round; they then report the exchange with
/// the endpoints swapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnKey {
    /// The endpoint that opened the connection.
    pub client: SocketAddr,
    /// The endpoint that accepted the connection.
    pub server: SocketAddr,
    /// The network namespace the connection was seen in.
    pub netns: NetnsId,
    /// The process that owns the socket, for socket-level sources.
    pub pid: Option<u32>,
    /// The socket's file descriptor in `pid`, for socket-level sources.
    pub fd: Option<u32>,
}

impl ConnKey {
    /// A key for a packet-level connection (no pid, no fd).
    pub const fn new(client: SocketAddr, server: SocketAddr, netns: NetnsId) -> Self {
        Self {
            client,
            server,
            netns,
            pid: None,
            fd: None,
        }
    }

    /// The same connection with client and server swapped.
    pub const fn reversed(&self) -> Self {
        Self {
            client: self.server,
            server: self.client,
            ..*self
        }
    }

    /// The key with its endpoints in a canonical order, and whether they were swapped.
    ///
    /// Both directions of a connection map to the same canonical key: this is
    /// what connection tables and shard selection hash.
    pub fn canonical(&self) -> (Self, bool) {
        // IPv4 on both ends, nearly every packet: one integer comparison.
        if let (SocketAddr::V4(c), SocketAddr::V4(s)) = (self.client, self.server) {
            let word =
                |a: std::net::SocketAddrV4| u64::from(a.ip().to_bits()) << 16 | u64::from(a.port());
            return if word(c) <= word(s) {
                (*self, false)
            } else {
                (self.reversed(), true)
            };
        }
        if (self.client.ip(), self.client.port()) <= (self.server.ip(), self.server.port()) {
            (*self, false)
        } else {
            (self.reversed(), true)
        }
    }
}

/// Hashed as a few words rather than field by field (a socket address
/// alone is a dozen small writes to the hasher): connection tables hash a
/// key for every packet. Equal keys hash alike; IPv6 flow labels are left
/// out, which only makes keys differing in them collide.
impl std::hash::Hash for ConnKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        fn endpoint<H: std::hash::Hasher>(a: &SocketAddr, state: &mut H) {
            match a {
                SocketAddr::V4(v4) => {
                    state.write_u64(u64::from(v4.ip().to_bits()) << 16 | u64::from(v4.port()));
                }
                SocketAddr::V6(v6) => {
                    state.write_u128(v6.ip().to_bits());
                    state.write_u64(u64::from(v6.scope_id()) << 16 | u64::from(v6.port()));
                }
            }
        }
        endpoint(&self.client, state);
        endpoint(&self.server, state);
        state.write_u64(self.netns.0);
        // Present and absent told apart: bit 32 is set for a present value.
        let opt = |v: Option<u32>| v.map_or(0, |v| u64::from(v) | 1 << 32);
        state.write_u64(opt(self.pid) ^ opt(self.fd).rotate_left(29));
    }
}

/// What a parser knows about the connection whose bytes it is given.
///
/// Build one with [`ConnMeta::new`] and the `with_*` methods:
///
/// ```
/// use capture_core::model::{CaptureSource, ConnKey, ConnMeta, NetnsId, Timestamp};
///
/// let key = ConnKey::new("10.0.0.1:40000".parse()?, "10.0.0.2:80".parse()?, NetnsId::UNKNOWN);
/// let meta = ConnMeta::new(key, CaptureSource::Pcap, Timestamp(0)).joined_mid_stream(true);
/// assert!(meta.mid_stream && meta.comm.is_none());
/// # Ok::<(), std::net::AddrParseError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnMeta {
    /// The connection's identity, oriented client → server as well as the source knew.
    pub key: ConnKey,
    /// How the bytes were captured.
    pub source: CaptureSource,
    /// The TLS library whose plaintext this is, for TLS sources.
    pub tls_library: Option<TlsLibrary>,
    /// The owning process's name, for socket-level sources.
    pub comm: Option<Comm>,
    /// Inbound or outbound from the traced process's point of view, where known.
    pub traffic: Option<TrafficDirection>,
    /// When the first packet or event of the connection was seen.
    pub opened: Timestamp,
    /// True when the start of the connection was not seen (no SYN, or the
    /// first bytes of a socket were missed): parsers must expect to join
    /// their protocol mid-message.
    pub mid_stream: bool,
}

impl ConnMeta {
    /// The metadata of a connection `key` captured by `source`, first seen
    /// at `opened`: no TLS library, no process name, no traffic direction,
    /// its start seen.
    pub const fn new(key: ConnKey, source: CaptureSource, opened: Timestamp) -> Self {
        Self {
            key,
            source,
            tls_library: None,
            comm: None,
            traffic: None,
            opened,
            mid_stream: false,
        }
    }

    /// The same with the TLS library whose plaintext this is.
    pub const fn with_tls_library(mut self, tls_library: Option<TlsLibrary>) -> Self {
        self.tls_library = tls_library;
        self
    }

    /// The same with the owning process's name.
    pub const fn with_comm(mut self, comm: Option<Comm>) -> Self {
        self.comm = comm;
        self
    }

    /// The same with the traffic direction from the traced process's point of view.
    pub const fn with_traffic(mut self, traffic: Option<TrafficDirection>) -> Self {
        self.traffic = traffic;
        self
    }

    /// The same, marked as joined after its start (`true`) or not.
    pub const fn joined_mid_stream(mut self, mid_stream: bool) -> Self {
        self.mid_stream = mid_stream;
        self
    }
}
