//! Keep exchanges by request header, as Akto's `AKTO_MODULE_DISCOVERY_CONFIG`.
//!
//! The configuration is a JSON array of rules:
//!
//! ```json
//! [{"key": {"eq": "x-forwarded-client-cert", "ifAbsent": "reject"},
//!   "value": {"regex": ".*bookinfo.*"}}]
//! ```
//!
//! An exchange is kept only if every rule passes. A rule looks up the request
//! header named `eq`, ignoring ASCII case:
//! - present: the rule passes if `regex` matches anywhere in the value
//!   (unanchored; anchor with `^…$` to match the whole value);
//! - absent: the rule fails only if `ifAbsent` is `reject` (any case);
//!   any other value, or none, lets the exchange through.
//!
//! `host` is always present: it is the `Host` header or HTTP/2
//! `:authority`, empty if the request had neither (as in Akto, where the
//! request's host is always put in the header map). When a header appears
//! more than once, the last value is the one matched, as Akto's header map
//! keeps it. A rule with an empty `eq` is ignored. Object keys are matched
//! ignoring case, as Go's JSON decoder does.
//!
//! Unlike Akto, which falls back silently to its default rule on invalid
//! JSON and to `.*` on an invalid regex, an invalid configuration here is an
//! error naming the problem.

use regex::bytes::Regex;
use serde_json::Value;

use super::{ExchangeFilter, FilterError, request_host};
use crate::model::{Exchange, Request};

/// What a rule does when its header is missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IfAbsent {
    /// Reject the exchange.
    Reject,
    /// Let the exchange through (any `ifAbsent` other than `reject`).
    Accept,
}

/// One rule of a [`HeaderFilter`].
#[derive(Clone, Debug)]
pub struct HeaderRule {
    /// The header name, compared ignoring ASCII case.
    pub name: String,
    /// What to do when the header is missing.
    pub if_absent: IfAbsent,
    /// Must match somewhere in the header's value (its exact bytes).
    pub value: Regex,
}

impl HeaderRule {
    /// True if `req` passes this rule.
    pub fn passes(&self, req: Option<&Request>) -> bool {
        match header_value(req, &self.name) {
            Some(v) => self.value.is_match(v),
            None => self.if_absent == IfAbsent::Accept,
        }
    }
}

/// The value of header `name` of `req` as Akto's header map holds it.
fn header_value<'r>(req: Option<&'r Request>, name: &str) -> Option<&'r [u8]> {
    if name.eq_ignore_ascii_case("host") || name == ":authority" {
        return Some(req.map_or(&b""[..], |r| request_host(r).as_bytes()));
    }
    req?.headers().get_last(name).map(|v| v.as_bytes())
}

/// Keeps an exchange only if its request passes every rule.
#[derive(Clone, Debug, Default)]
pub struct HeaderFilter {
    rules: Vec<HeaderRule>,
}

impl HeaderFilter {
    /// A filter from rules (an empty list keeps everything).
    pub fn new(rules: Vec<HeaderRule>) -> Self {
        Self { rules }
    }

    /// Akto's rule when `AKTO_MODULE_DISCOVERY_CONFIG` is unset: if
    /// `x-envoy-peer-metadata-id` is present it must contain `sidecar`,
    /// which keeps only traffic between Envoy sidecars and their applications.
    pub fn akto_default() -> Self {
        Self::new(vec![HeaderRule {
            name: "x-envoy-peer-metadata-id".into(),
            if_absent: IfAbsent::Accept,
            value: Regex::new(".*sidecar.*").expect("a constant, valid regex"),
        }])
    }

    /// Parses an `AKTO_MODULE_DISCOVERY_CONFIG` value. `null` gives a filter
    /// that keeps everything.
    pub fn from_json(json: &str) -> Result<Self, FilterError> {
        let v: Value = serde_json::from_str(json).map_err(FilterError::Json)?;
        let items = match &v {
            Value::Null => return Ok(Self::default()),
            Value::Array(items) => items,
            other => {
                return Err(shape(
                    format!("expected an array, found {}", kind(other)),
                    "",
                ));
            }
        };
        let mut rules = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let at = |path: &str| format!("[{i}]{path}");
            if !matches!(item, Value::Object(_) | Value::Null) {
                return Err(shape(
                    format!("expected an object, found {}", kind(item)),
                    &at(""),
                ));
            }
            let key = object(item, "key", &at(".key"))?;
            let name = string(key, "eq", &at(".key.eq"))?;
            let if_absent = string(key, "ifAbsent", &at(".key.ifAbsent"))?;
            let value = object(item, "value", &at(".value"))?;
            let regex = string(value, "regex", &at(".value.regex"))?;
            if name.is_empty() {
                continue; // Akto skips a rule without a header name.
            }
            let compiled = Regex::new(regex).map_err(|e| FilterError::Regex {
                index: i,
                header: name.to_owned(),
                regex: regex.to_owned(),
                source: Box::new(e),
            })?;
            rules.push(HeaderRule {
                name: name.to_owned(),
                if_absent: if if_absent.eq_ignore_ascii_case("reject") {
                    IfAbsent::Reject
                } else {
                    IfAbsent::Accept
                },
                value: compiled,
            });
        }
        Ok(Self { rules })
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[HeaderRule] {
        &self.rules
    }
}

impl ExchangeFilter for HeaderFilter {
    fn keep(&self, exchange: &Exchange) -> bool {
        let req = exchange.request.as_ref();
        self.rules.iter().all(|r| r.passes(req))
    }
}

fn shape(what: String, at: &str) -> FilterError {
    FilterError::Shape {
        what,
        at: if at.is_empty() {
            "the top level".into()
        } else {
            at.into()
        },
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The member `name` of `obj`, matched ignoring case as Go does.
fn member<'v>(obj: &'v Value, name: &str) -> Option<&'v Value> {
    let map = obj.as_object()?;
    map.get(name).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// An object member; missing or null gives `null` (Go's zero value).
fn object<'v>(obj: &'v Value, name: &str, at: &str) -> Result<&'v Value, FilterError> {
    match member(obj, name) {
        None | Some(Value::Null) => Ok(&Value::Null),
        Some(v @ Value::Object(_)) => Ok(v),
        Some(v) => Err(shape(format!("expected an object, found {}", kind(v)), at)),
    }
}

/// A string member; missing or null gives "" (Go's zero value).
fn string<'v>(obj: &'v Value, name: &str, at: &str) -> Result<&'v str, FilterError> {
    match member(obj, name) {
        None | Some(Value::Null) => Ok(""),
        Some(Value::String(s)) => Ok(s),
        Some(v) => Err(shape(format!("expected a string, found {}", kind(v)), at)),
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::filter::testing::exchange;

    fn filter(json: &str) -> HeaderFilter {
        HeaderFilter::from_json(json).unwrap()
    }

    fn rule(eq: &str, if_absent: &str, regex: &str) -> String {
        format!(
            r#"[{{"key":{{"eq":"{eq}","ifAbsent":"{if_absent}"}},"value":{{"regex":"{regex}"}}}}]"#
        )
    }

    #[test]
    fn present_header_must_match_the_regex() {
        let f = filter(&rule("x-forwarded-client-cert", "reject", ".*bookinfo.*"));
        let yes = exchange(
            "10.0.0.2:80",
            &[("X-Forwarded-Client-Cert", "By=spiffe://bookinfo/ns")],
        );
        let no = exchange(
            "10.0.0.2:80",
            &[("x-forwarded-client-cert", "By=spiffe://shop/ns")],
        );
        assert!(f.keep(&yes));
        assert!(!f.keep(&no));
    }

    #[test]
    fn header_names_match_ignoring_case() {
        let f = filter(&rule("X-TENANT", "reject", "blue"));
        assert!(f.keep(&exchange("10.0.0.2:80", &[("x-tenant", "blue")])));
        assert!(f.keep(&exchange("10.0.0.2:80", &[("X-Tenant", "blue")])));
    }

    #[test]
    fn regex_is_unanchored() {
        let f = filter(&rule("x-tenant", "reject", "lu"));
        assert!(f.keep(&exchange("10.0.0.2:80", &[("x-tenant", "blue")])));
        let anchored = filter(&rule("x-tenant", "reject", "^lu$"));
        assert!(!anchored.keep(&exchange("10.0.0.2:80", &[("x-tenant", "blue")])));
    }

    #[test]
    fn missing_header_rejects_only_with_if_absent_reject() {
        let plain = exchange("10.0.0.2:80", &[("Host", "a")]);
        assert!(!filter(&rule("x-tenant", "reject", ".*")).keep(&plain));
        assert!(!filter(&rule("x-tenant", "REJECT", ".*")).keep(&plain));
        assert!(filter(&rule("x-tenant", "accept", "^never$")).keep(&plain));
        assert!(filter(&rule("x-tenant", "", "^never$")).keep(&plain));
        assert!(filter(r#"[{"key":{"eq":"x-tenant"},"value":{"regex":"x"}}]"#).keep(&plain));
    }

    #[test]
    fn every_rule_must_pass() {
        let f = filter(
            r#"[{"key":{"eq":"x-a","ifAbsent":"reject"},"value":{"regex":"1"}},
                {"key":{"eq":"x-b","ifAbsent":"reject"},"value":{"regex":"2"}}]"#,
        );
        assert!(f.keep(&exchange("10.0.0.2:80", &[("x-a", "1"), ("x-b", "2")])));
        assert!(!f.keep(&exchange("10.0.0.2:80", &[("x-a", "1"), ("x-b", "3")])));
        assert!(!f.keep(&exchange("10.0.0.2:80", &[("x-a", "1")])));
    }

    #[test]
    fn host_is_a_header_and_always_present() {
        let f = filter(&rule("host", "reject", r"^api\\.shop$"));
        assert!(f.keep(&exchange("10.0.0.2:80", &[("Host", "api.shop")])));
        assert!(!f.keep(&exchange("10.0.0.2:80", &[("Host", "api.other")])));
        // HTTP/2: `:authority` is the host.
        assert!(f.keep(&exchange("10.0.0.2:80", &[(":authority", "api.shop")])));
        // No host at all: present but empty, so the regex decides.
        assert!(!f.keep(&exchange("10.0.0.2:80", &[])));
        let empty_ok = filter(&rule("Host", "reject", "^$"));
        assert!(empty_ok.keep(&exchange("10.0.0.2:80", &[])));
    }

    #[test]
    fn last_value_of_a_repeated_header_is_matched() {
        let f = filter(&rule("x-a", "reject", "^2$"));
        assert!(f.keep(&exchange("10.0.0.2:80", &[("x-a", "1"), ("X-A", "2")])));
        assert!(!f.keep(&exchange("10.0.0.2:80", &[("x-a", "2"), ("X-A", "1")])));
    }

    #[test]
    fn rule_without_a_name_is_ignored_and_empty_regex_matches_all() {
        let f = filter(&rule("", "reject", "^never$"));
        assert!(f.rules().is_empty());
        assert!(f.keep(&exchange("10.0.0.2:80", &[])));
        let g = filter(&rule("x-a", "reject", ""));
        assert!(g.keep(&exchange("10.0.0.2:80", &[("x-a", "anything")])));
    }

    #[test]
    fn keys_match_ignoring_case_like_go() {
        let f = filter(r#"[{"Key":{"EQ":"x-a","IFABSENT":"reject"},"Value":{"Regex":"1"}}]"#);
        assert_eq!(f.rules().len(), 1);
        assert_eq!(f.rules()[0].if_absent, IfAbsent::Reject);
        assert!(!f.keep(&exchange("10.0.0.2:80", &[])));
    }

    #[test]
    fn null_and_empty_arrays_keep_everything() {
        assert!(filter("null").keep(&exchange("10.0.0.2:80", &[])));
        assert!(filter("[]").keep(&exchange("10.0.0.2:80", &[])));
    }

    #[test]
    fn exchange_without_request_has_only_an_empty_host() {
        let mut ex = exchange("10.0.0.2:80", &[("x-a", "1")]);
        ex.request = None;
        assert!(!filter(&rule("x-a", "reject", ".*")).keep(&ex));
        assert!(filter(&rule("x-a", "accept", "^1$")).keep(&ex));
    }

    #[test]
    fn akto_default_keeps_sidecar_traffic_and_traffic_without_the_header() {
        let f = HeaderFilter::akto_default();
        assert!(f.keep(&exchange("10.0.0.2:80", &[])));
        assert!(f.keep(&exchange(
            "10.0.0.2:80",
            &[("x-envoy-peer-metadata-id", "sidecar~10.1.1.1~pod.ns~ns.svc")]
        )));
        assert!(!f.keep(&exchange(
            "10.0.0.2:80",
            &[("x-envoy-peer-metadata-id", "router~10.1.1.1~gw.ns")]
        )));
    }

    #[test]
    fn invalid_json_is_an_error_that_says_so() {
        let e = HeaderFilter::from_json("[{").unwrap_err();
        assert!(matches!(e, FilterError::Json(_)));
        assert!(e.to_string().contains("not valid JSON"), "{e}");
    }

    #[test]
    fn wrong_shapes_name_the_place() {
        let e = HeaderFilter::from_json(r#"{"key":{}}"#).unwrap_err();
        assert!(
            e.to_string().contains("expected an array, found an object"),
            "{e}"
        );
        let e = HeaderFilter::from_json(r#"[{"key":{"eq":5},"value":{}}]"#).unwrap_err();
        assert!(e.to_string().contains("[0].key.eq"), "{e}");
        let e = HeaderFilter::from_json(r#"[{"key":{"eq":"a"}}, 3]"#).unwrap_err();
        assert!(e.to_string().contains("[1]"), "{e}");
        let e = HeaderFilter::from_json(r#"[{"key":"x"}]"#).unwrap_err();
        assert!(e.to_string().contains("[0].key"), "{e}");
    }

    #[test]
    fn invalid_regex_names_rule_header_and_expression() {
        let e = HeaderFilter::from_json(&rule("x-a", "reject", "(")).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, FilterError::Regex { index: 0, .. }));
        assert!(msg.contains("x-a") && msg.contains("\"(\""), "{msg}");
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any text is either a filter or an error, never a panic.
        #[test]
        fn any_text_parses_or_errs(s in ".{0,200}") {
            let _ = HeaderFilter::from_json(&s);
        }

        /// Any JSON value is either a filter or an error, never a panic.
        #[test]
        fn any_rule_shape_parses_or_errs(
            eq in proptest::option::of(".{0,8}"),
            if_absent in proptest::option::of("(reject|accept|REJECT|x|)"),
            regex in proptest::option::of(".{0,8}"),
            key_is_string in any::<bool>(),
        ) {
            let key = if key_is_string {
                serde_json::json!("k")
            } else {
                serde_json::json!({"eq": eq, "ifAbsent": if_absent})
            };
            let rules = serde_json::json!([{"key": key, "value": {"regex": regex}}]);
            let _ = HeaderFilter::from_json(&rules.to_string());
        }
    }
}
