//! A small ELF64 symbol-table reader: finds where functions such as
//! `SSL_read` live in a shared library or a statically linked binary.
//!
//! It reads only the headers and the symbol tables (never a whole 100 MB
//! binary), looks in `.dynsym` first and in `.symtab` when the wanted
//! symbols are not exported (BoringSSL in envoy), and turns a symbol's
//! virtual address into the file offset uprobes want. Any malformed input
//! gives an error, never a panic.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Largest symbol or string table read.
const MAX_TABLE: u64 = 256 << 20;
const SHT_SYMTAB: u32 = 2;
const SHT_DYNSYM: u32 = 11;
const PT_LOAD: u32 = 1;
const STT_FUNC: u8 = 2;
const STT_GNU_IFUNC: u8 = 10;

/// Why a file's symbols could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ElfError {
    /// Not an ELF file, or not 64-bit little-endian.
    #[error("not a 64-bit little-endian ELF file")]
    NotElf64,
    /// A header or table lies outside the file or is too large.
    #[error("malformed ELF: {0}")]
    Malformed(&'static str),
    /// Reading failed.
    #[error("read error: {0}")]
    Io(#[from] std::io::Error),
}

/// Random access to the bytes of an ELF file.
pub trait ElfBytes {
    /// `len` bytes at `offset`, or an error if they are not all there.
    fn read(&self, offset: u64, len: u64) -> Result<Vec<u8>, ElfError>;
}

impl ElfBytes for File {
    fn read(&self, offset: u64, len: u64) -> Result<Vec<u8>, ElfError> {
        if len > MAX_TABLE {
            return Err(ElfError::Malformed("table too large"));
        }
        let mut buf = vec![0u8; usize::try_from(len).map_err(|_| ElfError::Malformed("length"))?];
        self.read_exact_at(&mut buf, offset)?;
        Ok(buf)
    }
}

impl ElfBytes for [u8] {
    fn read(&self, offset: u64, len: u64) -> Result<Vec<u8>, ElfError> {
        let start = usize::try_from(offset).map_err(|_| ElfError::Malformed("offset"))?;
        let len = usize::try_from(len).map_err(|_| ElfError::Malformed("length"))?;
        let end = start
            .checked_add(len)
            .ok_or(ElfError::Malformed("offset overflow"))?;
        self.get(start..end)
            .map(<[u8]>::to_vec)
            .ok_or(ElfError::Malformed("outside the file"))
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at.checked_add(2)?)?
        .try_into()
        .ok()
        .map(u16::from_le_bytes)
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at.checked_add(4)?)?
        .try_into()
        .ok()
        .map(u32::from_le_bytes)
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at.checked_add(8)?)?
        .try_into()
        .ok()
        .map(u64::from_le_bytes)
}

struct Section {
    kind: u32,
    offset: u64,
    size: u64,
    link: u32,
    entsize: u64,
}

struct Segment {
    vaddr: u64,
    memsz: u64,
    offset: u64,
}

/// A function symbol found in a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundSymbol {
    /// Its name.
    pub name: String,
    /// Its file offset, as uprobes take it.
    pub offset: u64,
    /// True if it came from `.symtab` (not exported).
    pub from_symtab: bool,
}

/// Looks up `wanted` function symbols in the ELF file at `path`.
pub fn find_functions(path: &Path, wanted: &[&str]) -> Result<Vec<FoundSymbol>, ElfError> {
    let file = File::open(path)?;
    find_functions_in(&file, wanted)
}

/// Looks up `wanted` function symbols in ELF bytes: `.dynsym` first, then
/// `.symtab` for the names still missing.
pub fn find_functions_in<B: ElfBytes + ?Sized>(
    bytes: &B,
    wanted: &[&str],
) -> Result<Vec<FoundSymbol>, ElfError> {
    let eh = bytes.read(0, 64).map_err(|_| ElfError::NotElf64)?;
    if eh.get(..4) != Some(b"\x7fELF".as_slice()) || eh.get(4) != Some(&2) || eh.get(5) != Some(&1)
    {
        return Err(ElfError::NotElf64);
    }
    let bad = ElfError::Malformed("header");
    let phoff = u64_at(&eh, 0x20).ok_or(ElfError::Malformed("header"))?;
    let shoff = u64_at(&eh, 0x28).ok_or(ElfError::Malformed("header"))?;
    let phentsize = u64::from(u16_at(&eh, 0x36).ok_or(ElfError::Malformed("header"))?);
    let phnum = u64::from(u16_at(&eh, 0x38).ok_or(ElfError::Malformed("header"))?);
    let shentsize = u64::from(u16_at(&eh, 0x3a).ok_or(ElfError::Malformed("header"))?);
    let shnum = u64::from(u16_at(&eh, 0x3c).ok_or(bad)?);
    if shentsize < 64 || phentsize < 56 {
        return Err(ElfError::Malformed("entry sizes"));
    }

    let phs = bytes.read(phoff, phentsize * phnum)?;
    let segments: Vec<Segment> = (0..phnum)
        .filter_map(|i| {
            let at = usize::try_from(i * phentsize).ok()?;
            (u32_at(&phs, at)? == PT_LOAD).then_some(())?;
            Some(Segment {
                offset: u64_at(&phs, at + 8)?,
                vaddr: u64_at(&phs, at + 16)?,
                memsz: u64_at(&phs, at + 40)?,
            })
        })
        .collect();

    let shs = bytes.read(shoff, shentsize * shnum)?;
    let sections: Vec<Section> = (0..shnum)
        .filter_map(|i| {
            let at = usize::try_from(i * shentsize).ok()?;
            Some(Section {
                kind: u32_at(&shs, at + 4)?,
                offset: u64_at(&shs, at + 24)?,
                size: u64_at(&shs, at + 32)?,
                link: u32_at(&shs, at + 40)?,
                entsize: u64_at(&shs, at + 56)?,
            })
        })
        .collect();

    let mut found: Vec<FoundSymbol> = Vec::new();
    for kind in [SHT_DYNSYM, SHT_SYMTAB] {
        if wanted.iter().all(|w| found.iter().any(|f| f.name == *w)) {
            break;
        }
        for table in sections.iter().filter(|s| s.kind == kind) {
            let strtab = sections
                .get(table.link as usize)
                .ok_or(ElfError::Malformed("symbol table link"))?;
            let syms = bytes.read(table.offset, table.size)?;
            let strs = bytes.read(strtab.offset, strtab.size)?;
            let entsize = usize::try_from(table.entsize.max(24))
                .map_err(|_| ElfError::Malformed("entsize"))?;
            for sym in syms.chunks_exact(entsize) {
                let (Some(name_off), Some(&info), Some(shndx), Some(value)) =
                    (u32_at(sym, 0), sym.get(4), u16_at(sym, 6), u64_at(sym, 8))
                else {
                    continue;
                };
                let ty = info & 0xf;
                if (ty != STT_FUNC && ty != STT_GNU_IFUNC) || shndx == 0 || value == 0 {
                    continue;
                }
                let Some(name) = c_str(&strs, name_off as usize) else {
                    continue;
                };
                let Some(w) = wanted.iter().find(|w| w.as_bytes() == name) else {
                    continue;
                };
                if found.iter().any(|f| f.name == *w) {
                    continue;
                }
                let Some(offset) = segments
                    .iter()
                    .find(|s| value >= s.vaddr && value - s.vaddr < s.memsz)
                    .and_then(|s| (value - s.vaddr).checked_add(s.offset))
                else {
                    continue;
                };
                found.push(FoundSymbol {
                    name: (*w).to_owned(),
                    offset,
                    from_symtab: kind == SHT_SYMTAB,
                });
            }
        }
    }
    Ok(found)
}

fn c_str(strs: &[u8], at: usize) -> Option<&[u8]> {
    let rest = strs.get(at..)?;
    let end = rest.iter().position(|&b| b == 0)?;
    rest.get(..end)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// A minimal ELF64: one PT_LOAD at vaddr 0x400000 / offset 0, a .dynsym
    /// with `exported`, a .symtab with `hidden`.
    fn tiny_elf() -> Vec<u8> {
        let mut b = vec![0u8; 0x400];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2;
        b[5] = 1;
        let put16 =
            |b: &mut Vec<u8>, at: usize, v: u16| b[at..at + 2].copy_from_slice(&v.to_le_bytes());
        let put32 =
            |b: &mut Vec<u8>, at: usize, v: u32| b[at..at + 4].copy_from_slice(&v.to_le_bytes());
        let put64 =
            |b: &mut Vec<u8>, at: usize, v: u64| b[at..at + 8].copy_from_slice(&v.to_le_bytes());
        put64(&mut b, 0x20, 0x40); // phoff
        put64(&mut b, 0x28, 0x100); // shoff
        put16(&mut b, 0x36, 56);
        put16(&mut b, 0x38, 1);
        put16(&mut b, 0x3a, 64);
        put16(&mut b, 0x3c, 5);
        // PT_LOAD vaddr 0x400000 offset 0 memsz 0x1000
        put32(&mut b, 0x40, PT_LOAD);
        put64(&mut b, 0x40 + 8, 0);
        put64(&mut b, 0x40 + 16, 0x400000);
        put64(&mut b, 0x40 + 40, 0x1000);
        // sections: 0 null, 1 dynsym(link 2), 2 dynstr, 3 symtab(link 4), 4 strtab
        let sh = |b: &mut Vec<u8>, i: usize, kind: u32, off: u64, size: u64, link: u32| {
            let at = 0x100 + i * 64;
            b[at + 4..at + 8].copy_from_slice(&kind.to_le_bytes());
            b[at + 24..at + 32].copy_from_slice(&off.to_le_bytes());
            b[at + 32..at + 40].copy_from_slice(&size.to_le_bytes());
            b[at + 40..at + 44].copy_from_slice(&link.to_le_bytes());
            b[at + 56..at + 64].copy_from_slice(&24u64.to_le_bytes());
        };
        sh(&mut b, 1, SHT_DYNSYM, 0x300, 48, 2);
        sh(&mut b, 2, 3, 0x380, 16, 0);
        sh(&mut b, 3, SHT_SYMTAB, 0x340, 48, 4);
        sh(&mut b, 4, 3, 0x390, 16, 0);
        let sym = |b: &mut Vec<u8>, at: usize, name: u32, value: u64| {
            b[at..at + 4].copy_from_slice(&name.to_le_bytes());
            b[at + 4] = 0x12; // GLOBAL FUNC
            b[at + 6..at + 8].copy_from_slice(&7u16.to_le_bytes());
            b[at + 8..at + 16].copy_from_slice(&value.to_le_bytes());
        };
        sym(&mut b, 0x318, 1, 0x400123);
        sym(&mut b, 0x358, 1, 0x400456);
        b[0x381..0x389].copy_from_slice(b"SSL_read");
        b[0x391..0x39a].copy_from_slice(b"SSL_write");
        b
    }

    #[test]
    fn finds_exported_then_hidden_with_file_offsets() {
        let elf = tiny_elf();
        let got =
            find_functions_in(elf.as_slice(), &["SSL_read", "SSL_write", "SSL_free"]).unwrap();
        assert_eq!(
            got,
            vec![
                FoundSymbol {
                    name: "SSL_read".into(),
                    offset: 0x123,
                    from_symtab: false
                },
                FoundSymbol {
                    name: "SSL_write".into(),
                    offset: 0x456,
                    from_symtab: true
                },
            ]
        );
    }

    #[test]
    fn rejects_non_elf() {
        assert!(matches!(
            find_functions_in(b"hello".as_slice(), &["x"]),
            Err(ElfError::NotElf64)
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
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_mutated_elf(flips in proptest::collection::vec((0usize..0x400, proptest::num::u8::ANY), 1..20)) {
            let mut elf = tiny_elf();
            for (at, v) in flips {
                elf[at] = v;
            }
            let _ = find_functions_in(elf.as_slice(), &["SSL_read", "SSL_write"]);
        }
    }
}
