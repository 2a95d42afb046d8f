"""The composition root of the API: settings → engine, context, token service, rate limiter, WeChat client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import APIRouter, FastAPI
from redis import asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from case_core.context import CoreContext
from case_core.crypto import FieldCipher
from case_core.db import make_engine, make_sessionmaker, sqlite_write_transactions
from case_core.pg_reads import PgReads
from case_core.services import cases as cases_service
from case_core.services.submit_pg import SubmitBatcher
from case_core.settings import Settings
from case_core.storage import LocalStorage
from case_core.uploads import UploadLimits
from mobile_api import consult, errors, hot
from mobile_api.deps import AppState
from mobile_api.kv import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from mobile_api.push import SESSION_KEY, PushHub
from mobile_api.routers import (
    admin,
    auth,
    bot_channels,
    cases,
    items,
    kb,
    licences,
    me,
    ocr,
    pages,
    staff,
    staff_accounts,
    staff_profile,
    staff_wechat_bind,
    ws,
)
from mobile_api.routers import consult as consult_router
from mobile_api.security import TokenService
from mobile_api.wechat import MiniProgram
from notifiers import service as notify_service
from notifiers.routers import inbox, ops, receipts

API_PREFIX = "/api/v1"


def _department_paths(sessions: async_sessionmaker[AsyncSession]) -> Callable[[int], Awaitable[str]]:
    """Department id → path, cached: departments change with reorganisations, not per request."""
    cache: dict[int, str] = {}

    async def path(department_id: int) -> str:
        if department_id not in cache:
            async with sessions() as session:
                cache[department_id] = await cases_service.department_path(session, department_id)
        return cache[department_id]

    return path


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    engine = make_engine(settings.resolved_database_url)
    if engine.dialect.name == "sqlite":
        sqlite_write_transactions(engine)
    redis = aioredis.Redis.from_url(settings.redis_url) if settings.redis_url else None
    read_sessions = make_sessionmaker(
        # Reads on PostgreSQL run without BEGIN/COMMIT: two round trips fewer per GET. (The few GETs that write
        # an audit row then commit it at once, which is what an audit row wants.)
        engine if engine.dialect.name == "sqlite" else engine.execution_options(isolation_level="AUTOCOMMIT")
    )
    push = PushHub(redis, department_path=_department_paths(read_sessions), channel=settings.resolved_push_channel)
    limiter: RateLimiter = RedisRateLimiter(redis) if redis is not None else MemoryRateLimiter()
    state = AppState(
        settings=settings,
        ctx=CoreContext(
            cipher=FieldCipher(settings.resolved_secret),
            storage=LocalStorage(settings.data_dir / "files"),
            limits=UploadLimits(settings.upload_max_bytes, settings.upload_max_pixels, settings.upload_max_pdf_pages),
            yellow_days=settings.light_yellow_days,
        ),
        tokens=TokenService(settings.resolved_secret, timedelta(minutes=settings.token_ttl_minutes)),
        read_sessions=read_sessions,
        # The push hub rides on the write sessions: the case events' listener finds it there (mobile_api.push).
        write_sessions=make_sessionmaker(engine.execution_options(sqlite_immediate=True), info={SESSION_KEY: push}),
        limiter=limiter,
        push=push,
        reads=PgReads(settings.resolved_database_url) if engine.dialect.name == "postgresql" else None,
        wechat=MiniProgram(
            settings.wechat_appid, settings.wechat_secret, settings.wechat_api_base_url, settings.redis_url
        ),
    )

    state.tokens.sessions.attach(push)  # revocations reach every worker at once over the push channel
    if state.reads is not None:
        state.submits = SubmitBatcher(state.reads, read_sessions, state.ctx)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Revoked staff tokens (disabled accounts, reset passwords) are known before the first request is served.
        await state.tokens.sessions.refresh(read_sessions)
        await push.start()  # hear other workers' revocations before serving
        revocations = asyncio.create_task(
            state.tokens.sessions.run(read_sessions, settings.staff_sessions_refresh_seconds)
        )
        await consult_runtime.warm()
        await notify.start()
        yield
        revocations.cancel()
        await notify.stop()
        await consult_runtime.close()
        if state.checks is not None:
            await state.checks.drain()
        if state.ocr is not None:
            state.ocr.close()
        await push.close()
        if redis is not None:
            await redis.aclose()
        if state.reads is not None:
            await state.reads.close()
        await engine.dispose()

    app = FastAPI(
        title="Weijian 卫健政务服务平台",
        version="0.1.0",
        lifespan=lifespan,
        description="T/CHIA 49-2024 卫生健康政务服务平台 — mobile API for applicants and staff.",
        telemetry=None if settings.telemetry else {"tracing": False, "metrics": False, "logs": False},
    )
    app.state.weijian = state
    app.state.engine = engine
    notify = notify_service.install(app, state)  # outbox writer, dispatcher loop, jobs (notifiers/)
    errors.install(app)
    # The hottest routes first: routes are tried in order, and matching a request against the 150-odd routes
    # before its own costs more than some whole requests. Starlette dispatches them; the FastAPI router behind
    # documents them (see mobile_api/hot.py, tests/api/test_routes.py).
    hot_api = APIRouter(prefix=API_PREFIX)
    for module in (cases, staff):
        hot_api.include_router(module.hot_router)
    app.router.routes[:0] = hot.dispatch_routes(API_PREFIX, cases.hot_router, staff.hot_router)
    app.include_router(hot_api)
    # The bot's channels next: Rasa's paths (/webhooks/rest/webhook, /model/parse), WeChat's, the chat socket.
    # A chat turn is as hot as the case reads, and none of these paths overlaps the API's.
    app.include_router(bot_channels.router)
    api = APIRouter(prefix=API_PREFIX)
    for module in (auth, me, items, cases, licences, staff, admin, ws, ocr, kb, consult_router, inbox, ops, receipts):
        api.include_router(module.router)
    api.include_router(staff_profile.router)
    api.include_router(staff_accounts.router)
    api.include_router(staff_wechat_bind.router)
    app.include_router(api)
    consult_runtime = consult.install(app, state, redis)
    pages.install(app)  # /m/staff/ and /m/agent/: the pages served with the API

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict:
        return {"status": "ok"}

    return app
