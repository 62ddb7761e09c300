//! Loading the BPF object, choosing its variants, attaching its programs.

use std::collections::HashMap;
use std::path::Path;

use libbpf_rs::{Link, MapCore, MapFlags, MapType, Object, ObjectBuilder, ProgramType, UprobeOpts};

use capture_core::model::TlsLibrary;

use crate::discovery::{FileId, TlsTarget};
use crate::go::{GoLayout, GoTlsTarget};

/// Entries of the `go_layouts` map (GO_MAX_LAYOUTS of go_tls.h).
const GO_MAX_LAYOUTS: u32 = 64;
use crate::features::{KernelFeatures, ProgramPlan};
use crate::{EbpfConfig, Error};

/// The compiled BPF object (built by build.rs from src/bpf/cleartap.bpf.c).
pub(crate) static OBJECT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/cleartap.bpf.o"));

/// Byte ranges of `struct ct_config` (cleartap.h), checked against the
/// object's BTF by the `layout` test.
pub(crate) mod config_field {
    use std::ops::Range;
    pub(crate) const SELF_PID: Range<usize> = 0..4;
    pub(crate) const FILTER_PIDS: Range<usize> = 4..8;
    pub(crate) const FILTER_CGROUPS: Range<usize> = 8..12;
    pub(crate) const CAPTURE_SYSCALL: Range<usize> = 12..16;
    pub(crate) const CAPTURE_EGRESS: Range<usize> = 16..20;
    pub(crate) const FILTER_COMMS: Range<usize> = 20..24;
    pub(crate) const MAX_CALL_BYTES: Range<usize> = 24..32;
    pub(crate) const LEN: usize = 32;
    /// Every field: (C member name, byte range).
    #[cfg(test)]
    pub(crate) const ALL: [(&str, Range<usize>); 7] = [
        ("self_pid", SELF_PID),
        ("filter_pids", FILTER_PIDS),
        ("filter_cgroups", FILTER_CGROUPS),
        ("capture_syscall", CAPTURE_SYSCALL),
        ("capture_egress", CAPTURE_EGRESS),
        ("filter_comms", FILTER_COMMS),
        ("max_call_bytes", MAX_CALL_BYTES),
    ];
}

/// `struct ct_config` of cleartap.h.
fn config_bytes(cfg: &EbpfConfig, self_pid: u32) -> Vec<u8> {
    use config_field as f;
    let mut b = vec![0u8; f::LEN];
    let mut put = |r: std::ops::Range<usize>, v: &[u8]| {
        if let Some(dst) = b.get_mut(r) {
            dst.copy_from_slice(v);
        }
    };
    put(f::SELF_PID, &self_pid.to_le_bytes());
    put(
        f::FILTER_PIDS,
        &u32::from(!cfg.pids.is_empty()).to_le_bytes(),
    );
    put(
        f::FILTER_CGROUPS,
        &u32::from(!cfg.cgroups.is_empty() || cfg.filter_cgroups).to_le_bytes(),
    );
    put(f::CAPTURE_SYSCALL, &u32::from(!cfg.ssl_only).to_le_bytes());
    put(f::CAPTURE_EGRESS, &u32::from(cfg.egress).to_le_bytes());
    put(
        f::FILTER_COMMS,
        &u32::from(!cfg.comms.is_empty()).to_le_bytes(),
    );
    put(f::MAX_CALL_BYTES, &cfg.max_call_bytes.to_le_bytes());
    b
}

/// Programs SSL-only mode leaves unattached: the exits of reads and writes.
const SSL_ONLY_UNUSED: [&str; 8] = [
    "tp_exit_read",
    "tp_exit_recvfrom",
    "tp_exit_readv",
    "tp_exit_write",
    "tp_exit_sendto",
    "tp_exit_writev",
    "tp_exit_recvmsg",
    "tp_exit_sendmsg",
];

/// The attach cookie the BPF programs copy into each TLS event (CT_LIB_* of cleartap.h).
fn library_cookie(library: Option<TlsLibrary>) -> u64 {
    library.map_or(0, |lib| u64::from(crate::event::library_code(lib)))
}

/// The loaded programs and their attachments. Dropping it detaches everything.
pub(crate) struct Probes {
    // Field order is drop order: links go before the object.
    kernel_links: Vec<Link>,
    /// Per file and, for per-process probes, per process (None: every process).
    tls_links: HashMap<(FileId, Option<u32>), Vec<Link>>,
    obj: Object,
    /// The variants chosen for this kernel.
    pub(crate) plan: ProgramPlan,
    /// What the kernel offers.
    pub(crate) features: KernelFeatures,
    /// Go socket layouts in the `go_layouts` map, by index.
    go_layouts: Vec<GoLayout>,
}

fn load_error(what: &str, e: &libbpf_rs::Error) -> Error {
    if e.kind() == libbpf_rs::ErrorKind::PermissionDenied {
        Error::Permission {
            what: what.to_owned(),
        }
    } else {
        Error::Load(format!("{what}: {e:#}"))
    }
}

/// CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN, in the effective set.
fn has_bpf_capabilities() -> bool {
    const CAP_SYS_ADMIN: u32 = 21;
    const CAP_PERFMON: u32 = 38;
    const CAP_BPF: u32 = 39;
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0);
    let has = |cap: u32| eff & (1u64 << cap) != 0;
    has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON))
}

/// Makes sure tracefs is mounted: libbpf finds syscall tracepoint ids there.
fn ensure_tracefs() -> Result<(), Error> {
    for dir in [
        "/sys/kernel/tracing/events",
        "/sys/kernel/debug/tracing/events",
    ] {
        if Path::new(dir).join("syscalls").exists() {
            return Ok(());
        }
    }
    let target = c"/sys/kernel/tracing";
    // SAFETY: every pointer is a NUL-terminated string that outlives the call.
    let rc = unsafe {
        libc::mount(
            c"nodev".as_ptr(),
            target.as_ptr(),
            c"tracefs".as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        if err.kind() == std::io::ErrorKind::PermissionDenied {
            return Err(Error::Permission {
                what: String::from("mounting tracefs"),
            });
        }
        return Err(Error::NoTracefs(err.to_string()));
    }
    Ok(())
}

impl Probes {
    /// Loads and attaches the kernel-side programs (syscalls, close hook).
    pub(crate) fn load(cfg: &EbpfConfig) -> Result<Self, Error> {
        if !Path::new("/sys/kernel/btf/vmlinux").exists() {
            return Err(Error::NoBtf);
        }
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        if !root && !has_bpf_capabilities() {
            return Err(Error::Permission {
                what: String::from("loading BPF programs"),
            });
        }
        match MapType::RingBuf.is_supported() {
            Ok(true) => {}
            Ok(false) => return Err(Error::NoRingBuffer),
            Err(e) if e.kind() == libbpf_rs::ErrorKind::PermissionDenied || !root => {
                return Err(Error::Permission {
                    what: String::from("probing BPF map types"),
                });
            }
            Err(e) => return Err(Error::Load(format!("probing the ring buffer map: {e}"))),
        }
        ensure_tracefs()?;
        let fentry = ProgramType::Tracing.is_supported().unwrap_or(false);
        let mut features = KernelFeatures::detect(fentry);
        let (obj, plan) = match Self::open_and_load(cfg, &features) {
            Ok(ok) => ok,
            // "By trying": a kernel may claim tracing programs yet refuse fentry.
            Err(_) if features.fentry => {
                features.fentry = false;
                Self::open_and_load(cfg, &features)?
            }
            Err(e) => return Err(e),
        };
        let mut probes = Self {
            kernel_links: Vec::new(),
            tls_links: HashMap::new(),
            obj,
            plan,
            features,
            go_layouts: Vec::new(),
        };
        probes.configure(cfg)?;
        probes.attach_kernel(cfg.ssl_only)?;
        Ok(probes)
    }

    fn open_and_load(
        cfg: &EbpfConfig,
        features: &KernelFeatures,
    ) -> Result<(Object, ProgramPlan), Error> {
        let plan = ProgramPlan::choose(features);
        let mut open = ObjectBuilder::default()
            .open_memory(OBJECT)
            .map_err(|e| load_error("opening the BPF object", &e))?;
        for mut prog in open.progs_mut() {
            let name = prog.name().to_string_lossy().into_owned();
            if !plan.keeps(&name) {
                prog.set_autoload(false);
            }
        }
        for mut map in open.maps_mut() {
            if map.name() == "events" {
                map.set_max_entries(cfg.ring_buffer_bytes)
                    .map_err(|e| load_error("sizing the ring buffer", &e))?;
            }
        }
        let obj = open
            .load()
            .map_err(|e| load_error("loading the BPF programs", &e))?;
        Ok((obj, plan))
    }

    fn map(&self, name: &str) -> Result<libbpf_rs::Map<'_>, Error> {
        self.obj
            .maps()
            .find(|m| m.name() == name)
            .ok_or_else(|| Error::Load(format!("BPF map {name} missing from the object")))
    }

    fn configure(&mut self, cfg: &EbpfConfig) -> Result<(), Error> {
        let zero = 0u32.to_le_bytes();
        let update = |map: &libbpf_rs::Map<'_>, k: &[u8], v: &[u8]| {
            map.update(k, v, MapFlags::ANY)
                .map_err(|e| load_error("writing the BPF configuration", &e))
        };
        update(
            &self.map("ct_cfg")?,
            &zero,
            &config_bytes(cfg, std::process::id()),
        )?;
        let pids = self.map("pid_filter")?;
        for pid in &cfg.pids {
            update(&pids, &pid.to_le_bytes(), &[1])?;
        }
        let comms = self.map("comm_filter")?;
        for comm in &cfg.comms {
            let mut k = [0u8; 16];
            for (d, s) in k.iter_mut().zip(comm.bytes().take(15)) {
                *d = s;
            }
            update(&comms, &k, &[1])?;
        }
        let cgroups = self.map("cgroup_filter")?;
        for dir in &cfg.cgroups {
            let id = crate::cgroup_filter::cgroup_id(dir)?;
            update(&cgroups, &id.to_le_bytes(), &[1])?;
        }
        Ok(())
    }

    /// A handle on the map of traced cgroups, usable from any thread.
    pub(crate) fn cgroup_map(&self) -> Result<libbpf_rs::MapHandle, Error> {
        libbpf_rs::MapHandle::try_from(&self.map("cgroup_filter")?)
            .map_err(|e| load_error("opening the cgroup filter map", &e))
    }

    /// Attaches the syscall tracepoints and the close hook; in SSL-only
    /// mode without the exits of reads and writes, whose entries do all
    /// that mode needs (syscalls.h, `ssl_only_io`): each attached
    /// tracepoint costs every process's calls of that syscall.
    fn attach_kernel(&mut self, ssl_only: bool) -> Result<(), Error> {
        for prog in self.obj.progs_mut() {
            let section = prog.section().to_string_lossy().into_owned();
            let name = prog.name().to_string_lossy().into_owned();
            if section.starts_with("uprobe")
                || section.starts_with("uretprobe")
                || !self.plan.keeps(&name)
                || (ssl_only && SSL_ONLY_UNUSED.contains(&name.as_str()))
            {
                continue;
            }
            let link = prog.attach().map_err(|e| {
                if e.kind() == libbpf_rs::ErrorKind::PermissionDenied {
                    Error::Permission {
                        what: format!("attaching {name} to {section}"),
                    }
                } else {
                    Error::Attach {
                        program: name.clone(),
                        target: section.clone(),
                        reason: format!("{e:#}"),
                    }
                }
            })?;
            self.kernel_links.push(link);
        }
        Ok(())
    }

    /// Puts the TLS uprobes on a library or binary, for every process
    /// mapping it or only for `pid`, and registers a file holding NSS's SSL
    /// layer; returns the functions probed.
    pub(crate) fn attach_tls(
        &mut self,
        target: &TlsTarget,
        pid: Option<u32>,
    ) -> Result<Vec<&'static str>, Error> {
        if self.tls_links.contains_key(&(target.id, pid)) {
            return Ok(Vec::new());
        }
        if target.nss_ssl_layer {
            let mut key = target.id.kernel_dev().to_le_bytes().to_vec();
            key.extend_from_slice(&target.id.inode.to_le_bytes());
            self.map("nss_ssl_files")?
                .update(&key, &[1], MapFlags::ANY)
                .map_err(|e| load_error("registering NSS's SSL layer", &e))?;
        }
        let pid_arg = pid.and_then(|p| i32::try_from(p).ok()).unwrap_or(-1);
        let cookie = library_cookie(target.library);
        let mut links = Vec::new();
        let mut probed = Vec::new();
        let probes = target
            .api
            .map(|api| api.probes(&target.symbols))
            .unwrap_or_default();
        for probe in probes {
            let Some(offset) = target.offset(probe.symbol) else {
                continue;
            };
            let Some(prog) = self.obj.progs_mut().find(|p| p.name() == probe.program) else {
                return Err(Error::Load(format!(
                    "BPF program {} missing from the object",
                    probe.program
                )));
            };
            let offset = usize::try_from(offset)
                .map_err(|_| Error::Config(String::from("symbol offset")))?;
            let opts = UprobeOpts {
                cookie,
                retprobe: probe.retprobe,
                ..Default::default()
            };
            let link = prog
                .attach_uprobe_with_opts(pid_arg, &target.path, offset, opts)
                .map_err(|e| Error::Attach {
                    program: probe.program.to_owned(),
                    target: format!("{} in {}", probe.symbol, target.display),
                    reason: format!("{e:#}"),
                })?;
            links.push(link);
            if !probed.contains(&probe.symbol) {
                probed.push(probe.symbol);
            }
        }
        if let Some(go) = &target.go {
            self.attach_go(go, target, pid_arg, &mut links)?;
            probed.extend([crate::go::WRITE, crate::go::READ]);
        }
        self.tls_links.insert((target.id, pid), links);
        Ok(probed)
    }

    /// The index of `layout` in the `go_layouts` map, added when new.
    fn go_layout_index(&mut self, layout: GoLayout) -> Result<u32, Error> {
        if let Some(i) = self.go_layouts.iter().position(|l| *l == layout) {
            return u32::try_from(i).map_err(|_| Error::Config(String::from("layout index")));
        }
        let index = u32::try_from(self.go_layouts.len())
            .ok()
            .filter(|i| *i < GO_MAX_LAYOUTS)
            .ok_or_else(|| {
                Error::Config(format!(
                    "more than {GO_MAX_LAYOUTS} distinct Go struct layouts"
                ))
            })?;
        self.map("go_layouts")?
            .update(&index.to_le_bytes(), &layout.to_bpf(), MapFlags::ANY)
            .map_err(|e| load_error("writing a Go struct layout", &e))?;
        self.go_layouts.push(layout);
        Ok(index)
    }

    /// Go crypto/tls: entry probes on Write and Read, and a probe on every
    /// RET of Read (never a uretprobe: Go moves goroutine stacks). The
    /// attach cookie is the binary's layout index.
    fn attach_go(
        &mut self,
        go: &GoTlsTarget,
        target: &TlsTarget,
        pid_arg: i32,
        links: &mut Vec<Link>,
    ) -> Result<(), Error> {
        let cookie = u64::from(self.go_layout_index(go.layout)?);
        let mut plan = vec![
            ("go_tls_write_entry", crate::go::WRITE, go.write),
            ("go_tls_read_entry", crate::go::READ, go.read),
        ];
        plan.extend(
            go.read_returns
                .iter()
                .map(|ret| ("go_tls_read_return", crate::go::READ, *ret)),
        );
        for (program, function, offset) in plan {
            let prog = self
                .obj
                .progs_mut()
                .find(|p| p.name() == program)
                .ok_or_else(|| {
                    Error::Load(format!("BPF program {program} missing from the object"))
                })?;
            let offset = usize::try_from(offset)
                .map_err(|_| Error::Config(String::from("symbol offset")))?;
            let opts = UprobeOpts {
                cookie,
                ..Default::default()
            };
            let link = prog
                .attach_uprobe_with_opts(pid_arg, &target.path, offset, opts)
                .map_err(|e| Error::Attach {
                    program: program.to_owned(),
                    target: format!("{function} at {offset:#x} in {}", target.display),
                    reason: format!("{e:#}"),
                })?;
            links.push(link);
        }
        Ok(())
    }

    /// Files (or file and process pairs) carrying uprobes.
    pub(crate) fn tls_targets(&self) -> usize {
        self.tls_links.len()
    }

    /// Detaches per-process probes of processes that are gone.
    pub(crate) fn detach_dead(&mut self, alive: impl Fn(u32) -> bool) {
        self.tls_links.retain(|(_, pid), _| pid.is_none_or(&alive));
    }

    /// The ring buffer map.
    pub(crate) fn events(&self) -> Result<libbpf_rs::Map<'_>, Error> {
        self.map("events")
    }

    /// Per-CPU counters summed: index as in cleartap.h (CT_CNT_*).
    pub(crate) fn counters(&self) -> [u64; 4] {
        let mut sum = [0u64; 4];
        let Ok(map) = self.map("counters") else {
            return sum;
        };
        for (i, slot) in sum.iter_mut().enumerate() {
            let key = u32::try_from(i).unwrap_or(0).to_le_bytes();
            if let Ok(Some(per_cpu)) = map.lookup_percpu(&key, MapFlags::ANY) {
                *slot = per_cpu
                    .iter()
                    .filter_map(|v| {
                        v.get(..8)
                            .and_then(|b| b.try_into().ok())
                            .map(u64::from_le_bytes)
                    })
                    .sum();
            }
        }
        sum
    }
}
