"""A Redis-backed runner with the same ``inspect`` as ocr.pool.OcrPool: the job goes through rq to
``weijian ocr worker`` processes (on this machine or others sharing the Redis), the caller awaits its result.

rq's client is synchronous: every Redis call here runs in a thread, and the result is polled (a blocking wait
would hold one of the few default-executor threads for the whole job)."""

from __future__ import annotations

import asyncio
import time
from datetime import date
from typing import Any

from ocr.pool import OcrTimeout

QUEUE_NAME = "weijian-ocr"
POLL_SECONDS = 0.25


class OcrJobFailed(Exception):
    pass


class RqRunner:
    def __init__(self, redis_url: str, *, timeout: float = 60.0) -> None:
        from redis import Redis
        from rq import Queue

        self.timeout = timeout
        self.queue = Queue(QUEUE_NAME, connection=Redis.from_url(redis_url))

    async def inspect(
        self, data: bytes, *, expect: str | None = None, form: dict[str, Any] | None = None, today: date
    ) -> dict[str, Any]:
        from rq.results import Result

        job = await asyncio.to_thread(
            self.queue.enqueue,
            "ocr.jobs.inspect_job",
            data,
            expect,
            form,
            today.isoformat(),
            job_timeout=int(self.timeout),
            result_ttl=600,
            failure_ttl=3600,
            ttl=int(self.timeout) * 10,  # not started by then (no worker running): give up
        )
        deadline = time.monotonic() + self.timeout * 10
        while time.monotonic() < deadline:
            result = await asyncio.to_thread(job.latest_result)
            if result is not None:
                if result.type == Result.Type.SUCCESSFUL:
                    return dict(result.return_value or {})
                if "JobTimeoutException" in (result.exc_string or ""):
                    raise OcrTimeout()
                raise OcrJobFailed(result.exc_string)
            await asyncio.sleep(POLL_SECONDS)
        raise OcrTimeout()

    async def warm_up(self) -> None:
        return None

    def close(self) -> None:
        self.queue.connection.close()
