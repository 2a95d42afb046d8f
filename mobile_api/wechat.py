"""WeChat mini-program login through wechatpy, against a configurable API root.

``WEIJIAN_WECHAT_API_BASE_URL`` points the same code at the real API, at a proxy, or at the tests' local server.
wechatpy attaches an access token to every call (it fetches one from ``cgi-bin/token`` first), so the token is
kept in wechatpy's session storage: Redis when configured (shared by every worker), memory otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException
from wechatpy.session.memorystorage import MemoryStorage

from case_core.domain.errors import CaseError, Unauthenticated


class WeChatUnavailable(CaseError):
    code = "wechat_unavailable"
    status = 503


@dataclass(frozen=True)
class WeChatSession:
    openid: str
    unionid: str | None


class ConfigurableWeChatClient(WeChatClient):
    """wechatpy's client with the token URL under the configured API root (wechatpy hard-codes the real host
    in ``fetch_access_token``; every other call already honours ``API_BASE_URL``)."""

    def fetch_access_token(self) -> dict[str, Any]:
        return self._fetch_access_token(
            url=f"{self.API_BASE_URL}cgi-bin/token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
        )


class MiniProgram:
    def __init__(
        self, appid: str, secret: str, api_base_url: str, redis_url: str | None = None, timeout: float = 5.0
    ) -> None:
        self.configured = bool(appid and secret)
        storage: Any = MemoryStorage()
        if redis_url:
            import redis
            from wechatpy.session.redisstorage import RedisStorage

            storage = RedisStorage(redis.Redis.from_url(redis_url), prefix="weijian:wechat")
        base = api_base_url if api_base_url.endswith("/") else api_base_url + "/"
        self.client = ConfigurableWeChatClient(appid, secret, session=storage, timeout=timeout)
        # Both the client (token fetch) and the wxa API class carry an API root; point both at ours.
        self.client.API_BASE_URL = base
        self.client.wxa.API_BASE_URL = base

    def code_to_session(self, code: str) -> WeChatSession:
        """Blocking (requests): call it from a worker thread."""
        if not self.configured:
            raise WeChatUnavailable("微信登录未配置，请联系管理员")
        try:
            result = self.client.wxa.code_to_session(code)
        except WeChatClientException as exc:
            if exc.errcode is None:
                raise WeChatUnavailable("微信服务暂时不可用，请稍后再试") from exc
            raise Unauthenticated("微信登录失败，请重新打开小程序后再试") from exc
        except requests.RequestException as exc:
            raise WeChatUnavailable("微信服务暂时不可用，请稍后再试") from exc
        openid = result.get("openid") if isinstance(result, dict) else None
        if not openid:
            raise Unauthenticated("微信登录失败，请重新打开小程序后再试")
        return WeChatSession(openid=openid, unionid=result.get("unionid"))
