#!/usr/bin/env bash
# Records testdata/loopback-http.pcap, the capture the repository bundles:
# real programs talking HTTP on loopback, captured by tcpdump.
#
#   curl, python  ──HTTP/1.1──▶  nginx  ──HTTP/1.0──▶  python API (app.py)
#   curl, nghttp  ──h2c──────▶  nginx
#   curl, python  ──HTTP/1.1──────────────────────▶  python API
#
# It holds keep-alive, HEAD, 404, 304, 206, a gzip'd chunked body, a
# chunked body from the API, Expect: 100-continue, a 204, two requests
# pipelined in one segment, and HTTP/2 streams (one connection with two,
# one POST) with HPACK.
#
# Usage: scripts/loopback-capture/record.sh
# Writes testdata/loopback-http.pcap, its line in testdata/INDEX.tsv (with
# the tshark options that dissect it: the ports are the kernel's choice)
# and its Wireshark ground truth in testdata/truth/; tests that check
# exact figures of this capture must be updated after a new recording.
# Needs root for tcpdump on lo; installs missing Debian packages first
# (scripts/install-deps.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
testdata=$(cd "$here/../../testdata" && pwd)
name=loopback-http.pcap
out=$testdata/$name
[ "$(id -u)" -eq 0 ] || { echo "record.sh: tcpdump on lo needs root" >&2; exit 1; }
"$here/../install-deps.sh"

dir=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
listening() { ss -Hltn "sport = :$1" | grep -q LISTEN; }
wait_for() { # wait_for DESCRIPTION COMMAND...
    local what=$1; shift
    for _ in $(seq 1 100); do "$@" && return 0; sleep 0.05; done
    echo "record.sh: $what did not come up" >&2; exit 1
}

mkdir -p "$dir/www"
printf '<!doctype html>\n<title>cleartap</title>\n<p>Recorded on loopback.</p>\n' > "$dir/www/index.html"
for i in $(seq 1 400); do
    printf 'line %03d: the quick brown fox jumps over the lazy dog\n' "$i"
done > "$dir/www/big.txt"

python3 -u "$here/app.py" > "$dir/api.port" &
pids+=($!)
wait_for "the python API" test -s "$dir/api.port"
api=$(cat "$dir/api.port")
http=$(free_port)
h2c=$(free_port)
sed -e "s|@PREFIX@|$dir|g" -e "s|@HTTP_PORT@|$http|g" -e "s|@H2C_PORT@|$h2c|g" \
    -e "s|@API_PORT@|$api|g" "$here/nginx.conf" > "$dir/nginx.conf"
nginx -c "$dir/nginx.conf" -p "$dir" &
pids+=($!)
wait_for "nginx on port $http" listening "$http"
wait_for "nginx on port $h2c" listening "$h2c"

# Only once every server listens, so no connection attempt is recorded.
tcpdump -i lo -U -s 0 -w "$dir/capture.pcap" \
    "tcp and (port $api or port $http or port $h2c)" 2> "$dir/tcpdump.log" &
tcpdump_pid=$!
pids+=("$tcpdump_pid")
wait_for "tcpdump" grep -q "listening on" "$dir/tcpdump.log"

base=http://127.0.0.1:$http
c() { curl -sS -o /dev/null "$@"; }
c "$base/" -o /dev/null "$base/missing"                        # keep-alive: 200, 404
curl -sS -I "$base/index.html" > /dev/null                     # HEAD
c --compressed "$base/big.txt"                                 # gzip, chunked
c -r 0-99 "$base/big.txt"                                      # 206
c -z "Fri, 01 Jan 2100 00:00:00 GMT" "$base/index.html"        # 304
c -H 'Content-Type: application/json' -d '{"name":"widget"}' "$base/api/items"   # via nginx: 201
c "$base/api/items/1"                                          # via nginx: 200
head -c 3000 "$dir/www/big.txt" |
    c -H 'Expect: 100-continue' --data-binary @- "http://127.0.0.1:$api/api/items"  # 100, 201
c -X DELETE "http://127.0.0.1:$api/api/items/1"               # 204
python3 "$here/client.py" "$api" "$http"                       # pipelined; PUT 404 + GET
nghttp -n "http://127.0.0.1:$h2c/" "http://127.0.0.1:$h2c/api/items/1"     # two h2c streams
c --http2-prior-knowledge -d '{"name":"h2"}' "http://127.0.0.1:$h2c/api/items"

sleep 0.3
kill -INT "$tcpdump_pid"
wait "$tcpdump_pid" || true
cp "$dir/capture.pcap" "$out"
echo "record.sh: wrote $out ($(stat -c %s "$out") bytes)" >&2

args="-d tcp.port==$http,http -d tcp.port==$api,http -d tcp.port==$h2c,http2"
count() { tshark -r "$out" $args -Y "$1" 2>/dev/null | wc -l; }
# shellcheck disable=SC2086 # args are a list of tshark options
{
    printf 'file\tsource_repo\tsource_path\tlicense\tlinktype\tpackets\thttp1_requests\thttp1_responses\thttp2_headers_frames\tnotes\n'
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "recorded here" \
        scripts/loopback-capture/record.sh "this repository's" "ether (DLT 1)" \
        "$(count frame)" "$(count http.request)" "$(count http.response)" "$(count 'http2.type == 1')" \
        "curl, python and nghttp clients, nginx (HTTP/1.1, h2c) proxying to a python API, on loopback; tshark args: $args"
} > "$testdata/INDEX.tsv"
"$here/../http1-ground-truth.sh" "$name"
"$here/../h2-ground-truth.sh" "$name"
