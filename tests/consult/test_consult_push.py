"""Consultation over the live push socket (``WS /api/v1/ws``), on a real uvicorn: agents hear of handoffs, claims
and closes (topic ``consult``; other staff do not), the agent on a conversation hears the applicant's new lines,
the applicant hears the agent's reply without polling; and a chat socket gets a reply written on another worker
(through Redis where it is configured; without Redis, when it reconnects — nothing is lost)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from tests.support.api import Api
from tests.support.live import serve

HOOK = "/webhooks/rest/webhook"


@asynccontextmanager
async def live(host: str, headers: dict[str, str]) -> AsyncIterator[tuple[ClientConnection, list[str]]]:
    token = headers["Authorization"].removeprefix("Bearer ")
    async with websockets.connect(f"ws://{host}/api/v1/ws") as ws:
        await ws.send(orjson.dumps({"token": token}).decode())
        ready = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
        assert ready["type"] == "ready"
        yield ws, ready["topics"]


async def next_of(ws: ClientConnection, kind: str) -> dict[str, Any]:
    """The next pushed message of a type (staff sockets also hear of their department's cases)."""
    while True:
        message = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
        if message.get("type") == kind:
            return message


async def nothing_of(ws: ClientConnection, kind: str) -> dict[str, Any] | None:
    """None if no message of the type comes within half a second, else the message (for the failure report)."""
    try:
        while True:
            message = orjson.loads(await asyncio.wait_for(ws.recv(), 0.5))
            if message.get("type") == kind:
                return message
    except TimeoutError:
        return None


async def say(client: httpx.AsyncClient, text: str, sender: str, who: dict[str, str] | None = None) -> list[dict]:
    r = await client.post(HOOK, json={"sender": sender, "message": text}, headers=who or {})
    assert r.status_code == 200, r.text
    return r.json()


async def test_agents_hear_of_handoffs_claims_and_closes_and_other_staff_do_not(api: Api, app: Any) -> None:
    wang, li, clerk = await api.staff("zixun"), await api.staff("zixunzz"), await api.staff("shouli")
    wang_id = app.state.weijian.tokens.staff(wang["Authorization"].removeprefix("Bearer ")).id
    async with (
        serve(app) as host,
        live(host, wang) as (wang_ws, wang_topics),
        live(host, li) as (li_ws, _),
        live(host, clerk) as (clerk_ws, clerk_topics),
    ):
        assert "consult" in wang_topics and "consult" not in clerk_topics
        await say(api.client, "你好", "p1")
        await say(api.client, "我要转人工", "p1")
        handoff = await next_of(wang_ws, "consult")
        conv_id = handoff["conversation_id"]
        assert handoff == {
            "type": "consult",
            "event": "handoff",
            "conversation_id": conv_id,
            "state": "waiting_human",
            "channel": "rest",
            "agent_id": None,
            "handoff_reason": "requested",
        }
        assert (await next_of(li_ws, "consult"))["conversation_id"] == conv_id

        await say(api.client, "还有人吗", "p1")  # while waiting, every agent hears of the new line
        assert (await next_of(li_ws, "consult"))["event"] == "message"
        assert (await next_of(wang_ws, "consult"))["event"] == "message"

        r = await api.client.post(f"/api/v1/consult/conversations/{conv_id}/claim", headers=wang)
        assert r.status_code == 200, r.text
        claimed = await next_of(li_ws, "consult")  # the other agent's queue drops it
        assert (claimed["event"], claimed["state"], claimed["agent_id"]) == ("claimed", "human", wang_id)
        assert (await next_of(wang_ws, "consult"))["event"] == "claimed"

        await say(api.client, "护士注册要多久", "p1")  # now only the agent on it hears of the applicant
        assert (await next_of(wang_ws, "consult"))["event"] == "message"
        assert await nothing_of(li_ws, "consult") is None

        r = await api.client.post(f"/api/v1/consult/conversations/{conv_id}/close", headers=wang)
        assert r.status_code == 200, r.text
        assert (await next_of(li_ws, "consult"))["event"] == "closed"
        assert (await next_of(wang_ws, "consult"))["event"] == "closed"

        await say(api.client, '/rate{"score":5}', "p1")  # the agent who served hears of the rating
        rated = await next_of(wang_ws, "consult")
        assert (rated["event"], rated["conversation_id"]) == ("rated", conv_id)
        assert await nothing_of(li_ws, "consult") is None
        assert await nothing_of(clerk_ws, "consult") is None


async def test_the_applicant_gets_the_agents_reply_pushed_and_can_tell_it_from_the_rest_channels_copy(
    api: Api, app: Any
) -> None:
    alice, bob, agent = await api.applicant("alice"), await api.applicant("bob"), await api.staff("zixun")
    await say(api.client, "转人工", "alice-phone", alice)
    queue = (await api.client.get("/api/v1/consult/conversations?state=waiting_human", headers=agent)).json()
    conv_id = queue["conversations"][0]["id"]
    async with serve(app) as host, live(host, alice) as (alice_ws, _), live(host, bob) as (bob_ws, _):
        await api.client.post(f"/api/v1/consult/conversations/{conv_id}/claim", headers=agent)
        joined = await next_of(alice_ws, "consult_messages")
        assert joined["conversation_id"] == conv_id and joined["sender"] == "alice-phone"
        assert joined["messages"][0]["custom"]["type"] == "agent_joined"

        r = await api.client.post(
            f"/api/v1/consult/conversations/{conv_id}/messages", json={"text": "您好，我是坐席小王"}, headers=agent
        )
        assert r.status_code == 201
        reply = (await next_of(alice_ws, "consult_messages"))["messages"]
        assert [m["text"] for m in reply] == ["您好，我是坐席小王"]
        assert reply[0]["recipient_id"] == "alice-phone"
        message_id = reply[0]["custom"]["message_id"]
        assert await nothing_of(bob_ws, "consult_messages") is None

    # The REST channel still hands the pushed lines out once (the record of delivery), with the same ids.
    handed = await say(api.client, "好的", "alice-phone", alice)
    ids = [m.get("custom", {}).get("message_id") for m in handed]
    assert message_id in ids and ids.count(message_id) == 1
    assert all(m["custom"]["message_id"] != message_id for m in await say(api.client, "谢谢", "alice-phone", alice))


async def test_a_chat_socket_gets_a_reply_written_on_another_worker(api: Api, app: Any, settings: Any) -> None:
    """Two workers of one deployment: the applicant's chat socket is held by one, the agent's request lands on
    the other."""
    from mobile_api.app import create_app

    other = create_app(app.state.weijian.settings)  # the same deployment: the same push channel
    await other.state.consult.warm()
    agent = await api.staff("zixun")
    try:
        async with (
            serve(app) as host,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=other), base_url="http://other") as worker_b,
        ):
            async with websockets.connect(f"ws://{host}/api/v1/bot/ws?sender=tab") as chat:
                await chat.send(orjson.dumps({"message": "转人工"}).decode())
                assert orjson.loads(await asyncio.wait_for(chat.recv(), 5))[0]["custom"]["type"] == "handoff"
                waiting = (await worker_b.get("/api/v1/consult/conversations", headers=agent)).json()
                conv_id = next(c["id"] for c in waiting["conversations"] if c["channel"] == "websocket")
                await worker_b.post(f"/api/v1/consult/conversations/{conv_id}/claim", headers=agent)
                r = await worker_b.post(
                    f"/api/v1/consult/conversations/{conv_id}/messages", json={"text": "我是坐席"}, headers=agent
                )
                assert r.status_code == 201
                # Worker B holds no socket of the conversation. With Redis another worker does (the presence
                # registry says so): on its way, null; without Redis no worker can reach it now: false.
                assert r.json()["delivered"] is (None if settings.redis_url else False)
                if settings.redis_url:  # through Redis: at once, on the worker that holds the socket
                    joined = orjson.loads(await asyncio.wait_for(chat.recv(), 5))
                    assert joined[0]["custom"]["type"] == "agent_joined"
                    assert orjson.loads(await asyncio.wait_for(chat.recv(), 5))[0]["text"] == "我是坐席"
                    for _ in range(50):  # that worker records the delivery once it has sent it
                        lines = (await worker_b.get(f"/api/v1/consult/conversations/{conv_id}", headers=agent)).json()[
                            "transcript"
                        ]
                        if all(m["delivered"] for m in lines):
                            break
                        await asyncio.sleep(0.05)
                    assert all(m["delivered"] for m in lines)
                else:
                    with pytest.raises(TimeoutError):
                        await asyncio.wait_for(chat.recv(), 0.5)
            # The chat socket is closed: no worker holds one, and worker B says so (with Redis too).
            for _ in range(50):
                if not app.state.consult.sockets.get(conv_id):
                    break
                await asyncio.sleep(0.02)
            r = await worker_b.post(
                f"/api/v1/consult/conversations/{conv_id}/messages", json={"text": "还在吗"}, headers=agent
            )
            assert r.status_code == 201 and r.json()["delivered"] is False
            # The replies wait, undelivered, and reach the chat when it reconnects.
            async with websockets.connect(f"ws://{host}/api/v1/bot/ws?sender=tab") as chat:
                waited = orjson.loads(await asyncio.wait_for(chat.recv(), 5))
                assert [m["text"] for m in waited][-1] == "还在吗"
    finally:
        await other.state.weijian.push.close()
        await other.state.engine.dispose()
