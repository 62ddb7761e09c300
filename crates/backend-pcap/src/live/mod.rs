//! Live capture on a network interface with libpcap.
//!
//! [`LiveSource`] opens one interface of the calling thread's network
//! namespace (`any` by default, promiscuous mode off), waits at most a
//! short timeout for packets in each poll, decodes them into TCP segments,
//! drops copies of the same packet ([`crate::dedup`]) and addresses outside
//! the configured subnets ([`crate::cidr`]), and reports the kernel's drop
//! counts as [`capture_core::DropReason::KernelDropped`].
//!
//! ```no_run
//! use backend_pcap::live::{LiveConfig, LiveSource};
//! use capture_core::model::Input;
//! use capture_core::stage::Source;
//! use capture_core::stats::Counters;
//!
//! let mut config = LiveConfig::default();
//! config.capture.device = "lo".into();
//! config.capture.filter = Some("tcp port 8080".into());
//! let mut source = LiveSource::open(config)?;
//! let counters = Counters::default();
//! let mut payload_bytes = 0;
//! let mut count = |input: Input<'_>| {
//!     if let Input::Segment(s) = input {
//!         payload_bytes += s.payload.len();
//!     }
//! };
//! source.poll(&mut count, &counters)?;
//! # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
//! ```

mod capture;
mod path;

use std::time::Duration;

use capture_core::DropReason;
use capture_core::model::{Input, NetnsId};
use capture_core::stage::{InputSink, Poll, Source, SourceError};
use capture_core::stats::{Counter, Counters};

pub use capture::{Capture, CaptureConfig, wait_readable};
pub use path::{PacketPath, ip_packet};

use crate::Error;
use crate::cidr::CidrFilter;
use crate::decode::LinkType;
use crate::dedup;

/// What a [`LiveSource`] captures and what it keeps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveConfig {
    /// The interface and how libpcap opens it.
    pub capture: CaptureConfig,
    /// Copies of a packet seen again within this window are dropped
    /// (`None`: keep every copy). Default: 50 ms.
    pub dedup_window: Option<Duration>,
    /// Subnets to keep and to drop.
    pub cidr: CidrFilter,
    /// The namespace stamped on segments; default: the calling thread's.
    pub netns: Option<NetnsId>,
}

impl Default for LiveConfig {
    fn default() -> Self {
        Self {
            capture: CaptureConfig::default(),
            dedup_window: Some(dedup::DEFAULT_WINDOW),
            cidr: CidrFilter::default(),
            netns: None,
        }
    }
}

/// A [`Source`] reading one live interface.
#[derive(Debug)]
pub struct LiveSource {
    capture: Capture,
    link: LinkType,
    path: PacketPath,
    timeout: Duration,
}

impl LiveSource {
    /// Opens the interface in the calling thread's network namespace.
    pub fn open(config: LiveConfig) -> Result<Self, Error> {
        let netns = match config.netns {
            Some(n) => n,
            None => crate::netns::discovery::current_netns().unwrap_or(NetnsId::UNKNOWN),
        };
        let capture = Capture::open(&config.capture, netns)?;
        let link = LinkType(u16::try_from(capture.link_type()).unwrap_or(u16::MAX));
        Ok(Self {
            capture,
            link,
            path: PacketPath::new(netns, config.dedup_window, config.cidr),
            timeout: config.capture.timeout,
        })
    }

    /// The link type of the interface's packets.
    pub fn link_type(&self) -> LinkType {
        self.link
    }
}

impl Source for LiveSource {
    fn poll(&mut self, out: &mut dyn InputSink, counters: &Counters) -> Result<Poll, SourceError> {
        if !wait_readable(&[self.capture.fd()], self.timeout)? {
            return Ok(Poll::Idle);
        }
        let (link, path) = (self.link, &mut self.path);
        let n = self.capture.read(|ts, wire_len, data| {
            counters.add(Counter::Packets, 1);
            counters.add(Counter::Bytes, u64::from(wire_len));
            match path.segment(link, ts, data) {
                Ok(seg) => out.input(Input::Segment(seg)),
                Err(reason) => counters.dropped(reason, 1),
            }
        })?;
        Ok(if n > 0 { Poll::Ready } else { Poll::Idle })
    }

    fn name(&self) -> String {
        format!("interface {}", self.capture.device())
    }

    fn update_stats(&mut self, counters: &Counters) {
        match self.capture.kernel_drops() {
            Ok(n) => counters.set_drops(DropReason::KernelDropped, n),
            Err(e) => log::debug!("{e}"),
        }
    }
}
