//! Go programs for the Go TLS tests: the toolchains (installed by
//! scripts/go-toolchains.sh), the test program tests/go/gotls built with
//! each in each mode, and the HTTP exchanges a capture yields.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use capture_core::Limits;
use capture_core::model::{
    CaptureSource, Comm, ConnKey, Direction, Exchange, Input, StreamChunk, Timestamp, TlsLibrary,
    TrafficDirection,
};
use capture_core::pipeline::Pipeline;
use capture_core::sink::MemorySink;
use capture_core::stage::{InputSink, Poll, Source, SourceError};
use capture_core::stats::Counters;
use proto_http::h2::H2Config;
use proto_http::{HttpConfig, HttpProtocol};

/// How a test binary is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `go build`: symbols and DWARF.
    Normal,
    /// `-ldflags=-s -w`: no symbol table, no DWARF.
    Stripped,
    /// `-buildmode=pie`.
    Pie,
}

impl Mode {
    pub const ALL: [Mode; 3] = [Mode::Normal, Mode::Stripped, Mode::Pie];
    fn flags(self) -> &'static [&'static str] {
        match self {
            Mode::Normal => &[],
            Mode::Stripped => &["-ldflags=-s -w"],
            Mode::Pie => &["-buildmode=pie"],
        }
    }
}

/// A built test program.
#[derive(Clone, Debug)]
pub struct GoBinary {
    pub version: String,
    pub mode: Mode,
    pub path: PathBuf,
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// (version, GOROOT) of every toolchain, installing the missing ones;
/// `None` (with the reason printed) when the script fails.
pub fn toolchains(test: &str) -> Option<Vec<(String, PathBuf)>> {
    let out = Command::new(repo().join("scripts/go-toolchains.sh"))
        .stderr(Stdio::inherit())
        .output();
    match out {
        Ok(o) if o.status.success() => Some(
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter_map(|l| {
                    let (v, root) = l.split_once(' ')?;
                    Some((v.to_owned(), PathBuf::from(root)))
                })
                .collect(),
        ),
        other => {
            eprintln!("SKIP {test}: scripts/go-toolchains.sh failed: {other:?}");
            None
        }
    }
}

/// Builds tests/go/gotls with the toolchain at `goroot` into
/// `dir/<version>-<mode>/gotls` (named gotls: the tests filter on that
/// process name). The build cache is per toolchain, kept between runs.
pub fn build(version: &str, goroot: &Path, mode: Mode, dir: &Path) -> Result<GoBinary, String> {
    let out = dir.join(format!("{version}-{mode:?}"));
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    let path = out.join("gotls");
    let cache = std::env::var_os("CLEARTAP_GO_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/cleartap/go")))
        .unwrap_or_else(std::env::temp_dir)
        .join(format!("build-{version}"));
    let status = Command::new(goroot.join("bin/go"))
        .arg("build")
        .args(mode.flags())
        .arg("-o")
        .arg(&path)
        .arg("main.go")
        .current_dir(repo().join("crates/backend-ebpf/tests/go/gotls"))
        .env("GO111MODULE", "off")
        .env("GOFLAGS", "")
        .env("GOCACHE", cache)
        .env("GOROOT", goroot)
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("go {version}: {e}"))?;
    if !status.success() {
        return Err(format!("go {version} build {mode:?} failed: {status}"));
    }
    Ok(GoBinary {
        version: version.to_owned(),
        mode,
        path,
    })
}

/// Builds every (toolchain, mode) on `jobs` threads; the binaries arrive
/// on the channel as they are done, normal builds first (the others reuse
/// their compiled packages).
pub fn build_all(
    toolchains: Vec<(String, PathBuf)>,
    modes: &[Mode],
    dir: &Path,
    jobs: usize,
) -> mpsc::Receiver<Result<GoBinary, String>> {
    let mut work: Vec<(String, PathBuf, Mode)> = Vec::new();
    for mode in modes {
        for (v, root) in &toolchains {
            work.push((v.clone(), root.clone(), *mode));
        }
    }
    let work = Arc::new(Mutex::new(work.into_iter()));
    let (tx, rx) = mpsc::channel();
    for _ in 0..jobs {
        let (work, tx, dir) = (work.clone(), tx.clone(), dir.to_owned());
        std::thread::spawn(move || {
            loop {
                let next = work.lock().map(|mut w| w.next()).ok().flatten();
                let Some((v, root, mode)) = next else { break };
                if tx.send(build(&v, &root, mode, &dir)).is_err() {
                    break;
                }
            }
        });
    }
    rx
}

/// An input, owned.
#[derive(Clone, Debug)]
pub enum Owned {
    Chunk {
        ts: Timestamp,
        key: ConnKey,
        dir: Direction,
        offset: u64,
        data: Vec<u8>,
        source: CaptureSource,
        tls_library: Option<TlsLibrary>,
        comm: Option<Comm>,
        traffic: Option<TrafficDirection>,
    },
    Closed {
        ts: Timestamp,
        key: ConnKey,
    },
}

impl Owned {
    pub fn of(input: &Input<'_>) -> Option<Self> {
        match input {
            Input::Chunk(c) => Some(Owned::Chunk {
                ts: c.ts,
                key: c.key,
                dir: c.dir,
                offset: c.offset,
                data: c.data.to_vec(),
                source: c.source,
                tls_library: c.tls_library,
                comm: c.comm,
                traffic: c.traffic,
            }),
            Input::Closed { ts, key } => Some(Owned::Closed { ts: *ts, key: *key }),
            _ => None,
        }
    }

    /// A chunk a source handed out, replayed as if it came at time zero
    /// and without its comm.
    pub fn chunk(g: &super::Got) -> Self {
        Owned::Chunk {
            ts: Timestamp::default(),
            key: g.key,
            dir: g.dir,
            offset: g.offset,
            data: g.data.clone(),
            source: g.source,
            tls_library: g.tls_library,
            comm: None,
            traffic: g.traffic,
        }
    }

    pub fn pid(&self) -> Option<u32> {
        match self {
            Owned::Chunk { key, .. } | Owned::Closed { key, .. } => key.pid,
        }
    }
}

/// Hands recorded inputs to a pipeline once, then finishes.
struct Replay(Vec<Owned>);

impl Source for Replay {
    fn poll(&mut self, out: &mut dyn InputSink, _: &Counters) -> Result<Poll, SourceError> {
        for o in std::mem::take(&mut self.0) {
            match &o {
                Owned::Chunk {
                    ts,
                    key,
                    dir,
                    offset,
                    data,
                    source,
                    tls_library,
                    comm,
                    traffic,
                } => out.input(Input::Chunk(StreamChunk {
                    ts: *ts,
                    key: *key,
                    dir: *dir,
                    offset: *offset,
                    data,
                    source: *source,
                    tls_library: *tls_library,
                    comm: *comm,
                    traffic: *traffic,
                })),
                Owned::Closed { ts, key } => out.input(Input::Closed { ts: *ts, key: *key }),
            }
        }
        Ok(Poll::Finished)
    }
    fn is_live(&self) -> bool {
        false
    }
}

/// The HTTP exchanges in recorded inputs: the reassembler and HTTP parsers
/// of a real pipeline, bodies kept up to 8 MiB.
pub fn exchanges(inputs: Vec<Owned>) -> Vec<Exchange> {
    let sink = MemorySink::new(100_000);
    let protocol = HttpProtocol::new(HttpConfig {
        body_limit: 8 << 20,
        h2: H2Config {
            body_limit: 8 << 20,
            stream_data_limit: 16 << 20,
            ..H2Config::default()
        },
        ..HttpConfig::default()
    });
    let limits = Limits {
        inactivity_timeout: Duration::from_secs(3600),
        ..Limits::default()
    };
    Pipeline::builder(protocol)
        .workers(1)
        .limits(limits)
        .source(Replay(inputs))
        .sink(sink.clone())
        .build()
        .expect("pipeline")
        .run()
        .expect("pipeline run");
    sink.drain()
}

/// What the tests check of an exchange (the one place that reads
/// Exchange's fields).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub protocol: String,
    pub source: CaptureSource,
    pub tls_library: Option<TlsLibrary>,
    pub direction: Option<TrafficDirection>,
    pub pid: Option<u32>,
    pub client: String,
    pub server: String,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub request_body: Vec<u8>,
    pub response_body: Vec<u8>,
    pub flags: Vec<String>,
}

impl Seen {
    pub fn of(ex: &Exchange) -> Self {
        let (method, path, request_body) = ex.request.as_ref().map_or_else(Default::default, |r| {
            (
                r.method().to_string(),
                r.path().to_string(),
                r.body.data.to_vec(),
            )
        });
        let (status, response_body) = ex
            .response
            .as_ref()
            .map_or((0, Vec::new()), |r| (r.status, r.body.data.to_vec()));
        Self {
            protocol: ex.protocol.as_str().to_owned(),
            source: ex.source,
            tls_library: ex.tls_library,
            direction: ex.direction,
            pid: ex.conn.pid,
            client: ex.conn.client.to_string(),
            server: ex.conn.server.to_string(),
            method,
            path,
            status,
            request_body,
            response_body,
            flags: ex.flags.iter().map(|f| f.as_str().to_owned()).collect(),
        }
    }
}

/// pattern(n) of the Go program: byte i is (i*7+3) mod 251.
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| ((i * 7 + 3) % 251) as u8).collect()
}

/// Lowercase hex SHA-256 of `data`, as the Go program prints it (sha256sum).
pub fn sha256_hex(data: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sha256sum");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(data)
        .expect("write");
    let out = child.wait_with_output().expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}
