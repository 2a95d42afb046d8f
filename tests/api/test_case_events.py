"""The case core's event hooks: listeners see each timeline event inside the transaction; after-commit callbacks
run only once the change is committed, and never for a change that was refused."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from case_core import events
from tests.support.api import Api


@pytest.fixture
def seen() -> Iterator[list[tuple[str, str, bool]]]:
    log: list[tuple[str, str, bool]] = []

    def listener(session: Any, case: Any, event: Any) -> None:
        log.append(("in-tx", event.action, session.in_transaction()))
        events.after_commit(session, lambda: log.append(("committed", event.action, True)))

    events.add_listener(listener)
    yield log
    events.remove_listener(listener)


async def test_listeners_see_events_in_the_transaction_and_callbacks_run_after_commit(
    api: Api, seen: list[tuple[str, str, bool]]
) -> None:
    alice = await api.applicant("alice")
    case = await api.new_case(alice)
    await api.fill(alice, case["id"])
    await api.upload_required(alice, case["id"])
    seen.clear()
    r = await api.client.post(f"/api/v1/cases/{case['id']}/submit", headers=alice)
    assert r.status_code == 200, r.text
    assert seen == [("in-tx", "submit", True), ("committed", "submit", True)]


async def test_callbacks_queued_before_a_rollback_never_run() -> None:
    from case_core.db import make_engine, make_sessionmaker

    engine = make_engine("sqlite+aiosqlite:///:memory:")
    ran: list[str] = []
    async with make_sessionmaker(engine)() as session:
        await session.begin()
        events.after_commit(session, lambda: ran.append("rolled back"))
        await session.rollback()
        await session.begin()
        events.after_commit(session, lambda: ran.append("committed"))
        await session.commit()
    await engine.dispose()
    assert ran == ["committed"]
