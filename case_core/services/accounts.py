"""Applicants (by WeChat openid) and their profile (6.2.2); staff accounts with hashed passwords and lockout."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from case_core.context import CoreContext
from case_core.domain.errors import (
    AccountDisabled,
    CaseError,
    FieldInvalid,
    Forbidden,
    NotFound,
    TooManyRequests,
    Unauthenticated,
)
from case_core.domain.forms import FieldDef, clean_form
from case_core.domain.masking import mask_id_number, mask_phone, mask_text
from case_core.domain.states import Role
from case_core.models import Applicant, Department, Staff
from case_core.principals import ApplicantPrincipal, RequestInfo, StaffPrincipal
from case_core.services import audit

_hasher = PasswordHasher()

ID_TYPES = ("居民身份证", "港澳居民来往内地通行证", "台湾居民来往大陆通行证", "外国人永久居留身份证", "护照")
PROFILE_FIELDS = (
    FieldDef("name", "姓名", "string"),
    FieldDef("id_type", "证件类型", "select", options=ID_TYPES),
    FieldDef("id_number", "证件号码", "id_number"),
    FieldDef("phone", "手机号码", "phone"),
    FieldDef("email", "电子邮箱", "string", validator="email"),
    FieldDef("address", "详细地址", "text"),
)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


# ----------------------------------------------------------------------------------------------- applicants


async def applicant_for_openid(session: AsyncSession, *, openid: str, unionid: str | None, now: datetime) -> Applicant:
    person = await session.scalar(select(Applicant).where(Applicant.openid == openid))
    if person is None:
        person = Applicant(openid=openid, unionid=unionid, created_at=now, updated_at=now)
        session.add(person)
        await session.flush()
    elif unionid and person.unionid != unionid:
        person.unionid = unionid
    return person


def profile_out(person: Applicant, ctx: CoreContext, *, reveal: bool = False) -> dict[str, Any]:
    """Masked unless ``reveal``; revealing is for the owner or audited staff only (the caller decides)."""

    def clear(token: str | None) -> str | None:
        return ctx.cipher.decrypt(token) if token else None

    return {
        "id": person.id,
        "name": person.name,
        "id_type": person.id_type,
        "id_number": clear(person.id_number_enc) if reveal else person.id_number_masked,
        "phone": clear(person.phone_enc) if reveal else person.phone_masked,
        "email": person.email,
        "address": clear(person.address_enc) if reveal else person.address_masked,
        "masked": not reveal,
    }


async def update_profile(
    session: AsyncSession, ctx: CoreContext, *, applicant: ApplicantPrincipal, values: dict[str, Any], now: datetime
) -> Applicant:
    person = await session.get(Applicant, applicant.id)
    if person is None:
        raise NotFound("用户")
    if "id_type" in values or "id_number" in values:
        # An ID number is judged against the ID type it will be stored with, whichever of the two changed.
        current = {
            "id_type": person.id_type,
            "id_number": ctx.cipher.decrypt(person.id_number_enc) if person.id_number_enc else None,
        }
        values = {**{k: v for k, v in current.items() if v is not None}, **values}
    cleaned, errors = clean_form(PROFILE_FIELDS, values)
    if errors:
        raise FieldInvalid(errors)
    for key in values:
        value = cleaned.get(key)
        if key == "id_number":
            person.id_number_enc = ctx.cipher.encrypt(value) if value else None
            person.id_number_masked = mask_id_number(value) if value else None
            person.id_number_index = ctx.cipher.blind_index(value) if value else None
        elif key == "phone":
            person.phone_enc = ctx.cipher.encrypt(value) if value else None
            person.phone_masked = mask_phone(value) if value else None
        elif key == "address":
            person.address_enc = ctx.cipher.encrypt(value) if value else None
            person.address_masked = mask_text(value) if value else None
        else:
            setattr(person, key, value)
    person.updated_at = now
    await session.flush()
    return person


async def reveal_applicant(
    session: AsyncSession,
    ctx: CoreContext,
    *,
    applicant_id: int,
    staff: StaffPrincipal,
    now: datetime,
    info: RequestInfo | None,
    case_id: int | None = None,
) -> dict[str, Any]:
    """A staff read of an applicant's personal data in the clear: permission-checked and audited."""
    if not staff.has(Role.PII_READER):
        raise Forbidden("您没有查看个人完整信息的权限")
    person = await session.get(Applicant, applicant_id)
    if person is None:
        raise NotFound("用户")
    audit.record(
        session,
        actor_type="staff",
        actor_id=staff.id,
        action="pii.read",
        now=now,
        info=info,
        case_id=case_id,
        target=f"applicant:{applicant_id}",
        detail={"fields": ["id_number", "phone", "address"]},
    )
    return profile_out(person, ctx, reveal=True)


# ----------------------------------------------------------------------------------------------- staff


@dataclass(frozen=True)
class LoginOutcome:
    staff: Staff | None
    error: CaseError | None


async def authenticate_staff(
    session: AsyncSession,
    *,
    username: str,
    password: str,
    now: datetime,
    max_failures: int,
    lockout: timedelta,
    info: RequestInfo | None = None,
) -> LoginOutcome:
    """Check a password. Failures are counted in the row (so the caller must commit even on failure)."""
    staff = await session.scalar(select(Staff).where(Staff.username == username))
    bad = Unauthenticated("用户名或密码错误")
    if staff is None:
        verify_password(_DUMMY_HASH, password)  # same work either way: no user enumeration by timing
        return LoginOutcome(None, bad)
    if not staff.active:
        # Only whoever knows the password learns that the account is disabled (and whom to ask).
        if not verify_password(staff.password_hash, password):
            return LoginOutcome(None, bad)
        audit.record(session, actor_type="staff", actor_id=staff.id, action="login.disabled", now=now, info=info)
        return LoginOutcome(None, AccountDisabled())
    if staff.locked_until is not None and staff.locked_until > now:
        minutes = int((staff.locked_until - now).total_seconds() // 60) + 1
        return LoginOutcome(None, TooManyRequests(f"登录失败次数过多，请{minutes}分钟后再试"))
    if not verify_password(staff.password_hash, password):
        staff.failed_logins += 1
        if staff.failed_logins >= max_failures:
            staff.locked_until = now + lockout
            staff.failed_logins = 0
        audit.record(session, actor_type="staff", actor_id=staff.id, action="login.failed", now=now, info=info)
        return LoginOutcome(None, bad)
    staff.failed_logins = 0
    staff.locked_until = None
    staff.last_login_at = now
    if _hasher.check_needs_rehash(staff.password_hash):
        staff.password_hash = hash_password(password)
    audit.record(session, actor_type="staff", actor_id=staff.id, action="login", now=now, info=info)
    return LoginOutcome(staff, None)


_DUMMY_HASH = hash_password("weijian-dummy-password")


async def staff_principal(session: AsyncSession, staff: Staff) -> StaffPrincipal:
    dept = await session.get(Department, staff.department_id)
    assert dept is not None
    return StaffPrincipal(
        id=staff.id,
        name=staff.name,
        roles=frozenset(staff.roles),
        department_id=dept.id,
        department_path=dept.path,
        token_version=staff.token_version,
        must_change_password=staff.must_change_password,
    )
