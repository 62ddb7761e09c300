//! The events the BPF programs put in the ring buffer, as a view over bytes.
//!
//! The layout is `struct ct_event` in `src/bpf/cleartap.h`: a 120-byte
//! header, then `chunk_len` payload bytes. [`EventView::new`] checks the
//! lengths once; every accessor after it is infallible and never panics.
//! The byte ranges below are checked against the compiled object's BTF by
//! the crate's `layout` test, so the two sides cannot drift apart.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use capture_core::model::TlsLibrary;

/// The `CT_LIB_*` value the BPF side stamps on events of `lib` (the uprobe's attach cookie).
pub const fn library_code(lib: TlsLibrary) -> u8 {
    match lib {
        TlsLibrary::OpenSsl3 => 1,
        TlsLibrary::OpenSsl11 => 2,
        TlsLibrary::BoringSsl => 3,
        TlsLibrary::GnuTls => 4,
        TlsLibrary::Nss => 5,
        TlsLibrary::Go => 6,
    }
}

/// Byte ranges of the header fields (little-endian, as the BPF side writes them).
pub(crate) mod field {
    use std::ops::Range;
    pub(crate) const KIND: usize = 0;
    pub(crate) const SOURCE: usize = 1;
    pub(crate) const DIR: usize = 2;
    pub(crate) const ROLE: usize = 3;
    pub(crate) const FAMILY: usize = 4;
    pub(crate) const LPORT: Range<usize> = 6..8;
    pub(crate) const RPORT: Range<usize> = 8..10;
    pub(crate) const TLS_LIBRARY: usize = 10;
    pub(crate) const PID: Range<usize> = 12..16;
    // Read by tests only: the BPF side pairs calls with their threads itself.
    #[cfg(any(test, feature = "testkit"))]
    pub(crate) const TID: Range<usize> = 16..20;
    pub(crate) const FD: Range<usize> = 20..24;
    pub(crate) const CHUNK_LEN: Range<usize> = 24..28;
    pub(crate) const TS: Range<usize> = 32..40;
    pub(crate) const POS: Range<usize> = 40..48;
    pub(crate) const TOTAL_LEN: Range<usize> = 48..56;
    pub(crate) const NETNS: Range<usize> = 56..64;
    pub(crate) const SSL: Range<usize> = 64..72;
    pub(crate) const LADDR: Range<usize> = 72..88;
    pub(crate) const RADDR: Range<usize> = 88..104;
    pub(crate) const COMM: Range<usize> = 104..120;
    pub(crate) const PAYLOAD: usize = 120;
    /// Every field: (C member name, byte range).
    #[cfg(all(test, feature = "bpf"))]
    pub(crate) const ALL: [(&str, Range<usize>); 20] = [
        ("kind", KIND..KIND + 1),
        ("source", SOURCE..SOURCE + 1),
        ("dir", DIR..DIR + 1),
        ("role", ROLE..ROLE + 1),
        ("family", FAMILY..FAMILY + 1),
        ("lport", LPORT),
        ("rport", RPORT),
        ("tls_library", TLS_LIBRARY..TLS_LIBRARY + 1),
        ("pid", PID),
        ("tid", TID),
        ("fd", FD),
        ("chunk_len", CHUNK_LEN),
        ("ts", TS),
        ("pos", POS),
        ("total_len", TOTAL_LEN),
        ("netns", NETNS),
        ("ssl", SSL),
        ("laddr", LADDR),
        ("raddr", RADDR),
        ("comm", COMM),
    ];
}

/// Size of the event header; the payload follows it.
pub const HEADER_LEN: usize = field::PAYLOAD;

/// The fd value of a TLS event whose socket is not known yet.
pub const FD_UNKNOWN: u32 = u32::MAX;

/// What an event reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// Bytes read or written.
    Data,
    /// The socket was closed.
    Close,
    /// An SSL object was tied to its socket (after events that lacked the fd).
    Assoc,
}

/// Where the bytes were seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventSource {
    /// At a socket syscall.
    Syscall,
    /// At a TLS library's read/write (`SSL_read`/`SSL_write`, ...).
    Tls,
    /// At Go's `crypto/tls.(*Conn).Read`/`Write`.
    GoTls,
}

/// Which way the bytes went, seen from the traced process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// The process wrote them.
    Egress,
    /// The process read them.
    Ingress,
}

/// How the traced process got the socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Not seen (the socket existed before the capture started).
    Unknown,
    /// It called connect(): it is the client.
    Client,
    /// It accepted the socket: it is the server.
    Server,
}

/// Why bytes could not be read as an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// Fewer bytes than a header.
    #[error("event of {0} bytes is shorter than its {HEADER_LEN}-byte header")]
    Short(usize),
    /// The header claims more payload than there is.
    #[error("event claims {claimed} payload bytes but carries {present}")]
    Truncated {
        /// Claimed by `chunk_len`.
        claimed: usize,
        /// Present after the header.
        present: usize,
    },
    /// An unknown kind, source or direction byte.
    #[error("event has unknown kind/source/direction bytes {0:?}")]
    Unknown([u8; 3]),
}

/// A validated view over one ring-buffer event.
#[derive(Clone, Copy, Debug)]
pub struct EventView<'a> {
    header: &'a [u8; HEADER_LEN],
    payload: &'a [u8],
    kind: EventKind,
    source: EventSource,
    flow: Flow,
}

impl<'a> EventView<'a> {
    /// Checks `bytes` once; afterwards every accessor is infallible.
    pub fn new(bytes: &'a [u8]) -> Result<Self, EventError> {
        let (head, rest) = bytes
            .split_at_checked(HEADER_LEN)
            .ok_or(EventError::Short(bytes.len()))?;
        let header: &[u8; HEADER_LEN] = head
            .try_into()
            .map_err(|_| EventError::Short(bytes.len()))?;
        let claimed = u32_at(header, field::CHUNK_LEN) as usize;
        let payload = rest.get(..claimed).ok_or(EventError::Truncated {
            claimed,
            present: rest.len(),
        })?;
        let raw = [
            header[field::KIND],
            header[field::SOURCE],
            header[field::DIR],
        ];
        let kind = match raw[0] {
            1 => EventKind::Data,
            2 => EventKind::Close,
            3 => EventKind::Assoc,
            _ => return Err(EventError::Unknown(raw)),
        };
        let source = match raw[1] {
            1 => EventSource::Syscall,
            2 => EventSource::Tls,
            3 => EventSource::GoTls,
            _ => return Err(EventError::Unknown(raw)),
        };
        let flow = match raw[2] {
            0 => Flow::Egress,
            1 => Flow::Ingress,
            _ => return Err(EventError::Unknown(raw)),
        };
        Ok(Self {
            header,
            payload,
            kind,
            source,
            flow,
        })
    }

    /// What the event reports.
    pub fn kind(&self) -> EventKind {
        self.kind
    }
    /// Syscall or TLS.
    pub fn source(&self) -> EventSource {
        self.source
    }
    /// Written or read by the process.
    pub fn flow(&self) -> Flow {
        self.flow
    }
    /// accept() or connect(), where seen.
    pub fn role(&self) -> Role {
        match self.header[field::ROLE] {
            1 => Role::Client,
            2 => Role::Server,
            _ => Role::Unknown,
        }
    }
    /// The TLS implementation of a TLS event (the uprobe's attach cookie).
    pub fn tls_library(&self) -> Option<TlsLibrary> {
        match self.header[field::TLS_LIBRARY] {
            1 => Some(TlsLibrary::OpenSsl3),
            2 => Some(TlsLibrary::OpenSsl11),
            3 => Some(TlsLibrary::BoringSsl),
            4 => Some(TlsLibrary::GnuTls),
            5 => Some(TlsLibrary::Nss),
            6 => Some(TlsLibrary::Go),
            _ => None,
        }
    }
    /// Process id (thread group id).
    pub fn pid(&self) -> u32 {
        u32_at(self.header, field::PID)
    }
    /// Thread id.
    #[cfg(any(test, feature = "testkit"))]
    pub fn tid(&self) -> u32 {
        u32_at(self.header, field::TID)
    }
    /// The socket's file descriptor, [`FD_UNKNOWN`] when not known yet.
    pub fn fd(&self) -> u32 {
        u32_at(self.header, field::FD)
    }
    /// Kernel monotonic time in nanoseconds.
    pub fn ts_monotonic(&self) -> u64 {
        u64_at(self.header, field::TS)
    }
    /// Position of the first payload byte in this socket direction.
    /// For a close: bytes written so far.
    pub fn pos(&self) -> u64 {
        u64_at(self.header, field::POS)
    }
    /// Bytes moved by the whole call (the payload may be a part of them).
    /// For a close: bytes read so far.
    pub fn total_len(&self) -> u64 {
        u64_at(self.header, field::TOTAL_LEN)
    }
    /// Network namespace inode of the socket, 0 when unknown.
    pub fn netns(&self) -> u64 {
        u64_at(self.header, field::NETNS)
    }
    /// The SSL object's address, for TLS events.
    pub fn ssl(&self) -> u64 {
        u64_at(self.header, field::SSL)
    }
    /// The process name (thread group leader's comm), NUL padded.
    pub fn comm(&self) -> [u8; 16] {
        let mut c = [0u8; 16];
        if let Some(src) = self.header.get(field::COMM) {
            c.copy_from_slice(src);
        }
        c
    }
    /// The payload bytes.
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// Local and remote address of the socket, when the event carries them.
    /// IPv4-mapped IPv6 addresses are given as IPv4.
    pub fn addrs(&self) -> Option<(SocketAddr, SocketAddr)> {
        let local = self.addr(field::LADDR, u16_at(self.header, field::LPORT))?;
        let remote = self.addr(field::RADDR, u16_at(self.header, field::RPORT))?;
        Some((local, remote))
    }

    fn addr(&self, range: std::ops::Range<usize>, port: u16) -> Option<SocketAddr> {
        let raw = self.header.get(range)?;
        let ip = match self.header[field::FAMILY] {
            2 => {
                let b: [u8; 4] = raw.get(..4)?.try_into().ok()?;
                IpAddr::V4(Ipv4Addr::from(b))
            }
            10 => {
                let b: [u8; 16] = raw.try_into().ok()?;
                Ipv6Addr::from(b).to_canonical()
            }
            _ => return None,
        };
        Some(SocketAddr::new(ip, port))
    }
}

fn u16_at(h: &[u8; HEADER_LEN], r: std::ops::Range<usize>) -> u16 {
    h.get(r)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u16::from_le_bytes)
}
fn u32_at(h: &[u8; HEADER_LEN], r: std::ops::Range<usize>) -> u32 {
    h.get(r)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}
fn u64_at(h: &[u8; HEADER_LEN], r: std::ops::Range<usize>) -> u64 {
    h.get(r)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

/// Builds event bytes the way the BPF side lays them out (tests and fuzzing).
#[cfg(any(test, feature = "testkit"))]
#[derive(Clone, Debug)]
pub struct EventBuilder {
    bytes: Vec<u8>,
}

#[cfg(any(test, feature = "testkit"))]
impl EventBuilder {
    /// A data event of `source` (1 syscall, 2 TLS), `dir` (0 egress, 1 ingress), `role` (0, 1 client, 2 server).
    pub fn new(kind: u8, source: u8, dir: u8, role: u8) -> Self {
        let mut bytes = vec![0u8; HEADER_LEN];
        if let Some(h) = bytes.get_mut(..4) {
            h.copy_from_slice(&[kind, source, dir, role]);
        }
        Self { bytes }
    }
    fn put(mut self, r: std::ops::Range<usize>, v: &[u8]) -> Self {
        if let Some(dst) = self.bytes.get_mut(r) {
            dst.copy_from_slice(v);
        }
        self
    }
    /// Process, thread and fd.
    pub fn ids(self, pid: u32, tid: u32, fd: u32) -> Self {
        self.put(field::PID, &pid.to_le_bytes())
            .put(field::TID, &tid.to_le_bytes())
            .put(field::FD, &fd.to_le_bytes())
    }
    /// Local and remote IPv4 endpoints.
    pub fn v4(mut self, local: std::net::SocketAddrV4, remote: std::net::SocketAddrV4) -> Self {
        if let Some(f) = self.bytes.get_mut(field::FAMILY) {
            *f = 2;
        }
        self.put(field::LPORT, &local.port().to_le_bytes())
            .put(field::RPORT, &remote.port().to_le_bytes())
            .put(
                field::LADDR.start..field::LADDR.start + 4,
                &local.ip().octets(),
            )
            .put(
                field::RADDR.start..field::RADDR.start + 4,
                &remote.ip().octets(),
            )
    }
    /// Time, position and total length of the call.
    pub fn at(self, ts: u64, pos: u64, total: u64) -> Self {
        self.put(field::TS, &ts.to_le_bytes())
            .put(field::POS, &pos.to_le_bytes())
            .put(field::TOTAL_LEN, &total.to_le_bytes())
    }
    /// Network namespace inode.
    pub fn netns(self, ino: u64) -> Self {
        self.put(field::NETNS, &ino.to_le_bytes())
    }
    /// SSL object address.
    pub fn ssl(self, ssl: u64) -> Self {
        self.put(field::SSL, &ssl.to_le_bytes())
    }
    /// TLS implementation.
    pub fn library(self, lib: TlsLibrary) -> Self {
        self.put(
            field::TLS_LIBRARY..field::TLS_LIBRARY + 1,
            &[library_code(lib)],
        )
    }
    /// Process name.
    pub fn comm(self, name: &str) -> Self {
        let mut c = [0u8; 16];
        for (d, s) in c.iter_mut().zip(name.bytes()) {
            *d = s;
        }
        self.put(field::COMM, &c)
    }
    /// Appends the payload and sets its length.
    pub fn payload(self, data: &[u8]) -> Vec<u8> {
        let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        let mut b = self.put(field::CHUNK_LEN, &len.to_le_bytes()).bytes;
        b.extend_from_slice(data);
        b
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn reads_back_what_the_builder_wrote() {
        let b = EventBuilder::new(1, 2, 1, 2)
            .ids(10, 11, 7)
            .v4(
                "127.0.0.1:8443".parse().unwrap(),
                "127.0.0.1:50000".parse().unwrap(),
            )
            .at(99, 1000, 5)
            .netns(4026531840)
            .ssl(0xdead)
            .library(TlsLibrary::BoringSsl)
            .comm("nginx")
            .payload(b"hello");
        let e = EventView::new(&b).unwrap();
        assert_eq!(e.kind(), EventKind::Data);
        assert_eq!(e.source(), EventSource::Tls);
        assert_eq!(e.flow(), Flow::Ingress);
        assert_eq!(e.role(), Role::Server);
        assert_eq!((e.pid(), e.tid(), e.fd()), (10, 11, 7));
        assert_eq!(e.addrs().unwrap().0, "127.0.0.1:8443".parse().unwrap());
        assert_eq!(e.addrs().unwrap().1, "127.0.0.1:50000".parse().unwrap());
        assert_eq!((e.ts_monotonic(), e.pos(), e.total_len()), (99, 1000, 5));
        assert_eq!(e.netns(), 4026531840);
        assert_eq!(e.ssl(), 0xdead);
        assert_eq!(e.tls_library(), Some(TlsLibrary::BoringSsl));
        assert_eq!(&e.comm()[..6], b"nginx\0");
        assert_eq!(e.payload(), b"hello");
    }

    #[test]
    fn rejects_short_truncated_and_unknown() {
        assert_eq!(
            EventView::new(&[0u8; 10]).unwrap_err(),
            EventError::Short(10)
        );
        let mut b = EventBuilder::new(1, 1, 0, 0).payload(b"abc");
        b.pop();
        assert!(matches!(
            EventView::new(&b),
            Err(EventError::Truncated {
                claimed: 3,
                present: 2
            })
        ));
        let b = EventBuilder::new(9, 1, 0, 0).payload(b"");
        assert!(matches!(EventView::new(&b), Err(EventError::Unknown(_))));
    }

    #[test]
    fn mapped_v6_becomes_v4_and_unknown_family_has_no_addrs() {
        let mut b = EventBuilder::new(1, 1, 0, 0).payload(b"");
        b[field::FAMILY] = 10;
        b[field::LADDR][10] = 0xff;
        b[field::LADDR][11] = 0xff;
        b[field::LADDR][12..16].copy_from_slice(&[127, 0, 0, 1]);
        let e = EventView::new(&b).unwrap();
        assert_eq!(
            e.addrs().unwrap().0.ip(),
            "127.0.0.1".parse::<IpAddr>().unwrap()
        );
        let b = EventBuilder::new(1, 1, 0, 0).payload(b"");
        assert!(EventView::new(&b).unwrap().addrs().is_none());
    }

    #[test]
    fn library_codes_round_trip() {
        for lib in TlsLibrary::ALL {
            let b = EventBuilder::new(1, 2, 0, 0).library(lib).payload(b"");
            assert_eq!(EventView::new(&b).unwrap().tls_library(), Some(lib));
        }
        let b = EventBuilder::new(1, 1, 0, 0).payload(b"");
        assert_eq!(EventView::new(&b).unwrap().tls_library(), None);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            if let Ok(e) = EventView::new(&bytes) {
                let _ = (e.addrs(), e.comm(), e.payload().len(), e.pos(), e.role());
            }
        }
    }
}
