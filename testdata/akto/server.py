#!/usr/bin/env python3
"""A small HTTP/1.1 server whose responses exercise what Akto's collector
changes on the way to Kafka: header names differing only in case,
Transfer-Encoding, gzip bodies, Pragma, reason phrases. It writes each
response byte for byte (no framework rewrites them). Used by
scripts/record-akto-captures.sh; serves until killed.

usage: server.py HOST PORT
"""
import gzip
import socket
import sys
import threading

def chunked(body, sizes):
    out = b""
    i = 0
    for n in sizes:
        part = body[i:i + n]
        if not part:
            break
        out += b"%x\r\n" % len(part) + part + b"\r\n"
        i += n
    if i < len(body):
        out += b"%x\r\n" % (len(body) - i) + body[i:] + b"\r\n"
    return out

def response(path, body_in):
    js = b'{"id":9,"tenant":"blue","note":"<b>&</b>"}'
    if path.startswith("/case"):
        return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"X-Trace: first\r\nx-trace: second\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\n"
                b"Content-Length: %d\r\n\r\n" % len(js)) + js
    if path.startswith("/chunked"):
        return (b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n"
                + chunked(js, [7, 11]) + b"0\r\nX-Sum: 42\r\n\r\n")
    if path.startswith("/gzip-chunked"):
        z = gzip.compress(js, mtime=0)
        return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
                b"Transfer-Encoding: chunked\r\nVary: Accept-Encoding\r\n\r\n"
                + chunked(z, [10, 10]) + b"0\r\n\r\n")
    if path.startswith("/gzip"):
        z = gzip.compress(js, mtime=0)
        return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
                b"Content-Length: %d\r\n\r\n" % len(z)) + z
    if path.startswith("/deflate"):
        import zlib
        z = zlib.compress(js)
        return (b"HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\n"
                b"Content-Length: %d\r\n\r\n" % len(z)) + z
    if path.startswith("/pragma"):
        return (b"HTTP/1.1 200 Fine Thanks\r\nPragma: no-cache\r\nContent-Length: 2\r\n\r\nok")
    if path.startswith("/noreason"):
        return b"HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n"
    if path.startswith("/binary"):
        b = bytes([0x61, 0xf0, 0x9f, 0x98, 0x62, 0xff, 0x00, 0x0a])
        return (b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                b"Content-Length: %d\r\n\r\n" % len(b)) + b
    # echo: the request body back, as JSON text
    return (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n"
            % len(body_in)) + body_in

def read_request(f):
    line = f.readline()
    if not line:
        return None
    headers = []
    while True:
        h = f.readline()
        if h in (b"\r\n", b"\n", b""):
            break
        headers.append(h)
    method, target, _ = line.decode("latin-1").split(" ", 2)
    names = {h.split(b":", 1)[0].strip().lower(): h.split(b":", 1)[1].strip() for h in headers}
    body = b""
    if names.get(b"transfer-encoding", b"").lower() == b"chunked":
        while True:
            size = int(f.readline().strip().split(b";")[0], 16)
            if size == 0:
                while f.readline() not in (b"\r\n", b"\n", b""):
                    pass
                break
            body += f.read(size)
            f.readline()
    elif b"content-length" in names:
        body = f.read(int(names[b"content-length"]))
    return method, target, body

def serve(conn):
    with conn, conn.makefile("rb") as f:
        while True:
            req = read_request(f)
            if req is None:
                return
            conn.sendall(response(req[1], req[2]))

def main():
    host, port = sys.argv[1], int(sys.argv[2])
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(16)
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()

if __name__ == "__main__":
    main()
