"""A revoked staff token stops working on every API worker at once when Redis is configured: the revocation goes
over the push hub's pub/sub channel. Without Redis the other workers fall back to re-reading the revoked versions
every ``WEIJIAN_STAFF_SESSIONS_REFRESH_SECONDS``. An open WebSocket of the revoked account is closed (4401)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from case_core.settings import Settings
from mobile_api.app import create_app
from tests.api.test_profile import assert_error, staff_id
from tests.api.test_staff_accounts import ADMIN_URL, ready_account
from tests.support.api import Api
from tests.support.asgi_ws import AsgiWebSocket, WsClosed

NEVER = 3600.0  # a refresh interval no test waits for: what passes must be the pub/sub message


@asynccontextmanager
async def another_worker(app: Any, **changes: Any) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """A second API process on the same database (and, unless told otherwise, the same Redis and push channel)."""
    settings: Settings = app.state.weijian.settings
    other = create_app(settings.model_copy(update={"staff_sessions_refresh_seconds": NEVER, **changes}))
    state = other.state.weijian
    await state.tokens.sessions.refresh(state.read_sessions)  # what its lifespan does before serving…
    await state.push.start()  # …and hearing the others' revocations
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=other), base_url="http://test") as client:
            yield other, client
    finally:
        await state.push.close()
        if state.reads is not None:
            await state.reads.close()
        await other.state.engine.dispose()


async def seconds_until_refused(client: httpx.AsyncClient, who: dict[str, str], limit: float = 5.0) -> float:
    """How long until ``who``'s token is refused; fails after ``limit`` (a bound for a loaded CI machine; it is
    milliseconds on a quiet one, and the re-read these tests rely on not running is an hour away or not running)."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        r = await client.get("/api/v1/staff/me", headers=who)
        if r.status_code == 401:
            assert_error(r, 401, "session_revoked")
            return time.monotonic() - started
        assert r.status_code == 200, r.text
        await asyncio.sleep(0.01)
    raise AssertionError(f"the token still worked after {limit} s")


@pytest.mark.postgresql_only
async def test_with_redis_a_token_revoked_through_one_worker_is_refused_by_another_at_once(api: Api) -> None:
    await api.app.state.weijian.push.start()
    colleague = await ready_account(api, "liwei", ["handler"])
    admin = await api.staff("admin")
    async with another_worker(api.app) as (_, elsewhere):
        assert (await elsewhere.get("/api/v1/staff/me", headers=colleague)).status_code == 200
        r = await api.client.post(f"{ADMIN_URL}/{await staff_id(api, 'liwei')}/disable", headers=admin)
        assert r.status_code == 200, r.text
        await seconds_until_refused(elsewhere, colleague)
        # And the other way round: a logout through the second worker ends the admin's token on the first.
        r = await elsewhere.post("/api/v1/auth/logout", headers=admin)
        assert r.status_code == 204, r.text
        await seconds_until_refused(api.client, admin)


async def test_without_redis_another_worker_learns_of_a_revocation_at_its_next_reread(api: Api) -> None:
    """The fallback (SQLite without Redis, or Redis unreachable): nothing is heard, the periodic re-read finds it."""
    colleague = await ready_account(api, "liwei", ["handler"])
    async with another_worker(api.app, redis_url=None) as (other, elsewhere):
        r = await api.client.post(
            f"{ADMIN_URL}/{await staff_id(api, 'liwei')}/disable", headers=await api.staff("admin")
        )
        assert r.status_code == 200, r.text
        assert_error(await api.client.get("/api/v1/staff/me", headers=colleague), 401, "session_revoked")
        await asyncio.sleep(0.2)
        assert (await elsewhere.get("/api/v1/staff/me", headers=colleague)).status_code == 200  # not heard
        state = other.state.weijian
        await state.tokens.sessions.refresh(state.read_sessions)  # what its loop does every interval
        assert_error(await elsewhere.get("/api/v1/staff/me", headers=colleague), 401, "session_revoked")


async def test_an_open_websocket_of_a_revoked_account_is_closed(api: Api) -> None:
    me = await ready_account(api, "liwei", ["handler"])
    token = me["Authorization"].removeprefix("Bearer ")
    async with AsgiWebSocket(api.app, "/api/v1/ws", f"token={token}") as ws:
        assert (await ws.receive_json())["type"] == "ready"
        r = await api.client.post(
            f"{ADMIN_URL}/{await staff_id(api, 'liwei')}/reset-password", json={}, headers=await api.staff("admin")
        )
        assert r.status_code == 200, r.text
        with pytest.raises(WsClosed) as closed:
            await asyncio.wait_for(ws.receive_json(), 5)
        assert closed.value.code == 4401


@pytest.mark.postgresql_only
async def test_with_redis_a_websocket_held_by_another_worker_is_closed_when_the_account_logs_out(api: Api) -> None:
    await api.app.state.weijian.push.start()
    me = await ready_account(api, "liwei", ["handler"])
    token = me["Authorization"].removeprefix("Bearer ")
    async with another_worker(api.app) as (other, _), AsgiWebSocket(other, "/api/v1/ws", f"token={token}") as ws:
        assert (await ws.receive_json())["type"] == "ready"
        assert (await api.client.post("/api/v1/auth/logout", headers=me)).status_code == 204
        with pytest.raises(WsClosed) as closed:
            await asyncio.wait_for(ws.receive_json(), 5)
        assert closed.value.code == 4401
