"""Notification operators (6.7.7): the delivery log, dead letters, templates, channels, scheduled jobs."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from case_core.domain.errors import CaseError, Conflict, FieldInvalid, Forbidden, NotFound
from case_core.domain.states import Role
from case_core.principals import StaffPrincipal
from mobile_api.deps import CurrentStaff, NowDep, SessionDep
from notifiers import dispatcher as dispatch
from notifiers import service, templates
from notifiers.catalogue import CHANNELS, EVENTS, VARIABLES
from notifiers.jobs import JOBS, last_runs, run_job
from notifiers.models import ChannelRule, Delivery, Template

router = APIRouter(prefix="/ops", tags=["notification operators"])
OPERATOR_ROLES = frozenset({Role.ADMIN.value, "notify_operator"})


async def operator(staff: CurrentStaff) -> StaffPrincipal:
    if not staff.roles & OPERATOR_ROLES:
        raise Forbidden("仅通知管理员可以管理消息、模板和定时任务")
    return staff


class JobFailed(CaseError):
    code = "job_failed"
    status = 500


Operator = Annotated[StaffPrincipal, Depends(operator)]
Service = Annotated[service.NotifyService, Depends(service.get)]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _delivery_out(d: Delivery) -> dict[str, Any]:
    return {
        "id": d.id,
        "key": d.key,
        "event": d.event,
        "case_id": d.case_id,
        "recipient_type": d.recipient_type,
        "recipient_id": d.recipient_id,
        "channel": d.channel,
        "provider": d.provider,
        "status": d.status,
        "attempts": d.attempts,
        "max_attempts": d.max_attempts,
        "next_attempt_at": _iso(d.next_attempt_at) if d.status == dispatch.QUEUED else None,
        "provider_message_id": d.provider_message_id,
        "error": d.error,
        "fallback": d.fallback,
        "title": d.title,
        "template_version": d.template_version,
        "created_at": _iso(d.created_at),
        "sent_at": _iso(d.sent_at),
    }


# ------------------------------------------------------------------------------------------------ deliveries
@router.get("/deliveries")
async def deliveries(
    session: SessionDep,
    _: Operator,
    case_id: int | None = None,
    status: str | None = None,
    channel: str | None = None,
    limit: int = Query(50, ge=1, le=500),
    before_id: int | None = None,
) -> dict:
    """The delivery log, newest first: queued / sending / sent / delivered / failed / fallback / skipped."""
    q = select(Delivery)
    if case_id is not None:
        q = q.where(Delivery.case_id == case_id)
    if status:
        q = q.where(Delivery.status == status)
    if channel:
        q = q.where(Delivery.channel == channel)
    if before_id is not None:
        q = q.where(Delivery.id < before_id)
    rows = (await session.scalars(q.order_by(Delivery.id.desc()).limit(limit))).all()
    return {"items": [_delivery_out(d) for d in rows], "counts": await dispatch.counts(session)}


@router.get("/dead-letters")
async def dead_letters(session: SessionDep, _: Operator, limit: int = Query(50, ge=1, le=500)) -> dict:
    rows = (
        await session.scalars(
            select(Delivery).where(Delivery.status == dispatch.FAILED).order_by(Delivery.id.desc()).limit(limit)
        )
    ).all()
    return {"items": [_delivery_out(d) for d in rows]}


@router.post("/deliveries/{delivery_id}/retry")
async def retry(delivery_id: int, session: SessionDep, _: Operator, now: NowDep) -> dict:
    """Put a dead letter back in the queue with a fresh attempt budget (same idempotency key)."""
    if await session.get(Delivery, delivery_id) is None:
        raise NotFound("投递记录")
    if not await dispatch.requeue(session, delivery_id, now):
        raise Conflict("只有投递失败的消息可以重试")
    return {"id": delivery_id, "status": dispatch.QUEUED}


# ------------------------------------------------------------------------------------------------ channels
@router.get("/channels")
async def channels(session: SessionDep, svc: Service, _: Operator) -> dict:
    configured = svc.dispatcher.channels
    rules = {r.event: r.chain for r in (await session.scalars(select(ChannelRule))).all()}
    chains = svc.settings.chains
    ns = svc.settings
    return {
        "channels": [
            {
                "channel": c,
                "configured": c in configured or c == "inapp",
                "provider": getattr(configured.get(c), "provider", None),
            }
            for c in CHANNELS
        ],
        "events": [
            {
                "event": e.name,
                "label": e.label,
                "audience": e.audience,
                "fallback_order": list(rules[e.name] if e.name in rules else chains.get(e.name) or e.chain),
                "variables": sorted(VARIABLES[e.name]),
            }
            for e in EVENTS.values()
        ],
        "quiet_hours": {"start": ns.quiet_start_hour, "end": ns.quiet_end_hour, "channels": ["sms"]},
        "rate_limit_per_hour": ns.rate_limit_per_hour,
    }


class ChainIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    fallback_order: list[str] = Field(max_length=len(CHANNELS))


@router.put("/channels/{event}")
async def set_chain(event: str, body: ChainIn, session: SessionDep, staff: Operator, now: NowDep) -> dict:
    """The order in which an event's external channels are tried (in-app is always sent besides). An empty list:
    in-app only."""
    if event not in EVENTS:
        raise NotFound("通知类型")
    chain = body.fallback_order
    bad = [c for c in chain if c not in CHANNELS or c == "inapp"]
    if bad or len(set(chain)) != len(chain):
        raise FieldInvalid(
            {"fallback_order": f"渠道须为微信、公众号、短信、电子邮件之一且不重复：{'、'.join(bad) or '有重复'}"}
        )
    rule = await session.get(ChannelRule, event)
    if rule is None:
        rule = ChannelRule(event=event, chain=chain, updated_by=staff.id, updated_at=now)
        session.add(rule)
    rule.chain, rule.updated_by, rule.updated_at = list(chain), staff.id, now
    return {"event": event, "fallback_order": chain}


# ------------------------------------------------------------------------------------------------ templates
class TemplateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=20000)
    fields: dict[str, str] = Field(default_factory=dict, max_length=20)
    provider_template: str | None = Field(default=None, max_length=64)


class PreviewIn(TemplateIn):
    values: dict[str, str] = Field(default_factory=dict)


def _known(event: str, channel: str) -> None:
    if event not in EVENTS:
        raise NotFound("通知类型")
    if channel not in CHANNELS:
        raise NotFound("渠道")


@router.get("/templates")
async def list_templates(session: SessionDep, _: Operator) -> dict:
    """The template in use for every event × channel (an operator's newest version, else the built-in one)."""
    items = []
    for event in EVENTS:
        for channel in CHANNELS:
            items.append(templates.template_out(await templates.active(session, event, channel)))
    return {"items": items}


@router.get("/templates/{event}/{channel}")
async def template_versions(event: str, channel: str, session: SessionDep, _: Operator) -> dict:
    _known(event, channel)
    rows = (
        await session.scalars(
            select(Template)
            .where(Template.event == event, Template.channel == channel)
            .order_by(Template.version.desc())
        )
    ).all()
    return {
        "active": templates.template_out(await templates.active(session, event, channel)),
        "versions": [templates.template_out(t) for t in rows],
        "variables": sorted(VARIABLES[event]),
    }


@router.put("/templates/{event}/{channel}")
async def save_template(
    event: str, channel: str, body: TemplateIn, session: SessionDep, staff: Operator, now: NowDep
) -> dict:
    """Save a new version (checked: variables exist, fields fit the channel). Messages already queued keep theirs."""
    _known(event, channel)
    row = await templates.save(
        session,
        event=event,
        channel=channel,
        title=body.title,
        body=body.body,
        fields=body.fields,
        provider_template=body.provider_template,
        staff_id=staff.id,
        now=now,
    )
    return templates.template_out(row)


@router.post("/templates/{event}/{channel}/preview")
async def preview(event: str, channel: str, body: PreviewIn, _: Operator) -> dict:
    _known(event, channel)
    templates.check(event, channel, body.title, body.body, body.fields)
    values = {**templates.SAMPLES, **body.values}
    draft = Template(event=event, channel=channel, version=0, title=body.title, body=body.body, fields=body.fields)
    r = templates.render(draft, values)
    return {"title": r.title, "body": r.body, "fields": r.fields, "length": len(r.body)}


# ------------------------------------------------------------------------------------------------ jobs
@router.get("/jobs")
async def jobs(session: SessionDep, svc: Service, _: Operator) -> dict:
    stored = {j["id"]: j for j in await asyncio.to_thread(svc.admin.list)}
    runs = await last_runs(session)
    items = []
    for spec in JOBS.values():
        job = stored.get(spec.id, {})
        run = runs.get(spec.id)
        items.append(
            {
                "id": spec.id,
                "name": spec.name,
                "trigger": job.get("trigger"),
                "paused": job.get("paused", False),
                "next_run_at": job.get("next_run_at"),
                "last_run": None
                if run is None
                else {
                    "slot": run.slot,
                    "started_at": _iso(run.started_at),
                    "finished_at": _iso(run.finished_at),
                    "result": run.result,
                    "error": run.error,
                },
            }
        )
    return {"items": items}


def _job(job_id: str) -> None:
    if job_id not in JOBS:
        raise NotFound("定时任务")


@router.post("/jobs/{job_id}/pause")
async def pause(job_id: str, svc: Service, _: Operator) -> dict:
    _job(job_id)
    await asyncio.to_thread(svc.admin.pause, job_id)
    return {"id": job_id, "paused": True}


@router.post("/jobs/{job_id}/resume")
async def resume(job_id: str, svc: Service, _: Operator) -> dict:
    _job(job_id)
    await asyncio.to_thread(svc.admin.resume, job_id)
    return {"id": job_id, "paused": False}


@router.post("/jobs/{job_id}/run")
async def run_now(job_id: str, svc: Service, _: Operator, now: NowDep) -> dict:
    """Run a job now, in this request (the jobs are set-based and idempotent: nobody hears anything twice)."""
    _job(job_id)
    try:
        result = await run_job(svc.jobs, job_id, now, manual=True)
    except RuntimeError as exc:
        raise JobFailed("定时任务执行失败，请查看任务记录", job=job_id) from exc
    return {"id": job_id, "result": result}
