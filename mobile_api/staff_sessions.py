"""Which staff tokens still hold: per account, the oldest token generation still valid.

Tokens are stateless JWTs checked without a database read on every request (the task list's budget is a
fraction of a millisecond), so revoking them needs state somewhere. Each account has a ``token_version`` (case_core
``Staff``) that a disable, password reset or change, a change of roles or department and a logout raise; a token
carries the version it was issued under, and this register (one per process, a dict lookup per request) refuses
tokens of an older one.

It learns of a raise two ways: at once from a change made through this process (``revoke_before``, after the
commit), and from changes made elsewhere — other API workers, the ``weijian staff`` CLI — by re-reading the
accounts whose version is above zero every ``staff_sessions_refresh_seconds`` (a few hundred rows at most; the
delay is the bound on how long a token revoked by another process still works). Versions only grow, so merging
with ``max`` is safe whichever of the two arrives first.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from case_core.models import Staff

log = logging.getLogger("weijian.staff_sessions")


class StaffSessions:
    def __init__(self) -> None:
        self._floor: dict[int, int] = {}

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
