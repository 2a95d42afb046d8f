"""WebSocket push: messages to whoever is connected, on any API worker.

Topics name the audience: ``applicant:{id}``, ``staff:{id}`` and ``dept:{path}`` (everyone whose data scope is that
department; a case's event goes to the topic of its department and of every department above it, because staff
see cases of their department and below). With Redis configured, every publish goes through one pub/sub channel
and each worker delivers to its own connections; without Redis (the embedded default, one worker) delivery is in
process. If Redis is down, a publish is delivered locally and the API carries on: a push is a courtesy, the
database stays the record (the applicant's progress, the inbox).

Slow consumers do not hold anyone up: each connection has a bounded queue and loses its oldest message first.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager, suppress
from typing import TYPE_CHECKING, Any

import orjson
from redis import asyncio as aioredis
from redis.exceptions import RedisError

from case_core import events

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from case_core.models import Case, CaseEvent

log = logging.getLogger(__name__)

CHANNEL = "weijian:push:0"  # the default; ``Settings.resolved_push_channel`` names a deployment's
QUEUE_SIZE = 100
SESSION_KEY = "weijian_push"  # where the write sessions carry the hub (``make_sessionmaker(info=...)``)

DepartmentPaths = Callable[[int], Awaitable[str]]
Handler = Callable[[dict[str, Any]], None]


def envelope(topics: str | Iterable[str], message: dict[str, Any]) -> bytes:
    """What goes over the pub/sub channel; a process without a hub (the console) publishes it with plain Redis."""
    return orjson.dumps({"topics": [topics] if isinstance(topics, str) else list(topics), "message": message})


def department_topics(path: str) -> list[str]:
    """``/440000/440300/`` → ``dept:/440000/``, ``dept:/440000/440300/``."""
    parts = [p for p in path.split("/") if p]
    return [f"dept:/{'/'.join(parts[: i + 1])}/" for i in range(len(parts))]


class PushHub:
    def __init__(
        self,
        redis: aioredis.Redis | None = None,
        department_path: DepartmentPaths | None = None,
        channel: str = CHANNEL,
    ) -> None:
        self._redis = redis
        self._channel = channel
        self._department_path = department_path
        self._subscribers: dict[str, set[asyncio.Queue[bytes]]] = defaultdict(set)
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        self._background: set[asyncio.Task[Any]] = set()
        self._handlers: dict[str, list[Handler]] = defaultdict(list)

    def on(self, topic: str, handler: Handler) -> None:
        """Call ``handler`` in this process with every message published to ``topic`` by any worker: state that
        every worker keeps and must hear of at once (revoked staff sessions, ``mobile_api.staff_sessions``).
        It runs in the listener, so it must not block; an exception is logged and the delivery goes on."""
        self._handlers[topic].append(handler)

    async def start(self) -> None:
        """Listen to the channel from now on even with no connection subscribed, so the handlers hear everything
        (the app's lifespan starts it; without Redis there is nothing to start)."""
        await self._ensure_listener()

    # ------------------------------------------------------------------------------------------ publishing

    async def publish(self, topics: str | Iterable[str], message: dict[str, Any]) -> None:
        payload = envelope(topics, message)
        if self._redis is not None:
            try:
                await self._redis.publish(self._channel, payload)
                return
            except (RedisError, OSError) as exc:
                log.warning("push: Redis publish failed (%s); delivering on this worker only", exc)
        self._deliver(payload)

    async def publish_case_event(self, applicant_id: int, department_id: int, message: dict[str, Any]) -> None:
        topics = [f"applicant:{applicant_id}"]
        if self._department_path is not None:
            topics += department_topics(await self._department_path(department_id))
        await self.publish(topics, message)

    def publish_case_event_soon(self, applicant_id: int, department_id: int, message: dict[str, Any]) -> None:
        """``publish_case_event`` without waiting, for synchronous callers (after-commit callbacks); ``close``
        sends what is still in flight."""
        self._soon(self.publish_case_event(applicant_id, department_id, message))

    def publish_soon(self, topics: str | Iterable[str], message: dict[str, Any]) -> None:
        """``publish`` without waiting, for synchronous callers."""
        self._soon(self.publish(topics, message))

    def _soon(self, publishing: Awaitable[None]) -> None:
        task = asyncio.ensure_future(publishing)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ------------------------------------------------------------------------------------------ delivering

    def _deliver(self, payload: bytes) -> None:
        data = orjson.loads(payload)
        message = orjson.dumps(data["message"])
        for topic in data["topics"]:
            for handler in self._handlers.get(topic, ()):
                try:
                    handler(data["message"])
                except Exception:
                    log.exception("push: handler of %s failed", topic)
            for queue in tuple(self._subscribers.get(topic, ())):
                if queue.full():
                    queue.get_nowait()  # a slow consumer loses its oldest message, nobody waits
                queue.put_nowait(message)

    @asynccontextmanager
    async def subscribe(self, topics: Iterable[str]) -> AsyncIterator[asyncio.Queue[bytes]]:
        """A queue of the JSON messages published to ``topics`` from now on, until the block exits."""
        queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=QUEUE_SIZE)
        topics = list(topics)
        for topic in topics:
            self._subscribers[topic].add(queue)
        try:
            await self._ensure_listener()
            yield queue
        finally:
            for topic in topics:
                self._subscribers[topic].discard(queue)
                if not self._subscribers[topic]:
                    del self._subscribers[topic]

    async def _ensure_listener(self) -> None:
        if self._redis is None:
            return
        if self._listener is None or self._listener.done():
            self._listening.clear()
            self._listener = asyncio.create_task(self._listen(self._redis))
        # Wait (briefly) until Redis has confirmed the subscription, so a publish right after connecting arrives.
        with suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), timeout=2)

    async def _listen(self, redis: aioredis.Redis) -> None:
        delay = 0.5
        while True:
            pubsub = redis.pubsub()
            try:
                await pubsub.subscribe(self._channel)
                while True:
                    msg = await pubsub.get_message(ignore_subscribe_messages=False, timeout=30)
                    if msg is None:
                        continue
                    if msg["type"] == "subscribe":
                        self._listening.set()
                        delay = 0.5
                    elif msg["type"] == "message":
                        self._deliver(msg["data"])
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                self._listening.clear()
                log.warning("push: Redis subscription lost (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10)
            finally:
                with suppress(Exception):
                    await pubsub.aclose()

    async def close(self) -> None:
        """Send what is still being published (briefly), then stop listening."""
        if self._background:
            await asyncio.wait(tuple(self._background), timeout=2)
        for task in tuple(self._background):
            task.cancel()
        if self._listener is not None:
            self._listener.cancel()
            with suppress(asyncio.CancelledError):
                await self._listener


def announce_case_event(session: AsyncSession | events.Changes, case: Case, event: CaseEvent) -> None:
    """The case core's listener: once the transaction commits, tell the applicant and the department's staff.

    The message carries no personal data: the serial number, the item, the action, the new status and step."""
    hub = session.info.get(SESSION_KEY)
    if not isinstance(hub, PushHub):
        return
    applicant_id, department_id = case.applicant_id, case.department_id
    message = {
        "type": "case_event",
        "case_id": case.id,
        "serial_no": case.serial_no,
        "item_name": case.item_name,
        "action": str(event.action),
        "status": str(case.status),
        "step_key": case.step_key,
        "step_role": case.step_role,
    }
    events.after_commit(session, lambda: hub.publish_case_event_soon(applicant_id, department_id, message))


events.add_listener(announce_case_event)
