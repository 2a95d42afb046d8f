"""Operators manage the texts: versions, preview, and a check at save time that keeps broken templates out."""

from __future__ import annotations

from typing import Any

import pytest

from case_core.domain.errors import FieldInvalid
from notifiers import templates
from notifiers.dispatcher import Dispatcher
from tests.notifiers.conftest import deliveries, operator, with_phone
from tests.support.api import Api


def test_unknown_variables_are_refused_with_the_ones_that_exist() -> None:
    with pytest.raises(FieldInvalid) as err:
        templates.check("accepted", "sms", "受理", "您的{item_name}已受理，办件人{clerk_name}", {})
    assert err.value.details is not None
    message = err.value.details["fields"]["body"]
    assert "clerk_name" in message and "serial_no" in message


def test_wechat_thing_fields_must_fit_twenty_characters() -> None:
    fields = {"thing1": "您申请的{item_name}已受理，请留意后续通知"}
    with pytest.raises(FieldInvalid) as err:
        templates.check("accepted", "wechat", "受理", "已受理", fields)
    assert err.value.details is not None
    assert "thing类字段不能超过20个字" in err.value.details["fields"]["fields.thing1"]
    templates.check("accepted", "wechat", "受理", "已受理", {"thing1": "{item_name}", "phrase2": "已受理"})


def test_unknown_wechat_field_types_and_broken_braces_are_refused() -> None:
    with pytest.raises(FieldInvalid):
        templates.check("accepted", "wechat", "受理", "已受理", {"colour1": "红"})
    with pytest.raises(FieldInvalid):
        templates.check("accepted", "sms", "受理", "您的{item_name已受理", {})


def test_sms_length_is_checked_on_realistic_values() -> None:
    with pytest.raises(FieldInvalid):
        templates.check("accepted", "sms", "受理", "长" * 290 + "{item_name}", {})


def test_a_value_too_long_at_send_time_is_shortened_not_rejected() -> None:
    t = templates.default_template("accepted", "wechat")
    t.fields = {"thing3": "{item_name}"}
    rendered = templates.render(t, {"item_name": "中外合资经营医疗机构设置审批（含港澳台资）及执业登记变更"})
    assert len(rendered.fields["thing3"]) == 20 and rendered.fields["thing3"].endswith("…")


async def test_operators_save_versions_preview_and_new_messages_use_the_newest(
    api: Api, app: Any, dispatcher: Dispatcher
) -> None:
    admin = await operator(api)
    url = "/api/v1/ops/templates/submitted/sms"
    first = {"title": "已提交", "body": "【卫健】{applicant_name}，您的{item_name}已提交（{serial_no}）。"}
    r = await api.client.put(url, json=first, headers=admin)
    assert r.status_code == 200 and r.json()["version"] == 1
    r = await api.client.put(url, json={**first, "body": "【卫健】{item_name}已收到，编号{serial_no}。"}, headers=admin)
    assert r.status_code == 200 and r.json()["version"] == 2

    r = await api.client.put(url, json={**first, "body": "{nope}"}, headers=admin)
    assert r.status_code == 422 and r.json()["error"]["code"] == "field_invalid"
    assert "nope" in r.json()["error"]["details"]["fields"]["body"]

    listing = (await api.client.get(url, headers=admin)).json()
    assert [v["version"] for v in listing["versions"]] == [2, 1] and listing["active"]["version"] == 2
    assert "serial_no" in listing["variables"]

    r = await api.client.post(f"{url}/preview", json={**first, "values": {"applicant_name": "李四"}}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["body"] == "【卫健】李四，您的医师执业注册（首次注册）已提交（WJ20261127000123）。"

    who = await with_phone(api, "templated")
    case = await api.submitted_case(who)
    await dispatcher.drain()
    [sms] = await deliveries(app, channel="sms")
    assert (
        sms.template_version == 2 and sms.body == f"【卫健】医师执业注册（首次注册）已收到，编号{case['serial_no']}。"
    )

    clerk = await api.staff("shouli")
    assert (await api.client.put(url, json=first, headers=clerk)).status_code == 403
    assert (await api.client.get("/api/v1/ops/templates/nonsense/sms", headers=admin)).status_code == 404


async def test_channels_overview_and_preferences(api: Api, app: Any, dispatcher: Dispatcher) -> None:
    admin = await operator(api)
    overview = (await api.client.get("/api/v1/ops/channels", headers=admin)).json()
    channels = {c["channel"]: c for c in overview["channels"]}
    assert channels["sms"]["provider"] == "file" and channels["wechat"]["configured"] is True
    accepted = next(e for e in overview["events"] if e["event"] == "accepted")
    assert accepted["fallback_order"] == ["wechat", "sms"]

    who = await with_phone(api, "quiet-person", email="quiet@example.com")
    r = await api.client.put("/api/v1/me/notifications", json={"channels": ["fax"]}, headers=who)
    assert r.status_code == 422
    r = await api.client.put("/api/v1/me/notifications", json={"channels": []}, headers=who)
    assert r.status_code == 200 and r.json()["channels"] == []
    await api.submitted_case(who)
    await dispatcher.drain()
    # Only the in-app inbox (always on): no SMS for someone who turned it off.
    assert [d.channel for d in await deliveries(app)] == ["inapp"]


async def test_operators_set_an_events_fallback_order(api: Api, app: Any, dispatcher: Dispatcher) -> None:
    admin = await operator(api)
    r = await api.client.put("/api/v1/ops/channels/submitted", json={"fallback_order": ["sms", "inapp"]}, headers=admin)
    assert r.status_code == 422
    r = await api.client.put("/api/v1/ops/channels/submitted", json={"fallback_order": ["email", "sms"]}, headers=admin)
    assert r.status_code == 200, r.text
    overview = (await api.client.get("/api/v1/ops/channels", headers=admin)).json()
    assert next(e for e in overview["events"] if e["event"] == "submitted")["fallback_order"] == ["email", "sms"]

    # No e-mail address and no SMTP server here: e-mail is skipped and SMS, next in the order, goes out.
    who = await with_phone(api, "ordered", email="ordered@example.com")
    r = await api.client.put("/api/v1/me/notifications", json={"channels": ["email", "sms"]}, headers=who)
    assert r.status_code == 200
    await api.submitted_case(who)
    await dispatcher.drain()
    external = [(d.channel, d.status) for d in await deliveries(app) if d.channel != "inapp"]
    assert external == [("email", "skipped"), ("sms", "sent")]
