//! The header maps Akto's collector sends, as Go's `net/http` hands them to
//! it.
//!
//! HTTP/1 (`http.ReadRequest`, `http.ReadResponse`): names in Go's
//! canonical form (`x-tenant` → `X-Tenant`), values trimmed of spaces and
//! tabs, one value per name (the last, as Akto's map assignment keeps);
//! `Host` moved out of the headers (Akto adds it back as `host`); a name
//! with a byte outside the token set makes Go refuse the message;
//! `Transfer-Encoding` removed; with chunked framing `Content-Length` and
//! `Trailer` removed; `Pragma: no-cache` without `Cache-Control` adds
//! `Cache-Control: no-cache`. A message Go refuses (a `Transfer-Encoding`
//! other than one `chunked` on HTTP/1.1, `Content-Length`s that disagree)
//! gives `None`: Akto's collector sends nothing for it.
//!
//! HTTP/2 (Akto's HTTP/2 parser): names as sent (lower case), with the
//! pseudo-headers, one value per name (the last); gRPC trailers join the
//! response's map.

use std::collections::BTreeMap;

use capture_core::model::Headers;

use super::go_json::go_string;

/// A header map: name → value, keys in byte order.
pub(crate) type HeaderMap = BTreeMap<String, String>;

/// Go's `textproto.CanonicalMIMEHeaderKey`: a name with a space is kept as
/// is; otherwise the first letter and each letter after `-` upper case, the
/// rest lower case.
pub(crate) fn canonical(name: &str) -> String {
    if name.contains(' ') || name.is_empty() {
        return name.to_owned();
    }
    let mut upper = true;
    name.chars()
        .map(|c| {
            let c = if upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            upper = c == '-';
            c
        })
        .collect()
}

fn trim(v: &str) -> &str {
    v.trim_matches([' ', '\t'])
}

/// A byte of an HTTP token (RFC 9110 `tchar`).
fn token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// What Go's `net/http` makes of an HTTP/1 head's header lines.
#[derive(Debug, Default)]
pub(crate) struct Http1Head {
    /// The headers Akto's map is built from.
    pub(crate) map: HeaderMap,
    /// The first `Host` value (Go's `Request.Host` for an origin-form target).
    pub(crate) host: Option<String>,
    /// The first `Content-Encoding` value (Akto gunzips when it is `gzip` or `deflate`).
    pub(crate) content_encoding: Option<String>,
}

/// Go's view of HTTP/1 `headers`; `http11` when the message is HTTP/1.1
/// (Go ignores `Transfer-Encoding` on HTTP/1.0, after removing it).
pub(crate) fn http1_head(headers: &Headers, http11: bool) -> Option<Http1Head> {
    let mut lists: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for h in headers {
        if !h.name().iter().all(|&b| token(b)) || h.name().is_empty() {
            // net/textproto: "malformed MIME header line".
            return None;
        }
        lists
            .entry(canonical(&go_string(h.name().as_bytes())))
            .or_default()
            .push(trim(&go_string(h.value().as_bytes())).to_owned());
    }
    let mut chunked = false;
    if let Some(te) = lists.remove("Transfer-Encoding")
        && http11
    {
        match te.as_slice() {
            [one] if one.eq_ignore_ascii_case("chunked") => chunked = true,
            _ => return None,
        }
    }
    if let Some(cl) = lists.get("Content-Length")
        && cl.iter().any(|v| Some(v) != cl.first())
    {
        return None;
    }
    if chunked {
        lists.remove("Content-Length");
        lists.remove("Trailer");
    }
    if lists
        .get("Pragma")
        .and_then(|p| p.first())
        .is_some_and(|p| p == "no-cache")
        && !lists.contains_key("Cache-Control")
    {
        lists.insert("Cache-Control".into(), vec!["no-cache".into()]);
    }
    let host = lists.remove("Host").and_then(|h| h.into_iter().next());
    let content_encoding = lists
        .get("Content-Encoding")
        .and_then(|v| v.first())
        .cloned();
    let map = lists
        .into_iter()
        .filter_map(|(k, v)| v.into_iter().last().map(|last| (k, last)))
        .collect();
    Some(Http1Head {
        map,
        host,
        content_encoding,
    })
}

/// Akto's HTTP/2 map: `pseudo` first, then `headers` and `trailers` as sent, the last value of a name winning.
pub(crate) fn http2_map<'a>(
    pseudo: impl IntoIterator<Item = (&'a str, String)>,
    headers: &Headers,
    trailers: Option<&Headers>,
) -> HeaderMap {
    let mut map: HeaderMap = pseudo.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    for h in headers.iter().chain(trailers.into_iter().flatten()) {
        map.insert(
            go_string(h.name().as_bytes()).into_owned(),
            go_string(h.value().as_bytes()).into_owned(),
        );
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Headers {
        Headers::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn canonical_names_as_go() {
        assert_eq!(canonical("x-tenant"), "X-Tenant");
        assert_eq!(canonical("CONTENT-TYPE"), "Content-Type");
        assert_eq!(canonical("x--a"), "X--A");
        assert_eq!(canonical("www-authenticate"), "Www-Authenticate");
        assert_eq!(canonical("x_y"), "X_y");
        assert_eq!(canonical("bad name"), "bad name");
    }

    #[test]
    fn names_go_refuses_decline_the_message() {
        assert!(http1_head(&h(&[("Content-Length ", "5")]), true).is_none());
        let raw = Headers::from_pairs([(&b"X-\xff"[..], &b"v"[..])]);
        assert!(http1_head(&raw, true).is_none());
    }

    #[test]
    fn case_differing_names_keep_the_last_value() {
        let head = http1_head(&h(&[("X-Tenant", "blue"), ("x-tenant", " green ")]), true).unwrap();
        assert_eq!(head.map.len(), 1);
        assert_eq!(head.map["X-Tenant"], "green");
    }

    #[test]
    fn transfer_encoding_and_framing_headers() {
        let head = http1_head(
            &h(&[
                ("Transfer-Encoding", "chunked"),
                ("Content-Length", "5"),
                ("Trailer", "X-Sum"),
                ("Host", "a"),
                ("Host", "b"),
            ]),
            true,
        )
        .unwrap();
        assert!(head.map.is_empty(), "{:?}", head.map);
        assert_eq!(head.host.as_deref(), Some("a"));
        assert!(http1_head(&h(&[("Transfer-Encoding", "gzip, chunked")]), true).is_none());
        assert!(
            http1_head(
                &h(&[("Content-Length", "1"), ("Content-Length", "2")]),
                true
            )
            .is_none()
        );
        // HTTP/1.0: removed, not used.
        let head = http1_head(
            &h(&[("Transfer-Encoding", "gzip"), ("Content-Length", "3")]),
            false,
        )
        .unwrap();
        assert_eq!(head.map.len(), 1);
    }

    #[test]
    fn pragma_no_cache_adds_cache_control() {
        let head = http1_head(&h(&[("pragma", "no-cache")]), true).unwrap();
        assert_eq!(head.map["Cache-Control"], "no-cache");
        let head = http1_head(
            &h(&[("Pragma", "no-cache"), ("Cache-Control", "max-age=1")]),
            true,
        )
        .unwrap();
        assert_eq!(head.map["Cache-Control"], "max-age=1");
    }
}
