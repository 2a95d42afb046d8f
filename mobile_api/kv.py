"""Small shared-state helpers: Redis when configured, an in-process fallback otherwise.

Used for request rate limits (login attempts per address). The fallback limits per worker process only, which
is the documented behaviour of the embedded default.
"""

from __future__ import annotations

import time
from typing import Protocol

from redis import asyncio as aioredis
from redis.exceptions import RedisError


class RateLimiter(Protocol):
    async def hit(self, key: str, limit: int, window_seconds: int) -> bool:
        """Count one hit; False when the key is over ``limit`` in the current window."""
        ...


class MemoryRateLimiter:
    def __init__(self) -> None:
        self._windows: dict[str, tuple[float, int]] = {}

    async def hit(self, key: str, limit: int, window_seconds: int) -> bool:
        now = time.monotonic()
        start, count = self._windows.get(key, (now, 0))
        if now - start >= window_seconds:
            start, count = now, 0
        count += 1
        self._windows[key] = (start, count)
        if len(self._windows) > 100_000:  # bounded memory under a flood of distinct keys
            self._windows.clear()
        return count <= limit


class RedisRateLimiter:
    """Fixed-window counter in Redis (INCR + EXPIRE in one pipeline); shared by every worker."""

    def __init__(self, client: aioredis.Redis, fallback: MemoryRateLimiter | None = None) -> None:
        self._redis = client
        self._fallback = fallback or MemoryRateLimiter()

    async def hit(self, key: str, limit: int, window_seconds: int) -> bool:
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(f"weijian:rl:{key}")
                pipe.expire(f"weijian:rl:{key}", window_seconds, nx=True)
                count, _ = await pipe.execute()
        except (RedisError, OSError):
            # Redis down: keep serving, limit per process instead of failing logins.
            return await self._fallback.hit(key, limit, window_seconds)
        return int(count) <= limit
