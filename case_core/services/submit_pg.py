"""Submitting a draft on PostgreSQL: one read and one write statement instead of the ORM's round trips.

Submission is the busiest write (every application starts with one), so on PostgreSQL the common case — a draft
with no clock running — goes this way: the case is read once with its timeline page (its material list is on the
row), the same ``cases.action_facts`` and pure ``transition()`` as every other action decide, and one statement
updates the case under the optimistic lock and inserts the timeline event and the audit row. Listeners of
``case_core.events`` hear the event as from the general path (read-only snapshots of the case and the event) and
may add rows to the session, which commit with it. Anything else (a resubmission after 补正, a case already
submitted, SQLite) takes the general path in ``cases.submit``; ``tests/api/test_submit_pg.py`` holds both paths
to the same rows.
"""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from case_core import events, queries
from case_core.catalogue import versions_for
from case_core.context import CoreContext
from case_core.domain.errors import Conflict, NotFound
from case_core.domain.states import ACTION_LABELS, Action, Status
from case_core.domain.transitions import Actor, Params, clock_paused, transition
from case_core.principals import ApplicantPrincipal, RequestInfo
from case_core.services.cases import action_facts  # the same facts as every other action

# The detail read, with one event fewer in its timeline page: the submission's own event completes the page.
_READ = queries.PG_DETAIL.replace(f"LIMIT {queries.EVENTS_PAGE}", f"LIMIT {queries.EVENTS_PAGE - 1}")
assert _READ != queries.PG_DETAIL

# The case, its timeline event and its audit row, under the optimistic lock: no row back means another request
# changed the case first. ``data`` is JSON null, as the ORM writes a None into a JSON column.
_WRITE = """
WITH upd AS (
    UPDATE cases
    SET status = $3, step_index = $4, step_key = $5, step_role = $6, extension_days = $7, supplement_count = $8,
        updated_at = $9, submitted_at = $9, version = version + 1, event_count = event_count + 1
    WHERE id = $1 AND version = $2
    RETURNING id, event_count
), ev AS (
    INSERT INTO case_events (case_id, at, actor_type, actor_id, actor_name, action, from_status, to_status,
                             step_key, opinion, data)
    SELECT id, $9, 'applicant', $10, $11, 'submit', $12, $3, $5, NULL, 'null'::jsonb FROM upd
    RETURNING id
), au AS (
    INSERT INTO audit_log (at, actor_type, actor_id, action, case_id, target, detail, ip)
    SELECT $9, 'applicant', $10, 'case.submit', id, NULL, $13::text::jsonb, $14 FROM upd
    RETURNING id
)
SELECT upd.event_count, ev.id AS event_id FROM upd, ev, au
"""


async def submit_draft(
    session: AsyncSession,
    ctx: CoreContext,
    *,
    case_id: int,
    applicant: ApplicantPrincipal,
    now: datetime,
    info: RequestInfo | None,
) -> tuple[Any, queries.Page] | None:
    """Submit the applicant's draft and return the case as submitted (the detail row and its latest timeline
    page); None when the case is not a plain draft (the general path takes it). Raises what the general path
    raises: NotFound for another's case, the transition's refusals, Conflict."""
    conn = await session.connection()
    raw = (await conn.get_raw_connection()).driver_connection
    assert raw is not None
    record = await raw.fetchrow(_READ, case_id)
    if record is None or record["applicant_id"] != applicant.id:
        raise NotFound("办件")
    values, page_json, page_len = queries.detail_parts(record)
    row = queries.RecordView(values)
    if row.status != Status.DRAFT or row.paused_since is not None or row.accepted_at is not None:
        return None
    fields, steps = await versions_for(session, row.form_version_id, row.process_version_id)
    facts = await action_facts(session, ctx, row, fields, steps, Action.SUBMIT)
    actor = Actor(kind="applicant", id=applicant.id, roles=frozenset(), name=row.applicant_name or "")
    outcome = transition(facts, Action.SUBMIT, actor, Params())
    step = steps[outcome.step_index] if outcome.step_index is not None else None
    if clock_paused(outcome.status, step):
        return None  # a process whose first step stops the clock: the general path records the pause
    written = await raw.fetchrow(
        _WRITE,
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
        str(row.status),
        orjson.dumps({"from": row.status, "to": outcome.status}).decode(),
        info.ip if info else None,
    )
    if written is None:
        # Another request changed the case first. A double tap that submitted it is the one submission: answer
        # with it, read afresh.
        if await raw.fetchval("SELECT status FROM cases WHERE id = $1", case_id) == Status.SUBMITTED:
            return await queries.case_row_with_events(session, case_id)  # type: ignore[return-value]
        raise Conflict()
    from_status = values["status"]
    event = {
        "id": written["event_id"],
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
        event_count=written["event_count"],
    )
    # Listeners see the version the general path's listeners see (the one read); the answer shows the new one.
    snapshot = SimpleNamespace(
        id=event["id"],
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
    events.emit(session, SimpleNamespace(**values), snapshot)  # type: ignore[arg-type]
    values["version"] = row.version + 1
    page = page_json[:-1] + ("," if page_len else "") + orjson.dumps(event).decode() + "]"
    return row, queries.Page(orjson.Fragment(page), page_len + 1)
