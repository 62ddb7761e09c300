//! What `/proc` tells about a network namespace's sockets: the listening
//! TCP ports (`/proc/PID/net/tcp{,6}`), behind the translator's
//! [`ListenerTable`], and the ephemeral port range.

use std::collections::HashSet;

use crate::translate::{ListenerTable, parse_listening};

/// Reads listening ports from `/proc/PID/net/tcp{,6}`.
#[derive(Clone, Debug, Default)]
pub struct ProcListeners;

impl ListenerTable for ProcListeners {
    fn listening(&mut self, netns: u64, pid: u32) -> Option<HashSet<u16>> {
        // The event's process may be gone already; any process of the
        // namespace will do, this one included.
        let own = std::fs::read_link("/proc/self/ns/net")
            .is_ok_and(|l| l.to_string_lossy() == format!("net:[{netns}]"));
        for dir in [format!("/proc/{pid}/net"), String::from("/proc/self/net")] {
            if dir.starts_with("/proc/self") && !own {
                continue;
            }
            let mut ports = HashSet::new();
            let mut ok = false;
            for file in ["tcp", "tcp6"] {
                if let Some(text) = read_whole(&format!("{dir}/{file}")) {
                    ok = true;
                    ports.extend(parse_listening(&text));
                }
            }
            if ok {
                return Some(ports);
            }
        }
        None
    }
}

/// `/proc/sys/net/ipv4/ip_local_port_range`, or Linux's default.
pub fn ephemeral_ports() -> std::ops::RangeInclusive<u16> {
    let text =
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap_or_default();
    let mut it = text
        .split_whitespace()
        .filter_map(|p| p.parse::<u16>().ok());
    match (it.next(), it.next()) {
        (Some(lo), Some(hi)) if lo <= hi => lo..=hi,
        _ => 32768..=60999,
    }
}

/// Reads a /proc table with large reads, so that the kernel produces it in
/// as few pieces as possible.
fn read_whole(path: &str) -> Option<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).ok()?;
    let mut buf = Vec::with_capacity(1 << 20);
    let mut chunk = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(chunk.get(..n)?);
    }
    String::from_utf8(buf).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_namespace_listeners_from_proc() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let ports = ProcListeners.listening(1, std::process::id()).unwrap();
        assert!(ports.contains(&port));
        assert!(!ports.contains(&1));
        let range = ephemeral_ports();
        assert!(range.start() <= range.end());
    }
}
