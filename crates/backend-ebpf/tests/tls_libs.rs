//! TLS libraries beyond OpenSSL 3, with their real programs: GnuTLS
//! (`gnutls-serv --http`, `gnutls-cli`, `wget`), NSS (`selfserv`,
//! `tstclnt`), and the private OpenSSL 1.1 of a Python wheel driven through
//! ctypes. Each side's plaintext is seen once, in order, with its socket's
//! addresses and direction, and never also as ciphertext.
#![cfg(feature = "bpf")]
#![allow(clippy::indexing_slicing, clippy::print_stdout)]

mod common;

use std::process::Command;
use std::time::Duration;

use backend_ebpf::EbpfConfig;
use capture_core::model::{CaptureSource, Direction, TlsLibrary, TrafficDirection};
use capture_core::stats::Counter;
use common::tls_programs::*;
use common::*;
use common::{Got, Stream, browser};

/// No periodic scan during the test: what is captured was probed at start.
/// Only the test's programs, by name, are traced: other load on the host
/// (benchmarks) cannot fill the ring buffer with its traffic.
fn no_rescan(comms: &[&str]) -> EbpfConfig {
    EbpfConfig {
        rescan_interval: Duration::from_secs(3600),
        comms: comms.iter().map(|c| (*c).to_owned()).collect(),
        ..Default::default()
    }
}

/// What one process's side of one exchange must look like.
struct Side<'a> {
    who: &'a str,
    pid: u32,
    library: TlsLibrary,
    /// The server's port.
    port: u16,
    traffic: TrafficDirection,
    request_line: &'a [u8],
    /// The request's body, exactly, when it has one.
    request_body: Option<&'a [u8]>,
    status_line: &'a [u8],
    /// Bytes the response ends with (its body or the end of it).
    response_end: &'a [u8],
}

impl Side<'_> {
    /// Every request and response byte once, in plaintext, on the right socket.
    fn check(&self, cap: &Capture) {
        let who = self.who;
        let (req, resp) = cap.tls_pair(self.pid, who);
        let key = req.key.unwrap();
        assert_eq!(key.server.port(), self.port, "{who}: server address");
        assert_eq!(key.server.ip().to_string(), "127.0.0.1", "{who}");
        assert_eq!(key.client.ip().to_string(), "127.0.0.1", "{who}");
        assert_eq!(key.pid, Some(self.pid), "{who}");
        let (req_bytes, gaps) = req.assemble();
        assert!(gaps.is_empty(), "{who}: request gaps {gaps:?}");
        assert_eq!(req.pieces[0].0, 0, "{who}: request from its first byte");
        assert!(
            req_bytes.starts_with(self.request_line),
            "{who}: request {:?}",
            String::from_utf8_lossy(&req_bytes[..req_bytes.len().min(200)])
        );
        if let Some(body) = self.request_body {
            assert!(
                req_bytes.ends_with(body),
                "{who}: request body ({} bytes captured in all)",
                req_bytes.len()
            );
            assert_eq!(
                req_bytes.len() - body.len(),
                req_bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4,
                "{who}: head then body, nothing else"
            );
        }
        let (resp_bytes, gaps) = resp.assemble();
        assert!(gaps.is_empty(), "{who}: response gaps {gaps:?}");
        assert!(
            resp_bytes.starts_with(self.status_line),
            "{who}: response {:?}",
            String::from_utf8_lossy(&resp_bytes[..resp_bytes.len().min(200)])
        );
        assert!(
            resp_bytes.ends_with(self.response_end),
            "{who}: response end ({} bytes): {:?}",
            resp_bytes.len(),
            String::from_utf8_lossy(&resp_bytes[resp_bytes.len().saturating_sub(100)..])
        );
        // Once: the request and status lines once in their streams, and
        // nothing else captured from the process (no copy, no ciphertext).
        assert_eq!(
            count(&req_bytes, self.request_line),
            1,
            "{who}: request once"
        );
        assert_eq!(
            count(&resp_bytes, self.status_line),
            1,
            "{who}: response once"
        );
        let total: usize = cap.of_pid(self.pid).map(|g| g.data.len()).sum();
        assert_eq!(
            total,
            req_bytes.len() + resp_bytes.len(),
            "{who}: bytes beyond the one request and response"
        );
        for g in cap.of_pid(self.pid) {
            assert_eq!(g.source, CaptureSource::EbpfTls, "{who}: {g:?}");
            assert_eq!(g.tls_library, Some(self.library), "{who}");
            assert_eq!(g.traffic, Some(self.traffic), "{who}");
        }
        assert_eq!(
            assert_no_ciphertext(cap, self.pid, self.port),
            0,
            "{who}: the TLS connection also appeared at the syscall layer"
        );
        println!(
            "{who}: pid {} {key:?}: request {} bytes, response {} bytes, once, in plaintext",
            self.pid,
            req_bytes.len(),
            resp_bytes.len()
        );
    }
}

fn attached_library(src: &backend_ebpf::EbpfSource, library: TlsLibrary) -> bool {
    src.attached().iter().any(|t| t.library == Some(library))
}

#[test]
fn gnutls_client_and_server() {
    let name = "gnutls";
    let Some(_scenario) = Scenario::require(
        name,
        &["gnutls-serv", "gnutls-cli", "wget", "openssl", "python3"],
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (gnutls_dir, py_dir) = (dir.path().join("gnutls"), dir.path().join("py"));
    std::fs::create_dir_all(&gnutls_dir).unwrap();
    std::fs::create_dir_all(&py_dir).unwrap();
    let (gnutls_port, gnutls_serv) = gnutls_serv(&gnutls_dir);
    let request_body = pattern_file(&dir.path().join("request.bin"), 1_500_000);
    let response_body = pattern_file(&dir.path().join("response.bin"), 1_300_000);
    let received = dir.path().join("received.bin");
    let (py_port, _py) = listening_python_server(
        &py_dir,
        &[
            received.as_path(),
            dir.path().join("response.bin").as_path(),
        ],
    );
    let Some(mut src) = open(
        no_rescan(&["gnutls-serv", "gnutls-cli", "wget", "python3"]),
        name,
    ) else {
        return;
    };
    assert!(
        attached_library(&src, TlsLibrary::GnuTls),
        "GnuTLS not probed: {:?}",
        src.attached()
    );

    // GnuTLS on both ends: gnutls-cli to gnutls-serv --http.
    let request = dir.path().join("get.txt");
    std::fs::write(
        &request,
        "GET /gnutls-cli HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let (cli_pid, out) = run(
        Command::new("gnutls-cli")
            .args([
                "--insecure",
                "--port",
                &gnutls_port.to_string(),
                "127.0.0.1",
            ])
            .stdin(std::fs::File::open(&request).unwrap()),
        Duration::from_secs(20),
    );
    assert!(
        contains(&out, b"</HTML>") || contains(&out, b"</html>"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    // A GnuTLS client with bodies over 1 MiB each way (python: OpenSSL 3).
    let fetched = dir.path().join("fetched.bin");
    let (wget_pid, _) = run(
        Command::new("wget")
            .args(["-q", "--no-check-certificate", "-O"])
            .arg(&fetched)
            .arg(format!(
                "--post-file={}",
                dir.path().join("request.bin").display()
            ))
            .arg(format!("https://127.0.0.1:{py_port}/big")),
        Duration::from_secs(30),
    );
    assert_eq!(
        std::fs::read(&fetched).unwrap(),
        response_body,
        "wget got the response"
    );
    assert_eq!(std::fs::read(&received).unwrap(), request_body);

    let server_pid = gnutls_serv.0.id();
    let mut cap = Capture::default();
    poll_until(&mut src, &mut cap, Duration::from_secs(10), |c| {
        let ends = |pid: u32, tail: &[u8]| c.of_pid(pid).any(|g| g.data.ends_with(tail));
        ends(server_pid, b"</HTML>\n\n")
            && ends(cli_pid, b"</HTML>\n\n")
            && ends(wget_pid, &response_body[response_body.len() - 64..])
    });
    let html_end: &[u8] = b"</BODY></HTML>\n\n";
    for side in [
        Side {
            who: "gnutls-cli",
            pid: cli_pid,
            library: TlsLibrary::GnuTls,
            port: gnutls_port,
            traffic: TrafficDirection::Outbound,
            request_line: b"GET /gnutls-cli HTTP/1.1\r\n",
            request_body: None,
            status_line: b"HTTP/1.0 200 OK\r\n",
            response_end: html_end,
        },
        Side {
            who: "gnutls-serv",
            pid: server_pid,
            library: TlsLibrary::GnuTls,
            port: gnutls_port,
            traffic: TrafficDirection::Inbound,
            request_line: b"GET /gnutls-cli HTTP/1.1\r\n",
            request_body: None,
            status_line: b"HTTP/1.0 200 OK\r\n",
            response_end: html_end,
        },
        Side {
            who: "wget",
            pid: wget_pid,
            library: TlsLibrary::GnuTls,
            port: py_port,
            traffic: TrafficDirection::Outbound,
            request_line: b"POST /big HTTP/1.1\r\n",
            request_body: Some(&request_body),
            status_line: b"HTTP/1.1 200 OK\r\n",
            response_end: &response_body,
        },
    ] {
        side.check(&cap);
    }
}

#[test]
fn nss_client_and_server() {
    let name = "nss";
    let Some(_scenario) = Scenario::require(
        name,
        &[
            "selfserv", "tstclnt", "certutil", "pk12util", "openssl", "python3",
        ],
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (nss_dir, py_dir) = (dir.path().join("nss"), dir.path().join("py"));
    std::fs::create_dir_all(&nss_dir).unwrap();
    std::fs::create_dir_all(&py_dir).unwrap();
    let db = nss_db(&nss_dir);
    let (nss_port, selfserv) = selfserv(&db);
    let request_body = pattern_file(&dir.path().join("request.bin"), 1_200_000);
    let response_body = pattern_file(&dir.path().join("response.bin"), 1_400_000);
    let received = dir.path().join("received.bin");
    let (py_port, _py) = listening_python_server(
        &py_dir,
        &[
            received.as_path(),
            dir.path().join("response.bin").as_path(),
        ],
    );
    let Some(mut src) = open(no_rescan(&["selfserv", "tstclnt", "python3"]), name) else {
        return;
    };
    assert!(
        src.attached()
            .iter()
            .any(|t| t.library == Some(TlsLibrary::Nss) && t.symbols.is_empty()),
        "NSS's SSL layer not registered: {:?}",
        src.attached()
    );

    // NSS on both ends: tstclnt to selfserv, which echoes the request.
    let get = b"GET /nss-tstclnt HTTP/1.0\r\nHost: localhost\r\n\r\n";
    std::fs::write(dir.path().join("get.txt"), get).unwrap();
    let cli_pid = run_to_file(
        &mut tstclnt(&db, nss_port, &dir.path().join("get.txt")),
        &dir.path().join("get.out"),
        Duration::from_secs(20),
    );
    let echoed = std::fs::read(dir.path().join("get.out")).unwrap();
    assert!(
        contains(&echoed, b"GET /nss-tstclnt"),
        "{}",
        String::from_utf8_lossy(&echoed)
    );
    // An NSS client with bodies over 1 MiB each way (python: OpenSSL 3).
    let mut post = format!(
        "POST /big HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        request_body.len()
    )
    .into_bytes();
    post.extend_from_slice(&request_body);
    std::fs::write(dir.path().join("post.bin"), &post).unwrap();
    let big_pid = run_to_file(
        &mut tstclnt(&db, py_port, &dir.path().join("post.bin")),
        &dir.path().join("post.out"),
        Duration::from_secs(30),
    );
    assert!(
        std::fs::read(dir.path().join("post.out"))
            .unwrap()
            .ends_with(&response_body)
    );
    assert_eq!(std::fs::read(&received).unwrap(), request_body);

    let server_pid = selfserv.0.id();
    let mut cap = Capture::default();
    let tail = &response_body[response_body.len() - 64..];
    poll_until(&mut src, &mut cap, Duration::from_secs(10), |c| {
        let closed = |pid: u32| c.closed.iter().any(|k| k.pid == Some(pid));
        closed(cli_pid) && closed(server_pid) && c.of_pid(big_pid).any(|g| g.data.ends_with(tail))
    });
    let echo_end: &[u8] = b"\r\nHost: localhost\r\n\r\nEOF\r\n\r\n\r\n";
    for side in [
        // selfserv reads with PR_Read and answers with PR_Writev.
        Side {
            who: "selfserv",
            pid: server_pid,
            library: TlsLibrary::Nss,
            port: nss_port,
            traffic: TrafficDirection::Inbound,
            request_line: b"GET /nss-tstclnt HTTP/1.0\r\n",
            request_body: None,
            status_line: b"HTTP/1.0 200 OK\r\n",
            response_end: echo_end,
        },
        Side {
            who: "tstclnt",
            pid: cli_pid,
            library: TlsLibrary::Nss,
            port: nss_port,
            traffic: TrafficDirection::Outbound,
            request_line: b"GET /nss-tstclnt HTTP/1.0\r\n",
            request_body: None,
            status_line: b"HTTP/1.0 200 OK\r\n",
            response_end: echo_end,
        },
        Side {
            who: "tstclnt (1 MiB bodies)",
            pid: big_pid,
            library: TlsLibrary::Nss,
            port: py_port,
            traffic: TrafficDirection::Outbound,
            request_line: b"POST /big HTTP/1.1\r\n",
            request_body: Some(&request_body),
            status_line: b"HTTP/1.1 200 OK\r\n",
            response_end: &response_body,
        },
    ] {
        side.check(&cap);
    }
    // selfserv's PR_Writev vectors, walked in order, are the bytes tstclnt read.
    let (served, _) = cap.tls_pair(server_pid, "selfserv").1.assemble();
    let (read, _) = cap.tls_pair(cli_pid, "tstclnt").1.assemble();
    assert_eq!(served, read, "selfserv's response as tstclnt read it");
}

#[test]
fn openssl_1_1_vendored_in_a_wheel_is_found_at_the_next_rescan() {
    let name = "openssl_1_1_vendored";
    let Some(_scenario) = Scenario::require(name, &["nginx", "openssl", "python3"]) else {
        return;
    };
    let Some(libssl) = vendored_libssl_1_1(name) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("www");
    std::fs::create_dir_all(&root).unwrap();
    let body = pattern_file(&root.join("big.bin"), 2_000_000);
    let (port, nginx) = nginx_files(dir.path(), &root);
    let cfg = EbpfConfig {
        rescan_interval: Duration::from_millis(300),
        ..Default::default()
    };
    let Some(mut src) = open(cfg, name) else {
        return;
    };
    assert!(
        src.attached().iter().all(|t| !t.path.contains("3a880ada")),
        "not mapped by anyone yet"
    );
    // A long-lived program loads the private copy after the source started.
    let go = dir.path().join("go");
    // Killed on drop: it waits for `go` forever otherwise.
    let mut client = Kid(std::process::Command::new("python3")
        .args(["-c", PY_OPENSSL_1_1_CLIENT])
        .arg(&libssl)
        .arg(port.to_string())
        .arg(&go)
        .arg("/big.bin")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap());
    let client_pid = client.0.id();
    let mut lines =
        std::io::BufRead::lines(std::io::BufReader::new(client.0.stdout.take().unwrap()));
    assert_eq!(lines.next().unwrap().unwrap(), "loaded");
    let mut cap = Capture::default();
    let found = (0..50).find_map(|_| {
        poll_until(
            &mut src,
            &mut Capture::default(),
            Duration::from_millis(200),
            |_| true,
        );
        src.attached()
            .iter()
            .find(|t| t.path.contains("libssl-3a880ada.so.1.1"))
            .cloned()
    });
    let found = found.expect("the vendored libssl found by a rescan");
    println!("found at a rescan: {found}");
    assert_eq!(found.library, Some(TlsLibrary::OpenSsl11));
    assert_eq!(found.pid, client_pid);
    std::fs::write(&go, b"").unwrap();
    let said = lines.next().unwrap().unwrap();
    assert!(said.starts_with(&format!("{} ", body.len())), "{said}");
    let _ = client.0.wait();
    let tail = &body[body.len() - 64..];
    poll_until(&mut src, &mut cap, Duration::from_secs(10), |c| {
        c.of_pid(client_pid).any(|g| g.data.ends_with(tail))
            && children_named(nginx.0.id(), "nginx")
                .iter()
                .all(|w| c.of_pid(*w).any(|g| g.data.ends_with(tail)))
    });
    Side {
        who: "python ctypes (OpenSSL 1.1)",
        pid: client_pid,
        library: TlsLibrary::OpenSsl11,
        port,
        traffic: TrafficDirection::Outbound,
        request_line: b"GET /big.bin HTTP/1.1\r\n",
        request_body: None,
        status_line: b"HTTP/1.1 200 OK\r\n",
        response_end: &body,
    }
    .check(&cap);
    let worker = children_named(nginx.0.id(), "nginx")[0];
    Side {
        who: "nginx (OpenSSL 3)",
        pid: worker,
        library: TlsLibrary::OpenSsl3,
        port,
        traffic: TrafficDirection::Inbound,
        request_line: b"GET /big.bin HTTP/1.1\r\n",
        request_body: None,
        status_line: b"HTTP/1.1 200 OK\r\n",
        response_end: &body,
    }
    .check(&cap);
}

/// Runs one short-lived TLS client against `port` and returns its pid.
fn short_lived(tool: &str, port: u16, dir: &std::path::Path, db: &std::path::Path) -> u32 {
    let url = format!("https://127.0.0.1:{port}/first");
    let out = dir.join(format!("{tool}.out"));
    let request = dir.join("first.txt");
    std::fs::write(
        &request,
        "GET /first HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let limit = Duration::from_secs(20);
    match tool {
        "wget" => run_to_file(
            Command::new("wget").args(["-q", "--no-check-certificate", "-O", "-", &url]),
            &out,
            limit,
        ),
        "curl" => run_to_file(
            Command::new("curl").args(["-sk", "--http1.1", &url]),
            &out,
            limit,
        ),
        "gnutls-cli" => run_to_file(
            Command::new("gnutls-cli")
                .args(["--insecure", "--port", &port.to_string(), "127.0.0.1"])
                .stdin(std::fs::File::open(&request).unwrap()),
            &out,
            limit,
        ),
        _ => run_to_file(&mut tstclnt(db, port, &request), &out, limit),
    }
}

#[test]
fn short_lived_clients_are_captured_from_their_first_request() {
    let name = "short_lived";
    let tools = ["wget", "gnutls-cli", "tstclnt", "curl"];
    let Some(_scenario) = Scenario::require(
        name,
        &[&tools[..], &["python3", "openssl", "certutil", "pk12util"]].concat(),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = nss_db(dir.path());
    let (port, server) = listening_python_server(dir.path(), &[]);
    // No rescan during the test: only what was probed at start can see them.
    let mut comms = tools.to_vec();
    comms.push("python3");
    let Some(mut src) = open(no_rescan(&comms), name) else {
        return;
    };
    for tool in tools {
        let pid = short_lived(tool, port, dir.path(), &db);
        let mut cap = Capture::default();
        poll_until(&mut src, &mut cap, Duration::from_secs(5), |c| {
            c.of_pid(pid)
                .any(|g| contains(&g.data, b"hello from python tls"))
        });
        let (req, resp) = cap.tls_pair(pid, tool);
        let (req_bytes, gaps) = req.assemble();
        assert!(
            gaps.is_empty() && req.pieces[0].0 == 0,
            "{tool}: from byte 0"
        );
        assert!(
            req_bytes.starts_with(b"GET /first HTTP/1.1\r\n"),
            "{tool}: {:?}",
            String::from_utf8_lossy(&req_bytes)
        );
        let (resp_bytes, _) = resp.assemble();
        assert!(
            resp_bytes.starts_with(b"HTTP/1.") && resp_bytes.ends_with(b"hello from python tls\n"),
            "{tool}"
        );
        let lib = cap.of_pid(pid).next().unwrap().tls_library;
        println!("{tool}: pid {pid}, first request captured from byte 0 ({lib:?})");
        // The server (python, OpenSSL 3) saw it too.
        assert!(
            cap.of_pid(server.0.id())
                .any(|g| contains(&g.data, b"GET /first")),
            "{tool}: server side"
        );
    }
}

/// The TLS streams of `pid` on `port`, per connection: (request, response).
fn tls_streams_on(cap: &Capture, pid: u32, port: u16) -> Vec<(Stream, Stream)> {
    let mut streams = cap.streams();
    let keys: Vec<_> = streams
        .iter()
        .filter(|((_, dir, src), s)| {
            *dir == Direction::ClientToServer
                && *src == CaptureSource::EbpfTls
                && s.key
                    .is_some_and(|k| k.pid == Some(pid) && k.server.port() == port)
        })
        .map(|(k, _)| k.clone())
        .collect();
    keys.into_iter()
        .filter_map(|(key, _, src)| {
            let req = streams.remove(&(key.clone(), Direction::ClientToServer, src))?;
            let resp = streams
                .remove(&(key, Direction::ServerToClient, src))
                .unwrap_or_default();
            Some((req, resp))
        })
        .collect()
}

#[test]
fn firefox_fetches_a_page_over_nss() {
    let name = "firefox";
    let Some(_scenario) = Scenario::require(name, &["firefox-esr", "nginx", "openssl", "certutil"])
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ca = browser::ca_signed_server_cert(dir.path());
    let profile = browser::firefox_profile(dir.path(), &ca);
    let root = dir.path().join("www");
    std::fs::create_dir_all(&root).unwrap();
    // 200 kB in a comment: sent, not drawn (a page that wide or tall is
    // past what --screenshot draws, and it then exits 0 without a file).
    let mut page = b"<!doctype html><html><body><!-- ".to_vec();
    page.extend(pattern_file(&dir.path().join("filler"), 200_000));
    page.extend_from_slice(b" --><p>cleartap firefox page end</p></body></html>\n");
    std::fs::write(root.join("index.html"), &page).unwrap();
    let (port, nginx) = nginx_files(dir.path(), &root);
    // Firefox carries its own NSS (libssl3.so under /usr/lib/firefox-esr,
    // outside the dynamic linker's cache): registered at start from the
    // default application directories, so no rescan runs during the test
    // (with only the rescan, a Firefox whose first request comes before
    // the next scan would have it missed).
    let cfg = no_rescan(&["firefox-esr", "nginx"]);
    let Some(mut src) = open(cfg, name) else {
        return;
    };
    let url = format!("https://127.0.0.1:{port}/");
    let mut firefox = browser::firefox_screenshot(dir.path(), &profile, &url)
        .stdout(std::fs::File::create(dir.path().join("firefox.out")).unwrap())
        .stderr(std::fs::File::create(dir.path().join("firefox.err")).unwrap())
        .spawn()
        .expect("firefox-esr");
    let ff_pid = firefox.id();
    let mut cap = Capture::default();
    let end = std::time::Instant::now() + Duration::from_secs(60);
    while firefox.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > end {
            let _ = firefox.kill();
            let _ = firefox.wait();
            panic!("firefox-esr did not finish its screenshot in 60 s");
        }
        poll_until(&mut src, &mut cap, Duration::from_millis(50), |_| true);
    }
    let status = firefox.wait().unwrap();
    assert!(
        status.success() && dir.path().join("shot.png").exists(),
        "firefox-esr: {status}, no screenshot; it said: {}",
        std::fs::read_to_string(dir.path().join("firefox.err")).unwrap_or_default()
    );
    let worker = children_named(nginx.0.id(), "nginx")[0];
    let tail: &[u8] = b"cleartap firefox page end</p></body></html>\n";
    poll_until(&mut src, &mut cap, Duration::from_secs(5), |c| {
        c.of_pid(ff_pid).any(|g| g.data.ends_with(tail))
            && c.of_pid(worker).any(|g| g.data.ends_with(tail))
    });
    let layer = src
        .attached()
        .iter()
        .find(|t| t.library == Some(TlsLibrary::Nss) && t.path.contains("firefox"))
        .cloned();
    println!(
        "Firefox's NSS: {:?}",
        layer.as_ref().map(ToString::to_string)
    );
    assert_eq!(
        layer.map(|t| t.found_by),
        Some(backend_ebpf::discovery::FoundBy::ApplicationDir),
        "Firefox's own libssl3.so probed at start"
    );

    // Firefox may open more than one connection (speculative ones): the
    // one that carried GET / has the page.
    let conns = tls_streams_on(&cap, ff_pid, port);
    let (req, resp) = conns
        .iter()
        .find(|(req, _)| req.assemble().0.starts_with(b"GET / HTTP/1.1\r\n"))
        .unwrap_or_else(|| {
            panic!(
                "firefox: no GET / in its TLS plaintext; {} connections; chunks {:?}",
                conns.len(),
                cap.of_pid(ff_pid)
                    .map(|g| (g.source, g.key, g.data.len()))
                    .collect::<Vec<_>>()
            )
        });
    let (req_bytes, gaps) = req.assemble();
    assert!(
        gaps.is_empty() && req.pieces[0].0 == 0,
        "request from byte 0, whole"
    );
    let head = String::from_utf8_lossy(&req_bytes);
    assert!(
        head.contains(&format!("Host: 127.0.0.1:{port}\r\n")),
        "{head}"
    );
    assert!(head.contains("User-Agent: Mozilla/5.0"), "{head}");
    assert_eq!(count(&req_bytes, b"GET / HTTP/1.1\r\n"), 1, "request once");
    let (resp_bytes, gaps) = resp.assemble();
    assert!(gaps.is_empty(), "response gaps {gaps:?}");
    assert!(
        resp_bytes.starts_with(b"HTTP/1.1 200 OK\r\n"),
        "{:?}",
        String::from_utf8_lossy(&resp_bytes[..resp_bytes.len().min(200)])
    );
    assert_eq!(count(&resp_bytes, &page), 1, "the page, once, whole");
    let key = req.key.unwrap();
    assert_eq!(key.client.ip().to_string(), "127.0.0.1");
    for g in cap.of_pid(ff_pid).filter(|g| g.key == key) {
        assert_eq!(
            (g.source, g.tls_library, g.traffic),
            (
                CaptureSource::EbpfTls,
                Some(TlsLibrary::Nss),
                Some(TrafficDirection::Outbound)
            )
        );
    }
    assert_eq!(
        assert_no_ciphertext(&cap, ff_pid, port),
        0,
        "firefox: its TLS connections also appeared at the syscall layer"
    );
    // nginx's side of the same connection read the same request bytes.
    let served = tls_streams_on(&cap, worker, port)
        .into_iter()
        .find(|(r, _)| r.key.is_some_and(|k| k.client == key.client))
        .expect("nginx's side of Firefox's connection");
    assert_eq!(
        served.0.assemble().0,
        req_bytes,
        "nginx read what Firefox wrote"
    );
    println!(
        "firefox-esr: pid {ff_pid} {key:?}: request {} bytes, response {} bytes, once, in plaintext ({} TLS connections)",
        req_bytes.len(),
        resp_bytes.len(),
        conns.len()
    );
}

/// Compiles tests/c/gnutls_pushpull.c against libgnutls into `dir`, or
/// says why it cannot.
fn build_pushpull(name: &str, dir: &std::path::Path) -> Option<std::path::PathBuf> {
    let flags = Command::new("pkg-config")
        .args(["--cflags", "--libs", "gnutls"])
        .output()
        .ok()
        .filter(|o| o.status.success());
    let Some(flags) = flags else {
        eprintln!("SKIP {name}: no libgnutls headers (libgnutls28-dev; scripts/install-deps.sh)");
        return None;
    };
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c/gnutls_pushpull.c");
    let bin = dir.join("pushpull");
    let out = Command::new("gcc")
        .args(["-O1", "-Wall", "-o"])
        .arg(&bin)
        .arg(&src)
        .args(String::from_utf8_lossy(&flags.stdout).split_whitespace())
        .arg("-lpthread")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "gcc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(bin)
}

/// Runs the push/pull client in `mode`; returns its pid, its session
/// pointer and its stdout.
fn run_pushpull(
    bin: &std::path::Path,
    mode: &str,
    port: u16,
    dir: &std::path::Path,
) -> (u32, u64, Vec<u8>) {
    let err = dir.join(format!("{mode}.err"));
    let out = dir.join(format!("{mode}.out"));
    let mut child = Command::new(bin)
        .args([mode, &port.to_string(), &format!("/pushpull-{mode}")])
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let pid = child.id();
    let end = std::time::Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > end {
            let _ = child.kill();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let said = std::fs::read_to_string(&err).unwrap();
    let session = session_said(&said).unwrap_or_else(|| panic!("pushpull {mode}: {said}"));
    (pid, session, std::fs::read(&out).unwrap())
}

#[test]
fn gnutls_with_its_own_push_pull_functions() {
    let name = "gnutls_push_pull";
    let Some(_scenario) = Scenario::require(name, &["gnutls-serv", "openssl", "gcc", "pkg-config"])
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let Some(bin) = build_pushpull(name, dir.path()) else {
        return;
    };
    let (port, server) = gnutls_serv(dir.path());
    let Some(mut src) = open(no_rescan(&["gnutls-serv", "pushpull"]), name) else {
        return;
    };
    // push/pull on the TCP socket itself, inside the GnuTLS call: tied to
    // the socket like GnuTLS's own transport.
    let (socket_pid, _, out) = run_pushpull(&bin, "socket", port, dir.path());
    assert!(
        out.ends_with(b"</HTML>\n\n"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    // push/pull through a unix socket pair and relay threads: the thread
    // calling GnuTLS never touches the TCP socket, nothing ties the session.
    let (thread_pid, session, out) = run_pushpull(&bin, "thread", port, dir.path());
    assert!(
        out.ends_with(b"</HTML>\n\n"),
        "{}",
        String::from_utf8_lossy(&out)
    );

    let mut cap = Capture::default();
    let tail: &[u8] = b"</HTML>\n\n";
    // The untied session's bytes come out once they waited
    // EbpfConfig::tls_tie_wait (1 s) for a socket.
    let counters = poll_until(&mut src, &mut cap, Duration::from_secs(10), |c| {
        c.of_pid(socket_pid).any(|g| g.data.ends_with(tail))
            && c.of_pid(thread_pid).any(|g| g.data.ends_with(tail))
            && c.of_pid(server.0.id())
                .filter(|g| g.data.ends_with(tail))
                .count()
                == 2
    });
    let html_end: &[u8] = b"</BODY></HTML>\n\n";
    Side {
        who: "pushpull socket",
        pid: socket_pid,
        library: TlsLibrary::GnuTls,
        port,
        traffic: TrafficDirection::Outbound,
        request_line: b"GET /pushpull-socket HTTP/1.1\r\n",
        request_body: None,
        status_line: b"HTTP/1.0 200 OK\r\n",
        response_end: html_end,
    }
    .check(&cap);

    // The untied session: keyed by process and session, counted.
    let (req, resp) = cap.tls_pair(thread_pid, "pushpull thread");
    let key = req.key.unwrap();
    assert_eq!(key.fd, None, "no socket");
    let discard = std::net::Ipv6Addr::from((0x0100u128 << 112) | u128::from(session));
    assert_eq!(
        key.client,
        std::net::SocketAddr::from((discard, 0)),
        "[100::<session>]:0"
    );
    assert_eq!(resp.key, Some(key), "one session, both directions");
    // The client ran in the test's network namespace.
    let netns =
        std::os::unix::fs::MetadataExt::ino(&std::fs::metadata("/proc/self/ns/net").unwrap());
    assert_eq!(key.netns.0, netns, "the process's network namespace");
    let (req_bytes, gaps) = req.assemble();
    assert!(gaps.is_empty() && req.pieces[0].0 == 0);
    assert_eq!(
        req_bytes, b"GET /pushpull-thread HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        "the request, once"
    );
    let (resp_bytes, gaps) = resp.assemble();
    assert!(gaps.is_empty() && resp.pieces[0].0 == 0);
    assert!(resp_bytes.starts_with(b"HTTP/1.0 200 OK\r\n") && resp_bytes.ends_with(html_end));
    assert_eq!(
        count(&resp_bytes, b"HTTP/1.0 200 OK"),
        1,
        "the response, once"
    );
    let untied: Vec<&Got> = cap.of_pid(thread_pid).collect();
    for g in &untied {
        assert_eq!(
            (g.source, g.tls_library, g.key),
            (CaptureSource::EbpfTls, Some(TlsLibrary::GnuTls), key),
            "the relay threads' TLS records are not plaintext"
        );
    }
    // Every chunk handed out unattributed is the untied session's (the
    // socket-mode client and gnutls-serv were tied), each counted once.
    let unattributed = cap.chunks.iter().filter(|g| g.key.fd.is_none()).count();
    assert_eq!(unattributed, untied.len(), "only the untied session");
    assert_eq!(
        counters.get(Counter::TlsUnattributed),
        untied.len() as u64,
        "tls_unattributed counts its chunks"
    );
    // What a user gets out of the pipeline: each client's exchange once,
    // with its method, path, status and pid; the untied one keyed by its
    // session.
    let inputs = cap
        .chunks
        .iter()
        .filter(|g| g.key.pid == Some(socket_pid) || g.key.pid == Some(thread_pid))
        .map(go::Owned::chunk)
        .collect();
    let seen: Vec<go::Seen> = go::exchanges(inputs).iter().map(go::Seen::of).collect();
    for (pid, path, client) in [
        (socket_pid, "/pushpull-socket", None),
        (thread_pid, "/pushpull-thread", Some(key.client.to_string())),
    ] {
        let mine: Vec<&go::Seen> = seen.iter().filter(|x| x.pid == Some(pid)).collect();
        assert_eq!(mine.len(), 1, "{path}: one exchange: {seen:#?}");
        let x = mine[0];
        assert_eq!(
            (x.method.as_str(), x.path.as_str(), x.status),
            ("GET", path, 200),
            "{x:#?}"
        );
        assert_eq!(
            (x.source, x.tls_library),
            (CaptureSource::EbpfTls, Some(TlsLibrary::GnuTls))
        );
        assert!(x.response_body.ends_with(html_end), "{path}: whole body");
        match client {
            Some(c) => assert_eq!(
                (x.client.as_str(), x.server.as_str()),
                (c.as_str(), "[100::]:0")
            ),
            None => assert_eq!(x.server, format!("127.0.0.1:{port}")),
        }
    }
    // gnutls-serv saw both connections over TCP, with addresses.
    let served: Vec<Vec<u8>> = cap
        .streams()
        .into_values()
        .filter(|s| {
            s.key
                .is_some_and(|k| k.pid == Some(server.0.id()) && k.server.port() == port)
        })
        .map(|s| s.assemble().0)
        .filter(|b| b.starts_with(b"GET "))
        .collect();
    for path in ["/pushpull-socket", "/pushpull-thread"] {
        let line = format!("GET {path} HTTP/1.1\r\n");
        assert_eq!(
            served
                .iter()
                .filter(|b| b.starts_with(line.as_bytes()))
                .count(),
            1,
            "gnutls-serv read {path} once"
        );
    }
    println!(
        "pushpull thread: pid {thread_pid} session {session:#x}: request {} bytes, response {} bytes, \
         keyed {key:?}, tls_unattributed {}",
        req_bytes.len(),
        resp_bytes.len(),
        counters.get(Counter::TlsUnattributed)
    );
}

/// The session pointer a push/pull program printed on stderr.
fn session_said(said: &str) -> Option<u64> {
    said.lines()
        .find_map(|l| l.strip_prefix("session 0x"))
        .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
}

#[test]
fn gnutls_server_with_relaying_push_pull_functions() {
    let name = "gnutls_push_pull_server";
    let Some(_scenario) = Scenario::require(name, &["curl", "openssl", "gcc", "pkg-config"]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let Some(bin) = build_pushpull(name, dir.path()) else {
        return;
    };
    let (cert, key) = self_signed(dir.path()).expect("openssl req");
    let Some(mut src) = open(no_rescan(&["pushpull", "curl"]), name) else {
        return;
    };
    // The server's GnuTLS calls go through a unix socket pair and relay
    // threads: nothing ties its session to the accepted socket.
    let port = free_port();
    let err = dir.path().join("serve.err");
    let server = Kid(Command::new(&bin)
        .args(["serve", &port.to_string()])
        .arg(&cert)
        .arg(&key)
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap());
    let end = std::time::Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&err).unwrap().contains("listening") {
        assert!(
            std::time::Instant::now() < end,
            "pushpull serve did not listen"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let url = format!("https://127.0.0.1:{port}/pushpull-server");
    let (curl_pid, body) = run(
        Command::new("curl").args(["-sk", "--http1.1", &url]),
        Duration::from_secs(20),
    );
    assert_eq!(body, b"pushpull server body\n", "curl got the page");
    let server_pid = server.0.id();
    let session = session_said(&std::fs::read_to_string(&err).unwrap()).expect("session line");
    let mut cap = Capture::default();
    let counters = poll_until(&mut src, &mut cap, Duration::from_secs(10), |c| {
        c.of_pid(server_pid).any(|g| g.data.ends_with(&body))
            && c.of_pid(curl_pid).any(|g| g.data.ends_with(&body))
    });
    let served: Vec<&Got> = cap.of_pid(server_pid).collect();
    let discard = std::net::Ipv6Addr::from((0x0100u128 << 112) | u128::from(session));
    for g in &served {
        assert_eq!(
            (g.key.client, g.key.fd, g.source, g.tls_library),
            (
                std::net::SocketAddr::from((discard, 0)),
                None,
                CaptureSource::EbpfTls,
                Some(TlsLibrary::GnuTls)
            ),
            "the server's plaintext, keyed by its session, no ciphertext of its relay"
        );
    }
    assert_eq!(
        counters.get(Counter::TlsUnattributed),
        served.len() as u64,
        "tls_unattributed counts the server's chunks (curl's are tied)"
    );
    let inputs = cap.chunks.iter().map(go::Owned::chunk).collect();
    let seen: Vec<go::Seen> = go::exchanges(inputs).iter().map(go::Seen::of).collect();
    for (pid, library) in [
        (server_pid, TlsLibrary::GnuTls),
        (curl_pid, TlsLibrary::OpenSsl3),
    ] {
        let mine: Vec<&go::Seen> = seen.iter().filter(|x| x.pid == Some(pid)).collect();
        assert_eq!(mine.len(), 1, "pid {pid}: one exchange: {seen:#?}");
        let x = mine[0];
        assert_eq!(
            (
                x.method.as_str(),
                x.path.as_str(),
                x.status,
                x.response_body.as_slice()
            ),
            ("GET", "/pushpull-server", 200, body.as_slice()),
            "{x:#?}"
        );
        assert_eq!(x.tls_library, Some(library), "{x:#?}");
    }
    // The parser found the request in what the server read: the session's
    // address ends up on the server's side of the exchange.
    let untied = seen.iter().find(|x| x.pid == Some(server_pid)).unwrap();
    assert_eq!(
        (untied.client.as_str(), untied.server.clone()),
        ("[100::]:0", format!("[{discard}]:0"))
    );
    println!(
        "pushpull serve: pid {server_pid} session {session:#x}: {} chunks, tls_unattributed {}; \
         exchanges {:?}",
        served.len(),
        counters.get(Counter::TlsUnattributed),
        seen.iter()
            .map(|x| (
                x.pid,
                x.client.as_str(),
                x.server.as_str(),
                x.method.as_str(),
                x.path.as_str(),
                x.status
            ))
            .collect::<Vec<_>>()
    );
}
