//! A Kubernetes node without Kubernetes: Debian's containerd and runc,
//! started with their own root, state and socket under a temp dir, running
//! containers with exactly the labels and cgroup paths kubelet gives them.
//! Pods get their own network namespace (held by a sandbox container, as
//! the pause container holds it), with an address on a bridge that lives
//! in a namespace of its own: nothing touches the host's network.
//!
//! Everything started here is stopped here, by pid or by container id.
#![allow(dead_code, clippy::indexing_slicing, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How kubelet's cgroup driver names a pod's and a container's cgroup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// `kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid_>.slice/cri-containerd-<id>.scope`
    Systemd,
    /// `kubepods/besteffort/pod<uid>/<id>`
    Cgroupfs,
}

/// A pod to make.
pub struct PodSpec<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub labels: &'a [(&'a str, &'a str)],
    pub layout: Layout,
    /// Its containers: name and command.
    pub containers: &'a [(&'a str, &'a [&'a str])],
}

/// A running pod.
#[derive(Clone, Debug)]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub ip: String,
    pub netns: String,
    pub layout: Layout,
    /// Its directory, mounted at /srv in every container.
    pub dir: PathBuf,
    pub sandbox: String,
    /// (name, id) of each container.
    pub containers: Vec<(String, String)>,
    /// The pod's cgroup in each hierarchy mount that has it.
    pub cgroup_rel: String,
}

impl Pod {
    /// The id of container `name`.
    pub fn id(&self, name: &str) -> &str {
        &self
            .containers
            .iter()
            .find(|(n, _)| n == name)
            .expect("container")
            .1
    }
}

/// containerd and the pods it runs.
pub struct Node {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    containerd: Option<Child>,
    prefix: String,
    bridge_ns: String,
    pub pods: Vec<Pod>,
    next_index: u8,
    /// Tells this node's uids and ids from another's in the same process.
    serial: u32,
    exec_seq: std::cell::Cell<u32>,
    /// The QoS and kubepods cgroups this node made (absent before it), to remove at the end.
    made_parents: Vec<&'static str>,
}

/// The cgroups above pods, deepest first.
const PARENTS: [&str; 4] = [
    "kubepods/besteffort",
    "kubepods",
    "kubepods.slice/kubepods-besteffort.slice",
    "kubepods.slice",
];

/// Every cgroup hierarchy mount (v1 controllers, the v2 one).
fn hierarchies() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/sys/fs/cgroup")
        .map(|r| {
            r.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    dirs.push(PathBuf::from("/sys/fs/cgroup"));
    dirs
}

/// `ip`, with the test's arguments; panics with its output on failure.
fn ip(args: &[&str]) {
    run("ip", args);
}

fn run(cmd: &str, args: &[&str]) -> Output {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Why the scenario cannot run here, if it cannot.
pub fn missing() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root".into());
    }
    for tool in ["containerd", "ctr", "runc", "ip", "nginx", "openssl"] {
        let found = std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).exists()));
        if !found {
            return Some(format!(
                "{tool} not installed (scripts/install-deps.sh installs it)"
            ));
        }
    }
    if !Path::new("/usr/bin/python3").exists() {
        return Some("/usr/bin/python3 not installed".into());
    }
    None
}

const CONFIG: &str = r#"version = 2
disabled_plugins = ["io.containerd.grpc.v1.cri"]
"#;

impl Node {
    /// Starts containerd under a temp dir and the bridge namespace.
    pub fn start() -> Node {
        let dir = tempfile::Builder::new()
            .prefix("cleartap-k8s-")
            .tempdir()
            .expect("temp dir");
        static NODES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NODES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let pid = std::process::id();
        let prefix = format!("ctk{}{n}", pid % 10_000);
        let bridge_ns = format!("{prefix}-br");
        let mut node = Node {
            socket: dir.path().join("containerd.sock"),
            dir,
            containerd: None,
            prefix,
            bridge_ns,
            pods: Vec::new(),
            next_index: 10,
            serial: n,
            exec_seq: std::cell::Cell::new(0),
            made_parents: PARENTS
                .into_iter()
                .filter(|p| !hierarchies().iter().any(|h| h.join(p).exists()))
                .collect(),
        };
        std::fs::write(node.dir.path().join("config.toml"), CONFIG).unwrap();
        node.start_runtime();
        ip(&["netns", "add", &node.bridge_ns]);
        ip(&[
            "-n",
            &node.bridge_ns,
            "link",
            "add",
            "br0",
            "type",
            "bridge",
        ]);
        ip(&["-n", &node.bridge_ns, "link", "set", "br0", "up"]);
        node.make_certificate();
        node
    }

    fn make_certificate(&self) {
        capture_core::testkit::self_signed(self.dir.path(), "pod");
    }

    /// Starts containerd (again); waits until it answers.
    pub fn start_runtime(&mut self) {
        assert!(self.containerd.is_none(), "containerd already runs");
        let d = self.dir.path();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(d.join("containerd.log"))
            .unwrap();
        let child = Command::new("containerd")
            .arg("--config")
            .arg(d.join("config.toml"))
            .arg("--root")
            .arg(d.join("root"))
            .arg("--state")
            .arg(d.join("state"))
            .arg("--address")
            .arg(&self.socket)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("containerd");
        self.containerd = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if self.socket.exists() && self.ctr(&["version"]).status.success() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "containerd did not answer: {}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops containerd (its containers keep running, as on a node).
    pub fn stop_runtime(&mut self) {
        if let Some(mut c) = self.containerd.take() {
            // SAFETY: kill has no memory preconditions; the pid is our child's.
            unsafe {
                libc::kill(c.id() as i32, libc::SIGTERM);
            }
            let _ = c.wait();
        }
    }

    fn log_tail(&self) -> String {
        let log =
            std::fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default();
        log.lines().rev().take(10).collect::<Vec<_>>().join("\n")
    }

    /// `ctr` against our containerd, in the `k8s.io` namespace.
    pub fn ctr(&self, args: &[&str]) -> Output {
        Command::new("ctr")
            .arg("--address")
            .arg(&self.socket)
            .args(["--namespace", "k8s.io"])
            .args(args)
            .output()
            .expect("ctr")
    }

    fn ctr_ok(&self, args: &[&str]) -> Output {
        let out = self.ctr(args);
        assert!(
            out.status.success(),
            "ctr {args:?}: {}{}\ncontainerd log:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log_tail()
        );
        out
    }

    /// The pid of a container's task.
    pub fn pid_of(&self, id: &str) -> u32 {
        let out = self.ctr_ok(&["task", "ls"]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| {
                let mut f = l.split_whitespace();
                (f.next() == Some(id))
                    .then(|| f.next()?.parse().ok())
                    .flatten()
            })
            .unwrap_or_else(|| panic!("no task {id}"))
    }

    fn container_id(&self, index: u8, k: u8) -> String {
        format!(
            "{:016x}{:016x}{:016x}{:016x}",
            0x0c1e_a7a9_u64 + u64::from(self.serial),
            std::process::id(),
            index,
            k
        )
    }

    /// The address pod number `index` gets: 10.232.X.index, X told by
    /// the pid, so that two runs at once do not share pod addresses.
    fn ip_of(&self, index: u8) -> String {
        format!(
            "10.232.{}.{index}",
            1 + (std::process::id() + self.serial) % 250
        )
    }

    /// The address the next pod will get.
    pub fn next_ip(&self) -> String {
        self.ip_of(self.next_index)
    }

    /// The inode of a pod's network namespace.
    pub fn netns_inode(&self, pod: &Pod) -> u64 {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(format!("/var/run/netns/{}", pod.netns))
            .expect("pod netns")
            .ino()
    }

    /// Makes a pod: its network namespace on the bridge, its sandbox, its containers.
    pub fn add_pod(&mut self, spec: &PodSpec<'_>) -> Pod {
        let index = self.next_index;
        self.next_index += 1;
        let uid = format!(
            "{:08x}-{:04x}-4000-8000-{:012x}",
            std::process::id(),
            self.serial,
            index
        );
        let ip_addr = self.ip_of(index);
        let netns = format!("{}-p{index}", self.prefix);
        ip(&["netns", "add", &netns]);
        let veth = format!("{}v{index}", self.prefix);
        ip(&[
            "-n",
            &self.bridge_ns,
            "link",
            "add",
            &veth,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &netns,
        ]);
        ip(&[
            "-n",
            &self.bridge_ns,
            "link",
            "set",
            &veth,
            "master",
            "br0",
            "up",
        ]);
        ip(&[
            "-n",
            &netns,
            "addr",
            "add",
            &format!("{ip_addr}/24"),
            "dev",
            "eth0",
        ]);
        ip(&["-n", &netns, "link", "set", "eth0", "up"]);
        ip(&["-n", &netns, "link", "set", "lo", "up"]);

        let dir = self.dir.path().join(format!("pod{index}"));
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        for f in ["cert.pem", "key.pem"] {
            std::fs::copy(self.dir.path().join(f), dir.join(f)).unwrap();
        }
        for (name, text) in SCRIPTS {
            std::fs::write(dir.join(name), text).unwrap();
        }
        let uid_ = uid.replace('-', "_");
        let layout = spec.layout;
        let pod_cgroup = match layout {
            Layout::Cgroupfs => format!("/kubepods/besteffort/pod{uid}"),
            Layout::Systemd => format!(
                "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{uid_}.slice"
            ),
        };
        let container_cgroup = |id: &str| match layout {
            Layout::Cgroupfs => format!("{pod_cgroup}/{id}"),
            Layout::Systemd => format!("{pod_cgroup}/cri-containerd-{id}.scope"),
        };
        let mut pod = Pod {
            namespace: spec.namespace.into(),
            name: spec.name.into(),
            uid: uid.clone(),
            ip: ip_addr.clone(),
            netns: netns.clone(),
            layout: spec.layout,
            dir: dir.clone(),
            sandbox: self.container_id(index, 0),
            containers: Vec::new(),
            cgroup_rel: pod_cgroup.clone(),
        };
        let netns_path = format!("/var/run/netns/{netns}");
        let mut labels: Vec<(String, String)> = vec![
            ("io.kubernetes.pod.namespace".into(), spec.namespace.into()),
            ("io.kubernetes.pod.name".into(), spec.name.into()),
            ("io.kubernetes.pod.uid".into(), uid.clone()),
        ];
        // The sandbox carries the pod's labels, as kubelet's CRI call makes it.
        let mut sandbox_labels = labels.clone();
        sandbox_labels.push(("io.cri-containerd.kind".into(), "sandbox".into()));
        sandbox_labels.extend(spec.labels.iter().map(|(k, v)| ((*k).into(), (*v).into())));
        self.run_container(
            &pod.sandbox.clone(),
            &container_cgroup(&pod.sandbox),
            &netns_path,
            &dir,
            &ip_addr,
            &sandbox_labels,
            &["sleep", "infinity"],
        );
        labels.push(("io.cri-containerd.kind".into(), "container".into()));
        for (k, (name, argv)) in spec.containers.iter().enumerate() {
            let id = self.container_id(index, k as u8 + 1);
            let mut l = labels.clone();
            l.push(("io.kubernetes.container.name".into(), (*name).into()));
            self.run_container(
                &id,
                &container_cgroup(&id),
                &netns_path,
                &dir,
                &ip_addr,
                &l,
                argv,
            );
            pod.containers.push(((*name).into(), id));
        }
        self.pods.push(pod.clone());
        pod
    }

    #[allow(clippy::too_many_arguments)]
    fn run_container(
        &self,
        id: &str,
        cgroup: &str,
        netns_path: &str,
        pod_dir: &Path,
        ip: &str,
        labels: &[(String, String)],
        argv: &[&str],
    ) {
        let rootfs = self.dir.path().join("rootfs").join(id);
        std::fs::create_dir_all(&rootfs).unwrap();
        let mut args: Vec<String> = vec!["run".into(), "-d".into(), "--rootfs".into()];
        for d in ["/usr", "/lib", "/lib64", "/bin", "/etc"] {
            if Path::new(d).exists() {
                args.push("--mount".into());
                args.push(format!("type=bind,src={d},dst={d},options=rbind:ro"));
            }
        }
        args.push("--mount".into());
        args.push(format!(
            "type=bind,src={},dst=/srv,options=rbind:rw",
            pod_dir.display()
        ));
        args.push("--with-ns".into());
        args.push(format!("network:{netns_path}"));
        args.push("--env".into());
        args.push("PATH=/usr/sbin:/usr/bin:/sbin:/bin".into());
        args.push("--env".into());
        args.push(format!("INSTANCE_IP={ip}"));
        for (k, v) in labels {
            args.push("--label".into());
            args.push(format!("{k}={v}"));
        }
        args.push("--cgroup".into());
        args.push(cgroup.into());
        args.push(rootfs.display().to_string());
        args.push(id.into());
        args.extend(argv.iter().map(|s| (*s).to_owned()));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        self.ctr_ok(&refs);
    }

    /// Runs `argv` in a container (as `kubectl exec` does) and waits for it.
    pub fn exec(&self, id: &str, argv: &[&str]) -> Output {
        let seq = self.exec_seq.get() + 1;
        self.exec_seq.set(seq);
        let exec_id = format!("x{seq}");
        let mut args = vec!["task", "exec", "--exec-id", &exec_id, id];
        args.extend_from_slice(argv);
        self.ctr(&args)
    }

    /// Starts `argv` in a container without waiting.
    pub fn exec_spawn(&self, id: &str, argv: &[&str]) -> Child {
        let seq = self.exec_seq.get() + 1;
        self.exec_seq.set(seq);
        let exec_id = format!("x{seq}");
        Command::new("ctr")
            .arg("--address")
            .arg(&self.socket)
            .args([
                "--namespace",
                "k8s.io",
                "task",
                "exec",
                "--exec-id",
                &exec_id,
                id,
            ])
            .args(argv)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ctr exec")
    }

    /// Waits until something listens on `port` in the pod's namespace.
    pub fn wait_listening(&self, pod: &Pod, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let pid = self.pid_of(&pod.sandbox);
        loop {
            let tcp = std::fs::read_to_string(format!("/proc/{pid}/net/tcp")).unwrap_or_default();
            let needle = format!(":{port:04X} 00000000:0000 0A");
            if tcp.contains(&needle) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "nothing listens on {port} in {}",
                pod.name
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The v2 cgroup directory of a pod.
    pub fn pod_cgroup_dir(&self, pod: &Pod) -> PathBuf {
        let root = cleartap::k8s::cgroup_v2_mount().expect("cgroup v2 mount");
        root.join(pod.cgroup_rel.trim_start_matches('/'))
    }

    fn remove_pod(&self, pod: &Pod) {
        let ids: Vec<&str> = pod
            .containers
            .iter()
            .map(|(_, id)| id.as_str())
            .chain([pod.sandbox.as_str()])
            .collect();
        for id in &ids {
            let _ = self.ctr(&["task", "kill", "-s", "SIGKILL", id]);
        }
        for id in &ids {
            for _ in 0..50 {
                if self.ctr(&["task", "rm", "-f", id]).status.success() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = self.ctr(&["container", "rm", id]);
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &pod.netns])
            .output();
        // The pod's cgroup (its containers' are gone with them) in every hierarchy.
        {
            for m in hierarchies() {
                let d = m.join(pod.cgroup_rel.trim_start_matches('/'));
                if let Ok(children) = std::fs::read_dir(&d) {
                    for c in children.flatten().filter(|c| c.path().is_dir()) {
                        let _ = std::fs::remove_dir(c.path());
                    }
                }
                let _ = std::fs::remove_dir(&d);
            }
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if self.containerd.is_none() {
            self.start_runtime();
        }
        for pod in self.pods.clone() {
            self.remove_pod(&pod);
        }
        self.stop_runtime();
        for h in hierarchies() {
            for p in &self.made_parents {
                let _ = std::fs::remove_dir(h.join(p));
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.bridge_ns])
            .output();
        // Shims exit with their containers; unmount what containerd left.
        let _ = Command::new("umount")
            .args(["-R", "-l"])
            .arg(self.dir.path().join("state"))
            .output();
    }
}

/// nginx (HTTP on 8080, HTTPS on 8443), a Python server (the same ports)
/// and a Python client that keeps its connections and its process alive
/// for a moment after the last answer, as a service's client pool does.
pub const SCRIPTS: &[(&str, &str)] = &[
    (
        "nginx.conf",
        include_str!("../../testdata/k8s-pod/nginx.conf"),
    ),
    (
        "server.py",
        include_str!("../../testdata/k8s-pod/server.py"),
    ),
    (
        "client.py",
        include_str!("../../testdata/k8s-pod/client.py"),
    ),
];
