"""A local server speaking the parts of WeChat's HTTP API we call, for wechatpy to hit: the access token,
jscode2session (mini-program login), user/info (a service-account follower's unionid), message/custom/send
(customer-service messages, recorded in ``sent``) and subscribe/template messages (recorded in ``messages``).
Access tokens are numbered; a call with a token that is not the current one is refused with 40001, as WeChat
does. ``errors`` scripts errcodes (43101, 40001, 42001, 45009, -1) for the next subscribe/template sends."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class FakeWeChat:
    """Codes starting with ``bad`` are refused with 40029 (invalid code), like WeChat does for used/expired ones."""

    MESSAGE_PATHS = ("/cgi-bin/message/subscribe/send", "/cgi-bin/message/template/send")

    def __init__(self, appid: str = "wx-test-app", secret: str = "wx-test-secret") -> None:
        self.appid, self.secret = appid, secret
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.sent: list[dict] = []  # customer-service messages, as WeChat received them
        self.fail_with_500 = False
        self.tokens_issued = 0
        self.current_token: str | None = None
        self.errors: list[int] = []  # errcodes for the next message sends
        self.messages: list[dict] = []  # accepted subscribe/template messages
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                url = urlparse(self.path)
                params = {k: v[0] for k, v in parse_qs(url.query).items()}
                outer.calls.append((url.path, params))
                if outer.fail_with_500:
                    self.send_response(500)
                    self.end_headers()
                    return
                self._json(outer.answer(url.path, params))

            def do_POST(self) -> None:
                url = urlparse(self.path)
                params = {k: v[0] for k, v in parse_qs(url.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                outer.calls.append((url.path, params))
                if outer.fail_with_500:
                    self.send_response(500)
                    self.end_headers()
                    return
                if url.path in outer.MESSAGE_PATHS:
                    self._json(outer.message(url.path, params, body))
                else:
                    self._json(outer.answer_post(url.path, params, body))

            def _json(self, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    def answer(self, path: str, params: dict[str, str]) -> dict:
        if path == "/cgi-bin/token":
            if params.get("appid") != self.appid or params.get("secret") != self.secret:
                return {"errcode": 40013, "errmsg": "invalid appid"}
            with self._lock:
                self.tokens_issued += 1
                self.current_token = f"fake-token-{self.tokens_issued}"
            return {"access_token": self.current_token, "expires_in": 7200}
        if path == "/sns/jscode2session":
            if params.get("appid") != self.appid or params.get("secret") != self.secret:
                return {"errcode": 40013, "errmsg": "invalid appid"}
            code = params.get("js_code", "")
            if code.startswith("bad"):
                return {"errcode": 40029, "errmsg": "invalid code"}
            return {"openid": f"openid-{code}", "session_key": "sk", "unionid": f"union-{code}"}
        if path == "/cgi-bin/user/info":
            if params.get("access_token") != self.current_token:
                return {"errcode": 40001, "errmsg": "invalid credential"}
            openid = params.get("openid", "")
            # Service-account followers "mp-<code>" are the same people as mini-program users "<code>".
            return {"subscribe": 1, "openid": openid, "unionid": f"union-{openid.removeprefix('mp-')}"}
        return {"errcode": 404, "errmsg": "unknown api"}

    def answer_post(self, path: str, params: dict[str, str], body: dict) -> dict:
        if path == "/cgi-bin/message/custom/send":
            if params.get("access_token") != self.current_token:
                return {"errcode": 40001, "errmsg": "invalid credential"}
            if body.get("msgtype") != "text" or not body.get("touser") or not body.get("text", {}).get("content"):
                return {"errcode": 44002, "errmsg": "empty post data"}
            self.sent.append(body)
            return {"errcode": 0, "errmsg": "ok"}
        return {"errcode": 404, "errmsg": "unknown api"}

    def message(self, path: str, params: dict[str, str], body: dict) -> dict:
        if path not in self.MESSAGE_PATHS:
            return {"errcode": 404, "errmsg": "unknown api"}
        with self._lock:
            if self.errors:
                code = self.errors.pop(0)
                if code in (40001, 42001):
                    self.current_token = None  # the token really is dead now: only a refetch helps
                return {"errcode": code, "errmsg": f"scripted error {code}"}
            if params.get("access_token") != self.current_token:
                return {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"}
            if not body.get("touser") or not body.get("template_id"):
                return {"errcode": 47003, "errmsg": "argument invalid!"}
            for name, field in (body.get("data") or {}).items():
                if name.startswith("thing") and len(field.get("value", "")) > 20:
                    return {"errcode": 47003, "errmsg": f"argument invalid! data.{name}.value too long"}
            msgid = len(self.messages) + 1000
            self.messages.append({"path": path, "msgid": msgid, **body})
        return {"errcode": 0, "errmsg": "ok", "msgid": msgid}

    def start(self) -> FakeWeChat:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
