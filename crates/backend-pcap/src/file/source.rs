//! [`FileSource`]: capture files as a pipeline [`Source`].

use std::collections::VecDeque;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use capture_core::model::{Input, NetnsId};
use capture_core::stage::{InputSink, Poll, Source, SourceError};
use capture_core::stats::{Counter, Counters};

use super::{CaptureFile, CaptureReader, Corruption};
use crate::Error;
use crate::decode::decode_packet;

/// Packets handed out per `poll`.
const DEFAULT_BATCH: usize = 1024;

/// How far a [`FileSource`] has read: a cheap handle to keep after the
/// source was moved into a pipeline, for a progress bar.
#[derive(Clone, Debug, Default)]
pub struct Progress(Arc<ProgressInner>);

#[derive(Debug, Default)]
struct ProgressInner {
    total: AtomicU64,
    consumed: AtomicU64,
}

impl Progress {
    /// The size of every file of the source, added up.
    pub fn total_bytes(&self) -> u64 {
        self.0.total.load(Ordering::Relaxed)
    }

    /// Bytes read so far, over every file.
    pub fn consumed_bytes(&self) -> u64 {
        self.0.consumed.load(Ordering::Relaxed)
    }

    /// The share read so far, from 0.0 to 1.0.
    pub fn fraction(&self) -> f64 {
        let total = self.total_bytes();
        if total == 0 {
            1.0
        } else {
            self.consumed_bytes() as f64 / total as f64
        }
    }
}

/// Corrupt records logged and kept per file; the rest are only counted.
const LOGGED_CORRUPTIONS: u32 = 8;

/// A corrupt record or block of one file, as a [`FileSource`] met it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileCorruption {
    /// The file.
    pub path: PathBuf,
    /// What was wrong, and where.
    pub corruption: Corruption,
}

impl fmt::Display for FileCorruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.corruption)
    }
}

/// What a [`FileSource`] found wrong in its files: a cheap handle to keep
/// after the source was moved into a pipeline, to report the damage (as
/// tshark and tcpflow do) once the pipeline has finished.
#[derive(Clone, Debug, Default)]
pub struct Corruptions(Arc<Mutex<CorruptionsInner>>);

#[derive(Debug, Default)]
struct CorruptionsInner {
    /// The first few of each file, in the order met.
    kept: Vec<FileCorruption>,
    /// All of them, kept or not.
    total: u64,
}

impl Corruptions {
    /// The corrupt records met so far: the first 8 of each file.
    pub fn list(&self) -> Vec<FileCorruption> {
        self.0.lock().map(|c| c.kept.clone()).unwrap_or_default()
    }

    /// How many corrupt records were met, listed or not.
    pub fn total(&self) -> u64 {
        self.0.lock().map_or(0, |c| c.total)
    }

    /// True when every file read so far was sound.
    pub fn is_empty(&self) -> bool {
        self.total() == 0
    }

    fn record(&self, path: &Path, corruption: Corruption, keep: bool) {
        if let Ok(mut c) = self.0.lock() {
            c.total += 1;
            if keep {
                c.kept.push(FileCorruption {
                    path: path.to_path_buf(),
                    corruption,
                });
            }
        }
    }
}

struct OpenFile {
    file: CaptureFile,
    reader: CaptureReader,
    corruptions: u32,
}

/// One or more pcap/pcapng files replayed as TCP segments, one file after
/// another, each `poll` handing out a block of packets.
///
/// Every packet is counted (`packets`, `bytes`); packets that are not TCP
/// or do not decode, and corrupt records, are counted as drops by reason.
/// The source is [`Poll::Finished`] after the last file.
///
/// ```
/// # fn main() -> Result<(), backend_pcap::Error> {
/// let capture = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/loopback-http.pcap");
/// let source = backend_pcap::FileSource::open(capture)?;
/// let progress = source.progress();
/// let corruptions = source.corruptions();
/// // ... hand `source` to a pipeline, show `progress.fraction()` as it
/// // runs, and report `corruptions.list()` when it has finished.
/// assert_eq!(progress.fraction(), 0.0);
/// assert!(corruptions.is_empty());
/// # Ok(()) }
/// ```
pub struct FileSource {
    files: VecDeque<OpenFile>,
    netns: NetnsId,
    batch: usize,
    progress: Progress,
    corrupt: Corruptions,
    /// Bytes of the files already finished.
    finished_bytes: u64,
    name: String,
}

impl FileSource {
    /// Opens one capture file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        Self::open_many([path])
    }

    /// Opens several capture files, to be read one after another in the
    /// given order. Every file is opened (and its header checked) now.
    pub fn open_many<P: AsRef<Path>>(paths: impl IntoIterator<Item = P>) -> Result<Self, Error> {
        let files = paths
            .into_iter()
            .map(CaptureFile::open)
            .collect::<Result<Vec<_>, _>>()?;
        Self::from_files(files)
    }

    /// A source over files already opened (or held in memory).
    pub fn from_files(files: impl IntoIterator<Item = CaptureFile>) -> Result<Self, Error> {
        let mut open = VecDeque::new();
        let mut total = 0;
        for file in files {
            let reader = CaptureReader::new(file.bytes()).map_err(|e| e.with_path(file.path()))?;
            total += file.len();
            open.push_back(OpenFile {
                file,
                reader,
                corruptions: 0,
            });
        }
        let name = match (open.front(), open.len()) {
            (None, _) => return Err(Error::NoFiles),
            (Some(f), 1) => format!("file {}", f.file.path().display()),
            (Some(f), n) => format!("files {} (+{} more)", f.file.path().display(), n - 1),
        };
        let progress = Progress::default();
        progress.0.total.store(total, Ordering::Relaxed);
        Ok(Self {
            files: open,
            netns: NetnsId::UNKNOWN,
            batch: DEFAULT_BATCH,
            progress,
            corrupt: Corruptions::default(),
            finished_bytes: 0,
            name,
        })
    }

    /// Stamps every segment with this network namespace (default: unknown).
    pub fn with_netns(mut self, netns: NetnsId) -> Self {
        self.netns = netns;
        self
    }

    /// Packets handed out per `poll` (default 1024, at least 1).
    pub fn with_batch(mut self, packets: usize) -> Self {
        self.batch = packets.max(1);
        self
    }

    /// A handle that follows how far the source has read.
    pub fn progress(&self) -> Progress {
        self.progress.clone()
    }

    /// A handle that lists the corrupt records met, for a report at the
    /// end (each is also counted as a drop and logged as a warning).
    pub fn corruptions(&self) -> Corruptions {
        self.corrupt.clone()
    }

    /// The size of every file, added up.
    pub fn total_bytes(&self) -> u64 {
        self.progress.total_bytes()
    }

    /// Bytes read so far.
    pub fn consumed_bytes(&self) -> u64 {
        self.progress.consumed_bytes()
    }
}

impl Source for FileSource {
    fn poll(&mut self, out: &mut dyn InputSink, counters: &Counters) -> Result<Poll, SourceError> {
        let Some(current) = self.files.front_mut() else {
            return Ok(Poll::Finished);
        };
        let data = current.file.bytes();
        let mut packets = 0u64;
        let mut bytes = 0u64;
        let mut ended = false;
        for _ in 0..self.batch {
            let Some(next) = current.reader.next(data) else {
                ended = true;
                break;
            };
            match next {
                Ok(packet) => {
                    packets += 1;
                    bytes += packet.data.len() as u64;
                    match decode_packet(packet.link, packet.ts, packet.data, self.netns) {
                        Ok(segment) => out.input(Input::Segment(segment)),
                        Err(reason) => counters.dropped(reason, 1),
                    }
                }
                Err(corruption) => {
                    counters.dropped(corruption.reason, 1);
                    current.corruptions += 1;
                    let keep = current.corruptions <= LOGGED_CORRUPTIONS;
                    self.corrupt.record(current.file.path(), corruption, keep);
                    let path = current.file.path().display();
                    if keep {
                        log::warn!("{path}: {corruption}");
                    }
                    if current.corruptions == LOGGED_CORRUPTIONS {
                        log::warn!("{path}: further corrupt records are counted, not logged");
                    }
                }
            }
        }
        counters.add(Counter::Packets, packets);
        counters.add(Counter::Bytes, bytes);
        let position = current.reader.position() as u64;
        if ended {
            self.finished_bytes += current.file.len();
            self.files.pop_front();
            self.progress
                .0
                .consumed
                .store(self.finished_bytes, Ordering::Relaxed);
        } else {
            self.progress
                .0
                .consumed
                .store(self.finished_bytes + position, Ordering::Relaxed);
        }
        // Finished only on a call that handed out nothing, so that no
        // pipeline can mistake the last block for one to ignore.
        Ok(if self.files.is_empty() && packets == 0 {
            Poll::Finished
        } else {
            Poll::Ready
        })
    }

    fn name(&self) -> String {
        self.name.clone()
    }

    fn is_live(&self) -> bool {
        false
    }
}
