//! Body decoding: `Content-Encoding` gzip, deflate, br and zstd, with a cap
//! on the decoded size. Compiled in with the crate feature `decompress`;
//! without it bodies are always kept as sent.

use capture_core::model::Body;

/// What decoding did to a body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decoding {
    /// No encoding to undo (none, identity, an unknown coding, or the feature is off).
    Unchanged,
    /// `body.data` now holds the decoded bytes.
    #[cfg_attr(not(feature = "decompress"), allow(dead_code))]
    Decoded,
    /// The body could not be decoded; it is kept as sent.
    Failed,
}

/// A content coding this crate can undo.
#[cfg_attr(not(feature = "decompress"), allow(dead_code))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Coding {
    Gzip,
    Deflate,
    Brotli,
    Zstd,
}

impl Coding {
    fn parse(token: &str) -> Option<Option<Self>> {
        let t = token.trim();
        if t.is_empty() || t.eq_ignore_ascii_case("identity") {
            Some(None)
        } else if t.eq_ignore_ascii_case("gzip") || t.eq_ignore_ascii_case("x-gzip") {
            Some(Some(Self::Gzip))
        } else if t.eq_ignore_ascii_case("deflate") {
            Some(Some(Self::Deflate))
        } else if t.eq_ignore_ascii_case("br") {
            Some(Some(Self::Brotli))
        } else if t.eq_ignore_ascii_case("zstd") {
            Some(Some(Self::Zstd))
        } else {
            None
        }
    }
}

/// Undoes `content_encoding` on `body.data`, producing at most `limit`
/// bytes (more marks the body truncated). `body.size` keeps the size on the
/// wire. A body already truncated at capture is decoded as far as it goes.
pub(crate) fn decode(body: &mut Body, content_encoding: &str, limit: usize) -> Decoding {
    let mut codings = Vec::new();
    for token in content_encoding.split(',') {
        match Coding::parse(token) {
            Some(Some(c)) => codings.push(c),
            Some(None) => {}
            None => return Decoding::Unchanged,
        }
    }
    if codings.is_empty() || codings.len() > 4 {
        return Decoding::Unchanged;
    }
    decode_all(body, &codings, limit)
}

#[cfg(not(feature = "decompress"))]
fn decode_all(_body: &mut Body, _codings: &[Coding], _limit: usize) -> Decoding {
    Decoding::Unchanged
}

#[cfg(feature = "decompress")]
fn decode_all(body: &mut Body, codings: &[Coding], limit: usize) -> Decoding {
    // On failure the body stays as sent.
    let mut data = body.data.clone();
    let partial_input = body.truncated;
    let mut truncated = false;
    for coding in codings.iter().rev() {
        match decode_one(*coding, &data, limit, partial_input) {
            Some((out, cut)) => {
                data = out.into();
                truncated |= cut;
            }
            None => return Decoding::Failed,
        }
    }
    body.data = data;
    body.truncated |= truncated;
    Decoding::Decoded
}

/// Decodes one coding; `None` on failure. The flag says output was cut at `limit`.
#[cfg(feature = "decompress")]
fn decode_one(
    coding: Coding,
    input: &[u8],
    limit: usize,
    partial_input: bool,
) -> Option<(Vec<u8>, bool)> {
    use std::io::Read;

    fn run(reader: impl Read, limit: usize, partial_input: bool) -> Option<(Vec<u8>, bool)> {
        let mut out = Vec::new();
        let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
        let result = reader.take(cap).read_to_end(&mut out);
        match result {
            Ok(_) => {}
            // A body cut at capture ends mid-stream: keep what decoded.
            Err(_) if partial_input && !out.is_empty() => {}
            Err(_) => return None,
        }
        let cut = out.len() > limit;
        out.truncate(limit);
        Some((out, cut))
    }

    match coding {
        Coding::Gzip => run(
            flate2::read::MultiGzDecoder::new(input),
            limit,
            partial_input,
        ),
        // "deflate" is zlib-wrapped per RFC 9110, but servers also send raw deflate.
        Coding::Deflate => run(flate2::read::ZlibDecoder::new(input), limit, partial_input)
            .or_else(|| {
                run(
                    flate2::read::DeflateDecoder::new(input),
                    limit,
                    partial_input,
                )
            }),
        Coding::Brotli => run(brotli::Decompressor::new(input, 4096), limit, partial_input),
        Coding::Zstd => {
            let decoder = zstd::stream::read::Decoder::new(input).ok()?;
            run(decoder, limit, partial_input)
        }
    }
}

#[cfg(all(test, feature = "decompress"))]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn body(data: &[u8]) -> Body {
        Body::new(data.to_vec())
    }

    #[test]
    fn gzip_body_is_decoded_and_wire_size_kept() {
        let raw = gzip(b"hello hello hello");
        let mut b = body(&raw);
        assert_eq!(decode(&mut b, "gzip", 1024), Decoding::Decoded);
        assert_eq!(b.data, &b"hello hello hello"[..]);
        assert_eq!(b.size, raw.len() as u64);
        assert!(!b.truncated);
    }

    #[test]
    fn every_coding_round_trips() {
        let text = b"{\"a\":1,\"b\":[1,2,3]}".repeat(20);
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(&text).unwrap();
        let zlib = z.finish().unwrap();
        let mut d = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        d.write_all(&text).unwrap();
        let raw_deflate = d.finish().unwrap();
        let mut br = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut br, 4096, 5, 22);
            w.write_all(&text).unwrap();
        }
        let zst = zstd::encode_all(&text[..], 3).unwrap();
        for (enc, bytes) in [
            ("deflate", zlib),
            ("deflate", raw_deflate),
            ("br", br),
            ("zstd", zst),
        ] {
            let mut b = body(&bytes);
            assert_eq!(decode(&mut b, enc, 1 << 20), Decoding::Decoded, "{enc}");
            assert_eq!(b.data, text, "{enc}");
        }
    }

    #[test]
    fn decoded_size_is_capped() {
        let raw = gzip(&vec![b'a'; 100_000]);
        let mut b = body(&raw);
        assert_eq!(decode(&mut b, "gzip", 1000), Decoding::Decoded);
        assert_eq!(b.data.len(), 1000);
        assert!(b.truncated);
    }

    #[test]
    fn garbage_fails_and_keeps_raw() {
        let mut b = body(b"not gzip at all");
        assert_eq!(decode(&mut b, "gzip", 1000), Decoding::Failed);
        assert_eq!(b.data, &b"not gzip at all"[..]);
    }

    #[test]
    fn unknown_and_identity_codings_leave_the_body() {
        let mut b = body(b"abc");
        assert_eq!(decode(&mut b, "identity", 1000), Decoding::Unchanged);
        assert_eq!(decode(&mut b, "compress", 1000), Decoding::Unchanged);
        assert_eq!(b.data, &b"abc"[..]);
    }
}
