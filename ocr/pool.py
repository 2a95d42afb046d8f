"""Worker processes that each own one OCR engine, so CPU work never runs on the API's event loop.

A process pool rather than threads: the engine is not thread-safe, and the Python half of the work (geometry,
checks) would hold the GIL against the API. Workers start with ``spawn`` (never fork a process that runs an
event loop and database pools) and load their engine once. A job that outlives its timeout gets its pool
killed and replaced: a hung worker cannot block the next upload."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger("weijian.ocr")

_inspector: Any = None


@dataclass(frozen=True)
class EngineConfig:
    kind: str = "rapidocr"
    threads: int = 1
    paddle_model_dir: Path | None = None


def make_inspector(config: EngineConfig) -> Any:
    from ocr.engine import make_engine
    from ocr.inspect import Inspector
    from ocr.registry import load

    engine = make_engine(config.kind, threads=config.threads, paddle_model_dir=config.paddle_model_dir)
    return Inspector(engine, load())


def _init(config: EngineConfig) -> None:
    global _inspector
    _inspector = make_inspector(config)


def _run(data: bytes, expect: str | None, form: dict[str, Any] | None, today: str) -> dict[str, Any]:
    result = _inspector.inspect(data, expect=expect, form=form, today=date.fromisoformat(today))
    return result.as_dict(with_text=True)


def _warm() -> bool:
    return _inspector is not None


class OcrTimeout(Exception):
    pass


class Runner(Protocol):
    """Runs checks somewhere other than the event loop: OcrPool (local processes) or ocr.queue.RqRunner."""

    async def inspect(
        self, data: bytes, *, expect: str | None = None, form: dict[str, Any] | None = None, today: date
    ) -> dict[str, Any]: ...

    async def warm_up(self) -> None: ...

    def close(self) -> None: ...


class OcrPool:
    def __init__(self, config: EngineConfig, *, workers: int = 1, timeout: float = 60.0) -> None:
        self.config = config
        self.workers = max(1, workers)
        self.timeout = timeout
        self._executor: ProcessPoolExecutor | None = None

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init,
                initargs=(self.config,),
            )
        return self._executor

    def _kill(self) -> None:
        ex, self._executor = self._executor, None
        if ex is None:
            return
        # No public way to stop a running job: end the processes, then the executor.
        for proc in list(getattr(ex, "_processes", {}).values()):
            proc.kill()
        ex.shutdown(wait=False, cancel_futures=True)

    async def warm_up(self) -> None:
        """Start the workers and load their engines now, not on the first upload."""
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(self._pool(), _warm) for _ in range(self.workers)))

    async def inspect(
        self, data: bytes, *, expect: str | None = None, form: dict[str, Any] | None = None, today: date
    ) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        fut = loop.run_in_executor(self._pool(), _run, data, expect, form, today.isoformat())
        try:
            return await asyncio.wait_for(fut, self.timeout)
        except TimeoutError as exc:
            log.error("OCR job exceeded %.0fs; restarting the OCR workers", self.timeout)
            self._kill()
            raise OcrTimeout() from exc
        except BrokenProcessPool:
            log.error("an OCR worker died; restarting the OCR workers")
            self._kill()
            raise

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
