"""Time helpers. Instants are stored in UTC; working days are reckoned in China Standard Time (no DST)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

CST = timezone(timedelta(hours=8), "CST")


def utcnow() -> datetime:
    return datetime.now(UTC)


def local_date(instant: datetime) -> date:
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(CST).date()
