"""``WS /api/v1/ws``: the caller's live messages (case progress, new tasks, inbox, chat replies; for consultation
agents the consultation queue).

Authenticate with the access token, either as ``?token=`` or — better, since query strings end up in access logs —
as the first message ``{"token": "..."}`` within 10 seconds. The server then sends ``{"type": "ready", ...}``
and, from then on, every message published to the caller's topics. A client may send ``{"type": "ping"}`` and gets
``{"type": "pong"}``. Close codes: 4401 no or bad token, or a staff token revoked while connected.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from typing import Any

import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from case_core.domain.errors import CaseError
from case_core.domain.states import Role
from mobile_api.deps import AppState

router = APIRouter(tags=["push"])

AUTH_TIMEOUT = 10
CLOSE_UNAUTHENTICATED = 4401


def topics_for(claims: dict[str, Any]) -> list[str]:
    if claims.get("typ") == "staff":
        topics = [f"staff:{claims['sub']}", f"dept:{claims['path']}"]
        if Role.CONSULT_AGENT in claims.get("roles", ()):
            topics.append("consult")  # the consultation queue: handoffs, claims, closes (mobile_api/consult.py)
        return topics
    return [f"applicant:{claims['sub']}"]


async def _claims(websocket: WebSocket, state: AppState) -> dict[str, Any] | None:
    token = websocket.query_params.get("token")
    try:
        if token is None:
            first = orjson.loads(await asyncio.wait_for(websocket.receive_text(), AUTH_TIMEOUT))
            token = first.get("token") if isinstance(first, dict) else None
        return state.tokens.decode(token) if isinstance(token, str) and token else None
    except (CaseError, TimeoutError, orjson.JSONDecodeError):  # revoked, password to change first…
        return None


@router.websocket("/ws")
async def live(websocket: WebSocket) -> None:
    state: AppState = websocket.app.state.weijian
    await websocket.accept()
    claims = await _claims(websocket, state)
    if claims is None:
        await websocket.close(code=CLOSE_UNAUTHENTICATED, reason="unauthenticated")
        return
    topics = topics_for(claims)
    async with state.push.subscribe(topics) as queue:
        await websocket.send_json({"type": "ready", "topics": topics})
        sender = asyncio.create_task(_forward(websocket, queue, state, claims))
        try:
            while True:
                raw = await websocket.receive_text()
                with suppress(orjson.JSONDecodeError):
                    if orjson.loads(raw) == {"type": "ping"}:
                        await websocket.send_json({"type": "pong"})
        except WebSocketDisconnect:
            pass
        finally:
            sender.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await sender


async def _forward(websocket: WebSocket, queue: asyncio.Queue[bytes], state: AppState, claims: dict[str, Any]) -> None:
    # A staff token revoked while connected (disabled, password reset, logout…) closes the socket at its next
    # message; the revocation itself is published to the account's topic, so that message comes at once.
    staff_id = int(claims["sub"]) if claims.get("typ") == "staff" else None
    generation = claims.get("gen", 0)
    while True:
        message = await queue.get()
        if staff_id is not None and not state.tokens.sessions.valid(staff_id, generation):
            await websocket.close(code=CLOSE_UNAUTHENTICATED, reason="session_revoked")
            return
        await websocket.send_text(message.decode())
