"""Drafts (暂存), submission checks, withdrawal and evaluation rules; a crash mid-request writes nothing."""

from __future__ import annotations

import httpx
import pytest

from tests.support.api import Api, valid_ric


async def test_an_invalid_value_is_refused_by_field_and_the_draft_keeps_what_was_saved(api: Api) -> None:
    alice = await api.applicant("alice")
    case = await api.new_case(alice)
    r = await api.client.patch(
        f"/api/v1/cases/{case['id']}",
        json={"form": {"applicant_name": "张三", "id_number": valid_ric()}},
        headers=alice,
    )
    assert r.status_code == 200
    r = await api.client.patch(
        f"/api/v1/cases/{case['id']}",
        json={"form": {"applicant_name": "李四", "id_number": "110105194912310021"}},
        headers=alice,
    )
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "field_invalid" and list(err["details"]["fields"]) == ["id_number"]
    assert "身份证" in err["message"]
    form = (await api.detail(alice, case["id"]))["form"]
    assert form == {"applicant_name": "张三", "id_number": valid_ric()}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("mobile", "12345"),
        ("birth_date", "1990-13-01"),
        ("sex", "未知"),
        ("institution_uscc", "91440101MA59ABCD1X"),
        ("nonexistent", "x"),
    ],
)
async def test_bad_values_get_422_naming_the_field(api: Api, field: str, value: str) -> None:
    alice = await api.applicant("alice")
    case = await api.new_case(alice)
    r = await api.client.patch(f"/api/v1/cases/{case['id']}", json={"form": {field: value}}, headers=alice)
    assert r.status_code == 422 and field in r.json()["error"]["details"]["fields"]


async def test_submit_lists_what_is_missing(api: Api) -> None:
    alice = await api.applicant("alice")
    case = await api.new_case(alice)
    r = await api.client.post(f"/api/v1/cases/{case['id']}/submit", headers=alice)
    assert r.status_code == 422 and r.json()["error"]["code"] == "form_incomplete"
    await api.fill(alice, case["id"])
    r = await api.client.post(f"/api/v1/cases/{case['id']}/submit", headers=alice)
    err = r.json()["error"]
    assert err["code"] == "materials_missing" and "居民身份证" in err["details"]["missing"]
    assert (await api.detail(alice, case["id"]))["status"] == "draft"


async def test_mailing_needs_an_address(api: Api) -> None:
    alice = await api.applicant("alice")
    case = await api.new_case(alice)
    await api.fill(alice, case["id"])
    await api.upload_required(alice, case["id"])
    await api.client.patch(f"/api/v1/cases/{case['id']}", json={"delivery": {"pickup": "邮寄"}}, headers=alice)
    r = await api.client.post(f"/api/v1/cases/{case['id']}/submit", headers=alice)
    assert r.status_code == 422 and r.json()["error"]["details"]["missing"] == ["邮寄地址"]
    r = await api.client.patch(f"/api/v1/cases/{case['id']}", json={"delivery": {"pickup": "快递到家"}}, headers=alice)
    assert r.status_code == 422


async def test_withdraw_only_before_acceptance(api: Api) -> None:
    alice = await api.applicant("alice")
    case = await api.submitted_case(alice)
    r = await api.client.post(f"/api/v1/cases/{case['id']}/withdraw", headers=alice)
    assert r.status_code == 200 and r.json()["status"] == "withdrawn"
    other = await api.submitted_case(alice)
    await api.act_ok("shouli", other["id"], "accept")
    r = await api.client.post(f"/api/v1/cases/{other['id']}/withdraw", headers=alice)
    assert r.status_code == 409 and r.json()["error"]["code"] == "invalid_transition"


async def test_evaluation_rules(api: Api) -> None:
    alice = await api.applicant("alice")
    case = await api.submitted_case(alice)
    r = await api.client.post(f"/api/v1/cases/{case['id']}/evaluation", json={"level": 4}, headers=alice)
    assert r.status_code == 409  # not yet accepted
    await api.act_ok("shouli", case["id"], "accept")
    r = await api.client.post(f"/api/v1/cases/{case['id']}/evaluation", json={"level": 2}, headers=alice)
    assert r.status_code == 422 and "comment" in r.json()["error"]["details"]["fields"]
    r = await api.client.post(f"/api/v1/cases/{case['id']}/evaluation", json={"level": 6}, headers=alice)
    assert r.status_code == 422
    r = await api.client.post(
        f"/api/v1/cases/{case['id']}/evaluation",
        json={"level": 2, "comment": "窗口态度不好", "aspects": {"attitude": 1}},
        headers=alice,
    )
    assert r.status_code == 201 and r.json()["level_label"] == "不满意"
    r = await api.client.post(f"/api/v1/cases/{case['id']}/evaluation", json={"level": 5}, headers=alice)
    assert r.status_code == 409


async def test_supplementation_is_one_time_and_lists_every_defect(api: Api) -> None:
    case = await api.submitted_case(await api.applicant("alice"))
    r = await api.act("shouli", case["id"], "request_supplement", defects=[])
    assert r.status_code == 422 and r.json()["error"]["code"] == "defects_required"
    r = await api.act("shouli", case["id"], "request_supplement", defects=[{"material_type": "nope", "reason": "x"}])
    assert r.status_code == 422
    await api.act_ok("shouli", case["id"], "request_supplement", defects=[{"field": "major", "reason": "不一致"}])
    alice = await api.applicant("alice")
    await api.client.post(f"/api/v1/cases/{case['id']}/submit", headers=alice)
    r = await api.act("shouli", case["id"], "request_supplement", defects=[{"field": "major", "reason": "还是不对"}])
    assert r.status_code == 422 and r.json()["error"]["code"] == "supplement_already_requested"


async def test_batch_approve_reports_each_case(api: Api) -> None:
    alice = await api.applicant("alice")
    a, b, c = [await api.submitted_case(alice) for _ in range(3)]
    for case in (a, b):
        await api.act_ok("shouli", case["id"], "accept")
    r = await api.client.post(
        "/api/v1/staff/batch-actions",
        headers=await api.staff("shenhe"),
        json={"case_ids": [a["id"], b["id"], c["id"]], "action": "approve", "opinion": "同意"},
    )
    body = r.json()
    assert r.status_code == 200 and body["succeeded"] == 2 and body["failed"] == 1
    assert [x["ok"] for x in body["results"]] == [True, True, False]
    assert (await api.detail(alice, a["id"]))["step"]["key"] == "leader_sign"
    assert (await api.detail(alice, c["id"]))["status"] == "submitted"


async def test_a_crash_mid_transition_leaves_no_half_written_case(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from case_core.services import cases as case_service

    alice = await api.applicant("alice")
    case = await api.submitted_case(alice)

    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr(case_service, "compose", explode)  # fails after status, clock and event are staged
    # Like a real server: the client gets the 500 response, the exception is only logged.
    transport = httpx.ASGITransport(app=api.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        r = await client.post(
            f"/api/v1/staff/cases/{case['id']}/actions", json={"action": "accept"}, headers=await api.staff("shouli")
        )
    assert r.status_code == 500 and r.json()["error"]["code"] == "internal_error"
    assert "power cut" not in r.text
    detail = await api.detail(alice, case["id"])
    assert detail["status"] == "submitted" and detail["accepted_at"] is None
    assert [e["action"] for e in detail["events"]] == ["create", "submit"]


async def test_a_commit_that_fails_is_reported_not_answered_with_success(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The transaction commits before the response is sent: a failing commit becomes an error response."""
    from sqlalchemy.ext.asyncio import AsyncSession

    alice = await api.applicant("alice")
    case = await api.new_case(alice)

    async def failing_commit(self: AsyncSession) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(AsyncSession, "commit", failing_commit)
    transport = httpx.ASGITransport(app=api.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        r = await client.patch(f"/api/v1/cases/{case['id']}", json={"form": {"major": "临床医学"}}, headers=alice)
    monkeypatch.undo()
    assert r.status_code == 500
    assert (await api.detail(alice, case["id"]))["form"] == {}
