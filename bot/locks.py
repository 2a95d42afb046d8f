"""One turn at a time per conversation: two messages of the same person (a double tap, WeChat's retry, two
tabs) must not interleave their reads and writes of the conversation. A Redis lock when Redis is configured
(every worker), an asyncio lock per key otherwise (one process)."""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from redis.exceptions import LockError

from case_core.domain.errors import CaseError

LOCK_SECONDS = 15.0


class ConversationBusy(CaseError):
    code = "conversation_busy"
    status = 429


class ConversationLocks:
    def __init__(self, redis: Any | None = None, timeout: float = LOCK_SECONDS) -> None:
        self.redis = redis
        self.timeout = timeout
        self._local: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        if self.redis is not None:
            lock = self.redis.lock(f"weijian:bot:lock:{key}", timeout=self.timeout, blocking_timeout=self.timeout)
            if not await lock.acquire():
                raise ConversationBusy("上一条消息还在处理中，请稍后再发")
            try:
                yield
            finally:
                with contextlib.suppress(LockError):  # expired meanwhile: nothing left to release
                    await lock.release()
            return
        local = self._local.get(key)
        if local is None:
            local = asyncio.Lock()
            self._local[key] = local
        try:
            await asyncio.wait_for(local.acquire(), self.timeout)
        except TimeoutError as exc:
            raise ConversationBusy("上一条消息还在处理中，请稍后再发") from exc
        try:
            yield
        finally:
            local.release()
