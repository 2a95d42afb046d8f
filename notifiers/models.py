"""Tables of the notifications: the outbox, the delivery log, the in-app inbox, templates, preferences (applicants'
and staff's), job runs, follow-up tasks. The APScheduler job table is declared here too so the migrations (and their
drift test) own it."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Column, Date, Float, ForeignKey, Index, Integer, LargeBinary, String, Table, Text
from sqlalchemy import UniqueConstraint as Unique
from sqlalchemy.orm import Mapped, mapped_column

from case_core.db import Base, JSONType
from case_core.models import Case


class Notification(Base):
    """One thing that happened and must be told (an outbox row), written in the transaction of its cause.

    ``key`` makes the cause idempotent: ``ev:<case>:<n>`` for the n-th timeline event of a case, ``red:<case>:<due>``
    for a light, ``expiry:<licence>:<days>`` … A second scan or a second scheduler inserts nothing.
    The dispatcher expands it into deliveries (recipient × channel) once, then sets ``expanded_at``.
    """

    __tablename__ = "notify_outbox"
    __table_args__ = (Index("ix_notify_outbox_pending", "expanded_at", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(120), unique=True)
    event: Mapped[str] = mapped_column(String(40))
    case_id: Mapped[int | None] = mapped_column(Integer, index=True)
    audience: Mapped[str] = mapped_column(String(16))  # applicant / staff
    recipient_id: Mapped[int | None] = mapped_column(Integer)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime]
    expanded_at: Mapped[datetime | None]


class Delivery(Base):
    """One message to one recipient on one channel: the delivery log and the dispatcher's work queue.

    ``key`` = notification key × recipient × channel: the idempotency key, unique, passed to the provider too.
    status: queued → sending (claimed, ``lease_until``) → sent / delivered, or back to queued with
    ``next_attempt_at`` (retry), or failed (dead letter; an operator may requeue it), or skipped (no address).
    """

    __tablename__ = "notify_deliveries"
    __table_args__ = (
        Index("ix_notify_deliveries_due", "status", "next_attempt_at"),
        Index("ix_notify_deliveries_case", "case_id", "id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(160), unique=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notify_outbox.id"), index=True)
    event: Mapped[str] = mapped_column(String(40))
    case_id: Mapped[int | None] = mapped_column(Integer)
    recipient_type: Mapped[str] = mapped_column(String(16))
    recipient_id: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(16))
    provider: Mapped[str | None] = mapped_column(String(32))
    fallback: Mapped[list[Any]] = mapped_column(JSONType, default=list)  # channels still to try, in order
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # the template's variables
    template_version: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    provider_message_id: Mapped[str | None] = mapped_column(String(128))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class InboxMessage(Base):
    """An in-app message (站内信), written by the dispatcher in the same transaction that marks its delivery sent."""

    __tablename__ = "notify_inbox"
    __table_args__ = (Index("ix_notify_inbox_recipient", "recipient_type", "recipient_id", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("notify_deliveries.id"), unique=True)
    recipient_type: Mapped[str] = mapped_column(String(16))
    recipient_id: Mapped[int] = mapped_column(Integer)
    event: Mapped[str] = mapped_column(String(40))
    case_id: Mapped[int | None] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    read_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class Template(Base):
    """A version of the text for one event on one channel. Saving adds a version; the newest active one is used."""

    __tablename__ = "notify_templates"
    __table_args__ = (Unique("event", "channel", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    event: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    # Provider side: the SMS template code / WeChat template id, and for WeChat the field → text mapping.
    provider_template: Mapped[str | None] = mapped_column(String(64))
    fields: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]


class Preference(Base):
    """An applicant's channels and WeChat subscribe-message consents (each consent allows one message)."""

    __tablename__ = "notify_preferences"
    applicant_id: Mapped[int] = mapped_column(ForeignKey("applicants.id"), primary_key=True)
    channels: Mapped[list[Any]] = mapped_column(JSONType)
    subscribe_consents: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    updated_at: Mapped[datetime]


class StaffPreference(Base):
    """A staff member's channels besides the in-app inbox, among the service account, SMS and e-mail (the same
    shape as an applicant's ``Preference``). No row: every channel of the event's chain."""

    __tablename__ = "notify_staff_preferences"
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), primary_key=True)
    channels: Mapped[list[Any]] = mapped_column(JSONType)
    updated_at: Mapped[datetime]


class ChannelRule(Base):
    """An operator's fallback order of channels for one event, replacing the catalogue's."""

    __tablename__ = "notify_channel_rules"
    event: Mapped[str] = mapped_column(String(40), primary_key=True)
    chain: Mapped[list[Any]] = mapped_column(JSONType)
    updated_by: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime]


class JobRun(Base):
    """One run of a scheduled job for one slot (e.g. the overdue scan of 2026-11-27 09:00). The unique slot is the
    conditional insert that lets only one of two schedulers run it."""

    __tablename__ = "notify_job_runs"
    __table_args__ = (Unique("job_id", "slot"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[str] = mapped_column(String(64))
    slot: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    error: Mapped[str | None] = mapped_column(Text)


class FollowUp(Base):
    """回访任务 after a rating of 1–3 (6.2.6): one per case, for the case's department."""

    __tablename__ = "notify_followups"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), unique=True)
    department_id: Mapped[int] = mapped_column(Integer, index=True)
    level: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="open")
    due_date: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime]


# The overdue scan finds stopped clocks by the days they had left; few cases are paused, so a partial index.
_cases = Case.__table__
Index(
    "ix_cases_paused_days_left",
    _cases.c.paused_days_left,
    postgresql_where=_cases.c.paused_since.is_not(None),
    sqlite_where=_cases.c.paused_since.is_not(None),
)

# APScheduler 3's SQLAlchemyJobStore table, as it creates it; declared so the migration creates it.
apscheduler_jobs = Table(
    "apscheduler_jobs",
    Base.metadata,
    Column("id", String(191), primary_key=True),
    Column("next_run_time", Float(25), index=True),
    Column("job_state", LargeBinary, nullable=False),
)
