//! Sockets opened before the capture started: addresses come from the
//! kernel's struct sock, the server side from the listening ports.
//! And the error a process without privileges gets.
#![cfg(feature = "bpf")]
#![allow(clippy::indexing_slicing, clippy::print_stdout)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use backend_ebpf::{EbpfConfig, EbpfSource, Error};
use capture_core::model::{CaptureSource, Direction, TrafficDirection};
use common::*;

const SERVER: &str = r#"
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0))
s.listen()
print(s.getsockname()[1], flush=True)
c, _ = s.accept()
# With a timeout python waits in poll() and calls recv() only when data is
# there: no recv is in flight when the capture starts (its entry would be missed).
c.settimeout(60)
while True:
    d = c.recv(65536)
    if not d:
        break
    c.sendall(b"echo:" + d)
# Stay alive (with the listener) until the test ends: the role of the old
# socket is looked up in the namespace's listening ports when its events are read.
sys.stdin.read()
"#;

const CLIENT: &str = r#"
import socket, sys
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
print(c.getsockname()[1], flush=True)
sys.stdin.readline()
c.sendall(b"ping-on-an-old-socket")
print(c.recv(100).decode(), flush=True)
c.close()
"#;

/// A Python `script` that prints the port it listens on, then serves: the
/// process (stdin kept open) and the port.
fn listening_script(script: &str) -> (Kid, u16) {
    let mut server = Kid(Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap());
    let mut line = String::new();
    BufReader::new(server.0.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    (server, line.trim().parse().unwrap())
}

#[test]
fn socket_opened_before_the_capture() {
    let name = "preexisting_socket";
    let Some(_scenario) = Scenario::require(name, &["python3"]) else {
        return;
    };
    let (server, port) = listening_script(SERVER);
    let mut client = Kid(Command::new("python3")
        .args(["-c", CLIENT, &port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap());
    let mut out = BufReader::new(client.0.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let client_port: u16 = line.trim().parse().unwrap();

    // The connection exists; only now does the capture start.
    let Some(mut src) = open(EbpfConfig::default(), name) else {
        return;
    };
    client.0.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    line.clear();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "echo:ping-on-an-old-socket");

    let (server_pid, client_pid) = (server.0.id(), client.0.id());
    let mut cap = Capture::default();
    poll_until(&mut src, &mut cap, Duration::from_secs(5), |c| {
        c.of_pid(server_pid).any(|g| contains(&g.data, b"echo:"))
            && c.of_pid(client_pid).any(|g| contains(&g.data, b"echo:"))
    });
    for (who, pid, traffic) in [
        ("client", client_pid, TrafficDirection::Outbound),
        ("server", server_pid, TrafficDirection::Inbound),
    ] {
        let chunks: Vec<_> = cap.of_pid(pid).collect();
        let req = chunks
            .iter()
            .find(|g| g.dir == Direction::ClientToServer)
            .unwrap_or_else(|| panic!("{who}: no request chunk: {chunks:?}"));
        assert_eq!(req.data, b"ping-on-an-old-socket", "{who}: {chunks:?}");
        assert_eq!(
            req.key.server.to_string(),
            format!("127.0.0.1:{port}"),
            "{who}"
        );
        assert_eq!(
            req.key.client.to_string(),
            format!("127.0.0.1:{client_port}"),
            "{who}"
        );
        assert_eq!(
            req.traffic,
            Some(traffic),
            "{who}: role from the listening port"
        );
        assert_eq!(req.source, CaptureSource::EbpfSyscall);
        let resp = chunks
            .iter()
            .find(|g| g.dir == Direction::ServerToClient)
            .expect("reply");
        assert_eq!(resp.data, b"echo:ping-on-an-old-socket", "{who}");
        println!("{who}: {:?} {:?}", req.key, req.traffic);
    }
}

/// Re-runs this test binary as user nobody: the source must refuse with the
/// error that says what to do.
#[test]
fn unprivileged_gets_a_clear_error() {
    let name = "unprivileged";
    if std::env::var_os("CLEARTAP_AS_NOBODY").is_some() {
        match EbpfSource::new(EbpfConfig::default()) {
            Err(e @ Error::Permission { .. }) => {
                let msg = e.to_string();
                assert!(
                    msg.contains("run as root or grant CAP_BPF and CAP_PERFMON"),
                    "{msg}"
                );
                println!("as nobody: {msg}");
            }
            Err(e) => panic!("unexpected error as nobody: {e}"),
            Ok(_) => panic!("loaded BPF programs without privileges"),
        }
        return;
    }
    let Some(_root) = RootScenario::require_bpf(name, &[]) else {
        return;
    };
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.args(["--exact", "unprivileged_gets_a_clear_error", "--nocapture"])
        .env("CLEARTAP_AS_NOBODY", "1");
    // SAFETY: setgid/setuid are async-signal-safe and touch no Rust state.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setgroups(0, std::ptr::null()) != 0
                || libc::setgid(65534) != 0
                || libc::setuid(65534) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    if text.contains("Permission denied") && !out.status.success() && !text.contains("as nobody") {
        eprintln!("SKIP {name}: nobody cannot run the test binary here: {text}");
        return;
    }
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("as nobody: permission denied"), "{text}");
}

/// BPF objects this process holds (programs, maps, links), by the kind
/// its file descriptors name (`anon_inode:bpf-prog`, …). Counting our own
/// descriptors, not the kernel's whole program list, keeps the test exact
/// while other programs load and unload BPF on the same machine.
fn own_bpf_fds(kind: &str) -> usize {
    std::fs::read_dir("/proc/self/fd")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter(|l| l.to_string_lossy() == format!("anon_inode:{kind}"))
        .count()
}

#[test]
fn dropping_the_source_unloads_everything() {
    let name = "load_unload";
    let Some(_scenario) = Scenario::require(name, &[]) else {
        return;
    };
    let before = (own_bpf_fds("bpf-prog"), own_bpf_fds("bpf_link"));
    let t0 = std::time::Instant::now();
    let Some(src) = open(EbpfConfig::default(), name) else {
        return;
    };
    let loaded = t0.elapsed();
    let during = (own_bpf_fds("bpf-prog"), own_bpf_fds("bpf_link"));
    assert!(
        during.0 > before.0 && during.1 > before.1,
        "programs loaded and attached: {before:?} -> {during:?}"
    );
    let t1 = std::time::Instant::now();
    drop(src);
    // Each detach waits for the kernel (RCU): dropping takes a few seconds.
    println!(
        "[{name}] load+attach {loaded:?} ({} programs, {} links), detach+unload {:?}",
        during.0 - before.0,
        during.1 - before.1,
        t1.elapsed()
    );
    assert_eq!(
        (own_bpf_fds("bpf-prog"), own_bpf_fds("bpf_link")),
        before,
        "every program and link released"
    );
}

const KILLED_CLIENT: &str = r#"
import os, signal, socket, sys
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
c.sendall(b"last words")
c.recv(100)
os.kill(os.getpid(), signal.SIGKILL)
"#;

const CLOSING_SERVER: &str = r#"
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen()
print(s.getsockname()[1], flush=True)
c, _ = s.accept()
while True:
    d = c.recv(65536)
    if not d:
        break
    c.sendall(b"ok")
c.close()
sys.stdin.read()
"#;

/// A process killed with SIGKILL never calls close(): the TCP close hook
/// (fentry, kprobe or the sock:inet_sock_set_state tracepoint) closes it.
#[test]
fn killed_process_socket_is_closed_by_the_tcp_hook() {
    let name = "killed_close";
    let Some(_scenario) = Scenario::require(name, &["python3"]) else {
        return;
    };
    let (_server, port) = listening_script(CLOSING_SERVER);
    let Some(mut src) = open(EbpfConfig::default(), name) else {
        return;
    };
    let (client_pid, _) = run(
        Command::new("python3").args(["-c", KILLED_CLIENT, &port.to_string()]),
        Duration::from_secs(10),
    );
    let mut cap = Capture::default();
    poll_until(&mut src, &mut cap, Duration::from_secs(5), |c| {
        c.closed.iter().any(|k| k.pid == Some(client_pid))
    });
    assert!(cap.of_pid(client_pid).any(|g| g.data == b"last words"));
    let closed = cap
        .closed
        .iter()
        .find(|k| k.pid == Some(client_pid))
        .expect("close seen for the killed client");
    assert_eq!(closed.server.port(), port);
    println!(
        "[{name}] closed {closed:?} via {:?}",
        src.program_plan().close_hook
    );
}
