#!/usr/bin/python3
"""A webhook receiver the test suite steers through files: a real process on loopback.

Usage: test-receiver.py DIR
Each request is answered with the status in DIR/answer (default 204) and recorded as a line
"<webhook-id> <status>" in DIR/received. Prints "listening on PORT" once ready.
"""
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DIR = sys.argv[1]


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        try:
            with open(os.path.join(DIR, "answer")) as f:
                status = int(f.read().strip() or "204")
        except FileNotFoundError:
            status = 204
        with open(os.path.join(DIR, "received"), "a") as f:
            f.write(f"{self.headers.get('webhook-id', '-')} {status}\n")
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(f"listening on {server.server_address[1]}", flush=True)
server.serve_forever()
