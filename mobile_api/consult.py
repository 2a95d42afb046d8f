"""The consultation runtime the routers share: the knowledge base, the bot engine, per-conversation locks, and
delivery of messages the applicant did not ask for in the same request (an agent's reply, the rating prompt)
on whatever channel the conversation is on.

Delivery: WebSocket — to the chat sockets of the conversation, on this worker directly and on the others
through the push hub (topic ``bot:conversation:{id}``, which each chat socket's worker listens to); WeChat — a
customer-service message (客服消息) through wechatpy; REST — kept undelivered and handed out with the next webhook
response or by ``GET /webhooks/rest/messages``, and pushed at once to the applicant's live socket (``WS
/api/v1/ws``, topic ``applicant:{id}``, ``{"type": "consult_messages", ...}``) so a mini-program need not poll.
What could not be delivered stays marked undelivered, so nothing is lost; every stored message carries its id in
``custom.message_id``, so a client that got it pushed skips it when the REST channel hands it out again.

The agents hear of the queue through the push hub too (``notify``): topic ``consult`` (every connected consultation
agent, ``mobile_api.routers.ws``) for handoffs, claims, closes and the applicant's messages while waiting, topic
``staff:{id}`` for the applicant's messages and rating in a conversation that agent has claimed. These messages
carry ids and states only, never what was said: the agent reads the transcript through the API.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any

import orjson
import requests
from fastapi import FastAPI, WebSocket
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException

from bot import conversations as convs
from bot.engine import Engine, Thresholds
from bot.locks import ConversationLocks
from bot.models import Conversation, ConversationMessage
from bot.nlu import Nlu
from case_core.settings import Settings
from knowledge_base import dense
from knowledge_base.runtime import KnowledgeBase
from mobile_api.deps import AppState
from mobile_api.presence import Presence

AGENTS_TOPIC = "consult"  # every consultation agent's live socket


def conversation_topic(conv_id: int) -> str:
    """Where the chat sockets of one WebSocket conversation listen, on whichever worker holds them."""
    return f"bot:conversation:{conv_id}"


log = logging.getLogger("weijian.consult")


@lru_cache(maxsize=4)
def _trained_nlu(items: tuple[tuple[str, str], ...]) -> Nlu:
    """Training takes a second or two: once per process per catalogue."""
    return Nlu(item_names=dict(items))


def nlu_for(items: dict[str, str]) -> Nlu:
    return _trained_nlu(tuple(sorted(items.items())))


def as_text(message: dict[str, Any]) -> str:
    """A bot message for a channel without buttons (WeChat): the buttons become numbered lines to reply with."""
    text = message.get("text") or ""
    buttons = message.get("buttons") or []
    if buttons:
        text += "\n" + "\n".join(f"回复{i}：{b['title']}" for i, b in enumerate(buttons, 1))
    return text


class ServiceAccountClient(WeChatClient):
    """wechatpy's client with the token URL under the configured API root (wechatpy hard-codes the real host)."""

    root = "https://api.weixin.qq.com/"

    def fetch_access_token(self) -> dict[str, Any]:
        return self._fetch_access_token(
            url=f"{self.root}cgi-bin/token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
        )


class ServiceAccount:
    """The WeChat service account (公众号): wechatpy's client for customer-service messages and user info."""

    def __init__(self, settings: Settings, redis_url: str | None) -> None:
        self.appid, self.token, self.aes_key = (
            settings.wechat_mp_appid,
            settings.wechat_mp_token,
            settings.wechat_mp_aes_key,
        )
        self.configured = bool(settings.wechat_mp_appid and settings.wechat_mp_token)
        storage: Any = None
        if redis_url:
            import redis
            from wechatpy.session.redisstorage import RedisStorage

            storage = RedisStorage(redis.Redis.from_url(redis_url), prefix="weijian:wechat-mp")
        base = settings.wechat_api_base_url
        base = base if base.endswith("/") else base + "/"
        self.client = ServiceAccountClient(
            settings.wechat_mp_appid, settings.wechat_mp_secret, session=storage, timeout=5
        )
        self.client.root = base
        self.client.API_BASE_URL = base + "cgi-bin/"  # the service-account APIs live under cgi-bin/

    def send_text(self, openid: str, text: str) -> bool:
        """Blocking: call from a thread. False when WeChat refused or could not be reached (kept for retry)."""
        try:
            self.client.message.send_text(openid, text)
            return True
        except (WeChatClientException, requests.RequestException):
            log.warning("customer-service message to a WeChat user failed", exc_info=True)
            return False

    def unionid(self, openid: str) -> str | None:
        try:
            info = self.client.user.get(openid)
        except (WeChatClientException, requests.RequestException):
            return None
        return info.get("unionid") if isinstance(info, dict) else None


class Consult:
    def __init__(self, state: AppState, redis: Any | None, sqlite: bool = False) -> None:
        s = state.settings
        self.state = state
        self.kb = KnowledgeBase(dense.from_settings(s))  # EmbedModelError at start-up if the model will not load
        self.engine = Engine(
            self.kb,
            nlu_for,
            Thresholds(s.kb_answer_threshold, s.kb_suggest_threshold, s.bot_handoff_after_failures),
            encrypt=state.ctx.cipher.encrypt,
        )
        self.redis = redis
        self.locks = ConversationLocks(redis)
        self.mp = ServiceAccount(s, s.redis_url)
        self.sockets: dict[int, set[WebSocket]] = defaultdict(set)
        self.passive_reply_seconds = 4.0  # WeChat waits 5 s for the passive reply
        self.background: set[asyncio.Task[Any]] = set()
        self.origin = secrets.token_hex(6)  # this worker, so it skips its own pushes to sockets it served directly
        # Which workers hold which conversations' chat sockets (with Redis: another worker may hold one).
        self.presence = Presence(redis, self.origin) if redis is not None else None
        # SQLite has one writer: turns of this process queue here instead of in SQLite's busy handler, which
        # sleeps (1, 2, 5 … 100 ms) between retries and made tails of a second under a few concurrent chats.
        self._sqlite_writer = asyncio.Lock() if sqlite else None

    @asynccontextmanager
    async def writer(self) -> AsyncIterator[None]:
        if self._sqlite_writer is None:
            yield
            return
        async with self._sqlite_writer:
            yield

    async def notify(self, conv: Conversation, event: str) -> None:
        """Tell the agents what happened to a conversation (ids and states, no text)."""
        message = {
            "type": "consult",
            "event": event,
            "conversation_id": conv.id,
            "state": conv.state,
            "channel": conv.channel,
            "agent_id": conv.agent_id,
            "handoff_reason": conv.handoff_reason,
        }
        topics = [AGENTS_TOPIC]
        if conv.state in ("human", "closed") and conv.agent_id is not None:
            topics = [f"staff:{conv.agent_id}"] if event in ("message", "rated") else [AGENTS_TOPIC]
        await self.state.push.publish(topics, message)

    async def fresh(self) -> None:
        await self.kb.refresh(self.state.read_sessions)

    async def warm(self) -> None:
        """Build the index and train the NLU before the first message (at start-up): a first WeChat turn that
        trains the model would miss the 5-second passive reply."""
        await self.kb.refresh(self.state.read_sessions, force=True)
        await asyncio.to_thread(lambda: self.engine.nlu)

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        return task

    async def deliver(self, conv_id: int, new: list[int] | None = None) -> int | None:
        """Push the conversation's undelivered messages on its channel; returns how many went out from here, or
        None when none did but a chat socket on another worker may take them (WebSocket conversations with Redis:
        that worker marks them delivered itself). ``new``: the ids of the messages just written — the only ones
        pushed to a REST applicant's live socket (the older ones were pushed before and wait for the REST channel
        to hand them out)."""
        async with self.state.write_sessions() as session, session.begin():
            conv = await session.get(Conversation, conv_id)
            if conv is None:
                return 0
            pending = await convs.undelivered(session, conv_id)
            sent = await self._push(conv, pending)
            await convs.mark_delivered(session, sent)
        if pending:
            await self._publish(conv, pending, new)
        if not sent and pending and conv.channel == "websocket" and self.presence is not None:
            # Published for the other workers: null if one of them holds a chat socket (it records the delivery)
            # or Redis cannot say; false if none does (the messages wait for the applicant's return).
            return 0 if await self.presence.elsewhere(conv.id) is False else None
        return len(sent)

    async def attach_socket(self, conv_id: int, ws: WebSocket) -> None:
        """A chat socket of this worker now shows the conversation."""
        self.sockets[conv_id].add(ws)
        if self.presence is not None:
            await self.presence.hold(conv_id)

    async def detach_socket(self, conv_id: int, ws: WebSocket) -> None:
        self.sockets[conv_id].discard(ws)
        if not self.sockets[conv_id]:
            del self.sockets[conv_id]
            if self.presence is not None:
                await self.presence.release(conv_id)

    async def close(self) -> None:
        if self.presence is not None:
            await self.presence.close()

    async def _publish(self, conv: Conversation, pending: list[ConversationMessage], new: list[int] | None) -> None:
        body: dict[str, Any]
        if conv.channel == "websocket":
            body = {
                "type": "bot_messages",
                "origin": self.origin,
                "ids": [m.id for m in pending],
                "messages": [outgoing(m, conv.sender) for m in pending],
            }
            await self.state.push.publish(conversation_topic(conv.id), body)
        elif conv.channel == "rest" and conv.applicant_id is not None:
            pending = [m for m in pending if new is None or m.id in new]
            if not pending:
                return
            sender = conv.sender.split(":", 1)[1] if ":" in conv.sender else conv.sender
            body = {
                "type": "consult_messages",
                "conversation_id": conv.id,
                "sender": sender,
                "messages": [outgoing(m, sender) for m in pending],
            }
            await self.state.push.publish(f"applicant:{conv.applicant_id}", body)

    async def relay(self, ws: WebSocket, conv_id: int, raw: bytes) -> None:
        """A push for a chat socket of this worker, published by another: send it and mark it delivered."""
        data = orjson.loads(raw)
        if data.get("type") != "bot_messages" or data.get("origin") == self.origin:
            return  # served directly by this worker
        await ws.send_json(data["messages"])
        async with self.state.write_sessions() as session, session.begin():
            await convs.mark_delivered(session, [int(i) for i in data["ids"]])

    async def _push(self, conv: Conversation, pending: list[ConversationMessage]) -> list[int]:
        sent: list[int] = []
        if not pending:
            return sent
        if conv.channel == "websocket":
            sockets = list(self.sockets.get(conv.id, ()))
            if sockets:
                body = [outgoing(m, conv.sender) for m in pending]
                for ws in sockets:
                    try:
                        await ws.send_json(body)
                    except Exception:  # a socket that went away; the others still get it
                        self.sockets[conv.id].discard(ws)
                sent = [m.id for m in pending]
        elif conv.channel == "wechat" and self.mp.configured:
            for m in pending:
                text = as_text(m.data or {"text": m.text}) if m.author == "bot" else (m.text or "")
                if await asyncio.to_thread(self.mp.send_text, conv.sender, text):
                    sent.append(m.id)
                else:
                    break
        return sent


def outgoing(m: ConversationMessage, recipient: str) -> dict[str, Any]:
    """A stored message in Rasa's output shape."""
    if m.author == "bot" and m.data:
        body = {k: v for k, v in m.data.items() if k in ("text", "buttons", "custom", "image")}
    else:
        body = {"text": m.text}
    if m.author == "agent":
        body["custom"] = {"type": "agent_message", "agent_id": m.author_id, "message_id": m.id}
    else:
        body["custom"] = {**(body.get("custom") or {}), "message_id": m.id}
    return {"recipient_id": recipient, **body}


def install(app: FastAPI, state: AppState, redis: Any | None) -> Consult:
    consult = Consult(state, redis, sqlite=app.state.engine.dialect.name == "sqlite")
    app.state.consult = consult
    app.state.kb = consult.kb
    return consult


def consult_of(app: Any) -> Consult:
    return app.state.consult
