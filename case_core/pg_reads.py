"""A pool of raw asyncpg connections for the hottest reads on PostgreSQL (the case detail, the task list).

Each read is one statement on one pooled connection: no ORM, no session, no transaction (one statement is its
own consistent snapshot), JSONB decoded by orjson, no reset round trip when a connection goes back to the pool
(a lone SELECT leaves nothing to reset). Writes, and reads inside a write's transaction, stay on SQLAlchemy, but
for one: drafts' submission, one read and one write statement per batch (``services.submit_pg``).
SQLite has no such pool: callers fall back to the session (``case_core.queries``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
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


class PgReads:
    """The pool: up to ``max_size`` connections per process, handed out last-in first-out.

    Not asyncpg's ``Pool``: for these one-statement uses its machinery (a holder queue, an inactivity timer
    re-armed on every release, a task per release for ``asyncio.shield``, a proxy object per checkout) cost about
    as much Python as the statement itself (``bench.profile``). Here a checkout is a list pop, a return a list
    append or the hand-over to the oldest waiter. A connection leaves the pool when anything but a PostgreSQL
    error interrupts its use (a cancelled request mid-statement, a broken socket): its protocol state is unknown,
    so it is terminated and its place given to a waiter, who opens a new one."""

    def __init__(self, sqlalchemy_url: str, max_size: int = 10) -> None:
        self._dsn = asyncpg_dsn(sqlalchemy_url)
        self._max_size = max_size
        self._idle: list[asyncpg.Connection] = []
        self._waiters: deque[asyncio.Future[asyncpg.Connection | None]] = deque()
        self._size = 0  # connections open or being opened
        self._closed = False

    @property
    def size(self) -> int:
        return self._size

    async def _connect(self) -> asyncpg.Connection:
        return await asyncpg.connect(
            self._dsn,
            # These statements are few, fixed and prepared once per connection (asyncpg's statement cache).
            # Left to choose, PostgreSQL kept re-planning the task page for every execution (its custom plans
            # looked cheaper than the generic one, whose LIMIT it cannot see): 2.6 ms of planning for a 0.9 ms
            # query. Their generic plans are the index walks the queries were written for.
            server_settings={"plan_cache_mode": "force_generic_plan"},
        )

    async def _acquire(self) -> asyncpg.Connection:
        while True:
            if self._closed:
                raise RuntimeError("the read pool is closed")
            while self._idle:
                conn = self._idle.pop()
                if not conn.is_closed():
                    return conn
                self._size -= 1
            if self._size < self._max_size:
                self._size += 1
                return await self._open()
            waiter: asyncio.Future[asyncpg.Connection | None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                handed = await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    # Handed something just as this request was cancelled: pass it on.
                    if (got := waiter.result()) is not None:
                        self._release(got)
                    else:
                        self._hand_over(None)
                else:
                    with contextlib.suppress(ValueError):
                        self._waiters.remove(waiter)
                raise
            if handed is not None:
                return handed
            self._size += 1  # a place freed up and was handed over: open a connection in it
            return await self._open()

    async def _open(self) -> asyncpg.Connection:
        """A new connection, in a place already counted in ``_size`` (given up if the connection fails)."""
        try:
            conn = await self._connect()
            await _init(conn)
            return conn
        except BaseException:
            self._free_place()
            raise

    def _hand_over(self, conn: asyncpg.Connection | None) -> bool:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return True
        return False

    def _free_place(self) -> None:
        """A connection is gone: its place goes to the oldest waiter (who opens a new one), else stays free."""
        self._size -= 1
        self._hand_over(None)  # the waiter counts itself in when it opens the connection

    def _release(self, conn: asyncpg.Connection) -> None:
        if self._closed or conn.is_closed():
            if not conn.is_closed():
                conn.terminate()
            self._free_place()
        elif not self._hand_over(conn):
            self._idle.append(conn)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """One pooled connection for a few statements in a row, each its own transaction (autocommit): for the
        writes that are single statements (``services.submit_pg``)."""
        conn = await self._acquire()
        try:
            yield conn
        except asyncpg.PostgresError:  # the server refused a statement: the connection is as good as before
            self._release(conn)
            raise
        except BaseException:
            conn.terminate()
            self._free_place()
            raise
        self._release(conn)

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        async with self.connection() as conn:
            return await conn.fetchrow(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        async with self.connection() as conn:
            return await conn.fetchval(sql, *args)

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            self._size -= 1
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 5)
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(RuntimeError("the read pool is closed"))
