"""Message templates: ``{variable}`` placeholders (Python format syntax), versions, preview and the save-time check.

The check renders the template with sample values of realistic length and refuses a field that would not fit its
channel (WeChat subscribe/template fields have per-type limits: ``thing`` 20 characters, ``phrase`` 5 …). At send
time a value that still does not fit is shortened with an ellipsis, because WeChat rejects the whole message (47003)
rather than cut it.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from case_core.domain.errors import FieldInvalid
from notifiers.catalogue import CHANNELS, EVENTS, VARIABLES
from notifiers.models import Template

# WeChat subscribe/template message field types and their maximum lengths (WeChat's documentation).
WECHAT_LIMITS = {
    "thing": 20,
    "character_string": 32,
    "phrase": 5,
    "number": 32,
    "letter": 32,
    "name": 10,
    "time": 40,
    "date": 40,
    "amount": 32,
    "symbol": 5,
    "car_number": 8,
    "phone_number": 17,
    "keyword": 200,  # service-account template messages: keyword1…, first, remark
    "first": 200,
    "remark": 200,
}
TEXT_LIMITS = {"sms": 300, "inapp": 2000, "email": 20000}
TITLE_LIMIT = 200

# Values of realistic length for the check and the preview.
SAMPLES: dict[str, str] = {
    "serial_no": "WJ20261127000123",
    "item_name": "医师执业注册（首次注册）",
    "applicant_name": "张三",
    "case_id": "123",
    "due": "2026年12月15日",
    "opinion": "缺少执业助理医师资格证书",
    "days": "10",
    "licence_no": "ZZ20261127000123",
    "licence_type": "医师执业证书",
    "valid_until": "2031年11月26日",
    "days_left": "30",
    "department": "广州市卫生健康委员会",
    "day": "2026年11月27日",
    "received": "12",
    "accepted": "10",
    "concluded": "8",
    "overdue": "1",
    "satisfaction": "98.5%",
    "level": "2",
}


@dataclass(frozen=True)
class Rendered:
    title: str
    body: str
    fields: dict[str, str]  # WeChat data fields, already fitted
    provider_template: str | None
    version: int | None


class _Missing(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


def placeholders(text: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as exc:
        raise FieldInvalid({"template": f"模板格式错误：{exc}"}) from exc


def fill(text: str, values: dict[str, Any]) -> str:
    return text.format_map(_Missing({k: "" if v is None else v for k, v in values.items()}))


def field_type(name: str) -> str:
    """``thing1`` → ``thing``; ``keyword2`` → ``keyword``."""
    return name.rstrip("0123456789").lower() or name


def fit(name: str, value: str) -> str:
    limit = WECHAT_LIMITS.get(field_type(name))
    if limit is not None and len(value) > limit:
        return value[: limit - 1] + "…"
    return value


def check(event: str, channel: str, title: str, body: str, fields: dict[str, str]) -> None:
    """Refuse a template whose variables do not exist for the event or whose fields do not fit the channel."""
    errors: dict[str, str] = {}
    if event not in EVENTS:
        raise FieldInvalid({"event": f"没有“{event}”这类通知"})
    if channel not in CHANNELS:
        raise FieldInvalid({"channel": f"没有“{channel}”这个渠道"})
    allowed = VARIABLES[event]
    parts = {"title": title, "body": body, **{f"fields.{k}": v for k, v in fields.items()}}
    for where, text in parts.items():
        unknown = placeholders(text) - allowed
        if unknown:
            errors[where] = f"变量{'、'.join(sorted(unknown))}不存在，可用变量：{'、'.join(sorted(allowed))}"
    if errors:
        raise FieldInvalid(errors)
    if len(fill(title, SAMPLES)) > TITLE_LIMIT:
        errors["title"] = f"标题不能超过{TITLE_LIMIT}字"
    limit = TEXT_LIMITS.get(channel)
    if limit is not None and len(fill(body, SAMPLES)) > limit:
        errors["body"] = f"{channel}内容不能超过{limit}字（按示例值计算）"
    if channel in ("wechat", "wechat_mp"):
        if not fields:
            errors["fields"] = "微信消息须设置模板字段"
        for name, text in fields.items():
            kind = field_type(name)
            if kind not in WECHAT_LIMITS:
                errors[f"fields.{name}"] = f"未知的微信字段类型“{kind}”"
                continue
            sample = fill(text, SAMPLES)
            if len(sample) > WECHAT_LIMITS[kind]:
                errors[f"fields.{name}"] = (
                    f"{kind}类字段不能超过{WECHAT_LIMITS[kind]}个字，按示例值渲染为{len(sample)}个字：{sample}"
                )
    if errors:
        raise FieldInvalid(errors)


def default_template(event: str, channel: str) -> Template:
    spec = EVENTS[event]
    fields: dict[str, str] = {}
    if channel == "wechat":
        fields = {"thing1": spec.label[:20], "character_string2": "{serial_no}", "thing3": "{item_name}"}
    elif channel == "wechat_mp":
        fields = {"first": spec.title, "keyword1": "{serial_no}", "keyword2": "{item_name}", "remark": spec.body}
    return Template(
        event=event,
        channel=channel,
        version=0,
        title=spec.title,
        body=spec.body,
        provider_template=None,
        fields=fields,
        active=True,
    )


async def active(session: AsyncSession, event: str, channel: str) -> Template:
    row = await session.scalar(
        select(Template)
        .where(Template.event == event, Template.channel == channel, Template.active.is_(True))
        .order_by(Template.version.desc())
        .limit(1)
    )
    return row or default_template(event, channel)


def render(template: Template, values: dict[str, Any]) -> Rendered:
    return Rendered(
        title=fill(template.title, values)[:TITLE_LIMIT],
        body=fill(template.body, values),
        fields={k: fit(k, fill(v, values)) for k, v in (template.fields or {}).items()},
        provider_template=template.provider_template,
        version=template.version or None,
    )


async def save(
    session: AsyncSession,
    *,
    event: str,
    channel: str,
    title: str,
    body: str,
    fields: dict[str, str],
    provider_template: str | None,
    staff_id: int,
    now: datetime,
) -> Template:
    check(event, channel, title, body, fields)
    last = await session.scalar(
        select(func.max(Template.version)).where(Template.event == event, Template.channel == channel)
    )
    row = Template(
        event=event,
        channel=channel,
        version=(last or 0) + 1,
        title=title,
        body=body,
        fields=fields,
        provider_template=provider_template,
        active=True,
        created_by=staff_id,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    return row


def template_out(t: Template) -> dict[str, Any]:
    return {
        "event": t.event,
        "channel": t.channel,
        "version": t.version,
        "title": t.title,
        "body": t.body,
        "fields": t.fields,
        "provider_template": t.provider_template,
        "active": t.active,
        "created_at": t.created_at.isoformat() if t.created_at else None,
        "default": not t.version,
    }
