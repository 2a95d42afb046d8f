"""The notifications' configuration, from ``WEIJIAN_*`` environment variables (kept apart from the core's)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict


class NotifySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WEIJIAN_", env_file=".env", extra="ignore")

    data_dir: Path = Path("./var")

    sms_provider: Literal["file", "aliyun", "tencent"] = "file"
    sms_endpoint: str | None = None  # default: the provider's public endpoint
    sms_access_key_id: str = ""  # Aliyun AccessKeyId / Tencent SecretId
    sms_access_key_secret: str = ""  # Aliyun AccessKeySecret / Tencent SecretKey
    sms_sign_name: str = "卫健政务服务"
    sms_sdk_app_id: str = ""  # Tencent SmsSdkAppId
    sms_region: str = ""
    receipt_token: str = ""  # secret path segment of the SMS delivery-receipt callbacks; empty: receipts off

    # Service-account (公众号) template messages; the mini-program's subscribe messages use WEIJIAN_WECHAT_APPID.
    wechat_mp_appid: str = ""
    wechat_mp_secret: str = ""

    smtp_host: str = ""  # unset: no e-mail channel
    smtp_port: int = 25
    smtp_sender: str = "weijian@localhost"
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False

    quiet_start_hour: int = 22  # no SMS from 22:00 …
    quiet_end_hour: int = 8  # … to 08:00 (China Standard Time) unless urgent; held until the morning
    rate_limit_per_hour: int = 20  # messages per recipient per external channel per hour
    max_attempts: int = 6
    backoff_base_seconds: float = 30.0
    backoff_max_seconds: float = 3600.0
    lease_seconds: float = 60.0
    dispatch_batch: int = 100
    dispatch_concurrency: int = 16
    dispatch_idle_seconds: float = 1.0
    notify_dispatch_in_api: bool = True  # a dispatcher loop in each API worker (pushes in-app messages at once)

    expiry_offsets_days: str = "90,30,7"  # licence-expiry reminders this many days before valid_until
    followup_working_days: int = 5
    # Fallback order per event, overriding the catalogue: {"accepted": ["sms", "wechat"], …}
    chains_json: str = ""

    @property
    def expiry_offsets(self) -> tuple[int, ...]:
        return tuple(sorted({int(x) for x in self.expiry_offsets_days.split(",") if x.strip()}, reverse=True))

    @property
    def chains(self) -> dict[str, tuple[str, ...]]:
        if not self.chains_json:
            return {}
        return {k: tuple(v) for k, v in json.loads(self.chains_json).items()}
