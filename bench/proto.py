"""A prototype of the applicant's case detail on another design, served only by the bench app, to measure what
the design (not the features) costs. Same answer as ``GET /api/v1/cases/{id}`` (``python -m bench`` checks the
two bodies are equal), same checks (bearer token, the caller must own the case, else 404), same pure
functions from ``case_core`` to shape it (``queries.case_detail``, ``queries._event_out``, the calendar, the
field cipher). What differs:

* one round trip: the case row, its joins and the latest page of the timeline in one statement (the page as
  an array of rows through a LATERAL-free sub-select), on a raw asyncpg pool (prepared statement cached per
  connection, no session, no transaction: one statement is its own consistent snapshot);
* JSONB decoded by orjson in asyncpg's codec instead of ``json.loads`` through SQLAlchemy's result processing;
* no FastAPI dependencies: the caller is read from the token inside the endpoint, so nothing goes through the
  thread pool (FastAPI runs every plain ``def`` dependency in a worker thread);
* a verified token is remembered per process until it expires (PyJWT's decode is a good part of a light
  request; the token is just as valid the second time: HS256 tokens here are not revocable anyway);
* the pool does not reset a connection on release (asyncpg's default reset is one more round trip; one
  SELECT outside a transaction leaves nothing to reset), and no session is opened unless the calendar cache
  of the process is cold.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import asyncpg
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

from case_core import calendar, queries
from case_core.domain.errors import NotFound
from case_core.principals import ApplicantPrincipal
from case_core.timeutil import utcnow
from mobile_api.deps import app_state, bearer
from mobile_api.responses import json_response

EVENT_COLUMNS = ("id", "at", "actor_type", "actor_name", "action", "from_status", "to_status", "step_key",
                 "opinion", "data")  # fmt: skip

DETAIL_SQL = f"""
SELECT c.*, p.steps, d.path AS department_path, d.name AS department_name,
       ev.level AS ev_level, ev.aspects AS ev_aspects, ev.comment AS ev_comment, ev.created_at AS ev_at,
       l.licence_no AS lic_no, l.licence_type AS lic_type, l.issued_at AS lic_issued_at,
       l.valid_until AS lic_valid_until, l.status AS lic_status,
       ARRAY(SELECT ROW({", ".join("e." + c for c in EVENT_COLUMNS)}) FROM case_events e
             WHERE e.case_id = c.id ORDER BY e.id DESC LIMIT {queries.EVENTS_PAGE}) AS page
FROM cases c
JOIN process_versions p ON p.id = c.process_version_id
JOIN departments d ON d.id = c.department_id
LEFT JOIN evaluations ev ON ev.case_id = c.id
LEFT JOIN licences l ON l.case_id = c.id
WHERE c.id = $1
"""


async def init_connection(conn: asyncpg.Connection) -> None:
    """JSON and JSONB as Python values, decoded by orjson (asyncpg hands them over as text otherwise). Binary
    format, so that the codec also serves JSONB inside the rows of the timeline array (binary jsonb = a version
    byte, 1, then the text)."""
    await conn.set_type_codec("jsonb", schema="pg_catalog", encoder=lambda v: b"\x01" + orjson.dumps(v),
                              decoder=lambda b: orjson.loads(b[1:]), format="binary")  # fmt: skip
    await conn.set_type_codec("json", schema="pg_catalog", encoder=orjson.dumps, decoder=orjson.loads,
                              format="binary")  # fmt: skip


async def no_reset(conn: asyncpg.Connection) -> None:
    """For ``create_pool(reset=...)``: nothing to undo after a single read statement."""


_TOKENS: dict[str, tuple[ApplicantPrincipal, float]] = {}
_TOKENS_MAX = 10_000


def applicant(request: Request) -> ApplicantPrincipal:
    """The caller, from a per-process cache of verified tokens (checked for expiry on every use)."""
    token = bearer(request)
    hit = _TOKENS.get(token)
    if hit is not None and hit[1] > time.time():
        return hit[0]
    tokens = app_state(request).tokens
    principal = tokens.applicant(token)
    if len(_TOKENS) >= _TOKENS_MAX:
        _TOKENS.clear()
    _TOKENS[token] = (principal, float(tokens.decode(token)["exp"]))
    return principal


class _LazySession:
    """Opens a real session only if something is asked of it (the calendar, when its cache is cold)."""

    def __init__(self, maker: Callable[[], Any]) -> None:
        self._maker, self._session = maker, None

    def __getattr__(self, name: str) -> Any:
        if self._session is None:
            self._session = self._maker()
        return getattr(self._session, name)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


class _Row:
    """Attribute access over an asyncpg Record, which is what ``queries.case_detail`` expects."""

    __slots__ = ("_r",)

    def __init__(self, record: Any) -> None:
        self._r = record

    def __getattr__(self, name: str) -> Any:
        return self._r[name]


class _Event:
    __slots__ = EVENT_COLUMNS

    def __init__(self, values: tuple[Any, ...]) -> None:
        for name, value in zip(EVENT_COLUMNS, values, strict=True):
            setattr(self, name, value)


def install(app: FastAPI, pool: Callable[[], asyncpg.Pool]) -> None:
    @app.get("/bench/proto/cases/{case_id}", tags=["bench"])
    async def proto_case(case_id: int, request: Request) -> Response:
        state = app_state(request)
        caller = applicant(request)
        record = await pool().fetchrow(DETAIL_SQL, case_id)
        if record is None or record["applicant_id"] != caller.id:
            raise NotFound("办件")
        row = _Row(record)
        page = [queries._event_out(_Event(values)) for values in reversed(record["page"])]
        session = _LazySession(state.read_sessions)
        try:
            cal = await calendar.get_calendar(session)  # type: ignore[arg-type]
        finally:
            await session.close()
        secret = state.ctx.cipher.decrypt_json(record["secret"]) if record["secret"] else {}
        form, delivery = secret.get("form", {}), secret.get("delivery", {})
        detail = queries.case_detail(row, page, cal, utcnow(), yellow_days=state.ctx.yellow_days, form=form,
                                     delivery=delivery, masked=False)  # fmt: skip
        return json_response(detail)
