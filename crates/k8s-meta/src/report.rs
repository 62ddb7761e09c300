//! The start-up report: the pods and containers a collector sees and how
//! it mapped them (processes, cgroups, network namespaces, addresses).

use std::fmt::Write as _;

use crate::snapshot::Snapshot;

/// One line per pod and one per container, e.g.
///
/// ```text
/// pod shop/web-7d9f8c6b5-x2k4p (Deployment web) uid 5f1c… netns 4026532301 ips [10.77.0.5] labels {"app":"web"}
///   container app id 2d8f3b9c5e7a (Containerd) pids [4242, 4250] cgroup /kubepods/besteffort/pod5f1c…/2d8f…
/// ```
pub fn mapping_report(snap: &Snapshot) -> String {
    let mut out = String::new();
    if let Some(e) = &snap.runtime_error {
        let _ = writeln!(out, "runtime not answering: {e}");
    }
    for pod in snap.pods() {
        let netns: Vec<u64> = snap
            .netns
            .iter()
            .filter(|(_, n)| n.pod.uid == pod.uid)
            .map(|(ns, _)| *ns)
            .collect();
        let _ = writeln!(
            out,
            "pod {}/{} ({} {}) uid {} netns {:?} ips {:?} labels {}",
            pod.namespace,
            pod.name,
            pod.workload_kind.as_str(),
            pod.workload,
            pod.uid,
            netns,
            snap.ips_of_pod(&pod.uid),
            pod.labels_json()
        );
        for c in snap.containers.iter().filter(|c| c.pod.uid == pod.uid) {
            let _ = writeln!(
                out,
                "  container {} id {} ({:?}) pids {:?} netns {} cgroup {}",
                c.name.as_deref().unwrap_or("(sandbox)"),
                c.id.get(..12).unwrap_or(&c.id),
                c.runtime,
                c.pids,
                c.netns.map_or_else(|| "?".to_owned(), |n| n.to_string()),
                c.cgroup_v2.as_deref().unwrap_or("?"),
            );
        }
    }
    if snap.containers.is_empty() && snap.runtime_error.is_none() {
        let _ = writeln!(out, "no pod containers on this node");
    }
    out
}
