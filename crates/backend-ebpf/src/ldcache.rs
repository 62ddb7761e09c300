//! The dynamic linker's cache (`/etc/ld.so.cache`): where the system's
//! shared libraries are, as `ld.so` finds them by name.
//!
//! cleartap reads it to probe the TLS libraries every program will load
//! before any program runs (uprobes belong to the file, so a program that
//! lives a few milliseconds is captured from its first call).
//!
//! Hand-written because the two crates that parse this format do not fit:
//! `ld-so-cache` 0.1 brings clap, serde and nom into the library, and
//! `ldcache_rs` 0.1 indexes slices in ways that panic on a malformed file.
//! The format is glibc's `cache_file_new` (`glibc-ld.so.cache1.1`), alone or
//! after the old `ld.so-1.7.0` table; the view below checks every offset
//! and never panics.

use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

const NEW_MAGIC: &[u8] = b"glibc-ld.so.cache1.1";
const OLD_MAGIC: &[u8] = b"ld.so-1.7.0";
/// magic + version (20), nlibs, len_strings, flags + padding, extension offset, 3 unused.
const NEW_HEADER: usize = 48;
const NEW_ENTRY: usize = 24;
const OLD_ENTRY: usize = 12;

/// Why a cache file could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LdCacheError {
    /// Neither the new nor the old magic.
    #[error("not a glibc ld.so.cache (unknown magic)")]
    Magic,
    /// A count or offset points outside the file.
    #[error("ld.so.cache is truncated: {0}")]
    Truncated(&'static str),
}

/// One library the cache knows: its name (soname) and path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LdCacheEntry {
    /// The name programs ask for, e.g. `libssl.so.3`.
    pub name: String,
    /// Where it is, e.g. `/lib/x86_64-linux-gnu/libssl.so.3`.
    pub path: PathBuf,
}

/// Parses the bytes of an `ld.so.cache`: every entry, in file order.
pub fn parse(bytes: &[u8]) -> Result<Vec<LdCacheEntry>, LdCacheError> {
    let new = if bytes.starts_with(OLD_MAGIC) {
        // Old table first: magic padded to 12, count, 12-byte entries; the
        // new header follows, 8-aligned.
        let n = u32_at(bytes, 12).ok_or(LdCacheError::Truncated("old header"))? as usize;
        let end = n
            .checked_mul(OLD_ENTRY)
            .and_then(|b| b.checked_add(16))
            .ok_or(LdCacheError::Truncated("old table"))?;
        let aligned = end.checked_add(7).map(|e| e & !7).unwrap_or(usize::MAX);
        bytes
            .get(aligned..)
            .filter(|b| b.starts_with(NEW_MAGIC))
            // A cache with only the old table: nothing we read.
            .ok_or(LdCacheError::Truncated(
                "no new-format table after the old one",
            ))?
    } else if bytes.starts_with(NEW_MAGIC) {
        bytes
    } else {
        return Err(LdCacheError::Magic);
    };
    let nlibs = u32_at(new, 20).ok_or(LdCacheError::Truncated("header"))? as usize;
    if new.len() < NEW_HEADER {
        return Err(LdCacheError::Truncated("header"));
    }
    let table_end = nlibs
        .checked_mul(NEW_ENTRY)
        .and_then(|t| t.checked_add(NEW_HEADER))
        .filter(|e| *e <= new.len())
        .ok_or(LdCacheError::Truncated("entry table"))?;
    let table = new
        .get(NEW_HEADER..table_end)
        .ok_or(LdCacheError::Truncated("entry table"))?;
    let mut out = Vec::with_capacity(nlibs);
    for entry in table.chunks_exact(NEW_ENTRY) {
        let (Some(key), Some(value)) = (u32_at(entry, 4), u32_at(entry, 8)) else {
            continue;
        };
        // String offsets count from the start of the new-format header.
        let (Some(name), Some(path)) = (c_str(new, key as usize), c_str(new, value as usize))
        else {
            continue;
        };
        out.push(LdCacheEntry {
            name: String::from_utf8_lossy(name).into_owned(),
            path: PathBuf::from(std::ffi::OsStr::from_bytes(path)),
        });
    }
    Ok(out)
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at.checked_add(4)?)?
        .try_into()
        .ok()
        .map(u32::from_le_bytes)
}

fn c_str(b: &[u8], at: usize) -> Option<&[u8]> {
    let rest = b.get(at..)?;
    let end = rest.iter().position(|&c| c == 0)?;
    rest.get(..end).filter(|s| !s.is_empty())
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// A new-format cache with `libs` (name, path).
    fn cache(libs: &[(&str, &str)]) -> Vec<u8> {
        let mut strings = Vec::new();
        let strings_at = NEW_HEADER + libs.len() * NEW_ENTRY;
        let mut entries = Vec::new();
        for (name, path) in libs {
            let key = strings_at + strings.len();
            strings.extend_from_slice(name.as_bytes());
            strings.push(0);
            let value = strings_at + strings.len();
            strings.extend_from_slice(path.as_bytes());
            strings.push(0);
            entries.extend_from_slice(&771i32.to_le_bytes());
            entries.extend_from_slice(&(key as u32).to_le_bytes());
            entries.extend_from_slice(&(value as u32).to_le_bytes());
            entries.extend_from_slice(&[0u8; 12]);
        }
        let mut b = NEW_MAGIC.to_vec();
        b.extend_from_slice(&(libs.len() as u32).to_le_bytes());
        b.extend_from_slice(&(strings.len() as u32).to_le_bytes());
        b.extend_from_slice(&[2, 0, 0, 0]);
        b.extend_from_slice(&[0u8; 16]);
        b.extend_from_slice(&entries);
        b.extend_from_slice(&strings);
        b
    }

    #[test]
    fn reads_names_and_paths() {
        let b = cache(&[
            ("libssl.so.3", "/lib/x86_64-linux-gnu/libssl.so.3"),
            ("libgnutls.so.30", "/lib/x86_64-linux-gnu/libgnutls.so.30"),
        ]);
        let got = parse(&b).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].name, "libgnutls.so.30");
        assert_eq!(
            got[1].path,
            PathBuf::from("/lib/x86_64-linux-gnu/libgnutls.so.30")
        );
    }

    #[test]
    fn reads_the_new_table_after_an_old_one() {
        let mut b = OLD_MAGIC.to_vec();
        b.push(0);
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&[0u8; OLD_ENTRY]);
        while !b.len().is_multiple_of(8) {
            b.push(0);
        }
        b.extend_from_slice(&cache(&[("libz.so.1", "/lib/libz.so.1")]));
        assert_eq!(parse(&b).unwrap()[0].name, "libz.so.1");
    }

    #[test]
    fn rejects_garbage_and_truncation_without_panicking() {
        assert_eq!(parse(b"hello"), Err(LdCacheError::Magic));
        let b = cache(&[("libssl.so.3", "/lib/libssl.so.3")]);
        for cut in 0..b.len() {
            let _ = parse(&b[..cut]);
        }
        let mut huge = b.clone();
        huge[20..24].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(parse(&huge).is_err());
    }

    #[test]
    fn reads_this_machines_cache() {
        let Ok(bytes) = std::fs::read("/etc/ld.so.cache") else {
            eprintln!("SKIP: no /etc/ld.so.cache here");
            return;
        };
        let entries = parse(&bytes).unwrap();
        assert!(
            entries
                .iter()
                .any(|e| e.name.starts_with("libc.so") && e.path.is_absolute()),
            "libc in {} entries",
            entries.len()
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let mut b = NEW_MAGIC.to_vec();
            b.extend_from_slice(&bytes);
            let _ = parse(&b);
            let _ = parse(&bytes);
        }
    }
}
