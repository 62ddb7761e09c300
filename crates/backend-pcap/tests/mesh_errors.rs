//! Failures of pod capture: one namespace that cannot be captured does not
//! stop the others, and missing privileges say what to grant.
//!
//! Needs root, iproute2, nginx, openssl, curl and python3; skips otherwise.
#![cfg(feature = "live")]
#![allow(clippy::indexing_slicing)]

mod mesh_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use backend_pcap::live::{LiveConfig, LiveSource};
use backend_pcap::netns::discovery::{Discovery, DiscoveryConfig};
use backend_pcap::netns::{PodConfig, PodSource, enter_netns};
use capture_core::model::{Input, NetnsId};
use capture_core::stage::Source;
use capture_core::stats::Counters;
use mesh_support::{Pod, Scenario, https};

const TOOLS: &[&str] = &["ip", "nginx", "openssl", "curl", "python3"];

#[test]
fn a_pod_that_cannot_be_captured_is_reported_and_the_others_keep_running() {
    let Some(sc) = Scenario::require("broken", TOOLS) else {
        return;
    };
    let (a, b) = (sc.pod(0), sc.pod(1));
    // libpcap refuses an interface that is down: pod B's capture fails.
    let down = Command::new("ip")
        .args(["-n", &b.ns, "link", "set", "lo", "down"])
        .status()
        .unwrap();
    assert!(down.success());

    let mut config = PodConfig::default();
    config.discovery.instance_ips = [a.ip.parse().unwrap(), b.ip.parse().unwrap()].into();
    config.rescan_interval = Duration::from_millis(200);
    let mut source = PodSource::new(config).unwrap();
    let mut seen = Seen::default();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !source.capturing().contains(&a.netns) {
        assert!(Instant::now() < deadline, "pod A never captured");
        seen.poll(&mut source);
    }
    // Several rescans: B's failure ends its thread once and is not retried at each scan.
    let until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < until {
        seen.poll(&mut source);
    }
    https(&a.ip, "/alpha/still-here", "x");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !seen.contains(a.netns, "POST /alpha/still-here") {
        assert!(
            Instant::now() < deadline,
            "pod A not captured next to the failed pod B"
        );
        seen.poll(&mut source);
    }
    assert_eq!(seen.closed, [b.netns]);
    assert!(!source.capturing().contains(&b.netns));
    assert!(!seen.payloads.contains_key(&b.netns));
}

/// What polling a source directly showed.
#[derive(Default)]
struct Seen {
    counters: Counters,
    payloads: BTreeMap<NetnsId, Vec<u8>>,
    closed: Vec<NetnsId>,
}

impl Seen {
    fn poll(&mut self, source: &mut PodSource) {
        let (payloads, closed) = (&mut self.payloads, &mut self.closed);
        let mut sink = |input: Input<'_>| match input {
            Input::Segment(s) => payloads
                .entry(s.netns)
                .or_default()
                .extend_from_slice(s.payload),
            Input::NetnsClosed { netns, .. } => closed.push(netns),
            _ => {}
        };
        source.poll(&mut sink, &self.counters).unwrap();
    }

    fn contains(&self, netns: NetnsId, needle: &str) -> bool {
        self.payloads
            .get(&netns)
            .is_some_and(|b| String::from_utf8_lossy(b).contains(needle))
    }
}

/// The pid of the pod's proxy.
fn proxy_pid(pod: &Pod) -> u32 {
    let d = Discovery::new(DiscoveryConfig {
        instance_ips: [pod.ip.parse().unwrap()].into(),
        ..Default::default()
    });
    d.scan().unwrap().namespaces[&pod.netns].processes[0].pid
}

/// Drops every capability of the calling thread (capabilities are per thread).
fn drop_capabilities() {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let header = Header {
        version: 0x2008_0522,
        pid: 0,
    };
    let data = [Data::default(); 2];
    // SAFETY: capset reads one header and two data structs (version 3
    // layout) from valid memory; it changes only this thread's credentials.
    let r = unsafe { libc::syscall(libc::SYS_capset, &header, data.as_ptr()) };
    assert_eq!(r, 0, "capset: {}", std::io::Error::last_os_error());
}

#[test]
fn without_capabilities_the_error_says_what_to_grant() {
    let Some(sc) = Scenario::require("nocap", TOOLS) else {
        return;
    };
    let a = sc.pod(0);
    let pid = proxy_pid(&a);
    let (enter, open) = std::thread::spawn(move || {
        drop_capabilities();
        let enter = enter_netns(Path::new("/proc"), pid, a.netns)
            .unwrap_err()
            .to_string();
        let mut config = LiveConfig::default();
        config.capture.device = "lo".into();
        let open = LiveSource::open(config).unwrap_err().to_string();
        (enter, open)
    })
    .join()
    .unwrap();
    let hint = "run as root or grant CAP_NET_ADMIN, CAP_NET_RAW and CAP_SYS_ADMIN";
    assert!(
        enter.contains(&format!("pid {pid}")) && enter.contains(hint),
        "{enter}"
    );
    assert!(
        open.contains("cannot capture on lo") && open.contains(hint),
        "{open}"
    );
}
