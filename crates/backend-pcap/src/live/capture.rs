//! One libpcap handle on one interface of the calling thread's network namespace.

use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use capture_core::model::{NetnsId, Timestamp};

use crate::Error;

/// How to open a live interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptureConfig {
    /// Interface name: `any`, `lo`, `eth0`… Default: `any`.
    pub device: String,
    /// A BPF filter in tcpdump syntax, applied in the kernel. Default: `tcp`.
    pub filter: Option<String>,
    /// Bytes kept of each packet. Default: 262 144 (whole packets, also with GSO).
    pub snaplen: u32,
    /// Kernel ring buffer size in bytes. Default: 16 MiB.
    pub buffer_size: u32,
    /// Put the interface in promiscuous mode. Default: off.
    pub promiscuous: bool,
    /// Longest wait for packets in one poll, so that the caller regains
    /// control promptly; without immediate mode, also the longest time the
    /// kernel holds captured packets back to batch them. Default: 100 ms.
    pub timeout: Duration,
    /// Hand out every packet as soon as it arrives. Lowest latency, but
    /// libpcap then uses a ring of fixed-size slots (one per snaplen-sized
    /// packet: a 16 MiB buffer holds only 64 packets at the default
    /// snaplen), which overflows at a few ten thousand packets per second.
    /// Off by default: the kernel packs packets into blocks handed out when
    /// full or after `timeout`. Default: off.
    pub immediate: bool,
    /// Most packets handed out per read. Default: 1024.
    pub batch_packets: usize,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        Self {
            device: String::from("any"),
            filter: Some(String::from("tcp")),
            snaplen: 262_144,
            buffer_size: 16 << 20,
            promiscuous: false,
            timeout: Duration::from_millis(100),
            immediate: false,
            batch_packets: 1024,
        }
    }
}

/// An open live capture: non-blocking, with nanosecond timestamps.
pub struct Capture {
    handle: pcap::Capture<pcap::Active>,
    device: String,
    netns: NetnsId,
    link_type: u32,
    nanos: bool,
    batch_packets: usize,
}

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capture")
            .field("device", &self.device)
            .field("netns", &self.netns)
            .field("link_type", &self.link_type)
            .finish()
    }
}

impl Capture {
    /// Opens `config.device` in the calling thread's network namespace,
    /// whose inode `netns` is used in error messages.
    pub fn open(config: &CaptureConfig, netns: NetnsId) -> Result<Self, Error> {
        let err = |e: pcap::Error| Error::Pcap {
            device: config.device.clone(),
            netns: netns.0,
            message: e.to_string(),
        };
        let build = || -> Result<pcap::Capture<pcap::Inactive>, Error> {
            Ok(pcap::Capture::from_device(config.device.as_str())
                .map_err(err)?
                .promisc(config.promiscuous)
                .snaplen(i32::try_from(config.snaplen).unwrap_or(i32::MAX))
                .buffer_size(i32::try_from(config.buffer_size).unwrap_or(i32::MAX))
                .immediate_mode(config.immediate)
                .timeout(
                    i32::try_from(config.timeout.as_millis())
                        .unwrap_or(i32::MAX)
                        .max(1),
                ))
        };
        let (handle, nanos) = match build()?.precision(pcap::Precision::Nano).open() {
            Ok(h) => (h, true),
            Err(e) => {
                log::debug!(
                    "nanosecond timestamps unavailable on {}: {e}",
                    config.device
                );
                (build()?.open().map_err(err)?, false)
            }
        };
        let mut handle = handle.setnonblock().map_err(err)?;
        if let Some(filter) = config.filter.as_deref().filter(|f| !f.trim().is_empty()) {
            handle.filter(filter, true).map_err(err)?;
        }
        let link_type = u32::try_from(handle.get_datalink().0).unwrap_or(u32::MAX);
        Ok(Self {
            handle,
            device: config.device.clone(),
            netns,
            link_type,
            nanos,
            batch_packets: config.batch_packets.max(1),
        })
    }

    /// The interface name.
    pub fn device(&self) -> &str {
        &self.device
    }

    /// The link type of the packets (`DLT_*`/`LINKTYPE_*` number).
    pub fn link_type(&self) -> u32 {
        self.link_type
    }

    /// The descriptor to wait on for readability.
    pub fn fd(&self) -> RawFd {
        self.handle.as_raw_fd()
    }

    /// Hands each packet waiting in the kernel buffer (at most one batch)
    /// to `f` as (capture time, length on the wire, captured bytes), and
    /// returns how many there were. Does not block.
    pub fn read(&mut self, mut f: impl FnMut(Timestamp, u32, &[u8])) -> Result<usize, Error> {
        let nanos = self.nanos;
        let r = self.handle.dispatch(Some(self.batch_packets), |pkt| {
            let secs = u64::try_from(pkt.header.ts.tv_sec).unwrap_or(0);
            let frac = u32::try_from(pkt.header.ts.tv_usec).unwrap_or(0);
            let ts = if nanos {
                Timestamp::from_secs_nanos(secs, frac)
            } else {
                Timestamp::from_secs_nanos(secs, frac.saturating_mul(1000))
            };
            f(ts, pkt.header.len, pkt.data);
        });
        match r {
            Ok(n) => Ok(n),
            Err(pcap::Error::TimeoutExpired | pcap::Error::NoMorePackets) => Ok(0),
            Err(e) => Err(Error::Pcap {
                device: self.device.clone(),
                netns: self.netns.0,
                message: e.to_string(),
            }),
        }
    }

    /// Packets the kernel dropped since the capture opened: no room in the
    /// buffer (`ps_drop`) plus the interface's own drops (`ps_ifdrop`).
    pub fn kernel_drops(&mut self) -> Result<u64, Error> {
        let s = self.handle.stats().map_err(|e| Error::Pcap {
            device: self.device.clone(),
            netns: self.netns.0,
            message: e.to_string(),
        })?;
        Ok(u64::from(s.dropped) + u64::from(s.if_dropped))
    }
}

/// Waits up to `timeout` until one of `fds` is readable; true if one is.
pub fn wait_readable(fds: &[RawFd], timeout: Duration) -> std::io::Result<bool> {
    let mut polls: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    let nfds = libc::nfds_t::try_from(polls.len()).unwrap_or(0);
    // SAFETY: `polls` is a valid, initialised array of `nfds` pollfd structs
    // that lives across the call; poll only writes their `revents`.
    let r = unsafe { libc::poll(polls.as_mut_ptr(), nfds, ms) };
    if r < 0 {
        let e = std::io::Error::last_os_error();
        return if e.kind() == std::io::ErrorKind::Interrupted {
            Ok(false)
        } else {
            Err(e)
        };
    }
    Ok(r > 0)
}
