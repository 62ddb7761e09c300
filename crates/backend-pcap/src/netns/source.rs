//! [`PodSource`]: discovery plus one capture thread per namespace, as one [`Source`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::time::{Duration, Instant};

use capture_core::DropReason;
use capture_core::model::{Input, NetnsId, Timestamp};
use capture_core::stage::{InputSink, Poll, Source, SourceError};
use capture_core::stats::{Counters, Gauge};

use super::batch::BatchPool;
use super::capture::{Event, NamespaceCapture, ThreadConfig};
use super::discovery::{Discovery, DiscoveryConfig, is_vanished, netns_of};
use crate::Error;
use crate::cidr::CidrFilter;
use crate::dedup;
use crate::live::CaptureConfig;

/// What a [`PodSource`] looks for and how it captures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodConfig {
    /// Which processes mark pods.
    pub discovery: DiscoveryConfig,
    /// Interfaces opened in each namespace: `lo` (the sidecar's plaintext
    /// side), `any`, or both. Default: `["lo"]`.
    pub devices: Vec<String>,
    /// How each interface is opened (its `device` is ignored). Default:
    /// as [`CaptureConfig::default`] but with a 4 MiB kernel buffer per
    /// interface, since a node may run a hundred pods.
    pub capture: CaptureConfig,
    /// How often `/proc` is scanned again. Default: 5 s.
    pub rescan_interval: Duration,
    /// Copies of a packet seen again within this window are dropped.
    /// Default: 50 ms.
    pub dedup_window: Option<Duration>,
    /// Subnets to keep and to drop.
    pub cidr: CidrFilter,
    /// Batches waiting between the capture threads and the poller; beyond
    /// it, batches are dropped as [`DropReason::WorkerQueueFull`]. Default: 256.
    pub queue_batches: usize,
}

impl Default for PodConfig {
    fn default() -> Self {
        Self {
            discovery: DiscoveryConfig::default(),
            devices: vec![String::from("lo")],
            capture: CaptureConfig {
                buffer_size: 4 << 20,
                ..CaptureConfig::default()
            },
            rescan_interval: Duration::from_secs(5),
            dedup_window: Some(dedup::DEFAULT_WINDOW),
            cidr: CidrFilter::default(),
            queue_batches: 256,
        }
    }
}

/// A [`Source`] of the segments of every discovered pod namespace.
///
/// Polling drives it: the first poll scans `/proc`, later ones rescan at
/// the configured interval, and each waits at most the capture timeout for
/// segments. It never finishes by itself (pods may come at any time): stop
/// the pipeline that runs it. Dropping it stops and joins every capture
/// thread.
pub struct PodSource {
    discovery: Discovery,
    config: Arc<ThreadConfig>,
    rescan_interval: Duration,
    poll_timeout: Duration,
    captures: BTreeMap<NetnsId, NamespaceCapture>,
    tx: SyncSender<Event>,
    rx: Option<Receiver<Event>>,
    pool: BatchPool,
    last_scan: Option<Instant>,
    /// Kernel drops of threads that ended.
    retired_kernel_drops: u64,
    /// Namespaces whose capture failed, with the pid it was tried through
    /// and when: logged once, retried after [`FAILED_RETRY`] or through
    /// another process.
    failed: BTreeMap<NetnsId, (u32, Instant)>,
    /// Processes whose `/proc` entry could not be read at the last scan.
    unreadable: BTreeSet<u32>,
    events: Vec<Event>,
}

impl std::fmt::Debug for PodSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodSource")
            .field("host_netns", &self.config.host_netns)
            .field("namespaces", &self.captures.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// How long a namespace whose capture failed is left alone before it is
/// tried again through the same process.
const FAILED_RETRY: Duration = Duration::from_secs(30);

/// Events handed out per poll at most, so that a busy source still returns promptly.
const EVENTS_PER_POLL: usize = 64;

impl PodSource {
    /// A source with `config`. Nothing is scanned or captured before the first poll.
    pub fn new(config: PodConfig) -> Result<Self, Error> {
        let proc_root = config.discovery.proc_root.clone();
        // The process's namespace (its main thread's), whichever thread builds the source.
        let host_netns =
            netns_of(Path::new("/proc/self/ns/net")).map_err(|source| Error::Proc {
                pid: std::process::id(),
                what: "ns/net",
                source,
            })?;
        let (tx, rx) = std::sync::mpsc::sync_channel(config.queue_batches.max(1));
        let poll_timeout = config.capture.timeout;
        Ok(Self {
            discovery: Discovery::new(config.discovery),
            config: Arc::new(ThreadConfig {
                devices: config.devices,
                capture: config.capture,
                dedup_window: config.dedup_window,
                cidr: config.cidr,
                host_netns,
                proc_root,
            }),
            rescan_interval: config.rescan_interval,
            poll_timeout,
            captures: BTreeMap::new(),
            tx,
            rx: Some(rx),
            pool: BatchPool::default(),
            last_scan: None,
            retired_kernel_drops: 0,
            failed: BTreeMap::new(),
            unreadable: BTreeSet::new(),
            events: Vec::new(),
        })
    }

    /// The namespace this process started in (captured without `setns`
    /// when a pod process lives there).
    pub fn host_netns(&self) -> NetnsId {
        self.config.host_netns
    }

    /// The namespaces with a running capture thread.
    pub fn namespaces(&self) -> BTreeSet<NetnsId> {
        self.captures
            .iter()
            .filter(|(_, c)| !c.is_stopping())
            .map(|(n, _)| *n)
            .collect()
    }

    /// The namespaces whose capture thread has its interfaces open: from
    /// then on, their traffic is seen.
    pub fn capturing(&self) -> BTreeSet<NetnsId> {
        self.captures
            .iter()
            .filter(|(_, c)| c.is_capturing())
            .map(|(n, _)| *n)
            .collect()
    }

    /// Scans `/proc` now: starts a capture thread for each new pod
    /// namespace and stops those whose processes are gone.
    pub fn rescan(&mut self) -> Result<(), Error> {
        self.last_scan = Some(Instant::now());
        let scan = self.discovery.scan()?;
        if scan.vanished > 0 {
            log::debug!("{} processes exited during the /proc scan", scan.vanished);
        }
        // A process that cannot be read is reported once, not at every scan.
        let mut unreadable = BTreeSet::new();
        for e in &scan.errors {
            match e {
                Error::Proc { source, .. } if is_vanished(source) => log::debug!("{e}"),
                Error::Proc { pid, .. } => {
                    unreadable.insert(*pid);
                    if self.unreadable.contains(pid) {
                        log::debug!("{e}");
                    } else {
                        log::warn!("{e}");
                    }
                }
                _ => log::warn!("{e}"),
            }
        }
        self.unreadable = unreadable;
        for (netns, cap) in &self.captures {
            if !scan.namespaces.contains_key(netns) && !cap.is_stopping() {
                log::info!(
                    "network namespace {} (entered via pid {}) has no pod process left: stopping its capture",
                    netns.0,
                    cap.pid
                );
                cap.stop();
            }
        }
        self.failed
            .retain(|netns, _| scan.namespaces.contains_key(netns));
        for (netns, pod) in scan.namespaces {
            if self.captures.contains_key(&netns) {
                continue;
            }
            let Some(pid) = pod.processes.first().map(|p| p.pid) else {
                continue;
            };
            if let Some((failed_pid, when)) = self.failed.get(&netns)
                && *failed_pid == pid
                && when.elapsed() < FAILED_RETRY
            {
                continue;
            }
            match NamespaceCapture::spawn(
                netns,
                pid,
                self.config.clone(),
                self.tx.clone(),
                self.pool.clone(),
            ) {
                Ok(c) => {
                    log::debug!(
                        "starting capture of network namespace {} via pid {pid}",
                        netns.0
                    );
                    self.captures.insert(netns, c);
                }
                Err(e) => log::warn!(
                    "cannot start a capture thread for network namespace {}: {e}",
                    netns.0
                ),
            }
        }
        Ok(())
    }

    fn handle(&mut self, event: Event, out: &mut dyn InputSink, counters: &Counters) {
        match event {
            Event::Batch(batch) => {
                for seg in batch.segments() {
                    out.input(Input::Segment(seg));
                }
                self.pool.give(batch);
            }
            Event::Ended { netns, pid, error } => {
                if let Some(mut cap) = self.captures.remove(&netns) {
                    cap.join();
                    cap.counts.drain_into(counters);
                    self.retired_kernel_drops += cap
                        .counts
                        .kernel_drops
                        .load(std::sync::atomic::Ordering::Relaxed);
                }
                match error {
                    Some(e) => {
                        let before = self.failed.insert(netns, (pid, Instant::now()));
                        if before.is_some_and(|(p, _)| p == pid) {
                            log::debug!("{e}");
                        } else {
                            log::warn!(
                                "capture of network namespace {} (pid {pid}) ended: {e}",
                                netns.0
                            );
                        }
                    }
                    None => {
                        self.failed.remove(&netns);
                        log::info!("capture of network namespace {} ended", netns.0);
                    }
                }
                out.input(Input::NetnsClosed {
                    ts: Timestamp::now(),
                    netns,
                });
            }
        }
    }

    fn collect_counts(&self, counters: &Counters) {
        for cap in self.captures.values() {
            cap.counts.drain_into(counters);
        }
    }
}

impl Source for PodSource {
    fn poll(&mut self, out: &mut dyn InputSink, counters: &Counters) -> Result<Poll, SourceError> {
        let due = self
            .last_scan
            .is_none_or(|t| t.elapsed() >= self.rescan_interval);
        if due && let Err(e) = self.rescan() {
            log::error!("{e}");
        }
        let mut events = std::mem::take(&mut self.events);
        if let Some(rx) = &self.rx {
            match rx.recv_timeout(self.poll_timeout) {
                Ok(ev) => events.push(ev),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {}
            }
            while events.len() < EVENTS_PER_POLL {
                match rx.try_recv() {
                    Ok(ev) => events.push(ev),
                    Err(_) => break,
                }
            }
        }
        let ready = !events.is_empty();
        for ev in events.drain(..) {
            self.handle(ev, out, counters);
        }
        self.events = events;
        self.collect_counts(counters);
        Ok(if ready { Poll::Ready } else { Poll::Idle })
    }

    fn name(&self) -> String {
        String::from("pod namespaces")
    }

    fn update_stats(&mut self, counters: &Counters) {
        self.collect_counts(counters);
        let live: u64 = self
            .captures
            .values()
            .map(|c| {
                c.counts
                    .kernel_drops
                    .load(std::sync::atomic::Ordering::Relaxed)
            })
            .sum();
        counters.set_drops(DropReason::KernelDropped, self.retired_kernel_drops + live);
        counters.set_gauge(Gauge::PodNamespaces, self.captures.len() as u64);
    }
}

impl Drop for PodSource {
    fn drop(&mut self) {
        for cap in self.captures.values() {
            cap.stop();
        }
        // Threads blocked on a full queue wake up with an error.
        self.rx = None;
        for cap in self.captures.values_mut() {
            cap.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn a_namespace_that_cannot_be_entered_is_closed_and_not_retried_at_once() {
        // A fake procfs with one `envoy` whose namespace link leads nowhere.
        let root = std::env::temp_dir().join(format!("cleartap-podsource-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let pid_dir = root.join("4242");
        std::fs::create_dir_all(pid_dir.join("ns")).unwrap();
        symlink("/usr/bin/envoy", pid_dir.join("exe")).unwrap();
        std::fs::write(pid_dir.join("comm"), "envoy\n").unwrap();
        std::fs::write(pid_dir.join("environ"), b"INSTANCE_IP=10.0.0.9\0").unwrap();
        symlink("net:[4000000001]", pid_dir.join("ns").join("net")).unwrap();

        let mut config = PodConfig::default();
        config.discovery.proc_root = root.clone();
        config.rescan_interval = Duration::from_millis(1);
        let mut source = PodSource::new(config).unwrap();
        let counters = Counters::default();
        let mut closed = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        while closed.is_empty() && Instant::now() < deadline {
            let mut sink = |input: Input<'_>| {
                if let Input::NetnsClosed { netns, .. } = input {
                    closed.push(netns);
                }
            };
            source.poll(&mut sink, &counters).unwrap();
        }
        assert_eq!(closed, [NetnsId(4_000_000_001)]);
        assert!(source.capturing().is_empty());
        // Later rescans leave the failed namespace alone for a while.
        for _ in 0..5 {
            let mut sink = |input: Input<'_>| panic!("unexpected {input:?}");
            source.poll(&mut sink, &counters).unwrap();
        }
        assert!(source.namespaces().is_empty());
        drop(source);
        let _ = std::fs::remove_dir_all(&root);
    }
}
