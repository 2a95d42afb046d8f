"""The working-day calendar as data: seeded from ``chinesecalendar``, extended by operators, cached per process."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta

import chinese_calendar
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from case_core.domain.clock import WorkCalendar
from case_core.models import CalendarDay, CalendarYear

_CACHE: tuple[float, WorkCalendar] | None = None
CACHE_SECONDS = 60.0


def chinesecalendar_years() -> range:
    days = list(chinese_calendar.holidays) + list(chinese_calendar.workdays)
    return range(min(days).year, max(days).year + 1)


def _overrides_for_year(year: int) -> dict[date, tuple[bool, str | None]]:
    out: dict[date, tuple[bool, str | None]] = {}
    day = date(year, 1, 1)
    while day.year == year:
        workday = chinese_calendar.is_workday(day)
        if workday != (day.weekday() < 5):
            _, name = chinese_calendar.get_holiday_detail(day)
            out[day] = (workday, name)
        day += timedelta(days=1)
    return out


async def seed_from_chinesecalendar(session: AsyncSession, now: datetime) -> list[int]:
    """Load every year chinesecalendar knows that the database does not have yet. Returns the years added."""
    have = set((await session.scalars(select(CalendarYear.year))).all())
    added = []
    for year in chinesecalendar_years():
        if year in have:
            continue
        for day, (workday, name) in _overrides_for_year(year).items():
            session.add(CalendarDay(day=day, is_workday=workday, note=name))
        session.add(CalendarYear(year=year, source="chinesecalendar", updated_at=now))
        added.append(year)
    await session.flush()
    invalidate()
    return added


async def set_year(
    session: AsyncSession,
    year: int,
    holidays: list[date],
    workdays: list[date],
    now: datetime,
    source: str = "operator",
) -> None:
    """An operator publishes a year's holidays and make-up working days (replacing what was there)."""
    for d in [*holidays, *workdays]:
        if d.year != year:
            raise ValueError(f"{d} is not in {year}")
    await session.execute(
        delete(CalendarDay).where(CalendarDay.day >= date(year, 1, 1), CalendarDay.day <= date(year, 12, 31))
    )
    for d in holidays:
        if d.weekday() < 5:
            session.add(CalendarDay(day=d, is_workday=False, note="节假日"))
    for d in workdays:
        if d.weekday() >= 5:
            session.add(CalendarDay(day=d, is_workday=True, note="调休上班"))
    row = await session.get(CalendarYear, year)
    if row is None:
        session.add(CalendarYear(year=year, source=source, updated_at=now))
    else:
        row.source, row.updated_at = source, now
    await session.flush()
    invalidate()


async def load_calendar(session: AsyncSession) -> WorkCalendar:
    rows = (await session.execute(select(CalendarDay.day, CalendarDay.is_workday))).all()
    years = (await session.scalars(select(CalendarYear.year))).all()
    return WorkCalendar(overrides={r.day: r.is_workday for r in rows}, known_years=frozenset(years))


async def get_calendar(session: AsyncSession) -> WorkCalendar:
    """The calendar, cached for a minute per process (operators' edits invalidate it at once in this process)."""
    global _CACHE
    if _CACHE is not None and time.monotonic() - _CACHE[0] < CACHE_SECONDS:
        return _CACHE[1]
    cal = await load_calendar(session)
    _CACHE = (time.monotonic(), cal)
    return cal


def cached() -> WorkCalendar | None:
    """The cached calendar if still fresh, without touching the database (hot reads use it)."""
    if _CACHE is not None and time.monotonic() - _CACHE[0] < CACHE_SECONDS:
        return _CACHE[1]
    return None


def invalidate() -> None:
    global _CACHE
    _CACHE = None
