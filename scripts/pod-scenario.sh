#!/usr/bin/env bash
# Builds "pods" out of network namespaces for cleartap's live-capture tests
# and benchmarks. Needs root, iproute2, nginx, openssl, python3 (and curl to
# talk to the pods).
#
#   pod-scenario.sh up   NS INDEX WORKDIR
#       Namespace NS joined to the host by a veth pair: host side ctp<INDEX>h
#       with 10.231.INDEX.1/24, pod side eth0 with 10.231.INDEX.2/24. Inside:
#       an echo app on 127.0.0.1:8080 (python3) and a TLS-terminating proxy
#       on 10.231.INDEX.2:443 that forwards plaintext to the app: nginx
#       copied as WORKDIR/NS/envoy, run with master_process off and
#       INSTANCE_IP=10.231.INDEX.2 in its environment (like an Istio sidecar).
#   pod-scenario.sh down NS WORKDIR
#       Kills the pod's processes, deletes its namespace and veth pair.
#   pod-scenario.sh bridge-up PREFIX INDEX WORKDIR
#       Three namespaces: PREFIX-c (client, 10.231.INDEX.1) and PREFIX-s
#       (server, 10.231.INDEX.2, echo app on port 8080) attached by veth
#       pairs to a bridge in PREFIX-r. A capture on `any` in PREFIX-r sees
#       every packet twice (on the client's and the server's bridge port).
#   pod-scenario.sh bridge-down PREFIX WORKDIR
#
# INDEX is 1..254. Only addresses in 10.231.0.0/16 are used.
set -euo pipefail

die() { echo "pod-scenario: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root"
for tool in ip python3; do
    command -v "$tool" >/dev/null || die "$tool not found"
done

# The echo app: answers every request with its method, path and body.
write_app() {
    cat >"$1" <<'PY'
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NAME = sys.argv[3]

class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        out = b"pod=%s method=%s path=%s body=%s" % (
            NAME.encode(), self.command.encode(), self.path.encode(), body)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = handle_any

    def log_message(self, *args):
        pass

ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), Echo).serve_forever()
PY
}

# Waits until something listens on ADDR:PORT inside namespace NS.
wait_listen() {
    local ns=$1 port=$2
    for _ in $(seq 1 100); do
        if ip netns exec "$ns" ss -Hltn "sport = :$port" | grep -q LISTEN; then
            return 0
        fi
        sleep 0.1
    done
    die "nothing listens on port $port in $ns"
}

start() { # NS DIR LOGNAME CMD... ; appends the pid to DIR/pids
    local ns=$1 dir=$2 log=$3
    shift 3
    ip netns exec "$ns" "$@" >"$dir/$log.log" 2>&1 &
    echo $! >>"$dir/pids"
}

pod_up() {
    local ns=$1 idx=$2 work=$3
    [[ "$idx" =~ ^[0-9]+$ ]] && [ "$idx" -ge 1 ] && [ "$idx" -le 254 ] || die "INDEX must be 1..254"
    command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || die "nginx not found"
    command -v openssl >/dev/null || die "openssl not found"
    local nginx_bin
    nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
    local dir="$work/$ns" hostif="ctp${idx}h" podif="ctp${idx}p"
    local ip="10.231.$idx.2"
    mkdir -p "$dir/tmp"
    : >"$dir/pids"
    echo "$hostif" >"$dir/ifname"

    ip netns add "$ns"
    ip link add "$hostif" type veth peer name "$podif"
    ip link set "$podif" netns "$ns"
    ip -n "$ns" link set "$podif" name eth0
    ip addr add "10.231.$idx.1/24" dev "$hostif"
    ip link set "$hostif" up
    ip -n "$ns" addr add "$ip/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up

    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$dir/key.pem" -out "$dir/cert.pem" -days 1 -subj "/CN=$ip" 2>/dev/null
    # A copy, not a symlink: /proc/PID/exe then names `envoy`.
    cp "$nginx_bin" "$dir/envoy"
    cat >"$dir/nginx.conf" <<EOF
master_process off;
daemon off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 512; }
http {
    access_log off;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    upstream app { server 127.0.0.1:8080; keepalive 16; }
    server {
        listen $ip:443 ssl;
        ssl_certificate $dir/cert.pem;
        ssl_certificate_key $dir/key.pem;
        location / {
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
    write_app "$dir/app.py"
    start "$ns" "$dir" app python3 "$dir/app.py" 127.0.0.1 8080 "$ns"
    start "$ns" "$dir" envoy env INSTANCE_IP="$ip" "$dir/envoy" -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf"
    wait_listen "$ns" 8080
    wait_listen "$ns" 443
    echo "$ip"
}

kill_pids() { # FILE
    [ -f "$1" ] || return 0
    local pids
    pids=$(cat "$1")
    [ -n "$pids" ] || return 0
    kill $pids 2>/dev/null || true
    for _ in $(seq 1 30); do
        kill -0 $pids 2>/dev/null || return 0
        sleep 0.1
    done
    kill -9 $pids 2>/dev/null || true
}

ns_down() { # NS: kills whatever still runs in it, deletes it
    local ns=$1
    ip netns list | grep -qw "^$ns" || return 0
    local left
    left=$(ip netns pids "$ns" 2>/dev/null || true)
    [ -z "$left" ] || kill -9 $left 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
}

pod_down() {
    local ns=$1 work=$2 dir="$2/$1"
    kill_pids "$dir/pids"
    ns_down "$ns"
    if [ -f "$dir/ifname" ]; then
        ip link del "$(cat "$dir/ifname")" 2>/dev/null || true
    fi
    rm -rf "$dir"
}

bridge_up() {
    local p=$1 idx=$2 work=$3
    local dir="$work/$p"
    mkdir -p "$dir"
    : >"$dir/pids"
    ip netns add "$p-r"
    ip netns add "$p-c"
    ip netns add "$p-s"
    ip -n "$p-r" link add br0 type bridge
    ip -n "$p-r" link set br0 up
    ip -n "$p-r" link set lo up
    local side n
    for side in c s; do
        n=$([ $side = c ] && echo 1 || echo 2)
        ip -n "$p-r" link add "v$side" type veth peer name eth0 netns "$p-$side"
        ip -n "$p-r" link set "v$side" master br0
        ip -n "$p-r" link set "v$side" up
        ip -n "$p-$side" addr add "10.231.$idx.$n/24" dev eth0
        ip -n "$p-$side" link set eth0 up
        ip -n "$p-$side" link set lo up
    done
    write_app "$dir/app.py"
    start "$p-s" "$dir" app python3 "$dir/app.py" "10.231.$idx.2" 8080 "$p-s"
    wait_listen "$p-s" 8080
    echo "10.231.$idx.2"
}

bridge_down() {
    local p=$1 work=$2
    kill_pids "$work/$p/pids"
    ns_down "$p-s"
    ns_down "$p-c"
    ns_down "$p-r"
    rm -rf "${work:?}/$p"
}

case "${1:-}" in
    up) [ $# -eq 4 ] || die "usage: $0 up NS INDEX WORKDIR"; pod_up "$2" "$3" "$4" ;;
    down) [ $# -eq 3 ] || die "usage: $0 down NS WORKDIR"; pod_down "$2" "$3" ;;
    bridge-up) [ $# -eq 4 ] || die "usage: $0 bridge-up PREFIX INDEX WORKDIR"; bridge_up "$2" "$3" "$4" ;;
    bridge-down) [ $# -eq 3 ] || die "usage: $0 bridge-down PREFIX WORKDIR"; bridge_down "$2" "$3" ;;
    *) die "usage: $0 up|down|bridge-up|bridge-down ..." ;;
esac
