//! Reading the node: the runtime's containers joined with `/proc` (each
//! process's cgroup and network namespace, each pod namespace's addresses
//! and sockets) into a [`Snapshot`]. The joining is pure
//! ([`pods_from_runtime`]); the reading is here too, kept thin.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use capture_core::model::Pod;

use crate::cgroup::{self, RuntimeKind};
use crate::procnet::{self, TCP_LISTEN};
use crate::runtime::{CONTAINER_NAME, POD_NAME, POD_NAMESPACE, POD_UID, RuntimeContainer};
use crate::snapshot::{ContainerInfo, NetnsSockets, PodNetns, Snapshot};
use crate::workload::workload_of;

/// What the runtime says of one container: its pod, its name (none for a
/// sandbox).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeView {
    /// The pod.
    pub pod: Arc<Pod>,
    /// The container's name; `None` for the pod's sandbox.
    pub name: Option<Arc<str>>,
}

/// Labels that are kubelet's and the runtime's bookkeeping, not the pod's.
fn is_bookkeeping(key: &str) -> bool {
    key.starts_with("io.kubernetes.") || key.starts_with("io.cri-containerd.")
}

/// Joins the runtime's containers into pods, by pod uid. A pod's labels
/// are its sandbox's (kubelet copies the pod's labels there) and its
/// containers', bookkeeping left out. Containers without kubelet's labels
/// are not in a pod and left out.
pub fn pods_from_runtime(list: &[RuntimeContainer]) -> HashMap<String, RuntimeView> {
    let mut by_uid: BTreeMap<&str, Vec<&RuntimeContainer>> = BTreeMap::new();
    for c in list {
        if let (Some(uid), Some(_), Some(_)) =
            (c.label(POD_UID), c.label(POD_NAME), c.label(POD_NAMESPACE))
            && !uid.is_empty()
        {
            by_uid.entry(uid).or_default().push(c);
        }
    }
    let mut out = HashMap::new();
    for (uid, members) in by_uid {
        let first = members.iter().find(|c| c.is_sandbox()).or(members.first());
        let Some(first) = first else { continue };
        let name = first.label(POD_NAME).unwrap_or_default().to_owned();
        let namespace = first.label(POD_NAMESPACE).unwrap_or_default().to_owned();
        let mut labels: BTreeMap<String, String> = BTreeMap::new();
        // Sandbox labels last, so that they win.
        for c in members
            .iter()
            .filter(|c| !c.is_sandbox())
            .chain(members.iter().filter(|c| c.is_sandbox()))
        {
            for (k, v) in &c.labels {
                if !is_bookkeeping(k) {
                    labels.insert(k.clone(), v.clone());
                }
            }
        }
        let labels: Vec<(String, String)> = labels.into_iter().collect();
        let (workload_kind, workload) = workload_of(&name, &labels);
        let pod = Arc::new(Pod {
            namespace,
            name,
            uid: uid.to_owned(),
            workload,
            workload_kind,
            labels,
        });
        for c in members {
            let cname = if c.is_sandbox() {
                None
            } else {
                c.label(CONTAINER_NAME)
                    .filter(|n| !n.is_empty())
                    .map(Arc::from)
            };
            out.insert(
                c.id.clone(),
                RuntimeView {
                    pod: pod.clone(),
                    name: cname,
                },
            );
        }
    }
    out
}

/// A process found in a container.
struct Found {
    pid: u32,
    id: String,
    runtime: RuntimeKind,
    cgroup_v2: Option<String>,
}

/// Reads `/proc/PID/cgroup` of every process and keeps those in a container.
fn scan_processes(proc_root: &Path) -> Result<Vec<Found>, crate::Error> {
    let dir = std::fs::read_dir(proc_root).map_err(|source| crate::Error::Proc {
        path: proc_root.to_owned(),
        source,
    })?;
    let mut found = Vec::new();
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        // A process that exits meanwhile is simply not there.
        let Ok(text) = std::fs::read_to_string(entry.path().join("cgroup")) else {
            continue;
        };
        if let Some(c) = cgroup::container_of(&text) {
            found.push(Found {
                pid,
                id: c.id,
                runtime: c.runtime,
                cgroup_v2: cgroup::v2_path(&text).map(str::to_owned),
            });
        }
    }
    Ok(found)
}

/// The network namespace inode of a process.
pub(crate) fn netns_of(proc_root: &Path, pid: u32) -> Option<u64> {
    let link = std::fs::read_link(proc_root.join(pid.to_string()).join("ns/net")).ok()?;
    link.to_str()?
        .strip_prefix("net:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// The container a process runs in, from its `/proc/PID/cgroup` alone.
pub(crate) fn container_id_of(proc_root: &Path, pid: u32) -> Option<String> {
    let text = std::fs::read_to_string(proc_root.join(pid.to_string()).join("cgroup")).ok()?;
    cgroup::container_of(&text).map(|c| c.id)
}

/// The addresses of the namespace `pid` lives in.
fn addresses(proc_root: &Path, pid: u32) -> Vec<IpAddr> {
    let net = proc_root.join(pid.to_string()).join("net");
    let read = |f: &str| std::fs::read_to_string(net.join(f)).unwrap_or_default();
    let mut ips: Vec<IpAddr> = procnet::fib_local_v4(&read("fib_trie"))
        .into_iter()
        .map(IpAddr::V4)
        .collect();
    ips.extend(
        procnet::inet6_addrs(&read("if_inet6"))
            .into_iter()
            .map(IpAddr::V6),
    );
    ips
}

/// The sockets of the namespace `netns_pid` lives in, with the container
/// of each socket found among `owners`' open files.
pub(crate) fn read_sockets(
    proc_root: &Path,
    netns_pid: u32,
    owners: &[(u32, Arc<str>)],
) -> NetnsSockets {
    let net = proc_root.join(netns_pid.to_string()).join("net");
    let mut by_inode = HashMap::new();
    for file in ["tcp", "tcp6"] {
        let text = std::fs::read_to_string(net.join(file)).unwrap_or_default();
        for s in procnet::tcp_sockets(&text) {
            by_inode.insert(s.inode, s);
        }
    }
    let mut out = NetnsSockets {
        taken: Some(Instant::now()),
        ..Default::default()
    };
    for (pid, name) in owners {
        let Ok(fds) = std::fs::read_dir(proc_root.join(pid.to_string()).join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(link) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let Some(sock) = link
                .to_str()
                .and_then(procnet::socket_inode)
                .and_then(|i| by_inode.get(&i))
            else {
                continue;
            };
            if sock.state == TCP_LISTEN {
                out.listeners.insert(sock.local.port(), name.clone());
            } else if sock.inode != 0 {
                out.connected.insert(sock.local, name.clone());
            }
        }
    }
    out
}

/// Reads the node: the runtime's list (or why it failed) joined with `/proc`.
pub(crate) fn snapshot(
    proc_root: &Path,
    runtime: Result<Vec<RuntimeContainer>, crate::Error>,
    max_containers: usize,
) -> Result<Snapshot, crate::Error> {
    let (views, runtime_error) = match runtime {
        Ok(list) => (pods_from_runtime(&list), None),
        Err(e) => (HashMap::new(), Some(e.to_string())),
    };
    let mut snap = Snapshot {
        runtime_error,
        taken: Some(Instant::now()),
        ..Default::default()
    };
    if views.is_empty() {
        return Ok(snap);
    }
    let mut per_container: BTreeMap<String, ContainerInfo> = BTreeMap::new();
    for f in scan_processes(proc_root)? {
        let Some(view) = views.get(&f.id) else {
            continue;
        };
        if per_container.len() >= max_containers && !per_container.contains_key(&f.id) {
            continue;
        }
        let entry = per_container
            .entry(f.id.clone())
            .or_insert_with(|| ContainerInfo {
                id: f.id.clone(),
                runtime: f.runtime,
                name: view.name.clone(),
                pod: view.pod.clone(),
                pids: Vec::new(),
                netns: None,
                cgroup_v2: f.cgroup_v2.clone(),
            });
        entry.pids.push(f.pid);
    }
    for c in per_container.values_mut() {
        c.pids.sort_unstable();
        c.netns = c.pids.iter().find_map(|&p| netns_of(proc_root, p));
    }
    let mut containers: Vec<Arc<ContainerInfo>> =
        per_container.into_values().map(Arc::new).collect();
    containers.sort_by(|a, b| {
        (&a.pod.namespace, &a.pod.name, &a.name).cmp(&(&b.pod.namespace, &b.pod.name, &b.name))
    });
    // Namespaces that hold exactly one pod (host-network pods share the
    // host's and are left out: an address there names no one pod).
    let mut by_netns: BTreeMap<u64, Vec<&Arc<ContainerInfo>>> = BTreeMap::new();
    for c in &containers {
        if let Some(ns) = c.netns {
            by_netns.entry(ns).or_default().push(c);
        }
    }
    let host = netns_of(proc_root, 1);
    for (ns, members) in by_netns {
        let Some(first) = members.first() else {
            continue;
        };
        if Some(ns) == host || members.iter().any(|c| c.pod.uid != first.pod.uid) {
            continue;
        }
        let Some(&pid) = first.pids.first() else {
            continue;
        };
        let owners: Vec<(u32, Arc<str>)> = members
            .iter()
            .filter_map(|c| c.name.clone().map(|n| (c, n)))
            .flat_map(|(c, n)| c.pids.iter().map(move |&p| (p, n.clone())))
            .collect();
        let ips = addresses(proc_root, pid);
        for ip in &ips {
            snap.by_ip.insert(*ip, ns);
        }
        snap.netns.insert(
            ns,
            PodNetns {
                pod: first.pod.clone(),
                ips,
                sockets: ArcSwap::from_pointee(read_sockets(proc_root, pid, &owners)),
                pid,
            },
        );
    }
    for c in &containers {
        snap.by_id.insert(c.id.clone(), c.clone());
        for &pid in &c.pids {
            snap.by_pid.insert(pid, c.clone());
        }
    }
    snap.containers = containers;
    Ok(snap)
}

/// The processes of a pod namespace's containers now, with their
/// containers' names, as socket owners: read from each container's
/// `cgroup.procs` (processes started since the snapshot, such as a
/// `kubectl exec`, are there too), else the snapshot's pids.
pub(crate) fn owners_in(
    snap: &Snapshot,
    netns: u64,
    cgroup_root: Option<&Path>,
) -> Vec<(u32, Arc<str>)> {
    let mut out = Vec::new();
    for c in snap.containers.iter().filter(|c| c.netns == Some(netns)) {
        let Some(name) = &c.name else { continue };
        let now: Option<Vec<u32>> =
            cgroup_root
                .zip(c.cgroup_v2.as_deref())
                .and_then(|(root, rel)| {
                    let text = std::fs::read_to_string(
                        root.join(rel.trim_start_matches('/')).join("cgroup.procs"),
                    )
                    .ok()?;
                    Some(text.lines().filter_map(|l| l.trim().parse().ok()).collect())
                });
        let pids = now.unwrap_or_else(|| c.pids.clone());
        out.extend(pids.into_iter().map(|p| (p, name.clone())));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::CRI_KIND;
    use capture_core::model::WorkloadKind;

    fn rc(id: &str, labels: &[(&str, &str)]) -> RuntimeContainer {
        RuntimeContainer {
            id: id.into(),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
            runtime_namespace: "k8s.io".into(),
        }
    }

    #[test]
    fn containers_join_their_pod_and_the_sandbox_gives_the_labels() {
        let pod = [
            (POD_NAMESPACE, "shop"),
            (POD_NAME, "web-7d9f8c6b5-x2k4p"),
            (POD_UID, "5f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f"),
        ];
        let mut sandbox = pod.to_vec();
        sandbox.extend([
            (CRI_KIND, "sandbox"),
            ("app", "web"),
            ("pod-template-hash", "7d9f8c6b5"),
        ]);
        let mut app = pod.to_vec();
        app.extend([(CRI_KIND, "container"), (CONTAINER_NAME, "app")]);
        let mut side = pod.to_vec();
        side.extend([(CONTAINER_NAME, "sidecar")]);
        let list = [
            rc("s1", &sandbox),
            rc("c1", &app),
            rc("c2", &side),
            rc("plain", &[("app", "not-a-pod")]),
        ];
        let views = pods_from_runtime(&list);
        assert_eq!(views.len(), 3, "the plain container is in no pod");
        let v = &views["c1"];
        assert_eq!(v.name.as_deref(), Some("app"));
        assert_eq!(views["c2"].name.as_deref(), Some("sidecar"));
        assert_eq!(views["s1"].name, None);
        assert_eq!(v.pod.namespace, "shop");
        assert_eq!(
            (v.pod.workload_kind, v.pod.workload.as_str()),
            (WorkloadKind::Deployment, "web")
        );
        assert_eq!(
            v.pod.labels,
            [
                ("app".to_owned(), "web".to_owned()),
                ("pod-template-hash".to_owned(), "7d9f8c6b5".to_owned())
            ]
        );
        assert!(
            Arc::ptr_eq(&views["c1"].pod, &views["c2"].pod),
            "one pod, shared"
        );
    }

    #[test]
    fn pods_without_a_sandbox_take_their_containers_labels() {
        let list = [rc(
            "c1",
            &[
                (POD_NAMESPACE, "pay"),
                (POD_NAME, "ledger-0"),
                (POD_UID, "u-1"),
                (CONTAINER_NAME, "ledger"),
                ("controller-revision-hash", "ledger-5d"),
            ],
        )];
        let v = &pods_from_runtime(&list)["c1"];
        assert_eq!(
            (v.pod.workload_kind, v.pod.workload.as_str()),
            (WorkloadKind::StatefulSet, "ledger")
        );
        assert_eq!(v.pod.label("controller-revision-hash"), Some("ledger-5d"));
        // Missing or empty kubelet labels: not a pod.
        assert!(
            pods_from_runtime(&[rc(
                "x",
                &[(POD_UID, ""), (POD_NAME, "a"), (POD_NAMESPACE, "b")]
            )])
            .is_empty()
        );
        assert!(pods_from_runtime(&[rc("x", &[(POD_UID, "u"), (POD_NAME, "a")])]).is_empty());
    }

    #[test]
    fn this_process_is_in_no_container_and_its_namespace_is_read() {
        let me = std::process::id();
        let proc_root = Path::new("/proc");
        assert!(netns_of(proc_root, me).is_some());
        // The test runs on the host (or in a container without kubelet's cgroups).
        let snap = snapshot(proc_root, Ok(Vec::new()), 10).unwrap();
        assert!(snap.containers.is_empty());
        assert!(snap.runtime_error.is_none());
    }
}
