"""Operators' administration: the working-day calendar (a year's holidays and make-up working days)."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import select

from case_core import calendar
from case_core.domain.errors import Forbidden, ValidationFailed
from case_core.domain.states import Role
from case_core.models import CalendarDay, CalendarYear
from case_core.principals import StaffPrincipal
from case_core.services import audit
from case_core.services import cases as case_service
from mobile_api.deps import CtxDep, CurrentStaff, InfoDep, NowDep, SessionDep

router = APIRouter(prefix="/admin", tags=["admin"])


class YearIn(BaseModel):
    holidays: list[date] = Field(max_length=366)
    workdays: list[date] = Field(default_factory=list, max_length=366)


def _require_admin(staff: StaffPrincipal) -> None:
    if not staff.has(Role.ADMIN):
        raise Forbidden("仅系统管理员可以维护工作日历")


@router.get("/calendar/{year}")
async def get_year(year: int, session: SessionDep, staff: CurrentStaff) -> dict:
    _require_admin(staff)
    known = await session.get(CalendarYear, year)
    rows = (
        await session.scalars(
            select(CalendarDay)
            .where(CalendarDay.day >= date(year, 1, 1), CalendarDay.day <= date(year, 12, 31))
            .order_by(CalendarDay.day)
        )
    ).all()
    return {
        "year": year,
        "known": known is not None,
        "source": known.source if known else None,
        "holidays": [r.day.isoformat() for r in rows if not r.is_workday],
        "workdays": [r.day.isoformat() for r in rows if r.is_workday],
    }


@router.put("/calendar/{year}")
async def put_year(
    year: int, body: YearIn, session: SessionDep, ctx: CtxDep, staff: CurrentStaff, now: NowDep, info: InfoDep
) -> dict:
    """Publish a year (e.g. when the State Council announces it); provisional deadlines are recomputed."""
    _require_admin(staff)
    try:
        await calendar.set_year(session, year, body.holidays, body.workdays, now)
    except ValueError as exc:
        raise ValidationFailed("日期须在所设置的年份内", error=str(exc)) from exc
    audit.record(
        session,
        actor_type="staff",
        actor_id=staff.id,
        action="calendar.set_year",
        now=now,
        info=info,
        target=str(year),
        detail={"holidays": len(body.holidays), "workdays": len(body.workdays)},
    )
    recomputed = await case_service.recompute_provisional_deadlines(session, ctx, now=now)
    return {"year": year, "recomputed_cases": recomputed}
