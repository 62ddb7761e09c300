//! The capture thread of one network namespace: it enters the namespace
//! with `setns`, opens libpcap on the namespace's interfaces there, and
//! sends decoded segments to the [`PodSource`](super::PodSource) in owned
//! batches until it is told to stop or its capture fails.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use capture_core::DropReason;
use capture_core::model::{NetnsId, Segment};
use capture_core::stats::{Counter, Counters};

use super::batch::{Batch, BatchPool};
use super::discovery::current_netns;
use crate::Error;
use crate::cidr::CidrFilter;
use crate::decode::LinkType;
use crate::live::{Capture, CaptureConfig, PacketPath, wait_readable};

/// How often a thread reads its handles' kernel drop counters.
const KERNEL_STATS_EVERY: Duration = Duration::from_millis(250);

/// What a capture thread sends to the source.
#[derive(Debug)]
pub(crate) enum Event {
    /// Segments of one namespace.
    Batch(Batch),
    /// The thread is over; nothing more comes from it.
    Ended {
        /// Its namespace.
        netns: NetnsId,
        /// The process it entered the namespace through.
        pid: u32,
        /// Why, unless it was told to stop.
        error: Option<Error>,
    },
}

/// How every capture thread works; shared by all of them.
#[derive(Clone, Debug)]
pub(crate) struct ThreadConfig {
    /// Interfaces to open in each namespace.
    pub devices: Vec<String>,
    /// How to open them (the device name is replaced).
    pub capture: CaptureConfig,
    /// Deduplication window.
    pub dedup_window: Option<Duration>,
    /// Address filter.
    pub cidr: CidrFilter,
    /// The namespace the process started in: captured without `setns`.
    pub host_netns: NetnsId,
    /// Where procfs is mounted.
    pub proc_root: PathBuf,
}

/// Counters a capture thread keeps for the source to collect.
#[derive(Debug, Default)]
pub(crate) struct ThreadCounts {
    stop: AtomicBool,
    /// Set once the namespace's interfaces are open.
    capturing: AtomicBool,
    packets: AtomicU64,
    bytes: AtomicU64,
    drops: [AtomicU64; DropReason::COUNT],
    /// Cumulative kernel drops of the thread's handles.
    pub kernel_drops: AtomicU64,
}

impl ThreadCounts {
    fn dropped(&self, reason: DropReason, n: u64) {
        if let Some(c) = self.drops.get(reason as usize) {
            c.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Moves what was counted since the last call into `counters`.
    pub(crate) fn drain_into(&self, counters: &Counters) {
        counters.add(Counter::Packets, self.packets.swap(0, Ordering::Relaxed));
        counters.add(Counter::Bytes, self.bytes.swap(0, Ordering::Relaxed));
        for (reason, c) in DropReason::ALL.iter().zip(self.drops.iter()) {
            let n = c.swap(0, Ordering::Relaxed);
            if n > 0 {
                counters.dropped(*reason, n);
            }
        }
    }
}

/// A running capture thread.
#[derive(Debug)]
pub(crate) struct NamespaceCapture {
    /// Its namespace.
    pub netns: NetnsId,
    /// The process it enters the namespace through.
    pub pid: u32,
    /// Its counters.
    pub counts: Arc<ThreadCounts>,
    join: Option<JoinHandle<()>>,
}

impl NamespaceCapture {
    /// Starts the thread.
    pub(crate) fn spawn(
        netns: NetnsId,
        pid: u32,
        config: Arc<ThreadConfig>,
        tx: SyncSender<Event>,
        pool: BatchPool,
    ) -> std::io::Result<Self> {
        let counts = Arc::new(ThreadCounts::default());
        let c = counts.clone();
        let join = std::thread::Builder::new()
            .name(format!("netns-{}", netns.0))
            .spawn(move || {
                let result = run(netns, pid, &config, &tx, &pool, &c);
                let error = result.err();
                // Blocks while the queue is full: the end must not be lost. Fails
                // only when the source is gone.
                let _ = tx.send(Event::Ended { netns, pid, error });
            })?;
        Ok(Self {
            netns,
            pid,
            counts,
            join: Some(join),
        })
    }

    /// Asks the thread to stop; it ends within one capture timeout.
    pub(crate) fn stop(&self) {
        self.counts.stop.store(true, Ordering::Relaxed);
    }

    /// True once the thread's interfaces are open (and until it ends).
    pub(crate) fn is_capturing(&self) -> bool {
        self.counts.capturing.load(Ordering::Relaxed)
    }

    /// True once asked to stop.
    pub(crate) fn is_stopping(&self) -> bool {
        self.counts.stop.load(Ordering::Relaxed)
    }

    /// Waits for the thread to end.
    pub(crate) fn join(&mut self) {
        if let Some(j) = self.join.take()
            && j.join().is_err()
        {
            log::error!(
                "capture thread of network namespace {} panicked",
                self.netns.0
            );
        }
    }
}

/// Moves the calling thread into the network namespace of `pid`, checking
/// that it is still `netns` (the pid may have been reused since the scan).
pub fn enter_netns(proc_root: &std::path::Path, pid: u32, netns: NetnsId) -> Result<(), Error> {
    let fail = |source: std::io::Error| Error::EnterNetns {
        pid,
        netns: netns.0,
        source,
    };
    let file = File::open(proc_root.join(pid.to_string()).join("ns").join("net")).map_err(fail)?;
    let ino = file.metadata().map_err(fail)?.ino();
    if ino != netns.0 {
        return Err(fail(std::io::Error::other(format!(
            "the process now lives in namespace {ino}: it exited and its pid was reused"
        ))));
    }
    // SAFETY: `file` is an open descriptor of a network namespace; setns
    // only changes the calling thread's namespace and reads no memory.
    let r = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if r != 0 {
        return Err(fail(std::io::Error::last_os_error()));
    }
    match current_netns() {
        Ok(now) if now == netns => Ok(()),
        Ok(now) => Err(fail(std::io::Error::other(format!(
            "after setns the thread is in namespace {} instead",
            now.0
        )))),
        Err(e) => Err(fail(e)),
    }
}

/// Where a thread gathers segments before sending them.
struct Outbox<'a> {
    batch: Batch,
    tx: &'a SyncSender<Event>,
    pool: &'a BatchPool,
    counts: &'a ThreadCounts,
    disconnected: bool,
}

impl Outbox<'_> {
    fn push(&mut self, seg: &Segment<'_>) {
        self.batch.push(seg);
        if self.batch.is_full() {
            self.send();
        }
    }

    fn send(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let batch = std::mem::replace(&mut self.batch, self.pool.take());
        match self.tx.try_send(Event::Batch(batch)) {
            Ok(()) => {}
            Err(TrySendError::Full(Event::Batch(mut b))) => {
                // Never block the capture: the kernel buffer would overflow instead.
                self.counts
                    .dropped(DropReason::WorkerQueueFull, b.len() as u64);
                b.clear();
                self.pool.give(std::mem::replace(&mut self.batch, b));
            }
            Err(TrySendError::Full(_)) => {}
            Err(TrySendError::Disconnected(_)) => self.disconnected = true,
        }
    }
}

fn run(
    netns: NetnsId,
    pid: u32,
    config: &ThreadConfig,
    tx: &SyncSender<Event>,
    pool: &BatchPool,
    counts: &ThreadCounts,
) -> Result<(), Error> {
    if netns != config.host_netns {
        enter_netns(&config.proc_root, pid, netns)?;
    }
    let mut handles: Vec<(Capture, LinkType)> = Vec::new();
    let mut first_error = None;
    for device in &config.devices {
        let c = CaptureConfig {
            device: device.clone(),
            ..config.capture.clone()
        };
        match Capture::open(&c, netns) {
            Ok(cap) => {
                let link = LinkType(u16::try_from(cap.link_type()).unwrap_or(u16::MAX));
                handles.push((cap, link));
            }
            Err(e) => {
                log::warn!("{e}");
                first_error.get_or_insert(e);
            }
        }
    }
    if handles.is_empty() {
        return first_error.map_or(Ok(()), Err);
    }
    log::info!(
        "capturing in network namespace {} (pid {pid}) on {}",
        netns.0,
        config.devices.join(", ")
    );
    counts.capturing.store(true, Ordering::Relaxed);
    let fds: Vec<_> = handles.iter().map(|(c, _)| c.fd()).collect();
    let mut path = PacketPath::new(netns, config.dedup_window, config.cidr.clone());
    let mut outbox = Outbox {
        batch: pool.take(),
        tx,
        pool,
        counts,
        disconnected: false,
    };
    let mut last_stats = Instant::now();
    let result = loop {
        if counts.stop.load(Ordering::Relaxed) || outbox.disconnected {
            break Ok(());
        }
        if let Err(e) = wait_readable(&fds, config.capture.timeout) {
            break Err(Error::Pcap {
                device: config.devices.join(","),
                netns: netns.0,
                message: e.to_string(),
            });
        }
        let mut failed = None;
        for (cap, link) in handles.iter_mut() {
            let link = *link;
            let r = cap.read(|ts, wire_len, data| {
                counts.packets.fetch_add(1, Ordering::Relaxed);
                counts
                    .bytes
                    .fetch_add(u64::from(wire_len), Ordering::Relaxed);
                match path.segment(link, ts, data) {
                    Ok(seg) => outbox.push(&seg),
                    Err(reason) => counts.dropped(reason, 1),
                }
            });
            if let Err(e) = r {
                failed = Some(e);
                break;
            }
        }
        outbox.send();
        if last_stats.elapsed() >= KERNEL_STATS_EVERY {
            last_stats = Instant::now();
            update_kernel_drops(&mut handles, counts);
        }
        if let Some(e) = failed {
            break Err(e);
        }
    };
    update_kernel_drops(&mut handles, counts);
    counts.capturing.store(false, Ordering::Relaxed);
    result
}

fn update_kernel_drops(handles: &mut [(Capture, LinkType)], counts: &ThreadCounts) {
    let total: u64 = handles
        .iter_mut()
        .filter_map(|(c, _)| c.kernel_drops().ok())
        .sum();
    counts.kernel_drops.store(total, Ordering::Relaxed);
}
