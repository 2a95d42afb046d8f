"""Read models on the hot paths (case detail, lists, the staff task list): SQLAlchemy Core, few round trips.

The detail is two queries whatever the case's history: one row (the case with its steps, evaluation and
licence, materials and notices denormalised on the case) and the latest page of its timeline.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import (
    Date,
    Integer,
    and_,
    bindparam,
    desc,
    exists,
    false,
    func,
    literal_column,
    or_,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import asyncpg as pg_asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from case_core.domain.clock import Deadline, Light, WorkCalendar, light_for
from case_core.domain.states import (
    ACTION_LABELS,
    FINISHED_STATUSES,
    IN_PROGRESS_STATUSES,
    STATUS_LABELS,
    STEP_LABELS,
    Role,
    Status,
    group_of,
)
from case_core.domain.transitions import CASEWORK, INTAKE
from case_core.models import Case, CaseEvent, Department, Evaluation, Licence, ProcessVersion, ServiceItem
from case_core.pg_reads import PgReads
from case_core.timeutil import local_date

# Plain Table objects: a Core select of table columns skips the ORM's row loading (measured ~0.5 ms per query).
cases = Case.__table__
departments = Department.__table__
processes = ProcessVersion.__table__
evaluations = Evaluation.__table__
licences = Licence.__table__
events = CaseEvent.__table__
EVENTS_PAGE = 50


def iso(value: datetime | date | None) -> str | None:
    if value is None:
        return None
    # Always six fractional digits, as the database renders them too (Python drops them when they are zero).
    return value.isoformat(timespec="microseconds") if isinstance(value, datetime) else value.isoformat()


def deadline_view(row: Any, cal: WorkCalendar, now: datetime, yellow_days: int) -> dict[str, Any] | None:
    """Deadline and light of a clocked case (any row with the case's clock columns); a paused clock shows the
    light of the day it stopped."""
    status, due, provisional = row.status, row.due_date, row.deadline_provisional
    paused_since, paused_days_left = row.paused_since, row.paused_days_left
    if due is None:
        return None
    finished = status in FINISHED_STATUSES
    if finished:  # the clock has stopped: no light, no days left
        return {
            "due_date": due.isoformat(),
            "provisional": provisional,
            "paused": False,
            "days_left": None,
            "light": None,
        }
    if paused_since is not None and paused_days_left is not None:
        left = paused_days_left
        light = Light.RED if left < 0 else Light.YELLOW if left < yellow_days else Light.GREEN
    else:
        # Working days are China's: the same "today" as the task list's light filters (``_light_condition``).
        at = local_date(paused_since or now)
        light, left = light_for(cal, Deadline(due, provisional, False), at, yellow_days)
    return {
        "due_date": due.isoformat(),
        "provisional": provisional,
        "paused": paused_since is not None,
        "days_left": left,
        "light": light.value,
    }


def _event_out(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "at": iso(r.at),
        "actor_type": r.actor_type,
        "actor_name": r.actor_name,
        "action": r.action,
        "action_label": ACTION_LABELS.get(r.action, r.action),
        "from_status": r.from_status,
        "to_status": r.to_status,
        "step": r.step_key,
        "opinion": r.opinion,
        "data": r.data,
    }


async def case_events(
    session: AsyncSession, case_id: int, *, before_id: int | None = None, limit: int = EVENTS_PAGE
) -> list[dict[str, Any]]:
    """A page of the timeline, oldest first, ending just before ``before_id`` (the latest page by default)."""
    q = select(events).where(events.c.case_id == case_id)
    if before_id is not None:
        q = q.where(events.c.id < before_id)
    rows = (await session.execute(q.order_by(desc(events.c.id)).limit(limit))).all()
    return [_event_out(r) for r in reversed(rows)]


_DETAIL = (
    select(
        cases,
        processes.c.steps.label("steps"),
        departments.c.path.label("department_path"),
        departments.c.name.label("department_name"),
        evaluations.c.level.label("ev_level"),
        evaluations.c.aspects.label("ev_aspects"),
        evaluations.c.comment.label("ev_comment"),
        evaluations.c.created_at.label("ev_at"),
        licences.c.licence_no.label("lic_no"),
        licences.c.licence_type.label("lic_type"),
        licences.c.issued_at.label("lic_issued_at"),
        licences.c.valid_until.label("lic_valid_until"),
        licences.c.status.label("lic_status"),
    )
    .join(processes, processes.c.id == cases.c.process_version_id)
    .join(departments, departments.c.id == cases.c.department_id)
    .outerjoin(evaluations, evaluations.c.case_id == cases.c.id)
    .outerjoin(licences, licences.c.case_id == cases.c.id)
)


async def case_row(session: AsyncSession, case_id: int) -> Any:
    return (await session.execute(_DETAIL.where(cases.c.id == case_id))).first()


# The same read as one round trip on PostgreSQL, the latest timeline page aggregated in the row, sent straight
# through asyncpg on the session's own connection (so a write request sees its own uncommitted changes).
def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# The timeline page is built by PostgreSQL as the exact JSON the API sends (labels and timestamp format
# included) and passed through untouched (orjson.Fragment): a page of 50 events costs no Python per event.
_PG_ACTION_LABEL = (
    "CASE x.action "
    + " ".join(f"WHEN {_sql_text(k)} THEN {_sql_text(v)}" for k, v in ACTION_LABELS.items())
    + " ELSE x.action END"
)
_PG_DETAIL_TEMPLATE = f"""
SELECT c.*, pv.steps, d.path AS department_path, d.name AS department_name,
       e.level AS ev_level, e.aspects AS ev_aspects, e.comment AS ev_comment, e.created_at AS ev_at,
       l.licence_no AS lic_no, l.licence_type AS lic_type, l.issued_at AS lic_issued_at,
       l.valid_until AS lic_valid_until, l.status AS lic_status, ev.page_json, ev.page_len
FROM cases c
JOIN process_versions pv ON pv.id = c.process_version_id
JOIN departments d ON d.id = c.department_id
LEFT JOIN evaluations e ON e.case_id = c.id
LEFT JOIN licences l ON l.case_id = c.id
CROSS JOIN LATERAL (
    SELECT coalesce(json_agg(json_build_object(
               'id', x.id, 'at', to_char(x.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'),
               'actor_type', x.actor_type, 'actor_name', x.actor_name, 'action', x.action,
               'action_label', {_PG_ACTION_LABEL}, 'from_status', x.from_status, 'to_status', x.to_status,
               'step', x.step_key, 'opinion', x.opinion, 'data', x.data) ORDER BY x.id), '[]'::json)::text AS page_json,
           count(*) AS page_len
    FROM (SELECT * FROM case_events WHERE case_id = c.id {{gate}} ORDER BY id DESC LIMIT {EVENTS_PAGE}) x
) ev
WHERE c.id = $1
"""
PG_DETAIL = _PG_DETAIL_TEMPLATE.format(gate="")
# The same, but the timeline page is built only if the case's event count differs from $2: the count of a page the
# caller already holds (events are append-only and every one bumps cases.event_count in its transaction, so a
# committed count names exactly one page). A gating filter: PostgreSQL does not even open the events index.
PG_DETAIL_UNLESS_COUNT = _PG_DETAIL_TEMPLATE.format(gate="AND c.event_count IS DISTINCT FROM $2")
_PG_JSON_COLUMNS = ("steps", "form_masked", "delivery_masked", "materials_doc", "notices_doc", "ev_aspects")


@dataclass(frozen=True)
class Page:
    """A timeline page already rendered as JSON by the database, and how many events it holds."""

    fragment: orjson.Fragment
    length: int


# A page of the timeline: rendered by the database (PostgreSQL), or a list of event dicts (the portable read).
EventsPage = Page | list[dict[str, Any]]


class RecordView:
    """Attribute access over an asyncpg Record, like a SQLAlchemy Row."""

    __slots__ = ("_values",)

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None


def detail_parts(record: Any) -> tuple[dict[str, Any], str, int]:
    """A ``PG_DETAIL`` record as (the row's values, the timeline page's JSON text, its number of events)."""
    values = dict(record)
    for key in _PG_JSON_COLUMNS:
        if isinstance(values.get(key), str):
            values[key] = orjson.loads(values[key])
    return values, values.pop("page_json"), int(values.pop("page_len"))


def detail_from_record(record: Any) -> tuple[Any, EventsPage] | None:
    """A ``PG_DETAIL`` record as (row, timeline page), or None for no record."""
    if record is None:
        return None
    values, page_json, page_len = detail_parts(record)
    return RecordView(values), Page(orjson.Fragment(page_json), page_len)


async def case_row_with_events(session: AsyncSession, case_id: int) -> tuple[Any, EventsPage] | None:
    """The detail row and the latest page of its timeline, inside the session's transaction: one round trip on
    PostgreSQL (through asyncpg on the session's own connection), two elsewhere."""
    conn = await session.connection()
    if conn.dialect.name != "postgresql":
        row = await case_row(session, case_id)
        return None if row is None else (row, await case_events(session, case_id))
    raw = await conn.get_raw_connection()
    return detail_from_record(await raw.driver_connection.fetchrow(PG_DETAIL, case_id))  # type: ignore[union-attr]


class TimelinePages:
    """The latest timeline page of recently read cases, rendered, keyed by case and event count (per process).

    A long history's page is most of what a detail read costs the database (50 events built into JSON); a case is
    read far more often than it changes, so the page is reused until the next event. Only committed reads (the
    read pool outside any transaction) use it, so a page never comes from a transaction that rolled back.
    """

    def __init__(self, capacity: int = 2048) -> None:
        self._capacity = capacity
        self._pages: OrderedDict[int, tuple[int, Page]] = OrderedDict()

    def get(self, case_id: int) -> tuple[int, Page] | None:
        hit = self._pages.get(case_id)
        if hit is not None:
            self._pages.move_to_end(case_id)
        return hit

    def put(self, case_id: int, event_count: int, page: Page) -> None:
        self._pages[case_id] = (event_count, page)
        self._pages.move_to_end(case_id)
        if len(self._pages) > self._capacity:
            self._pages.popitem(last=False)


async def pooled_case_row_with_events(
    reads: PgReads, case_id: int, pages: TimelinePages | None = None
) -> tuple[Any, EventsPage] | None:
    """The same read on the raw read pool, outside any transaction (GET requests on PostgreSQL); with ``pages``,
    the timeline page is built only when the case has had an event since the page held there."""
    known = pages.get(case_id) if pages is not None else None
    if known is None:
        found = detail_from_record(await reads.fetchrow(PG_DETAIL, case_id))
    else:
        found = detail_from_record(await reads.fetchrow(PG_DETAIL_UNLESS_COUNT, case_id, known[0]))
        if found is not None and found[0].event_count == known[0]:
            return found[0], known[1]
    if found is not None and pages is not None:
        page = found[1]
        assert isinstance(page, Page)
        pages.put(case_id, found[0].event_count, page)
    return found


def case_detail(
    row: Any,
    page: EventsPage,
    cal: WorkCalendar,
    now: datetime,
    *,
    yellow_days: int,
    form: dict[str, Any],
    delivery: dict[str, Any],
    masked: bool,
) -> dict[str, Any]:
    steps = row.steps or []
    index = row.step_index
    done_until = index if index is not None else (len(steps) if row.status in FINISHED_STATUSES else 0)
    return {
        "id": row.id,
        "serial_no": row.serial_no,
        "status": row.status,
        "status_label": STATUS_LABELS[row.status],
        "group": group_of(row.status),
        "item": {"code": row.item_code, "name": row.item_name, "implementing_body": row.department_name},
        "applicant_name": row.applicant_name,
        "step": (
            {
                "index": index,
                "key": row.step_key,
                "role": row.step_role,
                "name": steps[index].get("name") if steps and index is not None else None,
            }
            if row.step_key
            else None
        ),
        "steps": [
            {"key": s["step"], "name": s.get("name"), "role": s.get("role"), "done": i < done_until}
            for i, s in enumerate(steps)
        ],
        "form": form,
        "delivery": delivery,
        "masked": masked,
        "materials": row.materials_doc or [],
        "events": page.fragment if isinstance(page, Page) else page,
        "events_total": row.event_count,
        "events_more": row.event_count > (page.length if isinstance(page, Page) else len(page)),
        "notices": row.notices_doc or [],
        "deadline": deadline_view(row, cal, now, yellow_days),
        "limits": {
            "promised_working_days": row.promised_limit_working_days,
            "legal_working_days": row.legal_limit_working_days,
            "extension_days": row.extension_days,
        },
        "evaluation": (
            {"level": row.ev_level, "aspects": row.ev_aspects, "comment": row.ev_comment, "created_at": iso(row.ev_at)}
            if row.ev_level is not None
            else None
        ),
        "licence": (
            {
                "licence_no": row.lic_no,
                "licence_type": row.lic_type,
                "issued_at": iso(row.lic_issued_at),
                "valid_until": iso(row.lic_valid_until),
                "status": row.lic_status,
            }
            if row.lic_no
            else None
        ),
        "created_at": iso(row.created_at),
        "submitted_at": iso(row.submitted_at),
        "accepted_at": iso(row.accepted_at),
        "finished_at": iso(row.finished_at),
        "version": row.version,
    }


GROUPS = {"draft": (Status.DRAFT,), "in_progress": tuple(IN_PROGRESS_STATUSES), "finished": tuple(FINISHED_STATUSES)}


def _list_row(r: Any, cal: WorkCalendar, now: datetime, yellow_days: int) -> dict[str, Any]:
    return {
        "id": r.id,
        "serial_no": r.serial_no,
        "item_code": r.item_code,
        "item_name": r.item_name,
        "implementing_body": r.department_name,
        "applicant_name": r.applicant_name,
        "status": r.status,
        "status_label": STATUS_LABELS[r.status],
        "step": r.step_key,
        "step_name": STEP_LABELS.get(r.step_key or ""),
        "created_at": iso(r.created_at),
        "submitted_at": iso(r.submitted_at),
        "finished_at": iso(r.finished_at),
        "deadline": deadline_view(r, cal, now, yellow_days),
        "version": r.version,
    }


_LIST_COLUMNS = (
    cases.c.id,
    cases.c.serial_no,
    cases.c.item_code,
    cases.c.item_name,
    cases.c.applicant_name,
    cases.c.status,
    cases.c.step_key,
    cases.c.created_at,
    cases.c.submitted_at,
    cases.c.finished_at,
    cases.c.due_date,
    cases.c.deadline_provisional,
    cases.c.paused_since,
    cases.c.paused_days_left,
    cases.c.version,
    departments.c.name.label("department_name"),
)


async def applicant_cases(
    session: AsyncSession,
    applicant_id: int,
    group: str | None,
    cal: WorkCalendar,
    now: datetime,
    yellow_days: int,
    limit: int = 50,
    offset: int = 0,
) -> list[dict[str, Any]]:
    q = (
        select(*_LIST_COLUMNS)
        .join(departments, departments.c.id == cases.c.department_id)
        .where(cases.c.applicant_id == applicant_id)
    )
    if group:
        q = q.where(cases.c.status.in_(GROUPS[group]))
    rows = (await session.execute(q.order_by(desc(cases.c.id)).limit(limit).offset(offset))).all()
    return [_list_row(r, cal, now, yellow_days) for r in rows]


def nth_workday_after(cal: WorkCalendar, day: date, n: int) -> date:
    while n > 0:
        day += timedelta(days=1)
        if cal.is_workday(day):
            n -= 1
    return day


def _todo_parts(roles: frozenset[str]) -> list[Any]:
    """The to-do list as disjoint parts, each an equality on status (and step role) that one index range serves."""
    c = cases.c
    parts = []
    if roles & INTAKE:
        parts.append(c.status == Status.SUBMITTED)
    parts.extend(and_(c.status == Status.ACCEPTED, c.step_role == role) for role in sorted(roles))
    if roles & CASEWORK:
        parts.append(c.status == Status.SUSPENDED)
    if Role.LICENCE_MAKER in roles:
        parts.append(c.status == Status.APPROVED)
    elif Role.DISPATCH_CLERK in roles:
        parts.append(and_(c.status == Status.APPROVED, or_(c.step_key.is_(None), c.step_key != "make_licence")))
    if roles & {Role.WINDOW_CLERK, Role.DISPATCH_CLERK}:
        parts.append(c.status == Status.CONCLUDED)
    return parts


def _todo_condition(roles: frozenset[str]) -> Any:
    parts = _todo_parts(roles)
    return or_(*parts) if parts else false()


def _light_condition(light: str) -> Any:
    """Rows of one light; ``today``, ``boundary`` (the yellow threshold's date) and ``yellow_days`` are bound."""
    c = cases.c
    today, boundary, yellow_days = (
        bindparam("today", type_=Date, required=False),
        bindparam("boundary", type_=Date, required=False),
        bindparam("yellow_days", type_=Integer, required=False),
    )
    running = and_(c.paused_since.is_(None), c.due_date.is_not(None))
    paused = and_(c.paused_since.is_not(None), c.paused_days_left.is_not(None))
    if light == "red":
        return or_(and_(running, c.due_date < today), and_(paused, c.paused_days_left < 0))
    if light == "yellow":
        return or_(
            and_(running, c.due_date >= today, c.due_date < boundary),
            and_(paused, c.paused_days_left >= 0, c.paused_days_left < yellow_days),
        )
    return or_(and_(running, c.due_date >= boundary), and_(paused, c.paused_days_left >= yellow_days))


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _view_condition(view: str, roles: frozenset[str]) -> Any:
    """Which cases a view holds (the department scope aside); ``done`` binds ``staff_id``."""
    c = cases.c
    if view == "todo":
        return _todo_condition(roles)
    if view == "done":
        mine = exists().where(
            events.c.case_id == c.id,
            events.c.actor_type == "staff",
            events.c.actor_id == bindparam("staff_id", required=False),
        )
        return and_(mine, c.status.in_(sorted(IN_PROGRESS_STATUSES)))
    # finished_at is set on every finished case; saying so lets the index scan skip the NULLs of open ones.
    return and_(c.status.in_(sorted(FINISHED_STATUSES - {Status.WITHDRAWN})), c.finished_at.is_not(None))


def _tasks_statement(
    view: str,
    roles: tuple[str, ...],
    light: str | None,
    by_item: bool,
    search: bool,
    page: tuple[int, int] | None = None,
) -> Any:
    """The task-list query for one shape; what varies per request is in named bind parameters.

    With ``page`` (limit, offset) the page's bounds are written into the statement instead: PostgreSQL's generic
    plan for a prepared statement cannot see a LIMIT parameter and plans for a large one (a finished list sorted
    whole instead of an index walk that stops after 20 rows)."""
    c = cases.c

    def page_of(condition: Any) -> Any:
        stmt = (
            select(*_LIST_COLUMNS)
            .join(departments, departments.c.id == c.department_id)
            .where(departments.c.path.like(bindparam("path_like", required=False), escape="\\"))
            .where(condition)
        )
        if light:
            stmt = stmt.where(_light_condition(light))
        if by_item:
            stmt = stmt.where(c.item_code == bindparam("item_code", required=False))
        if search:
            stmt = stmt.where(
                or_(
                    c.serial_no == bindparam("serial", required=False),
                    c.applicant_name.like(bindparam("q_like", required=False), escape="\\"),
                    c.item_name.like(bindparam("q_like", required=False), escape="\\"),
                )
            )
        return stmt

    limit: Any = bindparam("limit", required=False)
    offset: Any = bindparam("offset", required=False)
    branch_end: Any = bindparam("branch_end", required=False)
    if page is not None:
        limit, offset, branch_end = (literal_column(str(int(n))) for n in (page[0], page[1], page[0] + page[1]))
    if view == "todo":
        parts = _todo_parts(frozenset(roles))
        if len(parts) < 2:
            return page_of(parts[0] if parts else false()).order_by(*_todo_order(c)).limit(limit).offset(offset)
        # 待办 by deadline (undated intake last) is a merge of disjoint parts, each read in the order of its own
        # index range (ix_cases_status_due, ix_cases_status_role_due) and cut at the page's end. One OR over all
        # of them would either walk every dated case in deadline order to find the page (a clerk's submitted
        # cases are undated, so they come last) or sort them all.
        pages = [page_of(part).order_by(*_todo_order(c)).limit(branch_end).subquery() for part in parts]
        merged = union_all(*(select(p) for p in pages)).subquery("todo")
        return select(merged).order_by(*_todo_order(merged.c)).limit(limit).offset(offset)
    order = [desc(c.updated_at)] if view == "done" else [desc(c.finished_at), desc(c.id)]
    return page_of(_view_condition(view, frozenset(roles))).order_by(*order).limit(limit).offset(offset)


def _todo_order(columns: Any) -> list[Any]:
    """Deadline first, undated last; plain columns, so that an index on (…, due_date, id) yields the order."""
    return [columns.due_date.asc().nulls_last(), columns.id]


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]
    defaults: dict[str, Any]


_TASK_SHAPES: dict[tuple[Any, ...], Any] = {}
_PG_TASK_SQL: dict[tuple[Any, ...], _Compiled] = {}
_SHAPES_KEPT = 1024  # PostgreSQL's shapes carry the page's bounds, which clients choose: the caches are bounded


def _task_shape(shape: tuple[Any, ...]) -> Any:
    stmt = _TASK_SHAPES.get(shape)
    if stmt is None:
        if len(_TASK_SHAPES) >= _SHAPES_KEPT:
            _TASK_SHAPES.clear()
        stmt = _TASK_SHAPES[shape] = _tasks_statement(*shape)
    return stmt


def _sql_case(column: str, labels: dict[str, str]) -> str:
    return (
        f"CASE {column} "
        + " ".join(f"WHEN {_sql_text(k)} THEN {_sql_text(v)}" for k, v in labels.items())
        + " ELSE NULL END"
    )


def _sql_ts(column: str) -> str:
    """A timestamptz as ``iso`` renders it (UTC, six fractional digits)."""
    return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')"""


def _sql_weekdays_upto(day: str) -> str:
    """``clock._weekdays_upto``: Monday–Friday days from 0001-01-01 (a Monday) up to and including ``day``."""
    return f"((({day}) - DATE '0001-01-01') / 7 * 5 + least((({day}) - DATE '0001-01-01') % 7 + 1, 5))"


# ``deadline_view`` in SQL, for a row ``s`` of the task page; $today / $yellow are the request's. The working days
# between "today" (or the day the clock stopped) and the due date are Monday–Friday arithmetic corrected by the
# calendar's overrides in between: a range scan of a few rows of calendar_days, always the current calendar.
_FINISHED_SQL = ", ".join(_sql_text(x) for x in sorted(FINISHED_STATUSES))
_PG_DEADLINE = f"""CASE
  WHEN s.due_date IS NULL THEN NULL
  WHEN s.status IN ({_FINISHED_SQL}) THEN json_build_object(
      'due_date', to_char(s.due_date, 'YYYY-MM-DD'), 'provisional', s.deadline_provisional, 'paused', false,
      'days_left', NULL, 'light', NULL)
  ELSE (SELECT json_build_object(
      'due_date', to_char(s.due_date, 'YYYY-MM-DD'), 'provisional', s.deadline_provisional,
      'paused', s.paused_since IS NOT NULL, 'days_left', k.left_days,
      'light', CASE WHEN NOT k.frozen AND k.at_day > s.due_date THEN 'red'
                    WHEN k.left_days < 0 THEN 'red'
                    WHEN k.left_days < $yellow THEN 'yellow' ELSE 'green' END)
    FROM (SELECT f.frozen, f.at_day,
                 CASE WHEN f.frozen THEN s.paused_days_left
                      ELSE {_sql_weekdays_upto("s.due_date")} - {_sql_weekdays_upto("f.at_day")}
                           + (SELECT coalesce(sum(
                                  CASE WHEN cd.is_workday AND extract(isodow FROM cd.day) >= 6 THEN 1
                                       WHEN NOT cd.is_workday AND extract(isodow FROM cd.day) <= 5 THEN -1
                                       ELSE 0 END
                                  * CASE WHEN s.due_date >= f.at_day THEN 1 ELSE -1 END), 0)
                              FROM calendar_days cd
                              WHERE cd.day > least(f.at_day, s.due_date) AND cd.day <= greatest(f.at_day, s.due_date))
                 END AS left_days
          FROM (SELECT s.paused_since IS NOT NULL AND s.paused_days_left IS NOT NULL AS frozen,
                       coalesce(((s.paused_since AT TIME ZONE 'UTC') + interval '8 hours')::date, $today) AS at_day) f
          OFFSET 0  -- a fence: left_days is used three times; computed once, not inlined thrice
         ) k)
END"""

# ``_list_row`` in SQL: the page arrives as the JSON array the API sends.
_PG_LIST_ROW = f"""json_build_object(
  'id', s.id, 'serial_no', s.serial_no, 'item_code', s.item_code, 'item_name', s.item_name,
  'implementing_body', s.department_name, 'applicant_name', s.applicant_name, 'status', s.status,
  'status_label', {_sql_case("s.status", STATUS_LABELS)}, 'step', s.step_key,
  'step_name', {_sql_case("s.step_key", STEP_LABELS)},
  'created_at', {_sql_ts("s.created_at")}, 'submitted_at', {_sql_ts("s.submitted_at")},
  'finished_at', {_sql_ts("s.finished_at")}, 'deadline', {_PG_DEADLINE}, 'version', s.version)"""


def _pg_task_sql(shape: tuple[Any, ...]) -> _Compiled:
    """The shape compiled once for asyncpg ($1, $2 … in a fixed order), wrapped so that PostgreSQL returns the
    page as one JSON text: no Python per row."""
    hit = _PG_TASK_SQL.get(shape)
    if hit is None:
        if len(_PG_TASK_SQL) >= _SHAPES_KEPT:
            _PG_TASK_SQL.clear()
        compiled = _task_shape(shape).compile(dialect=pg_asyncpg.dialect(), compile_kwargs={"render_postcompile": True})
        names = tuple(compiled.positiontup or ())
        today, yellow = f"${len(names) + 1}::date", f"${len(names) + 2}::int"
        row = _PG_LIST_ROW.replace("$today", today).replace("$yellow", yellow)
        # The page keeps the order of its sorted subquery: nothing at this level (no join, no grouping) reorders
        # rows, which is when PostgreSQL's documentation says a sorted subquery orders an aggregate's input. An
        # ORDER BY here, or a row number computed inside, would cost the index walk that stops at the page.
        sql = f"SELECT coalesce(json_agg({row}), '[]'::json)::text FROM ({compiled}) s"
        hit = _PG_TASK_SQL[shape] = _Compiled(
            sql=sql, names=(*names, "deadline_today", "deadline_yellow_days"), defaults=dict(compiled.params)
        )
    return hit


async def staff_tasks(
    session: AsyncSession | None,
    *,
    staff_id: int,
    roles: frozenset[str],
    department_path: str,
    view: str,
    cal: WorkCalendar,
    now: datetime,
    yellow_days: int,
    light: str | None = None,
    item_code: str | None = None,
    q: str | None = None,
    limit: int = 20,
    offset: int = 0,
    reads: PgReads | None = None,
) -> dict[str, Any]:
    """待办 / 已办 / 办结 for one staff member, in their department and below.

    The statement is built once per shape (view, roles, light, filters) and, on the PostgreSQL read pool,
    compiled once too: per request only the parameter values change.
    """
    shape = (view, tuple(sorted(roles)), light, bool(item_code), bool(q))
    today = local_date(now)
    term = (q or "").strip()
    params: dict[str, Any] = {
        "path_like": _like_prefix(department_path) + "%",
        "staff_id": staff_id,
        "limit": limit,
        "offset": offset,
        "branch_end": limit + offset,
        "today": today,
        "yellow_days": yellow_days,
        "boundary": nth_workday_after(cal, today, yellow_days),
        "item_code": item_code,
        "serial": term.upper(),
        "q_like": "%" + _like_prefix(term) + "%",
    }
    if reads is not None:
        compiled = _pg_task_sql((*shape, (limit, offset)))
        values = {**compiled.defaults, **params, "deadline_today": today, "deadline_yellow_days": yellow_days}
        page = await reads.fetchval(compiled.sql, *(values[n] for n in compiled.names))
        return {"view": view, "items": orjson.Fragment(page)}
    assert session is not None
    rows = (await session.execute(_task_shape(shape), params)).all()
    return {"view": view, "items": [_list_row(r, cal, now, yellow_days) for r in rows]}


async def staff_task_counts(
    session: AsyncSession,
    *,
    staff_id: int,
    roles: frozenset[str],
    department_path: str,
    cal: WorkCalendar,
    now: datetime,
    yellow_days: int,
) -> dict[str, int]:
    c = cases.c
    scope = (
        select(func.count())
        .select_from(cases.join(departments, departments.c.id == c.department_id))
        .where(departments.c.path.startswith(department_path, autoescape=True))
    )
    today = local_date(now)
    bounds = {"today": today, "boundary": nth_workday_after(cal, today, yellow_days), "yellow_days": yellow_days}
    out = {"todo": await session.scalar(scope.where(_todo_condition(roles))) or 0}
    for light in ("red", "yellow", "green"):
        stmt = scope.where(_todo_condition(roles), _light_condition(light))
        out[f"todo_{light}"] = await session.scalar(stmt, bounds) or 0
    # The other two tabs' counts, for the task view's tab labels.
    out["done"] = await session.scalar(scope.where(_view_condition("done", roles)), {"staff_id": staff_id}) or 0
    out["finished"] = await session.scalar(scope.where(_view_condition("finished", roles))) or 0
    return out


async def applicant_licences(session: AsyncSession, applicant_id: int) -> list[dict[str, Any]]:
    rows = (
        await session.execute(
            select(Licence, ServiceItem.code, ServiceItem.name)
            .join(Case, Case.id == Licence.case_id)
            .join(ServiceItem, ServiceItem.id == Case.item_id)
            .where(Licence.applicant_id == applicant_id)
            .order_by(desc(Licence.issued_at))
        )
    ).all()
    return [
        {
            "id": lic.id,
            "licence_no": lic.licence_no,
            "licence_type": lic.licence_type,
            "material_type": lic.material_type,
            "holder_name": lic.holder_name,
            "issued_at": lic.issued_at.isoformat(),
            "valid_until": iso(lic.valid_until),
            "status": lic.status,
            "case_id": lic.case_id,
            "item_code": code,
            "item_name": name,
        }
        for lic, code, name in rows
    ]
