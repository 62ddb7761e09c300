//! End to end: curl → TLS → nginx, captured by `examples/akto_agent` with
//! eBPF, read back from the `akto.api.logs` topic of a tansu broker.
//!
//! Needs root, nginx, openssl, curl, tansu and the example binary (built by
//! `cargo test --all-features`, or `cargo build --example akto_agent
//! --features ebpf,akto,http`; `AKTO_AGENT_BIN` points elsewhere). Skips
//! with the reason otherwise.
#![allow(clippy::indexing_slicing, clippy::print_stderr)]

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use common::{Broker, free_port, wait_for};
use serde_json::Value;

/// Kills a child process when dropped.
struct Guard(Option<Child>);

impl Guard {
    fn pid(&self) -> u32 {
        self.0.as_ref().map_or(0, Child::id)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn skip(why: &str) {
    eprintln!("SKIP akto_agent end-to-end: {why}");
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
    })
}

fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The example binary: `AKTO_AGENT_BIN`, or `target/<profile>/examples/akto_agent`.
fn agent_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("AKTO_AGENT_BIN") {
        return Some(PathBuf::from(p));
    }
    // This test runs from target/<profile>/deps/.
    let exe = std::env::current_exe().ok()?;
    let profile_dir = exe.parent()?.parent()?;
    let p = profile_dir.join("examples").join("akto_agent");
    p.is_file().then_some(p)
}

/// nginx: TLS on `port`, and the plain HTTP upstream it proxies `/orders`
/// to, whose port is returned.
fn tls_server(dir: &Path, port: u16, http2: bool) -> (Guard, u16) {
    capture_core::testkit::self_signed(dir, "shop.test");
    // Plain HTTP upstream; its traffic has Host 127.0.0.1:… and is dropped
    // by AKTO_IGNORE_IP_TRAFFIC.
    let upstream = free_port();
    let conf = capture_core::testkit::filled_config(
        "nginx/akto-shop.conf",
        &[
            ("dir", dir.display().to_string()),
            ("port", port.to_string()),
            ("h2", if http2 { " http2" } else { "" }.to_string()),
            ("upstream", upstream.to_string()),
        ],
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let child = Command::new("nginx")
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-e")
        .arg(dir.join("error.log"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx");
    let g = Guard(Some(child));
    assert!(
        wait_for(Duration::from_secs(10), || std::net::TcpStream::connect((
            "127.0.0.1",
            port
        ))
        .is_ok()),
        "nginx did not listen: {}",
        std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
    );
    (g, upstream)
}

/// One curl request; returns the response body.
fn curl(
    http2: bool,
    port: u16,
    host: &str,
    path: &str,
    headers: &[&str],
    body: Option<&str>,
) -> String {
    let url = format!("https://{host}:{port}{path}");
    let mut c = Command::new("curl");
    c.args(["-sS", "-k", if http2 { "--http2" } else { "--http1.1" }])
        .args(["--max-time", "5", "--resolve"])
        .arg(format!("shop.test:{port}:127.0.0.1"));
    for h in headers {
        c.args(["-H", h]);
    }
    if let Some(b) = body {
        c.args(["-H", "Content-Type: application/json", "--data", b]);
    }
    let out = c.arg(url).output().expect("curl");
    assert!(
        out.status.success(),
        "curl {path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Agents capture every process: one scenario at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The agent binary when everything the scenarios need is here.
fn prerequisites() -> Option<PathBuf> {
    if !is_root() {
        skip("not root (eBPF needs it)");
        return None;
    }
    for cmd in ["nginx", "openssl", "curl"] {
        if !have(cmd) {
            skip(&format!("{cmd} is not installed"));
            return None;
        }
    }
    let agent = agent_bin();
    if agent.is_none() {
        skip(
            "examples/akto_agent is not built: cargo build --example akto_agent --features \
             ebpf,akto,http (or set AKTO_AGENT_BIN)",
        );
    }
    agent
}

#[test]
fn http1_tls_requests_become_akto_messages_with_the_header_rules_applied() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(agent) = prerequisites() {
        scenario(&agent, false, false);
    }
}

#[test]
fn http2_tls_requests_become_akto_messages_with_the_header_rules_applied() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(agent) = prerequisites() {
        scenario(&agent, true, false);
    }
}

/// `TRAFFIC_DISABLE_EGRESS=true`: only nginx's side (inbound) is sent.
#[test]
fn disabled_egress_sends_only_inbound_exchanges() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(agent) = prerequisites() {
        scenario(&agent, false, true);
    }
}

/// curl sends five requests over TLS to nginx; only the two with
/// `X-Tenant: blue` to the named host may reach `akto.api.logs`, once from
/// nginx's side (inbound) and, unless egress is disabled, once from curl's
/// (outbound).
fn scenario(agent: &Path, http2: bool, disable_egress: bool) {
    let Some(broker) = Broker::start() else {
        return;
    };
    broker.create_topic("akto.api.logs");

    let dir =
        std::env::temp_dir().join(format!("cleartap-akto-e2e-{}-{http2}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let (nginx, _) = tls_server(&dir, port, http2);
    let started = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();

    let mut child = Command::new(agent)
        .env("AKTO_KAFKA_BROKER_MAL", broker.addr())
        .env("AKTO_TRAFFIC_BATCH_TIME_SECS", "1")
        .env(
            "AKTO_MODULE_DISCOVERY_CONFIG",
            r#"[{"key":{"eq":"X-Tenant","ifAbsent":"reject"},"value":{"regex":"^blue$"}}]"#,
        )
        .env("AKTO_IGNORE_IP_TRAFFIC", "true")
        .env("TRAFFIC_INACTIVITY_THRESHOLD", "2")
        .env("UPROBE_POLL_INTERVAL", "0.05")
        .env("PROBE_ALL_PID", "true")
        .env("KAFKA_POLL_INTERVAL", "0.1")
        .env("TRAFFIC_DISABLE_EGRESS", disable_egress.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start akto_agent");
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let stderr = child.stderr.take().unwrap();
    let agent_pid = child.id();
    let mut agent_guard = Guard(Some(child));
    {
        let log = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[agent] {line}");
                log.lock().unwrap().push(line);
            }
        });
    }
    let ready = wait_for(Duration::from_secs(60), || {
        log.lock().unwrap().iter().any(|l| l.contains("capturing"))
    });
    if !ready {
        let lines = log.lock().unwrap().join("\n");
        panic!("akto_agent did not start capturing within 60 s:\n{lines}");
    }
    std::thread::sleep(Duration::from_millis(500));

    let blue = ["X-Tenant: blue"];
    assert_eq!(
        curl(http2, port, "shop.test", "/api/items/1?full=1", &blue, None),
        r#"{"ok":true}"#
    );
    assert_eq!(
        curl(
            http2,
            port,
            "shop.test",
            "/orders",
            &blue,
            Some(r#"{"item":7}"#)
        ),
        r#"{"id":9}"#
    );
    curl(
        http2,
        port,
        "shop.test",
        "/api/items/2",
        &["X-Tenant: red"],
        None,
    );
    curl(http2, port, "shop.test", "/api/items/3", &[], None);
    curl(http2, port, "127.0.0.1", "/api/items/4", &blue, None);

    let reader = broker.reader("akto.api.logs");
    let mut got: Vec<Value> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let inbound_paths = |got: &[Value]| -> Vec<String> {
        got.iter()
            .filter(|v| v["direction"] == "1")
            .map(|v| v["path"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    while Instant::now() < deadline && inbound_paths(&got).len() < 2 {
        for m in reader.read(1, Duration::from_millis(500)) {
            got.push(serde_json::from_slice(&m.payload).expect("message is JSON"));
        }
    }
    // Anything that should not be there has had the same time to arrive.
    std::thread::sleep(Duration::from_secs(3));
    for m in reader.read(100, Duration::from_secs(2)) {
        got.push(serde_json::from_slice(&m.payload).expect("message is JSON"));
    }

    // Stop the agent: it flushes and exits 0.
    let _ = Command::new("kill")
        .args(["-TERM", &agent_pid.to_string()])
        .status();
    let mut child = agent_guard.0.take().unwrap();
    let exited = wait_for(Duration::from_secs(30), || {
        child.try_wait().ok().flatten().is_some()
    });
    let status = child.try_wait().ok().flatten();
    if !exited {
        let _ = child.kill();
    }
    eprintln!(
        "akto_agent exit ({}): {status:?}; {} message(s)",
        if http2 { "h2" } else { "h1" },
        got.len()
    );
    for v in &got {
        eprintln!(
            "  {} {} {} dir={} pid={}",
            v["method"], v["path"], v["statusCode"], v["direction"], v["process_id"]
        );
    }

    // Only blue requests to a named host passed the rules.
    for v in &got {
        let headers: HashMap<String, String> =
            serde_json::from_str::<HashMap<String, String>>(v["requestHeaders"].as_str().unwrap())
                .unwrap()
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect();
        assert_eq!(
            headers.get("x-tenant").map(String::as_str),
            Some("blue"),
            "{v}"
        );
        assert_eq!(headers["host"], format!("shop.test:{port}"), "{v}");
        let path = v["path"].as_str().unwrap();
        assert!(
            path == "/api/items/1?full=1" || path == "/orders",
            "unexpected {path}"
        );
    }

    // nginx's side (inbound): exactly the two requests, field by field.
    let inbound: Vec<&Value> = got.iter().filter(|v| v["direction"] == "1").collect();
    assert_eq!(inbound.len(), 2, "inbound: {inbound:?}");
    let by_path = |p: &str| *inbound.iter().find(|v| v["path"] == p).expect(p);
    let get = by_path("/api/items/1?full=1");
    let post = by_path("/orders");
    for (v, method, code, status, req_body, resp_body) in [
        (get, "GET", "200", "200 OK", "", r#"{"ok":true}"#),
        (
            post,
            "POST",
            "201",
            "201 Created",
            r#"{"item":7}"#,
            r#"{"id":9}"#,
        ),
    ] {
        assert_eq!(v["method"], method);
        assert_eq!(v["type"], if http2 { "HTTP/2.0" } else { "HTTP/1.1" });
        assert_eq!(v["statusCode"], code);
        // HTTP/2 has no reason phrase: Akto's status is the code; bodies in base64.
        assert_eq!(v["status"], if http2 { code } else { status });
        let body = |b: &str| {
            if http2 {
                base64::engine::general_purpose::STANDARD.encode(b)
            } else {
                b.to_owned()
            }
        };
        if http2 {
            let rh: HashMap<String, String> =
                serde_json::from_str(v["requestHeaders"].as_str().unwrap()).unwrap();
            assert_eq!(
                rh[":method"], method,
                "pseudo-headers as Akto sends them: {rh:?}"
            );
            assert_eq!(rh[":authority"], format!("shop.test:{port}"));
        }
        assert_eq!(v["requestPayload"], body(req_body));
        assert_eq!(v["responsePayload"], body(resp_body));
        assert!(v["ip"].as_str().unwrap().starts_with("127.0.0.1:"), "{v}");
        assert_eq!(v["destIp"], format!("127.0.0.1:{port}"));
        assert_eq!(v["process_id"], nginx.pid().to_string());
        assert_ne!(v["socket_id"], "0");
        assert_eq!(v["akto_account_id"], "1000000");
        assert_eq!(v["source"], "MIRRORING");
        assert_eq!(v["is_pending"], "false");
        let t: u64 = v["time"].as_str().unwrap().parse().unwrap();
        assert!(
            t >= started && t <= started + 120,
            "time {t} vs start {started}"
        );
        let rh: HashMap<String, String> =
            serde_json::from_str(v["responseHeaders"].as_str().unwrap()).unwrap();
        let ct = rh
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-type"));
        assert_eq!(ct.map(|(_, v)| v.as_str()), Some("application/json"));
    }
    // curl's side (outbound): the same two requests, from curl's processes.
    let outbound: Vec<&Value> = got.iter().filter(|v| v["direction"] == "2").collect();
    if disable_egress {
        assert!(outbound.is_empty(), "egress disabled: {outbound:?}");
        assert_eq!(status.and_then(|s| s.code()), Some(0), "agent exit status");
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    let mut paths: Vec<&str> = outbound
        .iter()
        .map(|v| v["path"].as_str().unwrap())
        .collect();
    paths.sort_unstable();
    assert_eq!(
        paths,
        ["/api/items/1?full=1", "/orders"],
        "outbound: {outbound:?}"
    );
    for v in &outbound {
        assert_ne!(v["process_id"], nginx.pid().to_string());
        assert!(v["ip"].as_str().unwrap().starts_with("127.0.0.1:"), "{v}");
        let is_post = v["path"] == "/orders";
        assert_eq!(v["method"], if is_post { "POST" } else { "GET" });
        let expected = if is_post {
            r#"{"id":9}"#
        } else {
            r#"{"ok":true}"#
        };
        let expected = if http2 {
            base64::engine::general_purpose::STANDARD.encode(expected)
        } else {
            expected.to_owned()
        };
        assert_eq!(v["responsePayload"], expected);
    }
    assert_eq!(status.and_then(|s| s.code()), Some(0), "agent exit status");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The agent exits with code 3 once its memory is above `AKTO_MEM_THRESH_RESTART`.
#[test]
fn memory_ceiling_exits_with_code_3() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(agent) = prerequisites() else { return };
    let port = free_port(); // no broker needed: the agent exits before it matters
    let child = Command::new(agent)
        .env("AKTO_KAFKA_BROKER_MAL", format!("127.0.0.1:{port}"))
        .env("AKTO_MEM_THRESH_RESTART", "1")
        .env("PROBE_ALL_PID", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut guard = Guard(Some(child));
    let child = guard.0.as_mut().unwrap();
    assert!(wait_for(Duration::from_secs(60), || child
        .try_wait()
        .ok()
        .flatten()
        .is_some()));
    let out = guard.0.take().unwrap().wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("AKTO_MEM_THRESH_RESTART"), "{err}");
}

/// An invalid variable stops the agent before it captures anything, naming it.
#[test]
fn invalid_environment_exits_with_code_2_naming_the_variable() {
    let Some(agent) = agent_bin() else {
        return skip("examples/akto_agent is not built");
    };
    let out = Command::new(agent)
        .env("AKTO_KAFKA_BROKER_MAL", "127.0.0.1:9")
        .env(
            "AKTO_MODULE_DISCOVERY_CONFIG",
            r#"[{"key":{"eq":"x"},"value":{"regex":"("}}]"#,
        )
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("AKTO_MODULE_DISCOVERY_CONFIG") && err.contains("regex"),
        "{err}"
    );
    let out = Command::new(agent_bin().unwrap())
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("AKTO_KAFKA_BROKER_MAL is not set"));
}

/// A broker that refuses the agent's SASL login stops it at startup (exit 2),
/// naming the variables to check, before it captures anything.
#[test]
fn refused_credentials_stop_the_agent_with_code_2() {
    let Some(agent) = agent_bin() else {
        return skip("examples/akto_agent is not built");
    };
    let Some(tansu) = common::tansu() else {
        return skip("no tansu broker");
    };
    let port = free_port();
    let url = format!("tcp://127.0.0.1:{port}");
    let broker = Command::new(tansu)
        .args([
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
        ])
        .arg("--authentication")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _broker = Guard(Some(broker));
    assert!(wait_for(Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    }));
    let out = Command::new(agent)
        .env("AKTO_KAFKA_BROKER_MAL", format!("127.0.0.1:{port}"))
        .env("IS_AUTH_IMPLEMENTED", "true")
        .env("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
        .env("KAFKA_USERNAME", "akto")
        .env("KAFKA_PASSWORD", "not-the-password")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    eprintln!("{err}");
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("SASL") && err.contains("KAFKA_PASSWORD") && !err.contains("not-the-password"),
        "{err}"
    );
}

/// `PROBE_ALL_PID=false` (the default): TLS is captured only from pod
/// processes, plaintext at the syscalls from every process, as in Akto.
/// Nothing on this host runs in a pod: the plain request is sent, the TLS
/// one is not.
#[test]
fn without_probe_all_pid_plaintext_is_captured_everywhere_and_tls_only_in_pods() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(agent) = prerequisites() else { return };
    let Some(broker) = Broker::start() else {
        return;
    };
    broker.create_topic("akto.api.logs");
    let dir = std::env::temp_dir().join(format!("cleartap-akto-pods-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let (_nginx, upstream) = tls_server(&dir, port, false);
    let mut child = Command::new(agent)
        .env("AKTO_KAFKA_BROKER_MAL", broker.addr())
        .env("AKTO_TRAFFIC_BATCH_TIME_SECS", "1")
        .env("AKTO_MODULE_DISCOVERY_CONFIG", "[]")
        .env("TRAFFIC_INACTIVITY_THRESHOLD", "2")
        .env("UPROBE_POLL_INTERVAL", "0.05")
        .env("KAFKA_POLL_INTERVAL", "0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start akto_agent");
    let stderr = child.stderr.take().unwrap();
    let _agent = Guard(Some(child));
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    {
        let log = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[agent] {line}");
                log.lock().unwrap().push(line);
            }
        });
    }
    assert!(
        wait_for(Duration::from_secs(60), || log
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("capturing"))),
        "akto_agent did not start"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        curl(false, port, "shop.test", "/api/items/9", &[], None),
        r#"{"ok":true}"#
    );
    let plain = Command::new("curl")
        .args(["-sS", "--max-time", "5", "-H", "Host: plain.test"])
        .arg(format!("http://127.0.0.1:{upstream}/plain"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&plain.stdout), r#"{"id":9}"#);

    let reader = broker.reader("akto.api.logs");
    let mut got: Vec<Value> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline && got.len() < 2 {
        for m in reader.read(1, Duration::from_millis(500)) {
            got.push(serde_json::from_slice(&m.payload).unwrap());
        }
    }
    std::thread::sleep(Duration::from_secs(3));
    for m in reader.read(100, Duration::from_secs(2)) {
        got.push(serde_json::from_slice(&m.payload).unwrap());
    }
    let paths: Vec<(&str, &str)> = got
        .iter()
        .map(|v| {
            (
                v["path"].as_str().unwrap(),
                v["direction"].as_str().unwrap(),
            )
        })
        .collect();
    eprintln!("sent: {paths:?}");
    assert!(paths.contains(&("/plain", "1")), "plain inbound: {paths:?}");
    assert!(
        paths.contains(&("/plain", "2")),
        "plain outbound: {paths:?}"
    );
    assert!(
        !paths.iter().any(|(p, _)| *p == "/api/items/9"),
        "TLS from a process outside pods: {paths:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
