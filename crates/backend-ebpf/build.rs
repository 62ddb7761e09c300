//! Compiles the BPF programs in `src/bpf/` with clang, against a `vmlinux.h`
//! generated from the build machine's kernel BTF (CO-RE: the object then
//! loads on other kernels too, relocated by libbpf).

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const BPF_SOURCES: &[&str] = &["cleartap"];

fn main() {
    println!("cargo:rerun-if-changed=src/bpf");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CLEARTAP_VMLINUX_H");
    println!("cargo:rerun-if-env-changed=CLEARTAP_BTF");
    println!("cargo:rerun-if-env-changed=DOCS_RS");
    if env::var_os("CARGO_FEATURE_BPF").is_none() {
        return;
    }
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    if env::var_os("DOCS_RS").is_some() {
        // docs.rs builds documentation without clang, bpftool or kernel
        // BTF; the docs need no BPF object, only a file to include.
        for name in BPF_SOURCES {
            std::fs::write(out.join(format!("{name}.bpf.o")), [])
                .expect("backend-ebpf: cannot write to OUT_DIR");
        }
        return;
    }
    let manifest =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let bpf_dir = manifest.join("src/bpf");

    check_clang();
    let vmlinux = out.join("vmlinux.h");
    write_vmlinux_h(&vmlinux);

    let arch = match env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("x86_64") => "x86",
        Ok("aarch64") => "arm64",
        Ok("riscv64") => "riscv",
        Ok("s390x") => "s390",
        Ok("powerpc64") => "powerpc",
        Ok(other) => panic!("backend-ebpf: no BPF target arch mapping for {other}"),
        Err(_) => "x86",
    };
    for name in BPF_SOURCES {
        let src = bpf_dir.join(format!("{name}.bpf.c"));
        let obj = out.join(format!("{name}.bpf.o"));
        let status = Command::new(clang())
            .args(["-g", "-O2", "-target", "bpf", "-Wall", "-Werror"])
            .arg(format!("-D__TARGET_ARCH_{arch}"))
            .arg("-I")
            .arg(&out)
            .arg("-I")
            .arg(&bpf_dir)
            .arg("-c")
            .arg(&src)
            .arg("-o")
            .arg(&obj)
            .status()
            .unwrap_or_else(|e| panic!("backend-ebpf: cannot run clang on {}: {e}", src.display()));
        assert!(
            status.success(),
            "backend-ebpf: clang failed on {} (are libbpf headers installed? `apt-get install libbpf-dev`)",
            src.display()
        );
    }
}

fn clang() -> String {
    env::var("CLANG").unwrap_or_else(|_| String::from("clang"))
}

fn check_clang() {
    let ok = Command::new(clang())
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "backend-ebpf: clang not found; it compiles the BPF programs. Install it with \
         `apt-get install clang` (and libbpf-dev, bpftool), set CLANG=/path/to/clang, \
         or build without the `bpf` feature"
    );
}

/// Writes vmlinux.h from the kernel's BTF with bpftool, or copies the file
/// named by CLEARTAP_VMLINUX_H.
fn write_vmlinux_h(dst: &Path) {
    if let Some(given) = env::var_os("CLEARTAP_VMLINUX_H") {
        std::fs::copy(&given, dst).unwrap_or_else(|e| {
            panic!("backend-ebpf: cannot copy CLEARTAP_VMLINUX_H {given:?}: {e}")
        });
        return;
    }
    let btf = env::var("CLEARTAP_BTF").unwrap_or_else(|_| String::from("/sys/kernel/btf/vmlinux"));
    assert!(
        Path::new(&btf).exists(),
        "backend-ebpf: {btf} not found: the build needs kernel BTF to generate vmlinux.h. \
         Build on a kernel with CONFIG_DEBUG_INFO_BTF, point CLEARTAP_BTF at a BTF file, \
         or CLEARTAP_VMLINUX_H at a generated header"
    );
    let output = ["bpftool", "/usr/sbin/bpftool"]
        .iter()
        .find_map(|tool| {
            Command::new(tool)
                .args(["btf", "dump", "file", &btf, "format", "c"])
                .output()
                .ok()
        })
        .unwrap_or_else(|| {
            panic!(
                "backend-ebpf: bpftool not found; it generates vmlinux.h from {btf}. \
                 Install it with `apt-get install bpftool`"
            )
        });
    assert!(
        output.status.success(),
        "backend-ebpf: `bpftool btf dump file {btf} format c` failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::write(dst, &output.stdout)
        .unwrap_or_else(|e| panic!("backend-ebpf: cannot write {}: {e}", dst.display()));
}
