//! The static Huffman code of HPACK (RFC 7541 Appendix B), with a
//! table-driven decoder built at compile time.
//!
//! Decoding peeks at the next 12 bits of a 64-bit window: one lookup in
//! `FAST` gives the one or two symbols whose codes fit in them (all letters,
//! digits and common punctuation have codes of 5 to 8 bits). Longer codes
//! walk the code tree bit by bit (`TREE`). At the end, what is left must be
//! padding: fewer than 8 bits, all ones, i.e. a prefix of EOS (§5.2).
//!
//! One load gives at least 57 bits (ones past the input's end, as
//! padding is), enough for four lookups; only near the end does each check
//! that its codes end within the input. Their symbols are gathered in a word and stored at
//! once, into room the caller made beforehand ([`decoded_room`]). Every code of 12 bits or fewer is an
//! ASCII symbol, so only the tree walk can produce a byte above 0x7f: the
//! decoder says whether the output is ASCII without looking at it again.
//!
//! Hand-written rather than taken from a crate: the decoder must tell
//! whether its output is ASCII, write into the caller's buffer and never
//! panic on hostile input; the crates seen (`hpack`, `fluke-hpack`,
//! `httlib-huffman`) do one or two of those.

/// The input is not a valid Huffman-coded string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HuffmanError;

/// What [`decode_into`] wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// Bytes decoded, at the start of the output.
    pub len: usize,
    /// Every decoded byte is ASCII (hence the output is UTF-8).
    pub ascii: bool,
}

/// The room [`decode_into`] needs for `encoded_len` input bytes: codes are
/// at least 5 bits, and stores are a word wide.
pub const fn decoded_room(encoded_len: usize) -> usize {
    encoded_len.saturating_mul(8) / 5 + 8
}

/// Appends the Huffman decoding of `src` to `dst`.
///
/// Fails on an EOS symbol in the data, on padding longer than 7 bits and on
/// padding that is not all ones; `dst` is left as it was then.
pub fn decode(src: &[u8], dst: &mut Vec<u8>) -> Result<(), HuffmanError> {
    let start = dst.len();
    dst.resize(start + decoded_room(src.len()), 0);
    let result = match dst.get_mut(start..) {
        Some(room) => decode_into(src, room),
        None => Err(HuffmanError),
    };
    dst.truncate(start + result.map_or(0, |d| d.len));
    result.map(|_| ())
}

/// Decodes `src` into the start of `out`, which must be at least
/// [`decoded_room`]`(src.len())` long (shorter room fails the decoding).
///
/// Fails as [`decode`] does; what `out` holds then is unspecified.
#[inline]
pub fn decode_into(src: &[u8], out: &mut [u8]) -> Result<Decoded, HuffmanError> {
    if out.len() < decoded_room(src.len()) {
        return Err(HuffmanError);
    }
    // Bits of the input decoded so far, of `end`.
    let (mut bp, end) = (0usize, src.len().saturating_mul(8));
    // Bytes written; the OR of the symbols from the tree walk.
    let (mut o, mut high) = (0usize, 0u8);
    loop {
        // At least 57 bits from `bp` on, ones past the input's end.
        let mut acc = window(src, bp / 8) << (bp % 8);
        // Up to 8 symbols, first in the lowest byte, `n8` bits of `w` used.
        let (mut w, mut n8, mut stop) = (0u64, 0u32, false);
        if end - bp >= 48 {
            // Four lookups take 48 bits at most: their codes need no check
            // against the end. A code longer than the peek (an entry of
            // LONG alone) takes no bits, so the lookups after it find it
            // again and add nothing: one check after the four.
            let mut flags = 0u32;
            for _ in 0..4 {
                let e = fast(acc);
                flags |= e;
                w |= u64::from(e & 0xffff) << n8;
                n8 += (e >> 19) & 0x18;
                // Bits 16-21 of `e` are its bits taken; the shift takes no more.
                acc = acc.wrapping_shl(e >> 16);
                bp += ((e >> 16) & 0x3f) as usize;
            }
            stop = flags & LONG != 0;
        } else {
            for _ in 0..4 {
                let e = fast(acc);
                let bits = ((e >> 16) & 0x3f) as usize;
                if e & LONG != 0 || bits > end - bp {
                    stop = true;
                    break;
                }
                w |= u64::from(e & 0xffff) << n8;
                n8 += (e >> 19) & 0x18;
                acc = acc.wrapping_shl(e >> 16);
                bp += bits;
            }
        }
        let dst = out.get_mut(o..o + 8).ok_or(HuffmanError)?;
        dst.copy_from_slice(&w.to_le_bytes());
        o += (n8 / 8) as usize;
        if !stop {
            continue;
        }
        // The end of the input, or a code longer than the peek. At most 36
        // bits of the window were taken: 21 or more are left in `acc`.
        let left = end - bp;
        if left == 0 {
            return Ok(Decoded {
                len: o,
                ascii: high < 0x80,
            });
        }
        let single = SINGLE
            .get((acc >> (64 - PEEK_BITS)) as usize)
            .copied()
            .unwrap_or(0);
        let len1 = usize::from(single >> 8);
        if single != 0 && len1 <= left {
            // Two symbols whose second runs past the input: the first counts.
            *out.get_mut(o).ok_or(HuffmanError)? = single as u8;
            o += 1;
            bp += len1;
            continue;
        }
        if left < 8 {
            // No whole code fits in what is left (a code this short would
            // have been found above): it must be padding, a prefix of EOS.
            let padding = acc >> (64 - left) == (1u64 << left) - 1;
            return if padding {
                Ok(Decoded {
                    len: o,
                    ascii: high < 0x80,
                })
            } else {
                Err(HuffmanError)
            };
        }
        let acc = window(src, bp / 8) << (bp % 8);
        // Codes are 30 bits at most: the window's 57 are enough.
        match walk(acc, left.min(57) as u32) {
            Walk::Symbol(sym, len) => {
                *out.get_mut(o).ok_or(HuffmanError)? = sym;
                o += 1;
                high |= sym;
                bp += len as usize;
            }
            Walk::Eos => return Err(HuffmanError),
            // Eight or more bits that end inside a code: padding too long.
            Walk::Incomplete => return Err(HuffmanError),
        }
    }
}

/// The 8 bytes of `src` from byte `i` on, as a big-endian word; past the
/// end of the input, ones.
fn window(src: &[u8], i: usize) -> u64 {
    if let Some(word) = src.get(i..).and_then(|r| r.first_chunk::<8>()) {
        return u64::from_be_bytes(*word);
    }
    if let Some(last) = src.last_chunk::<8>() {
        // The last 8 bytes, shifted to start at `i`.
        let shift = i
            .saturating_add(8)
            .saturating_sub(src.len())
            .saturating_mul(8);
        return match u32::try_from(shift) {
            Ok(s @ 0..64) => (u64::from_be_bytes(*last) << s) | ((1u64 << s) - 1),
            _ => u64::MAX,
        };
    }
    // An input shorter than a word.
    let mut word = u64::MAX;
    for (k, &b) in src.get(i..).unwrap_or_default().iter().enumerate() {
        let shift = 56 - 8 * k as u32;
        word = (word & !(0xff << shift)) | (u64::from(b) << shift);
    }
    word
}

/// What the code tree finds at the top of a bit window.
enum Walk {
    /// A symbol and its code length.
    Symbol(u8, u32),
    /// The EOS code, which must not appear in data.
    Eos,
    /// The bits end inside a code.
    Incomplete,
}

/// Walks the code tree over the top `bits` bits of `acc`.
fn walk(acc: u64, bits: u32) -> Walk {
    let mut node = 0usize;
    for i in 0..bits {
        let bit = ((acc >> (63 - i)) & 1) as usize;
        let child = TREE
            .get(node)
            .and_then(|c| c.get(bit))
            .copied()
            .unwrap_or(0);
        if child < 0 {
            return match u8::try_from(-child - 1) {
                Ok(sym) => Walk::Symbol(sym, i + 1),
                Err(_) => Walk::Eos,
            };
        }
        node = usize::try_from(child).unwrap_or(0);
    }
    Walk::Incomplete
}

/// Appends the Huffman encoding of `src` to `dst`, padded with ones.
pub fn encode(src: &[u8], dst: &mut Vec<u8>) {
    let mut acc: u64 = 0;
    let mut bits: u32 = 0;
    for &b in src {
        let (code, len) = CODES.get(usize::from(b)).copied().unwrap_or((0, 0));
        acc = (acc << len) | u64::from(code);
        bits += u32::from(len);
        while bits >= 8 {
            bits -= 8;
            dst.push((acc >> bits) as u8);
        }
        acc &= (1u64 << bits) - 1;
    }
    if bits > 0 {
        let pad = 8 - bits;
        dst.push(((acc << pad) | ((1u64 << pad) - 1)) as u8);
    }
}

/// The length in bytes of the Huffman encoding of `src`.
pub fn encoded_len(src: &[u8]) -> usize {
    let bits: usize = src
        .iter()
        .map(|&b| usize::from(CODES.get(usize::from(b)).map_or(0, |c| c.1)))
        .sum();
    bits.div_ceil(8)
}

/// Bits looked up at once; codes up to this long decode in one step.
const PEEK_BITS: u32 = 12;

/// `SINGLE[next 12 bits]` = code length << 8 | symbol, or 0 for a longer code.
const SINGLE: [u16; 1 << PEEK_BITS] = build_single();

/// `FAST[next 12 bits]`: the one or two symbols whose codes fit in them:
/// first symbol (bits 0-7), second symbol or 0 (8-15), bits they take
/// (16-20), symbol count (22-23); [`LONG`] alone for a longer code.
static FAST: [u32; 1 << PEEK_BITS] = build_fast();

/// The `FAST` entry of a code longer than the peek.
const LONG: u32 = 1 << 31;

/// The `FAST` entry for the top bits of `acc`.
fn fast(acc: u64) -> u32 {
    // The index is below 2^12: never out of range.
    FAST.get((acc >> (64 - PEEK_BITS)) as usize)
        .copied()
        .unwrap_or(LONG)
}

/// The code tree: `TREE[node][bit]` > 0 is an inner node, < 0 the leaf
/// -(symbol + 1); the root is node 0 (never a child).
static TREE: [[i32; 2]; 256] = build_tree();

// Evaluated at compile time only: an index out of range fails the build,
// it cannot panic at run time.
#[allow(clippy::indexing_slicing)]
const fn build_single() -> [u16; 1 << PEEK_BITS] {
    let mut table = [0u16; 1 << PEEK_BITS];
    let mut sym = 0usize;
    while sym < 256 {
        let (code, len) = CODES[sym];
        if len as u32 <= PEEK_BITS {
            let shift = PEEK_BITS - len as u32;
            let first = (code as usize) << shift;
            let mut i = 0usize;
            while i < (1usize << shift) {
                table[first + i] = ((len as u16) << 8) | sym as u16;
                i += 1;
            }
        }
        sym += 1;
    }
    table
}

// Evaluated at compile time only, as above.
#[allow(clippy::indexing_slicing)]
const fn build_fast() -> [u32; 1 << PEEK_BITS] {
    let mut table = [LONG; 1 << PEEK_BITS];
    let mask = (1usize << PEEK_BITS) - 1;
    let mut p = 0usize;
    while p <= mask {
        let first = SINGLE[p];
        if first != 0 {
            // The decoder reports ASCII output relying on this.
            assert!(
                first & 0xff < 0x80,
                "a code of 12 bits or fewer is not ASCII"
            );
            let len1 = (first >> 8) as u32;
            let sym1 = (first & 0xff) as u32;
            let mut entry = sym1 | (len1 << 16) | (1 << 22);
            let second = SINGLE[(p << len1) & mask];
            let len2 = (second >> 8) as u32;
            if second != 0 && len1 + len2 <= PEEK_BITS {
                let sym2 = (second & 0xff) as u32;
                entry = sym1 | (sym2 << 8) | ((len1 + len2) << 16) | (2 << 22);
            }
            table[p] = entry;
        }
        p += 1;
    }
    table
}

// Evaluated at compile time only, as above.
#[allow(clippy::indexing_slicing)]
const fn build_tree() -> [[i32; 2]; 256] {
    let mut children = [[0i32; 2]; 256];
    let mut nodes = 1usize;
    let mut sym = 0usize;
    while sym < 257 {
        let (code, len) = CODES[sym];
        let mut node = 0usize;
        let mut i = len;
        while i > 0 {
            i -= 1;
            let bit = ((code >> i) & 1) as usize;
            if i == 0 {
                children[node][bit] = -(sym as i32 + 1);
            } else {
                if children[node][bit] == 0 {
                    children[node][bit] = nodes as i32;
                    nodes += 1;
                }
                node = children[node][bit] as usize;
            }
        }
        sym += 1;
    }
    children
}

/// Code of each symbol (0..=255, then EOS), right-aligned in `bits` bits: RFC 7541 Appendix B.
pub(super) const CODES: [(u32, u8); 257] = [
    (0x1ff8, 13),
    (0x7fffd8, 23),
    (0xfffffe2, 28),
    (0xfffffe3, 28),
    (0xfffffe4, 28),
    (0xfffffe5, 28),
    (0xfffffe6, 28),
    (0xfffffe7, 28),
    (0xfffffe8, 28),
    (0xffffea, 24),
    (0x3ffffffc, 30),
    (0xfffffe9, 28),
    (0xfffffea, 28),
    (0x3ffffffd, 30),
    (0xfffffeb, 28),
    (0xfffffec, 28),
    (0xfffffed, 28),
    (0xfffffee, 28),
    (0xfffffef, 28),
    (0xffffff0, 28),
    (0xffffff1, 28),
    (0xffffff2, 28),
    (0x3ffffffe, 30),
    (0xffffff3, 28),
    (0xffffff4, 28),
    (0xffffff5, 28),
    (0xffffff6, 28),
    (0xffffff7, 28),
    (0xffffff8, 28),
    (0xffffff9, 28),
    (0xffffffa, 28),
    (0xffffffb, 28),
    (0x14, 6),
    (0x3f8, 10),
    (0x3f9, 10),
    (0xffa, 12),
    (0x1ff9, 13),
    (0x15, 6),
    (0xf8, 8),
    (0x7fa, 11),
    (0x3fa, 10),
    (0x3fb, 10),
    (0xf9, 8),
    (0x7fb, 11),
    (0xfa, 8),
    (0x16, 6),
    (0x17, 6),
    (0x18, 6),
    (0x0, 5),
    (0x1, 5),
    (0x2, 5),
    (0x19, 6),
    (0x1a, 6),
    (0x1b, 6),
    (0x1c, 6),
    (0x1d, 6),
    (0x1e, 6),
    (0x1f, 6),
    (0x5c, 7),
    (0xfb, 8),
    (0x7ffc, 15),
    (0x20, 6),
    (0xffb, 12),
    (0x3fc, 10),
    (0x1ffa, 13),
    (0x21, 6),
    (0x5d, 7),
    (0x5e, 7),
    (0x5f, 7),
    (0x60, 7),
    (0x61, 7),
    (0x62, 7),
    (0x63, 7),
    (0x64, 7),
    (0x65, 7),
    (0x66, 7),
    (0x67, 7),
    (0x68, 7),
    (0x69, 7),
    (0x6a, 7),
    (0x6b, 7),
    (0x6c, 7),
    (0x6d, 7),
    (0x6e, 7),
    (0x6f, 7),
    (0x70, 7),
    (0x71, 7),
    (0x72, 7),
    (0xfc, 8),
    (0x73, 7),
    (0xfd, 8),
    (0x1ffb, 13),
    (0x7fff0, 19),
    (0x1ffc, 13),
    (0x3ffc, 14),
    (0x22, 6),
    (0x7ffd, 15),
    (0x3, 5),
    (0x23, 6),
    (0x4, 5),
    (0x24, 6),
    (0x5, 5),
    (0x25, 6),
    (0x26, 6),
    (0x27, 6),
    (0x6, 5),
    (0x74, 7),
    (0x75, 7),
    (0x28, 6),
    (0x29, 6),
    (0x2a, 6),
    (0x7, 5),
    (0x2b, 6),
    (0x76, 7),
    (0x2c, 6),
    (0x8, 5),
    (0x9, 5),
    (0x2d, 6),
    (0x77, 7),
    (0x78, 7),
    (0x79, 7),
    (0x7a, 7),
    (0x7b, 7),
    (0x7ffe, 15),
    (0x7fc, 11),
    (0x3ffd, 14),
    (0x1ffd, 13),
    (0xffffffc, 28),
    (0xfffe6, 20),
    (0x3fffd2, 22),
    (0xfffe7, 20),
    (0xfffe8, 20),
    (0x3fffd3, 22),
    (0x3fffd4, 22),
    (0x3fffd5, 22),
    (0x7fffd9, 23),
    (0x3fffd6, 22),
    (0x7fffda, 23),
    (0x7fffdb, 23),
    (0x7fffdc, 23),
    (0x7fffdd, 23),
    (0x7fffde, 23),
    (0xffffeb, 24),
    (0x7fffdf, 23),
    (0xffffec, 24),
    (0xffffed, 24),
    (0x3fffd7, 22),
    (0x7fffe0, 23),
    (0xffffee, 24),
    (0x7fffe1, 23),
    (0x7fffe2, 23),
    (0x7fffe3, 23),
    (0x7fffe4, 23),
    (0x1fffdc, 21),
    (0x3fffd8, 22),
    (0x7fffe5, 23),
    (0x3fffd9, 22),
    (0x7fffe6, 23),
    (0x7fffe7, 23),
    (0xffffef, 24),
    (0x3fffda, 22),
    (0x1fffdd, 21),
    (0xfffe9, 20),
    (0x3fffdb, 22),
    (0x3fffdc, 22),
    (0x7fffe8, 23),
    (0x7fffe9, 23),
    (0x1fffde, 21),
    (0x7fffea, 23),
    (0x3fffdd, 22),
    (0x3fffde, 22),
    (0xfffff0, 24),
    (0x1fffdf, 21),
    (0x3fffdf, 22),
    (0x7fffeb, 23),
    (0x7fffec, 23),
    (0x1fffe0, 21),
    (0x1fffe1, 21),
    (0x3fffe0, 22),
    (0x1fffe2, 21),
    (0x7fffed, 23),
    (0x3fffe1, 22),
    (0x7fffee, 23),
    (0x7fffef, 23),
    (0xfffea, 20),
    (0x3fffe2, 22),
    (0x3fffe3, 22),
    (0x3fffe4, 22),
    (0x7ffff0, 23),
    (0x3fffe5, 22),
    (0x3fffe6, 22),
    (0x7ffff1, 23),
    (0x3ffffe0, 26),
    (0x3ffffe1, 26),
    (0xfffeb, 20),
    (0x7fff1, 19),
    (0x3fffe7, 22),
    (0x7ffff2, 23),
    (0x3fffe8, 22),
    (0x1ffffec, 25),
    (0x3ffffe2, 26),
    (0x3ffffe3, 26),
    (0x3ffffe4, 26),
    (0x7ffffde, 27),
    (0x7ffffdf, 27),
    (0x3ffffe5, 26),
    (0xfffff1, 24),
    (0x1ffffed, 25),
    (0x7fff2, 19),
    (0x1fffe3, 21),
    (0x3ffffe6, 26),
    (0x7ffffe0, 27),
    (0x7ffffe1, 27),
    (0x3ffffe7, 26),
    (0x7ffffe2, 27),
    (0xfffff2, 24),
    (0x1fffe4, 21),
    (0x1fffe5, 21),
    (0x3ffffe8, 26),
    (0x3ffffe9, 26),
    (0xffffffd, 28),
    (0x7ffffe3, 27),
    (0x7ffffe4, 27),
    (0x7ffffe5, 27),
    (0xfffec, 20),
    (0xfffff3, 24),
    (0xfffed, 20),
    (0x1fffe6, 21),
    (0x3fffe9, 22),
    (0x1fffe7, 21),
    (0x1fffe8, 21),
    (0x7ffff3, 23),
    (0x3fffea, 22),
    (0x3fffeb, 22),
    (0x1ffffee, 25),
    (0x1ffffef, 25),
    (0xfffff4, 24),
    (0xfffff5, 24),
    (0x3ffffea, 26),
    (0x7ffff4, 23),
    (0x3ffffeb, 26),
    (0x7ffffe6, 27),
    (0x3ffffec, 26),
    (0x3ffffed, 26),
    (0x7ffffe7, 27),
    (0x7ffffe8, 27),
    (0x7ffffe9, 27),
    (0x7ffffea, 27),
    (0x7ffffeb, 27),
    (0xffffffe, 28),
    (0x7ffffec, 27),
    (0x7ffffed, 27),
    (0x7ffffee, 27),
    (0x7ffffef, 27),
    (0x7fffff0, 27),
    (0x3ffffee, 26),
    (0x3fffffff, 30),
];

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_round_trips() {
        let all: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
        let mut enc = Vec::new();
        encode(&all, &mut enc);
        assert_eq!(enc.len(), encoded_len(&all));
        let mut dec = Vec::new();
        decode(&enc, &mut dec).unwrap();
        assert_eq!(dec, all);
    }

    /// Bit-by-bit decoding by code search: slow and obviously right.
    fn reference(src: &[u8]) -> Result<Vec<u8>, HuffmanError> {
        let (mut out, mut code, mut len) = (Vec::new(), 0u32, 0u8);
        for i in 0..src.len() * 8 {
            code = (code << 1) | u32::from(src[i / 8] >> (7 - i % 8) & 1);
            len += 1;
            if let Some(sym) = CODES.iter().position(|&c| c == (code, len)) {
                if sym == 256 {
                    return Err(HuffmanError);
                }
                out.push(sym as u8);
                (code, len) = (0, 0);
            }
        }
        let padding = len < 8 && code == (1 << len) - 1;
        if padding { Ok(out) } else { Err(HuffmanError) }
    }

    #[test]
    fn random_inputs_decode_as_the_reference_does() {
        let mut seed = 0x9e37_79b9_u64;
        for round in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 41) as usize;
            let mut x = seed;
            let mut src: Vec<u8> = (0..len)
                .map(|_| {
                    x = x.rotate_left(11).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                    (x >> 32) as u8
                })
                .collect();
            if round % 2 == 0 {
                // Mostly-ones bytes reach the long codes and EOS.
                src.iter_mut().for_each(|b| *b |= 0xf0);
            }
            let mut got = Vec::new();
            let ours = decode(&src, &mut got).map(|()| got);
            assert_eq!(ours, reference(&src), "{src:02x?}");
        }
    }

    #[test]
    fn encoded_strings_of_every_length_decode_back_with_their_ascii_flag() {
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        // Short codes only, mostly short with some long ones, any byte.
        let alphabets: [&dyn Fn(u64) -> u8; 3] = [
            &|r| b"abcdefghijklmnopqrstuvwxyz0123456789-/=:;. "[(r % 43) as usize],
            &|r| {
                if r % 9 == 0 {
                    (r >> 8) as u8
                } else {
                    b'a' + (r % 26) as u8
                }
            },
            &|r| (r >> 16) as u8,
        ];
        for len in 0..300 {
            for alphabet in &alphabets {
                let src: Vec<u8> = (0..len).map(|_| alphabet(next())).collect();
                let mut enc = Vec::new();
                encode(&src, &mut enc);
                let mut room = vec![0u8; decoded_room(enc.len())];
                let d = decode_into(&enc, &mut room).unwrap();
                assert_eq!(&room[..d.len], &src[..], "{enc:02x?}");
                assert_eq!(d.ascii, src.is_ascii());
                let mut dec = b"kept".to_vec();
                decode(&enc, &mut dec).unwrap();
                assert_eq!(&dec[4..], &src[..]);
                if !enc.is_empty() {
                    // Too little room fails; it never panics.
                    let short = decoded_room(enc.len()) - 1;
                    assert_eq!(decode_into(&enc, &mut room[..short]), Err(HuffmanError));
                }
            }
        }
    }

    #[test]
    fn rfc_example_decodes() {
        // C.4.1: "www.example.com".
        let enc = [
            0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4, 0xff,
        ];
        let mut dec = Vec::new();
        decode(&enc, &mut dec).unwrap();
        assert_eq!(dec, b"www.example.com");
    }

    #[test]
    fn bad_padding_and_eos_are_rejected() {
        let mut dec = Vec::new();
        // 'a' is 00011 (5 bits); padding of zeros is invalid.
        assert_eq!(decode(&[0b0001_1000], &mut dec), Err(HuffmanError));
        // Padding of 8 ones or more (a whole byte) is invalid.
        assert_eq!(decode(&[0b0001_1111, 0xff], &mut dec), Err(HuffmanError));
        // EOS (30 ones) inside the data.
        assert_eq!(
            decode(&[0xff, 0xff, 0xff, 0xff], &mut dec),
            Err(HuffmanError)
        );
        // Valid: 'a' then 3 bits of padding.
        dec.clear();
        decode(&[0b0001_1111], &mut dec).unwrap();
        assert_eq!(dec, b"a");
        // Empty string is valid.
        dec.clear();
        decode(&[], &mut dec).unwrap();
        assert!(dec.is_empty());
    }
}
