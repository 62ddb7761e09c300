//! Finding the pods to capture: proxy processes in `/proc`, grouped by
//! network namespace.
//!
//! As in Mizu: a process qualifies when its executable (the basename of the
//! `/proc/PID/exe` link) or its `comm` is one of the configured names
//! (`envoy` by default), or always when every process is asked for. Its pod
//! IP is the `INSTANCE_IP` variable of its environment; when a set of IPs
//! is configured, only processes whose IP is in it are kept. Processes are
//! grouped by the inode of their network namespace: one capture per pod.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::io;
use std::net::IpAddr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use capture_core::model::NetnsId;

use crate::Error;

/// The environment variable that holds a pod's IP in Istio sidecars.
pub const INSTANCE_IP_VAR: &str = "INSTANCE_IP";

/// Which processes mark a pod to capture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscoveryConfig {
    /// Executable names (basename of `/proc/PID/exe`, or `comm`) that mark a
    /// pod's proxy. Default: `["envoy"]`.
    pub exe_names: Vec<String>,
    /// Take every process, whatever its name.
    pub all_processes: bool,
    /// Keep only processes whose `INSTANCE_IP` is one of these; every
    /// matching process when empty.
    pub instance_ips: BTreeSet<IpAddr>,
    /// Where procfs is mounted. Default: `/proc`.
    pub proc_root: PathBuf,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        Self {
            exe_names: vec![String::from("envoy")],
            all_processes: false,
            instance_ips: BTreeSet::new(),
            proc_root: PathBuf::from("/proc"),
        }
    }
}

/// A process that marks a pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodProcess {
    /// Process id.
    pub pid: u32,
    /// Basename of its executable (or its `comm` when the link is unreadable).
    pub exe: String,
    /// Its `INSTANCE_IP`, when set and valid.
    pub instance_ip: Option<IpAddr>,
    /// Its network namespace.
    pub netns: NetnsId,
}

/// One network namespace to capture, with the processes found in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodNamespace {
    /// The namespace's inode.
    pub netns: NetnsId,
    /// The qualifying processes in it, by pid; the first is used to enter it.
    pub processes: Vec<PodProcess>,
}

impl PodNamespace {
    /// The pod IPs declared by its processes.
    pub fn instance_ips(&self) -> BTreeSet<IpAddr> {
        self.processes
            .iter()
            .filter_map(|p| p.instance_ip)
            .collect()
    }
}

/// The result of one scan of `/proc`.
#[derive(Debug, Default)]
pub struct Scan {
    /// Namespaces to capture, by inode.
    pub namespaces: BTreeMap<NetnsId, PodNamespace>,
    /// Processes looked at.
    pub processes_seen: u64,
    /// Processes that exited while being read (skipped).
    pub vanished: u64,
    /// Processes that could not be read for another reason.
    pub errors: Vec<Error>,
}

/// Scans `/proc` for pods.
#[derive(Clone, Debug, Default)]
pub struct Discovery {
    config: DiscoveryConfig,
}

impl Discovery {
    /// A scanner with `config`.
    pub fn new(config: DiscoveryConfig) -> Self {
        Self { config }
    }

    /// The configuration.
    pub fn config(&self) -> &DiscoveryConfig {
        &self.config
    }

    /// Reads `/proc` once. A process that exits mid-read is skipped and
    /// counted in [`Scan::vanished`]; other failures on one process are
    /// collected in [`Scan::errors`] and the scan goes on.
    pub fn scan(&self) -> Result<Scan, Error> {
        let root = &self.config.proc_root;
        let dir = std::fs::read_dir(root).map_err(|source| Error::ProcScan {
            path: root.clone(),
            source,
        })?;
        let mut scan = Scan::default();
        for entry in dir {
            let Ok(entry) = entry else { continue };
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            scan.processes_seen += 1;
            match self.process(pid) {
                Ok(Some(p)) => scan
                    .namespaces
                    .entry(p.netns)
                    .or_insert_with(|| PodNamespace {
                        netns: p.netns,
                        processes: Vec::new(),
                    })
                    .processes
                    .push(p),
                Ok(None) => {}
                Err(Error::Proc { source, .. }) if is_vanished(&source) => {
                    log::debug!("pid {pid} exited while /proc was scanned; skipped");
                    scan.vanished += 1;
                }
                Err(e) => scan.errors.push(e),
            }
        }
        for ns in scan.namespaces.values_mut() {
            ns.processes.sort_by_key(|p| p.pid);
        }
        Ok(scan)
    }

    /// Reads one process; `None` when it does not qualify.
    pub fn process(&self, pid: u32) -> Result<Option<PodProcess>, Error> {
        let dir = self.config.proc_root.join(pid.to_string());
        let exe = match std::fs::read_link(dir.join("exe")) {
            Ok(target) => Some(exe_basename(&target)),
            // Kernel threads have no executable.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if !dir.exists() {
                    return Err(proc_err(pid, "exe", e));
                }
                None
            }
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => None,
            Err(e) => return Err(proc_err(pid, "exe", e)),
        };
        let comm = match std::fs::read(dir.join("comm")) {
            Ok(b) => String::from_utf8_lossy(&b)
                .trim_end_matches('\n')
                .to_owned(),
            Err(e) => return Err(proc_err(pid, "comm", e)),
        };
        let matches = if self.config.all_processes {
            exe.is_some()
        } else {
            self.config
                .exe_names
                .iter()
                .any(|n| exe.as_deref() == Some(n.as_str()) || comm_matches(&comm, n))
        };
        if !matches {
            return Ok(None);
        }
        let environ =
            std::fs::read(dir.join("environ")).map_err(|e| proc_err(pid, "environ", e))?;
        let instance_ip = instance_ip(&environ);
        if !self.config.instance_ips.is_empty()
            && !instance_ip.is_some_and(|ip| self.config.instance_ips.contains(&ip))
        {
            return Ok(None);
        }
        let netns =
            netns_of(&dir.join("ns").join("net")).map_err(|e| proc_err(pid, "ns/net", e))?;
        Ok(Some(PodProcess {
            pid,
            exe: exe.unwrap_or(comm),
            instance_ip,
            netns,
        }))
    }
}

fn proc_err(pid: u32, what: &'static str, source: io::Error) -> Error {
    Error::Proc { pid, what, source }
}

/// True for the errors of a process that exited between two reads.
pub fn is_vanished(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ESRCH)
}

/// The basename of an executable link's target, without the " (deleted)"
/// that the kernel appends when the file was replaced.
fn exe_basename(target: &Path) -> String {
    let name = target
        .file_name()
        .unwrap_or_else(|| OsStr::new(""))
        .to_string_lossy();
    name.strip_suffix(" (deleted)").unwrap_or(&name).to_owned()
}

/// `comm` is the name cut to 15 bytes.
fn comm_matches(comm: &str, name: &str) -> bool {
    let cut = name.as_bytes().get(..15).unwrap_or(name.as_bytes());
    !comm.is_empty() && comm.as_bytes() == cut
}

/// The `INSTANCE_IP` of a NUL-separated environment block.
pub fn instance_ip(environ: &[u8]) -> Option<IpAddr> {
    environ.split(|&b| b == 0).find_map(|var| {
        let value = var
            .strip_prefix(INSTANCE_IP_VAR.as_bytes())?
            .strip_prefix(b"=")?;
        std::str::from_utf8(value).ok()?.trim().parse().ok()
    })
}

/// The inode of the namespace behind a `/proc/PID/ns/net` link: from the
/// link text `net:[INODE]`, else from `stat`.
pub fn netns_of(link: &Path) -> io::Result<NetnsId> {
    match std::fs::read_link(link) {
        Ok(target) => {
            let text = target.to_string_lossy();
            if let Some(ino) = text
                .strip_prefix("net:[")
                .and_then(|s| s.strip_suffix(']'))
                .and_then(|s| s.parse::<u64>().ok())
            {
                return Ok(NetnsId(ino));
            }
            std::fs::metadata(link).map(|m| NetnsId(m.ino()))
        }
        Err(e) => Err(e),
    }
}

/// The namespace of the calling thread (the host's, unless it moved).
pub fn current_netns() -> io::Result<NetnsId> {
    netns_of(Path::new("/proc/thread-self/ns/net"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A fake procfs in a temporary directory.
    struct FakeProc(PathBuf);

    impl FakeProc {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir()
                .join(format!("cleartap-fakeproc-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::create_dir_all(dir.join("self")).unwrap();
            Self(dir)
        }

        fn add(&self, pid: u32, exe: Option<&str>, comm: &str, env: &[&str], netns: u64) {
            let d = self.0.join(pid.to_string());
            std::fs::create_dir_all(d.join("ns")).unwrap();
            if let Some(exe) = exe {
                symlink(exe, d.join("exe")).unwrap();
            }
            std::fs::write(d.join("comm"), format!("{comm}\n")).unwrap();
            let mut environ = Vec::new();
            for v in env {
                environ.extend_from_slice(v.as_bytes());
                environ.push(0);
            }
            std::fs::write(d.join("environ"), environ).unwrap();
            symlink(format!("net:[{netns}]"), d.join("ns").join("net")).unwrap();
        }

        fn discovery(&self, f: impl FnOnce(&mut DiscoveryConfig)) -> Discovery {
            let mut c = DiscoveryConfig {
                proc_root: self.0.clone(),
                ..Default::default()
            };
            f(&mut c);
            Discovery::new(c)
        }
    }

    impl Drop for FakeProc {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn fixture(name: &str) -> FakeProc {
        let p = FakeProc::new(name);
        p.add(
            10,
            Some("/usr/local/bin/envoy"),
            "envoy",
            &["A=1", "INSTANCE_IP=10.1.0.5"],
            1001,
        );
        p.add(
            11,
            Some("/usr/local/bin/envoy"),
            "envoy",
            &["INSTANCE_IP=10.1.0.5"],
            1001,
        );
        p.add(
            20,
            Some("/tmp/x/envoy (deleted)"),
            "envoy",
            &["INSTANCE_IP=10.1.0.6"],
            1002,
        );
        p.add(
            30,
            Some("/usr/bin/python3.11"),
            "python3",
            &["INSTANCE_IP=10.1.0.7"],
            1003,
        );
        p.add(40, None, "kworker/0:1", &[], 1000);
        // A proxy renamed by its launcher: matched by comm.
        p.add(
            50,
            Some("/usr/sbin/nginx"),
            "envoy",
            &["INSTANCE_IP=fd00::7"],
            1004,
        );
        p
    }

    #[test]
    fn finds_proxies_by_exe_or_comm_and_groups_them_by_namespace() {
        let p = fixture("group");
        let scan = p.discovery(|_| {}).scan().unwrap();
        assert_eq!(scan.processes_seen, 6);
        let ns: Vec<u64> = scan.namespaces.keys().map(|n| n.0).collect();
        assert_eq!(ns, [1001, 1002, 1004]);
        let a = &scan.namespaces[&NetnsId(1001)];
        assert_eq!(
            a.processes.iter().map(|p| p.pid).collect::<Vec<_>>(),
            [10, 11]
        );
        assert_eq!(
            a.instance_ips().into_iter().collect::<Vec<_>>(),
            ["10.1.0.5".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(scan.namespaces[&NetnsId(1002)].processes[0].exe, "envoy");
    }

    #[test]
    fn instance_ip_set_keeps_only_those_pods() {
        let p = fixture("ips");
        let d = p.discovery(|c| {
            c.instance_ips = ["10.1.0.6".parse().unwrap(), "fd00::7".parse().unwrap()].into();
        });
        let scan = d.scan().unwrap();
        let ns: Vec<u64> = scan.namespaces.keys().map(|n| n.0).collect();
        assert_eq!(ns, [1002, 1004]);
    }

    #[test]
    fn all_processes_takes_every_process_with_an_executable() {
        let p = fixture("all");
        let scan = p.discovery(|c| c.all_processes = true).scan().unwrap();
        let ns: Vec<u64> = scan.namespaces.keys().map(|n| n.0).collect();
        assert_eq!(ns, [1001, 1002, 1003, 1004]);
    }

    #[test]
    fn custom_names_replace_the_default() {
        let p = fixture("names");
        let scan = p
            .discovery(|c| c.exe_names = vec!["python3.11".into()])
            .scan()
            .unwrap();
        let ns: Vec<u64> = scan.namespaces.keys().map(|n| n.0).collect();
        assert_eq!(ns, [1003]);
    }

    #[test]
    fn a_process_gone_mid_scan_is_skipped_and_counted() {
        let p = fixture("vanish");
        // A pid directory whose files are gone, as when the process exits between readdir and read.
        std::fs::create_dir_all(p.0.join("99")).unwrap();
        let d = p.discovery(|_| {});
        assert!(matches!(d.process(99), Err(Error::Proc { pid: 99, .. })));
        std::fs::remove_dir_all(p.0.join("99")).unwrap();
        std::fs::create_dir_all(p.0.join("98")).unwrap();
        symlink("/usr/bin/envoy", p.0.join("98").join("exe")).unwrap();
        let scan = d.scan().unwrap();
        assert_eq!(scan.vanished, 1);
        assert!(scan.errors.is_empty(), "{:?}", scan.errors);
        assert_eq!(scan.namespaces.len(), 3);
    }

    #[test]
    fn environment_parsing_ignores_lookalikes_and_garbage() {
        assert_eq!(
            instance_ip(b"INSTANCE_IPX=1.2.3.4\0INSTANCE_IP=10.0.0.1\0"),
            "10.0.0.1".parse().ok()
        );
        assert_eq!(instance_ip(b"MY_INSTANCE_IP=1.2.3.4\0"), None);
        assert_eq!(instance_ip(b"INSTANCE_IP=not-an-ip\0"), None);
        assert_eq!(instance_ip(b"INSTANCE_IP=\xff\xfe"), None);
        assert_eq!(instance_ip(b""), None);
    }

    #[test]
    fn real_proc_shows_this_process_in_the_host_namespace() {
        let me = std::process::id();
        let d = Discovery::new(DiscoveryConfig {
            all_processes: true,
            ..Default::default()
        });
        let p = d
            .process(me)
            .unwrap()
            .expect("this process has an executable");
        assert_eq!(p.netns, current_netns().unwrap());
        assert_ne!(p.netns, NetnsId::UNKNOWN);
        let host = netns_of(Path::new("/proc/self/ns/net")).unwrap();
        assert_eq!(host, p.netns);
    }
}
