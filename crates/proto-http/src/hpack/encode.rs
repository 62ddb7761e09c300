//! The HPACK encoding primitives (RFC 7541 §5, §6), for building header
//! blocks in tests, benchmarks and fuzzing seeds. cleartap itself only decodes.

use super::huffman;

/// Appends `value` as an integer with an `n`-bit prefix; `flags` fills the
/// bits above the prefix in the first byte.
pub fn integer(value: usize, n: u32, flags: u8, out: &mut Vec<u8>) {
    let max_prefix = (1usize << n) - 1;
    if value < max_prefix {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | max_prefix as u8);
    let mut rest = value - max_prefix;
    while rest >= 0x80 {
        out.push((rest as u8 & 0x7f) | 0x80);
        rest >>= 7;
    }
    out.push(rest as u8);
}

/// Appends a string literal, Huffman-coded if `huffman`.
pub fn string(s: &[u8], huffman: bool, out: &mut Vec<u8>) {
    if huffman {
        integer(huffman::encoded_len(s), 7, 0x80, out);
        huffman::encode(s, out);
    } else {
        integer(s.len(), 7, 0, out);
        out.extend_from_slice(s);
    }
}

/// Appends an indexed field (§6.1).
pub fn indexed(index: usize, out: &mut Vec<u8>) {
    integer(index, 7, 0x80, out);
}

/// How a literal field is to be treated by the decoder's table (§6.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Indexing {
    /// Added to the dynamic table.
    Incremental,
    /// Not added.
    Without,
    /// Not added, and never to be indexed by intermediaries.
    Never,
}

/// Appends a literal field; `name` is a table index or a literal name.
pub fn literal(
    name: Result<usize, &[u8]>,
    value: &[u8],
    indexing: Indexing,
    huffman: bool,
    out: &mut Vec<u8>,
) {
    let (n, flags) = match indexing {
        Indexing::Incremental => (6, 0x40),
        Indexing::Without => (4, 0x00),
        Indexing::Never => (4, 0x10),
    };
    match name {
        Ok(index) => integer(index, n, flags, out),
        Err(name) => {
            integer(0, n, flags, out);
            string(name, huffman, out);
        }
    }
    string(value, huffman, out);
}

/// Appends a dynamic table size update (§6.3).
pub fn size_update(size: usize, out: &mut Vec<u8>) {
    integer(size, 5, 0x20, out);
}
