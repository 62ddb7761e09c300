//! What the running kernel offers, and which program variants follow from it.
//!
//! The BPF object holds every variant; the loader keeps the ones chosen
//! here and switches the others off before loading.

use std::path::Path;

/// Kernel facilities the BPF programs may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelFeatures {
    /// Kernel BTF at /sys/kernel/btf/vmlinux (needed for CO-RE).
    pub btf: bool,
    /// kprobes (the `kprobe` perf event source exists).
    pub kprobes: bool,
    /// fentry/fexit (BPF tracing programs load).
    pub fentry: bool,
}

impl KernelFeatures {
    /// Looks at the files that tell; fentry support is given by the caller,
    /// who can only know it by trying a load (see the loader).
    pub fn detect(fentry: bool) -> Self {
        Self::detect_in(Path::new("/"), fentry)
    }

    /// As [`KernelFeatures::detect`] with another root directory (tests).
    pub fn detect_in(root: &Path, fentry: bool) -> Self {
        Self {
            btf: root.join("sys/kernel/btf/vmlinux").exists(),
            // From the PMU, not from available_filter_functions: the latter
            // exists with ftrace even when CONFIG_KPROBES is off.
            kprobes: root.join("sys/bus/event_source/devices/kprobe").exists(),
            fentry,
        }
    }
}

/// How socket closes below the syscall layer (process exit, reset) are seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseHook {
    /// `fentry/tcp_close`: cheapest.
    Fentry,
    /// `kprobe/tcp_close`.
    Kprobe,
    /// `tracepoint/sock/inet_sock_set_state` to TCP_CLOSE: works everywhere.
    Tracepoint,
}

impl CloseHook {
    /// The BPF program implementing this variant.
    pub const fn program(self) -> &'static str {
        match self {
            Self::Fentry => "fentry_tcp_close",
            Self::Kprobe => "kprobe_tcp_close",
            Self::Tracepoint => "tp_sock_set_state",
        }
    }

    /// Every variant.
    pub const ALL: [CloseHook; 3] = [Self::Fentry, Self::Kprobe, Self::Tracepoint];
}

/// The program variants to load on a kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramPlan {
    /// The close hook kept.
    pub close_hook: CloseHook,
    /// Programs switched off, each with the reason.
    pub skipped: Vec<(&'static str, &'static str)>,
}

impl ProgramPlan {
    /// Chooses the best variant the kernel supports; syscall tracepoints
    /// and uprobes are the baseline and always kept.
    pub fn choose(f: &KernelFeatures) -> Self {
        let close_hook = if f.fentry {
            CloseHook::Fentry
        } else if f.kprobes {
            CloseHook::Kprobe
        } else {
            CloseHook::Tracepoint
        };
        let skipped = CloseHook::ALL
            .into_iter()
            .filter(|h| *h != close_hook)
            .map(|h| {
                let why = match h {
                    CloseHook::Fentry if !f.fentry => "fentry not supported by this kernel",
                    CloseHook::Kprobe if !f.kprobes => {
                        "kprobes not supported (no /sys/bus/event_source/devices/kprobe)"
                    }
                    _ => "a preferred variant is used",
                };
                (h.program(), why)
            })
            .collect();
        Self {
            close_hook,
            skipped,
        }
    }

    /// True if `program` is to be loaded.
    pub fn keeps(&self, program: &str) -> bool {
        !self.skipped.iter().any(|(p, _)| *p == program)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(kprobes: bool, fentry: bool) -> KernelFeatures {
        KernelFeatures {
            btf: true,
            kprobes,
            fentry,
        }
    }

    #[test]
    fn prefers_fentry_then_kprobe_then_tracepoint() {
        assert_eq!(
            ProgramPlan::choose(&f(true, true)).close_hook,
            CloseHook::Fentry
        );
        assert_eq!(
            ProgramPlan::choose(&f(true, false)).close_hook,
            CloseHook::Kprobe
        );
        assert_eq!(
            ProgramPlan::choose(&f(false, false)).close_hook,
            CloseHook::Tracepoint
        );
        // fentry without kprobes (possible with CONFIG_KPROBES off).
        assert_eq!(
            ProgramPlan::choose(&f(false, true)).close_hook,
            CloseHook::Fentry
        );
    }

    #[test]
    fn switches_off_the_others_with_reasons() {
        let plan = ProgramPlan::choose(&f(false, false));
        assert!(plan.keeps("tp_sock_set_state"));
        assert!(!plan.keeps("fentry_tcp_close"));
        assert!(!plan.keeps("kprobe_tcp_close"));
        assert!(plan.keeps("tp_enter_read"));
        let reasons: Vec<_> = plan.skipped.iter().map(|(_, r)| *r).collect();
        assert!(reasons.iter().any(|r| r.contains("kprobe")));
        assert!(reasons.iter().any(|r| r.contains("fentry")));
        let plan = ProgramPlan::choose(&f(true, true));
        assert!(!plan.keeps("tp_sock_set_state") && !plan.keeps("kprobe_tcp_close"));
    }

    #[test]
    fn detects_from_files_under_a_root() {
        let dir = std::env::temp_dir().join(format!("ct-feat-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sys/kernel/btf")).unwrap();
        std::fs::write(dir.join("sys/kernel/btf/vmlinux"), b"").unwrap();
        let got = KernelFeatures::detect_in(&dir, false);
        assert_eq!(
            got,
            KernelFeatures {
                btf: true,
                kprobes: false,
                fentry: false
            }
        );
        std::fs::create_dir_all(dir.join("sys/bus/event_source/devices/kprobe")).unwrap();
        assert!(KernelFeatures::detect_in(&dir, false).kprobes);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
