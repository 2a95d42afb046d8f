"""`weijian scheduler` (the scheduled jobs and a dispatcher loop, its own process) and `weijian dispatch`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
from typing import Any

from redis import asyncio as aioredis

from case_core.db import make_engine, make_sessionmaker, sqlite_write_transactions
from case_core.settings import Settings
from mobile_api.kv import MemoryRateLimiter, RedisRateLimiter
from mobile_api.push import PushHub
from notifiers import outbox, runtime, scheduler
from notifiers.jobs import JOBS, JobContext, run_job


def add_parser(sub: Any) -> None:
    p = sub.add_parser("scheduler", help="run the scheduled jobs (overdue scan, expiry reminders, briefings…)")
    p.add_argument("--no-dispatch", action="store_true", help="do not run a dispatcher loop in this process")
    p.add_argument("--run", choices=sorted(JOBS), help="run one job now and exit")
    d = sub.add_parser("dispatch", help="deliver queued notifications")
    d.add_argument("--once", action="store_true", help="deliver what is due, then exit")


async def _run(args: argparse.Namespace, settings: Settings) -> dict[str, Any] | None:
    engine = make_engine(settings.resolved_database_url, pool_size=5, max_overflow=5)
    if engine.dialect.name == "sqlite":
        sqlite_write_transactions(engine)
    sessions = make_sessionmaker(engine.execution_options(sqlite_immediate=True))
    redis = aioredis.Redis.from_url(settings.redis_url) if settings.redis_url else None
    hub = PushHub(redis, channel=settings.resolved_push_channel)  # in-app messages reach API workers via Redis
    outbox.install()
    dispatcher = runtime.dispatcher(
        settings,
        sessions,
        limiter=RedisRateLimiter(redis) if redis is not None else MemoryRateLimiter(),
        push=lambda topic, message: hub.publish(topic, message),
    )
    ctx = JobContext(
        sessions=sessions, settings=dispatcher.settings, yellow_days=settings.light_yellow_days, dispatcher=dispatcher
    )
    try:
        if args.command == "dispatch":
            if args.once:
                return {"attempted": await dispatcher.drain()}
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
            await dispatcher.run_forever(stop)
            return None
        if args.run:
            # The current slot, as the schedule would: a second process doing the same finds it taken.
            return await run_job(ctx, args.run, dispatcher.clock()) or {"skipped": "slot already run"}
        await scheduler.serve(ctx, settings.resolved_database_url, dispatch=not args.no_dispatch)
        return None
    finally:
        await hub.close()
        if redis is not None:
            with contextlib.suppress(Exception):
                await redis.aclose()
        await engine.dispose()


def run(args: argparse.Namespace, settings: Settings) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings.resolved_secret  # noqa: B018  (fail early without a key: phone numbers are encrypted with it)
    result = asyncio.run(_run(args, settings))
    if result is not None:
        print(json.dumps(result, ensure_ascii=False))
