//! Pods made of network namespaces for the live-capture tests, built by
//! scripts/pod-scenario.sh and torn down by a Drop guard even on failure.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::indexing_slicing,
    clippy::print_stdout
)]

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use capture_core::model::NetnsId;
use capture_core::testkit::RootScenario;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/pod-scenario.sh")
}

/// Runs the scenario script; panics with its output on failure.
fn run_script(args: &[&str]) -> String {
    let out = Command::new("bash")
        .arg(script())
        .args(args)
        .output()
        .expect("run pod-scenario.sh");
    assert!(
        out.status.success(),
        "pod-scenario.sh {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A pod: its namespace name, IP and namespace inode.
#[derive(Clone, Debug)]
pub struct Pod {
    /// `ip netns` name.
    pub ns: String,
    /// The proxy's address (INSTANCE_IP).
    pub ip: String,
    /// The namespace's inode.
    pub netns: NetnsId,
}

/// The namespaces of one test; everything is removed on drop.
pub struct Scenario {
    work: PathBuf,
    tag: String,
    base: u32,
    pods: Mutex<Vec<String>>,
    bridges: Mutex<Vec<String>>,
}

/// Index blocks taken by the tests of this process, so that tests running
/// in parallel never share addresses or interface names.
static TAKEN: Mutex<Vec<u32>> = Mutex::new(Vec::new());

impl Scenario {
    /// [`Scenario::new`] once root and `tools` are there; `None`, with the
    /// reason printed, otherwise ([`RootScenario::require`]).
    pub fn require(tag: &str, tools: &[&str]) -> Option<Self> {
        RootScenario::require(tools)?;
        Some(Self::new(tag))
    }

    /// A scenario named `tag` (unique per test), with up to 5 pods.
    pub fn new(tag: &str) -> Self {
        let pid = std::process::id();
        // 10.231.INDEX.0/24 with INDEX in 1..=250, 5 per test, on a block
        // whose host interfaces do not exist yet (left over or in use).
        let base = {
            let mut taken = TAKEN.lock().unwrap();
            let free = |b: u32| {
                !taken.contains(&b)
                    && (b..b + 5).all(|i| !Path::new(&format!("/sys/class/net/ctp{i}h")).exists())
            };
            let start = pid % 50;
            let base = (0..50)
                .map(|k| 1 + ((start + k) % 50) * 5)
                .find(|&b| free(b))
                .expect("a free block of 10.231.X.0/24 subnets");
            taken.push(base);
            base
        };
        let work = std::env::temp_dir().join(format!("ctp-{pid}-{tag}"));
        std::fs::create_dir_all(&work).unwrap();
        Self {
            work,
            tag: format!("ctp-{pid}-{tag}"),
            base,
            pods: Mutex::new(Vec::new()),
            bridges: Mutex::new(Vec::new()),
        }
    }

    /// Starts pod number `n` (0..5): a namespace with an echo app on
    /// 127.0.0.1:8080 and a TLS proxy named `envoy` on its IP.
    pub fn pod(&self, n: u32) -> Pod {
        assert!(n < 5);
        let ns = format!("{}-{n}", self.tag);
        self.pods.lock().unwrap().push(ns.clone());
        let index = (self.base + n).to_string();
        let ip = run_script(&["up", &ns, &index, self.work.to_str().unwrap()]);
        let netns = netns_inode(&ns);
        Pod { ns, ip, netns }
    }

    /// Removes a pod: kills its processes, deletes its namespace.
    pub fn delete(&self, pod: &Pod) {
        run_script(&["down", &pod.ns, self.work.to_str().unwrap()]);
        self.pods.lock().unwrap().retain(|p| p != &pod.ns);
    }

    /// Builds the bridge scenario: returns (prefix, server IP).
    pub fn bridge(&self) -> (String, String) {
        let prefix = format!("{}-br", self.tag);
        self.bridges.lock().unwrap().push(prefix.clone());
        let index = self.base.to_string();
        let ip = run_script(&["bridge-up", &prefix, &index, self.work.to_str().unwrap()]);
        (prefix, ip)
    }
}

impl Drop for Scenario {
    fn drop(&mut self) {
        let work = self.work.to_str().unwrap_or_default().to_owned();
        for ns in self.pods.lock().map(|v| v.clone()).unwrap_or_default() {
            let _ = Command::new("bash")
                .arg(script())
                .args(["down", &ns, &work])
                .output();
        }
        for p in self.bridges.lock().map(|v| v.clone()).unwrap_or_default() {
            let _ = Command::new("bash")
                .arg(script())
                .args(["bridge-down", &p, &work])
                .output();
        }
        let _ = std::fs::remove_dir_all(&self.work);
    }
}

/// The inode of a named namespace (`/run/netns/NAME`).
pub fn netns_inode(name: &str) -> NetnsId {
    NetnsId(
        std::fs::metadata(format!("/run/netns/{name}"))
            .unwrap()
            .ino(),
    )
}

/// `curl -k` over HTTPS to `ip` from the host; returns the response body.
pub fn https(ip: &str, path: &str, body: &str) -> String {
    let out = Command::new("curl")
        .args(["-sk", "--max-time", "5", "--data-binary", body])
        .arg(format!("https://{ip}{path}"))
        .output()
        .expect("run curl");
    assert!(
        out.status.success(),
        "curl https://{ip}{path} failed: {out:?}"
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Plain-HTTP `curl` from inside namespace `ns`; returns the response body.
pub fn http_from(ns: &str, url: &str, body: &str) -> String {
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            ns,
            "curl",
            "-s",
            "--max-time",
            "5",
            "--data-binary",
            body,
            url,
        ])
        .output()
        .expect("run curl");
    assert!(out.status.success(), "curl {url} in {ns} failed: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}
