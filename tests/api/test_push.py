"""Live pushes over ``WS /api/v1/ws``: an applicant hears of their own case, staff of their department's new tasks,
nobody of anyone else's; with Redis, a push reaches a connection held by another worker."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from mobile_api.push import PushHub, department_topics
from tests.support.api import Api
from tests.support.live import serve


@asynccontextmanager
async def live(host: str, headers: dict[str, str]) -> AsyncIterator[ClientConnection]:
    token = headers["Authorization"].removeprefix("Bearer ")
    async with websockets.connect(f"ws://{host}/api/v1/ws") as ws:
        await ws.send(orjson.dumps({"token": token}).decode())
        ready = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
        assert ready["type"] == "ready"
        yield ws


async def next_message(ws: ClientConnection, case_id: int | None = None) -> dict[str, Any]:
    """The next message (about ``case_id``: staff hear of every case of their department)."""
    while True:
        message = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
        if case_id is None or message.get("case_id") == case_id:
            return message


async def nothing_arrives(ws: ClientConnection) -> bool:
    try:
        await asyncio.wait_for(ws.recv(), 0.5)
    except TimeoutError:
        return True
    return False


async def test_applicant_and_department_staff_hear_of_a_case_and_nobody_else_does(api: Api, app: Any) -> None:
    alice, bob = await api.applicant("alice"), await api.applicant("bob")
    clerk, outsider = await api.staff("shouli"), await api.staff("other_clerk")
    case = await api.new_case(alice)
    await api.fill(alice, case["id"])
    await api.upload_required(alice, case["id"])

    async with (
        serve(app) as host,
        live(host, alice) as alice_ws,
        live(host, bob) as bob_ws,
        live(host, clerk) as clerk_ws,
        live(host, outsider) as outsider_ws,
    ):
        r = await api.client.post(f"/api/v1/cases/{case['id']}/submit", headers=alice)
        assert r.status_code == 200, r.text
        task = await next_message(clerk_ws, case["id"])
        assert task == {
            "type": "case_event",
            "case_id": case["id"],
            "serial_no": case["serial_no"],
            "item_name": (await api.item())["name"],
            "action": "submit",
            "status": "submitted",
            "step_key": "pre_accept",
            "step_role": task["step_role"],
        }
        assert (await next_message(alice_ws))["status"] == "submitted"

        await api.act_ok("shouli", case["id"], "accept")
        accepted = await next_message(alice_ws)
        assert (accepted["action"], accepted["status"]) == ("accept", "accepted")
        assert await nothing_arrives(bob_ws)
        assert await nothing_arrives(outsider_ws)


async def test_a_connection_without_a_valid_token_is_closed(api: Api, app: Any) -> None:
    async with serve(app) as host:
        for url, first in ((f"ws://{host}/api/v1/ws?token=forged", None), (f"ws://{host}/api/v1/ws", "{}")):
            async with websockets.connect(url) as ws:
                if first is not None:
                    await ws.send(first)
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await asyncio.wait_for(ws.recv(), 5)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_the_token_may_come_in_the_query_string_and_pings_are_answered(api: Api, app: Any) -> None:
    alice = await api.applicant("alice")
    token = alice["Authorization"].removeprefix("Bearer ")
    async with serve(app) as host, websockets.connect(f"ws://{host}/api/v1/ws?token={token}") as ws:
        assert (await next_message(ws))["type"] == "ready"
        await ws.send('{"type": "ping"}')
        assert await next_message(ws) == {"type": "pong"}


def test_a_case_event_goes_to_its_department_and_every_one_above() -> None:
    assert department_topics("/440000/440300/") == ["dept:/440000/", "dept:/440000/440300/"]


async def test_a_slow_consumer_loses_its_oldest_messages_not_the_newest() -> None:
    hub = PushHub()
    async with hub.subscribe(["staff:1"]) as queue:
        for i in range(150):
            await hub.publish("staff:1", {"n": i})
        received = [orjson.loads(queue.get_nowait())["n"] for _ in range(queue.qsize())]
    assert received == list(range(50, 150))


async def test_without_redis_reachable_a_publish_still_reaches_this_workers_connections() -> None:
    from redis import asyncio as aioredis

    dead = aioredis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    hub = PushHub(dead)
    hub._ensure_listener = _no_listener  # type: ignore[method-assign]
    async with hub.subscribe(["applicant:7"]) as queue:
        await hub.publish("applicant:7", {"hello": 1})
        assert orjson.loads(await asyncio.wait_for(queue.get(), 1)) == {"hello": 1}
    await hub.close()
    await dead.aclose()


async def _no_listener() -> None:
    return None


@pytest.mark.skipif(not os.environ.get("WEIJIAN_TEST_REDIS_URL"), reason="needs Redis (always present in CI)")
async def test_with_redis_a_push_reaches_a_connection_held_by_another_worker() -> None:
    from redis import asyncio as aioredis

    url = os.environ["WEIJIAN_TEST_REDIS_URL"]
    a, b = aioredis.Redis.from_url(url), aioredis.Redis.from_url(url)
    worker_a, worker_b = PushHub(a), PushHub(b)
    async with worker_b.subscribe(["staff:3"]) as queue:
        await worker_a.publish(["staff:3", "staff:4"], {"type": "case_event", "case_id": 1})
        assert orjson.loads(await asyncio.wait_for(queue.get(), 5)) == {"type": "case_event", "case_id": 1}
    await worker_a.close()
    await worker_b.close()
    await a.aclose()
    await b.aclose()


@pytest.mark.skipif(not os.environ.get("WEIJIAN_TEST_REDIS_URL"), reason="needs Redis (always present in CI)")
async def test_deployments_sharing_a_redis_server_do_not_hear_each_others_pushes() -> None:
    """Pub/sub ignores Redis's database numbers: the channel names the database (or is set explicitly)."""
    from redis import asyncio as aioredis

    from case_core.settings import Settings

    assert Settings(redis_url="redis://cache:6379/3").resolved_push_channel == "weijian:push:3"
    assert Settings(redis_url="redis://cache:6379").resolved_push_channel == "weijian:push:0"
    assert Settings(redis_url="redis://cache/3", push_channel="wj:prod").resolved_push_channel == "wj:prod"

    url = os.environ["WEIJIAN_TEST_REDIS_URL"]
    a, b = aioredis.Redis.from_url(url), aioredis.Redis.from_url(url)
    staging, production = PushHub(a, channel="weijian:push:test-s"), PushHub(b, channel="weijian:push:test-p")
    async with production.subscribe(["staff:3"]) as heard, staging.subscribe(["staff:3"]) as own:
        await staging.publish(["staff:3"], {"type": "case_event", "case_id": 1})
        assert orjson.loads(await asyncio.wait_for(own.get(), 5)) == {"type": "case_event", "case_id": 1}
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(heard.get(), 0.3)
    for hub in (staging, production):
        await hub.close()
    await a.aclose()
    await b.aclose()
