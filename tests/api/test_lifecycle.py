"""The whole life of a case over HTTP: draft → submitted → supplement → accepted → steps → licence → delivered."""

from __future__ import annotations

from tests.support.api import ITEM, Api


async def test_a_case_goes_from_draft_to_delivered_licence(api: Api) -> None:
    alice = await api.applicant("alice")
    case = await api.new_case(alice)
    assert case["status"] == "draft" and case["serial_no"].startswith("WJ")
    case_id = case["id"]

    await api.fill(alice, case_id)
    await api.upload_required(alice, case_id)
    submitted = (await api.client.post(f"/api/v1/cases/{case_id}/submit", headers=alice)).json()
    assert submitted["status"] == "submitted"
    assert submitted["step"]["key"] == "pre_accept"

    # The clerk finds a problem and sends one notice listing every defect.
    r = await api.act(
        "shouli",
        case_id,
        "request_supplement",
        defects=[
            {"material_type": "health_check_report", "reason": "体检报告已超过6个月，请提供近6个月内的报告"},
            {"field": "major", "reason": "所学专业与学历证书不一致"},
        ],
    )
    assert r.status_code == 200, r.text
    mine = await api.detail(alice, case_id)
    assert mine["status"] == "supplement_requested"
    notice = mine["notices"][-1]
    assert notice["kind"] == "supplement" and len(notice["defects"]) == 2
    assert "健康体检" in notice["body"] or "体检" in notice["body"]

    # The applicant supplements and resubmits.
    r = await api.upload(alice, case_id, "health_check_report")
    assert r.status_code == 201, r.text
    r = await api.client.patch(f"/api/v1/cases/{case_id}", json={"form": {"major": "临床医学"}}, headers=alice)
    assert r.status_code == 200, r.text
    r = await api.client.post(f"/api/v1/cases/{case_id}/submit", headers=alice)
    assert r.json()["status"] == "submitted"

    accepted = await api.act_ok("shouli", case_id, "accept", opinion="材料齐全，予以受理")
    assert accepted["status"] == "accepted" and accepted["step"]["key"] == "review"
    assert accepted["deadline"]["light"] in ("green", "yellow")
    assert accepted["deadline"]["due_date"] > accepted["accepted_at"][:10]

    reviewed = await api.act_ok("shenhe", case_id, "approve", opinion="符合条件")
    assert reviewed["status"] == "accepted" and reviewed["step"]["key"] == "leader_sign"
    signed = await api.act_ok("qianpi", case_id, "approve", opinion="同意")
    assert signed["status"] == "approved" and signed["step"]["key"] == "make_licence"
    issued = await api.act_ok("zhizheng", case_id, "issue_licence")
    assert issued["licence"]["licence_type"] == "医师执业证书"
    concluded = await api.act_ok("zhizheng", case_id, "conclude", opinion="准予注册")
    assert concluded["status"] == "concluded"
    delivered = await api.act_ok("shouli", case_id, "deliver")
    assert delivered["status"] == "delivered"

    final = await api.detail(alice, case_id)
    actions = [e["action"] for e in final["events"]]
    assert actions == [
        "create",
        "submit",
        "request_supplement",
        "submit",
        "accept",
        "approve",
        "approve",
        "issue_licence",
        "conclude",
        "deliver",
    ]
    assert [n["kind"] for n in final["notices"]] == ["supplement", "acceptance", "approval", "licence", "conclusion"]
    assert all(s["done"] for s in final["steps"])
    licences = (await api.client.get("/api/v1/licences", headers=alice)).json()["items"]
    assert [lic["item_code"] for lic in licences] == [ITEM]

    r = await api.client.post(
        f"/api/v1/cases/{case_id}/evaluation", json={"level": 5, "comment": "很快"}, headers=alice
    )
    assert r.status_code == 201, r.text
    assert (await api.detail(alice, case_id))["evaluation"]["level"] == 5

    groups = {
        g: [c["id"] for c in (await api.client.get(f"/api/v1/cases?group={g}", headers=alice)).json()["items"]]
        for g in ("draft", "in_progress", "finished")
    }
    assert groups == {"draft": [], "in_progress": [], "finished": [case_id]}
