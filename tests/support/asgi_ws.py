"""A WebSocket client that drives an ASGI app directly (the protocol uvicorn speaks to it), in the test's own
event loop: httpx's ASGITransport has no WebSocket, and Starlette's TestClient runs the app in another loop."""

from __future__ import annotations

import asyncio
import json
from types import TracebackType
from typing import Any


class WsClosed(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(f"closed with {code}")
        self.code = code


class AsgiWebSocket:
    def __init__(self, app: Any, path: str, query: str = "") -> None:
        self.app, self.path, self.query = app, path, query
        self.to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.task: asyncio.Task[Any] | None = None

    async def __aenter__(self) -> AsgiWebSocket:
        scope = {
            "type": "websocket",
            "asgi": {"version": "3.0"},
            "scheme": "ws",
            "http_version": "1.1",
            "path": self.path,
            "raw_path": self.path.encode(),
            "root_path": "",
            "query_string": self.query.encode(),
            "headers": [(b"host", b"test")],
            "client": ("127.0.0.1", 50000),
            "server": ("test", 80),
            "subprotocols": [],
            "state": {},
        }
        self.task = asyncio.create_task(self.app(scope, self.to_app.get, self.from_app.put))
        await self.to_app.put({"type": "websocket.connect"})
        first = await self._next()
        if first["type"] == "websocket.close":
            raise WsClosed(first.get("code", 1000))
        assert first["type"] == "websocket.accept", first
        return self

    async def _next(self) -> dict[str, Any]:
        return await asyncio.wait_for(self.from_app.get(), 30)

    async def send_json(self, body: Any) -> None:
        await self.to_app.put({"type": "websocket.receive", "text": json.dumps(body, ensure_ascii=False)})

    async def receive_json(self) -> Any:
        msg = await self._next()
        if msg["type"] == "websocket.close":
            raise WsClosed(msg.get("code", 1000))
        return json.loads(msg.get("text") or msg.get("bytes"))

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.to_app.put({"type": "websocket.disconnect", "code": 1000})
        if self.task is not None:
            await asyncio.wait_for(self.task, 30)
