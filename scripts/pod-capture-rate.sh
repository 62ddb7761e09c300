#!/usr/bin/env bash
# Measures how many packets per second one pod-namespace capture takes
# without kernel drops: tcpreplay sends a capture file into a test pod's veth
# at a fixed rate while examples/mesh_sniff captures that pod's `any` device
# through the whole pipeline (HTTP parsing, JSON lines to /dev/null).
#
#   scripts/pod-capture-rate.sh PPS [SECONDS] [PCAP]
#
# PCAP defaults to Zeek's 1000-request capture in ../shared/pcaps/.
#
# Extra mesh_sniff options go in SNIFF_ARGS (e.g. SNIFF_ARGS="--workers 2").
# Build first: cargo build --release --features live --example mesh_sniff
# (MESH_SNIFF=path overrides the binary). Needs root, iproute2, nginx,
# openssl, python3 and tcpreplay. Uses namespace ctp-rate-<pid> and
# 10.231.250.0/24 only; everything is removed at the end.
set -euo pipefail

pps=${1:?usage: $0 PPS [SECONDS] [PCAP]}
secs=${2:-10}
here=$(cd "$(dirname "$0")" && pwd)
pcap=${3:-${CLEARTAP_SHARED_DIR:-$here/../../shared}/pcaps/1000-requests-one-dropped-response.pcap}
sniff=${MESH_SNIFF:-${CARGO_TARGET_DIR:-$here/../target}/release/examples/mesh_sniff}
[ -x "$sniff" ] || { echo "build mesh_sniff first ($sniff)" >&2; exit 1; }
command -v tcpreplay >/dev/null || { echo "tcpreplay not found" >&2; exit 1; }

ns="ctp-rate-$$"
work=$(mktemp -d)
cleanup() { "$here/pod-scenario.sh" down "$ns" "$work" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

ip=$("$here/pod-scenario.sh" up "$ns" 250 "$work")
packets=$(tcpdump -r "$pcap" -nn 2>/dev/null | wc -l)
loops=$(( (pps * secs + packets - 1) / packets ))

# Every loop replays the same packets: keep the copies (no dedup).
"$sniff" --instance-ip "$ip" --iface any --no-dedup ${SNIFF_ARGS:-} \
    >/dev/null 2>"$work/sniff.err" &
sniff_pid=$!
sleep 2
tcpreplay -q -i ctp250h --pps="$pps" --loop="$loops" --preload-pcap "$pcap" 2>&1 |
    grep -E "Actual|Rated|Statistics|Successful" || true
# Let the last packets through the pipeline, then stop it (it prints its stats).
sleep 2
kill -INT "$sniff_pid"
wait "$sniff_pid" || true
echo "sent: $((loops * packets)) packets ($packets x $loops loops) at $pps pps"
echo "mesh_sniff: $(tr '\n' ' ' <"$work/sniff.err")"
