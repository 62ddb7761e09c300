//! Go programs: finding `crypto/tls.(*Conn).Read`/`Write` and the socket
//! layout in a Go executable, stripped or not, PIE or not.
//!
//! - [`buildinfo`]: the Go release, from the build information every Go
//!   binary carries.
//! - functions from `.symtab` when present (the crate's ELF reader), else from the
//!   Go function table ([`pclntab`]), which `-ldflags=-s -w` keeps.
//! - [`disasm`]: the RET instructions of `Read`, each probed.
//! - [`layout`]: offsets to the socket, from DWARF ([`dwarf`]) or a table
//!   by release.
//!
//! Covered: Go 1.17 and later on amd64 (the register ABI). Not covered, and
//! reported as [`Unprobeable`]: Go before 1.17 (ABI0, arguments on the
//! stack), other architectures (arm64), releases whose layout is neither in
//! the binary's DWARF nor in the table.

pub mod buildinfo;
pub mod disasm;
pub mod dwarf;
pub mod layout;
pub mod pclntab;

use std::fmt;
use std::fs::File;
use std::path::Path;

use object::{Object, ObjectSection, ReadCache};

use crate::elf;
pub use buildinfo::GoVersion;
pub use layout::{GoLayout, LayoutSource};

/// The function whose calls carry the plaintext written.
pub const WRITE: &str = "crypto/tls.(*Conn).Write";
/// The function whose calls carry the plaintext read.
pub const READ: &str = "crypto/tls.(*Conn).Read";

/// Where the functions were found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FunctionSource {
    /// The ELF symbol table.
    Symtab,
    /// Go's function table (stripped binaries).
    Pclntab,
}

/// What the uprobes of one Go binary need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoTlsTarget {
    /// The release it was built with.
    pub version: GoVersion,
    /// File offset of `(*Conn).Write`, past its stack check.
    pub write: u64,
    /// File offset of `(*Conn).Read`, past its stack check.
    pub read: u64,
    /// File offsets of each RET instruction of `(*Conn).Read`.
    pub read_returns: Vec<u64>,
    /// Offsets from a `*tls.Conn` to its socket.
    pub layout: GoLayout,
    /// Where the layout came from.
    pub layout_source: LayoutSource,
    /// Where the functions were found.
    pub functions_source: FunctionSource,
}

/// Why a Go binary that uses crypto/tls cannot be probed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unprobeable {
    /// Not amd64.
    Architecture(String),
    /// Go before 1.17 passes arguments on the stack (ABI0).
    Abi0(GoVersion),
    /// The build information names no release cleartap can read.
    UnknownVersion(String),
    /// One of the two functions is missing (or has no RET).
    FunctionNotFound(&'static str),
    /// No DWARF and a release missing from the layout table.
    UnknownLayout(GoVersion),
    /// The file could not be read as a Go binary.
    Malformed(String),
}

impl fmt::Display for Unprobeable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Architecture(a) => write!(f, "architecture {a} is not supported (amd64 only)"),
            Self::Abi0(v) => write!(
                f,
                "{v} passes arguments on the stack (ABI0); Go 1.17 or later is needed"
            ),
            Self::UnknownVersion(v) => write!(f, "unknown Go release {v:?}"),
            Self::FunctionNotFound(name) => write!(f, "{name} not found"),
            Self::UnknownLayout(v) => write!(
                f,
                "{v} has no DWARF and is not in cleartap's layout table (go_layouts.tsv)"
            ),
            Self::Malformed(why) => write!(f, "cannot read the binary: {why}"),
        }
    }
}

/// Examines the file at `path`: `Ok(None)` when it is not a Go program
/// using crypto/tls, `Ok(Some)` with what its probes need, `Err` with the
/// reason when it is one that cannot be probed.
pub fn examine(path: &Path) -> Result<Option<GoTlsTarget>, Unprobeable> {
    let cache =
        ReadCache::new(File::open(path).map_err(|e| Unprobeable::Malformed(e.to_string()))?);
    let Ok(file) = object::File::parse(&cache) else {
        return Ok(None);
    };
    examine_file(&file)
}

/// As [`examine`], on a parsed file.
pub fn examine_file<'d, R: object::ReadRef<'d>>(
    file: &object::File<'d, R>,
) -> Result<Option<GoTlsTarget>, Unprobeable> {
    let Some(info) = file.section_by_name(".go.buildinfo") else {
        return Ok(None);
    };
    let blob = info
        .data()
        .map_err(|e| Unprobeable::Malformed(e.to_string()))?;
    let read_at = |vaddr: u64, len: u64| -> Option<Vec<u8>> {
        let off = elf::file_offset(file, vaddr)?;
        file.sections()
            .find_map(|s| {
                let (start, size) = s.file_range()?;
                (off >= start && off.checked_add(len)? <= start + size)
                    .then(|| {
                        s.data()
                            .ok()?
                            .get((off - start) as usize..)?
                            .get(..len as usize)
                    })
                    .flatten()
            })
            .map(<[u8]>::to_vec)
    };
    let text = buildinfo::version(blob, read_at);
    // Symbols first: a binary without crypto/tls is not a target at all.
    let symbols = elf::functions(file, &[READ, WRITE]);
    let pclntab = || -> Option<(u64, u64, u64, u64)> {
        let section = file
            .section_by_name(".gopclntab")
            .or_else(|| file.section_by_name(".data.rel.ro.gopclntab"))?;
        let data = section.data().ok()?;
        let text_addr = file.section_by_name(".text").map_or(0, |s| s.address());
        let table = pclntab::Pclntab::new(data, text_addr).ok()?;
        let r = table.find(READ);
        let w = table.find(WRITE);
        Some((
            r.map_or(0, |f| f.entry),
            r.map_or(0, |f| f.end - f.entry),
            w.map_or(0, |f| f.entry),
            w.map_or(0, |f| f.end - f.entry),
        ))
    };
    let sym = |name: &str| symbols.iter().find(|s| s.name == name);
    let (read_addr, read_size, write_addr, write_size, functions_source) =
        match (sym(READ), sym(WRITE)) {
            (Some(r), Some(w)) if r.size > 0 && w.size > 0 => {
                (r.address, r.size, w.address, w.size, FunctionSource::Symtab)
            }
            _ => match pclntab() {
                Some((r, rs, w, ws)) if r != 0 || w != 0 => (r, rs, w, ws, FunctionSource::Pclntab),
                _ => return Ok(None),
            },
        };
    // From here on it is a Go program with crypto/tls: every failure is reported.
    let version = match text.as_deref().map(|t| (t, GoVersion::parse(t))) {
        Some((_, Some(v))) => v,
        Some((t, None)) => return Err(Unprobeable::UnknownVersion(t.to_owned())),
        None => return Err(Unprobeable::UnknownVersion(String::from("(none)"))),
    };
    if file.architecture() != object::Architecture::X86_64 {
        return Err(Unprobeable::Architecture(format!(
            "{:?}",
            file.architecture()
        )));
    }
    if !version.has_register_abi() {
        return Err(Unprobeable::Abi0(version));
    }
    if read_addr == 0 {
        return Err(Unprobeable::FunctionNotFound(READ));
    }
    if write_addr == 0 {
        return Err(Unprobeable::FunctionNotFound(WRITE));
    }
    let code_of = |addr: u64, size: u64, name: &'static str| {
        file.sections()
            .find_map(|s| s.data_range(addr, size).ok().flatten())
            .ok_or(Unprobeable::FunctionNotFound(name))
    };
    let code = code_of(read_addr, read_size, READ)?;
    let write_code = code_of(write_addr, write_size, WRITE)?;
    let read_probe = disasm::after_stack_check(code, read_addr).unwrap_or(read_addr);
    let write_probe = disasm::after_stack_check(write_code, write_addr).unwrap_or(write_addr);
    let read_returns: Vec<u64> = disasm::ret_addresses(code, read_addr)
        .into_iter()
        .filter_map(|a| elf::file_offset(file, a))
        .collect();
    if read_returns.is_empty() {
        return Err(Unprobeable::FunctionNotFound(READ));
    }
    let offset = |addr: u64, name: &'static str| {
        elf::file_offset(file, addr).ok_or(Unprobeable::FunctionNotFound(name))
    };
    let dwarf = dwarf::member_offsets(
        |name| {
            elf::section_data(file, name)
                .map(|(_, d)| d)
                .unwrap_or_default()
        },
        &layout::MEMBERS,
    );
    let (layout, layout_source) = match GoLayout::from_members(&dwarf) {
        Some(l) => (l, LayoutSource::Dwarf),
        None => (
            GoLayout::for_version(version).ok_or(Unprobeable::UnknownLayout(version))?,
            LayoutSource::Table,
        ),
    };
    Ok(Some(GoTlsTarget {
        version,
        write: offset(write_probe, WRITE)?,
        read: offset(read_probe, READ)?,
        read_returns,
        layout,
        layout_source,
        functions_source,
    }))
}
