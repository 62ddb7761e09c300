//! Message bodies: the bytes kept, how many were sent, and the builder that
//! gathers them.

use bytes::Bytes;

/// A message body: the bytes kept, and how many were sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Body {
    /// The bytes kept, up to the body capture limit (decoded if decoding is
    /// on), exactly as sent.
    pub data: Bytes,
    /// The size of the body on the wire, in bytes, whether kept or not.
    pub size: u64,
    /// True when `data` holds less than the whole body.
    pub truncated: bool,
}

impl Body {
    /// A whole body of `data`.
    pub fn new(data: impl Into<Bytes>) -> Self {
        let data = data.into();
        Self {
            size: data.len() as u64,
            data,
            truncated: false,
        }
    }

    /// The bytes kept as text, or `None` when they are not UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.data).ok()
    }

    /// True when no byte was kept.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// Gathers a body as it arrives, keeping at most a limit of bytes and
/// counting all of them; [`BodyBuilder::finish`] gives the [`Body`].
#[derive(Clone, Debug, Default)]
pub struct BodyBuilder {
    data: Vec<u8>,
    size: u64,
    truncated: bool,
}

impl BodyBuilder {
    /// An empty body.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty body expecting `n` bytes to be kept (reserved at once, so a
    /// body of known length takes one allocation).
    pub fn with_capacity(n: usize) -> Self {
        Self {
            data: Vec::with_capacity(n),
            ..Self::default()
        }
    }

    /// Appends `bytes`, keeping at most `limit` bytes in total and counting
    /// all of them. Returns how many were not kept.
    pub fn append(&mut self, bytes: &[u8], limit: usize) -> usize {
        self.size += bytes.len() as u64;
        let room = limit.saturating_sub(self.data.len());
        let kept = room.min(bytes.len());
        if bytes.len() > room {
            self.truncated = true;
        }
        self.data
            .extend_from_slice(bytes.get(..kept).unwrap_or_default());
        bytes.len() - kept
    }

    /// `len` bytes of the body were lost in capture; `counted` when their
    /// number is known to belong to the body (a gap inside a known length).
    pub fn lost(&mut self, len: u64, counted: bool) {
        if counted {
            self.size = self.size.saturating_add(len);
        }
        self.truncated = true;
    }

    /// Bytes kept so far.
    pub fn kept(&self) -> usize {
        self.data.len()
    }

    /// Bytes seen so far, kept or not.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The body, leaving the builder empty.
    pub fn finish(&mut self) -> Body {
        let mut data = std::mem::take(&mut self.data);
        if data.capacity() > data.len() + data.len() / 4 + 64 {
            // Do not keep a large reservation alive with the record.
            data.shrink_to_fit();
        }
        Body {
            data: Bytes::from(data),
            size: std::mem::take(&mut self.size),
            truncated: std::mem::take(&mut self.truncated),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_keep_up_to_the_limit_and_count_all() {
        let mut b = BodyBuilder::with_capacity(4);
        assert_eq!(b.append(b"hel", 4), 0);
        assert_eq!(b.append(b"lo!", 4), 2);
        b.lost(10, true);
        let body = b.finish();
        assert_eq!(
            (&body.data[..], body.size, body.truncated),
            (&b"hell"[..], 16, true)
        );
        assert_eq!(b.size(), 0, "finishing empties the builder");
        assert_eq!(Body::new(&b"\xff"[..]).as_str(), None);
        assert_eq!(Body::new("ok").as_str(), Some("ok"));
    }
}
