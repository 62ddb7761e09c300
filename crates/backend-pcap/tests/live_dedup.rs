//! Packets seen twice by one capture are handed out once.
//!
//! Scenario 1: a bridge namespace with a client and a server namespace
//! attached by veth pairs; the `any` device in the bridge namespace sees
//! every packet on the client's port and again on the server's port.
//! Scenario 2: a pod captured on both `lo` and `any`, where every loopback
//! packet reaches both handles.
//!
//! Needs root, iproute2, curl and python3 (and nginx, openssl for the pod);
//! skips otherwise.
#![cfg(feature = "live")]
#![allow(clippy::indexing_slicing, clippy::print_stdout)]

mod mesh_support;

use std::collections::BTreeMap;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use backend_pcap::live::{LiveConfig, LiveSource};
use backend_pcap::netns::{PodConfig, PodSource};
use capture_core::DropReason;
use capture_core::model::{Exchange, Input};
use capture_core::stage::Source;
use capture_core::stats::{Counters, Stats};
use capture_core::testkit::exchanges_while;
use mesh_support::{Scenario, http_from, https};
use proto_http::{HttpConfig, HttpProtocol};

/// Opens a live source inside the named namespace. The capture socket keeps
/// that namespace whichever thread reads it afterwards.
fn live_source_in(ns: &str, config: LiveConfig) -> LiveSource {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let f = File::open(&path).unwrap();
        // SAFETY: `f` is an open namespace file; setns moves only this
        // short-lived thread.
        let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "setns {path}: {}", std::io::Error::last_os_error());
        LiveSource::open(config).unwrap()
    })
    .join()
    .unwrap()
}

fn any_device(dedup: bool) -> LiveConfig {
    let mut c = LiveConfig::default();
    c.capture.device = "any".into();
    c.capture.filter = Some("tcp port 8080".into());
    if !dedup {
        c.dedup_window = None;
    }
    c
}

/// Runs the HTTP parser over `source` while `f` sends traffic.
fn exchanges(source: Box<dyn Source>, expected: usize, f: impl FnOnce()) -> (Vec<Exchange>, Stats) {
    exchanges_while(
        HttpProtocol::new(HttpConfig::default()),
        source,
        expected,
        f,
    )
}

fn paths(got: &[Exchange]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for e in got {
        *m.entry(
            e.request
                .as_ref()
                .map(|r| r.path().to_string())
                .unwrap_or_default(),
        )
        .or_insert(0) += 1;
    }
    m
}

#[test]
fn any_device_on_a_bridge_yields_every_exchange_once() {
    let Some(sc) = Scenario::require("bridge", &["ip", "curl", "python3"]) else {
        return;
    };
    let (prefix, server) = sc.bridge();
    let client = format!("{prefix}-c");

    // Without deduplication, the `any` device really shows each packet twice.
    let mut raw = live_source_in(&format!("{prefix}-r"), any_device(false));
    let counters = Counters::default();
    http_from(&client, &format!("http://{server}:8080/probe"), "x");
    let mut requests = 0;
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline && requests < 2 {
        let mut count = |input: Input<'_>| {
            if let Input::Segment(s) = input {
                requests += usize::from(s.payload.starts_with(b"POST /probe "));
            }
        };
        raw.poll(&mut count, &counters).unwrap();
    }
    drop(raw);
    assert_eq!(
        requests, 2,
        "the bridge scenario should show each packet twice"
    );

    let source = live_source_in(&format!("{prefix}-r"), any_device(true));
    let (got, stats) = exchanges(Box::new(source), 8, || {
        for i in 0..8 {
            let reply = http_from(
                &client,
                &format!("http://{server}:8080/dedup/{i}"),
                &format!("b{i}"),
            );
            assert!(
                reply.contains(&format!("path=/dedup/{i} body=b{i}")),
                "{reply}"
            );
        }
    });
    let want: BTreeMap<String, usize> = (0..8).map(|i| (format!("/dedup/{i}"), 1)).collect();
    assert_eq!(paths(&got), want);
    for e in &got {
        let (req, resp) = (e.request.as_ref().unwrap(), e.response.as_ref().unwrap());
        assert_eq!(resp.status, 200);
        assert_eq!(
            String::from_utf8_lossy(&resp.body.data),
            format!(
                "pod={prefix}-s method=POST path={} body={}",
                req.path(),
                String::from_utf8_lossy(&req.body.data)
            )
        );
    }
    // Exactly one of every two copies was dropped, and none reached the reassembler.
    let dups = stats.drops(DropReason::DuplicatePacket);
    assert!(dups > 0);
    assert_eq!(dups * 2, stats.packets, "{stats:?}");
    assert_eq!(stats.segments, stats.packets - dups);
    assert_eq!(stats.drops(DropReason::Retransmission), 0);
}

#[test]
fn pod_captured_on_lo_and_any_yields_every_exchange_once() {
    let Some(sc) = Scenario::require("loany", &["ip", "nginx", "openssl", "curl", "python3"])
    else {
        return;
    };
    let pod = sc.pod(0);
    let mut config = PodConfig::default();
    config
        .discovery
        .instance_ips
        .insert(pod.ip.parse().unwrap());
    config.devices = vec!["lo".into(), "any".into()];
    // The plaintext side only: proxy ↔ app.
    config.capture.filter = Some("tcp port 8080".into());
    let mut source = PodSource::new(config).unwrap();
    source.rescan().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !source.capturing().contains(&pod.netns) {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    let (got, stats) = exchanges(Box::new(source), 6, || {
        for i in 0..6 {
            https(&pod.ip, &format!("/twice/{i}"), "body");
        }
    });
    let want: BTreeMap<String, usize> = (0..6).map(|i| (format!("/twice/{i}"), 1)).collect();
    assert_eq!(paths(&got), want);
    assert!(got.iter().all(|e| e.conn.netns == Some(pod.netns.0)));
    let dups = stats.drops(DropReason::DuplicatePacket);
    assert_eq!(dups * 2, stats.packets, "{stats:?}");
    assert_eq!(stats.drops(DropReason::Retransmission), 0);
}
