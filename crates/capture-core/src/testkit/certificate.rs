//! A self-signed certificate for the TLS servers tests start (nginx,
//! python, caddy, …), made by the `openssl` command.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Writes a fresh self-signed RSA certificate for `name` and its key to
/// `dir/cert.pem` and `dir/key.pem`, valid for a day: the two paths. A
/// `name` that is an IP address is also the certificate's subjectAltName
/// (clients that check names send no SNI for an IP).
///
/// Panics when `openssl req` fails (`scripts/install-deps.sh` installs it).
pub fn self_signed(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let mut cmd = Command::new("openssl");
    cmd.args([
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
    ])
    .arg("-subj")
    .arg(format!("/CN={name}"));
    if name.parse::<std::net::IpAddr>().is_ok() {
        cmd.arg("-addext").arg(format!("subjectAltName=IP:{name}"));
    }
    let made = cmd
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        made,
        "openssl req could not make a certificate in {}",
        dir.display()
    );
    (cert, key)
}
