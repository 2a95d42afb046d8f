"""Which staff tokens still hold: per account, the oldest token generation still valid.

Tokens are stateless JWTs checked without a database read on every request (the task list's budget is a
fraction of a millisecond), so revoking them needs state somewhere. Each account has a ``token_version`` (case_core
``Staff``) that a disable, password reset or change, a change of roles or department and a logout raise; a token
carries the version it was issued under, and this register (one per process, a dict lookup per request) refuses
tokens of an older one.

It learns of a raise three ways:

- at once from a change made through this process (``announce``, after the commit);
- at once from a change made by another API worker or the ``weijian staff`` CLI when Redis is configured: the
  change is published on the push hub's pub/sub channel (topic ``staff_sessions``) and every worker's hub hands
  it to ``_heard`` (``mobile_api.push.PushHub.on``);
- and, as the fallback when a message is lost (Redis down or reconnecting, SQLite without Redis, a CLI that could
  not reach Redis), by re-reading the accounts whose version is above zero every
  ``staff_sessions_refresh_seconds`` (a few hundred rows at most; the bound on how long such a token still works).

Versions only grow, so merging with ``max`` is safe whichever source arrives first, however often.

The message also goes to the account's own push topic (``staff:{id}``): its open WebSockets wake up, find their
token revoked and close (``mobile_api.routers.ws``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from case_core.models import Staff

if TYPE_CHECKING:
    from mobile_api.push import PushHub

log = logging.getLogger("weijian.staff_sessions")

TOPIC = "staff_sessions"  # not a WebSocket topic: no client can subscribe to it (``ws.topics_for``)


def revocation(staff_id: int, version: int) -> tuple[list[str], dict[str, Any]]:
    """The push topics and message announcing that ``staff_id``'s tokens older than ``version`` are revoked."""
    return [TOPIC, f"staff:{staff_id}"], {"type": "session_revoked", "staff_id": staff_id, "version": version}


class StaffSessions:
    def __init__(self) -> None:
        self._floor: dict[int, int] = {}
        self._push: PushHub | None = None

    def attach(self, push: PushHub) -> None:
        """Hear of revocations from every worker through ``push`` and announce this process's own there."""
        self._push = push
        push.on(TOPIC, self._heard)

    def announce(self, staff_id: int, version: int) -> None:
        """A change committed here raised the account's version: apply it now, and tell the other workers."""
        self.revoke_before(staff_id, version)
        if self._push is not None:
            self._push.publish_soon(*revocation(staff_id, version))

    def _heard(self, message: dict[str, Any]) -> None:
        self.revoke_before(int(message["staff_id"]), int(message["version"]))

    def valid(self, staff_id: int, generation: int) -> bool:
        return generation >= self._floor.get(staff_id, 0)

    def revoke_before(self, staff_id: int, generation: int) -> None:
        if generation > self._floor.get(staff_id, 0):
            self._floor[staff_id] = generation

    async def refresh(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        async with sessions() as session:
            rows = (await session.execute(select(Staff.id, Staff.token_version).where(Staff.token_version > 0))).all()
        for staff_id, version in rows:
            self.revoke_before(staff_id, version)

    async def run(self, sessions: async_sessionmaker[AsyncSession], interval: float) -> None:
        """Refresh forever (a task of the app's lifespan); a failed read is logged and retried next time."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.refresh(sessions)
            except Exception:
                log.exception("could not refresh the revoked staff sessions")
