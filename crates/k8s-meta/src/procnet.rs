//! A network namespace's sockets and addresses, parsed from the text of
//! `/proc/PID/net/{tcp,tcp6,fib_trie,if_inet6}` (each file shows the
//! namespace of PID). Pure functions; garbage lines are skipped.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// TCP state `LISTEN` in `/proc/net/tcp`.
pub const TCP_LISTEN: u8 = 0x0A;

/// One line of `/proc/net/tcp` or `tcp6`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpSocket {
    /// The local address.
    pub local: SocketAddr,
    /// The remote address (unspecified for a listener).
    pub remote: SocketAddr,
    /// The kernel's TCP state (`TCP_LISTEN`, 1 for established, …).
    pub state: u8,
    /// The socket's inode, as in `/proc/PID/fd/N -> socket:[INODE]`.
    pub inode: u64,
}

/// The sockets listed in the text of `/proc/net/tcp` or `/proc/net/tcp6`.
pub fn tcp_sockets(text: &str) -> Vec<TcpSocket> {
    text.lines().skip(1).filter_map(tcp_line).collect()
}

fn tcp_line(line: &str) -> Option<TcpSocket> {
    let mut f = line.split_whitespace();
    let _slot = f.next()?;
    let local = hex_socket(f.next()?)?;
    let remote = hex_socket(f.next()?)?;
    let state = u8::from_str_radix(f.next()?, 16).ok()?;
    // tx:rx queue, timer, retransmits, uid, timeout, then the inode.
    let inode = f.nth(5)?.parse().ok()?;
    Some(TcpSocket {
        local,
        remote,
        state,
        inode,
    })
}

/// `0100007F:1F90` or a 32-digit IPv6 form: the address is printed as
/// 32-bit words in the host's byte order.
fn hex_socket(s: &str) -> Option<SocketAddr> {
    let (addr, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        let w = u32::from_str_radix(addr.get(i * 8..i * 8 + 8)?, 16).ok()?;
        Some(w.to_ne_bytes())
    };
    let ip = match addr.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut b = [0u8; 16];
            for (i, chunk) in b.chunks_exact_mut(4).enumerate() {
                chunk.copy_from_slice(&word(i)?);
            }
            let v6 = Ipv6Addr::from(b);
            // Dual-stack sockets show IPv4 peers as ::ffff:a.b.c.d.
            v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// The IPv4 addresses local to a namespace (`/32 host LOCAL` entries of
/// `/proc/net/fib_trie`), loopback left out.
pub fn fib_local_v4(text: &str) -> Vec<Ipv4Addr> {
    let mut out = Vec::new();
    let mut last: Option<Ipv4Addr> = None;
    for line in text.lines() {
        let t = line.trim_start();
        if let Some(addr) = t.strip_prefix("|-- ") {
            last = addr.trim().parse().ok();
        } else if t.starts_with("/32 host LOCAL")
            && let Some(ip) = last
            && !ip.is_loopback()
            && !out.contains(&ip)
        {
            out.push(ip);
        }
    }
    out
}

/// The IPv6 addresses of a namespace's interfaces (`/proc/net/if_inet6`),
/// loopback and link-local left out.
pub fn inet6_addrs(text: &str) -> Vec<Ipv6Addr> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(hex) = line.split_whitespace().next() else {
            continue;
        };
        let Ok(n) = u128::from_str_radix(hex, 16) else {
            continue;
        };
        if hex.len() != 32 {
            continue;
        }
        let ip = Ipv6Addr::from(n);
        let link_local = ip.segments().first().is_some_and(|s| s & 0xffc0 == 0xfe80);
        if !ip.is_loopback() && !link_local && !out.contains(&ip) {
            out.push(ip);
        }
    }
    out
}

/// The inode of a `socket:[INODE]` link target (`/proc/PID/fd/N`).
pub fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_and_tcp6_lines() {
        // As the kernel prints them on a little-endian machine.
        let v4 = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 51234 1 0000000000000000 100 0 0 10 0\n\
   1: 0100007F:A2C4 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 51240 1 0000000000000000 20 4 30 10 -1\n\
   garbage line\n";
        let s = tcp_sockets(v4);
        if cfg!(target_endian = "little") {
            assert_eq!(s.len(), 2);
            assert_eq!(s[0].local, "0.0.0.0:8080".parse().unwrap());
            assert_eq!((s[0].state, s[0].inode), (TCP_LISTEN, 51234));
            assert_eq!(s[1].local, "127.0.0.1:41668".parse().unwrap());
            assert_eq!(s[1].remote, "127.0.0.1:8080".parse().unwrap());
            let v6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 00000000000000000000000000000000:01BB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1 0000000000000000 100 0 0 10 0\n\
   1: 0000000000000000FFFF00000A00000A:1F90 0000000000000000FFFF00000B00000A:D431 01 00000000:00000000 00:00000000 00000000     0        0 778 1 0000000000000000 20 4 30 10 -1\n\
   2: 00000000000000000000000001000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 779 1 0000000000000000 100 0 0 10 0\n";
            let s = tcp_sockets(v6);
            assert_eq!(s[0].local, "[::]:443".parse().unwrap());
            assert_eq!(s[1].local, "10.0.0.10:8080".parse().unwrap());
            assert_eq!(s[1].remote, "10.0.0.11:54321".parse().unwrap());
            assert_eq!(s[2].local, "[::1]:80".parse().unwrap());
        }
        assert!(tcp_sockets("").is_empty());
        assert!(tcp_sockets("header\n 0: zz:zz 00:00 0A").is_empty());
    }

    #[test]
    fn fib_trie_local_addresses() {
        let text = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 0.0.0.0\n        /0 universe UNICAST\n     +-- 10.77.0.0/24 2 0 2\n        |-- 10.77.0.0\n           /24 link UNICAST\n        |-- 10.77.0.5\n           /32 host LOCAL\n        |-- 10.77.0.255\n           /32 link BROADCAST\n     |-- 127.0.0.1\n        /32 host LOCAL\nLocal:\n  +-- 0.0.0.0/0 3 0 5\n        |-- 10.77.0.5\n           /32 host LOCAL\n";
        assert_eq!(
            fib_local_v4(text),
            ["10.77.0.5".parse::<Ipv4Addr>().unwrap()]
        );
        assert!(fib_local_v4("|-- nonsense\n/32 host LOCAL\n").is_empty());
    }

    #[test]
    fn if_inet6_addresses() {
        let text = "00000000000000000000000000000001 01 80 10 80       lo\n\
fe80000000000000a8b7c6fffed5e4f3 02 40 20 80     eth0\n\
fd00000000000000000000000000000a 02 40 00 80     eth0\n\
zz 1 2\n";
        assert_eq!(inet6_addrs(text), ["fd00::a".parse::<Ipv6Addr>().unwrap()]);
    }

    #[test]
    fn socket_links() {
        assert_eq!(socket_inode("socket:[51234]"), Some(51234));
        assert_eq!(socket_inode("pipe:[1]"), None);
        assert_eq!(socket_inode("socket:[x]"), None);
    }
}
