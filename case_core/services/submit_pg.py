"""Submitting drafts on PostgreSQL: group commit. Every draft submitted at about the same moment in this process is
read by one statement and written by one, on a connection of the raw pool (``PgReads``), with no ORM session and
no BEGIN/COMMIT.

Submission is the busiest write (every application starts with one). Per submission, the two round trips and
the statements' fixed cost in PostgreSQL (parse/bind, executor start, commit) were most of its price; shared by
a batch they nearly vanish. ``SubmitBatcher`` forms the batches without waiting for anyone: a submission that
finds no batch running starts one at once; those arriving while it runs form the next (so under light load a
batch is one submission, under heavy load it is whatever queued meanwhile, up to ``max_batch``).

For each batch:

1. one read: each case with its timeline page (its material list is on the row) and the id its new timeline
   event will have (``nextval``, so listeners hear of an event with its id, as on the general path after a flush);
2. for each case, the same ``cases.action_facts`` and pure ``transition()`` as every other action decide; the
   case-event listeners hear the event (read-only snapshots of the case and the event) and may add rows
   (``events.Changes``);
3. one statement writes every case the transition allowed, each under its own optimistic lock: the case, its
   timeline event, its audit row and every row its listeners added (the notification outbox), from arrays
   (``unnest``). A case whose lock fails is simply not updated, and its event, audit and listener rows join on
   the update, so they are not written either: no half-written case. If the statement fails as a whole (a
   listener row that cannot be written), each case of the batch is written again on its own, so that only the
   one at fault fails.

One submission per case per batch: a double tap's second request waits for the next batch, finds the case
submitted and is answered by the general path, idempotently. Anything else (a resubmission after 补正, a case
already submitted, SQLite) takes the general path in ``cases.submit``; ``tests/api/test_submit_pg.py`` holds
both paths to the same rows, listener calls and answer, and a batch to the same as one by one.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import orjson
from sqlalchemy import TypeDecorator, inspect
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from case_core import events, queries
from case_core.catalogue import versions_for
from case_core.context import CoreContext
from case_core.db import SessionOnDemand
from case_core.domain.errors import Conflict, NotFound
from case_core.domain.states import ACTION_LABELS, Action, Status
from case_core.domain.transitions import Actor, Params, clock_paused, transition
from case_core.pg_reads import PgReads
from case_core.principals import ApplicantPrincipal, RequestInfo
from case_core.services.cases import action_facts  # the same facts as every other action

# The detail read of several cases, each with one event fewer in its timeline page (the submission's own event
# completes the page) and the id of that event drawn from its sequence.
_NEXT_EVENT_ID = "     , nextval(pg_get_serial_sequence('case_events', 'id')) AS next_event_id\n"
_READ = (
    queries.PG_DETAIL.replace(f"LIMIT {queries.EVENTS_PAGE}", f"LIMIT {queries.EVENTS_PAGE - 1}")
    .replace("FROM cases c\n", _NEXT_EVENT_ID + "FROM cases c\n", 1)
    .replace("WHERE c.id = $1", "WHERE c.id = ANY($1::int4[])")
)
assert "LIMIT 49" in _READ and "next_event_id" in _READ and "ANY($1" in _READ

# One row of arrays per submission; the statement's first parameters, in this order.
_INPUT = (
    ("id", "int4"),
    ("version", "int4"),
    ("status", "text"),
    ("step_index", "int4"),
    ("step_key", "text"),
    ("step_role", "text"),
    ("extension_days", "int4"),
    ("supplement_count", "int4"),
    ("at", "timestamptz"),
    ("actor_id", "int4"),
    ("actor_name", "text"),
    ("from_status", "text"),
    ("detail", "text"),
    ("ip", "text"),
    ("event_id", "int4"),
)
# The cases, their timeline events and audit rows, each case under its optimistic lock; the rows the listeners
# added follow (``_added``) and, like the event and the audit row, are written only for a case that was
# (``JOIN upd``). ``data`` is JSON null, as the ORM writes a None into a JSON column.
_WRITE = """
WITH i AS (
    SELECT * FROM unnest({arrays}) AS i({names})
), upd AS (
    UPDATE cases c
    SET status = i.status, step_index = i.step_index, step_key = i.step_key, step_role = i.step_role,
        extension_days = i.extension_days, supplement_count = i.supplement_count,
        updated_at = i.at, submitted_at = i.at, version = c.version + 1, event_count = c.event_count + 1
    FROM i
    WHERE c.id = i.id AND c.version = i.version
    RETURNING c.id
), ev AS (
    INSERT INTO case_events (id, case_id, at, actor_type, actor_id, actor_name, action, from_status, to_status,
                             step_key, opinion, data)
    SELECT i.event_id, i.id, i.at, 'applicant', i.actor_id, i.actor_name, 'submit', i.from_status, i.status,
           i.step_key, NULL, 'null'::jsonb
    FROM i JOIN upd ON upd.id = i.id
), au AS (
    INSERT INTO audit_log (at, actor_type, actor_id, action, case_id, target, detail, ip)
    SELECT i.at, 'applicant', i.actor_id, 'case.submit', i.id, NULL, i.detail::jsonb, i.ip
    FROM i JOIN upd ON upd.id = i.id
){{added}}
SELECT id FROM upd
""".format(
    arrays=", ".join(f"${n}::{t}[]" for n, (_, t) in enumerate(_INPUT, 1)),
    names=", ".join(name for name, _ in _INPUT),
)
_PG = postgresql.dialect()


@dataclass
class Request:
    """A submission waiting for its batch; ``answer`` settles with (row, page), None (the general path's turn) or
    the refusal."""

    case_id: int
    applicant: ApplicantPrincipal
    now: datetime
    info: RequestInfo | None
    listener_info: dict[str, Any] | None
    answer: asyncio.Future[tuple[Any, queries.Page] | None]


@dataclass
class _Plan:
    """A submission the transition allowed, ready to write."""

    request: Request
    row: queries.RecordView
    values: dict[str, Any]
    page_json: str
    page_len: int
    event: dict[str, Any]
    changes: events.Changes
    params: tuple[Any, ...]  # one value per ``_INPUT`` column


def _added(plans: list[_Plan], first: int) -> tuple[str, list[Any]]:
    """The listeners' rows (ORM objects or ``NewRow``s) of every plan as INSERTs of the write statement:
    ``(CTE text, parameters)``, one INSERT per table and set of columns, its values in arrays (parameters
    ``$first`` on), each row tagged with its case so that it is written only if the case is.

    Column values are what the object holds, else the column's Python-side default (what a flush would use);
    the primary key and server-side defaults are left to the database. Every value is prepared by its column's
    type and sent as an array of that type (JSON through the pool's codec)."""
    groups: dict[tuple[str, tuple[str, ...], tuple[str, ...]], list[list[Any]]] = {}
    for plan in plans:
        for row in plan.changes.new:
            cls, attrs = (row.cls, row.values) if isinstance(row, events.NewRow) else (type(row), row.__dict__)
            table, columns = _insertable(cls)
            names: list[str] = []
            casts: list[str] = []
            values: list[Any] = [plan.request.case_id]
            for key, column, cast in columns:
                value = attrs.get(key)
                if value is None and column.default is not None:
                    default = column.default
                    value = default.arg(None) if default.is_callable else default.arg
                if value is None and column.server_default is not None:
                    continue
                if isinstance(column.type, TypeDecorator):
                    value = column.type.process_bind_param(value, _PG)
                names.append(column.name)
                casts.append(cast)
                values.append(value)
            groups.setdefault((table, tuple(names), tuple(casts)), []).append(values)
    parts: list[str] = []
    params: list[Any] = []
    for n, ((table, group_names, group_casts), rows) in enumerate(groups.items()):
        arrays = [f"${first + len(params)}::int4[]"]
        params.append([r[0] for r in rows])
        for c, cast in enumerate(group_casts, 1):
            arrays.append(f"${first + len(params)}::{cast}[]")
            params.append([r[c] for r in rows])
        aliases = ", ".join(f"c{c}" for c in range(len(group_names)))
        parts.append(
            f", added{n} AS (INSERT INTO {table} ({', '.join(group_names)})"
            f" SELECT {aliases} FROM unnest({', '.join(arrays)}) AS a(case_ref, {aliases})"
            " JOIN upd ON upd.id = a.case_ref)"
        )
    return "".join(parts), params


@functools.cache
def _insertable(cls: type) -> tuple[str, tuple[tuple[str, Any, str], ...]]:
    """A mapped class's table and its (attribute, column, PostgreSQL type) to insert, the generated key aside."""
    mapper: Any = inspect(cls)
    columns = tuple(
        (attr.key, attr.columns[0], attr.columns[0].type.compile(dialect=_PG))
        for attr in mapper.column_attrs
        if not (attr.columns[0].primary_key and attr.columns[0].autoincrement)
    )
    return mapper.local_table.name, columns


async def _plan(
    record: Any, request: Request, lookups: AsyncSession, ctx: CoreContext
) -> _Plan | tuple[Any, queries.Page] | None:
    """Decide one submission on its read record: a plan to write, or None for the general path. Raises what the
    general path raises (NotFound for another's case, the transition's refusals)."""
    applicant, now = request.applicant, request.now
    if record is None or record["applicant_id"] != applicant.id:
        raise NotFound("办件")
    values, page_json, page_len = queries.detail_parts(record)
    event_id = values.pop("next_event_id")
    row = queries.RecordView(values)
    if row.status != Status.DRAFT or row.paused_since is not None or row.accepted_at is not None:
        return None
    fields, steps = await versions_for(lookups, row.form_version_id, row.process_version_id)
    facts = await action_facts(lookups, ctx, row, fields, steps, Action.SUBMIT)
    actor = Actor(kind="applicant", id=applicant.id, roles=frozenset(), name=row.applicant_name or "")
    outcome = transition(facts, Action.SUBMIT, actor, Params())
    step = steps[outcome.step_index] if outcome.step_index is not None else None
    if clock_paused(outcome.status, step):
        return None  # a process whose first step stops the clock: the general path records the pause
    from_status = values["status"]
    step_key = step.key if step else None
    event = {
        "id": event_id,
        "at": queries.iso(now),
        "actor_type": "applicant",
        "actor_name": row.applicant_name,
        "action": str(Action.SUBMIT),
        "action_label": ACTION_LABELS[Action.SUBMIT],
        "from_status": from_status,
        "to_status": str(outcome.status),
        "step": step_key,
        "opinion": None,
        "data": None,
    }
    values.update(
        status=str(outcome.status),
        step_index=outcome.step_index,
        step_key=step_key,
        step_role=step.role if step else None,
        extension_days=outcome.extension_days,
        supplement_count=outcome.supplement_count,
        updated_at=now,
        submitted_at=now,
        event_count=row.event_count + 1,  # what the write sets, under the optimistic lock
    )
    # Listeners see the version the general path's listeners see (the one read); the answer shows the new one.
    snapshot = SimpleNamespace(
        id=event_id,
        case_id=request.case_id,
        at=now,
        actor_type="applicant",
        actor_id=applicant.id,
        actor_name=row.applicant_name,
        action=event["action"],
        from_status=from_status,
        to_status=event["to_status"],
        step_key=step_key,
        opinion=None,
        data=None,
    )
    changes = events.Changes(dict(request.listener_info or {}))
    events.emit(changes, SimpleNamespace(**values), snapshot)  # type: ignore[arg-type]
    params = (
        request.case_id,
        row.version,
        str(outcome.status),
        outcome.step_index,
        step_key,
        step.role if step else None,
        outcome.extension_days,
        outcome.supplement_count,
        now,
        applicant.id,
        row.applicant_name,
        from_status,
        orjson.dumps({"from": from_status, "to": outcome.status}).decode(),
        request.info.ip if request.info else None,
        event_id,
    )
    return _Plan(request, row, values, page_json, page_len, event, changes, params)


async def _write(conn: Any, plans: list[_Plan]) -> set[int]:
    """Write the plans in one statement; the ids of the cases written (the others lost their optimistic lock)."""
    added_sql, added_params = _added(plans, len(_INPUT) + 1)
    columns = [list(column) for column in zip(*(plan.params for plan in plans), strict=True)]
    written = await conn.fetch(_WRITE.replace("{added}", added_sql), *columns, *added_params)
    return {r["id"] for r in written}


def _answer(plan: _Plan) -> tuple[Any, queries.Page]:
    """The case as submitted: the row read, updated, and its page completed by the submission's event."""
    plan.changes.committed()
    plan.values["version"] = plan.row.version + 1
    page = plan.page_json[:-1] + ("," if plan.page_len else "") + orjson.dumps(plan.event).decode() + "]"
    return plan.row, queries.Page(orjson.Fragment(page), plan.page_len + 1)


def _settle(request: Request, result: Any = None, error: BaseException | None = None) -> None:
    if request.answer.done():  # its caller went away (a cancelled request): the submission stands, unanswered
        return
    if error is not None:
        request.answer.set_exception(error)
    else:
        request.answer.set_result(result)


async def submit_batch(
    reads: PgReads, lookups: async_sessionmaker[AsyncSession], ctx: CoreContext, batch: list[Request]
) -> None:
    """Submit a batch of drafts (of distinct cases) and settle every request's ``answer``.

    ``lookups`` serves the catalogue's cache misses only (no session is made when they hit)."""
    try:
        async with reads.connection() as conn, SessionOnDemand(lookups) as session:
            records = {r["id"]: r for r in await conn.fetch(_READ, [request.case_id for request in batch])}
            plans: list[_Plan] = []
            for request in batch:
                try:
                    plan = await _plan(records.get(request.case_id), request, session, ctx)
                except Exception as refusal:  # this case's refusal (not found, not allowed) is its own
                    _settle(request, error=refusal)
                    continue
                if isinstance(plan, _Plan):
                    plans.append(plan)
                else:
                    _settle(request, None)
            if not plans:
                return
            try:
                written = await _write(conn, plans)
            except Exception as failure:
                if len(plans) == 1:
                    raise
                # The statement failed as a whole, and wrote nothing: write each case on its own, so that only
                # the one at fault fails.
                written = set()
                for plan in plans:
                    try:
                        written |= await _write(conn, [plan])
                    except Exception as own:
                        own.__context__ = failure
                        _settle(plan.request, error=own)
            for plan in plans:
                if plan.request.answer.done():
                    continue
                if plan.request.case_id in written:
                    _settle(plan.request, _answer(plan))
                    continue
                # Another request changed the case first. A double tap that submitted it is the one submission:
                # answer with it, read afresh.
                found = queries.detail_from_record(await conn.fetchrow(queries.PG_DETAIL, plan.request.case_id))
                if found is not None and found[0].status == Status.SUBMITTED:
                    _settle(plan.request, found)
                else:
                    _settle(plan.request, error=Conflict())
    except BaseException as error:  # the read or a lone write failed, or the batch was cancelled: tell everyone
        for request in batch:
            _settle(request, error=error)
        if not isinstance(error, Exception):
            raise


class SubmitBatcher:
    """Group commit of this process's draft submissions (see the module's docstring). One batch runs at a time;
    submissions arriving meanwhile wait for the next, which starts as soon as it ends."""

    def __init__(
        self,
        reads: PgReads,
        lookups: async_sessionmaker[AsyncSession],
        ctx: CoreContext,
        max_batch: int = 64,
        run: Callable[..., Any] = submit_batch,
    ) -> None:
        self._reads, self._lookups, self._ctx, self._max, self._run = reads, lookups, ctx, max_batch, run
        self._waiting: list[Request] = []
        self._task: asyncio.Task[None] | None = None
        self.batches = 0  # batches run, and submissions in them: for tests and benchmarks
        self.submissions = 0

    async def submit(
        self,
        *,
        case_id: int,
        applicant: ApplicantPrincipal,
        now: datetime,
        info: RequestInfo | None,
        listener_info: dict[str, Any] | None = None,
    ) -> tuple[Any, queries.Page] | None:
        """Submit the applicant's draft and return the case as submitted (the detail row and its latest timeline
        page); None when the case is not a plain draft (the general path takes it). Raises what the general path
        raises: NotFound for another's case, the transition's refusals, Conflict.

        ``listener_info`` is what the listeners find in ``session.info`` on the general path."""
        loop = asyncio.get_running_loop()
        request = Request(case_id, applicant, now, info, listener_info, loop.create_future())
        self._waiting.append(request)
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._drain())
        # Shielded: a caller that goes away does not cancel the batch, nor the answer the batch will settle.
        return await asyncio.shield(request.answer)

    async def _drain(self) -> None:
        while self._waiting:
            batch: list[Request] = []
            later: list[Request] = []
            cases: set[int] = set()
            for request in self._waiting[: self._max]:
                (later if request.case_id in cases else batch).append(request)
                cases.add(request.case_id)
            self._waiting = later + self._waiting[self._max :]
            self.batches += 1
            self.submissions += len(batch)
            await self._run(self._reads, self._lookups, self._ctx, batch)
