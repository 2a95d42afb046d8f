"""The outbox writer: a case-event listener that adds a ``Notification`` row in the event's own transaction.

If the transaction rolls back, the row goes with it; if it commits, the row is there for the dispatcher even when
the process dies the next instant. The key ``ev:<case>:<n>`` (n = the case's event counter, under its optimistic
lock) names the event, so the same event can never be written twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from case_core import events
from case_core.domain.states import Status
from case_core.models import Licence
from notifiers.catalogue import ACTION_EVENTS, EVENTS
from notifiers.models import Notification

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from case_core.models import Case, CaseEvent


def case_values(case: Case) -> dict[str, Any]:
    return {
        "case_id": case.id,
        "serial_no": case.serial_no,
        "item_name": case.item_name,
        "applicant_name": case.applicant_name or "",
        "due": f"{case.due_date:%Y年%m月%d日}" if case.due_date else "",
    }


def on_case_event(session: AsyncSession | events.Changes, case: Case, event: CaseEvent) -> None:
    name = ACTION_EVENTS.get(event.action)
    if name is None:
        return
    if name == "approved" and event.to_status != Status.APPROVED:
        return  # an intermediate step's approval: the applicant hears when the decision is final
    values = case_values(case)
    values["opinion"] = event.opinion or ""
    if event.data and event.data.get("defects") and not event.opinion:
        values["opinion"] = "；".join(f"{d['label']}：{d['reason']}" for d in event.data["defects"])[:200]
    if event.data and event.data.get("days"):
        values["days"] = event.data["days"]
    if name == "licence_issued":
        licence = next((o for o in session.new if isinstance(o, Licence) and o.case_id == case.id), None)
        values["licence_no"] = licence.licence_no if licence else ""
    events.add_row(
        session,
        Notification,
        key=f"ev:{case.id}:{case.event_count}",
        event=name,
        case_id=case.id,
        audience="applicant",
        recipient_id=case.applicant_id,
        urgent=EVENTS[name].urgent,
        data=values,
        created_at=event.at,
    )


def install() -> None:
    """Register the writer (idempotent). Called by every process that changes cases: the API and the scheduler."""
    events.add_listener(on_case_event)
