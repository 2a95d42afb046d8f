"""Scheduled jobs: overdue lights, licence expiry, follow-ups, the leaders' briefing; the operators' job API; two
schedulers at once."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from dataclasses import replace
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, text, update

from case_core.models import Case
from case_core.timeutil import local_date, utcnow
from notifiers.dispatcher import Dispatcher
from notifiers.jobs import run_job
from notifiers.models import FollowUp, Notification
from tests.notifiers.conftest import operator
from tests.notifiers.test_notify_lifecycle import walk
from tests.support.api import Api


async def run(api: Api, job: str) -> dict[str, Any]:
    r = await api.client.post(f"/api/v1/ops/jobs/{job}/run", headers=await operator(api))
    assert r.status_code == 200, r.text
    return r.json()["result"]


async def inbox_events(api: Api, who: dict[str, str]) -> list[str]:
    r = await api.client.get("/api/v1/inbox", headers=who)
    assert r.status_code == 200, r.text
    return [m["event"] for m in r.json()["items"]]


async def sql(app: Any, statement: str, **params: Any) -> None:
    async with app.state.weijian.write_sessions() as session, session.begin():
        await session.execute(text(statement), params)


async def test_overdue_scan_reminds_the_step_holders_once_per_light(api: Api, app: Any, dispatcher: Dispatcher) -> None:
    alice = await api.applicant("alice-late")
    late = await api.submitted_case(alice)
    soon = await api.submitted_case(alice)
    for case in (late, soon):
        await api.act_ok("shouli", case["id"], "accept", opinion="受理")
    today = local_date(utcnow())
    await sql(app, "UPDATE cases SET due_date = :d WHERE id = :id", d=today - timedelta(days=3), id=late["id"])
    await sql(app, "UPDATE cases SET due_date = :d WHERE id = :id", d=today, id=soon["id"])

    assert await run(api, "overdue_scan") == {"yellow": 1, "red": 1}
    assert await run(api, "overdue_scan") == {"yellow": 0, "red": 0}  # nobody is told twice
    await dispatcher.drain()
    handler = await api.staff("shenhe")  # the review step is the handler's
    assert sorted(await inbox_events(api, handler)) == ["light_red", "light_yellow"]
    r = await api.client.get("/api/v1/inbox", headers=handler)
    red = next(m for m in r.json()["items"] if m["event"] == "light_red")
    assert red["case_id"] == late["id"] and "已于" in red["body"] and "超期" in red["body"]
    assert await inbox_events(api, await api.staff("shouli")) == []  # not their step

    # An extension moves the due date: a new red later is a new reminder; the same due date never is.
    await sql(app, "UPDATE cases SET due_date = :d WHERE id = :id", d=today - timedelta(days=1), id=late["id"])
    assert await run(api, "overdue_scan") == {"yellow": 0, "red": 1}


async def test_licence_expiry_reminders_at_each_offset_once(api: Api, app: Any, dispatcher: Dispatcher) -> None:
    bob = await api.applicant("bob-expiry")
    case_id = await walk(api, bob)
    today = local_date(utcnow())
    await sql(app, "UPDATE licences SET valid_until = :d WHERE case_id = :id", d=today + timedelta(days=25), id=case_id)
    assert await run(api, "licence_expiry") == {"90": 0, "30": 1, "7": 0}
    assert await run(api, "licence_expiry") == {"90": 0, "30": 0, "7": 0}
    await sql(app, "UPDATE licences SET valid_until = :d WHERE case_id = :id", d=today + timedelta(days=6), id=case_id)
    assert await run(api, "licence_expiry") == {"90": 0, "30": 0, "7": 1}
    await dispatcher.drain()
    r = await api.client.get("/api/v1/inbox", headers=bob)
    expiring = [m for m in r.json()["items"] if m["event"] == "licence_expiring"]
    assert [("25天" in m["body"], "6天" in m["body"]) for m in expiring] == [(False, True), (True, False)]


async def test_poor_ratings_become_follow_up_tasks(api: Api, app: Any, dispatcher: Dispatcher) -> None:
    carol = await api.applicant("carol-rating")
    case_id = await walk(api, carol)
    r = await api.client.post(
        f"/api/v1/cases/{case_id}/evaluation", json={"level": 2, "comment": "等待时间太长"}, headers=carol
    )
    assert r.status_code == 201, r.text
    assert await run(api, "followups") == {"tasks": 1, "reminders": 1}
    assert await run(api, "followups") == {"tasks": 0, "reminders": 0}
    async with app.state.weijian.read_sessions() as session:
        task = await session.scalar(select(FollowUp).where(FollowUp.case_id == case_id))
    assert task is not None and task.level == 2 and task.status == "open"
    await dispatcher.drain()
    assert await inbox_events(api, await api.staff("shouli")) == ["followup"]


async def test_good_ratings_need_no_follow_up(api: Api, app: Any) -> None:
    dave = await api.applicant("dave-rating")
    case_id = await walk(api, dave)
    r = await api.client.post(f"/api/v1/cases/{case_id}/evaluation", json={"level": 5}, headers=dave)
    assert r.status_code == 201, r.text
    assert await run(api, "followups") == {"tasks": 0, "reminders": 0}


async def test_the_daily_briefing_goes_to_each_leader(api: Api, app: Any, dispatcher: Dispatcher) -> None:
    erin = await api.applicant("erin-brief")
    await api.submitted_case(erin)
    yesterday = utcnow() - timedelta(days=1)
    async with app.state.weijian.write_sessions() as session, session.begin():
        await session.execute(update(Case).where(Case.submitted_at.is_not(None)).values(submitted_at=yesterday))
    result = await run(api, "daily_briefing")
    assert result == {"leaders": 1}  # qianpi, the demo department's leader
    await dispatcher.drain()
    r = await api.client.get("/api/v1/inbox", headers=await api.staff("qianpi"))
    [brief] = r.json()["items"]
    assert brief["event"] == "daily_briefing" and "收件1件" in brief["body"] and "暂无评价" in brief["body"]


async def test_operators_list_pause_resume_and_run_jobs(api: Api, app: Any) -> None:
    admin = await operator(api)
    r = await api.client.get("/api/v1/ops/jobs", headers=admin)
    assert r.status_code == 200, r.text
    jobs = {j["id"]: j for j in r.json()["items"]}
    assert set(jobs) == {"overdue_scan", "licence_expiry", "daily_briefing", "followups", "redeliver"}
    assert all(j["next_run_at"] and not j["paused"] for j in jobs.values())

    assert (await api.client.post("/api/v1/ops/jobs/overdue_scan/pause", headers=admin)).status_code == 200
    jobs = {j["id"]: j for j in (await api.client.get("/api/v1/ops/jobs", headers=admin)).json()["items"]}
    assert jobs["overdue_scan"]["paused"] is True and jobs["overdue_scan"]["next_run_at"] is None
    assert (await api.client.post("/api/v1/ops/jobs/overdue_scan/resume", headers=admin)).status_code == 200

    await run(api, "overdue_scan")
    jobs = {j["id"]: j for j in (await api.client.get("/api/v1/ops/jobs", headers=admin)).json()["items"]}
    assert jobs["overdue_scan"]["paused"] is False and jobs["overdue_scan"]["next_run_at"]
    assert jobs["overdue_scan"]["last_run"]["result"] == {"yellow": 0, "red": 0}
    assert jobs["overdue_scan"]["last_run"]["finished_at"]
    assert (await api.client.post("/api/v1/ops/jobs/nope/run", headers=admin)).status_code == 404
    clerk = await api.staff("shouli")
    assert (await api.client.get("/api/v1/ops/jobs", headers=clerk)).status_code == 403


async def test_two_schedulers_in_one_slot_run_the_job_once(api: Api, app: Any) -> None:
    alice = await api.applicant("alice-twice")
    case = await api.submitted_case(alice)
    await api.act_ok("shouli", case["id"], "accept")
    await sql(app, "UPDATE cases SET due_date = :d", d=local_date(utcnow()) - timedelta(days=2))
    ctx = app.state.notify.jobs
    now = utcnow()
    first, second = await asyncio.gather(run_job(ctx, "overdue_scan", now), run_job(replace(ctx), "overdue_scan", now))
    assert sorted([first is None, second is None]) == [False, True]
    async with app.state.weijian.read_sessions() as session:
        reds = await session.scalar(
            select(func.count()).select_from(Notification).where(Notification.event == "light_red")
        )
    assert reds == 1


async def test_two_scheduler_processes_send_each_reminder_once(api: Api, app: Any) -> None:
    alice = await api.applicant("alice-procs")
    for _ in range(3):
        case = await api.submitted_case(alice)
        await api.act_ok("shouli", case["id"], "accept")
    await sql(app, "UPDATE cases SET due_date = :d", d=local_date(utcnow()) - timedelta(days=2))
    s = app.state.weijian.settings
    env = {
        **os.environ,
        "WEIJIAN_DATABASE_URL": s.resolved_database_url,
        "WEIJIAN_DATA_DIR": str(s.data_dir),
        "WEIJIAN_SECRET_KEY": s.resolved_secret,
        "WEIJIAN_WECHAT_APPID": "",
    }
    if s.redis_url:
        env["WEIJIAN_REDIS_URL"] = s.redis_url
    cmd = [sys.executable, "-m", "mobile_api.cli", "scheduler", "--run", "overdue_scan"]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]  # noqa: ASYNC220
    outs = [await asyncio.to_thread(p.communicate, None, 120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1].decode()[-2000:] for o in outs]
    results = sorted(json.loads(o[0].decode().strip().splitlines()[-1]).get("red", -1) for o in outs)
    async with app.state.weijian.read_sessions() as session:
        reds = await session.scalar(
            select(func.count()).select_from(Notification).where(Notification.event == "light_red")
        )
    assert reds == 3
    assert results in ([-1, 3], [0, 3])  # one ran the scan; the other found the slot taken (or nothing left)
