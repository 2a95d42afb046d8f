"""The dispatcher: expands outbox rows into deliveries, claims deliveries with a lease, sends, records.

Exactly once, as far as a sender can make it:
* expansion inserts each delivery under its idempotency key (notification × recipient × channel) with
  ON CONFLICT DO NOTHING, and marks the outbox row expanded in the same transaction;
* a claim is one UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING on PostgreSQL (two dispatchers
  never claim the same row), the same statement under SQLite's BEGIN IMMEDIATE write lock elsewhere; it sets a lease;
* each result is written in its own short transaction, conditional on still holding the lease; in-app messages are
  written to the inbox in that same transaction, so they are exactly once outright;
* a dispatcher killed mid-batch leaves its rows ``sending`` with a lease that runs out; the next claim takes them.
The one window no sender can close is a provider that accepted a message just before the process died and before
the result was committed: that message is sent again after the lease. The key goes to the provider (Aliyun OutId,
Tencent SessionContext, the e-mail Message-ID) so receipts and duplicates can be matched.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, func, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from case_core.crypto import FieldCipher
from case_core.models import Applicant, Case, Department, Staff
from case_core.timeutil import CST, utcnow
from notifiers import templates
from notifiers.catalogue import EVENTS
from notifiers.channels.base import Channel, Message, Outcome
from notifiers.models import ChannelRule, Delivery, InboxMessage, Notification, Preference, StaffPreference
from notifiers.settings import NotifySettings

log = logging.getLogger("weijian.notify")
deliveries = cast(Table, Delivery.__table__)

QUEUED, SENDING, SENT, DELIVERED, FAILED, FALLBACK, SKIPPED = (
    "queued",
    "sending",
    "sent",
    "delivered",
    "failed",
    "fallback",
    "skipped",
)
DEFAULT_APPLICANT_CHANNELS = ("wechat", "sms")
EXTERNAL = frozenset({"wechat", "wechat_mp", "sms", "email"})

Push = Callable[[str, dict[str, Any]], Awaitable[None]]


@dataclass
class Dispatcher:
    sessions: async_sessionmaker[AsyncSession]
    cipher: FieldCipher
    channels: dict[str, Channel]
    settings: NotifySettings
    limiter: Any = None  # RateLimiter (Redis or memory); None: no per-recipient limit
    push: Push | None = None
    owner: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{random.getrandbits(32):x}")
    clock: Callable[[], datetime] = utcnow
    _chains: dict[str, tuple[str, ...]] = field(default_factory=dict)  # operators' rules, reloaded per expansion

    # ------------------------------------------------------------------------------------------------ policy
    def backoff(self, attempts: int, retry_after: float | None = None) -> float:
        """Exponential backoff with full jitter: uniform(0, min(max, base·2^(n-1))), never below the provider's
        own retry-after."""
        s = self.settings
        ceiling = min(s.backoff_max_seconds, s.backoff_base_seconds * 2 ** max(attempts - 1, 0))
        return max(random.uniform(ceiling / 2, ceiling), retry_after or 0.0)

    def quiet_until(self, now: datetime) -> datetime | None:
        """End of the quiet hours if ``now`` falls in them, else None."""
        s = self.settings
        local = now.astimezone(CST)
        start, end = s.quiet_start_hour, s.quiet_end_hour
        quiet = (local.hour >= start or local.hour < end) if start > end else (start <= local.hour < end)
        if not quiet:
            return None
        morning = local.replace(hour=end, minute=0, second=0, microsecond=0)
        if local.hour >= end:
            morning += timedelta(days=1)
        return morning.astimezone(UTC)

    def chain_for(self, event: str) -> tuple[str, ...]:
        """Fallback order: an operator's rule (table), else the configuration, else the catalogue."""
        if event in self._chains:  # an empty rule means in-app only
            return self._chains[event]
        return self.settings.chains.get(event) or EVENTS[event].chain

    # ------------------------------------------------------------------------------------------------ expand
    async def expand(self, limit: int = 200) -> int:
        """Turn pending outbox rows into deliveries. Idempotent: a crash between the inserts and the commit
        leaves nothing; a second expander skips the rows the first one holds (SKIP LOCKED)."""
        now = self.clock()
        async with self.sessions() as session, session.begin():
            rows = (
                await session.scalars(
                    select(Notification)
                    .where(Notification.expanded_at.is_(None))
                    .order_by(Notification.id)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            applicants = {n.recipient_id for n in rows if n.audience == "applicant" and n.recipient_id is not None}
            if applicants:  # into the identity map: the per-row lookups below then cost no query
                (await session.scalars(select(Preference).where(Preference.applicant_id.in_(applicants)))).all()
            cache: dict[tuple[str, str], Any] = {}
            self._chains = {r.event: tuple(r.chain) for r in (await session.scalars(select(ChannelRule))).all()}
            planned = [(n, await self._recipients(session, n)) for n in rows]
            staff_ids = {rid for _, recipients in planned for rtype, rid, _ in recipients if rtype == "staff"}
            chosen = await _staff_channels(session, staff_ids)
            values = []
            for n, recipients in planned:
                for rtype, rid, chain in recipients:
                    if rtype == "staff" and rid in chosen:
                        chain = _preferred(chain, chosen[rid])
                    values += await self._deliveries_for(session, n, rtype, rid, chain, now, cache)
                n.expanded_at = now
            for start in range(0, len(values), 500):
                await _insert_ignore(session, values[start : start + 500])
            return len(rows)

    async def _recipients(self, session: AsyncSession, n: Notification) -> list[tuple[str, int, tuple[str, ...]]]:
        """(recipient type, id, external channels in fallback order) for a notification."""
        chain = self.chain_for(n.event)
        if n.audience == "applicant" and n.recipient_id is not None:
            pref = await session.get(Preference, n.recipient_id)
            ordered = _preferred(chain, tuple(pref.channels) if pref else DEFAULT_APPLICANT_CHANNELS)
            if "wechat" in ordered:  # a subscribe message needs a consent the applicant gave for this event
                consents = dict(pref.subscribe_consents) if pref else {}
                if int(consents.get(n.event, 0)) > 0 and pref is not None:
                    consents[n.event] = int(consents[n.event]) - 1
                    pref.subscribe_consents = consents
                else:
                    ordered = tuple(c for c in ordered if c != "wechat")
            return [("applicant", n.recipient_id, ordered)]
        if n.recipient_id is not None:  # one staff member (a leader's briefing); their own channels apply at expansion
            return [("staff", n.recipient_id, chain)]
        if n.case_id is None:
            return []
        # Staff reminders for a case: the staff in charge of its department who hold the role of its current step.
        case = (
            await session.execute(
                select(
                    Case.department_id,
                    Case.step_role,
                    Case.serial_no,
                    Case.item_name,
                    Case.applicant_name,
                    Case.due_date,
                ).where(Case.id == n.case_id)
            )
        ).one_or_none()
        if case is None:
            return []
        # Scans write only the key: the texts' values come from the case as it is now.
        n.data = {
            "serial_no": case.serial_no,
            "item_name": case.item_name,
            "applicant_name": case.applicant_name or "",
            "due": f"{case.due_date:%Y年%m月%d日}" if case.due_date else "",
            **(n.data or {}),
        }
        # Staff see the cases of their department and of those below it (materialised paths).
        case_path = await session.scalar(select(Department.path).where(Department.id == case.department_id))
        staff = (
            await session.execute(
                select(Staff.id, Staff.roles)
                .join(Department, Department.id == Staff.department_id)
                .where(literal(case_path or "").like(Department.path + "%"), Staff.active.is_(True))
            )
        ).all()
        role = case.step_role or (n.data or {}).get("role")
        return [("staff", s.id, chain) for s in staff if role is None or role in (s.roles or [])]

    async def _deliveries_for(
        self,
        session: AsyncSession,
        n: Notification,
        rtype: str,
        rid: int,
        chain: tuple[str, ...],
        now: datetime,
        cache: dict[tuple[str, str], Any],
    ) -> list[dict[str, Any]]:
        """The in-app message, always, and the first external channel of the chain with the rest as its fallback."""
        out = [await self._delivery(session, n, rtype, rid, "inapp", (), now, cache)]
        if chain:
            out.append(await self._delivery(session, n, rtype, rid, chain[0], chain[1:], now, cache))
        return out

    async def _delivery(
        self,
        session: AsyncSession,
        n: Notification,
        rtype: str,
        rid: int,
        channel: str,
        fallback: tuple[str, ...],
        now: datetime,
        cache: dict[tuple[str, str], Any] | None = None,
    ) -> dict[str, Any]:
        cache = {} if cache is None else cache
        if (n.event, channel) not in cache:
            cache[n.event, channel] = await templates.active(session, n.event, channel)
        rendered = templates.render(cache[n.event, channel], n.data or {})
        due = now
        if channel == "sms" and not n.urgent:
            due = self.quiet_until(now) or now
        return {
            "key": f"{n.key}:{rtype}:{rid}:{channel}",
            "notification_id": n.id,
            "event": n.event,
            "case_id": n.case_id,
            "recipient_type": rtype,
            "recipient_id": rid,
            "channel": channel,
            "provider": getattr(self.channels.get(channel), "provider", None),
            "fallback": list(fallback),
            "urgent": n.urgent,
            "title": rendered.title,
            "body": rendered.body,
            "params": {
                "fields": rendered.fields,
                "template": rendered.provider_template,
                "values": {k: str(v) for k, v in (n.data or {}).items()},
            },
            "template_version": rendered.version,
            "status": QUEUED,
            "attempts": 0,
            "max_attempts": self.settings.max_attempts,
            "next_attempt_at": due,
            "created_at": now,
            "updated_at": now,
        }

    # ------------------------------------------------------------------------------------------------ claim
    async def claim(self, limit: int) -> list[Any]:
        now = self.clock()
        c = deliveries.c
        ready = or_(
            and_(c.status == QUEUED, c.next_attempt_at <= now),
            and_(c.status == SENDING, c.lease_until < now),  # a dispatcher died holding it
        )
        ids = select(c.id).where(ready).order_by(c.next_attempt_at, c.id).limit(limit).with_for_update(skip_locked=True)
        stmt = (
            update(deliveries)
            .where(c.id.in_(ids.scalar_subquery()), ready)
            .values(
                status=SENDING,
                attempts=c.attempts + 1,
                lease_until=now + timedelta(seconds=self.settings.lease_seconds),
                lease_owner=self.owner,
                updated_at=now,
            )
            .returning(*c)
        )
        async with self.sessions() as session, session.begin():
            return list((await session.execute(stmt)).all())

    # ------------------------------------------------------------------------------------------------ send
    async def run_once(self) -> int:
        """Expand, claim one batch, send it. Returns the number of deliveries attempted."""
        await self.expand()
        batch = await self.claim(self.settings.dispatch_batch)
        if not batch:
            return 0
        addresses = await self._addresses(batch)
        gate = asyncio.Semaphore(self.settings.dispatch_concurrency)

        async def one(row: Any) -> None:
            async with gate:
                try:
                    await self._deliver(row, addresses)
                except Exception:  # one bad message must not stop the batch; its lease will expire
                    log.exception("delivery %s failed unexpectedly", row.id)

        # In-app messages first, all in one transaction and in order: local writes, and the inbox keeps event order.
        await self._deliver_inapp([r for r in batch if r.channel == "inapp"], self.clock())
        await asyncio.gather(*(one(r) for r in batch if r.channel != "inapp"))
        return len(batch)

    async def drain(self, max_rounds: int = 1000) -> int:
        """Run until nothing is due (tests, `weijian dispatch --once`)."""
        total = 0
        for _ in range(max_rounds):
            n = await self.run_once()
            total += n
            if n == 0:
                break
        return total

    async def run_forever(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                n = await self.run_once()
            except Exception:
                log.exception("dispatch round failed; retrying")
                n = 0
            if n == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.settings.dispatch_idle_seconds)

    async def _addresses(self, batch: list[Any]) -> dict[tuple[str, int], dict[str, str | None]]:
        """Each external recipient's address per channel, read at send time (a contact added after the expansion
        is used), one query per kind of recipient in the batch."""
        wanted: dict[str, set[int]] = {"applicant": set(), "staff": set()}
        for r in batch:
            if r.channel in EXTERNAL and r.recipient_type in wanted:
                wanted[r.recipient_type].add(r.recipient_id)
        if not wanted["applicant"] and not wanted["staff"]:
            return {}
        clear = self.cipher.decrypt
        out: dict[tuple[str, int], dict[str, str | None]] = {}
        async with self.sessions() as session:
            if wanted["applicant"]:
                a = Applicant
                for r in await session.execute(
                    select(a.id, a.openid, a.phone_enc, a.email).where(a.id.in_(wanted["applicant"]))
                ):
                    phone = clear(r.phone_enc) if r.phone_enc else None
                    out["applicant", r.id] = {"wechat": r.openid, "sms": phone, "email": r.email, "wechat_mp": None}
            if wanted["staff"]:
                for r in await session.execute(
                    select(Staff.id, Staff.phone_enc, Staff.email_enc, Staff.mp_openid_enc).where(
                        Staff.id.in_(wanted["staff"])
                    )
                ):
                    out["staff", r.id] = {
                        "wechat": None,  # subscribe messages are the mini-program's, for applicants
                        "wechat_mp": clear(r.mp_openid_enc) if r.mp_openid_enc else None,
                        "sms": clear(r.phone_enc) if r.phone_enc else None,
                        "email": clear(r.email_enc) if r.email_enc else None,
                    }
        return out

    async def _deliver(self, row: Any, addresses: dict[tuple[str, int], dict[str, str | None]]) -> None:
        now = self.clock()
        if row.attempts > row.max_attempts:  # a lease that ran out on the last attempt
            await self._finish(row, Outcome("failed", error=row.error or "attempts exhausted"), now)
            return
        if row.channel == "sms" and not row.urgent:
            morning = self.quiet_until(now)
            if morning is not None:
                await self._hold(row, morning, "quiet hours")
                return
        to = (addresses.get((row.recipient_type, row.recipient_id)) or {}).get(row.channel)
        channel = self.channels.get(row.channel)
        if channel is None or not to:
            why = "channel not configured" if channel is None else "recipient has no address for this channel"
            await self._finish(row, Outcome("fallback", error=why), now, skipped=True)
            return
        if self.limiter is not None and self.settings.rate_limit_per_hour > 0:
            allowed = await self.limiter.hit(
                f"notify:{row.recipient_type}:{row.recipient_id}:{row.channel}", self.settings.rate_limit_per_hour, 3600
            )
            if not allowed:
                await self._hold(row, now + timedelta(minutes=10), "rate limited (per recipient)")
                return
        params = row.params or {}
        message = Message(
            key=row.key,
            to=to,
            title=row.title,
            body=row.body,
            fields=params.get("fields") or {},
            provider_template=params.get("template"),
            params=params.get("values") or {},
        )
        outcome = await channel.send(message)
        await self._finish(row, outcome, self.clock())

    async def _deliver_inapp(self, rows: list[Any], now: datetime) -> None:
        """Write the in-app messages to the inboxes in the same transaction that marks them delivered: exactly
        once outright. Then push them to whoever is connected (after the commit: never announce a rollback)."""
        if not rows:
            return
        c = deliveries.c
        async with self.sessions() as session, session.begin():
            owned = set(
                (
                    await session.execute(
                        update(deliveries)
                        .where(c.id.in_([r.id for r in rows]), c.lease_owner == self.owner, c.status == SENDING)
                        .values(status=DELIVERED, sent_at=now, lease_until=None, updated_at=now, error=None)
                        .returning(c.id)
                    )
                ).scalars()
            )  # rows whose lease ran out were taken by another dispatcher: theirs now
            messages = [
                InboxMessage(
                    delivery_id=r.id,
                    recipient_type=r.recipient_type,
                    recipient_id=r.recipient_id,
                    event=r.event,
                    case_id=r.case_id,
                    title=r.title,
                    body=r.body,
                    created_at=now,
                )
                for r in sorted(rows, key=lambda r: r.id)
                if r.id in owned
            ]
            session.add_all(messages)
            await session.flush()
        if self.push is None:
            return
        for m in messages:
            payload = {
                "type": "inbox",
                "id": m.id,
                "event": m.event,
                "case_id": m.case_id,
                "title": m.title,
                "body": m.body,
                "created_at": now.isoformat(),
            }
            try:
                await self.push(f"{m.recipient_type}:{m.recipient_id}", payload)
            except Exception:  # the inbox has it; a push is a courtesy
                log.warning("push of inbox message %s failed", m.id, exc_info=True)

    async def _hold(self, row: Any, until: datetime, why: str) -> None:
        """Put a claimed row back without counting the attempt (quiet hours, rate limit)."""
        async with self.sessions() as session, session.begin():
            await session.execute(
                update(deliveries)
                .where(
                    deliveries.c.id == row.id, deliveries.c.lease_owner == self.owner, deliveries.c.status == SENDING
                )
                .values(
                    status=QUEUED,
                    attempts=deliveries.c.attempts - 1,
                    next_attempt_at=until,
                    lease_until=None,
                    error=why,
                    updated_at=self.clock(),
                )
            )

    async def _finish(self, row: Any, outcome: Outcome, now: datetime, skipped: bool = False) -> None:
        c = deliveries.c
        mine = and_(c.id == row.id, c.lease_owner == self.owner, c.status == SENDING)
        values: dict[str, Any] = {"lease_until": None, "updated_at": now, "error": outcome.error}
        next_channel: str | None = None
        if outcome.kind == "sent":
            values.update(status=SENT, sent_at=now, provider_message_id=outcome.provider_message_id)
        elif outcome.kind == "retry" and row.attempts < row.max_attempts:
            values.update(
                status=QUEUED, next_attempt_at=now + timedelta(seconds=self.backoff(row.attempts, outcome.retry_after))
            )
        else:
            # fallback, failed, or retries exhausted: the next channel in the chain, else the dead-letter list.
            if row.fallback:
                next_channel = row.fallback[0]
                values.update(status=SKIPPED if skipped else FALLBACK)
            else:
                values.update(status=SKIPPED if skipped else FAILED)
        async with self.sessions() as session, session.begin():
            done = await session.execute(update(deliveries).where(mine).values(**values))
            if done.rowcount != 1:  # type: ignore[attr-defined]
                log.warning("delivery %s: lease lost before the result was recorded", row.id)
                return
            if next_channel is not None:
                n = await session.get(Notification, row.notification_id)
                if n is not None:
                    await _insert_ignore(
                        session,
                        await self._delivery(
                            session, n, row.recipient_type, row.recipient_id, next_channel, tuple(row.fallback[1:]), now
                        ),
                    )


def _preferred(chain: tuple[str, ...], chosen: tuple[str, ...]) -> tuple[str, ...]:
    """The chain's channels the recipient chose, in the chain's order, then their other choices."""
    return tuple(c for c in chain if c in chosen) + tuple(c for c in chosen if c not in chain)


async def _staff_channels(session: AsyncSession, staff_ids: set[int]) -> dict[int, tuple[str, ...]]:
    """The staff among ``staff_ids`` who chose their channels (one query per expansion, none without staff)."""
    if not staff_ids:
        return {}
    rows = await session.execute(
        select(StaffPreference.staff_id, StaffPreference.channels).where(StaffPreference.staff_id.in_(staff_ids))
    )
    return {sid: tuple(channels or ()) for sid, channels in rows}


async def _insert_ignore(session: AsyncSession, values: dict[str, Any] | list[dict[str, Any]]) -> None:
    """INSERT … ON CONFLICT (key) DO NOTHING (one row or many in one statement), on either backend."""
    if not values:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    await session.execute(insert(deliveries).values(values).on_conflict_do_nothing(index_elements=["key"]))


# ---------------------------------------------------------------------------------------------------- operators
async def requeue(session: AsyncSession, delivery_id: int, now: datetime) -> bool:
    """An operator's retry of a dead letter: back to the queue with a fresh attempt budget."""
    done = await session.execute(
        update(deliveries)
        .where(deliveries.c.id == delivery_id, deliveries.c.status == FAILED)
        .values(status=QUEUED, attempts=0, next_attempt_at=now, error=None, lease_until=None, updated_at=now)
    )
    return done.rowcount == 1  # type: ignore[attr-defined]


async def counts(session: AsyncSession) -> dict[str, int]:
    rows = (await session.execute(select(deliveries.c.status, func.count()).group_by(deliveries.c.status))).all()
    return {status: n for status, n in rows}
