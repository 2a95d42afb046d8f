"""The scheduled jobs. Each is idempotent twice over:

* a run claims its *slot* (job × period, e.g. the overdue scan of 09:30) by inserting a ``JobRun`` row under a
  unique constraint: of two schedulers started by mistake, one inserts and runs, the other finds the row and skips;
* what a run writes is keyed (``red:<case>:<due>``, ``expiry:<licence>:<offset>``…) and inserted with ON CONFLICT
  DO NOTHING, so even a manual "run now" beside the schedule tells nobody twice.
The scans are set-based: one INSERT … SELECT per light or offset, whatever the number of cases.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Date, Integer, String, and_, case, cast, exists, func, literal, select, text, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from case_core import calendar, queries
from case_core.domain.states import CLOCKED_STATUSES, Role, Status
from case_core.models import Case, Department, Evaluation, Licence, Staff
from case_core.timeutil import CST, local_date, utcnow
from notifiers.dispatcher import Dispatcher
from notifiers.models import FollowUp, JobRun, Notification
from notifiers.settings import NotifySettings

log = logging.getLogger("weijian.scheduler")
outbox = Notification.__table__
cases = Case.__table__


@dataclass
class JobContext:
    sessions: async_sessionmaker[AsyncSession]
    settings: NotifySettings
    yellow_days: int
    dispatcher: Dispatcher | None = None


def _insert(session: AsyncSession) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def _json_object(session: AsyncSession, *pairs: Any) -> Any:
    fn = func.jsonb_build_object if session.get_bind().dialect.name == "postgresql" else func.json_object
    return fn(*pairs)


def _concat(*parts: Any) -> Any:
    out = parts[0]
    for p in parts[1:]:
        out = out.op("||")(p)
    return out


def _fmt_date(session: AsyncSession, column: Any) -> Any:
    """A date as 2026年12月15日, in SQL."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(column, 'YYYY"年"MM"月"DD"日"')
    return _concat(
        func.strftime("%Y", column), literal("年"), func.strftime("%m", column), literal("月"),
        func.strftime("%d", column), literal("日"),
    )  # fmt: skip


ANALYZE_AFTER = 1000


async def _outbox_from_select(session: AsyncSession, stmt: Any) -> int:
    cols = ["key", "event", "case_id", "audience", "recipient_id", "urgent", "data", "created_at"]
    ins = _insert(session)(outbox).from_select(cols, stmt).on_conflict_do_nothing(index_elements=["key"])
    result = await session.execute(ins)
    written = int(result.rowcount or 0)  # type: ignore[attr-defined]
    if written >= ANALYZE_AFTER and session.get_bind().dialect.name == "postgresql":
        # A burst of rows leaves the planner believing the outbox is as small as before: fresh statistics (a
        # sample; ~0.1 s) size the next anti-join's hash right (a stale plan once took 57 s at 100k cases).
        await session.execute(text("ANALYZE notify_outbox"))
    return written


# ----------------------------------------------------------------------------------------------------- jobs
async def overdue_scan(session: AsyncSession, ctx: JobContext, now: datetime) -> dict[str, Any]:
    """Yellow and red lights → one reminder per case per due date to the staff holding its current step."""
    cal = await calendar.get_calendar(session)
    today = local_date(now)
    boundary, yellow_days = queries.nth_workday_after(cal, today, ctx.yellow_days), ctx.yellow_days
    c = cases.c
    o = outbox.c
    clocked = c.status.in_(sorted(CLOCKED_STATUSES))
    if session.get_bind().dialect.name == "postgresql":
        # Never a nested loop for these set-wide anti-joins: over an outbox the planner believes small (just
        # truncated, or before a burst is analysed) it picks a nested loop over a sequential scan, which rescans
        # the table this very statement is filling: quadratic (measured: minutes at 1M cases). A hash anti-join
        # reads the outbox once. Scoped to this job's transaction.
        await session.execute(text("SET LOCAL enable_nestloop = off"))
    running, paused = c.paused_since.is_(None), c.paused_since.is_not(None)
    # Each light as two index-friendly halves instead of one OR: a running clock by due date (ix_cases_status_due),
    # a stopped clock by the days it had left (the partial index ix_cases_paused_days_left, see models).
    lights = {
        "yellow": (
            and_(clocked, running, c.due_date >= literal(today, Date), c.due_date < literal(boundary, Date)),
            and_(clocked, paused, c.paused_days_left >= 0, c.paused_days_left < yellow_days),
        ),
        "red": (
            and_(clocked, running, c.due_date < literal(today, Date)),
            and_(clocked, paused, c.paused_days_left < 0),
        ),
    }
    out: dict[str, Any] = {}
    for light, halves in lights.items():
        key = _concat(
            literal(f"{light}:"), cast(c.id, String), literal(":"), func.coalesce(cast(c.due_date, String), "")
        )
        out[light] = 0
        for condition in halves:
            # The texts' values (serial number, item, due date) are read from the case when the dispatcher expands
            # the row: the scan writes only the key. Cases already reminded are skipped by an anti-join before
            # anything is built; ON CONFLICT stays for a concurrent scan.
            stmt = select(
                key, literal(f"light_{light}"), c.id, literal("staff"), literal(None, Integer), literal(False),
                _json_object(session, "case_id", c.id), literal(now),
            ).where(condition, ~exists().where(o.key == key))  # fmt: skip
            out[light] += await _outbox_from_select(session, stmt)
    return out


async def licence_expiry(session: AsyncSession, ctx: JobContext, now: datetime) -> dict[str, Any]:
    """Reminders at each configured offset before a valid licence expires (e.g. within 90, 30, 7 days): one per
    licence per offset, even if the scheduler was down on the exact day."""
    today = local_date(now)
    lic = Licence.__table__.c
    offsets = ctx.settings.expiry_offsets  # descending, e.g. (90, 30, 7)
    pg = session.get_bind().dialect.name == "postgresql"
    days_left = (
        (lic.valid_until - today) if pg else cast(func.julianday(lic.valid_until) - func.julianday(today), Integer)
    )
    out: dict[str, int] = {}
    for i, offset in enumerate(offsets):
        lower = offsets[i + 1] + 1 if i + 1 < len(offsets) else 0
        stmt = (
            select(
                _concat(literal("expiry:"), cast(lic.id, String), literal(f":{offset}")),
                literal("licence_expiring"),
                lic.case_id,
                literal("applicant"),
                lic.applicant_id,
                literal(False),
                _json_object(
                    session,
                    "case_id", lic.case_id, "licence_no", lic.licence_no, "licence_type", lic.licence_type,
                    "valid_until", _fmt_date(session, lic.valid_until), "days_left", cast(days_left, String),
                    "serial_no", cases.c.serial_no, "item_name", cases.c.item_name,
                ),
                literal(now),
            )
            .select_from(Licence.__table__.join(cases, cases.c.id == lic.case_id))
            .where(
                lic.status == "valid",
                lic.valid_until >= literal(today + timedelta(days=lower), Date),
                lic.valid_until <= literal(today + timedelta(days=offset), Date),
            )
        )  # fmt: skip
        out[str(offset)] = await _outbox_from_select(session, stmt)
    return out


async def followups(session: AsyncSession, ctx: JobContext, now: datetime) -> dict[str, Any]:
    """A follow-up task (回访) for every case rated 1–3, and a reminder to the department's window staff."""
    cal = await calendar.get_calendar(session)
    due = queries.nth_workday_after(cal, local_date(now), ctx.settings.followup_working_days)
    e, c = Evaluation.__table__.c, cases.c
    tasks = (
        _insert(session)(FollowUp.__table__)
        .from_select(
            ["case_id", "department_id", "level", "status", "due_date", "created_at"],
            select(e.case_id, c.department_id, e.level, literal("open"), literal(due, Date), literal(now))
            .select_from(Evaluation.__table__.join(cases, cases.c.id == e.case_id))
            .where(e.level <= 3),
        )
        .on_conflict_do_nothing(index_elements=["case_id"])
    )
    created = int((await session.execute(tasks)).rowcount or 0)  # type: ignore[attr-defined]
    f = FollowUp.__table__.c
    reminders = select(
        _concat(literal("followup:"), cast(f.case_id, String)),
        literal("followup"),
        f.case_id,
        literal("staff"),
        literal(None, Integer),
        literal(False),
        _json_object(
            session,
            "case_id", f.case_id, "serial_no", c.serial_no, "item_name", c.item_name, "level", cast(f.level, String),
            "due", _fmt_date(session, f.due_date), "role", literal(Role.WINDOW_CLERK.value),
        ),
        literal(now),
    ).select_from(FollowUp.__table__.join(cases, cases.c.id == f.case_id)).where(f.status == "open")  # fmt: skip
    return {"tasks": created, "reminders": await _outbox_from_select(session, reminders)}


async def daily_briefing(session: AsyncSession, ctx: JobContext, now: datetime) -> dict[str, Any]:
    """Yesterday per department (received, accepted, concluded, satisfaction) and the red cases now, to its
    leaders. One grouped query per figure, not a loop over cases."""
    today = local_date(now)
    day = today - timedelta(days=1)
    cal = await calendar.get_calendar(session)
    c, e = cases.c, Evaluation.__table__.c
    start = datetime(day.year, day.month, day.day, tzinfo=CST)
    end = start + timedelta(days=1)

    async def per_department(stmt: Any) -> dict[int, Any]:
        return {r[0]: r[1] for r in (await session.execute(stmt)).all()}

    received = await per_department(
        select(c.department_id, func.count())
        .where(c.submitted_at >= start, c.submitted_at < end)
        .group_by(c.department_id)
    )
    accepted = await per_department(
        select(c.department_id, func.count())
        .where(c.accepted_at >= start, c.accepted_at < end)
        .group_by(c.department_id)
    )
    concluded = await per_department(
        select(c.department_id, func.count())
        .where(c.finished_at >= start, c.finished_at < end, c.status.in_([Status.CONCLUDED, Status.DELIVERED]))
        .group_by(c.department_id)
    )
    overdue = await per_department(
        select(c.department_id, func.count())
        .where(c.status.in_(sorted(CLOCKED_STATUSES)), queries._light_condition("red"))
        .group_by(c.department_id)
        .params(
            today=today, boundary=queries.nth_workday_after(cal, today, ctx.yellow_days), yellow_days=ctx.yellow_days
        )
    )
    rated = {
        r[0]: (r[1], r[2])
        for r in (
            await session.execute(
                select(c.department_id, func.sum(case((e.level >= 4, 1), else_=0)), func.count())
                .select_from(Evaluation.__table__.join(cases, cases.c.id == e.case_id))
                .where(e.created_at >= start, e.created_at < end)
                .group_by(c.department_id)
            )
        ).all()
    }
    paths = dict((await session.execute(select(Department.id, Department.path))).all())
    leaders = (
        await session.execute(
            select(Staff.id, Staff.roles, Department.path, Department.name)
            .join(Department, Department.id == Staff.department_id)
            .where(Staff.active.is_(True))
        )
    ).all()
    rows = []
    for staff_id, roles, scope, dept_name in leaders:
        if Role.LEADER not in (roles or []):
            continue
        # A leader's briefing covers their department and every department below it, as their task list does.
        under = [d for d, path in paths.items() if path.startswith(scope)]

        def total(figures: dict[int, Any], under: list[int] = under) -> int:
            return sum(int(figures.get(d, 0)) for d in under)

        good = sum(int(rated[d][0]) for d in under if d in rated)
        votes = sum(int(rated[d][1]) for d in under if d in rated)
        rows.append(
            {
                "key": f"brief:{day.isoformat()}:{staff_id}",
                "event": "daily_briefing",
                "case_id": None,
                "audience": "leader",
                "recipient_id": staff_id,
                "urgent": False,
                "data": {
                    "department": dept_name,
                    "day": f"{day:%Y年%m月%d日}",
                    "received": total(received),
                    "accepted": total(accepted),
                    "concluded": total(concluded),
                    "overdue": total(overdue),
                    "satisfaction": f"{100.0 * good / votes:.1f}%" if votes else "暂无评价",
                },
                "created_at": now,
            }
        )
    written = 0
    for row in rows:
        result = await session.execute(
            _insert(session)(outbox).values(**row).on_conflict_do_nothing(index_elements=["key"])
        )
        written += int(result.rowcount or 0)  # type: ignore[attr-defined]
    return {"leaders": written}


async def redeliver(session: AsyncSession, ctx: JobContext, now: datetime) -> dict[str, Any]:
    """Deliver what is due: retries whose backoff has passed, rows whose dispatcher died (expired leases), SMS held
    over the quiet hours. The dispatcher loop does this continuously; the job is the safety net on a schedule."""
    if ctx.dispatcher is None:
        return {"skipped": "no dispatcher in this process"}
    return {"attempted": await ctx.dispatcher.drain()}


Job = Callable[[AsyncSession, JobContext, datetime], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class JobSpec:
    id: str
    name: str
    fn: Job
    trigger: dict[str, Any]  # APScheduler trigger: {"trigger": "cron", "hour": 8} …
    slot_minutes: int  # the slot a run claims: the period, so one run per period across schedulers


JOBS: dict[str, JobSpec] = {
    j.id: j
    for j in (
        JobSpec("overdue_scan", "超期预警扫描（黄灯、红灯）", overdue_scan, {"trigger": "interval", "minutes": 30}, 30),
        JobSpec("licence_expiry", "证照到期提醒", licence_expiry, {"trigger": "cron", "hour": 9, "minute": 0}, 1440),
        JobSpec("daily_briefing", "领导每日简报", daily_briefing, {"trigger": "cron", "hour": 8, "minute": 0}, 1440),
        JobSpec("followups", "差评回访任务", followups, {"trigger": "interval", "minutes": 15}, 15),
        JobSpec("redeliver", "失败消息重投", redeliver, {"trigger": "interval", "minutes": 5}, 5),
    )
}


def slot_for(spec: JobSpec, now: datetime) -> str:
    local = now.astimezone(CST)
    minutes = local.hour * 60 + local.minute
    start = minutes - minutes % spec.slot_minutes if spec.slot_minutes < 1440 else 0
    return f"{local:%Y-%m-%d}T{start // 60:02d}:{start % 60:02d}"


async def run_job(ctx: JobContext, job_id: str, now: datetime, *, manual: bool = False) -> dict[str, Any] | None:
    """Run one job for its current slot (or, ``manual``, for a slot of its own). None: another scheduler has it."""
    spec = JOBS[job_id]
    slot = f"manual:{now.isoformat()}" if manual else slot_for(spec, now)
    async with ctx.sessions() as session, session.begin():
        claimed = await session.execute(
            _insert(session)(JobRun.__table__)
            .values(job_id=job_id, slot=slot, started_at=now)
            .on_conflict_do_nothing(index_elements=["job_id", "slot"])
        )
        if not claimed.rowcount:  # type: ignore[attr-defined]
            log.info("job %s slot %s already taken by another scheduler", job_id, slot)
            return None
    result: dict[str, Any] | None = None
    error: str | None = None
    try:
        async with ctx.sessions() as session, session.begin():
            result = await spec.fn(session, ctx, now)
    except Exception as exc:
        log.exception("job %s failed", job_id)
        error = f"{type(exc).__name__}: {exc}"
    async with ctx.sessions() as session, session.begin():
        run = await session.scalar(select(JobRun).where(JobRun.job_id == job_id, JobRun.slot == slot))
        if run is not None:
            run.finished_at, run.result, run.error = utcnow(), result, error
    if error:
        raise RuntimeError(error)
    return result


async def last_runs(session: AsyncSession) -> dict[str, JobRun]:
    latest = select(JobRun.job_id, func.max(JobRun.id).label("id")).group_by(JobRun.job_id).subquery()
    rows = (await session.scalars(select(JobRun).join(latest, and_(JobRun.id == latest.c.id, true())))).all()
    return {r.job_id: r for r in rows}
