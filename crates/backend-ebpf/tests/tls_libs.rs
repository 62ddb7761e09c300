//! TLS libraries beyond OpenSSL 3, with their real programs: GnuTLS
//! (`gnutls-serv --http`, `gnutls-cli`, `wget`), NSS (`selfserv`,
//! `tstclnt`), and the private OpenSSL 1.1 of a Python wheel driven through
//! ctypes. Each side's plaintext is seen once, in order, with its socket's
//! addresses and direction, and never also as ciphertext.
#![cfg(feature = "bpf")]
#![allow(clippy::indexing_slicing, clippy::print_stdout)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use backend_ebpf::EbpfConfig;
use capture_core::model::{CaptureSource, TlsLibrary, TrafficDirection};
use common::tls_programs::*;
use common::*;

/// No periodic scan during the test: what is captured was probed at start.
fn no_rescan() -> EbpfConfig {
    EbpfConfig {
        rescan_interval: Duration::from_secs(3600),
        ..Default::default()
    }
}

/// What one process's side of one exchange must look like.
struct Side<'a> {
    who: &'a str,
    pid: u32,
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
        // Once: across every chunk of the process, whatever its source.
        let all: Vec<u8> = cap.of_pid(self.pid).flat_map(|g| g.data.clone()).collect();
        assert_eq!(count(&all, self.request_line), 1, "{who}: request once");
        assert_eq!(count(&all, self.status_line), 1, "{who}: response once");
        for g in cap.of_pid(self.pid) {
            assert_eq!(g.source, CaptureSource::EbpfTls, "{who}: {g:?}");
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
    if !can_run(name)
        || !have_tools(
            name,
            &["gnutls-serv", "gnutls-cli", "wget", "openssl", "python3"],
        )
    {
        return;
    }
    let _g = serial();
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
    let Some(mut src) = open(no_rescan(), name) else {
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

#[allow(dead_code)]
fn unused(_: &Path) {}
