"""The applicant's cases: create, save the draft, materials, submit, withdraw, follow progress, evaluate."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from case_core import calendar, catalogue, queries
from case_core.context import CoreContext
from case_core.domain.clock import WorkCalendar
from case_core.domain.errors import NotFound
from case_core.models import Case, Material
from case_core.services import cases as case_service
from case_core.services import materials as material_service
from case_core.timeutil import local_date
from case_core.uploads import too_large
from mobile_api import hot
from mobile_api.deps import (
    AppState,
    CtxDep,
    CurrentApplicant,
    InfoDep,
    NowDep,
    SessionDep,
    StateDep,
    read_detail,
    request_info,
    unit_of_work,
    work_calendar,
)
from mobile_api.push import SESSION_KEY
from mobile_api.responses import file_response, json_response
from ocr import service as ocr_service

router = APIRouter(tags=["cases"])
hot_router = APIRouter(tags=["cases"])  # the hottest routes, matched first (mobile_api.hot)


class CaseCreate(BaseModel):
    item_code: str = Field(min_length=1, max_length=32)


class DraftPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    form: dict[str, Any] | None = None
    delivery: dict[str, Any] | None = None


class WithdrawIn(BaseModel):
    reason: str | None = Field(default=None, max_length=500)


class EvaluationIn(BaseModel):
    level: int = Field(ge=1, le=5)
    aspects: dict[str, int] | None = None
    comment: str | None = Field(default=None, max_length=1000)


class ReuseIn(BaseModel):
    material_id: int


def _render(
    found: tuple[Any, queries.EventsPage] | None,
    cal: WorkCalendar,
    ctx: CoreContext,
    applicant_id: int,
    now: datetime,
) -> dict[str, Any]:
    if found is None or found[0].applicant_id != applicant_id:
        raise NotFound("办件")
    row, page = found
    secret = ctx.cipher.decrypt_json(row.secret) if row.secret else {}
    return queries.case_detail(
        row,
        page,
        cal,
        now,
        yellow_days=ctx.yellow_days,
        form=secret.get("form", {}),
        delivery=secret.get("delivery", {}),
        masked=False,
    )


async def _detail(
    session: AsyncSession, ctx: CoreContext, case_id: int, applicant_id: int, now: datetime
) -> dict[str, Any]:
    """The detail inside the request's transaction (write endpoints answer with what they just wrote)."""
    found = await queries.case_row_with_events(session, case_id)
    return _render(found, await calendar.get_calendar(session), ctx, applicant_id, now)


@router.post("/cases", status_code=201)
async def create_case(
    body: CaseCreate, session: SessionDep, ctx: CtxDep, applicant: CurrentApplicant, now: NowDep
) -> Response:
    case = await case_service.create(session, applicant=applicant, item_code=body.item_code, now=now)
    return json_response(await _detail(session, ctx, case.id, applicant.id, now), status_code=201)


@router.get("/cases")
async def list_cases(
    session: SessionDep,
    ctx: CtxDep,
    applicant: CurrentApplicant,
    now: NowDep,
    group: Literal["draft", "in_progress", "finished"] | None = None,
    limit: Annotated[int, Field(ge=1, le=100)] = 50,
    offset: Annotated[int, Field(ge=0)] = 0,
) -> Response:
    cal = await calendar.get_calendar(session)
    rows = await queries.applicant_cases(session, applicant.id, group, cal, now, ctx.yellow_days, limit, offset)
    return json_response({"items": rows})


@hot_router.get("/cases/{case_id}", openapi_extra=hot.openapi(path=("case_id",)))
async def get_case(request: Request) -> Response:
    """The applicant's own case (another's is 404). The hottest read: no FastAPI dependencies (``mobile_api.hot``),
    no session, one statement on the read pool (PostgreSQL), the calendar from the process cache."""
    state, applicant, now = hot.caller_applicant(request)
    found = await read_detail(state, hot.path_int(request, "case_id"))
    return json_response(_render(found, await work_calendar(state), state.ctx, applicant.id, now))


@router.get("/cases/{case_id}/events")
async def get_events(
    case_id: int,
    session: SessionDep,
    applicant: CurrentApplicant,
    before_id: int | None = None,
    limit: Annotated[int, Field(ge=1, le=200)] = 50,
) -> Response:
    await case_service.get_for_applicant(session, case_id=case_id, applicant=applicant)
    return json_response({"items": await queries.case_events(session, case_id, before_id=before_id, limit=limit)})


@router.patch("/cases/{case_id}")
async def save_draft(
    case_id: int, body: DraftPatch, session: SessionDep, ctx: CtxDep, applicant: CurrentApplicant, now: NowDep
) -> Response:
    await case_service.save_draft(
        session, ctx, case_id=case_id, applicant=applicant, form=body.form, delivery=body.delivery, now=now
    )
    return json_response(await _detail(session, ctx, case_id, applicant.id, now))


@hot_router.post("/cases/{case_id}/submit", openapi_extra=hot.openapi(path=("case_id",)))
async def submit(request: Request) -> Response:
    """申办 (or resubmission after 补正); answers with the case as submitted. Idempotent. A hot write: no FastAPI
    dependencies (``mobile_api.hot``). On PostgreSQL a plain draft is submitted with the others of the moment by
    one read and one write statement (``submit_pg``, group commit); anything else in one transaction, committed
    before the response, as ``SessionDep`` does."""
    state, applicant, now = hot.caller_applicant(request)
    case_id = hot.path_int(request, "case_id")
    info = await request_info(request)
    found: tuple[Any, queries.EventsPage] | None = None
    if state.submits is not None:
        found = await state.submits.submit(
            case_id=case_id,
            applicant=applicant,
            now=now,
            info=info,
            listener_info={SESSION_KEY: state.push},  # what the write sessions carry for the listeners
        )
    if found is None:
        async with unit_of_work(state.write_sessions) as session:
            await case_service.submit(session, state.ctx, case_id=case_id, applicant=applicant, now=now, info=info)
            found = await queries.case_row_with_events(session, case_id)
    return json_response(_render(found, await work_calendar(state), state.ctx, applicant.id, now))


@router.post("/cases/{case_id}/withdraw")
async def withdraw(
    case_id: int,
    session: SessionDep,
    ctx: CtxDep,
    applicant: CurrentApplicant,
    now: NowDep,
    info: InfoDep,
    body: WithdrawIn | None = None,
) -> Response:
    await case_service.withdraw(
        session, ctx, case_id=case_id, applicant=applicant, now=now, reason=body.reason if body else None, info=info
    )
    return json_response(await _detail(session, ctx, case_id, applicant.id, now))


@router.post("/cases/{case_id}/evaluation", status_code=201)
async def evaluate(
    case_id: int, body: EvaluationIn, session: SessionDep, applicant: CurrentApplicant, now: NowDep
) -> dict:
    ev = await case_service.evaluate(
        session,
        case_id=case_id,
        applicant=applicant,
        level=body.level,
        aspects=body.aspects,
        comment=body.comment,
        now=now,
    )
    return {
        "case_id": case_id,
        "level": ev.level,
        "level_label": case_service.LEVEL_LABELS[ev.level],
        "aspects": ev.aspects,
        "comment": ev.comment,
        "created_at": ev.created_at.isoformat(),
    }


# ----------------------------------------------------------------------------------------------- materials


@router.post("/cases/{case_id}/materials", status_code=201)
async def upload_material(
    case_id: int,
    request: Request,
    session: SessionDep,
    ctx: CtxDep,
    state: StateDep,
    applicant: CurrentApplicant,
    now: NowDep,
    material_type: Annotated[str, Form()],
    file: Annotated[UploadFile, File()],
    replaces: Annotated[int | None, Form()] = None,
) -> dict:
    data = await file.read(ctx.limits.max_bytes + 1)
    if len(data) > ctx.limits.max_bytes:
        raise too_large(ctx.limits)
    material = await material_service.upload(
        session,
        ctx,
        case_id=case_id,
        applicant=applicant,
        material_type=material_type,
        filename=file.filename,
        data=data,
        now=now,
        replaces=replaces,
    )
    out = material_service.material_out(material, await catalogue.material_type_names(session))
    return await _checked(state, session, out, case_id, data, now)


async def _checked(state: AppState, session: AsyncSession, out: dict, case_id: int, data: bytes, now: datetime) -> dict:
    """Run the material check (ocr package) on a material just added: against this case's form."""
    if not state.settings.ocr_check_uploads:
        return out
    case = await session.get(Case, case_id)
    typed = await ocr_service.typed_values(session, state.ctx, case) if case is not None else {}
    # Commit first: the file is kept whatever the check finds; the check then runs with no transaction open.
    await session.commit()
    out["check"] = await ocr_service.check_material(
        state.material_checks(),
        material_id=out["id"],
        data=data,
        expect=out["material_type"],
        form=typed,
        today=local_date(now),
    )
    return out


@router.delete("/cases/{case_id}/materials/{material_id}", status_code=204)
async def delete_material(
    case_id: int, material_id: int, session: SessionDep, applicant: CurrentApplicant, now: NowDep
) -> Response:
    await material_service.delete(session, case_id=case_id, applicant=applicant, material_id=material_id, now=now)
    return Response(status_code=204)


@router.post("/cases/{case_id}/materials/reuse", status_code=201)
async def reuse_material(
    case_id: int, body: ReuseIn, session: SessionDep, state: StateDep, applicant: CurrentApplicant, now: NowDep
) -> dict:
    material = await material_service.reuse(
        session, case_id=case_id, applicant=applicant, material_id=body.material_id, now=now
    )
    out = material_service.material_out(material, await catalogue.material_type_names(session))
    if not state.settings.ocr_check_uploads:
        return out
    # Checked again: the earlier check was against another case's form (and another day).
    data = await asyncio.to_thread(state.ctx.storage.get, material.storage_key)
    return await _checked(state, session, out, case_id, data, now)


@router.get("/materials/reusable")
async def reusable_materials(
    session: SessionDep, applicant: CurrentApplicant, now: NowDep, material_type: str | None = None
) -> dict:
    rows = await material_service.reusable(
        session, applicant=applicant, today=local_date(now), material_type=material_type
    )
    names = await catalogue.material_type_names(session)
    return {"items": [material_service.material_out(m, names) for m in rows]}


@router.get("/cases/{case_id}/materials/{material_id}/file")
async def material_file(
    case_id: int, material_id: int, session: SessionDep, ctx: CtxDep, applicant: CurrentApplicant
) -> Response:
    await case_service.get_for_applicant(session, case_id=case_id, applicant=applicant)
    material = await session.get(Material, material_id)
    if material is None or material.case_id != case_id or material.state == "deleted":
        raise NotFound("材料")
    return file_response(ctx.storage.get(material.storage_key), material.content_type)
