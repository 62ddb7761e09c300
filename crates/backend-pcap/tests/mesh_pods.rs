//! Pods with a TLS-terminating sidecar, built for real: network namespaces
//! joined to the host by veth pairs, an echo app on the pod's 127.0.0.1 and
//! nginx (copied as `envoy`, with INSTANCE_IP in its environment)
//! terminating TLS on the pod IP. Clients on the host send HTTPS; the
//! plaintext exists only on each pod's loopback, where [`PodSource`] finds it.
//!
//! Needs root, iproute2, nginx, openssl, curl and python3; skips otherwise.
#![cfg(feature = "live")]
#![allow(clippy::indexing_slicing, clippy::print_stdout)]

mod mesh_support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use backend_pcap::netns::discovery::{Discovery, DiscoveryConfig};
use backend_pcap::netns::{PodConfig, PodSource};
use capture_core::model::{Exchange, Flag, Input, NetnsId};
use capture_core::pipeline::Pipeline;
use capture_core::sink::MemorySink;
use capture_core::stage::Source;
use capture_core::stats::Counters;
use capture_core::testkit::exchanges_while;
use mesh_support::{Pod, Scenario, https};
use proto_http::{HttpConfig, HttpProtocol};

const TOOLS: &[&str] = &["ip", "nginx", "openssl", "curl", "python3"];

fn config(pods: &[&Pod]) -> PodConfig {
    let mut c = PodConfig::default();
    c.discovery.instance_ips = pods.iter().map(|p| p.ip.parse().unwrap()).collect();
    c.rescan_interval = Duration::from_millis(300);
    c
}

/// A source that is already capturing in the namespaces of `pods`.
fn capturing_source(config: PodConfig, pods: &[&Pod]) -> PodSource {
    let mut source = PodSource::new(config).unwrap();
    source.rescan().unwrap();
    let want: BTreeSet<NetnsId> = pods.iter().map(|p| p.netns).collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while source.capturing() != want {
        assert!(
            Instant::now() < deadline,
            "capturing {:?}, want {want:?}",
            source.capturing()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    source
}

/// Sends `n` HTTPS requests to a pod; returns (path, body) of each.
fn traffic(pod: &Pod, tag: &str, n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| {
            let path = format!("/{tag}/item/{i}?q={i}");
            let body = format!("{{\"{tag}\":{i}}}");
            let reply = https(&pod.ip, &path, &body);
            assert!(
                reply.contains(&format!("path={path} body={body}")),
                "{reply}"
            );
            (path, body)
        })
        .collect()
}

/// Runs `source` in a pipeline while `f` sends traffic; returns the exchanges.
fn capture(source: PodSource, expected: usize, f: impl FnOnce()) -> Vec<Exchange> {
    exchanges_while(
        HttpProtocol::new(HttpConfig::default()),
        source,
        expected,
        f,
    )
    .0
}

/// Checks that `got` holds exactly the exchanges `sent` to `pod`, in plaintext.
fn assert_exchanges(got: &[Exchange], pod: &Pod, sent: &[(String, String)]) {
    let mine: Vec<&Exchange> = got
        .iter()
        .filter(|e| e.conn.netns == Some(pod.netns.0))
        .collect();
    let by_path: BTreeMap<&str, &Exchange> = mine
        .iter()
        .filter_map(|e| Some((e.request.as_ref()?.path().as_str().unwrap_or_default(), *e)))
        .collect();
    assert_eq!(
        mine.len(),
        sent.len(),
        "exchanges of {}: {:#?}",
        pod.ns,
        mine
    );
    for (path, body) in sent {
        let ex = by_path
            .get(path.as_str())
            .unwrap_or_else(|| panic!("{path} not captured"));
        let req = ex.request.as_ref().unwrap();
        let resp = ex.response.as_ref().expect("response captured");
        assert_eq!(req.method(), "POST");
        assert_eq!(req.body.data, body.as_bytes());
        assert_eq!(resp.status, 200);
        let reply = String::from_utf8_lossy(&resp.body.data);
        assert_eq!(
            reply,
            format!("pod={} method=POST path={path} body={body}", pod.ns)
        );
        // The plaintext side of the sidecar: proxy → app on the pod's loopback.
        assert_eq!(ex.conn.server.to_string(), "127.0.0.1:8080");
    }
}

#[test]
fn sniffing_one_pod_ip_captures_that_pod_only() {
    let Some(sc) = Scenario::require("one", TOOLS) else {
        return;
    };
    let (a, b) = (sc.pod(0), sc.pod(1));
    let source = capturing_source(config(&[&a]), &[&a]);
    let mut sent_a = Vec::new();
    let got = capture(source, 6, || {
        sent_a = traffic(&a, "alpha", 6);
        traffic(&b, "beta", 6);
    });
    assert_exchanges(&got, &a, &sent_a);
    assert!(
        got.iter().all(|e| e
            .request
            .as_ref()
            .is_none_or(|r| !r.path().to_string().contains("beta"))),
        "pod B leaked: {got:#?}"
    );
    assert_eq!(got.len(), 6);
}

#[test]
fn sniffing_both_pod_ips_captures_both_pods_apart() {
    let Some(sc) = Scenario::require("both", TOOLS) else {
        return;
    };
    let (a, b) = (sc.pod(0), sc.pod(1));
    assert_ne!(a.netns, b.netns);
    let source = capturing_source(config(&[&a, &b]), &[&a, &b]);
    let (mut sent_a, mut sent_b) = (Vec::new(), Vec::new());
    let got = capture(source, 10, || {
        // Same app port on each pod's own 127.0.0.1: the namespaces keep them apart.
        sent_a = traffic(&a, "alpha", 5);
        sent_b = traffic(&b, "beta", 5);
    });
    assert_exchanges(&got, &a, &sent_a);
    assert_exchanges(&got, &b, &sent_b);
    assert_eq!(got.len(), 10);
}

#[test]
fn pods_started_later_are_picked_up_and_deleted_pods_end_cleanly() {
    let Some(sc) = Scenario::require("life", TOOLS) else {
        return;
    };
    let a = sc.pod(0);
    // The source is told the third pod's IP before that pod exists.
    let later_ip = format!(
        "10.231.{}.2",
        a.ip.split('.').nth(2).unwrap().parse::<u32>().unwrap() + 2
    );
    let mut cfg = config(&[&a]);
    cfg.discovery.instance_ips.insert(later_ip.parse().unwrap());
    let mut source = capturing_source(cfg, &[&a]);
    let counters = Counters::default();
    let mut payloads: BTreeMap<NetnsId, Vec<u8>> = BTreeMap::new();
    let mut closed: Vec<NetnsId> = Vec::new();
    let poll = |source: &mut PodSource,
                payloads: &mut BTreeMap<NetnsId, Vec<u8>>,
                closed: &mut Vec<NetnsId>| {
        let mut sink = |input: Input<'_>| match input {
            Input::Segment(s) => payloads
                .entry(s.netns)
                .or_default()
                .extend_from_slice(s.payload),
            Input::NetnsClosed { netns, .. } => closed.push(netns),
            _ => {}
        };
        source.poll(&mut sink, &counters).unwrap();
    };

    let c = sc.pod(2);
    assert_eq!(c.ip, later_ip);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !source.capturing().contains(&c.netns) {
        assert!(
            Instant::now() < deadline,
            "pod started later never captured"
        );
        poll(&mut source, &mut payloads, &mut closed);
    }
    https(&c.ip, "/gamma/late-pod", "late");
    https(&a.ip, "/alpha/first-pod", "first");
    let deadline = Instant::now() + Duration::from_secs(5);
    let seen = |p: &BTreeMap<NetnsId, Vec<u8>>, ns: NetnsId, needle: &str| {
        p.get(&ns)
            .is_some_and(|b| String::from_utf8_lossy(b).contains(needle))
    };
    while !(seen(&payloads, c.netns, "POST /gamma/late-pod")
        && seen(&payloads, a.netns, "POST /alpha/first-pod"))
    {
        assert!(Instant::now() < deadline, "plaintext requests not captured");
        poll(&mut source, &mut payloads, &mut closed);
    }
    // Each pod's loopback traffic is stamped with its own namespace only.
    assert!(!seen(&payloads, a.netns, "gamma"));
    assert!(!seen(&payloads, c.netns, "alpha"));

    // Delete pod A: its capture ends and its connections are flushed.
    sc.delete(&a);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !closed.contains(&a.netns) {
        assert!(
            Instant::now() < deadline,
            "deleted pod's namespace never closed"
        );
        poll(&mut source, &mut payloads, &mut closed);
    }
    assert!(!source.namespaces().contains(&a.netns));
    assert!(!source.capturing().contains(&a.netns));
    assert_eq!(source.capturing(), BTreeSet::from([c.netns]));
    assert_eq!(closed, [a.netns]);
    // The other pod is still captured.
    https(&c.ip, "/gamma/after-delete", "still");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !seen(&payloads, c.netns, "POST /gamma/after-delete") {
        assert!(
            Instant::now() < deadline,
            "remaining pod no longer captured"
        );
        poll(&mut source, &mut payloads, &mut closed);
    }
    drop(source);
}

#[test]
fn a_pod_whose_proxy_is_gone_has_its_open_connections_flushed() {
    let Some(sc) = Scenario::require("flush", TOOLS) else {
        return;
    };
    let a = sc.pod(0);
    let source = capturing_source(config(&[&a]), &[&a]);
    let sink = MemorySink::new(1000);
    let running = Pipeline::builder(HttpProtocol::new(HttpConfig::default()))
        .workers(1)
        .source(source)
        .sink(sink.clone())
        .build()
        .unwrap()
        .spawn()
        .unwrap();

    // Inside the pod, a request that is never answered on a connection that
    // stays open: a server that accepts and says nothing, a client that waits.
    let script = "import socket,time\n\
        s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
        s.bind(('127.0.0.1', 9090)); s.listen(1)\n\
        c=socket.create_connection(('127.0.0.1', 9090)); a,_=s.accept()\n\
        c.sendall(b'GET /pending HTTP/1.1\\r\\nHost: pod\\r\\n\\r\\n')\n\
        print('sent', flush=True); time.sleep(60)\n";
    let mut silent = Command::new("ip")
        .args(["netns", "exec", &a.ns, "python3", "-c", script])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(silent.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "sent");
    // Nothing completes while the connection is open.
    std::thread::sleep(Duration::from_millis(800));
    assert!(sink.drain().is_empty());

    // The proxy goes away (the pod's other processes live on): the capture
    // ends and the namespace's connections are flushed.
    let scan = Discovery::new(DiscoveryConfig {
        instance_ips: [a.ip.parse().unwrap()].into(),
        ..Default::default()
    })
    .scan()
    .unwrap();
    for p in &scan.namespaces[&a.netns].processes {
        let pid = libc::pid_t::try_from(p.pid).unwrap();
        // SAFETY: kill has no memory effects; the pid is this test's proxy.
        let r = unsafe { libc::kill(pid, libc::SIGKILL) };
        assert_eq!(r, 0);
    }
    assert_eq!(
        sink.wait_for(1, Duration::from_secs(10)),
        1,
        "pending request not flushed"
    );
    let got = sink.drain();
    let _ = silent.kill();
    let _ = silent.wait();
    running.stop();
    running.join().unwrap();
    let ex = &got[0];
    assert_eq!(ex.request.as_ref().unwrap().path(), "/pending");
    assert!(ex.response.is_none());
    assert!(ex.has_flag(Flag::NoResponse), "{:?}", ex.flags);
    assert_eq!(ex.conn.netns, Some(a.netns.0));
}
