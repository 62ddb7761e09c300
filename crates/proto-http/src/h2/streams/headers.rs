//! A header block decoded into a message head: pseudo-headers to the
//! head's first-line fields, the rest to its header fields, with what HPACK
//! knows of each one's UTF-8 validity; and trailers added to a message.

use std::ops::Range;

use capture_core::model::{ByteStr, Flag, Head, HeadBuilder, Headers};

use crate::grpc;
use crate::hpack;

/// A header block being decoded into a [`HeadBuilder`]: pseudo-headers go
/// to the head's first-line fields, the rest to its header fields, each as
/// the exact bytes decoded, with what HPACK knows of their UTF-8 validity.
#[derive(Debug)]
pub(crate) struct HeaderList<'b> {
    head: &'b mut HeadBuilder,
    pub(crate) has_method: bool,
    has_authority: bool,
    /// Where the first `host` field's value is, for a request without `:authority`.
    host: Option<Range<usize>>,
    pub(crate) status: Option<u16>,
    /// Fields that referred to unknown table entries.
    pub(crate) unknown: u32,
    /// Fields left out because the list exceeded the limit.
    pub(crate) too_large: bool,
    /// The block could not be decoded to its end.
    pub(crate) malformed: bool,
    /// Whether the first `content-type` field names gRPC, once one is seen.
    grpc_content_type: Option<bool>,
    size: usize,
}

impl<'b> HeaderList<'b> {
    /// A list building into `head` (emptied first).
    pub(crate) fn new(head: &'b mut HeadBuilder) -> Self {
        head.clear();
        Self {
            head,
            has_method: false,
            has_authority: false,
            host: None,
            status: None,
            unknown: 0,
            too_large: false,
            malformed: false,
            grpc_content_type: None,
            size: 0,
        }
    }

    /// Takes one decoded field, keeping the list under `max_size` (RFC 9113
    /// §6.5.2 sizes: name + value + 32).
    pub(crate) fn push(&mut self, f: hpack::Field<'_>, max_size: usize) {
        let (Some(name), Some(value)) = (f.name, f.value) else {
            return;
        };
        // The decoder found out on the way which are text: no second check.
        let (n, v) = (
            ByteStr::known(name, f.name_is_text()),
            ByteStr::known(value, f.value_is_text()),
        );
        if name.first() == Some(&b':') && self.pseudo(name, v) {
            return;
        }
        self.size = self.size.saturating_add(name.len() + value.len() + 32);
        if self.size > max_size {
            self.too_large = true;
            return;
        }
        match f.joined() {
            // A table entry: name and value in one copy.
            Some((joined, name_len)) => {
                self.head
                    .header_joined(joined, name_len, (n.is_text(), v.is_text()))
            }
            None => self.head.header(n, v),
        };
        // The two names looked for, told apart by length first.
        match name.len() {
            12 if self.grpc_content_type.is_none() && is_name(name, b"content-type") => {
                self.grpc_content_type = Some(grpc::is_grpc_content_type(v));
            }
            4 if self.host.is_none() && is_name(name, b"host") => {
                let end = self.head.byte_len();
                self.host = Some(end - v.len()..end);
            }
            _ => {}
        }
    }

    /// A pseudo-header field of a request's or response's own: true when it
    /// was one (others, such as `:scheme`, go with the header fields).
    fn pseudo(&mut self, name: &[u8], v: ByteStr<'_>) -> bool {
        match name {
            b":method" => {
                self.head.method(v);
                self.has_method = true;
            }
            b":path" => {
                self.head.path(v);
            }
            b":authority" => {
                self.head.authority(v);
                self.has_authority = true;
            }
            b":status" => {
                self.status = status(v.as_bytes());
                if self.status.is_none() {
                    self.malformed = true;
                }
            }
            _ => return false,
        }
        true
    }

    fn content_type_is_grpc(&self) -> bool {
        self.grpc_content_type == Some(true)
    }

    /// The decoded head; a request without `:authority` takes `host`'s value.
    pub(crate) fn finish(self) -> Decoded {
        if !self.has_authority
            && let Some(host) = self.host.clone()
        {
            self.head.authority_at(host);
        }
        Decoded {
            has_method: self.has_method,
            grpc: self.content_type_is_grpc(),
            status: self.status,
            unknown: self.unknown,
            broken: self.malformed || self.too_large,
            head: self.head.finish(),
        }
    }
}

/// A `:status` value as a number: three digits, read directly (the common
/// case), or whatever `u16`'s parser accepts of text.
fn status(v: &[u8]) -> Option<u16> {
    match *v {
        [a, b, c] if v.iter().all(u8::is_ascii_digit) => {
            Some(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
        }
        _ => std::str::from_utf8(v).ok()?.parse().ok(),
    }
}

/// True when `name` is `lower` (lowercase ASCII) ignoring ASCII case. The
/// first byte decides most comparisons, before the whole one.
fn is_name(name: &[u8], lower: &[u8]) -> bool {
    name.first().map(|b| b | 0x20) == lower.first().copied() && name.eq_ignore_ascii_case(lower)
}

/// A decoded header block, as a stream takes it.
pub(crate) struct Decoded {
    pub(crate) head: Head,
    has_method: bool,
    pub(crate) status: Option<u16>,
    pub(crate) grpc: bool,
    pub(crate) unknown: u32,
    pub(crate) broken: bool,
}

impl Decoded {
    /// True when the block says who sent it: a request or a response.
    pub(crate) fn is_request(&self) -> Option<bool> {
        match (self.has_method, self.status.is_some()) {
            (true, false) => Some(true),
            (false, true) => Some(false),
            _ => None,
        }
    }
}

/// Trailer bytes kept per message (name + value + 32 per field): a stream
/// may send any number of trailer blocks, each within the header-list limit.
const MAX_TRAILER_BYTES: usize = 64 * 1024;

/// Appends trailer fields within [`MAX_TRAILER_BYTES`]; beyond it the message is flagged.
pub(crate) fn add_trailers(trailers: &mut Headers, fields: &Headers, flags: &mut Vec<Flag>) {
    if fields.is_empty() {
        return;
    }
    let mut b = HeadBuilder::new();
    let mut total = 0usize;
    for h in trailers.iter().chain(fields.iter()) {
        total = total.saturating_add(h.name().len() + h.value().len() + 32);
        if total > MAX_TRAILER_BYTES {
            if !flags.contains(&Flag::Malformed) {
                flags.push(Flag::Malformed);
            }
            break;
        }
        b.header(h.name(), h.value());
    }
    *trailers = b.finish_headers();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_reads_three_digits_and_falls_back_to_the_number_parser() {
        assert_eq!(status(b"200"), Some(200));
        assert_eq!(status(b"099"), Some(99));
        assert_eq!(status(b"+200"), Some(200), "as u16's parser reads it");
        assert_eq!(status(b"20"), Some(20));
        assert_eq!(status(b"2x0"), None);
        assert_eq!(status(b"\xff00"), None);
        assert_eq!(status(b""), None);
    }
}
