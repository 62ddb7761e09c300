//! The serde form of a record: the JSON-lines contract (README, "Records"),
//! byte for byte what the fast writer in `json.rs` produces (a property
//! test holds them equal).
//!
//! How bytes that are not UTF-8 text are stated:
//! - a header (or trailer) field is `["Name","value"]` when both are text,
//!   else `["TmFtZQ==","dmFsdWU=","base64"]` with both in base64;
//! - `method`, `path`, `authority` and `reason` are text, or base64 with a
//!   sibling `"<field>_encoding":"base64"` right after them;
//! - a body is text with `"body_encoding":"utf8"`, or base64 with
//!   `"body_encoding":"base64"`.

use base64::Engine as _;
use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};

use super::{Body, ByteStr, Exchange, Header, Headers, Request, Response};

/// Base64 of `bytes`, as the JSON states bytes that are not text.
pub(crate) fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Writes `key` (text, or base64 and `key_encoding`).
fn field<M: SerializeMap>(
    m: &mut M,
    key: &'static str,
    encoding_key: &'static str,
    v: Option<ByteStr<'_>>,
) -> Result<(), M::Error> {
    match v {
        None => m.serialize_entry(key, &None::<&str>),
        Some(v) => match v.as_str() {
            Some(s) => m.serialize_entry(key, s),
            None => {
                m.serialize_entry(key, &base64(&v))?;
                m.serialize_entry(encoding_key, "base64")
            }
        },
    }
}

impl Serialize for Header<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match (self.name_str(), self.value_str()) {
            (Some(n), Some(v)) => {
                let mut seq = s.serialize_seq(Some(2))?;
                seq.serialize_element(n)?;
                seq.serialize_element(v)?;
                seq.end()
            }
            _ => {
                let mut seq = s.serialize_seq(Some(3))?;
                seq.serialize_element(&base64(&self.name()))?;
                seq.serialize_element(&base64(&self.value()))?;
                seq.serialize_element("base64")?;
                seq.end()
            }
        }
    }
}

impl Serialize for Headers {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

struct BodyFields<'a>(&'a Body);

impl BodyFields<'_> {
    fn write<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        map.serialize_entry("body_size", &self.0.size)?;
        match self.0.as_str() {
            Some(s) => {
                map.serialize_entry("body", s)?;
                map.serialize_entry("body_encoding", "utf8")?;
            }
            None => {
                map.serialize_entry("body", &base64(&self.0.data))?;
                map.serialize_entry("body_encoding", "base64")?;
            }
        }
        map.serialize_entry("truncated", &self.0.truncated)
    }
}

impl Serialize for Request {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("ts", &self.ts)?;
        field(&mut m, "method", "method_encoding", Some(self.method()))?;
        field(&mut m, "path", "path_encoding", Some(self.path()))?;
        field(&mut m, "authority", "authority_encoding", self.authority())?;
        m.serialize_entry("headers", self.headers())?;
        if !self.trailers.is_empty() {
            m.serialize_entry("trailers", &self.trailers)?;
        }
        BodyFields(&self.body).write(&mut m)?;
        m.end()
    }
}

impl Serialize for Response {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("ts", &self.ts)?;
        m.serialize_entry("end_ts", &self.end_ts)?;
        m.serialize_entry("status", &self.status)?;
        if let Some(reason) = self.reason() {
            field(&mut m, "reason", "reason_encoding", Some(reason))?;
        }
        m.serialize_entry("headers", self.headers())?;
        if !self.trailers.is_empty() {
            m.serialize_entry("trailers", &self.trailers)?;
        }
        BodyFields(&self.body).write(&mut m)?;
        m.end()
    }
}

impl Serialize for Exchange {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("protocol", &self.protocol)?;
        m.serialize_entry("source", &self.source)?;
        if let Some(lib) = &self.tls_library {
            m.serialize_entry("tls_library", lib)?;
        }
        m.serialize_entry("conn", &self.conn)?;
        if let Some(d) = &self.direction {
            m.serialize_entry("direction", d)?;
        }
        m.serialize_entry("stream_id", &self.stream_id)?;
        m.serialize_entry("request", &self.request)?;
        m.serialize_entry("response", &self.response)?;
        if let Some(g) = &self.grpc {
            m.serialize_entry("grpc", g)?;
        }
        m.serialize_entry("flags", &self.flags)?;
        m.end()
    }
}
