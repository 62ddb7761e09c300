//! A guard for tests that need root and some programs.

use std::path::Path;
use std::process::Command;

/// A test that needs root and some programs: `None`, with the reason
/// printed, when this machine cannot run it.
///
/// ```
/// let Some(_root) = capture_core::testkit::RootScenario::require(&["ip"]) else {
///     return; // "skipped: needs root (…)" was printed
/// };
/// ```
#[derive(Debug)]
pub struct RootScenario(());

impl RootScenario {
    /// Checks for root and for each of `tools` on the `PATH` (or in `/usr/sbin`).
    pub fn require(tools: &[&str]) -> Option<Self> {
        match Self::missing(tools) {
            Some(why) => {
                #[allow(clippy::print_stdout)]
                {
                    println!("skipped: {why}");
                }
                None
            }
            None => Some(Self(())),
        }
    }

    /// [`require`](Self::require) for the test `test`, which loads BPF
    /// programs: it also needs the kernel's BTF. The printed reason names
    /// the test.
    pub fn require_bpf(test: &str, tools: &[&str]) -> Option<Self> {
        let why = Self::missing(tools).or_else(|| {
            (!Path::new("/sys/kernel/btf/vmlinux").exists())
                .then(|| "the kernel has no BTF (/sys/kernel/btf/vmlinux)".to_owned())
        });
        match why {
            Some(why) => {
                #[allow(clippy::print_stdout)]
                {
                    println!("{test}: skipped: {why}");
                }
                None
            }
            None => Some(Self(())),
        }
    }

    /// Why the test cannot run here, if it cannot.
    pub fn missing(tools: &[&str]) -> Option<String> {
        let uid = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Uid:"))
                    .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
            });
        if uid.as_deref() != Some("0") {
            return Some("needs root (namespaces, BPF, packet capture): run as root".into());
        }
        tools
            .iter()
            .find(|tool| {
                !Command::new("sh")
                    .arg("-c")
                    .arg(format!("command -v {tool} || test -x /usr/sbin/{tool}"))
                    .output()
                    .is_ok_and(|o| o.status.success())
            })
            .map(|tool| format!("needs {tool} (scripts/install-deps.sh installs it)"))
    }
}
