//! backend-pcap: work in progress.
