//! Which pods a user asks for: namespaces, pod-name globs and a Kubernetes
//! label selector (`app=web,tier!=db,env in (prod,stage),!canary`), parsed
//! and matched without I/O.

use capture_core::model::Pod;

use crate::Error;

/// One requirement of a label selector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Requirement {
    /// `key=value` or `key==value`.
    Equals(String, String),
    /// `key!=value` (also true when the label is absent).
    NotEquals(String, String),
    /// `key in (a,b)`.
    In(String, Vec<String>),
    /// `key notin (a,b)` (also true when the label is absent).
    NotIn(String, Vec<String>),
    /// `key`: the label is set.
    Exists(String),
    /// `!key`: the label is not set.
    DoesNotExist(String),
}

impl Requirement {
    fn matches(&self, pod: &Pod) -> bool {
        match self {
            Self::Equals(k, v) => pod.label(k) == Some(v.as_str()),
            Self::NotEquals(k, v) => pod.label(k) != Some(v.as_str()),
            Self::In(k, vs) => pod.label(k).is_some_and(|l| vs.iter().any(|v| v == l)),
            Self::NotIn(k, vs) => !pod.label(k).is_some_and(|l| vs.iter().any(|v| v == l)),
            Self::Exists(k) => pod.label(k).is_some(),
            Self::DoesNotExist(k) => pod.label(k).is_none(),
        }
    }
}

/// A label selector: every requirement must hold. The empty selector
/// selects every pod.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelector {
    /// The requirements, in the order written.
    pub requirements: Vec<Requirement>,
}

impl LabelSelector {
    /// Parses Kubernetes' selector syntax (`kubectl -l`).
    pub fn parse(text: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::Selector {
            selector: text.to_owned(),
            reason: why.to_owned(),
        };
        let mut requirements = Vec::new();
        for term in split_terms(text) {
            let term = term.trim();
            if term.is_empty() {
                continue;
            }
            let req = if let Some(key) = term.strip_prefix('!') {
                Requirement::DoesNotExist(key_of(key.trim()).map_err(|w| bad(&w))?)
            } else if let Some((k, v)) = term.split_once("!=") {
                Requirement::NotEquals(key_of(k.trim()).map_err(|w| bad(&w))?, v.trim().to_owned())
            } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                Requirement::Equals(key_of(k.trim()).map_err(|w| bad(&w))?, v.trim().to_owned())
            } else if let Some((k, set)) = set_term(term, " notin ") {
                Requirement::NotIn(key_of(k).map_err(|w| bad(&w))?, set.map_err(|w| bad(&w))?)
            } else if let Some((k, set)) = set_term(term, " in ") {
                Requirement::In(key_of(k).map_err(|w| bad(&w))?, set.map_err(|w| bad(&w))?)
            } else {
                Requirement::Exists(key_of(term).map_err(|w| bad(&w))?)
            };
            requirements.push(req);
        }
        Ok(Self { requirements })
    }

    /// True when every requirement holds for `pod`'s labels.
    pub fn matches(&self, pod: &Pod) -> bool {
        self.requirements.iter().all(|r| r.matches(pod))
    }
}

/// Splits at commas outside parentheses.
fn split_terms(text: &str) -> Vec<&str> {
    let mut terms = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                terms.push(text.get(start..i).unwrap_or_default());
                start = i + 1;
            }
            _ => {}
        }
    }
    terms.push(text.get(start..).unwrap_or_default());
    terms
}

type SetTerm<'a> = (&'a str, Result<Vec<String>, String>);

/// `key in (a,b)` / `key notin (a,b)`.
fn set_term<'a>(term: &'a str, op: &str) -> Option<SetTerm<'a>> {
    let (key, rest) = term.split_once(op)?;
    let values = rest
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .map(|inner| {
            inner
                .split(',')
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .collect::<Vec<_>>()
        })
        .filter(|vs| !vs.is_empty())
        .ok_or_else(|| format!("{op:?} needs a parenthesised, non-empty list of values"));
    Some((key.trim(), values))
}

fn key_of(key: &str) -> Result<String, String> {
    let ok = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/'));
    if ok {
        Ok(key.to_owned())
    } else {
        Err(format!("{key:?} is not a label key"))
    }
}

/// A shell-style pattern over pod names: `*` any run of characters, `?`
/// one character.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Glob(String);

impl Glob {
    /// A pattern.
    pub fn new(pattern: impl Into<String>) -> Self {
        Self(pattern.into())
    }

    /// True when `name` matches the whole pattern.
    pub fn matches(&self, name: &str) -> bool {
        let p: Vec<char> = self.0.chars().collect();
        let n: Vec<char> = name.chars().collect();
        // Iterative matching with one backtrack point: linear in practice,
        // never exponential.
        let (mut pi, mut ni) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while ni < n.len() {
            match p.get(pi) {
                Some('*') => {
                    star = Some((pi, ni));
                    pi += 1;
                }
                Some(&c) if c == '?' || Some(&c) == n.get(ni) => {
                    pi += 1;
                    ni += 1;
                }
                _ => match star {
                    Some((sp, sn)) => {
                        pi = sp + 1;
                        ni = sn + 1;
                        star = Some((sp, sn + 1));
                    }
                    None => return false,
                },
            }
        }
        p.get(pi..).unwrap_or_default().iter().all(|&c| c == '*')
    }
}

/// The pods a user selected: in one of `namespaces` (any when empty),
/// named by one of `pod_names` (any when empty), and matching `labels`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodSelector {
    /// Kubernetes namespaces; empty: every namespace.
    pub namespaces: Vec<String>,
    /// Pod-name patterns; empty: every name.
    pub pod_names: Vec<Glob>,
    /// A label selector; empty: every pod.
    pub labels: LabelSelector,
}

impl PodSelector {
    /// True when the selector asks for nothing in particular (every pod).
    pub fn is_everything(&self) -> bool {
        self.namespaces.is_empty()
            && self.pod_names.is_empty()
            && self.labels.requirements.is_empty()
    }

    /// True when `pod` is selected.
    pub fn matches(&self, pod: &Pod) -> bool {
        (self.namespaces.is_empty() || self.namespaces.contains(&pod.namespace))
            && (self.pod_names.is_empty() || self.pod_names.iter().any(|g| g.matches(&pod.name)))
            && self.labels.matches(pod)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use capture_core::model::WorkloadKind;

    fn pod(ns: &str, name: &str, labels: &[(&str, &str)]) -> Pod {
        Pod {
            namespace: ns.into(),
            name: name.into(),
            uid: String::new(),
            workload: name.into(),
            workload_kind: WorkloadKind::Pod,
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
        }
    }

    #[test]
    fn every_selector_operator() {
        let p = pod("shop", "web-1", &[("app", "web"), ("env", "prod")]);
        let yes = [
            "",
            "app=web",
            "app==web",
            "app = web , env=prod",
            "app!=db",
            "tier!=x",
            "env in (prod, stage)",
            "env notin (dev)",
            "tier notin (a)",
            "app",
            "!tier",
            "app=web,env in (prod),!canary",
        ];
        for s in yes {
            assert!(LabelSelector::parse(s).unwrap().matches(&p), "{s}");
        }
        let no = [
            "app=db",
            "app!=web",
            "env in (dev,stage)",
            "env notin (prod)",
            "tier",
            "!app",
            "tier in (a)",
        ];
        for s in no {
            assert!(!LabelSelector::parse(s).unwrap().matches(&p), "{s}");
        }
    }

    #[test]
    fn malformed_selectors_say_why() {
        for s in [
            "=web",
            "env in prod",
            "env in ()",
            "a b=c",
            "!",
            "app in (x",
        ] {
            let e = LabelSelector::parse(s).unwrap_err();
            assert!(e.to_string().contains(s), "{s}: {e}");
        }
    }

    #[test]
    fn globs_match_whole_names() {
        let g = |p: &str, n: &str| Glob::new(p).matches(n);
        assert!(g("web-*", "web-7d9f-x2k4p"));
        assert!(g("*", ""));
        assert!(g("db-?", "db-0"));
        assert!(!g("db-?", "db-10"));
        assert!(g("*-0", "ledger-0"));
        assert!(!g("web", "web-1"));
        assert!(g("a*b*c", "aXXbYYc"));
        assert!(!g("a*b*c", "aXXbYY"));
        // Many stars on a long name stay fast.
        assert!(!g(&"*a".repeat(40), &"a".repeat(39)));
    }

    #[test]
    fn pod_selector_combines_namespace_name_and_labels() {
        let p = pod("shop", "web-1", &[("app", "web")]);
        assert!(PodSelector::default().matches(&p));
        assert!(PodSelector::default().is_everything());
        let s = PodSelector {
            namespaces: vec!["pay".into(), "shop".into()],
            pod_names: vec![Glob::new("web-*")],
            labels: LabelSelector::parse("app=web").unwrap(),
        };
        assert!(s.matches(&p));
        assert!(!s.matches(&pod("other", "web-1", &[("app", "web")])));
        assert!(!s.matches(&pod("shop", "db-1", &[("app", "web")])));
        assert!(!s.matches(&pod("shop", "web-1", &[("app", "db")])));
    }
}
