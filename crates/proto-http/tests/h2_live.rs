//! Live HTTP/2: nghttpd serves h2c on 127.0.0.1; nghttp, h2load and curl
//! (prior knowledge) talk to it directly, while nghttp `-u` and curl
//! `--http2` upgrade from HTTP/1.1 through nghttpx (nghttpd cannot
//! upgrade), which forwards over h2 to nghttpd. tcpdump records the
//! loopback; the recording replayed through the pipeline must show every
//! request, by server port, path and count, answered 200 over HTTP/2.
//!
//! Needs root and the packages nghttp2-server, nghttp2-client,
//! nghttp2-proxy, curl and tcpdump; skips with a printed reason otherwise.

use std::collections::BTreeMap;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use capture_core::model::{Flag, Protocol};

mod file_replay;
use file_replay::replay;

/// Kills (SIGINT, then SIGKILL) the child it holds when dropped.
struct Running(Child);

impl Running {
    fn interrupt_and_wait(&mut self) {
        let _ = Command::new("kill")
            .arg("-INT")
            .arg(self.0.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn on_path(bin: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(bin).is_file()))
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
    })
}

fn wait_for_port(port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Runs a client to completion (at most 30 s); true if it succeeded.
fn client(args: &[&str]) -> bool {
    let ok = Command::new("timeout")
        .arg("30")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("client failed: {args:?}");
    }
    ok
}

#[test]
fn live_h2c_clients_are_all_seen() {
    if !is_root() {
        eprintln!("skipped: needs root for tcpdump on lo");
        return;
    }
    for bin in [
        "nghttpd", "nghttpx", "nghttp", "h2load", "curl", "tcpdump", "timeout", "kill",
    ] {
        if !on_path(bin) {
            eprintln!(
                "skipped: `{bin}` not found (packages nghttp2-server, nghttp2-client, \
                 nghttp2-proxy, curl, tcpdump)"
            );
            return;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let docroot = dir.path().join("htdocs");
    std::fs::create_dir(&docroot).unwrap();
    let paths = [
        "a.txt",
        "b.txt",
        "up.txt",
        "load.txt",
        "curl-pk.txt",
        "curl-up.txt",
    ];
    for p in paths {
        std::fs::write(docroot.join(p), format!("content of {p}\n")).unwrap();
    }
    let free_port = || {
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (port, front) = (free_port(), free_port());
    let pcap = dir.path().join("live.pcap");

    let mut tcpdump = Running(
        Command::new("tcpdump")
            .args(["-i", "lo", "-U", "-s", "0", "-w"])
            .arg(&pcap)
            .arg(format!("tcp port {port} or tcp port {front}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // tcpdump writes the file header once it listens.
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::metadata(&pcap).map_or(0, |m| m.len()) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let mut server = Running(
        Command::new("nghttpd")
            .args(["--no-tls", "-d"])
            .arg(&docroot)
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut proxy = Running(
        Command::new("nghttpx")
            .arg(format!("--frontend=127.0.0.1,{front};no-tls"))
            .arg(format!("--backend=127.0.0.1,{port};;proto=h2"))
            .args([
                "--workers=1",
                "--conf=/dev/null",
                "--errorlog-file=/dev/null",
            ])
            .arg(format!(
                "--pid-file={}",
                dir.path().join("nghttpx.pid").display()
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(wait_for_port(port), "nghttpd did not listen on {port}");
    assert!(wait_for_port(front), "nghttpx did not listen on {front}");
    let url = |p: &str| format!("http://127.0.0.1:{port}/{p}");
    let up = |p: &str| format!("http://127.0.0.1:{front}/{p}");
    let load_requests = 24;
    let ran = [
        client(&["nghttp", "-n", &url("a.txt"), &url("b.txt")]),
        client(&["nghttp", "-n", "-u", &up("up.txt")]),
        client(&[
            "h2load",
            "-n",
            &load_requests.to_string(),
            "-c",
            "2",
            "-m",
            "4",
            &url("load.txt"),
        ]),
        client(&[
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "--http2-prior-knowledge",
            &url("curl-pk.txt"),
        ]),
        client(&[
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "--http2",
            &up("curl-up.txt"),
        ]),
    ];
    proxy.interrupt_and_wait();
    server.interrupt_and_wait();
    // On a busy machine tcpdump lags: wait until the file stops growing.
    let (mut last, mut stable_since) = (0, Instant::now());
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && stable_since.elapsed() < Duration::from_millis(700) {
        let len = std::fs::metadata(&pcap).map_or(0, |m| m.len());
        if len != last {
            (last, stable_since) = (len, Instant::now());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    tcpdump.interrupt_and_wait();
    assert!(ran.iter().all(|r| *r), "a client failed: {ran:?}");

    // Kept for inspection when the test fails.
    let kept = std::env::temp_dir().join("cleartap-h2-live.pcap");
    let _ = std::fs::copy(&pcap, &kept);
    let (exchanges, _) = replay(&pcap);
    let mut seen: BTreeMap<(u16, String), (usize, usize)> = BTreeMap::new();
    for e in &exchanges {
        let (Some(req), Some(resp)) = (&e.request, &e.response) else {
            eprintln!("incomplete exchange: {e:?}");
            continue;
        };
        assert!(
            !e.has_flag(Flag::HeadersUnknown) && !e.has_flag(Flag::Malformed),
            "{e:?}"
        );
        let path = req.path().to_string().trim_start_matches('/').to_owned();
        let entry = seen.entry((e.conn.server.port(), path)).or_default();
        entry.0 += 1;
        if resp.status == 200 && matches!(e.protocol, Protocol::H2) {
            entry.1 += 1;
        }
    }
    eprintln!("seen (requests, 200 over h2) by server port and path: {seen:?} (capture: {kept:?})");
    let want = [
        (port, "a.txt", 1),
        (port, "b.txt", 1),
        (port, "load.txt", load_requests),
        (port, "curl-pk.txt", 1),
        // Upgraded at the proxy, then forwarded over h2 to nghttpd.
        (front, "up.txt", 1),
        (front, "curl-up.txt", 1),
        (port, "up.txt", 1),
        (port, "curl-up.txt", 1),
    ];
    for (p, path, n) in want {
        assert_eq!(
            seen.get(&(p, path.to_owned())),
            Some(&(n, n)),
            "{p} {path}: {seen:?}"
        );
    }
    assert_eq!(seen.len(), want.len(), "nothing else: {seen:?}");
}
