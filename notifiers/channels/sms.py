"""SMS providers: a local file outbox (the embedded default), Aliyun SendSms and Tencent Cloud SendSms over HTTP.

Both clouds' request signing is implemented here from their published algorithms (Aliyun's RPC signature,
HMAC-SHA1 over the sorted, percent-encoded query; Tencent's TC3-HMAC-SHA256) rather than through their SDKs, whose
endpoints cannot all be pointed at a local server. ``WEIJIAN_SMS_ENDPOINT`` chooses the endpoint.
The idempotency key travels as Aliyun's ``OutId`` and Tencent's ``SessionContext``: both come back in the
delivery receipts, so a receipt can be matched to its delivery.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

import httpx

from case_core.domain.masking import mask_phone
from notifiers.channels.base import Message, Outcome

# Provider error codes that will never succeed on retry (bad number, bad template…); anything else is retried.
ALIYUN_PERMANENT = frozenset(
    {
        "isv.MOBILE_NUMBER_ILLEGAL",
        "isv.TEMPLATE_MISSING_PARAMETERS",
        "isv.SMS_TEMPLATE_ILLEGAL",
        "isv.SMS_SIGNATURE_ILLEGAL",
        "isv.INVALID_PARAMETERS",
        "isv.BLACK_KEY_CONTROL_LIMIT",
        "isv.MOBILE_COUNT_OVER_LIMIT",
    }
)
TENCENT_PERMANENT_PREFIXES = ("InvalidParameterValue", "FailedOperation.PhoneNumberInBlacklist", "MissingParameter")


def _http_outcome(exc: httpx.HTTPError) -> Outcome:
    return Outcome("retry", error=f"provider unreachable: {type(exc).__name__}")


class FileSms:
    """Writes each message as one JSON line to ``data_dir/sms-outbox.jsonl``: the embedded default, and what a
    developer reads to see what would have been sent. The number is masked: personal data is not kept in clear."""

    name = "sms"
    provider = "file"

    def __init__(self, path: Path) -> None:
        self.path = path

    async def send(self, message: Message) -> Outcome:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(
            {
                "key": message.key,
                "to": mask_phone(message.to),
                "text": message.body,
                "at": datetime.now(UTC).isoformat(),
            },
            ensure_ascii=False,
        )
        with self.path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())
        return Outcome.sent(f"file:{message.key}")


def aliyun_percent(value: str) -> str:
    # Aliyun's POP encoding: RFC 3986 (spaces as %20, ``~`` kept, ``*`` encoded).
    return quote(value, safe="~")


def aliyun_signature(params: dict[str, str], secret: str, method: str = "GET") -> str:
    canonical = "&".join(f"{aliyun_percent(k)}={aliyun_percent(params[k])}" for k in sorted(params))
    to_sign = f"{method}&{aliyun_percent('/')}&{aliyun_percent(canonical)}"
    digest = hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class AliyunSms:
    name = "sms"
    provider = "aliyun"

    def __init__(
        self,
        access_key_id: str,
        access_key_secret: str,
        sign_name: str,
        endpoint: str = "https://dysmsapi.aliyuncs.com/",
        region: str = "cn-hangzhou",
        timeout: float = 10.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.key_id, self.secret, self.sign_name = access_key_id, access_key_secret, sign_name
        self.endpoint, self.region = endpoint, region
        self.client = client or httpx.AsyncClient(timeout=timeout)

    def signed_params(self, message: Message, now: datetime | None = None) -> dict[str, str]:
        params = {
            "AccessKeyId": self.key_id,
            "Action": "SendSms",
            "Format": "JSON",
            "RegionId": self.region,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": uuid.uuid4().hex,
            "SignatureVersion": "1.0",
            "Timestamp": (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": "2017-05-25",
            "PhoneNumbers": message.to,
            "SignName": self.sign_name,
            "TemplateCode": message.provider_template or "",
            "TemplateParam": json.dumps(message.params, ensure_ascii=False, separators=(",", ":")),
            "OutId": message.key[:64],
        }
        params["Signature"] = aliyun_signature(params, self.secret)
        return params

    async def send(self, message: Message) -> Outcome:
        try:
            r = await self.client.get(self.endpoint, params=self.signed_params(message))
        except httpx.HTTPError as exc:
            return _http_outcome(exc)
        if r.status_code >= 500:
            return Outcome("retry", error=f"aliyun HTTP {r.status_code}")
        try:
            body: dict[str, Any] = r.json()
        except ValueError:
            return Outcome("retry", error=f"aliyun HTTP {r.status_code}: not JSON")
        code = str(body.get("Code", ""))
        if code == "OK":
            return Outcome.sent(body.get("BizId"))
        error = f"aliyun {code}: {body.get('Message', '')}"
        if code in ALIYUN_PERMANENT:
            return Outcome("failed", error=error)
        # isv.BUSINESS_LIMIT_CONTROL (per-number flow control), Throttling.*, ServiceUnavailable…: later.
        return Outcome("retry", error=error, retry_after=60.0 if "LIMIT" in code or "Throttling" in code else None)


def tc3_authorization(
    secret_id: str, secret_key: str, host: str, payload: bytes, timestamp: int, service: str = "sms"
) -> str:
    """Tencent Cloud API 3.0 signature (TC3-HMAC-SHA256) of a JSON POST to ``/``."""
    day = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    canonical = "\n".join(
        [
            "POST",
            "/",
            "",
            f"content-type:application/json; charset=utf-8\nhost:{host}\n",
            "content-type;host",
            hashlib.sha256(payload).hexdigest(),
        ]
    )
    scope = f"{day}/{service}/tc3_request"
    to_sign = "\n".join(["TC3-HMAC-SHA256", str(timestamp), scope, hashlib.sha256(canonical.encode()).hexdigest()])

    def _hmac(key: bytes, msg: str) -> bytes:
        return hmac.new(key, msg.encode(), hashlib.sha256).digest()

    key = _hmac(_hmac(_hmac(f"TC3{secret_key}".encode(), day), service), "tc3_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return f"TC3-HMAC-SHA256 Credential={secret_id}/{scope}, SignedHeaders=content-type;host, Signature={signature}"


class TencentSms:
    name = "sms"
    provider = "tencent"

    def __init__(
        self,
        secret_id: str,
        secret_key: str,
        sdk_app_id: str,
        sign_name: str,
        endpoint: str = "https://sms.tencentcloudapi.com/",
        region: str = "ap-guangzhou",
        timeout: float = 10.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.secret_id, self.secret_key, self.sdk_app_id, self.sign_name = secret_id, secret_key, sdk_app_id, sign_name
        self.endpoint, self.region = endpoint, region
        self.host = urlparse(endpoint).netloc
        self.client = client or httpx.AsyncClient(timeout=timeout)

    def request(self, message: Message, timestamp: int) -> tuple[bytes, dict[str, str]]:
        phone = message.to if message.to.startswith("+") else f"+86{message.to}"
        payload = json.dumps(
            {
                "PhoneNumberSet": [phone],
                "SmsSdkAppId": self.sdk_app_id,
                "SignName": self.sign_name,
                "TemplateId": message.provider_template or "",
                "TemplateParamSet": list(message.params.values()),
                "SessionContext": message.key,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        headers = {
            "Authorization": tc3_authorization(self.secret_id, self.secret_key, self.host, payload, timestamp),
            "Content-Type": "application/json; charset=utf-8",
            "Host": self.host,
            "X-TC-Action": "SendSms",
            "X-TC-Version": "2021-01-11",
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Region": self.region,
        }
        return payload, headers

    async def send(self, message: Message) -> Outcome:
        payload, headers = self.request(message, int(datetime.now(UTC).timestamp()))
        try:
            r = await self.client.post(self.endpoint, content=payload, headers=headers)
        except httpx.HTTPError as exc:
            return _http_outcome(exc)
        if r.status_code >= 500:
            return Outcome("retry", error=f"tencent HTTP {r.status_code}")
        try:
            response: dict[str, Any] = r.json().get("Response", {})
        except (ValueError, AttributeError):
            return Outcome("retry", error=f"tencent HTTP {r.status_code}: not JSON")
        error = response.get("Error")
        if error:
            code = str(error.get("Code", ""))
            text = f"tencent {code}: {error.get('Message', '')}"
            if code.startswith(TENCENT_PERMANENT_PREFIXES) or code.startswith("AuthFailure"):
                return Outcome("failed", error=text)
            return Outcome("retry", error=text, retry_after=60.0 if "Limit" in code else None)
        status = (response.get("SendStatusSet") or [{}])[0]
        code = str(status.get("Code", ""))
        if code == "Ok":
            return Outcome.sent(status.get("SerialNo"))
        text = f"tencent {code}: {status.get('Message', '')}"
        if code.startswith(TENCENT_PERMANENT_PREFIXES):
            return Outcome("failed", error=text)
        return Outcome("retry", error=text, retry_after=60.0 if "Limit" in code else None)
