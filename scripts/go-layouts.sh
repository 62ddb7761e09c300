#!/usr/bin/env bash
# Regenerates crates/backend-ebpf/src/go/go_layouts.tsv: for each Go
# toolchain of scripts/go-toolchains.sh, builds the Go test program
# (crates/backend-ebpf/tests/go/gotls) with DWARF and reads from it the
# offsets from a *tls.Conn to its socket (the go_target example), one row
# per release. Binaries built without DWARF (-ldflags=-w) are probed with
# these rows.
set -euo pipefail
cd "$(dirname "$0")/.."

table=crates/backend-ebpf/src/go/go_layouts.tsv
src=crates/backend-ebpf/tests/go/gotls
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cache="${CLEARTAP_GO_CACHE:-$HOME/.cache/cleartap/go}"

cargo build -q -p backend-ebpf --example go_target
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
tool="$target_dir/debug/examples/go_target"

{
    sed -n '/^#/p' "$table"
    scripts/go-toolchains.sh | while read -r version goroot; do
        (cd "$src" && GO111MODULE=off GOFLAGS= GOCACHE="$cache/build-$version" \
            "$goroot/bin/go" build -o "$work/gotls-$version" main.go)
        "$tool" --layout-row "$work/gotls-$version"
    done
} > "$work/table.tsv"
mv "$work/table.tsv" "$table"
cat "$table"
