#!/usr/bin/env bash
# Writes tshark's view of the HTTP/1 messages of each capture that has any
# to testdata/truth/<file>.http1.tsv. The captures are the one recorded
# here (testdata/, listed in testdata/INDEX.tsv) and those of other
# projects in ../shared/pcaps/ (its INDEX.tsv; $CLEARTAP_SHARED_DIR
# points elsewhere):
#   frame  tcp_stream  src  dst  method  uri  status  request_in
# one line per HTTP/1 request or response (several per frame when
# pipelined), from the tshark fields http.request.method,
# http.request.uri, http.response.code and http.request_in (the frame of
# the request a response answers; empty for requests). The "tshark args"
# of INDEX.tsv's notes (decode-as ports, TLS key logs) are applied.
# Captures whose notes mention tcp.reassemble_out_of_order also get
# <file>.ooo.http1.tsv with that option on. Needs tshark and python3.
#
# Usage: scripts/http1-ground-truth.sh [file ...]   (default: every HTTP/1 capture)
set -euo pipefail
cd "$(dirname "$0")/../testdata"
mkdir -p truth
shared=${CLEARTAP_SHARED_DIR:-../../shared}/pcaps
index() { cat INDEX.tsv; [ ! -e "$shared/INDEX.tsv" ] || cat "$shared/INDEX.tsv"; }
where() { if [ -e "$1" ]; then echo "$1"; else echo "$shared/$1"; fi; }

files=("$@")
if [ ${#files[@]} -eq 0 ]; then
    mapfile -t files < <(index | awk -F'\t' '$1 != "file" && ($7 > 0 || $8 > 0) { print $1 }')
fi

extract() {
    python3 -c '
import json, sys

def listify(x):
    return x if isinstance(x, list) else [x]

def first(d, key):
    """The first value of `key` anywhere under `d` (tshark nests request-line fields)."""
    if isinstance(d, dict):
        for k, v in d.items():
            if k == key:
                return listify(v)[0]
            found = first(v, key)
            if found is not None:
                return found
    elif isinstance(d, list):
        for v in d:
            found = first(v, key)
            if found is not None:
                return found
    return None

print("frame\ttcp_stream\tsrc\tdst\tmethod\turi\tstatus\trequest_in")
for pkt in json.load(sys.stdin):
    l = pkt["_source"]["layers"]
    num = listify(l["frame"]["frame.number"])[0]
    ip = l.get("ip") or l.get("ipv6") or {}
    ip = listify(ip)[-1]  # the innermost IP header (tunnels)
    src = listify(ip.get("ip.src") or ip.get("ipv6.src"))[0]
    dst = listify(ip.get("ip.dst") or ip.get("ipv6.dst"))[0]
    tcp = listify(l["tcp"])[-1]
    stream = listify(tcp["tcp.stream"])[0]
    sport, dport = listify(tcp["tcp.srcport"])[0], listify(tcp["tcp.dstport"])[0]
    fmt = lambda a, p: ("[%s]:%s" % (a, p)) if ":" in a else ("%s:%s" % (a, p))
    for http in listify(l.get("http", [])):
        if not isinstance(http, dict):
            continue
        method = first(http, "http.request.method")
        status = first(http, "http.response.code")
        if method is None and status is None:
            continue
        uri = first(http, "http.request.uri") if method is not None else None
        request_in = first(http, "http.request_in") if status is not None else None
        print("\t".join([num, stream, fmt(src, sport), fmt(dst, dport), method or "",
                         (uri or "").replace("\t", " "), status or "", request_in or ""]))
'
}

for f in "${files[@]}"; do
    notes=$(index | awk -F'\t' -v f="$f" '$1 == f { print $10 }')
    args=$(printf '%s' "$notes" | sed -n 's/.*tshark args: \([^;]*\).*/\1/p')
    # shellcheck disable=SC2086 # args are a list of tshark options
    tshark -r "$(where "$f")" $args -Y 'http.request || http.response' \
        -T json -J "frame ip ipv6 tcp http" --no-duplicate-keys 2>/dev/null | extract > "truth/$f.http1.tsv"
    echo "$f: $(($(wc -l < "truth/$f.http1.tsv") - 1)) messages" >&2
    if printf '%s' "$notes" | grep -q 'reassemble_out_of_order'; then
        # shellcheck disable=SC2086
        tshark -r "$(where "$f")" $args -o tcp.reassemble_out_of_order:TRUE -Y 'http.request || http.response' \
            -T json -J "frame ip ipv6 tcp http" --no-duplicate-keys 2>/dev/null | extract > "truth/$f.ooo.http1.tsv"
        echo "$f (out-of-order reassembly): $(($(wc -l < "truth/$f.ooo.http1.tsv") - 1)) messages" >&2
    fi
done
