//! A real browser as a test client: a certificate authority the browser
//! trusts, a server certificate it signed for 127.0.0.1, and a fresh
//! Firefox profile in the test's temp dir.
//!
//! Why Firefox earlier never sent its request: `openssl req -x509` makes a
//! self-signed certificate that is its own CA (`CA:TRUE`), and Firefox
//! refuses a CA certificate used as a server's (and an untrusted one
//! anyway): the handshake fails at certificate verification, the error
//! page is shown, no request goes out, and `--screenshot` then waits. A
//! CA trusted in the profile's NSS database (`certutil -t C,,`) and a leaf
//! with `CA:FALSE` and a `subjectAltName` for 127.0.0.1 make it load.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A CA and a server certificate for 127.0.0.1 it signed, in `dir`:
/// `ca.pem`, and `cert.pem`/`key.pem` where the test servers look for
/// them. Returns the CA's path.
pub fn ca_signed_server_cert(dir: &Path) -> PathBuf {
    let ca = dir.join("ca.pem");
    let ext = dir.join("leaf.ext");
    std::fs::write(
        &ext,
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
         extendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let p = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let steps: [(&str, Vec<String>); 3] = [
        (
            "CA",
            vec![
                "req".into(),
                "-x509".into(),
                "-newkey".into(),
                "rsa:2048".into(),
                "-nodes".into(),
                "-days".into(),
                "1".into(),
                "-subj".into(),
                "/CN=cleartap test CA".into(),
                "-keyout".into(),
                p("ca.key"),
                "-out".into(),
                p("ca.pem"),
            ],
        ),
        (
            "server request",
            vec![
                "req".into(),
                "-newkey".into(),
                "rsa:2048".into(),
                "-nodes".into(),
                "-subj".into(),
                "/CN=localhost".into(),
                "-keyout".into(),
                p("key.pem"),
                "-out".into(),
                p("leaf.csr"),
            ],
        ),
        (
            "server certificate",
            vec![
                "x509".into(),
                "-req".into(),
                "-in".into(),
                p("leaf.csr"),
                "-CA".into(),
                p("ca.pem"),
                "-CAkey".into(),
                p("ca.key"),
                "-CAcreateserial".into(),
                "-days".into(),
                "1".into(),
                "-extfile".into(),
                p("leaf.ext"),
                "-out".into(),
                p("cert.pem"),
            ],
        ),
    ];
    for (what, args) in steps {
        let ok = Command::new("openssl")
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "openssl: {what} failed");
    }
    ca
}

/// Preferences of the test profile: no first-run pages, no background
/// services, and every non-loopback connection sent to a closed loopback
/// port as a proxy (Firefox never proxies loopback) with no fallback to a
/// direct connection, so the browser reaches nothing but the test's server
/// (checked with strace: no DNS query, no connect beyond 127.0.0.1).
const USER_JS: &str = r#"
user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("browser.startup.homepage_override.mstone", "ignore");
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("datareporting.healthreport.uploadEnabled", false);
user_pref("toolkit.telemetry.enabled", false);
user_pref("app.update.enabled", false);
user_pref("app.normandy.enabled", false);
user_pref("extensions.update.enabled", false);
user_pref("browser.safebrowsing.malware.enabled", false);
user_pref("browser.safebrowsing.phishing.enabled", false);
user_pref("browser.safebrowsing.downloads.enabled", false);
user_pref("network.captive-portal-service.enabled", false);
user_pref("network.connectivity-service.enabled", false);
user_pref("network.dns.disablePrefetch", true);
user_pref("network.prefetch-next", false);
user_pref("security.OCSP.enabled", 0);
user_pref("network.proxy.type", 1);
user_pref("network.proxy.http", "127.0.0.1");
user_pref("network.proxy.http_port", 9);
user_pref("network.proxy.ssl", "127.0.0.1");
user_pref("network.proxy.ssl_port", 9);
user_pref("network.proxy.no_proxies_on", "");
user_pref("network.proxy.failover_direct", false);
user_pref("services.settings.server", "data:,#remote-settings-dummy/v1");
user_pref("browser.region.network.url", "");
user_pref("browser.region.update.enabled", false);
user_pref("geo.provider.network.url", "");
user_pref("network.trr.mode", 5);
"#;

/// A Firefox profile in `dir` whose NSS database trusts the CA at `ca`.
pub fn firefox_profile(dir: &Path, ca: &Path) -> PathBuf {
    let profile = dir.join("profile");
    std::fs::create_dir_all(&profile).unwrap();
    let db = format!("sql:{}", profile.display());
    let ok = |c: &mut Command| {
        c.stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    assert!(
        ok(Command::new("certutil").args(["-N", "--empty-password", "-d", &db])),
        "certutil -N"
    );
    assert!(
        ok(Command::new("certutil")
            .args(["-A", "-n", "cleartap-test-ca", "-t", "C,,", "-d", &db, "-i"])
            .arg(ca)),
        "certutil -A"
    );
    std::fs::write(profile.join("user.js"), USER_JS).unwrap();
    profile
}

/// `firefox-esr --headless --screenshot` of `url` with `profile`, and HOME
/// in `dir` so that nothing of the user's is read or written. (As root it
/// runs with its content sandbox as it is: the hang had another cause.)
pub fn firefox_screenshot(dir: &Path, profile: &Path, url: &str) -> Command {
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut cmd = Command::new("firefox-esr");
    cmd.env("HOME", &home)
        // Release builds ignore `services.settings.server` (user.js)
        // without it, and fetch remote settings from Mozilla at start.
        .env("MOZ_REMOTE_SETTINGS_DEVTOOLS", "1")
        .args(["--headless", "--no-remote", "--profile"])
        .arg(profile)
        .arg("--screenshot")
        .arg(dir.join("shot.png"))
        .arg(url);
    cmd
}
