//! Finding functions in ELF files: where `SSL_read` or
//! `crypto/tls.(*Conn).Read` lives in a shared library or a binary, as the
//! file offset a uprobe takes.
//!
//! Built on the `object` crate. Files are read through
//! [`object::ReadCache`], so only the headers and the tables looked at are
//! read, never a whole 100 MB binary. `.dynsym` is searched first and
//! `.symtab` for the names still missing (BoringSSL in envoy is not
//! exported). Malformed input gives an error, never a panic.

use std::fs::File;
use std::path::Path;

use object::read::ReadRef;
use object::{Object, ObjectSection, ObjectSegment, ObjectSymbol, ReadCache, SymbolKind};

/// Why a file's symbols could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ElfError {
    /// Not an ELF file, or not one `object` can read.
    #[error("not an ELF file: {0}")]
    NotElf(String),
    /// Opening or reading failed.
    #[error("read error: {0}")]
    Io(#[from] std::io::Error),
}

/// A function symbol found in a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundSymbol {
    /// Its name.
    pub name: String,
    /// Its file offset, as uprobes take it.
    pub offset: u64,
    /// Its virtual address in the file's own address space.
    pub address: u64,
    /// Its size in bytes, 0 when the table does not say.
    pub size: u64,
    /// True if it came from `.symtab` (not exported).
    pub from_symtab: bool,
}

/// Opens `path` and hands the parsed ELF file to `f`.
pub fn with_file<T>(
    path: &Path,
    f: impl FnOnce(&object::File<'_, &ReadCache<File>>) -> T,
) -> Result<T, ElfError> {
    let cache = ReadCache::new(File::open(path)?);
    let file = object::File::parse(&cache).map_err(|e| ElfError::NotElf(e.to_string()))?;
    if file.format() != object::BinaryFormat::Elf {
        return Err(ElfError::NotElf(String::from("not ELF")));
    }
    Ok(f(&file))
}

/// Looks up `wanted` function symbols in the ELF file at `path`.
pub fn find_functions(path: &Path, wanted: &[&str]) -> Result<Vec<FoundSymbol>, ElfError> {
    with_file(path, |f| functions(f, wanted))
}

/// Looks up `wanted` function symbols in ELF bytes (tests, fuzzing).
#[cfg(any(test, feature = "testkit"))]
pub fn find_functions_in(bytes: &[u8], wanted: &[&str]) -> Result<Vec<FoundSymbol>, ElfError> {
    let file = object::File::parse(bytes).map_err(|e| ElfError::NotElf(e.to_string()))?;
    Ok(functions(&file, wanted))
}

/// `.dynsym` first, then `.symtab` for the names still missing.
pub fn functions<'d, R: ReadRef<'d>>(
    file: &object::File<'d, R>,
    wanted: &[&str],
) -> Vec<FoundSymbol> {
    let mut found: Vec<FoundSymbol> = Vec::new();
    for sym in file.dynamic_symbols() {
        take(file, &sym, wanted, false, &mut found);
    }
    if wanted.iter().any(|w| !found.iter().any(|f| f.name == *w)) {
        for sym in file.symbols() {
            take(file, &sym, wanted, true, &mut found);
        }
    }
    found
}

/// Adds `sym` to `found` when it is a defined function named in `wanted`
/// and not found yet.
fn take<'d, R: ReadRef<'d>>(
    file: &object::File<'d, R>,
    sym: &object::Symbol<'d, '_, R>,
    wanted: &[&str],
    from_symtab: bool,
    found: &mut Vec<FoundSymbol>,
) {
    if !matches!(sym.kind(), SymbolKind::Text) || sym.is_undefined() || sym.address() == 0 {
        return;
    }
    let Ok(name) = sym.name_bytes() else { return };
    let Some(w) = wanted.iter().find(|w| w.as_bytes() == name) else {
        return;
    };
    if found.iter().any(|f| f.name == *w) {
        return;
    }
    let Some(offset) = file_offset(file, sym.address()) else {
        return;
    };
    found.push(FoundSymbol {
        name: (*w).to_owned(),
        offset,
        address: sym.address(),
        size: sym.size(),
        from_symtab,
    });
}

/// True if any symbol (exported or not) is named one of `names`.
#[cfg(any(test, feature = "testkit"))]
pub fn has_any_symbol<'d, R: ReadRef<'d>>(file: &object::File<'d, R>, names: &[&str]) -> bool {
    let hit = |sym: object::Symbol<'d, '_, R>| {
        !sym.is_undefined()
            && sym
                .name_bytes()
                .is_ok_and(|n| names.iter().any(|w| w.as_bytes() == n))
    };
    file.dynamic_symbols().any(hit) || file.symbols().any(hit)
}

/// The file offset of virtual address `vaddr`, from the loadable segments.
pub fn file_offset<'d, R: ReadRef<'d>>(file: &object::File<'d, R>, vaddr: u64) -> Option<u64> {
    file.segments().find_map(|seg| {
        let (off, size) = seg.file_range();
        let delta = vaddr.checked_sub(seg.address())?;
        (delta < size.min(seg.size())).then(|| off.checked_add(delta))?
    })
}

/// The bytes of the section named `name`, decompressed when compressed
/// (Go compresses its DWARF), with the section's virtual address.
pub fn section_data<'d, R: ReadRef<'d>>(
    file: &object::File<'d, R>,
    name: &str,
) -> Option<(u64, Vec<u8>)> {
    let section = file.section_by_name(name)?;
    let data = section.uncompressed_data().ok()?;
    Some((section.address(), data.into_owned()))
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// A minimal ELF64: one PT_LOAD at vaddr 0x400000 / offset 0, a .dynsym
    /// with `SSL_read`, a .symtab with `SSL_write`, a section-name table.
    pub(crate) fn tiny_elf() -> Vec<u8> {
        let mut b = vec![0u8; 0x400];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2; // 64-bit
        b[5] = 1; // little-endian
        b[6] = 1; // version
        let put16 =
            |b: &mut Vec<u8>, at: usize, v: u16| b[at..at + 2].copy_from_slice(&v.to_le_bytes());
        let put32 =
            |b: &mut Vec<u8>, at: usize, v: u32| b[at..at + 4].copy_from_slice(&v.to_le_bytes());
        let put64 =
            |b: &mut Vec<u8>, at: usize, v: u64| b[at..at + 8].copy_from_slice(&v.to_le_bytes());
        put16(&mut b, 0x10, 3); // ET_DYN
        put16(&mut b, 0x12, 62); // x86-64
        put32(&mut b, 0x14, 1);
        put64(&mut b, 0x20, 0x40); // phoff
        put64(&mut b, 0x28, 0x100); // shoff
        put16(&mut b, 0x34, 64); // ehsize
        put16(&mut b, 0x36, 56);
        put16(&mut b, 0x38, 1);
        put16(&mut b, 0x3a, 64);
        put16(&mut b, 0x3c, 7);
        put16(&mut b, 0x3e, 6); // shstrndx
        // PT_LOAD vaddr 0x400000 offset 0 filesz/memsz 0x400, r-x
        put32(&mut b, 0x40, 1);
        put32(&mut b, 0x44, 5);
        put64(&mut b, 0x40 + 8, 0);
        put64(&mut b, 0x40 + 16, 0x400000);
        put64(&mut b, 0x40 + 32, 0x400);
        put64(&mut b, 0x40 + 40, 0x400);
        // sections: 0 null, 1 .dynsym(link 2), 2 .dynstr, 3 .symtab(link 4), 4 .strtab, 5 .text, 6 .shstrtab
        let sh = |b: &mut Vec<u8>,
                  i: usize,
                  name: u32,
                  kind: u32,
                  off: u64,
                  size: u64,
                  link: u32,
                  ent: u64| {
            let at = 0x100 + i * 64;
            b[at..at + 4].copy_from_slice(&name.to_le_bytes());
            b[at + 4..at + 8].copy_from_slice(&kind.to_le_bytes());
            b[at + 24..at + 32].copy_from_slice(&off.to_le_bytes());
            b[at + 32..at + 40].copy_from_slice(&size.to_le_bytes());
            b[at + 40..at + 44].copy_from_slice(&link.to_le_bytes());
            b[at + 56..at + 64].copy_from_slice(&ent.to_le_bytes());
        };
        sh(&mut b, 1, 1, 11, 0x300, 48, 2, 24);
        sh(&mut b, 2, 9, 3, 0x380, 16, 0, 0);
        sh(&mut b, 3, 17, 2, 0x340, 48, 4, 24);
        sh(&mut b, 4, 25, 3, 0x390, 16, 0, 0);
        // .text: ALLOC|EXEC at 0x4003c0 (overlaps .shstrtab: fine for lookups)
        sh(&mut b, 5, 33, 1, 0x3c0, 0x40, 0, 0);
        b[0x100 + 5 * 64 + 8] = 6;
        b[0x100 + 5 * 64 + 16..0x100 + 5 * 64 + 24].copy_from_slice(&0x4003c0u64.to_le_bytes());
        sh(&mut b, 6, 39, 3, 0x3a0, 0x40, 0, 0);
        let sym = |b: &mut Vec<u8>, at: usize, name: u32, value: u64| {
            b[at..at + 4].copy_from_slice(&name.to_le_bytes());
            b[at + 4] = 0x12; // GLOBAL FUNC
            b[at + 6..at + 8].copy_from_slice(&5u16.to_le_bytes());
            b[at + 8..at + 16].copy_from_slice(&value.to_le_bytes());
            b[at + 16..at + 24].copy_from_slice(&16u64.to_le_bytes());
        };
        sym(&mut b, 0x318, 1, 0x4003c0);
        sym(&mut b, 0x358, 1, 0x4003d0);
        b[0x381..0x389].copy_from_slice(b"SSL_read");
        b[0x391..0x39a].copy_from_slice(b"SSL_write");
        let names = b"\0.dynsym\0.dynstr\0.symtab\0.strtab\0.text\0.shstrtab\0";
        b[0x3a0..0x3a0 + names.len()].copy_from_slice(names);
        b
    }

    #[test]
    fn finds_exported_then_hidden_with_file_offsets() {
        let elf = tiny_elf();
        let got = find_functions_in(&elf, &["SSL_read", "SSL_write", "SSL_free"]).unwrap();
        assert_eq!(
            got,
            vec![
                FoundSymbol {
                    name: "SSL_read".into(),
                    offset: 0x3c0,
                    address: 0x4003c0,
                    size: 16,
                    from_symtab: false
                },
                FoundSymbol {
                    name: "SSL_write".into(),
                    offset: 0x3d0,
                    address: 0x4003d0,
                    size: 16,
                    from_symtab: true
                },
            ]
        );
    }

    #[test]
    fn rejects_non_elf() {
        assert!(matches!(
            find_functions_in(b"hello", &["x"]),
            Err(ElfError::NotElf(_))
        ));
    }

    #[test]
    fn finds_ssl_read_in_system_libssl() {
        let Some(lib) = [
            "/lib/x86_64-linux-gnu/libssl.so.3",
            "/usr/lib/x86_64-linux-gnu/libssl.so.3",
        ]
        .iter()
        .find(|p| Path::new(p).exists()) else {
            eprintln!("SKIP: no libssl.so.3 on this machine");
            return;
        };
        let got = find_functions(Path::new(lib), &["SSL_read", "SSL_write_ex"]).unwrap();
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got.iter().all(|s| s.offset > 0 && !s.from_symtab));
        let has_ex = with_file(Path::new(lib), |f| has_any_symbol(f, &["SSL_CTX_new_ex"])).unwrap();
        assert!(has_ex, "OpenSSL 3 exports SSL_CTX_new_ex");
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_mutated_elf(flips in proptest::collection::vec((0usize..0x400, proptest::num::u8::ANY), 1..20)) {
            let mut elf = tiny_elf();
            for (at, v) in flips {
                elf[at] = v;
            }
            let _ = find_functions_in(&elf, &["SSL_read", "SSL_write"]);
        }
    }
}
