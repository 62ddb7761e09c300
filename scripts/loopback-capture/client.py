"""Python clients for scripts/loopback-capture/record.sh.

Usage: client.py API_PORT NGINX_PORT

1. Two requests pipelined in one write to the API (raw socket), read to close.
2. http.client: a PUT through nginx (the API implements no PUT: 501), then a GET
   on the same keep-alive connection.
"""

import http.client
import socket
import sys


def pipelined(port):
    requests = (
        b"GET /api/items/1 HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: pipeline.py\r\n\r\n"
        b"GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: pipeline.py\r\n"
        b"Connection: close\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(requests)
        while s.recv(65536):
            pass


def keep_alive(port):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.request("PUT", "/api/items/1", body=b'{"name":"cog"}',
                 headers={"Content-Type": "application/json"})
    conn.getresponse().read()
    conn.request("GET", "/api/items/1")
    conn.getresponse().read()
    conn.close()


def main():
    api, nginx = int(sys.argv[1]), int(sys.argv[2])
    pipelined(api)
    keep_alive(nginx)


if __name__ == "__main__":
    sys.exit(main())
