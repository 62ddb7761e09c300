"""A small JSON API for scripts/loopback-capture/record.sh: binds a free
loopback port, prints it, and serves HTTP/1.1 until it is killed.

GET /api/items/1 (200, Content-Length), GET /api/stream (200, chunked),
POST /api/items (201, reads the body, answers Expect: 100-continue),
DELETE /api/items/1 (204, no body), anything else 404.
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Api(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "loopback-api/1"
    sys_version = ""

    def log_message(self, *args):
        pass

    def send_json(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/api/items/1":
            self.send_json(200, {"id": 1, "name": "gear", "tags": ["steel", "small"]})
        elif self.path == "/api/stream":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(3):
                line = f"event {i}\n".encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_json(404, {"error": "not found", "path": self.path})

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        self.send_json(201, {"id": 2, "received_bytes": len(body)})

    def do_DELETE(self):
        self.send_response(204)
        self.end_headers()


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
