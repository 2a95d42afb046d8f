"""The one-round-trip detail read (PostgreSQL) says exactly what the portable two-query read says."""

from __future__ import annotations

from datetime import datetime

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
    assert [{**e, "at": datetime.fromisoformat(e["at"])} for e in fast_page] == [
        {**e, "at": datetime.fromisoformat(e["at"])} for e in page
    ]
    assert [e["action"] for e in fast_page] == ["create", "submit", "accept", "evaluate"]


async def test_an_unknown_case_reads_as_none(api: Api) -> None:
    state = api.app.state.weijian  # type: ignore[attr-defined]
    async with state.read_sessions() as session:
        assert await queries.case_row_with_events(session, 987654) is None
