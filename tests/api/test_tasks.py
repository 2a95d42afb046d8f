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
