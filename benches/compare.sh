#!/usr/bin/env bash
# Replay speed of cleartap against tcpflow, httpry and tshark on the same
# captures, in the same run, with the issue-15 targets checked.
#
# Two captures are recorded here by tcpdump on loopback:
#   - HTTP/1.1: a real nginx driven by wrk (keep-alive, small JSON API calls);
#   - HTTP/2 (h2c, prior knowledge): nghttpd serving a 600-byte JSON body to
#     h2load (several connections, several streams in flight on each).
# Then every tool reads each file RUNS times (interleaved, output discarded,
# page cache warm) and the script prints the median wall seconds, CPU
# seconds (user + system) and peak RSS of each, exchanges/s, and each
# tool's time as a multiple of cleartap's (`replay --workers 1
# --single-thread`, JSON written to /dev/null).
#
#   benches/compare.sh [SECONDS_OF_WRK_TRAFFIC] [CONNECTIONS]     (default 4 s, 32)
#
# Environment:
#   RUNS=5           runs of each fast tool (medians are printed)
#   TSHARK_RUNS=3    runs of tshark (it takes 50-100x longer)
#   H2_REQUESTS=200000  requests h2load sends
#   BIG_MB=1000      size of the capture for the peak-heap check: the wrk
#                    capture's packets repeated into one file in a temp dir
#                    (deleted after); BIG_MB=0 skips the check
#
# Peak RSS counts the pages of a memory-mapped capture that were read, so
# the peak-heap check reports cleartap's anonymous memory (RssAnon, sampled
# every 5 ms: heap, stacks; the mapped file aside) on the capture and on the
# big one.
#
# Needs root (tcpdump on lo) and nginx, wrk, nghttpd, h2load, tcpdump,
# httpry, tcpflow, tshark, python3: scripts/install-deps.sh installs them.
# Captures go to benches/out/ (kept for profiling).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-4}
conns=${2:-32}
runs=${RUNS:-5}
tshark_runs=${TSHARK_RUNS:-3}
h2_requests=${H2_REQUESTS:-200000}
big_mb=${BIG_MB:-1000}
out=benches/out
mkdir -p "$out"
out=$(cd "$out" && pwd)

for tool in nginx wrk nghttpd h2load tcpdump httpry tcpflow tshark python3; do
    command -v "$tool" >/dev/null || { echo "compare.sh: $tool missing: run scripts/install-deps.sh" >&2; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "compare.sh: needs root for tcpdump on lo" >&2; exit 1; }

cargo build --release --quiet --example replay
replay=${CARGO_TARGET_DIR:-target}/release/examples/replay

pids=()
tmp=$(mktemp -d)
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Waits until something accepts connections on 127.0.0.1:$1.
wait_port() {
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "compare.sh: nothing listens on port $1" >&2
    return 1
}

# Starts tcpdump on lo for one port into $1; waits until it listens.
start_tcpdump() {
    local file=$1 port=$2
    tcpdump -i lo -s 0 -B 262144 -U -w "$file" "tcp port $port" 2>"$file.err" &
    tcpdump_pid=$!
    pids+=("$tcpdump_pid")
    for _ in $(seq 50); do grep -q listening "$file.err" 2>/dev/null && break; sleep 0.1; done
}
stop_tcpdump() {
    sleep 0.5
    kill -INT "$tcpdump_pid"; wait "$tcpdump_pid" 2>/dev/null || true
    grep -E 'captured|dropped by kernel' "$1.err" | sed "s|^|tcpdump $(basename "$1"): |"
}

# ---- HTTP/1.1: nginx + wrk --------------------------------------------------
port=$(free_port)
cat > "$out/nginx.conf" <<NGINX
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
nginx -c "$out/nginx.conf" -p "$out" &
nginx_pid=$!
pids+=("$nginx_pid")
wait_port "$port"
h1=$out/keepalive-json.pcap
start_tcpdump "$h1" "$port"
wrk -t 1 -c "$conns" -d "${seconds}s" "http://127.0.0.1:$port/api/items/42" > "$out/wrk.txt"
stop_tcpdump "$h1"
kill "$nginx_pid"; wait "$nginx_pid" 2>/dev/null || true
grep -E 'Requests/sec|requests in' "$out/wrk.txt" | sed 's/^/wrk: /'

# ---- HTTP/2 (h2c): nghttpd + h2load -----------------------------------------
h2port=$(free_port)
mkdir -p "$tmp/htdocs"
python3 -c 'import json,sys; body=json.dumps({"id":42,"items":[{"n":i,"name":"widget-%03d"%i} for i in range(40)]}); sys.stdout.write(body[:599].ljust(599)+"\n")' > "$tmp/htdocs/item.json"
nghttpd --no-tls -a 127.0.0.1 -d "$tmp/htdocs" "$h2port" > /dev/null 2>&1 &
nghttpd_pid=$!
pids+=("$nghttpd_pid")
wait_port "$h2port"
h2=$out/h2load-nghttpd.pcap
start_tcpdump "$h2" "$h2port"
h2load -n "$h2_requests" -c 8 -m 10 "http://127.0.0.1:$h2port/item.json" > "$out/h2load.txt"
stop_tcpdump "$h2"
kill "$nghttpd_pid"; wait "$nghttpd_pid" 2>/dev/null || true
grep -E '^finished in|^requests:' "$out/h2load.txt" | sed 's/^/h2load: /'

# ---- measuring ---------------------------------------------------------------
# measure NAME CMD...: runs CMD (stdout and stderr discarded) and appends
# "wall_s cpu_s maxrss_kb" to $tmp/NAME.
measure() {
    local name=$1; shift
    python3 - "$@" >> "$tmp/$name" <<'PY'
import os, resource, subprocess, sys, time
t = time.monotonic()
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
_, status, ru = os.wait4(p.pid, 0)
wall = time.monotonic() - t
print("%.4f %.4f %d" % (wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss))
PY
}
# median NAME FIELD
median() {
    awk -v f="$2" '{ print $f }' "$tmp/$1" | sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
exchanges_of() {
    "$replay" --workers 1 --single-thread --output /dev/null "$1" 2>&1 | sed -n 's/.*exchanges \([0-9]*\) .*/\1/p'
}

h1_exchanges=$(exchanges_of "$h1")
h2_exchanges=$(exchanges_of "$h2")
tshark_h1=$(tshark -r "$h1" -d "tcp.port==$port,http" -Y http.response -T fields -e http.response.code 2>/dev/null | wc -l)
tshark_h2=$(tshark -r "$h2" -d "tcp.port==$h2port,http2" -T fields -e http2.headers.status 2>/dev/null | tr ',' '\n' | grep -c .)
cat "$h1" "$h2" > /dev/null   # warm the page cache for every tool alike
mkdir -p "$tmp/flows"

for run in $(seq "$runs"); do
    echo "run $run/$runs" >&2
    measure h1_cleartap_1t "$replay" --workers 1 --single-thread --output /dev/null "$h1"
    measure h1_cleartap "$replay" --workers 1 --sink-thread --output /dev/null "$h1"
    rm -rf "$tmp/flows"/*
    measure h1_tcpflow tcpflow -r "$h1" -o "$tmp/flows" "tcp port $port"
    measure h1_httpry httpry -r "$h1" -o /dev/null "tcp port $port"
    measure h2_cleartap_1t "$replay" --workers 1 --single-thread --output /dev/null "$h2"
    measure h2_cleartap "$replay" --workers 1 --sink-thread --output /dev/null "$h2"
    rm -rf "$tmp/flows"/*
    measure h2_tcpflow tcpflow -r "$h2" -o "$tmp/flows" "tcp port $h2port"
    rm -rf "$tmp/flows"/*
done
for run in $(seq "$tshark_runs"); do
    echo "tshark run $run/$tshark_runs" >&2
    measure h1_tshark tshark -r "$h1" -d "tcp.port==$port,http" -T fields -e http.request.method -e http.request.uri -e http.response.code
    measure h2_tshark tshark -r "$h2" -d "tcp.port==$h2port,http2" -T fields -e http2.headers.method -e http2.headers.path -e http2.headers.status
done

# table CAPTURE EXCHANGES TOOLS...
table() {
    local cap=$1 ex=$2; shift 2
    local base_wall base_cpu
    base_wall=$(median "${cap}_cleartap_1t" 1)
    base_cpu=$(median "${cap}_cleartap_1t" 2)
    printf '%-13s %5s %8s %8s %9s %13s %9s %9s\n' tool runs wall_s cpu_s peak_MB exchanges/s "wall/ct-1t" "cpu/ct-1t"
    for t in "$@"; do
        local w c m n
        n=$(wc -l < "$tmp/${cap}_$t")
        w=$(median "${cap}_$t" 1); c=$(median "${cap}_$t" 2); m=$(median "${cap}_$t" 3)
        printf '%-13s %5d %8.3f %8.3f %9.1f %13.0f %9.2f %9.2f\n' "${t//_/-}" "$n" "$w" "$c" \
            "$(echo "$m / 1024" | bc -l)" "$(echo "$ex / $w" | bc -l)" \
            "$(echo "$w / $base_wall" | bc -l)" "$(echo "$c / $base_cpu" | bc -l)"
    done
}
# ratio CAP TOOL FIELD: TOOL's median over cleartap-1t's
ratio() { echo "$(median "${1}_$2" "$3") / $(median "${1}_cleartap_1t" "$3")" | bc -l; }
verdict() { # verdict NAME VALUE MIN
    local ok=short; [ "$(echo "$2 >= $3" | bc -l)" -eq 1 ] && ok=holds
    printf '  %-52s %8.2f  (target >= %s: %s)\n' "$1" "$2" "$3" "$ok"
}

echo
echo "machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "cleartap-1t: replay --workers 1 --single-thread (decode, reassembly, HTTP and JSON on one thread)"
echo "cleartap:    replay --workers 1 --sink-thread (JSON written on a thread of its own)"
echo "peak_MB is the peak RSS, which includes the pages of cleartap's mapped capture"
printf '\nHTTP/1.1 %s: %.1f MB, %s exchanges (cleartap), %s responses (tshark)\n' \
    "$(basename "$h1")" "$(echo "$(stat -c %s "$h1") / 1000000" | bc -l)" "$h1_exchanges" "$tshark_h1"
table h1 "$h1_exchanges" cleartap_1t cleartap tcpflow httpry tshark
printf '\nHTTP/2 %s: %.1f MB, %s exchanges (cleartap), %s responses (tshark)\n' \
    "$(basename "$h2")" "$(echo "$(stat -c %s "$h2") / 1000000" | bc -l)" "$h2_exchanges" "$tshark_h2"
table h2 "$h2_exchanges" cleartap_1t cleartap tcpflow tshark

echo
echo "targets (issue 15), medians of this run:"
verdict "HTTP/1 tcpflow wall / cleartap-1t wall" "$(ratio h1 tcpflow 1)" 1.5
verdict "HTTP/1 tcpflow CPU / cleartap-1t CPU" "$(ratio h1 tcpflow 2)" 1.5
verdict "HTTP/1 tshark wall / cleartap-1t wall" "$(ratio h1 tshark 1)" 50
verdict "HTTP/1 tshark CPU / cleartap-1t CPU" "$(ratio h1 tshark 2)" 50
verdict "HTTP/1 cleartap-1t CPU / cleartap (sink thread) CPU" "$(ratio h1 cleartap 2 | awk '{ print 1 / $1 }')" 1.0
verdict "HTTP/2 cleartap-1t CPU / cleartap (sink thread) CPU" "$(ratio h2 cleartap 2 | awk '{ print 1 / $1 }')" 1.0

printf '  %-52s %8.2f  (no target; HTTP/2 speed is the criterion bench h2: 1 GB/s per core)\n' \
    "HTTP/2 tshark wall / cleartap-1t wall" "$(ratio h2 tshark 1)"

# ---- peak heap against capture size ------------------------------------------
if [ "$big_mb" -gt 0 ]; then
    big=$tmp/big.pcap
    # The wrk capture's packets again and again after one file header.
    copies=$(python3 - "$h1" "$big" "$big_mb" <<'PY'
import sys
src, dst, mb = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = open(src, "rb").read()
head, body = data[:24], data[24:]
lo = bytes([127, 0, 0, 1]) * 2  # IPv4 source and destination, side by side
copies = 0
with open(dst, "wb") as out:
    out.write(head)
    while out.tell() < mb * 1000000:
        # Copy k talks between 127.x.y.1 and itself: new connections, so
        # every copy is replayed in full.
        k = copies + 1
        out.write(body.replace(lo, bytes([127, k >> 8 & 255, k & 255, 1]) * 2))
        copies += 1
print(copies)
PY
)
    peak_anon() { # peak RssAnon (kB) of a replay of $1, sampled every 5 ms
        python3 - "$replay" --workers 1 --single-thread --output /dev/null "$1" <<'PY'
import subprocess, sys, time
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
peak = 0
status = "/proc/%d/status" % p.pid
while p.poll() is None:
    try:
        with open(status) as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    peak = max(peak, int(line.split()[1]))
    except OSError:
        pass
    time.sleep(0.005)
err = p.stderr.read()
print(peak, err.split("exchanges ")[1].split()[0] if "exchanges " in err else "?")
PY
    }
    read -r small_anon small_ex < <(peak_anon "$h1")
    read -r big_anon big_ex < <(peak_anon "$big")
    echo
    printf 'peak heap (RssAnon) of replay --workers 1 --single-thread, the mapped file aside:\n'
    printf '  %-40s %8.1f MB  %7.1f MB anon  %9s exchanges\n' "$(basename "$h1")" \
        "$(echo "$(stat -c %s "$h1") / 1000000" | bc -l)" "$(echo "$small_anon / 1024" | bc -l)" "$small_ex"
    printf '  %-40s %8.1f MB  %7.1f MB anon  %9s exchanges (%d copies)\n' "big.pcap (temp, deleted)" \
        "$(echo "$(stat -c %s "$big") / 1000000" | bc -l)" "$(echo "$big_anon / 1024" | bc -l)" "$big_ex" "$copies"
    rm -f "$big"
fi
