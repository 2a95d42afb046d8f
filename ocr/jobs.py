"""The material check as an rq job, for deployments with Redis: ``weijian ocr worker`` runs the jobs.

The worker is rq's ``SimpleWorker`` (jobs run in the worker process itself, no fork per job), so the OCR engine
is loaded once per worker process and reused. The job only reads and checks the image and returns the verdict;
the API process that queued it stores the result and tells the applicant (ocr.service)."""

from __future__ import annotations

from datetime import date
from typing import Any

from ocr.pool import EngineConfig, make_inspector

_inspector: Any = None
_config = EngineConfig()


def configure(config: EngineConfig) -> None:
    global _config, _inspector
    _config, _inspector = config, None


def inspect_job(data: bytes, expect: str | None, form: dict[str, Any] | None, today: str) -> dict[str, Any]:
    global _inspector
    if _inspector is None:
        _inspector = make_inspector(_config)
    result = _inspector.inspect(data, expect=expect, form=form, today=date.fromisoformat(today))
    return result.as_dict(with_text=True)


def run_worker(redis_url: str, config: EngineConfig, *, burst: bool = False) -> None:
    from redis import Redis
    from rq import Queue, SimpleWorker

    from ocr.queue import QUEUE_NAME

    configure(config)
    inspect_job(b"", None, None, date.today().isoformat())  # load the engine before taking the first job
    conn = Redis.from_url(redis_url)
    SimpleWorker([Queue(QUEUE_NAME, connection=conn)], connection=conn).work(burst=burst, logging_level="WARNING")
