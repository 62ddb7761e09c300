//! Plain HTTP through the syscall path: python's http.server and curl.
#![cfg(feature = "bpf")]
#![allow(clippy::indexing_slicing, clippy::print_stdout)]

mod common;

use std::process::Command;
use std::time::Duration;

use backend_ebpf::EbpfConfig;
use capture_core::model::{CaptureSource, Direction, TrafficDirection};
use common::*;

#[test]
fn plain_http_seen_at_syscalls_from_both_sides() {
    let name = "plain_http";
    let Some(_scenario) = Scenario::require(name, &["python3", "curl"]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("hello.txt"),
        b"hello from the plain server\n",
    )
    .unwrap();
    // The server starts before the source: its listening socket predates the capture.
    let (port, server) = python_file_server(dir.path(), [127, 0, 0, 1].into());
    let Some(mut src) = open(EbpfConfig::default(), name) else {
        return;
    };

    let url = format!("http://127.0.0.1:{port}/hello.txt");
    let (curl_pid, body) = run(
        Command::new("curl").args(["-s", "--http1.1", &url]),
        Duration::from_secs(10),
    );
    assert_eq!(body, b"hello from the plain server\n");
    let server_pid = server.0.id();

    let mut cap = Capture::default();
    let counters = poll_until(&mut src, &mut cap, Duration::from_secs(5), |c| {
        c.of_pid(server_pid)
            .any(|g| contains(&g.data, b"hello from the plain"))
            && c.of_pid(curl_pid)
                .any(|g| contains(&g.data, b"hello from the plain"))
            && c.closed.iter().any(|k| k.pid == Some(curl_pid))
    });

    for (who, pid, traffic) in [
        ("curl", curl_pid, TrafficDirection::Outbound),
        ("server", server_pid, TrafficDirection::Inbound),
    ] {
        let req = cap
            .stream_of(pid, Direction::ClientToServer, None)
            .unwrap_or_else(|| panic!("{who}: no request stream in {:?}", cap.chunks));
        let resp = cap
            .stream_of(pid, Direction::ServerToClient, None)
            .expect("response stream");
        let (req_bytes, gaps) = req.assemble();
        assert!(gaps.is_empty(), "{who}: gaps {gaps:?}");
        assert!(
            req_bytes.starts_with(b"GET /hello.txt HTTP/1.1\r\n"),
            "{who}: {:?}",
            String::from_utf8_lossy(&req_bytes)
        );
        assert_eq!(
            count(&req_bytes, b"GET /hello.txt"),
            1,
            "{who}: request seen once"
        );
        let (resp_bytes, _) = resp.assemble();
        assert!(
            resp_bytes.starts_with(b"HTTP/1.0 200 OK\r\n"),
            "{who}: {:?}",
            String::from_utf8_lossy(&resp_bytes)
        );
        assert_eq!(
            count(&resp_bytes, b"hello from the plain server"),
            1,
            "{who}: body seen once"
        );
        let key = req.key.unwrap();
        assert_eq!(
            key.server.to_string(),
            format!("127.0.0.1:{port}"),
            "{who}: server address"
        );
        assert_eq!(key.client.ip().to_string(), "127.0.0.1");
        assert_ne!(key.client.port(), port);
        assert!(key.netns.get().is_some(), "{who}: netns known");
        let g = cap.of_pid(pid).next().unwrap();
        assert_eq!(g.source, CaptureSource::EbpfSyscall);
        assert_eq!(g.traffic, Some(traffic), "{who}: traffic direction");
        assert_eq!(req.pieces[0].0, 0, "{who}: request starts at position 0");
        println!("{who}: pid {pid} comm {:?} key {key:?}", g.comm);
    }
    // Both ends agree on the connection's endpoints.
    let k_curl = cap.of_pid(curl_pid).next().unwrap().key;
    let k_srv = cap
        .of_pid(server_pid)
        .find(|g| g.key.client == k_curl.client)
        .expect("server saw curl's port")
        .key;
    assert_eq!((k_curl.client, k_curl.server), (k_srv.client, k_srv.server));
    assert!(
        cap.closed.iter().any(|k| k.pid == Some(curl_pid)),
        "curl's close seen"
    );
    assert!(
        cap.chunks
            .iter()
            .all(|g| g.key.pid != Some(std::process::id())),
        "own traffic excluded"
    );
    println!(
        "events {} ring-buffer drops {}",
        counters.get(capture_core::Counter::Packets),
        src.kernel_drops().0
    );
}

#[test]
fn plain_http_over_ipv6_loopback() {
    let name = "plain_http_v6";
    let Some(_scenario) = Scenario::require(name, &["python3", "curl"]) else {
        return;
    };
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("SKIP {name}: no IPv6 loopback");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("six.txt"), b"hello over ipv6\n").unwrap();
    let (port, server) = python_file_server(dir.path(), std::net::Ipv6Addr::LOCALHOST.into());
    let Some(mut src) = open(EbpfConfig::default(), name) else {
        return;
    };
    let url = format!("http://[::1]:{port}/six.txt");
    let (curl_pid, body) = run(
        Command::new("curl").args(["-sg", &url]),
        Duration::from_secs(10),
    );
    assert_eq!(body, b"hello over ipv6\n");
    let server_pid = server.0.id();
    let mut cap = Capture::default();
    poll_until(&mut src, &mut cap, Duration::from_secs(5), |c| {
        c.of_pid(server_pid)
            .any(|g| contains(&g.data, b"hello over ipv6"))
            && c.of_pid(curl_pid)
                .any(|g| contains(&g.data, b"hello over ipv6"))
    });
    for pid in [curl_pid, server_pid] {
        let g = cap
            .of_pid(pid)
            .find(|g| g.dir == Direction::ClientToServer)
            .expect("request");
        assert_eq!(g.key.server.to_string(), format!("[::1]:{port}"));
        assert!(g.key.client.is_ipv6());
        assert!(g.data.starts_with(b"GET /six.txt HTTP/1.1\r\n"));
    }
}
