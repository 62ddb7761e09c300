//! What the metrics tests share: the example binaries, child processes
//! stopped by pid, a real Prometheus, and headless Chromium.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::print_stdout,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process, killed (by its pid) and reaped when dropped.
pub struct Kid(pub Child);

impl Drop for Kid {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An example binary built with the tests (`cargo test` builds examples).
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    // target/<profile>/deps/<test> → target/<profile>/examples/<name>
    let profile = exe.parent().and_then(Path::parent).expect("target dir");
    profile.join("examples").join(name)
}

/// The example binary `name` when it was built, or `None` with the reason
/// printed: `cargo test --test X` alone builds no examples, and some need
/// features (CI builds them all with `--all-features`).
pub fn built_example(name: &str) -> Option<PathBuf> {
    let exe = example(name);
    if exe.is_file() {
        Some(exe)
    } else {
        println!(
            "SKIP: examples/{name} is not built (`cargo test --workspace --all-features` builds it; CI does)"
        );
        None
    }
}

/// A capture from `../shared/pcaps`, or `None` with the reason printed.
pub fn shared_pcap(name: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/pcaps")
        .join(name);
    if p.is_file() {
        Some(p)
    } else {
        println!(
            "SKIP: {} is absent (captures from other projects live in ../shared/pcaps)",
            p.display()
        );
        None
    }
}

/// True when `tool` is on the PATH; prints the reason to skip otherwise.
pub fn have(tool: &str) -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()));
    if !found {
        println!("SKIP: {tool} is not installed (scripts/install-deps.sh installs it)");
    }
    found
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// `curl -s URL` with extra arguments; the body.
pub fn curl(url: &str, extra: &[&str]) -> Option<String> {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "10"])
        .args(extra)
        .arg(url)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A collector example started with `--metrics 127.0.0.1:0`: the process,
/// the address it serves metrics on, and the rest of its stderr.
pub struct Collector {
    pub kid: Kid,
    pub addr: SocketAddr,
    pub stderr: BufReader<ChildStderr>,
}

impl Collector {
    pub fn start(cmd: &mut Command) -> Collector {
        let mut child = cmd
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
        let kid = Kid(child);
        let mut line = String::new();
        loop {
            line.clear();
            if stderr.read_line(&mut line).unwrap_or(0) == 0 {
                panic!("{cmd:?} ended without serving metrics");
            }
            eprint!("collector: {line}");
            if let Some(rest) = line.split("metrics at http://").nth(1) {
                let addr = rest.split('/').next().unwrap_or_default();
                return Collector {
                    kid,
                    addr: addr.parse().expect("metrics address"),
                    stderr,
                };
            }
        }
    }

    /// Reads stderr until a line contains `needle`; returns that line.
    pub fn wait_line(&mut self, needle: &str) -> String {
        let mut line = String::new();
        loop {
            line.clear();
            if self.stderr.read_line(&mut line).unwrap_or(0) == 0 {
                panic!("collector ended before printing {needle:?}");
            }
            eprint!("collector: {line}");
            if line.contains(needle) {
                return line;
            }
        }
    }

    pub fn metrics_text(&self) -> String {
        curl(&format!("http://{}/metrics", self.addr), &[]).expect("GET /metrics")
    }
}

/// A real Prometheus server scraping one target every second, with its
/// data in a temporary directory.
pub struct Prometheus {
    pub kid: Kid,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    pub fn start(target: SocketAddr) -> Prometheus {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: cleartap\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .expect("prometheus.yml");
        let port = free_port();
        let kid = Kid(Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus"));
        Prometheus {
            kid,
            port,
            _dir: dir,
        }
    }

    /// An instant query: each series' labels and value.
    pub fn query(&self, expr: &str) -> Vec<(BTreeMap<String, String>, f64)> {
        let url = format!("http://127.0.0.1:{}/api/v1/query", self.port);
        let Some(body) = curl(&url, &["--data-urlencode", &format!("query={expr}")]) else {
            return Vec::new();
        };
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        v["data"]["result"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|r| {
                        let labels = r["metric"]
                            .as_object()
                            .map(|m| {
                                m.iter()
                                    .map(|(k, v)| {
                                        (k.clone(), v.as_str().unwrap_or_default().to_owned())
                                    })
                                    .collect()
                            })
                            .unwrap_or_default();
                        let value = r["value"][1]
                            .as_str()
                            .and_then(|s| s.parse().ok())
                            .unwrap_or(f64::NAN);
                        (labels, value)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits until `expr` returns a series whose value is `want`; returns the last result.
    pub fn wait_value(
        &self,
        expr: &str,
        want: f64,
        timeout: Duration,
    ) -> Vec<(BTreeMap<String, String>, f64)> {
        let deadline = Instant::now() + timeout;
        loop {
            let r = self.query(expr);
            if r.iter().any(|(_, v)| *v == want) || Instant::now() > deadline {
                return r;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

/// Headless Chromium with a fresh profile: the page's DOM after its
/// scripts ran, and a screenshot.
pub fn chromium(page: &Path, screenshot: &Path) -> String {
    let profile = tempfile::tempdir().expect("profile dir");
    let base = |cmd: &mut Command| {
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--window-size=1200,900",
            "--virtual-time-budget=10000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .stderr(Stdio::null());
    };
    let url = format!("file://{}", page.display());
    let mut shot = Command::new("chromium");
    base(&mut shot);
    let status = shot
        .arg(format!("--screenshot={}", screenshot.display()))
        .arg(&url)
        .stdout(Stdio::null())
        .status()
        .expect("chromium");
    assert!(status.success(), "chromium screenshot failed");
    let mut dump = Command::new("chromium");
    base(&mut dump);
    let out = dump.arg("--dump-dom").arg(&url).output().expect("chromium");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Where tests keep what a person may want to look at: `target/test-artifacts`.
pub fn artifacts_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let target = exe
        .parent()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .expect("target dir");
    let dir = target.join("test-artifacts");
    std::fs::create_dir_all(&dir).expect("artifacts dir");
    dir
}

/// Per status class, the records' exchanges (as `cleartap_http_requests_total` counts them).
pub fn status_classes(records: &[serde_json::Value]) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for r in records {
        let class = match r["response"]["status"].as_u64() {
            None => "none".to_owned(),
            Some(s @ 100..=599) => format!("{}xx", s / 100),
            Some(_) => "other".to_owned(),
        };
        *m.entry(class).or_default() += 1;
    }
    m
}

pub fn read_records(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .expect("records")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("JSON record"))
        .collect()
}
