"""Cases: create, save a draft, submit, withdraw, staff actions (one at a time or in a batch), evaluation.

Every status change goes through ``_apply``, which asks ``domain.transitions.transition`` first and only then
writes: the status, the step pointer, the clock (pauses and the deadline), the timeline event, the notice, the
licence, the audit row. A concurrent change to the same case fails the optimistic lock and nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from case_core import calendar, events
from case_core.catalogue import get_item, material_type_names, versions_for
from case_core.context import CoreContext
from case_core.domain.clock import Deadline, Pause, compute_deadline, light_for
from case_core.domain.errors import CaseError, Conflict, FieldInvalid, NotFound, ValidationFailed
from case_core.domain.forms import FieldDef, clean_form, missing_required
from case_core.domain.masking import mask_by_kind
from case_core.domain.serial import make_serial
from case_core.domain.states import CLOCKED_STATUSES, EDITABLE_STATUSES, FINISHED_STATUSES, Action, Status
from case_core.domain.transitions import Actor, CaseFacts, Defect, Params, StepDef, clock_paused, transition
from case_core.models import (
    Applicant,
    Case,
    CaseEvent,
    ClockPause,
    Department,
    Evaluation,
    Licence,
    Notice,
    SerialCounter,
)
from case_core.notices import compose
from case_core.principals import ApplicantPrincipal, RequestInfo, StaffPrincipal
from case_core.services import audit
from case_core.timeutil import local_date

NAME_KEYS = ("applicant_name", "entity_name", "institution_name", "newborn_name")


# ----------------------------------------------------------------------------------------------- loading


async def get_for_applicant(
    session: AsyncSession, *, case_id: int, applicant: ApplicantPrincipal, for_update: bool = False
) -> Case:
    """The applicant's own case; another's is reported as not found (404, never 403)."""
    case = await session.get(Case, case_id, with_for_update=for_update)
    if case is None or case.applicant_id != applicant.id:
        raise NotFound("办件")
    return case


async def department_path(session: AsyncSession, department_id: int) -> str:
    path = await session.scalar(select(Department.path).where(Department.id == department_id))
    return path or ""


async def get_for_staff(session: AsyncSession, *, case_id: int, staff: StaffPrincipal) -> Case:
    """A case in the staff member's department or below; any other is not found."""
    case = await session.get(Case, case_id)
    if case is None or not (await department_path(session, case.department_id)).startswith(staff.department_path):
        raise NotFound("办件")
    return case


# ----------------------------------------------------------------------------------------------- drafts


async def _next_serial(session: AsyncSession, day: date) -> str:
    key = f"{day:%Y%m%d}"
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(SerialCounter).values(day=key, last=1)
    stmt = stmt.on_conflict_do_update(index_elements=["day"], set_={"last": SerialCounter.last + 1})
    seq = await session.scalar(stmt.returning(SerialCounter.last))
    assert seq is not None
    return make_serial(day, int(seq))


async def create(session: AsyncSession, *, applicant: ApplicantPrincipal, item_code: str, now: datetime) -> Case:
    item = await get_item(session, item_code)
    if not item.online_available:
        raise ValidationFailed("该事项暂不支持网上申办，请到办事大厅现场办理")
    assert item.form_version_id is not None and item.process_version_id is not None
    person = await session.get(Applicant, applicant.id)
    result = item.data.get("result") or {}
    case = Case(
        serial_no=await _next_serial(session, local_date(now)),
        applicant_id=applicant.id,
        applicant_name=person.name if person else None,
        item_id=item.id,
        item_code=item.code,
        item_name=item.name,
        department_id=item.department_id,
        form_version_id=item.form_version_id,
        process_version_id=item.process_version_id,
        status=Status.DRAFT,
        form_masked={},
        delivery_masked={},
        materials_doc=[],
        notices_doc=[],
        promised_limit_working_days=item.promised_limit_working_days,
        legal_limit_working_days=item.legal_limit_working_days,
        licence_expected=bool(result.get("e_licence")) or result.get("licence_type") not in (None, "none"),
        created_at=now,
        updated_at=now,
    )
    session.add(case)
    await session.flush()
    _event(
        session,
        case,
        actor_type="applicant",
        actor_id=applicant.id,
        actor_name=None,
        action="create",
        from_status=None,
        to_status=Status.DRAFT,
        now=now,
    )
    await _flush(session)
    return case


def read_secret(ctx: CoreContext, case: Any) -> dict[str, Any]:
    return ctx.cipher.decrypt_json(case.secret) if case.secret else {"form": {}, "delivery": {}}


def _mask_form(fields: tuple[FieldDef, ...], form: dict[str, Any]) -> dict[str, Any]:
    by_key = {f.key: f for f in fields}
    out: dict[str, Any] = {}
    for key, value in form.items():
        f = by_key.get(key)
        if f is not None and f.sensitive and isinstance(value, str):
            kind = f.type if f.type in ("id_number", "phone") else ("account" if f.validator == "Luhn" else "text")
            out[key] = mask_by_kind(kind, value)
        else:
            out[key] = value
    return out


DELIVERY_KEYS = ("material_submission", "pickup", "address", "recipient", "recipient_phone")


def _clean_delivery(item_data: dict[str, Any], delivery: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    errors: dict[str, str] = {}
    cleaned: dict[str, Any] = {}
    for key, value in delivery.items():
        if key not in DELIVERY_KEYS:
            errors[f"delivery.{key}"] = f"送达信息中没有“{key}”这一项"
        elif value is None or (isinstance(value, str) and not value.strip()):
            continue
        elif not isinstance(value, str) or len(value) > 300:
            errors[f"delivery.{key}"] = "送达信息格式不正确"
        else:
            cleaned[key] = value.strip()
    methods = item_data.get("submission_methods") or []
    if "material_submission" in cleaned and cleaned["material_submission"] not in methods:
        errors["delivery.material_submission"] = "材料递交方式须为：" + "、".join(methods)
    pickups = item_data.get("delivery") or []
    if "pickup" in cleaned and cleaned["pickup"] not in pickups:
        errors["delivery.pickup"] = "证件领取方式须为：" + "、".join(pickups)
    if "recipient_phone" in cleaned:
        _, err = clean_form(
            [FieldDef("recipient_phone", "收件人电话", "phone")], {"recipient_phone": cleaned["recipient_phone"]}
        )
        errors.update({f"delivery.{k}": v for k, v in err.items()})
    return cleaned, errors


def _delivery_missing(delivery: dict[str, Any]) -> tuple[str, ...]:
    missing = []
    if not delivery.get("material_submission"):
        missing.append("材料递交方式")
    if not delivery.get("pickup"):
        missing.append("证件领取方式")
    mails = delivery.get("material_submission") == "邮寄递交" or delivery.get("pickup") == "邮寄"
    if mails and not delivery.get("address"):
        missing.append("邮寄地址")
    return tuple(missing)


async def save_draft(
    session: AsyncSession,
    ctx: CoreContext,
    *,
    case_id: int,
    applicant: ApplicantPrincipal,
    form: dict[str, Any] | None,
    delivery: dict[str, Any] | None,
    now: datetime,
) -> Case:
    """暂存: merge the given values into the draft. Any invalid value refuses the whole save (422)."""
    case = await get_for_applicant(session, case_id=case_id, applicant=applicant)
    if case.status not in EDITABLE_STATUSES:
        raise Conflict("办件已提交，不能再修改表单", status=case.status)
    fields, _ = await versions_for(session, case.form_version_id, case.process_version_id)
    item = await get_item(session, case.item_code)
    secret = read_secret(ctx, case)
    merged_form = dict(secret.get("form", {}))
    merged_delivery = dict(secret.get("delivery", {}))
    errors: dict[str, str] = {}
    if form is not None:
        candidate = {**merged_form, **form}
        cleaned, form_errors = clean_form(fields, {k: v for k, v in candidate.items() if k in form or k == "id_type"})
        errors.update({k: v for k, v in form_errors.items() if k in form})
        for key, value in form.items():
            if value is None or (isinstance(value, str) and not value.strip()):
                merged_form.pop(key, None)
            elif key in cleaned:
                merged_form[key] = cleaned[key]
    if delivery is not None:
        cleaned_d, d_errors = _clean_delivery(item.data, delivery)
        errors.update(d_errors)
        for key, value in delivery.items():
            if key in cleaned_d:
                merged_delivery[key] = cleaned_d[key]
            elif value is None or value == "":
                merged_delivery.pop(key, None)
    if errors:
        raise FieldInvalid(errors)
    case.secret = ctx.cipher.encrypt_json({"form": merged_form, "delivery": merged_delivery})
    case.form_masked = _mask_form(fields, merged_form)
    case.delivery_masked = {
        k: (mask_by_kind("text", v) if k == "address" else mask_by_kind("phone", v) if k == "recipient_phone" else v)
        for k, v in merged_delivery.items()
    }
    name = next((merged_form[k] for k in NAME_KEYS if merged_form.get(k)), None)
    if name:
        case.applicant_name = str(name)[:64]
    case.updated_at = now
    await _flush(session)
    return case


# ----------------------------------------------------------------------------------------------- transitions


@dataclass(frozen=True)
class ActionRequest:
    action: Action
    opinion: str | None = None
    reason: str | None = None
    days: int | None = None
    defects: tuple[Defect, ...] = ()

    @property
    def params(self) -> Params:
        return Params(opinion=self.opinion, reason=self.reason, days=self.days, defects=self.defects)


async def action_facts(
    session: AsyncSession,
    ctx: CoreContext,
    case: Any,  # a Case, or a row with its columns (``submit_pg``)
    fields: tuple[FieldDef, ...],
    steps: tuple[StepDef, ...],
    action: Action,
) -> CaseFacts:
    facts: dict[str, Any] = {}
    if action is Action.SUBMIT:
        item = await get_item(session, case.item_code)
        secret = read_secret(ctx, case)
        # The case row's material list is the active materials, rewritten with every change to them.
        present = {m["material_type"] for m in case.materials_doc or ()}
        names = {m["material_id"]: m.get("name") for m in item.data.get("materials", [])}
        type_names = await material_type_names(session)
        facts["missing_materials"] = tuple(
            type_names.get(mid, names.get(mid) or mid)
            for m in item.data.get("materials", [])
            if m.get("required") and (mid := m["material_id"]) not in present
        )
        facts["form_errors"] = missing_required(fields, secret.get("form", {}))
        facts["delivery_missing"] = _delivery_missing(secret.get("delivery", {}))
    licence_issued = False
    if action in (Action.ISSUE_LICENCE, Action.CONCLUDE):
        licence_issued = (await session.scalar(select(func.count()).where(Licence.case_id == case.id)) or 0) > 0
    return CaseFacts(
        status=Status(case.status),
        steps=steps,
        step_index=case.step_index,
        supplement_count=case.supplement_count,
        extension_days=case.extension_days,
        promised_days=case.promised_limit_working_days,
        legal_days=case.legal_limit_working_days,
        licence_expected=case.licence_expected,
        licence_issued=licence_issued,
        **facts,
    )


def _event(
    session: AsyncSession,
    case: Case,
    *,
    actor_type: str,
    actor_id: int | None,
    actor_name: str | None,
    action: str,
    from_status: str | None,
    to_status: str | None,
    now: datetime,
    opinion: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    row = CaseEvent(
        case_id=case.id,
        at=now,
        actor_type=actor_type,
        actor_id=actor_id,
        actor_name=actor_name,
        action=action,
        from_status=from_status,
        to_status=to_status,
        step_key=case.step_key,
        opinion=opinion,
        data=data,
    )
    session.add(row)
    case.event_count = (case.event_count or 0) + 1
    events.emit(session, case, row)


async def _flush(session: AsyncSession) -> None:
    try:
        await session.flush()
    except StaleDataError as exc:
        raise Conflict() from exc
    except OperationalError as exc:
        # SQLite refuses to write from a snapshot another writer has moved past: the same conflict.
        if "database is locked" in str(exc.orig):
            raise Conflict() from exc
        raise


async def _update_clock(
    session: AsyncSession, ctx: CoreContext, case: Case, steps: tuple[StepDef, ...], was_paused: bool, now: datetime
) -> None:
    step = steps[case.step_index] if case.step_index is not None and case.step_index < len(steps) else None
    finished = case.status in FINISHED_STATUSES
    paused = not finished and clock_paused(case.status, step)
    if paused and not was_paused:
        kind = "suspend" if case.status == Status.SUSPENDED else f"step:{step.key if step else ''}"
        session.add(ClockPause(case_id=case.id, kind=kind, started_at=now))
        case.paused_since = now
        if case.due_date is not None:
            # The light freezes while paused: remember how many working days were left.
            cal = await calendar.get_calendar(session)
            _, case.paused_days_left = light_for(cal, Deadline(case.due_date, False, False), now)
    elif was_paused and not paused:
        open_pause = await session.scalar(
            select(ClockPause).where(ClockPause.case_id == case.id, ClockPause.ended_at.is_(None))
        )
        if open_pause is not None:
            open_pause.ended_at = now
        case.paused_since = None
        case.paused_days_left = None
    if case.accepted_at is None or finished:
        return
    await _flush(session)
    rows = (await session.scalars(select(ClockPause).where(ClockPause.case_id == case.id))).all()
    cal = await calendar.get_calendar(session)
    deadline = compute_deadline(
        cal,
        local_date(case.accepted_at),
        case.promised_limit_working_days + case.extension_days,
        [Pause(local_date(p.started_at), local_date(p.ended_at) if p.ended_at else None) for p in rows],
        today=local_date(now),
    )
    case.due_date, case.deadline_provisional = deadline.due, deadline.provisional


async def _issue_licence(session: AsyncSession, case: Case, now: datetime) -> Licence:
    item = await get_item(session, case.item_code)
    result = item.data.get("result") or {}
    years = result.get("validity_years")
    valid_until = None
    if years:
        today = local_date(now)
        try:
            valid_until = today.replace(year=today.year + int(years)) - timedelta(days=1)
        except ValueError:  # 29 February
            valid_until = today.replace(year=today.year + int(years), day=28)
    licence = Licence(
        case_id=case.id,
        applicant_id=case.applicant_id,
        licence_type=result.get("licence_type") or item.name,
        material_type=result.get("material_id"),
        licence_no="ZZ" + case.serial_no[2:],
        holder_name=case.applicant_name,
        issued_at=now,
        valid_until=valid_until,
        status="valid",
    )
    session.add(licence)
    return licence


async def _defect_lines(
    session: AsyncSession, fields: tuple[FieldDef, ...], item_code: str, defects: tuple[Defect, ...]
) -> list[dict[str, Any]]:
    item = await get_item(session, item_code)
    allowed = item.material_ids
    names = await material_type_names(session)
    labels = {f.key: f.label for f in fields}
    lines = []
    for d in defects:
        if d.material_type:
            if d.material_type not in allowed:
                raise ValidationFailed(f"该事项没有“{d.material_type}”这项材料", material_type=d.material_type)
            label = names.get(d.material_type, d.material_type)
        elif d.field:
            if d.field not in labels:
                raise ValidationFailed(f"表单中没有“{d.field}”这一项", field=d.field)
            label = labels[d.field]
        else:
            label = "其他"
        lines.append({"material_type": d.material_type, "field": d.field, "label": label, "reason": d.reason})
    return lines


async def _apply(
    session: AsyncSession,
    ctx: CoreContext,
    case: Case,
    request: ActionRequest,
    *,
    actor_type: str,
    actor_id: int,
    actor_name: str | None,
    roles: frozenset[str],
    now: datetime,
    info: RequestInfo | None,
) -> Case:
    fields, steps = await versions_for(session, case.form_version_id, case.process_version_id)
    facts = await action_facts(session, ctx, case, fields, steps, request.action)
    actor = Actor(kind=actor_type, id=actor_id, roles=roles, name=actor_name or "")  # type: ignore[arg-type]
    outcome = transition(facts, request.action, actor, request.params)

    defects = (
        await _defect_lines(session, fields, case.item_code, request.defects)
        if request.action is Action.REQUEST_SUPPLEMENT
        else None
    )
    old_status = case.status
    was_paused = case.paused_since is not None
    case.status = outcome.status
    case.step_index = outcome.step_index
    step = steps[outcome.step_index] if outcome.step_index is not None else None
    case.step_key, case.step_role = (step.key, step.role) if step else (None, None)
    case.extension_days = outcome.extension_days
    case.supplement_count = outcome.supplement_count
    case.updated_at = now
    if request.action is Action.SUBMIT:
        case.submitted_at = now
    if request.action is Action.ACCEPT:
        case.accepted_at = now
    if outcome.status in FINISHED_STATUSES:
        case.finished_at = now
    await _update_clock(session, ctx, case, steps, was_paused, now)

    licence = await _issue_licence(session, case, now) if request.action is Action.ISSUE_LICENCE else None
    data: dict[str, Any] = {}
    if defects:
        data["defects"] = defects
    if request.days:
        data["days"] = request.days
    if request.reason and request.opinion:
        data["reason"] = request.reason
    _event(
        session,
        case,
        actor_type=actor_type,
        actor_id=actor_id,
        actor_name=actor_name,
        action=request.action,
        from_status=old_status,
        to_status=outcome.status,
        now=now,
        opinion=request.opinion or request.reason,
        data=data or None,
    )
    text = compose(
        request.action,
        serial_no=case.serial_no,
        item_name=case.item_name,
        applicant_name=case.applicant_name,
        now=now,
        opinion=request.opinion or request.reason,
        defects=defects,
        days=request.days,
        due=f"{case.due_date:%Y年%m月%d日}" if case.due_date else None,
        final_approval=outcome.status == Status.APPROVED,
        licence_no=licence.licence_no if licence else None,
    )
    if text is not None:
        session.add(
            Notice(case_id=case.id, kind=text.kind, title=text.title, body=text.body, defects=defects, created_at=now)
        )
        case.notices_doc = [
            *case.notices_doc,
            {
                "kind": text.kind,
                "title": text.title,
                "body": text.body,
                "defects": defects,
                "created_at": now.isoformat(),
            },
        ]
    audit.record(
        session,
        actor_type=actor_type,
        actor_id=actor_id,
        action=f"case.{request.action}",
        now=now,
        info=info,
        case_id=case.id,
        detail={"from": old_status, "to": outcome.status},
    )
    await _flush(session)
    return case


async def submit(
    session: AsyncSession,
    ctx: CoreContext,
    *,
    case_id: int,
    applicant: ApplicantPrincipal,
    now: datetime,
    info: RequestInfo | None = None,
) -> None:
    """申办 / 补正后重新提交. Idempotent: a second tap on an already submitted case changes nothing.

    The caller reads the case as submitted in the same transaction. This is the general path: on PostgreSQL the
    API first tries ``submit_pg.submit_draft``, a plain draft's submission as one statement."""
    case = await get_for_applicant(session, case_id=case_id, applicant=applicant)
    if case.status == Status.SUBMITTED:
        return None
    try:
        await _apply(
            session,
            ctx,
            case,
            ActionRequest(Action.SUBMIT),
            actor_type="applicant",
            actor_id=applicant.id,
            actor_name=case.applicant_name,
            roles=frozenset(),
            now=now,
            info=info,
        )
    except Conflict:
        # Two taps raced and the other one won: that is the one submission; answer with it. Nothing else was
        # written in this transaction, so rolling all of it back loses nothing.
        await session.rollback()
        await session.refresh(case)
        if case.status != Status.SUBMITTED:
            raise
    return None


async def withdraw(
    session: AsyncSession,
    ctx: CoreContext,
    *,
    case_id: int,
    applicant: ApplicantPrincipal,
    now: datetime,
    reason: str | None = None,
    info: RequestInfo | None = None,
) -> Case:
    case = await get_for_applicant(session, case_id=case_id, applicant=applicant)
    return await _apply(
        session,
        ctx,
        case,
        ActionRequest(Action.WITHDRAW, reason=reason),
        actor_type="applicant",
        actor_id=applicant.id,
        actor_name=case.applicant_name,
        roles=frozenset(),
        now=now,
        info=info,
    )


async def act(
    session: AsyncSession,
    ctx: CoreContext,
    *,
    case_id: int,
    staff: StaffPrincipal,
    request: ActionRequest,
    now: datetime,
    info: RequestInfo | None = None,
    expected_version: int | None = None,
) -> Case:
    """A staff action on one case in the staff member's scope."""
    case = await get_for_staff(session, case_id=case_id, staff=staff)
    if expected_version is not None and case.version != expected_version:
        raise Conflict(current_version=case.version)
    return await _apply(
        session,
        ctx,
        case,
        request,
        actor_type="staff",
        actor_id=staff.id,
        actor_name=staff.name,
        roles=staff.roles,
        now=now,
        info=info,
    )


@dataclass(frozen=True)
class BatchResult:
    case_id: int
    ok: bool
    status: str | None = None
    error: dict[str, Any] | None = None


async def act_batch(
    session: AsyncSession,
    ctx: CoreContext,
    *,
    case_ids: list[int],
    staff: StaffPrincipal,
    request: ActionRequest,
    now: datetime,
    info: RequestInfo | None = None,
) -> list[BatchResult]:
    """批量处理 (6.4.1, 6.4.3): each case in its own savepoint, so one refusal does not undo the others."""
    if request.action not in (Action.APPROVE, Action.CONCLUDE):
        raise ValidationFailed("批量处理仅支持批量审批通过和批量办结", action=request.action)
    results = []
    for case_id in dict.fromkeys(case_ids):
        try:
            async with session.begin_nested():
                case = await act(session, ctx, case_id=case_id, staff=staff, request=request, now=now, info=info)
            results.append(BatchResult(case_id=case_id, ok=True, status=case.status))
        except CaseError as exc:
            results.append(BatchResult(case_id=case_id, ok=False, error={"code": exc.code, "message": exc.message}))
    return results


# ----------------------------------------------------------------------------------------------- evaluation

EVALUABLE = frozenset(set(Status) - {Status.DRAFT, Status.SUBMITTED, Status.SUPPLEMENT_REQUESTED, Status.WITHDRAWN})
LEVEL_LABELS = {1: "非常不满意", 2: "不满意", 3: "基本满意", 4: "满意", 5: "非常满意"}


async def evaluate(
    session: AsyncSession,
    *,
    case_id: int,
    applicant: ApplicantPrincipal,
    level: int,
    aspects: dict[str, int] | None,
    comment: str | None,
    now: datetime,
) -> Evaluation:
    """办件评价 (6.2.6): after acceptance or conclusion; levels 1–2 need a comment; one per case."""
    case = await get_for_applicant(session, case_id=case_id, applicant=applicant)
    if case.status not in EVALUABLE:
        raise Conflict("办件受理后或办结后才能评价", status=case.status)
    if level not in LEVEL_LABELS:
        raise FieldInvalid({"level": "评价等级须为1（非常不满意）至5（非常满意）"})
    for key, value in (aspects or {}).items():
        if value not in LEVEL_LABELS:
            raise FieldInvalid({f"aspects.{key}": "各项评价等级须为1至5"})
    comment = (comment or "").strip() or None
    if level <= 2 and not comment:
        raise FieldInvalid({"comment": "选择“不满意”或“非常不满意”时，请填写具体的评价内容"})
    if comment and len(comment) > 1000:
        raise FieldInvalid({"comment": "评价内容不能超过1000字"})
    if await session.scalar(select(Evaluation.id).where(Evaluation.case_id == case.id)) is not None:
        raise Conflict("该办件已评价，不能重复评价")
    evaluation = Evaluation(
        case_id=case.id,
        applicant_id=applicant.id,
        level=level,
        aspects=aspects or None,
        comment=comment,
        created_at=now,
    )
    session.add(evaluation)
    _event(
        session,
        case,
        actor_type="applicant",
        actor_id=applicant.id,
        actor_name=case.applicant_name,
        action="evaluate",
        from_status=case.status,
        to_status=case.status,
        now=now,
        data={"level": level},
    )
    case.updated_at = now
    try:
        await _flush(session)
    except IntegrityError as exc:
        raise Conflict("该办件已评价，不能重复评价") from exc
    return evaluation


async def recompute_provisional_deadlines(session: AsyncSession, ctx: CoreContext, *, now: datetime) -> int:
    """After an operator publishes a year's holidays: recompute the deadlines that were guessed on weekdays."""
    rows = (
        await session.scalars(
            select(Case).where(Case.deadline_provisional.is_(True), Case.status.in_(tuple(CLOCKED_STATUSES)))
        )
    ).all()
    for case in rows:
        _, steps = await versions_for(session, case.form_version_id, case.process_version_id)
        await _update_clock(session, ctx, case, steps, case.paused_since is not None, now)
    await _flush(session)
    return len(rows)
