"""The WebSocket chat: the same bot, and agents' replies pushed as they are written."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import Api
from tests.support.asgi_ws import AsgiWebSocket, WsClosed

WS = "/api/v1/bot/ws"


async def test_chat_over_websocket_with_handoff_and_the_agents_reply_pushed(api: Api, app: Any) -> None:
    alice = await api.applicant("alice")
    token = alice["Authorization"].split()[1]
    async with AsgiWebSocket(app, WS, f"sender=tab1&token={token}") as ws:
        await ws.send_json({"message": "你好"})
        hello = await ws.receive_json()
        assert hello[0]["recipient_id"] == "tab1" and "智能客服" in hello[0]["text"]
        await ws.send_json({"message": "转人工"})
        assert (await ws.receive_json())[0]["custom"]["type"] == "handoff"

        agent = await api.staff("zixun")
        queue = (await api.client.get("/api/v1/consult/conversations?state=waiting_human", headers=agent)).json()
        conv = next(c for c in queue["conversations"] if c["channel"] == "websocket")
        await api.client.post(f"/api/v1/consult/conversations/{conv['id']}/claim", headers=agent)
        joined = await ws.receive_json()
        assert joined[0]["custom"]["type"] == "agent_joined"
        r = await api.client.post(
            f"/api/v1/consult/conversations/{conv['id']}/messages", json={"text": "您好，我是坐席小王。"}, headers=agent
        )
        assert r.json()["delivered"] is True
        pushed = await ws.receive_json()
        assert pushed[0]["text"] == "您好，我是坐席小王。" and pushed[0]["custom"]["type"] == "agent_message"

        await ws.send_json({"bad": "frame"})
        assert (await ws.receive_json())["error"]["code"] == "request_invalid"


async def test_a_bad_token_closes_the_socket(app: Any) -> None:
    with pytest.raises(WsClosed) as closed:
        async with AsgiWebSocket(app, WS, "token=not-a-token"):
            pass
    assert closed.value.code == 4401
