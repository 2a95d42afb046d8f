"""WeChat mini-program subscribe messages and service-account template messages, through wechatpy.

Error handling, per WeChat's codes:
* 43101 (the user refused / has no consent left): no retry, fall back to the next channel (SMS) at once;
* 40001 / 42001 / 40014 (token invalid or expired): refresh the token once and resend. The refresh runs under a
  lock (Redis when configured, else per process) and only if the stored token is still the one that failed, so
  several processes do not each fetch a token and invalidate one another's;
* 45009 (API quota) and -1 (system busy), HTTP errors and timeouts: retried later by the dispatcher.
wechatpy's own auto-retry is off: it refetches on every failure without a lock, and recurses without a bound.
"""

from __future__ import annotations

import asyncio
import threading
from contextlib import AbstractContextManager
from typing import Any

import requests
from wechatpy.exceptions import WeChatClientException
from wechatpy.session.memorystorage import MemoryStorage

from mobile_api.wechat import ConfigurableWeChatClient
from notifiers.channels.base import Message, Outcome

TOKEN_ERRORS = frozenset({40001, 40014, 42001})
REFUSED = 43101
RETRY_LATER = frozenset({45009, -1, 45047})

_process_locks: dict[str, threading.Lock] = {}


class WeChatSender:
    """One WeChat app (mini-program or service account) and its token."""

    def __init__(
        self, appid: str, secret: str, api_base_url: str, redis_url: str | None = None, timeout: float = 5.0
    ) -> None:
        storage: Any = MemoryStorage()
        self._redis: Any = None
        if redis_url:
            import redis
            from wechatpy.session.redisstorage import RedisStorage

            self._redis = redis.Redis.from_url(redis_url, socket_timeout=2)
            storage = RedisStorage(self._redis, prefix="weijian:wechat")
        base = api_base_url if api_base_url.endswith("/") else api_base_url + "/"
        self.client = ConfigurableWeChatClient(appid, secret, session=storage, timeout=timeout, auto_retry=False)
        self.client.API_BASE_URL = base
        self.client.wxa.API_BASE_URL = base
        self.client.message.API_BASE_URL = base + "cgi-bin/"  # wechatpy names message APIs under cgi-bin/
        self.appid = appid
        self.token_refreshes = 0

    def _lock(self) -> AbstractContextManager[Any]:
        if self._redis is not None:
            try:
                self._redis.ping()
                return self._redis.lock(f"weijian:wechat:{self.appid}:token-lock", timeout=10, blocking_timeout=10)
            except Exception:  # Redis down: a per-process lock still keeps this process's threads in line
                pass
        return _process_locks.setdefault(self.appid, threading.Lock())

    def refresh_token(self, failed_token: str | None) -> None:
        with self._lock():
            current = self.client.session.get(self.client.access_token_key)
            if current is None or current == failed_token:
                self.client.fetch_access_token()
                self.token_refreshes += 1

    def call(self, fn: Any) -> Outcome:
        for attempt in (1, 2):
            token: str | None = None
            try:
                token = self.client.access_token  # fetched (and stored) when missing or expired
                result = fn()
            except WeChatClientException as exc:
                code = exc.errcode
                error = f"wechat {code}: {exc.errmsg}"
                if code in TOKEN_ERRORS and attempt == 1:
                    self.refresh_token(token)
                    continue
                if code == REFUSED:
                    return Outcome("fallback", error=error)
                if code in RETRY_LATER or code is None or code in TOKEN_ERRORS:
                    return Outcome("retry", error=error, retry_after=60.0 if code == 45009 else None)
                return Outcome("failed", error=error)
            except requests.RequestException as exc:
                return Outcome("retry", error=f"wechat unreachable: {type(exc).__name__}")
            msgid = result.get("msgid") if isinstance(result, dict) else None
            return Outcome.sent(str(msgid) if msgid is not None else None)
        return Outcome("retry", error="wechat token refused twice")  # pragma: no cover (loop always returns)


def _data(fields: dict[str, str]) -> dict[str, dict[str, str]]:
    return {name: {"value": value} for name, value in fields.items()}


class SubscribeChannel:
    """Mini-program subscribe message (订阅消息) to the applicant's openid."""

    name = "wechat"
    provider = "wechat-subscribe"

    def __init__(self, sender: WeChatSender, page: str = "pages/case/detail") -> None:
        self.sender, self.page = sender, page

    async def send(self, message: Message) -> Outcome:
        if not message.provider_template:
            return Outcome("fallback", error="no WeChat template id configured for this event")

        def call() -> Any:
            return self.sender.client.wxa.send_subscribe_message(
                message.to, message.provider_template, _data(message.fields), page=self.page
            )

        return await asyncio.to_thread(self.sender.call, call)


class TemplateChannel:
    """Service-account template message (模板消息) to a service-account openid."""

    name = "wechat_mp"
    provider = "wechat-template"

    def __init__(self, sender: WeChatSender) -> None:
        self.sender = sender

    async def send(self, message: Message) -> Outcome:
        if not message.provider_template:
            return Outcome("fallback", error="no WeChat template id configured for this event")

        def call() -> Any:
            return self.sender.client.message.send_template(
                message.to, message.provider_template, _data(message.fields)
            )

        return await asyncio.to_thread(self.sender.call, call)
