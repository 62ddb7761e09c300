//! Capture files: classic pcap and pcapng, read whole (memory-mapped) and
//! handed out as borrowed packet slices without an allocation per packet.
//!
//! [`CaptureFile`] owns the bytes, [`CaptureReader`] walks them and
//! [`FileSource`] turns a file (or several, one after another) into TCP
//! segments for a pipeline.
//!
//! Capture files are hostile input: a record or block that cannot be
//! framed ends the file with a counted [`Corruption`]; it never panics,
//! allocates by a length read from the file, or loops.

mod pcap;
mod pcapng;
mod source;
pub(crate) mod wire;

use std::fmt;
use std::fs::File;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use capture_core::DropReason;
use capture_core::model::Timestamp;

pub use source::{Corruptions, FileCorruption, FileSource, Progress};

use crate::Error;
use crate::decode::LinkType;
use pcap::PcapReader;
use pcapng::PcapngReader;

/// One captured packet, borrowed from the file's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    /// Capture time.
    pub ts: Timestamp,
    /// The link layer of `data`.
    pub link: LinkType,
    /// The captured bytes (possibly fewer than `orig_len`).
    pub data: &'a [u8],
    /// The packet's length on the wire.
    pub orig_len: u32,
}

/// A record or block of a capture file that could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Corruption {
    /// Byte offset of the record or block in the file.
    pub offset: u64,
    /// The drop reason it is counted under.
    pub reason: DropReason,
    /// What is wrong.
    pub what: &'static str,
    /// True when the rest of the file cannot be framed and reading stopped.
    pub fatal: bool,
}

impl fmt::Display for Corruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.what, self.offset)?;
        if self.fatal {
            f.write_str("; the rest of the file is skipped")?;
        }
        Ok(())
    }
}

#[derive(Clone, Debug)]
enum Format {
    Pcap(PcapReader),
    Pcapng(PcapngReader),
}

/// The reading position in a capture file's bytes.
///
/// The reader holds no borrow: every call to [`next`](Self::next) is given
/// the same bytes that [`new`](Self::new) was given. This lets an owner keep
/// both the bytes and the reader (see [`FileSource`]); [`Packets`] is the
/// borrowing iterator for everyone else.
#[derive(Clone, Debug)]
pub struct CaptureReader {
    format: Format,
}

impl CaptureReader {
    /// Recognises the format from the magic number and reads the file header.
    ///
    /// Errors name the file as `<memory>`; [`CaptureFile`] replaces that with its path.
    pub fn new(data: &[u8]) -> Result<Self, Error> {
        let path = PathBuf::from("<memory>");
        let Some(magic) = data.first_chunk::<4>() else {
            return Err(Error::TooShort {
                path,
                len: data.len() as u64,
            });
        };
        let magic_le = u32::from_le_bytes(*magic);
        let format = if magic_le == pcapng::SHB {
            PcapngReader::new(data).map(Format::Pcapng)
        } else if PcapReader::matches(magic_le) {
            PcapReader::new(data).map(Format::Pcap)
        } else {
            return Err(Error::NotACapture {
                path,
                magic: u32::from_be_bytes(*magic),
            });
        };
        format.map(|format| Self { format }).map_err(|what| {
            if data.len() < 24 {
                Error::TooShort {
                    path,
                    len: data.len() as u64,
                }
            } else {
                Error::BadHeader { path, what }
            }
        })
    }

    /// The next packet, a corrupt record, or `None` at the end of the file.
    ///
    /// `data` must be the bytes given to [`new`](Self::new). After a fatal
    /// [`Corruption`] the reader returns `None`.
    #[inline]
    pub fn next<'a>(&mut self, data: &'a [u8]) -> Option<Result<Packet<'a>, Corruption>> {
        match &mut self.format {
            Format::Pcap(r) => r.next(data),
            Format::Pcapng(r) => r.next(data),
        }
    }

    /// Bytes of the file consumed so far.
    pub fn position(&self) -> usize {
        match &self.format {
            Format::Pcap(r) => r.position(),
            Format::Pcapng(r) => r.position(),
        }
    }

    /// True for pcapng files, false for classic pcap.
    pub fn is_pcapng(&self) -> bool {
        matches!(self.format, Format::Pcapng(_))
    }
}

/// The packets of a capture file's bytes, as an iterator.
///
/// ```
/// # fn main() -> Result<(), backend_pcap::Error> {
/// // A classic pcap header (little-endian, microseconds, Ethernet) and no packets.
/// let mut bytes = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
/// bytes.extend_from_slice(&[0; 8]);
/// bytes.extend_from_slice(&65535u32.to_le_bytes());
/// bytes.extend_from_slice(&1u32.to_le_bytes());
/// let packets = backend_pcap::file::Packets::new(&bytes)?;
/// assert_eq!(packets.count(), 0);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Packets<'a> {
    data: &'a [u8],
    reader: CaptureReader,
}

impl<'a> Packets<'a> {
    /// Reads the file header of `data`.
    pub fn new(data: &'a [u8]) -> Result<Self, Error> {
        Ok(Self {
            data,
            reader: CaptureReader::new(data)?,
        })
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.reader.position()
    }
}

impl<'a> Iterator for Packets<'a> {
    type Item = Result<Packet<'a>, Corruption>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.reader.next(self.data)
    }
}

#[derive(Debug)]
enum Backing {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

/// The whole bytes of a capture file: memory-mapped, or read into memory
/// when the file cannot be mapped (a pipe, some network file systems).
#[derive(Debug)]
pub struct CaptureFile {
    path: PathBuf,
    bytes: Backing,
}

impl CaptureFile {
    /// Opens and maps `path`, and checks that it is a pcap or pcapng file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let open_err = |source| Error::Open {
            path: path.to_path_buf(),
            source,
        };
        let mut file = File::open(path).map_err(open_err)?;
        // SAFETY: the map is only read. Another process truncating the file
        // while it is mapped would make reads fault (SIGBUS); capture files
        // being replayed are not expected to change, as with every mmap reader.
        let mapped = unsafe { memmap2::Mmap::map(&file) };
        let bytes = match mapped {
            Ok(map) => {
                #[cfg(unix)]
                let _ = map.advise(memmap2::Advice::Sequential);
                Backing::Mapped(map)
            }
            Err(_) => {
                let mut buf = Vec::new();
                file.read_to_end(&mut buf).map_err(open_err)?;
                Backing::Owned(buf)
            }
        };
        let f = Self {
            path: path.to_path_buf(),
            bytes,
        };
        CaptureReader::new(f.bytes()).map_err(|e| e.with_path(path))?;
        Ok(f)
    }

    /// A capture held in memory; `name` stands for its path in messages.
    pub fn from_bytes(name: impl Into<PathBuf>, bytes: Vec<u8>) -> Result<Self, Error> {
        let path = name.into();
        CaptureReader::new(&bytes).map_err(|e| e.with_path(&path))?;
        Ok(Self {
            path,
            bytes: Backing::Owned(bytes),
        })
    }

    /// The file's path (or the name given to [`from_bytes`](Self::from_bytes)).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's bytes.
    pub fn bytes(&self) -> &[u8] {
        match &self.bytes {
            Backing::Mapped(m) => m,
            Backing::Owned(v) => v,
        }
    }

    /// The file's length in bytes.
    pub fn len(&self) -> u64 {
        self.bytes().len() as u64
    }

    /// True for an empty file (which `open` refuses, so never in practice).
    pub fn is_empty(&self) -> bool {
        self.bytes().is_empty()
    }

    /// The file's packets.
    pub fn packets(&self) -> Packets<'_> {
        let data = self.bytes();
        // `open` checked the header, so this cannot fail; an empty reader is the fallback.
        match CaptureReader::new(data) {
            Ok(reader) => Packets { data, reader },
            Err(_) => Packets {
                data: &[],
                reader: CaptureReader {
                    format: Format::Pcap(PcapReader::finished()),
                },
            },
        }
    }
}
