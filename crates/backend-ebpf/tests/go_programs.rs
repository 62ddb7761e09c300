//! Go crypto/tls beyond the matrix: Debian's caddy (stripped Go 1.19)
//! serving curl and the Go client; a server started after the source,
//! found by the rescan; traced programs behaving exactly as untraced ones
//! (deep recursion growing goroutine stacks between reads, 64 concurrent
//! connections); a Go program that cannot be probed, reported once.
#![cfg(feature = "bpf")]
#![allow(clippy::indexing_slicing, clippy::print_stdout)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use backend_ebpf::{EbpfConfig, EbpfSource};
use capture_core::model::{CaptureSource, Input, TlsLibrary, TrafficDirection};
use capture_core::stage::Source;
use capture_core::stats::{Counters, Gauge};
use common::go::*;
use common::*;

fn source(name: &str, comms: &[&str], rescan: Duration) -> Option<EbpfSource> {
    let cfg = EbpfConfig {
        comms: comms.iter().map(|c| (*c).to_owned()).collect(),
        ssl_only: true,
        ring_buffer_bytes: 64 << 20,
        rescan_interval: rescan,
        ..Default::default()
    };
    open(cfg, name)
}

/// Polls until `limit` passes or `done`, keeping inputs of `pids` (all when empty).
fn gather(
    src: &mut EbpfSource,
    pids: &[u32],
    into: &mut Vec<Owned>,
    limit: Duration,
    mut done: impl FnMut(&EbpfSource, &[Owned]) -> bool,
) -> Counters {
    let counters = Counters::default();
    let end = Instant::now() + limit;
    while Instant::now() < end && !done(src, into) {
        src.poll(
            &mut |i: Input<'_>| {
                if let Some(o) = Owned::of(&i)
                    .filter(|o| pids.is_empty() || o.pid().is_some_and(|p| pids.contains(&p)))
                {
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

/// One toolchain's normal build of the test program (the newest, or the
/// one named by `version`).
fn one_binary(name: &str, dir: &Path, version: Option<&str>, mode: Mode) -> Option<GoBinary> {
    let chains = toolchains(name)?;
    let (v, root) = match version {
        Some(want) => chains.into_iter().find(|(v, _)| v.starts_with(want))?,
        None => chains.into_iter().last()?,
    };
    Some(build(&v, &root, mode, dir).unwrap_or_else(|e| panic!("{e}")))
}

/// Starts `gotls server`; returns the process and its port.
fn go_server(bin: &Path, dir: &Path) -> (Kid, u16) {
    let mut child = Command::new(bin)
        .args(["server", "-cert"])
        .arg(dir.join("cert.pem"))
        .arg("-key")
        .arg(dir.join("key.pem"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("gotls server");
    let mut line = String::new();
    let stdout = child.stdout.take().expect("stdout");
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).expect("port");
    let port = line
        .trim()
        .strip_prefix("port ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{line:?}"));
    (Kid(child), port)
}

/// Runs `gotls client` to completion: (pid, its output lines).
fn go_client(bin: &Path, url: &str, args: &[&str]) -> (u32, Vec<String>) {
    let (pid, out) = run(
        Command::new(bin).arg("client").args(args).arg(url),
        Duration::from_secs(120),
    );
    let lines = String::from_utf8_lossy(&out)
        .lines()
        .map(str::to_owned)
        .collect();
    (pid, lines)
}

#[test]
fn caddy_serves_https_to_curl_and_to_the_go_client() {
    let name = "go_caddy";
    let Some(_scenario) = Scenario::require(name, &["caddy", "curl", "openssl"]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Caddy picks a certificate by name: curl and Go send no SNI for an IP.
    let (cert, key) = capture_core::testkit::self_signed(dir.path(), "127.0.0.1");
    let Some(client) = one_binary(name, dir.path(), None, Mode::Normal) else {
        return;
    };
    let port = free_port();
    let caddyfile = dir.path().join("Caddyfile");
    std::fs::write(
        &caddyfile,
        format!(
            "{{\n  admin off\n  auto_https off\n  storage file_system {d}\n}}\n\
             https://127.0.0.1:{port} {{\n  tls {c} {k}\n  respond /hello \"hello from caddy\" 200\n}}\n",
            d = dir.path().display(),
            c = cert.display(),
            k = key.display()
        ),
    )
    .unwrap();
    let caddy = Kid::serving(
        Command::new("caddy")
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(&caddyfile)
            .env("HOME", dir.path())
            .env("XDG_DATA_HOME", dir.path())
            .env("XDG_CONFIG_HOME", dir.path()),
        port,
        Duration::from_secs(20),
    );
    let caddy_pid = caddy.0.id();
    let Some(mut src) = source(name, &["caddy"], Duration::from_secs(3600)) else {
        return;
    };
    let target = src
        .attached()
        .iter()
        .find(|t| t.pid == caddy_pid)
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "caddy not probed: {:?}, unprobeable {:?}",
                src.attached(),
                src.unprobeable()
            )
        });
    assert_eq!(target.library, Some(TlsLibrary::Go));
    let url = format!("https://127.0.0.1:{port}");
    let mut expected = Vec::new();
    for proto in ["--http1.1", "--http2"] {
        let (_, body) = run(
            Command::new("curl").args(["-sk", proto, &format!("{url}/hello")]),
            Duration::from_secs(20),
        );
        assert_eq!(body, b"hello from caddy", "curl {proto}");
        expected.push(if proto == "--http2" { "h2" } else { "http/1.1" });
    }
    for proto in ["h1", "h2"] {
        let (_, lines) = go_client(&client.path, &url, &["-proto", proto]);
        assert!(lines[0].starts_with("200 "), "go client {proto}: {lines:?}");
        expected.push(if proto == "h2" { "h2" } else { "http/1.1" });
    }
    let mut inputs = Vec::new();
    gather(
        &mut src,
        &[caddy_pid],
        &mut inputs,
        Duration::from_secs(3),
        |_, _| false,
    );
    let seen: Vec<Seen> = exchanges(inputs).iter().map(Seen::of).collect();
    let mut protocols: Vec<&str> = seen.iter().map(|s| s.protocol.as_str()).collect();
    protocols.sort_unstable();
    expected.sort_unstable();
    assert_eq!(protocols, expected, "{seen:?}");
    for s in &seen {
        assert_eq!(
            (s.method.as_str(), s.path.as_str(), s.status),
            ("GET", "/hello", 200)
        );
        assert_eq!(s.response_body, b"hello from caddy");
        assert_eq!(s.source, CaptureSource::EbpfGoTls);
        assert_eq!(s.tls_library, Some(TlsLibrary::Go));
        assert_eq!(s.direction, Some(TrafficDirection::Inbound));
        assert_eq!(s.pid, Some(caddy_pid));
        assert_eq!(s.server, format!("127.0.0.1:{port}"));
        assert!(s.flags.is_empty(), "{:?}", s.flags);
    }
    println!(
        "[{name}] caddy {} probed: {} exchanges ({protocols:?})",
        target.path,
        seen.len()
    );
}

#[test]
fn a_go_server_started_after_the_source_is_found_by_the_rescan() {
    let name = "go_late_server";
    let Some(_scenario) = Scenario::require(name, &["openssl"]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    self_signed(dir.path()).expect("openssl req");
    let Some(bin) = one_binary(name, dir.path(), None, Mode::Stripped) else {
        return;
    };
    let Some(mut src) = source(name, &["gotls"], Duration::from_millis(300)) else {
        return;
    };
    let want = std::fs::canonicalize(&bin.path).unwrap();
    assert!(src.attached().iter().all(|t| Path::new(&t.path) != want));
    let (server, port) = go_server(&bin.path, dir.path());
    let mut inputs = Vec::new();
    let t = Instant::now();
    gather(
        &mut src,
        &[],
        &mut inputs,
        Duration::from_secs(10),
        |s, _| s.attached().iter().any(|t| Path::new(&t.path) == want),
    );
    println!("[{name}] probed {:?} after its start", t.elapsed());
    let (_, lines) = go_client(
        &bin.path,
        &format!("https://127.0.0.1:{port}"),
        &["-proto", "h2"],
    );
    assert!(lines[0].starts_with("200 HTTP/2.0"), "{lines:?}");
    let pid = server.0.id();
    gather(
        &mut src,
        &[pid],
        &mut inputs,
        Duration::from_secs(5),
        |_, got| got.len() >= 4,
    );
    gather(
        &mut src,
        &[pid],
        &mut inputs,
        Duration::from_millis(500),
        |_, _| false,
    );
    inputs.retain(|o| o.pid() == Some(pid));
    let seen: Vec<Seen> = exchanges(inputs).iter().map(Seen::of).collect();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!((seen[0].path.as_str(), seen[0].status), ("/hello", 200));
    assert_eq!(seen[0].direction, Some(TrafficDirection::Inbound));
    assert_eq!(seen[0].protocol, "h2");
}

/// The client's output for a recursion-and-concurrency workload.
fn workload(client: &Path, url: &str, proto: &str) -> Vec<String> {
    let (_, lines) = go_client(
        client,
        url,
        &[
            "-proto",
            proto,
            "-conns",
            "64",
            "-path",
            "/recurse?depth=3000",
            "-body",
            "200000",
        ],
    );
    lines
}

#[test]
fn traced_programs_answer_exactly_as_untraced_ones() {
    let name = "go_no_harm";
    let Some(_scenario) = Scenario::require(name, &["openssl"]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    self_signed(dir.path()).expect("openssl req");
    let Some(bin) = one_binary(name, dir.path(), None, Mode::Normal) else {
        return;
    };
    let (server, port) = go_server(&bin.path, dir.path());
    let url = format!("https://127.0.0.1:{port}");
    let plain: Vec<Vec<String>> = ["h1", "h2"]
        .iter()
        .map(|p| workload(&bin.path, &url, p))
        .collect();
    let Some(mut src) = source(name, &["gotls"], Duration::from_secs(3600)) else {
        return;
    };
    let pid = server.0.id();
    let mut inputs = Vec::new();
    let traced: Vec<Vec<String>> = ["h1", "h2"]
        .iter()
        .map(|p| {
            let lines = workload(&bin.path, &url, p);
            gather(
                &mut src,
                &[pid],
                &mut inputs,
                Duration::from_millis(300),
                |_, _| false,
            );
            lines
        })
        .collect();
    gather(
        &mut src,
        &[pid],
        &mut inputs,
        Duration::from_secs(1),
        |_, _| false,
    );
    for (p, t) in plain.iter().zip(&traced) {
        assert_eq!(p.len(), 64);
        assert!(p.iter().all(|l| l.starts_with("200 ")), "{p:?}");
        assert_eq!(p, t, "responses differ under probes");
    }
    assert!(
        server.0.id() > 0 && std::fs::metadata(format!("/proc/{pid}")).is_ok(),
        "server alive"
    );
    let seen: Vec<Seen> = exchanges(inputs).iter().map(Seen::of).collect();
    let recursed = seen
        .iter()
        .filter(|s| {
            s.path == "/recurse?depth=3000" && s.status == 200 && s.request_body.len() == 200_000
        })
        .count();
    assert_eq!(
        recursed, 128,
        "every traced request seen once at the server"
    );
    println!(
        "[{name}] 2 x 64 connections, stack-growing handler: identical responses, {recursed} exchanges"
    );
}

/// Log records, for the one-line check.
struct Lines(Mutex<Vec<String>>);
impl log::Log for Lines {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::Level::Warn
    }
    fn log(&self, r: &log::Record<'_>) {
        if let Ok(mut l) = self.0.lock() {
            l.push(r.args().to_string());
        }
    }
    fn flush(&self) {}
}
static LOG: Lines = Lines(Mutex::new(Vec::new()));

/// A copy of `bin` whose build information names `version` instead.
fn relabelled(bin: &Path, version: &str, dir: &Path) -> PathBuf {
    let mut bytes = std::fs::read(bin).unwrap();
    let magic = b"\xff Go buildinf:";
    let at = bytes
        .windows(magic.len())
        .position(|w| w == magic)
        .expect("buildinfo");
    let len = usize::from(bytes[at + 32]);
    assert_eq!(len, version.len(), "same length keeps the file's layout");
    bytes[at + 33..at + 33 + len].copy_from_slice(version.as_bytes());
    let out = dir.join(format!("relabelled-{version}"));
    std::fs::create_dir_all(&out).unwrap();
    let path = out.join("gotls");
    std::fs::write(&path, bytes).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    path
}

#[test]
fn an_unprobeable_go_program_is_reported_once_and_the_others_work() {
    let name = "go_unprobeable";
    let Some(_scenario) = Scenario::require(name, &["openssl"]) else {
        return;
    };
    let _ = log::set_logger(&LOG).map(|()| log::set_max_level(log::LevelFilter::Warn));
    let dir = tempfile::tempdir().unwrap();
    self_signed(dir.path()).expect("openssl req");
    let Some(bin) = one_binary(name, dir.path(), Some("1.24"), Mode::Stripped) else {
        return;
    };
    // Stripped (no DWARF) and naming releases cleartap cannot probe.
    let abi0 = relabelled(&bin.path, "go1.16.15", dir.path());
    let future = relabelled(&bin.path, "go1.99.99", dir.path());
    let (a, _) = go_server(&abi0, dir.path());
    let (f, _) = go_server(&future, dir.path());
    let (good, port) = go_server(&bin.path, dir.path());
    let Some(mut src) = source(name, &["gotls"], Duration::from_secs(3600)) else {
        return;
    };
    src.rescan();
    src.rescan();
    let lines: Vec<String> = LOG
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("cannot probe Go program"))
        .cloned()
        .collect();
    println!("[{name}] {lines:#?}");
    assert_eq!(lines.len(), 2, "one line per binary: {lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&abi0.display().to_string()) && l.contains("ABI0"))
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&future.display().to_string()) && l.contains("layout table"))
    );
    let counters = Counters::default();
    src.update_stats(&counters);
    assert_eq!(counters.gauge(Gauge::GoUnprobeable), Some(2));
    // The probeable one is captured.
    let (_, out) = go_client(
        &bin.path,
        &format!("https://127.0.0.1:{port}"),
        &["-proto", "h1"],
    );
    assert!(out[0].starts_with("200 "), "{out:?}");
    let mut inputs = Vec::new();
    let pid = good.0.id();
    gather(
        &mut src,
        &[pid],
        &mut inputs,
        Duration::from_secs(3),
        |_, got| got.len() >= 2,
    );
    let seen: Vec<Seen> = exchanges(inputs).iter().map(Seen::of).collect();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!((seen[0].path.as_str(), seen[0].status), ("/hello", 200));
    drop((a, f));
}
