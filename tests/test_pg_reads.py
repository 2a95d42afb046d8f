"""The raw PostgreSQL pool of the hot reads and the submission (``case_core.pg_reads.PgReads``): never more
connections than its size, every request served in turn, a connection whose use was interrupted never handed out
again, a refused statement no reason to drop one."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import asyncpg
import pytest

from case_core.pg_reads import PgReads

URL = os.environ.get("WEIJIAN_TEST_DATABASE_URL")
pytestmark = pytest.mark.skipif(not URL, reason="needs PostgreSQL (always present in CI)")


@pytest.fixture
async def reads() -> AsyncIterator[PgReads]:
    assert URL is not None
    pool = PgReads(URL, max_size=3)
    yield pool
    await pool.close()


async def test_more_requests_than_connections_are_all_served_in_turn(reads: PgReads) -> None:
    seen: set[int] = set()
    most = 0

    async def one(n: int) -> int:
        nonlocal most
        async with reads.connection() as conn:
            most = max(most, reads.size)
            seen.add(await conn.fetchval("SELECT pg_backend_pid()"))
            await asyncio.sleep(0.01)
            return int(await conn.fetchval("SELECT $1::int", n))

    assert await asyncio.gather(*(one(n) for n in range(30))) == list(range(30))
    assert most == 3 and len(seen) == 3


async def test_a_refused_statement_keeps_the_connection(reads: PgReads) -> None:
    pid = await reads.fetchval("SELECT pg_backend_pid()")
    with pytest.raises(asyncpg.DivisionByZeroError):
        await reads.fetchval("SELECT 1 / 0")
    assert await reads.fetchval("SELECT pg_backend_pid()") == pid and reads.size == 1


async def test_a_request_cancelled_mid_statement_leaves_its_connection_out_and_the_others_get_theirs(
    reads: PgReads,
) -> None:
    victim: list[int] = []

    async def slow() -> None:
        async with reads.connection() as conn:
            victim.append(await conn.fetchval("SELECT pg_backend_pid()"))
            await conn.fetchval("SELECT pg_sleep(5)")

    others = [asyncio.create_task(reads.fetchval("SELECT pg_sleep(0.1)")) for _ in range(2)]
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(slow(), 0.3)
    waiting = [asyncio.create_task(reads.fetchval("SELECT 7")) for _ in range(5)]  # more than the pool holds
    assert await asyncio.gather(*waiting) == [7] * 5
    await asyncio.gather(*others)

    async def pid_held() -> int:
        async with reads.connection() as conn:
            pid = int(await conn.fetchval("SELECT pg_backend_pid()"))
            await asyncio.sleep(0.05)
            return pid

    pids = await asyncio.gather(*(pid_held() for _ in range(3)))
    assert len(set(pids)) == 3 and victim[0] not in pids and reads.size == 3


async def test_a_request_cancelled_while_waiting_for_a_connection_takes_none(reads: PgReads) -> None:
    hold = [asyncio.create_task(reads.fetchval("SELECT pg_sleep(0.2)")) for _ in range(3)]
    await asyncio.sleep(0.05)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reads.fetchval("SELECT 1"), 0.05)
    await asyncio.gather(*hold)
    assert await asyncio.gather(*(reads.fetchval("SELECT 2") for _ in range(6))) == [2] * 6
    assert reads.size == 3


async def test_a_closed_pool_refuses_politely(reads: PgReads) -> None:
    await reads.fetchval("SELECT 1")
    await reads.close()
    assert reads.size == 0
    with pytest.raises(RuntimeError, match="closed"):
        await reads.fetchval("SELECT 1")
