"""A raw asyncpg pool for the hottest reads on PostgreSQL (the case detail, the task list).

Each read is one statement on one pooled connection: no ORM, no session, no transaction (one statement is its
own consistent snapshot), JSONB decoded by orjson, no reset round trip when a connection goes back to the pool
(a lone SELECT leaves nothing to reset). Writes, and reads inside a write's transaction, stay on SQLAlchemy, but
for one: a draft's submission, which is a single statement (``services.submit_pg``).
SQLite has no such pool: callers fall back to the session (``case_core.queries``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import orjson
from sqlalchemy.engine import make_url


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _init(conn: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await conn.set_type_codec(
            name,
            schema="pg_catalog",
            format="text",
            decoder=orjson.loads,
            encoder=lambda v: orjson.dumps(v).decode(),
        )


async def _no_reset(conn: asyncpg.Connection) -> None:
    return None


class PgReads:
    def __init__(self, sqlalchemy_url: str, max_size: int = 10) -> None:
        self._dsn = asyncpg_dsn(sqlalchemy_url)
        self._max_size = max_size
        self._pool: asyncpg.Pool | None = None

    async def _get_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            pool = await asyncpg.create_pool(
                self._dsn,
                min_size=1,
                max_size=self._max_size,
                init=_init,
                reset=_no_reset,
                # These statements are few, fixed and prepared once per connection (asyncpg's statement cache).
                # Left to choose, PostgreSQL kept re-planning the task page for every execution (its custom plans
                # looked cheaper than the generic one, whose LIMIT it cannot see): 2.6 ms of planning for a 0.9 ms
                # query. Their generic plans are the index walks the queries were written for.
                server_settings={"plan_cache_mode": "force_generic_plan"},
            )
            if self._pool is None:  # another request may have created it while we awaited
                self._pool = pool
            else:
                await pool.close()
        return self._pool

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """One pooled connection for a few statements in a row, each its own transaction (autocommit): for a
        write that is a single statement (``services.submit_pg``)."""
        pool = await self._get_pool()
        async with pool.acquire() as conn:
            yield conn

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        pool = await self._get_pool()
        async with pool.acquire() as conn:
            return await conn.fetchrow(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        pool = await self._get_pool()
        async with pool.acquire() as conn:
            return await conn.fetchval(sql, *args)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
