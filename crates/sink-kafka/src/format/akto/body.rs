//! Bodies as Akto's collector sends them.
//!
//! HTTP/1 responses whose first `Content-Encoding` is exactly `gzip` or
//! `deflate` are read through Go's `gzip.Reader` (which also reads
//! concatenated members); when that fails — a `deflate` body is not gzip —
//! Akto sends an empty body, and so does this. Requests are sent as
//! received. HTTP/2 bodies are sent base64-encoded (standard alphabet,
//! padded); gRPC bodies are first stripped of their 5-byte message
//! prefixes, messages concatenated, an incomplete last message left out.
//!
//! Decoding is done here, whatever `Content-Encoding` decoding the HTTP
//! parser was built with: give this format bodies as sent
//! (`HttpConfig::decompress = false`). A body that is not gzip but is
//! labelled so is taken as already decoded and sent as it is.

use std::io::Read;

use base64::Engine as _;

/// The gzip magic bytes.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The response body Akto sends for `data` labelled `content_encoding`,
/// decoding at most `limit` bytes (a body decoding to more is cut there).
pub(crate) fn http1_response(data: &[u8], content_encoding: Option<&str>, limit: usize) -> Vec<u8> {
    let Some(enc) = content_encoding else {
        return data.to_vec();
    };
    if enc != "gzip" && enc != "deflate" {
        return data.to_vec();
    }
    if enc == "gzip" && !data.is_empty() && !data.starts_with(&GZIP_MAGIC) {
        // Already decoded by the HTTP parser.
        return data.to_vec();
    }
    if data.is_empty() {
        // Go's gzip.NewReader fails on an empty body: Akto sends it empty.
        return Vec::new();
    }
    let cap = u64::try_from(limit).unwrap_or(u64::MAX);
    let mut out = Vec::new();
    match flate2::read::MultiGzDecoder::new(data)
        .take(cap)
        .read_to_end(&mut out)
    {
        Ok(_) => out,
        Err(_) => Vec::new(),
    }
}

/// Base64 of an HTTP/2 body; for gRPC, of its messages without their prefixes.
pub(crate) fn http2(data: &[u8], grpc: bool) -> String {
    let engine = base64::engine::general_purpose::STANDARD;
    if grpc {
        engine.encode(grpc_messages(data))
    } else {
        engine.encode(data)
    }
}

/// The payloads of the length-prefixed gRPC messages in `data`, concatenated.
fn grpc_messages(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut rest = data;
    while let Some((prefix, tail)) = rest.split_first_chunk::<5>() {
        let len = u32::from_be_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]) as usize;
        let Some(msg) = tail.get(..len) else {
            break;
        };
        out.extend_from_slice(msg);
        rest = tail.get(len..).unwrap_or_default();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(b: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn gzip_is_decoded_and_members_concatenated() {
        let mut two = gz(b"ab");
        two.extend(gz(b"cd"));
        assert_eq!(http1_response(&two, Some("gzip"), 1 << 20), b"abcd");
        assert_eq!(http1_response(&gz(b"x"), None, 1 << 20), gz(b"x"));
        // Only the exact token, as Akto compares it.
        assert_eq!(http1_response(&gz(b"x"), Some("GZIP"), 1 << 20), gz(b"x"));
    }

    #[test]
    fn failures_give_an_empty_body_as_in_akto() {
        let mut cut = gz(b"hello world");
        cut.truncate(cut.len() - 6);
        assert_eq!(http1_response(&cut, Some("gzip"), 1 << 20), b"");
        assert_eq!(http1_response(b"x\x9c\x01", Some("deflate"), 1 << 20), b"");
    }

    #[test]
    fn already_decoded_bodies_pass() {
        assert_eq!(
            http1_response(b"{\"a\":1}", Some("gzip"), 1 << 20),
            b"{\"a\":1}"
        );
    }

    #[test]
    fn decoding_is_bounded() {
        let big = gz(&vec![b'a'; 100_000]);
        assert_eq!(http1_response(&big, Some("gzip"), 1000).len(), 1000);
    }

    #[test]
    fn grpc_prefixes_are_stripped() {
        let msg = [0x0a, 0x03, b'b', b'o', b'b'];
        let mut framed = vec![0, 0, 0, 0, 5];
        framed.extend_from_slice(&msg);
        framed.extend_from_slice(&[0, 0, 0, 0, 1, 0x08]);
        framed.extend_from_slice(&[0, 0, 0, 0, 9, 1]); // incomplete
        let mut both = msg.to_vec();
        both.push(0x08);
        let engine = base64::engine::general_purpose::STANDARD;
        assert_eq!(http2(&framed, true), engine.encode(&both));
        assert_eq!(http2(b"{\"ok\":true}", false), "eyJvayI6dHJ1ZX0=");
    }
}
