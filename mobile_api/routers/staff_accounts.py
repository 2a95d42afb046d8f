"""Staff accounts: admins create, change, disable, unlock them and reset passwords (within their department and
below); staff change their own password and log out. The rules are in ``case_core.services.staff_accounts``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from case_core import events
from case_core.domain.errors import PasswordRejected, TooManyRequests
from case_core.domain.passwords import PasswordPolicy
from case_core.models import Staff
from case_core.principals import RequestInfo, StaffPrincipal
from case_core.services import accounts, staff_contacts
from case_core.services import staff_accounts as svc
from case_core.timeutil import utcnow  # tokens expire by the wall clock, not the business clock
from mobile_api.deps import (
    AppState,
    CtxDep,
    CurrentStaff,
    CurrentStaffChangingPassword,
    InfoDep,
    NowDep,
    SessionDep,
    StateDep,
)

router = APIRouter(tags=["staff accounts"])

StaffId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class StaffIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=64)
    department_id: int = Field(ge=1, le=2**31 - 1)
    roles: list[str] = Field(max_length=20)
    # Leave out to have the server generate one, returned once in ``initial_password``.
    password: str | None = Field(default=None, min_length=1, max_length=256)


class StaffPatch(BaseModel):
    """Only the fields present change."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=64)
    department_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    roles: list[str] | None = Field(default=None, max_length=20)


class PasswordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: str | None = Field(default=None, min_length=1, max_length=256)


class OwnPasswordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    old_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=1, max_length=256)


def _policy(state: AppState) -> PasswordPolicy:
    return PasswordPolicy(state.settings.password_min_length, state.settings.password_min_classes)


def _origin(staff: StaffPrincipal, info: RequestInfo) -> svc.Origin:
    return svc.Origin(caller=staff, info=info)


def _revoke_after_commit(session: AsyncSession, state: AppState, staff: Staff) -> None:
    """Tokens issued before the account's current version stop working once the change commits: in this process
    at once, in the others as soon as they hear it over Redis (or at their next re-read without it)."""
    staff_id, version = staff.id, staff.token_version
    events.after_commit(session, lambda: state.tokens.sessions.announce(staff_id, version))


async def _out(session: AsyncSession, staff: Staff, ctx: CtxDep, now: NowDep) -> dict:
    return {**await staff_contacts.profile_out(session, staff, ctx), **svc.account_out(staff, now)}


# ----------------------------------------------------------------------------------------------- reference


@router.get("/admin/roles")
async def roles(staff: CurrentStaff) -> dict:
    """The roles an admin can give (7.3: functions are granted by role)."""
    svc.require_admin(staff)
    return {"items": [{"code": code, "label": label} for code, label in svc.ROLE_LABELS.items()]}


@router.get("/admin/departments")
async def departments(session: SessionDep, staff: CurrentStaff) -> dict:
    """The departments the admin manages: their own and those below it."""
    rows = await svc.departments_in_scope(session, staff)
    return {"items": [{"id": d.id, "code": d.code, "name": d.name, "path": d.path} for d in rows]}


# ----------------------------------------------------------------------------------------------- admin actions


@router.post("/admin/staff", status_code=201)
async def create_staff(
    body: StaffIn, session: SessionDep, state: StateDep, ctx: CtxDep, staff: CurrentStaff, now: NowDep, info: InfoDep
) -> dict:
    """A new account. Its owner must change the password at first login; a generated one is shown only here."""
    person, generated = await svc.create(
        session,
        _origin(staff, info),
        username=body.username,
        name=body.name,
        department_id=body.department_id,
        roles=body.roles,
        password=body.password,
        policy=_policy(state),
        now=now,
    )
    return {**await _out(session, person, ctx, now), "initial_password": generated}


@router.patch("/admin/staff/{staff_id}")
async def update_staff(
    staff_id: StaffId,
    body: StaffPatch,
    session: SessionDep,
    state: StateDep,
    ctx: CtxDep,
    staff: CurrentStaff,
    now: NowDep,
    info: InfoDep,
) -> dict:
    """Name, roles, department. New roles or department sign the account out (its tokens carry the old ones)."""
    person = await svc.get_managed(session, staff, staff_id)
    await svc.update(session, _origin(staff, info), person, now=now, **body.model_dump(exclude_unset=True))
    _revoke_after_commit(session, state, person)
    return await _out(session, person, ctx, now)


@router.post("/admin/staff/{staff_id}/disable")
async def disable_staff(
    staff_id: StaffId,
    session: SessionDep,
    state: StateDep,
    ctx: CtxDep,
    staff: CurrentStaff,
    now: NowDep,
    info: InfoDep,
) -> dict:
    """The account can no longer log in and its tokens stop working; its history stays."""
    person = await svc.get_managed(session, staff, staff_id)
    await svc.set_active(session, _origin(staff, info), person, active=False, now=now)
    _revoke_after_commit(session, state, person)
    return await _out(session, person, ctx, now)


@router.post("/admin/staff/{staff_id}/enable")
async def enable_staff(
    staff_id: StaffId, session: SessionDep, ctx: CtxDep, staff: CurrentStaff, now: NowDep, info: InfoDep
) -> dict:
    person = await svc.get_managed(session, staff, staff_id)
    await svc.set_active(session, _origin(staff, info), person, active=True, now=now)
    return await _out(session, person, ctx, now)


@router.post("/admin/staff/{staff_id}/unlock")
async def unlock_staff(
    staff_id: StaffId, session: SessionDep, ctx: CtxDep, staff: CurrentStaff, now: NowDep, info: InfoDep
) -> dict:
    """Lift a lockout after repeated wrong passwords before it runs out."""
    person = await svc.get_managed(session, staff, staff_id)
    await svc.unlock(session, _origin(staff, info), person, now=now)
    return await _out(session, person, ctx, now)


@router.post("/admin/staff/{staff_id}/reset-password")
async def reset_password(
    staff_id: StaffId,
    body: PasswordIn,
    session: SessionDep,
    state: StateDep,
    ctx: CtxDep,
    staff: CurrentStaff,
    now: NowDep,
    info: InfoDep,
) -> dict:
    """A temporary password (given, or generated and shown only here) to be changed at next login; the account's
    sessions end and a lockout is lifted."""
    person = await svc.get_managed(session, staff, staff_id)
    generated = await svc.reset_password(
        session, _origin(staff, info), person, password=body.password, policy=_policy(state), now=now
    )
    _revoke_after_commit(session, state, person)
    return {**await _out(session, person, ctx, now), "temporary_password": generated}


# ----------------------------------------------------------------------------------------------- self-service


@router.post("/staff/me/password")
async def change_own_password(
    body: OwnPasswordIn,
    session: SessionDep,
    state: StateDep,
    staff: CurrentStaffChangingPassword,
    now: NowDep,
    info: InfoDep,
) -> dict:
    """Change one's password with the old one. Other sessions end; the answer carries a fresh token."""
    if not await state.limiter.hit(f"pwchange:{staff.id}", limit=10, window_seconds=600):
        raise TooManyRequests("修改密码尝试过于频繁，请稍后再试")
    try:
        person = await svc.change_own_password(
            session,
            staff_id=staff.id,
            old_password=body.old_password,
            new_password=body.new_password,
            policy=_policy(state),
            now=now,
            info=info,
        )
    except PasswordRejected as exc:
        if exc.code == "password_incorrect":
            await session.commit()  # keep the audit row of the failed attempt
        raise
    _revoke_after_commit(session, state, person)
    principal = await accounts.staff_principal(session, person)
    return {
        "access_token": state.tokens.for_staff(principal, utcnow()),
        "token_type": "bearer",
        "must_change_password": False,
    }


@router.post("/auth/logout", status_code=204)
async def logout(
    session: SessionDep, state: StateDep, staff: CurrentStaffChangingPassword, now: NowDep, info: InfoDep
) -> None:
    """Sign out: every token of the account stops working (on every device)."""
    person = await svc.logout(session, staff_id=staff.id, now=now, info=info)
    _revoke_after_commit(session, state, person)
