#!/usr/bin/env python3
"""A fake Anthropic Messages API over TLS, for the proxy's tests and benchmark.

Usage: fake_messages_api.py --cert C --key K --api-key-file F --port-file P --log L

Listens on 127.0.0.1 (a random port, written to the port file once it is listening) and
answers:
  POST /v1/messages              a tool_use round: the first reply asks for the bash tool
                                 ("echo tool-ran-$((6*7))", or the text after "tool: " when the
                                 first user message starts so), or NanoClaw's send_message tool
                                 with the text after "send-via-tool: " (up to a '<' or the line's
                                 end) when the new user message holds that anywhere (the daemon
                                 wraps prompts in XML); once the last user message holds
                                 a tool_result, the reply quotes it ("the tool said: ...").
                                 With "stream": true the reply is server-sent events.
  POST /v1/messages/count_tokens {"input_tokens": 42}
  anything else                  404.
A streamed reply waits after its first event until the file named by an x-test-gate field
exists (tests use it to prove the proxy forwards events before the response ends).
Any request whose x-api-key is not the key in --api-key-file gets 401, as the real API does.
Every request is logged as one JSON line: method, path, headers (all of them, to prove what
the proxy sent and stripped). Only the standard library is used.
"""
import argparse
import json
import os
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--api-key-file", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    return ap.parse_args()


ARGS = parse_args()
with open(ARGS.api_key_file) as f:
    API_KEY = f.read().strip()
LOG_LOCK = threading.Lock()


def tool_command(messages):
    first = messages[0].get("content") if messages else None
    if isinstance(first, str) and first.startswith("tool: "):
        return first[len("tool: "):]
    return "echo tool-ran-$((6*7))"


def tool_use(messages):
    """The first round's tool_use block: send_message or bash (see the usage)."""
    prompt = messages[-1].get("content") if messages else None
    marker = "send-via-tool: "
    if isinstance(prompt, str) and marker in prompt:
        text = prompt.split(marker, 1)[1].split("<", 1)[0].split("\n", 1)[0].strip()
        return {"type": "tool_use", "id": "toolu_fake1", "name": "send_message",
                "input": {"text": text}}
    return {"type": "tool_use", "id": "toolu_fake1", "name": "bash",
            "input": {"command": tool_command(messages)}}


def tool_result_text(messages):
    """The text of the last user message's tool_result, or None."""
    if not messages:
        return None
    last = messages[-1]
    if last.get("role") != "user" or not isinstance(last.get("content"), list):
        return None
    for block in last["content"]:
        if block.get("type") == "tool_result":
            content = block.get("content")
            if isinstance(content, list):
                content = "".join(c.get("text", "") for c in content)
            return content
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def record(self, body_len):
        entry = {"method": self.command, "path": self.path,
                 "headers": {k.lower(): v for k, v in self.headers.items()},
                 "body_bytes": body_len}
        with LOG_LOCK, open(ARGS.log, "a") as f:
            f.write(json.dumps(entry) + "\n")

    def reply_json(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("request-id", "req_fake")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.record(0)
        self.reply_json(404, {"type": "error", "error": {"type": "not_found_error",
                                                          "message": "no such path"}})

    def do_POST(self):
        n = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(n) if n else b""
        self.record(len(body))
        if self.headers.get("x-api-key") != API_KEY:
            return self.reply_json(401, {"type": "error", "error": {
                "type": "authentication_error", "message": "invalid x-api-key"}})
        path = self.path.split("?", 1)[0]
        if path == "/v1/messages/count_tokens":
            return self.reply_json(200, {"input_tokens": 42})
        if path != "/v1/messages":
            return self.reply_json(404, {"type": "error", "error": {
                "type": "not_found_error", "message": "no such path"}})
        try:
            req = json.loads(body or b"{}")
        except ValueError:
            return self.reply_json(400, {"type": "error", "error": {
                "type": "invalid_request_error", "message": "bad JSON"}})
        result = tool_result_text(req.get("messages", []))
        if result is None:
            content = [{"type": "text", "text": "Let me run that."},
                       tool_use(req.get("messages", []))]
            stop = "tool_use"
        else:
            content = [{"type": "text", "text": "the tool said: " + result.strip()}]
            stop = "end_turn"
        msg = {"id": "msg_fake", "type": "message", "role": "assistant",
               "model": req.get("model", ""), "content": content, "stop_reason": stop,
               "usage": {"input_tokens": 10, "output_tokens": 5}}
        if req.get("stream"):
            return self.stream(msg)
        self.reply_json(200, msg)

    def event(self, name, data):
        self.wfile.write(("event: %s\ndata: %s\n\n" % (name, json.dumps(data))).encode())
        self.wfile.flush()

    def stream(self, msg):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        start = dict(msg, content=[], stop_reason=None)
        self.event("message_start", {"type": "message_start", "message": start})
        gate = self.headers.get("x-test-gate")
        for _ in range(600):
            if not gate or os.path.exists(gate):
                break
            time.sleep(0.1)
        text = msg["content"][0]["text"]
        self.event("content_block_start", {"type": "content_block_start", "index": 0,
                                           "content_block": {"type": "text", "text": ""}})
        for word in text.split(" "):
            self.event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                               "delta": {"type": "text_delta",
                                                         "text": word + " "}})
        self.event("content_block_stop", {"type": "content_block_stop", "index": 0})
        self.event("message_delta", {"type": "message_delta",
                                     "delta": {"stop_reason": msg["stop_reason"]}})
        self.event("message_stop", {"type": "message_stop"})


def main():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(ARGS.cert, ARGS.key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    with open(ARGS.port_file + ".tmp", "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(ARGS.port_file + ".tmp", ARGS.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
