#!/usr/bin/env bash
# The hostile-input suite at full size (floods of about a million frames or
# 100 MB each), optimised: every case through a whole pipeline with 1 and 2
# workers, its heap, time and counters printed. `cargo test` runs the same
# suite at a tenth of the size in debug builds.
#
# Usage: scripts/hostile.sh [CASE]   (HOSTILE_SCALE=0.5 to shrink it)
set -euo pipefail
cd "$(dirname "$0")/.."
export HOSTILE_SCALE=${HOSTILE_SCALE:-1}
[ $# -eq 0 ] || export HOSTILE_CASE=$1
exec cargo test --release -p hostile --test suite -- --nocapture
