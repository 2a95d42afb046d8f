"""The one-round-trip detail read (PostgreSQL) says exactly what the portable two-query read says."""

from __future__ import annotations

import orjson

from case_core import queries
from tests.support.api import Api


async def test_single_query_detail_matches_the_two_query_read(api: Api) -> None:
    alice = await api.applicant("alice")
    case = await api.submitted_case(alice)
    await api.act_ok("shouli", case["id"], "accept", opinion="材料齐全")
    await api.client.post(f"/api/v1/cases/{case['id']}/evaluation", json={"level": 4}, headers=alice)
    state = api.app.state.weijian  # type: ignore[attr-defined]
    async with state.read_sessions() as session:
        found = await queries.case_row_with_events(session, case["id"])
        row = await queries.case_row(session, case["id"])
        page = await queries.case_events(session, case["id"])
    assert found is not None
    fast_row, fast_page = found
    for column in row._fields:
        assert getattr(fast_row, column) == getattr(row, column), column
    # The database may render the page itself: what the client receives must be the same JSON either way.
    rendered = orjson.loads(orjson.dumps(fast_page.fragment if isinstance(fast_page, queries.Page) else fast_page))
    assert rendered == orjson.loads(orjson.dumps(page))
    assert [e["action"] for e in rendered] == ["create", "submit", "accept", "evaluate"]
    assert all(len(e["at"]) == len("2026-01-01T00:00:00.000000+00:00") for e in rendered)


async def test_an_unknown_case_reads_as_none(api: Api) -> None:
    state = api.app.state.weijian  # type: ignore[attr-defined]
    async with state.read_sessions() as session:
        assert await queries.case_row_with_events(session, 987654) is None


async def test_a_held_timeline_page_is_reused_until_the_next_event_and_never_goes_stale(api: Api) -> None:
    alice = await api.applicant("alice")
    case = await api.submitted_case(alice)
    state = api.app.state.weijian  # type: ignore[attr-defined]

    async def actions() -> list[str]:
        return [e["action"] for e in (await api.detail(alice, case["id"]))["events"]]

    assert await actions() == ["create", "submit"]
    if state.reads is not None:  # the page is held only for reads on PostgreSQL's read pool
        count, held = state.pages.get(case["id"])
        assert count == 2
        assert await actions() == ["create", "submit"]
        assert state.pages.get(case["id"])[1] is held  # the second read built no page
    await api.act_ok("shouli", case["id"], "accept")
    assert await actions() == ["create", "submit", "accept"]
    clerk = await api.staff("shouli")
    r = await api.client.get(f"/api/v1/staff/cases/{case['id']}", headers=clerk)
    assert [e["action"] for e in r.json()["events"]] == ["create", "submit", "accept"]


def test_the_page_cache_keeps_the_most_recently_read_cases() -> None:
    pages = queries.TimelinePages(capacity=2)
    page = queries.Page(orjson.Fragment(b"[]"), 0)
    pages.put(1, 5, page)
    pages.put(2, 5, page)
    assert pages.get(1) is not None  # 1 is now the most recently used
    pages.put(3, 5, page)
    assert pages.get(2) is None and pages.get(1) is not None and pages.get(3) is not None
