//! Function lookup in arbitrary bytes taken for an ELF file: no panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = backend_ebpf::elf::find_functions_in(data, &["SSL_read", "SSL_write", "main.main"]);
});
