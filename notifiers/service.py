"""The notifications inside the API process: the outbox writer, a dispatcher loop, the jobs' context and admin."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request

from mobile_api.deps import AppState
from notifiers import outbox, runtime
from notifiers.dispatcher import Dispatcher
from notifiers.jobs import JobContext
from notifiers.scheduler import JobAdmin
from notifiers.settings import NotifySettings


@dataclass
class NotifyService:
    dispatcher: Dispatcher
    jobs: JobContext
    admin: JobAdmin
    settings: NotifySettings
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Run a dispatcher loop in this worker (``WEIJIAN_NOTIFY_DISPATCH_IN_API``, on by default): in-app messages
        are then pushed through this worker's hub. Several workers may all run one: claims never overlap."""
        if self.settings.notify_dispatch_in_api and self._task is None:
            self._stop.clear()
            self._task = asyncio.create_task(self.dispatcher.run_forever(self._stop))

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task
            self._task = None
        await asyncio.to_thread(self.admin.close)


def setup(state: AppState, ns: NotifySettings | None = None) -> NotifyService:
    outbox.install()
    ns = ns or NotifySettings(data_dir=state.settings.data_dir)

    async def push(topic: str, message: dict[str, Any]) -> None:
        await state.push.publish(topic, message)

    dispatcher = runtime.dispatcher(state.settings, state.write_sessions, ns=ns, limiter=state.limiter, push=push)
    jobs = JobContext(
        sessions=state.write_sessions, settings=ns, yellow_days=state.settings.light_yellow_days, dispatcher=dispatcher
    )
    return NotifyService(
        dispatcher=dispatcher, jobs=jobs, admin=JobAdmin(state.settings.resolved_database_url), settings=ns
    )


def install(app: FastAPI, state: AppState) -> NotifyService:
    service = setup(state)
    app.state.notify = service
    return service


def get(request: Request) -> NotifyService:
    return request.app.state.notify
