#!/usr/bin/env bash
# Records testdata/akto/akto-http1.pcap: curl talking HTTP/1 to
# testdata/akto/server.py over 127.0.0.1 and ::1, exchanges chosen for what
# Akto's collector changes on the way to Kafka (header names differing in
# case, Transfer-Encoding, gzip and deflate bodies, Pragma, reason phrases,
# absolute targets, HTTP/1.0, a method Akto does not send, invalid UTF-8).
# Needs root (tcpdump on lo), python3, curl. Then run
# scripts/akto-ground-truth.sh for what Akto's collector sends for them.
set -euo pipefail
cd "$(dirname "$0")/.."
out=testdata/akto/akto-http1.pcap
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
p4=$(port); p6=$(port)
python3 testdata/akto/server.py 127.0.0.1 "$p4" & s4=$!
python3 testdata/akto/server.py ::1 "$p6" & s6=$!
tcpdump -i lo -U -s 0 -w "$out" "tcp port $p4 or tcp port $p6" 2>/dev/null & td=$!
cleanup() { kill "$s4" "$s6" 2>/dev/null || true; }
trap cleanup EXIT
sleep 1.5
u=http://127.0.0.1:$p4
c() { curl -sS --max-time 5 "$@" >/dev/null; }
c "$u/case" -H 'X-Tenant: blue' -H 'x-tenant: green' -H 'X-FORWARDED-FOR: 203.0.113.7, 10.0.0.1' -H 'Pragma: no-cache'
c "$u/chunked" -H 'Transfer-Encoding: chunked' -H 'Content-Type: application/json' --data-binary '{"item":7,"tags":["a","b"]}'
c -H 'Accept-Encoding: gzip' "$u/gzip" "$u/gzip-chunked" "$u/deflate"
c -g --path-as-is "$u/a%2Fb/(x)!?q=%7B1%7D&t=a|b" "$u/p{1}/ä" "$u/pragma" "$u/noreason"
c "$u/binary" -H 'Host: shop.test:8080' -H 'X-Real-IP: 198.51.100.4'
c -X PROPFIND "$u/echo"
c -0 "$u/case" -H 'x-tenant: old'
c -x "$u" http://shop.example/case?via=proxy -H 'Accept: */*'
c -g "http://[::1]:$p6/case" -H 'x-tenant: v6' --data-binary 'a=1&b=<2>'
sleep 1
kill -INT "$td"; wait "$td" 2>/dev/null || true
echo "recorded $out ($(stat -c %s "$out") bytes)" >&2
