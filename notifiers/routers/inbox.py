"""The caller's in-app messages (站内信) and the notification preferences of applicants and of staff."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select, update

from case_core.domain.errors import FieldInvalid, NotFound
from mobile_api.deps import CurrentApplicant, CurrentStaff, NowDep, SessionDep, app_state, bearer
from notifiers.catalogue import APPLICANT_CHOICES, EVENTS, STAFF_CHOICES
from notifiers.dispatcher import DEFAULT_APPLICANT_CHANNELS
from notifiers.models import InboxMessage, Preference, StaffPreference

router = APIRouter(tags=["notifications"])


async def recipient(request: Request) -> tuple[str, int]:
    """(``applicant`` | ``staff``, id) from the bearer token: both kinds of user have an inbox."""
    tokens, token = app_state(request).tokens, bearer(request)
    if tokens.decode(token).get("typ") == "staff":
        return "staff", tokens.staff(token).id
    return "applicant", tokens.applicant(token).id


Recipient = Annotated[tuple[str, int], Depends(recipient)]


def _message_out(m: InboxMessage) -> dict[str, Any]:
    return {
        "id": m.id,
        "event": m.event,
        "case_id": m.case_id,
        "title": m.title,
        "body": m.body,
        "read": m.read_at is not None,
        "created_at": m.created_at.isoformat(),
    }


@router.get("/inbox")
async def inbox(
    session: SessionDep,
    who: Recipient,
    unread: bool = False,
    limit: int = Query(20, ge=1, le=100),
    before_id: int | None = None,
) -> dict:
    """Newest first; ``before_id`` pages backwards (stable while new messages arrive)."""
    kind, rid = who
    mine = (InboxMessage.recipient_type == kind, InboxMessage.recipient_id == rid)
    q = select(InboxMessage).where(*mine)
    if unread:
        q = q.where(InboxMessage.read_at.is_(None))
    if before_id is not None:
        q = q.where(InboxMessage.id < before_id)
    rows = (await session.scalars(q.order_by(InboxMessage.id.desc()).limit(limit))).all()
    unread_count = await session.scalar(
        select(func.count()).select_from(InboxMessage).where(*mine, InboxMessage.read_at.is_(None))
    )
    return {"items": [_message_out(m) for m in rows], "unread": unread_count or 0}


@router.post("/inbox/{message_id}/read")
async def mark_read(message_id: int, session: SessionDep, who: Recipient, now: NowDep) -> dict:
    kind, rid = who
    m = await session.get(InboxMessage, message_id)
    if m is None or (m.recipient_type, m.recipient_id) != (kind, rid):
        raise NotFound("消息")  # another's message is as absent as a missing one
    if m.read_at is None:
        m.read_at = now
    return _message_out(m)


@router.post("/inbox/read-all")
async def mark_all_read(session: SessionDep, who: Recipient, now: NowDep) -> dict:
    kind, rid = who
    result = await session.execute(
        update(InboxMessage)
        .where(InboxMessage.recipient_type == kind, InboxMessage.recipient_id == rid, InboxMessage.read_at.is_(None))
        .values(read_at=now)
    )
    return {"marked": result.rowcount}  # type: ignore[attr-defined]


class PreferencesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channels: list[str] = Field(max_length=len(APPLICANT_CHOICES))


class ConsentsIn(BaseModel):
    """What wx.requestSubscribeMessage returned, by event: each "accept" allows one subscribe message."""

    model_config = ConfigDict(extra="forbid")
    accepted: list[str] = Field(default_factory=list, max_length=50)


def _prefs_out(p: Preference | None) -> dict:
    return {
        "channels": list(p.channels) if p else list(DEFAULT_APPLICANT_CHANNELS),
        "available": ["inapp", *APPLICANT_CHOICES],
        "subscribe_consents": dict(p.subscribe_consents) if p else {},
    }


@router.get("/me/notifications")
async def get_preferences(session: SessionDep, applicant: CurrentApplicant) -> dict:
    return _prefs_out(await session.get(Preference, applicant.id))


@router.put("/me/notifications")
async def put_preferences(body: PreferencesIn, session: SessionDep, applicant: CurrentApplicant, now: NowDep) -> dict:
    """The channels an applicant wants besides the in-app inbox (which is always on)."""
    unknown = [c for c in body.channels if c not in APPLICANT_CHOICES]
    if unknown:
        raise FieldInvalid({"channels": f"不支持的通知方式：{'、'.join(unknown)}；可选：微信、短信、电子邮件"})
    pref = await session.get(Preference, applicant.id)
    if pref is None:
        pref = Preference(applicant_id=applicant.id, channels=[], subscribe_consents={}, updated_at=now)
        session.add(pref)
    pref.channels = list(dict.fromkeys(body.channels))
    pref.updated_at = now
    return _prefs_out(pref)


@router.post("/me/notifications/consents")
async def add_consents(body: ConsentsIn, session: SessionDep, applicant: CurrentApplicant, now: NowDep) -> dict:
    unknown = [e for e in body.accepted if e not in EVENTS]
    if unknown:
        raise FieldInvalid({"accepted": f"没有这类通知：{'、'.join(unknown)}"})
    pref = await session.get(Preference, applicant.id, with_for_update=True)
    if pref is None:
        pref = Preference(
            applicant_id=applicant.id, channels=list(DEFAULT_APPLICANT_CHANNELS), subscribe_consents={}, updated_at=now
        )
        session.add(pref)
    consents = dict(pref.subscribe_consents or {})
    for event in body.accepted:
        consents[event] = int(consents.get(event, 0)) + 1
    pref.subscribe_consents = consents
    pref.updated_at = now
    return _prefs_out(pref)


# ------------------------------------------------------------------------------------------------ staff
CHANNEL_LABELS = {"wechat_mp": "微信服务号", "sms": "短信", "email": "电子邮件"}


class StaffPreferencesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # null: back to the default (each event's own channels); a list: these besides the in-app inbox.
    channels: list[str] | None = Field(max_length=len(STAFF_CHOICES))


def _staff_prefs_out(p: StaffPreference | None) -> dict:
    return {
        "channels": list(p.channels) if p else None,
        "default": p is None,
        "available": ["inapp", *STAFF_CHOICES],
    }


@router.get("/staff/me/notifications")
async def get_staff_preferences(session: SessionDep, staff: CurrentStaff) -> dict:
    return _staff_prefs_out(await session.get(StaffPreference, staff.id))


@router.put("/staff/me/notifications")
async def put_staff_preferences(
    body: StaffPreferencesIn, session: SessionDep, staff: CurrentStaff, now: NowDep
) -> dict:
    """The channels a staff member wants besides the in-app inbox (always on); null restores the default."""
    pref = await session.get(StaffPreference, staff.id)
    if body.channels is None:
        if pref is not None:
            await session.delete(pref)
        return _staff_prefs_out(None)
    unknown = [c for c in body.channels if c not in STAFF_CHOICES]
    if unknown:
        choices = "、".join(CHANNEL_LABELS.values())
        raise FieldInvalid({"channels": f"不支持的通知方式：{'、'.join(unknown)}；可选：{choices}"})
    if pref is None:
        pref = StaffPreference(staff_id=staff.id, channels=[], updated_at=now)
        session.add(pref)
    pref.channels = list(dict.fromkeys(body.channels))
    pref.updated_at = now
    return _staff_prefs_out(pref)
