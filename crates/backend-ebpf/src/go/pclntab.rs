//! Go's function table (`.gopclntab`): where each function starts, by
//! name, in every Go binary, stripped or not (the runtime needs it for
//! stack traces, so `-ldflags=-s -w` keeps it).
//!
//! Hand-written, as a view over the section's bytes that never panics:
//! the Rust crates that read it (gobin, unstrip, smda) each bring a second
//! ELF parser (goblin) or a whole disassembly framework beside `object`,
//! want the whole file as one slice, and are young single-maintainer
//! projects; this needs one lookup in one section, about a hundred lines.
//! Fuzzed by `fuzz/fuzz_targets/go_pclntab.rs`.
//!
//! Layouts read (`runtime.pcHeader`, then the function table at
//! `pclnOffset`):
//!
//! | magic | Go | header | table entry |
//! |---|---|---|---|
//! | `0xfffffffa` | 1.16–1.17 | no `textStart` | `{entry uintptr, funcoff uintptr}` |
//! | `0xfffffff0` | 1.18–1.19 | `textStart` after `nfiles` | `{entryoff u32, funcoff u32}` |
//! | `0xfffffff1` | 1.20+ | as 1.18 | as 1.18 |
//!
//! A function ends where the next one starts (the table has one entry more
//! than functions, holding the end of the last).

/// Why a function table could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PclntabError {
    /// The magic number is not one of the layouts read here.
    #[error("unknown function-table magic {0:#010x} (Go before 1.16, or not a Go table)")]
    UnknownMagic(u32),
    /// A header field or table entry points outside the section.
    #[error("function table is cut short or inconsistent")]
    Malformed,
}

/// A function found in the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GoFunc {
    /// Virtual address of its first instruction.
    pub entry: u64,
    /// Virtual address just past it (the next function's entry).
    pub end: u64,
}

/// A validated view over a `.gopclntab` section.
#[derive(Clone, Copy, Debug)]
pub struct Pclntab<'a> {
    data: &'a [u8],
    /// Entry offsets are relative to `text_start` (1.18+), else absolute.
    text_start: Option<u64>,
    wide_entries: bool,
    nfunc: usize,
    funcnames: usize,
    functab: usize,
}

impl<'a> Pclntab<'a> {
    /// Checks the header of `data`. `text_address` (the `.text` section's
    /// address) stands in for a `textStart` the file leaves to a dynamic
    /// relocation (PIE binaries store 0 there).
    pub fn new(data: &'a [u8], text_address: u64) -> Result<Self, PclntabError> {
        let magic = u32_at(data, 0).ok_or(PclntabError::Malformed)?;
        let ptr = usize::from(*data.get(7).ok_or(PclntabError::Malformed)?);
        if ptr != 8 {
            return Err(PclntabError::Malformed);
        }
        let word = |i: usize| word_at(data, 8 + i * ptr).ok_or(PclntabError::Malformed);
        let to_usize = |v: u64| usize::try_from(v).map_err(|_| PclntabError::Malformed);
        let (text_start, wide_entries, first) = match magic {
            0xffff_fffa => (None, true, 2),
            0xffff_fff0 | 0xffff_fff1 => {
                let start = word(2)?;
                (
                    Some(if start == 0 { text_address } else { start }),
                    false,
                    3,
                )
            }
            other => return Err(PclntabError::UnknownMagic(other)),
        };
        let view = Self {
            data,
            text_start,
            wide_entries,
            nfunc: to_usize(word(0)?)?,
            funcnames: to_usize(word(first)?)?,
            functab: to_usize(word(first + 4)?)?,
        };
        // The whole table (nfunc + 1 entries) must be there.
        let entry = view.entry_size();
        let end = view
            .nfunc
            .checked_add(1)
            .and_then(|n| n.checked_mul(entry))
            .and_then(|n| n.checked_add(view.functab))
            .ok_or(PclntabError::Malformed)?;
        if end > data.len() || view.funcnames > data.len() {
            return Err(PclntabError::Malformed);
        }
        Ok(view)
    }

    /// Functions in the table.
    pub fn len(&self) -> usize {
        self.nfunc
    }

    /// True when the table lists no function.
    pub fn is_empty(&self) -> bool {
        self.nfunc == 0
    }

    fn entry_size(&self) -> usize {
        if self.wide_entries { 16 } else { 8 }
    }

    /// (entry address, offset of its `_func`) of table entry `i`.
    fn entry(&self, i: usize) -> Option<(u64, usize)> {
        let at = self
            .functab
            .checked_add(i.checked_mul(self.entry_size())?)?;
        if self.wide_entries {
            let funcoff = usize::try_from(word_at(self.data, at + 8)?).ok()?;
            Some((word_at(self.data, at)?, funcoff))
        } else {
            let entry = u64::from(u32_at(self.data, at)?);
            let funcoff = u32_at(self.data, at + 4)? as usize;
            Some((self.text_start?.checked_add(entry)?, funcoff))
        }
    }

    /// The name of the function whose `_func` is at `funcoff`.
    fn name(&self, funcoff: usize) -> Option<&'a [u8]> {
        // _func: entry (uintptr before 1.18, u32 after), then nameOff int32.
        let name_field = if self.wide_entries { 8 } else { 4 };
        let at = self.functab.checked_add(funcoff)?.checked_add(name_field)?;
        let name_off = usize::try_from(i32::from_le_bytes(
            self.data.get(at..at + 4)?.try_into().ok()?,
        ))
        .ok()?;
        let rest = self.data.get(self.funcnames.checked_add(name_off)?..)?;
        let len = rest.iter().position(|&b| b == 0)?;
        rest.get(..len)
    }

    /// Every function named `name` (usually one).
    pub fn find(&self, name: &str) -> Option<GoFunc> {
        (0..self.nfunc).find_map(|i| {
            let (entry, funcoff) = self.entry(i)?;
            if self.name(funcoff)? != name.as_bytes() {
                return None;
            }
            let (end, _) = self.entry(i + 1)?;
            (end > entry).then_some(GoFunc { entry, end })
        })
    }
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn word_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        b.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

/// Builds a Go 1.20 table (tests and fuzzing seeds): `funcs` are
/// (name, entry offset from `text_start`), the last entry ending at `end`.
pub fn build_go120(text_start: u64, funcs: &[(&str, u32)], end: u32) -> Vec<u8> {
    let header = 8 + 8 * 8;
    let mut names = Vec::new();
    let mut name_offs = Vec::new();
    for (name, _) in funcs {
        name_offs.push(names.len() as i32);
        names.extend_from_slice(name.as_bytes());
        names.push(0);
    }
    let funcnames = header;
    let functab = funcnames + names.len();
    let table_len = (funcs.len() + 1) * 8;
    let mut out = Vec::new();
    out.extend_from_slice(&0xffff_fff1u32.to_le_bytes());
    out.extend_from_slice(&[0, 0, 1, 8]);
    for w in [
        funcs.len() as u64,
        0,
        text_start,
        funcnames as u64,
        0,
        0,
        0,
        functab as u64,
    ] {
        out.extend_from_slice(&w.to_le_bytes());
    }
    out.extend_from_slice(&names);
    let mut funcdata = Vec::new();
    for ((_, entry), name_off) in funcs.iter().zip(&name_offs) {
        let funcoff = table_len + funcdata.len();
        out.extend_from_slice(&entry.to_le_bytes());
        out.extend_from_slice(&(funcoff as u32).to_le_bytes());
        funcdata.extend_from_slice(&entry.to_le_bytes());
        funcdata.extend_from_slice(&name_off.to_le_bytes());
    }
    out.extend_from_slice(&end.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&funcdata);
    out
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn finds_functions_and_their_ends() {
        let t = build_go120(
            0x401000,
            &[
                ("main.main", 0),
                ("crypto/tls.(*Conn).Read", 0x40),
                ("x", 0x90),
            ],
            0x100,
        );
        let p = Pclntab::new(&t, 0).unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(
            p.find("crypto/tls.(*Conn).Read"),
            Some(GoFunc {
                entry: 0x401040,
                end: 0x401090
            })
        );
        assert_eq!(p.find("x").unwrap().end, 0x401100);
        assert_eq!(p.find("crypto/tls.(*Conn).Write"), None);
    }

    #[test]
    fn pie_text_start_comes_from_the_text_section() {
        let t = build_go120(0, &[("f", 0x10)], 0x20);
        let p = Pclntab::new(&t, 0x2000).unwrap();
        assert_eq!(p.find("f").unwrap().entry, 0x2010);
    }

    #[test]
    fn rejects_unknown_and_cut_tables() {
        let mut t = build_go120(0x1000, &[("f", 0)], 8);
        t[0] = 0xfb;
        assert_eq!(
            Pclntab::new(&t, 0).unwrap_err(),
            PclntabError::UnknownMagic(0xffff_fffb)
        );
        let t = build_go120(0x1000, &[("f", 0)], 8);
        assert!(Pclntab::new(&t[..80], 0).is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(flips in proptest::collection::vec((0usize..200, proptest::num::u8::ANY), 0..12), cut in 0usize..200) {
            let mut t = build_go120(0x401000, &[("a", 0), ("crypto/tls.(*Conn).Read", 8)], 16);
            for (at, v) in flips {
                if let Some(b) = t.get_mut(at) { *b = v; }
            }
            t.truncate(cut.max(1));
            if let Ok(p) = Pclntab::new(&t, 0x1000) {
                let _ = p.find("crypto/tls.(*Conn).Read");
            }
        }
    }
}
