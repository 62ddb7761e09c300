//! From ring-buffer events to the pipeline's inputs.
//!
//! An event names a socket by (pid, fd) and its local and remote
//! addresses; the pipeline wants a [`ConnKey`] oriented client → server, a
//! [`Direction`] and whether the traced process is the server
//! ([`TrafficDirection::Inbound`]) or the client. The BPF side knows the
//! role when it saw accept() or connect(); for sockets opened before the
//! capture started, a local port that the socket's namespace listens on
//! makes the process the server.
//!
//! TLS plaintext whose socket was not known yet (SSL over a memory BIO, as
//! in node) is held here until the BPF side ties the SSL object to a
//! socket, then handed out in order. A TLS object that is still not tied
//! after [`TranslateConfig::tie_wait_ns`] never will be, as far as can be
//! told: a GnuTLS session whose own push/pull functions hand its records
//! to another thread or to something other than a TCP socket, an OpenSSL
//! BIO of the same kind. Its plaintext is then handed out keyed by process
//! and object, like Go's over a non-TCP connection, and counted as
//! `tls_unattributed`.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use capture_core::model::{
    CaptureSource, Comm, ConnKey, Direction, Input, NetnsId, StreamChunk, Timestamp, TlsLibrary,
    TrafficDirection,
};
use capture_core::stage::InputSink;
use capture_core::stats::{Counter, Counters, DropReason};

use crate::event::{EventKind, EventSource, EventView, FD_UNKNOWN, Flow, Role};

/// Where the translator learns which TCP ports a network namespace listens
/// on: `/proc/PID/net/tcp{,6}` in a running source
/// ([`ProcListeners`](crate::proc_net::ProcListeners)), a fixed table in
/// tests ([`FixedListeners`]).
pub trait ListenerTable: Send {
    /// The listening ports of `netns`, looked up through process `pid` (any
    /// process of the namespace will do); `None` when it cannot tell now.
    fn listening(&mut self, netns: u64, pid: u32) -> Option<HashSet<u16>>;
}

/// A listener table that never changes: only what was inserted.
#[cfg(any(test, feature = "testkit"))]
#[derive(Clone, Debug, Default)]
pub struct FixedListeners(HashMap<u64, HashSet<u16>>);

#[cfg(any(test, feature = "testkit"))]
impl FixedListeners {
    /// Records that `netns` listens on `ports`.
    pub fn insert(&mut self, netns: u64, ports: impl IntoIterator<Item = u16>) {
        self.0.entry(netns).or_default().extend(ports);
    }
}

#[cfg(any(test, feature = "testkit"))]
impl ListenerTable for FixedListeners {
    fn listening(&mut self, netns: u64, _pid: u32) -> Option<HashSet<u16>> {
        Some(self.0.get(&netns).cloned().unwrap_or_default())
    }
}

/// The listening ports of each namespace, cached and refreshed by event
/// time: a table older than 2 s is read again, and a port missing from a
/// table older than 200 ms too (`/proc/net/tcp` is read in pieces and may
/// skip a socket while the table changes).
struct ListeningPorts {
    table: Box<dyn ListenerTable>,
    /// Per namespace: event time (monotonic ns) of the read, and the ports.
    by_netns: HashMap<u64, (u64, HashSet<u16>)>,
}

impl ListeningPorts {
    const FRESH_NS: u64 = 2_000_000_000;
    const RECHECK_MISS_NS: u64 = 200_000_000;

    fn contains(&mut self, netns: u64, pid: u32, port: u16, now: u64) -> bool {
        let stale = self.by_netns.get(&netns).is_none_or(|(at, ports)| {
            let age = now.saturating_sub(*at);
            age > Self::FRESH_NS || (!ports.contains(&port) && age > Self::RECHECK_MISS_NS)
        });
        if stale {
            // Nothing readable: decide without caching, try again next time.
            let Some(ports) = self.table.listening(netns, pid) else {
                return false;
            };
            self.by_netns.insert(netns, (now, ports));
        }
        self.by_netns
            .get(&netns)
            .is_some_and(|(_, p)| p.contains(&port))
    }
}

/// The local ports in state LISTEN (0A) of a `/proc/net/tcp{,6}` table.
pub fn parse_listening(text: &str) -> impl Iterator<Item = u16> + '_ {
    text.lines().skip(1).filter_map(|line| {
        let mut cols = line.split_whitespace();
        let local = cols.nth(1)?;
        let state = cols.nth(1)?;
        if state != "0A" {
            return None;
        }
        u16::from_str_radix(local.rsplit_once(':')?.1, 16).ok()
    })
}

/// Settings of the translation.
#[derive(Clone, Debug)]
pub struct TranslateConfig {
    /// Emit connections the traced process opened (outbound).
    pub egress: bool,
    /// Drop chunks whose local or remote port is one of these.
    pub exclude_ports: Vec<u16>,
    /// Most TLS plaintext bytes held while their socket is unknown.
    pub max_pending_bytes: usize,
    /// The kernel's ephemeral port range (`ip_local_port_range`): when no
    /// listener is found (the server is gone), a fixed local port facing an
    /// ephemeral remote one still makes the process the server.
    pub ephemeral_ports: std::ops::RangeInclusive<u16>,
    /// How long TLS plaintext waits for its object to be tied to a socket
    /// before it is handed out unattributed (see the module doc), in ns of
    /// event time.
    pub tie_wait_ns: u64,
}

impl Default for TranslateConfig {
    fn default() -> Self {
        Self {
            egress: true,
            exclude_ports: Vec::new(),
            max_pending_bytes: 8 << 20,
            ephemeral_ports: 32768..=60999,
            tie_wait_ns: 1_000_000_000,
        }
    }
}

/// TLS objects held, and objects known untied, at most (the BPF side's
/// maps of TLS objects hold as many).
const MAX_TLS_OBJECTS: usize = 65_536;

struct Held {
    ts: u64,
    netns: u64,
    tls_library: Option<TlsLibrary>,
    flow: Flow,
    pos: u64,
    comm: [u8; 16],
    data: Vec<u8>,
}

/// The key of a TLS connection that is not over a TCP socket (a Go
/// `tls.Conn` over a unix socket or another `net.Conn`, a TLS object never
/// tied to a socket): process and connection object, with addresses from
/// the discard-only prefix `100::/64` (RFC 6666) that no peer has: the
/// client `[100::<connection object address>]:0`, the server `[100::]:0`.
/// Which side the process is, is left to the parser (it is assumed the
/// client).
fn unattributed_key(pid: u32, object: u64, netns: u64) -> ConnKey {
    let discard = |low: u64| {
        let ip = Ipv6Addr::from((0x0100u128 << 112) | u128::from(low));
        SocketAddr::new(IpAddr::V6(ip), 0)
    };
    ConnKey {
        client: discard(object),
        server: discard(0),
        netns: NetnsId(netns),
        pid: Some(pid),
        fd: None,
    }
}

/// The direction of unattributed bytes: what the process wrote goes
/// client → server.
fn unattributed_dir(flow: Flow) -> Direction {
    match flow {
        Flow::Egress => Direction::ClientToServer,
        Flow::Ingress => Direction::ServerToClient,
    }
}

/// An event's chunk keyed by [`unattributed_key`].
fn unattributed<'a>(ev: &EventView<'a>, ts: Timestamp) -> Input<'a> {
    Input::Chunk(StreamChunk {
        ts,
        key: unattributed_key(ev.pid(), ev.ssl(), ev.netns()),
        dir: unattributed_dir(ev.flow()),
        offset: ev.pos(),
        data: ev.payload(),
        source: capture_source(ev.source()),
        tls_library: ev.tls_library(),
        comm: Some(Comm(ev.comm())),
        traffic: None,
    })
}

/// The record's source for an event's.
fn capture_source(source: EventSource) -> CaptureSource {
    match source {
        EventSource::Syscall => CaptureSource::EbpfSyscall,
        EventSource::Tls => CaptureSource::EbpfTls,
        EventSource::GoTls => CaptureSource::EbpfGoTls,
    }
}

/// Turns events into [`Input`]s. I/O-free: the listening ports come from
/// a [`ListenerTable`], the time from the events.
pub struct Translator {
    cfg: TranslateConfig,
    /// Added to kernel monotonic time to get Unix time.
    clock_offset: i128,
    listening: ListeningPorts,
    roles: HashMap<(u32, u32), TrafficDirection>,
    /// Per socket: the end of what was handed out, per flow.
    stream_ends: HashMap<(u32, u32), [u64; 2]>,
    held: HashMap<(u32, u64), Vec<Held>>,
    held_bytes: usize,
    /// TLS objects (pid, object) held past `tie_wait_ns` without a socket:
    /// their plaintext goes out unattributed as it comes.
    untied: HashSet<(u32, u64)>,
    /// No held object's wait is over before this (event time, ns): polls
    /// before it look at nothing.
    next_release: u64,
}

struct Conn {
    key: ConnKey,
    traffic: TrafficDirection,
}

impl Conn {
    /// `origin`: how the bytes were captured, and by which TLS library.
    fn chunk<'a>(
        &self,
        (source, tls_library): (CaptureSource, Option<TlsLibrary>),
        ts: Timestamp,
        flow: Flow,
        pos: u64,
        comm: [u8; 16],
        data: &'a [u8],
    ) -> Input<'a> {
        // What the client process wrote, or the server process read, goes client → server.
        let dir = match (flow, self.traffic) {
            (Flow::Egress, TrafficDirection::Outbound)
            | (Flow::Ingress, TrafficDirection::Inbound) => Direction::ClientToServer,
            _ => Direction::ServerToClient,
        };
        Input::Chunk(StreamChunk {
            ts,
            key: self.key,
            dir,
            offset: pos,
            data,
            source,
            tls_library,
            comm: Some(Comm(comm)),
            traffic: Some(self.traffic),
        })
    }
}

impl Translator {
    /// A translator; `clock_offset` is Unix time minus monotonic time, in
    /// ns; `listeners` tells which ports a namespace listens on.
    pub fn new(
        cfg: TranslateConfig,
        clock_offset: i128,
        listeners: Box<dyn ListenerTable>,
    ) -> Self {
        Self {
            cfg,
            clock_offset,
            listening: ListeningPorts {
                table: listeners,
                by_netns: HashMap::new(),
            },
            roles: HashMap::new(),
            stream_ends: HashMap::new(),
            held: HashMap::new(),
            held_bytes: 0,
            untied: HashSet::new(),
            next_release: u64::MAX,
        }
    }

    /// Unix time minus monotonic time now, in nanoseconds.
    pub fn current_clock_offset() -> i128 {
        let now = |clock| {
            let mut ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: clock_gettime writes into the timespec we own.
            unsafe { libc::clock_gettime(clock, &mut ts) };
            i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
        };
        now(libc::CLOCK_REALTIME) - now(libc::CLOCK_MONOTONIC)
    }

    /// TLS plaintext bytes currently held for sockets not known yet.
    #[cfg(any(test, feature = "testkit"))]
    pub fn held_bytes(&self) -> usize {
        self.held_bytes
    }

    fn ts(&self, mono: u64) -> Timestamp {
        let t = i128::from(mono) + self.clock_offset;
        Timestamp(u64::try_from(t.max(0)).unwrap_or(u64::MAX))
    }

    fn conn(&mut self, ev: &EventView<'_>, fd: u32) -> Option<Conn> {
        let (local, remote) = ev.addrs()?;
        let traffic = match ev.role() {
            Role::Server => TrafficDirection::Inbound,
            Role::Client => TrafficDirection::Outbound,
            Role::Unknown => match self.roles.get(&(ev.pid(), fd)) {
                Some(t) => *t,
                None => {
                    let ephemeral = &self.cfg.ephemeral_ports;
                    let t = if self.listening.contains(
                        ev.netns(),
                        ev.pid(),
                        local.port(),
                        ev.ts_monotonic(),
                    ) || (!ephemeral.contains(&local.port())
                        && ephemeral.contains(&remote.port()))
                    {
                        TrafficDirection::Inbound
                    } else {
                        TrafficDirection::Outbound
                    };
                    self.roles.insert((ev.pid(), fd), t);
                    t
                }
            },
        };
        let (client, server): (SocketAddr, SocketAddr) = match traffic {
            TrafficDirection::Inbound => (remote, local),
            TrafficDirection::Outbound => (local, remote),
        };
        let key = ConnKey {
            client,
            server,
            netns: NetnsId(ev.netns()),
            pid: Some(ev.pid()),
            fd: Some(fd),
        };
        Some(Conn { key, traffic })
    }

    fn allowed(&self, c: &Conn, counters: &Counters) -> bool {
        let excluded = self
            .cfg
            .exclude_ports
            .iter()
            .any(|p| *p == c.key.client.port() || *p == c.key.server.port());
        if excluded || (!self.cfg.egress && c.traffic == TrafficDirection::Outbound) {
            counters.dropped(DropReason::AddressFiltered, 1);
            return false;
        }
        true
    }

    /// Hands what one event means to `out`.
    pub fn event(&mut self, ev: &EventView<'_>, out: &mut dyn InputSink, counters: &Counters) {
        let ts = self.ts(ev.ts_monotonic());
        match ev.kind() {
            EventKind::Data => {
                let source = capture_source(ev.source());
                if ev.fd() == FD_UNKNOWN {
                    if ev.source() == EventSource::GoTls
                        || self.untied.contains(&(ev.pid(), ev.ssl()))
                    {
                        // Go names its connection, not a socket: there is
                        // no association to wait for. Nor for an object
                        // that waited in vain already.
                        out.input(unattributed(ev, ts));
                        counters.add(Counter::TlsUnattributed, 1);
                    } else {
                        self.hold(ev, counters);
                    }
                    return;
                }
                let Some(c) = self.conn(ev, ev.fd()) else {
                    counters.dropped(DropReason::NotTcp, 1);
                    return;
                };
                if self.allowed(&c, counters) {
                    let origin = (source, ev.tls_library());
                    out.input(c.chunk(origin, ts, ev.flow(), ev.pos(), ev.comm(), ev.payload()));
                    self.handed_out(ev.pid(), ev.fd(), ev.flow(), ev.pos(), ev.payload().len());
                }
            }
            EventKind::Assoc => {
                // Tied after all (late): from now on its bytes have a socket.
                let object = (ev.pid(), ev.ssl());
                self.untied.remove(&object);
                if !self.held.contains_key(&object) {
                    return;
                }
                // Without socket addresses the association ties nothing:
                // what is held stays held (and counted in `held_bytes`)
                // until a real one comes or its wait is over.
                let Some(c) = self.conn(ev, ev.fd()) else {
                    return;
                };
                let Some(held) = self.held.remove(&object) else {
                    return;
                };
                let allowed = self.allowed(&c, counters);
                for h in held {
                    self.held_bytes = self.held_bytes.saturating_sub(h.data.len());
                    self.handed_out(ev.pid(), ev.fd(), h.flow, h.pos, h.data.len());
                    if allowed {
                        let ts = self.ts(h.ts);
                        out.input(c.chunk(
                            (CaptureSource::EbpfTls, h.tls_library),
                            ts,
                            h.flow,
                            h.pos,
                            h.comm,
                            &h.data,
                        ));
                    }
                }
            }
            EventKind::Close => {
                let ends = self.stream_ends.remove(&(ev.pid(), ev.fd()));
                if let Some(c) = self.conn(ev, ev.fd()) {
                    // The socket's final positions: bytes lost at the very
                    // end (full ring buffer) still show as a gap.
                    if let (Some([w, r]), EventSource::Syscall) = (ends, ev.source()) {
                        for (flow, seen, fin) in [
                            (Flow::Egress, w, ev.pos()),
                            (Flow::Ingress, r, ev.total_len()),
                        ] {
                            if fin > seen {
                                let data: &[u8] = &[];
                                out.input(c.chunk(
                                    (CaptureSource::EbpfSyscall, None),
                                    ts,
                                    flow,
                                    fin,
                                    ev.comm(),
                                    data,
                                ));
                            }
                        }
                    }
                    out.input(Input::Closed { ts, key: c.key });
                }
                self.roles.remove(&(ev.pid(), ev.fd()));
            }
        }
    }

    /// Remembers how far a socket's stream was handed out.
    fn handed_out(&mut self, pid: u32, fd: u32, flow: Flow, pos: u64, len: usize) {
        let ends = self.stream_ends.entry((pid, fd)).or_default();
        if let Some(end) = ends.get_mut(usize::from(flow == Flow::Ingress)) {
            *end = (*end).max(pos.saturating_add(len as u64));
        }
    }

    fn hold(&mut self, ev: &EventView<'_>, counters: &Counters) {
        let len = ev.payload().len();
        let key = (ev.pid(), ev.ssl());
        // Empty chunks (the end of a capped call) weigh no bytes: the
        // objects held are capped too.
        if self.held_bytes.saturating_add(len) > self.cfg.max_pending_bytes
            || (self.held.len() >= MAX_TLS_OBJECTS && !self.held.contains_key(&key))
        {
            counters.dropped(DropReason::ConnBufferFull, 1);
            return;
        }
        self.held_bytes += len;
        let wait_over = ev.ts_monotonic().saturating_add(self.cfg.tie_wait_ns);
        self.next_release = self.next_release.min(wait_over);
        self.held
            .entry((ev.pid(), ev.ssl()))
            .or_default()
            .push(Held {
                ts: ev.ts_monotonic(),
                netns: ev.netns(),
                tls_library: ev.tls_library(),
                flow: ev.flow(),
                pos: ev.pos(),
                comm: ev.comm(),
                data: ev.payload().to_vec(),
            });
    }

    /// Hands out, keyed by process and object, the held plaintext of TLS
    /// objects that waited `tie_wait_ns` for a socket until `now` (kernel
    /// monotonic ns, the events' clock), and counts each chunk as
    /// `tls_unattributed`. Call it after each batch of events.
    pub fn release_untied(&mut self, now: u64, out: &mut dyn InputSink, counters: &Counters) {
        if now < self.next_release {
            return;
        }
        let wait = self.cfg.tie_wait_ns;
        let mut due = Vec::new();
        self.next_release = u64::MAX;
        for (key, held) in &self.held {
            let Some(first) = held.first() else { continue };
            let wait_over = first.ts.saturating_add(wait);
            if wait_over <= now {
                due.push(*key);
            } else {
                self.next_release = self.next_release.min(wait_over);
            }
        }
        for (pid, object) in due {
            let Some(held) = self.held.remove(&(pid, object)) else {
                continue;
            };
            log::debug!(
                "TLS object {object:#x} of pid {pid} not tied to a socket after {wait} ns: \
                 its plaintext goes out keyed by the object"
            );
            // Past the cap its later bytes are held, and released, again.
            if self.untied.len() < MAX_TLS_OBJECTS {
                self.untied.insert((pid, object));
            }
            for h in held {
                self.held_bytes = self.held_bytes.saturating_sub(h.data.len());
                counters.add(Counter::TlsUnattributed, 1);
                out.input(Input::Chunk(StreamChunk {
                    ts: self.ts(h.ts),
                    key: unattributed_key(pid, object, h.netns),
                    dir: unattributed_dir(h.flow),
                    offset: h.pos,
                    data: &h.data,
                    source: CaptureSource::EbpfTls,
                    tls_library: h.tls_library,
                    comm: Some(Comm(h.comm)),
                    traffic: None,
                }));
            }
        }
    }

    /// Forgets state of processes that are gone (call now and then).
    ///
    /// TLS plaintext held for a process that is gone is left where it is:
    /// nothing can tie it any more, and [`Self::release_untied`] hands it
    /// out when its wait is over (a short-lived client's whole exchange
    /// may be there).
    pub fn sweep(&mut self, alive: impl Fn(u32) -> bool) {
        self.roles.retain(|(pid, _), _| alive(*pid));
        self.untied.retain(|(pid, _)| alive(*pid));
        self.stream_ends.retain(|(pid, _), _| alive(*pid));
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::event::EventBuilder;
    use capture_core::model::{Input, TlsLibrary};

    #[derive(Debug, Clone, PartialEq)]
    enum Out {
        Chunk {
            key: ConnKey,
            dir: Direction,
            offset: u64,
            data: Vec<u8>,
            source: CaptureSource,
            traffic: TrafficDirection,
        },
        Closed(ConnKey),
    }

    fn run(t: &mut Translator, events: &[Vec<u8>]) -> (Vec<Out>, Counters) {
        let counters = Counters::default();
        let mut got = Vec::new();
        for e in events {
            let ev = EventView::new(e).unwrap();
            t.event(
                &ev,
                &mut |i: Input<'_>| match i {
                    Input::Chunk(c) => got.push(Out::Chunk {
                        key: c.key,
                        dir: c.dir,
                        offset: c.offset,
                        data: c.data.to_vec(),
                        source: c.source,
                        // Unattributed chunks have none; the tests of those look at keys.
                        traffic: c.traffic.unwrap_or(TrafficDirection::Outbound),
                    }),
                    Input::Closed { key, .. } => got.push(Out::Closed(key)),
                    _ => {}
                },
                &counters,
            );
        }
        (got, counters)
    }

    fn translator(listening: &[u16]) -> Translator {
        let mut l = FixedListeners::default();
        l.insert(1, listening.iter().copied());
        Translator::new(TranslateConfig::default(), 0, Box::new(l))
    }

    const SRV: &str = "127.0.0.1:8080";
    const CLI: &str = "127.0.0.1:40000";

    #[test]
    fn accepted_socket_is_inbound_and_oriented_client_to_server() {
        let mut t = translator(&[]);
        let ev = |dir, pos, data: &[u8]| {
            EventBuilder::new(1, 1, dir, 2)
                .ids(5, 5, 9)
                .v4(SRV.parse().unwrap(), CLI.parse().unwrap())
                .netns(1)
                .at(1, pos, data.len() as u64)
                .payload(data)
        };
        let close = EventBuilder::new(2, 1, 0, 2)
            .ids(5, 5, 9)
            .v4(SRV.parse().unwrap(), CLI.parse().unwrap())
            .netns(1)
            .payload(b"");
        let (got, _) = run(
            &mut t,
            &[ev(1, 0, b"GET /"), ev(0, 0, b"HTTP/1.1 200"), close],
        );
        let key = ConnKey {
            client: CLI.parse().unwrap(),
            server: SRV.parse().unwrap(),
            netns: NetnsId(1),
            pid: Some(5),
            fd: Some(9),
        };
        assert_eq!(
            got[0],
            Out::Chunk {
                key,
                dir: Direction::ClientToServer,
                offset: 0,
                data: b"GET /".to_vec(),
                source: CaptureSource::EbpfSyscall,
                traffic: TrafficDirection::Inbound
            }
        );
        assert_eq!(
            got[1],
            Out::Chunk {
                key,
                dir: Direction::ServerToClient,
                offset: 0,
                data: b"HTTP/1.1 200".to_vec(),
                source: CaptureSource::EbpfSyscall,
                traffic: TrafficDirection::Inbound
            }
        );
        assert_eq!(got[2], Out::Closed(key));
    }

    #[test]
    fn bytes_lost_before_a_close_show_as_a_final_gap() {
        let mut t = translator(&[]);
        let data = EventBuilder::new(1, 1, 0, 2)
            .ids(5, 5, 9)
            .v4(SRV.parse().unwrap(), CLI.parse().unwrap())
            .netns(1)
            .at(1, 0, 4)
            .payload(b"HTTP");
        // Close says 10 bytes were written and 0 read.
        let close = EventBuilder::new(2, 1, 0, 2)
            .ids(5, 5, 9)
            .v4(SRV.parse().unwrap(), CLI.parse().unwrap())
            .netns(1)
            .at(2, 10, 0)
            .payload(b"");
        let (got, _) = run(&mut t, &[data, close]);
        assert_eq!(got.len(), 3, "{got:?}");
        let Out::Chunk {
            offset, data, dir, ..
        } = &got[1]
        else {
            panic!()
        };
        assert_eq!(
            (*offset, data.len(), *dir),
            (10, 0, Direction::ServerToClient)
        );
        assert!(matches!(got[2], Out::Closed(_)));
    }

    #[test]
    fn connected_socket_is_outbound() {
        let mut t = translator(&[]);
        let e = EventBuilder::new(1, 2, 0, 1)
            .ids(6, 6, 3)
            .v4(CLI.parse().unwrap(), SRV.parse().unwrap())
            .netns(1)
            .at(1, 7, 3)
            .payload(b"GET");
        let (got, _) = run(&mut t, &[e]);
        let Out::Chunk {
            key,
            dir,
            offset,
            source,
            traffic,
            ..
        } = &got[0]
        else {
            panic!()
        };
        assert_eq!(
            (key.client, key.server),
            (CLI.parse().unwrap(), SRV.parse().unwrap())
        );
        assert_eq!(
            (*dir, *offset, *source, *traffic),
            (
                Direction::ClientToServer,
                7,
                CaptureSource::EbpfTls,
                TrafficDirection::Outbound
            )
        );
    }

    #[test]
    fn pre_existing_socket_role_from_listening_ports() {
        let mut t = translator(&[8080]);
        let srv_side = EventBuilder::new(1, 1, 1, 0)
            .ids(5, 5, 9)
            .v4(SRV.parse().unwrap(), CLI.parse().unwrap())
            .netns(1)
            .payload(b"GET");
        let cli_side = EventBuilder::new(1, 1, 0, 0)
            .ids(6, 6, 4)
            .v4(CLI.parse().unwrap(), SRV.parse().unwrap())
            .netns(1)
            .payload(b"GET");
        let (got, _) = run(&mut t, &[srv_side, cli_side]);
        let Out::Chunk {
            key: k0,
            traffic: t0,
            dir: d0,
            ..
        } = &got[0]
        else {
            panic!()
        };
        let Out::Chunk {
            key: k1,
            traffic: t1,
            dir: d1,
            ..
        } = &got[1]
        else {
            panic!()
        };
        assert_eq!(
            (*t0, *d0, k0.server),
            (
                TrafficDirection::Inbound,
                Direction::ClientToServer,
                SRV.parse().unwrap()
            )
        );
        assert_eq!(
            (*t1, *d1, k1.server),
            (
                TrafficDirection::Outbound,
                Direction::ClientToServer,
                SRV.parse().unwrap()
            )
        );
    }

    #[test]
    fn without_a_listener_a_fixed_port_facing_an_ephemeral_one_is_the_server() {
        let mut t = translator(&[]);
        let srv_side = EventBuilder::new(1, 1, 1, 0)
            .ids(5, 5, 9)
            .v4(SRV.parse().unwrap(), CLI.parse().unwrap())
            .netns(1)
            .payload(b"GET");
        let (got, _) = run(&mut t, &[srv_side]);
        let Out::Chunk { traffic, key, .. } = &got[0] else {
            panic!()
        };
        assert_eq!(
            (*traffic, key.server),
            (TrafficDirection::Inbound, SRV.parse().unwrap())
        );
    }

    #[test]
    fn egress_off_and_excluded_ports_drop_and_count() {
        let cfg = TranslateConfig {
            egress: false,
            exclude_ports: vec![9092],
            ..Default::default()
        };
        let mut t = Translator::new(cfg, 0, Box::new(FixedListeners::default()));
        let out = EventBuilder::new(1, 1, 0, 1)
            .ids(6, 6, 4)
            .v4(CLI.parse().unwrap(), SRV.parse().unwrap())
            .netns(1)
            .payload(b"x");
        let kafka = EventBuilder::new(1, 1, 0, 2)
            .ids(6, 6, 5)
            .v4("127.0.0.1:9092".parse().unwrap(), CLI.parse().unwrap())
            .netns(1)
            .payload(b"x");
        let inbound = EventBuilder::new(1, 1, 0, 2)
            .ids(6, 6, 6)
            .v4(SRV.parse().unwrap(), CLI.parse().unwrap())
            .netns(1)
            .payload(b"x");
        let (got, counters) = run(&mut t, &[out, kafka, inbound]);
        assert_eq!(got.len(), 1);
        assert_eq!(counters.drops(DropReason::AddressFiltered), 2);
    }

    #[test]
    fn tls_without_socket_is_held_until_assoc() {
        let mut t = translator(&[]);
        let early = EventBuilder::new(1, 2, 0, 0)
            .ids(7, 7, FD_UNKNOWN)
            .ssl(0xabc)
            .at(1, 0, 5)
            .payload(b"hello");
        let assoc = EventBuilder::new(3, 2, 0, 1)
            .ids(7, 7, 11)
            .ssl(0xabc)
            .v4(CLI.parse().unwrap(), SRV.parse().unwrap())
            .netns(1)
            .payload(b"");
        let later = EventBuilder::new(1, 2, 0, 1)
            .ids(7, 7, 11)
            .ssl(0xabc)
            .v4(CLI.parse().unwrap(), SRV.parse().unwrap())
            .netns(1)
            .at(2, 5, 5)
            .payload(b"world");
        let (got, _) = run(&mut t, std::slice::from_ref(&early));
        assert!(got.is_empty());
        assert_eq!(t.held_bytes(), 5);
        let (got, _) = run(&mut t, &[assoc, later]);
        let offsets: Vec<(u64, Vec<u8>)> = got
            .iter()
            .map(|o| match o {
                Out::Chunk {
                    offset, data, key, ..
                } => {
                    assert_eq!(key.fd, Some(11));
                    (*offset, data.clone())
                }
                Out::Closed(_) => panic!(),
            })
            .collect();
        assert_eq!(
            offsets,
            vec![(0, b"hello".to_vec()), (5, b"world".to_vec())]
        );
        assert_eq!(t.held_bytes(), 0);
    }

    #[test]
    fn go_tls_without_a_socket_is_handed_out_keyed_by_connection_and_counted() {
        let mut t = translator(&[]);
        let ev = |conn: u64, dir, pos, data: &[u8]| {
            EventBuilder::new(1, 3, dir, 0)
                .ids(8, 8, FD_UNKNOWN)
                .ssl(conn)
                .library(TlsLibrary::Go)
                .at(1, pos, data.len() as u64)
                .payload(data)
        };
        let (got, counters) = run(
            &mut t,
            &[
                ev(0xc000_1234, 0, 0, b"GET / HTTP/1.1\r\n"),
                ev(0xc000_1234, 1, 0, b"HTTP/1.1 200 OK\r\n"),
                ev(0xc000_9999, 0, 0, b"GET /other"),
            ],
        );
        assert_eq!(got.len(), 3, "nothing held: {got:?}");
        assert_eq!(counters.get(Counter::TlsUnattributed), 3);
        let keys: Vec<ConnKey> = got
            .iter()
            .map(|o| match o {
                Out::Chunk { key, source, .. } => {
                    assert_eq!(*source, CaptureSource::EbpfGoTls);
                    *key
                }
                Out::Closed(_) => panic!(),
            })
            .collect();
        assert_eq!(keys[0], keys[1], "one connection, both directions");
        assert_ne!(keys[0], keys[2], "another tls.Conn is another connection");
        assert_eq!(keys[0].client.to_string(), "[100::c000:1234]:0");
        assert_eq!((keys[0].pid, keys[0].fd), (Some(8), None));
    }

    #[test]
    fn tls_never_tied_goes_out_keyed_by_object_after_the_wait_and_is_counted() {
        let mut t = translator(&[]);
        let wait = TranslateConfig::default().tie_wait_ns;
        let ev = |dir, ts, pos, data: &[u8]| {
            EventBuilder::new(1, 2, dir, 0)
                .ids(7, 7, FD_UNKNOWN)
                .ssl(0xabc)
                .library(TlsLibrary::GnuTls)
                .netns(1)
                .at(ts, pos, data.len() as u64)
                .payload(data)
        };
        let (got, _) = run(&mut t, &[ev(0, 10, 0, b"GET / HTTP/1.1\r\n\r\n")]);
        assert!(got.is_empty(), "held while a socket may still come");
        let release = |t: &mut Translator, now: u64| {
            let counters = Counters::default();
            let mut got = Vec::new();
            t.release_untied(
                now,
                &mut |i: Input<'_>| {
                    if let Input::Chunk(c) = i {
                        got.push((c.key, c.dir, c.offset, c.data.to_vec(), c.tls_library));
                    }
                },
                &counters,
            );
            (got, counters.get(Counter::TlsUnattributed))
        };
        assert_eq!(release(&mut t, 10 + wait - 1), (vec![], 0), "not yet");
        let (got, counted) = release(&mut t, 10 + wait);
        assert_eq!(counted, 1);
        assert_eq!(t.held_bytes(), 0);
        let key = got[0].0;
        assert_eq!(key.client.to_string(), "[100::abc]:0");
        assert_eq!((key.pid, key.fd, key.netns), (Some(7), None, NetnsId(1)));
        assert_eq!(got[0].1, Direction::ClientToServer, "what it wrote");
        assert_eq!(got[0].3, b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!(got[0].4, Some(TlsLibrary::GnuTls));
        // What follows for the object is not held again: out at once.
        let (got, counters) = run(&mut t, &[ev(1, 20 + wait, 0, b"HTTP/1.1 200 OK\r\n")]);
        assert_eq!(counters.get(Counter::TlsUnattributed), 1);
        match &got[..] {
            [Out::Chunk { key: k, dir, .. }] => {
                assert_eq!((*k, *dir), (key, Direction::ServerToClient));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(t.held_bytes(), 0);
    }

    #[test]
    fn an_association_without_addresses_leaves_the_held_plaintext_held() {
        let mut t = translator(&[]);
        let wait = TranslateConfig::default().tie_wait_ns;
        let data = EventBuilder::new(1, 2, 0, 0)
            .ids(7, 7, FD_UNKNOWN)
            .ssl(0xabc)
            .library(TlsLibrary::GnuTls)
            .netns(1)
            .at(10, 0, 5)
            .payload(b"GET /");
        // An Assoc whose socket has no addresses (not TCP): nothing to tie to.
        let assoc = EventBuilder::new(3, 2, 0, 0)
            .ids(7, 7, 5)
            .ssl(0xabc)
            .netns(1)
            .at(11, 0, 0)
            .payload(b"");
        let (got, _) = run(&mut t, &[data, assoc]);
        assert!(got.is_empty());
        assert_eq!(t.held_bytes(), 5, "still held, still counted");
        let counters = Counters::default();
        let mut out = Vec::new();
        t.release_untied(
            10 + wait,
            &mut |i: Input<'_>| {
                if let Input::Chunk(c) = i {
                    out.push(c.data.to_vec());
                }
            },
            &counters,
        );
        assert_eq!(out, vec![b"GET /".to_vec()], "out keyed by its object");
        assert_eq!(t.held_bytes(), 0);
        assert_eq!(counters.get(Counter::TlsUnattributed), 1);
    }

    #[test]
    fn tls_of_a_process_gone_is_handed_out_after_the_wait_not_dropped() {
        let mut t = translator(&[]);
        let wait = TranslateConfig::default().tie_wait_ns;
        let ev = EventBuilder::new(1, 2, 0, 0)
            .ids(7, 7, FD_UNKNOWN)
            .ssl(0xabc)
            .at(10, 0, 5)
            .payload(b"hello");
        run(&mut t, &[ev]);
        t.sweep(|_| false);
        assert_eq!(t.held_bytes(), 5, "kept for the rest of its wait");
        let counters = Counters::default();
        let mut got = Vec::new();
        t.release_untied(
            10 + wait,
            &mut |i: Input<'_>| {
                if let Input::Chunk(c) = i {
                    got.push(c.data.to_vec());
                }
            },
            &counters,
        );
        assert_eq!(got, vec![b"hello".to_vec()]);
        assert_eq!(counters.get(Counter::TlsUnattributed), 1);
        assert_eq!(counters.drops(DropReason::ConnBufferFull), 0);
        assert_eq!(t.held_bytes(), 0);
    }

    #[test]
    fn held_bytes_are_capped_and_counted() {
        let mut t = Translator::new(
            TranslateConfig {
                max_pending_bytes: 4,
                ..Default::default()
            },
            0,
            Box::new(FixedListeners::default()),
        );
        let early = EventBuilder::new(1, 2, 0, 0)
            .ids(7, 7, FD_UNKNOWN)
            .ssl(1)
            .payload(b"hello");
        let (_, counters) = run(&mut t, &[early]);
        assert_eq!(counters.drops(DropReason::ConnBufferFull), 1);
        assert_eq!(t.held_bytes(), 0);
    }

    #[test]
    fn parses_proc_net_tcp_listeners() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
           0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0\n\
           1: 0100007F:9C40 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1\n";
        assert_eq!(parse_listening(text).collect::<Vec<_>>(), vec![8080]);
    }
}
