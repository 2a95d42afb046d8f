"""A local server speaking the parts of WeChat's HTTP API we call, for wechatpy to hit: the access token,
jscode2session (mini-program login), user/info (a service-account follower's unionid) and message/custom/send
(customer-service messages, recorded in ``sent``)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class FakeWeChat:
    """Codes starting with ``bad`` are refused with 40029 (invalid code), like WeChat does for used/expired ones."""

    def __init__(self, appid: str = "wx-test-app", secret: str = "wx-test-secret") -> None:
        self.appid, self.secret = appid, secret
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.sent: list[dict] = []  # customer-service messages, as WeChat received them
        self.fail_with_500 = False
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
            return {"access_token": "fake-token", "expires_in": 7200}
        if path == "/sns/jscode2session":
            if params.get("appid") != self.appid or params.get("secret") != self.secret:
                return {"errcode": 40013, "errmsg": "invalid appid"}
            code = params.get("js_code", "")
            if code.startswith("bad"):
                return {"errcode": 40029, "errmsg": "invalid code"}
            return {"openid": f"openid-{code}", "session_key": "sk", "unionid": f"union-{code}"}
        if path == "/cgi-bin/user/info":
            if params.get("access_token") != "fake-token":
                return {"errcode": 40001, "errmsg": "invalid credential"}
            openid = params.get("openid", "")
            # Service-account followers "mp-<code>" are the same people as mini-program users "<code>".
            return {"subscribe": 1, "openid": openid, "unionid": f"union-{openid.removeprefix('mp-')}"}
        return {"errcode": 404, "errmsg": "unknown api"}

    def answer_post(self, path: str, params: dict[str, str], body: dict) -> dict:
        if path == "/cgi-bin/message/custom/send":
            if params.get("access_token") != "fake-token":
                return {"errcode": 40001, "errmsg": "invalid credential"}
            if body.get("msgtype") != "text" or not body.get("touser") or not body.get("text", {}).get("content"):
                return {"errcode": 44002, "errmsg": "empty post data"}
            self.sent.append(body)
            return {"errcode": 0, "errmsg": "ok"}
        return {"errcode": 404, "errmsg": "unknown api"}

    def start(self) -> FakeWeChat:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
