//! Configuration files of the programs tests start (nginx, …), kept as
//! files under `testdata/` with `{{name}}` placeholders that the test fills
//! in, rather than as escaped `format!` strings in the test's source.

use super::bundled;

/// The file `testdata/<name>` with every `{{key}}` replaced by its value.
///
/// Panics, naming the file, when it cannot be read or when a placeholder is
/// left unfilled (a misspelt key would otherwise reach the program).
///
/// ```
/// let port = 8443;
/// let conf = capture_core::testkit::filled_config(
///     "nginx/tls-hello.conf",
///     &[
///         ("dir", "/tmp/t".into()),
///         ("port", port.to_string()),
///         ("cert", "c.pem".into()),
///         ("key", "k.pem".into()),
///     ],
/// );
/// assert!(conf.contains("listen 127.0.0.1:8443 ssl;"));
/// ```
pub fn filled_config(name: &str, values: &[(&str, String)]) -> String {
    let path = bundled(name);
    let mut text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    for (key, value) in values {
        text = text.replace(&format!("{{{{{key}}}}}"), value);
    }
    if let Some(at) = text.find("{{") {
        let rest = text.get(at..).unwrap_or_default();
        let placeholder = rest.split_inclusive("}}").next().unwrap_or(rest);
        panic!("{}: {placeholder} is not filled in", path.display());
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_placeholder_left_unfilled_is_named() {
        let err = std::panic::catch_unwind(|| {
            filled_config(
                "nginx/tls-hello.conf",
                &[("dir", "/tmp".into()), ("port", "1".into())],
            )
        })
        .unwrap_err();
        let msg = err.downcast_ref::<String>().unwrap();
        assert!(
            msg.contains("tls-hello.conf: {{cert}} is not filled in"),
            "{msg}"
        );
    }
}
