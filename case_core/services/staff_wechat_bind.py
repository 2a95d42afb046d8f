"""Binding a staff member's WeChat service-account (公众号) openid from a message instead of typing it in.

Staff get reminders through the service account, which knows them only by an openid that they cannot see. So the
staff page asks for a one-time code (``issue``: 8 digits, valid ``CODE_MINUTES``, at most one live per account,
stored as a keyed hash) and the staff member sends ``绑定 <code>`` to the service account; the WeChat message
handler hands it here (``bind``) before the bot sees it. The code is consumed in the same statement that finds
it (``DELETE … RETURNING``), so it works once even when two messages race. One openid belongs to one staff member:
its blind index is unique, and an openid bound to someone else is refused (``wechat_openid_taken``). Guessing is
limited by the caller (per openid and overall, ``mobile_api.routers.bot_channels``): 10⁸ codes, a few live at any
time, a few hundred guesses per 10 minutes at most.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from case_core.context import CoreContext
from case_core.domain.errors import AccountRuleViolation, BindCodeInvalid, NotFound
from case_core.models import Staff, StaffWechatBindCode
from case_core.principals import RequestInfo
from case_core.services import audit
from case_core.services.staff_contacts import index_legacy_openids, openid_index, set_openid

CODE_DIGITS = 8
CODE_MINUTES = 5
# "绑定 1234 5678", "绑定12345678", full-width spaces and colons: how people type it on a phone.
_COMMAND = re.compile(r"^\s*绑定[\s:：]*([0-9][0-9\s-]*)$")


def parse_command(text: str) -> str | None:
    """The code of a ``绑定 <code>`` message (spaces and dashes dropped), or None for any other message.

    "绑定" followed by something other than digits is not a bind command (a question about binding goes to the bot).
    """
    m = _COMMAND.match(text.strip())
    return re.sub(r"[\s-]", "", m.group(1)) if m else None


@dataclass(frozen=True)
class BindCode:
    code: str
    expires_at: datetime


def _code_index(ctx: CoreContext, code: str) -> str:
    return ctx.cipher.blind_index(f"wechat-bind-code:{code}")


async def issue(
    session: AsyncSession, ctx: CoreContext, *, staff_id: int, now: datetime, info: RequestInfo | None
) -> BindCode:
    """A new code for the account; the one it may have had stops working. Expired codes of anyone are swept."""
    staff = await session.get(Staff, staff_id)
    if staff is None or not staff.active:
        raise NotFound("工作人员")
    await session.execute(
        delete(StaffWechatBindCode).where(
            or_(StaffWechatBindCode.staff_id == staff_id, StaffWechatBindCode.expires_at <= now)
        )
    )
    for _ in range(10):  # a clash with a live code is a 1-in-10⁷ event; ten in a row would be a broken RNG
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        index = _code_index(ctx, code)
        taken = await session.scalar(select(StaffWechatBindCode.id).where(StaffWechatBindCode.code_index == index))
        if taken is None:
            break
    else:
        raise RuntimeError("could not draw a free bind code")
    expires_at = now + timedelta(minutes=CODE_MINUTES)
    session.add(StaffWechatBindCode(staff_id=staff_id, code_index=index, created_at=now, expires_at=expires_at))
    audit.record(
        session,
        actor_type="staff",
        actor_id=staff_id,
        action="staff.wechat.bind_code",
        now=now,
        info=info,
        target=f"staff:{staff_id}",
    )
    await session.flush()
    return BindCode(code, expires_at)


@dataclass(frozen=True)
class Bound:
    staff: Staff
    already: bool  # this openid was this account's already (the code is used all the same)
    replaced: bool  # the account had another openid, now replaced


async def bind(session: AsyncSession, ctx: CoreContext, *, openid: str, code: str, now: datetime) -> Bound:
    """Bind ``openid`` to the account whose live code ``code`` is, using the code up. Raises ``BindCodeInvalid``
    (wrong, used, expired, or the account was disabled since) or ``wechat_openid_taken`` (409: the openid is
    another staff member's; the code stays usable, from the right WeChat account)."""
    if len(code) != CODE_DIGITS or not code.isdigit():
        raise BindCodeInvalid()
    staff_id = await session.scalar(
        delete(StaffWechatBindCode)
        .where(StaffWechatBindCode.code_index == _code_index(ctx, code), StaffWechatBindCode.expires_at > now)
        .returning(StaffWechatBindCode.staff_id)
    )
    if staff_id is None:
        raise BindCodeInvalid()
    staff = await session.get(Staff, staff_id, with_for_update=True)
    if staff is None or not staff.active:
        raise BindCodeInvalid()
    await index_legacy_openids(session, ctx)
    holder = await session.scalar(select(Staff.id).where(Staff.mp_openid_index == openid_index(ctx, openid)))
    if holder is not None and holder != staff.id:
        raise AccountRuleViolation(
            "wechat_openid_taken",
            "这个微信号已绑定其他工作人员的账号，不能重复绑定。请用您本人的微信发送绑定码；如有疑问请联系系统管理员。",
        )
    replaced = holder is None and staff.mp_openid_enc is not None
    set_openid(staff, ctx, openid)
    staff.contacts_updated_at = now
    audit.record(
        session,
        actor_type="staff",
        actor_id=staff.id,
        action="staff.wechat.bind",
        now=now,
        target=f"staff:{staff.id}",
        detail={"via": "wechat_message", "openid": staff.mp_openid_masked, "replaced": replaced},
    )
    await session.flush()
    return Bound(staff, already=holder == staff.id, replaced=replaced)
