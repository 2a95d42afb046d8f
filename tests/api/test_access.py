"""Who may see and do what: applicants only their own cases (404, never 403), staff only their department."""

from __future__ import annotations

import pytest

from tests.support.api import Api


async def test_an_applicant_asking_for_anothers_case_gets_404(api: Api) -> None:
    alice, bob = await api.applicant("alice"), await api.applicant("bob")
    case = await api.submitted_case(alice)
    for method, path, body in [
        ("GET", f"/api/v1/cases/{case['id']}", None),
        ("GET", f"/api/v1/cases/{case['id']}/events", None),
        ("PATCH", f"/api/v1/cases/{case['id']}", {"form": {"major": "临床医学"}}),
        ("POST", f"/api/v1/cases/{case['id']}/submit", None),
        ("POST", f"/api/v1/cases/{case['id']}/withdraw", None),
        ("POST", f"/api/v1/cases/{case['id']}/evaluation", {"level": 5}),
        ("DELETE", f"/api/v1/cases/{case['id']}/materials/{case['materials'][0]['id']}", None),
        ("GET", "/api/v1/cases/999999", None),
    ]:
        r = await api.client.request(method, path, json=body, headers=bob)
        assert r.status_code == 404, (method, path, r.text)
        assert r.json()["error"]["code"] == "not_found"
    mine = (await api.client.get("/api/v1/cases", headers=bob)).json()["items"]
    assert mine == []


async def test_staff_outside_the_department_do_not_see_the_case(api: Api) -> None:
    alice = await api.applicant("alice")
    case = await api.submitted_case(alice)
    r = await api.client.get(f"/api/v1/staff/cases/{case['id']}", headers=await api.staff("other_clerk"))
    assert r.status_code == 404
    r = await api.act("other_clerk", case["id"], "accept")
    assert r.status_code == 404
    todo = (await api.client.get("/api/v1/staff/tasks?view=todo", headers=await api.staff("other_clerk"))).json()
    assert todo["items"] == []
    todo = (await api.client.get("/api/v1/staff/tasks?view=todo", headers=await api.staff("shouli"))).json()
    assert [c["id"] for c in todo["items"]] == [case["id"]]


@pytest.mark.parametrize(
    ("username", "action"),
    [("qianpi", "accept"), ("shenhe", "accept"), ("zhizheng", "not_accept"), ("shouli", "abort")],
)
async def test_a_role_that_may_not_take_an_action_gets_403(api: Api, username: str, action: str) -> None:
    case = await api.submitted_case(await api.applicant("alice"))
    r = await api.act(username, case["id"], action, reason="测试")
    assert r.status_code in (403, 409)
    if action in ("accept", "not_accept"):
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"


async def test_approve_needs_the_role_of_the_current_step(api: Api) -> None:
    case = await api.submitted_case(await api.applicant("alice"))
    await api.act_ok("shouli", case["id"], "accept")
    r = await api.act("qianpi", case["id"], "approve")  # the step is review (handler), not leader_sign
    assert r.status_code == 403
    await api.act_ok("shenhe", case["id"], "approve")
    r = await api.act("shenhe", case["id"], "approve")  # now leader_sign
    assert r.status_code == 403


async def test_the_staff_page_offers_only_what_the_role_may_do(api: Api) -> None:
    case = await api.submitted_case(await api.applicant("alice"))
    clerk = (await api.client.get(f"/api/v1/staff/cases/{case['id']}", headers=await api.staff("shouli"))).json()
    assert set(clerk["allowed_actions"]) == {"accept", "not_accept", "request_supplement"}
    leader = (await api.client.get(f"/api/v1/staff/cases/{case['id']}", headers=await api.staff("qianpi"))).json()
    assert leader["allowed_actions"] == []


async def test_tokens_of_the_wrong_kind_are_refused(api: Api) -> None:
    alice = await api.applicant("alice")
    r = await api.client.get("/api/v1/staff/tasks", headers=alice)
    assert r.status_code == 401
    r = await api.client.get("/api/v1/cases", headers=await api.staff("shouli"))
    assert r.status_code == 401


async def test_staff_see_personal_data_masked_unless_allowed_and_every_clear_read_is_audited(api: Api) -> None:
    from sqlalchemy import text

    alice = await api.applicant("alice")
    case = await api.submitted_case(alice)
    clear_id = (await api.detail(alice, case["id"]))["form"]["id_number"]
    masked = (await api.client.get(f"/api/v1/staff/cases/{case['id']}", headers=await api.staff("shouli"))).json()
    assert masked["masked"] and masked["form"]["id_number"] != clear_id and "*" in masked["form"]["id_number"]
    assert masked["form"]["mobile"] == "138****8000"
    r = await api.client.get(f"/api/v1/staff/cases/{case['id']}?reveal=true", headers=await api.staff("shouli"))
    assert r.status_code == 403
    r = await api.client.get(f"/api/v1/staff/cases/{case['id']}?reveal=true", headers=await api.staff("admin"))
    assert r.status_code == 200 and r.json()["form"]["id_number"] == clear_id
    async with api.app.state.engine.connect() as conn:  # type: ignore[attr-defined]
        rows = (await conn.execute(text("SELECT action, case_id FROM audit_log WHERE action = 'pii.read'"))).all()
    assert [(r.action, r.case_id) for r in rows] == [("pii.read", case["id"])]
