"""ORM models: the tables of the case core. Queries live in the services and ``queries``; this file only maps."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from case_core.db import Base, JSONType


class Department(Base):
    __tablename__ = "departments"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # Materialised path ("/440100/440106/"): a staff member sees cases of their department and those below it.
    path: Mapped[str] = mapped_column(String(255), index=True)


class Staff(Base):
    __tablename__ = "staff"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(255))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    roles: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    # Access tokens carry the generation they were issued under; raising it (disable, password reset or change,
    # roles or department changed, logout) ends every token issued before (mobile_api.staff_sessions).
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Set on an account the admin gave a password (created, reset): until its owner chooses one, every endpoint
    # but the password change and logout answers 403 ``password_change_required``.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    password_changed_at: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]
    # Where reminders reach them off the app (notifiers resolves these): personal data, SM4-encrypted, with a
    # masked copy for display; the clear values go to the staff member themself and, audited, to admins.
    phone_enc: Mapped[str | None] = mapped_column(Text)
    phone_masked: Mapped[str | None] = mapped_column(String(32))
    email_enc: Mapped[str | None] = mapped_column(Text)
    email_masked: Mapped[str | None] = mapped_column(String(160))
    mp_openid_enc: Mapped[str | None] = mapped_column(Text)  # WeChat service-account (公众号) openid
    mp_openid_masked: Mapped[str | None] = mapped_column(String(64))
    # Blind index of the openid (``FieldCipher.blind_index``): one service-account openid belongs to one staff
    # member, found by it when they bind it from a WeChat message (case_core.services.staff_wechat_bind).
    mp_openid_index: Mapped[str | None] = mapped_column(String(64), unique=True)
    contacts_updated_at: Mapped[datetime | None]


class StaffWechatBindCode(Base):
    """A staff member's one-time code for binding their service-account openid by sending ``绑定 <code>``: at most
    one live code per account, stored as a keyed hash, deleted when used."""

    __tablename__ = "staff_wechat_bind_codes"
    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), unique=True)
    code_index: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class Applicant(Base):
    """申办人. Personal data is stored encrypted (``*_enc``), with a masked copy for display and a blind index
    for exact search; reads of the clear values by staff are audited."""

    __tablename__ = "applicants"
    id: Mapped[int] = mapped_column(primary_key=True)
    openid: Mapped[str] = mapped_column(String(64), unique=True)
    unionid: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(64))
    id_type: Mapped[str | None] = mapped_column(String(32))
    id_number_enc: Mapped[str | None] = mapped_column(Text)
    id_number_masked: Mapped[str | None] = mapped_column(String(40))
    id_number_index: Mapped[str | None] = mapped_column(String(64), index=True)
    phone_enc: Mapped[str | None] = mapped_column(Text)
    phone_masked: Mapped[str | None] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(128))
    address_enc: Mapped[str | None] = mapped_column(Text)
    address_masked: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class MaterialType(Base):
    __tablename__ = "material_types"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    category: Mapped[str | None] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)


class ServiceItem(Base):
    """事项. ``data`` keeps the whole catalogue entry (guide, conditions, fee…); the columns are what we query."""

    __tablename__ = "service_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    category: Mapped[str] = mapped_column(String(16))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    promised_limit_working_days: Mapped[int] = mapped_column(Integer)
    legal_limit_working_days: Mapped[int] = mapped_column(Integer)
    online_available: Mapped[bool] = mapped_column(Boolean, default=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    form_version_id: Mapped[int | None] = mapped_column(ForeignKey("form_versions.id", use_alter=True))
    process_version_id: Mapped[int | None] = mapped_column(ForeignKey("process_versions.id", use_alter=True))
    updated_at: Mapped[datetime]


class FormVersion(Base):
    """A version of an item's form (6.7.3). Editing a form adds a version; a case keeps the one it started with."""

    __tablename__ = "form_versions"
    __table_args__ = (UniqueConstraint("item_id", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("service_items.id"))
    version: Mapped[int] = mapped_column(Integer)
    fields: Mapped[list[Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime]


class ProcessVersion(Base):
    """A version of an item's process template (6.4.9): ordered steps, each with its responsible role."""

    __tablename__ = "process_versions"
    __table_args__ = (UniqueConstraint("item_id", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("service_items.id"))
    version: Mapped[int] = mapped_column(Integer)
    steps: Mapped[list[Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime]


class Case(Base):
    """办件."""

    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_applicant_status", "applicant_id", "status"),
        Index("ix_cases_department_status", "department_id", "status"),
        # The task lists' orders: each part of the to-do by deadline (queries._tasks_statement), finished
        # newest first. ix_cases_status_due also serves the reminders' deadline scans (notifiers.jobs).
        Index("ix_cases_status_due", "status", "due_date", "id"),
        Index("ix_cases_status_role_due", "status", "step_role", "due_date", "id"),
        Index("ix_cases_finished_id", "finished_at", "id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    serial_no: Mapped[str] = mapped_column(String(24), unique=True)
    applicant_id: Mapped[int] = mapped_column(ForeignKey("applicants.id"))
    applicant_name: Mapped[str | None] = mapped_column(String(64))
    item_id: Mapped[int] = mapped_column(ForeignKey("service_items.id"))
    item_code: Mapped[str] = mapped_column(String(32))
    item_name: Mapped[str] = mapped_column(String(100))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    form_version_id: Mapped[int] = mapped_column(ForeignKey("form_versions.id"))
    process_version_id: Mapped[int] = mapped_column(ForeignKey("process_versions.id"))
    status: Mapped[str] = mapped_column(String(24))  # indexed as the first column of ix_cases_status_due
    step_index: Mapped[int | None] = mapped_column(Integer)
    step_key: Mapped[str | None] = mapped_column(String(32))
    step_role: Mapped[str | None] = mapped_column(String(32))
    # Form values and delivery choices: masked copy for display, SM4-encrypted full copy for the owner and
    # for staff allowed to see personal data.
    form_masked: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    delivery_masked: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    secret: Mapped[str | None] = mapped_column(Text)
    # Denormalised for the detail read (one row instead of four queries); rewritten on every change to them.
    materials_doc: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    notices_doc: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    supplement_count: Mapped[int] = mapped_column(Integer, default=0)
    extension_days: Mapped[int] = mapped_column(Integer, default=0)
    promised_limit_working_days: Mapped[int] = mapped_column(Integer)
    legal_limit_working_days: Mapped[int] = mapped_column(Integer)
    licence_expected: Mapped[bool] = mapped_column(Boolean, default=False)
    submitted_at: Mapped[datetime | None]
    accepted_at: Mapped[datetime | None]
    due_date: Mapped[date | None] = mapped_column(Date)
    deadline_provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    # Set while the working-day clock stands still; the light is frozen at that day.
    paused_since: Mapped[datetime | None]
    paused_days_left: Mapped[int | None] = mapped_column(Integer)
    finished_at: Mapped[datetime | None]
    event_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # Optimistic lock: an UPDATE that finds another version affects no row and is refused (409).
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 (SQLAlchemy reads it as a plain dict)


class CaseEvent(Base):
    """One line of the timeline: who did what, when, with which opinion. Also the outbox of domain events."""

    __tablename__ = "case_events"
    __table_args__ = (
        Index("ix_case_events_case_id_id", "case_id", "id"),
        Index("ix_case_events_actor", "actor_type", "actor_id", "case_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    at: Mapped[datetime]
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor_name: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(24))
    to_status: Mapped[str | None] = mapped_column(String(24))
    step_key: Mapped[str | None] = mapped_column(String(32))
    opinion: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSONType)


class ClockPause(Base):
    """A stretch during which the working-day clock stands still (挂起, or a step that does not count)."""

    __tablename__ = "clock_pauses"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class Notice(Base):
    """回执通知书: 受理通知书、补正告知书、不予受理通知书…"""

    __tablename__ = "notices"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    defects: Mapped[list[Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime]


class Material(Base):
    """One uploaded (or reused) file for a material of a case. Replacing keeps the old row as ``replaced``."""

    __tablename__ = "materials"
    __table_args__ = (Index("ix_materials_case_state", "case_id", "state"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    applicant_id: Mapped[int] = mapped_column(ForeignKey("applicants.id"), index=True)
    material_type: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(255))
    source: Mapped[str] = mapped_column(String(16), default="upload")  # upload / reuse
    reused_from_id: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default="active")  # active / replaced / deleted
    valid_until: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime]
    # What the material check (ocr package) found, masked, for the case's material list: status, type,
    # findings, and the values read beside the ones typed. The full result is in material_checks, encrypted.
    check_doc: Mapped[dict[str, Any] | None] = mapped_column(JSONType)


class MaterialCheck(Base):
    """The machine reading of one uploaded material (材料自动感知/自动纠错). The values and text read carry
    personal data (names, ID numbers, addresses) and are stored SM4-encrypted."""

    __tablename__ = "material_checks"
    id: Mapped[int] = mapped_column(primary_key=True)
    material_id: Mapped[int] = mapped_column(ForeignKey("materials.id"), unique=True)
    status: Mapped[str] = mapped_column(String(16))  # pending / done / failed
    material_type: Mapped[str | None] = mapped_column(String(64))
    confidence: Mapped[float | None] = mapped_column(Float)
    findings: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    fields_enc: Mapped[str | None] = mapped_column(Text)
    text_enc: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(String(64))
    timings: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class Licence(Base):
    """电子证照 issued to an applicant at the end of a case."""

    __tablename__ = "licences"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), unique=True)
    applicant_id: Mapped[int] = mapped_column(ForeignKey("applicants.id"), index=True)
    licence_type: Mapped[str] = mapped_column(String(100))
    material_type: Mapped[str | None] = mapped_column(String(64))
    licence_no: Mapped[str] = mapped_column(String(40), unique=True)
    holder_name: Mapped[str | None] = mapped_column(String(100))
    issued_at: Mapped[datetime]
    valid_until: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="valid")  # valid / revoked


class Evaluation(Base):
    """办件评价 (6.2.6): one per case, level 1 (非常不满意) … 5 (非常满意)."""

    __tablename__ = "evaluations"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), unique=True)
    applicant_id: Mapped[int] = mapped_column(ForeignKey("applicants.id"))
    level: Mapped[int] = mapped_column(Integer)
    aspects: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


class AuditEntry(Base):
    """Who did or saw what, when, from where: every transition and every staff read of personal data."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(48))
    case_id: Mapped[int | None] = mapped_column(Integer, index=True)
    target: Mapped[str | None] = mapped_column(String(100))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    ip: Mapped[str | None] = mapped_column(String(64))


class CalendarDay(Base):
    """A date whose working-day status differs from Monday–Friday: a holiday, or a make-up working day (调休)."""

    __tablename__ = "calendar_days"
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    is_workday: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str | None] = mapped_column(String(64))


class CalendarYear(Base):
    """A year whose holidays are known (published by the State Council and loaded, or entered by an operator)."""

    __tablename__ = "calendar_years"
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(32))  # chinesecalendar / operator
    updated_at: Mapped[datetime]


class SerialCounter(Base):
    __tablename__ = "serial_counters"
    day: Mapped[str] = mapped_column(String(8), primary_key=True)
    last: Mapped[int] = mapped_column(Integer)
