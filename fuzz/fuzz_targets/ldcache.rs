//! Arbitrary bytes as the dynamic linker's cache (a container's
//! `/etc/ld.so.cache` is not ours to trust): nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(entries) = backend_ebpf::ldcache::parse(data) {
        for e in entries {
            assert!(!e.name.is_empty() && !e.path.as_os_str().is_empty());
        }
    }
});
