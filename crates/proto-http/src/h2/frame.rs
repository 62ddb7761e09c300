//! HTTP/2 frames (RFC 9113 §4, §6) as views over borrowed bytes.
//!
//! [`FrameHeader::parse`] validates the 9-byte header once; [`Frame::parse`]
//! then checks the payload of the frame's type (padding, priority, fixed
//! lengths) and gives a [`Frame`] whose fields borrow the input. Nothing
//! here panics on any input: offsets live in [`field`] and every access is
//! checked.

/// Byte offsets of the frame header fields.
pub mod field {
    use std::ops::Range;

    /// 24-bit payload length.
    pub const LENGTH: Range<usize> = 0..3;
    /// Frame type.
    pub const TYPE: usize = 3;
    /// Flags.
    pub const FLAGS: usize = 4;
    /// Reserved bit and 31-bit stream identifier.
    pub const STREAM_ID: Range<usize> = 5..9;
    /// Size of the frame header.
    pub const HEADER_LEN: usize = 9;
}

/// The connection preface a client sends first (RFC 9113 §3.4).
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Largest payload any peer may allow (2^24 - 1).
pub const MAX_FRAME_SIZE_LIMIT: u32 = (1 << 24) - 1;
/// The payload limit before a peer's SETTINGS say otherwise.
pub const DEFAULT_MAX_FRAME_SIZE: u32 = 1 << 14;

/// Frame flag bits.
pub mod flags {
    /// DATA, HEADERS: last frame of the stream from this side.
    pub const END_STREAM: u8 = 0x1;
    /// SETTINGS, PING: acknowledgement.
    pub const ACK: u8 = 0x1;
    /// HEADERS, PUSH_PROMISE, CONTINUATION: last frame of the header block.
    pub const END_HEADERS: u8 = 0x4;
    /// DATA, HEADERS, PUSH_PROMISE: a pad length byte leads the payload.
    pub const PADDED: u8 = 0x8;
    /// HEADERS: stream dependency and weight lead the block.
    pub const PRIORITY: u8 = 0x20;
}

/// The frame types of RFC 9113.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameType {
    /// 0x0.
    Data,
    /// 0x1.
    Headers,
    /// 0x2.
    Priority,
    /// 0x3.
    RstStream,
    /// 0x4.
    Settings,
    /// 0x5.
    PushPromise,
    /// 0x6.
    Ping,
    /// 0x7.
    GoAway,
    /// 0x8.
    WindowUpdate,
    /// 0x9.
    Continuation,
    /// Any other type: ignored by receivers (extensions).
    Unknown(u8),
}

impl FrameType {
    /// The type of a type byte.
    pub const fn from_u8(b: u8) -> Self {
        match b {
            0 => Self::Data,
            1 => Self::Headers,
            2 => Self::Priority,
            3 => Self::RstStream,
            4 => Self::Settings,
            5 => Self::PushPromise,
            6 => Self::Ping,
            7 => Self::GoAway,
            8 => Self::WindowUpdate,
            9 => Self::Continuation,
            other => Self::Unknown(other),
        }
    }
}

/// Why a frame is invalid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Fewer bytes than the header or its length says.
    #[error("HTTP/2 frame truncated")]
    Truncated,
    /// The payload is longer than the receiver allows.
    #[error("HTTP/2 frame of {len} bytes exceeds the maximum frame size {max}")]
    TooLarge {
        /// Payload length.
        len: u32,
        /// Limit in force.
        max: u32,
    },
    /// A fixed-size frame has another size, or padding exceeds the payload.
    #[error("HTTP/2 {0:?} frame has an invalid length")]
    BadLength(FrameType),
    /// A frame that needs a stream came on stream 0, or the reverse.
    #[error("HTTP/2 {0:?} frame on an invalid stream")]
    BadStream(FrameType),
}

/// A view of a 9-byte frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    bytes: [u8; field::HEADER_LEN],
}

impl FrameHeader {
    /// Reads the header at the start of `buf`.
    pub fn parse(buf: &[u8]) -> Result<Self, FrameError> {
        let bytes = buf
            .first_chunk::<{ field::HEADER_LEN }>()
            .ok_or(FrameError::Truncated)?;
        Ok(Self { bytes: *bytes })
    }

    /// A header with these fields (for writing frames in tests and benches;
    /// feature `testkit`).
    #[cfg(any(test, feature = "testkit"))]
    pub fn new(ty: u8, flags: u8, stream_id: u32, len: u32) -> Self {
        let l = len.to_be_bytes();
        let s = (stream_id & 0x7fff_ffff).to_be_bytes();
        Self {
            bytes: [l[1], l[2], l[3], ty, flags, s[0], s[1], s[2], s[3]],
        }
    }

    /// The 9 bytes.
    pub fn as_bytes(&self) -> &[u8; field::HEADER_LEN] {
        &self.bytes
    }

    /// Payload length.
    pub fn len(&self) -> u32 {
        let [a, b, c, ..] = self.bytes;
        u32::from_be_bytes([0, a, b, c])
    }

    /// True for an empty payload.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The raw type byte.
    pub fn type_byte(&self) -> u8 {
        self.bytes[field::TYPE]
    }

    /// Frame type.
    pub fn frame_type(&self) -> FrameType {
        FrameType::from_u8(self.type_byte())
    }

    /// Flags.
    pub fn flags(&self) -> u8 {
        self.bytes[field::FLAGS]
    }

    /// True if `flag` is set.
    pub fn has(&self, flag: u8) -> bool {
        self.flags() & flag != 0
    }

    /// Stream identifier, reserved bit cleared.
    pub fn stream_id(&self) -> u32 {
        let [.., a, b, c, d] = self.bytes;
        u32::from_be_bytes([a, b, c, d]) & 0x7fff_ffff
    }

    /// Checks the length against `max` and the stream rules of the type.
    pub fn validate(&self, max: u32) -> Result<(), FrameError> {
        let (len, ty) = (self.len(), self.frame_type());
        if len > max {
            return Err(FrameError::TooLarge { len, max });
        }
        let on_stream = self.stream_id() != 0;
        let stream_ok = match ty {
            FrameType::Data
            | FrameType::Headers
            | FrameType::Priority
            | FrameType::RstStream
            | FrameType::PushPromise
            | FrameType::Continuation => on_stream,
            FrameType::Settings | FrameType::Ping | FrameType::GoAway => !on_stream,
            FrameType::WindowUpdate | FrameType::Unknown(_) => true,
        };
        if !stream_ok {
            return Err(FrameError::BadStream(ty));
        }
        let len_ok = match ty {
            FrameType::Priority => len == 5,
            FrameType::RstStream | FrameType::WindowUpdate => len == 4,
            FrameType::Ping => len == 8,
            FrameType::Settings => len % 6 == 0 && (len == 0 || !self.has(flags::ACK)),
            FrameType::GoAway => len >= 8,
            FrameType::PushPromise => len >= 4,
            _ => true,
        };
        if len_ok {
            Ok(())
        } else {
            Err(FrameError::BadLength(ty))
        }
    }
}

/// Stream dependency of a HEADERS or PRIORITY frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Priority {
    /// The stream depended on.
    pub dependency: u32,
    /// Exclusive dependency.
    pub exclusive: bool,
    /// Weight minus one.
    pub weight: u8,
}

impl Priority {
    fn parse(b: &[u8]) -> Result<(Self, &[u8]), FrameError> {
        let (p, rest) = b.split_first_chunk::<5>().ok_or(FrameError::Truncated)?;
        let &[a, b, c, d, weight] = p;
        let dep = u32::from_be_bytes([a, b, c, d]);
        Ok((
            Self {
                dependency: dep & 0x7fff_ffff,
                exclusive: dep >> 31 == 1,
                weight,
            },
            rest,
        ))
    }
}

/// One SETTINGS parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setting {
    /// Identifier.
    pub id: u16,
    /// Value.
    pub value: u32,
}

impl Setting {
    /// SETTINGS_HEADER_TABLE_SIZE.
    pub const HEADER_TABLE_SIZE: u16 = 0x1;
    /// SETTINGS_ENABLE_PUSH.
    pub const ENABLE_PUSH: u16 = 0x2;
    /// SETTINGS_MAX_CONCURRENT_STREAMS.
    pub const MAX_CONCURRENT_STREAMS: u16 = 0x3;
    /// SETTINGS_INITIAL_WINDOW_SIZE.
    pub const INITIAL_WINDOW_SIZE: u16 = 0x4;
    /// SETTINGS_MAX_FRAME_SIZE.
    pub const MAX_FRAME_SIZE: u16 = 0x5;
    /// SETTINGS_MAX_HEADER_LIST_SIZE.
    pub const MAX_HEADER_LIST_SIZE: u16 = 0x6;
}

/// A frame with its payload interpreted; slices borrow the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// DATA: body bytes, padding removed.
    Data {
        /// Stream.
        stream: u32,
        /// END_STREAM.
        end_stream: bool,
        /// The data.
        data: &'a [u8],
    },
    /// HEADERS: the first fragment of a header block.
    Headers {
        /// Stream.
        stream: u32,
        /// END_STREAM.
        end_stream: bool,
        /// END_HEADERS.
        end_headers: bool,
        /// The PRIORITY fields, when flagged.
        priority: Option<Priority>,
        /// The header block fragment.
        fragment: &'a [u8],
    },
    /// PRIORITY.
    Priority {
        /// Stream.
        stream: u32,
        /// Its dependency.
        priority: Priority,
    },
    /// RST_STREAM.
    RstStream {
        /// Stream.
        stream: u32,
        /// Error code.
        code: u32,
    },
    /// SETTINGS.
    Settings {
        /// An acknowledgement (no parameters).
        ack: bool,
        /// Parameters, 6 bytes each; see [`Frame::settings`].
        params: &'a [u8],
    },
    /// PUSH_PROMISE: the first fragment of the promised request's headers.
    PushPromise {
        /// The stream it is sent on.
        stream: u32,
        /// The stream it reserves.
        promised: u32,
        /// END_HEADERS.
        end_headers: bool,
        /// The header block fragment.
        fragment: &'a [u8],
    },
    /// PING.
    Ping {
        /// An acknowledgement.
        ack: bool,
        /// Opaque data.
        data: [u8; 8],
    },
    /// GOAWAY.
    GoAway {
        /// Highest stream the sender may have processed.
        last_stream: u32,
        /// Error code.
        code: u32,
        /// Debug data.
        debug: &'a [u8],
    },
    /// WINDOW_UPDATE.
    WindowUpdate {
        /// Stream (0: the connection).
        stream: u32,
        /// Increment.
        increment: u32,
    },
    /// CONTINUATION: a further header block fragment.
    Continuation {
        /// Stream.
        stream: u32,
        /// END_HEADERS.
        end_headers: bool,
        /// The header block fragment.
        fragment: &'a [u8],
    },
    /// A frame of an unknown type.
    Unknown {
        /// Type byte.
        ty: u8,
        /// Stream.
        stream: u32,
    },
}

/// Removes the padding of a PADDED payload.
pub fn unpad<'a>(header: &FrameHeader, payload: &'a [u8]) -> Result<&'a [u8], FrameError> {
    if !header.has(flags::PADDED) {
        return Ok(payload);
    }
    let (&pad, rest) = payload
        .split_first()
        .ok_or(FrameError::BadLength(header.frame_type()))?;
    let keep = rest
        .len()
        .checked_sub(usize::from(pad))
        .ok_or(FrameError::BadLength(header.frame_type()))?;
    rest.get(..keep)
        .ok_or(FrameError::BadLength(header.frame_type()))
}

fn be32(b: &[u8]) -> Result<(u32, &[u8]), FrameError> {
    let (v, rest) = b.split_first_chunk::<4>().ok_or(FrameError::Truncated)?;
    Ok((u32::from_be_bytes(*v), rest))
}

impl<'a> Frame<'a> {
    /// Interprets `payload` (exactly `header.len()` bytes) as the header's type.
    pub fn parse(header: &FrameHeader, payload: &'a [u8]) -> Result<Self, FrameError> {
        if payload.len() != header.len() as usize {
            return Err(FrameError::Truncated);
        }
        header.validate(MAX_FRAME_SIZE_LIMIT)?;
        let stream = header.stream_id();
        let bad = || FrameError::BadLength(header.frame_type());
        Ok(match header.frame_type() {
            FrameType::Data => Frame::Data {
                stream,
                end_stream: header.has(flags::END_STREAM),
                data: unpad(header, payload)?,
            },
            FrameType::Headers => {
                let body = unpad(header, payload)?;
                let (priority, fragment) = if header.has(flags::PRIORITY) {
                    let (p, rest) = Priority::parse(body).map_err(|_| bad())?;
                    (Some(p), rest)
                } else {
                    (None, body)
                };
                Frame::Headers {
                    stream,
                    end_stream: header.has(flags::END_STREAM),
                    end_headers: header.has(flags::END_HEADERS),
                    priority,
                    fragment,
                }
            }
            FrameType::Priority => Frame::Priority {
                stream,
                priority: Priority::parse(payload)?.0,
            },
            FrameType::RstStream => Frame::RstStream {
                stream,
                code: be32(payload)?.0,
            },
            FrameType::Settings => Frame::Settings {
                ack: header.has(flags::ACK),
                params: payload,
            },
            FrameType::PushPromise => {
                let body = unpad(header, payload)?;
                let (promised, fragment) = be32(body).map_err(|_| bad())?;
                Frame::PushPromise {
                    stream,
                    promised: promised & 0x7fff_ffff,
                    end_headers: header.has(flags::END_HEADERS),
                    fragment,
                }
            }
            FrameType::Ping => Frame::Ping {
                ack: header.has(flags::ACK),
                data: *payload.first_chunk::<8>().ok_or_else(bad)?,
            },
            FrameType::GoAway => {
                let (last, rest) = be32(payload)?;
                let (code, debug) = be32(rest)?;
                Frame::GoAway {
                    last_stream: last & 0x7fff_ffff,
                    code,
                    debug,
                }
            }
            FrameType::WindowUpdate => Frame::WindowUpdate {
                stream,
                increment: be32(payload)?.0 & 0x7fff_ffff,
            },
            FrameType::Continuation => Frame::Continuation {
                stream,
                end_headers: header.has(flags::END_HEADERS),
                fragment: payload,
            },
            FrameType::Unknown(ty) => Frame::Unknown { ty, stream },
        })
    }

    /// The parameters of a SETTINGS payload.
    pub fn settings(params: &[u8]) -> impl Iterator<Item = Setting> + '_ {
        params
            .chunks_exact(6)
            .filter_map(|c| c.first_chunk::<6>())
            .map(|&[a, b, c, d, e, f]| Setting {
                id: u16::from_be_bytes([a, b]),
                value: u32::from_be_bytes([c, d, e, f]),
            })
    }
}

/// Splits the complete frames at the start of `buf`: each item is a header
/// and its payload; stops at the first incomplete frame.
pub fn frames(buf: &[u8]) -> impl Iterator<Item = (FrameHeader, &[u8])> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        let header = FrameHeader::parse(rest).ok()?;
        let (frame, after) = rest.split_at_checked(field::HEADER_LEN + header.len() as usize)?;
        rest = after;
        Some((header, frame.get(field::HEADER_LEN..).unwrap_or_default()))
    })
}

/// Appends a frame (header and payload) to `out`; for tests, benches and
/// the hostile-input generator (feature `testkit`).
#[cfg(any(test, feature = "testkit"))]
pub fn write_frame(ty: FrameType, flags: u8, stream_id: u32, payload: &[u8], out: &mut Vec<u8>) {
    let ty = match ty {
        FrameType::Data => 0,
        FrameType::Headers => 1,
        FrameType::Priority => 2,
        FrameType::RstStream => 3,
        FrameType::Settings => 4,
        FrameType::PushPromise => 5,
        FrameType::Ping => 6,
        FrameType::GoAway => 7,
        FrameType::WindowUpdate => 8,
        FrameType::Continuation => 9,
        FrameType::Unknown(t) => t,
    };
    let len = u32::try_from(payload.len())
        .unwrap_or(MAX_FRAME_SIZE_LIMIT)
        .min(MAX_FRAME_SIZE_LIMIT);
    out.extend_from_slice(FrameHeader::new(ty, flags, stream_id, len).as_bytes());
    out.extend_from_slice(payload.get(..len as usize).unwrap_or(payload));
}
