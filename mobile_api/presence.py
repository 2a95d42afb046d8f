"""Which workers hold a chat socket of a WebSocket conversation, across the deployment (Redis).

An agent's reply written on a worker that holds no socket of its conversation is published for the other
workers (``Consult.deliver``). Without knowing whether any of them holds one, the agent could only be told
``delivered: null``. With this registry the answer is ``null`` when another worker holds a socket (it sends the
reply and records the delivery itself) and ``false`` when none does (the reply waits, undelivered, for the
applicant's return), as a single worker would say.

Each conversation's entry is a sorted set of worker ids scored by when their claim lapses. A worker claims a
conversation when a chat socket attaches to it, renews its claims every ``RENEW`` seconds while it holds them, and
drops a claim when its last socket of that conversation goes; a worker that dies without cleaning up stops
counting ``TTL`` seconds later. Redis being unreachable makes the answer "unknown" (``None``), never an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

log = logging.getLogger("weijian.presence")

TTL = 90.0  # seconds a claim lasts unless renewed
RENEW = 30.0
WAIT = 1.0  # seconds a socket or a reply waits for Redis at most: the registry is an aid, never a hold-up


def _key(conv_id: int) -> str:
    return f"bot:presence:{conv_id}"


class Presence:
    def __init__(self, redis: Any, origin: str, clock: Callable[[], float] = time.time) -> None:
        self._redis = redis
        self._origin = origin
        self._clock = clock
        self._held: set[int] = set()
        self._renewer: asyncio.Task[None] | None = None

    async def hold(self, conv_id: int) -> None:
        """This worker now holds a chat socket of the conversation."""
        self._held.add(conv_id)
        await self._claim([conv_id])
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.create_task(self._renew())

    async def release(self, conv_id: int) -> None:
        """This worker's last chat socket of the conversation is gone."""
        self._held.discard(conv_id)
        if not self._held and self._renewer is not None:
            self._renewer.cancel()  # nothing left to renew
            self._renewer = None
        try:
            async with asyncio.timeout(WAIT):
                await self._redis.zrem(_key(conv_id), self._origin)
        except Exception as exc:  # the claim lapses by itself
            log.warning("presence: could not drop the claim on conversation %s: %s", conv_id, exc)

    async def elsewhere(self, conv_id: int) -> bool | None:
        """Whether another worker holds a chat socket of the conversation; None when Redis cannot say."""
        try:
            async with asyncio.timeout(WAIT):
                members = await self._redis.zrangebyscore(_key(conv_id), self._clock(), "+inf")
        except Exception as exc:
            log.warning("presence: could not read conversation %s: %s", conv_id, exc)
            return None
        return any((m.decode() if isinstance(m, bytes) else m) != self._origin for m in members)

    async def close(self) -> None:
        renewer, self._renewer = self._renewer, None
        if renewer is not None:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
        for conv_id in list(self._held):
            await self.release(conv_id)

    async def _claim(self, conv_ids: Iterable[int]) -> None:
        until = self._clock() + TTL
        pipe = self._redis.pipeline(transaction=False)
        for conv_id in conv_ids:
            key = _key(conv_id)
            pipe.zremrangebyscore(key, "-inf", self._clock())  # lapsed claims of dead workers
            pipe.zadd(key, {self._origin: until})
            pipe.expire(key, int(TTL))
        try:
            async with asyncio.timeout(WAIT):
                await pipe.execute()
        except Exception as exc:  # retried at the next renewal
            log.warning("presence: could not claim conversations: %s", exc)

    async def _renew(self) -> None:
        while self._held:
            await asyncio.sleep(RENEW)
            if self._held:
                await self._claim(list(self._held))
