//! What the node knew at one refresh: containers and their pods, by
//! process, network namespace and address; and which container owns each
//! socket of a pod's namespace. Looking up is hash-map work only.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use capture_core::model::{K8sEnd, Pod};

use crate::cgroup::RuntimeKind;

/// A container the node runs, as last seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerInfo {
    /// Its id.
    pub id: String,
    /// The runtime its cgroup names.
    pub runtime: RuntimeKind,
    /// Its name in the pod spec; `None` for the pod's sandbox.
    pub name: Option<Arc<str>>,
    /// Its pod.
    pub pod: Arc<Pod>,
    /// Its processes (thread-group ids).
    pub pids: Vec<u32>,
    /// The inode of its network namespace.
    pub netns: Option<u64>,
    /// Its cgroup v2 path, relative to the v2 mount.
    pub cgroup_v2: Option<String>,
}

impl ContainerInfo {
    /// The container as one end of a connection.
    pub fn end(&self) -> K8sEnd {
        K8sEnd::new(self.pod.clone(), self.name.clone())
    }
}

/// The sockets of one network namespace and the containers that own them.
#[derive(Debug, Default)]
pub struct NetnsSockets {
    /// Listening port → owning container.
    pub listeners: HashMap<u16, Arc<str>>,
    /// Local address of a connected socket → owning container.
    pub connected: HashMap<SocketAddr, Arc<str>>,
    /// When they were read.
    pub taken: Option<Instant>,
}

/// A pod's network namespace.
#[derive(Debug)]
pub struct PodNetns {
    /// The pod.
    pub pod: Arc<Pod>,
    /// Its addresses (loopback and link-local left out).
    pub ips: Vec<IpAddr>,
    /// Its sockets, replaced as a whole when read again.
    pub sockets: ArcSwap<NetnsSockets>,
    /// A process in it, to read its `/proc/PID/net` files through.
    pub pid: u32,
}

/// The node's containers and pods at one refresh.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Every container seen in a pod, ordered by namespace, pod and name.
    pub containers: Vec<Arc<ContainerInfo>>,
    pub(crate) by_pid: HashMap<u32, Arc<ContainerInfo>>,
    pub(crate) by_id: HashMap<String, Arc<ContainerInfo>>,
    /// Pod network namespaces by inode (only namespaces that hold one pod).
    pub netns: HashMap<u64, PodNetns>,
    pub(crate) by_ip: HashMap<IpAddr, u64>,
    /// Why the runtime could not be asked, if it could not.
    pub runtime_error: Option<String>,
    /// When this snapshot was taken.
    pub taken: Option<Instant>,
}

/// Which side of a connection an address is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// The client: its socket is a connected one.
    Client,
    /// The server: its port is a listening one.
    Server,
}

/// The answer for an address: its pod's namespace and, when the socket's
/// owner was found, the whole end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum AddrLookup {
    /// A pod's address and the container owning the socket.
    Found(K8sEnd),
    /// A pod's address; the socket's owner is not in the table (yet).
    PodOnly(K8sEnd, u64),
    /// Not an address of a pod this snapshot knows.
    Unknown,
}

impl Snapshot {
    /// The container process `pid` runs in.
    pub fn container_of_pid(&self, pid: u32) -> Option<&Arc<ContainerInfo>> {
        self.by_pid.get(&pid)
    }

    /// The container with id `id`.
    pub fn container(&self, id: &str) -> Option<&Arc<ContainerInfo>> {
        self.by_id.get(id)
    }

    /// The pod whose network namespace has inode `netns`.
    pub fn pod_of_netns(&self, netns: u64) -> Option<&Arc<Pod>> {
        self.netns.get(&netns).map(|n| &n.pod)
    }

    /// The network namespace of the pod with address `ip`.
    pub fn netns_of_ip(&self, ip: IpAddr) -> Option<u64> {
        self.by_ip.get(&ip).copied()
    }

    /// The pod and container on the `role` side at `addr`; loopback and
    /// unspecified addresses are taken in the namespace `netns`.
    pub(crate) fn lookup_addr(
        &self,
        netns: Option<u64>,
        addr: SocketAddr,
        role: Role,
    ) -> AddrLookup {
        let ip = addr.ip();
        let ns = if ip.is_loopback() || ip.is_unspecified() {
            netns
        } else {
            self.by_ip.get(&ip).copied()
        };
        let Some((ns, pod_ns)) = ns.and_then(|n| self.netns.get(&n).map(|p| (n, p))) else {
            return AddrLookup::Unknown;
        };
        let sockets = pod_ns.sockets.load();
        let owner = match role {
            Role::Server => sockets.listeners.get(&addr.port()),
            Role::Client => sockets.connected.get(&addr),
        };
        match owner {
            Some(c) => AddrLookup::Found(K8sEnd::new(pod_ns.pod.clone(), Some(c.clone()))),
            None => AddrLookup::PodOnly(K8sEnd::new(pod_ns.pod.clone(), None), ns),
        }
    }

    /// The pods, each once, in the order of `containers`.
    pub fn pods(&self) -> Vec<Arc<Pod>> {
        let mut seen = std::collections::HashSet::new();
        self.containers
            .iter()
            .filter(|c| seen.insert(c.pod.uid.clone()))
            .map(|c| c.pod.clone())
            .collect()
    }

    /// The addresses of a pod.
    pub fn ips_of_pod(&self, uid: &str) -> Vec<IpAddr> {
        let mut ips: Vec<IpAddr> = self
            .netns
            .values()
            .filter(|n| n.pod.uid == uid)
            .flat_map(|n| n.ips.iter().copied())
            .collect();
        ips.sort();
        ips
    }

    /// The cgroup v2 paths (relative to the v2 mount) of the pods that
    /// `select` keeps: each pod's cgroup, the parent of its containers'.
    pub fn pod_cgroups(&self, select: impl Fn(&Pod) -> bool) -> Vec<String> {
        let mut out: Vec<String> = self
            .containers
            .iter()
            .filter(|c| select(&c.pod))
            .filter_map(|c| {
                let path = c.cgroup_v2.as_deref()?;
                let (parent, _) = path.rsplit_once('/')?;
                (!parent.is_empty()).then(|| parent.to_owned())
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }
}
