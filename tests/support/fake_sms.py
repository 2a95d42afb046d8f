"""Local servers speaking Aliyun's and Tencent Cloud's SendSms HTTP APIs, for the real clients to hit.

They check each request's signature the way the clouds do (recomputed with the shared secret; a wrong one is
refused with the cloud's own error), record what was accepted, and can be scripted to misbehave: answer 500, time
out, rate-limit, or hang until released (to kill a dispatcher mid-request).
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from notifiers.channels.sms import aliyun_signature, tc3_authorization


def _peer_closed(h: BaseHTTPRequestHandler) -> bool:
    try:
        return h.connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


class FakeSmsServer:
    """``kind`` = ``aliyun`` | ``tencent``. ``script``: faults for the next requests, in order: ``500``,
    ``timeout`` (sleep past the client's timeout, record nothing), ``limit`` (the cloud's flow-control error),
    ``hang`` (block until ``release()``; the message is recorded only if the client is still there)."""

    def __init__(self, kind: str, key_id: str = "test-key-id", secret: str = "test-key-secret") -> None:
        self.kind, self.key_id, self.secret = kind, key_id, secret
        self.script: list[str] = []
        self.accepted: list[dict[str, Any]] = []  # one per accepted message: {"key", "to", "params"}
        self.requests = 0
        self.rejected_signatures = 0
        self.timeout_seconds = 3.0
        self._lock = threading.Lock()
        self._release = threading.Event()
        self.hanging = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                outer._handle(self, "GET")

            def do_POST(self) -> None:
                outer._handle(self, "POST")

        class Server(ThreadingHTTPServer):
            request_queue_size = 256  # a dispatcher opens many connections at once
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    def start(self) -> FakeSmsServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()

    def release(self) -> None:
        self._release.set()

    def keys(self) -> Counter[str]:
        return Counter(m["key"] for m in self.accepted)

    # ------------------------------------------------------------------------------------------------ protocol
    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        with self._lock:
            self.requests += 1
            fault = self.script.pop(0) if self.script else None
        if fault == "500":
            return self._send(h, 500, {"message": "internal error"})
        if fault == "timeout":
            time.sleep(self.timeout_seconds)
            return self._send(h, 500, {"message": "too late"})
        if fault == "hang":
            self.hanging.set()
            self._release.wait(30)
            if _peer_closed(h):  # the client died while we held its request: nothing was sent
                return None
        if self.kind == "aliyun":
            status, body = self._aliyun(h, fault)
        else:
            status, body = self._tencent(h, raw, fault)
        self._send(h, status, body)

    def _send(self, h: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
        except OSError:
            pass

    def _record(self, message: dict[str, Any]) -> None:
        with self._lock:
            self.accepted.append(message)

    def _aliyun(self, h: BaseHTTPRequestHandler, fault: str | None) -> tuple[int, dict[str, Any]]:
        params = {k: v[0] for k, v in parse_qs(urlparse(h.path).query, keep_blank_values=True).items()}
        request_id = str(uuid.uuid4())
        signature = params.pop("Signature", "")
        if params.get("AccessKeyId") != self.key_id or aliyun_signature(params, self.secret) != signature:
            self.rejected_signatures += 1
            return 400, {
                "Code": "SignatureDoesNotMatch",
                "Message": "Specified signature is not matched",
                "RequestId": request_id,
            }
        if params.get("Action") != "SendSms" or params.get("Version") != "2017-05-25":
            return 400, {"Code": "InvalidAction", "Message": "bad action", "RequestId": request_id}
        if fault == "limit":
            return 200, {
                "Code": "isv.BUSINESS_LIMIT_CONTROL",
                "Message": "触发分钟级流控Permits:1",
                "RequestId": request_id,
            }
        if not params.get("PhoneNumbers", "").isdigit():
            return 200, {"Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": "非法手机号", "RequestId": request_id}
        biz_id = f"{len(self.accepted) + 1}^{uuid.uuid4().hex[:12]}"
        self._record(
            {
                "key": params.get("OutId"),
                "to": params["PhoneNumbers"],
                "params": json.loads(params.get("TemplateParam") or "{}"),
                "template": params.get("TemplateCode"),
            }
        )
        return 200, {"Code": "OK", "Message": "OK", "BizId": biz_id, "RequestId": request_id}

    def _tencent(self, h: BaseHTTPRequestHandler, raw: bytes, fault: str | None) -> tuple[int, dict[str, Any]]:
        request_id = str(uuid.uuid4())
        timestamp = int(h.headers.get("X-TC-Timestamp") or 0)
        expected = tc3_authorization(self.key_id, self.secret, h.headers.get("Host", ""), raw, timestamp)
        if h.headers.get("Authorization") != expected or h.headers.get("X-TC-Action") != "SendSms":
            self.rejected_signatures += 1
            return 200, {
                "Response": {
                    "Error": {"Code": "AuthFailure.SignatureFailure", "Message": "签名错误"},
                    "RequestId": request_id,
                }
            }
        if fault == "limit":
            return 200, {
                "Response": {
                    "Error": {"Code": "RequestLimitExceeded", "Message": "请求频率超过限制"},
                    "RequestId": request_id,
                }
            }
        body = json.loads(raw)
        phone = body["PhoneNumberSet"][0]
        serial = f"2433:{uuid.uuid4().hex[:16]}"
        self._record(
            {
                "key": body.get("SessionContext"),
                "to": phone,
                "params": body.get("TemplateParamSet"),
                "template": body.get("TemplateId"),
            }
        )
        return 200, {
            "Response": {
                "SendStatusSet": [
                    {
                        "SerialNo": serial,
                        "PhoneNumber": phone,
                        "Fee": 1,
                        "SessionContext": body.get("SessionContext"),
                        "Code": "Ok",
                        "Message": "send success",
                        "IsoCode": "CN",
                    }
                ],
                "RequestId": request_id,
            }
        }
