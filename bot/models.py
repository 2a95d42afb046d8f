"""Tables of the bot: conversations (state, slots, the agent on it, the rating) and their transcript."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from case_core.db import Base, JSONType


class Conversation(Base):
    """One consultation: ``state`` walks bot → waiting_human → human → closed. ``sender`` is the channel's id of
    the person (Rasa's ``sender``, a WeChat openid); a closed conversation is never reopened, the next message
    starts a new one."""

    __tablename__ = "bot_conversations"
    __table_args__ = (Index("ix_bot_conversations_channel_sender_state", "channel", "sender", "state"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))  # rest | websocket | wechat
    sender: Mapped[str] = mapped_column(String(128))
    applicant_id: Mapped[int | None] = mapped_column(ForeignKey("applicants.id"))
    state: Mapped[str] = mapped_column(String(16), index=True)
    agent_id: Mapped[int | None] = mapped_column(Integer)
    slots: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    handoff_reason: Mapped[str | None] = mapped_column(String(32))
    rating: Mapped[int | None] = mapped_column(Integer)
    rating_comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    handoff_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]


class ConversationMessage(Base):
    """A line of the transcript. ``delivered`` is false for an agent's reply the applicant's channel has not
    fetched yet (the REST channel picks them up on its next call)."""

    __tablename__ = "bot_messages"
    __table_args__ = (Index("ix_bot_messages_conversation_id", "conversation_id", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("bot_conversations.id"))
    author: Mapped[str] = mapped_column(String(8))  # user | bot | agent | system
    author_id: Mapped[int | None] = mapped_column(Integer)
    text: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    delivered: Mapped[bool] = mapped_column(default=True)
    at: Mapped[datetime]
    # Only for the unit of work: a turn adds a new conversation and its first messages and writes them in one
    # flush (the conversation's INSERT first). Never loaded: reading it would be a query of its own.
    conversation: Mapped[Conversation] = relationship(lazy="raise")


class WechatInbound(Base):
    """WeChat retries a message it got no answer to within 5 s, three times: one row per MsgId, with the
    reply once there is one, so a retry is answered with the same reply and never handled twice."""

    __tablename__ = "bot_wechat_inbound"
    __table_args__ = (UniqueConstraint("msg_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    msg_id: Mapped[str] = mapped_column(String(64))
    reply_xml: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime]
