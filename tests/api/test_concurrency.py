"""Two people acting on one case at once: exactly one wins, the other gets 409; a double tap submits once."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from case_core.domain.errors import Conflict
from case_core.domain.states import Action
from case_core.principals import StaffPrincipal
from case_core.services import cases as case_service
from case_core.timeutil import utcnow
from tests.support.api import Api


async def test_two_clerks_accepting_at_once_one_wins_the_other_gets_409(api: Api) -> None:
    case = await api.submitted_case(await api.applicant("alice"))
    await api.staff("shouli")
    results = await asyncio.gather(api.act("shouli", case["id"], "accept"), api.act("shouli", case["id"], "accept"))
    assert sorted(r.status_code for r in results) == [200, 409]
    events = [e["action"] for e in (await api.detail(await api.applicant("alice"), case["id"]))["events"]]
    assert events.count("accept") == 1


async def test_a_stale_version_is_refused_with_409(api: Api) -> None:
    case = await api.submitted_case(await api.applicant("alice"))
    stale = case["version"]
    await api.act_ok("shouli", case["id"], "accept")
    r = await api.act("shenhe", case["id"], "approve", expected_version=stale)
    assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"


async def test_the_optimistic_lock_refuses_a_write_based_on_a_stale_read(api: Api) -> None:
    """Two transactions read the same version; the second to write is refused and writes nothing."""
    case = await api.submitted_case(await api.applicant("alice"))
    state = api.app.state.weijian  # type: ignore[attr-defined]
    async with api.app.state.engine.connect() as conn:  # type: ignore[attr-defined]
        row = (
            await conn.execute(
                text(
                    "SELECT s.id, s.department_id, d.path FROM staff s JOIN departments d "
                    "ON d.id = s.department_id WHERE username = 'shouli'"
                )
            )
        ).one()
    clerk = StaffPrincipal(
        id=row.id,
        name="收件受理员",
        roles=frozenset({"window_clerk", "acceptor"}),
        department_id=row.department_id,
        department_path=row.path,
    )
    request = case_service.ActionRequest(Action.ACCEPT)
    first, second = state.read_sessions(), state.read_sessions()
    try:
        # Keep both loaded rows referenced: the session's identity map is weak and would otherwise re-read.
        loaded = [await case_service.get_for_staff(s, case_id=case["id"], staff=clerk) for s in (first, second)]
        assert loaded[0].version == loaded[1].version
        await case_service.act(first, state.ctx, case_id=case["id"], staff=clerk, request=request, now=utcnow())
        await first.commit()
        try:
            await case_service.act(second, state.ctx, case_id=case["id"], staff=clerk, request=request, now=utcnow())
            raise AssertionError("the second write must be refused")
        except Conflict:
            await second.rollback()
    finally:
        await first.close()
        await second.close()
    detail = await api.detail(await api.applicant("alice"), case["id"])
    assert detail["status"] == "accepted" and [e["action"] for e in detail["events"]].count("accept") == 1


async def test_a_double_tapped_submit_creates_one_submission(api: Api) -> None:
    alice = await api.applicant("alice")
    case = await api.new_case(alice)
    await api.fill(alice, case["id"])
    await api.upload_required(alice, case["id"])
    results = await asyncio.gather(
        *[api.client.post(f"/api/v1/cases/{case['id']}/submit", headers=alice) for _ in range(3)]
    )
    assert [r.status_code for r in results] == [200, 200, 200]
    events = [e["action"] for e in (await api.detail(alice, case["id"]))["events"]]
    assert events.count("submit") == 1
