"""The presence registry of chat sockets across workers (``mobile_api.presence``), on a real Redis: what one
worker claims the others see, a claim that is not renewed lapses, and a Redis that cannot answer means "unknown"."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator

import pytest
from redis import asyncio as aioredis

from mobile_api import presence
from mobile_api.presence import Presence

pytestmark = pytest.mark.skipif(
    not os.environ.get("WEIJIAN_TEST_REDIS_URL"), reason="needs Redis (always present in CI)"
)
CONV = 987_654_321  # far from the conversations other tests create


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def redis() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(os.environ["WEIJIAN_TEST_REDIS_URL"])
    await client.delete(f"bot:presence:{CONV}")
    yield client
    await client.delete(f"bot:presence:{CONV}")
    await client.aclose()


async def test_a_worker_sees_the_sockets_another_holds_and_not_its_own(redis: aioredis.Redis) -> None:
    clock = Clock()
    a, b = Presence(redis, "worker-a", clock), Presence(redis, "worker-b", clock)
    assert await b.elsewhere(CONV) is False
    await a.hold(CONV)
    assert await b.elsewhere(CONV) is True
    assert await a.elsewhere(CONV) is False  # its own sockets it serves directly
    await a.release(CONV)
    assert await b.elsewhere(CONV) is False
    await a.close()


async def test_a_claim_not_renewed_lapses(redis: aioredis.Redis) -> None:
    """A worker that died holding a socket stops counting once its claim's time is up."""
    clock = Clock()
    dead, b = Presence(redis, "worker-dead", clock), Presence(redis, "worker-b", clock)
    await dead.hold(CONV)
    await dead.close()  # stops renewing (and, being polite, drops its claim) ...
    await dead._claim([CONV])  # ... so claim again as if it had crashed without a word
    clock.now += presence.TTL - 1
    assert await b.elsewhere(CONV) is True
    clock.now += 2
    assert await b.elsewhere(CONV) is False


async def test_when_redis_cannot_answer_the_answer_is_unknown_and_nobody_waits_long() -> None:
    unreachable = aioredis.Redis(host="127.0.0.1", port=1)  # redis-py retries with back-off: seconds
    p = Presence(unreachable, "worker-a")
    started = time.monotonic()
    await p.hold(CONV)  # logged, not raised: a chat socket works without the registry
    assert await p.elsewhere(CONV) is None
    assert time.monotonic() - started < 3 * presence.WAIT
    await p.close()
    await unreachable.aclose()
