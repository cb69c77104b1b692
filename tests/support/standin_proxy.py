#!/usr/bin/env python3
"""A stand-in for the host's credential proxy, on a unix socket (python3 stdlib only).

Usage: standin_proxy.py SOCKET LOG [TOOL_COMMAND]

It answers what the proxy's socket speaks, enough for the relay tests:
  POST /v1/messages   a Messages API reply: when the conversation holds no tool_result yet and
                      TOOL_COMMAND is given, a tool_use of the bash tool with that command;
                      otherwise end_turn with the text "tool said: <the last tool_result>" (or
                      "standin reply" without one). With "stream": true in the request, the
                      same reply as server-sent events.
  GET http://h/p      absolute form (HTTP_PROXY): 200, body "standin saw GET http://h/p".
  CONNECT h:p         (HTTPS_PROXY): 200 Connection established, then the connection ends.
Each request's first line is appended to LOG, with the x-api-key header it carried (or "-"),
and " stream" for a Messages request that asked for streaming.
The socket is made mode 0666 so a container's non-root user can connect. SIGTERM ends it.
"""
import json
import os
import signal
import socketserver
import sys
from http.server import BaseHTTPRequestHandler

SOCK, LOG = sys.argv[1], sys.argv[2]
TOOL = sys.argv[3] if len(sys.argv) > 3 else None


def log(line):
    with open(LOG, "a") as f:
        f.write(line + "\n")


def reply_message(req):
    last = None
    for m in req.get("messages", []):
        if isinstance(m.get("content"), list):
            for b in m["content"]:
                if b.get("type") == "tool_result":
                    last = b.get("content")
    if last is None and TOOL:
        content = [{"type": "tool_use", "id": "toolu_standin", "name": "bash",
                    "input": {"command": TOOL}}]
        stop = "tool_use"
    else:
        text = "tool said: " + last if last is not None else "standin reply"
        content = [{"type": "text", "text": text}]
        stop = "end_turn"
    return {"id": "msg_standin", "type": "message", "role": "assistant",
            "model": req.get("model", ""), "content": content, "stop_reason": stop}


def sse(msg):
    out = []

    def ev(name, data):
        out.append("event: %s\ndata: %s\n\n" % (name, json.dumps(data)))

    head = dict(msg, content=[], stop_reason=None)
    ev("message_start", {"type": "message_start", "message": head})
    for i, b in enumerate(msg["content"]):
        if b["type"] == "text":
            ev("content_block_start", {"type": "content_block_start", "index": i,
                                       "content_block": {"type": "text", "text": ""}})
            t = b["text"]
            for part in (t[: len(t) // 2], t[len(t) // 2:]):
                ev("content_block_delta", {"type": "content_block_delta", "index": i,
                                           "delta": {"type": "text_delta", "text": part}})
        else:
            ev("content_block_start", {"type": "content_block_start", "index": i,
                                       "content_block": dict(b, input={})})
            js = json.dumps(b["input"])
            for part in (js[:5], js[5:]):
                ev("content_block_delta", {"type": "content_block_delta", "index": i,
                                           "delta": {"type": "input_json_delta",
                                                     "partial_json": part}})
        ev("content_block_stop", {"type": "content_block_stop", "index": i})
    ev("message_delta", {"type": "message_delta",
                         "delta": {"stop_reason": msg["stop_reason"]}, "usage": {}})
    ev("message_stop", {"type": "message_stop"})
    return "".join(out).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def note(self, extra=""):
        log("%s %s%s" % (self.requestline, self.headers.get("x-api-key", "-"), extra))

    def send(self, status, ctype, body):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        try:
            req = json.loads(body or b"{}")
        except ValueError:
            req = None
        self.note(" stream" if isinstance(req, dict) and req.get("stream") else "")
        if self.path != "/v1/messages":
            return self.send(404, "application/json", b'{"error":{"message":"no such path"}}')
        if not isinstance(req, dict):
            return self.send(400, "application/json", b'{"error":{"message":"bad json"}}')
        msg = reply_message(req)
        if req.get("stream"):
            return self.send(200, "text/event-stream", sse(msg))
        self.send(200, "application/json", json.dumps(msg).encode())

    def do_GET(self):
        self.note()
        self.send(200, "text/plain", ("standin saw GET %s\n" % self.path).encode())

    def do_CONNECT(self):
        self.note()
        self.send_response(200, "Connection established")
        self.end_headers()
        self.close_connection = True


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def main():
    if os.path.exists(SOCK):
        os.unlink(SOCK)
    srv = Server(SOCK, Handler)
    os.chmod(SOCK, 0o666)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    log("ready")
    try:
        srv.serve_forever()
    finally:
        os.unlink(SOCK)


main()
