//! The exchange filters of Akto's collector that capture-core does not
//! already have: Envoy's own outbound calls, and TLS only from pod processes.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Mutex;

use capture_core::filter::ExchangeFilter;
use capture_core::model::{CaptureSource, Exchange, TrafficDirection};

/// The address Istio's Envoy sidecar uses as the source of the inbound
/// calls it forwards to the application.
pub const ENVOY_PROXY_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 6));

/// `AKTO_IGNORE_ENVOY_PROXY_CALLS`: drops outbound exchanges whose client is
/// [`ENVOY_PROXY_IP`] — the sidecar's side of a call already captured
/// inbound at the application.
///
/// Akto's collector compares its `ip:port` source string with the bare
/// address `127.0.0.6`, which never matches since it writes the port too;
/// this filter compares the address, which is what the variable is for.
#[derive(Clone, Copy, Debug, Default)]
pub struct EnvoyProxyFilter;

impl ExchangeFilter for EnvoyProxyFilter {
    fn keep(&self, ex: &Exchange) -> bool {
        !(ex.direction == Some(TrafficDirection::Outbound)
            && ex.conn.client.ip().to_canonical() == ENVOY_PROXY_IP)
    }
}

/// Drops what one capture path saw: TLS plaintext (OpenSSL, Go, …) or
/// plaintext at the socket syscalls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropCapture {
    /// Exchanges captured from a TLS library.
    Tls,
    /// Exchanges captured at the socket syscalls.
    Syscalls,
}

impl ExchangeFilter for DropCapture {
    fn keep(&self, ex: &Exchange) -> bool {
        match self {
            Self::Tls => !ex.source.is_tls(),
            Self::Syscalls => ex.source != CaptureSource::EbpfSyscall,
        }
    }
}

/// Whether a process runs in a Kubernetes pod: its cgroup path names
/// `kubepods` (kubelet's cgroup parent, whatever the container runtime).
pub trait PodCheck: Send + Sync {
    /// True when `pid` is a pod's process.
    fn is_pod_process(&self, pid: u32) -> bool;
}

/// [`PodCheck`] from `/proc/PID/cgroup`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcCgroup;

impl PodCheck for ProcCgroup {
    fn is_pod_process(&self, pid: u32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/cgroup")).is_ok_and(|s| cgroup_is_pod(&s))
    }
}

/// True when a `/proc/PID/cgroup` text puts the process under `kubepods`.
pub fn cgroup_is_pod(cgroup: &str) -> bool {
    cgroup
        .lines()
        .filter_map(|l| l.splitn(3, ':').nth(2))
        .any(|path| path.contains("kubepods"))
}

/// `PROBE_ALL_PID=false`: TLS plaintext is kept only from pod processes,
/// while plaintext captured at the socket syscalls is kept from every
/// process — as Akto's collector, which attaches its TLS probes only to
/// pod processes and its syscall probes to all.
///
/// Answers are cached per pid; the cache is bounded and emptied when full.
pub struct PodTlsFilter<C: PodCheck = ProcCgroup> {
    check: C,
    cache: Mutex<HashMap<u32, bool>>,
}

/// Pids remembered at most by [`PodTlsFilter`].
const POD_CACHE_ENTRIES: usize = 4096;

impl<C: PodCheck> PodTlsFilter<C> {
    /// A filter asking `check`.
    pub fn new(check: C) -> Self {
        Self {
            check,
            cache: Mutex::new(HashMap::new()),
        }
    }
}

impl Default for PodTlsFilter {
    fn default() -> Self {
        Self::new(ProcCgroup)
    }
}

impl<C: PodCheck> ExchangeFilter for PodTlsFilter<C> {
    fn keep(&self, ex: &Exchange) -> bool {
        if !ex.source.is_tls() {
            return true;
        }
        let Some(pid) = ex.conn.pid else {
            return false;
        };
        let Ok(mut cache) = self.cache.lock() else {
            return self.check.is_pod_process(pid);
        };
        if let Some(&known) = cache.get(&pid) {
            return known;
        }
        if cache.len() >= POD_CACHE_ENTRIES {
            cache.clear();
        }
        let is_pod = self.check.is_pod_process(pid);
        cache.insert(pid, is_pod);
        is_pod
    }
}

impl<C: PodCheck> std::fmt::Debug for PodTlsFilter<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodTlsFilter").finish_non_exhaustive()
    }
}

/// Whether this host has a Kubernetes pod cgroup at all.
pub fn host_has_pods() -> bool {
    [
        "/sys/fs/cgroup/kubepods.slice",
        "/sys/fs/cgroup/kubepods",
        "/sys/fs/cgroup/unified/kubepods.slice",
        "/sys/fs/cgroup/memory/kubepods",
        "/sys/fs/cgroup/memory/kubepods.slice",
    ]
    .iter()
    .any(|p| std::path::Path::new(p).is_dir())
}

#[cfg(test)]
mod tests {
    use super::*;
    use capture_core::model::{ConnKey, ConnMeta, NetnsId, Protocol, Roles, Timestamp};

    fn ex(source: CaptureSource, client: &str, dir: TrafficDirection, pid: u32) -> Exchange {
        let mut key = ConnKey::new(
            client.parse().unwrap(),
            "10.0.0.2:80".parse().unwrap(),
            NetnsId::UNKNOWN,
        );
        key.pid = Some(pid);
        let mut meta = ConnMeta::new(key, source, Timestamp(0));
        meta.traffic = Some(dir);
        Exchange::new(Protocol::Http11, &meta, Roles::CONFIRMED)
    }

    #[test]
    fn envoy_outbound_calls_are_dropped_inbound_kept() {
        let f = EnvoyProxyFilter;
        let out = ex(
            CaptureSource::EbpfSyscall,
            "127.0.0.6:40000",
            TrafficDirection::Outbound,
            1,
        );
        let inb = ex(
            CaptureSource::EbpfSyscall,
            "127.0.0.6:40000",
            TrafficDirection::Inbound,
            1,
        );
        let other = ex(
            CaptureSource::EbpfSyscall,
            "127.0.0.1:40000",
            TrafficDirection::Outbound,
            1,
        );
        assert!(!f.keep(&out));
        assert!(f.keep(&inb) && f.keep(&other));
    }

    #[test]
    fn cgroup_lines_name_pods() {
        assert!(cgroup_is_pod(
            "0::/kubepods.slice/kubepods-burstable.slice/cri-containerd-ab.scope\n"
        ));
        assert!(cgroup_is_pod("4:memory:/kubepods/besteffort/pod1/abc\n"));
        assert!(!cgroup_is_pod(
            "0::/user.slice/user-0.slice/session-1.scope\n"
        ));
        assert!(!cgroup_is_pod("garbage"));
    }

    struct Pods(Vec<u32>);
    impl PodCheck for Pods {
        fn is_pod_process(&self, pid: u32) -> bool {
            self.0.contains(&pid)
        }
    }

    #[test]
    fn only_tls_is_limited_to_pods() {
        let f = PodTlsFilter::new(Pods(vec![7]));
        let d = TrafficDirection::Inbound;
        assert!(f.keep(&ex(CaptureSource::EbpfTls, "10.0.0.1:1", d, 7)));
        assert!(!f.keep(&ex(CaptureSource::EbpfTls, "10.0.0.1:1", d, 8)));
        assert!(f.keep(&ex(CaptureSource::EbpfSyscall, "10.0.0.1:1", d, 8)));
        assert!(!f.keep(&ex(CaptureSource::EbpfGoTls, "10.0.0.1:1", d, 9)));
        // cached answers agree
        assert!(!f.keep(&ex(CaptureSource::EbpfTls, "10.0.0.1:1", d, 8)));
    }
}
