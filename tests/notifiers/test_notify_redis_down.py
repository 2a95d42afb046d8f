"""Redis stopped: the API keeps working and the messages still go out from the database outbox.

Uses a throwaway redis-server of its own on a free port (never the shared one)."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from case_core.settings import Settings
from notifiers.models import Delivery
from tests.notifiers.conftest import Clock
from tests.support.api import Api


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def own_redis() -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    binary = shutil.which("redis-server")
    assert binary, "redis-server is needed for this test (apt-get install redis-server)"
    port = _free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.05)
    yield proc, f"redis://127.0.0.1:{port}/0"
    if proc.poll() is None:
        proc.terminate()
        proc.wait(5)


@pytest.fixture
async def redis_app(app: Any, settings: Settings, own_redis: tuple[Any, str]) -> AsyncIterator[Any]:
    from mobile_api.app import create_app

    # ``app`` has emptied the tables; this second app shares the database and uses the throwaway Redis.
    application = create_app(settings.model_copy(update={"redis_url": own_redis[1]}))
    yield application
    if application.state.weijian.reads is not None:
        await application.state.weijian.reads.close()
    await application.state.engine.dispose()


async def test_with_redis_stopped_the_api_works_and_messages_go_out(
    redis_app: Any, own_redis: tuple[subprocess.Popen[bytes], str]
) -> None:
    transport = httpx.ASGITransport(app=redis_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        api = Api(client, redis_app)
        alice = await api.applicant("alice-redis")  # (WeChat login keeps its token in Redis: log in first)
        assert (await client.put("/api/v1/me", json={"phone": "13900139000"}, headers=alice)).status_code == 200
        case = await api.new_case(alice)
        await api.fill(alice, case["id"])
        await api.upload_required(alice, case["id"])
        await api.staff("shouli")

        proc, _ = own_redis
        proc.terminate()
        await asyncio.to_thread(proc.wait, 5)

        r = await client.post(f"/api/v1/cases/{case['id']}/submit", headers=alice)
        assert r.status_code == 200, r.text
        await api.act_ok("shouli", case["id"], "accept", opinion="受理")

        dispatcher = redis_app.state.notify.dispatcher
        dispatcher.clock = Clock()
        await dispatcher.drain()
        inbox = (await client.get("/api/v1/inbox", headers=alice)).json()
        assert [m["event"] for m in inbox["items"]] == ["accepted", "submitted"]

    async with redis_app.state.weijian.read_sessions() as session:
        sms = (await session.scalars(select(Delivery).where(Delivery.channel == "sms"))).all()
    assert sorted((d.event, d.status) for d in sms) == [("accepted", "sent"), ("submitted", "sent")]
