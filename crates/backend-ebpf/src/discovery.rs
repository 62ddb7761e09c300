//! Finding the TLS libraries and binaries to put uprobes on.
//!
//! Every process's `/proc/PID/maps` lists the files it has mapped. A file
//! is a target when it exports (or, for binaries, merely contains in
//! `.symtab`) `SSL_read` and `SSL_write`: shared `libssl.so*`, and
//! statically linked OpenSSL/BoringSSL in binaries such as node or envoy.
//! Uprobes belong to a file (its inode), not to a process, so each file is
//! probed once, keyed by (device, inode), whatever the number of processes
//! mapping it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::elf::{self, FoundSymbol};

/// The SSL functions looked up and probed.
pub const SSL_FUNCTIONS: [&str; 5] = [
    "SSL_read",
    "SSL_write",
    "SSL_read_ex",
    "SSL_write_ex",
    "SSL_free",
];

/// A file identity as `/proc/PID/maps` gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId {
    /// Device, `major:minor` packed as `major << 32 | minor`.
    pub dev: u64,
    /// Inode.
    pub inode: u64,
}

/// Whether the TLS code sits in a shared library or in the program itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetKind {
    /// A `libssl.so*` (or any library exporting the SSL API).
    SharedLibrary,
    /// A binary with OpenSSL or BoringSSL linked in (node, envoy).
    StaticBinary,
}

/// A file to probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsTarget {
    /// Its identity.
    pub id: FileId,
    /// A path that opens it from this process (through `/proc/PID/root`).
    pub path: PathBuf,
    /// The path as the process that maps it sees it.
    pub display: String,
    /// Library or binary.
    pub kind: TargetKind,
    /// The SSL functions found, with file offsets.
    pub symbols: Vec<FoundSymbol>,
    /// The first process seen mapping it.
    pub pid: u32,
}

impl TlsTarget {
    /// The file offset of `name`, if found.
    pub fn offset(&self, name: &str) -> Option<u64> {
        self.symbols
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.offset)
    }
}

/// Which processes to look at.
#[derive(Clone, Debug, Default)]
pub struct ScanFilter {
    /// Only these pids, when not empty.
    pub pids: Vec<u32>,
    /// Only processes with these names (comm), when not empty.
    pub comms: Vec<String>,
    /// Never this pid (the collector itself).
    pub exclude_pid: u32,
    /// Return a file once per process mapping it (for uprobes limited to
    /// those processes) instead of once per file.
    pub per_process: bool,
}

/// Remembers every file looked at, so that a rescan only examines new ones.
#[derive(Debug)]
pub struct Discovery {
    proc_root: PathBuf,
    /// Every file examined: its SSL symbols when it is a target.
    seen: HashMap<FileId, Option<Vec<FoundSymbol>>>,
    /// (file, process) pairs returned, in per-process mode.
    returned: std::collections::HashSet<(FileId, u32)>,
}

impl Default for Discovery {
    fn default() -> Self {
        Self::new(PathBuf::from("/proc"))
    }
}

impl Discovery {
    /// Scans under `proc_root` (normally `/proc`).
    pub fn new(proc_root: PathBuf) -> Self {
        Self {
            proc_root,
            seen: HashMap::new(),
            returned: std::collections::HashSet::new(),
        }
    }

    /// Files examined so far.
    pub fn examined(&self) -> usize {
        self.seen.len()
    }

    /// Scans every process and returns the targets not returned before.
    pub fn scan(&mut self, filter: &ScanFilter) -> Vec<TlsTarget> {
        let mut out = Vec::new();
        let Ok(dir) = std::fs::read_dir(&self.proc_root) else {
            return out;
        };
        let mut pids: Vec<u32> = dir
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect();
        pids.sort_unstable();
        for pid in pids {
            if pid == filter.exclude_pid || (!filter.pids.is_empty() && !filter.pids.contains(&pid))
            {
                continue;
            }
            if !filter.comms.is_empty() {
                let comm = std::fs::read_to_string(self.proc_root.join(format!("{pid}/comm")))
                    .unwrap_or_default();
                if !filter.comms.iter().any(|c| c == comm.trim_end()) {
                    continue;
                }
            }
            self.scan_pid(pid, filter.per_process, &mut out);
        }
        out
    }

    fn scan_pid(&mut self, pid: u32, per_process: bool, out: &mut Vec<TlsTarget>) {
        let base = self.proc_root.join(pid.to_string());
        let Ok(maps) = std::fs::read_to_string(base.join("maps")) else {
            return;
        };
        let exe = std::fs::read_link(base.join("exe")).ok();
        for line in maps.lines() {
            let Some(m) = MapsLine::parse(line) else {
                continue;
            };
            if !m.exec {
                continue;
            }
            let known = self.seen.get(&m.id).cloned();
            if known.is_some() && !per_process {
                continue;
            }
            let is_exe = exe.as_deref().is_some_and(|e| Path::new(m.path) == e);
            let name = Path::new(m.path)
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            let libish = name.contains("ssl") || name.contains("boring");
            if !is_exe && !libish {
                continue;
            }
            // Through the process's root: works across mount namespaces (containers).
            let path = base.join("root").join(m.path.trim_start_matches('/'));
            let symbols = match known {
                Some(Some(symbols)) => symbols,
                Some(None) => continue,
                None => {
                    let symbols = elf::find_functions(&path, &SSL_FUNCTIONS).unwrap_or_default();
                    let has = |n: &str| symbols.iter().any(|s| s.name == n);
                    let hit = (has("SSL_read") || has("SSL_read_ex"))
                        && (has("SSL_write") || has("SSL_write_ex"));
                    self.seen.insert(m.id, hit.then(|| symbols.clone()));
                    if !hit {
                        continue;
                    }
                    symbols
                }
            };
            if !self
                .returned
                .insert((m.id, if per_process { pid } else { 0 }))
            {
                continue;
            }
            out.push(TlsTarget {
                id: m.id,
                path,
                display: m.path.to_owned(),
                kind: if is_exe {
                    TargetKind::StaticBinary
                } else {
                    TargetKind::SharedLibrary
                },
                symbols,
                pid,
            });
        }
    }
}

/// One line of `/proc/PID/maps`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapsLine<'a> {
    /// The mapping is executable.
    pub exec: bool,
    /// The mapped file.
    pub id: FileId,
    /// Its path.
    pub path: &'a str,
}

impl<'a> MapsLine<'a> {
    /// Parses `addr perms offset dev inode path`; `None` for anonymous mappings.
    pub fn parse(line: &'a str) -> Option<Self> {
        let mut it = line.splitn(6, ' ');
        let _addr = it.next()?;
        let perms = it.next()?;
        let _offset = it.next()?;
        let dev = it.next()?;
        let inode: u64 = it.next()?.parse().ok()?;
        let path = it.next()?.trim_start();
        if inode == 0 || !path.starts_with('/') || path.ends_with(" (deleted)") {
            return None;
        }
        let (major, minor) = dev.split_once(':')?;
        let dev =
            (u64::from_str_radix(major, 16).ok()? << 32) | u64::from_str_radix(minor, 16).ok()?;
        Some(Self {
            exec: perms.as_bytes().get(2) == Some(&b'x'),
            id: FileId { dev, inode },
            path,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_maps_lines() {
        let l = "7f1c2a000000-7f1c2a0a0000 r-xp 00022000 fd:01 1234567                    /usr/lib/x86_64-linux-gnu/libssl.so.3";
        let m = MapsLine::parse(l).unwrap();
        assert!(m.exec);
        assert_eq!(
            m.id,
            FileId {
                dev: (0xfd << 32) | 1,
                inode: 1234567
            }
        );
        assert_eq!(m.path, "/usr/lib/x86_64-linux-gnu/libssl.so.3");
        assert!(MapsLine::parse("7f1c2a000000-7f1c2a0a0000 rw-p 00000000 00:00 0 ").is_none());
        assert!(
            MapsLine::parse(
                "7ffd1000-7ffd2000 rw-p 00000000 00:00 0                          [stack]"
            )
            .is_none()
        );
        assert!(MapsLine::parse("garbage").is_none());
        let l = "55d0-55d1 r-xp 00000000 08:02 42 /opt/my app/bin (x)";
        assert_eq!(MapsLine::parse(l).unwrap().path, "/opt/my app/bin (x)");
    }

    #[test]
    fn finds_libssl_of_this_machine_once() {
        // A child that maps libssl: python with the ssl module.
        let Ok(mut child) = std::process::Command::new("python3")
            .args(["-c", "import ssl, time; time.sleep(5)"])
            .spawn()
        else {
            eprintln!("SKIP: python3 not available");
            return;
        };
        let pid = child.id();
        let mut d = Discovery::default();
        let filter = ScanFilter {
            pids: vec![pid],
            ..Default::default()
        };
        let mut targets = Vec::new();
        for _ in 0..50 {
            targets = d.scan(&filter);
            if !targets.is_empty() {
                break;
            }
            d = Discovery::default();
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
        let Some(t) = targets.iter().find(|t| t.display.contains("libssl")) else {
            eprintln!("SKIP: python3 does not map libssl here ({targets:?})");
            return;
        };
        assert_eq!(t.kind, TargetKind::SharedLibrary);
        assert!(t.offset("SSL_read").is_some() && t.offset("SSL_write_ex").is_some());
        // A rescan does not report it again.
        assert!(d.scan(&filter).iter().all(|x| x.id != t.id));
    }
}
