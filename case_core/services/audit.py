"""The audit log: every transition and every staff read of personal data."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from case_core.models import AuditEntry
from case_core.principals import RequestInfo


def record(
    session: AsyncSession,
    *,
    actor_type: str,
    actor_id: int | None,
    action: str,
    now: datetime,
    info: RequestInfo | None = None,
    case_id: int | None = None,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    session.add(
        AuditEntry(
            at=now,
            actor_type=actor_type,
            actor_id=actor_id,
            action=action,
            case_id=case_id,
            target=target,
            detail=detail,
            ip=info.ip if info else None,
        )
    )
