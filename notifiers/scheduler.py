"""The scheduler process (`weijian scheduler`): APScheduler 3 with its jobs in the database.

The job store is APScheduler's ``SQLAlchemyJobStore`` (synchronous: psycopg2 on PostgreSQL, the stdlib sqlite3 on
SQLite), table ``apscheduler_jobs`` (created by migration 0005). Jobs are stored by textual reference
(``notifiers.scheduler:execute``) with the job id as argument, so a stored job survives restarts and upgrades.
Pausing, resuming and the next run time live in that table: the operators' API changes them there, and the
scheduler process, which wakes every few seconds, sees the change.

Two scheduler processes started by mistake both fire each job; ``jobs.run_job`` lets one run per slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from sqlalchemy.engine import make_url

from case_core.timeutil import utcnow
from notifiers.jobs import JOBS, JobContext, run_job

log = logging.getLogger("weijian.scheduler")
TZ = ZoneInfo("Asia/Shanghai")
TABLE = "apscheduler_jobs"

_context: JobContext | None = None  # set by the scheduler process; read by ``execute``


def sync_url(async_url: str) -> str:
    url = make_url(async_url)
    driver = "sqlite" if url.get_backend_name() == "sqlite" else "postgresql+psycopg2"
    return url.set(drivername=driver).render_as_string(hide_password=False)


def jobstore(async_url: str) -> SQLAlchemyJobStore:
    return SQLAlchemyJobStore(url=sync_url(async_url), tablename=TABLE)


async def execute(job_id: str) -> dict[str, Any] | None:
    """What APScheduler calls (by textual reference). Runs the job for the current slot."""
    if _context is None:
        raise RuntimeError("scheduler context not initialised")
    return await run_job(_context, job_id, utcnow())


def register(scheduler: BaseScheduler) -> None:
    """Add the jobs that are not yet stored; keep the stored ones (their pause state and next run) as they are."""
    for spec in JOBS.values():
        if scheduler.get_job(spec.id) is None:
            trigger = dict(spec.trigger)
            scheduler.add_job(
                "notifiers.scheduler:execute",
                trigger.pop("trigger"),
                args=[spec.id],
                id=spec.id,
                name=spec.name,
                replace_existing=True,
                coalesce=True,  # after downtime, one catch-up run, not one per missed period
                misfire_grace_time=3600,
                max_instances=1,
                **trigger,
            )


def make_scheduler(async_url: str) -> AsyncIOScheduler:
    return AsyncIOScheduler(
        jobstores={"default": jobstore(async_url)}, executors={"default": AsyncIOExecutor()}, timezone=TZ
    )


class JobAdmin:
    """The operators' view of the stored jobs: a scheduler started paused (documented APScheduler usage for
    managing jobs from another process), so it reads and writes the job store without running anything."""

    def __init__(self, async_url: str) -> None:
        self._url = async_url
        self._scheduler: BackgroundScheduler | None = None

    def _sched(self) -> BackgroundScheduler:
        if self._scheduler is None:
            sched = BackgroundScheduler(jobstores={"default": jobstore(self._url)}, timezone=TZ)
            sched.start(paused=True)
            register(sched)
            self._scheduler = sched
        return self._scheduler

    def list(self) -> list[dict[str, Any]]:
        out = []
        for job in self._sched().get_jobs():
            out.append(
                {
                    "id": job.id,
                    "name": job.name,
                    "trigger": str(job.trigger),
                    "next_run_at": job.next_run_time.isoformat() if job.next_run_time else None,
                    "paused": job.next_run_time is None,
                }
            )
        return out

    def pause(self, job_id: str) -> None:
        self._sched().pause_job(job_id)

    def resume(self, job_id: str) -> None:
        self._sched().resume_job(job_id)

    def close(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None


async def serve(context: JobContext, async_url: str, *, dispatch: bool = True, wake_seconds: float = 5.0) -> None:
    """Run the scheduler (and, by default, a dispatcher loop) until SIGTERM/SIGINT."""
    global _context
    _context = context
    scheduler = make_scheduler(async_url)
    scheduler.start()
    register(scheduler)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks = []
    if dispatch and context.dispatcher is not None:
        tasks.append(asyncio.create_task(context.dispatcher.run_forever(stop)))
    log.info("scheduler started: %s", ", ".join(JOBS))
    while not stop.is_set():
        # Wake up now and then: a job resumed or re-timed through the API is seen within ``wake_seconds``.
        scheduler.wakeup()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=wake_seconds)
    scheduler.shutdown(wait=False)
    for t in tasks:
        await t


def now_local() -> datetime:
    return datetime.now(TZ)
