//! Helpers shared by the root integration tests.
#![allow(
    dead_code,
    clippy::indexing_slicing,
    clippy::print_stdout,
    unreachable_pub
)]

pub mod browser;
pub mod go;
pub mod tls_programs;

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use backend_ebpf::{EbpfConfig, EbpfSource, Error};
use capture_core::model::{CaptureSource, ConnKey, Direction, Input, TlsLibrary, TrafficDirection};
use capture_core::stage::Source;
use capture_core::stats::Counters;
pub use capture_core::testkit::RootScenario;
use capture_core::testkit::filled_config;

/// A chunk, owned.
#[derive(Clone, Debug)]
pub struct Got {
    pub key: ConnKey,
    pub dir: Direction,
    pub offset: u64,
    pub data: Vec<u8>,
    pub source: CaptureSource,
    pub tls_library: Option<TlsLibrary>,
    pub comm: String,
    pub traffic: Option<TrafficDirection>,
}

/// Everything a source handed out.
#[derive(Default, Debug)]
pub struct Capture {
    pub chunks: Vec<Got>,
    pub closed: Vec<ConnKey>,
}

impl Capture {
    /// Chunks of one process.
    pub fn of_pid(&self, pid: u32) -> impl Iterator<Item = &Got> {
        self.chunks.iter().filter(move |c| c.key.pid == Some(pid))
    }

    /// Per (key, dir, source): the bytes reassembled by offset, and the
    /// missing ranges (start, len).
    pub fn streams(&self) -> HashMap<(String, Direction, CaptureSource), Stream> {
        let mut out: HashMap<(String, Direction, CaptureSource), Stream> = HashMap::new();
        for c in &self.chunks {
            let s = out
                .entry((format!("{:?}", c.key), c.dir, c.source))
                .or_default();
            s.key = Some(c.key);
            s.pieces.push((c.offset, c.data.clone()));
        }
        for s in out.values_mut() {
            s.pieces.sort_by_key(|p| p.0);
        }
        out
    }

    /// A stream of `pid` in direction `dir`, from `source` when given.
    pub fn stream_of(
        &self,
        pid: u32,
        dir: Direction,
        source: Option<CaptureSource>,
    ) -> Option<Stream> {
        self.streams()
            .into_iter()
            .find(|((_, d, src), s)| {
                *d == dir
                    && source.is_none_or(|want| want == *src)
                    && s.key.is_some_and(|k| k.pid == Some(pid))
            })
            .map(|(_, s)| s)
    }

    /// The plaintext TLS request and response streams of `pid`; panics
    /// naming `who`, with the process's chunks, when one is missing.
    pub fn tls_pair(&self, pid: u32, who: &str) -> (Stream, Stream) {
        let tls = Some(CaptureSource::EbpfTls);
        let find = |dir| {
            self.stream_of(pid, dir, tls).unwrap_or_else(|| {
                panic!(
                    "{who}: no TLS {dir:?} stream; chunks of pid: {:?}",
                    self.of_pid(pid).collect::<Vec<_>>()
                )
            })
        };
        (
            find(Direction::ClientToServer),
            find(Direction::ServerToClient),
        )
    }
}

#[derive(Default, Debug)]
pub struct Stream {
    pub key: Option<ConnKey>,
    pub pieces: Vec<(u64, Vec<u8>)>,
}

impl Stream {
    /// The bytes in order, and the gaps (offset, len) between pieces.
    pub fn assemble(&self) -> (Vec<u8>, Vec<(u64, u64)>) {
        let mut bytes = Vec::new();
        let mut gaps = Vec::new();
        let mut at = self.pieces.first().map_or(0, |p| p.0);
        for (off, data) in &self.pieces {
            if *off > at {
                gaps.push((at, off - at));
            }
            assert!(*off >= at, "overlapping chunks at {off} (expected {at})");
            bytes.extend_from_slice(data);
            at = off + data.len() as u64;
        }
        (bytes, gaps)
    }
}

/// One root eBPF test, held for its whole run: `None`, with the reason
/// printed, without root, the kernel's BTF or one of `tools`; while it
/// lives no other test of this binary loads BPF programs (they would see
/// each other's traffic).
pub struct Scenario {
    _root: RootScenario,
    _serial: std::sync::MutexGuard<'static, ()>,
}

impl Scenario {
    pub fn require(name: &str, tools: &[&str]) -> Option<Self> {
        let root = RootScenario::require_bpf(name, tools)?;
        Some(Self {
            _root: root,
            _serial: serial(),
        })
    }
}

/// Only one test at a time loads BPF programs (they see each other's traffic otherwise).
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn open(cfg: EbpfConfig, name: &str) -> Option<EbpfSource> {
    match EbpfSource::new(cfg) {
        Ok(s) => {
            let plan = s.program_plan();
            for (prog, why) in &plan.skipped {
                eprintln!("[{name}] skipped BPF program {prog}: {why}");
            }
            eprintln!(
                "[{name}] kernel features: {:?}; close hook: {:?}",
                s.kernel_features(),
                plan.close_hook
            );
            for t in s.attached() {
                eprintln!("[{name}] TLS probes on {t}");
            }
            Some(s)
        }
        Err(e @ (Error::Permission { .. } | Error::NoBtf | Error::NoRingBuffer)) => {
            eprintln!("SKIP {name}: {e}");
            None
        }
        Err(e) => panic!("{name}: cannot start the eBPF source: {e}"),
    }
}

/// Polls until `done` says so or `limit` passes.
pub fn poll_until(
    src: &mut EbpfSource,
    cap: &mut Capture,
    limit: Duration,
    mut done: impl FnMut(&Capture) -> bool,
) -> Counters {
    let counters = Counters::default();
    let end = Instant::now() + limit;
    while Instant::now() < end {
        src.poll(
            &mut |i: Input<'_>| match i {
                Input::Chunk(c) => cap.chunks.push(Got {
                    key: c.key,
                    dir: c.dir,
                    offset: c.offset,
                    data: c.data.to_vec(),
                    source: c.source,
                    tls_library: c.tls_library,
                    comm: c.comm.map(|c| c.to_string_lossy()).unwrap_or_default(),
                    traffic: c.traffic,
                }),
                Input::Closed { key, .. } => cap.closed.push(key),
                _ => {}
            },
            &counters,
        )
        .expect("poll");
        if done(cap) {
            break;
        }
    }
    src.update_stats(&counters);
    counters
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn wait_port(port: u16, limit: Duration) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// python's `http.server` serving the files of `dir` on a free port of
/// `ip` (a loopback address), once it accepts connections: the port and
/// the process.
pub fn python_file_server(dir: &Path, ip: std::net::IpAddr) -> (u16, Kid) {
    let port = TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = Kid(Command::new("python3")
        .args(["-m", "http.server", &port.to_string(), "--bind"])
        .arg(ip.to_string())
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap());
    let end = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect((ip, port)).is_err() {
        assert!(Instant::now() < end, "http.server did not start on {ip}");
        std::thread::sleep(Duration::from_millis(50));
    }
    (port, server)
}

/// A child killed on drop.
pub struct Kid(pub Child);

impl Kid {
    /// Starts `cmd` (output discarded) and waits until it accepts
    /// connections on loopback `port`, for at most `limit`.
    pub fn serving(cmd: &mut Command, port: u16, limit: Duration) -> Kid {
        let what = cmd.get_program().to_string_lossy().into_owned();
        let kid = Kid(cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{what}: {e}")));
        assert!(wait_port(port, limit), "{what} did not start");
        kid
    }
}
impl Drop for Kid {
    fn drop(&mut self) {
        // SIGTERM first: nginx's master then stops its workers too.
        let pid = i32::try_from(self.0.id()).unwrap_or(0);
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        for _ in 0..40 {
            if self.0.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

pub fn count(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

/// Runs a command to completion with a timeout, returning (pid, stdout).
pub fn run(cmd: &mut Command, limit: Duration) -> (u32, Vec<u8>) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    let end = Instant::now() + limit;
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if Instant::now() > end {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    (pid, out.stdout)
}

/// A self-signed certificate and key in `dir` (openssl), as (cert, key).
pub fn self_signed(dir: &Path) -> Option<(std::path::PathBuf, std::path::PathBuf)> {
    Some(capture_core::testkit::self_signed(dir, "localhost"))
}

/// nginx on a free loopback port, configured by `testdata/nginx/<conf>`
/// (`root`: the files it serves, where the configuration has them), with
/// the self-signed certificate in `dir` (made if absent), once it accepts
/// connections: the port and the master process.
pub fn nginx(dir: &Path, conf: &str, root: &Path) -> (u16, Kid) {
    let (cert, key) = match (dir.join("cert.pem"), dir.join("key.pem")) {
        (c, k) if c.exists() && k.exists() => (c, k),
        _ => self_signed(dir).expect("openssl req"),
    };
    let port = free_port();
    let text = filled_config(
        &format!("nginx/{conf}"),
        &[
            ("dir", dir.display().to_string()),
            ("port", port.to_string()),
            ("cert", cert.display().to_string()),
            ("key", key.display().to_string()),
            ("root", root.display().to_string()),
        ],
    );
    let conf_path = dir.join(conf);
    std::fs::write(&conf_path, text).unwrap();
    let kid = Kid::serving(
        Command::new("nginx")
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&conf_path)
            .arg("-e")
            .arg(dir.join("error.log")),
        port,
        Duration::from_secs(10),
    );
    (port, kid)
}

/// The pids of processes named `comm` whose parent is `ppid`.
pub fn children_named(ppid: u32, comm: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        let parent: u32 = rest
            .split(' ')
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        let name = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if parent == ppid && name.trim_end() == comm {
            out.push(pid);
        }
    }
    out
}

/// Asserts that no chunk of `pid` looks like TLS ciphertext, and returns
/// how many syscall chunks `pid` has on `port`.
pub fn assert_no_ciphertext(cap: &Capture, pid: u32, port: u16) -> usize {
    let mut syscall = 0;
    for g in cap
        .of_pid(pid)
        .filter(|g| g.key.server.port() == port || g.key.client.port() == port)
    {
        if g.offset == 0 {
            let head = g.data.get(..3).unwrap_or_default();
            assert!(
                !(head.len() == 3 && (0x14..=0x17).contains(&head[0]) && head[1] == 3),
                "pid {pid}: TLS record emitted as plaintext: {:?}",
                &g.data[..g.data.len().min(16)]
            );
        }
        if g.source == CaptureSource::EbpfSyscall {
            syscall += 1;
        }
    }
    syscall
}

pub const PY_SERVER: &str = r#"
import http.server, ssl, sys
port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = b"hello from python tls\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_POST(self):
        n = int(self.headers["Content-Length"])
        data = self.rfile.read(n)
        body = open(sys.argv[5], "rb").read() if len(sys.argv) > 5 else b"got %d\n" % len(data)
        if len(sys.argv) > 4:
            open(sys.argv[4], "wb").write(data)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv = http.server.HTTPServer(("127.0.0.1", port), H)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
"#;

pub const PY_CLIENT: &str = r#"
import http.client, ssl, sys
port = int(sys.argv[1])
ctx = ssl._create_unverified_context()
c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx)
if len(sys.argv) > 2:
    body = open(sys.argv[2], "rb").read()
    c.request("POST", "/big", body=body, headers={"Content-Type": "application/octet-stream"})
else:
    c.request("GET", "/py", headers={"X-Test": "python"})
r = c.getresponse()
data = r.read()
sys.stdout.buffer.write(data[:64])
"#;

/// `PY_SERVER` with a fresh self-signed certificate in `dir`, on a free
/// loopback port, once it accepts connections: the port and the process.
pub fn listening_python_server(dir: &Path, extra: &[&Path]) -> (u16, Kid) {
    self_signed(dir).expect("openssl req");
    let port = free_port();
    let server = python_server(dir, port, extra);
    assert!(
        wait_port(port, Duration::from_secs(10)),
        "python server did not start"
    );
    (port, server)
}

pub fn python_server(dir: &std::path::Path, port: u16, extra: &[&std::path::Path]) -> Kid {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let script = dir.join("server.py");
    std::fs::write(&script, PY_SERVER).unwrap();
    let mut cmd = Command::new("python3");
    cmd.arg(&script).arg(port.to_string()).arg(&cert).arg(&key);
    for e in extra {
        cmd.arg(e);
    }
    Kid(cmd
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap())
}
