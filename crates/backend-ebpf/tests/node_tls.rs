//! node: OpenSSL linked statically into the `node` binary, SSL over a
//! memory BIO (no nested syscall). The server starts after the source: it
//! is found by the next rescan.
#![cfg(feature = "bpf")]
#![allow(clippy::indexing_slicing, clippy::print_stdout)]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use backend_ebpf::EbpfConfig;
use backend_ebpf::discovery::TargetKind;
use capture_core::model::{CaptureSource, TrafficDirection};
use common::*;

const NODE_SERVER: &str = r#"
const https = require('https'), fs = require('fs');
const [port, cert, key] = process.argv.slice(2);
https.createServer({ key: fs.readFileSync(key), cert: fs.readFileSync(cert) }, (req, res) => {
  let n = 0;
  req.on('data', d => n += d.length);
  req.on('end', () => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end('hello from node tls ' + n + '\n'); });
}).listen(Number(port), '127.0.0.1');
"#;

const NODE_CLIENT: &str = r#"
const https = require('https');
const port = Number(process.argv[2]);
const body = 'ping-from-node-client';
const req = https.request({ host: '127.0.0.1', port, path: '/node', method: 'POST', rejectUnauthorized: false, agent: false,
  headers: { 'content-length': body.length, 'x-test': 'node' } }, res => {
  let b = ''; res.on('data', d => b += d); res.on('end', () => process.stdout.write(b));
});
req.end(body);
"#;

fn node_exports_ssl() -> Option<bool> {
    let node = String::from_utf8(
        Command::new("sh")
            .args(["-c", "command -v node"])
            .output()
            .ok()?
            .stdout,
    )
    .ok()?;
    let syms = backend_ebpf::elf::find_functions(
        std::path::Path::new(node.trim()),
        &["SSL_read", "SSL_write"],
    )
    .ok()?;
    Some(syms.len() == 2)
}

#[test]
fn node_client_and_late_node_server() {
    node_client_and_server("node_tls", false);
}

/// Node's memory BIOs in SSL-only mode, where a process's socket reads
/// outside TLS calls are remembered only once it showed an object no
/// nested syscall tied: the exchange still comes with its addresses.
#[test]
fn ssl_only_node_client_and_late_node_server() {
    node_client_and_server("ssl_only_node_tls", true);
}

fn node_client_and_server(name: &str, ssl_only: bool) {
    let Some(_scenario) = Scenario::require(name, &["node", "openssl"]) else {
        return;
    };
    match node_exports_ssl() {
        Some(true) => eprintln!(
            "[{name}] node carries OpenSSL statically (SSL_read/SSL_write in its symbol tables)"
        ),
        _ => {
            eprintln!(
                "SKIP {name}: this node has no SSL_read/SSL_write symbols (links libssl dynamically?); the libssl tests cover it"
            );
            return;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path()).expect("openssl req");
    std::fs::write(dir.path().join("server.js"), NODE_SERVER).unwrap();
    std::fs::write(dir.path().join("client.js"), NODE_CLIENT).unwrap();
    let cfg = EbpfConfig {
        rescan_interval: Duration::from_secs(1),
        ssl_only,
        ..Default::default()
    };
    let Some(mut src) = open(cfg, name) else {
        return;
    };
    let node_was_probed = src
        .attached()
        .iter()
        .any(|t| t.kind == TargetKind::StaticBinary && t.path.ends_with("/node"));

    // Started after the source.
    let port = free_port();
    let server = Kid(Command::new("node")
        .arg(dir.path().join("server.js"))
        .arg(port.to_string())
        .arg(&cert)
        .arg(&key)
        .stdout(Stdio::null())
        .spawn()
        .unwrap());
    assert!(
        wait_port(port, Duration::from_secs(10)),
        "node server did not start"
    );
    // Let a rescan find it.
    let mut cap = Capture::default();
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end && !src.attached().iter().any(|t| t.path.ends_with("/node")) {
        poll_until(&mut src, &mut cap, Duration::from_millis(200), |_| false);
    }
    let t = src
        .attached()
        .iter()
        .find(|t| t.path.ends_with("/node"))
        .expect("rescan did not probe node");
    assert_eq!(t.kind, TargetKind::StaticBinary);
    println!(
        "node probed {} (already before the server started: {node_was_probed})",
        t.path
    );

    let (client_pid, out) = run(
        Command::new("node")
            .arg(dir.path().join("client.js"))
            .arg(port.to_string()),
        Duration::from_secs(10),
    );
    assert_eq!(out, b"hello from node tls 21\n");
    let server_pid = server.0.id();
    poll_until(&mut src, &mut cap, Duration::from_secs(5), |c| {
        c.of_pid(server_pid)
            .any(|g| contains(&g.data, b"hello from node tls"))
            && c.of_pid(client_pid)
                .any(|g| contains(&g.data, b"hello from node tls"))
    });
    for (who, pid, traffic) in [
        ("client", client_pid, TrafficDirection::Outbound),
        ("server", server_pid, TrafficDirection::Inbound),
    ] {
        let (req, resp) = cap.tls_pair(pid, who);
        let (req_bytes, gaps) = req.assemble();
        assert!(gaps.is_empty(), "{who}: gaps {gaps:?}");
        assert!(
            req_bytes.starts_with(b"POST /node HTTP/1.1\r\n"),
            "{who}: {:?}",
            String::from_utf8_lossy(&req_bytes)
        );
        assert_eq!(count(&req_bytes, b"ping-from-node-client"), 1, "{who}");
        let (resp_bytes, _) = resp.assemble();
        assert!(
            resp_bytes.starts_with(b"HTTP/1.1 200 OK\r\n"),
            "{who}: {:?}",
            String::from_utf8_lossy(&resp_bytes)
        );
        assert_eq!(count(&resp_bytes, b"hello from node tls 21"), 1, "{who}");
        let key = req.key.unwrap();
        assert_eq!(key.server.port(), port, "{who}");
        assert_eq!(
            cap.of_pid(pid)
                .find(|g| g.source == CaptureSource::EbpfTls)
                .unwrap()
                .traffic,
            Some(traffic)
        );
        assert_eq!(
            assert_no_ciphertext(&cap, pid, port),
            0,
            "{who}: syscall chunks on a TLS connection"
        );
        println!("{who}: pid {pid} {key:?}");
    }
}
