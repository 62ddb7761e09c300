#!/usr/bin/env bash
# Installs what cleartap's build and tests need on Debian, only where missing.
# Safe to run repeatedly; needs root (or sudo) for apt-get.
set -euo pipefail

APT_PACKAGES="bc clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config cmake libcurl4-openssl-dev libpcap-dev libssl-dev libsasl2-dev libzstd-dev nginx openssl curl nghttp2-client nghttp2-server nghttp2-proxy tshark tcpdump tcpreplay wrk httpry tcpflow iproute2 python3 python3-pip nodejs protobuf-compiler containerd runc gnutls-bin libgnutls28-dev gcc wget libnss3-tools firefox-esr bpftrace prometheus chromium fonts-dejavu-core stunnel4 caddy"

missing=()
for p in $APT_PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    echo "installing: ${missing[*]}" >&2
    $sudo_cmd apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi

# The private OpenSSL 1.1 a manylinux wheel carries (libssl-3a880ada.so.1.1):
# the eBPF tests drive HTTPS through it.
if ! python3 -c "import psycopg2" 2>/dev/null; then
    echo "installing: psycopg2-binary==2.9.5 (pip)" >&2
    python3 -m pip install -q psycopg2-binary==2.9.5 >&2 || \
        python3 -m pip install -q --break-system-packages psycopg2-binary==2.9.5 >&2 || \
        echo "install-deps: psycopg2-binary could not be installed; the OpenSSL 1.1 test will skip" >&2
fi
