//! A request target as Akto's collector writes it in `path`: Go's
//! `url.ParseRequestURI` followed by `URL.String()`. For most targets that
//! is the target unchanged; it differs where Go re-escapes the path (a byte
//! such as `"`, `{`, `|` or any non-ASCII byte makes Go escape the decoded
//! path afresh, `%2F` included), lower-cases an absolute URL's scheme, or
//! writes `CONNECT host:443` as `//host:443`. A target Go refuses (a bad
//! `%` escape, a control byte, a relative path) gives `None`: Akto's
//! collector sends nothing for it.

use super::go_json::hex_digit;

/// The `path` Akto's collector sends for `target` requested with `method`.
pub(crate) fn request_uri(method: &str, target: &str) -> Option<String> {
    if target.bytes().any(|b| b < 0x20 || b == 0x7f) || target.is_empty() {
        return None;
    }
    if method == "CONNECT" && !target.starts_with('/') {
        // Go parses "http://" + target, then drops the scheme.
        let (host, rest) = split_authority(target);
        if !rest.is_empty() || host.is_empty() {
            return None;
        }
        return Some(format!("//{host}"));
    }
    if target == "*" {
        return Some("*".into());
    }
    if let Some((scheme, rest)) = scheme_of(target) {
        let (rest, query) = split_query(rest);
        let rest = rest.strip_prefix("//")?;
        let (authority, path) = split_authority(rest);
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let path = if path.is_empty() {
            String::new()
        } else {
            escaped_path(path)?
        };
        let user = authority.rsplit_once('@').map(|(u, _)| u);
        let mut out = format!("{}://", scheme.to_ascii_lowercase());
        if let Some(u) = user {
            out.push_str(u);
            out.push('@');
        }
        out.push_str(host);
        out.push_str(&path);
        push_query(&mut out, query);
        return Some(out);
    }
    let (rest, query) = split_query(target);
    if !rest.starts_with('/') {
        return None;
    }
    let mut out = escaped_path(rest)?;
    push_query(&mut out, query);
    Some(out)
}

/// `(path, query)`, where a lone trailing `?` is kept as an empty query (Go's `ForceQuery`).
fn split_query(s: &str) -> (&str, Option<&str>) {
    match s.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (s, None),
    }
}

fn push_query(out: &mut String, query: Option<&str>) {
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
}

/// Splits `host[:port]/path` at the first `/`.
fn split_authority(s: &str) -> (&str, &str) {
    match s.find('/') {
        Some(i) => (
            s.get(..i).unwrap_or_default(),
            s.get(i..).unwrap_or_default(),
        ),
        None => (s, ""),
    }
}

/// A scheme (`[A-Za-z][A-Za-z0-9+.-]*:`) and what follows it.
fn scheme_of(s: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = s.split_once(':')?;
    let mut bytes = scheme.bytes();
    let first = bytes.next()?;
    (first.is_ascii_alphabetic()
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')))
    .then_some((scheme, rest))
}

/// Go's `EscapedPath` of a path set from `raw`: `raw` itself when every
/// byte is allowed unescaped (or is a valid `%XX`), else the decoded path
/// escaped afresh. `None` on a bad `%` escape.
fn escaped_path(raw: &str) -> Option<String> {
    let decoded = unescape(raw)?;
    if raw.bytes().all(valid_encoded) {
        return Some(raw.to_owned());
    }
    let mut out = String::with_capacity(decoded.len() + 8);
    for b in decoded {
        if should_escape(b) {
            out.push('%');
            out.push(char::from(hex_digit(b >> 4, true)));
            out.push(char::from(hex_digit(b, true)));
        } else {
            out.push(char::from(b));
        }
    }
    Some(out)
}

fn unescape(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hi = hex_val(*b.get(i + 1)?)?;
            let lo = hex_val(*b.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    Some(out)
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Go's `shouldEscape(c, encodePath)`.
fn should_escape(c: u8) -> bool {
    !(c.is_ascii_alphanumeric()
        || matches!(
            c,
            b'-' | b'_'
                | b'.'
                | b'~'
                | b'$'
                | b'&'
                | b'+'
                | b','
                | b'/'
                | b':'
                | b';'
                | b'='
                | b'@'
        ))
}

/// Go's `validEncoded(s, encodePath)`, one byte at a time.
fn valid_encoded(c: u8) -> bool {
    matches!(
        c,
        b'!' | b'$'
            | b'&'
            | b'\''
            | b'('
            | b')'
            | b'*'
            | b'+'
            | b','
            | b';'
            | b'='
            | b':'
            | b'@'
            | b'['
            | b']'
            | b'%'
    ) || !should_escape(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_targets_are_unchanged() {
        for t in [
            "/",
            "/api/orders?x=1&y=%20",
            "/a%2Fb/c",
            "/p;matrix=1/(x)*!'[]",
            "/search?q=a b",
            "/q?",
        ] {
            assert_eq!(request_uri("GET", t).as_deref(), Some(t), "{t}");
        }
    }

    #[test]
    fn go_re_escapes_paths_with_bytes_it_does_not_allow() {
        assert_eq!(request_uri("GET", "/a b").as_deref(), Some("/a%20b"));
        assert_eq!(request_uri("GET", "/ä").as_deref(), Some("/%C3%A4"));
        // Re-escaping starts from the decoded path: the %2F becomes '/'.
        assert_eq!(request_uri("GET", "/a%2Fb{").as_deref(), Some("/a/b%7B"));
        assert_eq!(request_uri("GET", "/x#y").as_deref(), Some("/x%23y"));
        assert_eq!(request_uri("GET", "/!{").as_deref(), Some("/%21%7B"));
    }

    #[test]
    fn absolute_connect_and_asterisk_forms() {
        assert_eq!(
            request_uri("GET", "HTTP://Example.com:8080/p?q").as_deref(),
            Some("http://Example.com:8080/p?q")
        );
        assert_eq!(request_uri("GET", "http://h").as_deref(), Some("http://h"));
        assert_eq!(
            request_uri("CONNECT", "db:5432").as_deref(),
            Some("//db:5432")
        );
        assert_eq!(request_uri("OPTIONS", "*").as_deref(), Some("*"));
    }

    #[test]
    fn targets_go_refuses() {
        assert_eq!(request_uri("GET", "/%zz"), None);
        assert_eq!(request_uri("GET", "/%4"), None);
        assert_eq!(request_uri("GET", "relative"), None);
        assert_eq!(request_uri("GET", "/a\x01"), None);
        assert_eq!(request_uri("GET", ""), None);
    }
}
