//! Kubernetes attribution with real parts: containerd and runc run pods
//! with kubelet's labels and cgroup paths (both drivers' layouts); nginx
//! and Python serve HTTP and HTTPS in them and call each other; the eBPF
//! source and the pod-namespace source capture it, and every exchange must
//! name the namespace, pod, container and workload on both ends.
//! Root only (skips with the reason otherwise).
#![allow(clippy::indexing_slicing, clippy::print_stdout, clippy::too_many_lines)]

#[path = "support/k8s_node.rs"]
mod support;

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

use cleartap::core::model::{CaptureSource, Exchange, K8sEnd, TrafficDirection, WorkloadKind};
use cleartap::core::pipeline::{Pipeline, RunningPipeline};
use cleartap::core::sink::MemorySink;
use cleartap::core::stats::DropReason;
use cleartap::ebpf::{EbpfConfig, EbpfSource};
use cleartap::http::HttpProtocol;
use cleartap::k8s::{Attributor, K8sConfig, LabelSelector, PodFilter, PodSelector};
use cleartap::pcap::netns::{PodConfig, PodSource};
use support::{Layout, Node, Pod, PodSpec};

/// One scenario at a time: they load BPF programs and run containers.
static SERIAL: Mutex<()> = Mutex::new(());

const WEB: &str = "web-7d9f8c6b5-x2k4p";
const WEB_LABELS: &[(&str, &str)] = &[("app", "web"), ("pod-template-hash", "7d9f8c6b5")];
const LEDGER_LABELS: &[(&str, &str)] = &[
    ("app", "ledger"),
    ("controller-revision-hash", "ledger-6c9f5b"),
    ("statefulset.kubernetes.io/pod-name", "ledger-0"),
];
const NGINX: &[&str] = &["nginx", "-c", "/srv/nginx.conf", "-e", "stderr"];
const PYTHON_SERVER: &[&str] = &["/usr/bin/python3", "/srv/server.py"];
const SLEEP: &[&str] = &["sleep", "infinity"];

/// What an end must say.
#[derive(Clone, Copy, Debug)]
struct Want {
    namespace: &'static str,
    pod: &'static str,
    container: &'static str,
    workload: &'static str,
    kind: WorkloadKind,
}

const A_NGINX: Want = Want {
    namespace: "shop",
    pod: WEB,
    container: "nginx",
    workload: "web",
    kind: WorkloadKind::Deployment,
};
const B_API: Want = Want {
    namespace: "pay",
    pod: "ledger-0",
    container: "api",
    workload: "ledger",
    kind: WorkloadKind::StatefulSet,
};
const B_SIDECAR: Want = Want {
    container: "sidecar",
    ..B_API
};
const C_JOB: Want = Want {
    namespace: "batch",
    pod: "report-29012345-q8x7z",
    container: "job",
    workload: "report",
    kind: WorkloadKind::CronJob,
};

fn check_end(ex: &Exchange, which: &str, got: Option<&K8sEnd>, want: Want) -> Result<(), String> {
    let Some(end) = got else {
        return Err(format!("{which} unnamed in {}", ex.to_json()));
    };
    let ok = end.pod.namespace == want.namespace
        && end.pod.name == want.pod
        && end.container.as_deref() == Some(want.container)
        && end.pod.workload == want.workload
        && end.pod.workload_kind == want.kind;
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{which} is {end} ({} {}), want {want:?}: {}",
            end.pod.workload_kind.as_str(),
            end.pod.workload,
            ex.to_json()
        ))
    }
}

fn path(ex: &Exchange) -> &str {
    ex.request
        .as_ref()
        .and_then(|r| r.path().as_str())
        .unwrap_or_default()
}

fn is_ebpf(ex: &Exchange) -> bool {
    ex.source != CaptureSource::Pcap
}

/// The two pods of the scenario: `shop/web-…` (nginx) and `pay/ledger-0`
/// (a Python server `api` and a `sidecar` in the same network namespace).
fn two_pods(node: &mut Node, web: Layout, ledger: Layout) -> (Pod, Pod) {
    let a = node.add_pod(&PodSpec {
        namespace: "shop",
        name: WEB,
        labels: WEB_LABELS,
        layout: web,
        containers: &[("nginx", NGINX)],
    });
    let b = node.add_pod(&PodSpec {
        namespace: "pay",
        name: "ledger-0",
        labels: LEDGER_LABELS,
        layout: ledger,
        containers: &[("api", PYTHON_SERVER), ("sidecar", SLEEP)],
    });
    for port in [8080, 8443] {
        node.wait_listening(&a, port);
        node.wait_listening(&b, port);
    }
    (a, b)
}

fn client(node: &Node, pod: &Pod, container: &str, urls: &[String]) {
    let mut argv = vec!["/usr/bin/python3", "/srv/client.py"];
    argv.extend(urls.iter().map(String::as_str));
    let out = node.exec(pod.id(container), &argv);
    assert!(
        out.status.success(),
        "client in {}/{container}: {}{}",
        pod.name,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn k8s_config(node: &Node) -> K8sConfig {
    K8sConfig {
        containerd_socket: node.socket.clone(),
        containerd_namespaces: vec!["k8s.io".into()],
        refresh_interval: Duration::from_millis(300),
        ..K8sConfig::default()
    }
}

/// A pipeline of the eBPF source (tracing only the pods `select` keeps,
/// decided in the kernel by cgroup) and the pod-namespace source (every
/// namespace of `pod_ips`), named by `names`, filtered by `filter`.
fn start_pipeline(
    names: &Attributor,
    select: PodSelector,
    pod_ips: &[&str],
    filter: Option<PodFilter>,
    sink: &MemorySink,
) -> RunningPipeline {
    let ebpf = EbpfSource::new(EbpfConfig {
        filter_cgroups: true,
        rescan_interval: Duration::from_millis(500),
        ..EbpfConfig::default()
    })
    .expect("eBPF source");
    let cgroups = ebpf.cgroup_filter().expect("cgroup filter");
    names.watch_pod_cgroups(select, move |dirs| {
        if let Err(e) = cgroups.set(dirs) {
            eprintln!("cgroup filter: {e}");
        }
    });
    let mut pods = PodConfig::default();
    pods.discovery.exe_names = vec!["sleep".into(), "nginx".into(), "python3".into()];
    pods.discovery.instance_ips = pod_ips.iter().map(|ip| ip.parse().unwrap()).collect();
    pods.devices = vec!["any".into()];
    pods.rescan_interval = Duration::from_millis(200);
    let pod_source = PodSource::new(pods).expect("pod source");
    let mut b = Pipeline::builder(HttpProtocol::default())
        .workers(2)
        .enricher(Box::new(names.clone()))
        .source(ebpf)
        .source(pod_source);
    if let Some(f) = filter {
        b = b.filter(Box::new(f));
    }
    let running = b.sink(sink.clone()).build().unwrap().spawn().unwrap();
    // Capture threads open their interfaces; uprobes are in place.
    std::thread::sleep(Duration::from_secs(2));
    running
}

fn scenario(name: &str, web: Layout, ledger: Layout) {
    if let Some(why) = support::missing() {
        println!("SKIP {name}: {why}");
        return;
    }
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut node = Node::start();
    let (a, b) = two_pods(&mut node, web, ledger);
    let names = Attributor::new(k8s_config(&node)).expect("attributor");
    print!(
        "{name}: at start\n{}",
        cleartap::k8s::mapping_report(&names.snapshot())
    );
    assert_eq!(
        names.snapshot().pods().len(),
        2,
        "{:?}",
        names.runtime_error()
    );
    // What k8s_sniff --list prints: each pod with its workload, each container.
    let report = cleartap::k8s::mapping_report(&names.snapshot());
    for line in [
        format!("pod shop/{WEB} (Deployment web) uid {}", a.uid),
        format!("pod pay/ledger-0 (StatefulSet ledger) uid {}", b.uid),
        format!("ips [{}]", a.ip),
        "  container nginx id".to_owned(),
        "  container api id".to_owned(),
        "  container sidecar id".to_owned(),
    ] {
        assert!(report.contains(&line), "{line:?} not in\n{report}");
    }

    let ours = PodSelector {
        namespaces: vec!["shop".into(), "pay".into(), "batch".into()],
        ..PodSelector::default()
    };
    let c_ip = node.next_ip();
    let sink = MemorySink::new(100_000);
    let running = start_pipeline(&names, ours, &[&a.ip, &b.ip, &c_ip], None, &sink);

    let (aip, bip) = (&a.ip, &b.ip);
    client(
        &node,
        &a,
        "nginx",
        &[
            format!("http://{bip}:8080/a-to-b"),
            format!("https://{bip}:8443/a-to-b-tls"),
            "http://127.0.0.1:8080/a-local".into(),
        ],
    );
    client(
        &node,
        &b,
        "sidecar",
        &[
            format!("http://{aip}:8080/b-to-a"),
            format!("https://{aip}:8443/b-to-a-tls"),
            "http://127.0.0.1:8080/b-local".into(),
        ],
    );

    // A pod created after the collector started: named in its first exchange.
    let c = node.add_pod(&PodSpec {
        namespace: "batch",
        name: "report-29012345-q8x7z",
        labels: &[("job-name", "report-29012345"), ("controller-uid", "c1")],
        layout: web,
        containers: &[("job", SLEEP)],
    });
    assert_eq!(c.ip, c_ip);
    std::thread::sleep(Duration::from_secs(1));
    client(&node, &c, "job", &[format!("http://{aip}:8080/c-to-a")]);

    // Cost: exchanges on a connection already seen make no system call.
    std::thread::sleep(Duration::from_millis(1500));
    let before = names.stats();
    let keepalive: Vec<String> = (0..60)
        .map(|i| format!("http://{bip}:8080/keepalive-{i}"))
        .collect();
    client(&node, &a, "nginx", &keepalive);
    std::thread::sleep(Duration::from_millis(1500));
    let after = names.stats();

    // containerd stopped: records go on without names; one warning.
    // The call is started before (nothing can be started in a container
    // without containerd) and made while it is down.
    let mut late = node.exec_spawn(
        b.id("sidecar"),
        &[
            "/usr/bin/python3",
            "/srv/client.py",
            "--after=3",
            &format!("http://{aip}:8080/down"),
        ],
    );
    std::thread::sleep(Duration::from_secs(1));
    node.stop_runtime();
    std::thread::sleep(Duration::from_secs(4));
    let _ = late.wait();
    let outages = names.stats().runtime_outages;
    node.start_runtime();
    std::thread::sleep(Duration::from_secs(1));
    client(&node, &b, "sidecar", &[format!("http://{aip}:8080/up")]);
    std::thread::sleep(Duration::from_millis(1500));
    running.stop();
    let stats = running.join().expect("pipeline");
    // Only this run's pods (another run may share the machine).
    let ours_netns: BTreeSet<u64> = node.pods.iter().map(|p| node.netns_inode(p)).collect();
    let all: Vec<Exchange> = sink
        .drain()
        .into_iter()
        .filter(|e| is_ebpf(e) || e.conn.netns.is_some_and(|n| ours_netns.contains(&n)))
        .collect();
    let final_stats = names.stats();
    println!(
        "{name}: {} exchanges, attribution {final_stats:?}, pipeline drops {}",
        all.len(),
        stats.drops_summary()
    );

    let mut errors = Vec::new();
    let mut seen: BTreeSet<(String, bool)> = BTreeSet::new();
    for ex in &all {
        let p = path(ex);
        let want = match p {
            "/a-to-b" | "/a-to-b-tls" => Some((A_NGINX, B_API)),
            "/b-to-a" | "/b-to-a-tls" | "/up" => Some((B_SIDECAR, A_NGINX)),
            "/b-local" => Some((B_SIDECAR, B_API)),
            "/a-local" => Some((A_NGINX, A_NGINX)),
            "/c-to-a" => Some((C_JOB, A_NGINX)),
            _ if p.starts_with("/keepalive-") => Some((A_NGINX, B_API)),
            "/down" => {
                seen.insert((p.to_owned(), is_ebpf(ex)));
                if !ex.conn.k8s.is_empty() {
                    errors.push(format!("named while containerd was down: {}", ex.to_json()));
                }
                None
            }
            _ => None,
        };
        let Some((client_want, server_want)) = want else {
            continue;
        };
        seen.insert((p.to_owned(), is_ebpf(ex)));
        for r in [
            check_end(ex, "client", ex.conn.k8s.client.as_ref(), client_want),
            check_end(ex, "server", ex.conn.k8s.server.as_ref(), server_want),
        ] {
            if let Err(e) = r {
                errors.push(e);
            }
        }
    }
    // Every call was seen by eBPF; the plain ones by the pod-namespace source too.
    for p in [
        "/a-to-b",
        "/a-to-b-tls",
        "/b-to-a",
        "/b-to-a-tls",
        "/b-local",
        "/a-local",
        "/c-to-a",
        "/down",
        "/up",
        "/keepalive-59",
    ] {
        if !seen.contains(&(p.to_owned(), true)) {
            errors.push(format!("{p}: no eBPF record"));
        }
        if !p.ends_with("-tls") && !seen.contains(&(p.to_owned(), false)) {
            errors.push(format!("{p}: no pod-namespace record"));
        }
    }
    // Both sides of a call between pods, from eBPF: the caller's and the callee's.
    for p in ["/a-to-b", "/a-to-b-tls", "/b-to-a", "/b-to-a-tls"] {
        let n = all.iter().filter(|e| path(e) == p && is_ebpf(e)).count();
        if n < 2 {
            errors.push(format!(
                "{p}: {n} eBPF records, want the client's and the server's"
            ));
        }
    }
    assert!(errors.is_empty(), "{name}:\n{}", errors.join("\n"));

    // The lookup itself, on a record of a connection already seen: time
    // per exchange, and no read of the node.
    if let Some(sample) = all
        .iter()
        .find(|e| path(e) == "/keepalive-59" && is_ebpf(e))
    {
        let mut ex = sample.clone();
        let work_before = names.stats().syscall_work();
        let rounds = 100_000u32;
        let started = std::time::Instant::now();
        for _ in 0..rounds {
            ex.conn.k8s = Default::default();
            names.attribute(&mut ex);
        }
        let per = started.elapsed() / rounds;
        println!("{name}: attribution of a known connection: {per:?} per exchange");
        // The runtime is back and the node was read again: the sample's pods still run.
        assert!(
            ex.conn.k8s.client.is_some() && ex.conn.k8s.server.is_some(),
            "{}",
            ex.to_json()
        );
        let background = names.stats().syscall_work() - work_before;
        assert!(
            background <= 10,
            "{background} reads during {rounds} lookups (only background refreshes may run)"
        );
    }
    assert_eq!(outages, 1, "one warning for the outage");
    assert_eq!(final_stats.runtime_outages, 1);
    let n = after.exchanges - before.exchanges;
    let misses = after.misses - before.misses;
    let work = (after.socket_reads + after.process_reads + after.miss_refreshes)
        - (before.socket_reads + before.process_reads + before.miss_refreshes);
    println!("{name}: cost: {n} exchanges named with {misses} misses and {work} reads on a miss");
    assert!(n >= 120, "{n}");
    // Only the first exchanges of the new connection (one per vantage
    // point: caller, callee, two pod namespaces) needed more than the
    // snapshot, and few of those a read; the other exchanges none.
    assert!(
        misses <= 12 && work <= 4,
        "{misses} misses, {work} reads for {n} exchanges"
    );
}

#[test]
fn pods_are_named_on_both_ends_systemd_web_cgroupfs_ledger() {
    scenario("k8s_systemd_cgroupfs", Layout::Systemd, Layout::Cgroupfs);
}

#[test]
fn pods_are_named_on_both_ends_cgroupfs_web_systemd_ledger() {
    scenario("k8s_cgroupfs_systemd", Layout::Cgroupfs, Layout::Systemd);
}

/// Runs the calls among the two pods with `select` deciding both the
/// kernel's cgroup filter and the pipeline's filter; returns the records
/// and how many the filter dropped.
fn filtered_run(node: &Node, a: &Pod, b: &Pod, select: &PodSelector) -> (Vec<Exchange>, u64) {
    let names = Attributor::new(k8s_config(node)).expect("attributor");
    let sink = MemorySink::new(100_000);
    let running = start_pipeline(
        &names,
        select.clone(),
        &[&a.ip, &b.ip],
        Some(PodFilter::new(select.clone())),
        &sink,
    );
    let (aip, bip) = (&a.ip, &b.ip);
    client(
        node,
        a,
        "nginx",
        &[
            format!("http://{bip}:8080/a-to-b"),
            "http://127.0.0.1:8080/a-local".into(),
        ],
    );
    client(
        node,
        b,
        "sidecar",
        &[
            format!("http://{aip}:8080/b-to-a"),
            "http://127.0.0.1:8080/b-local".into(),
        ],
    );
    std::thread::sleep(Duration::from_millis(1500));
    running.stop();
    let stats = running.join().expect("pipeline");
    (sink.drain(), stats.drops(DropReason::Filtered))
}

#[test]
fn namespace_and_label_filters_keep_exactly_the_selected_pods() {
    let name = "k8s_filters";
    if let Some(why) = support::missing() {
        println!("SKIP {name}: {why}");
        return;
    }
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut node = Node::start();
    let (a, b) = two_pods(&mut node, Layout::Systemd, Layout::Cgroupfs);
    let ours = ["/a-to-b", "/a-local", "/b-to-a", "/b-local"];
    for (select, kept, dropped) in [
        (
            PodSelector {
                labels: LabelSelector::parse("app in (web),pod-template-hash").unwrap(),
                ..PodSelector::default()
            },
            ["/a-to-b", "/a-local", "/b-to-a"],
            "/b-local",
        ),
        (
            PodSelector {
                namespaces: vec!["pay".into()],
                ..PodSelector::default()
            },
            ["/a-to-b", "/b-local", "/b-to-a"],
            "/a-local",
        ),
    ] {
        let (records, filtered) = filtered_run(&node, &a, &b, &select);
        let ours_netns = [node.netns_inode(&a), node.netns_inode(&b)];
        let records: Vec<Exchange> = records
            .into_iter()
            .filter(|e| is_ebpf(e) || e.conn.netns.is_some_and(|n| ours_netns.contains(&n)))
            .collect();
        let ours: Vec<&Exchange> = records.iter().filter(|e| ours.contains(&path(e))).collect();
        let paths: BTreeSet<&str> = ours.iter().map(|e| path(e)).collect();
        println!("{name}: {select:?}: kept {paths:?}, {filtered} filtered");
        for p in kept {
            assert!(paths.contains(p), "{select:?}: {p} missing, kept {paths:?}");
        }
        assert!(!paths.contains(dropped), "{select:?}: {dropped} kept");
        for ex in &ours {
            assert!(
                ex.conn.k8s.ends().any(|e| select.matches(&e.pod)),
                "{}",
                ex.to_json()
            );
        }
        // The pod-namespace source captured the unselected pod's own call: the filter dropped it.
        assert!(filtered >= 1, "{select:?}: nothing counted as filtered");
        // The kernel decided for eBPF: every eBPF record is a selected
        // pod's process's (the other pod's processes were not traced).
        for ex in ours.iter().filter(|e| is_ebpf(e)) {
            let local = match ex.direction {
                Some(TrafficDirection::Inbound) => ex.conn.k8s.server.as_ref(),
                Some(TrafficDirection::Outbound) => ex.conn.k8s.client.as_ref(),
                None => continue,
            };
            assert!(
                local.is_some_and(|e| select.matches(&e.pod)),
                "{select:?}: traced {}",
                ex.to_json()
            );
        }
    }
}
