//! Label values with a bounded number of values: methods from a fixed
//! list, status classes, path templates; and the admission of new series
//! under a cap, counting what was folded.

use std::collections::HashSet;
use std::hash::Hash;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};

/// Method label values: the RFC 9110 methods and PATCH; any other is `other`.
pub const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

/// The method's label index: a [`METHODS`] position, [`METHOD_OTHER`], or
/// [`METHOD_NONE`] when the request was not captured.
pub fn method_index(method: Option<&str>) -> u8 {
    match method {
        None => METHOD_NONE,
        Some(m) => METHODS
            .iter()
            .position(|k| *k == m)
            .map_or(METHOD_OTHER, |i| i as u8),
    }
}

/// Index of the `other` method (folded).
pub const METHOD_OTHER: u8 = METHODS.len() as u8;
/// Index of the method of an exchange without request.
pub const METHOD_NONE: u8 = METHOD_OTHER + 1;

/// The label value of a method index.
pub fn method_label(i: u8) -> &'static str {
    match i {
        METHOD_OTHER => "other",
        METHOD_NONE => "none",
        i => METHODS.get(usize::from(i)).copied().unwrap_or("other"),
    }
}

/// Status class label values, by index.
pub const STATUS_CLASSES: [&str; 7] = ["1xx", "2xx", "3xx", "4xx", "5xx", "none", "other"];

/// The status class index of a status: `none` without response, `other`
/// outside 100–599 (HTTP/0.9 replies have no status).
pub fn status_class(status: Option<u16>) -> u8 {
    match status {
        None => 5,
        Some(s @ 100..=599) => (s / 100 - 1) as u8,
        Some(_) => 6,
    }
}

/// Protocol label values, by index.
pub const PROTOCOLS: [&str; 5] = ["http/1.0", "http/1.1", "h2", "grpc", "other"];

/// The protocol's index.
pub fn protocol_index(p: &str) -> u8 {
    PROTOCOLS
        .iter()
        .position(|k| *k == p)
        .map_or(4, |i| i as u8)
}

/// Longest path template kept, in bytes.
const TEMPLATE_MAX_BYTES: usize = 64;
/// Path segments kept in a template; deeper paths end in `/…`.
const TEMPLATE_MAX_SEGMENTS: usize = 4;

/// A path's template: the query dropped, segments that look like
/// identifiers (numbers, hex, UUIDs, long tokens) replaced by `{id}`, at
/// most four segments and 64 bytes. Raw paths are never labels.
pub fn path_template(path: &str) -> String {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let mut out = String::with_capacity(path.len().min(TEMPLATE_MAX_BYTES));
    for (i, seg) in path.split('/').filter(|s| !s.is_empty()).enumerate() {
        if i == TEMPLATE_MAX_SEGMENTS {
            out.push_str("/…");
            break;
        }
        out.push('/');
        if looks_like_id(seg) {
            out.push_str("{id}");
        } else {
            out.push_str(seg);
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    if out.len() > TEMPLATE_MAX_BYTES {
        let mut cut = TEMPLATE_MAX_BYTES;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('…');
    }
    out
}

fn looks_like_id(seg: &str) -> bool {
    let digits = seg.bytes().filter(u8::is_ascii_digit).count();
    let hex = seg.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    digits == seg.len()
        || (hex && seg.len() >= 8 && digits > 0)
        || seg.len() > 32
        || seg.bytes().any(|b| !(b.is_ascii_graphic()) || b == b'%')
}

/// Admits new keys up to a cap, shared by every recorder. Each recorder
/// remembers the keys it saw admitted, so it asks here once per key; a
/// known or refused key costs a shared read lock, a new one a write lock.
#[derive(Debug)]
pub(crate) struct Admission<K> {
    cap: usize,
    full: AtomicBool,
    keys: RwLock<HashSet<K, foldhash::fast::RandomState>>,
}

impl<K: Hash + Eq + Clone> Admission<K> {
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            cap,
            full: AtomicBool::new(cap == 0),
            keys: RwLock::new(HashSet::default()),
        }
    }

    /// True when `key` is (or now becomes) one of the admitted keys.
    pub(crate) fn admit(&self, key: &K) -> bool {
        if let Ok(keys) = self.keys.read() {
            if keys.contains(key) {
                return true;
            }
            if self.full.load(Ordering::Relaxed) {
                return false;
            }
        }
        let Ok(mut keys) = self.keys.write() else {
            return false;
        };
        if keys.contains(key) {
            return true;
        }
        if keys.len() >= self.cap {
            self.full.store(true, Ordering::Relaxed);
            return false;
        }
        keys.insert(key.clone());
        true
    }

    /// Keys admitted so far.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.keys.read().map_or(0, |k| k.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_hide_identifiers_and_queries() {
        assert_eq!(
            path_template("/users/12345/orders?id=9"),
            "/users/{id}/orders"
        );
        assert_eq!(
            path_template("/o/3f2c1a9e-aaaa-4bbb-8ccc-123456789abc/x"),
            "/o/{id}/x"
        );
        assert_eq!(path_template("/a/b/c/d/e/f"), "/a/b/c/d/…");
        assert_eq!(path_template(""), "/");
        assert_eq!(path_template("*"), "/*");
        assert!(path_template(&"/x".repeat(10)).len() <= 64 + '…'.len_utf8());
        assert_eq!(path_template("/caf%C3%A9/menu"), "/{id}/menu");
    }

    #[test]
    fn methods_and_statuses_have_few_values() {
        assert_eq!(method_label(method_index(Some("GET"))), "GET");
        assert_eq!(method_label(method_index(Some("get"))), "other");
        assert_eq!(method_label(method_index(None)), "none");
        let classes: Vec<_> = [
            None,
            Some(0),
            Some(101),
            Some(204),
            Some(404),
            Some(503),
            Some(999),
        ]
        .into_iter()
        .map(|s| STATUS_CLASSES[usize::from(status_class(s))])
        .collect();
        assert_eq!(
            classes,
            ["none", "other", "1xx", "2xx", "4xx", "5xx", "other"]
        );
    }

    #[test]
    fn admission_stops_at_the_cap_and_keeps_what_it_admitted() {
        let a = Admission::new(2);
        assert!(a.admit(&1));
        assert!(a.admit(&2));
        assert!(!a.admit(&3));
        assert_eq!(a.len(), 2);
        assert!(a.admit(&1), "an admitted key stays admitted");
    }
}
