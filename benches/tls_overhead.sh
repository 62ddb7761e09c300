#!/usr/bin/env bash
# Overhead of eBPF TLS capture on a TLS server: wrk against nginx (TLS,
# loopback) without and with examples/tls_sniff running, then the ratio of
# requests/s, the latency percentiles of both runs, and what the capture
# saw and lost.
#
#   benches/tls_overhead.sh                 # 10 s per run, 32 connections
#   DURATION=30 CONNS=64 benches/tls_overhead.sh
#   SNIFF_ARGS="--comm nginx" benches/tls_overhead.sh
#   NGINX_ONLY=1 benches/tls_overhead.sh     # --pid of the nginx worker: per-process uprobes
#   SERVER_ONLY=1 ...                        # the same for either server (the Go server's pid)
#   SERVER=go benches/tls_overhead.sh        # a Go net/http HTTPS server instead of nginx
#   SERVER=go GO_VERSION=1.19 benches/tls_overhead.sh
#
# The floor: bpftrace with bare uprobes on the same functions, merely
# counting hits, in the same run; tls_sniff is reported against it too.
# For nginx: uprobes and uretprobes on SSL_read, SSL_write and their _ex
# forms. For Go: uprobes on the entries of crypto/tls.(*Conn).Read and
# Write (never uretprobes on Go; bpftrace 0.17 cannot probe inside a
# function, so the floor has no probe on Read's RETs, which tls_sniff has:
# the floor is lower than what the same probes would cost).
#
# Needs root, nginx, wrk, openssl, bpftrace (installed here when missing);
# for SERVER=go the Go toolchains of scripts/go-toolchains.sh. Builds
# tls_sniff in release mode if TLS_SNIFF does not point at a binary.
set -euo pipefail

DURATION=${DURATION:-10}
CONNS=${CONNS:-32}
THREADS=${THREADS:-2}
SNIFF_ARGS=${SNIFF_ARGS:-}
SERVER=${SERVER:-nginx}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=${TLS_SNIFF:-$TARGET/release/examples/tls_sniff}

if ! command -v bpftrace >/dev/null; then
    echo "tls_overhead: installing bpftrace" >&2
    apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends bpftrace >&2
fi
for tool in nginx wrk openssl bpftrace; do
    command -v "$tool" >/dev/null || { echo "tls_overhead: $tool not found (scripts/install-deps.sh installs it)" >&2; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "tls_overhead: run as root (BPF programs)" >&2; exit 1; }
if [ ! -x "$BIN" ]; then
    (cd "$ROOT" && cargo build --release --features ebpf,http --example tls_sniff >&2)
fi

tmp=$(mktemp -d)
nginx_pid=""
sniff_pid=""
cleanup() {
    [ -n "$sniff_pid" ] && kill "$sniff_pid" 2>/dev/null || true
    [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

port=${PORT:-}
[ -n "$port" ] || port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
    -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
body=$(head -c 512 /dev/zero | tr '\0' 'x')
cat > "$tmp/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $tmp/nginx.pid;
error_log $tmp/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $tmp/body; proxy_temp_path $tmp/proxy;
    fastcgi_temp_path $tmp/fcgi; uwsgi_temp_path $tmp/uwsgi; scgi_temp_path $tmp/scgi;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$port ssl;
        ssl_certificate $tmp/cert.pem;
        ssl_certificate_key $tmp/key.pem;
        location / { default_type text/plain; return 200 "$body"; }
    }
}
CONF
if [ "$SERVER" = go ]; then
    # The Go test program's server (net/http, crypto/tls), built with the
    # newest toolchain or GO_VERSION; it picks its own port.
    read -r go_version goroot < <("$ROOT/scripts/go-toolchains.sh" ${GO_VERSION:-} | tail -1)
    mkdir -p "$tmp/go"
    (cd "$ROOT/crates/backend-ebpf/tests/go/gotls" && GO111MODULE=off GOFLAGS= \
        GOCACHE="${CLEARTAP_GO_CACHE:-$HOME/.cache/cleartap/go}/build-$go_version" \
        "$goroot/bin/go" build -o "$tmp/go/gotls" main.go)
    "$tmp/go/gotls" server -cert "$tmp/cert.pem" -key "$tmp/key.pem" > "$tmp/go/port" &
    nginx_pid=$!
    for _ in $(seq 100); do grep -q '^port ' "$tmp/go/port" 2>/dev/null && break; sleep 0.1; done
    port=$(sed -nE 's/^port ([0-9]+)/\1/p' "$tmp/go/port")
else
    nginx -p "$tmp" -c "$tmp/nginx.conf" -e "$tmp/error.log" &
    nginx_pid=$!
fi
for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
done

if [ "${NGINX_ONLY:-${SERVER_ONLY:-0}}" = 1 ]; then
    if [ "$SERVER" = go ]; then
        SNIFF_ARGS="$SNIFF_ARGS --pid $nginx_pid"
    else
        for w in $(pgrep -P "$nginx_pid"); do SNIFF_ARGS="$SNIFF_ARGS --pid $w"; done
    fi
fi

url="https://127.0.0.1:$port/bench"
[ "$SERVER" = go ] && url="https://127.0.0.1:$port/hello"
run_wrk() {
    wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency "$url" > "$tmp/wrk-$1.txt"
}
rps() { awk '/^Requests\/sec:/ {print $2}' "$tmp/wrk-$1.txt"; }
reqs() { awk '/requests in/ {print $1}' "$tmp/wrk-$1.txt"; }
pct() { awk -v p="$2" '$1 == p {print $2}' "$tmp/wrk-$1.txt"; }

# Warm-up, then the baseline.
wrk -t1 -c4 -d2s "$url" >/dev/null
run_wrk base

# The floor: bare uprobes on the same functions, counting hits.
[ -d /sys/kernel/tracing/events ] || mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
probes=""
if [ "$SERVER" = go ]; then
    libssl="$tmp/go/gotls"
    for f in Read Write; do
        probes="$probes${probes:+,}uprobe:$libssl:\"crypto/tls.(*Conn).$f\""
    done
else
    libssl=$(awk '/libssl\.so/ {print $6; exit}' "/proc/$(pgrep -P "$nginx_pid" | head -1)/maps")
    for f in SSL_read SSL_write SSL_read_ex SSL_write_ex; do
        probes="$probes${probes:+,}uprobe:$libssl:$f,uretprobe:$libssl:$f"
    done
fi
bpftrace -e "$probes { @hits = count(); }" > "$tmp/bpftrace.out" 2>&1 &
floor_pid=$!
for _ in $(seq 100); do grep -q "Attaching" "$tmp/bpftrace.out" 2>/dev/null && break; sleep 0.1; done
sleep 1
run_wrk floor
kill -INT "$floor_pid"; wait "$floor_pid" 2>/dev/null || true
floor_hits=$(sed -nE 's/^@hits: ([0-9]+)/\1/p' "$tmp/bpftrace.out")

# shellcheck disable=SC2086
"$BIN" --duration $((DURATION + 30)) --output "$tmp/exchanges.jsonl" $SNIFF_ARGS 2> "$tmp/sniff.err" &
sniff_pid=$!
for _ in $(seq 100); do
    grep -q "probing" "$tmp/sniff.err" 2>/dev/null && break
    sleep 0.1
done
sleep 1
stats_was=$(cat /proc/sys/kernel/bpf_stats_enabled 2>/dev/null || echo 0)
echo 1 > /proc/sys/kernel/bpf_stats_enabled 2>/dev/null || true
run_wrk sniff
# CPU of the collector process (user, system) and of its BPF programs.
read -r -a st < "/proc/$sniff_pid/stat"
hz=$(getconf CLK_TCK)
sniff_cpu=$(awk -v u="${st[13]}" -v s="${st[14]}" -v hz="$hz" 'BEGIN { printf "%.2f s user, %.2f s system", u / hz, s / hz }')
bpf_ms=$(bpftool prog show 2>/dev/null | grep -E "name (tp_|ssl_|go_tls_|kprobe_|fentry_)" \
    | sed -nE 's/.*run_time_ns ([0-9]+).*/\1/p' | awk '{ t += $1 } END { printf "%.0f", t / 1e6 }')
echo "$stats_was" > /proc/sys/kernel/bpf_stats_enabled 2>/dev/null || true
kill -INT "$sniff_pid"
wait "$sniff_pid" || true
sniff_pid=""

base=$(rps base)
with=$(rps sniff)
server_label="nginx"
[ "$SERVER" = go ] && server_label="Go $go_version net/http"
echo "tls_overhead: $server_label TLS on loopback, wrk -t$THREADS -c$CONNS -d${DURATION}s, $(nproc) cores, tls_sniff ${SNIFF_ARGS:-(all processes)}"
printf '%-22s %12s %10s %10s %10s %10s\n' run requests/s p50 p90 p99 requests
for r in base floor sniff; do
    case $r in base) label='without capture' ;; floor) label='bpftrace floor' ;; *) label='with tls_sniff' ;; esac
    printf '%-22s %12s %10s %10s %10s %10s\n' "$label" \
        "$(rps $r)" "$(pct $r 50%)" "$(pct $r 90%)" "$(pct $r 99%)" "$(reqs $r)"
done
floor=$(rps floor)
awk -v a="$with" -v b="$base" 'BEGIN { printf "throughput ratio (with/without): %.3f\n", a / b }'
awk -v a="$with" -v f="$floor" 'BEGIN { printf "tls_sniff vs the bare-uprobe floor: %.3f\n", a / f }'
echo "bpftrace floor: ${floor_hits:-?} probe hits on $libssl"
kernel_lost=$(grep -oE 'ring_buffer_full[^,]*' "$tmp/sniff.err" | head -1 || true)
echo "lost events (kernel ring buffer): ${kernel_lost:-none reported}"
if [ "$SERVER" = go ]; then
    captured=$(grep -c '"source":"ebpf-go-tls"' "$tmp/exchanges.jsonl" || true)
    server_side=$(grep -c '"comm":"gotls"' "$tmp/exchanges.jsonl" || true)
else
    captured=$(grep -c '"source":"ebpf-tls"' "$tmp/exchanges.jsonl" || true)
    server_side=$(grep -c '"comm":"nginx"' "$tmp/exchanges.jsonl" || true)
fi
echo "exchanges captured: $captured (server side: $server_side of $(reqs sniff) requests sent)"
echo "capture summary: $(grep 'tls_sniff: [0-9.]* s' "$tmp/sniff.err" | sed 's/^tls_sniff: //')"
echo "tls_sniff CPU during the run: $sniff_cpu; BPF programs: ${bpf_ms:-?} ms (kernel.bpf_stats_enabled)"
