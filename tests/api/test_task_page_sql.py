"""On PostgreSQL the staff task page is rendered by the database (labels, timestamps, deadlines and lights in
SQL); it must say exactly what the portable Python rendering says, for every kind of clock: running, overdue,
paused with and without the days it froze at, finished, across 国庆 and its make-up days, in a year the calendar
does not know, early and late in the China day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import text

from case_core import calendar, queries
from tests.support.api import Api

DUE_DATES = [date(2025, 9, 20) + timedelta(days=i) for i in range(0, 30, 2)] + [date(2031, 3, 3)]


async def _vary_clocks(app: Any, case_ids: list[int]) -> None:
    async with app.state.engine.begin() as conn:
        for i, (case_id, due) in enumerate(zip(case_ids, DUE_DATES, strict=False)):
            paused_since = datetime(2025, 9, 29, 17, 30, tzinfo=UTC) if i % 4 == 1 else None  # 30 Sep in China
            paused_left = (i - 6) if i % 8 == 1 else None
            status = "concluded" if i % 5 == 4 else "accepted"
            await conn.execute(
                text(
                    "UPDATE cases SET due_date = :due, paused_since = :ps, paused_days_left = :pl, status = :st,"
                    " finished_at = :fin WHERE id = :id"
                ),
                {
                    "due": due,
                    "ps": paused_since,
                    "pl": paused_left,
                    "st": status,
                    "fin": datetime(2025, 9, 25, tzinfo=UTC) if status == "concluded" else None,
                    "id": case_id,
                },
            )


@pytest.mark.postgresql_only
async def test_the_sql_page_equals_the_python_page(api: Api, app: Any, backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("the SQL-rendered page exists on PostgreSQL only")
    alice = await api.applicant("alice")
    ids = []
    for _ in DUE_DATES:
        case = await api.submitted_case(alice)
        await api.act_ok("shouli", case["id"], "accept")
        ids.append(case["id"])
    await _vary_clocks(app, ids)
    state = app.state.weijian
    async with state.read_sessions() as session:
        cal = await calendar.get_calendar(session)
        for day in (date(2025, 9, 26), date(2025, 9, 30), date(2025, 10, 3), date(2025, 10, 9), date(2025, 10, 15)):
            for hour_utc in (17, 0, 15):  # 01:00, 08:00 and 23:00 in China
                now = datetime(day.year, day.month, day.day, hour_utc, 30, tzinfo=UTC)
                for view in ("todo", "finished"):
                    args: dict[str, Any] = dict(
                        staff_id=0,
                        roles=frozenset({"handler", "inspector", "expert_panel", "community_worker"}),
                        department_path="/",
                        view=view,
                        cal=cal,
                        now=now,
                        yellow_days=state.ctx.yellow_days,
                        limit=100,
                    )
                    python = await queries.staff_tasks(session, **args)
                    sql = await queries.staff_tasks(None, reads=state.reads, **args)
                    rendered = orjson.loads(orjson.dumps(sql))
                    assert rendered == python, (view, now)
                    if view == "todo":
                        assert {i["deadline"]["light"] for i in python["items"]} == {"red", "yellow", "green"}
