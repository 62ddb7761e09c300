//! Finding the TLS libraries and binaries to put uprobes on.
//!
//! Uprobes belong to a file (its inode), not to a process: each file is
//! probed once, keyed by (device, inode) as `/proc/PID/maps` shows it,
//! whatever the number of processes mapping it, and from then on every
//! process that maps it is seen from its first call. So at start the TLS
//! libraries in the system's standard places (every library the dynamic
//! linker's cache names, [`crate::ldcache`], or the usual library
//! directories where there is no cache), and those in the install
//! directories of applications that carry their own
//! ([`APPLICATION_LIBRARY_DIRS`]: Firefox's NSS), are probed before any
//! program needs them: a `wget` that lives 20 ms is captured too. The periodic scan
//! of every process's `/proc/PID/maps` finds the rest: private copies
//! (a Python wheel's `libssl-3a880ada.so.1.1`), statically linked OpenSSL
//! or BoringSSL (node, envoy), and containers' own root filesystems, read
//! through `/proc/PID/root`.
//!
//! A file is a target by the symbols it has, never by its name
//! ([`crate::library`]): a shared library by what it exports, the
//! program's own binary also by its `.symtab`.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use capture_core::model::TlsLibrary;

use crate::elf;
pub use crate::elf::FoundSymbol;
use crate::go::{self, GoTlsTarget};
use crate::library::{self, Classified, TlsApi};

/// A file identity as `/proc/PID/maps` gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId {
    /// Device, `major:minor` packed as `major << 32 | minor`.
    pub dev: u64,
    /// Inode.
    pub inode: u64,
}

impl FileId {
    /// The device as the kernel encodes it in `struct super_block::s_dev`
    /// (`major << 20 | minor`), which the BPF programs compare with.
    pub fn kernel_dev(&self) -> u64 {
        ((self.dev >> 32) << 20) | (self.dev & 0xf_ffff)
    }
}

/// Whether the TLS code sits in a shared library or in the program itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetKind {
    /// A shared library exporting a TLS API (`libssl.so.3`, `libgnutls.so.30`, ...).
    SharedLibrary,
    /// A binary with OpenSSL or BoringSSL linked in (node, envoy).
    StaticBinary,
}

/// How a target was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FoundBy {
    /// In the system's standard library places, at start.
    StandardPlace,
    /// In one of the application directories probed at start
    /// ([`EbpfConfig::tls_library_dirs`](crate::EbpfConfig::tls_library_dirs)).
    ApplicationDir,
    /// Mapped by a running process.
    Process,
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
    /// The symbols found, with file offsets.
    pub symbols: Vec<FoundSymbol>,
    /// The first process seen mapping it (0 when found in a standard place).
    pub pid: u32,
    /// The TLS implementation, when its version is known.
    pub library: Option<TlsLibrary>,
    /// The functions to probe in it; `None` for a file that only holds
    /// NSS's SSL layer.
    pub api: Option<TlsApi>,
    /// It holds NSS's SSL layer (see [`Classified::nss_ssl_layer`]).
    pub nss_ssl_layer: bool,
    /// A Go program using crypto/tls: where its probes go.
    pub go: Option<GoTlsTarget>,
    /// Where it was found.
    pub found_by: FoundBy,
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

/// What was learnt about one file: its TLS symbols and what they say, and
/// for a Go program what its probes need.
type Finding = Option<(Vec<FoundSymbol>, Classified, Option<GoTlsTarget>)>;

/// Remembers every file looked at, so that a rescan only examines new ones.
#[derive(Debug)]
pub struct Discovery {
    proc_root: PathBuf,
    /// Every file examined: its symbols and classification when it is a target.
    seen: HashMap<FileId, Finding>,
    /// (file, process) pairs returned, in per-process mode.
    returned: HashSet<(FileId, u32)>,
    /// Go programs using crypto/tls that cannot be probed, not yet taken.
    unprobeable: Vec<(String, go::Unprobeable)>,
}

impl Default for Discovery {
    fn default() -> Self {
        Self::new(PathBuf::from("/proc"))
    }
}

/// Library directories searched when there is no `ld.so.cache` (musl, or a
/// cache that cannot be read): the dynamic linkers' built-in defaults.
/// Where applications that carry their own TLS library install it, as
/// the common distributions package them: Mozilla's programs bundle NSS
/// (`libssl3.so`, `libnss3.so`) in their install directory, outside the
/// dynamic linker's cache. The default of
/// [`EbpfConfig::tls_library_dirs`](crate::EbpfConfig::tls_library_dirs).
pub const APPLICATION_LIBRARY_DIRS: &[&str] = &[
    "/usr/lib/firefox-esr",
    "/usr/lib/firefox",
    "/usr/lib64/firefox",
    "/opt/firefox",
    "/snap/firefox/current/usr/lib/firefox",
    "/usr/lib/thunderbird",
    "/usr/lib64/thunderbird",
    "/opt/thunderbird",
];

/// The files of `dir` that may be shared libraries (`lib*.so*`).
fn shared_libraries_in(dir: &Path) -> impl Iterator<Item = PathBuf> + use<> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let e = e.ok()?;
            let name = e.file_name();
            let name = name.to_str()?;
            (name.starts_with("lib") && name.contains(".so")).then(|| e.path())
        })
}

fn library_dirs() -> Vec<String> {
    let arch = std::env::consts::ARCH;
    let mut dirs: Vec<String> = ["lib", "usr/lib", "lib64", "usr/lib64", "usr/local/lib"]
        .map(String::from)
        .to_vec();
    dirs.push(format!("lib/{arch}-linux-gnu"));
    dirs.push(format!("usr/lib/{arch}-linux-gnu"));
    dirs
}

impl Discovery {
    /// Scans under `proc_root` (normally `/proc`).
    pub fn new(proc_root: PathBuf) -> Self {
        Self {
            proc_root,
            seen: HashMap::new(),
            returned: HashSet::new(),
            unprobeable: Vec::new(),
        }
    }

    /// Files examined so far.
    pub fn examined(&self) -> usize {
        self.seen.len()
    }

    /// The TLS libraries in the standard places of the filesystem under
    /// `root` (normally `/`): those the dynamic linker's cache names, or,
    /// without a cache, those in the usual library directories; then those
    /// in the application directories `app_dirs` (absolute, taken under
    /// `root`). Each is returned once, and not again by later scans.
    pub fn standard_places(&mut self, root: &Path, app_dirs: &[PathBuf]) -> Vec<TlsTarget> {
        let mut system: Vec<PathBuf> = match std::fs::read(root.join("etc/ld.so.cache"))
            .map(|b| crate::ldcache::parse(&b))
        {
            Ok(Ok(entries)) if !entries.is_empty() => entries.into_iter().map(|e| e.path).collect(),
            _ => library_dirs()
                .iter()
                .flat_map(|d| shared_libraries_in(&root.join(d)))
                .filter_map(|p| Some(Path::new("/").join(p.strip_prefix(root).ok()?)))
                .collect(),
        };
        system.sort();
        system.dedup();
        let mut apps: Vec<PathBuf> = app_dirs
            .iter()
            .flat_map(|d| shared_libraries_in(&root.join(d.strip_prefix("/").unwrap_or(d))))
            .filter_map(|p| Some(Path::new("/").join(p.strip_prefix(root).ok()?)))
            .collect();
        apps.sort();
        apps.dedup();
        let candidates = system
            .into_iter()
            .map(|p| (p, FoundBy::StandardPlace))
            .chain(apps.into_iter().map(|p| (p, FoundBy::ApplicationDir)));
        let mut by_inode = HashSet::new();
        let mut out = Vec::new();
        for (display, found_by) in candidates {
            let path = if root == Path::new("/") {
                display.clone()
            } else {
                root.join(display.strip_prefix("/").unwrap_or(&display))
            };
            // Symlinks (libssl.so -> libssl.so.3) are one file.
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if !meta.is_file() || !by_inode.insert(std::os::unix::fs::MetadataExt::ino(&meta)) {
                continue;
            }
            let Some((symbols, classified, _)) = examine(&path, true) else {
                continue;
            };
            // The identity maps will show (an overlay's stat differs).
            let Some(id) = mapped_id(&path) else {
                continue;
            };
            if self.seen.contains_key(&id) {
                continue;
            }
            self.seen
                .insert(id, Some((symbols.clone(), classified, None)));
            // The file's own name, as maps will show it (not a symlink's).
            let display = std::fs::canonicalize(&path)
                .ok()
                .and_then(|p| {
                    p.strip_prefix(root)
                        .ok()
                        .map(|rel| Path::new("/").join(rel))
                })
                .unwrap_or(display);
            out.push(TlsTarget {
                id,
                display: display.to_string_lossy().into_owned(),
                path,
                kind: TargetKind::SharedLibrary,
                symbols,
                pid: 0,
                library: classified.library,
                api: classified.api,
                nss_ssl_layer: classified.nss_ssl_layer,
                go: None,
                found_by,
            });
        }
        out
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
            // Through the process's root: works across mount namespaces (containers).
            let path = base.join("root").join(m.path.trim_start_matches('/'));
            let (symbols, classified, go) = match known {
                Some(Some(found)) => found,
                Some(None) => continue,
                None => {
                    let found = if is_exe {
                        self.examine_program(&path, m.path)
                    } else {
                        examine(&path, true)
                    };
                    self.seen.insert(m.id, found.clone());
                    match found {
                        Some(found) => found,
                        None => continue,
                    }
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
                library: classified.library,
                api: classified.api,
                nss_ssl_layer: classified.nss_ssl_layer,
                go,
                found_by: FoundBy::Process,
            });
        }
    }
}

/// The TLS symbols of the file at `path` and what they say, or `None`.
fn examine(path: &Path, exported_only: bool) -> Finding {
    let symbols = elf::find_functions(path, &library::LOOKED_UP).ok()?;
    let classified = library::classify(&symbols, exported_only)?;
    let symbols = symbols
        .into_iter()
        .filter(|s| !(exported_only && s.from_symtab))
        .collect();
    Some((symbols, classified, None))
}

impl Discovery {
    /// A process's executable: a Go program using crypto/tls, or a binary
    /// with a TLS library linked in. A Go program that cannot be probed is
    /// remembered, with the reason, for [`Discovery::take_unprobeable`].
    fn examine_program(&mut self, path: &Path, display: &str) -> Finding {
        match go::examine(path) {
            Ok(Some(target)) => {
                let classified = Classified {
                    library: Some(TlsLibrary::Go),
                    api: None,
                    nss_ssl_layer: false,
                };
                return Some((Vec::new(), classified, Some(target)));
            }
            Ok(None) => {}
            Err(why) => {
                self.unprobeable.push((display.to_owned(), why));
                return None;
            }
        }
        examine(path, false)
    }

    /// Go programs found since the last call that use crypto/tls but cannot
    /// be probed, each with the reason (each file is reported once).
    pub fn take_unprobeable(&mut self) -> Vec<(String, go::Unprobeable)> {
        std::mem::take(&mut self.unprobeable)
    }
}

/// The (device, inode) that `/proc/self/maps` shows for `path` once mapped:
/// on overlay filesystems `stat` names the overlay, maps the file below it.
fn mapped_id(path: &Path) -> Option<FileId> {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::open(path).ok()?;
    // SAFETY: a fresh private read-only mapping of one page of a file we
    // hold open; it is only compared by address and unmapped below.
    let addr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ,
            libc::MAP_PRIVATE,
            file.as_raw_fd(),
            0,
        )
    };
    if addr == libc::MAP_FAILED {
        return None;
    }
    let start = format!("{:x}-", addr as usize);
    let id = std::fs::read_to_string("/proc/self/maps")
        .ok()
        .and_then(|maps| {
            maps.lines()
                .find(|l| l.starts_with(&start))
                .and_then(|l| MapsLine::parse(l).map(|m| m.id))
        });
    // SAFETY: unmaps exactly the mapping made above.
    unsafe { libc::munmap(addr, 4096) };
    id
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
        assert_eq!(t.api, Some(TlsApi::OpenSsl));
        assert!(t.library.is_some(), "{t:?}");
        // A rescan does not report it again.
        assert!(d.scan(&filter).iter().all(|x| x.id != t.id));
    }

    #[test]
    fn standard_places_are_found_once_by_their_symbols() {
        let mut d = Discovery::default();
        let found = d.standard_places(Path::new("/"), &[]);
        for t in &found {
            eprintln!("{:?} {:?} {}", t.library, t.api, t.display);
            assert_eq!(t.found_by, FoundBy::StandardPlace);
            assert!(t.api.is_some() || t.nss_ssl_layer, "{t:?}");
        }
        let mut ids: Vec<FileId> = found.iter().map(|t| t.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), found.len(), "one target per file");
        if found.is_empty() {
            eprintln!("SKIP: no TLS library in this system's standard places");
            return;
        }
        // A second look, and a scan of processes mapping them, add nothing.
        assert!(d.standard_places(Path::new("/"), &[]).is_empty());
        let mine = d.scan(&ScanFilter {
            pids: vec![std::process::id()],
            ..Default::default()
        });
        assert!(mine.iter().all(|t| !ids.contains(&t.id)));
    }

    #[test]
    fn libraries_in_an_application_directory_are_found_at_start() {
        let Some(ssl3) = [
            "/usr/lib/x86_64-linux-gnu/libssl3.so",
            "/usr/lib64/libssl3.so",
        ]
        .into_iter()
        .map(Path::new)
        .find(|p| p.exists()) else {
            eprintln!("SKIP: no NSS libssl3.so on this host to copy");
            return;
        };
        // A root with no dynamic linker's cache and no library directory:
        // only the application directory holds a TLS library.
        let root = tempfile::tempdir().unwrap();
        let app = root.path().join("opt/browser");
        std::fs::create_dir_all(&app).unwrap();
        std::fs::copy(ssl3, app.join("libssl3.so")).unwrap();
        std::fs::write(app.join("libnot-elf.so"), b"not ELF").unwrap();
        std::fs::write(app.join("readme.txt"), b"").unwrap();
        let mut d = Discovery::default();
        assert!(d.standard_places(root.path(), &[]).is_empty());
        let found = d.standard_places(
            root.path(),
            &[PathBuf::from("/opt/browser"), PathBuf::from("/not/there")],
        );
        assert_eq!(found.len(), 1, "{found:?}");
        let t = &found[0];
        assert_eq!(t.found_by, FoundBy::ApplicationDir);
        assert_eq!(t.display, "/opt/browser/libssl3.so");
        assert_eq!(t.path, app.join("libssl3.so"));
        assert!(
            t.nss_ssl_layer && t.library == Some(TlsLibrary::Nss),
            "{t:?}"
        );
        assert!(
            d.standard_places(root.path(), &[PathBuf::from("/opt/browser")])
                .is_empty(),
            "once"
        );
    }

    #[test]
    fn mapped_id_is_what_maps_shows() {
        let exe = std::env::current_exe().unwrap();
        let id = mapped_id(&exe).unwrap();
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        assert!(
            maps.lines()
                .filter_map(MapsLine::parse)
                .any(|m| m.id == id && Path::new(m.path) == exe)
        );
    }
}
