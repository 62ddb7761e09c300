//! Go's function table, its build information and the disassembly of a
//! function, over arbitrary bytes: no panic, and a function found lies
//! inside the text it was looked up in.
#![no_main]

use backend_ebpf::go::{buildinfo, disasm, pclntab};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(table) = pclntab::Pclntab::new(data, 0x401000) {
        for name in ["crypto/tls.(*Conn).Read", "crypto/tls.(*Conn).Write", ""] {
            if let Some(f) = table.find(name) {
                assert!(f.end > f.entry);
            }
        }
    }
    let mut blob = buildinfo::MAGIC.to_vec();
    blob.extend_from_slice(data);
    let _ = buildinfo::version(&blob, |_, len| data.get(..(len as usize).min(data.len())).map(<[u8]>::to_vec));
    for ret in disasm::ret_addresses(data, 0x1000) {
        assert!(ret >= 0x1000 && ret < 0x1000 + data.len() as u64);
    }
    let _ = disasm::after_stack_check(data, 0x1000);
});
