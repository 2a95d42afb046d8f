"""Dependencies: the request's session (one transaction, committed by us, rolled back on any error), the
caller (applicant or staff, from the bearer token), the core context, the request's origin."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from case_core import calendar, queries
from case_core.context import CoreContext
from case_core.domain.clock import WorkCalendar
from case_core.domain.errors import Unauthenticated
from case_core.pg_reads import PgReads
from case_core.principals import ApplicantPrincipal, RequestInfo, StaffPrincipal
from case_core.services.submit_pg import SubmitBatcher
from case_core.settings import Settings
from case_core.timeutil import utcnow
from mobile_api.kv import RateLimiter
from mobile_api.push import PushHub
from mobile_api.security import TokenService
from mobile_api.wechat import MiniProgram
from ocr.pool import EngineConfig, OcrPool, Runner
from ocr.queue import RqRunner
from ocr.service import CheckContext

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass
class AppState:
    settings: Settings
    ctx: CoreContext
    tokens: TokenService
    read_sessions: async_sessionmaker[AsyncSession]
    write_sessions: async_sessionmaker[AsyncSession]
    limiter: RateLimiter
    wechat: MiniProgram
    push: PushHub
    reads: PgReads | None = None  # the raw read pool, PostgreSQL only
    submits: SubmitBatcher | None = None  # group commit of draft submissions, on ``reads``
    pages: queries.TimelinePages = field(default_factory=queries.TimelinePages)  # rendered timeline pages
    clock: Callable[[], datetime] = utcnow  # "now" for every request (tests set it to walk through the calendar)
    ocr: Runner | None = None  # started on first use: a process that never reads a material spawns no worker
    checks: CheckContext | None = None

    def ocr_pool(self) -> Runner:
        if self.ocr is None:
            s = self.settings
            queue = s.ocr_queue if s.ocr_queue != "auto" else ("rq" if s.redis_url else "local")
            if queue == "rq" and s.redis_url:
                self.ocr = RqRunner(s.redis_url, timeout=s.ocr_timeout_seconds)
            else:
                self.ocr = OcrPool(
                    EngineConfig(s.ocr_engine, s.ocr_threads, s.ocr_paddle_model_dir),
                    workers=s.ocr_workers,
                    timeout=s.ocr_timeout_seconds,
                )
        return self.ocr

    def material_checks(self) -> CheckContext:
        if self.checks is None:
            self.checks = CheckContext(
                sessions=self.write_sessions,
                ctx=self.ctx,
                pool=self.ocr_pool(),
                publish=self.push.publish,
                wait_seconds=self.settings.ocr_upload_wait_seconds,
            )
        return self.checks


def app_state(request: Request) -> AppState:  # plain helper, not a dependency by itself
    return request.app.state.weijian


@asynccontextmanager
async def unit_of_work(maker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session whose transaction commits when the block ends and rolls back on any error."""
    async with maker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request. Writes on SQLite take the write lock up front (see case_core.db)."""
    state = app_state(request)
    async with unit_of_work(state.read_sessions if request.method in SAFE_METHODS else state.write_sessions) as s:
        yield s


def bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated()
    return token


async def current_applicant(request: Request) -> ApplicantPrincipal:
    return app_state(request).tokens.applicant(bearer(request))


async def current_staff(request: Request) -> StaffPrincipal:
    return app_state(request).tokens.staff(bearer(request))


async def current_staff_changing_password(request: Request) -> StaffPrincipal:
    """The caller even when their password must be changed first: for the password change and logout only."""
    return app_state(request).tokens.staff(bearer(request), password_change_ok=True)


async def request_info(request: Request) -> RequestInfo:
    return RequestInfo(ip=request.client.host if request.client else None, user_agent=request.headers.get("user-agent"))


async def core_context(request: Request) -> CoreContext:
    return app_state(request).ctx


async def now(request: Request) -> datetime:
    return app_state(request).clock()


async def read_detail(state: AppState, case_id: int) -> tuple[Any, queries.EventsPage] | None:
    """A case's detail row and latest events for a GET: the raw read pool on PostgreSQL, a session elsewhere."""
    if state.reads is not None:
        return await queries.pooled_case_row_with_events(state.reads, case_id, state.pages)
    async with state.read_sessions() as session:
        return await queries.case_row_with_events(session, case_id)


async def work_calendar(state: AppState) -> WorkCalendar:
    """The working-day calendar, from the process cache when fresh (no database round trip)."""
    cal = calendar.cached()
    if cal is None:
        async with state.read_sessions() as session:
            cal = await calendar.get_calendar(session)
    return cal


async def state_dep(request: Request) -> AppState:
    return app_state(request)


# Dependencies are ``async def`` on purpose: FastAPI runs plain ``def`` dependencies in a thread pool, a thread
# hop per dependency per request on the hot paths.
# scope="function": the transaction commits before the response is sent. (FastAPI's default closes yield
# dependencies after sending, so a client could be told "done" for a commit that then fails, or read stale data.)
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
CurrentApplicant = Annotated[ApplicantPrincipal, Depends(current_applicant)]
CurrentStaff = Annotated[StaffPrincipal, Depends(current_staff)]
CurrentStaffChangingPassword = Annotated[StaffPrincipal, Depends(current_staff_changing_password)]
InfoDep = Annotated[RequestInfo, Depends(request_info)]
CtxDep = Annotated[CoreContext, Depends(core_context)]
StateDep = Annotated[AppState, Depends(state_dep)]
NowDep = Annotated[datetime, Depends(now)]
