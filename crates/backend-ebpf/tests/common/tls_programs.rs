//! Real TLS programs of other libraries as test fixtures: GnuTLS's
//! `gnutls-serv`, NSS's `selfserv` with its certificate database, and the
//! private OpenSSL 1.1 a Python wheel carries. Everything lives under the
//! test's temp dir and listens on a free loopback port.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{Kid, free_port, self_signed};

/// `gnutls-serv --http` with a fresh self-signed certificate in `dir`.
pub fn gnutls_serv(dir: &Path) -> (u16, Kid) {
    let (cert, key) = self_signed(dir).expect("openssl req");
    let port = free_port();
    let kid = Kid::serving(
        Command::new("gnutls-serv")
            .args(["--http", "--port", &port.to_string()])
            .arg(format!("--x509certfile={}", cert.display()))
            .arg(format!("--x509keyfile={}", key.display())),
        port,
        Duration::from_secs(10),
    );
    (port, kid)
}

/// An NSS certificate database in `dir/nssdb` holding a self-signed server
/// certificate and key under the nickname `server`.
pub fn nss_db(dir: &Path) -> PathBuf {
    let (cert, key) = match (dir.join("cert.pem"), dir.join("key.pem")) {
        (c, k) if c.exists() && k.exists() => (c, k),
        _ => self_signed(dir).expect("openssl req"),
    };
    let db = dir.join("nssdb");
    std::fs::create_dir_all(&db).unwrap();
    let sql = format!("sql:{}", db.display());
    let p12 = dir.join("server.p12");
    for (what, cmd) in [
        (
            "certutil -N",
            Command::new("certutil")
                .args(["-N", "--empty-password", "-d", &sql])
                .status(),
        ),
        (
            "openssl pkcs12",
            Command::new("openssl")
                .args(["pkcs12", "-export", "-name", "server", "-passout", "pass:"])
                .arg("-in")
                .arg(&cert)
                .arg("-inkey")
                .arg(&key)
                .arg("-out")
                .arg(&p12)
                .status(),
        ),
        (
            "pk12util",
            Command::new("pk12util")
                .args(["-W", "", "-d", &sql])
                .arg("-i")
                .arg(&p12)
                .stdout(Stdio::null())
                .status(),
        ),
    ] {
        assert!(cmd.is_ok_and(|s| s.success()), "{what} failed");
    }
    db
}

/// NSS's `selfserv` serving TLS from `db` (it answers a GET with an
/// HTTP/1.0 response that echoes the request).
pub fn selfserv(db: &Path) -> (u16, Kid) {
    let port = free_port();
    let kid = Kid::serving(
        Command::new("selfserv")
            .arg("-d")
            .arg(format!("sql:{}", db.display()))
            .args(["-n", "server", "-p", &port.to_string()]),
        port,
        Duration::from_secs(10),
    );
    (port, kid)
}

/// `tstclnt` sending the file `request` to `port` and printing the reply.
pub fn tstclnt(db: &Path, port: u16, request: &Path) -> Command {
    let mut cmd = Command::new("tstclnt");
    cmd.arg("-d")
        .arg(format!("sql:{}", db.display()))
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-o", "-f"])
        .stdin(std::fs::File::open(request).unwrap());
    cmd
}

/// The pinned wheel whose private OpenSSL 1.1 the tests drive.
pub const PSYCOPG2_WHEEL: &str = "psycopg2-binary==2.9.5";

/// The private `libssl-<hash>.so.1.1` of the psycopg2-binary wheel
/// (installed by scripts/install-deps.sh), or `None` with the reason printed.
pub fn vendored_libssl_1_1(name: &str) -> Option<PathBuf> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import glob, os, psycopg2; d = os.path.dirname(psycopg2.__file__); \
             print('\\n'.join(glob.glob(os.path.join(d, '..', 'psycopg2_binary.libs', 'libssl-*.so.1.1'))))",
        ])
        .output()
        .ok()?;
    let found = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .map(|l| PathBuf::from(l.trim()));
    if found.is_none() {
        eprintln!(
            "SKIP {name}: the {PSYCOPG2_WHEEL} wheel's libssl-*.so.1.1 is not installed \
             (scripts/install-deps.sh installs it)"
        );
    }
    found.and_then(|p| p.canonicalize().ok())
}

/// A Python client that speaks HTTPS through the OpenSSL 1.1 at argv[1]
/// with ctypes (SSL_CTX_new, SSL_connect, SSL_write, SSL_read), to
/// 127.0.0.1:argv[2]. It loads the library, prints `loaded`, waits until
/// the file argv[3] exists, then sends `GET argv[4]` and prints the
/// response body's length and its first bytes.
pub const PY_OPENSSL_1_1_CLIENT: &str = r#"
import ctypes, glob, os, socket, sys, time
lib, port, go, path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
# Its libcrypto sits beside it under a hashed name too (found through
# psycopg2's RPATH when psycopg2 loads it).
for crypto in glob.glob(os.path.join(os.path.dirname(lib), "libcrypto-*.so.1.1")):
    ctypes.CDLL(crypto, mode=ctypes.RTLD_GLOBAL)
ssl = ctypes.CDLL(lib)
print("loaded", flush=True)
while not os.path.exists(go):
    time.sleep(0.05)
ssl.OPENSSL_init_ssl(0, None)
ssl.TLS_client_method.restype = ctypes.c_void_p
ssl.SSL_CTX_new.restype = ctypes.c_void_p
ssl.SSL_CTX_new.argtypes = [ctypes.c_void_p]
ssl.SSL_new.restype = ctypes.c_void_p
ssl.SSL_new.argtypes = [ctypes.c_void_p]
for f in ("SSL_set_fd", "SSL_connect", "SSL_write", "SSL_read", "SSL_shutdown", "SSL_free"):
    getattr(ssl, f).argtypes = [ctypes.c_void_p] + ([ctypes.c_int] if f == "SSL_set_fd" else
        [ctypes.c_char_p, ctypes.c_int] if f in ("SSL_write", "SSL_read") else [])
ctx = ssl.SSL_CTX_new(ssl.TLS_client_method())
s = socket.create_connection(("127.0.0.1", port))
conn = ssl.SSL_new(ctx)
ssl.SSL_set_fd(conn, s.fileno())
assert ssl.SSL_connect(conn) == 1, "handshake"
req = ("GET %s HTTP/1.1\r\nHost: localhost\r\nX-Lib: openssl-1.1\r\nConnection: close\r\n\r\n" % path).encode()
assert ssl.SSL_write(conn, req, len(req)) == len(req)
buf = ctypes.create_string_buffer(65536)
data = b""
while True:
    n = ssl.SSL_read(conn, buf, len(buf))
    if n <= 0:
        break
    data += buf.raw[:n]
ssl.SSL_shutdown(conn)
ssl.SSL_free(conn)
body = data.split(b"\r\n\r\n", 1)[1]
print(len(body), body[:32].decode("latin-1"), flush=True)
"#;

/// nginx serving the files of `root` over TLS (certificate in `dir`).
pub fn nginx_files(dir: &Path, root: &Path) -> (u16, Kid) {
    super::nginx(dir, "tls-files.conf", root)
}

/// `len` bytes of a repeating, position-dependent pattern (so a missing or
/// repeated piece shows), written to `path`.
pub fn pattern_file(path: &Path, len: usize) -> Vec<u8> {
    let data: Vec<u8> = (0..len)
        .map(|i| b"abcdefghijklmnopqrstuvwxyz0123456789"[(i / 7) % 36])
        .collect();
    std::fs::write(path, &data).unwrap();
    data
}

/// Runs `cmd` to completion (killed after `limit`) with its output in the
/// file `out` (a pipe would fill up with large bodies); returns its pid.
pub fn run_to_file(cmd: &mut Command, out: &Path, limit: Duration) -> u32 {
    let mut child = cmd
        .stdout(std::fs::File::create(out).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    let end = std::time::Instant::now() + limit;
    while child.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > end {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.wait();
    pid
}
