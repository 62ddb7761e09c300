//! How the end of a message body is found: no body, a length, chunked
//! transfer coding, or the close of the connection.

use capture_core::model::HeadBuilder;

/// Longest chunk-size line kept (size, extensions and line end).
const CHUNK_LINE_MAX: usize = 4096;

/// The body framing of the message being read.
#[derive(Debug)]
pub(crate) enum Framing {
    /// `n` more body bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked(Chunked),
    /// Everything until the connection closes.
    Close,
}

/// Why a body could not be framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FramingError {
    /// A chunk-size line that is not hexadecimal, too long or overflowing.
    ChunkSize,
    /// Chunk data not followed by a line end.
    ChunkEnd,
    /// A trailer block larger than the header limit.
    TrailersTooLarge,
}

/// What one step of body reading did.
pub(crate) struct Step {
    /// Input bytes used.
    pub consumed: usize,
    /// The body ended.
    pub done: bool,
}

/// A framing error, and the bytes (of this input and earlier ones) that made it.
pub(crate) struct Failure {
    /// What was wrong.
    pub error: FramingError,
    /// Input bytes used, up to the end of the bad line where it is known.
    pub consumed: usize,
    /// Bytes of the bad framing, counted as unparsed.
    pub discarded: usize,
}

impl Framing {
    /// Reads body bytes from `input`, handing the body's content (without
    /// chunk framing) to `body`. Trailers go to `trailers`.
    pub(crate) fn read(
        &mut self,
        input: &[u8],
        max_trailer_bytes: usize,
        body: &mut dyn FnMut(&[u8]),
        trailers: &mut HeadBuilder,
    ) -> Result<Step, Failure> {
        match self {
            Framing::Length(left) => {
                let n = usize::try_from(*left)
                    .unwrap_or(usize::MAX)
                    .min(input.len());
                if let Some(part) = input.get(..n) {
                    body(part);
                }
                *left -= n as u64;
                Ok(Step {
                    consumed: n,
                    done: *left == 0,
                })
            }
            Framing::Close => {
                body(input);
                Ok(Step {
                    consumed: input.len(),
                    done: false,
                })
            }
            Framing::Chunked(c) => c.read(input, max_trailer_bytes, body, trailers),
        }
    }

    /// Bytes still expected for sure in the current piece of body, if
    /// known: a gap no longer than this can be skipped without losing sync.
    pub(crate) fn skippable(&self) -> u64 {
        match self {
            Framing::Length(left) => *left,
            Framing::Chunked(c) => match c.state {
                ChunkState::Data(left) => left,
                _ => 0,
            },
            Framing::Close => u64::MAX,
        }
    }

    /// Skips `len` bytes lost in capture; the caller checked [`Self::skippable`].
    pub(crate) fn skip(&mut self, len: u64) {
        match self {
            Framing::Length(left) => *left = left.saturating_sub(len),
            Framing::Chunked(c) => {
                if let ChunkState::Data(left) = &mut c.state {
                    *left = left.saturating_sub(len);
                    if *left == 0 {
                        c.state = ChunkState::DataEnd;
                    }
                }
            }
            Framing::Close => {}
        }
    }

    /// True when a skip left nothing more to read.
    pub(crate) fn is_done(&self) -> bool {
        matches!(self, Framing::Length(0))
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Reading a chunk-size line.
    #[default]
    Size,
    /// `n` bytes of chunk data left.
    Data(u64),
    /// The line end after chunk data.
    DataEnd,
    /// Trailer lines until an empty one.
    Trailers,
}

/// State of a chunked body.
#[derive(Debug, Default)]
pub(crate) struct Chunked {
    state: ChunkState,
    /// The partial line (chunk size, or trailer line) across inputs.
    line: Vec<u8>,
    trailer_bytes: usize,
}

impl Chunked {
    fn read(
        &mut self,
        input: &[u8],
        max_trailer_bytes: usize,
        body: &mut dyn FnMut(&[u8]),
        trailers: &mut HeadBuilder,
    ) -> Result<Step, Failure> {
        let mut pos = 0;
        while let Some(rest) = input.get(pos..).filter(|r| !r.is_empty()) {
            match self.state {
                ChunkState::Data(left) => {
                    let n = usize::try_from(left).unwrap_or(usize::MAX).min(rest.len());
                    if let Some(part) = rest.get(..n) {
                        body(part);
                    }
                    pos += n;
                    let left = left - n as u64;
                    self.state = if left == 0 {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left)
                    };
                }
                ChunkState::DataEnd => {
                    // Expect CRLF (or a bare LF); a lone CR is kept in `line`.
                    let Some(lf) = memchr::memchr(b'\n', rest) else {
                        if rest.iter().any(|&b| b != b'\r') || self.line.len() + rest.len() > 2 {
                            return Err(self.fail(FramingError::ChunkEnd, pos, 0));
                        }
                        self.line.extend_from_slice(rest);
                        pos = input.len();
                        continue;
                    };
                    let before = rest.get(..lf).unwrap_or_default();
                    if before.iter().any(|&b| b != b'\r') || self.line.len() + before.len() > 1 {
                        return Err(self.fail(FramingError::ChunkEnd, pos, 0));
                    }
                    self.line.clear();
                    pos += lf + 1;
                    self.state = ChunkState::Size;
                }
                ChunkState::Size => {
                    let Some(lf) = memchr::memchr(b'\n', rest) else {
                        if self.line.len() + rest.len() > CHUNK_LINE_MAX {
                            return Err(self.fail(
                                FramingError::ChunkSize,
                                input.len(),
                                rest.len(),
                            ));
                        }
                        self.line.extend_from_slice(rest);
                        pos = input.len();
                        continue;
                    };
                    let part = rest.get(..lf).unwrap_or_default();
                    pos += lf + 1;
                    let size = if self.line.is_empty() {
                        parse_chunk_size(part)
                    } else if self.line.len() + part.len() > CHUNK_LINE_MAX {
                        None
                    } else {
                        let kept = self.line.len();
                        self.line.extend_from_slice(part);
                        let s = parse_chunk_size(&self.line);
                        self.line.truncate(kept);
                        s
                    };
                    let Some(size) = size else {
                        return Err(self.fail(FramingError::ChunkSize, pos, lf + 1));
                    };
                    self.line.clear();
                    self.state = if size == 0 {
                        ChunkState::Trailers
                    } else {
                        ChunkState::Data(size)
                    };
                }
                ChunkState::Trailers => {
                    let Some(lf) = memchr::memchr(b'\n', rest) else {
                        self.trailer_bytes += rest.len();
                        if self.trailer_bytes > max_trailer_bytes {
                            return Err(self.fail(
                                FramingError::TrailersTooLarge,
                                input.len(),
                                rest.len(),
                            ));
                        }
                        self.line.extend_from_slice(rest);
                        pos = input.len();
                        continue;
                    };
                    let part = rest.get(..lf).unwrap_or_default();
                    pos += lf + 1;
                    self.trailer_bytes += lf + 1;
                    if self.trailer_bytes > max_trailer_bytes {
                        return Err(self.fail(FramingError::TrailersTooLarge, pos, lf + 1));
                    }
                    self.line.extend_from_slice(part);
                    let line = std::mem::take(&mut self.line);
                    let line = line.strip_suffix(b"\r").unwrap_or(&line);
                    if line.is_empty() {
                        return Ok(Step {
                            consumed: pos,
                            done: true,
                        });
                    }
                    if let Some((name, value)) = parse_trailer(line) {
                        trailers.header(name, value);
                    }
                }
            }
        }
        Ok(Step {
            consumed: pos,
            done: false,
        })
    }
}

impl Chunked {
    /// A failure after using `consumed` input bytes, `fresh` of which belong
    /// to the bad line besides what was kept from earlier inputs.
    fn fail(&mut self, error: FramingError, consumed: usize, fresh: usize) -> Failure {
        let discarded = self.line.len() + fresh;
        self.line.clear();
        Failure {
            error,
            consumed,
            discarded,
        }
    }
}

/// Parses `1a;ext=v` (line end removed or not) into the chunk size.
fn parse_chunk_size(line: &[u8]) -> Option<u64> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut size: u64 = 0;
    let mut digits = 0;
    let mut iter = line.iter();
    for &b in iter.by_ref() {
        let v = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            b';' | b' ' | b'\t' => break,
            _ => return None,
        };
        digits += 1;
        size = size.checked_mul(16)?.checked_add(u64::from(v))?;
    }
    (digits > 0).then_some(size)
}

/// Splits one trailer line `Name: value` into its exact name and value
/// (without the whitespace around it).
fn parse_trailer(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let colon = memchr::memchr(b':', line)?;
    let (name, value) = line.split_at_checked(colon)?;
    let value = value.get(1..).unwrap_or_default();
    let name = name.trim_ascii_end();
    if name.is_empty() {
        return None;
    }
    Some((name, value.trim_ascii()))
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use capture_core::model::Headers;

    fn read_all(framing: &mut Framing, parts: &[&[u8]]) -> (Vec<u8>, Headers, bool, usize) {
        let mut data = Vec::new();
        let mut trailers = HeadBuilder::new();
        let mut done = false;
        let mut rest = 0;
        for p in parts {
            if done {
                rest += p.len();
                continue;
            }
            let Ok(step) = framing.read(p, 1024, &mut |b| data.extend_from_slice(b), &mut trailers)
            else {
                panic!("framing error")
            };
            if step.done {
                done = true;
                rest += p.len() - step.consumed;
                continue;
            }
            assert_eq!(step.consumed, p.len());
        }
        (data, trailers.finish_headers(), done, rest)
    }

    #[test]
    fn chunked_with_extensions_and_trailers_at_every_split() {
        let wire: &[u8] = b"4;name=v\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-Sum: 1 \r\nY: 2\r\n\r\nNEXT";
        for split in 0..wire.len() {
            let (a, b) = wire.split_at(split);
            let mut f = Framing::Chunked(Chunked::default());
            let (data, trailers, done, rest) = read_all(&mut f, &[a, b]);
            assert!(done, "split {split}");
            assert_eq!(rest, 4, "split {split}");
            assert_eq!(data, b"Wikipedia in\r\n\r\nchunks.");
            assert_eq!(trailers, Headers::from_pairs([("X-Sum", "1"), ("Y", "2")]));
        }
    }

    #[test]
    fn bad_chunk_sizes_are_errors() {
        for wire in [
            &b"zz\r\n"[..],
            b"\r\n",
            b"11111111111111111\r\n",
            b"3\r\nabcX",
        ] {
            let mut f = Framing::Chunked(Chunked::default());
            let r = f.read(wire, 1024, &mut |_| {}, &mut HeadBuilder::new());
            assert!(r.is_err(), "{:?}", wire);
        }
    }

    #[test]
    fn endless_size_line_is_refused() {
        let mut f = Framing::Chunked(Chunked::default());
        let line = vec![b'1'; 10];
        let mut err = None;
        for _ in 0..1000 {
            if let Err(e) = f.read(&line, 1024, &mut |_| {}, &mut HeadBuilder::new()) {
                err = Some(e.error);
                break;
            }
        }
        assert_eq!(err, Some(FramingError::ChunkSize));
    }

    #[test]
    fn length_stops_at_its_end() {
        let mut f = Framing::Length(3);
        let (data, _, done, rest) = read_all(&mut f, &[b"ab", b"cde"]);
        assert_eq!((data.as_slice(), done, rest), (&b"abc"[..], true, 2));
    }
}
