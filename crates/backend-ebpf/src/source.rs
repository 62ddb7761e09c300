//! The eBPF source: drains the ring buffer, keeps the uprobes up to date,
//! and hands socket chunks to the pipeline.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use capture_core::stage::{InputSink, Poll, Source, SourceError};
use capture_core::stats::{Counter, Counters, DropReason, Gauge};

use capture_core::model::TlsLibrary;

use crate::cgroup_filter::{CgroupFilter, cgroup_id};
use crate::discovery::{Discovery, FoundBy, ScanFilter, TargetKind, TlsTarget};
use crate::event::EventView;
use crate::features::{KernelFeatures, ProgramPlan};
use crate::loader::Probes;
use crate::proc_net::{ProcListeners, ephemeral_ports};
use crate::translate::{TranslateConfig, Translator};
use crate::{EbpfConfig, Error};

/// A library or binary that carries TLS uprobes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttachedTarget {
    /// Its path, as the process that mapped it sees it.
    pub path: String,
    /// Shared library or statically linked binary.
    pub kind: TargetKind,
    /// The TLS implementation in it, when its version is known.
    pub library: Option<TlsLibrary>,
    /// The functions probed (empty for a file that only holds NSS's SSL
    /// layer, which the NSPR probes look up).
    pub symbols: Vec<&'static str>,
    /// The process it was found in (0: found at start).
    pub pid: u32,
    /// At start (the system's standard places or an application
    /// directory), or mapped by a process.
    pub found_by: FoundBy,
}

impl std::fmt::Display for AttachedTarget {
    /// One line for logs: `gnutls GnuTLS library /usr/lib/.../libgnutls.so.30 (gnutls_record_send2, ...)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let library = self
            .library
            .map_or("tls (version unknown)", TlsLibrary::as_str);
        let kind = match self.kind {
            TargetKind::SharedLibrary => "library",
            TargetKind::StaticBinary => "binary",
        };
        let found = match self.found_by {
            FoundBy::StandardPlace => String::from("standard place"),
            FoundBy::ApplicationDir => String::from("application directory"),
            FoundBy::Process => format!("pid {}", self.pid),
        };
        let what = if self.symbols.is_empty() {
            String::from("SSL layer, looked up by the NSPR probes")
        } else {
            self.symbols.join(", ")
        };
        write!(f, "{library} {kind} {} [{found}] ({what})", self.path)
    }
}

/// A poll that took less than this from the ring buffer makes the next one
/// wait [`GATHER_WAIT`] first (CT_WAKEUP_BYTES of emit.h: the size of
/// batch the BPF side wakes the reader for).
const GATHER_BYTES: usize = 256 << 10;
/// How long events gather between polls below [`GATHER_BYTES`]: what a
/// captured exchange may wait more, against a poll per few events under a
/// steady load (at 20 MB/s, 100 KB gather; the ring buffer holds megabytes).
const GATHER_WAIT: Duration = Duration::from_millis(5);

/// Captures plaintext of TCP connections of the processes on this host:
/// at SSL_read/SSL_write for TLS, at the socket syscalls otherwise.
///
/// Each [`poll`](Source::poll) drains the BPF ring buffer (waiting at most
/// [`EbpfConfig::poll_timeout`]) and hands out `Input::Chunk`s, one per
/// event, with the byte position of the chunk in its socket direction, and
/// `Input::Closed` when a socket is closed. Every
/// [`EbpfConfig::rescan_interval`] it looks for new TLS libraries and
/// binaries and probes them. Dropping the source detaches every program.
pub struct EbpfSource {
    // Field order is drop order: the ring buffer before the maps it reads.
    ring: libbpf_rs::RingBuffer<'static>,
    queue: Arc<Mutex<Vec<u8>>>,
    spare: Vec<u8>,
    /// Bytes the last poll took from the ring buffer (see [`GATHER_WAIT`]).
    last_drain: usize,
    probes: Probes,
    translator: Translator,
    discovery: Discovery,
    scan_filter: ScanFilter,
    cfg: EbpfConfig,
    next_scan: Instant,
    started: Instant,
    stop: Arc<AtomicBool>,
    attached: Vec<AttachedTarget>,
    attach_errors: Vec<String>,
    unprobeable: Vec<(String, String)>,
    cgroup_filter: Mutex<Option<Arc<CgroupFilter>>>,
}

impl EbpfSource {
    /// Loads the BPF programs, attaches them, and probes the TLS libraries
    /// found now. Needs root (or CAP_BPF and CAP_PERFMON).
    pub fn new(cfg: EbpfConfig) -> Result<Self, Error> {
        cfg.validate()?;
        let probes = Probes::load(&cfg)?;
        let queue: Arc<Mutex<Vec<u8>>> = Arc::new(Mutex::new(Vec::with_capacity(1 << 20)));
        let ring = {
            let events = probes.events()?;
            let q = queue.clone();
            let mut builder = libbpf_rs::RingBufferBuilder::new();
            builder
                .add(&events, move |data: &[u8]| {
                    if let Ok(mut q) = q.lock() {
                        let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
                        q.extend_from_slice(&len.to_le_bytes());
                        q.extend_from_slice(data);
                    }
                    0
                })
                .map_err(|e| Error::Load(format!("opening the ring buffer: {e}")))?;
            builder
                .build()
                .map_err(|e| Error::Load(format!("opening the ring buffer: {e}")))?
        };
        let translate = TranslateConfig {
            egress: cfg.egress,
            exclude_ports: cfg.exclude_ports.clone(),
            max_pending_bytes: cfg.max_pending_tls_bytes,
            ephemeral_ports: ephemeral_ports(),
            tie_wait_ns: u64::try_from(cfg.tls_tie_wait.as_nanos()).unwrap_or(u64::MAX),
        };
        // With explicit pids, uprobes are limited to those processes: the
        // others do not even trap into the kernel.
        let scan_filter = ScanFilter {
            pids: cfg.pids.clone(),
            comms: cfg.comms.clone(),
            exclude_pid: std::process::id(),
            per_process: !cfg.pids.is_empty(),
        };
        let now = Instant::now();
        let mut source = Self {
            ring,
            queue,
            spare: Vec::new(),
            last_drain: 0,
            probes,
            translator: Translator::new(
                translate,
                Translator::current_clock_offset(),
                Box::new(ProcListeners),
            ),
            discovery: Discovery::default(),
            scan_filter,
            next_scan: now,
            started: now,
            stop: Arc::new(AtomicBool::new(false)),
            attached: Vec::new(),
            attach_errors: Vec::new(),
            unprobeable: Vec::new(),
            cgroup_filter: Mutex::new(None),
            cfg,
        };
        // Uprobes belong to the file: the system's TLS libraries probed now
        // catch every program that will load them, however short-lived.
        // (Per-process probes, with explicit pids, only follow the scan.)
        if !source.scan_filter.per_process {
            let standard = source
                .discovery
                .standard_places(std::path::Path::new("/"), &source.cfg.tls_library_dirs);
            source.attach_all(standard);
        }
        source.rescan();
        Ok(source)
    }

    /// Looks for new TLS libraries and binaries now and probes them.
    /// Returns how many were added.
    pub fn rescan(&mut self) -> usize {
        self.next_scan = Instant::now() + self.cfg.rescan_interval;
        let found = self.discovery.scan(&self.scan_filter);
        let added = self.attach_all(found);
        for (path, why) in self.discovery.take_unprobeable() {
            log::warn!("cannot probe Go program {path}: {why}; its TLS traffic is not captured");
            self.unprobeable.push((path, why.to_string()));
        }
        let proc_alive = |pid: u32| std::path::Path::new(&format!("/proc/{pid}")).exists();
        self.probes.detach_dead(proc_alive);
        self.translator.sweep(proc_alive);
        added
    }

    fn attach_all(&mut self, targets: Vec<TlsTarget>) -> usize {
        let mut added = 0;
        for target in targets {
            let pid = self.scan_filter.per_process.then_some(target.pid);
            match self.probes.attach_tls(&target, pid) {
                Ok(symbols) if !symbols.is_empty() || target.nss_ssl_layer => {
                    let attached = AttachedTarget {
                        path: target.display.clone(),
                        kind: target.kind,
                        library: target.library,
                        symbols,
                        pid: target.pid,
                        found_by: target.found_by,
                    };
                    log::info!("probing {attached}");
                    self.attached.push(attached);
                    added += 1;
                }
                Ok(_) => {}
                Err(e) => {
                    log::warn!("{e}");
                    self.attach_errors.push(e.to_string());
                }
            }
        }
        added
    }

    /// The libraries and binaries carrying uprobes.
    pub fn attached(&self) -> &[AttachedTarget] {
        &self.attached
    }

    /// Targets that could not be probed, with the reason.
    pub fn attach_errors(&self) -> &[String] {
        &self.attach_errors
    }

    /// Go programs using crypto/tls found so far that cannot be probed:
    /// (path, reason). Each is also logged once and counted by the gauge
    /// `go_unprobeable`.
    pub fn unprobeable(&self) -> &[(String, String)] {
        &self.unprobeable
    }

    /// What the kernel offers.
    pub fn kernel_features(&self) -> KernelFeatures {
        self.probes.features
    }

    /// The program variants loaded, and those switched off with the reason.
    pub fn program_plan(&self) -> &ProgramPlan {
        &self.probes.plan
    }

    /// Kernel-side counters: (events lost to a full ring buffer, their
    /// payload bytes, bytes beyond `max_call_bytes`, unreadable user bytes).
    pub fn kernel_drops(&self) -> (u64, u64, u64, u64) {
        let [a, b, c, d] = self.probes.counters();
        (a, b, c, d)
    }

    /// The traced cgroups, to change while the source runs. Filtering by
    /// cgroup is on only when [`EbpfConfig::cgroups`] is not empty or
    /// [`EbpfConfig::filter_cgroups`] is set; otherwise the set is ignored.
    /// Every call returns the same filter.
    pub fn cgroup_filter(&self) -> Result<Arc<CgroupFilter>, Error> {
        let mut slot = self
            .cgroup_filter
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(f) = &*slot {
            return Ok(f.clone());
        }
        let initial: HashSet<u64> = self
            .cfg
            .cgroups
            .iter()
            .filter_map(|d| cgroup_id(d).ok())
            .collect();
        let filter = Arc::new(CgroupFilter::new(self.probes.cgroup_map()?, initial));
        *slot = Some(filter.clone());
        Ok(filter)
    }

    /// A flag that makes the next `poll` return `Finished` when set.
    pub fn stop_handle(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }
}

impl Source for EbpfSource {
    fn poll(&mut self, out: &mut dyn InputSink, counters: &Counters) -> Result<Poll, SourceError> {
        if self.stop.load(Ordering::Relaxed)
            || self
                .cfg
                .duration
                .is_some_and(|d| self.started.elapsed() >= d)
        {
            return Ok(Poll::Finished);
        }
        if Instant::now() >= self.next_scan {
            self.rescan();
        }
        if self.last_drain < GATHER_BYTES {
            // epoll reports the ring buffer readable while any byte is
            // unread, whatever the BPF side's wakeup policy: at a steady
            // event rate every poll would return at once with a handful
            // of events, a wakeup and a hand-off each. Let them gather.
            std::thread::sleep(GATHER_WAIT);
        }
        if let Err(e) = self.ring.poll(self.cfg.poll_timeout)
            && e.kind() != libbpf_rs::ErrorKind::Interrupted
        {
            return Err(Box::new(Error::Load(format!(
                "polling the ring buffer: {e}"
            ))));
        }
        // The BPF side wakes us only for batches: take what is there anyway.
        if let Err(e) = self.ring.consume()
            && e.kind() != libbpf_rs::ErrorKind::Interrupted
        {
            return Err(Box::new(Error::Load(format!(
                "reading the ring buffer: {e}"
            ))));
        }
        {
            let Ok(mut q) = self.queue.lock() else {
                return Err(Box::new(Error::Load(String::from(
                    "ring buffer queue poisoned",
                ))));
            };
            std::mem::swap(&mut *q, &mut self.spare);
        }
        self.last_drain = self.spare.len();
        let mut rest = self.spare.as_slice();
        let mut any = false;
        while let Some((len, tail)) = rest.split_first_chunk::<4>() {
            let len = u32::from_le_bytes(*len) as usize;
            let Some((record, tail)) = tail.split_at_checked(len) else {
                break;
            };
            rest = tail;
            any = true;
            counters.add(Counter::Packets, 1);
            counters.add(Counter::Bytes, len as u64);
            match EventView::new(record) {
                Ok(ev) => self.translator.event(&ev, out, counters),
                Err(e) => {
                    log::debug!("bad ring buffer event: {e}");
                    counters.dropped(DropReason::PacketMalformed, 1);
                }
            }
        }
        self.spare.clear();
        self.translator
            .release_untied(monotonic_now(), out, counters);
        Ok(if any { Poll::Ready } else { Poll::Idle })
    }

    fn name(&self) -> String {
        format!("ebpf ({} TLS targets)", self.probes.tls_targets())
    }

    fn update_stats(&mut self, counters: &Counters) {
        let [ring_full, _, _, _] = self.probes.counters();
        counters.set_drops(DropReason::RingBufferFull, ring_full);
        counters.set_gauge(Gauge::TlsTargets, self.probes.tls_targets() as u64);
        counters.set_gauge(Gauge::GoUnprobeable, self.unprobeable.len() as u64);
    }
}

/// CLOCK_MONOTONIC now in ns: the clock of the events' timestamps
/// (`bpf_ktime_get_ns`).
fn monotonic_now() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    u64::try_from(ts.tv_sec)
        .unwrap_or(0)
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::try_from(ts.tv_nsec).unwrap_or(0))
}
