#!/usr/bin/env bash
# Writes tshark's view of the HTTP/2 HEADERS frames of each capture that
# has any to testdata/truth/<file>.http2.tsv. The captures are the one
# recorded here (testdata/, listed in testdata/INDEX.tsv) and those of
# other projects in ../shared/pcaps/ (its INDEX.tsv; $CLEARTAP_SHARED_DIR
# points elsewhere):
#   frame  src  dst  stream_id  method  path  status
# one line per HEADERS (or PUSH_PROMISE) frame, with the pseudo-headers
# tshark decoded (empty when absent). The "tshark args" of INDEX.tsv's notes
# (decode-as ports, TLS key logs) are applied. Needs tshark and python3.
#
# Usage: scripts/h2-ground-truth.sh [file ...]   (default: every HTTP/2 capture)
set -euo pipefail
cd "$(dirname "$0")/../testdata"
mkdir -p truth
shared=${CLEARTAP_SHARED_DIR:-../../shared}/pcaps
index() { cat INDEX.tsv; [ ! -e "$shared/INDEX.tsv" ] || cat "$shared/INDEX.tsv"; }
where() { if [ -e "$1" ]; then echo "$1"; else echo "$shared/$1"; fi; }

files=("$@")
if [ ${#files[@]} -eq 0 ]; then
    mapfile -t files < <(index | awk -F'\t' '$1 != "file" && $9 > 0 { print $1 }')
fi

for f in "${files[@]}"; do
    notes=$(index | awk -F'\t' -v f="$f" '$1 == f { print $10 }')
    args=$(printf '%s' "$notes" | sed -n 's/.*tshark args: \([^;]*\).*/\1/p')
    # shellcheck disable=SC2086 # args are a list of tshark options
    tshark -r "$(where "$f")" $args -o tcp.reassemble_out_of_order:TRUE -Y 'http2.type == 1 || http2.type == 5' \
        -T json -J "frame ip ipv6 tcp http2" --no-duplicate-keys 2>/dev/null | python3 -c '
import json, sys

def listify(x):
    return x if isinstance(x, list) else [x]

print("frame\tsrc\tdst\tstream_id\tmethod\tpath\tstatus")
for pkt in json.load(sys.stdin):
    l = pkt["_source"]["layers"]
    num = listify(l["frame"]["frame.number"])[0]
    ip = l.get("ip") or l.get("ipv6") or {}
    src = listify(ip.get("ip.src") or ip.get("ipv6.src"))[0]
    dst = listify(ip.get("ip.dst") or ip.get("ipv6.dst"))[0]
    tcp = l["tcp"]
    sport, dport = listify(tcp["tcp.srcport"])[0], listify(tcp["tcp.dstport"])[0]
    fmt = lambda a, p: ("[%s]:%s" % (a, p)) if ":" in a else ("%s:%s" % (a, p))
    for h2 in listify(l.get("http2", [])):
        for st in listify(h2.get("http2.stream", [])):
            if listify(st.get("http2.type", [""]))[0] not in ("1", "5"):
                continue
            sid = listify(st.get("http2.streamid"))[0]
            if listify(st.get("http2.type"))[0] == "5":
                sid = listify(st.get("http2.push_promise.promised_stream_id", [sid]))[0]
            pseudo = {}
            for h in listify(st.get("http2.header", [])):
                name = listify(h.get("http2.header.name", [""]))[0]
                if name in (":method", ":path", ":status") and name not in pseudo:
                    pseudo[name] = listify(h.get("http2.header.value", [""]))[0]
            print("\t".join([num, fmt(src, sport), fmt(dst, dport), sid,
                             pseudo.get(":method", ""), pseudo.get(":path", ""), pseudo.get(":status", "")]))
' > "truth/$f.http2.tsv"
    echo "$f: $(($(wc -l < "truth/$f.http2.tsv") - 1)) header frames" >&2
done
