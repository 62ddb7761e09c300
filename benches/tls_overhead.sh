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
#   RUNS=5 benches/tls_overhead.sh           # floor and tls_sniff alternated 5 times: the median ratio
#   SERVER=gnutls ...                        # gnutls-serv --echo (GnuTLS), driven by benches/tls_load
#   SERVER=nss ...                           # NSS's selfserv (one answer per connection), by tls_load
#   SERVER=all SERVER_ONLY=1 RUNS=3 ...      # each of nginx, gnutls, nss, go in turn: a row per library
#
# The floor: bpftrace with bare uprobes on the same functions, merely
# counting hits, in the same run; tls_sniff is reported against it too.
# For nginx: uprobes and uretprobes on SSL_read, SSL_write and their _ex
# forms. For Go: uprobes on the entries of crypto/tls.(*Conn).Read and
# Write (never uretprobes on Go; bpftrace 0.17 cannot probe inside a
# function, so the floor has no probe on Read's RETs, which tls_sniff has:
# the floor is lower than what the same probes would cost). With
# SERVER_ONLY=1 the floor's uprobes go on the server's process only too
# (for nginx: perf's uprobe events, see below), so both trap in the same
# processes. BPF run-time
# statistics (kernel.bpf_stats_enabled) are on during both the floor's and
# tls_sniff's runs: they cost each BPF program run the same.
#
# GnuTLS and NSS servers: wrk needs HTTP keep-alive, which gnutls-serv
# --http and selfserv do not keep, so benches/tls_load (Go, crypto/tls)
# drives them: echo round trips on kept connections for gnutls-serv, and
# for selfserv one request per connection (resumed sessions: its rate is
# bound by handshakes, so its ratio says less about per-call cost). The
# floor is then on the functions tls_sniff probes in that library:
# gnutls_record_send2 (or _send), gnutls_record_recv and _recv_seq;
# NSPR's PR_Write, PR_Send, PR_Writev, PR_Read, PR_Recv; entries and
# returns.
#
# Needs root, nginx, wrk, openssl, bpftrace (installed here when missing),
# perf for SERVER_ONLY=1 on a shared library, gnutls-bin / libnss3-tools
# and a Go toolchain for those servers;
# for SERVER=go the Go toolchains of scripts/go-toolchains.sh. Builds
# tls_sniff in release mode if TLS_SNIFF does not point at a binary.
set -euo pipefail

DURATION=${DURATION:-10}
CONNS=${CONNS:-32}
THREADS=${THREADS:-2}
SNIFF_ARGS=${SNIFF_ARGS:-}
SERVER=${SERVER:-nginx}
ROOT=$(cd "$(dirname "$0")/.." && pwd)

if [ "$SERVER" = all ]; then
    # One row per library, each against its own floor.
    rows=""
    for server in nginx gnutls nss go; do
        out=$(SERVER=$server "$0" 2>&1) || { echo "$out" >&2; echo "tls_overhead: SERVER=$server failed" >&2; exit 1; }
        echo "$out"
        echo
        rows="$rows$(printf '%-28s %10s %10s %10s %8s %8s %s' \
            "$(echo "$out" | sed -nE 's/^tls_overhead: (.*) TLS on loopback.*/\1/p')" \
            "$(echo "$out" | awk '/^without capture/ {print $3}')" \
            "$(echo "$out" | awk '/^bare-uprobe floor/ {print $3}')" \
            "$(echo "$out" | awk '/^with tls_sniff/ {print $3}')" \
            "$(echo "$out" | sed -nE 's/^tls_sniff vs the bare-uprobe floor: //p')" \
            "$(echo "$out" | sed -nE 's/^server CPU per request, floor\/tls_sniff: //p')" \
            "$(echo "$out" | sed -nE 's/^lost events \(kernel ring buffer, all runs\): //p')")
"
    done
    echo "per library (requests/s; ratios to the bare-uprobe floor of the same functions, same run):"
    printf '%-28s %10s %10s %10s %8s %8s %s\n' server without floor with vs-floor cpu-ratio lost
    printf '%s' "$rows"
    exit 0
fi
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
elif [ "$SERVER" = gnutls ]; then
    command -v gnutls-serv >/dev/null || { echo "tls_overhead: gnutls-serv not found (gnutls-bin)" >&2; exit 1; }
    gnutls-serv --echo -p "$port" --x509certfile "$tmp/cert.pem" --x509keyfile "$tmp/key.pem" >/dev/null 2>&1 &
    nginx_pid=$!
elif [ "$SERVER" = nss ]; then
    command -v selfserv >/dev/null || { echo "tls_overhead: selfserv not found (libnss3-tools)" >&2; exit 1; }
    mkdir -p "$tmp/nssdb"
    certutil -N --empty-password -d "sql:$tmp/nssdb"
    openssl pkcs12 -export -name server -passout pass: -in "$tmp/cert.pem" -inkey "$tmp/key.pem" -out "$tmp/server.p12"
    pk12util -i "$tmp/server.p12" -d "sql:$tmp/nssdb" -W "" >/dev/null
    selfserv -d "sql:$tmp/nssdb" -n server -p "$port" >/dev/null 2>&1 &
    nginx_pid=$!
else
    nginx -p "$tmp" -c "$tmp/nginx.conf" -e "$tmp/error.log" &
    nginx_pid=$!
fi
if [ "$SERVER" = gnutls ] || [ "$SERVER" = nss ]; then
    read -r go_version goroot < <("$ROOT/scripts/go-toolchains.sh" | tail -1)
    (cd "$ROOT/benches/tls_load" && GO111MODULE=off GOFLAGS= \
        GOCACHE="${CLEARTAP_GO_CACHE:-$HOME/.cache/cleartap/go}/build-$go_version" \
        "$goroot/bin/go" build -o "$tmp/tls_load" main.go)
fi
for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
done

# The server's processes: nginx's worker, else the server itself.
server_procs=$nginx_pid
[ "$SERVER" = nginx ] && server_procs=$(pgrep -P "$nginx_pid")
server_comm=$(cat "/proc/$(echo "$server_procs" | head -1)/comm")
floor_pids=""
if [ "${NGINX_ONLY:-${SERVER_ONLY:-0}}" = 1 ]; then
    floor_pids=$(echo "$server_procs" | paste -sd,)
    for w in $server_procs; do SNIFF_ARGS="$SNIFF_ARGS --pid $w"; done
fi

url="https://127.0.0.1:$port/bench"
[ "$SERVER" = go ] && url="https://127.0.0.1:$port/hello"
# The server's CPU time (user + system, clock ticks) over its processes.
server_ticks() {
    for p in $server_procs; do awk '{ print $14 + $15 }' "/proc/$p/stat"; done | awk '{ t += $1 } END { print t }'
}
run_wrk() {
    local t0
    t0=$(server_ticks)
    case $SERVER in
        gnutls) "$tmp/tls_load" -addr "127.0.0.1:$port" -c "$CONNS" -d "${DURATION}s" -echo > "$tmp/wrk-$1.txt" ;;
        nss) "$tmp/tls_load" -addr "127.0.0.1:$port" -c "$CONNS" -d "${DURATION}s" > "$tmp/wrk-$1.txt" ;;
        *) wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency "$url" > "$tmp/wrk-$1.txt" ;;
    esac
    echo $(($(server_ticks) - t0)) > "$tmp/ticks-$1"
}
# Microseconds of server CPU per request of a run: less disturbed than
# requests/s by other load on a shared machine (it leaves out the
# collector's own CPU).
cpu_per_req() { awk -v t="$(cat "$tmp/ticks-$1")" -v n="$(reqs "$1")" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", t * 1e6 / hz / n }'; }
rps() { awk '/^Requests\/sec:/ {print $2}' "$tmp/wrk-$1.txt"; }
reqs() { awk '/requests in/ {print $1}' "$tmp/wrk-$1.txt"; }
pct() { awk -v p="$2" '$1 == p {print $2}' "$tmp/wrk-$1.txt"; }

# Warm-up, then the baseline.
case $SERVER in
    gnutls | nss) DURATION=2 CONNS=4 run_wrk warmup ;;
    *) wrk -t1 -c4 -d2s "$url" >/dev/null ;;
esac
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
    # The library the server maps, and the functions tls_sniff probes in it.
    case $SERVER in
        gnutls) lib_re='libgnutls\.so'; funcs="gnutls_record_send2 gnutls_record_recv gnutls_record_recv_seq" ;;
        nss) lib_re='libnspr4\.so'; funcs="PR_Write PR_Send PR_Writev PR_Read PR_Recv" ;;
        *) lib_re='libssl\.so'; funcs="SSL_read SSL_write SSL_read_ex SSL_write_ex" ;;
    esac
    libssl=$(awk -v re="$lib_re" '$6 ~ re {print $6; exit}' "/proc/$(echo "$server_procs" | head -1)/maps")
    nm -D --defined-only "$libssl" | sed -E 's/@.*//' > "$tmp/symbols"
    if [ "$SERVER" = gnutls ] && ! grep -q ' gnutls_record_send2$' "$tmp/symbols"; then
        funcs="gnutls_record_send gnutls_record_recv gnutls_record_recv_seq"
    fi
    floor_funcs=""
    for f in $funcs; do
        grep -q " $f\$" "$tmp/symbols" || continue
        floor_funcs="$floor_funcs $f"
        probes="$probes${probes:+,}uprobe:$libssl:$f,uretprobe:$libssl:$f"
    done
fi
stats_was=$(cat /proc/sys/kernel/bpf_stats_enabled 2>/dev/null || echo 0)
restore_stats() { echo "$stats_was" > /proc/sys/kernel/bpf_stats_enabled 2>/dev/null || true; }
trap 'restore_stats; cleanup' EXIT

# With SERVER_ONLY=1 on nginx, the floor's uprobes must trap in the server
# only, as tls_sniff's do with --pid; bpftrace 0.17 cannot (its -p does not
# restrict uprobes), so the floor is then perf's uprobe events counted by
# `perf stat -p` (the kernel inserts the breakpoints in the server's memory
# only). The Go server's binary is its own: bpftrace's probes on it trap
# nowhere else.
perf_floor=""
if [ -n "$floor_pids" ] && [ "$SERVER" != go ]; then
    command -v perf >/dev/null || { echo "tls_overhead: SERVER_ONLY=1 needs perf for the per-process floor" >&2; exit 1; }
    perf_floor="ctfloor$$"
    trap 'restore_stats; perf probe -q -d "$perf_floor:*" 2>/dev/null; cleanup' EXIT
    for f in $floor_funcs; do
        # By address: by name perf also probes the function's PLT stub in
        # the same file (libgnutls calls its own exports through it).
        addr=0x$(awk -v f="$f" '$3 == f { print $1; exit }' "$tmp/symbols")
        perf probe -q -x "$libssl" --add "$perf_floor:$f=$addr" >&2
        perf probe -q -x "$libssl" --add "$perf_floor:${f}_ret=$addr%return" >&2
    done
fi

run_floor() { # $1: run name
    if [ -n "$perf_floor" ]; then
        perf stat -x, -e "$perf_floor:*" -p "$floor_pids" -o "$tmp/floor.out" &
    else
        bpftrace -e "$probes { @hits = count(); }" > "$tmp/floor.out" 2>&1 &
    fi
    floor_pid=$!
    if [ -z "$perf_floor" ]; then
        for _ in $(seq 100); do grep -q "Attaching" "$tmp/floor.out" 2>/dev/null && break; sleep 0.1; done
    fi
    sleep 1
    echo 1 > /proc/sys/kernel/bpf_stats_enabled 2>/dev/null || true
    run_wrk "$1"
    restore_stats
    kill -INT "$floor_pid"; wait "$floor_pid" 2>/dev/null || true
    if [ -n "$perf_floor" ]; then
        awk -F, '/ctfloor/ { t += $1 } END { print t }' "$tmp/floor.out" > "$tmp/hits-$1"
    else
        sed -nE 's/^@hits: ([0-9]+)/\1/p' "$tmp/floor.out" > "$tmp/hits-$1"
    fi
}

run_sniff() { # $1: run name
    # shellcheck disable=SC2086
    "$BIN" --duration $((DURATION + 30)) --output "$tmp/exchanges-$1.jsonl" $SNIFF_ARGS 2> "$tmp/sniff-$1.err" &
    sniff_pid=$!
    for _ in $(seq 100); do
        grep -q "probing" "$tmp/sniff-$1.err" 2>/dev/null && break
        sleep 0.1
    done
    sleep 1
    echo 1 > /proc/sys/kernel/bpf_stats_enabled 2>/dev/null || true
    run_wrk "$1"
    # CPU of the collector process (user, system) and of its BPF programs.
    read -r -a st < "/proc/$sniff_pid/stat"
    hz=$(getconf CLK_TCK)
    sniff_cpu=$(awk -v u="${st[13]}" -v s="${st[14]}" -v hz="$hz" 'BEGIN { printf "%.2f s user, %.2f s system", u / hz, s / hz }')
    # Only this tls_sniff's programs: those attached by its process.
    prog_ids=$(bpftool perf list 2>/dev/null | awk -v p="$sniff_pid" '$2 == p {print $6}' | sort -u)
    bpf_ms=$(for id in $prog_ids; do bpftool prog show id "$id" 2>/dev/null; done \
        | sed -nE 's/.*run_time_ns ([0-9]+).*/\1/p' | awk '{ t += $1 } END { printf "%.0f", t / 1e6 }')
    restore_stats
    kill -INT "$sniff_pid"
    wait "$sniff_pid" || true
    sniff_pid=""
}

RUNS=${RUNS:-1}
for i in $(seq "$RUNS"); do
    run_floor "floor$i"
    run_sniff "sniff$i"
    awk -v a="$(rps "sniff$i")" -v f="$(rps "floor$i")" 'BEGIN { printf "%.3f\n", a / f }' >> "$tmp/ratios"
done
# The reported runs: the pair whose ratio is the median.
median_ratio=$(sort -n "$tmp/ratios" | awk '{ r[NR] = $1 } END { print r[int((NR + 1) / 2)] }')
for i in $(seq "$RUNS"); do
    [ "$(sed -n "${i}p" "$tmp/ratios")" = "$median_ratio" ] && { m=$i; break; }
done
cp "$tmp/wrk-floor$m.txt" "$tmp/wrk-floor.txt"
cp "$tmp/wrk-sniff$m.txt" "$tmp/wrk-sniff.txt"
cp "$tmp/exchanges-sniff$m.jsonl" "$tmp/exchanges.jsonl"
cp "$tmp/sniff-sniff$m.err" "$tmp/sniff.err"
cp "$tmp/ticks-floor$m" "$tmp/ticks-floor"
cp "$tmp/ticks-sniff$m" "$tmp/ticks-sniff"
floor_hits=$(cat "$tmp/hits-floor$m")

base=$(rps base)
with=$(rps sniff)
case $SERVER in
    go) server_label="Go $go_version net/http" ;;
    gnutls) server_label="gnutls-serv --echo (GnuTLS)" ;;
    nss) server_label="NSS selfserv" ;;
    *) server_label="nginx (OpenSSL)" ;;
esac
driver="wrk -t$THREADS -c$CONNS -d${DURATION}s"
case $SERVER in gnutls | nss) driver="tls_load -c $CONNS -d ${DURATION}s" ;; esac
echo "tls_overhead: $server_label TLS on loopback, $driver, $(nproc) cores, tls_sniff ${SNIFF_ARGS:-(all processes)}"
printf '%-22s %12s %10s %10s %10s %10s %12s\n' run requests/s p50 p90 p99 requests "server us/req"
for r in base floor sniff; do
    case $r in base) label='without capture' ;; floor) label='bare-uprobe floor' ;; *) label='with tls_sniff' ;; esac
    printf '%-22s %12s %10s %10s %10s %10s %12s\n' "$label" \
        "$(rps $r)" "$(pct $r 50%)" "$(pct $r 90%)" "$(pct $r 99%)" "$(reqs $r)" "$(cpu_per_req $r)"
done
floor=$(rps floor)
awk -v a="$with" -v b="$base" 'BEGIN { printf "throughput ratio (with/without): %.3f\n", a / b }'
awk -v a="$with" -v f="$floor" 'BEGIN { printf "tls_sniff vs the bare-uprobe floor: %.3f\n", a / f }'
awk -v f="$(cpu_per_req floor)" -v w="$(cpu_per_req sniff)" 'BEGIN { printf "server CPU per request, floor/tls_sniff: %.3f\n", f / w }'
[ "$RUNS" -gt 1 ] && echo "tls_sniff vs floor per run: $(tr '\n' ' ' < "$tmp/ratios")(median above: run $m)"
floor_tool="bpftrace"
[ -n "$perf_floor" ] && floor_tool="perf stat -p $floor_pids"
echo "floor ($floor_tool): ${floor_hits:-?} probe hits on $libssl (median run)"
kernel_lost=$(cat "$tmp"/sniff-sniff*.err | grep -oE 'ring_buffer_full[^,]*' || true)
echo "lost events (kernel ring buffer, all runs): ${kernel_lost:-none reported}"
source_name=ebpf-tls
[ "$SERVER" = go ] && source_name=ebpf-go-tls
captured=$(grep -c "\"source\":\"$source_name\"" "$tmp/exchanges.jsonl" || true)
server_side=$(grep -c "\"comm\":\"$server_comm\"" "$tmp/exchanges.jsonl" || true)
echo "exchanges captured: $captured (server side: $server_side of $(reqs sniff) requests sent)"
# An echo is no HTTP exchange: the events say what was captured.
[ "$SERVER" = gnutls ] && echo "(gnutls-serv echoes: its bytes pair into no HTTP exchange; see the events in the summary)"
echo "capture summary (median run): $(grep 'tls_sniff: [0-9.]* s' "$tmp/sniff.err" | sed 's/^tls_sniff: //')"
echo "tls_sniff CPU during the run: $sniff_cpu; its BPF programs: ${bpf_ms:-?} ms (kernel.bpf_stats_enabled; last run)"
