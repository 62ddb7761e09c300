#!/usr/bin/env bash
# The main job: print every HTTP exchange of a capture as JSON lines.
# With no argument it replays the bundled capture, recorded here from
# real programs (scripts/loopback-capture/record.sh). Installs missing
# Debian packages first (scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo >/dev/null || { echo "replay.sh: cargo not found: install Rust (rustup) first" >&2; exit 1; }
scripts/install-deps.sh
if [ $# -eq 0 ]; then
    set -- testdata/loopback-http.pcap
fi
exec cargo run --release --quiet --example replay -- "$@"
