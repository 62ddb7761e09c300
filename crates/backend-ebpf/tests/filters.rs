//! Filters and modes: pid, process name, cgroup, SSL-only, egress off,
//! excluded ports. Plain HTTP (python http.server + curl) on loopback.
#![cfg(feature = "bpf")]
#![allow(clippy::indexing_slicing, clippy::print_stdout)]

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use backend_ebpf::EbpfConfig;
use capture_core::model::TrafficDirection;
use common::*;

struct Scene {
    cap: Capture,
    server_pid: u32,
    curl_pid: u32,
    port: u16,
}

impl Scene {
    fn pids_on_port(&self) -> Vec<u32> {
        let mut p: Vec<u32> = self
            .cap
            .chunks
            .iter()
            .filter(|g| g.key.server.port() == self.port)
            .filter_map(|g| g.key.pid)
            .collect();
        p.sort_unstable();
        p.dedup();
        p
    }
}

/// Starts a plain server, then the source (configured by `cfg` once the
/// pids are known), then runs curl (through `wrap`, a shell prefix).
fn scene(name: &str, cfg: impl FnOnce(u32, u16) -> EbpfConfig, wrap: &str) -> Option<Scene> {
    let _root = RootScenario::require_bpf(name, &["python3", "curl"])?;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f.txt"), b"filtered body\n").unwrap();
    let (port, server) = python_file_server(dir.path(), [127, 0, 0, 1].into());
    let server_pid = server.0.id();
    let mut src = open(cfg(server_pid, port), name)?;
    let script = format!("{wrap} exec curl -s http://127.0.0.1:{port}/f.txt");
    let (curl_pid, body) = run(
        Command::new("sh").arg("-c").arg(script),
        Duration::from_secs(10),
    );
    assert_eq!(body, b"filtered body\n");
    let mut cap = Capture::default();
    // Nothing to wait for when filtered out: poll a fixed short while.
    poll_until(&mut src, &mut cap, Duration::from_millis(1500), |_| false);
    Some(Scene {
        cap,
        server_pid,
        curl_pid,
        port,
    })
}

#[test]
fn pid_filter_keeps_only_that_process() {
    let _g = serial();
    let Some(s) = scene(
        "filter_pid",
        |server, _| EbpfConfig {
            pids: vec![server],
            ..Default::default()
        },
        "",
    ) else {
        return;
    };
    assert_eq!(s.pids_on_port(), vec![s.server_pid]);
}

#[test]
fn comm_filter_keeps_only_that_name() {
    let _g = serial();
    let Some(s) = scene(
        "filter_comm",
        |_, _| EbpfConfig {
            comms: vec!["curl".into()],
            ..Default::default()
        },
        "",
    ) else {
        return;
    };
    assert_eq!(s.pids_on_port(), vec![s.curl_pid]);
    assert!(s.cap.chunks.iter().all(|g| g.comm == "curl"));
}

#[test]
fn ssl_only_emits_no_plaintext_socket_bytes() {
    let _g = serial();
    let Some(s) = scene(
        "mode_ssl_only",
        |_, _| EbpfConfig {
            ssl_only: true,
            ..Default::default()
        },
        "",
    ) else {
        return;
    };
    assert!(s.pids_on_port().is_empty(), "{:?}", s.pids_on_port());
}

#[test]
fn egress_off_keeps_inbound_only() {
    let _g = serial();
    let Some(s) = scene(
        "mode_no_egress",
        |_, _| EbpfConfig {
            egress: false,
            ..Default::default()
        },
        "",
    ) else {
        return;
    };
    assert_eq!(s.pids_on_port(), vec![s.server_pid]);
    assert!(
        s.cap
            .chunks
            .iter()
            .filter(|g| g.key.server.port() == s.port)
            .all(|g| g.traffic == Some(TrafficDirection::Inbound))
    );
}

#[test]
fn excluded_port_is_not_captured() {
    let _g = serial();
    let Some(s) = scene(
        "exclude_port",
        |_, port| EbpfConfig {
            exclude_ports: vec![port],
            ..Default::default()
        },
        "",
    ) else {
        return;
    };
    assert!(s.pids_on_port().is_empty(), "{:?}", s.pids_on_port());
}

fn cgroup2_root() -> Option<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/mounts").ok()?;
    mounts.lines().find_map(|l| {
        let mut f = l.split(' ');
        let (_, dir, kind) = (f.next()?, f.next()?, f.next()?);
        (kind == "cgroup2").then(|| PathBuf::from(dir))
    })
}

#[test]
fn cgroup_filter_keeps_processes_below_the_cgroup() {
    let name = "filter_cgroup";
    let Some(root) = cgroup2_root() else {
        eprintln!("SKIP {name}: no cgroup v2 hierarchy mounted");
        return;
    };
    let _g = serial();
    // A parent cgroup (as kubepods.slice) and a child (as a pod) holding curl.
    let parent = root.join(format!("cleartap-test-{}", std::process::id()));
    let child = parent.join("pod");
    if std::fs::create_dir_all(&child).is_err() {
        eprintln!(
            "SKIP {name}: cannot create a cgroup under {}",
            root.display()
        );
        return;
    }
    let procs = child.join("cgroup.procs");
    let wrap = format!("echo $$ > {};", procs.display());
    let p = parent.clone();
    let s = scene(
        name,
        move |_, _| EbpfConfig {
            cgroups: vec![p],
            ..Default::default()
        },
        &wrap,
    );
    let _ = std::fs::remove_dir(&child);
    let _ = std::fs::remove_dir(&parent);
    let Some(s) = s else { return };
    assert_eq!(s.pids_on_port(), vec![s.curl_pid]);
}
