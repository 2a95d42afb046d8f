"""Staff accounts' contacts: a staff member's own profile (``/staff/me``) and the admins' view (``/admin/staff``).

Contacts are shown masked; ``?reveal=true`` shows them in the clear to the staff member themself, and to an admin
with an audit entry. Other staff cannot see another's contacts at all.
"""

from __future__ import annotations

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from case_core.domain.errors import Forbidden
from case_core.domain.states import Role
from case_core.principals import StaffPrincipal
from case_core.services import staff_accounts, staff_contacts
from mobile_api.deps import CtxDep, CurrentStaff, InfoDep, NowDep, SessionDep

router = APIRouter(tags=["staff"])


class ContactsIn(BaseModel):
    """Only the fields present change; null or "" clears one."""

    model_config = ConfigDict(extra="forbid")
    phone: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=160)
    wechat_mp_openid: str | None = Field(default=None, max_length=80)


def _require_admin(staff: StaffPrincipal) -> None:
    if not staff.has(Role.ADMIN):
        raise Forbidden("仅系统管理员可以管理工作人员账号")


@router.get("/staff/me")
async def get_me(session: SessionDep, ctx: CtxDep, staff: CurrentStaff, reveal: bool = False) -> dict:
    me = await staff_contacts.get_staff(session, staff, staff.id)
    return await staff_contacts.profile_out(session, me, ctx, reveal=reveal)


@router.put("/staff/me")
async def put_me(
    body: ContactsIn, session: SessionDep, ctx: CtxDep, staff: CurrentStaff, now: NowDep, info: InfoDep
) -> dict:
    me = await staff_contacts.get_staff(session, staff, staff.id)
    await staff_contacts.set_contacts(
        session, ctx, staff=me, caller=staff, values=body.model_dump(exclude_unset=True), now=now, info=info
    )
    return await staff_contacts.profile_out(session, me, ctx)


@router.get("/admin/staff")
async def list_staff(
    session: SessionDep,
    ctx: CtxDep,
    staff: CurrentStaff,
    now: NowDep,
    q: str | None = Query(None, max_length=64),
    department_id: int | None = Query(None, ge=1, le=2**31 - 1),
    role: str | None = Query(None, max_length=32),
    active: bool | None = None,
    locked: bool = False,
    limit: int = Query(50, ge=1, le=200),
    after_id: int = 0,
) -> dict:
    """Staff accounts of the admin's department and those below it, by id, with their contacts masked (which
    channels can reach whom) and their account state; ``q`` matches the username or the name, ``locked=true``
    keeps the accounts locked out now."""
    rows = await staff_accounts.search(
        session,
        staff,
        q=q,
        department_id=department_id,
        role=role,
        active=active,
        locked_at=now if locked else None,
        after_id=after_id,
        limit=limit,
    )
    return {
        "items": [
            {**await staff_contacts.profile_out(session, s, ctx), **staff_accounts.account_out(s, now)} for s in rows
        ]
    }


@router.get("/admin/staff/{staff_id}")
async def get_staff(
    staff_id: int,
    session: SessionDep,
    ctx: CtxDep,
    staff: CurrentStaff,
    now: NowDep,
    info: InfoDep,
    reveal: bool = False,
) -> dict:
    _require_admin(staff)
    person = await staff_contacts.get_staff(session, staff, staff_id)
    if reveal:
        staff_contacts.audit_reveal(session, staff, person, now, info)
    return {
        **await staff_contacts.profile_out(session, person, ctx, reveal=reveal),
        **staff_accounts.account_out(person, now),
    }


@router.put("/admin/staff/{staff_id}/contacts")
async def put_staff_contacts(
    staff_id: int,
    body: ContactsIn,
    session: SessionDep,
    ctx: CtxDep,
    staff: CurrentStaff,
    now: NowDep,
    info: InfoDep,
) -> dict:
    _require_admin(staff)
    person = await staff_contacts.get_staff(session, staff, staff_id)
    await staff_contacts.set_contacts(
        session, ctx, staff=person, caller=staff, values=body.model_dump(exclude_unset=True), now=now, info=info
    )
    return await staff_contacts.profile_out(session, person, ctx)
