//! TLS plaintext at SSL_read/SSL_write: nginx and curl (shared libssl,
//! SSL_read/SSL_write), python's ssl module (SSL_read_ex/SSL_write_ex).
#![cfg(feature = "bpf")]
#![allow(clippy::indexing_slicing, clippy::print_stdout)]

mod common;

use std::process::Command;
use std::time::Duration;

use backend_ebpf::EbpfConfig;
use capture_core::model::{CaptureSource, Direction, TlsLibrary, TrafficDirection};
use common::*;

#[test]
fn nginx_and_curl_plaintext_once_from_each_side() {
    nginx_and_curl("nginx_curl_tls", EbpfConfig::default(), 1);
}

/// SSL-only mode ties each object to its socket through the nested syscall
/// of its first call and skips that work for the calls after it: three
/// requests on one connection keep their addresses and come once each.
#[test]
fn ssl_only_nginx_and_curl_keep_alive_plaintext_once_from_each_side() {
    let cfg = EbpfConfig {
        ssl_only: true,
        ..Default::default()
    };
    nginx_and_curl("ssl_only_nginx_curl_tls", cfg, 3);
}

/// curl fetches /hello `requests` times on one connection from nginx while
/// the source runs with `cfg`; each side's plaintext is seen exactly once,
/// with the connection's addresses, and never as ciphertext.
fn nginx_and_curl(name: &str, cfg: EbpfConfig, requests: usize) {
    let Some(_scenario) = Scenario::require(name, &["nginx", "curl", "openssl"]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (port, nginx) = nginx(dir.path(), "tls-hello.conf", dir.path());
    let Some(mut src) = open(cfg, name) else {
        return;
    };
    assert!(
        src.attached().iter().any(|t| t.path.contains("libssl")),
        "libssl not probed: {:?}",
        src.attached()
    );
    let workers = children_named(nginx.0.id(), "nginx");
    assert_eq!(workers.len(), 1, "one nginx worker");
    let worker = workers[0];

    let url = format!("https://127.0.0.1:{port}/hello");
    let mut args = vec!["-sk", "--http1.1", "-H", "X-Test: ebpf"];
    args.extend(std::iter::repeat_n(url.as_str(), requests));
    let (curl_pid, body) = run(Command::new("curl").args(&args), Duration::from_secs(10));
    assert_eq!(body, b"hello from nginx tls\n".repeat(requests));

    let mut cap = Capture::default();
    let all_seen = |c: &Capture, pid: u32| {
        c.of_pid(pid)
            .map(|g| count(&g.data, b"hello from nginx tls"))
            .sum::<usize>()
            >= requests
    };
    poll_until(&mut src, &mut cap, Duration::from_secs(5), |c| {
        all_seen(c, worker) && all_seen(c, curl_pid)
    });
    for (who, pid, traffic) in [
        ("curl", curl_pid, TrafficDirection::Outbound),
        ("nginx", worker, TrafficDirection::Inbound),
    ] {
        let (req, resp) = cap.tls_pair(pid, who);
        assert!(
            cap.of_pid(pid)
                .filter(|g| g.source == CaptureSource::EbpfTls)
                .all(|g| g.tls_library == Some(TlsLibrary::OpenSsl3)),
            "{who}: libssl.so.3 is OpenSSL 3"
        );
        let (req_bytes, gaps) = req.assemble();
        assert!(gaps.is_empty(), "{who}: gaps {gaps:?}");
        assert!(
            req_bytes.starts_with(b"GET /hello HTTP/1.1\r\n"),
            "{who}: {:?}",
            String::from_utf8_lossy(&req_bytes)
        );
        assert_eq!(
            count(&req_bytes, b"X-Test: ebpf"),
            requests,
            "{who}: each request once"
        );
        let (resp_bytes, gaps) = resp.assemble();
        assert!(gaps.is_empty(), "{who}: gaps {gaps:?}");
        assert!(
            resp_bytes.starts_with(b"HTTP/1.1 200 OK\r\n"),
            "{who}: {:?}",
            String::from_utf8_lossy(&resp_bytes)
        );
        assert_eq!(
            count(&resp_bytes, b"hello from nginx tls"),
            requests,
            "{who}: each response once"
        );
        let key = req.key.unwrap();
        assert_eq!(key.server.to_string(), format!("127.0.0.1:{port}"), "{who}");
        assert_eq!(req.pieces[0].0, 0, "{who}: plaintext starts at position 0");
        let g = cap
            .of_pid(pid)
            .find(|g| g.source == CaptureSource::EbpfTls)
            .unwrap();
        assert_eq!(g.traffic, Some(traffic), "{who}");
        let syscall_chunks = assert_no_ciphertext(&cap, pid, port);
        assert_eq!(
            syscall_chunks, 0,
            "{who}: the TLS connection also appeared at the syscall layer"
        );
        println!("{who}: pid {pid} comm {:?} {key:?}", g.comm);
    }
    let k_curl = cap.of_pid(curl_pid).next().unwrap().key;
    let k_nginx = cap
        .of_pid(worker)
        .find(|g| g.key.client == k_curl.client)
        .expect("nginx saw curl's port")
        .key;
    assert_eq!(k_nginx.server, k_curl.server);
}

#[test]
fn python_ssl_ex_functions() {
    let name = "python_tls";
    let Some(_scenario) = Scenario::require(name, &["python3", "openssl"]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (port, server) = listening_python_server(dir.path(), &[]);
    let Some(mut src) = open(EbpfConfig::default(), name) else {
        return;
    };
    let client = dir.path().join("client.py");
    std::fs::write(&client, PY_CLIENT).unwrap();
    let (client_pid, out) = run(
        Command::new("python3").arg(&client).arg(port.to_string()),
        Duration::from_secs(10),
    );
    assert_eq!(out, b"hello from python tls\n");
    let server_pid = server.0.id();
    let mut cap = Capture::default();
    poll_until(&mut src, &mut cap, Duration::from_secs(5), |c| {
        c.of_pid(server_pid)
            .any(|g| contains(&g.data, b"hello from python tls"))
            && c.of_pid(client_pid)
                .any(|g| contains(&g.data, b"hello from python tls"))
    });
    for (who, pid) in [("client", client_pid), ("server", server_pid)] {
        let all: Vec<u8> = cap
            .of_pid(pid)
            .filter(|g| g.source == CaptureSource::EbpfTls)
            .flat_map(|g| g.data.clone())
            .collect();
        assert_eq!(
            count(&all, b"GET /py HTTP/1.1"),
            1,
            "{who}: {:?}",
            String::from_utf8_lossy(&all)
        );
        assert_eq!(count(&all, b"hello from python tls"), 1, "{who}");
        assert_eq!(
            assert_no_ciphertext(&cap, pid, port),
            0,
            "{who}: syscall chunks on a TLS connection"
        );
        println!("{who}: pid {pid} ok");
    }
}

#[test]
fn pid_filter_limits_uprobes_to_that_process() {
    let name = "tls_pid_filter";
    let Some(_scenario) = Scenario::require(name, &["python3", "openssl"]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (port, server) = listening_python_server(dir.path(), &[]);
    let server_pid = server.0.id();
    let cfg = EbpfConfig {
        pids: vec![server_pid],
        ..Default::default()
    };
    let Some(mut src) = open(cfg, name) else {
        return;
    };
    assert!(!src.attached().is_empty());
    assert!(
        src.attached().iter().all(|t| t.pid == server_pid),
        "probes only for the server: {:?}",
        src.attached()
    );
    let client = dir.path().join("client.py");
    std::fs::write(&client, PY_CLIENT).unwrap();
    let (client_pid, out) = run(
        Command::new("python3").arg(&client).arg(port.to_string()),
        Duration::from_secs(10),
    );
    assert_eq!(out, b"hello from python tls\n");
    let mut cap = Capture::default();
    poll_until(&mut src, &mut cap, Duration::from_secs(5), |c| {
        c.of_pid(server_pid)
            .any(|g| contains(&g.data, b"hello from python tls"))
    });
    assert!(
        cap.of_pid(server_pid)
            .any(|g| g.source == CaptureSource::EbpfTls)
    );
    assert_eq!(
        cap.of_pid(client_pid).count(),
        0,
        "the client is not traced"
    );
}

/// Reads the response 7 bytes at a time: most SSL_read_ex calls are served
/// from the record OpenSSL already holds and make no syscall.
const PY_SMALL_READS: &str = r#"
import socket, ssl, sys
ctx = ssl._create_unverified_context()
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))))
s.sendall(b"GET /small HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
data = b""
while True:
    d = s.recv(7)
    if not d:
        break
    data += d
sys.stdout.buffer.write(data.split(b"\r\n\r\n", 1)[1])
"#;

#[test]
fn buffered_ssl_reads_without_syscalls_keep_their_socket() {
    let name = "tls_buffered_reads";
    let Some(_scenario) = Scenario::require(name, &["python3", "openssl"]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (port, _server) = listening_python_server(dir.path(), &[]);
    let Some(mut src) = open(EbpfConfig::default(), name) else {
        return;
    };
    let (client_pid, out) = run(
        Command::new("python3").args(["-c", PY_SMALL_READS, &port.to_string()]),
        Duration::from_secs(10),
    );
    assert_eq!(out, b"hello from python tls\n");
    let mut cap = Capture::default();
    poll_until(&mut src, &mut cap, Duration::from_secs(5), |c| {
        c.of_pid(client_pid)
            .filter(|g| g.dir == Direction::ServerToClient)
            .count()
            > 10
            && c.closed.iter().any(|k| k.pid == Some(client_pid))
    });
    let resp = cap
        .stream_of(
            client_pid,
            Direction::ServerToClient,
            Some(CaptureSource::EbpfTls),
        )
        .expect("client's TLS response stream");
    let (bytes, gaps) = resp.assemble();
    assert!(gaps.is_empty(), "{gaps:?}");
    assert!(resp.pieces.iter().all(|p| p.1.len() <= 7), "7-byte reads");
    assert!(bytes.starts_with(b"HTTP/1.0 200 OK\r\n") || bytes.starts_with(b"HTTP/1.1 200 OK\r\n"));
    assert!(
        bytes.ends_with(b"\r\n\r\nhello from python tls\n"),
        "{:?}",
        String::from_utf8_lossy(&bytes)
    );
    println!(
        "{} reads of at most 7 bytes, all on fd {:?}",
        resp.pieces.len(),
        resp.key.unwrap().fd
    );
}
