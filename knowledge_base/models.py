"""Tables of the consultation knowledge base (统一咨询知识库): entries with their versions, synonyms, feedback and
the queue of questions the bot could not answer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from case_core.db import Base, JSONType


class KbEntry(Base):
    """One question-and-answer entry. ``key`` is the stable id of the seed file (``faq-0001``).

    The columns hold the working copy, whose ``status`` walks draft → in_review → published (→ archived).
    ``published_doc`` is the copy the bot serves: editing a published entry leaves it in service until the edit
    is reviewed and published in turn. Every change adds a KbEntryVersion."""

    __tablename__ = "kb_entries"
    __table_args__ = (Index("ix_kb_entries_status_updated", "status", "updated_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    question: Mapped[str] = mapped_column(Text)
    similar: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    answer: Mapped[str] = mapped_column(Text)
    item_code: Mapped[str | None] = mapped_column(String(32))
    tags: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    version: Mapped[int] = mapped_column(Integer, default=1)
    hits: Mapped[int] = mapped_column(Integer, default=0)
    useful: Mapped[int] = mapped_column(Integer, default=0)
    not_useful: Mapped[int] = mapped_column(Integer, default=0)
    author_id: Mapped[int | None] = mapped_column(Integer)
    reviewer_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    published_at: Mapped[datetime | None]
    published_doc: Mapped[dict[str, Any] | None] = mapped_column(JSONType)


class KbEntryVersion(Base):
    """The full history: a snapshot of the entry after each change, with who did it and what (edit, publish…)."""

    __tablename__ = "kb_entry_versions"
    __table_args__ = (UniqueConstraint("entry_id", "seq"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("kb_entries.id"))
    seq: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSONType)
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor_name: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime]


class KbSynonym(Base):
    """``term`` means ``canonical`` (护士证 = 护士执业证书): both become one token in the index and in queries."""

    __tablename__ = "kb_synonyms"
    id: Mapped[int] = mapped_column(primary_key=True)
    term: Mapped[str] = mapped_column(String(64), unique=True)
    canonical: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime]


class KbFeedback(Base):
    __tablename__ = "kb_feedback"
    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("kb_entries.id"), index=True)
    useful: Mapped[bool] = mapped_column(Boolean)
    conversation_id: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime]


class KbUnanswered(Base):
    """A question the bot answered with low confidence or not at all; repeated questions count up one row."""

    __tablename__ = "kb_unanswered"
    __table_args__ = (Index("ix_kb_unanswered_status_last", "status", "last_seen_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    question: Mapped[str] = mapped_column(String(500))
    normalized: Mapped[str] = mapped_column(String(500), unique=True)
    best_key: Mapped[str | None] = mapped_column(String(64))
    best_score: Mapped[float | None]
    count: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16))  # open | resolved | dismissed
    entry_id: Mapped[int | None] = mapped_column(Integer)
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
