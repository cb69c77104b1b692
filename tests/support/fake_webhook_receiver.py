#!/usr/bin/env python3
"""A webhook receiver for nanocell's tests (python3 stdlib only): it checks each delivery's
X-Nanocell-Timestamp and X-Nanocell-Signature (sha256=HMAC-SHA256(secret, "TS.BODY")), fails the
first FAIL requests with 500, then answers 204 and records the delivery.

  GET /state -> {"deliveries":[body...], "attempts":N, "bad_signatures":N, "ids":[...]}

Usage: fake_webhook_receiver.py SECRET FAIL PORTFILE
"""
import hashlib
import hmac
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = sys.argv[1].encode()
fail_left = [int(sys.argv[2])]
lock = threading.Lock()
deliveries = []
attempts = [0]
bad = [0]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, obj=None):
        body = json.dumps(obj).encode() if obj is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        with lock:
            self.reply(200, {"deliveries": deliveries, "attempts": attempts[0],
                             "bad_signatures": bad[0]})

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        ts = self.headers.get("X-Nanocell-Timestamp", "")
        sig = self.headers.get("X-Nanocell-Signature", "")
        want = "sha256=" + hmac.new(SECRET, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        with lock:
            attempts[0] += 1
            if not hmac.compare_digest(want, sig) or abs(time.time() - int(ts or 0)) > 300:
                bad[0] += 1
                self.reply(401, {"error": "bad signature"})
                return
            if fail_left[0] > 0:
                fail_left[0] -= 1
                self.reply(500, {"error": "receiver down"})
                return
            d = json.loads(body)
            d["delivery_header"] = self.headers.get("X-Nanocell-Delivery")
            deliveries.append(d)
        self.reply(204)


def main():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    with open(sys.argv[3] + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(sys.argv[3] + ".tmp", sys.argv[3])
    srv.serve_forever()


if __name__ == "__main__":
    main()
