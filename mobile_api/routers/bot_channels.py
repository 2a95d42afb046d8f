"""The bot's channels: Rasa's REST channel and /model/parse (root paths, as Rasa serves them), a WebSocket chat,
and the WeChat service account's message webhook.

Who is asking: a valid applicant bearer token (REST, ``?token=`` on the WebSocket) makes the conversation the
applicant's, so progress lookups answer for their own cases; the client's ``sender`` is scoped under the
applicant (another client cannot read the conversation by guessing its sender). Without a token the bot answers
questions but looks up nothing personal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature

from bot import conversations as convs
from bot.models import ConversationMessage, WechatInbound
from case_core.domain.errors import CaseError, TooManyRequests, Unauthenticated
from case_core.models import Applicant
from case_core.principals import ApplicantPrincipal
from case_core.services import staff_wechat_bind
from case_core.timeutil import utcnow
from mobile_api.consult import Consult, as_text, consult_of, conversation_topic, outgoing
from mobile_api.deps import AppState, InfoDep, StateDep, app_state
from mobile_api.errors import error_response
from mobile_api.responses import json_response

log = logging.getLogger("weijian.bot")
router = APIRouter(tags=["bot channels"])
MAX_BODY_CHARS = 20_000


class WebhookIn(BaseModel):
    sender: str = Field(default="default", min_length=1, max_length=128)
    message: str = Field(default="", max_length=MAX_BODY_CHARS)
    metadata: dict[str, Any] | None = None


class ParseIn(BaseModel):
    text: str = Field(default="", max_length=MAX_BODY_CHARS)
    message_id: str | None = None


def _applicant(request: Request) -> ApplicantPrincipal | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not token:
        return None
    if scheme.lower() != "bearer":
        raise Unauthenticated()
    return app_state(request).tokens.applicant(token)


def _scoped(sender: str, who: ApplicantPrincipal | None) -> str:
    return f"a{who.id}:{sender}" if who else f"anon:{sender}"


async def run_turn(
    consult: Consult, *, channel: str, sender: str, text: str, applicant_id: int | None
) -> tuple[int, list[dict[str, Any]], list[int]]:
    """One turn under the conversation's lock, in its own transaction. Returns (conversation id, messages
    including any agent messages not yet delivered, the ids of the bot's messages stored in the transcript).

    The text is parsed (and the knowledge base searched) before the lock and the transaction: the transaction
    holds only database work — on SQLite the database's one writer — and is queued behind the other turns of this
    process rather than left to SQLite's busy-wait (sleeps of up to 100 ms)."""
    await consult.fresh()
    state = consult.state
    prepared = await consult.engine.prepare_async(text)
    async with (
        consult.locks.hold(f"{channel}:{sender}"),
        consult.writer(),
        state.write_sessions() as session,
        session.begin(),
    ):
        turn = await consult.engine.turn(
            session,
            channel=channel,
            sender=sender,
            text=text,
            applicant_id=applicant_id,
            now=utcnow(),
            prepared=prepared,
            with_pending=channel == "rest",
        )
        conv = turn.conversation
        await convs.mark_delivered(session, [m.id for m in turn.pending])
        await session.flush()
        result = conv.id, [outgoing(m, "") for m in turn.pending] + turn.messages, [m.id for m in turn.stored]
    if turn.event is not None:  # after the commit: an agent who looks finds what they were told of
        await consult.notify(conv, turn.event)
    return result


@router.post("/webhooks/rest/webhook", response_model=list[dict[str, Any]])
async def rest_webhook(body: WebhookIn, request: Request, state: StateDep, info: InfoDep) -> Response:
    """Rasa's REST channel: ``{sender, message, metadata?}`` → ``[{recipient_id, text?, buttons?, custom?}]``."""
    who = _applicant(request)
    if not await state.limiter.hit(
        f"bot:{who.id if who else info.ip}", limit=state.settings.bot_messages_per_minute, window_seconds=60
    ):
        raise TooManyRequests("消息发送太频繁，请稍后再试")
    consult = consult_of(request.app)
    _, messages, _ = await run_turn(
        consult,
        channel="rest",
        sender=_scoped(body.sender, who),
        text=body.message,
        applicant_id=who.id if who else None,
    )
    return json_response(
        [{"recipient_id": body.sender, **{k: v for k, v in m.items() if k != "recipient_id"}} for m in messages]
    )


@router.get("/webhooks/rest/")
async def rest_health() -> dict:
    return {"status": "ok"}


@router.get("/webhooks/rest/messages")
async def rest_pending(
    request: Request, sender: Annotated[str, Query(min_length=1, max_length=128)]
) -> list[dict[str, Any]]:
    """Messages for this sender not yet delivered (an agent's reply, the rating prompt): the REST channel's way
    to receive what nobody asked for in the same request. Each is handed out once."""
    who = _applicant(request)
    state = app_state(request)
    async with state.write_sessions() as session, session.begin():
        conv = await convs.open_conversation(session, "rest", _scoped(sender, who))
        if conv is None:
            conv = await convs.last_closed_unrated(session, "rest", _scoped(sender, who), utcnow())
        if conv is None:
            return []
        pending = await convs.undelivered(session, conv.id)
        await convs.mark_delivered(session, [m.id for m in pending])
        return [outgoing(m, sender) for m in pending]


@router.post("/model/parse")
async def model_parse(body: ParseIn, request: Request) -> dict[str, Any]:
    """Rasa's parse endpoint: ``{text}`` → ``{text, intent: {name, confidence}, entities, intent_ranking}``."""
    consult = consult_of(request.app)
    await consult.fresh()
    result = consult.engine.parse(body.text)
    if body.message_id is not None:
        result["message_id"] = body.message_id
    return result


# ------------------------------------------------------------------------------------------ WebSocket


@router.websocket("/api/v1/bot/ws")
async def chat_socket(ws: WebSocket, sender: str = "default", token: str | None = None) -> None:
    """Send ``{"message": "..."}``; receive arrays of bot messages (Rasa's shape), and agents' replies as they
    come. Closes with 4401 for a bad token, 4400 for a bad frame is answered with an error frame instead."""
    state: AppState = ws.app.state.weijian
    who: ApplicantPrincipal | None = None
    if token:
        try:
            who = state.tokens.applicant(token)
        except CaseError:
            await ws.close(code=4401)
            return
    sender = sender[:128] or "default"
    scoped = _scoped(sender, who)
    consult = consult_of(ws.app)
    await ws.accept()
    conv_id: int | None = None
    relay: asyncio.Task[None] | None = None

    async def listen(cid: int, ready: asyncio.Event) -> None:
        """Messages for this conversation published on another worker (an agent's reply written there)."""
        async with state.push.subscribe([conversation_topic(cid)]) as queue:
            ready.set()
            while True:
                await consult.relay(ws, cid, await queue.get())

    async def attach(cid: int) -> None:
        nonlocal conv_id, relay
        if conv_id != cid:
            if conv_id is not None:
                await consult.detach_socket(conv_id, ws)
            if relay is not None:
                relay.cancel()
            conv_id = cid
            await consult.attach_socket(cid, ws)
            ready = asyncio.Event()
            relay = asyncio.create_task(listen(cid, ready))
            await asyncio.wait_for(ready.wait(), 5)
            await consult.deliver(cid)  # anything that waited while no socket was open

    try:
        async with state.read_sessions() as session:
            existing = await convs.open_conversation(session, "websocket", scoped)
        if existing is not None:
            await attach(existing.id)
        while True:
            frame = await ws.receive_json()
            text = frame.get("message") if isinstance(frame, dict) else None
            if not isinstance(text, str) or len(text) > MAX_BODY_CHARS:
                await ws.send_json({"error": {"code": "request_invalid", "message": "消息格式不正确", "details": None}})
                continue
            try:
                cid, messages, _ = await run_turn(
                    consult, channel="websocket", sender=scoped, text=text, applicant_id=who.id if who else None
                )
            except CaseError as exc:
                await ws.send_json({"error": {"code": exc.code, "message": exc.message, "details": None}})
                continue
            await ws.send_json([{"recipient_id": sender, **m} for m in messages])
            await attach(cid)
    except (WebSocketDisconnect, ValueError):
        pass
    finally:
        if conv_id is not None:
            await consult.detach_socket(conv_id, ws)
        if relay is not None:
            relay.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await relay


# ------------------------------------------------------------------------------------------ WeChat


def _bad_request(code: str, message: str) -> Response:
    return error_response(400, code, message)


def _crypto(consult: Consult) -> WeChatCrypto | None:
    mp = consult.mp
    return WeChatCrypto(mp.token, mp.aes_key, mp.appid) if mp.aes_key else None


@router.get("/webhooks/wechat")
async def wechat_verify(
    request: Request, signature: str = "", timestamp: str = "", nonce: str = "", echostr: str = ""
) -> Response:
    """WeChat's server check when the URL is configured: echo ``echostr`` if the signature is ours."""
    consult = consult_of(request.app)
    if not consult.mp.configured:
        return error_response(503, "wechat_unavailable", "公众号消息服务未配置")
    try:
        check_signature(consult.mp.token, signature, timestamp, nonce)
    except InvalidSignatureException:
        return error_response(403, "invalid_signature", "签名校验失败")
    return Response(echostr, media_type="text/plain")


@router.post("/webhooks/wechat")
async def wechat_message(
    request: Request,
    signature: str = "",
    timestamp: str = "",
    nonce: str = "",
    msg_signature: str = "",
    encrypt_type: str = "raw",
) -> Response:
    """Messages from WeChat users. Plain mode checks ``signature``; safe mode (``encrypt_type=aes``) decrypts
    with wechatpy's WeChatCrypto (which checks ``msg_signature``) and encrypts the reply. The reply goes back
    passively if the turn is done within ``passive_reply_seconds``; otherwise WeChat gets "success" and the
    answer follows as a customer-service message. A retried MsgId is never handled twice."""
    consult = consult_of(request.app)
    if not consult.mp.configured:
        return error_response(503, "wechat_unavailable", "公众号消息服务未配置")
    try:
        check_signature(consult.mp.token, signature, timestamp, nonce)
    except InvalidSignatureException:
        return error_response(403, "invalid_signature", "签名校验失败")
    raw = await request.body()
    if len(raw) > 64_000:
        return _bad_request("wechat_message_invalid", "消息过大")
    crypto = _crypto(consult) if encrypt_type == "aes" else None
    if encrypt_type == "aes" and crypto is None:
        return _bad_request("wechat_message_invalid", "未配置消息加解密密钥")
    try:
        xml = crypto.decrypt_message(raw, msg_signature, timestamp, nonce) if crypto else raw.decode("utf-8")
        msg = parse_message(xml)
    except (InvalidSignatureException, InvalidAppIdException):
        return error_response(403, "invalid_signature", "签名校验失败")
    except Exception:  # wechatpy raises whatever the XML parser or the AES unpadding raises on garbage
        log.info("malformed WeChat message body", exc_info=True)
        return _bad_request("wechat_message_invalid", "消息格式不正确")

    def render(text: str) -> Response:
        reply = TextReply(content=text, message=msg).render()
        body = crypto.encrypt_message(reply, nonce, timestamp) if crypto else reply
        return Response(body, media_type="application/xml")

    openid = str(getattr(msg, "source", "") or "")
    if not openid:
        return _bad_request("wechat_message_invalid", "消息格式不正确")
    if msg.type == "event":
        if getattr(msg, "event", "") == "subscribe":
            return render(consult.engine.domain.text("utter_greet"))
        return Response("success", media_type="text/plain")
    if msg.type != "text":
        return render("目前只能识别文字消息，请用文字描述您的问题。")

    msg_id = str(msg.id)
    state = app_state(request)
    try:
        async with state.write_sessions() as session, session.begin():
            seen = (
                await session.execute(select(WechatInbound.reply_xml).where(WechatInbound.msg_id == msg_id))
            ).first()
            if seen is not None:
                return Response(seen.reply_xml or "success", media_type="application/xml")
            session.add(WechatInbound(msg_id=msg_id, at=utcnow()))
    except IntegrityError:  # the retry raced the original: the original answers
        return Response("success", media_type="text/plain")

    code = staff_wechat_bind.parse_command(str(msg.content or ""))
    if code is not None:  # a staff member binding this openid: not a question for the bot, not in a transcript
        response = render(await _bind_staff_openid(state, openid, code))
        async with state.write_sessions() as session, session.begin():
            await session.execute(
                update(WechatInbound)
                .where(WechatInbound.msg_id == msg_id)
                .values(reply_xml=bytes(response.body).decode())
            )
        return response

    task = consult.spawn(_wechat_turn(consult, openid, str(msg.content or "")))
    try:
        _, messages, _ = await asyncio.wait_for(asyncio.shield(task), consult.passive_reply_seconds)
    except TimeoutError:
        task.add_done_callback(lambda t: _later(consult, t))
        return Response("success", media_type="text/plain")
    except CaseError as exc:
        return render(exc.message)
    text = "\n\n".join(as_text(m) for m in messages if m.get("text")) or "success"
    if text == "success":
        return Response("success", media_type="text/plain")
    response = render(text)
    async with state.write_sessions() as session, session.begin():
        await session.execute(
            update(WechatInbound).where(WechatInbound.msg_id == msg_id).values(reply_xml=bytes(response.body).decode())
        )
    return response


BIND_TRIES_PER_OPENID = 5  # per BIND_WINDOW: typos allowed, guessing not
BIND_TRIES_OVERALL = 300  # per BIND_WINDOW, from all openids together: many WeChat accounts guess no faster
BIND_WINDOW = 600


async def _bind_staff_openid(state: AppState, openid: str, code: str) -> str:
    """``绑定 <code>``: bind the sender's openid to the staff account whose code it is; the answer, in Chinese."""
    if not await state.limiter.hit(f"wxbind:{openid}", limit=BIND_TRIES_PER_OPENID, window_seconds=BIND_WINDOW):
        return "绑定尝试次数过多，请10分钟后再试。"
    if not await state.limiter.hit("wxbind:all", limit=BIND_TRIES_OVERALL, window_seconds=BIND_WINDOW):
        log.warning("WeChat bind attempts over the overall limit: refusing all for now")
        return "绑定服务繁忙，请稍后再试。"
    try:
        async with state.write_sessions() as session, session.begin():
            bound = await staff_wechat_bind.bind(session, state.ctx, openid=openid, code=code, now=state.clock())
    except CaseError as exc:
        return exc.message
    if bound.already:
        return f"{bound.staff.name}，您的微信此前已绑定本账号，无需重复绑定。"
    replaced = "原先绑定的微信号已解除，" if bound.replaced else ""
    return f"绑定成功！{bound.staff.name}（{bound.staff.username}），{replaced}今后的办件提醒将通过本服务号发送给您。"


async def _wechat_turn(consult: Consult, openid: str, text: str) -> tuple[int, list[dict[str, Any]], list[int]]:
    applicant_id = await _wechat_applicant(consult, openid)
    return await run_turn(consult, channel="wechat", sender=openid, text=text, applicant_id=applicant_id)


async def _wechat_applicant(consult: Consult, openid: str) -> int | None:
    """The service account's openid is not the mini-program's: the applicant is found by unionid, asked of
    WeChat once per conversation."""
    state = consult.state
    async with state.read_sessions() as session:
        conv = await convs.open_conversation(session, "wechat", openid)
        if conv is not None and conv.applicant_id is not None:
            return conv.applicant_id
        unionid = await asyncio.to_thread(consult.mp.unionid, openid)
        if not unionid:
            return None
        return await session.scalar(select(Applicant.id).where(Applicant.unionid == unionid))


def _later(consult: Consult, task: asyncio.Task[Any]) -> None:
    """The turn outlived WeChat's 5 seconds: its messages go out as customer-service messages (marked
    undelivered first, so a failed send stays on record for a retry)."""
    if task.cancelled() or task.exception() is not None:
        return
    conv_id, _, stored = task.result()

    async def send() -> None:
        async with consult.state.write_sessions() as session, session.begin():
            await session.execute(
                update(ConversationMessage).where(ConversationMessage.id.in_(stored)).values(delivered=False)
            )
        await consult.deliver(conv_id)

    consult.spawn(send())
