//! A fast writer of the JSON record: the same output as the `Serialize`
//! impls in `ser.rs` (a test holds them equal), straight from the heads'
//! bytes, without serde's per-byte escaping or `fmt` machinery on the hot
//! path of the JSON-lines sink. Bytes that are not UTF-8 are written in
//! base64 and said to be (see `ser.rs`).

use std::net::SocketAddr;

use base64::Engine as _;

use super::{Body, ByteStr, ConnInfo, Exchange, Headers, K8sEnd, Request, Response};

/// The high bit of each byte of `w` that needs escaping (SWAR). Only the
/// lowest flagged byte is exact (a borrow may flag bytes above it), which
/// is all the scan needs.
#[inline]
fn escape_mask(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    // Bytes < 0x20 (bytes >= 0x80 never need escaping and are not flagged).
    let below = w.wrapping_sub(ONES * 0x20) & !w & HIGHS;
    below | has_zero(w ^ (ONES * u64::from(b'"'))) | has_zero(w ^ (ONES * u64::from(b'\\')))
}

/// Writes `s` as a JSON string.
pub(crate) fn string(out: &mut Vec<u8>, s: &str) {
    text(out, s.as_bytes());
}

/// Writes `bytes`, known to be UTF-8, as a JSON string. Most strings
/// (header names and values, paths) need no escape: they are found so
/// eight bytes at a time and copied whole. The rest goes to [`escaped`].
#[inline]
fn text(out: &mut Vec<u8>, bytes: &[u8]) {
    let clean = clean_prefix(bytes);
    out.reserve(bytes.len() + 2);
    if clean >= bytes.len() {
        out.extend_from_slice(b"\"");
        out.extend_from_slice(bytes);
        out.extend_from_slice(b"\"");
        return;
    }
    out.push(b'"');
    let (head, rest) = bytes.split_at(clean.min(bytes.len()));
    out.extend_from_slice(head);
    if !rest.is_empty() {
        escaped(out, rest);
    }
    out.push(b'"');
}

/// How many bytes from the start of `bytes` need no escape.
#[inline]
fn clean_prefix(bytes: &[u8]) -> usize {
    let mut words = bytes.chunks_exact(8);
    let mut i = 0;
    for word in &mut words {
        let mask = escape_mask(u64::from_le_bytes(word.try_into().unwrap_or_default()));
        if mask != 0 {
            return i + (mask.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    let tail = words.remainder();
    if tail.is_empty() {
        return i;
    }
    // The last eight bytes as one word, overlapping bytes already found
    // clean (so the lowest flagged byte is still exact).
    if let Some(last) = bytes.len().checked_sub(8).and_then(|at| bytes.get(at..)) {
        let mask = escape_mask(u64::from_le_bytes(last.try_into().unwrap_or_default()));
        return if mask == 0 {
            bytes.len()
        } else {
            bytes.len() - 8 + (mask.trailing_zeros() / 8) as usize
        };
    }
    tail.iter()
        .position(|&b| needs_escape(b))
        .unwrap_or(tail.len())
}

/// Input bytes escaped per step of [`escaped`]: room is made for the worst
/// case of a step (six bytes out per byte in), so it is kept small.
const ESCAPE_STEP: usize = 4096;

/// Writes `bytes` escaped, without quotes. Dense escapes are the common
/// case here (the quotes of a JSON body), so instead of a copy call per
/// run the output goes into room made beforehand: a clean word is stored
/// eight bytes at once, a word with an escape is stored whole and the
/// output advanced only past its clean bytes, then the escape written.
/// Never inlined: inlined, its registers were saved and restored on every
/// call of [`text`], most of which need no escape.
#[inline(never)]
fn escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    for step in bytes.chunks(ESCAPE_STEP) {
        let start = out.len();
        // Six out per byte in, and eight for a whole word stored near the end.
        out.resize(start + step.len() * 6 + 8, 0);
        let Some(dst) = out.get_mut(start..) else {
            return;
        };
        let mut i = 0;
        let mut j = 0;
        while i < step.len() {
            if let (Some(word), Some(to)) = (step.get(i..i + 8), dst.get_mut(j..j + 8)) {
                to.copy_from_slice(word);
                let mask = escape_mask(u64::from_le_bytes(word.try_into().unwrap_or_default()));
                if mask == 0 {
                    i += 8;
                    j += 8;
                    continue;
                }
                let k = (mask.trailing_zeros() / 8) as usize;
                i += k;
                j += k;
            }
            let Some(&b) = step.get(i) else {
                break;
            };
            j += put_escaped(dst, j, b);
            i += 1;
        }
        out.truncate(start + j);
    }
}

/// Writes `b` at `dst[at..]`, escaped if it must be; returns how many
/// bytes that took.
#[inline]
fn put_escaped(dst: &mut [u8], at: usize, b: u8) -> usize {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let short = match b {
        b'"' => b'"',
        b'\\' => b'\\',
        b'\n' => b'n',
        b'\r' => b'r',
        b'\t' => b't',
        0x08 => b'b',
        0x0c => b'f',
        0..0x20 => {
            let hi = HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0');
            let lo = HEX.get(usize::from(b & 0xf)).copied().unwrap_or(b'0');
            if let Some(to) = dst.get_mut(at..at + 6) {
                to.copy_from_slice(&[b'\\', b'u', b'0', b'0', hi, lo]);
            }
            return 6;
        }
        _ => {
            if let Some(to) = dst.get_mut(at) {
                *to = b;
            }
            return 1;
        }
    };
    if let Some(to) = dst.get_mut(at..at + 2) {
        to.copy_from_slice(&[b'\\', short]);
    }
    2
}

/// Bytes that must be escaped in a JSON string: controls, `"` and `\\`.
const fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// Writes `bytes` in base64 as a JSON string.
fn base64_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    let start = out.len();
    let len = base64::encoded_len(bytes.len(), true).unwrap_or(0);
    out.resize(start + len, 0);
    if let Some(dst) = out.get_mut(start..) {
        let written = base64::engine::general_purpose::STANDARD
            .encode_slice(bytes, dst)
            .unwrap_or(0);
        out.truncate(start + written);
    }
    out.push(b'"');
}

/// Writes a field that may not be text: `key` then the value, and
/// `encoding` (`,"x_encoding":"base64"`) when it had to be base64.
fn field(out: &mut Vec<u8>, key: &'static [u8], encoding: &'static [u8], v: Option<ByteStr<'_>>) {
    lit(out, key);
    match v {
        None => lit(out, b"null"),
        Some(v) if v.is_text() => text(out, v.as_bytes()),
        Some(v) => {
            base64_string(out, v.as_bytes());
            lit(out, encoding);
        }
    }
}

fn uint(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
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

fn socket_addr(out: &mut Vec<u8>, addr: &SocketAddr) {
    match addr {
        SocketAddr::V4(v4) => {
            // `"255.255.255.255:` is 17 bytes; room for four whole stores.
            let start = out.len();
            out.resize(start + 20, 0);
            let mut j = start + 1;
            if let Some(quote) = out.get_mut(start) {
                *quote = b'"';
            }
            for octet in v4.ip().octets() {
                let (digits, len) = OCTETS.get(usize::from(octet)).copied().unwrap_or_default();
                if let Some(to) = out.get_mut(j..j + 4) {
                    to.copy_from_slice(&digits);
                }
                j += usize::from(len);
            }
            // The last dot becomes the colon.
            if let Some(colon) = out.get_mut(j - 1) {
                *colon = b':';
            }
            out.truncate(j);
            uint(out, u64::from(v4.port()));
        }
        SocketAddr::V6(_) => {
            out.push(b'"');
            out.extend_from_slice(addr.to_string().as_bytes());
        }
    }
    out.push(b'"');
}

/// Appends a literal; inlined so that the copy has a constant size.
#[inline(always)]
fn lit(out: &mut Vec<u8>, bytes: &'static [u8]) {
    out.extend_from_slice(bytes);
}

fn opt_uint(out: &mut Vec<u8>, v: Option<u64>) {
    match v {
        Some(n) => uint(out, n),
        None => lit(out, b"null"),
    }
}

fn opt_string(out: &mut Vec<u8>, v: Option<&str>) {
    match v {
        Some(s) => string(out, s),
        None => lit(out, b"null"),
    }
}

fn headers(out: &mut Vec<u8>, list: &Headers) {
    out.push(b'[');
    for (i, h) in list.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let (name, value) = (h.name(), h.value());
        let (n, v) = (name.as_bytes(), value.as_bytes());
        if name.is_text()
            && value.is_text()
            && clean_prefix(n) == n.len()
            && clean_prefix(v) == v.len()
        {
            // The common field, nothing to escape: one capacity check.
            out.reserve(n.len() + v.len() + 6);
            out.extend_from_slice(b"[\"");
            out.extend_from_slice(n);
            out.extend_from_slice(b"\",\"");
            out.extend_from_slice(v);
            out.extend_from_slice(b"\"]");
        } else if name.is_text() && value.is_text() {
            out.push(b'[');
            text(out, name.as_bytes());
            out.push(b',');
            text(out, value.as_bytes());
            out.push(b']');
        } else {
            out.push(b'[');
            base64_string(out, name.as_bytes());
            out.push(b',');
            base64_string(out, value.as_bytes());
            lit(out, b",\"base64\"]");
        }
    }
    out.push(b']');
}

/// The body fields, each after a comma.
fn body(out: &mut Vec<u8>, b: &Body) {
    lit(out, b",\"body_size\":");
    uint(out, b.size);
    lit(out, b",\"body\":");
    match b.as_str() {
        Some(s) => {
            string(out, s);
            lit(out, b",\"body_encoding\":\"utf8\"");
        }
        None => {
            base64_string(out, &b.data);
            lit(out, b",\"body_encoding\":\"base64\"");
        }
    }
    lit(
        out,
        if b.truncated {
            b",\"truncated\":true"
        } else {
            b",\"truncated\":false"
        },
    );
}

fn conn(out: &mut Vec<u8>, c: &ConnInfo) {
    lit(out, b"{\"client\":");
    socket_addr(out, &c.client);
    lit(out, b",\"server\":");
    socket_addr(out, &c.server);
    lit(out, b",\"netns\":");
    opt_uint(out, c.netns);
    lit(out, b",\"pid\":");
    opt_uint(out, c.pid.map(u64::from));
    lit(out, b",\"comm\":");
    opt_string(out, c.comm.as_deref());
    if let Some(fd) = c.fd {
        lit(out, b",\"fd\":");
        uint(out, u64::from(fd));
    }
    if !c.k8s.is_empty() {
        lit(out, b",\"k8s\":{");
        if let Some(e) = &c.k8s.client {
            lit(out, b"\"client\":");
            k8s_end(out, e);
        }
        if let Some(e) = &c.k8s.server {
            if c.k8s.client.is_some() {
                out.push(b',');
            }
            lit(out, b"\"server\":");
            k8s_end(out, e);
        }
        out.push(b'}');
    }
    out.push(b'}');
}

fn k8s_end(out: &mut Vec<u8>, e: &K8sEnd) {
    lit(out, b"{\"namespace\":");
    string(out, &e.pod.namespace);
    lit(out, b",\"pod\":");
    string(out, &e.pod.name);
    if let Some(c) = &e.container {
        lit(out, b",\"container\":");
        string(out, c);
    }
    lit(out, b",\"workload\":");
    string(out, &e.pod.workload);
    lit(out, b",\"workload_kind\":");
    string(out, e.pod.workload_kind.as_str());
    out.push(b'}');
}

fn trailers(out: &mut Vec<u8>, list: &Headers) {
    if !list.is_empty() {
        lit(out, b",\"trailers\":");
        headers(out, list);
    }
}

fn request(out: &mut Vec<u8>, r: &Request) {
    lit(out, b"{\"ts\":");
    uint(out, r.ts.as_nanos());
    field(
        out,
        b",\"method\":",
        b",\"method_encoding\":\"base64\"",
        Some(r.method()),
    );
    field(
        out,
        b",\"path\":",
        b",\"path_encoding\":\"base64\"",
        Some(r.path()),
    );
    field(
        out,
        b",\"authority\":",
        b",\"authority_encoding\":\"base64\"",
        r.authority(),
    );
    lit(out, b",\"headers\":");
    headers(out, r.headers());
    trailers(out, &r.trailers);
    body(out, &r.body);
    out.push(b'}');
}

fn response(out: &mut Vec<u8>, r: &Response) {
    lit(out, b"{\"ts\":");
    uint(out, r.ts.as_nanos());
    lit(out, b",\"end_ts\":");
    uint(out, r.end_ts.as_nanos());
    lit(out, b",\"status\":");
    uint(out, u64::from(r.status));
    if let Some(reason) = r.reason() {
        field(
            out,
            b",\"reason\":",
            b",\"reason_encoding\":\"base64\"",
            Some(reason),
        );
    }
    lit(out, b",\"headers\":");
    headers(out, r.headers());
    trailers(out, &r.trailers);
    body(out, &r.body);
    out.push(b'}');
}

/// Appends the JSON record of `ex` to `out`.
pub(crate) fn exchange(out: &mut Vec<u8>, ex: &Exchange) {
    lit(out, b"{\"protocol\":");
    string(out, ex.protocol.as_str());
    lit(out, b",\"source\":");
    string(out, ex.source.as_str());
    if let Some(lib) = ex.tls_library {
        lit(out, b",\"tls_library\":");
        string(out, lib.as_str());
    }
    lit(out, b",\"conn\":");
    conn(out, &ex.conn);
    if let Some(d) = &ex.direction {
        lit(out, b",\"direction\":");
        string(out, d.as_str());
    }
    lit(out, b",\"stream_id\":");
    opt_uint(out, ex.stream_id.map(u64::from));
    lit(out, b",\"request\":");
    match &ex.request {
        Some(r) => request(out, r),
        None => lit(out, b"null"),
    }
    lit(out, b",\"response\":");
    match &ex.response {
        Some(r) => response(out, r),
        None => lit(out, b"null"),
    }
    if let Some(g) = &ex.grpc {
        lit(out, b",\"grpc\":");
        // Rare and small: serde is fine here.
        if serde_json::to_writer(&mut *out, g).is_err() {
            lit(out, b"null");
        }
    }
    lit(out, b",\"flags\":[");
    for (i, f) in ex.flags.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(out, f.as_str());
    }
    lit(out, b"]}");
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
