"""Staff members' contacts: mobile phone, e-mail, WeChat service-account openid.

They are where a staff member's reminders (deadline lights, follow-ups) and a leader's briefing reach them off the
app, so they are personal data like an applicant's phone: SM4-encrypted at rest with a masked copy for display.
The clear values go to the staff member themself and to admins; an admin's read in the clear is audited
(``pii.read``, target ``staff:<id>``), and so is every change (``staff.contacts.update``, which fields, never values).
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from case_core.context import CoreContext
from case_core.domain.errors import FieldInvalid, Forbidden, NotFound
from case_core.domain.masking import mask_account, mask_email, mask_phone
from case_core.domain.states import Role
from case_core.models import Department, Staff
from case_core.principals import RequestInfo, StaffPrincipal
from case_core.services import audit

# API name → (column prefix, masking). The openid is the service account's (公众号), not the mini-program's.
CONTACTS = {
    "phone": ("phone", mask_phone),
    "email": ("email", mask_email),
    "wechat_mp_openid": ("mp_openid", mask_account),
}
LABELS = {"phone": "手机号码", "email": "电子邮箱", "wechat_mp_openid": "微信服务号openid"}

_MOBILE = re.compile(r"^1[3-9]\d{9}$")  # reminders go by SMS: a mobile number, not a landline
_EMAIL = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
_OPENID = re.compile(r"^[A-Za-z0-9_-]{6,64}$")
_SEPARATORS = re.compile(r"[\s-]")

log = logging.getLogger("weijian.staff_contacts")


def _clean_one(key: str, value: Any) -> tuple[str | None, str | None]:
    """(normalised value or None to clear, error message or None)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, None
    if not isinstance(value, str):
        return None, f"{LABELS[key]}格式不正确"
    text = value.strip()
    if key == "phone":
        compact = _SEPARATORS.sub("", text)
        compact = compact.removeprefix("+86") if compact.startswith("+86") else compact
        if len(compact) == 13 and compact.startswith("86"):
            compact = compact[2:]
        if not _MOBILE.match(compact):
            return None, "手机号码格式不正确，请填写11位手机号码（用于接收短信提醒）"
        return compact, None
    if key == "email":
        if len(text) > 128 or not _EMAIL.match(text):
            return None, "电子邮箱格式不正确，请填写如 name@example.com 的地址"
        local, _, domain = text.rpartition("@")
        return f"{local}@{domain.lower()}", None
    if not _OPENID.match(text):
        return None, "微信服务号openid格式不正确，应为关注服务号后获得的字母、数字串"
    return text, None


def clean_contacts(values: dict[str, Any]) -> dict[str, str | None]:
    """Validate the contacts present in ``values``; all errors at once, keyed by field (``field_invalid``)."""
    cleaned: dict[str, str | None] = {}
    errors: dict[str, str] = {}
    for key, value in values.items():
        if key not in CONTACTS:
            errors[key] = f"没有“{key}”这一项联系方式"
            continue
        cleaned[key], err = _clean_one(key, value)
        if err:
            errors[key] = err
    if errors:
        raise FieldInvalid(errors)
    return cleaned


def contacts_out(staff: Staff, ctx: CoreContext, *, reveal: bool = False) -> dict[str, Any]:
    """Masked unless ``reveal``; who may reveal is the caller's decision (``reveal_contacts`` for admins)."""
    out: dict[str, Any] = {}
    for key, (prefix, _) in CONTACTS.items():
        token = getattr(staff, f"{prefix}_enc")
        out[key] = (ctx.cipher.decrypt(token) if token else None) if reveal else getattr(staff, f"{prefix}_masked")
    out["masked"] = not reveal
    return out


async def profile_out(session: AsyncSession, staff: Staff, ctx: CoreContext, *, reveal: bool = False) -> dict[str, Any]:
    dept = await session.get(Department, staff.department_id)
    return {
        "id": staff.id,
        "username": staff.username,
        "name": staff.name,
        "department": dept.name if dept else None,
        "roles": list(staff.roles or []),
        "active": staff.active,
        "contacts": contacts_out(staff, ctx, reveal=reveal),
        "contacts_updated_at": staff.contacts_updated_at.isoformat() if staff.contacts_updated_at else None,
    }


def may_see(caller: StaffPrincipal, staff_id: int) -> bool:
    return caller.id == staff_id or caller.has(Role.ADMIN)


async def get_staff(session: AsyncSession, caller: StaffPrincipal, staff_id: int) -> Staff:
    """A staff account the caller may look at (themself, or for an admin anyone of their department or below);
    others are as absent as missing ones."""
    staff = await session.get(Staff, staff_id)
    if staff is None or not may_see(caller, staff_id):
        raise NotFound("工作人员")
    if caller.id != staff_id:
        dept = await session.get(Department, staff.department_id)
        if dept is None or not dept.path.startswith(caller.department_path):
            raise NotFound("工作人员")
    return staff


def audit_reveal(
    session: AsyncSession, caller: StaffPrincipal, staff: Staff, now: datetime, info: RequestInfo | None
) -> None:
    """An admin's read of another's contacts in the clear is recorded; one's own is not personal data of another."""
    if caller.id == staff.id:
        return
    if not caller.has(Role.ADMIN):
        raise Forbidden("仅系统管理员可以查看其他工作人员的联系方式")
    audit.record(
        session,
        actor_type="staff",
        actor_id=caller.id,
        action="pii.read",
        now=now,
        info=info,
        target=f"staff:{staff.id}",
        detail={"fields": list(CONTACTS)},
    )


async def set_contacts(
    session: AsyncSession,
    ctx: CoreContext,
    *,
    staff: Staff,
    caller: StaffPrincipal,
    values: dict[str, Any],
    now: datetime,
    info: RequestInfo | None,
) -> Staff:
    """Set (a value) or clear (null / empty) the contacts present in ``values``; the others stay as they are."""
    if not may_see(caller, staff.id):
        raise Forbidden("仅系统管理员可以修改其他工作人员的联系方式")
    cleaned = clean_contacts(values)
    if openid := cleaned.get("wechat_mp_openid"):
        await index_legacy_openids(session, ctx)
        holder = await session.scalar(select(Staff.id).where(Staff.mp_openid_index == openid_index(ctx, openid)))
        if holder is not None and holder != staff.id:
            raise FieldInvalid({"wechat_mp_openid": "该微信服务号openid已绑定其他工作人员，一个微信号只能绑定一个账号"})
    for key, value in cleaned.items():
        prefix, mask = CONTACTS[key]
        setattr(staff, f"{prefix}_enc", ctx.cipher.encrypt(value) if value else None)
        setattr(staff, f"{prefix}_masked", mask(value) if value else None)
        if key == "wechat_mp_openid":
            staff.mp_openid_index = openid_index(ctx, value) if value else None
    if cleaned:
        staff.contacts_updated_at = now
        audit.record(
            session,
            actor_type="staff",
            actor_id=caller.id,
            action="staff.contacts.update",
            now=now,
            info=info,
            target=f"staff:{staff.id}",
            detail={"fields": sorted(cleaned), "cleared": sorted(k for k, v in cleaned.items() if v is None)},
        )
    await session.flush()
    return staff


# ----------------------------------------------------------------------------------------------- openid index


def openid_index(ctx: CoreContext, openid: str) -> str:
    """The openid's blind index: one service-account openid belongs to one staff member (a unique column).
    ``blind_index`` upper-cases what it is given and openids are case-sensitive, so it gets their hex."""
    return ctx.cipher.blind_index(f"mp-openid:{openid.encode().hex()}")


def set_openid(staff: Staff, ctx: CoreContext, openid: str) -> None:
    _, mask = CONTACTS["wechat_mp_openid"]
    staff.mp_openid_enc = ctx.cipher.encrypt(openid)
    staff.mp_openid_masked = mask(openid)
    staff.mp_openid_index = openid_index(ctx, openid)


async def index_legacy_openids(session: AsyncSession, ctx: CoreContext) -> None:
    """Openids typed in before the index existed (migration 0011 cannot compute it: the key is the app's secret)
    get it now; a second account with the same openid keeps none and is logged, for an admin to sort out."""
    rows = (
        await session.scalars(select(Staff).where(Staff.mp_openid_enc.is_not(None), Staff.mp_openid_index.is_(None)))
    ).all()
    if not rows:
        return
    taken = set((await session.scalars(select(Staff.mp_openid_index).where(Staff.mp_openid_index.is_not(None)))).all())
    for staff in rows:
        assert staff.mp_openid_enc is not None
        index = openid_index(ctx, ctx.cipher.decrypt(staff.mp_openid_enc))
        if index in taken:
            log.warning("staff %s has the service-account openid of another staff member: left unindexed", staff.id)
            continue
        staff.mp_openid_index = index
        taken.add(index)
    await session.flush()
