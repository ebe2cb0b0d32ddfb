#!/usr/bin/python3
"""A webhook receiver for the demo: verifies Standard Webhooks signatures and prints each event.

Usage: webhook-receiver.py SECRET [PORT]   (SECRET is whsec_<base64>)
Prints "listening on PORT" once ready. With RECEIVER_LOG set, also appends one JSON line per
verified event to that file (id, account, application, from, to), for make demo-ha's tally.
"""
import os
import base64
import hashlib
import hmac
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

SECRET = base64.b64decode(sys.argv[1].removeprefix("whsec_"))
EMOJI = {"accepted": "✅", "rejected": "❌", "submitted": "📨", "draft": "📝"}


def verify(headers, body):
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = "v1," + base64.b64encode(hmac.new(SECRET, signed, hashlib.sha256).digest()).decode()
    return any(hmac.compare_digest(expected, s) for s in headers.get("webhook-signature", "").split())


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        ok = verify(self.headers, body)
        event = json.loads(body)
        app = event["data"]["application"]
        previous = event["data"].get("previous") or {}
        status = app["status"]
        change = f"{previous.get('status')} → {status}" if previous else status
        reason = f": {app['rejection_reason']}" if app.get("rejection_reason") else ""
        print(f"{time.strftime('%H:%M:%S')} webhook  {EMOJI.get(status, 'ℹ️')} {app.get('alias')} "
              f"({app.get('country_iso2')} · {app.get('number_type')}) {change}{reason}  "
              f"[{event['id'][:16]}…, signature {'ok' if ok else 'BAD'}]", flush=True)
        if ok and os.environ.get("RECEIVER_LOG"):
            with open(os.environ["RECEIVER_LOG"], "a") as log:
                log.write(json.dumps({"id": event["id"], "account": event.get("account"),
                                      "application": app.get("compliance_application_id"),
                                      "from": previous.get("status"), "to": status}) + "\n")
        self.send_response(204 if ok else 401)
        self.end_headers()

    def log_message(self, *args):
        pass


server = HTTPServer(("127.0.0.1", int(sys.argv[2]) if len(sys.argv) > 2 else 0), Handler)
print(f"listening on {server.server_address[1]}", flush=True)
server.serve_forever()
