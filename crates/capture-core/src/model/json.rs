//! A fast writer of the JSON record: the same output as the `Serialize`
//! impls in `ser.rs` (a test holds them equal), straight from the heads'
//! bytes, without serde's per-byte escaping or `fmt` machinery on the hot
//! path of the JSON-lines sink. Bytes that are not UTF-8 are written in
//! base64 and said to be (see `ser.rs`).
//!
//! Hand-written rather than serde's because this is where a JSON-lines
//! capture spends a third of its time. A record is written into room
//! reserved beforehand in the output `Vec` ([`Out`]): each write checks
//! the room left once (one comparison), instead of the `Vec`'s length and
//! capacity loads and stores of every `extend_from_slice`. When the room
//! guessed for a record runs out, the record is written again into
//! twice the room; nothing is kept of a write that ran out.
//!
//! Strings are scanned sixteen bytes per compare (SSE2 on x86-64, SWAR
//! on eight-byte words elsewhere) and copied as whole words; the bytes
//! that need an escape are found exactly and written from a table, the
//! clean bytes around them as word stores. A body's ASCII check is the
//! same scan (UTF-8 is checked only when a byte is not ASCII). Numbers
//! are written eight digits at a time (SWAR). The JSON-lines sink and
//! encoder hold a [`RecordWriter`], which keeps each connection's
//! `"conn"` object.

use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::net::SocketAddr;

use base64::Engine as _;

use super::{Body, ByteStr, ConnInfo, Exchange, Headers, K8sEnd, Request, Response};

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;
const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;

/// The high bit of each byte of `w` that needs escaping in a JSON string
/// (a control byte below 0x20, `"` or `\`), exactly: no borrow crosses
/// bytes, so every flagged byte is one to escape.
#[inline(always)]
fn escapes(w: u64) -> u64 {
    // Per byte x: ((x & 0x7f) + 0x7f) | x has its high bit set unless x is
    // zero; the sum never carries into the next byte.
    let nonzero = |x: u64| ((x & LOW7).wrapping_add(LOW7)) | x;
    let controls = nonzero(w & (ONES * 0xe0));
    let quotes = nonzero(w ^ (ONES * u64::from(b'"')));
    let backslashes = nonzero(w ^ (ONES * u64::from(b'\\')));
    !((controls & quotes & backslashes) | LOW7)
}

/// Bit `i` set for each byte `i` of the sixteen bytes `lo`, `hi`
/// (little-endian) that needs escaping, and, second, for each byte from
/// 0x80 up. SSE2 where there is SSE2 (every x86-64): a compare of all
/// sixteen at once, a few instructions where [`escapes`] takes sixteen
/// per eight bytes.
#[inline(always)]
fn escape_bits(lo: u64, hi: u64) -> (u32, u32) {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    {
        escape_bits_sse2(lo, hi)
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    {
        escape_bits_swar(lo, hi)
    }
}

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
fn escape_bits_sse2(lo: u64, hi: u64) -> (u32, u32) {
    use std::arch::x86_64::*;
    // SAFETY: SSE2 is enabled (the cfg above); these intrinsics only
    // compute on registers.
    unsafe {
        let v = _mm_set_epi64x(hi as i64, lo as i64);
        let controls = _mm_cmpeq_epi8(_mm_max_epu8(v, _mm_set1_epi8(0x1f)), _mm_set1_epi8(0x1f));
        let quotes = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
        let backslashes = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
        let flagged = _mm_or_si128(_mm_or_si128(controls, quotes), backslashes);
        (
            _mm_movemask_epi8(flagged) as u32,
            _mm_movemask_epi8(v) as u32,
        )
    }
}

/// [`escape_bits`] from [`escapes`], where there is no SSE2.
#[cfg_attr(all(target_arch = "x86_64", target_feature = "sse2"), allow(dead_code))]
#[inline(always)]
fn escape_bits_swar(lo: u64, hi: u64) -> (u32, u32) {
    // The high bit of byte `i` to bit `i`: a multiply gathers them into
    // the top byte, the last byte's first, hence the reversal.
    let bits = |m: u64| ((((m >> 7) & ONES).wrapping_mul(0x8040_2010_0804_0201)) >> 56) as u32;
    let bits = |m: u64| bits(m).reverse_bits() >> 24;
    (
        bits(escapes(lo)) | (bits(escapes(hi)) << 8),
        bits(lo & HIGHS) | (bits(hi & HIGHS) << 8),
    )
}

/// The escape of each byte that needs one, little-endian, with its length
/// in the top byte: `\"`, `\\`, `\n` and the like, else `\u00XX`.
// Built at compile time: an index past the table fails the build.
#[allow(clippy::indexing_slicing)]
const ESCAPES: [u64; 256] = {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut t = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let short = match b {
            b'"' => b'"',
            b'\\' => b'\\',
            b'\n' => b'n',
            b'\r' => b'r',
            b'\t' => b't',
            0x08 => b'b',
            0x0c => b'f',
            _ => 0,
        };
        let seq: [u8; 8] = if short != 0 {
            [b'\\', short, 0, 0, 0, 0, 0, 2]
        } else {
            let (hi, lo) = (HEX[(b >> 4) as usize], HEX[(b & 0xf) as usize]);
            [b'\\', b'u', b'0', b'0', hi, lo, 0, 6]
        };
        t[i] = u64::from_le_bytes(seq);
        i += 1;
    }
    t
};

/// The bytes of `b` (fewer than eight) as the low bytes of a word, the
/// rest zero; two overlapping loads instead of a loop.
#[inline(always)]
fn load_short(b: &[u8]) -> u64 {
    let n = b.len();
    if let (Some(lo), Some(hi)) = (b.first_chunk::<4>(), b.last_chunk::<4>()) {
        u64::from(u32::from_le_bytes(*lo)) | u64::from(u32::from_le_bytes(*hi)) << (8 * (n - 4))
    } else if let (Some(lo), Some(hi)) = (b.first_chunk::<2>(), b.last_chunk::<2>()) {
        u64::from(u16::from_le_bytes(*lo)) | u64::from(u16::from_le_bytes(*hi)) << (8 * (n - 2))
    } else {
        b.first().map_or(0, |&x| u64::from(x))
    }
}

/// Writes `bytes` escaped at `to` and returns the end; with `ASCII`,
/// only if all of them are ASCII (returns `None` if not, having written
/// only room past `to`).
///
/// Eight bytes at a time: a word with nothing to escape is one store;
/// in a word with escapes ([`escape_word`]), each escape is written from
/// [`ESCAPES`] after the clean bytes before it. A string of up to 16
/// bytes with nothing to escape is two stores.
///
/// # Safety
///
/// `to` must have room for `6 * bytes.len() + 8` bytes.
#[inline(always)]
unsafe fn escape_into<const ASCII: bool>(mut to: *mut u8, bytes: &[u8]) -> Option<*mut u8> {
    let n = bytes.len();
    if let (Some(first), Some(last)) = (bytes.first_chunk::<8>(), bytes.last_chunk::<8>())
        && n <= 16
    {
        let (a, b) = (u64::from_le_bytes(*first), u64::from_le_bytes(*last));
        let (flagged, high) = escape_bits(a, b);
        if flagged | if ASCII { high } else { 0 } == 0 {
            // SAFETY: `n` is 8 to 16: both stores end within `n + 8`.
            unsafe {
                to.cast::<u64>().write_unaligned(a.to_le());
                to.add(n - 8).cast::<u64>().write_unaligned(b.to_le());
                return Some(to.add(n));
            }
        }
    }
    if !ASCII && n < 8 {
        let w = load_short(bytes);
        let (flagged, _) = escape_bits(w, 0);
        if flagged & ((1 << n) - 1) == 0 {
            // SAFETY: one store of eight bytes, within `n + 8`.
            unsafe {
                to.cast::<u64>().write_unaligned(w.to_le());
                return Some(to.add(n));
            }
        }
    }
    // Where the output stands: never more than six bytes per byte read
    // so far, so a store of eight bytes made while a byte is left to read
    // ends at most at `6 * (n - 1) + 8` past the start, inside the room;
    // one of sixteen while sixteen are left, at `6 * (n - 16) + 16`.
    //
    // Sixteen bytes at a time while there are as many: one compare.
    let mut pairs = bytes.chunks_exact(16);
    for pair in &mut pairs {
        let (lo, hi) = pair.split_at(8);
        let lo = lo.first_chunk::<8>().map_or(0, |w| u64::from_le_bytes(*w));
        let hi = hi.first_chunk::<8>().map_or(0, |w| u64::from_le_bytes(*w));
        let (flagged, high) = escape_bits(lo, hi);
        if ASCII && high != 0 {
            return None;
        }
        // SAFETY: see above: bytes of these words are still to be read
        // when each store is made (`escape_word` stores a clean word
        // whole when its mask is empty).
        unsafe {
            if flagged == 0 {
                to.cast::<u64>().write_unaligned(lo.to_le());
                to.add(8).cast::<u64>().write_unaligned(hi.to_le());
                to = to.add(16);
            } else if ASCII {
                to = escape_word_inline(to, lo, flagged & 0xff, 8);
                to = escape_word_inline(to, hi, flagged >> 8, 8);
            } else {
                to = escape_word(to, lo, flagged & 0xff, 8);
                to = escape_word(to, hi, flagged >> 8, 8);
            }
        }
    }
    // Then eight at a time, and the last few.
    let mut word = |w: u64, n: usize| -> bool {
        let (flagged, high) = escape_bits(w, 0);
        let valid = (1 << n) - 1;
        if ASCII && high & valid != 0 {
            return false;
        }
        let mask = flagged & valid;
        // SAFETY: see above: bytes of this word are still to be read.
        unsafe {
            if mask == 0 {
                to.cast::<u64>().write_unaligned(w.to_le());
                to = to.add(n);
            } else {
                to = if ASCII {
                    // Bodies: JSON ones are dense with quotes.
                    escape_word_inline(to, w, mask, n)
                } else {
                    escape_word(to, w, mask, n)
                };
            }
        }
        true
    };
    let tail = pairs.remainder();
    let mut words = tail.chunks_exact(8);
    for w in &mut words {
        if !word(
            w.first_chunk::<8>().map_or(0, |w| u64::from_le_bytes(*w)),
            8,
        ) {
            return None;
        }
    }
    let rem = words.remainder().len();
    if rem > 0 {
        let w = match bytes.last_chunk::<8>() {
            // The last eight bytes, those already written shifted out.
            Some(last) => u64::from_le_bytes(*last) >> (8 * (8 - rem)),
            None => load_short(bytes),
        };
        if !word(w, rem) {
            return None;
        }
    }
    Some(to)
}

/// Writes the first `n` (1..=8) bytes of `w` at `to`, escaping those
/// flagged in `mask` (bit `i` for byte `i`, see [`escape_bits`]), and
/// returns the end: the clean
/// bytes before each escape are stored as the rest of the word, then the
/// escape from [`ESCAPES`].
///
/// # Safety
///
/// `to` must have room for `6 * (n - 1) + 8` bytes.
#[inline(never)]
unsafe fn escape_word(to: *mut u8, w: u64, mask: u32, n: usize) -> *mut u8 {
    // SAFETY: the caller's.
    unsafe { escape_word_inline(to, w, mask, n) }
}

/// [`escape_word`], inlined.
///
/// # Safety
///
/// As [`escape_word`].
#[inline(always)]
unsafe fn escape_word_inline(mut to: *mut u8, w: u64, mut mask: u32, n: usize) -> *mut u8 {
    let bytes = w.to_le_bytes();
    let mut done = 0;
    // SAFETY: for each store and `add`: before byte `i` of the word is
    // written, `to` is at most `6 * i` past where it started, and each
    // store is eight bytes: within the room the caller gives.
    unsafe {
        while mask != 0 {
            let at = mask.trailing_zeros() as usize;
            // `done <= at < 8`: the shift is below 64.
            to.cast::<u64>().write_unaligned((w >> (8 * done)).to_le());
            to = to.add(at - done);
            let b = bytes.get(at & 7).copied().unwrap_or_default();
            let seq = ESCAPES.get(usize::from(b)).copied().unwrap_or_default();
            to.cast::<u64>().write_unaligned(seq.to_le());
            to = to.add((seq >> 56) as usize);
            done = at + 1;
            mask &= mask - 1;
        }
        if done < n {
            to.cast::<u64>().write_unaligned((w >> (8 * done)).to_le());
            to = to.add(n - done);
        }
    }
    to
}

/// The eight decimal digits of `n` (below 10^8, leading zeros kept) as
/// byte values 0 to 9, the first digit in the lowest byte: four digits
/// per half, two per quarter, one per byte, each split by a multiply and
/// shift in all lanes at once (SWAR).
#[inline(always)]
fn eight_digits(n: u32) -> u64 {
    let n = u64::from(n);
    // [abcd, efgh] in 32-bit lanes.
    let halves = (n / 10_000) | ((n % 10_000) << 32);
    // /100 in each lane: (x * 10486) >> 20 is x / 100 for x < 10^4.
    let hi = ((halves * 10_486) >> 20) & 0x0000_007f_0000_007f;
    let quarters = hi | ((halves - 100 * hi) << 16);
    // /10 in each 16-bit lane: (x * 103) >> 10 is x / 10 for x < 100.
    let tens = ((quarters * 103) >> 10) & 0x000f_000f_000f_000f;
    tens | ((quarters - 10 * tens) << 8)
}

/// Writes the digits of `n` (below 10^8) without leading zeros (one
/// zero for 0) at `to`; returns the end.
///
/// # Safety
///
/// `to` must have room for eight bytes.
#[inline(always)]
unsafe fn write_short_uint(to: *mut u8, n: u32) -> *mut u8 {
    let digits = eight_digits(n);
    // Leading zero digits are the low zero bytes; 0 keeps one.
    let skip = (digits.trailing_zeros() / 8).min(7) as usize;
    let ascii = (digits | (ONES * u64::from(b'0'))) >> (8 * skip);
    // SAFETY: eight bytes of room, the caller's.
    unsafe {
        to.cast::<u64>().write_unaligned(ascii.to_le());
        to.add(8 - skip)
    }
}

/// Writes the decimal digits of `n` at `to` (as `itoa`); returns the end.
///
/// # Safety
///
/// `to` must have room for 24 bytes.
#[inline(always)]
unsafe fn write_uint(to: *mut u8, n: u64) -> *mut u8 {
    const E8: u64 = 100_000_000;
    let ascii = |n: u64| (eight_digits(n as u32) | (ONES * u64::from(b'0'))).to_le();
    // SAFETY: at most 20 digits, written eight bytes at a time: within 24.
    unsafe {
        if n < E8 {
            return write_short_uint(to, n as u32);
        }
        let (high, low) = (n / E8, n % E8);
        let to = if high < E8 {
            write_short_uint(to, high as u32)
        } else {
            let to = write_short_uint(to, (high / E8) as u32);
            to.cast::<u64>().write_unaligned(ascii(high % E8));
            to.add(8)
        };
        to.cast::<u64>().write_unaligned(ascii(low));
        to.add(8)
    }
}

/// Input bytes escaped per room check: the room a string needs beyond
/// its own length is six times this at most.
const ESCAPE_STEP: usize = 512;

/// The room reserved for a record ran out: the record is written again
/// into more.
#[derive(Debug)]
struct Full;

type Done = Result<(), Full>;

/// The unwritten room of the output, the spare capacity of a `Vec` past
/// what this record wrote so far: a cursor `to` and the `end`, held in
/// registers while a record is written. Every write checks the room it
/// needs against `end` and stores its bytes before it moves `to` past
/// them, so all the room `to` moved past is initialised (what
/// [`with_room`] relies on).
struct Out<'a> {
    to: *mut u8,
    end: *mut u8,
    room: PhantomData<&'a mut [MaybeUninit<u8>]>,
}

impl<'a> Out<'a> {
    fn new(room: &'a mut [MaybeUninit<u8>]) -> Self {
        let range = room.as_mut_ptr_range();
        Self {
            to: range.start.cast(),
            end: range.end.cast(),
            room: PhantomData,
        }
    }

    /// Bytes of room left.
    #[inline(always)]
    fn left(&self) -> usize {
        // SAFETY: `to` only moves forward within the room, up to `end`.
        unsafe { self.end.offset_from_unsigned(self.to) }
    }

    /// Stores the `N` bytes of `bytes` and keeps the first `keep` of them
    /// (the others are room overwritten by the next write).
    #[inline(always)]
    fn put<const N: usize>(&mut self, bytes: [u8; N], keep: usize) -> Done {
        if self.left() < N {
            return Err(Full);
        }
        // SAFETY: `N` bytes of room at `to`, checked above, and `keep` is
        // at most `N`.
        unsafe {
            self.to.cast::<[u8; N]>().write_unaligned(bytes);
            self.to = self.to.add(keep.min(N));
        }
        Ok(())
    }

    /// Writes a literal.
    #[inline(always)]
    fn lit<const N: usize>(&mut self, bytes: &[u8; N]) -> Done {
        self.put(*bytes, N)
    }

    /// Writes `bytes` (a copy call; for what is neither a literal nor a
    /// string scanned word by word).
    fn bytes(&mut self, bytes: &[u8]) -> Done {
        if self.left() < bytes.len() {
            return Err(Full);
        }
        // SAFETY: room for `bytes` at `to`, checked above; the room is
        // the `Vec`'s spare capacity, which `bytes` cannot overlap while
        // the `Vec` is borrowed for this record.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.to, bytes.len());
            self.to = self.to.add(bytes.len());
        }
        Ok(())
    }

    /// Writes `bytes`, known to be UTF-8, escaped, without quotes.
    #[inline(always)]
    fn escaped(&mut self, bytes: &[u8]) -> Done {
        self.escaped_if::<false>(bytes).map(|_| ())
    }

    /// Writes `bytes` escaped, without quotes; with `ASCII`, only if all
    /// of them are ASCII (returns false, having written nothing, if not).
    ///
    /// In steps of [`ESCAPE_STEP`] bytes, each checking room for its worst
    /// case: a long string needs room for itself and one step's escapes,
    /// not six times its length.
    #[inline(always)]
    fn escaped_if<const ASCII: bool>(&mut self, bytes: &[u8]) -> Result<bool, Full> {
        let start = self.to;
        for step in bytes.chunks(ESCAPE_STEP) {
            self.room_for_escaped(step.len(), 0)?;
            // SAFETY: room for `step` escaped, checked above.
            match unsafe { escape_into::<ASCII>(self.to, step) } {
                Some(to) => self.to = to,
                None => {
                    // Back to before the string: what was written of it
                    // is left as room.
                    self.to = start;
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// Checks that there is room for `n` bytes escaped (six out per byte
    /// in at most, `\u00XX`), as up to two strings, each of which may
    /// store a whole word past its end, and `more` bytes besides.
    #[inline(always)]
    fn room_for_escaped(&self, n: usize, more: usize) -> Done {
        match self.left().checked_sub(16 + more) {
            Some(room) if room / 6 >= n => Ok(()),
            _ => Err(Full),
        }
    }

    /// Writes `bytes`, known to be UTF-8, as a JSON string: inline for up
    /// to 16 bytes with nothing to escape (names, methods, most paths).
    #[inline(always)]
    fn text(&mut self, bytes: &[u8]) -> Done {
        let n = bytes.len();
        if n <= 16 && self.left() >= 24 {
            let (a, b, clean) = match (bytes.first_chunk::<8>(), bytes.last_chunk::<8>()) {
                (Some(first), Some(last)) => {
                    let (a, b) = (u64::from_le_bytes(*first), u64::from_le_bytes(*last));
                    (a, b, escape_bits(a, b).0 == 0)
                }
                _ => {
                    let a = load_short(bytes);
                    (a, a, escape_bits(a, 0).0 & ((1 << n) - 1) == 0)
                }
            };
            if clean {
                // SAFETY: the stores end at most 18 bytes past `to`
                // (`"`, 16 bytes, `"`; or `"`, a word, when `n` < 8),
                // within the 24 checked above.
                unsafe {
                    let to = self.to;
                    to.write(b'"');
                    to.add(1).cast::<u64>().write_unaligned(a.to_le());
                    if n >= 8 {
                        to.add(n - 7).cast::<u64>().write_unaligned(b.to_le());
                    }
                    to.add(n + 1).write(b'"');
                    self.to = to.add(n + 2);
                }
                return Ok(());
            }
        }
        self.text_escaped(bytes)
    }

    /// [`Out::text`] for strings that are long or need escapes.
    #[inline(never)]
    fn text_escaped(&mut self, bytes: &[u8]) -> Done {
        self.lit(b"\"")?;
        self.escaped(bytes)?;
        self.lit(b"\"")
    }

    /// Writes `bytes` in base64 as a JSON string.
    fn base64(&mut self, bytes: &[u8]) -> Done {
        self.lit(b"\"")?;
        self.base64_unquoted(bytes)?;
        self.lit(b"\"")
    }

    /// Writes `bytes` in base64.
    fn base64_unquoted(&mut self, bytes: &[u8]) -> Done {
        // Whole groups of three in, so only the last piece is padded:
        // the same output as encoding all at once.
        const IN: usize = 768;
        let mut buf = [0u8; IN / 3 * 4];
        for piece in bytes.chunks(IN) {
            let n = base64::engine::general_purpose::STANDARD
                .encode_slice(piece, &mut buf)
                .unwrap_or(0);
            self.bytes(buf.get(..n).unwrap_or_default())?;
        }
        Ok(())
    }

    /// Writes a field that may not be text: `key` then the value, and
    /// `encoding` (`,"x_encoding":"base64"`) when it had to be base64.
    #[inline(always)]
    fn field<const K: usize, const E: usize>(
        &mut self,
        key: &[u8; K],
        encoding: &[u8; E],
        v: Option<ByteStr<'_>>,
    ) -> Done {
        self.lit(key)?;
        match v {
            None => self.lit(b"null"),
            Some(v) if v.is_text() => self.text(v.as_bytes()),
            Some(v) => {
                self.base64(v.as_bytes())?;
                self.lit(encoding)
            }
        }
    }

    #[inline]
    fn uint(&mut self, n: u64) -> Done {
        if self.left() < 24 {
            return Err(Full);
        }
        // SAFETY: 24 bytes of room, checked above.
        unsafe { self.to = write_uint(self.to, n) };
        Ok(())
    }

    fn opt_uint(&mut self, v: Option<u64>) -> Done {
        match v {
            Some(n) => self.uint(n),
            None => self.lit(b"null"),
        }
    }

    fn opt_string(&mut self, v: Option<&str>) -> Done {
        match v {
            Some(s) => self.text(s.as_bytes()),
            None => self.lit(b"null"),
        }
    }

    fn socket_addr(&mut self, addr: &SocketAddr) -> Done {
        match addr {
            SocketAddr::V4(v4) => {
                self.lit(b"\"")?;
                let [a, b, c, d] = v4.ip().octets();
                for octet in [a, b, c] {
                    let (digits, len) = OCTETS.get(usize::from(octet)).copied().unwrap_or_default();
                    self.put(digits, usize::from(len))?;
                }
                // The last octet's dot becomes the colon before the port.
                let (digits, len) = OCTETS.get(usize::from(d)).copied().unwrap_or_default();
                let colon =
                    u32::from_le_bytes(digits) ^ (u32::from(b'.' ^ b':') << (8 * (len - 1)));
                self.put(colon.to_le_bytes(), usize::from(len))?;
                self.uint(u64::from(v4.port()))?;
            }
            SocketAddr::V6(_) => {
                self.lit(b"\"")?;
                self.bytes(addr.to_string().as_bytes())?;
            }
        }
        self.lit(b"\"")
    }

    fn headers(&mut self, list: &Headers) -> Done {
        let mut open = b'[';
        for h in list {
            let (name, value) = (h.name(), h.value());
            let (n, v) = (name.as_bytes(), value.as_bytes());
            if name.is_text() && value.is_text() && n.len() + v.len() <= ESCAPE_STEP {
                self.room_for_escaped(n.len() + v.len(), 8)?;
                // SAFETY: room for both escaped and the eight bytes of
                // literals around them, checked above.
                unsafe {
                    let to = self.to;
                    to.cast::<[u8; 3]>().write_unaligned([open, b'[', b'"']);
                    let to = escape_into::<false>(to.add(3), n).unwrap_or(to);
                    to.cast::<[u8; 3]>().write_unaligned(*b"\",\"");
                    let to = escape_into::<false>(to.add(3), v).unwrap_or(to);
                    to.cast::<[u8; 2]>().write_unaligned(*b"\"]");
                    self.to = to.add(2);
                }
            } else if name.is_text() && value.is_text() {
                // Long: each in steps.
                self.put([open, b'['], 2)?;
                self.text(n)?;
                self.lit(b",")?;
                self.text(v)?;
                self.lit(b"]")?;
            } else {
                self.put([open, b'['], 2)?;
                self.base64(name.as_bytes())?;
                self.lit(b",")?;
                self.base64(value.as_bytes())?;
                self.lit(b",\"base64\"]")?;
            }
            open = b',';
        }
        if open == b'[' {
            self.lit(b"[]")
        } else {
            self.lit(b"]")
        }
    }

    /// The body fields, each after a comma, and the `}` that ends the
    /// message.
    fn body(&mut self, b: &Body) -> Done {
        if b.size == 0 && b.data.is_empty() && !b.truncated {
            // Most requests.
            return self.lit(
                b",\"body_size\":0,\"body\":\"\",\"body_encoding\":\"utf8\",\"truncated\":false}",
            );
        }
        self.lit(b",\"body_size\":")?;
        self.uint(b.size)?;
        self.lit(b",\"body\":\"")?;
        let data = &b.data[..];
        // An empty body needs no scan (and an ASCII one no UTF-8 check).
        let base64 = if data.is_empty() || self.escaped_if::<true>(data)? {
            false
        } else if std::str::from_utf8(data).is_ok() {
            self.escaped(data)?;
            false
        } else {
            self.base64_unquoted(data)?;
            true
        };
        // The rest of the body's fields, and the end of the message.
        match (base64, b.truncated) {
            (false, false) => self.lit(b"\",\"body_encoding\":\"utf8\",\"truncated\":false}"),
            (false, true) => self.lit(b"\",\"body_encoding\":\"utf8\",\"truncated\":true}"),
            (true, false) => self.lit(b"\",\"body_encoding\":\"base64\",\"truncated\":false}"),
            (true, true) => self.lit(b"\",\"body_encoding\":\"base64\",\"truncated\":true}"),
        }
    }

    fn conn(&mut self, c: &ConnInfo) -> Done {
        self.lit(b"{\"client\":")?;
        self.socket_addr(&c.client)?;
        self.lit(b",\"server\":")?;
        self.socket_addr(&c.server)?;
        self.lit(b",\"netns\":")?;
        self.opt_uint(c.netns)?;
        self.lit(b",\"pid\":")?;
        self.opt_uint(c.pid.map(u64::from))?;
        self.lit(b",\"comm\":")?;
        self.opt_string(c.comm.as_deref())?;
        if let Some(fd) = c.fd {
            self.lit(b",\"fd\":")?;
            self.uint(u64::from(fd))?;
        }
        if !c.k8s.is_empty() {
            self.lit(b",\"k8s\":{")?;
            if let Some(e) = &c.k8s.client {
                self.lit(b"\"client\":")?;
                self.k8s_end(e)?;
            }
            if let Some(e) = &c.k8s.server {
                if c.k8s.client.is_some() {
                    self.lit(b",")?;
                }
                self.lit(b"\"server\":")?;
                self.k8s_end(e)?;
            }
            self.lit(b"}")?;
        }
        self.lit(b"}")
    }

    fn k8s_end(&mut self, e: &K8sEnd) -> Done {
        self.lit(b"{\"namespace\":")?;
        self.text(e.pod.namespace.as_bytes())?;
        self.lit(b",\"pod\":")?;
        self.text(e.pod.name.as_bytes())?;
        if let Some(c) = &e.container {
            self.lit(b",\"container\":")?;
            self.text(c.as_bytes())?;
        }
        self.lit(b",\"workload\":")?;
        self.text(e.pod.workload.as_bytes())?;
        self.lit(b",\"workload_kind\":")?;
        self.text(e.pod.workload_kind.as_str().as_bytes())?;
        self.lit(b"}")
    }

    fn trailers(&mut self, list: &Headers) -> Done {
        if list.is_empty() {
            return Ok(());
        }
        self.lit(b",\"trailers\":")?;
        self.headers(list)
    }

    fn request(&mut self, r: &Request) -> Done {
        self.lit(b"{\"ts\":")?;
        self.uint(r.ts.as_nanos())?;
        self.field(
            b",\"method\":",
            b",\"method_encoding\":\"base64\"",
            Some(r.method()),
        )?;
        self.field(
            b",\"path\":",
            b",\"path_encoding\":\"base64\"",
            Some(r.path()),
        )?;
        self.field(
            b",\"authority\":",
            b",\"authority_encoding\":\"base64\"",
            r.authority(),
        )?;
        self.lit(b",\"headers\":")?;
        self.headers(r.headers())?;
        self.trailers(&r.trailers)?;
        self.body(&r.body)
    }

    /// The response, from the comma and key before it.
    fn response(&mut self, r: &Response) -> Done {
        self.lit(b",\"response\":{\"ts\":")?;
        self.uint(r.ts.as_nanos())?;
        self.lit(b",\"end_ts\":")?;
        self.uint(r.end_ts.as_nanos())?;
        self.lit(b",\"status\":")?;
        self.uint(u64::from(r.status))?;
        if let Some(reason) = r.reason() {
            self.field(
                b",\"reason\":",
                b",\"reason_encoding\":\"base64\"",
                Some(reason),
            )?;
        }
        self.lit(b",\"headers\":")?;
        self.headers(r.headers())?;
        self.trailers(&r.trailers)?;
        self.body(&r.body)
    }

    /// Writes the record of `ex`, with `conn` as its `"conn"` object
    /// when it was rendered before.
    fn exchange(&mut self, ex: &Exchange, conn: Option<&[u8]>) -> Done {
        self.lit(b"{\"protocol\":")?;
        self.text(ex.protocol.as_str().as_bytes())?;
        self.lit(b",\"source\":")?;
        self.text(ex.source.as_str().as_bytes())?;
        if let Some(lib) = ex.tls_library {
            self.lit(b",\"tls_library\":")?;
            self.text(lib.as_str().as_bytes())?;
        }
        self.lit(b",\"conn\":")?;
        match conn {
            Some(json) => self.bytes(json)?,
            None => self.conn(&ex.conn)?,
        }
        if let Some(d) = &ex.direction {
            self.lit(b",\"direction\":")?;
            self.text(d.as_str().as_bytes())?;
        }
        // Literals next to each other are written as one.
        match ex.stream_id {
            None => self.lit(b",\"stream_id\":null,\"request\":")?,
            Some(id) => {
                self.lit(b",\"stream_id\":")?;
                self.uint(u64::from(id))?;
                self.lit(b",\"request\":")?;
            }
        }
        match &ex.request {
            Some(r) => self.request(r)?,
            None => self.lit(b"null")?,
        }
        match &ex.response {
            Some(r) => self.response(r)?,
            None => self.lit(b",\"response\":null")?,
        }
        if let Some(g) = &ex.grpc {
            self.lit(b",\"grpc\":")?;
            // Rare and small: serde is fine here.
            match serde_json::to_vec(g) {
                Ok(v) => self.bytes(&v)?,
                Err(_) => self.lit(b"null")?,
            }
        }
        if ex.flags.is_empty() {
            return self.lit(b",\"flags\":[]}");
        }
        self.lit(b",\"flags\":[")?;
        for (i, f) in ex.flags.iter().enumerate() {
            if i > 0 {
                self.lit(b",")?;
            }
            self.text(f.as_str().as_bytes())?;
        }
        self.lit(b"]}")
    }
}

/// Each byte value's decimal digits, then a dot, in four bytes, and how
/// many of them to keep with the dot: an address octet is one store.
// Built at compile time: an index past the table fails the build.
#[allow(clippy::indexing_slicing)]
const OCTETS: [([u8; 4], u8); 256] = {
    let mut t = [([0u8; 4], 0u8); 256];
    let mut i = 0;
    while i < 256 {
        let n = i as u8;
        t[i] = if n >= 100 {
            ([b'0' + n / 100, b'0' + n / 10 % 10, b'0' + n % 10, b'.'], 4)
        } else if n >= 10 {
            ([b'0' + n / 10, b'0' + n % 10, b'.', 0], 3)
        } else {
            ([b'0' + n, b'.', 0, 0], 2)
        };
        i += 1;
    }
    t
};

/// Writes into `out` with `write`, in room of at least `need` bytes
/// reserved first, twice as much each time it runs out.
#[inline]
fn with_room(out: &mut Vec<u8>, mut need: usize, write: impl Fn(&mut Out<'_>) -> Done) {
    loop {
        out.reserve(need);
        let len = out.len();
        let mut w = Out::new(out.spare_capacity_mut());
        let start = w.to;
        if write(&mut w).is_ok() {
            // SAFETY: `Out` only moves `to` forward within the room, past
            // bytes it stored (see `Out`): the first `written` bytes of
            // the spare capacity are initialised.
            unsafe {
                let written = w.to.offset_from_unsigned(start);
                out.set_len(len + written);
            }
            return;
        }
        need = need.saturating_mul(2);
    }
}

/// Writes `s` as a JSON string.
pub(crate) fn string(out: &mut Vec<u8>, s: &str) {
    with_room(out, s.len() + s.len() / 4 + 16, |w| w.text(s.as_bytes()));
}

/// Appends the JSON record of `ex` to `out`.
pub(crate) fn exchange(out: &mut Vec<u8>, ex: &Exchange) {
    with_room(out, room_guess(ex), |w| w.exchange(ex, None));
}

/// Connections whose `"conn"` object a [`RecordWriter`] keeps.
const CONN_SLOTS: usize = 256;
/// Slots a connection may be kept in, from its hashed one on.
const CONN_WAYS: usize = 4;

/// Writes JSON records like [`exchange`], each connection's `"conn"`
/// object rendered once and kept: a connection has many exchanges, and
/// its object (two addresses and their ports) is a tenth of the work of
/// a small record. A connection is found by its endpoints in one of
/// [`CONN_SLOTS`] slots, compared whole (`ConnInfo`) before its object is
/// used, and replaced by the next connection to land in its slot: the
/// memory held is bounded. Objects with Kubernetes pods are not kept.
#[derive(Clone, Debug, Default)]
pub(crate) struct RecordWriter {
    conns: Vec<Option<KnownConn>>,
}

/// A connection and its rendered `"conn"` object.
#[derive(Clone, Debug)]
struct KnownConn {
    conn: ConnInfo,
    json: Vec<u8>,
}

impl RecordWriter {
    /// Appends the JSON record of `ex` to `out`: the same bytes as
    /// [`exchange`].
    pub(crate) fn exchange(&mut self, out: &mut Vec<u8>, ex: &Exchange) {
        let conn = self.conn_json(&ex.conn);
        with_room(out, room_guess(ex), |w| w.exchange(ex, conn));
    }

    /// The `"conn"` object of `c`, rendered now or before; `None` for
    /// one not kept.
    fn conn_json(&mut self, c: &ConnInfo) -> Option<&[u8]> {
        if !c.k8s.is_empty() {
            return None;
        }
        if self.conns.is_empty() {
            self.conns.resize_with(CONN_SLOTS, || None);
        }
        // Four slots from the hashed one: the connection's if it is in
        // one, else the first empty one, else the hashed one.
        let first = conn_slot(c);
        let mut pick = first;
        for i in 0..CONN_WAYS {
            let at = (first + i) % CONN_SLOTS;
            match self.conns.get(at) {
                Some(Some(k)) if k.conn == *c => {
                    return self.conns.get(at)?.as_ref().map(|k| k.json.as_slice());
                }
                Some(None) if pick == first => pick = at,
                _ => {}
            }
        }
        let mut json = Vec::new();
        with_room(&mut json, 256, |w| w.conn(c));
        let slot = self.conns.get_mut(pick)?;
        *slot = Some(KnownConn {
            conn: c.clone(),
            json,
        });
        slot.as_ref().map(|k| k.json.as_slice())
    }
}

/// The slot of `c` among [`CONN_SLOTS`]: its ports and addresses mixed
/// (Fibonacci hashing), so that neighbouring ports spread.
fn conn_slot(c: &ConnInfo) -> usize {
    let ip = |a: &SocketAddr| match a {
        SocketAddr::V4(v4) => v4.ip().to_bits(),
        SocketAddr::V6(v6) => v6.ip().to_bits() as u32,
    };
    let h = u32::from(c.client.port())
        ^ u32::from(c.server.port()).rotate_left(16)
        ^ ip(&c.client)
        ^ ip(&c.server).rotate_left(8);
    (h.wrapping_mul(0x9e37_79b9) >> (32 - CONN_SLOTS.trailing_zeros())) as usize
}

/// Room enough for most records of `ex`: the fixed part and the text of
/// the heads and bodies with some escapes.
fn room_guess(ex: &Exchange) -> usize {
    let mut text = 0;
    if let Some(r) = &ex.request {
        text += r.headers().heap_size() + r.trailers.heap_size() + r.body.data.len();
    }
    if let Some(r) = &ex.response {
        text += r.headers().heap_size() + r.trailers.heap_size() + r.body.data.len();
    }
    // Room for a few escapes besides; a record that needs more (dense
    // escapes) is written again into twice the room. Not the worst case
    // (six times): a body of megabytes would reserve that much.
    1024 + text * 3
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;
    use proptest::prelude::*;

    fn sample(text: String, binary: Vec<u8>, v6: bool, lib: Option<TlsLibrary>) -> Exchange {
        let (client, server) = if v6 {
            (
                "[fe80::1%3]:40000".parse().unwrap(),
                "[::1]:443".parse().unwrap(),
            )
        } else {
            (
                "10.0.0.1:40000".parse().unwrap(),
                "192.168.255.2:80".parse().unwrap(),
            )
        };
        let meta = ConnMeta::new(
            ConnKey {
                client,
                server,
                netns: NetnsId(7),
                pid: Some(42),
                fd: Some(3),
            },
            CaptureSource::EbpfTls,
            Timestamp(1),
        )
        .with_tls_library(lib)
        .with_comm(Some(Comm::new("cu\"rl")))
        .with_traffic(Some(TrafficDirection::Outbound))
        .joined_mid_stream(true);
        let mut ex = Exchange::new(Protocol::Grpc, &meta, Roles::CONFIRMED);
        ex.stream_id = Some(3);
        let path = format!("/{text}");
        let mut body = BodyBuilder::new();
        body.append(text.as_bytes(), 10);
        let raw = binary.as_slice();
        let mut req = Request::builder(text.as_str(), raw)
            .authority(text.as_str())
            .header(text.as_str(), "v\u{1}\u{7f}é")
            .header("a", "")
            .header(raw, text.as_str())
            .header(path.as_str(), raw)
            .body_parts(body.finish())
            .build(Timestamp(u64::MAX));
        req.trailers = Headers::from_pairs([("grpc-status", "0")]);
        ex.request = Some(req);
        let resp = Response::builder(200)
            .reason(raw)
            .header(raw, raw)
            .body(binary.clone())
            .build_response(Timestamp(0));
        ex.response = Some(resp);
        ex.grpc = Some(GrpcInfo {
            request_messages: 1,
            response_messages: 2,
            status: Some(0),
            message: None,
        });
        ex.flag(Flag::Gap);
        let pod = std::sync::Arc::new(Pod {
            namespace: text.clone(),
            name: format!("{text}-0"),
            uid: String::new(),
            workload: text.clone(),
            workload_kind: WorkloadKind::StatefulSet,
            labels: vec![("app".into(), text.clone())],
        });
        ex.conn.k8s = K8sConn {
            client: Some(K8sEnd::new(pod.clone(), Some(text.as_str().into()))),
            server: Some(K8sEnd::new(pod, None)),
        };
        ex
    }

    #[test]
    fn long_strings_dense_with_escapes_equal_serde() {
        let mut long = String::new();
        for i in 0..2000u32 {
            long.push(char::from_u32(i % 0x7f).unwrap_or('x'));
            long.push('"');
        }
        let mut fast = Vec::new();
        string(&mut fast, &long);
        assert_eq!(fast, serde_json::to_vec(&long).unwrap());
    }

    #[test]
    fn escapes_at_every_offset_around_a_step_equal_serde() {
        for at in (ESCAPE_STEP - 20)..(ESCAPE_STEP + 20) {
            for esc in ["\"", "\\", "\n", "\u{1}", "\u{1f}"] {
                let mut s = "a".repeat(at);
                s.push_str(esc);
                s.push_str("tail\"x");
                let mut fast = Vec::new();
                string(&mut fast, &s);
                assert_eq!(fast, serde_json::to_vec(&s).unwrap(), "escape at {at}");
            }
        }
    }

    /// A string with `c` at byte `at` of `len` bytes, the rest `a` (or
    /// as close as a wide `c` allows).
    fn with_char_at(len: usize, at: usize, c: char) -> String {
        let mut s = "a".repeat(at.min(len));
        s.push(c);
        while s.len() < len {
            s.push(if s.len().is_multiple_of(3) { '"' } else { 'b' });
        }
        s
    }

    #[test]
    fn every_char_below_0x100_at_every_offset_around_words_equals_serde() {
        for len in 0..26 {
            for at in 0..=len {
                for c in (0u32..0x100).filter_map(char::from_u32) {
                    let s = with_char_at(len, at, c);
                    let mut fast = Vec::new();
                    string(&mut fast, &s);
                    assert_eq!(fast, serde_json::to_vec(&s).unwrap(), "{s:?}");
                }
            }
        }
    }

    #[test]
    fn every_byte_in_a_body_at_every_offset_equals_serde() {
        let meta = ConnMeta::new(
            ConnKey::new(
                "10.0.0.1:1".parse().unwrap(),
                "10.0.0.2:2".parse().unwrap(),
                NetnsId(1),
            ),
            CaptureSource::Pcap,
            Timestamp(1),
        );
        for len in [1, 7, 8, 9, 15, 16, 17, 24, 33] {
            for at in 0..len {
                for b in 0..=255u8 {
                    let mut data = b"ab\"cd\\ef\ngh".repeat(3);
                    data.truncate(len);
                    data.resize(len, b'x');
                    data[at] = b;
                    // A whole two-byte character too, and one cut short.
                    let mut wide = data.clone();
                    wide.splice(at..at, "é".bytes());
                    for body in [data.clone(), wide, [&data[..], &[0xc3]].concat()] {
                        let mut ex = Exchange::new(Protocol::Http11, &meta, Roles::CONFIRMED);
                        ex.response = Some(
                            Response::builder(200)
                                .body(body.clone())
                                .build_response(Timestamp(2)),
                        );
                        let mut fast = Vec::new();
                        exchange(&mut fast, &ex);
                        assert_eq!(
                            String::from_utf8(fast).unwrap(),
                            serde_json::to_string(&ex).unwrap(),
                            "{body:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_write_that_runs_out_of_room_is_written_again_whole() {
        let s = "\u{1}\"".repeat(500);
        let mut fast = b"kept".to_vec();
        with_room(&mut fast, 1, |w| w.text(s.as_bytes()));
        assert_eq!(
            fast,
            [&b"kept"[..], &serde_json::to_vec(&s).unwrap()].concat()
        );
    }

    #[test]
    fn numbers_are_written_as_itoa_writes_them() {
        let mut n = 1u64;
        let mut cases = vec![0, u64::MAX, u64::MAX - 1];
        while let Some(m) = n.checked_mul(10) {
            cases.extend([n - 1, n, n + 1, m / 2, n * 7 + 3]);
            n = m;
        }
        cases.extend((0..2000u64).map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (i % 64)));
        for n in cases {
            let mut fast = Vec::new();
            with_room(&mut fast, 24, |w| w.uint(n));
            assert_eq!(fast, itoa::Buffer::new().format(n).as_bytes(), "{n}");
        }
    }

    #[test]
    fn kept_conn_objects_equal_those_written_anew() {
        let pod = std::sync::Arc::new(Pod {
            namespace: "ns".into(),
            name: "p-0".into(),
            uid: String::new(),
            workload: "p".into(),
            workload_kind: WorkloadKind::StatefulSet,
            labels: Vec::new(),
        });
        let mut writer = RecordWriter::default();
        // Connections seen again, alike or but for one field, and in the
        // second round more connections than slots.
        for round in 0..3u32 {
            let conns = if round == 1 {
                3 * CONN_SLOTS
            } else {
                CONN_SLOTS / 2
            };
            for i in 0..conns as u32 {
                let port = 1000 + (i % 400) as u16;
                let meta = ConnMeta::new(
                    ConnKey::new(
                        if i % 2 == 0 {
                            SocketAddr::from(([10, 0, (i / 256) as u8, i as u8], port))
                        } else {
                            SocketAddr::from(([0xfe80, 0, 0, 0, 0, 0, 0, i as u16], port))
                        },
                        "10.0.0.2:80".parse().unwrap(),
                        NetnsId(u64::from(i % 3)),
                    ),
                    CaptureSource::Pcap,
                    Timestamp(1),
                );
                let mut ex = Exchange::new(Protocol::Http11, &meta, Roles::CONFIRMED);
                if i % 3 == round % 3 {
                    ex.conn.pid = Some(i);
                    ex.conn.fd = Some(round);
                }
                if i % 5 == 0 {
                    ex.conn.comm = Some(format!("c\"{}", i + round));
                }
                if i % 7 == 0 {
                    ex.conn.k8s.server = Some(K8sEnd::new(pod.clone(), None));
                }
                let mut kept = Vec::new();
                writer.exchange(&mut kept, &ex);
                assert_eq!(
                    String::from_utf8(kept).unwrap(),
                    serde_json::to_string(&ex).unwrap()
                );
            }
        }
    }

    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    #[test]
    fn escape_bits_without_sse2_equal_those_with() {
        let mut words = vec![0u64, u64::MAX];
        for b in 0..=255u8 {
            for at in 0..8 {
                let mut w = *b"abcdefgh";
                w[at] = b;
                words.push(u64::from_le_bytes(w));
                w[7 - at] = b'"';
                words.push(u64::from_le_bytes(w));
            }
        }
        for (i, &lo) in words.iter().enumerate() {
            let hi = words[(i * 7919) % words.len()];
            assert_eq!(
                escape_bits_swar(lo, hi),
                escape_bits_sse2(lo, hi),
                "{lo:x} {hi:x}"
            );
        }
    }

    #[test]
    fn empty_and_cut_bodies_equal_serde() {
        let meta = ConnMeta::new(
            ConnKey::new(
                "10.0.0.1:1".parse().unwrap(),
                "10.0.0.2:2".parse().unwrap(),
                NetnsId(1),
            ),
            CaptureSource::Pcap,
            Timestamp(1),
        );
        for (data, limit) in [("", 0), ("", 5), ("abc", 0), ("abc", 2), ("abc", 3)] {
            let mut body = BodyBuilder::new();
            body.append(data.as_bytes(), limit);
            let mut ex = Exchange::new(Protocol::Http11, &meta, Roles::CONFIRMED);
            ex.request = Some(
                Request::builder("GET", "/")
                    .body_parts(body.finish())
                    .build(Timestamp(2)),
            );
            let mut fast = Vec::new();
            exchange(&mut fast, &ex);
            assert_eq!(
                String::from_utf8(fast).unwrap(),
                serde_json::to_string(&ex).unwrap()
            );
        }
    }

    #[test]
    fn long_bodies_and_fields_around_steps_equal_serde() {
        let meta = ConnMeta::new(
            ConnKey::new(
                "10.0.0.1:1".parse().unwrap(),
                "10.0.0.2:2".parse().unwrap(),
                NetnsId(1),
            ),
            CaptureSource::Pcap,
            Timestamp(1),
        );
        for len in [ESCAPE_STEP - 1, ESCAPE_STEP, 2 * ESCAPE_STEP + 3, 5000] {
            for at in [0, 1, ESCAPE_STEP - 1, ESCAPE_STEP, ESCAPE_STEP + 1, len - 1] {
                // A byte that is not ASCII (whole character, cut one) and
                // ones to escape, past the first step and before it.
                for insert in [&b"\xc3\xa9"[..], b"\xc3", b"\"", b"\x01", b"\\"] {
                    let mut data = b"{\"k\":\"v\"}".repeat(len / 9 + 1);
                    data.truncate(len);
                    let at = at.min(data.len());
                    data.splice(at..at, insert.iter().copied());
                    let text = String::from_utf8_lossy(&data).into_owned();
                    let mut ex = Exchange::new(Protocol::Http11, &meta, Roles::CONFIRMED);
                    ex.request = Some(
                        Request::builder("GET", text.as_str())
                            .header(text.as_str(), "v")
                            .header("n", &data[..])
                            .body(data.clone())
                            .build(Timestamp(2)),
                    );
                    let mut fast = Vec::new();
                    exchange(&mut fast, &ex);
                    assert_eq!(
                        String::from_utf8(fast).unwrap(),
                        serde_json::to_string(&ex).unwrap(),
                        "{len} {at} {insert:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_big_body_reserves_a_few_times_its_size_not_six() {
        let meta = ConnMeta::new(
            ConnKey::new(
                "10.0.0.1:1".parse().unwrap(),
                "10.0.0.2:2".parse().unwrap(),
                NetnsId(1),
            ),
            CaptureSource::Pcap,
            Timestamp(1),
        );
        let mut ex = Exchange::new(Protocol::Http11, &meta, Roles::CONFIRMED);
        let body = "abcdefgh".repeat(1 << 17);
        ex.response = Some(
            Response::builder(200)
                .body(body.clone())
                .build_response(Timestamp(2)),
        );
        let mut out = Vec::new();
        exchange(&mut out, &ex);
        assert!(out.len() > body.len());
        assert!(
            out.capacity() <= 4 * body.len(),
            "{} for {}",
            out.capacity(),
            body.len()
        );
    }

    proptest! {
        #[test]
        fn the_fast_writer_equals_serde(text in ".{0,40}", ctl in prop::collection::vec(0u8..0x30, 0..20),
                                        binary in prop::collection::vec(any::<u8>(), 0..80), v6 in any::<bool>(),
                                        lib in prop::option::of(prop::sample::select(TlsLibrary::ALL.to_vec()))) {
            let mut text = text;
            text.extend(ctl.iter().map(|&b| char::from(b)));
            for ex in [sample(text.clone(), binary.clone(), v6, lib), {
                let mut e = sample(text.clone(), binary, v6, lib);
                e.request = None;
                e.grpc = None;
                e.direction = None;
                e.conn.pid = None;
                e.conn.k8s.client = None;
                e
            }, {
                let mut e = sample(text.clone(), Vec::new(), false, None);
                e.conn.k8s.server = None;
                e
            }] {
                let mut fast = Vec::new();
                exchange(&mut fast, &ex);
                let slow = serde_json::to_vec(&ex).unwrap();
                prop_assert_eq!(String::from_utf8(fast).unwrap(), String::from_utf8(slow).unwrap());
            }
        }
    }
}
