#!/usr/bin/env python3
"""A fake Telegram Bot API for nanocell's channel tests (python3 stdlib only).

Serves http://127.0.0.1:PORT/bot<TOKEN>/<method> with the real field names and error shapes:
getMe, getUpdates (long polling with offset and timeout; confirmed updates are dropped),
sendMessage (400 over 4096 characters, counted in UTF-16 units), sendChatAction, deleteWebhook.
A wrong token is 401 {"ok":false,"error_code":401,"description":"Unauthorized"}.

Faults, injected through the control endpoints (not part of the Bot API):
  POST /control/message  {"chat_id":N, "text":"...", "from_id":N?, "kind":"text"|"photo"?,
                          "chat_type":"private"?, "title":"..."?, "is_bot":false?}
  POST /control/fail     {"method":"sendMessage", "status":429|409|502, "count":N,
                          "retry_after":S?}   the next N calls of method fail so:
                          429 {"ok":false,"error_code":429,"description":"Too Many Requests:
                          retry after S","parameters":{"retry_after":S}}, 409 {"ok":false,
                          "error_code":409,"description":"Conflict: terminated by other
                          getUpdates request; ..."}, 502 an HTML "Bad Gateway" page
  GET  /control/state    {"sent":[{chat_id,text}], "actions":[{chat_id,action}], "calls":{method:n},
                          "offsets":[...], "failed":{method:n}, "bad_token":n}

Usage: fake_telegram.py TOKEN PORTFILE   (the port it listens on is written to PORTFILE)
"""
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKEN = sys.argv[1]
lock = threading.Condition()
updates = []  # pending updates, oldest first
next_update_id = [1000]
next_message_id = [1]
sent = []
actions = []
calls = {}
offsets = []
faults = {}  # method -> [status, count, retry_after]
failed = {}
bad_token = [0]
stopping = [False]


def utf16_len(s):
    return len(s.encode("utf-16-le")) // 2


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, obj=None, raw=None, ctype="application/json", headers=None):
        body = raw if raw is not None else json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(n) if n else b""
        if not data:
            return {}
        return json.loads(data)

    def do_GET(self):
        if self.path == "/control/state":
            with lock:
                self.reply(200, {"sent": sent, "actions": actions, "calls": calls,
                                 "offsets": offsets, "failed": failed,
                                 "bad_token": bad_token[0], "pending": len(updates)})
            return
        self.api()

    def do_POST(self):
        if self.path == "/control/message":
            m = self.body()
            with lock:
                uid = next_update_id[0]
                next_update_id[0] += 1
                mid = next_message_id[0]
                next_message_id[0] += 1
                chat_id = m["chat_id"]
                ctype = m.get("chat_type", "private" if chat_id > 0 else "group")
                chat = {"id": chat_id, "type": ctype}
                if ctype == "private":
                    chat["first_name"] = m.get("title", "Tester")
                else:
                    chat["title"] = m.get("title", "Test group")
                msg = {"message_id": mid, "date": int(time.time()), "chat": chat,
                       "from": {"id": m.get("from_id", 7), "is_bot": m.get("is_bot", False),
                                "first_name": m.get("first_name", "Tess"),
                                "username": "tess"}}
                kind = m.get("kind", "text")
                if kind == "text":
                    msg["text"] = m["text"]
                elif kind == "photo":
                    msg["photo"] = [{"file_id": "AgAD", "file_unique_id": "x", "width": 90,
                                     "height": 90, "file_size": 1000}]
                elif kind == "sticker":
                    msg["sticker"] = {"file_id": "CAAD", "emoji": "x", "width": 1, "height": 1}
                upd = {"update_id": uid}
                if kind == "edited":
                    msg["text"] = m.get("text", "edited")
                    upd["edited_message"] = msg
                else:
                    upd["message"] = msg
                updates.append(upd)
                lock.notify_all()
            self.reply(200, {"update_id": uid})
            return
        if self.path == "/control/fail":
            f = self.body()
            with lock:
                faults[f["method"]] = [f["status"], f.get("count", 1), f.get("retry_after", 1)]
            self.reply(200, {"ok": True})
            return
        self.api()

    def fault(self, method):
        """Sends the injected failure for method, if one is due."""
        with lock:
            f = faults.get(method)
            if not f or f[1] <= 0:
                return False
            f[1] -= 1
            failed[method] = failed.get(method, 0) + 1
            status, retry = f[0], f[2]
        if status == 429:
            self.reply(429, {"ok": False, "error_code": 429,
                             "description": "Too Many Requests: retry after %d" % retry,
                             "parameters": {"retry_after": retry}})
        elif status == 409:
            self.reply(409, {"ok": False, "error_code": 409,
                             "description": "Conflict: terminated by other getUpdates request; "
                             "make sure that only one bot instance is running"})
        else:
            self.reply(status, raw=b"<html><head><title>502 Bad Gateway</title></head><body>"
                       b"<center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center>"
                       b"</body></html>", ctype="text/html")
        return True

    def api(self):
        parts = self.path.split("/")
        if len(parts) != 3 or not parts[1].startswith("bot"):
            self.reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})
            return
        token, method = parts[1][3:], parts[2].split("?")[0]
        if token != TOKEN:
            with lock:
                bad_token[0] += 1
            self.reply(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
            return
        try:
            req = self.body()
        except ValueError:
            self.reply(400, {"ok": False, "error_code": 400,
                             "description": "Bad Request: can't parse JSON"})
            return
        with lock:
            calls[method] = calls.get(method, 0) + 1
        if self.fault(method):
            return
        if method == "getMe":
            self.reply(200, {"ok": True, "result": {"id": 4242, "is_bot": True,
                                                    "first_name": "Nano",
                                                    "username": "nanocell_test_bot",
                                                    "can_join_groups": True}})
        elif method == "deleteWebhook":
            self.reply(200, {"ok": True, "result": True, "description": "Webhook is already deleted"})
        elif method == "getUpdates":
            offset = int(req.get("offset", 0))
            timeout = min(int(req.get("timeout", 0)), 30)
            deadline = time.time() + timeout
            with lock:
                offsets.append(offset)
                # An offset confirms every update before it: they are gone for good.
                updates[:] = [u for u in updates if u["update_id"] >= offset]
                while not updates and time.time() < deadline and not stopping[0]:
                    lock.wait(max(0.0, min(0.5, deadline - time.time())))
                res = list(updates[:int(req.get("limit", 100))])
            self.reply(200, {"ok": True, "result": res})
        elif method == "sendMessage":
            text = req.get("text", "")
            if not isinstance(req.get("chat_id"), int):
                self.reply(400, {"ok": False, "error_code": 400,
                                 "description": "Bad Request: chat not found"})
            elif not text:
                self.reply(400, {"ok": False, "error_code": 400,
                                 "description": "Bad Request: message text is empty"})
            elif utf16_len(text) > 4096:
                self.reply(400, {"ok": False, "error_code": 400,
                                 "description": "Bad Request: message is too long"})
            else:
                with lock:
                    sent.append({"chat_id": req["chat_id"], "text": text})
                    mid = next_message_id[0]
                    next_message_id[0] += 1
                self.reply(200, {"ok": True, "result": {
                    "message_id": mid, "date": int(time.time()), "text": text,
                    "chat": {"id": req["chat_id"], "type": "private"}}})
        elif method == "sendChatAction":
            with lock:
                actions.append({"chat_id": req.get("chat_id"), "action": req.get("action")})
            self.reply(200, {"ok": True, "result": True})
        else:
            self.reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})


def main():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    with open(sys.argv[2] + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.rename(sys.argv[2] + ".tmp", sys.argv[2])
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
