//! Go crypto/tls: plaintext of Go HTTPS servers and clients, seen at
//! `(*tls.Conn).Read`/`Write`, through the real reassembler and HTTP
//! parsers. The matrix: every toolchain of scripts/go-toolchains.sh (Go
//! 1.19, 1.21–1.27) × normal, stripped and PIE builds × HTTP/1.1 and
//! HTTP/2, each run a Go program that serves and calls itself (GET, a 5 MiB
//! POST, a 5 MiB response): every request and response exactly once from
//! each side, with method, path, status, bodies, pid and addresses.
#![cfg(feature = "bpf")]
#![allow(clippy::indexing_slicing, clippy::print_stdout)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use backend_ebpf::{EbpfConfig, EbpfSource};
use capture_core::model::{CaptureSource, Input, TlsLibrary, TrafficDirection};
use capture_core::stage::Source;
use capture_core::stats::Counters;
use common::go::*;
use common::*;

const BIG: usize = 5 << 20;

/// The eBPF source for Go programs named gotls, TLS only.
fn go_source(name: &str) -> Option<EbpfSource> {
    let cfg = EbpfConfig {
        comms: vec![String::from("gotls")],
        ssl_only: true,
        ring_buffer_bytes: 64 << 20,
        rescan_interval: Duration::from_secs(3600),
        ..Default::default()
    };
    open(cfg, name)
}

/// A started gotls process and the port it serves on.
struct Started {
    child: Kid,
    port: u16,
    lines: mpsc::Receiver<String>,
}

/// Starts `bin` with `args`; waits for its "port P" line.
fn start(bin: &Path, args: &[&str]) -> Started {
    let mut child: Child = Command::new(bin)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
    let stdout = child.stdout.take().expect("stdout");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = lines
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("{}: no port line", bin.display()));
    let port = first
        .strip_prefix("port ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{}: {first:?}", bin.display()));
    Started {
        child: Kid(child),
        port,
        lines,
    }
}

/// Polls `src` until `done`, keeping the inputs of `pid`.
fn collect(
    src: &mut EbpfSource,
    pid: u32,
    into: &mut Vec<Owned>,
    limit: Duration,
    mut done: impl FnMut(&[Owned]) -> bool,
) -> Counters {
    let counters = Counters::default();
    let end = Instant::now() + limit;
    while Instant::now() < end && !done(into) {
        src.poll(
            &mut |i: Input<'_>| {
                if let Some(o) = Owned::of(&i).filter(|o| o.pid() == Some(pid)) {
                    into.push(o);
                }
            },
            &counters,
        )
        .expect("poll");
    }
    src.update_stats(&counters);
    counters
}

/// Makes sure the uprobes are on `bin` (a rescan after it started).
fn probed(src: &mut EbpfSource, bin: &Path) {
    src.rescan();
    let want = std::fs::canonicalize(bin).unwrap();
    assert!(
        src.attached()
            .iter()
            .any(|t| Path::new(&t.path) == want && t.library == Some(TlsLibrary::Go)),
        "{} not probed; attached {:?}; unprobeable {:?}",
        bin.display(),
        src.attached(),
        src.unprobeable()
    );
}

/// One selftest run: the program serves, calls itself, exits.
fn selftest(
    src: &mut EbpfSource,
    bin: &GoBinary,
    proto: &str,
    dir: &Path,
) -> (u32, u16, Vec<Owned>) {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let big = BIG.to_string();
    let mut s = start(
        &bin.path,
        &[
            "selftest",
            "-cert",
            cert.to_str().unwrap(),
            "-key",
            key.to_str().unwrap(),
            "-proto",
            proto,
            "-big",
            &big,
        ],
    );
    let pid = s.child.0.id();
    probed(src, &bin.path);
    s.child
        .0
        .stdin
        .as_mut()
        .expect("stdin")
        .write_all(b"go\n")
        .expect("go");
    let mut inputs = Vec::new();
    let mut exited_at: Option<Instant> = None;
    let mut child = s.child;
    collect(src, pid, &mut inputs, Duration::from_secs(120), |_| {
        if exited_at.is_none() && child.0.try_wait().ok().flatten().is_some() {
            exited_at = Some(Instant::now());
        }
        // What the kernel still holds arrives within a few polls.
        exited_at.is_some_and(|t| t.elapsed() > Duration::from_millis(600))
    });
    let lines: Vec<String> = s.lines.try_iter().collect();
    let want_proto = if proto == "h2" {
        "HTTP/2.0"
    } else {
        "HTTP/1.1"
    };
    assert_eq!(lines.len(), 3, "{bin:?} {proto}: {lines:?}");
    for l in &lines {
        assert!(
            l.starts_with("200 ") && l.contains(want_proto),
            "{bin:?} {proto}: {l}"
        );
    }
    let _ = child.0.wait();
    (pid, s.port, inputs)
}

/// Every request and response exactly once from each side.
fn check(what: &str, seen: &[Seen], pid: u32, port: u16, proto: &str) {
    let protocol = if proto == "h2" { "h2" } else { "http/1.1" };
    let echo = format!("got {BIG} {}\n", sha256_hex(&pattern(BIG)));
    let big_path = format!("/big?n={BIG}");
    let expected: [(&str, &str, &[u8], Vec<u8>); 3] = [
        ("GET", "/hello", b"", b"hello from go\n".to_vec()),
        ("POST", "/echo", &pattern(BIG), echo.into_bytes()),
        ("GET", &big_path, b"", pattern(BIG)),
    ];
    let mut clients = Vec::new();
    for side in [TrafficDirection::Inbound, TrafficDirection::Outbound] {
        let of_side: Vec<&Seen> = seen.iter().filter(|s| s.direction == Some(side)).collect();
        assert_eq!(
            of_side.len(),
            3,
            "{what}: {side:?} exchanges: {:?}",
            seen.iter()
                .map(|s| (&s.method, &s.path, s.status, s.direction, &s.flags))
                .collect::<Vec<_>>()
        );
        for (method, path, req_body, resp_body) in &expected {
            let hits: Vec<&&Seen> = of_side
                .iter()
                .filter(|s| s.method == *method && s.path == *path)
                .collect();
            assert_eq!(hits.len(), 1, "{what}: {side:?} {method} {path} once");
            let s = hits[0];
            assert_eq!(s.status, 200, "{what}: {side:?} {path}");
            assert_eq!(s.protocol, protocol, "{what}: {side:?} {path}");
            assert_eq!(s.source, CaptureSource::EbpfGoTls, "{what}");
            assert_eq!(s.tls_library, Some(TlsLibrary::Go), "{what}");
            assert_eq!(s.pid, Some(pid), "{what}");
            assert_eq!(s.server, format!("127.0.0.1:{port}"), "{what}: {side:?}");
            assert!(s.client.starts_with("127.0.0.1:"), "{what}: {}", s.client);
            assert!(
                s.flags.is_empty(),
                "{what}: {side:?} {path} flags {:?}",
                s.flags
            );
            assert!(
                s.request_body == *req_body,
                "{what}: {side:?} {path} request body ({} bytes)",
                s.request_body.len()
            );
            assert!(
                s.response_body == *resp_body,
                "{what}: {side:?} {path} response body ({} bytes)",
                s.response_body.len()
            );
            clients.push(s.client.clone());
        }
    }
    clients.dedup();
    assert_eq!(
        clients.len(),
        1,
        "{what}: one connection, both sides agree: {clients:?}"
    );
}

#[test]
fn go_matrix_every_release_and_build_mode_both_sides_h1_and_h2() {
    let name = "go_matrix";
    let Some(_scenario) = Scenario::require(name, &["openssl", "sha256sum"]) else {
        return;
    };
    let Some(mut chains) = toolchains(name) else {
        return;
    };
    if let Ok(only) = std::env::var("CLEARTAP_GO_VERSIONS") {
        chains.retain(|(v, _)| only.split(',').any(|o| v.starts_with(o)));
    }
    let t0 = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    self_signed(dir.path()).expect("openssl req");
    let total = chains.len() * Mode::ALL.len();
    let builds = build_all(chains, &Mode::ALL, dir.path(), 2);
    let Some(mut src) = go_source(name) else {
        return;
    };
    let mut done = Vec::new();
    for built in builds.iter().take(total) {
        let bin = built.unwrap_or_else(|e| panic!("{e}"));
        for proto in ["h1", "h2"] {
            let t = Instant::now();
            let (pid, port, inputs) = selftest(&mut src, &bin, proto, dir.path());
            let what = format!("go {} {:?} {proto}", bin.version, bin.mode);
            if std::env::var_os("GO_TLS_DEBUG").is_some() {
                debug_streams(&inputs);
                println!("kernel drops {:?}", src.kernel_drops());
            }
            let seen: Vec<Seen> = exchanges(inputs).iter().map(Seen::of).collect();
            check(&what, &seen, pid, port, proto);
            println!("[{name}] {what}: ok in {:?}", t.elapsed());
            done.push(what);
        }
    }
    assert_eq!(done.len(), total * 2);
    println!(
        "[{name}] {} runs ({} binaries) in {:?}; unprobeable: {:?}",
        done.len(),
        total,
        t0.elapsed(),
        src.unprobeable()
    );
}

fn debug_streams(inputs: &[Owned]) {
    use std::collections::BTreeMap;
    let mut streams: BTreeMap<String, Vec<(u64, usize, Vec<u8>)>> = BTreeMap::new();
    for o in inputs {
        if let Owned::Chunk {
            key,
            dir,
            offset,
            data,
            traffic,
            ..
        } = o
        {
            streams
                .entry(format!(
                    "{:?} fd {:?} {dir:?} {traffic:?}",
                    key.client, key.fd
                ))
                .or_default()
                .push((
                    *offset,
                    data.len(),
                    data.get(..24.min(data.len())).unwrap_or_default().to_vec(),
                ));
        }
    }
    for (k, v) in streams {
        let mut at = 0u64;
        let mut holes = Vec::new();
        let mut overlaps = Vec::new();
        for (off, len, _) in &v {
            if *off > at {
                holes.push((at, off - at));
            }
            if *off < at {
                overlaps.push((*off, at));
            }
            at = at.max(off + *len as u64);
        }
        println!(
            "{k}: {} chunks, end {at}, holes {holes:?}, out of order {overlaps:?}",
            v.len()
        );
        for (off, len, head) in v.iter().take(4) {
            println!("   {off} +{len} {:?}", String::from_utf8_lossy(head));
        }
    }
}
