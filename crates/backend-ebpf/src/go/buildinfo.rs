//! The Go version a binary was built with, from its build information
//! (the `.go.buildinfo` section that `go version FILE` reads).
//!
//! The blob starts with `\xff Go buildinf:`, a pointer size and a flags
//! byte. With flag 2 (Go 1.18 and later) the version string follows inline
//! at offset 32 as a varint length and its bytes; before, offset 16 holds a
//! pointer to a Go string header, which holds a pointer to the bytes.
//! Read as a view that never panics: every length is checked.

use std::fmt;

/// The magic that starts the build information.
pub const MAGIC: &[u8; 14] = b"\xff Go buildinf:";

/// A Go release, as `go1.MINOR.PATCH`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GoVersion {
    /// Minor release (`24` in go1.24.11).
    pub minor: u32,
    /// Patch release (`11` in go1.24.11; 0 for go1.24 and pre-releases).
    pub patch: u32,
}

impl GoVersion {
    /// Parses `go1.24.11`, `go1.24`, `go1.24rc1`, `go1.24.11 X:boringcrypto`.
    pub fn parse(s: &str) -> Option<Self> {
        let rest = s.trim().strip_prefix("go1.")?;
        let rest = rest.split(|c: char| c.is_whitespace()).next()?;
        let digits = |t: &str| -> Option<u32> {
            let end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
            t.get(..end)?.parse().ok()
        };
        let mut parts = rest.splitn(2, '.');
        let minor = digits(parts.next()?)?;
        let patch = parts.next().and_then(digits).unwrap_or(0);
        Some(Self { minor, patch })
    }

    /// Go 1.17 and later pass arguments in registers on amd64 (ABIInternal).
    pub fn has_register_abi(self) -> bool {
        self.minor >= 17
    }
}

impl fmt::Display for GoVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "go1.{}.{}", self.minor, self.patch)
    }
}

/// The version string of a build-information blob (`blob` starts with
/// [`MAGIC`]); `read_at(vaddr, len)` reads the binary's memory image for
/// the pre-1.18 pointer form.
pub fn version(blob: &[u8], read_at: impl Fn(u64, u64) -> Option<Vec<u8>>) -> Option<String> {
    if blob.get(..MAGIC.len())? != MAGIC {
        return None;
    }
    let ptr_size = usize::from(*blob.get(14)?);
    let flags = *blob.get(15)?;
    if flags & 2 != 0 {
        let (len, used) = uvarint(blob.get(32..)?)?;
        let start = 32usize.checked_add(used)?;
        let end = start.checked_add(usize::try_from(len).ok()?)?;
        return String::from_utf8(blob.get(start..end)?.to_vec()).ok();
    }
    if ptr_size != 8 {
        return None;
    }
    let word = |b: &[u8], at: usize| -> Option<u64> {
        Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
    };
    let header = read_at(word(blob, 16)?, 16)?;
    let (data, len) = (word(&header, 0)?, word(&header, 8)?);
    if len > 256 {
        return None;
    }
    String::from_utf8(read_at(data, len)?).ok()
}

/// A Go/protobuf varint: its value and how many bytes it took.
fn uvarint(b: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, byte) in b.iter().enumerate().take(10) {
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versions() {
        let v = |s| GoVersion::parse(s);
        assert_eq!(
            v("go1.24.11"),
            Some(GoVersion {
                minor: 24,
                patch: 11
            })
        );
        assert_eq!(
            v("go1.21"),
            Some(GoVersion {
                minor: 21,
                patch: 0
            })
        );
        assert_eq!(
            v("go1.22rc1"),
            Some(GoVersion {
                minor: 22,
                patch: 0
            })
        );
        assert_eq!(
            v("go1.19.8 X:boringcrypto"),
            Some(GoVersion {
                minor: 19,
                patch: 8
            })
        );
        assert_eq!(v("devel go1.23-abc"), None);
        assert!(!v("go1.16.15").unwrap().has_register_abi());
        assert!(v("go1.17").unwrap().has_register_abi());
        assert_eq!(v("go1.27.3").unwrap().to_string(), "go1.27.3");
    }

    #[test]
    fn reads_inline_and_pointer_forms() {
        let mut inline = MAGIC.to_vec();
        inline.extend_from_slice(&[8, 2]);
        inline.resize(32, 0);
        inline.push(9);
        inline.extend_from_slice(b"go1.24.11");
        assert_eq!(version(&inline, |_, _| None).as_deref(), Some("go1.24.11"));
        inline.truncate(36);
        assert_eq!(version(&inline, |_, _| None), None, "cut short");

        let mut ptr = MAGIC.to_vec();
        ptr.extend_from_slice(&[8, 0]);
        ptr.extend_from_slice(&0x1000u64.to_le_bytes());
        ptr.resize(32, 0);
        let image = |vaddr: u64, len: u64| match vaddr {
            0x1000 => Some([0x2000u64.to_le_bytes(), 9u64.to_le_bytes()].concat()),
            0x2000 if len == 9 => Some(b"go1.17.13".to_vec()),
            _ => None,
        };
        assert_eq!(version(&ptr, image).as_deref(), Some("go1.17.13"));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(tail in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let mut b = MAGIC.to_vec();
            b.extend_from_slice(&tail);
            let _ = version(&b, |_, len| Some(vec![0; len.min(64) as usize]));
        }
    }
}
