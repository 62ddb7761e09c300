//! The static table and the dynamic table of HPACK (RFC 7541 §2.3, Appendix A).

use std::collections::VecDeque;

/// Entries of the static table, index 1 first.
pub(super) const STATIC: [(&str, &str); 61] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

/// The static table's names and values, each entry's value right after
/// its name, so that a field copies both at once.
pub(super) static STATIC_JOINED: [u8; STATIC_BYTES] = static_joined();

/// Where each static entry starts in [`STATIC_JOINED`]; entry `i` ends
/// where entry `i + 1` starts.
pub(super) static STATIC_AT: [u16; STATIC.len() + 1] = static_at();

/// Bytes of all static names and values.
const STATIC_BYTES: usize = static_bytes();

// Evaluated at compile time only, as below.
#[allow(clippy::indexing_slicing)]
const fn static_bytes() -> usize {
    static_at()[STATIC.len()] as usize
}

// Evaluated at compile time only: an index out of range fails the build,
// it cannot panic at run time.
#[allow(clippy::indexing_slicing)]
const fn static_at() -> [u16; STATIC.len() + 1] {
    let mut at = [0u16; STATIC.len() + 1];
    let mut i = 0;
    while i < STATIC.len() {
        at[i + 1] = at[i] + (STATIC[i].0.len() + STATIC[i].1.len()) as u16;
        i += 1;
    }
    at
}

// Evaluated at compile time only, as above.
#[allow(clippy::indexing_slicing)]
const fn static_joined() -> [u8; STATIC_BYTES] {
    let mut out = [0u8; STATIC_BYTES];
    let (mut i, mut o) = (0, 0);
    while i < STATIC.len() {
        let (name, value) = (STATIC[i].0.as_bytes(), STATIC[i].1.as_bytes());
        let mut k = 0;
        while k < name.len() {
            out[o] = name[k];
            (k, o) = (k + 1, o + 1);
        }
        k = 0;
        while k < value.len() {
            out[o] = value[k];
            (k, o) = (k + 1, o + 1);
        }
        i += 1;
    }
    out
}

/// Per-entry overhead counted in table sizes (§4.1).
pub(super) const ENTRY_OVERHEAD: usize = 32;

/// One dynamic-table entry: name and value in one allocation.
#[derive(Clone, Debug)]
pub(super) struct Entry {
    bytes: Box<[u8]>,
    name_len: usize,
    /// False when the name came from an entry inserted before the capture
    /// began: the name is unknown, and so is the entry's exact size.
    name_known: bool,
    /// Name and value are valid UTF-8 (found out once, on insertion, so
    /// that every later reference skips the check).
    text: (bool, bool),
}

impl Entry {
    /// An entry of `name` and `value`; `text` says which of them are known
    /// to be valid UTF-8.
    pub(super) fn new(name: Option<&[u8]>, value: &[u8], text: (bool, bool)) -> Self {
        let name_bytes = name.unwrap_or_default();
        let mut b = Vec::with_capacity(name_bytes.len() + value.len());
        b.extend_from_slice(name_bytes);
        b.extend_from_slice(value);
        Self {
            bytes: b.into_boxed_slice(),
            name_len: name_bytes.len(),
            name_known: name.is_some(),
            text: (text.0 && name.is_some(), text.1),
        }
    }

    fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Name and value side by side, when the name is known.
    pub(super) fn joined(&self) -> Option<&[u8]> {
        self.name_known.then_some(self.bytes())
    }

    pub(super) fn name(&self) -> Option<&[u8]> {
        if self.name_known {
            self.bytes().get(..self.name_len)
        } else {
            None
        }
    }

    pub(super) fn value(&self) -> &[u8] {
        self.bytes().get(self.name_len..).unwrap_or_default()
    }

    /// The name is known and valid UTF-8.
    pub(super) fn name_text(&self) -> bool {
        self.text.0
    }

    /// The value is valid UTF-8.
    pub(super) fn value_text(&self) -> bool {
        self.text.1
    }

    /// The size as counted by §4.1 (a lower bound when the name is unknown).
    fn size(&self) -> usize {
        self.bytes().len() + ENTRY_OVERHEAD
    }
}

/// What a dynamic-table index refers to.
pub(super) enum Lookup<'a> {
    /// An entry this decoder saw inserted.
    Known(&'a Entry),
    /// An entry inserted before the capture began (or lost in a gap).
    Unknown,
    /// No such entry: the block is invalid.
    Invalid,
}

/// The dynamic table of one decoder, exact for every entry it saw inserted.
///
/// When the decoder joined a connection late (or lost bytes), the real table
/// may hold older entries past the known ones: `tail_unknown`. Entries are
/// never evicted earlier than the real table could evict them, so the known
/// entries are always a prefix (newest first) of the real table and an
/// index within them is exact; an index past them is reported unknown.
#[derive(Clone, Debug)]
pub(super) struct DynamicTable {
    entries: VecDeque<Entry>,
    /// Sum of the known entries' sizes.
    size: usize,
    /// The encoder's current maximum table size, when known exactly.
    max_exact: Option<usize>,
    /// The maximum the peer's SETTINGS_HEADER_TABLE_SIZE allows, when seen.
    bound: Option<usize>,
    /// Bytes this table may hold at most, whatever the protocol says.
    mem_cap: usize,
    /// Older entries of unknown content may sit past the known ones.
    tail_unknown: bool,
    /// Known entries whose name (hence size) is unknown.
    uncertain: usize,
}

impl DynamicTable {
    /// A table at the start of a connection (exact, max size 4096).
    pub(super) fn new(mem_cap: usize) -> Self {
        Self {
            entries: VecDeque::new(),
            size: 0,
            max_exact: Some(4096),
            bound: None,
            mem_cap,
            tail_unknown: false,
            uncertain: 0,
        }
    }

    /// A table of a connection joined late: unknown entries may exist.
    pub(super) fn unknown(mem_cap: usize) -> Self {
        Self {
            max_exact: None,
            tail_unknown: true,
            ..Self::new(mem_cap)
        }
    }

    /// Forgets everything: after lost bytes, every entry may be wrong.
    pub(super) fn lose_sync(&mut self) {
        *self = Self {
            bound: self.bound,
            ..Self::unknown(self.mem_cap)
        };
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(super) fn size(&self) -> usize {
        self.size
    }

    pub(super) fn tail_unknown(&self) -> bool {
        self.tail_unknown
    }

    pub(super) fn max_exact(&self) -> Option<usize> {
        self.max_exact
    }

    /// Entry `i` (0 = newest).
    pub(super) fn get(&self, i: usize) -> Lookup<'_> {
        match self.entries.get(i) {
            Some(e) => Lookup::Known(e),
            None if self.tail_unknown => Lookup::Unknown,
            None => Lookup::Invalid,
        }
    }

    /// Entries newest first: (name, value).
    pub(super) fn iter(&self) -> impl Iterator<Item = (Option<&[u8]>, &[u8])> {
        self.entries.iter().map(|e| (e.name(), e.value()))
    }

    /// The peer's SETTINGS_HEADER_TABLE_SIZE: an upper bound of the maximum size.
    pub(super) fn set_bound(&mut self, bound: usize) {
        self.bound = Some(bound);
        self.after_change();
    }

    /// A dynamic table size update from the encoder.
    pub(super) fn set_max(&mut self, max: usize) {
        self.max_exact = Some(max);
        let limit = self.evict_limit();
        self.evict_to(limit);
        self.after_change();
    }

    /// Inserts an entry at the front, evicting from the back (§4.4), and
    /// returns it; an entry larger than the table is handed back.
    pub(super) fn insert(&mut self, entry: Entry) -> Result<&Entry, Entry> {
        let limit = self.evict_limit();
        let esize = entry.size();
        if esize > limit.0 {
            // The real table empties itself too, unless our limit is below its.
            self.evict_to((0, limit.1));
            self.tail_unknown = !limit.1;
            return Err(entry);
        }
        self.evict_to((limit.0 - esize, limit.1));
        if !entry.name_known {
            self.uncertain += 1;
        }
        self.size += esize;
        self.entries.push_front(entry);
        self.after_change();
        // Never empty here: the entry was just pushed.
        self.entries
            .front()
            .ok_or_else(|| Entry::new(None, b"", (false, false)))
    }

    /// The size beyond which entries are evicted, and whether it is safe: the
    /// real table evicts no later than at it (it is the encoder's maximum or
    /// the bound above it). Otherwise it is our memory cap, and the real
    /// table may keep what we evict.
    fn evict_limit(&self) -> (usize, bool) {
        match self.max_exact.or(self.bound) {
            Some(real) if real <= self.mem_cap => (real, true),
            _ => (self.mem_cap, false),
        }
    }

    fn evict_to(&mut self, (limit, safe): (usize, bool)) {
        let mut evicted = false;
        while self.size > limit {
            let Some(e) = self.entries.pop_back() else {
                break;
            };
            evicted = true;
            self.size = self.size.saturating_sub(e.size());
            if !e.name_known {
                self.uncertain = self.uncertain.saturating_sub(1);
            }
        }
        if self.entries.is_empty() {
            self.size = 0;
        }
        if evicted {
            // Older (unknown) entries go first: if the real table evicted one
            // of ours, it has none of them left. If we evicted for memory
            // only, the real table may still hold what we dropped.
            self.tail_unknown = !safe;
        }
    }

    /// Once no unknown entry can fit beside the known ones, the table is exact again.
    fn after_change(&mut self) {
        if !self.tail_unknown || self.uncertain > 0 {
            return;
        }
        let real_max = self.max_exact.or(self.bound);
        if let Some(max) = real_max
            && max.saturating_sub(self.size) < ENTRY_OVERHEAD
            && max <= self.mem_cap
        {
            self.tail_unknown = false;
        }
    }
}
