//! The errors of this crate.

/// What can go wrong when setting up the HTTP parser.
///
/// Parsing itself never fails: malformed traffic is flagged on the
/// exchanges it belongs to and counted by reason.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value cannot work.
    #[error("invalid HTTP parser configuration: `{field}` {reason} — change it in HttpConfig")]
    InvalidConfig {
        /// The field of [`crate::HttpConfig`].
        field: &'static str,
        /// Why the value is refused.
        reason: &'static str,
    },
}
