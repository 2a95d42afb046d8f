"""Builds the channels and the dispatcher from the configuration (the notifications' composition root)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from case_core.crypto import FieldCipher
from case_core.settings import Settings
from notifiers.channels.base import Channel
from notifiers.channels.email import SmtpChannel
from notifiers.channels.sms import AliyunSms, FileSms, TencentSms
from notifiers.channels.wechat import SubscribeChannel, TemplateChannel, WeChatSender
from notifiers.dispatcher import Dispatcher, Push
from notifiers.settings import NotifySettings


def sms_channel(ns: NotifySettings) -> Channel:
    if ns.sms_provider == "aliyun":
        return AliyunSms(
            ns.sms_access_key_id,
            ns.sms_access_key_secret,
            ns.sms_sign_name,
            endpoint=ns.sms_endpoint or "https://dysmsapi.aliyuncs.com/",
            region=ns.sms_region or "cn-hangzhou",
        )
    if ns.sms_provider == "tencent":
        return TencentSms(
            ns.sms_access_key_id,
            ns.sms_access_key_secret,
            ns.sms_sdk_app_id,
            ns.sms_sign_name,
            endpoint=ns.sms_endpoint or "https://sms.tencentcloudapi.com/",
            region=ns.sms_region or "ap-guangzhou",
        )
    return FileSms(ns.data_dir / "sms-outbox.jsonl")


def channels(settings: Settings, ns: NotifySettings) -> dict[str, Channel]:
    out: dict[str, Channel] = {"sms": sms_channel(ns)}
    if settings.wechat_appid and settings.wechat_secret:
        out["wechat"] = SubscribeChannel(
            WeChatSender(
                settings.wechat_appid, settings.wechat_secret, settings.wechat_api_base_url, settings.redis_url
            )
        )
    if ns.wechat_mp_appid and ns.wechat_mp_secret:
        out["wechat_mp"] = TemplateChannel(
            WeChatSender(ns.wechat_mp_appid, ns.wechat_mp_secret, settings.wechat_api_base_url, settings.redis_url)
        )
    if ns.smtp_host:
        out["email"] = SmtpChannel(
            ns.smtp_host, ns.smtp_port, ns.smtp_sender, ns.smtp_username, ns.smtp_password, ns.smtp_starttls
        )
    return out


def dispatcher(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    *,
    ns: NotifySettings | None = None,
    limiter: Any = None,
    push: Push | None = None,
    channel_overrides: dict[str, Channel] | None = None,
) -> Dispatcher:
    ns = ns or NotifySettings(data_dir=settings.data_dir)
    chans = channels(settings, ns)
    chans.update(channel_overrides or {})
    return Dispatcher(
        sessions=sessions,
        cipher=FieldCipher(settings.resolved_secret),
        channels=chans,
        settings=ns,
        limiter=limiter,
        push=push,
    )
