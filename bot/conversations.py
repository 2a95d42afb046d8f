"""Conversations and their transcript: finding or starting one, the handoff queue, claiming, agents' replies,
closing and the applicant's rating (6.7.6 咨询评价). Each function runs inside the caller's transaction."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import Conversation, ConversationMessage
from case_core.domain.errors import CaseError, Conflict, NotFound, ValidationFailed
from case_core.principals import StaffPrincipal

STATES = ("bot", "waiting_human", "human", "closed")
RATING_WINDOW = timedelta(days=7)


class ConversationStateError(CaseError):
    code = "conversation_invalid_state"
    status = 409


async def open_conversation(session: AsyncSession, channel: str, sender: str) -> Conversation | None:
    return await session.scalar(
        select(Conversation)
        .where(Conversation.channel == channel, Conversation.sender == sender, Conversation.state != "closed")
        .order_by(Conversation.id.desc())
        .limit(1)
    )


# Built once (bound per call): building an ORM statement costs more than SQLite takes to run it.
_LATEST_OPEN = (
    select(Conversation.id)
    .where(
        Conversation.channel == bindparam("channel"),
        Conversation.sender == bindparam("sender"),
        Conversation.state != "closed",
    )
    .order_by(Conversation.id.desc())
    .limit(1)
    .scalar_subquery()
)
_OPEN = select(Conversation).where(Conversation.id == _LATEST_OPEN)
_OPEN_WITH_PENDING = (
    select(Conversation, ConversationMessage)
    .outerjoin(
        ConversationMessage,
        and_(ConversationMessage.conversation_id == Conversation.id, ConversationMessage.delivered.is_(False)),
    )
    .where(Conversation.id == _LATEST_OPEN)
    .order_by(ConversationMessage.id)
)


async def load_open(
    session: AsyncSession, channel: str, sender: str, *, with_pending: bool
) -> tuple[Conversation | None, list[ConversationMessage]]:
    """The sender's open conversation and (``with_pending``) its undelivered messages, in one statement: the
    first read of every turn."""
    params = {"channel": channel, "sender": sender}
    if not with_pending:
        return (await session.execute(_OPEN, params)).scalar_one_or_none(), []
    rows = (await session.execute(_OPEN_WITH_PENDING, params)).all()
    if not rows:
        return None, []
    return rows[0][0], [m for _, m in rows if m is not None]


def start(session: AsyncSession, channel: str, sender: str, applicant_id: int | None, now: datetime) -> Conversation:
    """A new conversation, written with the turn's other rows at its flush (its id is not known before)."""
    conv = Conversation(
        channel=channel,
        sender=sender,
        applicant_id=applicant_id,
        state="bot",
        slots={},
        failures=0,
        created_at=now,
        updated_at=now,
    )
    session.add(conv)
    return conv


async def last_closed_unrated(session: AsyncSession, channel: str, sender: str, now: datetime) -> Conversation | None:
    return await session.scalar(
        select(Conversation)
        .where(
            Conversation.channel == channel,
            Conversation.sender == sender,
            Conversation.state == "closed",
            Conversation.rating.is_(None),
            Conversation.closed_at >= now - RATING_WINDOW,
        )
        .order_by(Conversation.id.desc())
        .limit(1)
    )


def add_message(
    session: AsyncSession,
    conv: Conversation,
    author: str,
    now: datetime,
    *,
    text: str | None = None,
    data: dict[str, Any] | None = None,
    author_id: int | None = None,
    delivered: bool = True,
) -> ConversationMessage:
    msg = ConversationMessage(
        conversation=conv, author=author, author_id=author_id, text=text, data=data, delivered=delivered, at=now
    )
    session.add(msg)
    return msg


def message_view(m: ConversationMessage) -> dict[str, Any]:
    return {
        "id": m.id,
        "author": m.author,
        "author_id": m.author_id,
        "text": m.text,
        "data": m.data,
        "delivered": m.delivered,
        "at": m.at.isoformat(),
    }


def conversation_view(c: Conversation) -> dict[str, Any]:
    return {
        "id": c.id,
        "channel": c.channel,
        "state": c.state,
        "applicant_id": c.applicant_id,
        "agent_id": c.agent_id,
        "handoff_reason": c.handoff_reason,
        "rating": c.rating,
        "rating_comment": c.rating_comment,
        "created_at": c.created_at.isoformat(),
        "updated_at": c.updated_at.isoformat(),
        "handoff_at": c.handoff_at.isoformat() if c.handoff_at else None,
        "closed_at": c.closed_at.isoformat() if c.closed_at else None,
    }


async def transcript(
    session: AsyncSession, conv_id: int, *, after_id: int = 0, limit: int = 200
) -> list[ConversationMessage]:
    rows = await session.scalars(
        select(ConversationMessage)
        .where(ConversationMessage.conversation_id == conv_id, ConversationMessage.id > after_id)
        .order_by(ConversationMessage.id)
        .limit(limit)
    )
    return list(rows)


async def undelivered(session: AsyncSession, conv_id: int) -> list[ConversationMessage]:
    rows = await session.scalars(
        select(ConversationMessage)
        .where(ConversationMessage.conversation_id == conv_id, ConversationMessage.delivered.is_(False))
        .order_by(ConversationMessage.id)
    )
    return list(rows)


async def mark_delivered(session: AsyncSession, ids: list[int]) -> None:
    if ids:
        await session.execute(update(ConversationMessage).where(ConversationMessage.id.in_(ids)).values(delivered=True))


def hand_over(conv: Conversation, reason: str, now: datetime) -> None:
    if conv.state == "bot":
        conv.state, conv.handoff_reason, conv.handoff_at, conv.updated_at = "waiting_human", reason, now, now


# ------------------------------------------------------------------------------------------ agents


async def queue(
    session: AsyncSession, agent: StaffPrincipal, state: str | None, limit: int
) -> list[tuple[Conversation, int]]:
    """Waiting conversations (oldest handoff first) and the agent's own open ones, each with its message count."""
    stmt = select(Conversation)
    if state == "waiting_human":
        stmt = stmt.where(Conversation.state == "waiting_human")
    elif state in ("human", "closed"):
        stmt = stmt.where(Conversation.state == state, Conversation.agent_id == agent.id)
    else:
        stmt = stmt.where(
            (Conversation.state == "waiting_human")
            | ((Conversation.state == "human") & (Conversation.agent_id == agent.id))
        )
    rows = list(await session.scalars(stmt.order_by(Conversation.handoff_at, Conversation.id).limit(limit)))
    counts: dict[int, int] = {}
    if rows:
        counted = await session.execute(
            select(ConversationMessage.conversation_id, func.count())
            .where(ConversationMessage.conversation_id.in_([c.id for c in rows]))
            .group_by(ConversationMessage.conversation_id)
        )
        counts = {cid: n for cid, n in counted}
    return [(c, counts.get(c.id, 0)) for c in rows]


async def get(session: AsyncSession, conv_id: int) -> Conversation:
    conv = await session.get(Conversation, conv_id)
    if conv is None:
        raise NotFound("会话")
    return conv


def _visible(conv: Conversation, agent: StaffPrincipal) -> None:
    """Agents see waiting conversations and their own; another agent's conversation is not theirs to read."""
    if conv.state == "bot" or (conv.agent_id is not None and conv.agent_id != agent.id):
        raise NotFound("会话")


async def for_agent(session: AsyncSession, conv_id: int, agent: StaffPrincipal) -> Conversation:
    conv = await get(session, conv_id)
    _visible(conv, agent)
    return conv


async def claim(session: AsyncSession, conv_id: int, agent: StaffPrincipal, now: datetime) -> Conversation:
    conv = await for_agent(session, conv_id, agent)
    # A conditional UPDATE: of two agents claiming at once, exactly one wins.
    result = await session.execute(
        update(Conversation)
        .where(Conversation.id == conv_id, Conversation.state == "waiting_human")
        .values(state="human", agent_id=agent.id, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("该会话已被其他坐席接入或已结束")
    await session.refresh(conv)
    return conv


def _own(conv: Conversation, agent: StaffPrincipal) -> None:
    if conv.state != "human" or conv.agent_id != agent.id:
        raise ConversationStateError("请先接入该会话；已结束的会话不能再回复")


async def reply(
    session: AsyncSession, conv_id: int, agent: StaffPrincipal, text: str, now: datetime
) -> tuple[Conversation, ConversationMessage]:
    conv = await for_agent(session, conv_id, agent)
    _own(conv, agent)
    msg = add_message(session, conv, "agent", now, text=text, author_id=agent.id, delivered=False)
    conv.updated_at = now
    await session.flush()
    return conv, msg


async def close(
    session: AsyncSession, conv_id: int, agent: StaffPrincipal, now: datetime, rating_prompt: dict[str, Any]
) -> tuple[Conversation, ConversationMessage]:
    conv = await for_agent(session, conv_id, agent)
    if conv.state == "waiting_human":
        conv.agent_id = agent.id  # closing unanswered (e.g. the applicant left): on record as this agent's
    elif conv.state != "human" or conv.agent_id != agent.id:
        raise ConversationStateError("该会话不在您的处理中")
    conv.state, conv.closed_at, conv.updated_at = "closed", now, now
    msg = add_message(session, conv, "bot", now, text=rating_prompt.get("text"), data=rating_prompt, delivered=False)
    await session.flush()
    return conv, msg


def rate(conv: Conversation, score: int, comment: str | None, now: datetime) -> None:
    if conv.state != "closed":
        raise ConversationStateError("会话结束后才能评价")
    if conv.rating is not None:
        raise ConversationStateError("您已评价过本次咨询")
    if not 1 <= score <= 5:
        raise ValidationFailed("评价应为1到5星", fields={"score": "1-5"})
    conv.rating, conv.rating_comment, conv.updated_at = score, (comment or "")[:500] or None, now
