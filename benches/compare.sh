#!/usr/bin/env bash
# Replay speed of cleartap against httpry, tcpflow and tshark on the same
# capture, in the same run.
#
# The capture is realistic keep-alive traffic of small JSON API calls: a
# real nginx on loopback driven by wrk, recorded by tcpdump. Then each tool
# reads the file (output discarded, page cache warm) and the script prints
# seconds, exchanges/s and each tool's time as a multiple of cleartap's.
#
#   benches/compare.sh [SECONDS_OF_TRAFFIC] [CONNECTIONS]     (default 4 s, 32 connections)
#
# Needs root (tcpdump on lo) and nginx, wrk, tcpdump, httpry, tcpflow,
# tshark: scripts/install-deps.sh installs them. Files go to benches/out/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-4}
conns=${2:-32}
out=benches/out
mkdir -p "$out"
out=$(cd "$out" && pwd)

for tool in nginx wrk tcpdump httpry tcpflow tshark; do
    command -v "$tool" >/dev/null || { echo "compare.sh: $tool missing: run scripts/install-deps.sh" >&2; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "compare.sh: needs root for tcpdump on lo" >&2; exit 1; }

cargo build --release --quiet --example replay
replay=${CARGO_TARGET_DIR:-target}/release/examples/replay

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
conf="$out/nginx.conf"
cat > "$conf" <<NGINX
worker_processes 1;
daemon off;
pid $out/nginx.pid;
error_log $out/nginx.err warn;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$port;
        default_type application/json;
        location /api/ {
            return 200 '{"id":42,"name":"widget","price":9.99,"tags":["a","b"],"stock":{"warehouse":"eu-1","count":17}}';
        }
    }
}
NGINX
nginx -c "$conf" -p "$out" &
nginx_pid=$!
capture="$out/keepalive-json.pcap"
tcpdump -i lo -s 0 -B 262144 -U -w "$capture" "tcp port $port" 2>"$out/tcpdump.err" &
tcpdump_pid=$!
cleanup() { kill "$tcpdump_pid" "$nginx_pid" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT
sleep 1
wrk -t 1 -c "$conns" -d "${seconds}s" "http://127.0.0.1:$port/api/items/42" > "$out/wrk.txt"
sleep 1
kill -INT "$tcpdump_pid"; wait "$tcpdump_pid" 2>/dev/null || true
kill "$nginx_pid"; wait "$nginx_pid" 2>/dev/null || true
trap - EXIT
grep -E 'Requests/sec|requests in' "$out/wrk.txt" | sed 's/^/wrk: /'
grep -E 'captured|dropped' "$out/tcpdump.err" | sed 's/^/tcpdump: /'

size=$(stat -c %s "$capture")
cat "$capture" > /dev/null   # warm the page cache for every tool alike

time_of() { # prints seconds taken by the command
    local start end
    start=$(date +%s.%N)
    "$@" > /dev/null 2>&1
    end=$(date +%s.%N)
    echo "$end - $start" | bc -l
}

rm -rf "$out/tcpflow"; mkdir -p "$out/tcpflow"
# One worker: with JSON written on its own thread (the default with 2+ cores), and all on one thread.
t_cleartap=$(time_of "$replay" --workers 1 --output /dev/null "$capture")
t_cleartap_1t=$(time_of "$replay" --workers 1 --single-thread --output /dev/null "$capture")
exchanges=$("$replay" --workers 1 --output /dev/null "$capture" 2>&1 | sed -n 's/.*exchanges \([0-9]*\) .*/\1/p')
rm -f "$out/httpry.txt"
httpry -r "$capture" -o "$out/httpry.txt" "tcp port $port" >/dev/null 2>&1
httpry_lines=$(grep -vc '^#' "$out/httpry.txt" || true)
# httpry and tcpflow only look at ports 80/8080 unless given a filter.
t_httpry=$(time_of httpry -r "$capture" -o /dev/null "tcp port $port")
t_tcpflow=$(time_of tcpflow -r "$capture" -o "$out/tcpflow" "tcp port $port")
t_tshark=$(time_of tshark -r "$capture" -T fields -e http.request.method -e http.request.uri -e http.response.code)
rm -rf "$out/tcpflow"

printf '\ncapture: %s, %.1f MB, %s exchanges (cleartap), %s request+status lines (httpry)\n' \
    "$capture" "$(echo "$size / 1000000" | bc -l)" "$exchanges" "$httpry_lines"
echo "cleartap: one worker (decode, reassembly, HTTP) + a JSON sink thread; cleartap-1t: everything on one thread"
printf '%-12s %10s %16s %12s\n' tool seconds exchanges/s "x cleartap"
for t in cleartap cleartap_1t httpry tcpflow tshark; do
    v="t_$t"; secs=${!v}
    printf '%-12s %10.3f %16.0f %12.2f\n' "${t/_/-}" "$secs" "$(echo "$exchanges / $secs" | bc -l)" "$(echo "$secs / $t_cleartap" | bc -l)"
done
