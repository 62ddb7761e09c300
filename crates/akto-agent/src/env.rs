//! Reading environment variables the way Akto's collector names them, but
//! strictly: where Akto falls back to a default on a value it cannot parse
//! (or reads anything but `true` as false), an invalid value here is an
//! [`Error::Env`] naming the variable, so a typo stops the agent at startup
//! instead of silently changing what it captures.

use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::Error;

/// A snapshot of the environment. An empty or blank value counts as unset, as in Akto.
#[derive(Clone, Debug, Default)]
pub struct Env {
    vars: HashMap<String, String>,
}

impl Env {
    /// The process environment.
    pub fn from_process() -> Self {
        Self {
            vars: std::env::vars().collect(),
        }
    }

    /// The given variables.
    pub fn from_map(vars: HashMap<String, String>) -> Self {
        Self { vars }
    }

    /// The variables given as `(name, value)` pairs.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self::from_map(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        )
    }

    /// The trimmed value of `var`, or `None` when unset or blank.
    pub fn get(&self, var: &str) -> Option<&str> {
        self.vars
            .get(var)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// Whether `var` is set to something not blank.
    pub fn is_set(&self, var: &str) -> bool {
        self.get(var).is_some()
    }

    /// Every variable, for the heartbeat's environment report.
    pub fn all(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// A string, `default` when unset.
    pub fn string(&self, var: &str, default: &str) -> String {
        self.get(var).unwrap_or(default).to_owned()
    }

    /// `true` or `false` in any case. Akto reads every other value as false;
    /// here it is an error, so that `1` or `yes` cannot mean the opposite of
    /// what the user meant.
    pub fn flag(&self, var: &'static str, default: bool) -> Result<bool, Error> {
        let Some(v) = self.get(var) else {
            return Ok(default);
        };
        if v.eq_ignore_ascii_case("true") {
            Ok(true)
        } else if v.eq_ignore_ascii_case("false") {
            Ok(false)
        } else {
            Err(invalid(
                var,
                v,
                "expected true or false (Akto's collector reads anything but `true` as false)",
            ))
        }
    }

    /// A whole number within `range`.
    pub fn int<T>(
        &self,
        var: &'static str,
        default: T,
        range: RangeInclusive<T>,
    ) -> Result<T, Error>
    where
        T: FromStr + PartialOrd + std::fmt::Display + Copy,
    {
        let Some(v) = self.get(var) else {
            return Ok(default);
        };
        let n: T = v.parse().map_err(|_| {
            invalid(
                var,
                v,
                &format!(
                    "expected a whole number from {} to {}",
                    range.start(),
                    range.end()
                ),
            )
        })?;
        if !range.contains(&n) {
            return Err(invalid(
                var,
                v,
                &format!(
                    "out of range: expected {} to {}",
                    range.start(),
                    range.end()
                ),
            ));
        }
        Ok(n)
    }

    /// A whole number of mebibytes within `range`, as bytes. Akto's
    /// collector counts its memory settings in MiB (1024 × 1024 bytes).
    pub fn mebibytes(
        &self,
        var: &'static str,
        default: u64,
        range: RangeInclusive<u64>,
    ) -> Result<u64, Error> {
        Ok(self.int(var, default, range)? << 20)
    }

    /// A positive duration given in `unit`s (fractions allowed, such as `0.5`).
    pub fn duration(&self, var: &'static str, default: f64, unit: Unit) -> Result<Duration, Error> {
        let v = self.get(var);
        let n = match v {
            None => default,
            Some(v) => v.parse::<f64>().map_err(|_| {
                invalid(
                    var,
                    v,
                    &format!("expected a number of {}, such as 30 or 0.5", unit.name()),
                )
            })?,
        };
        let secs = n * unit.seconds();
        if !(secs.is_finite() && secs > 0.0 && secs <= 86_400.0 * 365.0) {
            return Err(invalid(
                var,
                v.unwrap_or_default(),
                &format!("expected a positive number of {}", unit.name()),
            ));
        }
        Ok(Duration::from_secs_f64(secs))
    }

    /// A comma-separated list; blank items are skipped, as in Akto.
    pub fn list(&self, var: &str) -> Vec<String> {
        self.get(var)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A path, `default` when unset.
    pub fn path(&self, var: &str, default: &str) -> PathBuf {
        PathBuf::from(self.get(var).unwrap_or(default))
    }
}

/// The unit a duration variable is given in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Seconds.
    Seconds,
    /// Minutes.
    Minutes,
}

impl Unit {
    fn seconds(self) -> f64 {
        match self {
            Self::Seconds => 1.0,
            Self::Minutes => 60.0,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Seconds => "seconds",
            Self::Minutes => "minutes",
        }
    }
}

/// The error for `var` set to `value`.
pub(crate) fn invalid(var: &'static str, value: &str, reason: &str) -> Error {
    Error::Env {
        var,
        value: value.to_owned(),
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_counts_as_unset_and_values_are_trimmed() {
        let env = Env::from_pairs([("A", "  "), ("B", " 7 ")]);
        assert_eq!(env.get("A"), None);
        assert_eq!(env.int("B", 1, 0..=10).unwrap(), 7);
    }

    #[test]
    fn flags_accept_only_true_and_false() {
        let env = Env::from_pairs([("T", "TRUE"), ("F", "false"), ("X", "1")]);
        assert!(env.flag("T", false).unwrap());
        assert!(!env.flag("F", true).unwrap());
        let e = env.flag("X", false).unwrap_err().to_string();
        assert!(e.contains("X=\"1\"") && e.contains("true or false"), "{e}");
        assert!(env.flag("UNSET", true).unwrap());
    }

    #[test]
    fn durations_in_units() {
        let env = Env::from_pairs([("M", "0.5"), ("S", "-1"), ("Z", "x")]);
        assert_eq!(
            env.duration("M", 1.0, Unit::Minutes).unwrap(),
            Duration::from_secs(30)
        );
        assert!(env.duration("S", 1.0, Unit::Seconds).is_err());
        assert!(
            env.duration("Z", 1.0, Unit::Seconds)
                .unwrap_err()
                .to_string()
                .contains("number of seconds")
        );
    }

    #[test]
    fn lists_skip_blank_items() {
        let env = Env::from_pairs([("L", " 1, ,2 ,")]);
        assert_eq!(env.list("L"), ["1", "2"]);
    }
}
