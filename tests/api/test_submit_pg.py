"""On PostgreSQL a draft's submission takes a path of its own (``case_core.services.submit_pg``: group commit, one
read and one write statement per batch of submissions). It must leave exactly the rows the general path leaves,
tell the case-event listeners the same things, and a batch must come out as its submissions one by one would: each
case decided and written on its own terms, one's refusal or failure never another's."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from case_core import events
from case_core.domain.errors import Conflict, NotFound
from case_core.principals import RequestInfo
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


@pytest.mark.postgresql_only
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

    monkeypatch.setattr(app.state.weijian, "submits", None)  # the general path only
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


# ---------------------------------------------------------------------------------------------- batches


async def _drafts(api: Api, who: dict[str, str], n: int) -> list[int]:
    ids = []
    for _ in range(n):
        case = await api.new_case(who)
        await api.fill(who, case["id"])
        await api.upload_required(who, case["id"])
        ids.append(case["id"])
    return ids


def _request(app: Any, who: dict[str, str], case_id: int) -> submit_pg.Request:
    applicant = app.state.weijian.tokens.applicant(who["Authorization"].removeprefix("Bearer "))
    return submit_pg.Request(
        case_id,
        applicant,
        app.state.weijian.clock(),
        RequestInfo(ip="10.0.0.9"),
        None,
        asyncio.get_running_loop().create_future(),
    )


async def _run(app: Any, batch: list[submit_pg.Request]) -> list[Any]:
    """Submit ``batch`` as one batch; each request's answer, or the exception it was answered with."""
    state = app.state.weijian
    await submit_pg.submit_batch(state.reads, state.read_sessions, state.ctx, batch)
    assert all(r.answer.done() for r in batch), "every request of a batch is answered"
    return [r.answer.exception() or r.answer.result() for r in batch]


async def _general_rows(api: Api, app: Any, who: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> tuple[Any, ...]:
    """The rows a submission of a fresh draft leaves on the general path: what each case of a batch must match."""
    (case_id,) = await _drafts(api, who, 1)
    with monkeypatch.context() as m:
        m.setattr(app.state.weijian, "submits", None)
        r = await api.client.post(f"/api/v1/cases/{case_id}/submit", headers=who)
    assert r.status_code == 200, r.text
    case, event, audit, outbox = await _rows(app, case_id)
    return case, event, [a[:-1] for a in audit], outbox  # the batch below comes from another address


@pytest.mark.postgresql_only
async def test_a_batch_writes_each_case_as_if_submitted_alone(
    api: Api, app: Any, backend: str, heard: list[tuple[Any, ...]], monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend != "postgresql":
        pytest.skip("the statement path exists on PostgreSQL only")
    alice = await api.applicant("alice")
    expected = await _general_rows(api, app, alice, monkeypatch)
    drafts = await _drafts(api, alice, 5)
    heard.clear()
    answers = await _run(app, [_request(app, alice, i) for i in drafts])
    for case_id, (row, page) in zip(drafts, answers, strict=True):
        assert row.id == case_id and row.status == "submitted" and page.length == 2
        case, event, audit, outbox = await _rows(app, case_id)
        assert (case, event, [a[:-1] for a in audit], outbox) == expected
        assert [a[-1] for a in audit] == ["10.0.0.9"]
    assert len(heard) == 5 and len(set(heard)) == 1  # every listener call alike, once per case
    r = await api.client.get(f"/api/v1/cases/{drafts[2]}", headers=alice)  # and the case reads as submitted
    assert r.json()["status"] == "submitted" and [e["action"] for e in r.json()["events"]] == ["create", "submit"]


@pytest.mark.postgresql_only
async def test_in_a_batch_a_refusal_is_only_its_own_cases(api: Api, app: Any, backend: str) -> None:
    """Another's case (not found), a case not a plain draft (the general path's turn) and a draft the transition
    refuses sit in one batch with a good draft: each gets its own answer, the good one is submitted."""
    if backend != "postgresql":
        pytest.skip("the statement path exists on PostgreSQL only")
    alice, bob = await api.applicant("alice"), await api.applicant("bob")
    good, bobs = await _drafts(api, alice, 1) + await _drafts(api, bob, 1)
    unfinished = (await api.new_case(alice))["id"]  # no form, no materials: submit is refused
    submitted = (await api.submitted_case(alice))["id"]
    answers = await _run(app, [_request(app, alice, i) for i in (bobs, good, unfinished, submitted)])
    assert isinstance(answers[0], NotFound)
    assert answers[1][0].status == "submitted"
    assert isinstance(answers[2], Exception) and not isinstance(answers[2], (NotFound, Conflict))
    assert answers[3] is None
    assert (await api.detail(alice, unfinished))["status"] == "draft"
    assert (await api.detail(bob, bobs))["status"] == "draft"


@pytest.mark.postgresql_only
async def test_in_a_batch_a_case_changed_meanwhile_is_a_conflict_and_the_others_are_written(
    api: Api, app: Any, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend != "postgresql":
        pytest.skip("the statement path exists on PostgreSQL only")
    alice = await api.applicant("alice")
    first, changed, last = await _drafts(api, alice, 3)
    plan = submit_pg._plan

    async def changed_after_the_read(record: Any, request: Any, *args: Any) -> Any:
        if request.case_id == changed:  # someone saves the draft between the batch's read and its write
            async with app.state.engine.begin() as conn:
                await conn.execute(text("UPDATE cases SET version = version + 1 WHERE id = :i"), {"i": changed})
        return await plan(record, request, *args)

    monkeypatch.setattr(submit_pg, "_plan", changed_after_the_read)
    answers = await _run(app, [_request(app, alice, i) for i in (first, changed, last)])
    assert isinstance(answers[1], Conflict)
    assert answers[0][0].status == answers[2][0].status == "submitted"
    detail = await api.detail(alice, changed)
    assert detail["status"] == "draft" and [e["action"] for e in detail["events"]] == ["create"]


@pytest.mark.postgresql_only
async def test_a_batch_whose_statement_fails_is_written_case_by_case_and_only_the_faulty_one_fails(
    api: Api, app: Any, backend: str
) -> None:
    """One case's outbox row cannot be written (its key is taken): the batch's statement fails as a whole, then
    each case is written on its own; the others are submitted, the faulty one is left as it was."""
    if backend != "postgresql":
        pytest.skip("the statement path exists on PostgreSQL only")
    alice = await api.applicant("alice")
    drafts = await _drafts(api, alice, 3)
    faulty = drafts[1]
    async with app.state.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO notify_outbox (key, event, case_id, audience, urgent, data, created_at)"
                " SELECT 'ev:' || id || ':' || (event_count + 1), 'submitted', id, 'applicant', false, '{}',"
                " CURRENT_TIMESTAMP FROM cases WHERE id = :i"
            ),
            {"i": faulty},
        )
    answers = await _run(app, [_request(app, alice, i) for i in drafts])
    assert isinstance(answers[1], Exception) and "uq_notify_outbox_key" in str(answers[1])
    assert answers[0][0].status == answers[2][0].status == "submitted"
    for case_id in (drafts[0], drafts[2]):
        assert len((await _rows(app, case_id))[2]) == 1  # its audit row
    detail = await api.detail(alice, faulty)
    assert detail["status"] == "draft" and [e["action"] for e in detail["events"]] == ["create"]


@pytest.mark.postgresql_only
async def test_submissions_arriving_together_share_batches(api: Api, app: Any, backend: str) -> None:
    """Over HTTP: twelve submissions at once, each answered as submitted, in fewer batches than submissions; and
    with one at a time, each is a batch of its own (nobody waits for company)."""
    if backend != "postgresql":
        pytest.skip("the statement path exists on PostgreSQL only")
    alice = await api.applicant("alice")
    drafts = await _drafts(api, alice, 13)
    batcher = app.state.weijian.submits
    batches, submissions = batcher.batches, batcher.submissions
    r = await api.client.post(f"/api/v1/cases/{drafts[0]}/submit", headers=alice)
    assert r.status_code == 200 and (batcher.batches, batcher.submissions) == (batches + 1, submissions + 1)
    results = await asyncio.gather(*[api.client.post(f"/api/v1/cases/{i}/submit", headers=alice) for i in drafts[1:]])
    assert [(r.status_code, r.json()["status"]) for r in results] == [(200, "submitted")] * 12
    assert batcher.submissions == submissions + 13 and batcher.batches < batches + 13
