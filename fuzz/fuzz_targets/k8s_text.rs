//! Arbitrary text as what k8s-meta parses: `/proc/PID/cgroup`,
//! `/proc/PID/net/{tcp,fib_trie,if_inet6}`, label selectors, pod-name
//! globs, pod names and labels. Nothing may panic or hang; what comes out
//! keeps its promises.
#![no_main]

use capture_core::model::{Pod, WorkloadKind};
use k8s_meta::cgroup::{container_of, is_container_id, v2_path};
use k8s_meta::procnet::{fib_local_v4, inet6_addrs, tcp_sockets};
use k8s_meta::workload::workload_of;
use k8s_meta::{Glob, LabelSelector};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Some(c) = container_of(&text) {
        assert!(is_container_id(&c.id));
        if let Some(uid) = &c.pod_uid {
            assert_eq!(uid.len(), 36);
        }
    }
    if let Some(p) = v2_path(&text) {
        assert!(text.contains(p));
    }
    assert!(tcp_sockets(&text).len() <= text.lines().count());
    for ip in fib_local_v4(&text) {
        assert!(!ip.is_loopback());
    }
    let _ = inet6_addrs(&text);

    // The first line as a selector or a glob, the rest as labels.
    let mut lines = text.lines();
    let first = lines.next().unwrap_or_default();
    let labels: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let (kind, workload) = workload_of(first, &labels);
    if kind == WorkloadKind::Pod {
        assert_eq!(workload, first);
    }
    let pod = Pod {
        namespace: String::new(),
        name: first.to_owned(),
        uid: String::new(),
        workload,
        workload_kind: kind,
        labels,
    };
    if let Ok(sel) = LabelSelector::parse(first) {
        let _ = sel.matches(&pod);
    }
    let _ = Glob::new(first.get(..64).unwrap_or(first)).matches(&pod.name);
});
