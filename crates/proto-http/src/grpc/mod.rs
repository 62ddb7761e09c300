//! gRPC over HTTP/2: the length-prefixed messages of a body and the status
//! from the trailers.
//!
//! A gRPC body is a sequence of messages, each led by a 5-byte prefix: a
//! compressed flag (0 or 1) and a 32-bit big-endian length. [`MessageReader`]
//! counts them over DATA chunks of any size without keeping their bytes, so a
//! message split across frames is counted once, when its last byte arrives.

use capture_core::model::Headers;

/// Byte offsets of the message prefix.
pub mod field {
    /// Compressed flag.
    pub const COMPRESSED: usize = 0;
    /// 32-bit big-endian message length.
    pub const LENGTH: std::ops::Range<usize> = 1..5;
    /// Size of the prefix.
    pub const PREFIX_LEN: usize = 5;
}

/// True for a gRPC content type (`application/grpc`, `application/grpc+proto`, …).
pub fn is_grpc_content_type(value: impl AsRef<[u8]>) -> bool {
    let v = value.as_ref();
    v.len() >= 16
        && v.get(..16)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"application/grpc"))
        && matches!(v.get(16), None | Some(b'+' | b';'))
}

/// Why a gRPC body could not be split into messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageError {
    /// The compressed flag is neither 0 nor 1.
    BadFlag(u8),
    /// A message longer than the configured cap.
    TooLarge(u32),
}

/// Splits one gRPC body into messages, across chunks.
#[derive(Clone, Debug, Default)]
pub struct MessageReader {
    prefix: [u8; field::PREFIX_LEN],
    have: usize,
    left: u64,
    in_message: bool,
    messages: u32,
    compressed: u32,
    error: Option<MessageError>,
}

impl MessageReader {
    /// Reads the next bytes of the body; messages longer than `max_message` are an error.
    pub fn feed(&mut self, mut bytes: &[u8], max_message: u32) {
        while !bytes.is_empty() && self.error.is_none() {
            if self.in_message {
                let n = usize::try_from(self.left)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                self.left -= n as u64;
                bytes = bytes.get(n..).unwrap_or_default();
                if self.left == 0 {
                    self.finish_message();
                }
                continue;
            }
            let want = field::PREFIX_LEN - self.have;
            let n = want.min(bytes.len());
            let (head, rest) = bytes.split_at(n);
            if let Some(dst) = self.prefix.get_mut(self.have..self.have + n) {
                dst.copy_from_slice(head);
            }
            self.have += n;
            bytes = rest;
            if self.have < field::PREFIX_LEN {
                return;
            }
            self.have = 0;
            let [flag, a, b, c, d] = self.prefix;
            let len = u32::from_be_bytes([a, b, c, d]);
            if flag > 1 {
                self.error = Some(MessageError::BadFlag(flag));
                return;
            }
            if len > max_message {
                self.error = Some(MessageError::TooLarge(len));
                return;
            }
            if flag == 1 {
                self.compressed += 1;
            }
            self.left = u64::from(len);
            self.in_message = true;
            if len == 0 {
                self.finish_message();
            }
        }
    }

    fn finish_message(&mut self) {
        self.in_message = false;
        self.messages = self.messages.saturating_add(1);
    }

    /// Complete messages so far.
    pub fn messages(&self) -> u32 {
        self.messages
    }

    /// Complete or started messages with the compressed flag set.
    pub fn compressed(&self) -> u32 {
        self.compressed
    }

    /// True when the body stopped inside a message (or its prefix).
    pub fn partial(&self) -> bool {
        self.in_message || self.have > 0
    }

    /// The error that stopped splitting, if any.
    pub fn error(&self) -> Option<MessageError> {
        self.error
    }
}

/// `grpc-status` and `grpc-message` from trailers, or from the headers of
/// a trailers-only response. The message is percent-decoded when that gives
/// text, else kept as sent when that is text; its exact bytes stay in the
/// fields either way.
pub fn status(fields: &Headers) -> (Option<u32>, Option<String>) {
    let status = fields
        .get("grpc-status")
        .and_then(|s| s.as_str()?.trim().parse().ok());
    let message = fields
        .get("grpc-message")
        .and_then(|m| percent_decode(m.as_bytes()).or_else(|| m.as_str().map(str::to_owned)));
    (status, message)
}

/// Decodes the percent-encoding of `grpc-message` (invalid escapes kept as
/// sent); `None` when the result is not UTF-8.
pub fn percent_decode(b: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(flag: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![flag];
        v.extend_from_slice(&(body.len() as u32).to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn messages_split_anywhere_are_counted_once() {
        let mut body = msg(0, b"hello");
        body.extend(msg(1, b""));
        body.extend(msg(0, &[7; 300]));
        for cut in 0..body.len() {
            let mut r = MessageReader::default();
            r.feed(&body[..cut], 1 << 20);
            r.feed(&body[cut..], 1 << 20);
            assert_eq!(r.messages(), 3, "cut at {cut}");
            assert_eq!(r.compressed(), 1);
            assert!(!r.partial());
        }
        let mut r = MessageReader::default();
        for b in &body {
            r.feed(std::slice::from_ref(b), 1 << 20);
        }
        assert_eq!(r.messages(), 3);
    }

    #[test]
    fn bad_flag_and_oversize_stop_counting() {
        let mut r = MessageReader::default();
        r.feed(&msg(2, b"x"), 100);
        assert_eq!(r.error(), Some(MessageError::BadFlag(2)));
        let mut r = MessageReader::default();
        r.feed(&msg(0, &[0; 101]), 100);
        assert_eq!(r.error(), Some(MessageError::TooLarge(101)));
        assert_eq!(r.messages(), 0);
        let mut r = MessageReader::default();
        r.feed(&msg(0, b"abc")[..6], 100);
        assert!(r.partial());
    }

    #[test]
    fn status_and_message_from_trailers() {
        let t = Headers::from_pairs([("grpc-status", "3"), ("grpc-message", "bad%20arg%3A%zz")]);
        assert_eq!(status(&t), (Some(3), Some("bad arg:%zz".to_owned())));
        assert!(is_grpc_content_type("application/grpc"));
        assert!(is_grpc_content_type("application/grpc+proto"));
        assert!(!is_grpc_content_type("application/grpc-web"));
        assert!(!is_grpc_content_type("application/json"));
        let raw = Headers::from_pairs([("grpc-message", &b"%ff"[..])]);
        assert_eq!(status(&raw).1.as_deref(), Some("%ff"), "kept as sent");
    }
}
