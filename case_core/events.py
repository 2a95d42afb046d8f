"""Case events, for the packages that hang on the case core (notifications, push, bot).

``case_core`` imports none of them; they register here instead. Two kinds of listener:

* **in-transaction** (``add_listener``): called synchronously by the case service right after a timeline event is
  added, inside the same transaction. It may ``session.add()`` rows (an outbox row, say) so that they commit or roll
  back together with the event; it must do no I/O of its own. ``case`` and ``event`` are to be read, not changed
  or attached to new rows: refer to them by id (``case.id``). They are the ORM objects on the general path and
  read-only snapshots with the same column attributes on PostgreSQL's submission path (``services.submit_pg``);
  ``event.id`` may still be None on the general path (the event is flushed with the transaction).
  ``session`` is the ORM session, or on that submission path a ``Changes``: what a listener may use of a session
  (``add``, ``new``, ``info`` and ``after_commit`` below) over a write that is one SQL statement. Its added rows
  are written by that statement, so they commit or fail with the event all the same.
* **after-commit** (``after_commit``): a callback queued on the session that runs once the transaction has
  committed (and is dropped on rollback). That is the place for pushes over a WebSocket: never announce what might
  still roll back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from case_core.models import Case, CaseEvent

Listener = Callable[["AsyncSession | Changes", "Case", "CaseEvent"], None]

logger = logging.getLogger(__name__)
_listeners: list[Listener] = []
_PENDING = "weijian_after_commit"


def add_listener(fn: Listener) -> None:
    if fn not in _listeners:
        _listeners.append(fn)


def remove_listener(fn: Listener) -> None:
    if fn in _listeners:
        _listeners.remove(fn)


def emit(session: AsyncSession | Changes, case: Case, event: CaseEvent) -> None:
    for fn in tuple(_listeners):
        fn(session, case, event)


@dataclass(frozen=True, slots=True)
class NewRow:
    """A row for a ``Changes`` to insert: its mapped class and attribute values, with no ORM object built."""

    cls: type
    values: dict[str, Any]


def add_row(session: AsyncSession | Changes, cls: type, **values: Any) -> None:
    """Add a new row of the mapped class ``cls`` in ``session``'s transaction. On a ``Changes`` the values are
    kept as they are: building an instrumented ORM object cost a fifth of a group-committed submission's Python
    (``python -m bench.profile --pyinstrument submit``), and the writer only reads the values back."""
    if isinstance(session, Changes):
        session.add(NewRow(cls, values))
    else:
        session.add(cls(**values))


class Changes:
    """The part of a session that listeners use, for a write done as one statement without an ORM session.

    ``add`` collects ORM objects, unflushed, or ``NewRow``s (``add_row``) for the writer to insert in its statement
    (``services.submit_pg``);
    ``in_transaction()`` is true until the writer has written them;
    ``info`` is what the write sessions' ``info`` would hold; after-commit callbacks wait in ``callbacks`` until
    the writer calls ``committed()``."""

    def __init__(self, info: dict[str, Any] | None = None) -> None:
        self.info: dict[str, Any] = info if info is not None else {}
        self.new: list[Any] = []
        self.callbacks: list[Callable[[], Any]] = []
        self._done = False

    def add(self, row: Any) -> None:
        self.new.append(row)

    def in_transaction(self) -> bool:
        """True until the write is done, as a session's transaction is open until it commits."""
        return not self._done

    def committed(self) -> None:
        self._done = True
        callbacks, self.callbacks = self.callbacks, []
        for callback in callbacks:
            try:
                callback()
            except Exception:  # as on the session path: a callback's failure never undoes the commit
                logger.exception("after-commit callback failed")


def after_commit(session: AsyncSession | Changes, callback: Callable[[], Any]) -> None:
    """Run ``callback()`` after ``session``'s transaction commits. Exceptions it raises are the callback's
    business: they are logged and never undo the commit."""
    if isinstance(session, Changes):
        session.callbacks.append(callback)
    else:
        session.sync_session.info.setdefault(_PENDING, []).append(callback)


@sa_event.listens_for(Session, "after_commit")
def _run_pending(session: Session) -> None:
    for callback in session.info.pop(_PENDING, ()):
        callback()


@sa_event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)
