"""The dispatcher's promises: retried until delivered, exactly once; fallback; dead letters; quiet hours; limits."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from case_core.models import Applicant
from case_core.timeutil import utcnow
from notifiers.dispatcher import Dispatcher
from notifiers.models import Notification
from tests.notifiers.conftest import Clock, deliveries, operator, with_phone
from tests.support.api import Api
from tests.support.fake_sms import FakeSmsServer
from tests.support.fake_wechat import FakeWeChat


async def queue(app: Any, code: str, n: int, event: str = "submitted", urgent: bool = False) -> int:
    """``n`` outbox rows for the applicant logged in with ``code`` (as case events would write them)."""
    async with app.state.weijian.write_sessions() as session, session.begin():
        applicant_id = await session.scalar(select(Applicant.id).where(Applicant.openid == f"openid-{code}"))
        assert applicant_id is not None
        for i in range(n):
            session.add(
                Notification(
                    key=f"test:{code}:{i}",
                    event=event,
                    case_id=None,
                    audience="applicant",
                    recipient_id=applicant_id,
                    urgent=urgent,
                    data={"serial_no": f"WJ{i:05d}", "item_name": "医师执业注册"},
                    created_at=utcnow(),
                )
            )
    return applicant_id


async def test_provider_500_timeout_and_rate_limit_are_retried_and_delivered_once(
    api: Api, app: Any, dispatcher: Dispatcher, clock: Clock, aliyun_sms: FakeSmsServer
) -> None:
    await with_phone(api, "faulty")
    await queue(app, "faulty", 1)
    aliyun_sms.timeout_seconds = 1.5
    aliyun_sms.script[:] = ["500", "timeout", "limit"]
    for _ in range(4):
        await dispatcher.drain()
        clock.advance(minutes=2)  # past any backoff (base 1 s, max 10 s; the flow-control error asks for 60 s)
    sms = await deliveries(app, channel="sms")
    assert len(sms) == 1
    assert sms[0].status == "sent" and sms[0].attempts == 4 and sms[0].provider_message_id
    assert aliyun_sms.keys() == {sms[0].key: 1}


async def test_backoff_grows_exponentially_with_jitter(dispatcher: Dispatcher) -> None:
    dispatcher.settings.backoff_base_seconds, dispatcher.settings.backoff_max_seconds = 30, 3600
    waits = [[dispatcher.backoff(n) for _ in range(50)] for n in (1, 2, 3, 4, 10)]
    assert all(15 <= w <= 30 for w in waits[0]) and all(30 <= w <= 60 for w in waits[1])
    assert all(120 <= w <= 240 for w in waits[3]) and all(w <= 3600 for w in waits[4])
    assert len({round(w, 6) for w in waits[2]}) > 1  # jittered, not a fixed schedule
    assert dispatcher.backoff(1, retry_after=600) == 600  # never sooner than the provider asked


async def test_wechat_43101_falls_back_to_sms_without_retry(
    api: Api, app: Any, dispatcher: Dispatcher, fake_wechat: FakeWeChat, aliyun_sms: FakeSmsServer
) -> None:
    who = await with_phone(api, "refuser")
    await api.client.post("/api/v1/me/notifications/consents", json={"accepted": ["submitted"]}, headers=who)
    r = await api.client.put(
        "/api/v1/ops/templates/submitted/wechat",
        headers=await operator(api),
        json={"title": "已提交", "body": "已提交", "provider_template": "tmpl-s", "fields": {"thing1": "{item_name}"}},
    )
    assert r.status_code == 200, r.text
    fake_wechat.errors[:] = [43101]
    await queue(app, "refuser", 1)
    await dispatcher.drain()
    wechat, sms = await deliveries(app, channel="wechat"), await deliveries(app, channel="sms")
    assert [(d.status, d.attempts) for d in wechat] == [("fallback", 1)] and "43101" in (wechat[0].error or "")
    assert [(d.status, d.attempts) for d in sms] == [("sent", 1)]
    assert aliyun_sms.keys() == {sms[0].key: 1}


async def test_exhausted_retries_land_in_the_dead_letters_and_an_operator_can_retry(
    api: Api, app: Any, dispatcher: Dispatcher, clock: Clock, aliyun_sms: FakeSmsServer
) -> None:
    await with_phone(api, "dead")
    await queue(app, "dead", 1)
    dispatcher.settings.max_attempts = 3
    aliyun_sms.script[:] = ["500"] * 3
    for _ in range(4):
        await dispatcher.drain()
        clock.advance(minutes=1)
    [dead] = await deliveries(app, channel="sms")
    assert (dead.status, dead.attempts) == ("failed", 3) and "500" in (dead.error or "")
    admin = await operator(api)
    listed = (await api.client.get("/api/v1/ops/dead-letters", headers=admin)).json()["items"]
    assert [d["id"] for d in listed] == [dead.id]

    r = await api.client.post(f"/api/v1/ops/deliveries/{dead.id}/retry", headers=admin)
    assert r.status_code == 200, r.text
    assert (await api.client.post(f"/api/v1/ops/deliveries/{dead.id}/retry", headers=admin)).status_code == 409
    dispatcher.settings.quiet_start_hour = dispatcher.settings.quiet_end_hour = 0  # the API stamped real time
    clock.now = utcnow() + timedelta(seconds=1)
    await dispatcher.drain()
    [sent] = await deliveries(app, channel="sms")
    assert sent.status == "sent" and aliyun_sms.keys() == {sent.key: 1}
    clerk = await api.staff("shouli")
    assert (await api.client.get("/api/v1/ops/dead-letters", headers=clerk)).status_code == 403


async def test_sms_waits_for_the_morning_unless_urgent(
    api: Api, app: Any, dispatcher: Dispatcher, clock: Clock, aliyun_sms: FakeSmsServer
) -> None:
    await with_phone(api, "night")
    clock.set_local(23, 30)
    await queue(app, "night", 1)
    await dispatcher.drain()
    sms = await deliveries(app, channel="sms")
    assert [d.status for d in sms] == ["queued"] and aliyun_sms.accepted == []
    assert [d.status for d in await deliveries(app, channel="inapp")] == ["delivered"]  # the inbox does not sleep
    held_until = sms[0].next_attempt_at
    assert held_until.hour == 0 and held_until.minute == 0  # 08:00 China time is 00:00 UTC

    async with app.state.weijian.write_sessions() as session, session.begin():
        session.add(
            Notification(key="urgent:1", event="licence_expiring", case_id=None, audience="applicant",
                         recipient_id=sms[0].recipient_id, urgent=True, data={}, created_at=utcnow())
        )  # fmt: skip
    await dispatcher.drain()
    assert len(aliyun_sms.accepted) == 1 and aliyun_sms.accepted[0]["key"].startswith("urgent:1:")

    clock.now = held_until
    await dispatcher.drain()
    assert len(aliyun_sms.accepted) == 2
    assert [d.status for d in await deliveries(app, channel="sms")] == ["sent", "sent"]


async def test_per_recipient_rate_limit_defers_the_excess(
    api: Api, app: Any, dispatcher: Dispatcher, clock: Clock, aliyun_sms: FakeSmsServer
) -> None:
    await with_phone(api, "chatty")
    dispatcher.settings.rate_limit_per_hour = 3
    await queue(app, "chatty", 5)
    await dispatcher.drain()
    sms = await deliveries(app, channel="sms")
    assert sorted(d.status for d in sms) == ["queued", "queued", "sent", "sent", "sent"]
    assert all(d.attempts == 0 for d in sms if d.status == "queued")  # deferred, not failed
    assert len(aliyun_sms.accepted) == 3


async def test_two_dispatchers_side_by_side_send_each_message_once(
    api: Api, app: Any, dispatcher: Dispatcher, aliyun_sms: FakeSmsServer
) -> None:
    from dataclasses import replace

    await with_phone(api, "twins")
    dispatcher.settings.rate_limit_per_hour = 0
    dispatcher.settings.dispatch_batch = 5
    await queue(app, "twins", 40)
    other = replace(dispatcher, owner="second-dispatcher")
    await asyncio.gather(dispatcher.drain(), other.drain())
    sms = await deliveries(app, channel="sms")
    assert len(sms) == 40 and {d.status for d in sms} == {"sent"}
    assert set(aliyun_sms.keys().values()) == {1} and len(aliyun_sms.keys()) == 40


def _dispatch_process(app: Any, aliyun: FakeSmsServer, lease: float) -> subprocess.Popen[bytes]:
    s = app.state.weijian.settings
    env = {
        **os.environ,
        "WEIJIAN_DATABASE_URL": s.resolved_database_url,
        "WEIJIAN_DATA_DIR": str(s.data_dir),
        "WEIJIAN_SECRET_KEY": s.resolved_secret,
        "WEIJIAN_SMS_PROVIDER": "aliyun",
        "WEIJIAN_SMS_ENDPOINT": aliyun.url,
        "WEIJIAN_SMS_ACCESS_KEY_ID": aliyun.key_id,
        "WEIJIAN_SMS_ACCESS_KEY_SECRET": aliyun.secret,
        "WEIJIAN_LEASE_SECONDS": str(lease),
        "WEIJIAN_DISPATCH_CONCURRENCY": "1",
        "WEIJIAN_RATE_LIMIT_PER_HOUR": "0",
        "WEIJIAN_QUIET_START_HOUR": "0",  # no quiet hours in this test, whatever the time of the run
        "WEIJIAN_QUIET_END_HOUR": "0",
        "WEIJIAN_WECHAT_APPID": "",
    }
    env.pop("WEIJIAN_REDIS_URL", None)
    return subprocess.Popen(
        [sys.executable, "-m", "mobile_api.cli", "dispatch"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


async def test_a_dispatcher_killed_mid_batch_delivers_everything_exactly_once_after_restart(
    api: Api, app: Any, dispatcher: Dispatcher, clock: Clock, aliyun_sms: FakeSmsServer
) -> None:
    await with_phone(api, "killed")
    await queue(app, "killed", 12)
    aliyun_sms.hanging.clear()
    aliyun_sms._release.clear()
    aliyun_sms.script[:] = [""] * 4 + ["hang"]  # four go through, the fifth request hangs
    proc = _dispatch_process(app, aliyun_sms, lease=2)
    try:
        assert await asyncio.to_thread(aliyun_sms.hanging.wait, 60), proc.stderr.read() if proc.stderr else ""
        proc.send_signal(signal.SIGKILL)  # killed mid-batch: a request in flight, the rest of the batch claimed
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
        aliyun_sms.release()
    assert len(aliyun_sms.accepted) == 4
    stuck = [d for d in await deliveries(app, channel="sms") if d.status == "sending"]
    assert stuck, "the killed dispatcher held claimed rows"

    dispatcher.settings.rate_limit_per_hour = 0
    dispatcher.settings.quiet_start_hour = dispatcher.settings.quiet_end_hour = 0
    clock.now = utcnow()
    await dispatcher.drain()
    assert [d for d in await deliveries(app, channel="sms") if d.status != "sent"], "leases still valid: nothing yet"
    clock.advance(seconds=3)  # the dead dispatcher's leases run out
    await dispatcher.drain()
    sms = await deliveries(app, channel="sms")
    assert {d.status for d in sms} == {"sent"} and len(sms) == 12, [
        (d.status, d.attempts, d.error, d.next_attempt_at, clock.now) for d in sms if d.status != "sent"
    ]
    assert aliyun_sms.keys() == {d.key: 1 for d in sms}


async def test_delivery_receipts_move_sent_messages_to_delivered_or_failed(
    api: Api, app: Any, dispatcher: Dispatcher, aliyun_sms: FakeSmsServer
) -> None:
    dispatcher.settings.receipt_token = "s3cret-receipts"
    await with_phone(api, "receipts")
    await queue(app, "receipts", 2)
    await dispatcher.drain()
    first, second = await deliveries(app, channel="sms")
    body = [
        {"biz_id": first.provider_message_id, "success": True, "err_code": "DELIVERED", "out_id": first.key},
        {"biz_id": second.provider_message_id, "success": False, "err_code": "MK:0001", "out_id": second.key},
    ]
    assert (await api.client.post("/api/v1/notify/receipts/aliyun/wrong", json=body)).status_code == 404
    r = await api.client.post("/api/v1/notify/receipts/aliyun/s3cret-receipts", json=body)
    assert r.status_code == 200 and r.json() == {"code": 0, "msg": "成功"}
    first, second = await deliveries(app, channel="sms")
    assert (first.status, second.status) == ("delivered", "failed") and "MK:0001" in (second.error or "")
