"""Case events, for the packages that hang on the case core (notifications, push, bot).

``case_core`` imports none of them; they register here instead. Two kinds of listener:

* **in-transaction** (``add_listener``): called synchronously by the case service right after a timeline event is
  added, inside the same transaction. It may ``session.add()`` rows (an outbox row, say) so that they commit or roll
  back together with the event; it must do no I/O of its own. ``case`` and ``event`` are to be read, not changed
  or attached to new rows: refer to them by id (``case.id``). They are the ORM objects on the general path and
  read-only snapshots with the same column attributes on PostgreSQL's submission path (``services.submit_pg``);
  ``event.id`` may still be None on the general path (the event is flushed with the transaction).
* **after-commit** (``after_commit``): a callback queued on the session that runs once the transaction has
  committed (and is dropped on rollback). That is the place for pushes over a WebSocket: never announce what might
  still roll back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from case_core.models import Case, CaseEvent

Listener = Callable[["AsyncSession", "Case", "CaseEvent"], None]

_listeners: list[Listener] = []
_PENDING = "weijian_after_commit"


def add_listener(fn: Listener) -> None:
    if fn not in _listeners:
        _listeners.append(fn)


def remove_listener(fn: Listener) -> None:
    if fn in _listeners:
        _listeners.remove(fn)


def emit(session: AsyncSession, case: Case, event: CaseEvent) -> None:
    for fn in tuple(_listeners):
        fn(session, case, event)


def after_commit(session: AsyncSession, callback: Callable[[], Any]) -> None:
    """Run ``callback()`` after ``session``'s transaction commits. Exceptions it raises are the callback's
    business: they are logged by SQLAlchemy's event machinery and never undo the commit."""
    session.sync_session.info.setdefault(_PENDING, []).append(callback)


@sa_event.listens_for(Session, "after_commit")
def _run_pending(session: Session) -> None:
    for callback in session.info.pop(_PENDING, ()):
        callback()


@sa_event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)
