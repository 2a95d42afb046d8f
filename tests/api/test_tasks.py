"""The staff task list: views, filters and search, the same on every backend."""

from __future__ import annotations

from tests.support.api import Api


async def test_filters_by_item_and_searches_by_serial_name_or_item(api: Api) -> None:
    alice, bob = await api.applicant("alice"), await api.applicant("bob")
    a = await api.submitted_case(alice)
    b = await api.submitted_case(bob, "GD-WJ-XK-0003")
    clerk = await api.staff("shouli")

    async def ids(query: str) -> list[int]:
        r = await api.client.get(f"/api/v1/staff/tasks?{query}", headers=clerk)
        assert r.status_code == 200, r.text
        return [c["id"] for c in r.json()["items"]]

    assert sorted(await ids("view=todo")) == sorted([a["id"], b["id"]])
    assert await ids("view=todo&item_code=GD-WJ-XK-0001") == [a["id"]]
    assert await ids(f"view=todo&q={a['serial_no'].lower()}") == [a["id"]]
    assert await ids("view=todo&q=医师执业") == [a["id"]]
    assert await ids("view=todo&q=%25") == []  # a LIKE wildcard typed by a user matches literally
    assert await ids("view=todo&limit=1&offset=1") != await ids("view=todo&limit=1")


async def test_done_lists_what_i_acted_on_and_finished_lists_concluded_cases(api: Api) -> None:
    alice = await api.applicant("alice")
    a = await api.submitted_case(alice)
    b = await api.submitted_case(alice)
    await api.act_ok("shouli", a["id"], "accept")
    await api.act_ok("shouli", b["id"], "not_accept", reason="不符合条件")
    clerk = await api.staff("shouli")
    done = (await api.client.get("/api/v1/staff/tasks?view=done", headers=clerk)).json()["items"]
    finished = (await api.client.get("/api/v1/staff/tasks?view=finished", headers=clerk)).json()["items"]
    assert [c["id"] for c in done] == [a["id"]]
    assert [c["id"] for c in finished] == [b["id"]]
    assert finished[0]["deadline"] is None and finished[0]["status_label"] == "不予受理"
    other = (await api.client.get("/api/v1/staff/tasks?view=done", headers=await api.staff("shenhe"))).json()
    assert other["items"] == []


# (status, step_role, due date) of the cases behind the to-do test, and whose to-do each belongs in: the window
# clerk (收件受理员: intake, accepted at an acceptor's or window clerk's step, concluded cases to deliver) or not.
TODO_MIX = [
    ("submitted", "window_clerk", None, True),
    ("accepted", "acceptor", "2025-10-20", True),
    ("concluded", "dispatch_clerk", "2025-10-09", True),
    ("accepted", "handler", "2025-10-01", False),
    ("submitted", "window_clerk", None, True),
    ("concluded", "dispatch_clerk", "2025-10-20", True),
    ("suspended", "handler", "2025-09-30", False),
    ("accepted", "window_clerk", "2025-10-09", True),
    ("delivered", None, "2025-09-01", False),
    ("approved", "licence_maker", "2025-10-02", False),
    ("accepted", "acceptor", "2025-09-28", True),
    ("submitted", "window_clerk", None, True),
]


async def test_todo_is_every_part_of_the_clerks_work_by_deadline_undated_last_and_pages_add_up(api: Api) -> None:
    from datetime import date

    from sqlalchemy import text

    alice = await api.applicant("alice")
    ids = [(await api.submitted_case(alice))["id"] for _ in TODO_MIX]
    async with api.app.state.engine.begin() as conn:
        for case_id, (status, role, due, _) in zip(ids, TODO_MIX, strict=True):
            await conn.execute(
                text("UPDATE cases SET status = :st, step_role = :role, due_date = :due WHERE id = :id"),
                {"st": status, "role": role, "due": date.fromisoformat(due) if due else None, "id": case_id},
            )
    expected = sorted(
        ((due is None, due or "", case_id) for case_id, (_, _, due, mine) in zip(ids, TODO_MIX, strict=True) if mine)
    )
    clerk = await api.staff("shouli")

    async def page(limit: int, offset: int) -> list[int]:
        r = await api.client.get(f"/api/v1/staff/tasks?view=todo&limit={limit}&offset={offset}", headers=clerk)
        assert r.status_code == 200, r.text
        return [c["id"] for c in r.json()["items"]]

    assert await page(100, 0) == [case_id for *_, case_id in expected]
    pages = [await page(3, offset) for offset in range(0, 12, 3)]
    assert [i for p in pages for i in p] == [case_id for *_, case_id in expected]
    assert pages[-1] == []
