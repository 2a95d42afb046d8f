"""The ASGI app under load: the real API (``mobile_api.app.create_app``) plus baseline routes that exist only
here, so every ratio compares endpoints served by the same processes in the same run.

* ``GET /bench/bare``                 an ``async def`` returning a small dict: the framework's ceiling;
* ``GET /bench/orm-one-row/{id}``     a plain ``def`` endpoint (thread pool) reading one ``Applicant`` by primary
  key through a synchronous SQLAlchemy ORM ``Session`` on psycopg2: the yardstick of the goals;
* ``GET /bench/async-one-row/{id}``   the same read through async SQLAlchemy ORM on asyncpg (default engine);
* ``GET /bench/raw-asyncpg/{id}``     the same read through a raw asyncpg pool;
* ``GET /bench/proto/cases/{id}``     the applicant's case detail on another design (see ``bench.proto``);
* ``GET /bench/deps-def``, ``GET /bench/deps-async``: the bare endpoint with three trivial dependencies, plain
  ``def`` (FastAPI runs each in the thread pool, like ``current_applicant``, ``core_context`` and ``now`` of
  ``mobile_api.deps``) or ``async def``: what the thread-pool hand-off costs.

Configuration comes from the environment (``WEIJIAN_DATABASE_URL``, ``WEIJIAN_SECRET_KEY``,
``WEIJIAN_DATA_DIR``…), set by ``python -m bench`` for the uvicorn workers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from fastapi import Depends, FastAPI, HTTPException, Request
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, sessionmaker

from bench import proto
from case_core.models import Applicant
from case_core.settings import Settings
from mobile_api.app import create_app

# Per worker and per pool: the connections wrk keeps open per worker (32 / 2). The four baseline pools stay
# small when idle (PostgreSQL's max_connections is shared with whoever else uses the server).
POOL = 16


def _row(a: Applicant) -> dict[str, Any]:
    return {"id": a.id, "openid": a.openid, "name": a.name, "created_at": a.created_at.isoformat()}


def _dep_a(request: Request) -> int:
    return len(request.headers)


def _dep_b(request: Request) -> str:
    return request.method


def _dep_c() -> float:
    return 1.0


async def _adep_a(request: Request) -> int:
    return len(request.headers)


async def _adep_b(request: Request) -> str:
    return request.method


async def _adep_c() -> float:
    return 1.0


def build(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings(_env_file=None)
    app = create_app(settings)
    url = make_url(settings.resolved_database_url)
    sync_engine = create_engine(url.set(drivername="postgresql+psycopg2"), pool_size=POOL, max_overflow=0)
    sync_sessions = sessionmaker(sync_engine)
    async_engine = create_async_engine(url.set(drivername="postgresql+asyncpg"), pool_size=POOL, max_overflow=0)
    async_sessions = async_sessionmaker(async_engine, expire_on_commit=False)
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    pools: dict[str, asyncpg.Pool] = {}

    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: FastAPI) -> AsyncIterator[None]:
        pools["raw"] = await asyncpg.create_pool(dsn, min_size=1, max_size=POOL)
        pools["proto"] = await asyncpg.create_pool(dsn, min_size=1, max_size=POOL, init=proto.init_connection,
                                                   reset=proto.no_reset)  # fmt: skip
        try:
            async with inner(a):
                yield
        finally:
            await pools["raw"].close()
            await pools["proto"].close()
            await async_engine.dispose()
            sync_engine.dispose()

    app.router.lifespan_context = lifespan

    @app.get("/bench/bare", tags=["bench"])
    async def bare() -> dict[str, Any]:
        return {"status": "ok", "service": "weijian", "n": 1}

    @app.get("/bench/deps-def", tags=["bench"])
    async def deps_def(a: int = Depends(_dep_a), b: str = Depends(_dep_b), c: float = Depends(_dep_c)) -> dict:
        return {"status": "ok", "service": "weijian", "n": a + len(b) + c}

    @app.get("/bench/deps-async", tags=["bench"])
    async def deps_async(a: int = Depends(_adep_a), b: str = Depends(_adep_b), c: float = Depends(_adep_c)) -> dict:
        return {"status": "ok", "service": "weijian", "n": a + len(b) + c}

    @app.get("/bench/orm-one-row/{applicant_id}", tags=["bench"])
    def orm_one_row(applicant_id: int) -> dict[str, Any]:
        session: Session
        with sync_sessions() as session:
            a = session.get(Applicant, applicant_id)
            if a is None:
                raise HTTPException(404)
            return _row(a)

    @app.get("/bench/async-one-row/{applicant_id}", tags=["bench"])
    async def async_one_row(applicant_id: int) -> dict[str, Any]:
        async with async_sessions() as session:
            a = await session.get(Applicant, applicant_id)
            if a is None:
                raise HTTPException(404)
            return _row(a)

    @app.get("/bench/raw-asyncpg/{applicant_id}", tags=["bench"])
    async def raw_asyncpg(applicant_id: int) -> dict[str, Any]:
        async with pools["raw"].acquire() as conn:
            r = await conn.fetchrow("SELECT id, openid, name, created_at FROM applicants WHERE id = $1", applicant_id)
        if r is None:
            raise HTTPException(404)
        return {"id": r["id"], "openid": r["openid"], "name": r["name"], "created_at": r["created_at"].isoformat()}

    proto.install(app, lambda: pools["proto"])
    # The baselines go first in the route table: routes are tried in order, and behind the API's 150-odd routes
    # the bare endpoint paid for matching them all (measured: 2,500 req/s there, 6,000–7,000 in front), which
    # flattered every ratio to it. The framework's ceiling is the endpoint found first.
    bench_routes = [r for r in app.router.routes if getattr(r, "path", "").startswith("/bench/")]
    app.router.routes[:] = bench_routes + [r for r in app.router.routes if r not in bench_routes]
    return app


def __getattr__(name: str) -> Any:
    # Built on first access (``uvicorn bench.app:app`` in each worker), not at import: importing this module
    # for its helpers must not need the environment to be set.
    if name == "app":
        globals()["app"] = application = build()
        return application
    raise AttributeError(name)
