"""Staff reminders and the leaders' briefing leave the app: each goes down its event's channel chain to the contacts
the staff member gave (service account, SMS, e-mail), and stays in the in-app inbox when they gave none."""

from __future__ import annotations

from datetime import timedelta
from email.header import decode_header, make_header
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy import update

from case_core.models import Case
from case_core.timeutil import local_date, utcnow
from notifiers.channels.email import SmtpChannel
from notifiers.channels.wechat import TemplateChannel, WeChatSender
from notifiers.dispatcher import Dispatcher
from tests.notifiers.conftest import Inbox, deliveries, operator
from tests.notifiers.test_notify_jobs import inbox_events, run, sql
from tests.support.api import Api
from tests.support.fake_sms import FakeSmsServer
from tests.support.fake_wechat import FakeWeChat

PHONE, EMAIL, OPENID = "13800138002", "qianpi@wsjkw.example.cn", "oStaffOpenid_shenhe_000000001"


async def contacts(api: Api, username: str, **values: Any) -> None:
    r = await api.client.put("/api/v1/staff/me", json=values, headers=await api.staff(username))
    assert r.status_code == 200, r.text


async def overdue_case(api: Api, app: Any) -> int:
    """A case at the review step (the handler shenhe's), three days past its due date."""
    case = await api.submitted_case(await api.applicant("late-applicant"))
    await api.act_ok("shouli", case["id"], "accept", opinion="受理")
    await sql(app, "UPDATE cases SET due_date = :d WHERE id = :id", d=local_date(utcnow()) - timedelta(days=3),
              id=case["id"])  # fmt: skip
    return int(case["id"])


def channels_of(rows: list[Any]) -> list[tuple[str, str]]:
    return [(d.channel, d.status) for d in rows]


async def test_a_red_light_reaches_the_handler_by_sms_when_they_have_a_phone_and_in_app_when_not(
    api: Api, app: Any, dispatcher: Dispatcher, aliyun_sms: FakeSmsServer
) -> None:
    first = await overdue_case(api, app)
    assert await run(api, "overdue_scan") == {"yellow": 0, "red": 1}
    await dispatcher.drain()
    assert aliyun_sms.accepted == []  # no phone, no openid: the in-app inbox only, the chain recorded as skipped
    assert channels_of(await deliveries(app, case_id=first, recipient_type="staff")) == [
        ("inapp", "delivered"), ("wechat_mp", "skipped"), ("sms", "skipped"),
    ]  # fmt: skip
    handler = await api.staff("shenhe")
    assert await inbox_events(api, handler) == ["light_red"]

    await contacts(api, "shenhe", phone=PHONE)
    second = await overdue_case(api, app)
    assert await run(api, "overdue_scan") == {"yellow": 0, "red": 1}
    await dispatcher.drain()
    rows = await deliveries(app, case_id=second, recipient_type="staff")
    assert channels_of(rows) == [("inapp", "delivered"), ("wechat_mp", "skipped"), ("sms", "sent")]
    [sms] = aliyun_sms.accepted
    assert sms["to"] == PHONE and sms["key"] == rows[-1].key
    assert sms["params"]["serial_no"] and "已于" in rows[-1].body and "超期" in rows[-1].body
    assert await inbox_events(api, handler) == ["light_red", "light_red"]  # the inbox has it either way
    await dispatcher.drain()
    assert len(aliyun_sms.accepted) == 1  # sent once


async def test_with_an_openid_the_red_light_is_a_service_account_template_message_and_no_sms(
    api: Api, app: Any, dispatcher: Dispatcher, fake_wechat: FakeWeChat, aliyun_sms: FakeSmsServer
) -> None:
    r = await api.client.put(
        "/api/v1/ops/templates/light_red/wechat_mp",
        headers=await operator(api),
        json={"title": "办件超期", "body": "办件{serial_no}已超期", "provider_template": "tmpl-red",
              "fields": {"character_string1": "{serial_no}", "thing2": "{item_name}", "time3": "{due}"}},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    fake_wechat.errors.clear()
    fake_wechat.messages.clear()  # the server outlives a test
    # The service account of the tests is the fake WeChat server (the channel the runtime builds from
    # WEIJIAN_WECHAT_MP_APPID / _SECRET in production).
    dispatcher.channels["wechat_mp"] = TemplateChannel(
        WeChatSender(fake_wechat.appid, fake_wechat.secret, fake_wechat.url, timeout=5)
    )
    await contacts(api, "shenhe", phone=PHONE, wechat_mp_openid=OPENID)
    case_id = await overdue_case(api, app)
    await run(api, "overdue_scan")
    await dispatcher.drain()
    sent = [m for m in fake_wechat.messages if m["template_id"] == "tmpl-red"]
    assert len(sent) == 1 and sent[0]["touser"] == OPENID
    assert sent[0]["path"] == "/cgi-bin/message/template/send" and sent[0]["data"]["thing2"]["value"]
    assert channels_of(await deliveries(app, case_id=case_id, recipient_type="staff")) == [
        ("inapp", "delivered"), ("wechat_mp", "sent"),
    ]  # fmt: skip
    assert aliyun_sms.accepted == []  # the first channel that works is the only one used


async def test_a_staff_member_who_wants_no_external_channel_gets_the_inbox_only(
    api: Api, app: Any, dispatcher: Dispatcher, aliyun_sms: FakeSmsServer
) -> None:
    await contacts(api, "shenhe", phone=PHONE)
    me = await api.staff("shenhe")
    assert (await api.client.get("/api/v1/staff/me/notifications", headers=me)).json()["default"] is True
    bad = await api.client.put("/api/v1/staff/me/notifications", json={"channels": ["wechat", "fax"]}, headers=me)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "field_invalid"
    assert "不支持的通知方式" in bad.json()["error"]["message"]
    r = await api.client.put("/api/v1/staff/me/notifications", json={"channels": []}, headers=me)
    assert r.status_code == 200 and r.json() == {"channels": [], "default": False,
                                                 "available": ["inapp", "wechat_mp", "sms", "email"]}  # fmt: skip
    case_id = await overdue_case(api, app)
    await run(api, "overdue_scan")
    await dispatcher.drain()
    assert channels_of(await deliveries(app, case_id=case_id, recipient_type="staff")) == [("inapp", "delivered")]
    assert aliyun_sms.accepted == []

    r = await api.client.put("/api/v1/staff/me/notifications", json={"channels": None}, headers=me)
    assert r.json()["default"] is True  # back to each event's own channels


async def test_the_daily_briefing_reaches_a_leader_by_email(
    api: Api, app: Any, dispatcher: Dispatcher, smtp: tuple[Controller, Inbox]
) -> None:
    controller, mailbox = smtp
    dispatcher.channels["email"] = SmtpChannel("127.0.0.1", controller.port, "noreply@wsjkw.example.cn", timeout=5)
    await contacts(api, "qianpi", email=EMAIL)
    await api.submitted_case(await api.applicant("brief-applicant"))
    async with app.state.weijian.write_sessions() as session, session.begin():
        await session.execute(
            update(Case).where(Case.submitted_at.is_not(None)).values(submitted_at=utcnow() - timedelta(days=1))
        )
    assert await run(api, "daily_briefing") == {"leaders": 1}
    await dispatcher.drain()
    [(recipients, mail)] = mailbox.messages
    assert recipients == [EMAIL]
    assert "每日办件简报" in str(make_header(decode_header(mail["Subject"])))
    assert "收件1件" in mail.get_payload(decode=True).decode()
    rows = await deliveries(app, event="daily_briefing")
    assert channels_of(rows) == [("inapp", "delivered"), ("email", "sent")]
    assert mail["Message-ID"].strip() == rows[-1].provider_message_id
