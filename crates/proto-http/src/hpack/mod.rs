//! HPACK header decompression (RFC 7541), for a passive observer.
//!
//! One [`Decoder`] decodes the header blocks of one direction of an HTTP/2
//! connection. Unlike an endpoint's decoder it must cope with joining late:
//! a block may refer to dynamic-table entries inserted before the capture
//! began. Such a field is reported as [`Field`] with no name (and maybe no
//! value) instead of failing the block, and every entry inserted since the
//! decoder started stays exact (see `DynamicTable`).
//!
//! # Example
//!
//! ```
//! use proto_http::hpack::Decoder;
//!
//! // RFC 7541 C.3.1: a GET request without Huffman coding.
//! let block = b"\x82\x86\x84\x41\x0fwww.example.com";
//! let mut dec = Decoder::new();
//! let mut headers = Vec::new();
//! dec.decode(block, |f| headers.push((f.name.unwrap().to_vec(), f.value.unwrap().to_vec()))).unwrap();
//! assert_eq!(headers[0], (b":method".to_vec(), b"GET".to_vec()));
//! assert_eq!(headers[3], (b":authority".to_vec(), b"www.example.com".to_vec()));
//! ```

pub mod encode;
pub mod huffman;
mod table;

use table::{DynamicTable, Entry, Lookup, STATIC, STATIC_AT, STATIC_JOINED};

/// Largest dynamic table a decoder keeps by default, whatever the peers agree.
pub const DEFAULT_MEM_CAP: usize = 64 * 1024;

/// Why a header block could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The block ended inside a field.
    #[error("HPACK block truncated inside a field")]
    Truncated,
    /// An integer does not fit the decoder's range.
    #[error("HPACK integer overflows")]
    IntegerOverflow,
    /// Index 0, or an index past the tables.
    #[error("HPACK index {0} refers to no table entry")]
    InvalidIndex(usize),
    /// A Huffman-coded string is invalid.
    #[error("HPACK Huffman string is invalid")]
    Huffman,
}

/// One decoded header field. Borrowed from the block, the tables or the
/// decoder's buffers until the callback returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field<'a> {
    /// The name; `None` when it refers to an entry the decoder cannot know.
    pub name: Option<&'a [u8]>,
    /// The value; `None` when it refers to an entry the decoder cannot know.
    pub value: Option<&'a [u8]>,
    /// Sent as never-indexed (sensitive, §6.2.3).
    pub never_indexed: bool,
    /// The name is known to be UTF-8 (static entries, Huffman output that
    /// is ASCII, literals checked once, dynamic entries as inserted).
    name_text: bool,
    /// The value is known to be UTF-8, likewise.
    value_text: bool,
    /// Name and value side by side, when the decoder keeps them so (table
    /// entries).
    joined: Option<&'a [u8]>,
}

impl<'a> Field<'a> {
    /// True when the name or value is unknown.
    pub fn is_unknown(&self) -> bool {
        self.name.is_none() || self.value.is_none()
    }

    /// Name and value as text, when both are known and valid UTF-8.
    pub fn text(&self) -> Option<(&'a str, &'a str)> {
        let name = std::str::from_utf8(self.name?).ok()?;
        let value = std::str::from_utf8(self.value?).ok()?;
        Some((name, value))
    }

    /// True when the name is known and valid UTF-8, as the decoder found
    /// out on the way (no second check).
    pub fn name_is_text(&self) -> bool {
        self.name_text
    }

    /// True when the value is known and valid UTF-8, as the decoder found
    /// out on the way (no second check).
    pub fn value_is_text(&self) -> bool {
        self.value_text
    }

    /// Name and value side by side (the name first, its length second),
    /// when the decoder holds them so: one copy takes both.
    pub fn joined(&self) -> Option<(&'a [u8], usize)> {
        Some((self.joined?, self.name?.len()))
    }

    fn unknown() -> Self {
        Self {
            name: None,
            value: None,
            never_indexed: false,
            name_text: false,
            value_text: false,
            joined: None,
        }
    }

    fn of_entry(e: &'a Entry, never_indexed: bool) -> Self {
        let name = e.name();
        Self {
            name,
            value: Some(e.value()),
            never_indexed,
            name_text: name.is_some() && e.name_text(),
            value_text: e.value_text(),
            joined: e.joined(),
        }
    }
}

/// What decoding one block found, besides its fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BlockInfo {
    /// Fields reported with an unknown name or value.
    pub unknown: u32,
    /// Fields in the block.
    pub fields: u32,
}

/// The HPACK decoder of one direction of a connection.
#[derive(Clone, Debug)]
pub struct Decoder {
    table: DynamicTable,
    name_buf: Vec<u8>,
    value_buf: Vec<u8>,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// A decoder for a connection seen from its start.
    pub fn new() -> Self {
        Self::with_mem_cap(DEFAULT_MEM_CAP)
    }

    /// A decoder keeping at most `mem_cap` bytes of dynamic table (as
    /// counted by RFC 7541 §4.1). Entries evicted only for this cap are
    /// reported unknown when referenced.
    pub fn with_mem_cap(mem_cap: usize) -> Self {
        Self {
            table: DynamicTable::new(mem_cap),
            name_buf: Vec::new(),
            value_buf: Vec::new(),
        }
    }

    /// A decoder for a connection joined after it started: the dynamic table
    /// may hold entries it never saw.
    pub fn joined_mid_stream(mem_cap: usize) -> Self {
        Self {
            table: DynamicTable::unknown(mem_cap),
            name_buf: Vec::new(),
            value_buf: Vec::new(),
        }
    }

    /// Bytes of this direction were lost: forget the table (every entry from
    /// now on is unknown until inserted again).
    pub fn lose_sync(&mut self) {
        self.table.lose_sync();
    }

    /// Sets the maximum table size out of band, as if the encoder had sent a
    /// size update (RFC 7541 Appendix C.5 starts with 256 this way).
    pub fn set_max_table_size(&mut self, size: usize) {
        self.table.set_max(size);
    }

    /// The peer's SETTINGS_HEADER_TABLE_SIZE: the most the encoder may use.
    pub fn set_settings_table_size(&mut self, size: usize) {
        self.table.set_bound(size);
    }

    /// Dynamic table entries, newest first, as (name, value); a `None` name
    /// is one copied from an unknown entry.
    pub fn dynamic_entries(&self) -> impl Iterator<Item = (Option<&[u8]>, &[u8])> {
        self.table.iter()
    }

    /// Number of known dynamic table entries.
    pub fn dynamic_len(&self) -> usize {
        self.table.len()
    }

    /// Size of the known dynamic table entries (RFC 7541 §4.1).
    pub fn dynamic_size(&self) -> usize {
        self.table.size()
    }

    /// True when the table may hold entries the decoder never saw.
    pub fn may_have_unknown_entries(&self) -> bool {
        self.table.tail_unknown()
    }

    /// The encoder's maximum table size, when known.
    pub fn max_table_size(&self) -> Option<usize> {
        self.table.max_exact()
    }

    /// Decodes one complete header block, calling `on_field` for each field
    /// in order. On error the fields before it were reported, and the
    /// dynamic table is forgotten (the rest of the block may have changed it).
    pub fn decode<F>(&mut self, block: &[u8], mut on_field: F) -> Result<BlockInfo, DecodeError>
    where
        F: FnMut(Field<'_>),
    {
        let mut info = BlockInfo::default();
        let mut rest = block;
        while let Some(&first) = rest.first() {
            let step = self.field(first, rest, &mut info, &mut on_field);
            match step {
                Ok(r) => rest = r,
                Err(e) => {
                    self.table.lose_sync();
                    return Err(e);
                }
            }
        }
        Ok(info)
    }

    fn field<'b, F>(
        &mut self,
        first: u8,
        block: &'b [u8],
        info: &mut BlockInfo,
        on_field: &mut F,
    ) -> Result<&'b [u8], DecodeError>
    where
        F: FnMut(Field<'_>),
    {
        if first & 0x80 != 0 {
            // Indexed field (§6.1).
            let (index, rest) = integer(block, 7)?;
            info.fields += 1;
            let field = self.lookup(index)?;
            if field.is_unknown() {
                info.unknown += 1;
            }
            on_field(field);
            return Ok(rest);
        }
        if first & 0xe0 == 0x20 {
            // Dynamic table size update (§6.3).
            let (size, rest) = integer(block, 5)?;
            self.table.set_max(size);
            return Ok(rest);
        }
        let (prefix, indexing, never_indexed) = match first {
            f if f & 0xc0 == 0x40 => (6, true, false),
            f if f & 0xf0 == 0x10 => (4, false, true),
            _ => (4, false, false),
        };
        let (name_index, rest) = integer(block, prefix)?;
        info.fields += 1;
        let Self {
            table,
            name_buf,
            value_buf,
        } = self;
        // The name, and whether it is known to be text.
        let (name, name_text, rest) = if name_index == 0 {
            let (n, text, rest) = string(rest, name_buf)?;
            (Some(n), text, rest)
        } else {
            let f = lookup(table, name_index)?;
            (f.name, f.name_text, rest)
        };
        let (value, value_text, rest) = string(rest, value_buf)?;
        if name.is_none() {
            info.unknown += 1;
        }
        if indexing {
            let entry = Entry::new(name, value, (name_text, value_text));
            match self.table.insert(entry) {
                Ok(e) => on_field(Field::of_entry(e, never_indexed)),
                Err(e) => on_field(Field::of_entry(&e, never_indexed)),
            }
        } else {
            on_field(Field {
                name,
                value: Some(value),
                never_indexed,
                name_text,
                value_text,
                joined: None,
            });
        }
        Ok(rest)
    }

    fn lookup(&self, index: usize) -> Result<Field<'_>, DecodeError> {
        lookup(&self.table, index)
    }
}

fn lookup(table: &DynamicTable, index: usize) -> Result<Field<'_>, DecodeError> {
    if index == 0 {
        return Err(DecodeError::InvalidIndex(index));
    }
    if let Some(&(name, value)) = STATIC.get(index - 1) {
        let at = |i: usize| STATIC_AT.get(i).map_or(0, |&a| usize::from(a));
        return Ok(Field {
            name: Some(name.as_bytes()),
            value: Some(value.as_bytes()),
            never_indexed: false,
            name_text: true,
            value_text: true,
            joined: STATIC_JOINED.get(at(index - 1)..at(index)),
        });
    }
    match table.get(index - 1 - STATIC.len()) {
        Lookup::Known(e) => Ok(Field::of_entry(e, false)),
        Lookup::Unknown => Ok(Field::unknown()),
        Lookup::Invalid => Err(DecodeError::InvalidIndex(index)),
    }
}

/// Decodes an integer with an `n`-bit prefix (§5.1) at the start of `buf`.
#[inline]
pub fn integer(buf: &[u8], n: u32) -> Result<(usize, &[u8]), DecodeError> {
    let (&first, rest) = buf.split_first().ok_or(DecodeError::Truncated)?;
    let max_prefix = (1usize << n) - 1;
    let value = usize::from(first) & max_prefix;
    if value < max_prefix {
        return Ok((value, rest));
    }
    integer_continued(value, rest)
}

/// The continuation bytes of an integer whose prefix was all ones.
#[inline(never)]
fn integer_continued(mut value: usize, mut rest: &[u8]) -> Result<(usize, &[u8]), DecodeError> {
    let mut shift = 0u32;
    loop {
        let (&b, r) = rest.split_first().ok_or(DecodeError::Truncated)?;
        rest = r;
        // Values above 2^32 serve no purpose in HPACK; refusing them bounds the loop.
        if shift > 28 {
            return Err(DecodeError::IntegerOverflow);
        }
        value = value
            .checked_add(usize::from(b & 0x7f) << shift)
            .filter(|v| *v <= u32::MAX as usize)
            .ok_or(DecodeError::IntegerOverflow)?;
        shift += 7;
        if b & 0x80 == 0 {
            return Ok((value, rest));
        }
    }
}

/// Decodes a string literal (§5.2) at the start of `buf`: its bytes,
/// whether they are UTF-8, and the rest of `buf`. Huffman-coded strings are
/// decoded into `scratch`, whose length is the room made so far (kept, so
/// that it is not zeroed again for every string).
fn string<'a, 'b: 'a, 's: 'a>(
    buf: &'b [u8],
    scratch: &'s mut Vec<u8>,
) -> Result<(&'a [u8], bool, &'b [u8]), DecodeError> {
    let huffman = buf.first().is_some_and(|b| b & 0x80 != 0);
    let (len, rest) = integer(buf, 7)?;
    let (raw, rest) = rest.split_at_checked(len).ok_or(DecodeError::Truncated)?;
    if huffman {
        let room = huffman::decoded_room(raw.len());
        if scratch.len() < room {
            scratch.resize(room, 0);
        }
        let d = huffman::decode_into(raw, scratch).map_err(|_| DecodeError::Huffman)?;
        let decoded = scratch.get(..d.len).ok_or(DecodeError::Huffman)?;
        // Only codes longer than 12 bits give bytes above 0x7f: rare.
        let text = d.ascii || std::str::from_utf8(decoded).is_ok();
        Ok((decoded, text, rest))
    } else {
        let text = raw.is_ascii() || std::str::from_utf8(raw).is_ok();
        Ok((raw, text, rest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joined_name_and_value_are_the_fields_side_by_side() {
        // Every static entry, then a literal inserted and referred to.
        let mut block = Vec::new();
        for i in 1..=STATIC.len() {
            encode::indexed(i, &mut block);
        }
        encode::literal(
            Ok(1),
            b"a.example",
            encode::Indexing::Incremental,
            true,
            &mut block,
        );
        encode::literal(
            Err(b"x-id"),
            b"7",
            encode::Indexing::Without,
            true,
            &mut block,
        );
        encode::indexed(STATIC.len() + 1, &mut block);
        let mut seen = Vec::new();
        Decoder::new()
            .decode(&block, |f| {
                let joined = f.joined().map(|(j, n)| (j.to_vec(), n));
                let name = f.name.unwrap().to_vec();
                let pair = [name.as_slice(), f.value.unwrap()].concat();
                assert!(f.name_is_text() && f.value_is_text());
                seen.push((joined, pair, name.len()));
            })
            .unwrap();
        assert_eq!(seen.len(), STATIC.len() + 3);
        for (i, (joined, pair, name_len)) in seen.iter().enumerate() {
            if i == STATIC.len() + 1 {
                // A literal not put in the table is not kept joined.
                assert_eq!(joined, &None);
            } else {
                assert_eq!(
                    joined.as_ref(),
                    Some(&(pair.clone(), *name_len)),
                    "field {i}"
                );
            }
        }
    }
}
