"""A case going through its life tells the applicant the right things, on the right channels, once."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select

from notifiers.dispatcher import Dispatcher
from notifiers.models import Notification
from tests.notifiers.conftest import operator, with_phone
from tests.support.api import Api
from tests.support.fake_wechat import FakeWeChat


async def walk(api: Api, who: dict[str, str]) -> int:
    """Submit → supplement → resubmit → accept → approve ×2 → licence → conclude → deliver."""
    case = await api.submitted_case(who)
    case_id = case["id"]
    await api.act_ok(
        "shouli", case_id, "request_supplement", defects=[{"field": "major", "reason": "专业与证书不一致"}]
    )
    r = await api.client.post(f"/api/v1/cases/{case_id}/submit", headers=who)
    assert r.status_code == 200, r.text
    await api.act_ok("shouli", case_id, "accept", opinion="材料齐全")
    await api.act_ok("shenhe", case_id, "approve", opinion="符合条件")
    await api.act_ok("qianpi", case_id, "approve", opinion="同意")
    await api.act_ok("zhizheng", case_id, "issue_licence")
    await api.act_ok("zhizheng", case_id, "conclude", opinion="准予注册")
    await api.act_ok("shouli", case_id, "deliver")
    return case_id


EXPECTED = [
    "submitted",
    "supplement_requested",
    "submitted",
    "accepted",
    "approved",
    "licence_issued",
    "concluded",
    "delivered",
]


async def test_a_case_life_fills_the_inbox_and_sends_each_message_once(
    api: Api, app: Any, dispatcher: Dispatcher, fake_wechat: FakeWeChat
) -> None:
    alice = await with_phone(api, "alice-life")
    # Alice allowed one subscribe message for the acceptance (wx.requestSubscribeMessage).
    r = await api.client.post("/api/v1/me/notifications/consents", json={"accepted": ["accepted"]}, headers=alice)
    assert r.status_code == 200 and r.json()["subscribe_consents"] == {"accepted": 1}
    r = await api.client.put(
        "/api/v1/ops/templates/accepted/wechat",
        headers=await operator(api),
        json={
            "title": "受理通知",
            "body": "您的申请已受理",
            "provider_template": "tmpl-accepted",
            "fields": {"thing1": "{item_name}", "character_string2": "{serial_no}", "time3": "{due}"},
        },
    )
    assert r.status_code == 200, r.text
    fake_wechat.messages.clear()

    case_id = await walk(api, alice)
    await dispatcher.drain()
    await dispatcher.drain()  # a second run finds nothing more to send

    r = await api.client.get("/api/v1/inbox", headers=alice)
    assert r.status_code == 200, r.text
    inbox = r.json()
    assert [m["event"] for m in inbox["items"]] == list(reversed(EXPECTED))  # newest first
    assert inbox["unread"] == len(EXPECTED)
    first = inbox["items"][-1]
    assert first["case_id"] == case_id and first["read"] is False and "医师执业注册" in first["body"]
    supplement = next(m for m in inbox["items"] if m["event"] == "supplement_requested")
    assert "专业与证书不一致" in supplement["body"]

    # The acceptance went by WeChat (there was a consent); everything else by SMS, the default channel after it.
    sent = [m for m in fake_wechat.messages if m["template_id"] == "tmpl-accepted"]
    assert len(sent) == 1 and sent[0]["touser"] == "openid-alice-life"
    assert len(sent[0]["data"]["thing1"]["value"]) <= 20
    sms_lines = [
        json.loads(line) for line in (app.state.notify.settings.data_dir / "sms-outbox.jsonl").read_text().splitlines()
    ]
    mine = [s for s in sms_lines if f"ev:{case_id}:" in s["key"]]
    assert len(mine) == len(EXPECTED) - 1 and all(s["to"] == "138****8000" for s in mine)  # masked at rest
    assert len({s["key"] for s in mine}) == len(mine)

    # The delivery log shows every message of the case, each sent once.
    r = await api.client.get(f"/api/v1/ops/deliveries?case_id={case_id}", headers=await operator(api))
    assert r.status_code == 200, r.text
    log = r.json()["items"]
    by_channel: dict[str, list[dict]] = {}
    for d in log:
        by_channel.setdefault(d["channel"], []).append(d)
    assert len(by_channel["inapp"]) == len(EXPECTED)
    assert {d["status"] for d in by_channel["inapp"]} == {"delivered"}
    assert {d["status"] for d in by_channel["sms"]} == {"sent"} and len(by_channel["sms"]) == len(EXPECTED) - 1
    assert [d["status"] for d in by_channel["wechat"]] == ["sent"]
    assert all(d["attempts"] == 1 for d in log)


async def test_inbox_read_state_and_privacy(api: Api, app: Any, dispatcher: Dispatcher) -> None:
    alice = await with_phone(api, "alice-inbox")
    bob = await api.applicant("bob-inbox")
    await api.submitted_case(alice)
    await dispatcher.drain()
    items = (await api.client.get("/api/v1/inbox", headers=alice)).json()["items"]
    assert len(items) == 1
    message_id = items[0]["id"]

    assert (await api.client.get("/api/v1/inbox", headers=bob)).json()["items"] == []
    r = await api.client.post(f"/api/v1/inbox/{message_id}/read", headers=bob)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"

    r = await api.client.post(f"/api/v1/inbox/{message_id}/read", headers=alice)
    assert r.status_code == 200 and r.json()["read"] is True
    after = (await api.client.get("/api/v1/inbox?unread=true", headers=alice)).json()
    assert after == {"items": [], "unread": 0}
    assert (await api.client.get("/api/v1/inbox")).status_code == 401


async def test_a_refused_action_writes_no_outbox_row(api: Api, app: Any) -> None:
    alice = await api.applicant("alice-refused")
    case = await api.submitted_case(alice)
    r = await api.act("shouli", case["id"], "conclude")  # not possible before acceptance
    assert r.status_code == 409
    async with app.state.weijian.read_sessions() as session:
        events = (await session.scalars(select(Notification.event).where(Notification.case_id == case["id"]))).all()
    assert events == ["submitted"]


async def test_the_outbox_row_commits_or_rolls_back_with_the_event(api: Api, app: Any) -> None:
    from case_core.domain.states import Action
    from case_core.models import Staff
    from case_core.principals import StaffPrincipal
    from case_core.services import cases as case_service
    from case_core.timeutil import utcnow

    alice = await api.applicant("alice-rollback")
    case = await api.submitted_case(alice)
    state = app.state.weijian

    async def accepted_rows(session: Any) -> int:
        q = select(func.count()).select_from(Notification)
        return int(await session.scalar(q.where(Notification.case_id == case["id"], Notification.event == "accepted")))

    async with state.write_sessions() as session:
        await session.begin()
        clerk = await session.scalar(select(Staff).where(Staff.username == "shouli"))
        assert clerk is not None
        principal = StaffPrincipal(clerk.id, clerk.name, frozenset(clerk.roles), clerk.department_id, "/")
        request = case_service.ActionRequest(action=Action.ACCEPT)
        await case_service.act(session, state.ctx, case_id=case["id"], staff=principal, request=request, now=utcnow())
        assert await accepted_rows(session) == 1  # written beside the event, in its transaction
        await session.rollback()
    async with state.read_sessions() as session:
        assert await accepted_rows(session) == 0  # and gone with it


async def test_an_inbox_message_is_pushed_to_a_connected_applicant(api: Api, app: Any, dispatcher: Dispatcher) -> None:
    import asyncio

    import orjson

    alice = await with_phone(api, "alice-push")
    me = (await api.client.get("/api/v1/me", headers=alice)).json()
    case = await api.submitted_case(alice)
    hub = app.state.weijian.push
    async with hub.subscribe([f"applicant:{me['id']}"]) as queue:
        while not queue.empty():  # the case event's own push (mobile_api.push) may be there already
            queue.get_nowait()
        await dispatcher.drain()
        message = orjson.loads(await asyncio.wait_for(queue.get(), timeout=5))
        while message.get("type") != "inbox":
            message = orjson.loads(await asyncio.wait_for(queue.get(), timeout=5))
    assert message["event"] == "submitted" and message["case_id"] == case["id"] and "已提交" in message["title"]
