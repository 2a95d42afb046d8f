"""Submitting a draft on PostgreSQL: one read and one write statement, no ORM session, no BEGIN/COMMIT.

Submission is the busiest write (every application starts with one), so on PostgreSQL the common case — a draft
with no clock running — goes this way, on a connection of the raw pool (``PgReads``):

1. one read: the case with its timeline page (its material list is on the row) and the id its new timeline event
   will have (``nextval``, so listeners hear of an event with its id, as on the general path after a flush);
2. the same ``cases.action_facts`` and pure ``transition()`` as every other action decide; the case-event
   listeners hear the event (read-only snapshots of the case and the event) and may add rows (``events.Changes``);
3. one statement writes it all under the optimistic lock: the case, its timeline event, the audit row and every
   row the listeners added (the notification outbox). A statement is atomic, so there is no half-written case to
   fear and nothing to roll back; no row back means another request changed the case first.

Anything else (a resubmission after 补正, a case already submitted, SQLite) takes the general path in
``cases.submit``; ``tests/api/test_submit_pg.py`` holds both paths to the same rows, listener calls and answer.
"""

from __future__ import annotations

import functools
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import orjson
from sqlalchemy import TypeDecorator, inspect
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from case_core import events, queries
from case_core.catalogue import versions_for
from case_core.context import CoreContext
from case_core.domain.errors import Conflict, NotFound
from case_core.domain.states import ACTION_LABELS, Action, Status
from case_core.domain.transitions import Actor, Params, clock_paused, transition
from case_core.pg_reads import PgReads
from case_core.principals import ApplicantPrincipal, RequestInfo
from case_core.services.cases import action_facts  # the same facts as every other action

# The detail read, with one event fewer in its timeline page (the submission's own event completes the page) and
# the id of that event drawn from its sequence.
_READ = queries.PG_DETAIL.replace(f"LIMIT {queries.EVENTS_PAGE}", f"LIMIT {queries.EVENTS_PAGE - 1}").replace(
    "FROM cases c\n", "     , nextval(pg_get_serial_sequence('case_events', 'id')) AS next_event_id\nFROM cases c\n", 1
)
assert "LIMIT 49" in _READ and "next_event_id" in _READ

# The case, its timeline event and its audit row, under the optimistic lock; the rows the listeners added follow
# (``_added``) and are written only if the case was (``FROM upd``). ``data`` is JSON null, as the ORM writes a None
# into a JSON column.
_WRITE = """
WITH upd AS (
    UPDATE cases
    SET status = $3, step_index = $4, step_key = $5, step_role = $6, extension_days = $7, supplement_count = $8,
        updated_at = $9, submitted_at = $9, version = version + 1, event_count = event_count + 1
    WHERE id = $1 AND version = $2
    RETURNING id, event_count
), ev AS (
    INSERT INTO case_events (id, case_id, at, actor_type, actor_id, actor_name, action, from_status, to_status,
                             step_key, opinion, data)
    SELECT $15, id, $9, 'applicant', $10, $11, 'submit', $12, $3, $5, NULL, 'null'::jsonb FROM upd
    RETURNING id
), au AS (
    INSERT INTO audit_log (at, actor_type, actor_id, action, case_id, target, detail, ip)
    SELECT $9, 'applicant', $10, 'case.submit', id, NULL, $13::text::jsonb, $14 FROM upd
    RETURNING id
){added}
SELECT upd.event_count FROM upd, ev, au
"""
_FIRST_FREE = 16  # the first parameter number after _WRITE's own
_PG = postgresql.dialect()


def _added(rows: list[Any]) -> tuple[str, list[Any]]:
    """The listeners' ORM objects as INSERTs in the write statement: ``(CTE text, parameter values)``.

    Column values are what the object holds, else the column's Python-side default (what a flush would use);
    the primary key and server-side defaults are left to the database. Every value is cast to its column's type,
    so that asyncpg encodes it as that type (JSON through the pool's codec)."""
    parts, values = [], []
    for n, row in enumerate(rows):
        table, columns = _insertable(type(row))  # type: ignore[arg-type]
        names, params = [], []
        for key, column, cast in columns:
            value = row.__dict__.get(key)
            if value is None and column.default is not None:
                default = column.default
                value = default.arg(None) if default.is_callable else default.arg
            if value is None and column.server_default is not None:
                continue
            if isinstance(column.type, TypeDecorator):
                value = column.type.process_bind_param(value, _PG)
            values.append(value)
            names.append(column.name)
            params.append(f"${_FIRST_FREE + len(values) - 1}::{cast}")
        parts.append(f", added{n} AS (INSERT INTO {table} ({', '.join(names)}) SELECT {', '.join(params)} FROM upd)")
    return "".join(parts), values


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


async def submit_draft(
    reads: PgReads,
    lookups: AsyncSession,
    ctx: CoreContext,
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

    ``lookups`` serves the catalogue's cache misses only (it opens no connection when they hit);
    ``listener_info`` is what the listeners find in ``session.info`` on the general path."""
    async with reads.connection() as conn:
        record = await conn.fetchrow(_READ, case_id)
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
        event = {
            "id": event_id,
            "at": queries.iso(now),
            "actor_type": "applicant",
            "actor_name": row.applicant_name,
            "action": str(Action.SUBMIT),
            "action_label": ACTION_LABELS[Action.SUBMIT],
            "from_status": from_status,
            "to_status": str(outcome.status),
            "step": step.key if step else None,
            "opinion": None,
            "data": None,
        }
        values.update(
            status=str(outcome.status),
            step_index=outcome.step_index,
            step_key=event["step"],
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
            case_id=case_id,
            at=now,
            actor_type="applicant",
            actor_id=applicant.id,
            actor_name=row.applicant_name,
            action=event["action"],
            from_status=from_status,
            to_status=event["to_status"],
            step_key=event["step"],
            opinion=None,
            data=None,
        )
        changes = events.Changes(dict(listener_info or {}))
        events.emit(changes, SimpleNamespace(**values), snapshot)  # type: ignore[arg-type]
        added_sql, added_values = _added(changes.new)
        written = await conn.fetchrow(
            _WRITE.format(added=added_sql),
            case_id,
            row.version,
            str(outcome.status),
            outcome.step_index,
            step.key if step else None,
            step.role if step else None,
            outcome.extension_days,
            outcome.supplement_count,
            now,
            applicant.id,
            row.applicant_name,
            from_status,
            orjson.dumps({"from": from_status, "to": outcome.status}).decode(),
            info.ip if info else None,
            event_id,
            *added_values,
        )
        if written is None:
            # Another request changed the case first. A double tap that submitted it is the one submission:
            # answer with it, read afresh.
            found = queries.detail_from_record(await conn.fetchrow(queries.PG_DETAIL, case_id))
            if found is not None and found[0].status == Status.SUBMITTED:
                return found  # type: ignore[return-value]
            raise Conflict()
    changes.committed()
    values["version"] = row.version + 1
    page = page_json[:-1] + ("," if page_len else "") + orjson.dumps(event).decode() + "]"
    return row, queries.Page(orjson.Fragment(page), page_len + 1)
