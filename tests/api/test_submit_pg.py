"""On PostgreSQL a draft's submission takes a path of its own (``case_core.services.submit_pg``: one read, one
write statement). It must leave exactly the rows the general path leaves, and tell the case-event listeners the
same things."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from case_core import events
from case_core.services import submit_pg
from tests.support.api import Api

CASE_COLUMNS = (
    "applicant_id, applicant_name, item_code, status, step_index, step_key, step_role, form_masked::text,"
    " delivery_masked::text, supplement_count, extension_days, due_date, deadline_provisional, paused_since,"
    " paused_days_left, accepted_at, finished_at, event_count, version, submitted_at IS NOT NULL,"
    " submitted_at = updated_at"
)
EVENT_COLUMNS = (
    "actor_type, actor_id, actor_name, action, from_status, to_status, step_key, opinion, data IS NULL, data::text"
)
AUDIT_COLUMNS = "actor_type, actor_id, action, target, detail::text, ip"


@pytest.fixture
def heard() -> Iterator[list[tuple[Any, ...]]]:
    log: list[tuple[Any, ...]] = []

    def listener(session: Any, case: Any, event: Any) -> None:
        log.append(
            (
                case.status,
                case.step_key,
                case.step_role,
                case.version,
                case.event_count,
                case.applicant_id,
                case.department_id,
                event.action,
                event.from_status,
                event.to_status,
                event.step_key,
                event.id is not None or event in session.new,  # the event exists, or will with the flush
            )
        )

    events.add_listener(listener)
    yield log
    events.remove_listener(listener)


async def _rows(app: Any, case_id: int) -> tuple[Any, ...]:
    async with app.state.engine.connect() as conn:
        case = (await conn.execute(text(f"SELECT {CASE_COLUMNS} FROM cases WHERE id = :i"), {"i": case_id})).one()
        event = (
            await conn.execute(
                text(f"SELECT {EVENT_COLUMNS} FROM case_events WHERE case_id = :i ORDER BY id DESC LIMIT 1"),
                {"i": case_id},
            )
        ).one()
        audit = (
            await conn.execute(
                text(f"SELECT {AUDIT_COLUMNS} FROM audit_log WHERE case_id = :i AND action = 'case.submit'"),
                {"i": case_id},
            )
        ).all()
        outbox = (
            await conn.execute(
                text(
                    "SELECT o.key = 'ev:' || c.id || ':' || c.event_count, o.event, o.audience, o.recipient_id,"
                    " o.urgent, (o.data::jsonb - 'case_id' - 'serial_no')::text, o.created_at = c.submitted_at,"
                    " o.expanded_at FROM notify_outbox o JOIN cases c ON c.id = o.case_id WHERE o.case_id = :i"
                ),
                {"i": case_id},
            )
        ).all()
    assert len(outbox) == 1  # the notification outbox row the listener added, written with the case
    return tuple(case), tuple(event), [tuple(a) for a in audit], [tuple(o) for o in outbox]


async def test_both_paths_leave_the_same_rows_and_say_the_same_to_listeners(
    api: Api, app: Any, backend: str, heard: list[tuple[Any, ...]], monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend != "postgresql":
        pytest.skip("the statement path exists on PostgreSQL only")
    alice = await api.applicant("alice")
    drafts = []
    for _ in range(2):
        case = await api.new_case(alice)
        await api.fill(alice, case["id"])
        await api.upload_required(alice, case["id"])
        drafts.append(case["id"])
    fast, general = drafts

    heard.clear()
    r = await api.client.post(f"/api/v1/cases/{fast}/submit", headers=alice)
    assert r.status_code == 200, r.text
    fast_answer = r.json()

    async def not_taken(*_: Any, **__: Any) -> None:
        return None

    monkeypatch.setattr(submit_pg, "submit_draft", not_taken)
    r = await api.client.post(f"/api/v1/cases/{general}/submit", headers=alice)
    assert r.status_code == 200, r.text
    general_answer = r.json()

    assert await _rows(app, fast) == await _rows(app, general)
    assert len(heard) == 2 and heard[0] == heard[1]
    for answer in (fast_answer, general_answer):
        for key in ("id", "serial_no", "created_at", "submitted_at", "materials"):
            answer.pop(key)
        for event in answer["events"]:
            event.pop("id"), event.pop("at")
    assert fast_answer == general_answer


async def test_a_submission_the_statement_path_cannot_take_goes_the_general_way(api: Api, backend: str) -> None:
    """A resubmission after 补正 is not a plain draft: the general path takes it (and ends the pause)."""
    alice = await api.applicant("alice")
    case = await api.submitted_case(alice)
    await api.act_ok("shouli", case["id"], "request_supplement", defects=[{"field": "major", "reason": "请核对"}])
    r = await api.client.post(f"/api/v1/cases/{case['id']}/submit", headers=alice)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "submitted" and r.json()["events_total"] == 4


async def test_a_row_the_listeners_add_that_cannot_be_written_fails_the_whole_submission(app: Any, api: Api) -> None:
    """The listeners' rows are written with the case: if one fails (here the outbox key of the submission's event is
    already taken), nothing of the submission is left, on either path."""
    import httpx

    alice = await api.applicant("alice")
    case = await api.new_case(alice)
    await api.fill(alice, case["id"])
    await api.upload_required(alice, case["id"])
    async with app.state.engine.begin() as conn:
        count = (await conn.execute(text("SELECT event_count FROM cases WHERE id = :i"), {"i": case["id"]})).scalar()
        await conn.execute(
            text(
                "INSERT INTO notify_outbox (key, event, case_id, audience, urgent, data, created_at)"
                " VALUES (:k, 'submitted', :i, 'applicant', false, '{}', CURRENT_TIMESTAMP)"
            ),
            {"k": f"ev:{case['id']}:{count + 1}", "i": case["id"]},
        )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        r = await client.post(f"/api/v1/cases/{case['id']}/submit", headers=alice)
    assert r.status_code == 500
    detail = await api.detail(alice, case["id"])
    assert detail["status"] == "draft" and [e["action"] for e in detail["events"]] == ["create"]
    async with app.state.engine.connect() as conn:
        audit = await conn.execute(
            text("SELECT count(*) FROM audit_log WHERE case_id = :i AND action = 'case.submit'"), {"i": case["id"]}
        )
        assert audit.scalar() == 0
