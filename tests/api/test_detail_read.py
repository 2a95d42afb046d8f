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
