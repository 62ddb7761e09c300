//! [`Attributor`]: names the pod and container on each end of every
//! exchange, as an [`Enricher`] of the pipeline.
//!
//! The node is read into a [`Snapshot`] by a background thread every
//! [`K8sConfig::refresh_interval`]; an exchange is named from the current
//! snapshot with hash lookups only (no system call). What the snapshot does
//! not know is a miss, handled on the spot and remembered:
//!
//! - a process not seen yet: its `/proc/PID/cgroup` is read; a container
//!   already known is joined at once, a new one makes the node be read
//!   again (so a new pod is named in its first exchange);
//! - an address or namespace not seen yet: the node is read again;
//! - a socket whose owner is not known (a new connection): the sockets of
//!   that one pod namespace are read again.
//!
//! Reading the whole node on a miss happens at most once per
//! [`K8sConfig::miss_refresh_interval`]; a key that stayed unknown after a
//! read is not asked about again for [`K8sConfig::negative_ttl`]. A
//! runtime that cannot be asked is reported once (and once more when it
//! answers again); meanwhile exchanges go on without names.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use capture_core::enrich::Enricher;
use capture_core::model::{Exchange, K8sConn, K8sEnd, TrafficDirection};

use crate::Error;
use crate::node;
use crate::runtime::{ContainerRuntime, Containerd};
use crate::selector::PodSelector;
use crate::snapshot::{AddrLookup, ContainerInfo, Role, Snapshot};

/// Where to look and how often. Every field has a documented default.
#[derive(Clone, Debug)]
pub struct K8sConfig {
    /// containerd's socket. Default: `/run/containerd/containerd.sock`.
    pub containerd_socket: PathBuf,
    /// containerd namespaces to list; empty: all (`k8s.io` holds
    /// Kubernetes' containers, `moby` Docker's). Default: empty.
    pub containerd_namespaces: Vec<String>,
    /// Where procfs is mounted. Default: `/proc`.
    pub proc_root: PathBuf,
    /// Where the cgroup v2 hierarchy is mounted; `None`: found at start
    /// (`/sys/fs/cgroup`, or `/sys/fs/cgroup/unified` on hybrid hosts).
    pub cgroup_v2_root: Option<PathBuf>,
    /// How often the node is read again in the background. Default: 5 s.
    pub refresh_interval: Duration,
    /// Shortest time between two reads of the whole node caused by misses.
    /// Default: 100 ms.
    pub miss_refresh_interval: Duration,
    /// How long a process, address or socket that stayed unknown after a
    /// read is not asked about again. Default: 30 s.
    pub negative_ttl: Duration,
    /// Longest wait for the runtime's answer. Default: 2 s.
    pub runtime_timeout: Duration,
    /// Containers kept at most. Default: 65,536.
    pub max_containers: usize,
    /// Unknown keys remembered at most (then forgotten all at once). Default: 65,536.
    pub max_unknown: usize,
}

impl Default for K8sConfig {
    fn default() -> Self {
        Self {
            containerd_socket: PathBuf::from("/run/containerd/containerd.sock"),
            containerd_namespaces: Vec::new(),
            proc_root: PathBuf::from("/proc"),
            cgroup_v2_root: None,
            refresh_interval: Duration::from_secs(5),
            miss_refresh_interval: Duration::from_millis(100),
            negative_ttl: Duration::from_secs(30),
            runtime_timeout: Duration::from_secs(2),
            max_containers: 65_536,
            max_unknown: 65_536,
        }
    }
}

/// Counters of the attribution's work.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct K8sStats {
    /// Exchanges looked at.
    pub exchanges: u64,
    /// Exchanges that needed more than the snapshot (a miss).
    pub misses: u64,
    /// Reads of the whole node (runtime and `/proc`), background ones included.
    pub refreshes: u64,
    /// Of those, the ones a miss caused.
    pub miss_refreshes: u64,
    /// Reads of one pod namespace's sockets.
    pub socket_reads: u64,
    /// Reads of one process's cgroup.
    pub process_reads: u64,
    /// Times the runtime was reported unreachable (once per outage).
    pub runtime_outages: u64,
    /// Containers in the current snapshot.
    pub containers: u64,
}

impl K8sStats {
    /// Operations that make system calls: node reads, socket reads, process reads.
    pub fn syscall_work(&self) -> u64 {
        self.refreshes + self.socket_reads + self.process_reads
    }
}

#[derive(Default)]
struct Counters {
    exchanges: AtomicU64,
    misses: AtomicU64,
    refreshes: AtomicU64,
    miss_refreshes: AtomicU64,
    socket_reads: AtomicU64,
    process_reads: AtomicU64,
    runtime_outages: AtomicU64,
}

/// A key the snapshot did not know.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Miss {
    Pid(u32),
    Netns(u64),
    Ip(IpAddr),
    Socket(u64, SocketAddr, Role),
}

type CgroupCallback = Box<dyn FnMut(&[PathBuf]) + Send>;

struct Watcher {
    selector: PodSelector,
    last: Option<Vec<PathBuf>>,
    callback: CgroupCallback,
}

/// What only the slow path touches, under one lock.
struct Slow {
    runtime: Box<dyn ContainerRuntime>,
    unknown: HashMap<Miss, Instant>,
    /// Processes found since the last read, in containers already known.
    extra_pids: HashMap<u32, Arc<ContainerInfo>>,
    last_read: Option<Instant>,
    runtime_down: bool,
    watchers: Vec<Watcher>,
}

struct Inner {
    config: K8sConfig,
    cgroup_root: Option<PathBuf>,
    snap: ArcSwap<Snapshot>,
    slow: Mutex<Slow>,
    counters: Counters,
}

/// Names the pods on both ends of exchanges from the node alone; an
/// [`Enricher`] (add it with `PipelineBuilder::enricher`). Cloning gives
/// another handle to the same state; the background reader stops once
/// every handle is gone.
#[derive(Clone)]
pub struct Attributor {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Attributor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attributor")
            .field("config", &self.inner.config)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Attributor {
    /// Reads the node once with containerd as the runtime, and starts the
    /// background reader. A runtime that does not answer is reported (in
    /// the log and [`Attributor::runtime_error`]) and asked again later.
    pub fn new(config: K8sConfig) -> Result<Self, Error> {
        let runtime = Containerd::new(
            &config.containerd_socket,
            config.containerd_namespaces.clone(),
            config.runtime_timeout,
        )?;
        Self::with_runtime(config, Box::new(runtime))
    }

    /// The same with another runtime client.
    pub fn with_runtime(
        config: K8sConfig,
        runtime: Box<dyn ContainerRuntime>,
    ) -> Result<Self, Error> {
        let cgroup_root = config.cgroup_v2_root.clone().or_else(cgroup_v2_mount);
        let inner = Arc::new(Inner {
            config,
            cgroup_root,
            snap: ArcSwap::from_pointee(Snapshot::default()),
            slow: Mutex::new(Slow {
                runtime,
                unknown: HashMap::new(),
                extra_pids: HashMap::new(),
                last_read: None,
                runtime_down: false,
                watchers: Vec::new(),
            }),
            counters: Counters::default(),
        });
        {
            let mut slow = inner.lock();
            inner.read_node(&mut slow, false)?;
        }
        let weak = Arc::downgrade(&inner);
        let interval = inner.config.refresh_interval;
        std::thread::Builder::new()
            .name("cleartap-k8s".into())
            .spawn(move || background(weak, interval))
            .map_err(|source| Error::RuntimeThread { source })?;
        Ok(Self { inner })
    }

    /// The current snapshot of the node.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.inner.snap.load_full()
    }

    /// Reads the node now.
    pub fn refresh(&self) -> Result<(), Error> {
        let mut slow = self.inner.lock();
        self.inner.read_node(&mut slow, false)
    }

    /// Why the runtime could not be asked at the last read, if it could not.
    pub fn runtime_error(&self) -> Option<String> {
        self.inner.snap.load().runtime_error.clone()
    }

    /// The counters.
    pub fn stats(&self) -> K8sStats {
        let c = &self.inner.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        K8sStats {
            exchanges: get(&c.exchanges),
            misses: get(&c.misses),
            refreshes: get(&c.refreshes),
            miss_refreshes: get(&c.miss_refreshes),
            socket_reads: get(&c.socket_reads),
            process_reads: get(&c.process_reads),
            runtime_outages: get(&c.runtime_outages),
            containers: self.inner.snap.load().containers.len() as u64,
        }
    }

    /// The cgroup v2 mount this attributor uses.
    pub fn cgroup_v2_root(&self) -> Option<&std::path::Path> {
        self.inner.cgroup_root.as_deref()
    }

    /// Calls `callback` with the cgroup v2 directories of the pods that
    /// `selector` keeps, now and after every read of the node that changes
    /// them: hand them to the eBPF source's cgroup filter so that only
    /// those pods' processes are traced. While the runtime does not answer
    /// the last set stays.
    pub fn watch_pod_cgroups(
        &self,
        selector: PodSelector,
        callback: impl FnMut(&[PathBuf]) + Send + 'static,
    ) {
        let mut slow = self.inner.lock();
        slow.watchers.push(Watcher {
            selector,
            last: None,
            callback: Box::new(callback),
        });
        let snap = self.inner.snap.load_full();
        self.inner.notify(&mut slow, &snap);
    }

    /// Names the ends of one exchange (what [`Enricher::enrich`] does for a batch).
    pub fn attribute(&self, ex: &mut Exchange) {
        self.enrich(std::slice::from_mut(ex));
    }
}

/// The cgroup v2 mount: `/sys/fs/cgroup` on v2 hosts, `/sys/fs/cgroup/unified` on hybrid ones.
pub fn cgroup_v2_mount() -> Option<PathBuf> {
    ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.join("cgroup.controllers").exists())
}

/// The cgroup v2 directories that hold every Kubernetes pod of this node
/// (`kubepods.slice` for kubelet's systemd driver, `kubepods` for its
/// cgroupfs driver): what "processes in pods" means to a cgroup filter.
pub fn kubepods_cgroup_dirs() -> Vec<PathBuf> {
    let Some(root) = cgroup_v2_mount() else {
        return Vec::new();
    };
    [
        "kubepods.slice",
        "kubepods",
        "kubelet.slice/kubelet-kubepods.slice",
    ]
    .iter()
    .map(|d| root.join(d))
    .filter(|p| p.is_dir())
    .collect()
}

fn background(weak: Weak<Inner>, interval: Duration) {
    loop {
        std::thread::sleep(interval.max(Duration::from_millis(10)));
        let Some(inner) = weak.upgrade() else { return };
        let mut slow = inner.lock();
        if let Err(e) = inner.read_node(&mut slow, false) {
            log::debug!("reading the node: {e}");
        }
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, Slow> {
        self.slow
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reads the runtime and `/proc` into a new snapshot.
    fn read_node(&self, slow: &mut Slow, on_miss: bool) -> Result<(), Error> {
        slow.last_read = Some(Instant::now());
        Counters::bump(&self.counters.refreshes);
        if on_miss {
            Counters::bump(&self.counters.miss_refreshes);
        }
        let listed = slow.runtime.containers();
        match &listed {
            Err(e) if !slow.runtime_down => {
                slow.runtime_down = true;
                Counters::bump(&self.counters.runtime_outages);
                log::warn!("{e}");
            }
            Ok(_) if slow.runtime_down => {
                slow.runtime_down = false;
                log::info!(
                    "{} answers again: pods are named again",
                    slow.runtime.describe()
                );
            }
            _ => {}
        }
        let snap = Arc::new(node::snapshot(
            &self.config.proc_root,
            listed,
            self.config.max_containers,
        )?);
        slow.extra_pids.clear();
        self.snap.store(snap.clone());
        self.notify(slow, &snap);
        Ok(())
    }

    fn notify(&self, slow: &mut Slow, snap: &Snapshot) {
        let Some(root) = &self.cgroup_root else {
            return;
        };
        // Without the runtime the selection cannot be told: the last one
        // stays (emptying it would stop the capture).
        if snap.runtime_error.is_some() {
            return;
        }
        for w in &mut slow.watchers {
            let dirs: Vec<PathBuf> = snap
                .pod_cgroups(|p| w.selector.matches(p))
                .iter()
                .map(|rel| root.join(rel.trim_start_matches('/')))
                .collect();
            if w.last.as_ref() != Some(&dirs) {
                (w.callback)(&dirs);
                w.last = Some(dirs);
            }
        }
    }

    /// Tries to learn `miss`; true when something new was learnt.
    fn resolve(&self, slow: &mut Slow, miss: Miss) -> bool {
        let now = Instant::now();
        if slow
            .unknown
            .get(&miss)
            .is_some_and(|at| now.duration_since(*at) < self.config.negative_ttl)
        {
            return false;
        }
        let learnt = match miss {
            Miss::Pid(pid) => {
                Counters::bump(&self.counters.process_reads);
                match node::container_id_of(&self.config.proc_root, pid) {
                    None => false,
                    Some(id) => {
                        let known = self.snap.load().container(&id).cloned();
                        match known {
                            Some(c) => {
                                if slow.extra_pids.len() >= self.config.max_unknown {
                                    slow.extra_pids.clear();
                                }
                                slow.extra_pids.insert(pid, c);
                                true
                            }
                            None => self.read_node_on_miss(slow),
                        }
                    }
                }
            }
            Miss::Netns(_) | Miss::Ip(_) => self.read_node_on_miss(slow),
            Miss::Socket(netns, addr, role) => {
                let snap = self.snap.load_full();
                match snap.netns.get(&netns) {
                    Some(pod_ns) => {
                        Counters::bump(&self.counters.socket_reads);
                        let owners = node::owners_in(&snap, netns, self.cgroup_root.as_deref());
                        let sockets =
                            node::read_sockets(&self.config.proc_root, pod_ns.pid, &owners);
                        // Learnt only when the socket is there now: one that
                        // is gone (its process exited) is remembered as unknown.
                        let found = match role {
                            Role::Server => sockets.listeners.contains_key(&addr.port()),
                            Role::Client => sockets.connected.contains_key(&addr),
                        };
                        pod_ns.sockets.store(Arc::new(sockets));
                        found
                    }
                    None => false,
                }
            }
        };
        if !learnt {
            if slow.unknown.len() >= self.config.max_unknown {
                slow.unknown.clear();
            }
            slow.unknown.insert(miss, now);
        }
        learnt
    }

    fn read_node_on_miss(&self, slow: &mut Slow) -> bool {
        let due = slow
            .last_read
            .is_none_or(|t| t.elapsed() >= self.config.miss_refresh_interval);
        due && self.read_node(slow, true).is_ok()
    }
}

impl Counters {
    fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// Names both ends of `ex` from `snap`; returns what was missing.
fn attribute(
    snap: &Snapshot,
    extra: Option<&HashMap<u32, Arc<ContainerInfo>>>,
    ex: &mut Exchange,
    misses: &mut Vec<Miss>,
) {
    let netns = ex.conn.netns;
    let mut k8s = K8sConn::default();
    // The traced process's own end, from its pid.
    let local = match (ex.conn.pid, ex.direction) {
        (Some(pid), Some(dir)) => {
            let found = snap
                .container_of_pid(pid)
                .or_else(|| extra.and_then(|e| e.get(&pid)));
            match found {
                Some(c) => Some((dir, c.end())),
                None => {
                    misses.push(Miss::Pid(pid));
                    None
                }
            }
        }
        _ => None,
    };
    let mut by_addr = |addr: SocketAddr, role: Role| -> Option<K8sEnd> {
        match snap.lookup_addr(netns, addr, role) {
            AddrLookup::Found(end) => Some(end),
            AddrLookup::PodOnly(end, ns) => {
                misses.push(Miss::Socket(ns, addr, role));
                Some(end)
            }
            AddrLookup::Unknown => {
                let ip = addr.ip();
                if ip.is_loopback() || ip.is_unspecified() {
                    if let Some(ns) = netns {
                        misses.push(Miss::Netns(ns));
                    }
                } else {
                    misses.push(Miss::Ip(ip));
                }
                None
            }
        }
    };
    match local {
        Some((TrafficDirection::Inbound, end)) => {
            k8s.server = Some(end);
            k8s.client = by_addr(ex.conn.client, Role::Client);
        }
        Some((TrafficDirection::Outbound, end)) => {
            k8s.client = Some(end);
            k8s.server = by_addr(ex.conn.server, Role::Server);
        }
        None => {
            k8s.client = by_addr(ex.conn.client, Role::Client);
            k8s.server = by_addr(ex.conn.server, Role::Server);
        }
    }
    ex.conn.k8s = k8s;
}

impl Enricher for Attributor {
    fn enrich(&self, batch: &mut [Exchange]) {
        let inner = &self.inner;
        let snap = inner.snap.load();
        let mut misses = Vec::new();
        let mut pending = Vec::new();
        for (i, ex) in batch.iter_mut().enumerate() {
            misses.clear();
            attribute(&snap, None, ex, &mut misses);
            if !misses.is_empty() {
                pending.push(i);
            }
        }
        Counters::add(&inner.counters.exchanges, batch.len() as u64);
        if pending.is_empty() {
            return;
        }
        Counters::add(&inner.counters.misses, pending.len() as u64);
        drop(snap);
        let mut slow = inner.lock();
        for i in pending {
            let Some(ex) = batch.get_mut(i) else { continue };
            // Each round learns something or stops; three cover a process,
            // its peer's address and the peer's socket.
            for _ in 0..3 {
                let snap = inner.snap.load_full();
                misses.clear();
                attribute(&snap, Some(&slow.extra_pids), ex, &mut misses);
                let mut learnt = false;
                for m in misses.drain(..) {
                    learnt |= inner.resolve(&mut slow, m);
                }
                if !learnt {
                    break;
                }
            }
        }
    }
}

impl Counters {
    fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
}
