"""Staff: the task view (待办 / 已办 / 办结 with lights), case detail, actions one at a time or in a batch."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.ext.asyncio import AsyncSession

from case_core import calendar, queries
from case_core.catalogue import steps_from_data
from case_core.context import CoreContext
from case_core.domain.clock import WorkCalendar
from case_core.domain.errors import Forbidden, NotFound
from case_core.domain.states import Action, Role, Status
from case_core.domain.transitions import CaseFacts, Defect, allowed_actions
from case_core.models import Applicant, Material
from case_core.principals import StaffPrincipal
from case_core.services import accounts, audit
from case_core.services import cases as case_service
from mobile_api import hot
from mobile_api.deps import (
    CtxDep,
    CurrentStaff,
    InfoDep,
    NowDep,
    SessionDep,
    read_detail,
    request_info,
    unit_of_work,
    work_calendar,
)
from mobile_api.responses import file_response, json_response

router = APIRouter(prefix="/staff", tags=["staff"])
hot_router = APIRouter(prefix="/staff", tags=["staff"])  # the hottest routes, matched first (mobile_api.hot)


class DefectIn(BaseModel):
    material_type: str | None = Field(default=None, max_length=64)
    field: str | None = Field(default=None, max_length=64)
    reason: str = Field(min_length=1, max_length=500)


class ActionIn(BaseModel):
    action: Action
    opinion: str | None = Field(default=None, max_length=2000)
    reason: str | None = Field(default=None, max_length=2000)
    days: int | None = Field(default=None, ge=1, le=365)
    defects: list[DefectIn] | None = Field(default=None, max_length=100)
    expected_version: int | None = None

    def request(self) -> case_service.ActionRequest:
        return case_service.ActionRequest(
            action=self.action,
            opinion=self.opinion,
            reason=self.reason,
            days=self.days,
            defects=tuple(
                Defect(reason=d.reason, material_type=d.material_type, field=d.field) for d in self.defects or ()
            ),
        )


class BatchIn(BaseModel):
    case_ids: list[int] = Field(min_length=1, max_length=200)
    action: Literal["approve", "conclude"]
    opinion: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _unique(self) -> BatchIn:
        self.case_ids = list(dict.fromkeys(self.case_ids))
        return self


class TaskQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    view: Literal["todo", "done", "finished"] = "todo"
    light: Literal["green", "yellow", "red"] | None = None
    item_code: str | None = Field(default=None, max_length=32)
    q: str | None = Field(default=None, max_length=64)
    limit: int = Field(default=20, ge=1, le=100)
    offset: int = Field(default=0, ge=0)


@hot_router.get("/tasks", openapi_extra=hot.openapi(query_model=TaskQuery))
async def tasks(request: Request) -> Response:
    """待办 / 已办 / 办结 of the caller, in their department and below, with lights. A hot read: no FastAPI
    dependencies (``mobile_api.hot``), the raw read pool on PostgreSQL (the page rendered as JSON by the
    database), the calendar from the process cache."""
    state, staff, now = hot.caller_staff(request)
    p = hot.query(TaskQuery, request)
    cal = await work_calendar(state)
    args: dict[str, Any] = dict(
        staff_id=staff.id,
        roles=staff.roles,
        department_path=staff.department_path,
        view=p.view,
        cal=cal,
        now=now,
        yellow_days=state.ctx.yellow_days,
        light=p.light,
        item_code=p.item_code,
        q=p.q,
        limit=p.limit,
        offset=p.offset,
    )
    if state.reads is not None:
        return json_response(await queries.staff_tasks(None, reads=state.reads, **args))
    async with state.read_sessions() as session:
        return json_response(await queries.staff_tasks(session, **args))


@router.get("/tasks/summary")
async def task_summary(session: SessionDep, ctx: CtxDep, staff: CurrentStaff, now: NowDep) -> dict:
    cal = await calendar.get_calendar(session)
    return await queries.staff_task_counts(
        session,
        staff_id=staff.id,
        roles=staff.roles,
        department_path=staff.department_path,
        cal=cal,
        now=now,
        yellow_days=ctx.yellow_days,
    )


def _in_scope(found: tuple[Any, queries.EventsPage] | None, staff: StaffPrincipal) -> tuple[Any, queries.EventsPage]:
    if found is None or not found[0].department_path.startswith(staff.department_path):
        raise NotFound("办件")
    return found


def _render(
    row: Any,
    page: queries.EventsPage,
    cal: WorkCalendar,
    ctx: CoreContext,
    staff: StaffPrincipal,
    now: datetime,
    form: dict[str, Any],
    delivery: dict[str, Any],
    masked: bool,
) -> dict[str, Any]:
    detail = queries.case_detail(
        row, page, cal, now, yellow_days=ctx.yellow_days, form=form, delivery=delivery, masked=masked
    )
    facts = CaseFacts(status=Status(row.status), steps=steps_from_data(row.steps or []), step_index=row.step_index)
    detail["allowed_actions"] = [a.value for a in allowed_actions(facts, staff.actor)]
    return detail


async def _staff_detail(
    session: AsyncSession, ctx: CoreContext, staff: StaffPrincipal, case_id: int, now: datetime
) -> dict[str, Any]:
    """The staff view (masked) inside the request's transaction, for write endpoints."""
    row, page = _in_scope(await queries.case_row_with_events(session, case_id), staff)
    cal = await calendar.get_calendar(session)
    return _render(row, page, cal, ctx, staff, now, row.form_masked or {}, row.delivery_masked or {}, True)


class DetailQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    reveal: bool = False


@hot_router.get("/cases/{case_id}", openapi_extra=hot.openapi(path=("case_id",), query_model=DetailQuery))
async def staff_case(request: Request) -> Response:
    """A case of the caller's department or below (another is 404). Personal data is masked; ``?reveal=true``
    (role pii_reader) shows it in the clear and is audited. The masked read is a hot one (see ``tasks``)."""
    state, staff, now = hot.caller_staff(request)
    case_id = hot.path_int(request, "case_id")
    if not hot.query(DetailQuery, request).reveal:
        row, page = _in_scope(await read_detail(state, case_id), staff)
        cal = await work_calendar(state)
        masked = _render(row, page, cal, state.ctx, staff, now, row.form_masked or {}, row.delivery_masked or {}, True)
        return json_response(masked)
    if not staff.has(Role.PII_READER):
        raise Forbidden("您没有查看个人完整信息的权限")
    info = await request_info(request)
    async with unit_of_work(state.write_sessions) as session:  # the audit row commits with the read
        row, page = _in_scope(await queries.case_row_with_events(session, case_id), staff)
        secret = state.ctx.cipher.decrypt_json(row.secret) if row.secret else {}
        form, delivery = secret.get("form", {}), secret.get("delivery", {})
        audit.record(
            session,
            actor_type="staff",
            actor_id=staff.id,
            action="pii.read",
            now=now,
            info=info,
            case_id=case_id,
            target="case.form",
            detail={"fields": sorted(form)},
        )
        cal = await calendar.get_calendar(session)
    return json_response(_render(row, page, cal, state.ctx, staff, now, form, delivery, False))


@router.get("/cases/{case_id}/applicant")
async def staff_case_applicant(
    case_id: int,
    session: SessionDep,
    ctx: CtxDep,
    staff: CurrentStaff,
    now: NowDep,
    info: InfoDep,
    reveal: bool = False,
) -> dict:
    case = await case_service.get_for_staff(session, case_id=case_id, staff=staff)
    if reveal:
        return await accounts.reveal_applicant(
            session, ctx, applicant_id=case.applicant_id, staff=staff, now=now, info=info, case_id=case_id
        )
    person = await session.get(Applicant, case.applicant_id)
    assert person is not None
    return accounts.profile_out(person, ctx)


@router.get("/cases/{case_id}/events")
async def staff_events(
    case_id: int,
    session: SessionDep,
    staff: CurrentStaff,
    before_id: int | None = None,
    limit: Annotated[int, Field(ge=1, le=200)] = 50,
) -> Response:
    await case_service.get_for_staff(session, case_id=case_id, staff=staff)
    return json_response({"items": await queries.case_events(session, case_id, before_id=before_id, limit=limit)})


@router.get("/cases/{case_id}/materials/{material_id}/file")
async def staff_material_file(
    case_id: int, material_id: int, session: SessionDep, ctx: CtxDep, staff: CurrentStaff, now: NowDep, info: InfoDep
) -> Response:
    await case_service.get_for_staff(session, case_id=case_id, staff=staff)
    material = await session.get(Material, material_id)
    if material is None or material.case_id != case_id:
        raise NotFound("材料")
    # Material scans (ID cards…) are personal data: every staff view is audited.
    audit.record(
        session,
        actor_type="staff",
        actor_id=staff.id,
        action="material.read",
        now=now,
        info=info,
        case_id=case_id,
        target=f"material:{material_id}",
    )
    return file_response(ctx.storage.get(material.storage_key), material.content_type)


@router.post("/cases/{case_id}/actions")
async def act(
    case_id: int, body: ActionIn, session: SessionDep, ctx: CtxDep, staff: CurrentStaff, now: NowDep, info: InfoDep
) -> Response:
    await case_service.act(
        session,
        ctx,
        case_id=case_id,
        staff=staff,
        request=body.request(),
        now=now,
        info=info,
        expected_version=body.expected_version,
    )
    return json_response(await _staff_detail(session, ctx, staff, case_id, now))


@router.post("/batch-actions")
async def batch(
    body: BatchIn, session: SessionDep, ctx: CtxDep, staff: CurrentStaff, now: NowDep, info: InfoDep
) -> dict:
    request = case_service.ActionRequest(action=Action(body.action), opinion=body.opinion)
    results = await case_service.act_batch(
        session, ctx, case_ids=body.case_ids, staff=staff, request=request, now=now, info=info
    )
    return {
        "results": [r.__dict__ for r in results],
        "succeeded": sum(r.ok for r in results),
        "failed": sum(not r.ok for r in results),
    }
